//! The layers, reduced to dotted keys (`kafka.topic`) and applied in order:
//! defaults < config file < environment (`RTDS_SECTION_KEY`) < flags. Each
//! value is checked against its key's type as it lands, and its source is
//! kept, so an error names the key and where it came from.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::{Table, Value};

use super::secrets::is_secret_setting;
use super::{ConfigError, DEFAULT_FILE, ENV_PREFIX, Loaded, Override, SCRIPT_VARIABLES, Settings};

impl Settings {
    /// Reads every layer. `file` is `--config`; without it `rtds.toml` in the
    /// working directory is read when present. Variables that are not
    /// `RTDS_` ones are not read, so a value that is not UTF-8 in one of them
    /// is no concern of rtds.
    pub fn load(file: Option<&Path>, flags: &[Override]) -> Result<Loaded, ConfigError> {
        let mut env = BTreeMap::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|n| n.starts_with(ENV_PREFIX)) else {
                continue;
            };
            if is_script_variable(name) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::Invalid {
                key: setting_of_env(name).unwrap_or_else(|| name.to_string()),
                origin: format!("env {name}"),
                message: "the value is not UTF-8 text".into(),
            })?;
            env.insert(name.to_string(), value);
        }
        Self::load_from(file, &env, flags)
    }

    /// [`Settings::load`] with the environment passed in, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &[Override],
    ) -> Result<Loaded, ConfigError> {
        let mut layers = Layers::new();
        let default_file = Path::new(DEFAULT_FILE);
        let file = file.or_else(|| default_file.exists().then_some(default_file));
        if let Some(path) = file {
            layers.apply_file(path)?;
        }
        layers.apply_env(env)?;
        for flag in flags {
            let origin = format!("flag {}", flag.flag);
            let value = layers.typed(flag.key, &flag.value, &origin)?;
            layers.set(flag.key, value, origin)?;
        }
        let mut loaded = layers.finish()?;
        loaded.read_password_files()?;
        loaded.validate()?;
        Ok(loaded)
    }
}

/// Whether `name` is one of the [`SCRIPT_VARIABLES`].
pub(super) fn is_script_variable(name: &str) -> bool {
    SCRIPT_VARIABLES.iter().any(|known| {
        if known.ends_with('_') {
            name.starts_with(known)
        } else {
            name == *known
        }
    })
}

/// The setting that environment variable `name` sets, if any.
pub(super) fn setting_of_env(name: &str) -> Option<String> {
    Layers::new()
        .known
        .into_keys()
        .find(|key| env_name(key) == name)
}

/// The settings tree under construction, plus where each key came from.
pub(super) struct Layers {
    table: Table,
    /// Every known dotted key with its default value: the schema.
    pub(super) known: BTreeMap<String, Value>,
    origins: BTreeMap<String, String>,
}

