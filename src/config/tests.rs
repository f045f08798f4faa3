use std::path::{Path, PathBuf};

use toml::Value;

use super::layers::{Layers, env_name, is_script_variable, setting_of_env};
use super::validate::check_replication;
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(text)
}

/// A config file in the system temp folder, removed on drop.
mod tempfile_path {
    pub struct TempFile(pub std::path::PathBuf);
    impl TempFile {
        pub fn with(text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("rtds-{}.toml", uuid::Uuid::new_v4()));
            std::fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn defaults_match_the_tutorial() {
    let loaded = Settings::load_from(None, &env(&[]), &[]).unwrap();
    let s = loaded.settings;
    assert_eq!(s.kafka.bootstrap_servers, "127.0.0.1:9092");
    assert_eq!(s.kafka.topic, "users_created");
    assert_eq!(s.kafka.dlq_topic, "users_created.dlq");
    assert_eq!(s.cassandra.contact_points, vec!["127.0.0.1:9042"]);
    assert_eq!(s.cassandra.keyspace, "spark_streams");
    assert_eq!(s.cassandra.table, "created_users");
    assert_eq!(s.produce.duration, Duration::from_secs(60));
}

#[test]
fn layers_override_in_order() {
    let f = file(
        "[kafka]\ntopic = \"from_file\"\ngroup_id = \"file_group\"\n[produce]\nduration = \"5s\"\n",
    );
    let e = env(&[
        ("RTDS_KAFKA_TOPIC", "from_env"),
        ("RTDS_PRODUCE_DURATION", "7s"),
    ]);
    let flags = [Override::new("produce.duration", "--duration", "9s")];
    let loaded = Settings::load_from(Some(&f.0), &e, &flags).unwrap();
    assert_eq!(loaded.settings.kafka.group_id, "file_group");
    assert_eq!(loaded.settings.kafka.topic, "from_env");
    assert_eq!(loaded.settings.kafka.dlq_topic, "from_env.dlq");
    assert_eq!(loaded.settings.produce.duration, Duration::from_secs(9));
    assert_eq!(loaded.origins["kafka.topic"], "env RTDS_KAFKA_TOPIC");
    assert_eq!(loaded.origins["produce.duration"], "flag --duration");
}

#[test]
fn dashboard_addresses_are_checked() {
    let e = env(&[(
        "RTDS_DASHBOARD_SCRAPE",
        "http://127.0.0.1:9100/metrics,127.0.0.1:9101",
    )]);
    let err = Settings::load_from(None, &e, &[]).unwrap_err().to_string();
    assert!(
        err.contains("dashboard.scrape") && err.contains("`127.0.0.1:9101`"),
        "{err}"
    );
    let flags = [Override::new("dashboard.listen", "--listen", "localhost")];
    let err = Settings::load_from(None, &env(&[]), &flags)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dashboard.listen") && err.contains("--listen"),
        "{err}"
    );
    let e = env(&[(
        "RTDS_DASHBOARD_SCRAPE",
        "http://a:1/metrics,http://b:2/metrics",
    )]);
    let loaded = Settings::load_from(None, &e, &[]).unwrap();
    assert_eq!(loaded.settings.dashboard.scrape.len(), 2);
    let e = env(&[(
        "RTDS_DASHBOARD_ALLOWED_HOSTS",
        "dash.example.com,https://dash.example.com/",
    )]);
    let err = Settings::load_from(None, &e, &[]).unwrap_err().to_string();
    assert!(
        err.contains("dashboard.allowed_hosts") && err.contains("`https://dash.example.com/`"),
        "{err}"
    );
}

#[test]
fn unknown_key_in_file_names_key_and_file() {
    let f = file("[kafka]\ntopik = \"x\"\n");
    let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka.topik"), "{err}");
    assert!(err.contains("config file"), "{err}");
}

#[test]
fn unknown_env_variable_of_a_section_is_refused() {
    let err = Settings::load_from(None, &env(&[("RTDS_KAFKA_TOPICS", "x")]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("RTDS_KAFKA_TOPICS"), "{err}");
}

#[test]
fn env_variable_of_an_unknown_section_is_refused() {
    let err = Settings::load_from(None, &env(&[("RTDS_CASANDRA_KEYSPACE", "x")]), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }), "{err}");
    assert!(err.to_string().contains("RTDS_CASANDRA_KEYSPACE"), "{err}");
}

