//! The view layer of Sesame's browser pages: templates (minijinja), messages (Fluent, English and
//! Russian) and the one stylesheet. No HTTP here: `sesame`'s `pages` module extracts, calls the
//! use-case and hands this crate a typed context to render.
//!
//! Templates are an interface (docs/pages.md, "Template variables"): one context struct per page
//! ([`contexts`]), rendered under strict undefined-variable rules, and every template — built in
//! or an operator's override from `SESAME_TEMPLATES_DIR` — is rendered with sample contexts of
//! every page at load, so a template that needs a variable Sesame does not give fails at start,
//! not in front of a visitor.

mod builtin;
pub mod contexts;
mod error;
mod i18n;
mod lang;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State, UndefinedBehavior};
use serde::Serialize;

pub use builtin::PASSKEYS_JS;
pub use contexts::*;
pub use error::TemplateError;
pub use i18n::{MessageArg, strip_bidi};
pub use lang::Lang;

use i18n::Catalogues;

/// What the operator's configuration says about the look.
#[derive(Debug, Clone)]
pub struct Branding {
    /// `SESAME_PRODUCT_NAME`.
    pub product_name: String,
    /// `SESAME_BRAND_COLOR`: `#rgb` or `#rrggbb` (anything else falls back to the default).
    pub accent_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Branding {
            product_name: "Sesame".into(),
            accent_color: DEFAULT_ACCENT.into(),
        }
    }
}

pub const DEFAULT_ACCENT: &str = "#4f46e5";

/// Whether `s` is a CSS hex colour (`#rgb` or `#rrggbb`): the only thing that may be written
/// into the stylesheet from configuration.
pub fn is_hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// Variables every page has besides its own (`lang` and `product_name` are added by
/// [`Templates::render`]).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Layout {
    /// The anti-forgery token every form must carry as `csrf_token`.
    pub csrf_token: String,
    /// Who is signed in, if anyone.
    pub signed_in: Option<SignedIn>,
    /// A message to show at the top (after a redirect), already in the page's language.
    pub notice: Option<String>,
    /// Whether `/signup` exists (`SESAME_SIGNUP`).
    pub signup_enabled: bool,
    /// This page's path and query without `lang` (the language links add their own).
    pub here: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    pub display_name: Option<String>,
    pub email: String,
}

impl Layout {
    /// The layouts every template is checked with: signed out, and signed in with a notice.
    pub fn samples() -> Vec<Layout> {
        vec![
            Layout {
                csrf_token: "sample-token".into(),
                signed_in: None,
                notice: None,
                signup_enabled: true,
                here: "/signin".into(),
            },
            Layout {
                csrf_token: "sample-token".into(),
                signed_in: Some(SignedIn {
                    display_name: Some("Ada".into()),
                    email: "ada@example.com".into(),
                }),
                notice: Some("Saved.".into()),
                signup_enabled: false,
                here: "/reset-password?token=abc".into(),
            },
        ]
    }
}

/// A page's context: the variables of its template.
pub trait Page: Serialize {
    /// The template's name (its path under `templates/`, and under `SESAME_TEMPLATES_DIR`).
    const TEMPLATE: &'static str;
    /// Sample contexts covering the template's branches, for the load-time check and the tests.
    fn samples() -> Vec<Self>
    where
        Self: Sized;

    /// For a context that is the same for every visitor (a first visit's empty form): a key
    /// naming it among the page's cacheable contexts. The page is then rendered once per key,
    /// language and layout, and served with only the anti-forgery token put in. `None` (the
    /// default) for anything personal: typed values, errors, tokens, a signed-in person.
    fn cache_key(&self) -> Option<String> {
        None
    }
}

/// Stands for the anti-forgery token in a cached page; replaced by the request's own.
const TOKEN_SLOT: &str = "sesame-csrf-token-slot-7f3a9c";
/// Cached pages at most: keys are few (page × language × `return_to`), and a flood of distinct
/// `return_to` values must not grow memory — past this, pages are rendered, not cached.
const CACHE_MAX: usize = 256;

