//! Kafka client settings and topic administration, shared by the producer and
//! the processor.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::KafkaSettings;

/// The librdkafka settings every rtds client shares: brokers and security.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("security.protocol", &settings.security_protocol)
        .set("client.id", "rtds");
    if !settings.sasl_mechanism.is_empty() {
        config
            .set("sasl.mechanism", &settings.sasl_mechanism)
            .set("sasl.username", &settings.sasl_username)
            .set("sasl.password", &settings.sasl_password);
    }
    if !settings.ssl_ca_location.is_empty() {
        config.set("ssl.ca.location", &settings.ssl_ca_location);
    }
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// What to tell a user whose broker does not answer.
fn unreachable_hint(settings: &KafkaSettings) -> String {
    format!(
        "cannot reach Kafka at {} within {}; is the broker running? \
         (`scripts/stack up` starts a local one; --bootstrap-servers or RTDS_KAFKA_BOOTSTRAP_SERVERS points elsewhere)",
        settings.bootstrap_servers,
        humantime::format_duration(settings.timeout)
    )
}

/// Makes sure `topic` exists, creating it with the configured partitions when
/// missing. Fails within `settings.timeout` with the broker address when the
/// cluster cannot be reached. Returns the topic's partition count.
pub async fn ensure_topic(settings: &KafkaSettings, topic: &str) -> anyhow::Result<usize> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
        client_config(settings)
            .create()
            .context("cannot create a Kafka admin client (check the kafka.* settings)")?,
    );
    let timeout = settings.timeout;
    if let Some(partitions) = partition_count(&admin, topic, settings).await? {
        return Ok(partitions);
    }
    let new_topic = NewTopic::new(
        topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication_factor),
    );
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .with_context(|| unreachable_hint(settings))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("cannot create Kafka topic {name}: {code}"),
        }
    }
    // Creation is asynchronous in the cluster: wait until metadata shows it.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(partitions) = partition_count(&admin, topic, settings).await? {
            return Ok(partitions);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "Kafka topic {topic} was created but does not show in the metadata after {timeout:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The topic's partition count, `None` when it does not exist.
async fn partition_count(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    topic: &str,
    settings: &KafkaSettings,
) -> anyhow::Result<Option<usize>> {
    let (admin, timeout) = (admin.clone(), settings.timeout);
    // Asking for every topic, not this one by name: a request by name lets
    // brokers with auto.create.topics.enable create it with their defaults.
    let metadata = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .expect("metadata task does not panic")
        .with_context(|| unreachable_hint(settings))?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len());
    Ok(found)
}
