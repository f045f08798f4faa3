use serde_json::json;

use super::*;

/// The mapping the issue gives, as a user would write it.
const EDITS: &str = r#"
[[mapping]]
name = "edits"
topic = "wiki_edits"
table = "wiki.edits"
primary_key = "((wiki), id)"
[mapping.columns]
wiki       = { path = "wiki", type = "text" }
id         = { path = "id", type = "bigint" }
title      = { path = "title", type = "text" }
editor     = { path = "user", type = "text" }
bot        = { path = "bot", type = "boolean" }
at         = { path = "timestamp", type = "timestamp" }
new_length = { path = "length.new", type = "int" }
old_length = { path = "length.old", type = "int" }
request_id = { path = "meta.request_id", type = "uuid" }
tags       = { path = "tags", type = "list<text>" }
partition  = { path = "@partition", type = "int" }
"#;

#[derive(serde::Deserialize)]
struct File {
    mapping: Vec<MappingSpec>,
}

fn edits() -> Mapping {
    let file: File = toml::from_str(EDITS).unwrap();
    Mapping::parse(&file.mapping[0]).unwrap()
}

fn cell<'a>(mapping: &Mapping, row: &'a [Cell], name: &str) -> &'a Cell {
    let at = mapping.columns.iter().position(|c| c.name == name).unwrap();
    &row[at]
}

#[test]
fn the_example_mapping_reads_and_makes_its_table() {
    let mapping = edits();
    assert_eq!(
        (mapping.keyspace.as_str(), mapping.table.as_str()),
        ("wiki", "edits")
    );
    assert_eq!(mapping.partition_key, ["wiki"]);
    assert_eq!(mapping.clustering, ["id"]);
    let names: Vec<&str> = mapping.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&names[..2], ["wiki", "id"], "key columns first");
    assert_eq!(
        mapping.create_table(),
        "CREATE TABLE IF NOT EXISTS wiki.edits (wiki text, id bigint, at timestamp, bot boolean, \
         editor text, new_length int, old_length int, partition int, request_id uuid, \
         tags frozen<list<text>>, title text, PRIMARY KEY ((wiki), id))"
    );
}

#[test]
fn a_record_makes_a_row_with_nulls_where_fields_are_absent() {
    let mapping = edits();
    let record = json!({
        "wiki": "enwiki", "id": 42, "title": "Zürich", "user": "Ann", "bot": false,
        "timestamp": 1_700_000_000, "length": {"new": 120},
        "meta": {"request_id": "67e55044-10b1-426f-9247-bb680e5fe0c8"}, "tags": ["a", "b"]
    });
    let meta = RecordMeta {
        partition: 3,
        ..RecordMeta::default()
    };
    let row = mapping.row(&Json::from(&record), &meta).unwrap();
    assert_eq!(
        cell(&mapping, &row, "id"),
        &Cell::Value(CqlValue::BigInt(42))
    );
    assert_eq!(
        cell(&mapping, &row, "title"),
        &Cell::Value(CqlValue::Text("Zürich".into()))
    );
    assert_eq!(cell(&mapping, &row, "old_length"), &Cell::Null);
    assert_eq!(
        cell(&mapping, &row, "partition"),
        &Cell::Value(CqlValue::Int(3))
    );
    let mut unset = mapping.clone();
    unset.absent = Absent::Unset;
    let row = unset.row(&Json::from(&record), &meta).unwrap();
    assert_eq!(cell(&unset, &row, "old_length"), &Cell::Unset);
}

#[test]
fn a_record_that_does_not_fit_says_where_and_why() {
    let mapping = edits();
    let meta = RecordMeta::default();
    let bad = json!({"wiki": "enwiki", "id": 1, "length": {"new": "12a"}});
    assert_eq!(
        mapping.row(&Json::from(&bad), &meta).unwrap_err(),
        r#"edits: column new_length: path length.new: expected int, found "12a""#
    );
    let keyless = json!({"wiki": "enwiki"});
    let error = mapping.row(&Json::from(&keyless), &meta).unwrap_err();
    assert!(
        error.starts_with("edits: column id: path id: absent"),
        "{error}"
    );
}

#[test]
fn headers_and_keys_are_read_from_the_record() {
    let mut spec = builtin_spec("t", "ks", "users");
    spec.columns.insert(
        "source".into(),
        ColumnSpec {
            path: "@header.source".into(),
            kind: "text".into(),
        },
    );
    spec.columns.insert(
        "k".into(),
        ColumnSpec {
            path: "@key".into(),
            kind: "text".into(),
        },
    );
    let mapping = Mapping::parse(&spec).unwrap();
    let headers = [
        ("source".to_string(), Some(b"old".to_vec())),
        ("source".to_string(), Some(b"api".to_vec())),
    ];
    let meta = RecordMeta {
        key: Some(b"the-key"),
        headers: &headers,
        ..RecordMeta::default()
    };
    let id = uuid::Uuid::new_v4();
    let row = mapping
        .row(&Json::from(&json!({"id": id.to_string()})), &meta)
        .unwrap();
    assert_eq!(
        cell(&mapping, &row, "source"),
        &Cell::Value(CqlValue::Text("api".into()))
    );
    assert_eq!(
        cell(&mapping, &row, "k"),
        &Cell::Value(CqlValue::Text("the-key".into()))
    );
    assert_eq!(cell(&mapping, &row, "id"), &Cell::Value(CqlValue::Uuid(id)));
}

