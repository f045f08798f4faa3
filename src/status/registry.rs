//! The schema registry as a hop, when a topic's records need it (a
//! mapping of a registry format, or the users topic in Avro): whether it
//! answers, and with how many subjects. Records that need a schema it has
//! not served yet wait while it is down, so this hop says where they stop.

use std::time::{Duration, Instant};

use super::{Hop, State, hop};
use crate::config::{Settings, masked_source};
use crate::mapping::Format;
use crate::registry::Registry;

/// What the registry answered.
#[derive(Clone)]
pub struct RegistryLook {
    url: String,
    answer: Result<(usize, Duration), String>,
}

/// Whether a topic of these settings carries a registry format.
pub fn needed(settings: &Settings) -> bool {
    settings.kafka.format != Format::Json
        || settings.mapping.iter().any(|spec| !spec.format.is_json())
}

/// Asks the registry for its subjects, once, when it is needed.
pub async fn look(settings: &Settings) -> Option<RegistryLook> {
    if !needed(settings) {
        return None;
    }
    let url = masked_source(&settings.registry.url);
    let started = Instant::now();
    let answer = match Registry::new(&settings.registry) {
        Ok(registry) => registry
            .subjects()
            .await
            .map(|subjects| (subjects.len(), started.elapsed()))
            .map_err(|error| error.to_string()),
        Err(error) => Err(format!("{error:#}")),
    };
    Some(RegistryLook { url, answer })
}

/// The hop of `look`.
pub fn registry_hop(look: &RegistryLook) -> Hop {
    match &look.answer {
        Ok((subjects, latency)) => hop(
            "registry",
            State::Ok,
            format!(
                "schema registry {} answered in {} ms: {subjects} subjects",
                look.url,
                latency.as_millis()
            ),
            None,
        )
        .with(&serde_json::json!({
            "url": look.url,
            "subjects": subjects,
            "latency_ms": latency.as_secs_f64() * 1e3,
        })),
        Err(error) => hop(
            "registry",
            State::Fail,
            format!("the schema registry does not answer: {error}"),
            Some(
                "start it again (locally: scripts/stack up --registry), or fix registry.url; \
                 records whose schema rtds has not fetched yet wait until it answers",
            ),
        )
        .with(&serde_json::json!({ "url": look.url })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_a_hop_only_where_a_topic_needs_it() {
        let mut settings = Settings::default();
        assert!(!needed(&settings));
        settings.kafka.format = Format::Avro;
        assert!(needed(&settings));
        let down = RegistryLook {
            url: "http://127.0.0.1:1".into(),
            answer: Err("connection refused".into()),
        };
        let hop = registry_hop(&down);
        assert_eq!((hop.name, hop.state), ("registry", State::Fail));
        assert!(hop.advice.unwrap().contains("registry.url"));
        let up = RegistryLook {
            answer: Ok((3, Duration::from_millis(4))),
            ..down
        };
        assert_eq!(registry_hop(&up).state, State::Ok);
    }
}