impl Layers {
    pub(super) fn new() -> Self {
        let table = Table::try_from(Settings::default()).expect("defaults serialize");
        let mut known = BTreeMap::new();
        flatten("", &table, &mut known);
        Layers {
            table,
            known,
            origins: BTreeMap::new(),
        }
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: path.into(),
                message: e.message().to_string(),
            })?;
        let mut values = BTreeMap::new();
        flatten("", &table, &mut values);
        let origin = format!("config file {}", path.display());
        for (key, value) in values {
            self.set(&key, value, origin.clone())?;
        }
        Ok(())
    }

    /// Applies the `RTDS_` variables of `env`. Each must name a setting or be
    /// one of the [`SCRIPT_VARIABLES`], so that a typo in a section or key is
    /// refused instead of silently doing nothing.
    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let by_name: BTreeMap<String, String> = self
            .known
            .keys()
            .map(|key| (env_name(key), key.clone()))
            .collect();
        let ours = |name: &str| name.starts_with(ENV_PREFIX) && !is_script_variable(name);
        for (name, text) in env.iter().filter(|(name, _)| ours(name)) {
            let origin = format!("env {name}");
            let key = by_name.get(name).ok_or_else(|| ConfigError::UnknownKey {
                key: name.clone(),
                origin: "the environment".into(),
            })?;
            let value = self.typed(key, text, &origin)?;
            self.set(key, value, origin)?;
        }
        Ok(())
    }

    /// Turns text from the environment or a flag into a value of the key's type.
    fn typed(&self, key: &str, text: &str, origin: &str) -> Result<Value, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: key.into(),
            origin: origin.into(),
            message,
        };
        let template = self.known.get(key).ok_or_else(|| ConfigError::UnknownKey {
            key: key.into(),
            origin: origin.into(),
        })?;
        Ok(match template {
            Value::Integer(_) => Value::Integer(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not a whole number")))?,
            ),
            Value::Float(_) => Value::Float(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not a number")))?,
            ),
            Value::Boolean(_) => Value::Boolean(
                text.trim()
                    .parse()
                    .map_err(|_| invalid(format!("`{text}` is not true or false")))?,
            ),
            Value::Array(_) => Value::Array(
                text.split(',')
                    .map(|item| Value::String(item.trim().to_string()))
                    .filter(|item| item.as_str() != Some(""))
                    .collect(),
            ),
            Value::Table(_) => {
                let mut table = Table::new();
                let pairs = text.split(',').filter(|p| !p.trim().is_empty());
                for (n, pair) in pairs.enumerate() {
                    // The entry itself is not shown: it may be (part of) a secret.
                    let (k, v) = pair.split_once('=').ok_or_else(|| {
                        invalid(format!(
                            "entry {} is not key=value (entries are separated by commas; \
                             the entry is not shown, it may hold a secret)",
                            n + 1
                        ))
                    })?;
                    table.insert(k.trim().into(), Value::String(v.trim().into()));
                }
                Value::Table(table)
            }
            _ => Value::String(text.to_string()),
        })
    }

    /// Sets one key and checks the whole tree still deserializes, so a bad
    /// value is reported with the key and source that brought it.
    fn set(&mut self, key: &str, value: Value, origin: String) -> Result<(), ConfigError> {
        if !self.known.contains_key(key) {
            return Err(ConfigError::UnknownKey {
                key: key.into(),
                origin,
            });
        }
        let mut node = &mut self.table;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.into(), value);
                break;
            }
            node = node
                .get_mut(part)
                .and_then(Value::as_table_mut)
                .expect("known keys have known parents");
        }
        Settings::deserialize(self.table.clone()).map_err(|e| ConfigError::Invalid {
            key: key.into(),
            origin: origin.clone(),
            message: match key {
                "kafka.properties" => "must be a table of text values like \
                    { \"linger.ms\" = \"5\" } (the value is not shown: it may hold a secret)"
                    .into(),
                _ if is_secret_setting(key) => {
                    "must be text (the value is not shown: it may hold a secret)".into()
                }
                _ => e.message().to_string(),
            },
        })?;
        self.origins.insert(key.into(), origin);
        Ok(())
    }

    fn finish(self) -> Result<Loaded, ConfigError> {
        let mut settings = Settings::deserialize(self.table).map_err(|e| ConfigError::Invalid {
            key: "?".into(),
            origin: "the combined settings".into(),
            message: e.message().to_string(),
        })?;
        if settings.kafka.dlq_topic.is_empty() {
            settings.kafka.dlq_topic = format!("{}.dlq", settings.kafka.topic);
        }
        Ok(Loaded {
            settings,
            origins: self.origins,
        })
    }
}

/// Collects leaf values under dotted keys. `kafka.properties` is a leaf: its
/// keys are librdkafka's, not ours.
fn flatten(prefix: &str, table: &Table, out: &mut BTreeMap<String, Value>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            Value::Table(inner) if key != "kafka.properties" => flatten(&key, inner, out),
            _ => {
                out.insert(key, value.clone());
            }
        }
    }
}

/// `kafka.bootstrap_servers` -> `RTDS_KAFKA_BOOTSTRAP_SERVERS`.
pub(super) fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}
