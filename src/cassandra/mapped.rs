//! The tables of `[[mapping]]` entries, as `rtds process` writes them: each
//! made or checked from its mapping, with its prepared insert and delete
//! by primary key and its batches, over one session for all of them.

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use scylla::frame::response::result::ColumnType;
use scylla::serialize::SerializationError;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, MaybeUnset};

use super::batches::{self, Limits, Replicas};
use super::names::TableName;
use super::schema::{check_may_write, ensure_mapped_schema};
use super::{connect, prepare_write};
use crate::config::CassandraSettings;
use crate::mapping::{Cell, Mapping};

/// One mapping's table, ready for writes.
pub struct MappedTable {
    pub mapping: Mapping,
    session: Arc<Session>,
    name: TableName,
    insert: PreparedStatement,
    delete: PreparedStatement,
    /// `batches[n - 1]` holds `n` inserts.
    batches: Vec<Batch>,
}

/// One record's row for a mapped table: its cells in the mapping's column
/// order, and how long it lives.
#[derive(Debug)]
pub struct MappedRow {
    pub cells: Vec<Cell>,
    /// Seconds; 0 is for ever.
    pub ttl: i32,
}

/// A cell binds as its value, a null, or nothing (an unset marker, which
/// leaves the column as it was).
impl SerializeValue for Cell {
    fn serialize<'b>(
        &self,
        typ: &ColumnType,
        writer: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match self {
            Cell::Value(value) => value.serialize(typ, writer),
            Cell::Null => None::<CqlValue>.serialize(typ, writer),
            Cell::Unset => MaybeUnset::<CqlValue>::Unset.serialize(typ, writer),
        }
    }
}

/// Connects once, makes or checks each mapping's keyspace and table (as
/// `rtds schema` does), checks the role may write there, and prepares the
/// writes; with the batch limits of the node.
pub async fn open_mapped(
    settings: &CassandraSettings,
    mappings: Vec<Mapping>,
) -> anyhow::Result<(Vec<MappedTable>, Limits)> {
    let session = Arc::new(connect(settings).await?);
    let mut tables = Vec::new();
    for mapping in mappings {
        ensure_mapped_schema(&session, settings, &mapping).await?;
        let name = TableName::new(&mapping.keyspace, &mapping.table);
        check_may_write(&session, settings, &name).await?;
        let (insert, delete) = statements(&mapping);
        let insert = prepare_write(&session, settings, insert, &name).await?;
        let delete = prepare_write(&session, settings, delete, &name).await?;
        tables.push(MappedTable {
            mapping,
            session: session.clone(),
            name,
            batches: Vec::new(),
            insert,
            delete,
        });
    }
    let limits = batches::limits(&session, settings).await;
    for table in &mut tables {
        table.batches = batches::templates(&table.insert, limits.rows);
    }
    Ok((tables, limits))
}

/// The insert of every column, with a time to live and a write time, and
/// the delete by primary key at a write time.
fn statements(mapping: &Mapping) -> (String, String) {
    let table = format!("{}.{}", mapping.keyspace, mapping.table);
    let names: Vec<&str> = mapping.columns.iter().map(|c| c.name.as_str()).collect();
    let markers = vec!["?"; names.len()].join(", ");
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({markers}) USING TTL ? AND TIMESTAMP ?",
        names.join(", ")
    );
    let key: Vec<String> = mapping
        .partition_key
        .iter()
        .chain(&mapping.clustering)
        .map(|name| format!("{name} = ?"))
        .collect();
    let delete = format!(
        "DELETE FROM {table} USING TIMESTAMP ? WHERE {}",
        key.join(" AND ")
    );
    (insert, delete)
}

impl MappedTable {
    /// `keyspace.table`.
    pub fn name(&self) -> String {
        self.name.to_string()
    }

    /// Writes one row as of `written_at` (microseconds).
    pub async fn insert(&self, row: &MappedRow, written_at: i64) -> Result<(), ExecutionError> {
        let (ttl, at) = times(row, written_at);
        let values = bound(row, &ttl, &at);
        self.session.execute_unpaged(&self.insert, values).await?;
        Ok(())
    }

    /// Writes the rows, each at its write time, in one unlogged batch (see
    /// [`super::Store::upsert_batch`]).
    pub async fn insert_batch(&self, rows: &[(&MappedRow, i64)]) -> Result<(), ExecutionError> {
        let times: Vec<(Cell, Cell)> = rows.iter().map(|(row, at)| times(row, *at)).collect();
        let values: Vec<Vec<&Cell>> = rows
            .iter()
            .zip(&times)
            .map(|((row, _), (ttl, at))| bound(row, ttl, at))
            .collect();
        self.session
            .batch(&self.batches[rows.len() - 1], values)
            .await?;
        Ok(())
    }

    /// Deletes the row of this primary key (cells in key order) as of
    /// `written_at`: an insert of an earlier time, run after, does not
    /// bring it back.
    pub async fn delete(&self, key: &[Cell], written_at: i64) -> Result<(), ExecutionError> {
        let at = Cell::Value(CqlValue::BigInt(written_at));
        let values: Vec<&Cell> = std::iter::once(&at).chain(key).collect();
        self.session.execute_unpaged(&self.delete, values).await?;
        Ok(())
    }

    /// The replicas of the row (see [`batches::replicas`]): its partition
    /// key is its first cells.
    pub fn replicas(&self, row: &MappedRow) -> Option<Replicas> {
        let key: Vec<&Cell> = row.cells[..self.mapping.partition_key.len()]
            .iter()
            .collect();
        batches::replicas(&self.session, &self.name, &key)
    }
}

/// A row's time to live and write time as cells.
fn times(row: &MappedRow, written_at: i64) -> (Cell, Cell) {
    (
        Cell::Value(CqlValue::Int(row.ttl)),
        Cell::Value(CqlValue::BigInt(written_at)),
    )
}

/// The insert's values: the row's cells, then its time to live and time.
fn bound<'a>(row: &'a MappedRow, ttl: &'a Cell, at: &'a Cell) -> Vec<&'a Cell> {
    row.cells.iter().chain([ttl, at]).collect()
}

/// The bytes a row adds to a batch, as [`batches::row_bytes`] counts a
/// user's: per row, and per cell its value and its overhead.
pub fn mapped_row_bytes(row: &MappedRow) -> usize {
    const PER_ROW: usize = 48;
    const PER_CELL: usize = 24;
    let cells: usize = row
        .cells
        .iter()
        .map(|cell| match cell {
            Cell::Value(value) => value_bytes(value) + PER_CELL,
            Cell::Null => PER_CELL,
            Cell::Unset => 0,
        })
        .sum();
    PER_ROW + cells
}

/// About the bytes of a value as stored.
fn value_bytes(value: &CqlValue) -> usize {
    match value {
        CqlValue::Text(text) | CqlValue::Ascii(text) => text.len(),
        CqlValue::Blob(bytes) => bytes.len(),
        CqlValue::List(items) | CqlValue::Set(items) => {
            items.iter().map(|item| value_bytes(item) + 8).sum()
        }
        CqlValue::Map(entries) => entries
            .iter()
            .map(|(key, item)| value_bytes(key) + value_bytes(item) + 8)
            .sum(),
        CqlValue::Varint(_) | CqlValue::Decimal(_) | CqlValue::Uuid(_) | CqlValue::Timeuuid(_) => {
            16
        }
        _ => 8,
    }
}
