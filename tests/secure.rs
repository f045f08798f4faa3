//! rtds against the secure local stack (`scripts/stack up --secure`): Kafka
//! over SASL_SSL (SCRAM and PLAIN) and SSL with a client certificate,
//! Cassandra over TLS with password logins and least-privilege roles. Wrong
//! passwords, untrusted certificates and TLS on one side only each fail at
//! once with their cause; no password ever shows in any output.

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

/// The user-facing flags of one test's own topic, group and table (in the
/// keyspace the roles are granted on).
fn flags<'a>(topic: &'a str, table: &'a str, group: &'a str) -> Vec<&'a str> {
    vec!["--topic", topic, "--table", table, "--group", group]
}

#[test]
fn records_flow_over_tls_with_least_privilege_roles() {
    require_secure_stack();
    let (topic, table) = (unique("secure"), unique("secure"));
    let group = format!("{topic}-group");
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
        "writer",
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
    let (topic, table) = (unique("mtls"), unique("mtls"));
    let group = format!("{topic}-group");
    succeeds("admin", &["schema", "--table", &table], &[]);
    let produce = [
        "produce", "--source", "builtin", "--count", "100", "--topic", &topic, "--json",
    ];

    let plain = succeeds(
        "writer",
        &produce,
        &[("RTDS_KAFKA_SASL_MECHANISM", "PLAIN")],
    );
    assert_eq!(json_summary(&plain)["acked"], 100, "{}", text(&plain));

    // Mutual TLS on the SSL listener: a certificate instead of a login.
    let tls = secure_dir().join("tls");
    let (cert, key) = (tls.join("client.crt"), tls.join("client.key"));
    let mut mutual = vec![
        ("RTDS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9194"),
        ("RTDS_KAFKA_SECURITY_PROTOCOL", "SSL"),
        ("RTDS_KAFKA_SASL_MECHANISM", ""),
        ("RTDS_KAFKA_SASL_USERNAME", ""),
        ("RTDS_KAFKA_SASL_PASSWORD_FILE", ""),
    ];
    let started = Instant::now();
    let anonymous = run("writer", &produce, &mutual);
    assert_fails_naming(
        &anonymous,
        &["127.0.0.1:9194", "kafka.ssl_certificate_location"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        text(&anonymous)
    );
    mutual.push((
        "RTDS_KAFKA_SSL_CERTIFICATE_LOCATION",
        cert.to_str().unwrap(),
    ));
    mutual.push(("RTDS_KAFKA_SSL_KEY_LOCATION", key.to_str().unwrap()));
    let certified = succeeds("writer", &produce, &mutual);
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
    let processed = succeeds("writer", &process, &mutual);
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
            vec![("RTDS_CASSANDRA_TLS_CA_FILE", "")],
            &["127.0.0.1:9142", "wants TLS", "cassandra.tls_ca_file"],
        ),
    ];
    for (case, args, env, words) in cases {
        let started = Instant::now();
        let output = run("reader", args, &env);
        let took = started.elapsed();
        let error = assert_fails_naming(&output, words);
        // Within the configured timeout: no hang, no retry loop.
        assert!(
            took < Duration::from_secs(10),
            "{case}: took {took:?}: {error}"
        );
        println!("{case}: failed in {took:.1?}");
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
        let (topic, table) = (unique("secrets"), unique("secrets"));
        Names {
            group: format!("{topic}-group"),
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
        ("writer", produce("50"), vec![], Does::Prints(&n.produced)),
        (
            "writer",
            [&["process", "--until-idle", "2s"][..], &pipeline].concat(),
            vec![],
            Does::Prints(&n.processed),
        ),
        (
            "reader",
            vec!["users", "--table", &n.table],
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
