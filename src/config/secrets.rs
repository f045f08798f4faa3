//! Secrets: masked wherever settings are shown, never repeated in an
//! error, and read from password files so the rest of rtds sees one
//! password however an operator keeps it.

use super::{ConfigError, Loaded, Settings};

/// Shown instead of a secret.
const MASK: &str = "***";

impl Settings {
    /// The settings as TOML, secrets replaced by `***`: passwords, secret
    /// librdkafka properties and the password in a source URL.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.kafka.sasl_password,
            &mut shown.kafka.ssl_key_password,
            &mut shown.cassandra.password,
            &mut shown.registry.password,
        ] {
            if !secret.is_empty() {
                *secret = MASK.into();
            }
        }
        for (key, value) in shown.kafka.properties.iter_mut() {
            if is_secret_property(key) {
                *value = MASK.into();
            }
        }
        shown.produce.source = masked_source(&shown.produce.source);
        shown.registry.url = masked_source(&shown.registry.url);
        toml::to_string_pretty(&shown).expect("settings always serialize")
    }
}

/// Whether the value of librdkafka property `key` may be a secret:
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, `ssl.key.pem`,
/// tokens, credentials, `sasl.jaas.config` (a Java client's login, password
/// inline), and `sasl.oauthbearer.config`, which holds client secrets
/// inline. By words in the name, so that a misspelt one is masked too.
pub fn is_secret_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key", "jaas", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "sasl.oauthbearer.config"
}

/// Settings whose values are never repeated in an error: a wrong one may
/// still be the secret, or part of it.
pub(super) fn is_secret_setting(key: &str) -> bool {
    matches!(
        key,
        "kafka.sasl_password"
            | "kafka.ssl_key_password"
            | "cassandra.password"
            | "registry.password"
            | "kafka.properties"
    )
}

/// `url` with its password, if any, replaced by `***`: for every log line,
/// error and listing that shows a URL given by the user.
pub fn masked_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password at all.
        let _ = shown.set_password(Some(MASK));
    }
    shown.to_string()
}

/// [`masked_url`] for `produce.source` as written: also masks what looks like
/// a password in text that does not parse as a URL.
pub fn masked_source(source: &str) -> String {
    if let Ok(url) = reqwest::Url::parse(source) {
        return masked_url(&url);
    }
    let Some((scheme, rest)) = source.split_once("://") else {
        return source.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, _)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:{MASK}{}", &rest[user_info.len()..])
        }
        None => source.to_string(),
    }
}

impl Loaded {
    /// Reads each `*_password_file` into its password setting, so that the
    /// rest of rtds sees one password however an operator keeps it.
    pub(super) fn read_password_files(&mut self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let (k, c) = (&s.kafka, &s.cassandra);
        let sasl = self.password_file(
            "kafka.sasl_password",
            &k.sasl_password,
            &k.sasl_password_file,
        )?;
        let key = self.password_file(
            "kafka.ssl_key_password",
            &k.ssl_key_password,
            &k.ssl_key_password_file,
        )?;
        let cassandra = self.password_file("cassandra.password", &c.password, &c.password_file)?;
        let r = &s.registry;
        let registry = self.password_file("registry.password", &r.password, &r.password_file)?;
        let s = &mut self.settings;
        for (read, password) in [
            (sasl, &mut s.kafka.sasl_password),
            (key, &mut s.kafka.ssl_key_password),
            (cassandra, &mut s.cassandra.password),
            (registry, &mut s.registry.password),
        ] {
            if let Some(read) = read {
                *password = read;
            }
        }
        Ok(())
    }

    /// The password in `file`, the setting `{key}_file`, if it names one:
    /// read whole, one trailing newline dropped (`echo` and editors add it).
    fn password_file(
        &self,
        key: &str,
        password: &str,
        file: &str,
    ) -> Result<Option<String>, ConfigError> {
        let file_key = format!("{key}_file");
        if file.is_empty() {
            return Ok(None);
        }
        if !password.is_empty() {
            return Err(self.invalid(
                &file_key,
                format!(
                    "is set and so is `{key}` (from {}): give the password one way",
                    self.origin(key)
                ),
            ));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| self.invalid(&file_key, format!("cannot read {file}: {e}")))?;
        let secret = match text.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => &text,
        };
        if secret.is_empty() {
            return Err(self.invalid(&file_key, format!("{file} is empty")));
        }
        Ok(Some(secret.to_string()))
    }
}
