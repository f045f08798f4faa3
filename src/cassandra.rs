//! Cassandra: the store, with the prepared idempotent upsert and delete and
//! the queries behind `rtds users` and the dashboard, over the session
//! (`session`), the table's schema (`schema`) and its names (`names`).

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use scylla::client::session::Session;
use scylla::statement::Statement;
use scylla::statement::prepared::PreparedStatement;
use scylla::{DeserializeRow, SerializeRow};
use uuid::Uuid;

use crate::config::CassandraSettings;
use crate::user::User;

mod batches;
mod mapped;
mod names;
mod rows;
mod schema;
mod session;
pub use batches::{Limits as BatchLimits, Replicas, row_bytes};
pub use mapped::{MappedRow, MappedTable, mapped_row_bytes, open_mapped};
pub use names::check_name;
pub use rows::{StoredRow, count_mapped, newest, read_rows};
pub use schema::{create_mapped_schemas, create_schema};
pub use session::{connect, unmet_consistency};

use names::TableName;
use schema::{check_columns, check_may_write, ensure_schema, prepare_when_ready};
use session::consistency;

/// The table's columns and their CQL types, key first: what rtds creates,
/// checks at start, writes and reads. [`Row`] has a field of each name.
pub const SCHEMA: [(&str, &str); 12] = [
    ("id", "uuid"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("gender", "text"),
    ("address", "text"),
    ("post_code", "text"),
    ("email", "text"),
    ("username", "text"),
    ("dob", "text"),
    ("registered_date", "text"),
    ("phone", "text"),
    ("picture", "text"),
];

/// One row as stored, matched to the columns by name. Text columns may be
/// null in rows the tutorial's job wrote (it had no `dob`).
#[derive(SerializeRow, DeserializeRow)]
struct Row<'a> {
    id: Uuid,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    gender: Option<&'a str>,
    address: Option<&'a str>,
    post_code: Option<&'a str>,
    email: Option<&'a str>,
    username: Option<&'a str>,
    dob: Option<&'a str>,
    registered_date: Option<&'a str>,
    phone: Option<&'a str>,
    picture: Option<&'a str>,
}

impl<'a> From<&'a User> for Row<'a> {
    fn from(user: &'a User) -> Row<'a> {
        Row {
            id: user.id,
            first_name: Some(&user.first_name),
            last_name: Some(&user.last_name),
            gender: Some(&user.gender),
            address: Some(&user.address),
            post_code: Some(&user.post_code),
            email: Some(&user.email),
            username: Some(&user.username),
            dob: Some(&user.dob),
            registered_date: Some(&user.registered_date),
            phone: Some(&user.phone),
            picture: Some(&user.picture),
        }
    }
}

impl From<Row<'_>> for User {
    fn from(row: Row<'_>) -> User {
        let text = |column: Option<&str>| column.unwrap_or_default().to_string();
        User {
            id: row.id,
            first_name: text(row.first_name),
            last_name: text(row.last_name),
            gender: text(row.gender),
            address: text(row.address),
            post_code: text(row.post_code),
            email: text(row.email),
            username: text(row.username),
            dob: text(row.dob),
            registered_date: text(row.registered_date),
            phone: text(row.phone),
            picture: text(row.picture),
        }
    }
}

/// What [`Store::sample`] reads of a row.
#[derive(Debug, Clone, DeserializeRow)]
pub struct Sampled {
    pub id: Uuid,
    pub gender: Option<String>,
    pub address: Option<String>,
    pub dob: Option<String>,
    pub registered_date: Option<String>,
    /// When the row was last written, in microseconds since the Unix epoch.
    pub written_at: Option<i64>,
}

/// The column list of [`SCHEMA`], for statements.
fn column_list() -> String {
    SCHEMA.map(|(name, _)| name).join(", ")
}

/// A write into `table`, prepared: idempotent (by primary key, at a given
/// write time, so replaying one is harmless and the driver may retry it
/// and speculate), with the settings' timeout and consistency.
async fn prepare_write(
    session: &Session,
    settings: &CassandraSettings,
    statement: String,
    table: &TableName,
) -> anyhow::Result<PreparedStatement> {
    let mut write = prepare_when_ready(session, statement, settings.timeout)
        .await
        .with_context(|| format!("cannot prepare the writes into {table}"))?;
    write.set_is_idempotent(true);
    write.set_request_timeout(Some(settings.timeout));
    write.set_consistency(consistency(&settings.write_consistency));
    Ok(write)
}

