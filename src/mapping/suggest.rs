//! `rtds mapping suggest`: a mapping and its table guessed from a sample of
//! a topic's records, and where the guess was unsure, for a person to read
//! and change before `rtds schema`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::spec::{Absent, ColumnSpec, Deletes, Format, MappingSpec};
use crate::cassandra::check_name;

/// A guessed mapping, and what the guess was unsure of, in words.
pub struct Suggestion {
    pub spec: MappingSpec,
    pub unsure: Vec<String>,
}

/// The kinds of value seen at one path, and in how many records.
#[derive(Default)]
struct Seen {
    kinds: BTreeMap<&'static str, usize>,
    records: usize,
}

/// A mapping of `topic` into `keyspace`, its types guessed from `samples`
/// (each record's JSON value; tombstones and records that are not JSON
/// objects are left out by the caller and counted here as `skipped`).
pub fn suggest(topic: &str, keyspace: &str, samples: &[Value], skipped: usize) -> Suggestion {
    let mut paths: BTreeMap<String, Seen> = BTreeMap::new();
    for sample in samples {
        let mut here = BTreeMap::new();
        walk(sample, String::new(), &mut here);
        for (path, kind) in here {
            let seen = paths.entry(path).or_default();
            *seen.kinds.entry(kind).or_default() += 1;
            seen.records += 1;
        }
    }
    let mut unsure = Vec::new();
    if skipped > 0 {
        unsure.push(format!(
            "{skipped} records of the sample were not JSON objects (or tombstones) and were left out"
        ));
    }
    let mut columns = BTreeMap::new();
    for (path, seen) in &paths {
        let kind = choose(path, seen, samples.len(), &mut unsure);
        let column = ColumnSpec {
            path: path.clone(),
            kind,
        };
        columns.insert(column_name(path, &columns), column);
    }
    let primary_key = key_of(&mut columns, &mut unsure);
    let name = column_name(topic, &BTreeMap::new());
    Suggestion {
        spec: MappingSpec {
            table: format!("{keyspace}.{name}"),
            name,
            topic: topic.to_string(),
            primary_key,
            columns,
            ttl: None,
            write_time: None,
            deletes: Deletes::ByKey,
            absent: Absent::Null,
            format: Format::Json,
        },
        unsure,
    }
}

/// Every leaf of `value` by path, with the kind of value there; objects
/// are walked into, arrays are leaves (`list<...>`).
fn walk(value: &Value, path: String, out: &mut BTreeMap<String, &'static str>) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                let inner_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                walk(inner, inner_path, out);
            }
        }
        _ if path.is_empty() => {}
        other => {
            out.insert(path, kind_of(other));
        }
    }
}

/// The CQL type a single value suggests.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "bigint",
        Value::Number(_) => "double",
        Value::String(text) if text.parse::<uuid::Uuid>().is_ok() => "uuid",
        Value::String(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => "timestamp",
        Value::String(_) => "text",
        Value::Array(items) => {
            let kinds: std::collections::BTreeSet<&str> = items.iter().map(kind_of).collect();
            match kinds.into_iter().collect::<Vec<_>>()[..] {
                ["bigint"] => "list<bigint>",
                ["double"] | ["bigint", "double"] => "list<double>",
                ["boolean"] => "list<boolean>",
                ["uuid"] => "list<uuid>",
                _ => "list<text>",
            }
        }
        Value::Object(_) => "text",
    }
}

/// One type for a path from the kinds seen there, noting a doubt.
fn choose(path: &str, seen: &Seen, records: usize, unsure: &mut Vec<String>) -> String {
    let kinds: Vec<&str> = seen
        .kinds
        .keys()
        .copied()
        .filter(|k| *k != "null")
        .collect();
    let kind = match kinds[..] {
        [] => {
            unsure.push(format!("{path}: only nulls seen; text is a guess"));
            "text"
        }
        [one] => one,
        ["bigint", "double"] => "double",
        _ => {
            unsure.push(format!(
                "{path}: saw {}; text holds them all",
                kinds.join(" and ")
            ));
            "text"
        }
    };
    if seen.records < records {
        unsure.push(format!(
            "{path}: absent from {} of {records} records (written as null)",
            records - seen.records
        ));
    }
    kind.to_string()
}

