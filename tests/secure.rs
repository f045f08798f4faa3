//! rtds against the secure local stack (`scripts/stack up --secure`): Kafka
//! over SASL_SSL (SCRAM and PLAIN) and SSL with a client certificate, with
//! ACLs that let the processor login `rtds` read its topic and write its DLQ
//! and the producer login `rtds_producer` write the topic, and nobody
//! anything else; Cassandra over TLS with client certificates, password
//! logins and least-privilege roles. Wrong passwords, untrusted or missing
//! certificates, TLS on one side only and a refusal by the ACLs each fail
//! at once with their cause; no password ever shows in any output. Each
//! test's topic, DLQ and group get their ACLs from `scripts/stack grant`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_fails_naming, json_summary, rtds_command_with_config, text, unique};
use rtds::config::Settings;

/// Environment variables a run sets.
type Env<'a> = Vec<(&'a str, &'a str)>;

/// Each failure below must come well within this (the configured timeouts).
const TIMEOUT: &str = "10s";

/// The secure stack's state folder, where it keeps configs and secrets.
fn secure_dir() -> PathBuf {
    common::stack_dir().join("secure")
}

/// Fails the test, saying how to start it, when the secure stack is down.
fn require_secure_stack() {
    let config = secure_dir().join("writer.toml");
    for port in [9192, 9142] {
        let up = std::net::TcpStream::connect_timeout(
            &([127, 0, 0, 1], port).into(),
            Duration::from_secs(2),
        )
        .is_ok();
        assert!(
            up && config.exists(),
            "the secure stack is not up (nothing on 127.0.0.1:{port}, or no {}): \
             start it with `scripts/stack up --secure` (scripts/test does)",
            config.display()
        );
    }
}

/// `rtds --config <secure>/<role>.toml ARGS`, with `env` set.
fn as_role(role: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = rtds_command_with_config(&secure_dir().join(format!("{role}.toml")), args);
    command.env("RTDS_KAFKA_TIMEOUT", TIMEOUT);
    command.env("RTDS_CASSANDRA_TIMEOUT", TIMEOUT);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(role: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    as_role(role, args, env).output().expect("rtds runs")
}

/// Runs `rtds ARGS` as `role`, which must fail within the configured
/// timeouts (no hang, no retry loop) naming every one of `words`.
fn refused(role: &str, args: &[&str], env: &[(&str, &str)], words: &[&str]) {
    let started = Instant::now();
    let output = run(role, args, env);
    let took = started.elapsed();
    let error = assert_fails_naming(&output, words);
    assert!(
        took < Duration::from_secs(10),
        "rtds {args:?} as {role} took {took:?}: {error}"
    );
    println!("rtds {args:?} as {role}: failed in {took:.1?}");
}

/// Kafka's mutual-TLS listener, without a SASL login: a client certificate
/// (see [`Certificate::env`]) is the login there.
fn ssl_listener() -> Env<'static> {
    vec![
        ("RTDS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9194"),
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("RTDS_KAFKA_SASL_MECHANISM", ""),
        ("RTDS_KAFKA_SASL_USERNAME", ""),
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", ""),
    ]
}

fn succeeds(role: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = run(role, args, env);
    assert!(
        output.status.success(),
        "rtds {args:?} as {role}: {}",
        text(&output)
    );
    output
}

/// A secret of the stack (`secrets/NAME`), as the servers know it.
fn secret(name: &str) -> String {
    std::fs::read_to_string(secure_dir().join("secrets").join(name))
        .unwrap()
        .trim_end()
        .to_string()
}

/// A file of this test's own, in the system's temporary folder.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(unique(name));
    std::fs::write(&path, text).unwrap();
    path
}

/// A client certificate the stack made (`tls/NAME.crt`, `tls/NAME.key`).
struct Certificate {
    cert: String,
    key: String,
}

impl Certificate {
    /// The settings that present it to Kafka.
    fn env(&self) -> Env<'_> {
        vec![
            ("RTDS_KAFKA_SSL_CERTIFICATE_LOCATION", &self.cert),
            ("RTDS_KAFKA_SSL_KEY_LOCATION", &self.key),
        ]
    }
}

