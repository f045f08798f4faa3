//! The dead-letter topic: a record that fails validation goes there with its
//! original key, bytes and headers, plus headers that say why and where from,
//! so it can be inspected and replayed. It never blocks its partition: a
//! record too large for the DLQ goes there truncated (with its original size
//! and SHA-256), a producer in a fatal state is made anew, and what can
//! never be sent is a permanent error that stops the job.

use std::sync::Mutex;

use anyhow::Context;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::warn;

use super::consumer::Consumed;
use crate::config::KafkaSettings;
use crate::kafka::{self, Role};
use crate::retry;
use crate::user::Invalid;

/// What is kept of a record when the DLQ topic refuses even the cut that
/// fits the producer's limit (its own `max.message.bytes` is smaller).
const LAST_RESORT_BYTES: usize = 1024;

/// Room left for the record batch's own framing within `message.max.bytes`.
const FRAMING_BYTES: usize = 512;

pub struct DeadLetters {
    /// Replaced when it hits a fatal error: it would never send again.
    producer: Mutex<FutureProducer>,
    settings: KafkaSettings,
    topic: String,
    source_topic: String,
    max_bytes: usize,
}

/// How a record went to the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Whole,
    Truncated,
}

impl DeadLetters {
    pub fn new(settings: &KafkaSettings, source_topic: &str) -> anyhow::Result<Self> {
        Ok(DeadLetters {
            producer: Mutex::new(create(settings)?),
            settings: settings.clone(),
            topic: settings.dlq_topic.clone(),
            source_topic: source_topic.to_string(),
            max_bytes: kafka::message_max_bytes(settings),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `record` to the DLQ and waits for Kafka's acknowledgement,
    /// truncated when it would not fit.
    pub async fn send(&self, record: &Consumed, why: &Invalid) -> Result<Sent, KafkaError> {
        let key = record.key.as_ref().map_or(0, Vec::len);
        let headers = record.headers.as_ref().map_or(0, headers_size);
        let room = self
            .max_bytes
            .saturating_sub(key + headers + FRAMING_BYTES + 256);
        match self.produce(record, why, room, true).await {
            Err(error)
                if error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) =>
            {
                warn!(
                    topic = %self.topic,
                    "the DLQ topic refused a {}-byte record as too large; sending its first {LAST_RESORT_BYTES} bytes \
                     (raise the topic's max.message.bytes to keep whole records)",
                    record.payload.len()
                );
                self.produce(record, why, LAST_RESORT_BYTES, false).await
            }
            sent => sent,
        }
    }

    /// One send of at most `keep` payload bytes, with the record's own
    /// headers when `own_headers`. A producer in a fatal state is made anew
    /// and the send tried once more.
    async fn produce(
        &self,
        record: &Consumed,
        why: &Invalid,
        keep: usize,
        own_headers: bool,
    ) -> Result<Sent, KafkaError> {
        let truncated = record.payload.len() > keep;
        let payload = &record.payload[..record.payload.len().min(keep)];
        let mut remade = false;
        loop {
            let headers = self.headers(record, why, truncated, own_headers);
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic)
                .payload(payload)
                .headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            // The record's own time goes with it: a replay keeps it, so the
            // replayed write is ordered by when it was first produced.
            if let Some(ms) = record.timestamp_ms {
                message = message.timestamp(ms);
            }
            let producer = self.producer.lock().expect("producer lock").clone();
            match producer.send(message, self.settings.timeout).await {
                Ok(_) => {
                    return Ok(if truncated {
                        Sent::Truncated
                    } else {
                        Sent::Whole
                    });
                }
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

    fn headers(
        &self,
        record: &Consumed,
        why: &Invalid,
        truncated: bool,
        own: bool,
    ) -> OwnedHeaders {
        let mut headers = OwnedHeaders::new();
        if own && let Some(original) = &record.headers {
            for header in original.iter() {
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        let reason = why.to_string();
        let (partition, offset) = (record.partition.to_string(), record.offset.to_string());
        let mut ours = vec![
            ("rtds.error", reason),
            ("rtds.error.kind", why.kind().to_string()),
            ("rtds.source.topic", self.source_topic.clone()),
            ("rtds.source.partition", partition),
            ("rtds.source.offset", offset),
        ];
        if truncated {
            ours.push(("rtds.truncated", "true".to_string()));
            ours.push(("rtds.original.size", record.payload.len().to_string()));
            ours.push(("rtds.original.sha256", sha256_hex(&record.payload)));
        }
        for (key, value) in &ours {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_str()),
            });
        }
        headers
    }
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
