//! Messages in Fluent catalogues (`locales/<lang>/pages.ftl`, compiled in).
//!
//! Messages without arguments are formatted once, at load, into a table: a page calls `t()`
//! some twenty times, and the sign-in page is a hot path (issue #17 asks it to render at 40 % of
//! the speed of `/healthz`). Messages with arguments are formatted per call.

use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use crate::Lang;
use crate::error::TemplateError;

const EN: &str = include_str!("../locales/en/pages.ftl");
const RU: &str = include_str!("../locales/ru/pages.ftl");

/// An argument of a message.
#[derive(Debug, Clone)]
pub enum MessageArg {
    Str(String),
    Num(f64),
}

pub(crate) struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    /// Every message, formatted without arguments (the plain ones are final).
    plain: HashMap<String, String>,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("messages", &self.plain.len())
            .finish()
    }
}

#[derive(Debug)]
pub(crate) struct Catalogues {
    en: Catalogue,
    ru: Catalogue,
}

/// The source of a language's catalogue.
pub(crate) fn source(lang: Lang) -> &'static str {
    match lang {
        Lang::En => EN,
        Lang::Ru => RU,
    }
}

/// The message ids of a catalogue source (`id = ...` at the start of a line).
pub(crate) fn ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim().to_string()))
        .collect()
}

impl Catalogue {
    fn load(lang: Lang) -> Result<Self, TemplateError> {
        let resource =
            FluentResource::try_new(source(lang).to_string()).map_err(|(_, errors)| {
                TemplateError::Catalogue(format!("{}: {errors:?}", lang.code()))
            })?;
        let id = lang
            .code()
            .parse()
            .map_err(|e| TemplateError::Catalogue(format!("{e:?}")))?;
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        // Output goes into HTML, where the bidi isolation marks would only be noise.
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .map_err(|e| TemplateError::Catalogue(format!("{}: {e:?}", lang.code())))?;
        let mut catalogue = Catalogue {
            bundle,
            plain: HashMap::new(),
        };
        for id in ids(source(lang)) {
            let text = catalogue.format(&id, None);
            catalogue.plain.insert(id, text);
        }
        Ok(catalogue)
    }

    fn format(&self, id: &str, args: Option<&FluentArgs>) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_string();
        };
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }
}

impl Catalogues {
    pub(crate) fn load() -> Result<Self, TemplateError> {
        Ok(Catalogues {
            en: Catalogue::load(Lang::En)?,
            ru: Catalogue::load(Lang::Ru)?,
        })
    }

    fn of(&self, lang: Lang) -> &Catalogue {
        match lang {
            Lang::En => &self.en,
            Lang::Ru => &self.ru,
        }
    }

    /// The message `id` in `lang`; the id itself when the catalogue has no such message (so a
    /// missing message shows as its id rather than as nothing — and the tests catch it).
    pub(crate) fn message(&self, lang: Lang, id: &str, args: &[(&str, MessageArg)]) -> String {
        let catalogue = self.of(lang);
        if args.is_empty() {
            return catalogue
                .plain
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string());
        }
        let mut fluent = FluentArgs::new();
        for (name, value) in args {
            match value {
                MessageArg::Str(s) => fluent.set(*name, FluentValue::from(strip_bidi(s))),
                MessageArg::Num(n) => fluent.set(*name, FluentValue::from(*n)),
            }
        }
        catalogue.format(id, Some(&fluent))
    }

    /// Whether `lang`'s catalogue has `id`.
    pub(crate) fn has(&self, lang: Lang, id: &str) -> bool {
        self.of(lang).plain.contains_key(id)
    }
}

/// Isolation marks are off (the output is HTML), so an argument — a display name, say — must
/// not carry bidirectional controls that would reorder the text around it ("signed in as …").
pub fn strip_bidi(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect()
}
