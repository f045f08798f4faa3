//! Stored CQL values back as JSON, for `rtds rows` and the dashboard: the
//! forms a mapping takes in (text, numbers, RFC 3339 times, ISO dates,
//! base64 blobs), so a row reads like the record it came from.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveTime};
use scylla::value::{CqlDecimal, CqlValue, CqlVarint};
use serde_json::Value;

/// `value` as JSON.
pub fn to_json(value: &CqlValue) -> Value {
    match value {
        CqlValue::Text(text) | CqlValue::Ascii(text) => Value::String(text.clone()),
        CqlValue::Boolean(flag) => Value::Bool(*flag),
        CqlValue::TinyInt(n) => (*n).into(),
        CqlValue::SmallInt(n) => (*n).into(),
        CqlValue::Int(n) => (*n).into(),
        CqlValue::BigInt(n) => (*n).into(),
        CqlValue::Float(n) => (*n).into(),
        CqlValue::Double(n) => (*n).into(),
        CqlValue::Varint(n) => {
            integer(n).map_or_else(|| Value::String(format!("{n:?}")), Value::String)
        }
        CqlValue::Decimal(n) => {
            decimal(n).map_or_else(|| Value::String(format!("{n:?}")), Value::String)
        }
        CqlValue::Uuid(id) => Value::String(id.to_string()),
        CqlValue::Timeuuid(id) => Value::String(uuid::Uuid::from(*id).to_string()),
        CqlValue::Timestamp(at) => DateTime::from_timestamp_millis(at.0)
            .map_or_else(|| at.0.into(), |at| Value::String(at.to_rfc3339())),
        CqlValue::Date(day) => {
            let days = i64::from(day.0) - (1 << 31);
            NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(days))
                .map_or_else(|| days.into(), |day| Value::String(day.to_string()))
        }
        CqlValue::Time(nanos) => time(nanos.0).map_or_else(|| nanos.0.into(), Value::String),
        CqlValue::Inet(address) => Value::String(address.to_string()),
        CqlValue::Blob(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        CqlValue::List(items) | CqlValue::Set(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        CqlValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, item)| (text(&to_json(key)), to_json(item)))
                .collect(),
        ),
        other => Value::String(format!("{other:?}")),
    }
}

/// A JSON value as a cell shows it: a string as it is, anything else as
/// JSON text.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A stored cell as a table shows it; `null` for none.
pub fn shown(value: Option<&CqlValue>) -> String {
    value.map_or_else(|| "null".into(), |value| text(&to_json(value)))
}

/// A varint's digits, when it fits in 128 bits.
fn integer(n: &CqlVarint) -> Option<String> {
    signed(n.as_signed_bytes_be_slice()).map(|n| n.to_string())
}

/// A decimal's digits with its point, when its unscaled value fits in 128
/// bits.
fn decimal(n: &CqlDecimal) -> Option<String> {
    let (bytes, scale) = n.as_signed_be_bytes_slice_and_exponent();
    let unscaled = signed(bytes)?;
    if scale <= 0 {
        let zeros = "0".repeat(usize::try_from(-scale).ok()?);
        return Some(format!("{unscaled}{zeros}"));
    }
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::try_from(scale).ok()?;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    Some(format!("{sign}{whole}.{fraction}"))
}

/// Big-endian two's complement bytes as a number, up to 16 of them.
fn signed(bytes: &[u8]) -> Option<i128> {
    if bytes.len() > 16 {
        return None;
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut full = [fill; 16];
    full[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(full))
}

fn time(nanos: i64) -> Option<String> {
    let seconds = u32::try_from(nanos / 1_000_000_000).ok()?;
    let fraction = u32::try_from(nanos % 1_000_000_000).ok()?;
    NaiveTime::from_num_seconds_from_midnight_opt(seconds, fraction).map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::convert::convert;

    /// What a mapping takes in comes back out the same, for every kind of
    /// value whose JSON form is unambiguous.
    #[test]
    fn values_read_back_as_the_json_they_came_from() {
        for (value, kind) in [
            (json!("Zürich 東京"), "text"),
            (json!(-12), "int"),
            (json!(true), "boolean"),
            (json!("123.45"), "decimal"),
            (json!("-0.005"), "decimal"),
            (json!("170141183460469231731687303715884105727"), "varint"),
            (json!("2024-05-01T12:30:00+00:00"), "timestamp"),
            (json!("2024-05-01"), "date"),
            (json!("12:30:01.500"), "time"),
            (json!("10.0.0.1"), "inet"),
            (json!("aGVsbG8="), "blob"),
            (json!(["a", "b"]), "list<text>"),
            (json!({"a": 1}), "map<text, int>"),
            (json!("0e1f3d8a-8f4c-4c6b-9a53-0d2a4b6c8e10"), "uuid"),
        ] {
            let stored = convert(&value, &kind.parse().unwrap()).unwrap().unwrap();
            assert_eq!(to_json(&stored), value, "{kind}");
        }
        assert_eq!(shown(None), "null");
        assert_eq!(shown(Some(&CqlValue::List(vec![CqlValue::Int(1)]))), "[1]");
    }
}
