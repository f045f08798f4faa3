//! Cassandra: the session, the table's schema (created or migrated), the
//! prepared idempotent insert, and the queries behind `rtds users`.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use scylla::client::session::{OpenSsl010Config, Session, TlsContext};
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Statement;
use scylla::statement::prepared::PreparedStatement;
use tracing::info;
use uuid::Uuid;

use crate::config::CassandraSettings;
use crate::user::User;

/// The table's columns after the key, in the order of [`User`]'s fields.
const COLUMNS: [&str; 11] = [
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "dob",
    "registered_date",
    "phone",
    "picture",
];

/// One row as stored; text columns may be null in rows written by the seed.
type Row = (
    Uuid,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A connected session and the users table it writes.
pub struct Store {
    session: Session,
    insert: PreparedStatement,
    /// `keyspace.table`, for queries and messages.
    table: String,
}

/// Opens a session to the contact points, failing within the configured
/// timeout with a message that names them.
pub async fn connect(settings: &CassandraSettings) -> anyhow::Result<Session> {
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.contact_points)
        .connection_timeout(settings.timeout);
    if !settings.username.is_empty() {
        builder = builder.user(&settings.username, &settings.password);
    }
    if !settings.tls_ca_file.is_empty() {
        builder = builder.tls_context(Some(tls_context(&settings.tls_ca_file)?));
    }
    let session = tokio::time::timeout(settings.timeout + Duration::from_secs(1), builder.build())
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {:?}", settings.timeout))
        .and_then(|built| built.map_err(anyhow::Error::from))
        .with_context(|| {
            format!(
                "cannot connect to Cassandra at {}; is it running? \
                 (`scripts/stack up` starts a local one; --contact-points or RTDS_CASSANDRA_CONTACT_POINTS points elsewhere)",
                settings.contact_points.join(",")
            )
        })?;
    Ok(session)
}

fn tls_context(ca_file: &str) -> anyhow::Result<TlsContext> {
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .context("cannot set up TLS for Cassandra")?;
    builder.set_ca_file(ca_file).with_context(|| {
        format!("cannot read the Cassandra CA file {ca_file} (cassandra.tls_ca_file)")
    })?;
    Ok(TlsContext::OpenSsl010Config(OpenSsl010Config::new(builder)))
}

impl Store {
    /// Connects, creates keyspace and table when missing, adds the `dob`
    /// column to a table made by the seed, and prepares the insert.
    pub async fn open(settings: &CassandraSettings) -> anyhow::Result<Store> {
        let session = connect(settings).await?;
        let table = format!("{}.{}", settings.keyspace, settings.table);
        ensure_schema(&session, settings).await?;
        let columns = COLUMNS.join(", ");
        let markers = vec!["?"; COLUMNS.len() + 1].join(", ");
        let mut insert = session
            .prepare(format!(
                "INSERT INTO {table} (id, {columns}) VALUES ({markers})"
            ))
            .await
            .with_context(|| format!("cannot prepare the insert into {table}"))?;
        // An upsert by primary key: replaying it is harmless, so the driver
        // may retry it and speculate.
        insert.set_is_idempotent(true);
        insert.set_request_timeout(Some(settings.timeout));
        Ok(Store {
            session,
            insert,
            table,
        })
    }

    /// Writes one user (an upsert by id).
    pub async fn insert(&self, user: &User) -> Result<(), scylla::errors::ExecutionError> {
        let values = (
            user.id,
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
        );
        self.session.execute_unpaged(&self.insert, values).await?;
        Ok(())
    }

    /// Up to `limit` stored users, in the table's (token) order.
    pub async fn users(&self, limit: u32) -> anyhow::Result<Vec<User>> {
        let query = format!(
            "SELECT id, {} FROM {} LIMIT {limit}",
            COLUMNS.join(", "),
            self.table
        );
        let result = self
            .session
            .query_unpaged(query, ())
            .await
            .with_context(|| format!("cannot read {}", self.table))?
            .into_rows_result()?;
        let mut users = Vec::new();
        for row in result.rows::<Row>()? {
            users.push(user_from_row(row?));
        }
        Ok(users)
    }

    /// The number of stored users. A single `COUNT(*)` over a big table
    /// makes one coordinator hold the whole scan (it ran a 1 GB node out of
    /// heap at 3 million rows), so the token ring is counted in slices, a few
    /// at a time, as bulk tools do.
    pub async fn count(&self) -> anyhow::Result<u64> {
        const SLICES: i128 = 64;
        let mut statement = Statement::new(format!(
            "SELECT COUNT(*) FROM {} WHERE token(id) >= ? AND token(id) <= ?",
            self.table
        ));
        statement.set_request_timeout(Some(Duration::from_secs(120)));
        let count = self
            .session
            .prepare(statement)
            .await
            .with_context(|| format!("cannot count {}", self.table))?;
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
                let (rows,) = self
                    .session
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
            .with_context(|| format!("cannot count {}", self.table))?;
        Ok(counts.iter().sum())
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

fn user_from_row(row: Row) -> User {
    let (
        id,
        first_name,
        last_name,
        gender,
        address,
        post_code,
        email,
        username,
        dob,
        registered_date,
        phone,
        picture,
    ) = row;
    User {
        id,
        first_name: first_name.unwrap_or_default(),
        last_name: last_name.unwrap_or_default(),
        gender: gender.unwrap_or_default(),
        address: address.unwrap_or_default(),
        post_code: post_code.unwrap_or_default(),
        email: email.unwrap_or_default(),
        username: username.unwrap_or_default(),
        dob: dob.unwrap_or_default(),
        registered_date: registered_date.unwrap_or_default(),
        phone: phone.unwrap_or_default(),
        picture: picture.unwrap_or_default(),
    }
}

/// Creates what is missing and migrates the seed's table, which lacks `dob`.
async fn ensure_schema(session: &Session, settings: &CassandraSettings) -> anyhow::Result<()> {
    let (keyspace, table) = (&settings.keyspace, &settings.table);
    let ddl = |what: String| async move {
        session
            .query_unpaged(what.clone(), ())
            .await
            .with_context(|| format!("Cassandra refused: {what}"))
    };
    ddl(format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {}",
        settings.replication
    ))
    .await?;
    let columns: Vec<String> = COLUMNS.iter().map(|c| format!("{c} text")).collect();
    ddl(format!(
        "CREATE TABLE IF NOT EXISTS {keyspace}.{table} (id uuid PRIMARY KEY, {})",
        columns.join(", ")
    ))
    .await?;
    let present = table_columns(session, keyspace, table).await?;
    if !present.iter().any(|c| c == "id") {
        bail!("table {keyspace}.{table} exists but has no `id` column: it is not a users table");
    }
    for column in COLUMNS {
        if !present.iter().any(|c| c == column) {
            info!("adding missing column {column} to {keyspace}.{table}");
            ddl(format!("ALTER TABLE {keyspace}.{table} ADD {column} text")).await?;
        }
    }
    session
        .await_schema_agreement()
        .await
        .context("Cassandra nodes did not agree on the schema")?;
    Ok(())
}

async fn table_columns(
    session: &Session,
    keyspace: &str,
    table: &str,
) -> anyhow::Result<Vec<String>> {
    let rows = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table),
        )
        .await
        .context("cannot read system_schema.columns")?
        .into_rows_result()?;
    let mut names = Vec::new();
    for row in rows.rows::<(String,)>()? {
        names.push(row?.0);
    }
    Ok(names)
}