type CacheKey = (&'static str, Lang, bool, String, String);

/// The loaded templates, catalogues and stylesheet. Built once at start, shared.
pub struct Templates {
    env: Environment<'static>,
    catalogues: Arc<Catalogues>,
    css: String,
    product_name: String,
    overridden: Vec<String>,
    cache: std::sync::RwLock<std::collections::HashMap<CacheKey, Arc<str>>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overridden", &self.overridden)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by the file of the same relative path in
    /// `overrides` when there is one, then checked: every page rendered with its samples in
    /// every language. An unknown file in `overrides` is an error too.
    pub fn load(overrides: Option<&Path>, branding: Branding) -> Result<Templates, TemplateError> {
        let catalogues = Arc::new(Catalogues::load()?);
        let mut sources: Vec<(String, String)> = builtin::TEMPLATES
            .iter()
            .map(|(name, src)| (name.to_string(), src.to_string()))
            .collect();
        let mut overridden = Vec::new();
        if let Some(dir) = overrides {
            for (name, src) in read_overrides(dir)? {
                let slot = sources.iter_mut().find(|(n, _)| *n == name);
                match slot {
                    Some(slot) => slot.1 = src,
                    None => {
                        return Err(TemplateError::UnknownFile {
                            path: dir.join(&name),
                            known: builtin::TEMPLATES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                }
                overridden.push(name);
            }
        }
        let templates = Templates::from_sources(sources, catalogues, branding, overridden)?;
        // The built-ins are checked by this crate's tests; an override is checked here, with
        // every page (an override of `base.html` or `_form.html` reaches them all).
        if !templates.overridden.is_empty() {
            contexts::check_all(&templates)?;
        }
        Ok(templates)
    }

    fn from_sources(
        sources: Vec<(String, String)>,
        catalogues: Arc<Catalogues>,
        branding: Branding,
        overridden: Vec<String>,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        // A variable the context does not have is an error, not an empty string: that is what
        // makes the sample rendering a check of the template against the documented variables.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let t_catalogues = catalogues.clone();
        env.add_function(
            "t",
            move |state: &State, id: String, kwargs: Kwargs| -> Result<String, minijinja::Error> {
                let lang = state
                    .lookup("lang")
                    .and_then(|l| l.as_str().and_then(Lang::parse))
                    .unwrap_or(Lang::En);
                let mut args = Vec::new();
                for name in kwargs.args() {
                    let v: Value = kwargs.get(name)?;
                    let arg = match v.as_i64() {
                        Some(n) => MessageArg::Num(n as f64),
                        None => MessageArg::Str(i18n::strip_bidi(&v.to_string())),
                    };
                    args.push((name, arg));
                }
                Ok(t_catalogues.message(lang, &id, &args))
            },
        );
        env.add_filter("datetime", datetime);
        for (name, src) in sources {
            env.add_template_owned(name.clone(), src)
                .map_err(|e| render_error(&name, Lang::En, &e))?;
        }
        Ok(Templates {
            env,
            catalogues,
            css: builtin::css(&branding.accent_color),
            product_name: branding.product_name,
            overridden,
            cache: Default::default(),
        })
    }

    /// Renders `page` in `lang` with `layout`.
    pub fn render<P: Page>(
        &self,
        lang: Lang,
        layout: &Layout,
        page: &P,
    ) -> Result<String, TemplateError> {
        let Some(page_key) = page
            .cache_key()
            .filter(|_| layout.signed_in.is_none() && layout.notice.is_none())
        else {
            return self.render_now(lang, layout, page);
        };
        let key = (
            P::TEMPLATE,
            lang,
            layout.signup_enabled,
            layout.here.clone(),
            page_key,
        );
        let cached = self.cache.read().ok().and_then(|c| c.get(&key).cloned());
        let html = match cached {
            Some(html) => html,
            None => {
                let slotted = Layout {
                    csrf_token: TOKEN_SLOT.to_string(),
                    ..layout.clone()
                };
                let html: Arc<str> = Arc::from(self.render_now(lang, &slotted, page)?);
                if let Ok(mut cache) = self.cache.write()
                    && cache.len() < CACHE_MAX
                {
                    cache.insert(key, html.clone());
                }
                html
            }
        };
        Ok(html.replace(TOKEN_SLOT, &layout.csrf_token))
    }

    fn render_now<P: Page>(
        &self,
        lang: Lang,
        layout: &Layout,
        page: &P,
    ) -> Result<String, TemplateError> {
        let ctx = minijinja::value::merge_maps([
            minijinja::context! {
                lang => lang.code(),
                product_name => &self.product_name,
            },
            Value::from_serialize(layout),
            Value::from_serialize(page),
        ]);
        self.env
            .get_template(P::TEMPLATE)
            .and_then(|t| t.render(ctx))
            .map_err(|e| render_error(P::TEMPLATE, lang, &e))
    }

    /// A message of the catalogue (for handlers: notices, field errors).
    pub fn message(&self, lang: Lang, id: &str, args: &[(&str, MessageArg)]) -> String {
        self.catalogues.message(lang, id, args)
    }

    /// Whether the catalogue of `lang` has the message `id`.
    pub fn has_message(&self, lang: Lang, id: &str) -> bool {
        self.catalogues.has(lang, id)
    }

    /// The stylesheet, with the configured accent colour.
    pub fn css(&self) -> &str {
        &self.css
    }

    /// Templates the operator replaced.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// Renders every sample of `P` with every sample layout in every language.
    pub(crate) fn check<P: Page>(&self) -> Result<(), TemplateError> {
        for page in P::samples() {
            for layout in Layout::samples() {
                for lang in Lang::ALL {
                    self.render_now(lang, &layout, &page)?;
                }
            }
        }
        Ok(())
    }
}

fn render_error(template: &str, lang: Lang, e: &minijinja::Error) -> TemplateError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    TemplateError::Render {
        template: template.to_string(),
        lang: lang.code(),
        message,
    }
}

/// Files under `dir`, by path relative to it (`pages/signin.html`).
fn read_overrides(dir: &Path) -> Result<Vec<(String, String)>, TemplateError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| TemplateError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| TemplateError::Io {
                path: d.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                if seen.insert(path.clone()) {
                    stack.push(path);
                }
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if name.starts_with('.') || name.contains("/.") {
                // Editors' swap files and the like.
                continue;
            }
            let src = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
                path: path.clone(),
                source,
            })?;
            out.push((name, src));
        }
    }
    out.sort();
    Ok(out)
}

/// `2026-12-04T13:05:09.123+00:00` → `2026-12-04 13:05 UTC` (times are given in UTC).
fn datetime(value: String) -> String {
    if value.len() >= 16 && value.is_char_boundary(16) {
        format!("{} {} UTC", &value[..10], &value[11..16])
    } else {
        value
    }
}

#[cfg(test)]
mod tests;
