//! The command line itself: help, version, settings and their errors.

mod common;

use common::*;

#[test]
fn help_and_version() {
    let help = rtds(&["--help"]);
    assert!(help.status.success(), "{}", text(&help));
    let out = String::from_utf8_lossy(&help.stdout);
    for command in ["produce", "process", "users", "config", "randomuser-server"] {
        assert!(out.contains(command), "help lacks {command}: {out}");
    }
    let version = rtds(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn config_shows_effective_settings_with_secrets_masked() {
    let output = rtds_command(&["config", "--topic", "from_flag"])
        .env("RTDS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        .env("RTDS_KAFKA_SASL_MECHANISM", "PLAIN")
        .env("RTDS_KAFKA_SASL_PASSWORD", "hunter2")
        .env("RTDS_CASSANDRA_KEYSPACE", "from_env")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("topic = \"from_flag\""), "{shown}");
    assert!(shown.contains("keyspace = \"from_env\""), "{shown}");
    assert!(
        shown.contains("bootstrap_servers = \"127.0.0.1:9092\""),
        "{shown}"
    );
    assert!(shown.contains("sasl_password = \"***\""), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

/// A flag value the command line itself cannot parse is a usage error;
/// settings refused after parsing are in tests/settings.rs.
#[test]
fn an_unparsable_flag_names_the_flag() {
    let output = rtds(&["produce", "--duration", "soon"]);
    assert_fails_naming(&output, &["--duration"]);
}
