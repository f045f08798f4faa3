//! Cassandra: the session, the table's schema (created or migrated), the
//! prepared idempotent upsert and delete, and the queries behind `rtds users`
//! and the dashboard.

use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::{OpenSsl010Config, Session, TlsContext};
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::Consistency;
use scylla::statement::Statement;
use scylla::statement::prepared::PreparedStatement;
use scylla::{DeserializeRow, SerializeRow};
use tracing::info;
use uuid::Uuid;

use crate::config::CassandraSettings;
use crate::user::User;

mod batches;
pub use batches::{Limits as BatchLimits, Replicas, row_bytes};

/// The table's columns and their CQL types, key first: what rtds creates,
/// checks at start, writes and reads. [`Row`] has a field of each name.
const SCHEMA: [(&str, &str); 12] = [
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

/// Opens a session to the contact points, failing within the configured
/// timeout with a message that names them and, when the driver's words
/// tell, the cause: a refused login, an untrusted certificate, TLS on one
/// side only.
pub async fn connect(settings: &CassandraSettings) -> anyhow::Result<Session> {
    // Token-aware (each request to a replica of its row), and kept in the
    // local datacenter when one is named.
    let mut routing = DefaultPolicy::builder().token_aware(true);
    if !settings.local_datacenter.is_empty() {
        routing = routing
            .prefer_datacenter(settings.local_datacenter.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .load_balancing_policy(routing.build())
        .consistency(consistency(&settings.read_consistency))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.contact_points)
        .connection_timeout(settings.timeout)
        .default_execution_profile_handle(profile.into_handle());
    if !settings.username.is_empty() {
        builder = builder.user(&settings.username, &settings.password);
    }
    if !settings.tls_ca_file.is_empty() {
        builder = builder.tls_context(Some(tls_context(settings)?));
    }
    let built = tokio::time::timeout(settings.timeout + Duration::from_secs(1), builder.build())
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {:?}", settings.timeout))
        .and_then(|built| built.map_err(anyhow::Error::from));
    built.map_err(|error| {
        let cause = format!("{error:#}");
        let at = settings.contact_points.join(",");
        error.context(match connect_failure(&cause) {
            Some(SessionFailure::BadLogin) => format!(
                "Cassandra at {at} refused the login of role `{}`: authentication failed \
                 (bad credentials). Check cassandra.username and the password \
                 (cassandra.password_file, RTDS_CASSANDRA_PASSWORD or cassandra.password)",
                settings.username
            ),
            Some(SessionFailure::LoginNeeded) => format!(
                "Cassandra at {at} wants a login: set cassandra.username and its password \
                 (cassandra.password_file or RTDS_CASSANDRA_PASSWORD)"
            ),
            Some(SessionFailure::Untrusted) => format!(
                "the certificate of the Cassandra node at {at} is not trusted: \
                 cassandra.tls_ca_file ({}) must be the CA that signed it, and the certificate \
                 must name the node's IP address in its subjectAltName",
                settings.tls_ca_file
            ),
            Some(SessionFailure::NotTls) => format!(
                "Cassandra at {at} does not speak TLS, but cassandra.tls_ca_file is set: \
                 is this the node's TLS port? Empty cassandra.tls_ca_file for a plain one"
            ),
            Some(SessionFailure::ClientCert | SessionFailure::Broken) if settings.tls_cert_file.is_empty() => {
                format!(
                    "Cassandra at {at} wants a client certificate (it broke off the connection \
                     once TLS was set up; client_encryption_options.require_client_auth): set \
                     cassandra.tls_cert_file and cassandra.tls_key_file to a certificate signed \
                     by a CA the node trusts"
                )
            }
            Some(SessionFailure::ClientCert) => format!(
                "Cassandra at {at} refused the client certificate: cassandra.tls_cert_file ({}) \
                 must be signed by a CA in the node's client_encryption_options.truststore",
                settings.tls_cert_file
            ),
            Some(SessionFailure::WantsTls) if settings.tls_ca_file.is_empty() => format!(
                "Cassandra at {at} closed the connection at once: if the node wants TLS \
                 (client_encryption_options), set cassandra.tls_ca_file to the CA of its certificate"
            ),
            _ => format!(
                "cannot connect to Cassandra at {at}; is it running? \
                 (`scripts/stack up` starts a local one; --contact-points or RTDS_CASSANDRA_CONTACT_POINTS points elsewhere)"
            ),
        })
    })
}

/// The driver's consistency of a level as the settings spell it (checked
/// against [`crate::config::CONSISTENCIES`] when they are read).
fn consistency(level: &str) -> Consistency {
    match level {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => Consistency::LocalQuorum,
    }
}

/// The consistency level as CQL (and the settings) spell it.
fn cql_name(level: Consistency) -> String {
    crate::config::CONSISTENCIES
        .into_iter()
        .find(|name| consistency(name) == level)
        .map_or_else(|| format!("{level:?}"), str::to_string)
}

/// What a write failed on when too few replicas answer: the consistency it
/// asked for and how many replicas it had of those it needs. Nothing for
/// any other failure. This is the failure of a cluster with nodes down, and
/// the one way out is to bring them back (or to ask for less).
pub fn unmet_consistency(error: &scylla::errors::ExecutionError) -> Option<String> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    let ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) = error else {
        return None;
    };
    match db {
        DbError::Unavailable {
            consistency,
            required,
            alive,
        } => Some(format!(
            "consistency {} cannot be met: {alive} replica(s) alive of the {required} it needs",
            cql_name(*consistency)
        )),
        DbError::WriteTimeout {
            consistency,
            received,
            required,
            ..
        } => Some(format!(
            "consistency {} was not met in time: {received} replica(s) acknowledged of the {required} it needs",
            cql_name(*consistency)
        )),
        _ => None,
    }
}

