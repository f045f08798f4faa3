//! Mappings: which topic feeds which table, and how each column is made
//! from a record (`[[mapping]]` in the settings). The users pipeline is the
//! built-in one ([`builtin_spec`]).
//!
//! A mapping is checked whole when the settings load ([`Mapping::parse`]):
//! every type, path and name, and a primary key whose columns all have a
//! path and a type a key may have. A record is made into a row by
//! [`Mapping::row`], or refused with the mapping, column, path, expected
//! type and an excerpt of the value; `types`, `path` and `convert` are its
//! parts, `spec` its spelling in the settings, and `suggest` guesses one
//! from a sample of a topic.

pub mod borrowed;
pub mod convert;
pub mod json;
pub mod path;
pub mod record;
pub mod spec;
pub mod suggest;
pub mod types;

use std::borrow::Cow;
use std::collections::BTreeMap;

use scylla::value::CqlValue;

use crate::cassandra::check_name;
pub use borrowed::Json;
pub use path::Path;
pub use spec::{Absent, ColumnSpec, Deletes, Format, MappingSpec, TtlSpec};
pub use types::CqlType;

/// A mapping, checked and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub name: String,
    pub topic: String,
    pub keyspace: String,
    pub table: String,
    /// Partition key columns, then clustering columns, by name.
    pub partition_key: Vec<String>,
    pub clustering: Vec<String>,
    /// Key columns first, in key order, then the others by name.
    pub columns: Vec<Column>,
    pub ttl: Option<Ttl>,
    pub write_time: Option<Path>,
    pub deletes: Deletes,
    pub absent: Absent,
    pub format: Format,
}

/// One column: its name, where its value is, and its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub path: Path,
    pub kind: CqlType,
}

/// A time to live: a constant, or where each record says it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ttl {
    Seconds(u32),
    Path(Path),
}

/// What a column of one record holds: a value, a null, or nothing at all
/// (left unset, a partial update).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Value(CqlValue),
    Null,
    Unset,
}

/// The Kafka record a row is made from, besides its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordMeta<'a> {
    pub key: Option<&'a [u8]>,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<i64>,
    pub headers: &'a [(String, Option<Vec<u8>>)],
}

impl Mapping {
    /// Checks `spec` whole; the error names the mapping and what is wrong.
    pub fn parse(spec: &MappingSpec) -> Result<Mapping, String> {
        parse_spec(spec).map_err(|why| format!("mapping `{}`: {why}", spec.name))
    }

    /// The row `value` makes, cell by cell in [`Mapping::columns`] order, or
    /// why it cannot: `edits: column new_length: path length.new: expected
    /// int, found "12a"`.
    pub fn row(&self, value: &Json<'_>, meta: &RecordMeta<'_>) -> Result<Vec<Cell>, String> {
        self.columns
            .iter()
            .map(|column| {
                self.cell(column, value, meta).map_err(|why| {
                    format!(
                        "{}: column {}: path {}: {why}",
                        self.name, column.name, column.path
                    )
                })
            })
            .collect()
    }

    fn cell(
        &self,
        column: &Column,
        value: &Json<'_>,
        meta: &RecordMeta<'_>,
    ) -> Result<Cell, String> {
        let Some(found) = lookup(&column.path, value, meta) else {
            let key = self.is_key(&column.name);
            return match self.absent {
                _ if key => Err("absent, and a key column needs a value".into()),
                Absent::Null => Ok(Cell::Null),
                Absent::Unset => Ok(Cell::Unset),
            };
        };
        match convert::convert_json(&found, &column.kind) {
            Ok(Some(converted)) => Ok(Cell::Value(converted)),
            Ok(None) if self.is_key(&column.name) => {
                Err("null, and a key column needs a value".into())
            }
            Ok(None) => Ok(Cell::Null),
            Err(mismatch) => Err(mismatch.to_string()),
        }
    }

