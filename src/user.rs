//! The record on `users_created`: one JSON object of exactly 12 string fields,
//! made from one Random User API result the way the tutorial's `format_data`
//! made it, and checked again on the consuming side before it is stored.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::source::api::ApiUser;

/// One user as published to Kafka and stored in Cassandra.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// A fresh UUID v4 per record (the tutorial's intent; it is also the Kafka key
    /// and the table's primary key).
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    /// `"{street.number} {street.name}, {city}, {state}, {country}"`.
    pub address: String,
    /// Always text: the API sends numbers for some nationalities.
    pub post_code: String,
    pub email: String,
    pub username: String,
    /// ISO-8601, as the API gives it.
    pub dob: String,
    pub registered_date: String,
    pub phone: String,
    /// URL of the medium-size picture.
    pub picture: String,
}

/// Why a message on the topic is not a valid record; goes with it to the DLQ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("record is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("record is empty")]
    Empty,
    #[error("record is not UTF-8: {0}")]
    NotUtf8(String),
    /// Valid JSON, but not an object: the derived deserializer would take an
    /// array of 12 strings as a record, field by position.
    #[error("record is not a JSON object but {0}")]
    NotObject(&'static str),
    #[error("record is not a JSON object of the 12 user fields: {0}")]
    Shape(String),
    /// A null value deletes the row of its key, which must be a user's id.
    #[error("tombstone (null value) whose key `{0}` is not a UUID: it deletes no row")]
    BadTombstone(String),
    /// Its time cannot be a write time in microseconds (see
    /// [`crate::process`]): past about 292,000 years either way.
    #[error("record timestamp {0} ms is out of range: no write time can order it")]
    BadTimestamp(i64),
    /// A mapped record whose value is not a JSON object.
    #[error("record is not a JSON object: {0}")]
    NotJson(String),
    /// One or more mappings refused the record, each saying where and why
    /// (see [`crate::mapping::Mapping::row`]).
    #[error("{0}")]
    Unmapped(String),
    /// A record of a registry format without the registry's frame.
    #[error("record is not in a schema registry's wire format: {0}")]
    NotRegistryFramed(String),
    /// Its schema id is one the registry does not have.
    #[error("schema id {id} is not in the schema registry: {why}")]
    UnknownSchema { id: u32, why: String },
    /// Its schema does not decode it.
    #[error("record of schema id {id} does not decode: {why}")]
    Undecodable { id: u32, why: String },
}

impl Invalid {
    /// A short stable name for metrics labels and DLQ headers.
    pub fn kind(&self) -> &'static str {
        match self {
            Invalid::TooLarge { .. } => "too_large",
            Invalid::Empty => "empty",
            Invalid::NotUtf8(_) => "not_utf8",
            Invalid::NotObject(_) => "not_object",
            Invalid::Shape(_) => "bad_shape",
            Invalid::BadTombstone(_) => "bad_tombstone",
            Invalid::BadTimestamp(_) => "bad_timestamp",
            Invalid::NotJson(_) => "not_json",
            Invalid::Unmapped(_) => "unmapped",
            Invalid::NotRegistryFramed(_) => "not_registry_framed",
            Invalid::UnknownSchema { .. } => "unknown_schema",
            Invalid::Undecodable { .. } => "undecodable",
        }
    }

    /// The schema id the record names, for the dead letter's header.
    pub fn schema_id(&self) -> Option<u32> {
        match self {
            Invalid::UnknownSchema { id, .. } | Invalid::Undecodable { id, .. } => Some(*id),
            _ => None,
        }
    }
}

impl User {
    /// Formats one API result into a record with a new random id. Takes the
    /// result by value: its strings move into the record without copies.
    pub fn from_api(api: ApiUser) -> User {
        let location = api.location;
        User {
            id: Uuid::new_v4(),
            first_name: api.name.first,
            last_name: api.name.last,
            gender: api.gender,
            address: format!(
                "{} {}, {}, {}, {}",
                location.street.number,
                location.street.name,
                location.city,
                location.state,
                location.country
            ),
            post_code: location.postcode.to_string(),
            email: api.email,
            username: api.login.username,
            dob: api.dob.date,
            registered_date: api.registered.date,
            phone: api.phone,
            picture: api.picture.medium,
        }
    }

