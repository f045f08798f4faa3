//! Avro records, decoded with the schema they were written with (each
//! record names its own, so a producer that moves to a new version keeps
//! flowing), into the JSON the mappings' paths read: records and maps are
//! objects, a union is its branch, an enum its symbol, bytes base64, and
//! logical types the text the column conversions take (RFC 3339 times,
//! ISO dates, decimals as exact text, uuids).

use std::borrow::Cow;
use std::collections::HashMap;

use apache_avro::schema::{Name, Namespace, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::{Schema, from_avro_datum};
use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat};
use serde_json::Number;

use crate::mapping::Json;

/// A writer's schema, parsed, with the named types it defines or
/// references (a decimal's scale is in its schema, not its value).
pub struct AvroSchema {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl AvroSchema {
    /// Parses `text`, with the schemas it references (`references`, in the
    /// order they must be read: a later one may use an earlier one).
    pub fn parse(text: &str, references: &[String]) -> Result<AvroSchema, String> {
        let schema = if references.is_empty() {
            Schema::parse_str(text)
        } else {
            Schema::parse_str_with_list(text, references).map(|(schema, _)| schema)
        }
        .map_err(|error| format!("not an Avro schema: {error}"))?;
        let mut names = HashMap::new();
        let known = if references.is_empty() {
            Vec::new()
        } else {
            Schema::parse_list(references).map_err(|error| error.to_string())?
        };
        let resolved = ResolvedSchema::try_from(known.iter().chain([&schema]).collect::<Vec<_>>())
            .map_err(|error| format!("an Avro schema whose names do not resolve: {error}"))?;
        for (name, schema) in resolved.get_names() {
            names.insert(name.clone(), (*schema).clone());
        }
        Ok(AvroSchema { schema, names })
    }

    /// The record in `bytes`, as JSON.
    pub fn decode(&self, mut bytes: &[u8]) -> Result<Json<'static>, String> {
        let value = from_avro_datum(&self.schema, &mut bytes, None)
            .map_err(|error| format!("not Avro of its schema: {error}"))?;
        if !bytes.is_empty() {
            return Err(format!(
                "{} bytes left after the record: not Avro of its schema",
                bytes.len()
            ));
        }
        Ok(self.json(value, &self.schema, &None))
    }

    /// `value` of `schema` as JSON; `space` is the enclosing namespace,
    /// for references by a short name.
    fn json(&self, value: Value, schema: &Schema, space: &Namespace) -> Json<'static> {
        let schema = self.named(schema, space);
        match (value, schema) {
            (Value::Union(branch, value), Schema::Union(union)) => {
                let inner = union.variants().get(branch as usize).unwrap_or(schema);
                self.json(*value, inner, space)
            }
            (Value::Record(fields), Schema::Record(record)) => {
                let space = &record.name.namespace;
                let fields = fields.into_iter().zip(&record.fields);
                Json::Object(
                    fields
                        .map(|((name, value), field)| {
                            (Cow::Owned(name), self.json(value, &field.schema, space))
                        })
                        .collect(),
                )
            }
            (Value::Array(items), Schema::Array(array)) => Json::Array(
                items
                    .into_iter()
                    .map(|item| self.json(item, &array.items, space))
                    .collect(),
            ),
            (Value::Map(entries), Schema::Map(map)) => Json::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (Cow::Owned(key), self.json(value, &map.types, space)))
                    .collect(),
            ),
            (Value::Decimal(decimal), Schema::Decimal(of)) => {
                let bytes: Vec<u8> = (&decimal).try_into().unwrap_or_default();
                text(decimal_text(&bytes, of.scale))
            }
            (value, _) => scalar(value),
        }
    }

    /// A reference by name, as the type it names.
    fn named<'s>(&'s self, schema: &'s Schema, space: &Namespace) -> &'s Schema {
        match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(space);
                self.names.get(&full).unwrap_or(schema)
            }
            _ => schema,
        }
    }
}

/// A value without parts, as JSON.
fn scalar(value: Value) -> Json<'static> {
    let micros = |at: i64| DateTime::from_timestamp_micros(at).map(rfc_3339);
    match value {
        Value::Null => Json::Null,
        Value::Boolean(flag) => Json::Bool(flag),
        Value::Int(number) => Json::Number(number.into()),
        Value::Long(number) => Json::Number(number.into()),
        Value::Float(number) => float(f64::from(number)),
        Value::Double(number) => float(number),
        Value::String(text) | Value::Enum(_, text) => Json::Str(Cow::Owned(text)),
        Value::Bytes(bytes) | Value::Fixed(_, bytes) => {
            self::text(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::Uuid(id) => self::text(id.to_string()),
        Value::Date(days) => {
            let day = NaiveDate::default().checked_add_signed(chrono::Duration::days(days.into()));
            day.map_or(Json::Null, |day| self::text(day.to_string()))
        }
        Value::TimeMillis(ms) => time(i64::from(ms) * 1_000_000),
        Value::TimeMicros(us) => time(us * 1_000),
        Value::TimestampMillis(ms) | Value::LocalTimestampMillis(ms) => {
            DateTime::from_timestamp_millis(ms).map_or(Json::Null, rfc_3339)
        }
        Value::TimestampMicros(us) | Value::LocalTimestampMicros(us) => {
            micros(us).unwrap_or(Json::Null)
        }
        Value::TimestampNanos(ns) | Value::LocalTimestampNanos(ns) => {
            rfc_3339(DateTime::from_timestamp_nanos(ns))
        }
        Value::BigDecimal(decimal) => self::text(decimal.to_string()),
        Value::Duration(duration) => Json::Object(vec![
            (
                "months".into(),
                Json::Number(u32::from(duration.months()).into()),
            ),
            (
                "days".into(),
                Json::Number(u32::from(duration.days()).into()),
            ),
            (
                "millis".into(),
                Json::Number(u32::from(duration.millis()).into()),
            ),
        ]),
        // A part whose schema did not match its value cannot come out of
        // the decoder; shown whole rather than dropped.
        other => match serde_json::Value::try_from(other) {
            Ok(value) => Json::from(&value),
            Err(_) => Json::Null,
        },
    }
}

fn text(text: String) -> Json<'static> {
    Json::Str(Cow::Owned(text))
}

