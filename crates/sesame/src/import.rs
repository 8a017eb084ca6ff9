//! `sesame user import FILE`: reads JSON Lines and hands each line to the core's importer
//! (`sesame_core::import`), with a progress bar when standard error is a terminal, then prints
//! the summary (or `--json`). See docs/migrate.md.
//!
//! Exit status: 0 when no line was rejected, 3 when some were (the others are imported), 1 when
//! the run could not go on (unreadable file, database error), 2 for a configuration error as
//! with every command.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sesame_core::import::{ImportOptions, ImportReport, MAX_LINE_BYTES};
use sesame_core::{Sesame, SystemClock};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::config::Config;
use crate::startup::{describe, start_core};

/// Some lines were rejected (the rest was imported): `main` exits with [`LinesRejected::CODE`].
#[derive(Debug, thiserror::Error)]
#[error("{0} line(s) rejected; see the summary")]
pub struct LinesRejected(pub usize);

impl LinesRejected {
    pub const CODE: u8 = 3;
}

#[derive(Debug, Clone)]
pub struct ImportArgs {
    pub file: PathBuf,
    pub dry_run: bool,
    pub json: bool,
    pub batch_size: usize,
}

pub async fn run(args: ImportArgs, config: Config) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    // A pipe (`/dev/stdin`) has no length: the bar then counts bytes without a total.
    let len = file
        .metadata()
        .await
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let reader: Box<dyn AsyncBufRead + Unpin + Send> = Box::new(BufReader::new(file));
    let sesame = start_core(&config, Arc::new(SystemClock)).await?;
    let options = ImportOptions {
        dry_run: args.dry_run,
        batch_size: args.batch_size,
        source: Some(args.file.display().to_string()),
    };
    let report = import(&sesame, reader, len, options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    if report.rejected.is_empty() {
        Ok(())
    } else {
        Err(LinesRejected(report.rejected.len()).into())
    }
}

async fn import(
    sesame: &Sesame,
    mut reader: Box<dyn AsyncBufRead + Unpin + Send>,
    len: Option<u64>,
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let progress = progress_bar(len);
    let mut importer = sesame.importer(options);
    let mut buf = Vec::new();
    let (mut number, mut read) = (0u64, 0u64);
    loop {
        let Some(line) = next_line(&mut reader, &mut buf)
            .await
            .with_context(|| format!("cannot read line {}", number + 1))?
        else {
            break;
        };
        number += 1;
        read += line.bytes;
        if line.too_long {
            importer.reject(
                number,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            );
        } else {
            match std::str::from_utf8(&buf) {
                Ok(text) => importer.line(number, text).await.map_err(|e| {
                    anyhow::anyhow!(
                        "import stopped at line {number}: {} (the batch in progress was not written; \
                         earlier batches were — run again to continue, imported users are skipped)",
                        describe(&e)
                    )
                })?,
                Err(_) => importer.reject(number, "the line is not UTF-8"),
            }
        }
        progress.set_position(read);
        if number % 256 == 0 {
            let r = importer.report();
            progress.set_message(format!(
                "imported {}, skipped {}, rejected {}",
                r.imported,
                r.skipped.len(),
                r.rejected.len()
            ));
        }
    }
    let report = importer.finish().await.map_err(|e| {
        anyhow::anyhow!(
            "import stopped at the last batch: {} (run again to continue, imported users are skipped)",
            describe(&e)
        )
    })?;
    progress.finish_and_clear();
    Ok(report)
}

/// A bar on standard error when it is a terminal; nothing otherwise (logs, CI, pipes).
fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

struct LineRead {
    /// Bytes consumed, newline included.
    bytes: u64,
    /// Longer than [`MAX_LINE_BYTES`]: `buf` holds only the start and must not be parsed.
    too_long: bool,
}

/// Reads one line into `buf` (without its `\n` or `\r\n`), holding at most [`MAX_LINE_BYTES`]
/// of it in memory whatever the file holds. `None` at the end of the input.
async fn next_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<LineRead>> {
    buf.clear();
    let mut line = LineRead {
        bytes: 0,
        too_long: false,
    };
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((line.bytes > 0).then_some(line));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], i + 1),
            None => (available, available.len()),
        };
        if buf.len() + chunk.len() > MAX_LINE_BYTES {
            line.too_long = true;
        } else {
            buf.extend_from_slice(chunk);
        }
        let newline = done > chunk.len();
        line.bytes += done as u64;
        reader.consume(done);
        if newline {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(line));
        }
    }
}

/// The human summary: counts, then every skipped and rejected line with its number.
pub fn summary(r: &ImportReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let verb = if r.dry_run {
        "Would import"
    } else {
        "Imported"
    };
    if r.dry_run {
        let _ = writeln!(out, "Dry run: nothing was written.");
    }
    let schemes: Vec<String> = r.schemes.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let _ = write!(out, "{verb} {} user(s)", r.imported);
    if !schemes.is_empty() {
        let _ = write!(out, " ({})", schemes.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Skipped {} existing user(s){}",
        r.skipped.len(),
        if r.skipped.is_empty() { "" } else { ":" }
    );
    for s in &r.skipped {
        let _ = writeln!(out, "  line {}: {} already exists", s.line, s.email);
    }
    let _ = writeln!(
        out,
        "Rejected {} line(s){}",
        r.rejected.len(),
        if r.rejected.is_empty() { "" } else { ":" }
    );
    for x in &r.rejected {
        let _ = writeln!(out, "  line {}: {}", x.line, x.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<(Vec<u8>, u64, bool)> {
        let mut reader = BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(l) = next_line(&mut reader, &mut buf).await.unwrap() {
            out.push((buf.clone(), l.bytes, l.too_long));
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_on_newlines_with_or_without_a_final_one() {
        let got = lines(b"one\r\ntwo\n\nthree").await;
        assert_eq!(
            got,
            vec![
                (b"one".to_vec(), 5, false),
                (b"two".to_vec(), 4, false),
                (b"".to_vec(), 1, false),
                (b"three".to_vec(), 5, false),
            ]
        );
        assert!(lines(b"").await.is_empty());
    }

    #[tokio::test]
    async fn an_overlong_line_is_flagged_and_the_next_one_read_whole() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\n{\"ok\":1}\n");
        let got = lines(&input).await;
        assert_eq!(got.len(), 2);
        assert!(got[0].2, "flagged too long");
        assert!(got[0].0.len() <= MAX_LINE_BYTES, "never held whole");
        assert_eq!(got[0].1, MAX_LINE_BYTES as u64 + 11);
        assert_eq!(got[1], (b"{\"ok\":1}".to_vec(), 9, false));
    }
}