/// Why a session could not be opened, as far as the driver's words tell:
/// each has its own advice.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SessionFailure {
    BadLogin,
    LoginNeeded,
    Untrusted,
    NotTls,
    WantsTls,
    /// The node's TLS alert for a client certificate missing or refused.
    ClientCert,
    /// Broken right after the TLS handshake, before any reply: what a node
    /// that wants a client certificate does to a client without one (the
    /// TLS 1.3 alert that says so is lost in the driver's words).
    Broken,
}

fn connect_failure(cause: &str) -> Option<SessionFailure> {
    let cause = cause.to_ascii_lowercase();
    let has = |words: &str| cause.contains(words);
    if has("bad credentials") || has("password are incorrect") {
        Some(SessionFailure::BadLogin)
    } else if has("authentication is required") {
        Some(SessionFailure::LoginNeeded)
    } else if has("certificate verify failed") {
        Some(SessionFailure::Untrusted)
    } else if has("wrong version number") || has("packet length too long") {
        Some(SessionFailure::NotTls)
    } else if has("alert certificate required")
        || has("alert bad certificate")
        || has("alert unknown ca")
    {
        Some(SessionFailure::ClientCert)
    } else if has("connection reset by peer") || has("failed to read the frame header") {
        Some(SessionFailure::WantsTls)
    } else if has("connection setup request") && has("connection broken") {
        Some(SessionFailure::Broken)
    } else {
        None
    }
}

/// The driver's TLS: the nodes' CA, and the client certificate for nodes
/// that want one (`require_client_auth`), checked against its key here so
/// that a mismatched pair is named, not a handshake the node breaks off.
fn tls_context(settings: &CassandraSettings) -> anyhow::Result<TlsContext> {
    let ca_file = &settings.tls_ca_file;
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .context("cannot set up TLS for Cassandra")?;
    builder.set_ca_file(ca_file).with_context(|| {
        format!("cannot read the Cassandra CA file {ca_file} (cassandra.tls_ca_file)")
    })?;
    if !settings.tls_cert_file.is_empty() {
        let (cert, key) = (&settings.tls_cert_file, &settings.tls_key_file);
        builder.set_certificate_chain_file(cert).with_context(|| {
            format!("cannot read the client certificate {cert} (cassandra.tls_cert_file) as PEM")
        })?;
        builder
            .set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
            .with_context(|| {
                format!(
                    "cannot read the client key {key} (cassandra.tls_key_file) as an unencrypted PEM key"
                )
            })?;
        builder.check_private_key().with_context(|| {
            format!(
                "cassandra.tls_key_file ({key}) is not the key of cassandra.tls_cert_file ({cert})"
            )
        })?;
    }
    Ok(TlsContext::OpenSsl010Config(OpenSsl010Config::new(builder)))
}

