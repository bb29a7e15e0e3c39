//! Where a configuration comes from: defaults, then the TOML file, then `VMS_*` environment
//! variables, layered by figment. Every key is defined once, by the section structs; figment maps
//! the file's tables and the variables' `__`-separated names onto them.

use crate::{ConfigError, NodeConfig};
use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::Path;

/// Prefix of the environment overrides (`VMS_API__LISTEN` is `api.listen`).
pub const ENV_PREFIX: &str = "VMS_";
/// Separator of a section and its key in an override's name.
const ENV_SEPARATOR: &str = "__";

impl NodeConfig {
    /// Reads a TOML file (all keys optional), then applies `VMS_*` overrides from the process
    /// environment. Variables whose first part is not a config key (such as `VMS_LOG`) are left to
    /// other tools.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::default().layered(path, true)
    }

    /// Reads a TOML file without environment overrides.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Self::default().layered(Some(path), false)
    }

    /// This configuration with the `VMS_*` overrides of the process environment on top (a command
    /// that sets its own defaults, such as the demo, still lets the operator override them).
    pub fn with_environment(self) -> Result<Self, ConfigError> {
        self.layered(None, true)
    }

    fn layered(self, path: Option<&Path>, with_env: bool) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(self));
        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::string(&text));
        }
        if with_env {
            figment = figment.merge(EnvText(environment()));
        }
        // Lossy: text from the environment becomes the number or flag its field wants.
        figment.extract_lossy().map_err(|e| explain(e, path))
    }
}

/// The `VMS_*` variables whose first part names a top-level key.
fn environment() -> Env {
    let top_level = top_level_keys();
    Env::prefixed(ENV_PREFIX)
        .filter(move |key| {
            let first = key.as_str().split(ENV_SEPARATOR).next().unwrap_or_default();
            top_level.iter().any(|k| k.eq_ignore_ascii_case(first))
        })
        .split(ENV_SEPARATOR)
}

/// The variables of an [`Env`] with their values kept as text. Figment's own provider reads
/// `VMS_NODE_ID=7` as a number, which a text key then refuses; kept as text, each value becomes what
/// its field asks for at extraction (numbers and flags through lossy extraction).
struct EnvText(Env);

impl Provider for EnvText {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, value) in self.0.iter() {
            let keys: Vec<&str> = key.as_str().split('.').collect();
            insert(&mut root, &keys, value);
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Name the environment's values carry, by which errors are told apart.
const ENV_METADATA: &str = "environment variable";

/// Puts `value` at the dotted path `keys` of `dict`, making the tables on the way.
fn insert(dict: &mut Dict, keys: &[&str], value: String) {
    match keys {
        [] => {}
        [last] => {
            dict.insert((*last).to_string(), Value::from(value));
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// The top-level keys, as the structs define them.
fn top_level_keys() -> Vec<String> {
    match figment::value::Value::serialize(NodeConfig::default()) {
        Ok(figment::value::Value::Dict(_, dict)) => dict.into_keys().collect(),
        _ => Vec::new(),
    }
}

/// A figment error as ours: naming the variable when one was at fault, else the file and key.
fn explain(error: figment::Error, path: Option<&Path>) -> ConfigError {
    let mut keys = error.path.clone();
    if let Kind::UnknownField(field, _) = &error.kind {
        keys.push(field.clone());
    }
    let message = error.kind.to_string();
    let from_env = error
        .metadata
        .as_ref()
        .is_some_and(|m| m.name == ENV_METADATA);
    if from_env {
        return ConfigError::Env {
            var: format!("{ENV_PREFIX}{}", keys.join(ENV_SEPARATOR).to_uppercase()),
            message: format!("{message} (key {})", keys.join(".")),
        };
    }
    match path {
        Some(path) => ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("key {}: {message}", keys.join(".")),
        },
        None => ConfigError::Invalid {
            key: keys.join("."),
            message,
        },
    }
}
