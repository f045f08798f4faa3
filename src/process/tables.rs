//! Where rows go: the users table (the built-in mapping) or the tables of
//! `[[mapping]]` entries, behind the few calls the handler writes through.

use scylla::errors::ExecutionError;
use uuid::Uuid;

use crate::cassandra::{
    BatchLimits, MappedRow, MappedTable, Replicas, Store, mapped_row_bytes, row_bytes,
};
use crate::mapping::{Cell, Format};
use crate::registry::Registry;
use crate::user::User;

/// The tables a processor writes.
pub(super) enum Tables {
    /// The users pipeline: no `[[mapping]]` entries. Boxed: a session is
    /// most of a kilobyte.
    Users(Box<Store>),
    Mapped(Mapped),
}

/// The tables of the mappings run, and which of them each topic feeds.
pub(super) struct Mapped {
    pub(super) tables: Vec<MappedTable>,
    /// By the topic's place in the consumer's topics: the tables it feeds.
    pub(super) by_topic: Vec<Vec<usize>>,
    pub(super) limits: BatchLimits,
    /// `cassandra.ttl` in seconds: the rows' time to live where their
    /// mapping sets none.
    pub(super) ttl: i32,
    /// By the topic's place: what its records are.
    pub(super) formats: Vec<Format>,
    /// The schema registry, when a topic's format needs it.
    pub(super) registry: Option<Box<Registry>>,
}

/// One row bound for a table.
pub(super) enum Row {
    User(Box<User>),
    /// A row of `tables[table]`.
    Mapped {
        table: usize,
        row: MappedRow,
    },
}

/// The primary key of a row a tombstone deletes.
pub(super) enum Key {
    User(Uuid),
    Mapped { table: usize, cells: Vec<Cell> },
}

impl Row {
    /// Which table it goes to: batches hold rows of one table.
    pub(super) fn table(&self) -> usize {
        match self {
            Row::User(_) => 0,
            Row::Mapped { table, .. } => *table,
        }
    }

    /// The bytes it adds to a batch.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Row::User(user) => row_bytes(user),
            Row::Mapped { row, .. } => mapped_row_bytes(row),
        }
    }
}

impl Tables {
    pub(super) fn batch_limits(&self) -> BatchLimits {
        match self {
            Tables::Users(store) => store.batch_limits(),
            Tables::Mapped(mapped) => mapped.limits,
        }
    }

    /// Every table written, for the summary.
    pub(super) fn names(&self) -> String {
        match self {
            Tables::Users(store) => store.table().to_string(),
            Tables::Mapped(mapped) => {
                let names: Vec<String> = mapped.tables.iter().map(MappedTable::name).collect();
                names.join(", ")
            }
        }
    }

    /// The table `table` names, for messages.
    pub(super) fn name(&self, table: usize) -> String {
        match self {
            Tables::Users(store) => store.table().to_string(),
            Tables::Mapped(mapped) => mapped.tables[table].name(),
        }
    }

    /// The mapping that owns `table`; none for the users table, which
    /// counts only in the pipeline's totals.
    pub(super) fn mapping(&self, table: usize) -> Option<&str> {
        match self {
            Tables::Users(_) => None,
            Tables::Mapped(mapped) => Some(&mapped.tables[table].mapping.name),
        }
    }

    pub(super) fn replicas(&self, row: &Row) -> Option<Replicas> {
        match (self, row) {
            (Tables::Users(store), Row::User(user)) => store.replicas(user.id),
            (Tables::Mapped(mapped), Row::Mapped { table, row }) => {
                mapped.tables[*table].replicas(row)
            }
            _ => unreachable!("a row goes to the tables it was made for"),
        }
    }

    pub(super) async fn upsert(&self, row: &Row, at: i64) -> Result<(), ExecutionError> {
        match (self, row) {
            (Tables::Users(store), Row::User(user)) => store.upsert(user, at).await,
            (Tables::Mapped(mapped), Row::Mapped { table, row }) => {
                mapped.tables[*table].insert(row, at).await
            }
            _ => unreachable!("a row goes to the tables it was made for"),
        }
    }

    /// Rows of one table in one batch.
    pub(super) async fn upsert_batch(&self, rows: &[(&Row, i64)]) -> Result<(), ExecutionError> {
        match self {
            Tables::Users(store) => {
                let users: Vec<(&User, i64)> = rows
                    .iter()
                    .filter_map(|(row, at)| match row {
                        Row::User(user) => Some((&**user, *at)),
                        Row::Mapped { .. } => None,
                    })
                    .collect();
                store.upsert_batch(&users).await
            }
            Tables::Mapped(mapped) => {
                let batch: Vec<(&MappedRow, i64)> = rows
                    .iter()
                    .filter_map(|(row, at)| match row {
                        Row::Mapped { row, .. } => Some((row, *at)),
                        Row::User(_) => None,
                    })
                    .collect();
                mapped.tables[rows[0].0.table()].insert_batch(&batch).await
            }
        }
    }

    pub(super) async fn delete(&self, key: &Key, at: i64) -> Result<(), ExecutionError> {
        match (self, key) {
            (Tables::Users(store), Key::User(id)) => store.delete(*id, at).await,
            (Tables::Mapped(mapped), Key::Mapped { table, cells }) => {
                mapped.tables[*table].delete(cells, at).await
            }
            _ => unreachable!("a key goes to the tables it was made for"),
        }
    }
}
