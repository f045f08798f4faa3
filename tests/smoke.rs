//! Smoke tests: the real local Kafka and Cassandra answer the client crates
//! rtds is built on.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::test]
async fn kafka_topic_produce_and_consume() {
    require_stack();
    let topic = unique("smoke");
    let settings = settings(&topic, "unused");
    let partitions =
        rtds::kafka::ensure_topic(&settings.kafka, rtds::kafka::Need::Write { topic: &topic })
            .await
            .unwrap();
    assert_eq!(partitions, settings.kafka.partitions as usize);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .unwrap();
    for i in 0..20 {
        let key = format!("key-{i}");
        let payload = format!("payload-{i}");
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let messages = tokio::task::spawn_blocking(move || read_topic(&topic, 20))
        .await
        .unwrap();
    let mut payloads: Vec<String> = messages
        .iter()
        .map(|m| String::from_utf8(m.payload().unwrap().to_vec()).unwrap())
        .collect();
    payloads.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("payload-{i}")).collect();
    expected.sort();
    assert_eq!(payloads, expected);
}

#[tokio::test]
async fn cassandra_keyspace_table_insert_and_read() {
    require_stack();
    let keyspace = unique("smoke");
    let session = session_with_keyspace(&keyspace).await;
    session
        .query_unpaged(
            format!("CREATE TABLE {keyspace}.t (id int PRIMARY KEY, name text)"),
            (),
        )
        .await
        .unwrap();
    for (id, name) in [(1, "Ada"), (2, "Grace"), (3, "Jürgen")] {
        session
            .query_unpaged(
                format!("INSERT INTO {keyspace}.t (id, name) VALUES (?, ?)"),
                (id, name),
            )
            .await
            .unwrap();
    }
    let mut rows: Vec<(i32, String)> = session
        .query_unpaged(format!("SELECT id, name FROM {keyspace}.t"), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(i32, String)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (1, "Ada".to_string()),
            (2, "Grace".to_string()),
            (3, "Jürgen".to_string())
        ]
    );
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .unwrap();
}
