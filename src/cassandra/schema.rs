//! The table's schema: created, migrated from the tutorial's, checked
//! against what rtds writes, and whether the role may write there.

use std::time::Duration;

use anyhow::{Context, bail};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use tracing::info;

use super::SCHEMA;
use super::names::TableName;
use super::session::connect;
use crate::config::CassandraSettings;
use crate::mapping::Mapping;

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

/// Creates what is missing and migrates the tutorial's table, which lacks
/// `dob`; returns the statements it ran. It runs none for what exists, so a
/// role without CREATE or ALTER can write to a table an admin made. Two
/// writers starting together may both add a column: the second one's ALTER
/// fails, and the column is there, which is all that matters.
pub(super) async fn ensure_schema(
    session: &Session,
    settings: &CassandraSettings,
    name: &TableName,
) -> anyhow::Result<Vec<String>> {
    let ddl = |what: String| run_ddl(session, settings, what);
    let mut ran = ensure_keyspace(session, settings, &name.keyspace).await?;
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
    agree(session, &ran).await?;
    Ok(ran)
}

/// Runs one DDL statement, or says what refused it: a role without the
/// permission is told to run `rtds schema` as one that has it.
async fn run_ddl(
    session: &Session,
    settings: &CassandraSettings,
    what: String,
) -> anyhow::Result<String> {
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
}

/// Creates `keyspace` with the settings' replication when it is missing;
/// returns the statement it ran, if any.
async fn ensure_keyspace(
    session: &Session,
    settings: &CassandraSettings,
    keyspace: &str,
) -> anyhow::Result<Vec<String>> {
    if keyspace_exists(session, keyspace).await? {
        return Ok(Vec::new());
    }
    let create = format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {}",
        settings.replication
    );
    Ok(vec![run_ddl(session, settings, create).await?])
}

/// Waits until every node has the schema, after `ran` changed it.
async fn agree(session: &Session, ran: &[String]) -> anyhow::Result<()> {
    if !ran.is_empty() {
        session
            .await_schema_agreement()
            .await
            .context("Cassandra nodes did not agree on the schema")?;
    }
    Ok(())
}

/// The `ALTER TABLE ... ADD` of each mapping column a table already there
/// lacks; an error for one it has with another type, since a column's type
/// cannot be changed.
fn columns_to_add(
    mapping: &Mapping,
    name: &TableName,
    present: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut adds = Vec::new();
    for column in &mapping.columns {
        let wanted = column.kind.column_type();
        match present.iter().find(|(c, _)| *c == column.name) {
            None => adds.push(format!("ALTER TABLE {name} ADD {} {wanted}", column.name)),
            Some((_, found)) if *found != wanted => bail!(
                "mapping `{}`: table {name} has column `{}` of type {found}, but the mapping \
                 writes {wanted} there: a column's type cannot be changed, so change the \
                 mapping's type, or recreate the table",
                mapping.name,
                column.name
            ),
            Some(_) => {}
        }
    }
    Ok(adds)
}

/// `rtds schema` with `[[mapping]]` entries: each mapping's keyspace and
/// table created when missing, from its types; a column missing from a
/// table already there is added; one of another type is refused, since a
/// column's type cannot change. Returns each table with the statements run.
pub async fn create_mapped_schemas(
    settings: &CassandraSettings,
    mappings: &[Mapping],
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let session = connect(settings).await?;
    let mut done = Vec::new();
    for mapping in mappings {
        let ran = ensure_mapped_schema(&session, settings, mapping).await?;
        done.push((format!("{}.{}", mapping.keyspace, mapping.table), ran));
    }
    Ok(done)
}

/// One mapping's keyspace and table made or checked as
/// [`create_mapped_schemas`] says; returns the statements it ran.
pub(super) async fn ensure_mapped_schema(
    session: &Session,
    settings: &CassandraSettings,
    mapping: &Mapping,
) -> anyhow::Result<Vec<String>> {
    let name = TableName::new(&mapping.keyspace, &mapping.table);
    let mut ran = ensure_keyspace(session, settings, &name.keyspace).await?;
    let present = table_columns(session, &name).await?;
    if present.is_empty() {
        ran.push(run_ddl(session, settings, mapping.create_table()).await?);
    } else {
        for add in columns_to_add(mapping, &name, &present)? {
            ran.push(run_ddl(session, settings, add).await?);
        }
    }
    agree(session, &ran).await?;
    Ok(ran)
}

/// Prepares `statement`, again while the node says its table does not
/// exist, for up to `patience`: a table another writer created a moment ago
/// is in `system_schema` before every node has loaded it, and a writer that
/// found it there runs no DDL that would have waited for it.
pub(super) async fn prepare_when_ready(
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
pub(super) async fn check_may_write(
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
pub(super) async fn check_columns(session: &Session, name: &TableName) -> anyhow::Result<()> {
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
