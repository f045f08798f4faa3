//! Where a test's services run: the single-node stack (`scripts/stack up`)
//! or the local cluster (`scripts/stack up --nodes 3`), and what differs
//! between the two: addresses, the rtds settings file, replicas, and the
//! services a fault can hit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{rtds_command_with_config, text};

/// The single-node stack or the local cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    Local,
    Cluster,
}

/// The cluster's nodes: node N of each kind listens on 127.0.1.N.
const NODES: u8 = 3;

impl Site {
    /// Kafka's bootstrap servers.
    pub fn kafka(self) -> &'static str {
        match self {
            Site::Local => super::KAFKA,
            Site::Cluster => "127.0.1.1:9092,127.0.1.2:9092,127.0.1.3:9092",
        }
    }

    /// One Cassandra contact point (the driver finds the other nodes).
    pub fn cassandra(self) -> &'static str {
        match self {
            Site::Local => super::CASSANDRA,
            Site::Cluster => "127.0.1.1:9042",
        }
    }

    /// The rtds settings file that points rtds at this site.
    pub fn config(self) -> PathBuf {
        match self {
            Site::Local => PathBuf::from("/dev/null"),
            Site::Cluster => self.dir().join("rtds.toml"),
        }
    }

    /// The replicas of a topic or a keyspace.
    pub fn replicas(self) -> i32 {
        match self {
            Site::Local => 1,
            Site::Cluster => NODES.into(),
        }
    }

    /// The services of `kind` ("kafka" or "cassandra"): the one, or one per
    /// node of the cluster (`kafka-1` ...).
    pub fn services(self, kind: &str) -> Vec<String> {
        match self {
            Site::Local => vec![kind.to_string()],
            Site::Cluster => (1..=NODES).map(|n| format!("{kind}-{n}")).collect(),
        }
    }

    /// Where `scripts/stack` keeps this site's state.
    fn dir(self) -> PathBuf {
        match self {
            Site::Local => super::stack_dir(),
            Site::Cluster => super::stack_dir().join("cluster"),
        }
    }

    /// The pid of `service`, from the stack's pid file.
    pub fn pid(self, service: &str) -> String {
        let file = self.dir().join(format!("run/{service}.pid"));
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (is the stack up?)", file.display()))
            .trim()
            .to_string()
    }

    /// The address `service` serves on.
    pub fn address(self, service: &str) -> SocketAddr {
        let (kind, node) = service.split_once('-').unwrap_or((service, "1"));
        let host = match self {
            Site::Local => "127.0.0.1".to_string(),
            Site::Cluster => format!("127.0.1.{node}"),
        };
        let port = if kind == "kafka" { 9092 } else { 9042 };
        format!("{host}:{port}").parse().unwrap()
    }

    /// `scripts/stack up`: starts whatever of the site is not running and
    /// returns once every service serves.
    pub fn up(self) {
        let mut command = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack"));
        command.arg("up");
        if self == Site::Cluster {
            command.args(["--nodes", "3"]);
        }
        let output = command.output().expect("scripts/stack runs");
        assert!(
            output.status.success(),
            "scripts/stack up ({self:?}): {}",
            text(&output)
        );
    }

    /// `rtds ARGS` with this site's settings file.
    pub fn rtds(self, args: &[&str]) -> Command {
        rtds_command_with_config(&self.config(), args)
    }
}