fn certificate(name: &str) -> Certificate {
    let tls = secure_dir().join("tls");
    let path = |ext: &str| {
        tls.join(format!("{name}.{ext}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    Certificate {
        cert: path("crt"),
        key: path("key"),
    }
}

/// A self-signed CA certificate that signed neither server's certificate.
fn stranger_ca() -> PathBuf {
    let (key, cert) = (scratch("ca-key", ""), scratch("ca-crt", ""));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the stack's CA", "-keyout"])
        .args([&key, Path::new("-out"), &cert])
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "openssl: {}", text(&made));
    cert
}

/// A topic and group of this test's own, `prefix` in their names, with the
/// ACLs the logins need (`scripts/stack grant`, which makes the topic and
/// its DLQ too: neither login may create topics).
fn granted(prefix: &str) -> (String, String) {
    let topic = unique(prefix);
    let group = format!("{topic}-group");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack");
    let granted = Command::new(script)
        .args(["grant", "--secure", &topic, &group])
        .env("RTDS_STACK_DIR", common::stack_dir())
        .output()
        .expect("scripts/stack runs");
    assert!(granted.status.success(), "grant: {}", text(&granted));
    (topic, group)
}

/// The user-facing flags of one test's own topic, group and table (in the
/// keyspace the roles are granted on).
fn flags<'a>(topic: &'a str, table: &'a str, group: &'a str) -> Vec<&'a str> {
    vec!["--topic", topic, "--table", table, "--group", group]
}

#[test]
fn records_flow_over_tls_with_least_privilege_roles() {
    require_secure_stack();
    let ((topic, group), table) = (granted("secure"), unique("secure"));
    let pipeline = flags(&topic, &table, &group);
    let process: Vec<&str> = [&["process", "--until-idle", "3s", "--json"][..], &pipeline].concat();

    // The writer may not create the table: it says so, and what to do.
    let refused = run("writer", &process, &[]);
    assert_fails_naming(&refused, &["rtds_writer", "CREATE", "rtds schema"]);
    let created = succeeds("admin", &["schema", "--table", &table], &[]);
    assert!(
        String::from_utf8_lossy(&created.stdout)
            .contains(&format!("CREATE TABLE IF NOT EXISTS spark_streams.{table}")),
        "{}",
        text(&created)
    );

    let produced = succeeds(
        "producer",
        &[
            "produce", "--source", "builtin", "--count", "500", "--topic", &topic, "--json",
        ],
        &[],
    );
    assert_eq!(json_summary(&produced)["acked"], 500, "{}", text(&produced));
    // The writer runs against the table the admin made, without DDL.
    let processed = succeeds("writer", &process, &[]);
    assert_eq!(
        json_summary(&processed)["written"],
        500,
        "{}",
        text(&processed)
    );

    // The reader reads, and may not write.
    let count = succeeds("reader", &["users", "--table", &table, "--count"], &[]);
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "500");
    let status = [&["status", "--source", "builtin"][..], &pipeline].concat();
    let report = succeeds("reader", &status, &[]);
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.contains("500 rows") && report.contains("lag 0"),
        "{report}"
    );
    let writing = run("reader", &process, &[]);
    assert_fails_naming(&writing, &["rtds_reader", "MODIFY", &table]);

    // What Cassandra itself refuses each role, in its words.
    let tokio = tokio::runtime::Runtime::new().unwrap();
    tokio.block_on(async {
        for (role, statement, permission) in [
            (
                "writer",
                format!("DROP TABLE spark_streams.{table}"),
                "DROP",
            ),
            (
                "reader",
                format!("INSERT INTO spark_streams.{table} (id) VALUES (uuid())"),
                "MODIFY",
            ),
        ] {
            let config = secure_dir().join(format!("{role}.toml"));
            let settings = Settings::load_from(Some(&config), &Default::default(), &[])
                .unwrap()
                .settings;
            let session = rtds::cassandra::connect(&settings.cassandra).await.unwrap();
            let error = session
                .query_unpaged(statement.clone(), ())
                .await
                .expect_err(&format!("rtds_{role} may not: {statement}"))
                .to_string();
            assert!(
                error.contains(&format!("rtds_{role} has no {permission} permission")),
                "{error}"
            );
        }
    });
    let count = succeeds("reader", &["users", "--table", &table, "--count"], &[]);
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "500");
}

