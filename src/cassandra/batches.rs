//! Unlogged batches of upserts: several rows in one request, which saves the
//! node the per-request work that bounds a loop of single inserts.
//!
//! A batch holds only rows with the same replicas, so its coordinator (the
//! driver routes it by its first row) is a replica of every row and nothing
//! fans out across nodes. It stays below the node's own warn thresholds
//! (`batch_size_warn_threshold`, `unlogged_batch_across_partitions_warn_threshold`),
//! read from `system_views.settings`, so a node never logs a warning for it.

use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchStatement, BatchType};
use tracing::info;
use uuid::Uuid;

use scylla::serialize::row::SerializeRow;

use super::names::TableName;
use super::{Store, Upsert};
use crate::config::{CassandraSettings, MAX_BATCH_ROWS};
use crate::user::User;

/// The defaults of Cassandra 4 and 5, for a node that does not tell its own.
const DEFAULT_WARN_BYTES: usize = 5 * 1024;
const DEFAULT_WARN_PARTITIONS: usize = 10;

/// How much one batch may hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Rows (each its own partition) per batch.
    pub rows: usize,
    /// Bytes of row data per batch, as [`row_bytes`] counts them.
    pub bytes: usize,
}

/// The replicas of a row, as host ids in order: rows with equal replicas may
/// share a batch. Empty on a one-node cluster, where every row has the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Replicas(Vec<Uuid>);

impl From<Vec<Uuid>> for Replicas {
    /// In any order.
    fn from(mut hosts: Vec<Uuid>) -> Replicas {
        hosts.sort_unstable();
        Replicas(hosts)
    }
}

/// The bytes of row data a user's upsert adds to a batch, as Cassandra
/// counts a mutation's size: the key, the row's liveness and deletion
/// times, and per cell the value with its timestamp, time to live and flags.
/// A slight over-estimate (about 4 % on generated users, checked against the
/// sizes a node logs for batches past its threshold), so that a batch stays
/// below it.
pub fn row_bytes(user: &User) -> usize {
    const PER_ROW: usize = 48;
    const PER_CELL: usize = 24;
    let text = [
        &user.first_name,
        &user.last_name,
        &user.gender,
        &user.address,
        &user.post_code,
        &user.email,
        &user.username,
        &user.dob,
        &user.registered_date,
        &user.phone,
        &user.picture,
    ];
    PER_ROW + text.iter().map(|t| t.len() + PER_CELL).sum::<usize>()
}

/// The node's warn thresholds for batches, from its settings table; the
/// defaults when it does not have one (Cassandra before 4.0) or will not
/// let this role read it.
async fn node_limits(session: &Session) -> Limits {
    let setting = |name: &'static str| async move {
        let result = session
            .query_unpaged(
                "SELECT value FROM system_views.settings WHERE name = ?",
                (name,),
            )
            .await
            .ok()?
            .into_rows_result()
            .ok()?;
        let (value,) = result.maybe_first_row::<(Option<String>,)>().ok()??;
        value
    };
    let bytes = setting("batch_size_warn_threshold").await;
    let partitions = setting("unlogged_batch_across_partitions_warn_threshold").await;
    let limits = Limits {
        rows: partitions
            .as_deref()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(DEFAULT_WARN_PARTITIONS)
            .clamp(1, MAX_BATCH_ROWS),
        bytes: bytes
            .as_deref()
            .and_then(parse_size)
            .unwrap_or(DEFAULT_WARN_BYTES),
    };
    if bytes.is_none() || partitions.is_none() {
        info!(
            "the node does not tell its batch warn thresholds (system_views.settings): \
             batches keep to Cassandra's defaults, {} rows and {} bytes",
            limits.rows, limits.bytes
        );
    }
    limits
}

