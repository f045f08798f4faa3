use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

use super::*;

fn ago(text: &str) -> Bound {
    parse_time(text).unwrap()
}

/// A dead letter of `kind` written `age` ago, its text from the record.
fn letter(kind: &str, age: chrono::Duration, text: &str) -> DeadLetter {
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: wire::ERROR_KIND,
            value: Some(kind),
        })
        .insert(Header {
            key: wire::ERROR,
            value: Some(&format!("bad field {text}")),
        });
    let message = OwnedMessage::new(
        Some(format!("{{\"name\":\"{text}\"}}").into_bytes()),
        Some(text.as_bytes().to_vec()),
        "t.dlq".into(),
        Timestamp::CreateTime((Utc::now() - age).timestamp_millis()),
        0,
        7,
        Some(headers),
    );
    DeadLetter::from(&message)
}

#[test]
fn a_relative_bound_names_its_group_by_its_text() {
    let settings = Settings::default();
    let filter = Filter {
        kind: Some("too_large".into()),
        since: Some(ago("120m")),
        until: Some(ago("1h 30m")),
    };
    assert_eq!(
        filter.group(&settings),
        "rtds-processor.dlq-replay.kind=too_large.since=2h.until=1h30m"
    );
    let absolute = Filter {
        since: Some(ago("2026-12-01T11:00:00+01:00")),
        ..Filter::default()
    };
    assert_eq!(
        absolute.group(&settings),
        "rtds-processor.dlq-replay.since=2026-12-01T10:00:00+00:00"
    );
}

#[test]
fn only_a_relative_until_holds_back_what_it_leaves_out() {
    let hour = chrono::Duration::hours(1);
    let fresh = letter("too_large", chrono::Duration::zero(), "a");
    let old = letter("too_large", hour * 3, "a");
    let relative = Filter {
        kind: Some("too_large".into()),
        until: Some(ago("1h")),
        ..Filter::default()
    };
    assert!(!relative.takes(&fresh) && relative.may_take_later(&fresh));
    assert!(relative.takes(&old) && !relative.may_take_later(&old));
    let other_kind = letter("bad_shape", chrono::Duration::zero(), "a");
    assert!(!relative.may_take_later(&other_kind));
    let absolute = Filter {
        until: Some(Bound {
            ago: None,
            ..ago("1h")
        }),
        ..Filter::default()
    };
    assert!(!absolute.takes(&fresh) && !absolute.may_take_later(&fresh));
}

#[test]
fn a_dead_letter_shows_its_record_escaped() {
    let hostile = "\u{1b}[2Jr\u{202e}kcab\rBEL\u{7}";
    let shown = letter("bad_\u{1b}[31mshape", chrono::Duration::zero(), hostile);
    let escaped = crate::table::escape(hostile);
    assert_eq!(shown.key.as_deref(), Some(escaped.as_str()));
    assert!(shown.payload.contains(&escaped), "{}", shown.payload);
    assert!(shown.error.ends_with(&escaped), "{}", shown.error);
    assert_eq!(shown.reason, "bad_\\u{1b}[31mshape");
    let plain = letter("bad_shape", chrono::Duration::zero(), "José 日本");
    assert_eq!(plain.key.as_deref(), Some("José 日本"));

    let table = render(&[shown.clone(), plain]);
    let json = serde_json::to_string(&shown).unwrap();
    for text in [&table, &json] {
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && crate::table::escape(&c.to_string()) != c.to_string()),
            "{text:?}"
        );
    }
    assert!(table.contains("José 日本"), "{table}");
}
