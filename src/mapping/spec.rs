//! A mapping as the settings spell it (`[[mapping]]`), before it is
//! checked and parsed into a [`super::Mapping`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One `[[mapping]]`: which topic feeds which table, and how each column
/// is made from a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// Names the mapping in metrics, logs, dead letters and `--mapping`.
    pub name: String,
    /// The Kafka topic whose records feed the table.
    pub topic: String,
    /// `keyspace.table`.
    pub table: String,
    /// CQL's primary key: `id`, `(a, b)` or `((a, b), c)` (partition key
    /// columns, then clustering columns).
    pub primary_key: String,
    /// Column name to where its value is and its CQL type.
    pub columns: BTreeMap<String, ColumnSpec>,
    /// How long rows live: seconds (0 is for ever), or a path to seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<TtlSpec>,
    /// A path to the write time; without it, the record's time with the
    /// partition-order rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_time: Option<String>,
    /// What a tombstone (a record without a value) deletes.
    #[serde(default)]
    pub deletes: Deletes,
    /// What a field absent from a record writes.
    #[serde(default)]
    pub absent: Absent,
    /// What the topic's records are: bare JSON, or Avro, Protobuf or JSON
    /// Schema in the schema registry's wire format.
    #[serde(default, skip_serializing_if = "Format::is_json")]
    pub format: Format,
}

/// Where a column's value is, and its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A time to live: a constant, or where each record says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TtlSpec {
    Seconds(u32),
    Path(String),
}

/// What a tombstone deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletes {
    /// The row whose primary key the record's key gives: the key's text
    /// for a one-column key, else a JSON object with the key columns' paths.
    #[default]
    ByKey,
    /// Nothing: tombstones are skipped.
    None,
}

/// What a topic's records are. Every format but `json` is the Confluent
/// wire format: a zero byte, the schema's id in four bytes, then the
/// record encoded with that schema, which `registry.url` serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A JSON object as it is, no framing.
    #[default]
    Json,
    Avro,
    Protobuf,
    JsonSchema,
}

impl Format {
    pub fn is_json(&self) -> bool {
        *self == Format::Json
    }

    /// As the settings spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
            Format::JsonSchema => "json-schema",
        }
    }
}

/// What a field absent from a record (or a path that leads nowhere) writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    /// A null: the column is emptied.
    #[default]
    Null,
    /// Nothing: the column keeps what it held (a partial update).
    Unset,
}