    fn is_key(&self, column: &str) -> bool {
        self.partition_key
            .iter()
            .chain(&self.clustering)
            .any(|key| key == column)
    }

    /// The CQL that creates the table, its columns typed as the mapping says.
    pub fn create_table(&self) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|column| format!("{} {}", column.name, column.kind.column_type()))
            .collect();
        let partition = format!("({})", self.partition_key.join(", "));
        let key: Vec<&str> = std::iter::once(partition.as_str())
            .chain(self.clustering.iter().map(String::as_str))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {}.{} ({}, PRIMARY KEY ({}))",
            self.keyspace,
            self.table,
            columns.join(", "),
            key.join(", ")
        )
    }
}

/// What `path` finds in the record: in its value (borrowed, not copied:
/// this runs for every column of every record), or for an `@`-path in the
/// record itself.
fn lookup<'v, 'a>(
    path: &Path,
    value: &'v Json<'a>,
    meta: &RecordMeta<'_>,
) -> Option<Cow<'v, Json<'a>>> {
    match path {
        Path::Value(_) => path.find(value).map(Cow::Borrowed),
        other => meta_value(other, meta).map(Cow::Owned),
    }
}

/// The value an `@`-path takes from the record itself, as JSON so that it
/// converts like any other.
fn meta_value(path: &Path, meta: &RecordMeta<'_>) -> Option<Json<'static>> {
    let text = |bytes: &[u8]| Json::Str(Cow::Owned(String::from_utf8_lossy(bytes).into_owned()));
    match path {
        Path::Key => meta.key.map(text),
        Path::Partition => Some(Json::Number(meta.partition.into())),
        Path::Offset => Some(Json::Number(meta.offset.into())),
        Path::Timestamp => meta.timestamp.map(|ms| Json::Number(ms.into())),
        Path::Header(name) => meta
            .headers
            .iter()
            .rev()
            .find(|(header, _)| header == name)
            .and_then(|(_, value)| value.as_deref().map(text)),
        Path::Value(_) => None,
    }
}

fn parse_spec(spec: &MappingSpec) -> Result<Mapping, String> {
    check_name(&spec.name).map_err(|why| format!("name: {why}"))?;
    if spec.topic.trim().is_empty() {
        return Err("no topic: set `topic` to the Kafka topic that feeds the table".into());
    }
    let (keyspace, table) = spec
        .table
        .split_once('.')
        .ok_or_else(|| format!("table `{}`: write it keyspace.table", spec.table))?;
    check_name(keyspace).map_err(|why| format!("keyspace: {why}"))?;
    check_name(table).map_err(|why| format!("table: {why}"))?;
    let mut declared = BTreeMap::new();
    for (name, column) in &spec.columns {
        check_name(name).map_err(|why| format!("column: {why}"))?;
        let path = column
            .path
            .parse()
            .map_err(|why| format!("column {name}: {why}"))?;
        let kind = column
            .kind
            .parse()
            .map_err(|why| format!("column {name}: {why}"))?;
        declared.insert(
            name.clone(),
            Column {
                name: name.clone(),
                path,
                kind,
            },
        );
    }
    let (partition_key, clustering) = parse_primary_key(&spec.primary_key)?;
    let mut columns = Vec::new();
    for key in partition_key.iter().chain(&clustering) {
        let column = declared.remove(key).ok_or_else(|| {
            format!(
                "primary key column `{key}` has no entry in [mapping.columns] (a path and a type)"
            )
        })?;
        if !column.kind.keyable() {
            return Err(format!(
                "primary key column `{key}` is a {}: a key cannot be a collection",
                column.kind
            ));
        }
        columns.push(column);
    }
    columns.extend(declared.into_values());
    Ok(Mapping {
        name: spec.name.clone(),
        topic: spec.topic.clone(),
        keyspace: keyspace.to_string(),
        table: table.to_string(),
        partition_key,
        clustering,
        columns,
        ttl: parse_ttl(spec.ttl.as_ref())?,
        write_time: spec
            .write_time
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|why| format!("write_time: {why}"))?,
        deletes: spec.deletes,
        absent: spec.absent,
        format: spec.format,
    })
}

