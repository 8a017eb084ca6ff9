//! What can go wrong loading or rendering a page.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a template name Sesame knows (the built-in templates are: {known}); \
         a misspelt override would otherwise be silently ignored"
    )]
    UnknownFile { path: PathBuf, known: String },
    #[error("template {template} ({lang}): {message}")]
    Render {
        template: String,
        lang: &'static str,
        message: String,
    },
    #[error("message catalogue: {0}")]
    Catalogue(String),
}
