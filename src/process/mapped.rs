//! A record of a topic that `[[mapping]]` entries read: made into a row of
//! every mapping of its topic (or, a tombstone, into the key each deletes)
//! and written through the same batches, limits and retries as users. A
//! record some mapping refuses goes to the DLQ once, with every mapping's
//! reason, while the rows the other mappings made are written: the record
//! is done, and its offset may be committed, only once all of that is.

use super::consumer::Consumed;
use super::handler::{Handler, Write};
use super::tables::{Key, Mapped, Row};
use crate::cassandra::MappedRow;
use crate::mapping::{Deletes, Format, Json, RecordMeta};
use crate::registry::{Fetch, Registry};
use crate::retry::{REGISTRY_RETRY, Stop};
use crate::user::Invalid;

/// What a record makes: writes, each at its time, and refusals, each with
/// the table whose mapping refused and why.
#[derive(Default)]
struct Made {
    writes: Vec<(Write, i64)>,
    refused: Vec<(usize, String)>,
}

impl Handler {
    /// Writes (or deletes) the record's row in every table its topic feeds
    /// and dead-letters it when a mapping refused it: true once all is
    /// done, false when a stop cut it short.
    pub(super) async fn handle_mapped(
        &self,
        mapped: &Mapped,
        record: &Consumed,
        at: i64,
    ) -> anyhow::Result<bool> {
        let tables = &mapped.by_topic[record.topic];
        let made = if record.tombstone {
            deletes(mapped, tables, record, at)
        } else {
            match self.value_of(mapped, record).await? {
                None => return Ok(false),
                Some(Ok(value)) => rows(mapped, tables, record, &value, at),
                Some(Err(invalid)) => {
                    for &table in tables {
                        self.count_mapped(table, "refused", 1);
                    }
                    return Box::pin(self.dead_letter(record, &invalid)).await;
                }
            }
        };
        let writes = made
            .writes
            .into_iter()
            .map(|(write, at)| self.write(write, at));
        let mut done = true;
        for written in futures::future::join_all(writes).await {
            done &= written?;
        }
        if !made.refused.is_empty() {
            let mut reasons = Vec::new();
            for (table, why) in made.refused {
                self.count_mapped(table, "refused", 1);
                reasons.push(why);
            }
            let invalid = Invalid::Unmapped(reasons.join("; "));
            done &= Box::pin(self.dead_letter(record, &invalid)).await?;
        }
        Ok(done)
    }
}

impl Handler {
    /// The record's value as a JSON object (decoded first, when its topic
    /// carries a registry format), or why it is not one; `None` when a
    /// stop came while the registry was down.
    async fn value_of<'a>(
        &self,
        mapped: &Mapped,
        record: &'a Consumed,
    ) -> anyhow::Result<Option<Result<Json<'a>, Invalid>>> {
        let (size, limit) = (record.payload.len(), self.max_record_bytes);
        if size > limit {
            return Ok(Some(Err(Invalid::TooLarge { size, limit })));
        }
        if size == 0 {
            return Ok(Some(Err(Invalid::Empty)));
        }
        let format = mapped.formats[record.topic];
        let value = match &mapped.registry {
            Some(registry) if !format.is_json() => {
                match self.decoded(registry, format, &record.payload).await? {
                    Some(decoded) => decoded,
                    None => return Ok(None),
                }
            }
            _ => Json::parse(&record.payload).map_err(|error| Invalid::NotJson(error.to_string())),
        };
        Ok(Some(value.and_then(|value| match value {
            Json::Object(_) => Ok(value),
            other => Err(Invalid::NotJson(format!("found {}", other.kind()))),
        })))
    }

    /// `payload` decoded through the registry, which is retried while it
    /// is down: the record waits, and with it the consumption once every
    /// record in flight does. `None` when a stop came first.
    async fn decoded<'a>(
        &self,
        registry: &Registry,
        format: Format,
        payload: &'a [u8],
    ) -> anyhow::Result<Option<Result<Json<'a>, Invalid>>> {
        let result = REGISTRY_RETRY
            .run(
                &self.stop,
                &self.registry_said,
                Fetch::class,
                |error| {
                    let held = format!("the schema registry ({error})");
                    *self.writes_held_by.lock().expect("held-by lock") = Some(held);
                },
                || registry.decode(format, payload),
            )
            .await;
        match result {
            Ok(decoded) => Ok(Some(decoded)),
            Err(Stop::Cancelled) => Ok(None),
            Err(Stop::Permanent(error) | Stop::Exhausted(error)) => Err(anyhow::anyhow!(
                "{error}. Nothing was committed past this record: fix that, then run again"
            )),
        }
    }
}

/// Each table's row of the record, at the mapping's write time or the
/// record's, living the mapping's time or `cassandra.ttl`.
fn rows(mapped: &Mapped, tables: &[usize], record: &Consumed, value: &Json<'_>, at: i64) -> Made {
    let headers = headers(record);
    let meta = RecordMeta {
        key: record.key.as_deref(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp_ms,
        headers: &headers,
    };
    let mut made = Made::default();
    for &table in tables {
        let mapping = &mapped.tables[table].mapping;
        let row = mapping.row(value, &meta).and_then(|cells| {
            let ttl = mapping.ttl_of(value, &meta)?.unwrap_or(mapped.ttl);
            let written_at = mapping.write_time_of(value, &meta)?.unwrap_or(at);
            Ok((MappedRow { cells, ttl }, written_at))
        });
        match row {
            Ok((row, at)) => made
                .writes
                .push((Write::Upsert(Row::Mapped { table, row }), at)),
            Err(why) => made.refused.push((table, why)),
        }
    }
    made
}

/// The deletes of a tombstone: the row of its key in each table whose
/// mapping deletes by key.
fn deletes(mapped: &Mapped, tables: &[usize], record: &Consumed, at: i64) -> Made {
    let mut made = Made::default();
    for &table in tables {
        let mapping = &mapped.tables[table].mapping;
        if mapping.deletes == Deletes::None {
            continue;
        }
        match mapping.key_of(record.key.as_deref()) {
            Ok(cells) => made
                .writes
                .push((Write::Delete(Key::Mapped { table, cells }), at)),
            Err(why) => made.refused.push((table, why)),
        }
    }
    made
}

/// The record's headers, for `@header.NAME` paths.
fn headers(record: &Consumed) -> Vec<(String, Option<Vec<u8>>)> {
    use rdkafka::message::Headers;
    record.headers.as_ref().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec)))
            .collect()
    })
}
