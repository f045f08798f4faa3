//! The dead-letter topic: a record that fails validation goes there with its
//! original key, bytes, time and headers, plus rtds's headers that say why
//! and where from (see [`wire`]), so it can be inspected and replayed. It
//! never blocks its partition: a record too large for the DLQ goes there
//! cut (its payload, else its key too, with their original sizes and
//! SHA-256), one whose time the topic refuses goes stamped now, a producer
//! in a fatal state is made anew, and what can never be sent (the topic is
//! gone, rtds may not write it) is a permanent error that stops the job.

use std::sync::Mutex;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::warn;

use super::wire;
use crate::config::KafkaSettings;
use crate::kafka::{self, Role};
use crate::process::consumer::Consumed;
use crate::retry;
use crate::user::Invalid;

/// What is kept of a record's payload and key when the DLQ refuses even
/// the cut that fits the producer's limit (the topic's own
/// `max.message.bytes` is smaller, or key and headers fill it).
const LAST_RESORT_BYTES: usize = 1024;
const LAST_RESORT_KEY_BYTES: usize = 256;

/// Room left for the record batch's own framing within `message.max.bytes`.
const FRAMING_BYTES: usize = 512;

/// The most rtds's own headers take: the reason capped at [`ERROR_BYTES`],
/// the rest short names and numbers.
const ERROR_BYTES: usize = 1024;
const OURS_BYTES: usize = ERROR_BYTES + 1024;

pub struct DeadLetters {
    /// Replaced when it hits a fatal error: it would never send again.
    producer: Mutex<FutureProducer>,
    settings: KafkaSettings,
    topic: String,
    /// The topics read, in [`Consumed::topic`]'s order.
    source_topics: Vec<String>,
    max_bytes: usize,
}

/// How a record went to the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Whole,
    Truncated,
}

