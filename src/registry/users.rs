//! The users pipeline in Avro (`kafka.format = "avro"`): the users'
//! schema, registered under `<topic>-value`, and each user encoded with it
//! in the wire format. The processor reads such a topic through the
//! built-in mapping with `format = "avro"`, so nothing else differs.

use apache_avro::Schema;
use apache_avro::types::Value;

use super::Registry;
use crate::user::User;

/// The users' record: the twelve fields of the JSON record, the id a
/// uuid.
pub const SCHEMA: &str = r#"{
  "type": "record", "name": "User", "namespace": "rtds",
  "doc": "One user of the Random User API, as rtds publishes it",
  "fields": [
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "first_name", "type": "string"},
    {"name": "last_name", "type": "string"},
    {"name": "gender", "type": "string"},
    {"name": "address", "type": "string"},
    {"name": "post_code", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "username", "type": "string"},
    {"name": "dob", "type": "string"},
    {"name": "registered_date", "type": "string"},
    {"name": "phone", "type": "string"},
    {"name": "picture", "type": "string"}
  ]
}"#;

/// Users into Avro records of [`SCHEMA`], framed with its id.
pub struct UsersAvro {
    schema: Schema,
    frame: [u8; 5],
}

impl UsersAvro {
    /// Registers [`SCHEMA`] under `<topic>-value` (the registry answers
    /// with the id it already has when it is registered).
    pub async fn register(registry: &Registry, topic: &str) -> anyhow::Result<UsersAvro> {
        let subject = format!("{topic}-value");
        let id = registry.register(&subject, SCHEMA).await.map_err(|error| {
            let advice = match error {
                super::Fetch::Down(_) => {
                    ": start the registry (locally: scripts/stack up --registry), or fix registry.url"
                }
                _ => "",
            };
            anyhow::anyhow!("cannot register the users' Avro schema as {subject}: {error}{advice}")
        })?;
        tracing::info!(%subject, id, "users published in Avro");
        Ok(UsersAvro::with_id(id))
    }

    fn with_id(id: u32) -> UsersAvro {
        let mut frame = [0; 5];
        frame[1..].copy_from_slice(&id.to_be_bytes());
        UsersAvro {
            schema: Schema::parse_str(SCHEMA).expect("the users' schema parses"),
            frame,
        }
    }

    /// `user` in the wire format.
    pub fn encode(&self, user: User) -> Vec<u8> {
        let text = |name: &str, value: String| (name.to_string(), Value::String(value));
        let record = Value::Record(vec![
            ("id".into(), Value::Uuid(user.id)),
            text("first_name", user.first_name),
            text("last_name", user.last_name),
            text("gender", user.gender),
            text("address", user.address),
            text("post_code", user.post_code),
            text("email", user.email),
            text("username", user.username),
            text("dob", user.dob),
            text("registered_date", user.registered_date),
            text("phone", user.phone),
            text("picture", user.picture),
        ]);
        let mut bytes = self.frame.to_vec();
        let encoded = apache_avro::to_avro_datum(&self.schema, record)
            .expect("a user always fits the users' schema");
        bytes.extend_from_slice(&encoded);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::avro::AvroSchema;

    #[test]
    fn a_user_reads_back_as_its_json_record() {
        let generator = crate::source::builtin::Generator::new("seed", None).unwrap();
        let user = User::from_api(generator.page(0, 1).remove(0));
        let bytes = UsersAvro::with_id(7).encode(user.clone());
        let (id, encoded) = crate::registry::wire::framed(&bytes).unwrap();
        assert_eq!(id, 7);
        let read = AvroSchema::parse(SCHEMA, &[])
            .unwrap()
            .decode(encoded)
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&user.to_json()).unwrap();
        assert_eq!(read.to_value(), json);
    }
}
