//! Topic administration: every topic's metadata, and a topic made when
//! missing (with its partitions checked when present).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;

use super::{Alarm, Need, Role, client_config, refused_by_acls};
use crate::config::KafkaSettings;

/// Every topic's metadata, within `settings.timeout`. Asked in short
/// slices so that a hopeless error stops it at once. Every topic rather than
/// one by name: a request by name lets brokers with
/// `auto.create.topics.enable` create it with their defaults. Blocking.
/// The client is a consumer because polling it serves librdkafka's log and
/// error events to the [`Alarm`]; it must have no partitions assigned.
pub fn all_topics(
    client: &BaseConsumer<Alarm>,
    settings: &KafkaSettings,
) -> anyhow::Result<Metadata> {
    let deadline = Instant::now() + settings.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let slice = left.min(Duration::from_millis(500));
        match client.fetch_metadata(None, slice) {
            Ok(metadata) => {
                client.context().went_through();
                return Ok(metadata);
            }
            Err(error) => {
                while client.poll(Duration::ZERO).is_some() {}
                if let Some(hopeless) = client.context().hopeless(settings) {
                    return Err(hopeless);
                }
                if left <= slice {
                    return Err(error).context(client.context().unreachable(settings));
                }
            }
        }
    }
}

/// Makes sure the topic the job needs exists, creating it with the
/// configured partitions when missing. Fails within `settings.timeout` with
/// the broker address when the cluster cannot be reached. A topic the login
/// does not see and may not create (a broker with ACLs) stops the job
/// naming the login and what it needs. Returns the topic's partition count.
pub async fn ensure_topic(settings: &KafkaSettings, need: Need<'_>) -> anyhow::Result<usize> {
    let (Need::Write { topic } | Need::Read { topic, .. }) = need;
    let looker = Arc::new(Alarm::watched(settings, Role::Admin)?);
    let timeout = settings.timeout;
    if let Some(partitions) = partition_count(&looker, topic, settings).await? {
        return Ok(partitions);
    }
    let min_insync = settings.min_insync_replicas.to_string();
    let mut new_topic = NewTopic::new(
        topic,
        settings.partitions,
        TopicReplication::Fixed(settings.replication_factor),
    );
    if settings.min_insync_replicas > 0 {
        new_topic = new_topic.set("min.insync.replicas", &min_insync);
    }
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let admin: AdminClient<DefaultClientContext> =
        client_config(settings, Role::Admin)?
            .create()
            .context("cannot create a Kafka admin client (check the kafka.* settings)")?;
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .with_context(|| looker.context().unreachable(settings))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => match refused_by_acls(settings, code, need) {
                Some(refused) => {
                    return Err(refused.context(format!(
                        "Kafka topic {name} does not show to this login, and it may not create \
                         it: an admin must create the topic and grant the login what it needs"
                    )));
                }
                None => bail!("cannot create Kafka topic {name}: {code}"),
            },
        }
    }
    // Creation is asynchronous in the cluster: wait until metadata shows it.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(partitions) = partition_count(&looker, topic, settings).await? {
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
    looker: &Arc<BaseConsumer<Alarm>>,
    topic: &str,
    settings: &KafkaSettings,
) -> anyhow::Result<Option<usize>> {
    let (looker, own) = (looker.clone(), settings.clone());
    let metadata = tokio::task::spawn_blocking(move || all_topics(&looker, &own))
        .await
        .expect("metadata task does not panic")?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len());
    Ok(found)
}