#[test]
fn kafka_takes_plain_logins_and_client_certificates() {
    require_secure_stack();
    let ((topic, group), table) = (granted("mtls"), unique("mtls"));
    succeeds("admin", &["schema", "--table", &table], &[]);
    let produce = [
        "produce", "--source", "builtin", "--count", "100", "--topic", &topic, "--json",
    ];

    let plain = succeeds(
        "producer",
        &produce,
        &[("RTDS_KAFKA_SASL_MECHANISM", "PLAIN")],
    );
    assert_eq!(json_summary(&plain)["acked"], 100, "{}", text(&plain));

    // Mutual TLS on the SSL listener: a certificate instead of a login, its
    // CN the principal (CN=rtds_producer is User:rtds_producer).
    let mutual = ssl_listener();
    let words = ["127.0.0.1:9194", "kafka.ssl_certificate_location"];
    refused("producer", &produce, &mutual, &words);
    let (producer, processor) = (
        certificate("kafka-rtds_producer"),
        certificate("kafka-rtds"),
    );
    let certified = succeeds(
        "producer",
        &produce,
        &[mutual.clone(), producer.env()].concat(),
    );
    assert_eq!(
        json_summary(&certified)["acked"],
        100,
        "{}",
        text(&certified)
    );

    let process = [
        &["process", "--until-idle", "3s", "--json"][..],
        &flags(&topic, &table, &group),
    ]
    .concat();
    let processed = succeeds("writer", &process, &[mutual, processor.env()].concat());
    assert_eq!(
        json_summary(&processed)["written"],
        200,
        "{}",
        text(&processed)
    );
}

#[test]
fn wrong_secrets_and_certificates_fail_at_once_naming_the_cause() {
    require_secure_stack();
    let wrong = scratch("wrong-password", "not-the-password\n");
    let wrong = wrong.to_str().unwrap();
    let stranger = stranger_ca();
    let stranger = stranger.to_str().unwrap();
    let produce = [
        "produce",
        "--source",
        "builtin",
        "--count",
        "1",
        "--topic",
        "rtds_test_never",
    ];
    let users = ["users", "--count"];
    let no_client_certificate = [
        ("RTDS_CASSANDRA_TLS_CERT_FILE", ""),
        ("RTDS_CASSANDRA_TLS_KEY_FILE", ""),
    ];
    let no_sasl = [
        ("RTDS_KAFKA_SASL_MECHANISM", ""),
        ("RTDS_KAFKA_SASL_USERNAME", ""),
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", ""),
        ("RTDS_KAFKA_SSL_CA_LOCATION", ""),
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
    ];
    let cases: Vec<(&str, &[&str], Env, &[&str])> = vec![
        (
            "wrong Kafka password",
            &produce,
            vec![("RTDS_KAFKA_SASL_PASSWORD_FILE", wrong)],
            &[
                "authentication failed",
                "`rtds`",
                "kafka.sasl_password_file",
            ],
        ),
        (
            "wrong Cassandra password",
            &users,
            vec![("RTDS_CASSANDRA_PASSWORD_FILE", wrong)],
            &[
                "authentication failed",
                "rtds_reader",
                "cassandra.password_file",
            ],
        ),
        (
            "Kafka CA that did not sign the broker's certificate",
            &produce,
            vec![("RTDS_KAFKA_SSL_CA_LOCATION", stranger)],
            &["not trusted", "kafka.ssl_ca_location"],
        ),
        (
            "Cassandra CA that did not sign the node's certificate",
            &users,
            vec![("RTDS_CASSANDRA_TLS_CA_FILE", stranger)],
            &["not trusted", "cassandra.tls_ca_file"],
        ),
        (
            "plaintext Kafka client on the TLS listener",
            &produce,
            no_sasl.to_vec(),
            &["127.0.0.1:9192", "speaks TLS", "kafka.security_protocol"],
        ),
        (
            "plaintext Cassandra client on the TLS port",
            &users,
            [
                &[("RTDS_CASSANDRA_TLS_CA_FILE", "")][..],
                &no_client_certificate,
            ]
            .concat(),
            &["127.0.0.1:9142", "wants TLS", "cassandra.tls_ca_file"],
        ),
        (
            "Cassandra client without a client certificate",
            &users,
            no_client_certificate.to_vec(),
            &[
                "127.0.0.1:9142",
                "wants a client certificate",
                "cassandra.tls_cert_file",
            ],
        ),
    ];
    for (case, args, env, words) in cases {
        println!("{case}:");
        refused("reader", args, &env, words);
    }
}

