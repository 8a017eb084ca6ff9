//! The layers, merged by `figment`: the defaults of [`RawConfig::default`], then the TOML file,
//! then `SESAME_*` variables (a secret's also from the file its `SESAME_*_FILE` names). figment
//! keeps, for every value, the layer it came from; that is what error messages quote.
//!
//! The known settings are the fields of [`RawConfig`] (read by serialising its defaults), so the
//! environment layer needs no list of names: any other `SESAME_*` variable is not a setting and
//! is left alone, while an unknown TOML key is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::errors::ConfigError;
use super::raw::{Key, RawConfig, env_name, key};

/// One layer: a name for messages (`default`, `file PATH`, `environment`) and its values.
struct Layer {
    origin: String,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// Where each value came from (the merged figment), and which secrets were read from a file.
#[derive(Default, Clone)]
pub struct Origins {
    figment: Figment,
    /// Dotted key → (`SESAME_*_FILE`, the file) for secrets read from a file.
    from_files: BTreeMap<String, (String, PathBuf)>,
}

/// Not the figment: it holds the values, secrets included.
impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origins")
            .field("from_files", &self.from_files)
            .finish_non_exhaustive()
    }
}

impl Origins {
    /// `default`, `file PATH`, `environment`, or `unset`.
    pub fn origin(&self, key: &Key) -> String {
        if key.value.is_none() {
            return "unset".into();
        }
        let dotted = key.dotted();
        if let Some((_, path)) = self.from_files.get(&dotted) {
            return format!("file {}", path.display());
        }
        self.figment
            .find_metadata(&dotted)
            .map_or_else(|| "default".into(), |m| m.name.to_string())
    }

    /// The error naming the setting as its source knows it: the variable when it came from the
    /// environment (or `SESAME_*_FILE` for a secret read from a file), else the TOML key.
    pub fn invalid(&self, key: Key, problem: impl Into<String>) -> ConfigError {
        let origin = self.origin(&key);
        let name = match self.from_files.get(&key.dotted()) {
            Some((var, _)) => var.clone(),
            None if origin == "environment" => key.env(),
            None => key.dotted(),
        };
        ConfigError::Invalid {
            name,
            origin,
            problem: problem.into(),
        }
    }
}

/// The settings a `SESAME_*_FILE` variable may give (Docker and Kubernetes secrets).
fn secret_keys(raw: &RawConfig) -> [String; 3] {
    [
        key!(raw.database_url).dotted(),
        key!(raw.smtp_url).dotted(),
        key!(raw.bootstrap_admin_password).dotted(),
    ]
}

/// Every leaf of `dict` with its dotted key.
fn leaves(prefix: &str, dict: &Dict, out: &mut Vec<(String, Value)>) {
    for (k, v) in dict {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Dict(_, d) => leaves(&key, d, out),
            // A list of tables (`[[upstream]]`) is the file's alone: no variable.
            Value::Array(..) => {}
            other => out.push((key, other.clone())),
        }
    }
}

fn insert(dict: &mut Dict, dotted: &str, value: Value) {
    match dotted.split_once('.') {
        None => {
            dict.insert(dotted.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, d) = entry {
                insert(d, rest, value);
            }
        }
    }
}

/// The environment layer: each known setting's variable; for a secret, the content of the file
/// its `_FILE` variable names (trailing newline trimmed). An empty variable leaves an optional
/// setting (one without a default) unset.
fn environment(
    defaults: &[(String, Value)],
    secrets: &[String],
    env: &BTreeMap<String, String>,
    from_files: &mut BTreeMap<String, (String, PathBuf)>,
) -> Result<Dict, ConfigError> {
    let mut dict = Dict::new();
    for (key, default) in defaults {
        let optional = matches!(default, Value::Empty(..));
        let var = env_name(key);
        let given = |v: &&String| !(optional && v.trim().is_empty());
        let mut value = env.get(&var).filter(given).cloned();
        if secrets.contains(key) {
            let file_var = format!("{var}_FILE");
            if let Some(path) = env.get(&file_var).filter(|p| !p.trim().is_empty()) {
                let invalid = |problem: String| ConfigError::Invalid {
                    name: file_var.clone(),
                    origin: "environment".into(),
                    problem,
                };
                if value.is_some() {
                    return Err(invalid(format!("set {var} or {file_var}, not both")));
                }
                let path = PathBuf::from(path.trim());
                // The message names the file, never its content.
                let content = std::fs::read_to_string(&path)
                    .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
                let content = content.trim_end_matches(['\n', '\r']).to_string();
                if given(&&content) {
                    from_files.insert(key.clone(), (file_var.clone(), path));
                    value = Some(content);
                }
            }
        }
        if let Some(v) = value {
            insert(&mut dict, key, Value::from(v));
        }
    }
    Ok(dict)
}

