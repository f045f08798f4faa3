//! Mappings (`[[mapping]]`) on the real local Cassandra: `rtds schema`
//! makes each mapping's table from its types, adds a column the mapping
//! gained, and refuses a table whose column has another type; a mapping
//! that cannot work is refused before anything starts, and so is a
//! `--mapping` name no entry has; `rtds mapping suggest` reads a topic and
//! prints an entry which, pasted as it is, makes its table and carries
//! every record into it once (the README's "Your own data").

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// The issue's example mapping into `keyspace`, with `extra` lines added
/// to its columns.
fn edits(keyspace: &str, extra: &str) -> String {
    format!(
        r#"
[[mapping]]
name = "edits"
topic = "wiki_edits"
table = "{keyspace}.edits"
primary_key = "((wiki), id)"
[mapping.columns]
wiki       = {{ path = "wiki", type = "text" }}
id         = {{ path = "id", type = "bigint" }}
at         = {{ path = "timestamp", type = "timestamp" }}
new_length = {{ path = "length.new", type = "int" }}
tags       = {{ path = "tags", type = "list<text>" }}
counts     = {{ path = "counts", type = "map<text, int>" }}
partition  = {{ path = "@partition", type = "int" }}
{extra}
"#
    )
}

/// A settings file holding `text`, in a folder removed when dropped.
fn settings_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rtds.toml");
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn schema(config: &Path) -> std::process::Output {
    rtds_command_with_config(config, &["schema"])
        .output()
        .expect("the rtds binary runs")
}

/// The table's columns as Cassandra has them: name, type and kind.
fn columns(keyspace: &str) -> Vec<(String, String, String)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let rows = session()
            .await
            .query_unpaged(
                "SELECT column_name, type, kind FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = 'edits'",
                (keyspace,),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let mut found: Vec<(String, String, String)> = rows
            .rows::<(String, String, String)>()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        found.sort();
        found
    })
}

#[test]
fn schema_makes_a_mapped_table_from_its_types_and_keeps_it_checked() {
    require_stack();
    let keyspace = unique("mapped");
    let (_dir, config) = settings_file(&edits(&keyspace, ""));

    let made = schema(&config);
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains(&format!("CREATE TABLE IF NOT EXISTS {keyspace}.edits")),
        "{}",
        text(&made)
    );
    let kind = |name: &str| {
        columns(&keyspace)
            .into_iter()
            .find(|(column, _, _)| column == name)
            .map(|(_, kind, role)| (kind, role))
    };
    assert_eq!(kind("wiki"), Some(("text".into(), "partition_key".into())));
    assert_eq!(kind("id"), Some(("bigint".into(), "clustering".into())));
    // A list is frozen: written again whole, it is replaced, not appended to.
    assert_eq!(
        kind("tags"),
        Some(("frozen<list<text>>".into(), "regular".into()))
    );
    assert_eq!(
        kind("counts"),
        Some(("map<text, int>".into(), "regular".into()))
    );
    assert_eq!(kind("at"), Some(("timestamp".into(), "regular".into())));

    let again = schema(&config);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("is ready: nothing to create"),
        "{}",
        text(&again)
    );

    let gained = r#"title = { path = "title", type = "text" }"#;
    std::fs::write(&config, edits(&keyspace, gained)).unwrap();
    let added = schema(&config);
    assert!(
        text(&added).contains(&format!("ALTER TABLE {keyspace}.edits ADD title text")),
        "{}",
        text(&added)
    );
    assert_eq!(kind("title"), Some(("text".into(), "regular".into())));

    let changed = edits(&keyspace, "").replace(
        r#"path = "length.new", type = "int""#,
        r#"path = "length.new", type = "bigint""#,
    );
    std::fs::write(&config, changed).unwrap();
    let refused = schema(&config);
    assert_fails_naming(
        &refused,
        &[
            "mapping `edits`",
            "`new_length` of type int",
            "writes bigint",
        ],
    );
}

