//! The languages pages speak, and choosing one from what a browser says.

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    /// `en` / `ru` (as in `?lang=` and the cookie); a region is ignored (`ru-RU`).
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }

    /// The best of our languages for an `Accept-Language` header (RFC 9110 §12.5.4): the
    /// highest q-value wins, the earlier entry on a tie; English when none is ours.
    pub fn negotiate(accept_language: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for entry in accept_language.split(',') {
            let mut parts = entry.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn accept_language_is_negotiated_by_quality() {
        assert_eq!(
            Lang::negotiate("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"),
            Lang::Ru
        );
        assert_eq!(Lang::negotiate("en-GB,ru;q=0.9"), Lang::En);
        assert_eq!(
            Lang::negotiate("de-DE,ru;q=0.5,en;q=0.4"),
            Lang::Ru,
            "German is not ours"
        );
        assert_eq!(Lang::negotiate("en;q=0.2, ru;q=0.8"), Lang::Ru);
        assert_eq!(Lang::negotiate("fr, de"), Lang::En, "the default");
        assert_eq!(Lang::negotiate(""), Lang::En);
        assert_eq!(
            Lang::negotiate("ru;q=0"),
            Lang::En,
            "q=0 means not acceptable"
        );
        assert_eq!(Lang::negotiate("RU"), Lang::Ru);
    }

    #[test]
    fn codes_parse_with_or_without_a_region() {
        assert_eq!(Lang::parse("ru"), Some(Lang::Ru));
        assert_eq!(Lang::parse("ru_RU"), Some(Lang::Ru));
        assert_eq!(Lang::parse("EN-us"), Some(Lang::En));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::parse(""), None);
    }
}
