//! The CQL types a mapped column may have, spelled as CQL (and
//! `system_schema.columns`) spells them, so a table's existing columns can
//! be checked against a mapping by their text.

use std::fmt;
use std::str::FromStr;

/// A column's CQL type: a simple type, or a list, set or map of simple types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CqlType {
    Simple(Simple),
    List(Simple),
    Set(Simple),
    Map(Simple, Simple),
}

/// The simple CQL types a record's value converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simple {
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Date,
    Decimal,
    Double,
    Float,
    Inet,
    Int,
    Smallint,
    Text,
    Time,
    Timestamp,
    Timeuuid,
    Tinyint,
    Uuid,
    Varint,
}

/// Every simple type by its CQL name (`varchar` is CQL's other name for text).
const SIMPLE: [(&str, Simple); 19] = [
    ("ascii", Simple::Ascii),
    ("bigint", Simple::Bigint),
    ("blob", Simple::Blob),
    ("boolean", Simple::Boolean),
    ("date", Simple::Date),
    ("decimal", Simple::Decimal),
    ("double", Simple::Double),
    ("float", Simple::Float),
    ("inet", Simple::Inet),
    ("int", Simple::Int),
    ("smallint", Simple::Smallint),
    ("text", Simple::Text),
    ("varchar", Simple::Text),
    ("time", Simple::Time),
    ("timestamp", Simple::Timestamp),
    ("timeuuid", Simple::Timeuuid),
    ("tinyint", Simple::Tinyint),
    ("uuid", Simple::Uuid),
    ("varint", Simple::Varint),
];

impl FromStr for Simple {
    type Err = String;

    fn from_str(text: &str) -> Result<Simple, String> {
        let name = text.trim().to_ascii_lowercase();
        SIMPLE
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, simple)| *simple)
            .ok_or_else(|| {
                let names: Vec<&str> = SIMPLE.iter().map(|(name, _)| *name).collect();
                format!(
                    "unknown type `{}`: the types are {}, and list<T>, set<T>, map<K, V> of them",
                    text.trim(),
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for Simple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = SIMPLE
            .iter()
            .find(|(_, simple)| simple == self)
            .map_or("?", |(name, _)| name);
        f.write_str(name)
    }
}

impl FromStr for CqlType {
    type Err = String;

    fn from_str(text: &str) -> Result<CqlType, String> {
        let trimmed = text.trim();
        let Some((outer, rest)) = trimmed.split_once('<') else {
            return Ok(CqlType::Simple(trimmed.parse()?));
        };
        let inner = rest
            .strip_suffix('>')
            .ok_or_else(|| format!("type `{trimmed}`: a `<` without its `>`"))?;
        if inner.contains('<') {
            return Err(format!(
                "type `{trimmed}`: collections hold simple types, not other collections"
            ));
        }
        match (
            outer.trim().to_ascii_lowercase().as_str(),
            inner.split_once(','),
        ) {
            ("list", None) => Ok(CqlType::List(inner.parse()?)),
            ("set", None) => Ok(CqlType::Set(inner.parse()?)),
            ("map", Some((key, value))) => Ok(CqlType::Map(key.parse()?, value.parse()?)),
            _ => Err(format!(
                "type `{trimmed}`: a collection is list<T>, set<T> or map<K, V>"
            )),
        }
    }
}

impl CqlType {
    /// The column's type in the table: a list is frozen. A list's items are
    /// cells keyed by the time they were written, so writing a whole list
    /// again at the same write time (a replay after a crash, a retried
    /// write) would add its items a second time; a frozen list is one cell
    /// and is replaced. Sets and maps are keyed by their values and stay
    /// as they are, so a partial update can still add to them.
    pub fn column_type(&self) -> String {
        match self {
            CqlType::List(_) => format!("frozen<{self}>"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CqlType::Simple(simple) => write!(f, "{simple}"),
            CqlType::List(item) => write!(f, "list<{item}>"),
            CqlType::Set(item) => write!(f, "set<{item}>"),
            CqlType::Map(key, value) => write!(f, "map<{key}, {value}>"),
        }
    }
}

impl CqlType {
    /// Whether the type may be part of a primary key: collections may not.
    pub fn keyable(&self) -> bool {
        matches!(self, CqlType::Simple(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_and_print_as_cql_spells_them() {
        for text in [
            "text",
            "bigint",
            "list<text>",
            "set<int>",
            "map<text, int>",
            "timeuuid",
        ] {
            assert_eq!(text.parse::<CqlType>().unwrap().to_string(), text);
        }
        assert_eq!(
            " MAP< text ,bigint >".parse::<CqlType>().unwrap(),
            CqlType::Map(Simple::Text, Simple::Bigint)
        );
        assert_eq!("varchar".parse::<CqlType>().unwrap().to_string(), "text");
    }

    #[test]
    fn a_type_rtds_cannot_write_is_refused_by_name() {
        let unknown = "integer".parse::<CqlType>().unwrap_err();
        assert!(unknown.contains("unknown type `integer`"), "{unknown}");
        assert!(unknown.contains("bigint"), "{unknown}");
        for bad in ["list<list<int>>", "map<text>", "list<int", "tuple<int>"] {
            assert!(bad.parse::<CqlType>().is_err(), "{bad}");
        }
        assert!(!"set<int>".parse::<CqlType>().unwrap().keyable());
    }
}
