//! The console's charts: an [`Activity`] drawn as inline SVG — one line per series over the
//! window's buckets, a light grid with the peak's value — with no script and no chart library.
//! Only numbers Sesame computed go into the markup, plus a title it escapes.

use std::fmt::Write as _;

use sesame_core::admin::Activity;
use sesame_templates::{ConsoleChart, ConsoleChartRow};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// Room on the left for the peak's label.
const LEFT: f64 = 36.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 8.0;

/// A stroke per series, in [`sesame_core::admin::CHARTED_EVENTS`] order, told apart by more than
/// hue: the failures and lockouts are dashed.
const STYLES: [(&str, &str); 4] = [
    ("#15803d", ""),
    ("#b91c1c", "6 3"),
    ("#b45309", "2 3"),
    ("#6d28d9", ""),
];

pub(super) fn chart(window: &str, title: &str, activity: &Activity) -> ConsoleChart {
    let buckets = activity.series.first().map_or(0, |(_, c)| c.len());
    let peak = activity
        .series
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-labelledby=\"chart-title-{window}\"><title id=\"chart-title-{window}\">{}</title>",
        escape(title)
    );
    let plot_h = HEIGHT - TOP - BOTTOM;
    for (i, frac) in [0.0, 0.5, 1.0].iter().enumerate() {
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{WIDTH}\" y2=\"{y:.1}\" stroke=\"#d4d4d8\" stroke-width=\"1\"/>"
        );
        if i == 2 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#52525b\">{peak}</text>",
                LEFT - 4.0,
                y + 4.0
            );
        }
    }
    let step = if buckets > 1 {
        (WIDTH - LEFT) / (buckets - 1) as f64
    } else {
        0.0
    };
    for ((_, counts), (color, dash)) in activity.series.iter().zip(STYLES) {
        let points: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let x = LEFT + step * i as f64;
                let y = TOP + plot_h * (1.0 - *n as f64 / peak as f64);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let dashed = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dashed}/>",
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    let rows = (0..buckets)
        .map(|i| ConsoleChartRow {
            start: (activity.since + chrono::Duration::seconds(activity.bucket_secs * i as i64))
                .to_rfc3339(),
            counts: activity.series.iter().map(|(_, c)| c[i]).collect(),
        })
        .collect();
    ConsoleChart {
        window: window.to_string(),
        svg,
        series: activity.series.iter().map(|(e, _)| e.to_string()).collect(),
        colors: STYLES.iter().map(|(c, _)| c.to_string()).collect(),
        totals: activity
            .series
            .iter()
            .map(|(_, c)| c.iter().sum())
            .collect(),
        rows,
    }
}

/// Text for an SVG element's content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(series: Vec<(&'static str, Vec<u64>)>) -> Activity {
        Activity {
            since: chrono::DateTime::UNIX_EPOCH,
            bucket_secs: 300,
            series,
        }
    }

    #[test]
    fn the_peak_reaches_the_top_and_zero_the_bottom() {
        let c = chart(
            "hour",
            "a <title> & more",
            &activity(vec![("login_failed", vec![0, 5, 10])]),
        );
        assert!(
            c.svg.contains("points=\"36.0,152.0 318.0,80.0 600.0,8.0\""),
            "{}",
            c.svg
        );
        assert!(
            c.svg
                .contains("<title id=\"chart-title-hour\">a &lt;title&gt; &amp; more</title>")
        );
        assert_eq!(c.totals, [15]);
        assert_eq!(c.rows.len(), 3);
        assert_eq!(c.rows[1].counts, [5]);
        assert_eq!(c.rows[1].start, "1970-01-01T00:05:00+00:00");
    }

    #[test]
    fn an_empty_window_draws_flat_lines_not_a_division_by_zero() {
        let c = chart("day", "t", &activity(vec![("login_failed", vec![0, 0])]));
        assert!(
            c.svg.contains("points=\"36.0,152.0 600.0,152.0\""),
            "{}",
            c.svg
        );
        assert!(!c.svg.contains("NaN"));
    }
}