    /// The record as it goes on the wire.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serializes")
    }

    /// Parses and validates one Kafka message payload. It must be a JSON
    /// object; extra fields are ignored; every one of the 12 must be present
    /// and a string, and `id` must be a UUID.
    pub fn parse(payload: &[u8], max_bytes: usize) -> Result<User, Invalid> {
        if payload.len() > max_bytes {
            return Err(Invalid::TooLarge {
                size: payload.len(),
                limit: max_bytes,
            });
        }
        if payload.is_empty() {
            return Err(Invalid::Empty);
        }
        let text = std::str::from_utf8(payload).map_err(|e| Invalid::NotUtf8(e.to_string()))?;
        // JSON's own whitespace; an object is the only text that starts with `{`.
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return Err(match serde_json::from_str(text) {
                Ok(value) => Invalid::NotObject(json_type(&value)),
                Err(e) => Invalid::Shape(e.to_string()),
            });
        }
        serde_json::from_str(text).map_err(|e| Invalid::Shape(e.to_string()))
    }
}

/// What a JSON value is, for the reason a record is refused.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::api::Reply;

    /// A real reply of randomuser.me 1.4 (trimmed to two results): a US user
    /// with a numeric postcode and a Finnish user with non-ASCII text, a
    /// string postcode with a leading zero and a null id value, and an extra
    /// field the record does not know.
    const REAL_REPLY: &str = r#"{"results":[
      {"gender":"female","name":{"title":"Miss","first":"Jennie","last":"Nichols"},
       "location":{"street":{"number":8929,"name":"Valwood Pkwy"},"city":"Billings","state":"Michigan","country":"United States","postcode":63104,
         "coordinates":{"latitude":"-69.8246","longitude":"134.8719"},"timezone":{"offset":"+9:30","description":"Adelaide, Darwin"}},
       "email":"jennie.nichols@example.com",
       "login":{"uuid":"7a0eed16-9430-4d68-901f-c0d4c1c3bf00","username":"yellowpeacock117","password":"addison","salt":"sld1yGtd","md5":"ab54ac4c0be9480ae8fa5e9e2a5196a3","sha1":"edcf2ce613cbdea349133c52dc2f3b83168dc51b","sha256":"48df5229235ada28389b91e60a935e4f9b73eb4bdb855ef9258a1751f10bdc5d"},
       "dob":{"date":"1992-03-08T15:13:16.688Z","age":30},"registered":{"date":"2007-07-09T05:51:59.390Z","age":14},
       "phone":"(272) 790-0888","cell":"(489) 330-2385","id":{"name":"SSN","value":"405-88-3636"},
       "picture":{"large":"https://randomuser.me/api/portraits/men/75.jpg","medium":"https://randomuser.me/api/portraits/med/men/75.jpg","thumbnail":"https://randomuser.me/api/portraits/thumb/men/75.jpg"},
       "nat":"US","favourite_colour":"teal"},
      {"gender":"male","name":{"title":"Mr","first":"Väinö","last":"Äijälä"},
       "location":{"street":{"number":4519,"name":"Hämeenkatu"},"city":"Ylöjärvi","state":"Pirkanmaa","country":"Finland","postcode":"03851"},
       "email":"vaino.aijala@example.com","login":{"username":"bluebird345"},
       "dob":{"date":"1961-09-25T02:18:41.094Z","age":63},"registered":{"date":"2015-01-03T11:20:53.000Z","age":9},
       "phone":"02-520-937","id":{"name":"HETU","value":null},
       "picture":{"medium":"https://randomuser.me/api/portraits/med/men/12.jpg"}}
    ],"info":{"seed":"56d27f4a53bd5441","results":2,"page":1,"version":"1.4"}}"#;

    fn real_users() -> Vec<User> {
        let reply: Reply = serde_json::from_str(REAL_REPLY).unwrap();
        reply.results.into_iter().map(User::from_api).collect()
    }

    #[test]
    fn formats_a_result_like_the_tutorial() {
        let user = &real_users()[0];
        assert_eq!(user.first_name, "Jennie");
        assert_eq!(user.last_name, "Nichols");
        assert_eq!(user.gender, "female");
        assert_eq!(
            user.address,
            "8929 Valwood Pkwy, Billings, Michigan, United States"
        );
        assert_eq!(user.post_code, "63104");
        assert_eq!(user.email, "jennie.nichols@example.com");
        assert_eq!(user.username, "yellowpeacock117");
        assert_eq!(user.dob, "1992-03-08T15:13:16.688Z");
        assert_eq!(user.registered_date, "2007-07-09T05:51:59.390Z");
        assert_eq!(user.phone, "(272) 790-0888");
        assert_eq!(
            user.picture,
            "https://randomuser.me/api/portraits/med/men/75.jpg"
        );
        assert_eq!(user.id.get_version_num(), 4);
    }

    #[test]
    fn keeps_string_postcodes_and_non_ascii_and_null_ids() {
        let user = &real_users()[1];
        assert_eq!(user.post_code, "03851");
        assert_eq!(user.first_name, "Väinö");
        assert_eq!(
            user.address,
            "4519 Hämeenkatu, Ylöjärvi, Pirkanmaa, Finland"
        );
    }

    #[test]
    fn ids_are_fresh_per_record() {
        let users = real_users();
        assert_ne!(users[0].id, users[1].id);
    }

    #[test]
    fn wire_format_is_twelve_strings() {
        let user = &real_users()[1];
        let value: serde_json::Value = serde_json::from_slice(&user.to_json()).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 12);
        assert!(object.values().all(|v| v.is_string()));
        assert_eq!(object["id"].as_str().unwrap(), user.id.to_string());
        assert_eq!(User::parse(&user.to_json(), 65536).unwrap(), *user);
    }

    #[test]
    fn a_result_missing_a_needed_field_names_it() {
        let mut value: serde_json::Value = serde_json::from_str(REAL_REPLY).unwrap();
        value["results"][0].as_object_mut().unwrap().remove("email");
        let err = serde_json::from_value::<ApiUser>(value["results"][0].clone()).unwrap_err();
        assert!(err.to_string().contains("email"), "{err}");
    }

    #[test]
    fn parse_accepts_extra_fields() {
        let user = &real_users()[0];
        let mut value = serde_json::to_value(user).unwrap();
        value["source"] = "test".into();
        let parsed = User::parse(&serde_json::to_vec(&value).unwrap(), 65536).unwrap();
        assert_eq!(parsed, *user);
    }

    #[test]
    fn parse_rejects_bad_records_with_reasons() {
        let good = serde_json::to_value(&real_users()[0]).unwrap();
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("dob");
        let mut number = good.clone();
        number["post_code"] = 63104.into();
        let mut bad_id = good.clone();
        bad_id["id"] = "not-a-uuid".into();
        let twelve_strings = serde_json::to_vec(
            &good
                .as_object()
                .unwrap()
                .values()
                .cloned()
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let cases: Vec<(Vec<u8>, &str, &str)> = vec![
            (
                serde_json::to_vec(&missing).unwrap(),
                "bad_shape",
                "missing field `dob`",
            ),
            (
                serde_json::to_vec(&number).unwrap(),
                "bad_shape",
                "invalid type: integer `63104`, expected a string",
            ),
            (
                serde_json::to_vec(&bad_id).unwrap(),
                "bad_shape",
                "UUID parsing failed",
            ),
            (b"{not json".to_vec(), "bad_shape", "key must be a string"),
            (b"hello".to_vec(), "bad_shape", "expected value"),
            (
                twelve_strings,
                "not_object",
                "not a JSON object but an array",
            ),
            (
                b" [1,2]".to_vec(),
                "not_object",
                "not a JSON object but an array",
            ),
            (
                b"\"text\"".to_vec(),
                "not_object",
                "not a JSON object but a string",
            ),
            (b"null".to_vec(), "not_object", "not a JSON object but null"),
            (
                b"12".to_vec(),
                "not_object",
                "not a JSON object but a number",
            ),
            (vec![0xff, 0xfe, b'{'], "not_utf8", "invalid utf-8"),
            (Vec::new(), "empty", "record is empty"),
            (vec![b' '; 70_000], "too_large", "over the 65536-byte limit"),
        ];
        for (payload, kind, words) in cases {
            let err = User::parse(&payload, 65536).unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            assert!(
                err.to_string()
                    .to_lowercase()
                    .contains(&words.to_lowercase()),
                "{err} should mention {words}"
            );
        }
    }

    /// Property tests of the record path: whatever the API or the topic
    /// hands over, the outcome is a record or a reason, never a panic.
    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::*;

        fn text() -> BoxedStrategy<Value> {
            any::<String>().prop_map(Value::from).boxed()
        }

        fn whole<T: Arbitrary + Into<Value> + 'static>() -> BoxedStrategy<Value> {
            any::<T>().prop_map(Into::into).boxed()
        }

        /// A value of some JSON type, for fields that get the wrong one.
        fn wrong() -> BoxedStrategy<Value> {
            prop_oneof![
                Just(Value::Null),
                whole::<bool>(),
                whole::<i64>(),
                whole::<f64>(),
                text(),
                Just(json!([])),
                Just(json!({"x": 1})),
            ]
            .boxed()
        }

        /// An object with these fields, each mostly of its right shape,
        /// sometimes missing or of a wrong type: about one result in six has
        /// every field right and makes a record.
        fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
            let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            let values: Vec<BoxedStrategy<Option<Value>>> = fields
                .into_iter()
                .map(|(_, right)| {
                    prop_oneof![
                        30 => right.prop_map(Some),
                        1 => Just(None),
                        1 => wrong().prop_map(Some),
                    ]
                    .boxed()
                })
                .collect();
            values
                .prop_map(move |values| {
                    let fields = names.iter().zip(values);
                    Value::Object(
                        fields
                            .filter_map(|(name, value)| Some((name.to_string(), value?)))
                            .collect(),
                    )
                })
                .boxed()
        }

        fn dated() -> BoxedStrategy<Value> {
            object(vec![("date", text()), ("age", whole::<u32>())])
        }

        /// One element of the API's `results`, with every field it may have
        /// and one it does not know.
        fn api_result() -> BoxedStrategy<Value> {
            object(vec![
                ("gender", text()),
                (
                    "name",
                    object(vec![("title", text()), ("first", text()), ("last", text())]),
                ),
                (
                    "location",
                    object(vec![
                        (
                            "street",
                            object(vec![("number", whole::<u32>()), ("name", text())]),
                        ),
                        ("city", text()),
                        ("state", text()),
                        ("country", text()),
                        ("postcode", prop_oneof![text(), whole::<u64>()].boxed()),
                    ]),
                ),
                ("email", text()),
                (
                    "login",
                    object(vec![
                        ("uuid", text()),
                        ("username", text()),
                        ("password", text()),
                    ]),
                ),
                ("dob", dated()),
                ("registered", dated()),
                ("phone", text()),
                ("cell", text()),
                (
                    "id",
                    object(vec![
                        ("name", text()),
                        ("value", prop_oneof![text(), Just(Value::Null)].boxed()),
                    ]),
                ),
                (
                    "picture",
                    object(vec![
                        ("large", text()),
                        ("medium", text()),
                        ("thumbnail", text()),
                    ]),
                ),
                ("nat", text()),
                ("favourite_colour", text()),
            ])
        }

        /// A valid record's bytes with one byte changed, or cut short.
        fn damaged_record() -> BoxedStrategy<Vec<u8>> {
            let user = real_users().remove(1);
            (any::<prop::sample::Index>(), any::<u8>(), any::<bool>())
                .prop_map(move |(at, byte, cut)| {
                    let mut bytes = user.to_json();
                    let at = at.index(bytes.len());
                    if cut {
                        bytes.truncate(at);
                    } else {
                        bytes[at] = byte;
                    }
                    bytes
                })
                .boxed()
        }

        proptest! {
            #[test]
            fn api_json_makes_a_record_that_parses_back_equal_or_is_refused(result in api_result()) {
                match serde_json::from_value::<ApiUser>(result) {
                    Ok(api) => {
                        let user = User::from_api(api);
                        prop_assert_eq!(User::parse(&user.to_json(), usize::MAX), Ok(user));
                    }
                    Err(error) => prop_assert!(!error.to_string().is_empty()),
                }
            }

            #[test]
            fn any_bytes_are_a_record_or_a_reason(
                bytes in prop_oneof![any::<Vec<u8>>(), damaged_record()],
            ) {
                match User::parse(&bytes, 65536) {
                    Ok(user) => prop_assert_eq!(User::parse(&user.to_json(), 65536), Ok(user)),
                    Err(invalid) => {
                        prop_assert!(!invalid.kind().is_empty());
                        prop_assert!(!invalid.to_string().is_empty());
                    }
                }
            }
        }
    }
}