fn parse_ttl(ttl: Option<&TtlSpec>) -> Result<Option<Ttl>, String> {
    Ok(match ttl {
        None => None,
        Some(TtlSpec::Seconds(seconds)) => Some(Ttl::Seconds(*seconds)),
        Some(TtlSpec::Path(path)) => Some(Ttl::Path(
            path.parse().map_err(|why| format!("ttl: {why}"))?,
        )),
    })
}

/// `id`, `(a, b)`, `((a, b), c)`: the partition key columns, then the
/// clustering columns.
fn parse_primary_key(text: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let refuse =
        || format!("primary_key `{text}`: write it as CQL does: `id`, `(a, b)` or `((a, b), c)`");
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|name| name.trim().to_string())
            .collect()
    };
    let trimmed = text.trim();
    let Some(inner) = trimmed.strip_prefix('(') else {
        if trimmed.is_empty() || trimmed.contains([',', ')']) {
            return Err(refuse());
        }
        return Ok((vec![trimmed.to_string()], Vec::new()));
    };
    let inner = inner.strip_suffix(')').ok_or_else(refuse)?.trim();
    let (partition, clustering) = match inner.strip_prefix('(') {
        Some(rest) => {
            let (partition, after) = rest.split_once(')').ok_or_else(refuse)?;
            let after = after.trim();
            let clustering = match after.strip_prefix(',') {
                Some(rest) => names(rest),
                None if after.is_empty() => Vec::new(),
                None => return Err(refuse()),
            };
            (names(partition), clustering)
        }
        None => {
            let mut all = names(inner);
            let partition = vec![all.remove(0)];
            (partition, all)
        }
    };
    if partition
        .iter()
        .chain(&clustering)
        .any(|name| name.is_empty() || name.contains(['(', ')']))
    {
        return Err(refuse());
    }
    Ok((partition, clustering))
}

/// The entries named in `names` (every one when empty), parsed; an error
/// for a name no entry has, listing those there are.
pub fn chosen(specs: &[MappingSpec], names: &[String]) -> anyhow::Result<Vec<Mapping>> {
    for name in names {
        if !specs.iter().any(|spec| spec.name == *name) {
            let known: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
            anyhow::bail!(
                "--mapping {name}: no [[mapping]] entry has that name; the settings have {}",
                known.join(", ")
            );
        }
    }
    specs
        .iter()
        .filter(|spec| names.is_empty() || names.contains(&spec.name))
        .map(|spec| Mapping::parse(spec).map_err(anyhow::Error::msg))
        .collect()
}

/// The users pipeline as a mapping: the table and columns rtds has always
/// written, for `rtds config --builtin-mapping` to print.
pub fn builtin_spec(topic: &str, keyspace: &str, table: &str) -> MappingSpec {
    let columns = crate::cassandra::SCHEMA
        .iter()
        .map(|(name, kind)| {
            let column = ColumnSpec {
                path: name.to_string(),
                kind: kind.to_string(),
            };
            (name.to_string(), column)
        })
        .collect();
    MappingSpec {
        name: "users".into(),
        topic: topic.into(),
        table: format!("{keyspace}.{table}"),
        primary_key: "id".into(),
        columns,
        ttl: None,
        write_time: None,
        deletes: Deletes::ByKey,
        absent: Absent::Null,
        format: Format::Json,
    }
}

/// `spec` as a `[[mapping]]` entry of the settings file.
pub fn as_settings(spec: &MappingSpec) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        mapping: [&'a MappingSpec; 1],
    }
    toml::to_string(&Entry { mapping: [spec] }).expect("a mapping always serializes")
}

#[cfg(test)]
mod tests;