#[test]
fn a_mapping_that_cannot_work_is_refused_naming_it() {
    let refused = |change: &dyn Fn(&mut MappingSpec)| {
        let mut spec = builtin_spec("t", "ks", "users");
        change(&mut spec);
        Mapping::parse(&spec).unwrap_err()
    };
    let column = |kind: &str, path: &str| ColumnSpec {
        path: path.into(),
        kind: kind.into(),
    };
    for (error, words) in [
        (
            refused(&|s| {
                s.columns
                    .insert("n".into(), column("integer", "n"))
                    .map(drop)
                    .unwrap_or(())
            }),
            "column n: unknown type `integer`",
        ),
        (
            refused(&|s| {
                s.columns
                    .insert("n".into(), column("int", "a..b"))
                    .map(drop)
                    .unwrap_or(())
            }),
            "column n: path `a..b`",
        ),
        (
            refused(&|s| s.primary_key = "((id), missing)".into()),
            "primary key column `missing` has no entry",
        ),
        (
            refused(&|s| s.primary_key = "((id)".into()),
            "primary_key `((id)`",
        ),
        (refused(&|s| s.table = "nodot".into()), "keyspace.table"),
        (refused(&|s| s.table = "ks.Users".into()), "lower case"),
        (refused(&|s| s.topic = String::new()), "no topic"),
    ] {
        assert!(error.starts_with("mapping `users`: "), "{error}");
        assert!(error.contains(words), "{error} lacks {words}");
    }
    let mut spec = builtin_spec("t", "ks", "users");
    spec.columns
        .insert("tags".into(), column("set<text>", "tags"));
    spec.primary_key = "((id), tags)".into();
    assert!(
        Mapping::parse(&spec)
            .unwrap_err()
            .contains("cannot be a collection")
    );
}

#[test]
fn primary_keys_read_as_cql_writes_them() {
    let key = |text: &str| parse_primary_key(text).unwrap();
    let strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(key("id"), (strings(&["id"]), vec![]));
    assert_eq!(key("(a, b)"), (strings(&["a"]), strings(&["b"])));
    assert_eq!(
        key("((a, b), c, d)"),
        (strings(&["a", "b"]), strings(&["c", "d"]))
    );
    assert_eq!(key(" ( (a) ) "), (strings(&["a"]), vec![]));
    for bad in ["", "a, b", "((a), )", "(a", "((a) b)"] {
        assert!(parse_primary_key(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_builtin_mapping_is_the_users_table() {
    let spec = builtin_spec("users_created", "spark_streams", "created_users");
    let mapping = Mapping::parse(&spec).unwrap();
    assert_eq!(mapping.columns.len(), 12);
    assert_eq!(mapping.columns[0].name, "id");
    assert_eq!(
        mapping.create_table(),
        format!(
            "CREATE TABLE IF NOT EXISTS spark_streams.created_users ({}, PRIMARY KEY ((id)))",
            mapping
                .columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.kind))
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    let printed: File = toml::from_str(&as_settings(&spec)).unwrap();
    assert_eq!(printed.mapping, [spec]);
}

/// A row's time to live and write time come from the record where the
/// mapping says, or fall back (none: `cassandra.ttl`, the record's time);
/// a value that cannot be one is refused saying where.
#[test]
fn time_to_live_and_write_time_come_from_the_record() {
    let mut mapping = edits();
    let meta = RecordMeta::default();
    let record = Json::from(&json!({"keep": 600, "at": "2024-05-01T00:00:00Z", "bad": "soon"}));
    assert_eq!(mapping.ttl_of(&record, &meta), Ok(None));
    assert_eq!(mapping.write_time_of(&record, &meta), Ok(None));
    mapping.ttl = Some(Ttl::Seconds(30));
    assert_eq!(mapping.ttl_of(&record, &meta), Ok(Some(30)));
    mapping.ttl = Some(Ttl::Path("keep".parse().unwrap()));
    mapping.write_time = Some("at".parse().unwrap());
    assert_eq!(mapping.ttl_of(&record, &meta), Ok(Some(600)));
    assert_eq!(
        mapping.write_time_of(&record, &meta),
        Ok(Some(1_714_521_600_000_000))
    );
    mapping.ttl = Some(Ttl::Path("gone".parse().unwrap()));
    assert_eq!(
        mapping.ttl_of(&record, &meta),
        Ok(None),
        "absent: the default"
    );
    mapping.ttl = Some(Ttl::Path("bad".parse().unwrap()));
    let refused = mapping.ttl_of(&record, &meta).unwrap_err();
    assert!(refused.starts_with("edits: ttl: path bad:"), "{refused}");
}

/// A tombstone's key gives the primary key it deletes: its text for a
/// one-column key, a JSON object for a composite one; a key that cannot
/// is refused saying why.
#[test]
fn a_tombstone_key_gives_the_primary_key() {
    let composite = edits();
    let key = composite
        .key_of(Some(br#"{"wiki": "en", "id": 42}"#))
        .unwrap();
    assert_eq!(
        key,
        [
            Cell::Value(CqlValue::Text("en".into())),
            Cell::Value(CqlValue::BigInt(42))
        ]
    );
    let refused = composite.key_of(Some(b"42")).unwrap_err();
    assert!(refused.contains("must be a JSON object"), "{refused}");
    let refused = composite.key_of(Some(br#"{"wiki": "en"}"#)).unwrap_err();
    assert!(refused.contains("no `id` in it for column id"), "{refused}");
    let single = Mapping::parse(&builtin_spec("t", "ks", "users")).unwrap();
    let id = uuid::Uuid::new_v4();
    assert_eq!(
        single.key_of(Some(id.to_string().as_bytes())).unwrap(),
        [Cell::Value(CqlValue::Uuid(id))]
    );
    let refused = single.key_of(Some(b"not-a-uuid")).unwrap_err();
    assert!(
        refused.starts_with("users: tombstone with key `not-a-uuid`"),
        "{refused}"
    );
    assert!(single.key_of(None).is_err());
}
