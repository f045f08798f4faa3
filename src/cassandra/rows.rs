//! Reading a mapping's table: some of its rows and their count, for
//! `rtds rows`, the status and the dashboard. Reads change nothing.

use anyhow::Context;
use scylla::client::session::Session;
use scylla::value::{CqlValue, Row};

use super::count_rows;
use crate::mapping::{CqlType, Mapping};

/// A stored row: its cells in the mapping's column order, and when it was
/// last written (microseconds), as its first plain column outside the key
/// says (a collection's cells each have their own time).
pub struct StoredRow {
    pub cells: Vec<Option<CqlValue>>,
    pub written_at: Option<i64>,
}

/// Up to `limit` rows of the mapping's table, in token order.
pub async fn read_rows(
    session: &Session,
    mapping: &Mapping,
    limit: u32,
) -> anyhow::Result<Vec<StoredRow>> {
    let names: Vec<&str> = mapping.columns.iter().map(|c| c.name.as_str()).collect();
    let keys = mapping.partition_key.len() + mapping.clustering.len();
    let plain = mapping.columns[keys..]
        .iter()
        .find(|column| matches!(column.kind, CqlType::Simple(_)));
    let written = match plain {
        Some(column) => format!("WRITETIME({})", column.name),
        None => "null".into(),
    };
    let table = format!("{}.{}", mapping.keyspace, mapping.table);
    let query = format!(
        "SELECT {}, {written} FROM {table} LIMIT {limit}",
        names.join(", ")
    );
    let result = session
        .query_unpaged(query, ())
        .await
        .with_context(|| format!("cannot read {table} (mapping `{}`)", mapping.name))?
        .into_rows_result()?;
    let mut rows = Vec::new();
    for row in result.rows::<Row>()? {
        let mut cells = row?.columns;
        let written_at = match cells.pop().flatten() {
            Some(CqlValue::BigInt(at)) => Some(at),
            _ => None,
        };
        rows.push(StoredRow { cells, written_at });
    }
    Ok(rows)
}

/// The newest `limit` of `rows`, newest first: what the dashboard shows
/// of a mapping's table.
pub fn newest(mut rows: Vec<StoredRow>, limit: usize) -> Vec<StoredRow> {
    rows.sort_by_key(|row| std::cmp::Reverse(row.written_at));
    rows.truncate(limit);
    rows
}

/// How many rows the mapping's table holds.
pub async fn count_mapped(session: &Session, mapping: &Mapping) -> anyhow::Result<u64> {
    let table = format!("{}.{}", mapping.keyspace, mapping.table);
    count_rows(session, &table, &mapping.partition_key.join(", ")).await
}
