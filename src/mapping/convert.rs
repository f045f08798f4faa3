//! A record's JSON value made into a CQL value of a column's type, or the
//! reason it cannot be: what was expected and a short excerpt of what was
//! found. Lenient where the meaning is plain (a number in a string, a
//! timestamp in seconds, milliseconds or RFC 3339), strict where a guess
//! could store a wrong value (a fraction into an int, a number out of range).

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike};
use scylla::value::{CqlDate, CqlDecimal, CqlTime, CqlTimestamp, CqlTimeuuid, CqlValue, CqlVarint};
use serde_json::Value;

use super::borrowed::Json;

use super::types::{CqlType, Simple};

/// How much of a value a refusal quotes.
const EXCERPT: usize = 40;

/// A value that does not convert: what the column expected, and what was
/// found, quoted short.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

/// `value` as a CQL value of `kind`; JSON null is none (a null cell).
pub fn convert(value: &Value, kind: &CqlType) -> Result<Option<CqlValue>, Mismatch> {
    if value.is_null() {
        return Ok(None);
    }
    let refuse = || mismatch(&kind.to_string(), value);
    let converted = match kind {
        CqlType::Simple(simple) => simple_value(value, *simple),
        CqlType::List(item) => items(value, *item).map(CqlValue::List),
        CqlType::Set(item) => items(value, *item).map(CqlValue::Set),
        CqlType::Map(key, item) => entries(value, *key, *item).map(CqlValue::Map),
    };
    converted.map(Some).ok_or_else(refuse)
}

/// [`convert`] of a record's borrowed value: text and uuids straight from
/// the record, the rest through serde_json's value.
pub fn convert_json(value: &Json<'_>, kind: &CqlType) -> Result<Option<CqlValue>, Mismatch> {
    match (value, kind) {
        (Json::Str(text), CqlType::Simple(Simple::Text)) => {
            Ok(Some(CqlValue::Text(text.to_string())))
        }
        (Json::Str(text), CqlType::Simple(Simple::Uuid)) => match text.parse() {
            Ok(id) => Ok(Some(CqlValue::Uuid(id))),
            Err(_) => Err(mismatch(&kind.to_string(), &value.to_value())),
        },
        _ => convert(&value.to_value(), kind),
    }
}

/// The refusal for `value` where `expected` was wanted.
pub fn mismatch(expected: &str, value: &Value) -> Mismatch {
    let text = value.to_string();
    let found = match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    };
    Mismatch {
        expected: expected.to_string(),
        found,
    }
}

fn items(value: &Value, item: Simple) -> Option<Vec<CqlValue>> {
    let array = value.as_array()?;
    array.iter().map(|each| simple_value(each, item)).collect()
}

fn entries(value: &Value, key: Simple, item: Simple) -> Option<Vec<(CqlValue, CqlValue)>> {
    let object = value.as_object()?;
    object
        .iter()
        .map(|(k, v)| {
            Some((
                simple_value(&Value::String(k.clone()), key)?,
                simple_value(v, item)?,
            ))
        })
        .collect()
}