/// `rtds schema`: what [`Store::open`] does to the schema, alone, for a
/// role that may (where writers may not create tables). Returns the table
/// and the statements it ran (none when all was there).
pub async fn create_schema(settings: &CassandraSettings) -> anyhow::Result<(String, Vec<String>)> {
    let table = TableName::of(settings)?;
    let session = connect(settings).await?;
    let ran = ensure_schema(&session, settings, &table).await?;
    check_columns(&session, &table).await?;
    Ok((table.to_string(), ran))
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
        let mut prepared = Vec::new();
        for statement in [upsert, delete] {
            let mut write = prepare_when_ready(&session, statement, settings.timeout)
                .await
                .with_context(|| format!("cannot prepare the writes into {table}"))?;
            // By primary key, at a given write time: replaying one is
            // harmless, so the driver may retry it and speculate.
            write.set_is_idempotent(true);
            write.set_request_timeout(Some(settings.timeout));
            write.set_consistency(consistency(&settings.write_consistency));
            prepared.push(write);
        }
        let (delete, upsert) = (prepared.pop().expect("two"), prepared.pop().expect("two"));
        let mut batch_limits = batches::node_limits(&session).await;
        if settings.batch_rows > 0 {
            batch_limits.rows = settings.batch_rows;
        }
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

/// A node of the cluster, for the status and the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeState {
    pub address: String,
    pub datacenter: Option<String>,
    pub up: bool,
}

/// A keyspace and table name as CQL takes them unquoted, checked before
/// anything is created or looked up: CQL folds unquoted names to lower case,
/// so `Spark_Streams` would be created as `spark_streams` and then not be
/// found in `system_schema` under the name given.
#[derive(Debug, Clone)]
struct TableName {
    keyspace: String,
    table: String,
}

impl TableName {
    fn of(settings: &CassandraSettings) -> anyhow::Result<TableName> {
        for (key, name) in [
            ("cassandra.keyspace", &settings.keyspace),
            ("cassandra.table", &settings.table),
        ] {
            check_name(name).map_err(|why| anyhow::anyhow!("`{key}`: {why}"))?;
        }
        Ok(TableName {
            keyspace: settings.keyspace.clone(),
            table: settings.table.clone(),
        })
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.keyspace, self.table)
    }
}

/// CQL's reserved words: not usable as unquoted names.
const RESERVED: [&str; 63] = [
    "add",
    "aggregate",
    "all",
    "allow",
    "alter",
    "and",
    "apply",
    "as",
    "asc",
    "ascii",
    "authorize",
    "batch",
    "begin",
    "by",
    "called",
    "columnfamily",
    "create",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "where",
    "with",
];

