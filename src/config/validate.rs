//! What types alone cannot check: addresses, names, ranges, and the
//! combinations of settings that cannot work, one group at a time, each
//! error naming the key and its source.

use super::*;
use crate::mapping::Format;

impl Loaded {
    /// Checks what types alone cannot: addresses, names, ranges, and the
    /// combinations that cannot work, one group of settings at a time.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        for server in s.kafka.bootstrap_servers.split(',') {
            check_host_port(server.trim())
                .map_err(|m| self.invalid("kafka.bootstrap_servers", m))?;
        }
        if s.cassandra.contact_points.is_empty() {
            return Err(self.invalid("cassandra.contact_points", "needs at least one host:port"));
        }
        for point in &s.cassandra.contact_points {
            check_host_port(point).map_err(|m| self.invalid("cassandra.contact_points", m))?;
        }
        for (key, name) in [
            ("kafka.topic", &s.kafka.topic),
            ("kafka.group_id", &s.kafka.group_id),
        ] {
            if name.is_empty() {
                return Err(self.invalid(key, "must not be empty"));
            }
        }
        for (key, name) in [
            ("cassandra.keyspace", &s.cassandra.keyspace),
            ("cassandra.table", &s.cassandra.table),
        ] {
            crate::cassandra::check_name(name).map_err(|m| self.invalid(key, m))?;
        }
        crate::kafka::check_properties(&s.kafka.properties)
            .map_err(|m| self.invalid("kafka.properties", m))?;
        self.validate_limits()?;
        self.validate_sasl()?;
        self.validate_kafka_tls()?;
        self.validate_cassandra_security()?;
        self.validate_writes()?;
        self.validate_mappings()?;
        self.validate_registry()?;
        self.validate_endpoints()
    }

    /// Every mapping checked whole, each name once, one format a topic,
    /// and a registry for the formats that need one.
    fn validate_mappings(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        let mut formats = BTreeMap::new();
        for spec in &self.settings.mapping {
            crate::mapping::Mapping::parse(spec).map_err(|m| self.invalid("mapping", m))?;
            if !names.insert(spec.name.as_str()) {
                let twice = format!("two mappings are named `{}`: names must differ", spec.name);
                return Err(self.invalid("mapping", twice));
            }
            let (other, format) = formats
                .entry(spec.topic.as_str())
                .or_insert((spec.name.as_str(), spec.format));
            if *format != spec.format {
                let differ = format!(
                    "mappings `{other}` and `{}` read topic {} as {} and as {}: a topic's \
                     records have one format",
                    spec.name,
                    spec.topic,
                    format.name(),
                    spec.format.name()
                );
                return Err(self.invalid("mapping", differ));
            }
            if !spec.format.is_json() && self.settings.registry.url.is_empty() {
                let needs = format!(
                    "mapping `{}` reads {} records, whose schemas are in a schema registry: set \
                     registry.url (e.g. http://127.0.0.1:8081/apis/ccompat/v7)",
                    spec.name,
                    spec.format.name()
                );
                return Err(self.invalid("mapping", needs));
            }
        }
        Ok(())
    }

    /// The schema registry's address and cache, and what needs it.
    fn validate_registry(&self) -> Result<(), ConfigError> {
        let r = &self.settings.registry;
        let format = self.settings.kafka.format;
        if !matches!(format, Format::Json | Format::Avro) {
            return Err(self.invalid(
                "kafka.format",
                format!("is {}: the users topic is json or avro", format.name()),
            ));
        }
        if format == Format::Avro && r.url.is_empty() {
            return Err(self.invalid(
                "kafka.format",
                "is avro, whose schema is in a schema registry, and registry.url is empty: \
                 set registry.url (e.g. http://127.0.0.1:8081/apis/ccompat/v7)",
            ));
        }
        let http =
            reqwest::Url::parse(&r.url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !r.url.is_empty() && !http {
            let shown = masked_source(&r.url);
            return Err(self.invalid(
                "registry.url",
                format!(
                    "`{shown}` is not an http(s) URL like http://127.0.0.1:8081/apis/ccompat/v7"
                ),
            ));
        }
        if r.cache_schemas == 0 {
            return Err(self.invalid("registry.cache_schemas", "must be at least 1"));
        }
        if !r.username.is_empty() && r.password.is_empty() {
            return Err(self.invalid(
                "registry.username",
                "is set but registry.password is empty: give the password too (or through \
                 registry.password_file)",
            ));
        }
        Ok(())
    }

    /// Counts and times the clients could not work with.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        for (key, value) in [
            ("kafka.partitions", s.kafka.partitions),
            ("kafka.replication_factor", s.kafka.replication_factor),
        ] {
            if value < 1 {
                return Err(self.invalid(key, format!("is {value}, must be at least 1")));
            }
        }
        for (key, value) in [
            ("kafka.timeout", s.kafka.timeout),
            ("cassandra.timeout", s.cassandra.timeout),
            ("produce.request_timeout", s.produce.request_timeout),
            ("process.commit_interval", s.process.commit_interval),
            ("registry.timeout", s.registry.timeout),
        ] {
            if value < MIN_INTERVAL {
                return Err(self.invalid(
                    key,
                    format!(
                        "is {}, must be at least 1ms (the clients count in milliseconds)",
                        humantime::format_duration(value)
                    ),
                ));
            }
        }
        if s.cassandra.ttl > MAX_TTL || s.cassandra.ttl.subsec_nanos() != 0 {
            return Err(self.invalid(
                "cassandra.ttl",
                format!(
                    "is {}: a time to live is whole seconds, at most 20 years (Cassandra's limit), or 0s for none",
                    humantime::format_duration(s.cassandra.ttl)
                ),
            ));
        }
        Ok(())
    }

    /// How records are written: replicas, consistency, rates and sizes.
    fn validate_writes(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let k = &s.kafka;
        if !(0..=k.replication_factor).contains(&k.min_insync_replicas) {
            return Err(self.invalid(
                "kafka.min_insync_replicas",
                format!(
                    "is {}, must be between 0 (the brokers' default) and kafka.replication_factor ({}): \
                     more copies in sync than exist would refuse every write",
                    k.min_insync_replicas, k.replication_factor
                ),
            ));
        }
        for (key, level) in [
            (
                "cassandra.write_consistency",
                &s.cassandra.write_consistency,
            ),
            ("cassandra.read_consistency", &s.cassandra.read_consistency),
        ] {
            if !CONSISTENCIES.contains(&level.as_str()) {
                return Err(self.invalid(
                    key,
                    format!("`{level}` is not one of {}", CONSISTENCIES.join(", ")),
                ));
            }
        }
        if s.cassandra.read_consistency == "ANY" {
            return Err(self.invalid(
                "cassandra.read_consistency",
                "ANY is for writes only: Cassandra refuses reads at ANY",
            ));
        }
        check_replication(&s.cassandra.replication)
            .map_err(|m| self.invalid("cassandra.replication", m))?;
        if !(1..=5000).contains(&s.produce.batch_size) {
            return Err(self.invalid(
                "produce.batch_size",
                "must be between 1 and 5000 (the API's limit)",
            ));
        }
        if s.produce.max_rate < 0.0 || !s.produce.max_rate.is_finite() {
            return Err(self.invalid(
                "produce.max_rate",
                "must be 0 (the source's default) or a positive users/s",
            ));
        }
        for (key, value) in [
            ("produce.concurrency", s.produce.concurrency),
            ("cassandra.concurrency", s.cassandra.concurrency),
        ] {
            if !(1..=MAX_CONCURRENCY).contains(&value) {
                return Err(self.invalid(key, format!("must be between 1 and {MAX_CONCURRENCY}")));
            }
        }
        if s.cassandra.batch_rows > MAX_BATCH_ROWS {
            return Err(self.invalid(
                "cassandra.batch_rows",
                format!(
                    "must be between 1 and {} (0 = as the node allows)",
                    MAX_BATCH_ROWS
                ),
            ));
        }
        Ok(())
    }

    /// Where users come from and where rtds listens and looks.
    fn validate_endpoints(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let http_url = |text: &str| {
            reqwest::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
        };
        if s.produce.source != BUILTIN && !http_url(&s.produce.source) {
            return Err(self.invalid(
                "produce.source",
                format!(
                    "`{}` is neither `builtin` nor an http(s) URL like https://randomuser.me/api/",
                    masked_source(&s.produce.source)
                ),
            ));
        }
        s.run
            .schedule
            .parse::<crate::schedule::Schedule>()
            .map_err(|m| self.invalid("run.schedule", m))?;
        for (key, address) in [
            ("metrics.listen", &s.metrics.listen),
            ("dashboard.listen", &s.dashboard.listen),
        ] {
            if !address.is_empty() && address.parse::<std::net::SocketAddr>().is_err() {
                return Err(self.invalid(key, format!("`{address}` is not an IP:port address")));
            }
        }
        if s.dashboard.listen.is_empty() {
            return Err(self.invalid("dashboard.listen", "needs an IP:port address"));
        }
        let not_a_name = |host: &&String| {
            host.is_empty() || host.contains(|c: char| c == '/' || c == '@' || c.is_whitespace())
        };
        if let Some(host) = s.dashboard.allowed_hosts.iter().find(not_a_name) {
            return Err(self.invalid(
                "dashboard.allowed_hosts",
                format!("`{host}` is not a host name like dash.example.com (no scheme, no path)"),
            ));
        }
        if let Some(url) = s.dashboard.scrape.iter().find(|url| !http_url(url)) {
            return Err(self.invalid(
                "dashboard.scrape",
                format!(
                    "`{}` is not an http(s) URL like http://127.0.0.1:9100/metrics",
                    masked_source(url)
                ),
            ));
        }
        Ok(())
    }

    /// Security settings that cannot work: a protocol or mechanism librdkafka
    /// does not know fails when the first client is made, far from the
    /// setting; a SASL protocol without a mechanism fails at the first
    /// connection; credentials without a mechanism are silently not used.
    fn validate_sasl(&self) -> Result<(), ConfigError> {
        let k = &self.settings.kafka;
        let one_of = |key: &str, value: &str, known: &[&str]| {
            if known.iter().any(|name| name.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                Err(self.invalid(key, format!("`{value}` is not one of {}", known.join(", "))))
            }
        };
        one_of(
            "kafka.security_protocol",
            &k.security_protocol,
            &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        )?;
        if !k.sasl_mechanism.is_empty() {
            one_of(
                "kafka.sasl_mechanism",
                &k.sasl_mechanism,
                &[
                    "PLAIN",
                    "SCRAM-SHA-256",
                    "SCRAM-SHA-512",
                    "GSSAPI",
                    "OAUTHBEARER",
                ],
            )?;
        }
        let sasl_protocol = k
            .security_protocol
            .to_ascii_uppercase()
            .starts_with("SASL_");
        if k.sasl_mechanism.is_empty() {
            if sasl_protocol {
                return Err(self.invalid(
                    "kafka.security_protocol",
                    format!(
                        "{} needs kafka.sasl_mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...)",
                        k.security_protocol
                    ),
                ));
            }
            for (key, value) in [
                ("kafka.sasl_username", &k.sasl_username),
                ("kafka.sasl_password", &k.sasl_password),
            ] {
                if !value.is_empty() {
                    return Err(self.invalid(
                        key,
                        "is set but kafka.sasl_mechanism is empty, so it would not be used",
                    ));
                }
            }
        } else if !sasl_protocol {
            return Err(self.invalid(
                "kafka.sasl_mechanism",
                format!(
                    "is set but kafka.security_protocol is {}, which does not use SASL; \
                     use SASL_SSL or SASL_PLAINTEXT",
                    k.security_protocol
                ),
            ));
        }
        Ok(())
    }

    /// Files that cannot be read: refused at load, not at the first connection.
    fn check_readable(&self, files: &[(&str, &String)]) -> Result<(), ConfigError> {
        for (key, path) in files.iter().filter(|(_, path)| !path.is_empty()) {
            if let Err(e) = std::fs::File::open(path) {
                return Err(self.invalid(key, format!("cannot read {path}: {e}")));
            }
        }
        Ok(())
    }

    /// Kafka TLS settings that would be silently unused or fail late:
    /// certificate files that cannot be read, a client certificate without
    /// its key, TLS files for a plaintext protocol.
    fn validate_kafka_tls(&self) -> Result<(), ConfigError> {
        let k = &self.settings.kafka;
        let files = [
            ("kafka.ssl_ca_location", &k.ssl_ca_location),
            (
                "kafka.ssl_certificate_location",
                &k.ssl_certificate_location,
            ),
            ("kafka.ssl_key_location", &k.ssl_key_location),
        ];
        self.check_readable(&files)?;
        let tls = k.security_protocol.eq_ignore_ascii_case("SSL")
            || k.security_protocol.eq_ignore_ascii_case("SASL_SSL");
        if let Some((key, _)) = files.iter().find(|(_, path)| !path.is_empty())
            && !tls
        {
            return Err(self.invalid(
                key,
                format!(
                    "is set but kafka.security_protocol is {}, which does not use TLS; use SSL or SASL_SSL",
                    k.security_protocol
                ),
            ));
        }
        if k.ssl_certificate_location.is_empty() != k.ssl_key_location.is_empty() {
            return Err(self.invalid(
                "kafka.ssl_certificate_location",
                "and kafka.ssl_key_location go together: a client certificate needs its key",
            ));
        }
        if !k.ssl_key_password.is_empty() && k.ssl_key_location.is_empty() {
            return Err(self.invalid(
                "kafka.ssl_key_password",
                "is set but kafka.ssl_key_location is empty, so it would not be used",
            ));
        }
        Ok(())
    }

    /// Cassandra TLS and login settings that would be silently unused or
    /// fail late: files that cannot be read, a client certificate without
    /// its key or without TLS, a user without a password.
    fn validate_cassandra_security(&self) -> Result<(), ConfigError> {
        let c = &self.settings.cassandra;
        self.check_readable(&[
            ("cassandra.tls_ca_file", &c.tls_ca_file),
            ("cassandra.tls_cert_file", &c.tls_cert_file),
            ("cassandra.tls_key_file", &c.tls_key_file),
        ])?;
        if c.tls_cert_file.is_empty() != c.tls_key_file.is_empty() {
            return Err(self.invalid(
                "cassandra.tls_cert_file",
                "and cassandra.tls_key_file go together: a client certificate needs its key",
            ));
        }
        if !c.tls_cert_file.is_empty() && c.tls_ca_file.is_empty() {
            return Err(self.invalid(
                "cassandra.tls_cert_file",
                "is set but cassandra.tls_ca_file is empty, so connections are plain TCP and \
                 it would not be used; set cassandra.tls_ca_file to the CA of the nodes' certificates",
            ));
        }
        if c.username.is_empty() != c.password.is_empty() {
            let (key, missing) = if c.username.is_empty() {
                ("cassandra.password", "cassandra.username")
            } else {
                (
                    "cassandra.username",
                    "cassandra.password (or cassandra.password_file)",
                )
            };
            return Err(self.invalid(
                key,
                format!("is set but {missing} is empty: a login needs both"),
            ));
        }
        Ok(())
    }
}