/// `value` as a CQL value of a simple type; none when it is not one.
pub fn simple_value(value: &Value, simple: Simple) -> Option<CqlValue> {
    Some(match simple {
        Simple::Text => CqlValue::Text(text(value)),
        Simple::Ascii => CqlValue::Ascii(Some(text(value)).filter(|t| t.is_ascii())?),
        Simple::Boolean => CqlValue::Boolean(boolean(value)?),
        Simple::Tinyint => CqlValue::TinyInt(integer(value)?.try_into().ok()?),
        Simple::Smallint => CqlValue::SmallInt(integer(value)?.try_into().ok()?),
        Simple::Int => CqlValue::Int(integer(value)?.try_into().ok()?),
        Simple::Bigint => CqlValue::BigInt(integer(value)?.try_into().ok()?),
        Simple::Varint => CqlValue::Varint(varint(integer(value)?)),
        Simple::Float => CqlValue::Float(float(value)? as f32),
        Simple::Double => CqlValue::Double(float(value)?),
        Simple::Decimal => CqlValue::Decimal(decimal(&number_text(value)?)?),
        Simple::Uuid => CqlValue::Uuid(value.as_str()?.parse().ok()?),
        Simple::Timeuuid => CqlValue::Timeuuid(timeuuid(value.as_str()?)?),
        Simple::Timestamp => CqlValue::Timestamp(CqlTimestamp(epoch_ms(value)?)),
        Simple::Date => CqlValue::Date(date(value)?),
        Simple::Time => CqlValue::Time(time(value.as_str()?)?),
        Simple::Inet => CqlValue::Inet(value.as_str()?.parse::<IpAddr>().ok()?),
        Simple::Blob => CqlValue::Blob(
            base64::engine::general_purpose::STANDARD
                .decode(value.as_str()?)
                .ok()?,
        ),
    })
}

/// A string as it is; anything else as its JSON text.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// A whole number, from a JSON integer or a string of one.
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A number's text, from a JSON number or a string of one.
fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(text.trim().to_string()),
        _ => None,
    }
}

/// Two's complement, big-endian, without redundant sign bytes: CQL's varint.
fn varint(number: i128) -> CqlVarint {
    let bytes = number.to_be_bytes();
    let sign = if number < 0 { 0xff } else { 0x00 };
    let mut start = 0;
    while start < 15 && bytes[start] == sign && (bytes[start + 1] & 0x80) == (sign & 0x80) {
        start += 1;
    }
    CqlVarint::from_signed_bytes_be(bytes[start..].to_vec())
}

/// `123.45`, `-1e-3`: an unscaled integer and a scale, as CQL's decimal.
fn decimal(text: &str) -> Option<CqlDecimal> {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let scale = i32::try_from(fraction.len()).ok()?.checked_sub(exponent)?;
    let unscaled = varint(digits);
    Some(CqlDecimal::from_signed_be_bytes_and_exponent(
        unscaled.as_signed_bytes_be_slice().to_vec(),
        scale,
    ))
}

fn timeuuid(text: &str) -> Option<CqlTimeuuid> {
    let uuid: uuid::Uuid = text.parse().ok()?;
    (uuid.get_version_num() == 1).then(|| CqlTimeuuid::from(uuid))
}

/// Below this, a number is seconds; from it, milliseconds (10^11 seconds is
/// the year 5138; 10^11 milliseconds is 1973).
const SECONDS_BELOW: f64 = 1e11;

/// A time as milliseconds since the Unix epoch: epoch seconds (with a
/// fraction), epoch milliseconds, or an RFC 3339 text.
fn epoch_ms(value: &Value) -> Option<i64> {
    if let Some(text) = value.as_str()
        && let Ok(time) = DateTime::parse_from_rfc3339(text.trim())
    {
        return Some(time.timestamp_millis());
    }
    let number = float(value)?;
    let ms = if number.abs() < SECONDS_BELOW {
        number * 1000.0
    } else {
        number
    };
    (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms.round() as i64)
}

/// Days in CQL's count (2^31 is the Unix epoch): from `YYYY-MM-DD`, or a
/// whole number of days since the epoch.
fn date(value: &Value) -> Option<CqlDate> {
    let days = match value.as_str().map(|text| text.trim().parse::<NaiveDate>()) {
        Some(Ok(day)) => day.signed_duration_since(NaiveDate::default()).num_days(),
        Some(Err(_)) | None => i64::try_from(integer(value)?).ok()?,
    };
    u32::try_from(days + (1 << 31)).ok().map(CqlDate)
}