/// Every `RTDS_` name the scripts, tests, benchmarks, DAG and CI use is a
/// setting or one of the [`SCRIPT_VARIABLES`], so none of them stops rtds.
#[test]
fn the_scripts_own_variables_are_allowed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = std::collections::BTreeSet::new();
    let mut folders: Vec<PathBuf> = ["scripts", "tests", "benches", "dags", ".ci"]
        .iter()
        .map(|folder| root.join(folder))
        .collect();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            // tests/settings.rs holds refused names on purpose.
            if path.is_dir() {
                folders.push(path);
            } else if !path.ends_with("tests/settings.rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                names.extend(rtds_names(&text));
            }
        }
    }
    assert!(names.contains("RTDS_STACK_DIR"), "{names:?}");
    assert!(names.contains("RTDS_KAFKA_VERSION"), "{names:?}");
    let known = Layers::new().known;
    for name in names {
        assert!(
            is_script_variable(&name) || known.keys().any(|key| env_name(key) == name),
            "{name} is used around rtds but would be refused; add it to SCRIPT_VARIABLES"
        );
        // One by one, each name loads (settings among them with a valid value).
        let value = setting_of_env(&name)
            .map(|key| match &known[&key] {
                Value::String(text) => text.clone(),
                Value::Table(_) => "linger.ms=5".into(),
                other => other.to_string().trim_matches(['[', ']']).replace('"', ""),
            })
            .unwrap_or_else(|| "1".into());
        let loaded = Settings::load_from(None, &env(&[(&name, &value)]), &[]);
        assert!(loaded.is_ok(), "{name}={value}: {:?}", loaded.err());
    }
}

/// Whole `RTDS_X` names in `text`, not counting prefixes like `RTDS_KAFKA_`
/// nor names inside others like `AIRFLOW_VAR_RTDS_TOPIC`.
fn rtds_names(text: &str) -> Vec<String> {
    let name_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_';
    text.match_indices(ENV_PREFIX)
        .filter(|(at, _)| !text[..*at].ends_with(|c: char| name_char(c) || c.is_ascii_lowercase()))
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|&c| name_char(c))
                .collect::<String>()
        })
        .filter(|name| !name.ends_with('_'))
        .collect()
}
#[test]
fn bad_duration_names_key_and_source() {
    let err = Settings::load_from(None, &env(&[("RTDS_PRODUCE_DURATION", "soon")]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("produce.duration"), "{err}");
    assert!(err.contains("env RTDS_PRODUCE_DURATION"), "{err}");
    assert!(err.contains("soon"), "{err}");
}

#[test]
fn bad_address_names_key_and_flag() {
    let flags = [Override::new(
        "kafka.bootstrap_servers",
        "--bootstrap-servers",
        "localhost",
    )];
    let err = Settings::load_from(None, &env(&[]), &flags)
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka.bootstrap_servers"), "{err}");
    assert!(err.contains("flag --bootstrap-servers"), "{err}");
}

#[test]
fn wrong_type_in_file_is_reported() {
    let f = file("[kafka]\npartitions = \"many\"\n");
    let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("kafka.partitions"), "{err}");
}

#[test]
fn lists_and_maps_from_env() {
    let e = env(&[
        (
            "RTDS_CASSANDRA_CONTACT_POINTS",
            "10.0.0.1:9042, 10.0.0.2:9042",
        ),
        ("RTDS_KAFKA_PROPERTIES", "linger.ms=5,compression.type=lz4"),
    ]);
    let loaded = Settings::load_from(None, &e, &[]).unwrap();
    assert_eq!(loaded.settings.cassandra.contact_points.len(), 2);
    assert_eq!(loaded.settings.kafka.properties["linger.ms"], "5");
    assert_eq!(loaded.settings.kafka.properties["compression.type"], "lz4");
}