/// A connected session and the users table it reads and writes.
pub struct Store {
    session: Session,
    /// Prepared for writers only ([`Store::open`]).
    writes: Option<Writes>,
    /// `keyspace.table`, for queries and messages.
    table: String,
}

/// The writer's prepared statements, its batches and the time to live of
/// its rows.
struct Writes {
    upsert: PreparedStatement,
    delete: PreparedStatement,
    /// `batches[n - 1]` holds `n` upserts.
    batches: Vec<scylla::statement::batch::Batch>,
    batch_limits: BatchLimits,
    name: TableName,
    ttl_seconds: i32,
}

/// An upsert's values: the row, how long it lives, and its write time.
#[derive(SerializeRow)]
struct Upsert<'a> {
    #[scylla(flatten)]
    row: Row<'a>,
    /// Seconds; 0 is for ever.
    ttl: i32,
    /// Microseconds since the Unix epoch.
    written_at: i64,
}

impl Store {
    /// For writers: connects, creates keyspace and table when missing, adds
    /// the `dob` column to a table made by the tutorial, checks every
    /// column's type, and prepares the insert.
    pub async fn open(settings: &CassandraSettings) -> anyhow::Result<Store> {
        let table = TableName::of(settings)?;
        let session = connect(settings).await?;
        ensure_schema(&session, settings, &table).await?;
        check_columns(&session, &table).await?;
        check_may_write(&session, settings, &table).await?;
        // Named markers: the row's fields, then the time to live and the
        // write time, which the caller gives (see [`Store::upsert`]).
        let markers = SCHEMA.map(|(name, _)| format!(":{name}")).join(", ");
        let upsert = format!(
            "INSERT INTO {table} ({}) VALUES ({markers}) USING TTL :ttl AND TIMESTAMP :written_at",
            column_list()
        );
        let delete = format!("DELETE FROM {table} USING TIMESTAMP ? WHERE id = ?");
        let upsert = prepare_write(&session, settings, upsert, &table).await?;
        let delete = prepare_write(&session, settings, delete, &table).await?;
        let batch_limits = batches::limits(&session, settings).await;
        Ok(Store {
            writes: Some(Writes {
                batches: batches::templates(&upsert, batch_limits.rows),
                batch_limits,
                upsert,
                delete,
                ttl_seconds: settings.ttl.as_secs() as i32,
                name: table.clone(),
            }),
            session,
            table: table.to_string(),
        })
    }

    /// For readers (`rtds users`): connects and checks that the table is
    /// there with the expected columns, changing nothing.
    pub async fn open_existing(settings: &CassandraSettings) -> anyhow::Result<Store> {
        Store::existing(connect(settings).await?, settings).await
    }

    /// [`Store::open_existing`] on a session already connected.
    pub async fn existing(session: Session, settings: &CassandraSettings) -> anyhow::Result<Store> {
        let table = TableName::of(settings)?;
        check_columns(&session, &table).await?;
        Ok(Store {
            session,
            writes: None,
            table: table.to_string(),
        })
    }

    fn writes(&self) -> &Writes {
        self.writes
            .as_ref()
            .expect("a store opened for reading is never written to")
    }

    /// Writes one user (an upsert by id) as of `written_at` (microseconds):
    /// of two writes of one id, the later time wins, whichever runs first.
    pub async fn upsert(
        &self,
        user: &User,
        written_at: i64,
    ) -> Result<(), scylla::errors::ExecutionError> {
        let writes = self.writes();
        let values = Upsert {
            row: Row::from(user),
            ttl: writes.ttl_seconds,
            written_at,
        };
        self.session.execute_unpaged(&writes.upsert, values).await?;
        Ok(())
    }

    /// Deletes the row of `id` as of `written_at` (microseconds): an upsert
    /// of an earlier time, run after it, does not bring the row back.
    pub async fn delete(
        &self,
        id: Uuid,
        written_at: i64,
    ) -> Result<(), scylla::errors::ExecutionError> {
        let writes = self.writes();
        self.session
            .execute_unpaged(&writes.delete, (written_at, id))
            .await?;
        Ok(())
    }

    /// Up to `limit` stored users, in the table's (token) order.
    pub async fn users(&self, limit: u32) -> anyhow::Result<Vec<User>> {
        self.select_users(&format!("LIMIT {limit}"), ()).await
    }

    /// The stored users with these ids (those that are stored).
    pub async fn users_by_id(&self, ids: &[Uuid]) -> anyhow::Result<Vec<User>> {
        self.select_users("WHERE id IN ?", (ids,)).await
    }