/// Checks that `text` is a CQL map literal with a `class`, such as
/// `{'class': 'SimpleStrategy', 'replication_factor': 1}`: it goes into the
/// `CREATE KEYSPACE` statement as is, so anything else would fail there, or
/// change the statement.
pub(super) fn check_replication(text: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "`{text}` is not a replication map like \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}: {why}"
        )
    };
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("it must be in braces"))?;
    let mut chars = inner.chars().peekable();
    let mut keys = Vec::new();
    let mut class = None;
    loop {
        skip_spaces(&mut chars);
        if chars.peek().is_none() {
            break;
        }
        let key = cql_string(&mut chars).ok_or_else(|| bad("a key is not a quoted string"))?;
        skip_spaces(&mut chars);
        if chars.next() != Some(':') {
            return Err(bad(&format!("`{key}` is not followed by `:`")));
        }
        skip_spaces(&mut chars);
        let value = match chars.peek() {
            Some('\'') => cql_string(&mut chars),
            _ => {
                let word: String = std::iter::from_fn(|| {
                    chars.next_if(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                })
                .collect();
                (!word.is_empty()).then_some(word)
            }
        }
        .ok_or_else(|| {
            bad(&format!(
                "`{key}` has no value (a quoted string or a number)"
            ))
        })?;
        if keys.contains(&key) {
            return Err(bad(&format!("`{key}` is given twice")));
        }
        if key == "class" {
            class = Some(value);
        }
        keys.push(key);
        skip_spaces(&mut chars);
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return Err(bad("entries must be separated by commas")),
        }
    }
    match class {
        Some(class) if !class.is_empty() => Ok(()),
        _ => Err(bad("it needs a 'class'")),
    }
}

fn skip_spaces(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

/// A CQL string literal at `chars`: `'...'`, with `''` for a quote inside.
fn cql_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    chars.next_if_eq(&'\'')?;
    let mut text = String::new();
    loop {
        match chars.next()? {
            '\'' if chars.next_if_eq(&'\'').is_some() => text.push('\''),
            '\'' => return Some(text),
            c => text.push(c),
        }
    }
}

fn check_host_port(address: &str) -> Result<(), String> {
    let bad = || format!("`{address}` is not a host:port address");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}
