//! What a record gives a mapping besides its row: the row's time to live
//! and write time, and for a tombstone the primary key it deletes.

use scylla::value::CqlValue;
use serde_json::Value;

use super::convert::{convert, mismatch};
use super::types::{CqlType, Simple};
use super::{Cell, Json, Mapping, Path, RecordMeta, Ttl, lookup};

impl Mapping {
    /// The row's time to live in seconds: the mapping's constant, or the
    /// record's at the `ttl` path; none when the mapping sets none or the
    /// record has none there (then `cassandra.ttl` applies).
    pub fn ttl_of(&self, value: &Json<'_>, meta: &RecordMeta<'_>) -> Result<Option<i32>, String> {
        let path = match &self.ttl {
            None => return Ok(None),
            Some(Ttl::Seconds(seconds)) => return Ok(Some((*seconds).min(i32::MAX as u32) as i32)),
            Some(Ttl::Path(path)) => path,
        };
        let Some(found) = present(path, value, meta) else {
            return Ok(None);
        };
        match convert(&found, &CqlType::Simple(Simple::Int)) {
            Ok(Some(CqlValue::Int(seconds))) if seconds >= 0 => Ok(Some(seconds)),
            _ => Err(self.refusal("ttl", path, &mismatch("seconds, 0 or more", &found))),
        }
    }

    /// The row's write time in microseconds from the `write_time` path
    /// (epoch seconds, milliseconds or RFC 3339, as a timestamp column);
    /// none without one, or when the record has none there: then the
    /// record's own time orders the writes.
    pub fn write_time_of(
        &self,
        value: &Json<'_>,
        meta: &RecordMeta<'_>,
    ) -> Result<Option<i64>, String> {
        let Some(path) = &self.write_time else {
            return Ok(None);
        };
        let Some(found) = present(path, value, meta) else {
            return Ok(None);
        };
        match convert(&found, &CqlType::Simple(Simple::Timestamp)) {
            Ok(Some(CqlValue::Timestamp(at))) => {
                at.0.checked_mul(1000)
                    .map(Some)
                    .ok_or_else(|| self.refusal("write_time", path, &mismatch("a time", &found)))
            }
            _ => Err(self.refusal("write_time", path, &mismatch("a time", &found))),
        }
    }

    /// The primary key a tombstone deletes, from its Kafka key: the key's
    /// text for a one-column key, else a JSON object read with the key
    /// columns' paths. Cells in key order, as [`Mapping::columns`] has them.
    pub fn key_of(&self, key: Option<&[u8]>) -> Result<Vec<Cell>, String> {
        let shown = String::from_utf8_lossy(key.unwrap_or_default());
        let refuse = |why: String| {
            format!(
                "{}: tombstone with key `{}`: {why}",
                self.name,
                excerpt(&shown)
            )
        };
        let text = key
            .and_then(|key| std::str::from_utf8(key).ok())
            .ok_or_else(|| refuse("a key of UTF-8 text is needed to find the row".into()))?;
        let columns = &self.columns[..self.partition_key.len() + self.clustering.len()];
        let object = match columns {
            [_] => None,
            _ => Some(
                serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        refuse(
                            "the primary key has several columns: the key must be a JSON object"
                                .into(),
                        )
                    })?,
            ),
        };
        columns
            .iter()
            .map(|column| {
                let found = match (&object, &column.path) {
                    (None, _) => Some(Value::String(text.to_string())),
                    (Some(object), Path::Value(_)) => column.path.find(object).cloned(),
                    (Some(_), _) => None,
                };
                let found = found.ok_or_else(|| {
                    refuse(format!(
                        "no `{}` in it for column {}",
                        column.path, column.name
                    ))
                })?;
                match convert(&found, &column.kind) {
                    Ok(Some(converted)) => Ok(Cell::Value(converted)),
                    Ok(None) => Err(refuse(format!("column {} is null", column.name))),
                    Err(mismatch) => Err(refuse(format!("column {}: {mismatch}", column.name))),
                }
            })
            .collect()
    }

    fn refusal(&self, what: &str, path: &Path, why: &impl std::fmt::Display) -> String {
        format!("{}: {what}: path {path}: {why}", self.name)
    }
}

/// What `path` finds in the record, as serde_json's value; none when it is
/// absent or null (the option then falls back to its default).
fn present(path: &Path, value: &Json<'_>, meta: &RecordMeta<'_>) -> Option<Value> {
    lookup(path, value, meta)
        .map(|found| found.to_value())
        .filter(|found| !found.is_null())
}

/// A key as a reason quotes it: its first characters.
fn excerpt(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
