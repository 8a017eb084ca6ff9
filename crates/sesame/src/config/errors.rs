//! What can be wrong with the configuration. Each message names the setting as the operator
//! wrote it (the variable, or the TOML key) and where its value came from.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("config file {path}: unknown setting '{key}'")]
    UnknownKey { path: PathBuf, key: String },
    #[error("invalid {name} ({origin}): {problem}")]
    Invalid {
        name: String,
        origin: String,
        problem: String,
    },
    /// A defect of Sesame's own, not of the configuration.
    #[error("internal configuration error: {0}")]
    Internal(String),
}
