//! The container path, checked offline: no container engine runs on the
//! machines these tests run on, so `compose.yaml` is checked against the
//! Compose specification by `docker-compose config` (Debian's package), its
//! rtds commands against rtds's own command line, and the `Dockerfile` for
//! the shape docs/DEPLOY.md promises (built in stages, run as a non-root user).

use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn docker_compose(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new("docker-compose");
    command
        .current_dir(ROOT)
        .args(["-f", "compose.yaml"])
        .args(args);
    // Only what the test sets: the caller's RTDS_* must not change the file.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RTDS_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().unwrap_or_else(|e| {
        panic!(
            "docker-compose does not run ({e}): install Debian's package \
             (apt-get install docker-compose; scripts/test does)"
        )
    })
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "docker-compose failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `command:` lists of the services in `docker-compose config`'s
/// normalized output, in order.
fn commands(config: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut lines = config.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_end() == "    command:" {
            let mut words = Vec::new();
            while let Some(word) = lines.next_if(|l| l.starts_with("    - ")) {
                words.push(word["    - ".len()..].trim_matches('\'').to_string());
            }
            commands.push(words);
        }
    }
    commands
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    stdout(&docker_compose(&["config", "--quiet"], &[]));
    let services = stdout(&docker_compose(&["config", "--services"], &[]));
    let services: Vec<&str> = services.lines().collect();
    for wanted in ["broker", "cassandra", "process", "pipeline", "dashboard"] {
        assert!(services.contains(&wanted), "no {wanted} in {services:?}");
    }
    let config = stdout(&docker_compose(&["config"], &[]));
    for gone in ["zookeeper", "spark"] {
        assert!(!config.contains(gone), "compose.yaml still has {gone}");
    }
    assert!(
        config.contains("KAFKA_PROCESS_ROLES: broker,controller"),
        "Kafka must run in KRaft mode: {config}"
    );
    assert!(config.contains("replicas: 1"), "{config}");
    // The processors scale out by a variable.
    let scaled = stdout(&docker_compose(&["config"], &[("PROCESSORS", "3")]));
    assert!(scaled.contains("replicas: 3"), "{scaled}");
    let refused = docker_compose(&["config", "--quiet"], &[("PROCESSORS", "three")]);
    assert!(!refused.status.success(), "replicas: three was accepted");
}

#[test]
fn the_compose_services_run_commands_rtds_has() {
    let config = stdout(&docker_compose(&["config"], &[]));
    let commands = commands(&config);
    assert_eq!(
        commands.len(),
        3,
        "process, pipeline, dashboard: {commands:?}"
    );
    for words in commands {
        // clap reads the flags in order: a flag rtds does not have fails
        // before the trailing --help is reached.
        let output = Command::new(env!("CARGO_BIN_EXE_rtds"))
            .args(&words)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "compose runs `rtds {}`, which rtds refuses: {}",
            words.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_image_is_built_in_stages_and_runs_as_a_non_root_user() {
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(stages[0].ends_with(" AS build"), "{stages:?}");
    assert!(
        stages[1].contains("-slim"),
        "the runtime image is a small one: {stages:?}"
    );
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("COPY --from=build ")),
        "the runtime stage takes only the binary from the build stage"
    );
    let user = instructions
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER instruction");
    assert!(!matches!(user.trim(), "root" | "0"), "runs as {user}");
    assert!(
        instructions.contains(&"ENTRYPOINT [\"rtds\"]"),
        "{instructions:?}"
    );
}
