//! The dead-letter topic's headers: the one owner of their names and of the
//! rule that keeps them rtds's own.
//!
//! A dead letter carries the record's own headers and then rtds's (`rtds.*`:
//! why, where from, truncation, replays). Whoever writes the source topic
//! could set `rtds.*` headers of their own and so forge the reason, the
//! source offset or `rtds.truncated` (making a record unreplayable). So a
//! record's own `rtds.*` headers are moved aside under [`ASIDE`] when it is
//! dead-lettered, put back when it is replayed, and readers take the last
//! header of a name, which is rtds's own (in dead letters written before
//! this rule too: rtds's headers always came after the record's).
//!
//! The `rtds.*` headers a source record keeps are the two a replay sets:
//! [`REPLAYS`], which counts against `dlq.max_replays` when the record is
//! dead-lettered again, and [`SOURCE_TIMESTAMP`], its first time, read only
//! on a `LogAppendTime` topic (where the broker replaced it). Forged, they
//! can only make their own record refuse a replay or order its own writes,
//! which its producer can do anyway.

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// Why the record was refused, in words.
pub const ERROR: &str = "rtds.error";
/// Why the record was refused, as a kind (`too_large`, `bad_shape`, ...).
pub const ERROR_KIND: &str = "rtds.error.kind";
/// The schema id a registry-framed record named, when it was refused
/// for its schema.
pub const SCHEMA_ID: &str = "rtds.schema.id";
/// Where the record was read from.
pub const SOURCE_TOPIC: &str = "rtds.source.topic";
pub const SOURCE_PARTITION: &str = "rtds.source.partition";
pub const SOURCE_OFFSET: &str = "rtds.source.offset";
/// The record's own time in milliseconds, kept apart from the dead
/// letter's timestamp, which a `LogAppendTime` topic (or a refusal of an
/// old time) replaces; a replay into a `LogAppendTime` topic carries it.
pub const SOURCE_TIMESTAMP: &str = "rtds.source.timestamp";
/// Only the record's first bytes are kept (`true`), with its whole size
/// and SHA-256.
pub const TRUNCATED: &str = "rtds.truncated";
pub const ORIGINAL_SIZE: &str = "rtds.original.size";
pub const ORIGINAL_SHA256: &str = "rtds.original.sha256";
/// Only the key's first bytes are kept, with its whole size and SHA-256.
pub const ORIGINAL_KEY_SIZE: &str = "rtds.original.key.size";
pub const ORIGINAL_KEY_SHA256: &str = "rtds.original.key.sha256";
/// How many times the record was sent back by `rtds dlq replay`.
pub const REPLAYS: &str = "rtds.replays";
/// The prefix a record's own `rtds.*` headers are moved under.
pub const ASIDE: &str = "rtds.original.";

/// rtds's headers are all named `rtds.*`.
const OURS: &str = "rtds.";

/// The record's own headers as a dead letter carries them: `rtds.*` ones
/// moved aside, and the replay count it came with, if any.
pub fn carried(original: Option<&OwnedHeaders>) -> (OwnedHeaders, Option<u32>) {
    let mut headers = OwnedHeaders::new();
    let mut replays = None;
    for header in original.iter().flat_map(|h| h.iter()) {
        if header.key == REPLAYS
            && let Some(count) = header
                .value
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        {
            replays = Some(count);
            continue;
        }
        let aside;
        let key = if header.key.starts_with(OURS) {
            aside = format!("{ASIDE}{}", header.key);
            aside.as_str()
        } else {
            header.key
        };
        headers = headers.insert(Header {
            key,
            value: header.value,
        });
    }
    (headers, replays)
}

/// The headers a replayed dead letter goes back with: the record's own as
/// they were (those moved aside put back), its first time (which a
/// `LogAppendTime` topic would lose) and its replay count.
pub fn restored<H: Headers>(dead_letter: Option<&H>, replays: u32) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    let aside = format!("{ASIDE}{OURS}");
    for header in dead_letter.iter().flat_map(|h| h.iter()) {
        let key = match header.key.strip_prefix(ASIDE) {
            Some(own) if header.key.starts_with(&aside) && own != REPLAYS => own,
            _ if header.key.starts_with(OURS) => continue,
            _ => header.key,
        };
        headers = headers.insert(Header {
            key,
            value: header.value,
        });
    }
    if let Some(first) = ours(dead_letter, SOURCE_TIMESTAMP) {
        headers = headers.insert(Header {
            key: SOURCE_TIMESTAMP,
            value: Some(first.as_str()),
        });
    }
    let count = (replays + 1).to_string();
    headers.insert(Header {
        key: REPLAYS,
        value: Some(count.as_str()),
    })
}

/// The value of rtds's own header `key`: the last of that name.
pub fn ours<H: Headers>(headers: Option<&H>, key: &str) -> Option<String> {
    let headers = headers?;
    let mut found = None;
    for header in headers.iter() {
        if header.key == key {
            found = header.value;
        }
    }
    found.map(|v| String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> OwnedHeaders {
        pairs.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(*value),
            })
        })
    }

    fn pairs(headers: &OwnedHeaders) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                (h.key.to_string(), value.into_owned())
            })
            .collect()
    }

    #[test]
    fn own_rtds_headers_are_moved_aside_and_put_back() {
        let own = headers(&[
            ("trace", "t1"),
            (TRUNCATED, "true"),
            (ERROR_KIND, "forged"),
            (REPLAYS, "2"),
        ]);
        let (carried, replays) = carried(Some(&own));
        assert_eq!(replays, Some(2));
        let kept = pairs(&carried);
        assert_eq!(
            kept,
            vec![
                ("trace".into(), "t1".into()),
                ("rtds.original.rtds.truncated".into(), "true".into()),
                ("rtds.original.rtds.error.kind".into(), "forged".into()),
            ]
        );
        // The dead letter: the record's headers, then rtds's own.
        let letter = carried
            .insert(Header {
                key: ERROR_KIND,
                value: Some("bad_shape"),
            })
            .insert(Header {
                key: ORIGINAL_SIZE,
                value: Some("9"),
            });
        assert_eq!(
            ours(Some(&letter), ERROR_KIND).as_deref(),
            Some("bad_shape")
        );
        assert_eq!(ours(Some(&letter), TRUNCATED), None);
        assert_eq!(
            pairs(&restored(Some(&letter), 2)),
            vec![
                ("trace".into(), "t1".into()),
                (TRUNCATED.into(), "true".into()),
                (ERROR_KIND.into(), "forged".into()),
                (REPLAYS.into(), "3".into()),
            ]
        );
    }

    #[test]
    fn a_count_that_is_not_a_number_is_moved_aside() {
        let (carried, replays) = carried(Some(&headers(&[(REPLAYS, "many")])));
        assert_eq!(replays, None);
        assert_eq!(
            pairs(&carried),
            vec![("rtds.original.rtds.replays".into(), "many".into())]
        );
    }

    #[test]
    fn the_last_header_of_a_name_is_rtds_own() {
        let forged_first = headers(&[(SOURCE_OFFSET, "1"), (SOURCE_OFFSET, "42")]);
        assert_eq!(
            ours(Some(&forged_first), SOURCE_OFFSET).as_deref(),
            Some("42")
        );
    }
}