impl DeadLetters {
    pub fn new(settings: &KafkaSettings, source_topics: Vec<String>) -> anyhow::Result<Self> {
        Ok(DeadLetters {
            producer: Mutex::new(create(settings)?),
            settings: settings.clone(),
            topic: settings.dlq_topic.clone(),
            source_topics,
            max_bytes: kafka::message_max_bytes(settings),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The job's end when the broker's ACLs refused the send: this login
    /// may not write the DLQ (see [`kafka::refused_by_acls`]).
    pub fn refused(&self, error: &KafkaError) -> Option<anyhow::Error> {
        let need = kafka::Need::Write { topic: &self.topic };
        kafka::refused_by_acls(&self.settings, error.rdkafka_error_code()?, need)
    }

    /// Sends `record` to the DLQ and waits for Kafka's acknowledgement,
    /// its payload cut when it would not fit. Should the key and the
    /// record's own headers leave no room even so, the last resort keeps
    /// rtds's headers and the first bytes of key and payload: a record's own
    /// size never stops the job.
    pub async fn send(&self, record: &Consumed, why: &Invalid) -> Result<Sent, KafkaError> {
        let whole = Letter::whole(record);
        let room = self
            .max_bytes
            .saturating_sub(whole.key.len() + whole.headers_size() + OURS_BYTES + FRAMING_BYTES);
        let mut letter = whole.payload_cut(room);
        loop {
            let code = match self.produce(record, &letter, why).await {
                Err(error) => error.rdkafka_error_code(),
                sent => return sent,
            };
            letter = match code {
                Some(RDKafkaErrorCode::MessageSizeTooLarge) if !letter.last_resort => {
                    warn!(
                        topic = %self.topic,
                        "a {}-byte record with a {}-byte key and {} bytes of headers is too large for the DLQ; \
                         sending its first bytes (raise the topic's max.message.bytes to keep whole records)",
                        record.payload.len(),
                        record.key.as_ref().map_or(0, Vec::len),
                        letter.headers_size(),
                    );
                    Letter::last_resort(record, letter.stamped)
                }
                // The topic refuses the record's own time (its
                // `message.timestamp.*.max.ms`): it goes stamped now, its
                // time kept in a header.
                Some(RDKafkaErrorCode::InvalidTimestamp) if letter.stamped => {
                    warn!(topic = %self.topic, "the DLQ topic refused a record's own time; sending it stamped now");
                    Letter {
                        stamped: false,
                        ..letter
                    }
                }
                _ => return self.produce(record, &letter, why).await,
            };
        }
    }

    /// One send of `letter`. A producer in a fatal state is made anew and
    /// the send tried once more.
    async fn produce(
        &self,
        record: &Consumed,
        letter: &Letter<'_>,
        why: &Invalid,
    ) -> Result<Sent, KafkaError> {
        let mut remade = false;
        loop {
            let headers = self.headers(record, letter, why);
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .payload(letter.payload)
                .headers(headers);
            if record.key.is_some() {
                message = message.key(letter.key);
            }
            // The record's own time goes with it: a replay keeps it, so the
            // replayed write is ordered by when it was first produced.
            if let Some(ms) = record.timestamp_ms.filter(|_| letter.stamped) {
                message = message.timestamp(ms);
            }
            let producer = self.producer.lock().expect("producer lock").clone();
            match producer.send(message, self.settings.timeout).await {
                Ok(_) => return Ok(letter.sent(record)),
                Err((error, _)) if retry::fatal_producer(&error) && !remade => {
                    warn!(topic = %self.topic, "the DLQ producer hit a fatal error, making a new one: {error}");
                    let fresh = create(&self.settings).map_err(|_| error)?;
                    *self.producer.lock().expect("producer lock") = fresh;
                    remade = true;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// The letter's own headers, then rtds's (see [`wire`]).
    fn headers(&self, record: &Consumed, letter: &Letter<'_>, why: &Invalid) -> OwnedHeaders {
        let mut ours = vec![
            (wire::ERROR, capped(&why.to_string(), ERROR_BYTES)),
            (wire::ERROR_KIND, why.kind().to_string()),
            (wire::SOURCE_TOPIC, self.source_topics[record.topic].clone()),
            (wire::SOURCE_PARTITION, record.partition.to_string()),
            (wire::SOURCE_OFFSET, record.offset.to_string()),
        ];
        if let Some(ms) = record.timestamp_ms {
            ours.push((wire::SOURCE_TIMESTAMP, ms.to_string()));
        }
        if let Some(id) = why.schema_id() {
            ours.push((wire::SCHEMA_ID, id.to_string()));
        }
        if let Some(replays) = letter.replays {
            ours.push((wire::REPLAYS, replays.to_string()));
        }
        if letter.sent(record) == Sent::Truncated {
            ours.push((wire::TRUNCATED, "true".to_string()));
            ours.push((wire::ORIGINAL_SIZE, record.payload.len().to_string()));
            ours.push((wire::ORIGINAL_SHA256, sha256_hex(&record.payload)));
        }
        if let Some(key) = record
            .key
            .as_deref()
            .filter(|key| key.len() > letter.key.len())
        {
            ours.push((wire::ORIGINAL_KEY_SIZE, key.len().to_string()));
            ours.push((wire::ORIGINAL_KEY_SHA256, sha256_hex(key)));
        }
        ours.into_iter()
            .fold(letter.headers.clone(), |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_str()),
                })
            })
    }
}

/// What of a record goes to the DLQ: its key, its own headers as carried
/// (see [`wire::carried`]) and its payload, each maybe cut.
struct Letter<'a> {
    key: &'a [u8],
    headers: OwnedHeaders,
    replays: Option<u32>,
    payload: &'a [u8],
    /// The record's own headers were left out.
    headers_dropped: bool,
    /// Cut to the last resort already.
    last_resort: bool,
    /// Sent with the record's own time (else stamped when sent).
    stamped: bool,
}

impl<'a> Letter<'a> {
    fn whole(record: &'a Consumed) -> Self {
        let (headers, replays) = wire::carried(record.headers.as_ref());
        Letter {
            key: record.key.as_deref().unwrap_or_default(),
            headers,
            replays,
            payload: &record.payload,
            headers_dropped: false,
            last_resort: false,
            stamped: true,
        }
    }

    /// The first bytes of key and payload and none of the record's own
    /// headers: what fits any DLQ topic that takes a few kilobytes.
    fn last_resort(record: &'a Consumed, stamped: bool) -> Self {
        let whole = Letter::whole(record);
        let headers_dropped = whole.headers.count() > 0;
        Letter {
            key: &whole.key[..whole.key.len().min(LAST_RESORT_KEY_BYTES)],
            headers: OwnedHeaders::new(),
            payload: &record.payload[..record.payload.len().min(LAST_RESORT_BYTES)],
            headers_dropped,
            last_resort: true,
            stamped,
            ..whole
        }
    }

    fn payload_cut(self, room: usize) -> Self {
        Letter {
            payload: &self.payload[..self.payload.len().min(room)],
            ..self
        }
    }

    fn headers_size(&self) -> usize {
        headers_size(&self.headers)
    }

    /// Truncated when anything of the record was left out: it cannot be
    /// replayed as it was.
    fn sent(&self, record: &Consumed) -> Sent {
        let key = record.key.as_ref().map_or(0, Vec::len);
        if self.payload.len() < record.payload.len() || self.key.len() < key || self.headers_dropped
        {
            Sent::Truncated
        } else {
            Sent::Whole
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when
/// cut: a reason quotes the record (a key, an unknown field's name), and
/// the record's size is the producer's to choose.
fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn create(settings: &KafkaSettings) -> anyhow::Result<FutureProducer> {
    kafka::client_config(settings, Role::DeadLetters)?
        .create()
        .context("cannot create the DLQ producer (check the kafka.* settings)")
}

fn headers_size(headers: &OwnedHeaders) -> usize {
    headers
        .iter()
        .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len) + 8)
        .sum()
}

/// The SHA-256 of `bytes` in lower-case hex: identifies the whole payload
/// of a record the DLQ holds only the start of.
fn sha256_hex(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_hex_of_the_whole_payload() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
