//! Settings that would load but misbehave are refused before anything
//! starts, each naming its key and where it came from, all with the one exit
//! status docs/SETTINGS.md documents. `rtds config` needs no services, so these
//! run anywhere.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::*;

/// The exit status of a refused setting (docs/SETTINGS.md).
const REFUSED: i32 = 1;

/// Where a refused value comes from.
enum From {
    Env(&'static str, &'static str),
    File(&'static str),
}

/// Each row: the value, the key the error must name, and a word of why.
const REFUSED_SETTINGS: &[(From, &str, &str)] = &[
    (
        From::Env("RTDS_KAFKA_TIMEOUT", "0s"),
        "kafka.timeout",
        "at least 1ms",
    ),
    (
        From::Env("RTDS_KAFKA_TIMEOUT", "500us"),
        "kafka.timeout",
        "at least 1ms",
    ),
    (
        From::Env("RTDS_CASSANDRA_TIMEOUT", "0s"),
        "cassandra.timeout",
        "at least 1ms",
    ),
    (
        From::Env("RTDS_PRODUCE_REQUEST_TIMEOUT", "999us"),
        "produce.request_timeout",
        "at least 1ms",
    ),
    (
        From::Env("RTDS_PROCESS_COMMIT_INTERVAL", "0s"),
        "process.commit_interval",
        "at least 1ms",
    ),
    (
        From::Env("RTDS_KAFKA_REPLICATION_FACTOR", "0"),
        "kafka.replication_factor",
        "at least 1",
    ),
    (
        From::Env("RTDS_KAFKA_REPLICATION_FACTOR", "-1"),
        "kafka.replication_factor",
        "at least 1",
    ),
    (
        From::Env("RTDS_KAFKA_PARTITIONS", "0"),
        "kafka.partitions",
        "at least 1",
    ),
    (
        From::Env("RTDS_KAFKA_PARTITIONS", "-3"),
        "kafka.partitions",
        "at least 1",
    ),
    (
        From::Env("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        "kafka.security_protocol",
        "needs kafka.sasl_mechanism",
    ),
    (
        From::Env("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "kafka.security_protocol",
        "needs kafka.sasl_mechanism",
    ),
    (
        From::Env("RTDS_KAFKA_SASL_USERNAME", "me"),
        "kafka.sasl_username",
        "sasl_mechanism is empty",
    ),
    (
        From::Env("RTDS_KAFKA_SASL_PASSWORD", "pw"),
        "kafka.sasl_password",
        "sasl_mechanism is empty",
    ),
    (
        From::Env("RTDS_KAFKA_SECURITY_PROTOCOL", "TLS"),
        "kafka.security_protocol",
        "not one of PLAINTEXT, SSL",
    ),
    (
        From::File("[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM\"\n"),
        "kafka.sasl_mechanism",
        "not one of PLAIN",
    ),
    (
        From::Env("RTDS_KAFKA_SASL_MECHANISM", "PLAIN"),
        "kafka.sasl_mechanism",
        "does not use SASL",
    ),
    (
        From::Env("RTDS_CASSANDRA_REPLICATION", "SimpleStrategy"),
        "cassandra.replication",
        "not a replication map",
    ),
    (
        From::Env("RTDS_CASSANDRA_REPLICATION", "{'replication_factor': 1}"),
        "cassandra.replication",
        "needs a 'class'",
    ),
    (
        From::Env("RTDS_CASANDRA_KEYSPACE", "x"),
        "RTDS_CASANDRA_KEYSPACE",
        "unknown setting",
    ),
    (
        From::Env("RTDS_KAFKA_TOPICS", "x"),
        "RTDS_KAFKA_TOPICS",
        "unknown setting",
    ),
    (
        From::Env("RTDS_PRODUCE_DURATION", "soon"),
        "produce.duration",
        "not a duration",
    ),
    (
        From::Env("RTDS_KAFKA_BOOTSTRAP_SERVERS", "nohost"),
        "kafka.bootstrap_servers",
        "host:port",
    ),
    (
        From::Env("RTDS_PRODUCE_SOURCE", "ftp://example.org/users"),
        "produce.source",
        "http(s) URL",
    ),
    (
        From::File("[kafka]\ntimeout = \"0s\"\n"),
        "kafka.timeout",
        "at least 1ms",
    ),
    (
        From::File("[process]\ncommit_interval = \"0ms\"\n"),
        "process.commit_interval",
        "at least 1ms",
    ),
    (
        From::File("[kafka]\nreplication_factor = 0\n"),
        "kafka.replication_factor",
        "at least 1",
    ),
    (
        From::File("[kafka]\nsecurity_protocol = \"SASL_SSL\"\n"),
        "kafka.security_protocol",
        "needs kafka.sasl_mechanism",
    ),
    (
        From::File("[cassandra]\nreplication = \"{'class': }\"\n"),
        "cassandra.replication",
        "has no value",
    ),
    (
        From::File("[kafka]\ntopik = \"x\"\n"),
        "kafka.topik",
        "unknown setting",
    ),
    (
        From::File("[kafka]\npartitions = \"many\"\n"),
        "kafka.partitions",
        "invalid type",
    ),
    (
        From::File("[produce]\nduration = \"a while\"\n"),
        "produce.duration",
        "not a duration",
    ),
    (
        From::Env("RTDS_KAFKA_PROPERTIES", "acks=1"),
        "kafka.properties",
        "may not set `acks`",
    ),
    (
        From::Env("RTDS_KAFKA_PROPERTIES", "allow.auto.create.topics=true"),
        "kafka.properties",
        "may not set `allow.auto.create.topics`",
    ),
    (
        From::File("[kafka.properties]\n\"linger.msec\" = \"5\"\n"),
        "kafka.properties",
        "`linger.msec`: librdkafka has no such property",
    ),
    (
        From::Env("RTDS_CASSANDRA_KEYSPACE", "Spark_Streams"),
        "cassandra.keyspace",
        "use `spark_streams`",
    ),
    (
        From::Env("RTDS_CASSANDRA_TABLE", "select"),
        "cassandra.table",
        "reserved word",
    ),
    (
        From::Env("RTDS_CASSANDRA_TLS_CERT_FILE", "/nonexistent/client.crt"),
        "cassandra.tls_cert_file",
        "cannot read /nonexistent/client.crt",
    ),
    (
        From::File("[cassandra]\ntls_cert_file = \"Cargo.toml\"\n"),
        "cassandra.tls_cert_file",
        "go together",
    ),
    (
        From::File("[cassandra]\ntls_cert_file = \"Cargo.toml\"\ntls_key_file = \"Cargo.toml\"\n"),
        "cassandra.tls_cert_file",
        "cassandra.tls_ca_file is empty",
    ),
    (
        From::Env("RTDS_REGISTRY_URL", "registry:8081"),
        "registry.url",
        "not an http(s) URL",
    ),
    (
        From::Env("RTDS_REGISTRY_CACHE_SCHEMAS", "0"),
        "registry.cache_schemas",
        "at least 1",
    ),
    (
        From::Env("RTDS_REGISTRY_USERNAME", "me"),
        "registry.username",
        "give the password too",
    ),
    (
        From::Env("RTDS_KAFKA_FORMAT", "avro"),
        "kafka.format",
        "set registry.url",
    ),
    (
        From::Env("RTDS_KAFKA_FORMAT", "protobuf"),
        "kafka.format",
        "json or avro",
    ),
    (From::Env("RTDS_KAFKA_FORMAT", "xml"), "kafka.format", "xml"),
    (
        From::File(concat!(
            "[[mapping]]\nname = \"a\"\ntopic = \"t\"\ntable = \"k.a\"\nprimary_key = \"id\"\n",
            "format = \"avro\"\ncolumns = { id = { path = \"id\", type = \"int\" } }\n",
        )),
        "mapping",
        "set registry.url",
    ),
    (
        From::File(concat!(
            "[registry]\nurl = \"http://127.0.0.1:8081\"\n",
            "[[mapping]]\nname = \"a\"\ntopic = \"t\"\ntable = \"k.a\"\nprimary_key = \"id\"\n",
            "format = \"avro\"\ncolumns = { id = { path = \"id\", type = \"int\" } }\n",
            "[[mapping]]\nname = \"b\"\ntopic = \"t\"\ntable = \"k.b\"\nprimary_key = \"id\"\n",
            "columns = { id = { path = \"id\", type = \"int\" } }\n",
        )),
        "mapping",
        "a topic's records have one format",
    ),
];

#[test]
fn every_refused_setting_names_its_key_and_source_with_one_status() {
    let dir = std::env::temp_dir().join(unique("settings"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rtds.toml");
    for (from, key, why) in REFUSED_SETTINGS {
        // The origin: the variable (`env NAME`, or the unknown name itself),
        // or the file.
        let (output, origin) = match from {
            From::Env(name, value) => (
                rtds_command(&["config"]).env(name, value).output().unwrap(),
                name.to_string(),
            ),
            From::File(text) => {
                std::fs::write(&file, text).unwrap();
                (
                    rtds_command_with_config(&file, &["config"])
                        .output()
                        .unwrap(),
                    format!("config file {}", file.display()),
                )
            }
        };
        let err = assert_fails_naming(&output, &[&format!("`{key}`"), &origin, why]);
        assert_eq!(output.status.code(), Some(REFUSED), "{err}");
        assert!(
            output.stdout.is_empty(),
            "nothing printed but the error: {}",
            text(&output)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_flag_names_itself() {
    let output = rtds(&["config", "--bootstrap-servers", "nohost"]);
    assert_fails_naming(
        &output,
        &["`kafka.bootstrap_servers`", "flag --bootstrap-servers"],
    );
    assert_eq!(output.status.code(), Some(REFUSED));
}

#[test]
fn a_setting_that_is_not_utf8_is_refused_and_other_variables_are_ignored() {
    let not_utf8 = OsStr::from_bytes(b"users\xff");
    let output = rtds_command(&["config"])
        .env("RTDS_KAFKA_TOPIC", not_utf8)
        .output()
        .unwrap();
    assert_fails_naming(
        &output,
        &["`kafka.topic`", "env RTDS_KAFKA_TOPIC", "not UTF-8"],
    );
    assert_eq!(output.status.code(), Some(REFUSED));

    let output = rtds_command(&["config"])
        .env("SOME_OTHER_VARIABLE", not_utf8)
        .env("RTDS_STACK_NOTE", not_utf8)
        .env("RTDS_KAFKA_VERSION", "4.4.0")
        .env("RTDS_AIRFLOW_HOME", "/tmp/airflow")
        .env("RTDS_BIN", "/usr/bin/rtds")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn no_part_of_a_secret_shows_in_config_output_or_errors() {
    let output = rtds_command(&["config"])
        .env("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        .env("RTDS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        .env("RTDS_KAFKA_SASL_PASSWORD", "hunter2pass")
        .env(
            "RTDS_KAFKA_PROPERTIES",
            "ssl.key.password=hunter2pass,sasl.oauthbearer.config=clientSecret=hunter2pass",
        )
        .env(
            "RTDS_PRODUCE_SOURCE",
            "https://me:hunter2pass@api.example/api/",
        )
        .env(
            "RTDS_REGISTRY_URL",
            "https://me:hunter2pass@registry.example/",
        )
        .env("RTDS_REGISTRY_USERNAME", "me")
        .env("RTDS_REGISTRY_PASSWORD", "hunter2pass")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(
        !shown.contains("hunter") && !shown.contains("2pass"),
        "{shown}"
    );
    assert!(shown.contains("https://me:***@api.example/api/"), "{shown}");
    assert!(
        shown.contains("https://me:***@registry.example/"),
        "{shown}"
    );

    // A comma in the password leaves half of it as a malformed entry.
    let output = rtds_command(&["config"])
        .env("RTDS_KAFKA_PROPERTIES", "ssl.key.password=hunter,2pass")
        .output()
        .unwrap();
    let err = assert_fails_naming(
        &output,
        &["`kafka.properties`", "env RTDS_KAFKA_PROPERTIES"],
    );
    assert!(!err.contains("hunter") && !err.contains("2pass"), "{err}");
}

/// What every job refuses, `rtds config` refuses too, with the same words
/// and status: a librdkafka property rtds locks, a keyspace Cassandra
/// would fold to lower case.
#[test]
fn config_refuses_what_the_jobs_refuse_in_the_same_words() {
    let (topic, keyspace) = (unique("refused"), unique("refused"));
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "RTDS_KAFKA_PROPERTIES",
            "enable.auto.offset.store=true",
            &[
                "`kafka.properties`",
                "may not set `enable.auto.offset.store`",
            ],
        ),
        (
            "RTDS_KAFKA_PROPERTIES",
            "request.required.acks=1",
            &["`kafka.properties`", "may not set `request.required.acks`"],
        ),
        (
            "RTDS_CASSANDRA_KEYSPACE",
            "Spark_Streams",
            &["`cassandra.keyspace`", "use `spark_streams`"],
        ),
    ];
    for (name, value, words) in cases {
        let run = |args: &[&str]| {
            rtds_command(args)
                .env("RTDS_KAFKA_TOPIC", &topic)
                .env("RTDS_CASSANDRA_KEYSPACE", &keyspace)
                .env(name, value)
                .output()
                .unwrap()
        };
        let config = run(&["config"]);
        let refused = assert_fails_naming(&config, words);
        assert_eq!(config.status.code(), Some(REFUSED), "{refused}");
        assert!(config.stdout.is_empty(), "{}", text(&config));
        let job = run(&["process", "--until-idle", "1s"]);
        assert_eq!(job.status.code(), Some(REFUSED), "{}", text(&job));
        assert_eq!(
            String::from_utf8_lossy(&job.stderr),
            refused,
            "the job and `rtds config` differ"
        );
    }
}

/// A Java client's login carried over into `kafka.properties`, spelt right
/// or wrong, is refused by every command, which names the property, and
/// its password shows in no output: `rtds config`, `rtds status --json`, a
/// job.
#[test]
fn a_java_login_in_the_properties_shows_nowhere() {
    let login = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="rtds" password="hunter2";"#;
    let (topic, keyspace) = (unique("jaas"), unique("jaas"));
    let dir = std::env::temp_dir().join(unique("jaas"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rtds.toml");
    let pipeline = ["--topic", &topic, "--keyspace", &keyspace];
    let commands: [Vec<&str>; 3] = [
        vec!["config"],
        [&["status", "--json", "--source", "builtin"][..], &pipeline].concat(),
        [&["process", "--until-idle", "1s"][..], &pipeline].concat(),
    ];
    for key in ["sasl.jaas.confg", "sasl.jaas.config"] {
        std::fs::write(
            &file,
            format!("[kafka.properties]\n\"{key}\" = '{login}'\n"),
        )
        .unwrap();
        for args in &commands {
            let output = rtds_command_with_config(&file, args).output().unwrap();
            assert!(
                !text(&output).contains("hunter2"),
                "{args:?} shows the password: {}",
                text(&output)
            );
            assert_fails_naming(&output, &[&format!("`{key}`"), "`kafka.properties`"]);
            assert_eq!(output.status.code(), Some(REFUSED), "{}", text(&output));
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