/// The TOML layer, read here so a missing file or bad TOML is its own error.
fn file(path: &Path) -> Result<Dict, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    match Value::serialize(&table) {
        Ok(Value::Dict(_, d)) => Ok(d),
        _ => Err(ConfigError::Toml {
            path: path.to_path_buf(),
            message: "expected a table".into(),
        }),
    }
}

/// The defaults as a figment table, and every setting's dotted key with its default (`Empty`
/// when it has none).
fn defaults() -> Result<(Dict, Vec<(String, Value)>), ConfigError> {
    let Ok(Value::Dict(_, dict)) = Value::serialize(RawConfig::default()) else {
        return Err(ConfigError::Internal("the defaults are not a table".into()));
    };
    let mut known = Vec::new();
    leaves("", &dict, &mut known);
    Ok((dict, known))
}

/// Every setting's environment variable (and `SESAME_*_FILE` of the secrets).
pub fn env_names() -> Vec<String> {
    let Ok((_, known)) = defaults() else {
        return Vec::new();
    };
    let secrets = secret_keys(&RawConfig::default());
    let mut names = Vec::new();
    for (key, _) in known {
        names.push(env_name(&key));
        if secrets.contains(&key) {
            names.push(format!("{}_FILE", env_name(&key)));
        }
    }
    names
}

impl RawConfig {
    /// Merges the layers; the result knows where each of its values came from.
    pub fn try_from_sources(
        file_path: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<RawConfig, ConfigError> {
        merge(file_path, env)
    }
}

fn merge(
    file_path: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> Result<RawConfig, ConfigError> {
    let (default_dict, known) = defaults()?;
    let secrets = secret_keys(&RawConfig::default());

    let mut figment = Figment::new().merge(Layer {
        origin: "default".into(),
        dict: default_dict,
    });
    let file_path = file_path
        .map(Path::to_path_buf)
        .or_else(|| env.get("SESAME_CONFIG").map(PathBuf::from));
    if let Some(path) = &file_path {
        figment = figment.merge(Layer {
            origin: format!("file {}", path.display()),
            dict: file(path)?,
        });
    }
    let mut from_files = BTreeMap::new();
    figment = figment.merge(Layer {
        origin: "environment".into(),
        dict: environment(&known, &secrets, env, &mut from_files)?,
    });

    let mut raw: RawConfig = figment
        .extract()
        .map_err(|e| extraction_error(e, file_path.as_deref()))?;
    raw.origins = Origins {
        figment,
        from_files,
    };
    Ok(raw)
}

/// figment's error, in our shape: an unknown key (only the file can hold one) or a value of the
/// wrong kind (a TOML table where a setting is expected).
fn extraction_error(e: figment::Error, file: Option<&Path>) -> ConfigError {
    let dotted = e.path.join(".");
    let origin = e
        .metadata
        .as_ref()
        .map_or_else(|| "unknown".to_string(), |m| m.name.to_string());
    match (&e.kind, file) {
        (figment::error::Kind::UnknownField(field, _), Some(path)) => ConfigError::UnknownKey {
            path: path.to_path_buf(),
            // figment's path ends with the unknown key.
            key: if dotted.is_empty() {
                field.clone()
            } else {
                dotted
            },
        },
        (kind, _) => ConfigError::Invalid {
            name: if origin == "environment" {
                env_name(&dotted)
            } else {
                dotted
            },
            origin,
            problem: kind.to_string(),
        },
    }
}