/// Nanoseconds since midnight, from `HH:MM:SS[.fraction]`.
fn time(text: &str) -> Option<CqlTime> {
    let time: NaiveTime = text.trim().parse().ok()?;
    let nanos =
        i64::from(time.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(time.nanosecond());
    Some(CqlTime(nanos))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn as_type(value: Value, kind: &str) -> Result<Option<CqlValue>, Mismatch> {
        convert(&value, &kind.parse().unwrap())
    }

    #[test]
    fn numbers_convert_in_range_and_from_their_text() {
        assert_eq!(as_type(json!(12), "int").unwrap(), Some(CqlValue::Int(12)));
        assert_eq!(
            as_type(json!("12"), "bigint").unwrap(),
            Some(CqlValue::BigInt(12))
        );
        assert_eq!(
            as_type(json!(-3), "tinyint").unwrap(),
            Some(CqlValue::TinyInt(-3))
        );
        assert!(as_type(json!(300), "tinyint").is_err());
        assert!(as_type(json!(1.5), "int").is_err());
        assert_eq!(
            as_type(json!(1.5), "double").unwrap(),
            Some(CqlValue::Double(1.5))
        );
        let refused = as_type(json!("12a"), "int").unwrap_err();
        assert_eq!(refused.to_string(), r#"expected int, found "12a""#);
        assert_eq!(
            as_type(json!(-129), "varint").unwrap(),
            Some(CqlValue::Varint(CqlVarint::from_signed_bytes_be(vec![
                0xff, 0x7f
            ])))
        );
        assert_eq!(
            as_type(json!("123.45"), "decimal").unwrap(),
            Some(CqlValue::Decimal(
                CqlDecimal::from_signed_be_bytes_and_exponent(vec![0x30, 0x39], 2)
            ))
        );
    }

    #[test]
    fn times_come_as_seconds_milliseconds_or_rfc_3339() {
        let at = Some(CqlValue::Timestamp(CqlTimestamp(1_700_000_000_000)));
        assert_eq!(as_type(json!(1_700_000_000), "timestamp").unwrap(), at);
        assert_eq!(
            as_type(json!(1_700_000_000_000_i64), "timestamp").unwrap(),
            at
        );
        assert_eq!(
            as_type(json!("2023-11-14T22:13:20Z"), "timestamp").unwrap(),
            at
        );
        assert_eq!(
            as_type(json!("1970-01-02"), "date").unwrap(),
            Some(CqlValue::Date(CqlDate((1 << 31) + 1)))
        );
        assert_eq!(
            as_type(json!("00:00:01.5"), "time").unwrap(),
            Some(CqlValue::Time(CqlTime(1_500_000_000)))
        );
        assert!(as_type(json!("yesterday"), "timestamp").is_err());
    }

    #[test]
    fn text_ids_and_collections_convert_or_say_why_not() {
        assert_eq!(as_type(json!(null), "int").unwrap(), None);
        assert_eq!(
            as_type(json!(7), "text").unwrap(),
            Some(CqlValue::Text("7".into()))
        );
        assert!(as_type(json!("é"), "ascii").is_err());
        assert!(as_type(json!("not-a-uuid"), "uuid").is_err());
        let v4 = uuid::Uuid::new_v4().to_string();
        assert!(
            as_type(json!(v4), "timeuuid").is_err(),
            "a v4 id is no timeuuid"
        );
        assert_eq!(
            as_type(json!("aGk="), "blob").unwrap(),
            Some(CqlValue::Blob(b"hi".to_vec()))
        );
        assert_eq!(
            as_type(json!(["a", "b"]), "list<text>").unwrap(),
            Some(CqlValue::List(vec![
                CqlValue::Text("a".into()),
                CqlValue::Text("b".into())
            ]))
        );
        assert_eq!(
            as_type(json!({"7": true}), "map<int, boolean>").unwrap(),
            Some(CqlValue::Map(vec![(
                CqlValue::Int(7),
                CqlValue::Boolean(true)
            )]))
        );
        let long = as_type(json!(vec!["x"; 30]), "set<int>").unwrap_err();
        assert!(
            long.found.ends_with('…') && long.found.chars().count() == 41,
            "{long}"
        );
    }
}