#[test]
fn secrets_are_masked() {
    let e = env(&[
        ("RTDS_KAFKA_SASL_MECHANISM", "PLAIN"),
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("RTDS_KAFKA_SASL_PASSWORD", "s3cret"),
        ("RTDS_CASSANDRA_USERNAME", "rtds_writer"),
        ("RTDS_CASSANDRA_PASSWORD", "pw-c4ss"),
        ("RTDS_PRODUCE_SOURCE", "https://me:urlpa55@api.example/api/"),
    ]);
    let mut settings = Settings::load_from(None, &e, &[]).unwrap().settings;
    // Set here, not loaded: this librdkafka is built without some of
    // them, and a Java login is none of its own; masked all the same.
    settings.kafka.properties.extend(
        [
            ("ssl.key.password", "k3y-pw"),
            ("sasl.oauthbearer.client.secret", "cl1ent"),
            ("sasl.oauthbearer.config", "principal=me clientSecret=0auth"),
            ("sasl.oauthbearer.token.endpoint.url", "https://idp/t0k"),
            ("ssl.key.pem", "PEM-b0dy"),
            (
                "sasl.jaas.config",
                r#"ScramLoginModule required password="j4as";"#,
            ),
            (
                "sasl.jaas.confg",
                r#"ScramLoginModule required password="typ0";"#,
            ),
            ("linger.ms", "5"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let shown = settings.to_masked_toml();
    for secret in [
        "s3cret", "pw-c4ss", "k3y-pw", "cl1ent", "0auth", "t0k", "PEM-b0dy", "j4as", "typ0",
        "urlpa55",
    ] {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
    assert!(shown.contains("\"linger.ms\" = \"5\""), "{shown}");
    assert!(shown.contains(r#""sasl.jaas.config" = "***""#), "{shown}");
    assert!(
        shown.contains("source = \"https://me:***@api.example/api/\""),
        "{shown}"
    );
}

/// A Java client's login carried over into `kafka.properties`, spelt
/// right or wrong, is refused at load naming the property (librdkafka
/// takes neither), as is any property or value librdkafka refuses, and
/// the error never shows the value.
#[test]
fn refused_properties_are_named_without_their_value() {
    let login = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="rtds" password="hunter2";"#;
    for (key, value, why) in [
        ("sasl.jaas.config", login, "librdkafka refuses its value"),
        ("sasl.jaas.confg", login, "librdkafka has no such property"),
        ("linger.msec", "hunter2", "librdkafka has no such property"),
        ("linger.ms", "hunter2", "librdkafka refuses it"),
        (
            "batch.num.messages",
            "99999999",
            "librdkafka refuses its value",
        ),
    ] {
        let text = format!("[kafka.properties]\n{key:?} = {value:?}\n",);
        let f = file(&text);
        let err = Settings::load_from(Some(&f.0), &env(&[]), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`kafka.properties`") && err.contains(&format!("`{key}`: {why}")),
            "{err}"
        );
        assert!(!err.contains(value), "{value} shows in {err}");
    }
}

/// Every error about a secret setting, whatever is wrong with it.
#[test]
fn errors_never_show_secrets() {
    let from_env = |pairs: &[(&str, &str)]| {
        Settings::load_from(None, &env(pairs), &[])
            .unwrap_err()
            .to_string()
    };
    let from_file = |text: &str| {
        let f = file(text);
        Settings::load_from(Some(&f.0), &env(&[]), &[])
            .unwrap_err()
            .to_string()
    };
    let cases = [
        // A comma inside a password splits it into a malformed entry.
        (
            from_env(&[("RTDS_KAFKA_PROPERTIES", "ssl.key.password=hunter,2pass")]),
            "RTDS_KAFKA_PROPERTIES",
            ["hunter", "2pass"],
        ),
        (
            from_env(&[(
                "RTDS_KAFKA_PROPERTIES",
                "sasl.oauthbearer.client.secret:hunter2pass",
            )]),
            "entry 1 is not key=value",
            ["hunter", "2pass"],
        ),
        (
            from_file("[kafka.properties]\n\"ssl.key.password\" = 4242424242\n"),
            "kafka.properties",
            ["4242424242", "4242424242"],
        ),
        (
            from_file("[kafka]\nsasl_password = [\"hunter\", \"2pass\"]\n"),
            "kafka.sasl_password",
            ["hunter", "2pass"],
        ),
        (
            from_file("[cassandra]\npassword = hunter2pass\n"),
            "not valid TOML",
            ["hunter", "2pass"],
        ),
        (
            from_env(&[("RTDS_KAFKA_SASL_PASSWORD", "hunter2pass")]),
            "kafka.sasl_password",
            ["hunter", "2pass"],
        ),
        (
            from_env(&[(
                "RTDS_PRODUCE_SOURCE",
                "https://me:hunter2pass@bad host/api/",
            )]),
            "https://me:***@bad host/api/",
            ["hunter", "2pass"],
        ),
        (
            from_env(&[("RTDS_PRODUCE_SOURCE", "ftp://me:hunter2pass@host/users")]),
            "ftp://me:***@host/users",
            ["hunter", "2pass"],
        ),
    ];
    for (err, named, secrets) in cases {
        assert!(err.contains(named), "{err} should name {named}");
        for secret in secrets {
            assert!(!err.contains(secret), "{secret} shows in {err}");
        }
    }
}

#[test]
fn passwords_come_from_files() {
    let secret = file("s3cret-from-a-file\n");
    let path = secret.0.to_str().unwrap();
    let sasl = [
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("RTDS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ("RTDS_KAFKA_SASL_USERNAME", "rtds"),
    ];
    let load = |extra: &[(&str, &str)]| {
        let pairs: Vec<(&str, &str)> = sasl.iter().chain(extra).copied().collect();
        Settings::load_from(None, &env(&pairs), &[])
    };
    let loaded = load(&[
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", path),
        ("RTDS_CASSANDRA_USERNAME", "rtds_writer"),
        ("RTDS_CASSANDRA_PASSWORD_FILE", path),
    ])
    .unwrap()
    .settings;
    // One trailing newline dropped, nothing else.
    assert_eq!(loaded.kafka.sasl_password, "s3cret-from-a-file");
    assert_eq!(loaded.cassandra.password, "s3cret-from-a-file");
    let shown = loaded.to_masked_toml();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains(path),
        "the file's path is no secret: {shown}"
    );

    let both = load(&[
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", path),
        ("RTDS_KAFKA_SASL_PASSWORD", "other"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("kafka.sasl_password_file") && both.contains("RTDS_KAFKA_SASL_PASSWORD"),
        "{both}"
    );
    let missing = load(&[("RTDS_KAFKA_SASL_PASSWORD_FILE", "/nonexistent/pw")])
        .unwrap_err()
        .to_string();
    assert!(missing.contains("cannot read /nonexistent/pw"), "{missing}");
    let empty = file("\n");
    let empty = load(&[("RTDS_KAFKA_SASL_PASSWORD_FILE", empty.0.to_str().unwrap())])
        .unwrap_err()
        .to_string();
    assert!(empty.contains("is empty"), "{empty}");
    let no_user = Settings::load_from(None, &env(&[("RTDS_CASSANDRA_PASSWORD_FILE", path)]), &[])
        .unwrap_err()
        .to_string();
    assert!(no_user.contains("cassandra.username"), "{no_user}");
    assert!(!no_user.contains("s3cret"), "{no_user}");
}

#[test]
fn tls_files_are_checked_where_they_are_set() {
    let load = |pairs: &[(&str, &str)]| {
        Settings::load_from(None, &env(pairs), &[])
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let pem = file("not checked for content here");
    let pem = pem.0.to_str().unwrap();
    let missing = load(&[
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("RTDS_KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.crt"),
    ])
    .unwrap_err();
    assert!(
        missing.contains("kafka.ssl_ca_location") && missing.contains("/nonexistent/ca.crt"),
        "{missing}"
    );
    let unused = load(&[("RTDS_KAFKA_SSL_CA_LOCATION", pem)]).unwrap_err();
    assert!(
        unused.contains("PLAINTEXT") && unused.contains("SSL or SASL_SSL"),
        "{unused}"
    );
    let half = load(&[
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("RTDS_KAFKA_SSL_CERTIFICATE_LOCATION", pem),
    ])
    .unwrap_err();
    assert!(half.contains("kafka.ssl_key_location"), "{half}");
    assert_eq!(
        load(&[
            ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("RTDS_KAFKA_SSL_CA_LOCATION", pem),
            ("RTDS_KAFKA_SSL_CERTIFICATE_LOCATION", pem),
            ("RTDS_KAFKA_SSL_KEY_LOCATION", pem),
            ("RTDS_CASSANDRA_TLS_CA_FILE", pem),
            ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
            ("RTDS_CASSANDRA_TLS_KEY_FILE", pem),
        ]),
        Ok(())
    );
    let no_key = load(&[
        ("RTDS_CASSANDRA_TLS_CA_FILE", pem),
        ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
    ])
    .unwrap_err();
    assert!(no_key.contains("cassandra.tls_key_file"), "{no_key}");
    let no_tls = load(&[
        ("RTDS_CASSANDRA_TLS_CERT_FILE", pem),
        ("RTDS_CASSANDRA_TLS_KEY_FILE", pem),
    ])
    .unwrap_err();
    assert!(
        no_tls.contains("cassandra.tls_ca_file is empty"),
        "{no_tls}"
    );
}

#[test]
fn masked_url_hides_only_the_password() {
    let url = |text: &str| masked_url(&reqwest::Url::parse(text).unwrap());
    assert_eq!(
        url("https://me:pa55@api.example:8443/api/?results=5"),
        "https://me:***@api.example:8443/api/?results=5"
    );
    assert_eq!(url("https://me@api.example/"), "https://me@api.example/");
    assert_eq!(url("http://127.0.0.1:1/api/"), "http://127.0.0.1:1/api/");
}

#[test]
fn replication_must_be_a_map_with_a_class() {
    for good in [
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        " { 'class' : 'NetworkTopologyStrategy', 'dc1': '3', 'dc-2': 2 } ",
        "{'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': 3}",
        "{'class': 'It''s'}",
    ] {
        assert_eq!(check_replication(good), Ok(()), "{good}");
    }
    for (bad, why) in [
        ("SimpleStrategy", "braces"),
        ("{}", "needs a 'class'"),
        ("{'replication_factor': 1}", "needs a 'class'"),
        ("{'class': ''}", "needs a 'class'"),
        ("{class: 'SimpleStrategy'}", "not a quoted string"),
        ("{'class' 'SimpleStrategy'}", "followed by `:`"),
        ("{'class': }", "has no value"),
        (
            "{'class': 'SimpleStrategy' 'replication_factor': 1}",
            "commas",
        ),
        ("{'class': 'A', 'class': 'B'}", "twice"),
        ("{'class': 'SimpleStrategy}", "has no value"),
        ("{'class': 'S'}; DROP KEYSPACE x; {'a': 1}", "commas"),
    ] {
        let err = check_replication(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err} should say {why}");
    }
}

/// The settings block of `docs/SETTINGS.md` shows every setting with its
/// default, and nothing else.
#[test]
fn the_settings_page_documents_every_setting() {
    let page = include_str!("../../docs/SETTINGS.md");
    let block = page
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a toml block in docs/SETTINGS.md")
        .0;
    let documented: Settings = toml::from_str(block)
        .unwrap_or_else(|e| panic!("docs/SETTINGS.md's block vs declared settings: {e}"));
    assert_eq!(documented, Settings::default());
}