/// A float as a JSON number; NaN and the infinities, which JSON has no
/// number for, as their names.
fn float(number: f64) -> Json<'static> {
    Number::from_f64(number).map_or_else(|| text(number.to_string()), Json::Number)
}

/// A time of day, `HH:MM:SS.fff`.
fn time(nanos: i64) -> Json<'static> {
    let seconds = u32::try_from(nanos.div_euclid(1_000_000_000)).ok();
    let nano = (nanos.rem_euclid(1_000_000_000)) as u32;
    seconds
        .and_then(|seconds| NaiveTime::from_num_seconds_from_midnight_opt(seconds, nano))
        .map_or(Json::Null, |time| text(time.to_string()))
}

fn rfc_3339(at: DateTime<chrono::Utc>) -> Json<'static> {
    text(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A decimal's unscaled two's-complement bytes at `scale`, as exact text:
/// `[0x30, 0x39]` at scale 2 is `123.45`.
fn decimal_text(bytes: &[u8], scale: usize) -> String {
    let negative = bytes.first().is_some_and(|byte| byte & 0x80 != 0);
    // Two's complement, as many bytes as it takes: the magnitude in base 10
    // by long division, so no width limits it.
    let mut magnitude: Vec<u8> = if negative {
        let mut flipped: Vec<u8> = bytes.iter().map(|byte| !byte).collect();
        for byte in flipped.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                break;
            }
        }
        flipped
    } else {
        bytes.to_vec()
    };
    let mut digits = Vec::new();
    while magnitude.iter().any(|byte| *byte != 0) {
        let mut remainder = 0u32;
        for byte in magnitude.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 10) as u8;
            remainder = value % 10;
        }
        digits.push(b'0' + remainder as u8);
    }
    while digits.len() <= scale {
        digits.push(b'0');
    }
    digits.reverse();
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    let mut shown = String::from(if negative { "-" } else { "" });
    shown.push_str(std::str::from_utf8(whole).unwrap_or("0"));
    if scale > 0 {
        shown.push('.');
        shown.push_str(std::str::from_utf8(fraction).unwrap_or("0"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_exactly_at_their_scale() {
        assert_eq!(decimal_text(&[0x30, 0x39], 2), "123.45");
        assert_eq!(decimal_text(&[0xcf, 0xc7], 2), "-123.45");
        assert_eq!(decimal_text(&[0x05], 3), "0.005");
        assert_eq!(decimal_text(&[0xff], 0), "-1");
        assert_eq!(decimal_text(&[], 1), "0.0");
        let big = [0x7f; 20];
        assert_eq!(decimal_text(&big, 0).len(), 48, "past 128 bits");
    }

    #[test]
    fn logical_types_read_as_the_columns_take_them() {
        assert_eq!(
            scalar(Value::TimestampMillis(1_700_000_000_123)),
            Json::Str("2023-11-14T22:13:20.123Z".into())
        );
        assert_eq!(scalar(Value::Date(19_000)), Json::Str("2022-01-08".into()));
        assert_eq!(
            scalar(Value::TimeMillis(3_723_004)),
            Json::Str("01:02:03.004".into())
        );
        assert_eq!(
            scalar(Value::Bytes(b"hi".to_vec())),
            Json::Str("aGk=".into())
        );
        assert_eq!(scalar(Value::Double(f64::NAN)), Json::Str("NaN".into()));
    }

    #[test]
    fn a_record_decodes_through_unions_maps_and_references() {
        let schema = r#"{"type": "record", "name": "Edit", "namespace": "wiki", "fields": [
            {"name": "id", "type": "long"},
            {"name": "user", "type": ["null", {"type": "record", "name": "User",
                "fields": [{"name": "name", "type": "string"}]}]},
            {"name": "editor", "type": ["null", "User"]},
            {"name": "size", "type": {"type": "bytes", "logicalType": "decimal",
                "precision": 6, "scale": 2}},
            {"name": "tags", "type": {"type": "map", "values": "int"}},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["EDIT", "NEW"]}}
        ]}"#;
        let avro = AvroSchema::parse(schema, &[]).unwrap();
        let user = Value::Record(vec![("name".into(), Value::String("花子".into()))]);
        let value = Value::Record(vec![
            ("id".into(), Value::Long(7)),
            ("user".into(), Value::Union(1, Box::new(user.clone()))),
            ("editor".into(), Value::Union(1, Box::new(user))),
            ("size".into(), Value::Decimal(vec![0x30, 0x39].into())),
            (
                "tags".into(),
                Value::Map([("a".into(), Value::Int(1))].into()),
            ),
            ("kind".into(), Value::Enum(1, "NEW".into())),
        ]);
        let bytes = apache_avro::to_avro_datum(&avro.schema, value).unwrap();
        let json = avro.decode(&bytes).unwrap().to_value();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "user": {"name": "花子"}, "editor": {"name": "花子"},
                "size": "123.45", "tags": {"a": 1}, "kind": "NEW"})
        );
        assert!(avro.decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(avro.decode(&[bytes.as_slice(), &[0]].concat()).is_err());
    }
}