/// The limits batches keep to: the node's, with `cassandra.batch_rows`
/// in place of its rows when set.
pub(super) async fn limits(session: &Session, settings: &CassandraSettings) -> Limits {
    let mut limits = node_limits(session).await;
    if settings.batch_rows > 0 {
        limits.rows = settings.batch_rows;
    }
    limits
}

/// A size as Cassandra's settings spell it: `5KiB`, `5120B`, `1MiB`, or a
/// bare number of KiB (the `_in_kb` settings of Cassandra 4.0).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number.parse().ok()?;
    let scale = match unit.trim() {
        "B" => 1,
        "" | "KiB" => 1024,
        "MiB" => 1024 * 1024,
        _ => return None,
    };
    Some(number * scale)
}

/// The replicas of the row whose partition key has these values, by token
/// ownership from the driver's view of the ring; `None` when the driver
/// cannot tell (its schema metadata lacks the table), and the row is
/// better written alone.
pub(super) fn replicas(
    session: &Session,
    name: &TableName,
    partition_key: &dyn SerializeRow,
) -> Option<Replicas> {
    let cluster = session.get_cluster_state();
    if cluster.get_nodes_info().len() == 1 {
        return Some(Replicas::default());
    }
    let token = cluster
        .compute_token(&name.keyspace, &name.table, partition_key)
        .ok()?;
    let hosts: Vec<Uuid> = cluster
        .get_token_endpoints(&name.keyspace, &name.table, token)
        .iter()
        .map(|(node, _)| node.host_id)
        .collect();
    Some(Replicas::from(hosts))
}

impl Store {
    /// The batch limits of the node this writer talks to.
    pub fn batch_limits(&self) -> Limits {
        self.writes().batch_limits
    }

    /// The replicas of `id`'s row (see [`replicas`]).
    pub fn replicas(&self, id: Uuid) -> Option<Replicas> {
        replicas(&self.session, &self.writes().name, &(id,))
    }

    /// Writes the users, each at its write time (microseconds), in one
    /// unlogged batch: each row is applied on its own (no atomicity across
    /// them, which idempotent upserts do not need), and a failed batch is
    /// simply sent again whole.
    pub async fn upsert_batch(
        &self,
        users: &[(&User, i64)],
    ) -> Result<(), scylla::errors::ExecutionError> {
        let writes = self.writes();
        let values: Vec<Upsert> = users
            .iter()
            .map(|&(user, written_at)| Upsert {
                row: user.into(),
                ttl: writes.ttl_seconds,
                written_at,
            })
            .collect();
        let batch = &writes.batches[users.len() - 1];
        self.session.batch(batch, values).await?;
        Ok(())
    }
}

/// Batches of 1 to `rows` upserts, made once: the request settings of the
/// upsert itself, unlogged.
pub(super) fn templates(
    upsert: &scylla::statement::prepared::PreparedStatement,
    rows: usize,
) -> Vec<Batch> {
    (1..=rows)
        .map(|n| {
            let statements = vec![BatchStatement::PreparedStatement(upsert.clone()); n];
            let mut batch = Batch::new_with_statements(BatchType::Unlogged, statements);
            batch.set_is_idempotent(true);
            batch.set_request_timeout(upsert.get_request_timeout());
            if let Some(level) = upsert.get_consistency() {
                batch.set_consistency(level);
            }
            batch
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_node_spells_them() {
        assert_eq!(parse_size("5KiB"), Some(5120));
        assert_eq!(parse_size("5120B"), Some(5120));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("5"), Some(5120));
        assert_eq!(parse_size("five"), None);
        assert_eq!(parse_size("5GiB"), None);
    }

    #[test]
    fn a_row_counts_its_values_and_its_cells() {
        let generator = crate::source::builtin::Generator::new("rows", None).unwrap();
        let user = User::from_api(generator.users(1, 1).next().unwrap());
        let values = user.first_name.len() + user.address.len() + user.picture.len();
        assert!(row_bytes(&user) > values + 12 * 16, "{}", row_bytes(&user));
    }
}
