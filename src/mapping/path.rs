//! Where a column's value is in a record: a path into the record's JSON
//! value (`length.new`, `tags[0]`, `meta.request_id`), or an `@`-path to
//! the Kafka record itself (`@key`, `@partition`, `@offset`, `@timestamp`,
//! `@header.NAME`).

use std::fmt;
use std::str::FromStr;

use super::borrowed::Json;

/// A path, parsed once when the settings load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Path {
    /// Into the record's value, one step after another.
    Value(Vec<Step>),
    /// The record's key, as text.
    Key,
    Partition,
    Offset,
    /// The record's time, in milliseconds since the Unix epoch.
    Timestamp,
    /// The last header of that name, as text.
    Header(String),
}

/// One step into a JSON value: a field of an object, or an item of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Field(String),
    Index(usize),
}

impl FromStr for Path {
    type Err = String;

    fn from_str(text: &str) -> Result<Path, String> {
        let error = |why: &str| format!("path `{text}`: {why}");
        if let Some(meta) = text.strip_prefix('@') {
            return match meta {
                "key" => Ok(Path::Key),
                "partition" => Ok(Path::Partition),
                "offset" => Ok(Path::Offset),
                "timestamp" => Ok(Path::Timestamp),
                _ => match meta.strip_prefix("header.") {
                    Some(name) if !name.is_empty() => Ok(Path::Header(name.to_string())),
                    _ => Err(error(
                        "the record's own paths are @key, @partition, @offset, @timestamp \
                         and @header.NAME",
                    )),
                },
            };
        }
        let mut steps = Vec::new();
        for part in text.split('.') {
            steps.extend(steps_of(part).map_err(|why| error(&why))?);
        }
        Ok(Path::Value(steps))
    }
}

/// The steps of one dotted part: a field name, then any `[N]` indexes.
fn steps_of(part: &str) -> Result<Vec<Step>, String> {
    let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
    if name.is_empty() {
        return Err("an empty field name (two dots, or a dot or `[` at an end)".into());
    }
    let mut steps = vec![Step::Field(name.to_string())];
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .and_then(|after| after.split_once(']'))
            .ok_or("an index is written [N], N a number from 0")?;
        let index = inner.0.parse().map_err(|_| {
            format!(
                "`[{}]` is not an index: an index is a number from 0",
                inner.0
            )
        })?;
        steps.push(Step::Index(index));
        rest = inner.1;
    }
    Ok(steps)
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Key => f.write_str("@key"),
            Path::Partition => f.write_str("@partition"),
            Path::Offset => f.write_str("@offset"),
            Path::Timestamp => f.write_str("@timestamp"),
            Path::Header(name) => write!(f, "@header.{name}"),
            Path::Value(steps) => {
                for (at, step) in steps.iter().enumerate() {
                    match step {
                        Step::Field(name) if at == 0 => f.write_str(name)?,
                        Step::Field(name) => write!(f, ".{name}")?,
                        Step::Index(index) => write!(f, "[{index}]")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// A JSON tree a path walks: serde_json's, or a record's borrowed one.
pub trait Tree {
    fn field(&self, name: &str) -> Option<&Self>;
    fn item(&self, index: usize) -> Option<&Self>;
}

impl Tree for serde_json::Value {
    fn field(&self, name: &str) -> Option<&Self> {
        self.get(name)
    }

    fn item(&self, index: usize) -> Option<&Self> {
        self.get(index)
    }
}

impl Tree for Json<'_> {
    fn field(&self, name: &str) -> Option<&Self> {
        Json::field(self, name)
    }

    fn item(&self, index: usize) -> Option<&Self> {
        Json::item(self, index)
    }
}

impl Path {
    /// The value at this path in `value`; none where the path leads
    /// nowhere (a field absent, an index past the end, a step into a
    /// number). Only for [`Path::Value`]; the others are the record's.
    pub fn find<'v, T: Tree>(&self, value: &'v T) -> Option<&'v T> {
        let Path::Value(steps) = self else {
            return None;
        };
        steps.iter().try_fold(value, |at, step| match step {
            Step::Field(name) => at.field(name),
            Step::Index(index) => at.item(*index),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let record = serde_json::json!({
            "length": {"new": 120, "old": null},
            "tags": ["a", "b"],
            "rows": [{"id": 1}, {"id": 2}]
        });
        let find = |text: &str| text.parse::<Path>().unwrap().find(&record).cloned();
        assert_eq!(find("length.new"), Some(serde_json::json!(120)));
        assert_eq!(find("length.old"), Some(serde_json::Value::Null));
        assert_eq!(find("tags[1]"), Some(serde_json::json!("b")));
        assert_eq!(find("rows[1].id"), Some(serde_json::json!(2)));
        assert_eq!(find("length.gone"), None);
        assert_eq!(find("tags[7]"), None);
        assert_eq!(find("length.new.deeper"), None);
        for text in ["length.new", "rows[1].id", "@key", "@header.trace-id"] {
            assert_eq!(text.parse::<Path>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_path_that_cannot_be_read_is_refused_saying_why() {
        for (bad, why) in [
            ("length..new", "empty field name"),
            ("tags[x]", "`[x]` is not an index"),
            ("tags[1", "[N]"),
            (".a", "empty field name"),
            ("@size", "@key, @partition"),
            ("@header.", "@header.NAME"),
        ] {
            let error = bad.parse::<Path>().unwrap_err();
            assert!(error.contains(&format!("path `{bad}`")), "{error}");
            assert!(error.contains(why), "{bad}: {error}");
        }
        assert_eq!(
            "@header.trace".parse::<Path>().unwrap(),
            Path::Header("trace".into())
        );
    }
}
