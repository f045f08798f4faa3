//! What Cassandra tells about the pipeline: the node answers, the table is
//! there with the expected columns, about how many rows it holds and how
//! fresh the newest is. Read from a bounded sample: never a full scan.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::cassandra::{NodeState, Sampled, Store, connect};
use crate::config::CassandraSettings;

/// Why the table could not be looked at.
#[derive(Debug, Clone)]
pub enum Problem {
    /// No contact point answered.
    Unreachable(String),
    /// The node answered; the table is missing or not rtds's shape.
    Table(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unreachable(why) | Problem::Table(why) => f.write_str(why),
        }
    }
}

/// The table, as the sample shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub table: String,
    /// Rows sampled: the whole table when `exact`.
    pub rows: u64,
    pub exact: bool,
    /// Cassandra's own estimate, when the sample is not the whole table.
    pub estimate: Option<u64>,
    /// When the newest sampled row was written.
    pub newest: Option<DateTime<Utc>>,
    /// Every node of the cluster, up or down.
    pub nodes: Vec<NodeState>,
}

/// One look: the facts and the sample they come from.
pub struct TableLook {
    pub facts: Facts,
    pub sample: Vec<Sampled>,
}

/// Looks at the table, keeping its session between looks.
pub struct Probe {
    settings: CassandraSettings,
    store: Mutex<Option<Store>>,
}

impl Probe {
    pub fn new(settings: CassandraSettings) -> Probe {
        Probe {
            settings,
            store: Mutex::new(None),
        }
    }

    /// Samples up to `limit` rows; connects first when not connected. A
    /// failed look drops the session, so the next one starts afresh.
    pub async fn look(&self, limit: u32) -> Result<TableLook, Problem> {
        let mut store = self.store.lock().await;
        if store.is_none() {
            let session = connect(&self.settings)
                .await
                .map_err(|e| Problem::Unreachable(crate::logging::one_line(&e)))?;
            let opened = Store::existing(session, &self.settings)
                .await
                .map_err(|e| Problem::Table(crate::logging::one_line(&e)))?;
            *store = Some(opened);
        }
        let open = store.as_ref().expect("connected above");
        match sample(open, limit).await {
            Ok(look) => Ok(look),
            Err(error) => {
                *store = None;
                Err(Problem::Table(crate::logging::one_line(&error)))
            }
        }
    }

    /// The session, for the dashboard's reads of whole rows.
    pub async fn store(&self) -> tokio::sync::MutexGuard<'_, Option<Store>> {
        self.store.lock().await
    }
}

async fn sample(store: &Store, limit: u32) -> anyhow::Result<TableLook> {
    // One row more than shown tells whether the sample is the whole table.
    let mut sample = store.sample(limit + 1).await?;
    let exact = sample.len() <= limit as usize;
    sample.truncate(limit as usize);
    let estimate = if exact {
        None
    } else {
        store.estimated_rows().await?
    };
    let newest = sample
        .iter()
        .filter_map(|row| row.written_at)
        .max()
        .and_then(DateTime::from_timestamp_micros);
    Ok(TableLook {
        facts: Facts {
            table: store.table().to_string(),
            rows: sample.len() as u64,
            exact,
            estimate,
            newest,
            nodes: store.nodes(),
        },
        sample,
    })
}