#[test]
fn a_mapping_that_cannot_work_is_refused_before_anything_starts() {
    let bad = edits("wiki", "").replace(r#"type = "list<text>""#, r#"type = "list<texts>""#);
    let (_dir, config) = settings_file(&bad);
    // No service is reached: the settings are refused as they load.
    let output = rtds_command_with_config(&config, &["schema", "--contact-points", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_fails_naming(
        &output,
        &["mapping `edits`", "column tags", "unknown type `texts`"],
    );
}

/// `--mapping` must name an entry: a misspelt name would run nothing.
#[test]
fn process_refuses_a_mapping_name_the_settings_lack() {
    let (_dir, config) = settings_file(&edits("wiki", ""));
    let output = rtds_command_with_config(&config, &["process", "--mapping", "edit"])
        .output()
        .unwrap();
    assert_fails_naming(&output, &["--mapping edit", "the settings have edits"]);
    let output = rtds(&["process", "--mapping", "edits"]);
    assert_fails_naming(&output, &["--mapping edits", "the settings have none"]);
}

#[test]
fn the_builtin_mapping_prints_as_an_entry_that_loads_back() {
    let printed = rtds(&["config", "--builtin-mapping"]);
    assert!(printed.status.success(), "{}", text(&printed));
    let entry = String::from_utf8(printed.stdout).unwrap();
    assert!(
        entry.starts_with("[[mapping]]\nname = \"users\""),
        "{entry}"
    );
    assert!(
        entry.contains("table = \"spark_streams.created_users\""),
        "{entry}"
    );
    let (_dir, config) = settings_file(&entry);
    let loaded = rtds_command_with_config(&config, &["config"])
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{}", text(&loaded));
    assert!(
        text(&loaded).contains("[mapping.columns.first_name]"),
        "{}",
        text(&loaded)
    );
}

#[test]
fn a_suggested_mapping_makes_its_table_and_process_stores_every_record_once() {
    require_stack();
    let (topic, keyspace) = (unique("events"), unique("suggested"));
    create_topic(&topic, 2, &[]);
    let records: Vec<Vec<u8>> = (0..40)
        .map(|n| {
            serde_json::json!({
                "id": format!("{}", uuid::Uuid::new_v4()),
                "user": {"name": format!("ü{n}"), "bot": n % 2 == 0},
                "at": "2024-05-01T10:00:00Z",
                "size": n,
                "tags": ["a", "b"],
            })
            .to_string()
            .into_bytes()
        })
        .chain(std::iter::once(b"not json".to_vec()))
        .collect();
    send_raw(&topic, &records);

    let suggested = rtds(&[
        "mapping",
        "suggest",
        "--topic",
        &topic,
        "--keyspace",
        &keyspace,
    ]);
    assert!(suggested.status.success(), "{}", text(&suggested));
    let entry = String::from_utf8(suggested.stdout).unwrap();
    for words in [
        "# Suggested from the newest 41 records",
        "# unsure: 1 records of the sample were not JSON objects",
        "primary_key = \"id\"",
        "[mapping.columns.user_bot]\npath = \"user.bot\"\ntype = \"boolean\"",
        "[mapping.columns.id]\npath = \"id\"\ntype = \"uuid\"",
        "type = \"list<text>\"",
        "# The table it makes:",
    ] {
        assert!(entry.contains(words), "{entry}\nlacks {words}");
    }
    // The README's walk-through: the suggestion, pasted as it is, makes
    // its table; `rtds process` stores every record once, twice run.
    let (group, dlq) = (unique("suggested_group"), unique("suggested_dlq"));
    let kafka = format!("\n[kafka]\ngroup_id = \"{group}\"\ndlq_topic = \"{dlq}\"\n");
    let (_dir, config) = settings_file(&format!("{entry}{kafka}"));
    let made = schema(&config);
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains("CREATE TABLE IF NOT EXISTS"),
        "{}",
        text(&made)
    );
    let name = entry
        .lines()
        .find_map(|line| line.strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap();
    for _ in 0..2 {
        let run = rtds_command_with_config(&config, &["process", "--until-idle", "3s"])
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", text(&run));
        let count = rtds_command_with_config(&config, &["rows", "--mapping", name, "--count"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&count.stdout).trim(),
            "40",
            "{}",
            text(&count)
        );
    }
    assert_eq!(topic_size(&dlq), 1, "the record that is not JSON");
}