/// A CQL column name for `path`, unlike any in `taken`.
fn column_name(path: &str, taken: &BTreeMap<String, ColumnSpec>) -> String {
    let mut name: String = path
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    name = name.trim_matches('_').to_string();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("c_{name}");
    }
    name.truncate(40);
    if check_name(&name).is_err() {
        name.push_str("_value");
    }
    let base = name.clone();
    let mut n = 2;
    while taken.contains_key(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The primary key: `id` when there is one, else the first uuid column,
/// else the record's place in the topic (every record a row of its own).
fn key_of(columns: &mut BTreeMap<String, ColumnSpec>, unsure: &mut Vec<String>) -> String {
    let keyable = |c: &ColumnSpec| !c.kind.contains('<');
    if columns.get("id").is_some_and(keyable) {
        return "id".into();
    }
    if let Some((name, _)) = columns.iter().find(|(_, c)| c.kind == "uuid") {
        unsure.push(format!(
            "no `id`: the key is {name}, the first uuid; change it if another field names a record"
        ));
        return name.clone();
    }
    unsure.push("no id field: keyed by the record's partition and offset, so every record is a row of its own".into());
    for (name, path, kind) in [
        ("kafka_partition", "@partition", "int"),
        ("kafka_offset", "@offset", "bigint"),
    ] {
        let column = ColumnSpec {
            path: path.into(),
            kind: kind.into(),
        };
        columns.insert(name.into(), column);
    }
    "((kafka_partition), kafka_offset)".into()
}

/// `rtds mapping suggest`: reads the newest `sample` records of the
/// settings' topic (spread over its partitions, never committing, as `rtds
/// status` reads), and renders the mapping they suggest, its doubts and its
/// table's CQL as settings to paste.
pub fn from_topic(settings: &crate::config::Settings, sample: usize) -> anyhow::Result<String> {
    use rdkafka::message::Message;
    let observer = crate::status::kafka::Observer::new(&settings.kafka)?;
    let name = &settings.kafka.topic;
    let topic = observer.topic_named(name)?.ok_or_else(|| {
        anyhow::anyhow!("topic {name} does not exist: name the topic to read with --topic")
    })?;
    let each = (sample / topic.partitions.len().max(1)).max(1) as i64;
    let from = topic
        .partitions
        .iter()
        .map(|p| (p.partition, (p.high - each).max(p.low)))
        .collect();
    let (mut samples, mut skipped) = (Vec::new(), 0);
    observer.read(&topic, &from, |message| {
        let value = message
            .payload()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok());
        match value.filter(Value::is_object) {
            Some(value) => samples.push(value),
            None => skipped += 1,
        }
        Ok(())
    })?;
    if samples.is_empty() {
        anyhow::bail!(
            "no record of {name} read was a JSON object ({skipped} were not): nothing to guess a mapping from"
        );
    }
    let suggestion = suggest(name, &settings.cassandra.keyspace, &samples, skipped);
    Ok(render(&suggestion, samples.len() + skipped))
}

/// The suggestion as settings to paste: the doubts and the table's CQL as
/// comments around the `[[mapping]]` entry.
fn render(suggestion: &Suggestion, read: usize) -> String {
    let mut text = format!(
        "# Suggested from the newest {read} records of {}: read it, change what is\n\
         # wrong, put it in the settings, then run `rtds schema`.\n",
        suggestion.spec.topic
    );
    for doubt in &suggestion.unsure {
        text.push_str(&format!("# unsure: {doubt}\n"));
    }
    text.push_str(&super::as_settings(&suggestion.spec));
    if let Ok(mapping) = super::Mapping::parse(&suggestion.spec) {
        text.push_str(&format!(
            "\n# The table it makes:\n# {};\n",
            mapping.create_table()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::Mapping;

    #[test]
    fn a_sample_suggests_types_a_key_and_its_doubts() {
        let samples = [
            json!({"id": 7, "user": {"name": "Ann", "bot": false}, "at": "2024-05-01T10:00:00Z",
                   "tags": ["a"], "size": 3, "ref": "67e55044-10b1-426f-9247-bb680e5fe0c8"}),
            json!({"id": 8, "user": {"name": "Bo", "bot": true}, "at": "2024-05-01T10:00:01Z",
                   "tags": [], "size": 2.5, "note": null, "mixed": 1}),
            json!({"id": 9, "user": {"name": "Cy", "bot": false}, "at": "2024-05-01T10:00:02Z",
                   "tags": ["b", "c"], "size": 4, "mixed": "x"}),
        ];
        let suggestion = suggest("wiki-edits", "wiki", &samples, 1);
        let spec = &suggestion.spec;
        assert_eq!(
            (spec.name.as_str(), spec.table.as_str()),
            ("wiki_edits", "wiki.wiki_edits")
        );
        assert_eq!(spec.primary_key, "id");
        let kind = |name: &str| spec.columns[name].kind.as_str();
        assert_eq!(kind("id"), "bigint");
        assert_eq!(kind("user_name"), "text");
        assert_eq!(spec.columns["user_name"].path, "user.name");
        assert_eq!(kind("user_bot"), "boolean");
        assert_eq!(kind("at"), "timestamp");
        assert_eq!(kind("size"), "double");
        assert_eq!(kind("ref"), "uuid");
        assert_eq!(kind("mixed"), "text");
        let doubts = suggestion.unsure.join("\n");
        for words in [
            "1 records of the sample",
            "note: only nulls",
            "mixed: saw bigint and text",
            "ref: absent from 2 of 3",
        ] {
            assert!(doubts.contains(words), "{doubts} lacks {words}");
        }
        Mapping::parse(spec).expect("a suggestion is a mapping that works");
    }

    #[test]
    fn without_an_id_a_record_is_keyed_by_its_place() {
        let suggestion = suggest("t", "ks", &[json!({"v": 1, "2nd": "x", "select": 1})], 0);
        let spec = &suggestion.spec;
        assert_eq!(spec.primary_key, "((kafka_partition), kafka_offset)");
        assert_eq!(spec.columns["kafka_offset"].path, "@offset");
        assert!(spec.columns.contains_key("c_2nd"));
        assert!(
            spec.columns.contains_key("select_value"),
            "a reserved word is renamed"
        );
        Mapping::parse(spec).expect("a suggestion is a mapping that works");
    }
}