/// What a command of [`no_secret_shows_in_any_output`] must do: succeed
/// and print this on stdout, or fail and say this on stderr. A command that
/// did not run at all shows no secret either.
enum Does<'a> {
    Prints(&'a str),
    FailsSaying(&'a str),
}

/// The names one run of [`no_secret_shows_in_any_output`] uses, and the
/// lines its commands print about them.
struct Names {
    topic: String,
    table: String,
    group: String,
    wrong_kafka: String,
    wrong_cassandra: String,
    created: String,
    produced: String,
    processed: String,
}

impl Names {
    fn new() -> Names {
        let ((topic, group), table) = (granted("secrets"), unique("secrets"));
        Names {
            group,
            // Wrong ones too: an error must not repeat what it was given.
            wrong_kafka: unique("kafka-pw"),
            wrong_cassandra: unique("cql-pw"),
            created: format!("CREATE TABLE IF NOT EXISTS spark_streams.{table}"),
            produced: format!("produced 50 of 50 records to {topic}"),
            processed: format!("processed 50 records from {topic}"),
            topic,
            table,
        }
    }
}

/// Every command of [`no_secret_shows_in_any_output`], in order: the role
/// it runs as, its arguments and environment, and what it must do.
fn secret_commands(n: &Names) -> Vec<(&'static str, Vec<&str>, Env<'_>, Does<'_>)> {
    let pipeline = flags(&n.topic, &n.table, &n.group);
    let source = ["--source", "builtin"];
    let produce = |count| {
        [
            &["produce", "--count", count, "--topic", &n.topic][..],
            &source,
        ]
        .concat()
    };
    let status = |json: &[&'static str]| [&["status"][..], json, &source, &pipeline].concat();
    let wrong_kafka = vec![
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", ""),
        ("RTDS_KAFKA_SASL_PASSWORD", n.wrong_kafka.as_str()),
    ];
    let debug = ("RUST_LOG", "debug");
    vec![
        (
            "admin",
            vec!["config"],
            vec![],
            Does::Prints("password = \"***\""),
        ),
        (
            "admin",
            vec!["schema", "--table", &n.table],
            vec![],
            Does::Prints(&n.created),
        ),
        ("producer", produce("50"), vec![], Does::Prints(&n.produced)),
        (
            "writer",
            [&["process", "--until-idle", "2s"][..], &pipeline].concat(),
            vec![],
            Does::Prints(&n.processed),
        ),
        (
            "reader",
            vec!["users", "--table", &n.table, "--limit", "50"],
            vec![],
            Does::Prints("(50 users)"),
        ),
        ("reader", status(&[]), vec![], Does::Prints("verdict:")),
        (
            "reader",
            status(&["--json"]),
            vec![],
            Does::Prints("\"healthy\":true"),
        ),
        (
            "reader",
            vec!["dlq", "list", "--topic", &n.topic],
            vec![],
            Does::Prints("dlq p/offset"),
        ),
        (
            "reader",
            vec!["config"],
            wrong_kafka.clone(),
            Does::Prints("sasl_password = \"***\""),
        ),
        (
            "reader",
            produce("1"),
            [&wrong_kafka[..], &[debug]].concat(),
            Does::FailsSaying("authentication failed"),
        ),
        (
            "reader",
            vec!["users"],
            vec![
                ("RTDS_CASSANDRA_PASSWORD_FILE", ""),
                ("RTDS_CASSANDRA_PASSWORD", &n.wrong_cassandra),
                debug,
            ],
            Does::FailsSaying("authentication failed"),
        ),
    ]
}

/// No password, right or wrong, shows in anything rtds prints, whatever it
/// runs as; and each command did what it should (a command that did not
/// run would show no secret either).
#[test]
fn no_secret_shows_in_any_output() {
    require_secure_stack();
    let secrets: Vec<String> = [
        "kafka-rtds",
        "kafka-rtds_producer",
        "cassandra-writer",
        "cassandra-reader",
        "cassandra-admin",
    ]
    .map(secret)
    .into();
    let names = Names::new();
    for (role, args, env, does) in secret_commands(&names) {
        let output = run(role, &args, &env);
        let all = text(&output);
        let wrong = [&names.wrong_kafka, &names.wrong_cassandra];
        for secret in secrets.iter().chain(wrong) {
            assert!(
                !all.contains(secret.as_str()),
                "rtds {args:?} as {role} showed a password: {all}"
            );
        }
        let (succeeds, stream, says) = match does {
            Does::Prints(line) => (true, &output.stdout, line),
            Does::FailsSaying(words) => (false, &output.stderr, words),
        };
        assert!(
            output.status.success() == succeeds && String::from_utf8_lossy(stream).contains(says),
            "rtds {args:?} as {role} should {} saying {says}: {all}",
            if succeeds { "succeed" } else { "fail" }
        );
    }
}

/// `rtds produce` of 20 records into `topic`.
fn produce_to(topic: &str) -> [&str; 8] {
    [
        "produce", "--source", "builtin", "--count", "20", "--topic", topic, "--json",
    ]
}

/// The ACLs: the producer login writes its topic and nothing else, the
/// processor login reads it and writes the DLQ and nothing else, any other
/// principal nothing at all. Each refusal stops the command at once, naming
/// the login, the operation and the resource, and the grant that allows it.
#[test]
fn kafka_acls_let_each_login_do_its_part_only() {
    require_secure_stack();
    let ((topic, group), table) = (granted("acl"), unique("acl"));
    let (other, dlq) = (unique("acl_other"), format!("{topic}.dlq"));
    succeeds("admin", &["schema", "--table", &table], &[]);

    // The producer writes its topic, and no other.
    let produced = succeeds("producer", &produce_to(&topic), &[]);
    assert_eq!(json_summary(&produced)["acked"], 20, "{}", text(&produced));
    let grant = format!(
        "--allow-principal User:rtds_producer --operation Write --operation Describe --topic {other}"
    );
    let words = ["User:rtds_producer", "TOPIC_AUTHORIZATION_FAILED", &grant];
    refused("producer", &produce_to(&other), &[], &words);

    // The processor's login may not write the topic: refused at delivery.
    let grant = format!(
        "--allow-principal User:rtds --operation Write --operation Describe --topic {topic}"
    );
    let words = [
        "User:rtds write topic",
        "TOPIC_AUTHORIZATION_FAILED",
        &grant,
    ];
    refused("writer", &produce_to(&topic), &[], &words);

    // The producer's login may not write the DLQ, nor consume the topic in
    // the processor's group (even with its DLQ out of the way).
    let password = secure_dir().join("secrets/kafka-rtds_producer");
    let as_producer = [
        ("RTDS_KAFKA_SASL_USERNAME", "rtds_producer"),
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", password.to_str().unwrap()),
    ];
    let process = [
        &["process", "--until-idle", "3s", "--json"][..],
        &flags(&topic, &table, &group),
    ]
    .concat();
    let grant = format!("--topic {dlq}");
    refused(
        "writer",
        &process,
        &as_producer,
        &["User:rtds_producer", "--operation Write", &grant],
    );
    let no_dlq = [
        &as_producer[..],
        &[("RTDS_KAFKA_DLQ_TOPIC", topic.as_str())],
    ]
    .concat();
    let grant = format!("--operation Read --group {group}");
    let words = ["User:rtds_producer", "GROUP_AUTHORIZATION_FAILED", &grant];
    refused("writer", &process, &no_dlq, &words);

    // Any other principal: the Cassandra client certificate on Kafka's
    // mutual-TLS listener.
    let stranger = certificate("client");
    let stranger = [ssl_listener(), stranger.env()].concat();
    let words = ["CN=rtds-cassandra-client", "TOPIC_AUTHORIZATION_FAILED"];
    refused("producer", &produce_to(&topic), &stranger, &words);

    // The processor does its part: the producer's records, written.
    let processed = succeeds("writer", &process, &[]);
    assert_eq!(
        json_summary(&processed)["written"],
        20,
        "{}",
        text(&processed)
    );
}
