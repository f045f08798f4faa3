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
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rtds"))
        .args(["--config", "/dev/null", "--topic", "from_flag", "config"])
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
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn wrong_values_name_the_key_and_the_source() {
    let dir = std::env::temp_dir().join(unique("config"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rtds.toml");
    std::fs::write(&file, "[produce]\nduration = \"a while\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rtds"))
        .args(["--config", file.to_str().unwrap(), "config"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("produce.duration") && err.contains("rtds.toml"),
        "{err}"
    );

    let output = rtds(&["config", "--bootstrap-servers", "nohost"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("kafka.bootstrap_servers") && err.contains("--bootstrap-servers"),
        "{err}"
    );

    let output = rtds(&["produce", "--duration", "soon"]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("--duration"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
