//! Keyspace and table names as CQL takes them unquoted.

use crate::config::CassandraSettings;

/// A keyspace and table name as CQL takes them unquoted, checked before
/// anything is created or looked up: CQL folds unquoted names to lower case,
/// so `Spark_Streams` would be created as `spark_streams` and then not be
/// found in `system_schema` under the name given.
#[derive(Debug, Clone)]
pub(super) struct TableName {
    pub(super) keyspace: String,
    pub(super) table: String,
}

impl TableName {
    /// A name already checked (a mapping's, when the settings loaded).
    pub(super) fn new(keyspace: &str, table: &str) -> TableName {
        TableName {
            keyspace: keyspace.to_string(),
            table: table.to_string(),
        }
    }

    pub(super) fn of(settings: &CassandraSettings) -> anyhow::Result<TableName> {
        for (key, name) in [
            ("cassandra.keyspace", &settings.keyspace),
            ("cassandra.table", &settings.table),
        ] {
            check_name(name).map_err(|why| anyhow::anyhow!("`{key}`: {why}"))?;
        }
        Ok(TableName {
            keyspace: settings.keyspace.clone(),
            table: settings.table.clone(),
        })
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.keyspace, self.table)
    }
}

/// CQL's reserved words: not usable as unquoted names.
const RESERVED: [&str; 63] = [
    "add",
    "aggregate",
    "all",
    "allow",
    "alter",
    "and",
    "apply",
    "as",
    "asc",
    "ascii",
    "authorize",
    "batch",
    "begin",
    "by",
    "called",
    "columnfamily",
    "create",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "where",
    "with",
];

/// Refuses a name CQL would not take unquoted as it is: `[a-z][a-z0-9_]*`,
/// at most 48 characters, not a reserved word. The settings refuse such a
/// keyspace or table when they load, for every command alike.
pub fn check_name(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    let valid_chars = |text: &str| {
        text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if name != lower && valid_chars(&lower) {
        return Err(format!(
            "`{name}`: Cassandra folds unquoted names to lower case, so use `{lower}`"
        ));
    }
    if !valid_chars(name) {
        return Err(format!(
            "`{name}`: a Cassandra name starts with a lower-case letter and has only \
             lower-case letters, digits and `_`"
        ));
    }
    if name.len() > 48 {
        return Err(format!(
            "`{name}`: Cassandra names have at most 48 characters"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is a reserved word in CQL: choose another name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_cql_takes_them() {
        assert!(check_name("spark_streams").is_ok());
        assert!(check_name("created_users2").is_ok());
        let folded = check_name("Spark_Streams").unwrap_err();
        assert!(folded.contains("use `spark_streams`"), "{folded}");
        for bad in ["2users", "users-created", "", "_x", "sélect"] {
            let error = check_name(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
        assert!(check_name(&"a".repeat(49)).is_err());
        assert!(check_name(&"a".repeat(48)).is_ok());
        let reserved = check_name("table").unwrap_err();
        assert!(reserved.contains("reserved"), "{reserved}");
        let mut settings = crate::config::Settings::default().cassandra;
        settings.table = "Users".into();
        let named = TableName::of(&settings).unwrap_err().to_string();
        assert!(named.contains("`cassandra.table`: `Users`"), "{named}");
    }
}
