//! The dead-letter topic: a record that fails validation goes there with its
//! original key, bytes and headers, plus headers that say why and where from,
//! so it can be inspected and replayed; it never blocks its partition.

use std::time::Duration;

use anyhow::Context;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::Consumed;
use crate::config::KafkaSettings;
use crate::kafka;
use crate::user::Invalid;

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    source_topic: String,
    timeout: Duration,
}

impl DeadLetters {
    pub fn new(settings: &KafkaSettings, source_topic: &str) -> anyhow::Result<Self> {
        let mut config = kafka::client_config(settings);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                settings.timeout.as_millis().to_string(),
            );
        Ok(DeadLetters {
            producer: config
                .create()
                .context("cannot create the DLQ producer (check the kafka.* settings)")?,
            topic: settings.dlq_topic.clone(),
            source_topic: source_topic.to_string(),
            timeout: settings.timeout,
        })
    }

    /// Sends `record` to the DLQ and waits for Kafka's acknowledgement.
    pub async fn send(&self, record: &Consumed, why: &Invalid) -> anyhow::Result<()> {
        let reason = why.to_string();
        let (partition, offset) = (record.partition.to_string(), record.offset.to_string());
        let mut headers = OwnedHeaders::new();
        if let Some(original) = &record.headers {
            for header in original.iter() {
                headers = headers.insert(Header {
                    key: header.key,
                    value: header.value,
                });
            }
        }
        for (key, value) in [
            ("rtds.error", reason.as_str()),
            ("rtds.error.kind", why.kind()),
            ("rtds.source.topic", self.source_topic.as_str()),
            ("rtds.source.partition", partition.as_str()),
            ("rtds.source.offset", offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .payload(&record.payload)
            .headers(headers);
        if let Some(key) = &record.key {
            message = message.key(key.as_slice());
        }
        self.producer
            .send(message, self.timeout)
            .await
            .map_err(|(error, _)| anyhow::anyhow!("DLQ topic {}: {error}", self.topic))?;
        Ok(())
    }
}