/// Refuses a name CQL would not take unquoted as it is: `[a-z][a-z0-9_]*`,
/// at most 48 characters, not a reserved word. The settings refuse such a
/// keyspace or table when they load, for every command alike.
pub fn check_name(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let valid_chars = |text: &str| {
        text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if name != lower && valid_chars(&lower) {
        return Err(format!(
            "`{name}`: Cassandra folds unquoted names to lower case, so use `{lower}`"
        ));
    }
    if !valid_chars(name) {
        return Err(format!(
            "`{name}`: a Cassandra name starts with a lower-case letter and has only \
             lower-case letters, digits and `_`"
        ));
    }
    if name.len() > 48 {
        return Err(format!(
            "`{name}`: Cassandra names have at most 48 characters"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is a reserved word in CQL: choose another name"
        ));
    }
    Ok(())
}

/// Creates what is missing and migrates the tutorial's table, which lacks
/// `dob`; returns the statements it ran. It runs none for what exists, so a
/// role without CREATE or ALTER can write to a table an admin made. Two
/// writers starting together may both add a column: the second one's ALTER
/// fails, and the column is there, which is all that matters.
async fn ensure_schema(
    session: &Session,
    settings: &CassandraSettings,
    name: &TableName,
) -> anyhow::Result<Vec<String>> {
    let mut ran = Vec::new();
    let ddl = |what: String| async move {
        match session.query_unpaged(what.clone(), ()).await {
            Ok(_) => Ok(what),
            Err(error) => Err(match refusal(&error, settings) {
                Some(refused) => anyhow::anyhow!(
                    "{refused}. `{what}` needs it; run `rtds schema` once as a role that may \
                     (an admin), or grant the permission, then start again"
                ),
                None => anyhow::Error::from(error).context(format!("Cassandra refused: {what}")),
            }),
        }
    };
    if !keyspace_exists(session, &name.keyspace).await? {
        ran.push(
            ddl(format!(
                "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
                name.keyspace, settings.replication
            ))
            .await?,
        );
    }
    let mut present = table_columns(session, name).await?;
    if present.is_empty() {
        let columns: Vec<String> = SCHEMA.iter().map(|(c, t)| format!("{c} {t}")).collect();
        ran.push(
            ddl(format!(
                "CREATE TABLE IF NOT EXISTS {name} ({}, PRIMARY KEY (id))",
                columns.join(", ")
            ))
            .await?,
        );
        present = table_columns(session, name).await?;
    }
    if !present.iter().any(|(c, _)| c == "id") {
        bail!("table {name} exists but has no `id` column: it is not a users table");
    }
    for (column, kind) in SCHEMA {
        if present.iter().any(|(c, _)| c == column) {
            continue;
        }
        info!("adding missing column {column} to {name}");
        match ddl(format!("ALTER TABLE {name} ADD {column} {kind}")).await {
            Ok(statement) => ran.push(statement),
            Err(error) => {
                let now = table_columns(session, name).await?;
                if !now.iter().any(|(c, _)| c == column) {
                    return Err(error);
                }
            }
        }
    }
    if !ran.is_empty() {
        session
            .await_schema_agreement()
            .await
            .context("Cassandra nodes did not agree on the schema")?;
    }
    Ok(ran)
}

/// Prepares `statement`, again while the node says its table does not
/// exist, for up to `patience`: a table another writer created a moment ago
/// is in `system_schema` before every node has loaded it, and a writer that
/// found it there runs no DDL that would have waited for it.
async fn prepare_when_ready(
    session: &Session,
    statement: String,
    patience: Duration,
) -> Result<PreparedStatement, scylla::errors::PrepareError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match session.prepare(statement.clone()).await {
            Err(error)
                if error.to_string().contains("does not exist")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// The words for a request refused for want of a permission, naming the
/// role; none for any other error. Cassandra's own message names the
/// permission and the table or keyspace.
fn refusal(error: &scylla::errors::ExecutionError, settings: &CassandraSettings) -> Option<String> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    match error {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Unauthorized,
            message,
        )) => Some(format!(
            "the Cassandra role `{}` lacks a permission: {message}",
            settings.username
        )),
        _ => None,
    }
}

/// Refuses to start a writer whose role may not write into the table: it
/// would take records from Kafka and fail on the first one. Asked of
/// Cassandra with `LIST MODIFY`, which counts grants on the table, its
/// keyspace and all keyspaces, through the role's own roles; a superuser
/// may anyway. Without a login (or an authorizer), there is nothing to check.
async fn check_may_write(
    session: &Session,
    settings: &CassandraSettings,
    name: &TableName,
) -> anyhow::Result<()> {
    if settings.username.is_empty() {
        return Ok(());
    }
    let role = settings.username.replace('\'', "''");
    let listed = session
        .query_unpaged(format!("LIST MODIFY ON TABLE {name} OF '{role}'"), ())
        .await;
    let granted = match listed {
        Ok(result) => result.into_rows_result().map_or(0, |rows| rows.rows_num()),
        // AllowAllAuthorizer keeps no permissions to list: everyone may.
        Err(_) => return Ok(()),
    };
    if granted > 0 {
        return Ok(());
    }
    // Only a superuser (or a role granted it) may read system_auth.roles.
    let superuser = session
        .query_unpaged(
            "SELECT is_superuser FROM system_auth.roles WHERE role = ?",
            (&settings.username,),
        )
        .await
        .ok()
        .and_then(|result| result.into_rows_result().ok())
        .and_then(|rows| rows.maybe_first_row::<(Option<bool>,)>().ok().flatten())
        .is_some_and(|(is,)| is == Some(true));
    if superuser {
        return Ok(());
    }
    bail!(
        "the Cassandra role `{}` has no MODIFY permission on table {name} (nor on keyspace {}): \
         `rtds process` writes rows there. Grant it (GRANT MODIFY ON KEYSPACE {} TO {}) or use \
         a role that has it; a reading role serves `rtds users` and `rtds status`",
        settings.username,
        name.keyspace,
        name.keyspace,
        settings.username
    )
}