    /// Every column of the rows `SELECT ... FROM table {rest}` selects.
    async fn select_users(
        &self,
        rest: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> anyhow::Result<Vec<User>> {
        let query = format!("SELECT {} FROM {} {rest}", column_list(), self.table);
        let result = self
            .session
            .query_unpaged(query, values)
            .await
            .with_context(|| format!("cannot read {}", self.table))?
            .into_rows_result()?;
        let mut users = Vec::new();
        for row in result.rows::<Row>()? {
            users.push(User::from(row?));
        }
        Ok(users)
    }

    /// The number of stored users. A single `COUNT(*)` over a big table
    /// makes one coordinator hold the whole scan (it ran a 1 GB node out of
    /// heap at 3 million rows), so the token ring is counted in slices, a few
    /// at a time, as bulk tools do.
    pub async fn count(&self) -> anyhow::Result<u64> {
        count_rows(&self.session, &self.table, "id").await
    }

    /// Up to `limit` rows, in token order, with what the status and the
    /// dashboard's charts read of them: a bounded look at any table.
    pub async fn sample(&self, limit: u32) -> anyhow::Result<Vec<Sampled>> {
        let mut statement = Statement::new(format!(
            "SELECT id, gender, address, dob, registered_date, WRITETIME(email) AS written_at \
             FROM {} LIMIT {limit}",
            self.table
        ));
        statement.set_page_size(1000);
        let mut rows = self
            .session
            .query_iter(statement, ())
            .await
            .with_context(|| format!("cannot read {}", self.table))?
            .rows_stream::<Sampled>()?;
        let mut sample = Vec::new();
        while let Some(row) = rows.next().await {
            sample.push(row.with_context(|| format!("cannot read {}", self.table))?);
        }
        Ok(sample)
    }

    /// Cassandra's own estimate of the table's rows (partitions), which it
    /// refreshes every few minutes from flushed data: none before that.
    pub async fn estimated_rows(&self) -> anyhow::Result<Option<u64>> {
        let (keyspace, table) = self.table.split_once('.').expect("keyspace.table");
        let rows = self
            .session
            .query_unpaged(
                "SELECT partitions_count FROM system.size_estimates \
                 WHERE keyspace_name = ? AND table_name = ?",
                (keyspace, table),
            )
            .await
            .context("cannot read system.size_estimates")?
            .into_rows_result()?;
        let mut total = None;
        for row in rows.rows::<(Option<i64>,)>()? {
            if let (Some(count),) = row? {
                *total.get_or_insert(0) += count.max(0) as u64;
            }
        }
        Ok(total)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every node of the cluster as the driver knows it (from the cluster's
    /// own metadata, not only the contact points), and whether it has a
    /// connection to it now.
    pub fn nodes(&self) -> Vec<NodeState> {
        let mut nodes: Vec<NodeState> = self
            .session
            .get_cluster_state()
            .get_nodes_info()
            .iter()
            .map(|node| NodeState {
                address: node.address.to_string(),
                datacenter: node.datacenter.clone(),
                up: node.is_connected(),
            })
            .collect();
        nodes.sort_by(|a, b| a.address.cmp(&b.address));
        nodes
    }
}

/// The rows of `table` (`keyspace.table`), whose partition key is
/// `partition_key` (`id`, or `a, b`), counted as [`Store::count`] says.
pub async fn count_rows(
    session: &Session,
    table: &str,
    partition_key: &str,
) -> anyhow::Result<u64> {
    const SLICES: i128 = 64;
    let mut statement = Statement::new(format!(
        "SELECT COUNT(*) FROM {table} WHERE token({partition_key}) >= ? AND token({partition_key}) <= ?"
    ));
    statement.set_request_timeout(Some(Duration::from_secs(120)));
    let count = session
        .prepare(statement)
        .await
        .with_context(|| format!("cannot count {table}"))?;
    let width = (i64::MAX as i128 - i64::MIN as i128 + 1) / SLICES;
    let slices = (0..SLICES).map(|slice| {
        let start = (i64::MIN as i128 + slice * width) as i64;
        let end = if slice == SLICES - 1 {
            i64::MAX
        } else {
            (i64::MIN as i128 + (slice + 1) * width - 1) as i64
        };
        let count = &count;
        async move {
            let (rows,) = session
                .execute_unpaged(count, (start, end))
                .await?
                .into_rows_result()?
                .single_row::<(i64,)>()?;
            anyhow::Ok(rows as u64)
        }
    });
    let counts: Vec<u64> = futures::stream::iter(slices)
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("cannot count {table}"))?;
    Ok(counts.iter().sum())
}

/// A node of the cluster, for the status and the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeState {
    pub address: String,
    pub datacenter: Option<String>,
    pub up: bool,
}