/// Whether the keyspace exists, as `system_schema` has it.
async fn keyspace_exists(session: &Session, keyspace: &str) -> anyhow::Result<bool> {
    let rows = session
        .query_unpaged(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .context("cannot read system_schema.keyspaces")?
        .into_rows_result()?;
    Ok(rows.rows_num() > 0)
}

/// Refuses a table that is missing, or whose columns lack one of
/// [`SCHEMA`] or have another type: every insert would fail.
async fn check_columns(session: &Session, name: &TableName) -> anyhow::Result<()> {
    let present = table_columns(session, name).await?;
    if present.is_empty() {
        bail!(
            "table {name} does not exist (or keyspace {} does not): `rtds process` creates it",
            name.keyspace
        );
    }
    for (column, expected) in SCHEMA {
        match present.iter().find(|(c, _)| c == column) {
            None => {
                bail!("table {name} has no column `{column}` ({expected}): `rtds process` adds it")
            }
            Some((_, found)) if found != expected => bail!(
                "table {name} has column `{column}` of type {found}, but rtds stores {expected} \
                 there: a column's type cannot be changed, so recreate the table with \
                 `{column} {expected}` or point `cassandra.table` (--table) at another table"
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The table's columns with their CQL types, as `system_schema` has them;
/// empty when there is no such table.
async fn table_columns(
    session: &Session,
    name: &TableName,
) -> anyhow::Result<Vec<(String, String)>> {
    let rows = session
        .query_unpaged(
            "SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
            (&name.keyspace, &name.table),
        )
        .await
        .context("cannot read system_schema.columns")?
        .into_rows_result()?;
    let mut columns = Vec::new();
    for row in rows.rows::<(String, String)>()? {
        columns.push(row?);
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver's words, as seen from a node that wants a client
    /// certificate and got none: the TLS 1.3 alert when it shows, else the
    /// broken connection setup it leaves behind.
    #[test]
    fn a_missing_client_certificate_is_told_from_other_failures() {
        let alert = "Failed to perform a connection setup request. Request: OPTIONS, reason: \
                     Connection broken, reason: Failed to deserialize frame: Failed to read the \
                     frame header: error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert \
                     certificate required";
        assert_eq!(connect_failure(alert), Some(SessionFailure::ClientCert));
        let broken = "Failed to perform a connection setup request. Request: OPTIONS, reason: \
                      Connection broken, reason: Failed to send/receive data needed to perform \
                      a request via tokio channel.";
        assert_eq!(connect_failure(broken), Some(SessionFailure::Broken));
        let reset = "Failed to read the frame header: Connection reset by peer (os error 104)";
        assert_eq!(connect_failure(reset), Some(SessionFailure::WantsTls));
    }

    #[test]
    fn names_are_checked_as_cql_takes_them() {
        assert!(check_name("spark_streams").is_ok());
        assert!(check_name("created_users2").is_ok());
        let folded = check_name("Spark_Streams").unwrap_err();
        assert!(folded.contains("use `spark_streams`"), "{folded}");
        for bad in ["2users", "users-created", "", "_x", "sélect"] {
            let error = check_name(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
        assert!(check_name(&"a".repeat(49)).is_err());
        assert!(check_name(&"a".repeat(48)).is_ok());
        let reserved = check_name("table").unwrap_err();
        assert!(reserved.contains("reserved"), "{reserved}");
        let mut settings = crate::config::Settings::default().cassandra;
        settings.table = "Users".into();
        let named = TableName::of(&settings).unwrap_err().to_string();
        assert!(named.contains("`cassandra.table`: `Users`"), "{named}");
    }

    #[test]
    fn an_unmet_consistency_names_the_level_and_the_replicas() {
        use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
        let failed =
            |db| ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, String::new()));
        let unavailable = failed(DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1,
        });
        assert_eq!(
            unmet_consistency(&unavailable).unwrap(),
            "consistency LOCAL_QUORUM cannot be met: 1 replica(s) alive of the 2 it needs"
        );
        assert!(unmet_consistency(&failed(DbError::Overloaded)).is_none());
    }
}
