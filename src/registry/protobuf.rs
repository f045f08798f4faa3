//! Protobuf records: the registry serves a schema as it was registered,
//! `.proto` text or (from Confluent's clients) a serialized file
//! descriptor in base64. protox compiles it (with the files it imports:
//! those the registry lists as its references, and Google's well-known
//! types) into descriptors that prost-reflect decodes a message with. The message comes out as
//! Protobuf's JSON mapping, keeping the `.proto` field names, 64-bit
//! integers as numbers, and fields at their default value (proto3 cannot
//! tell them from absent ones).

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use super::wire;
use crate::mapping::Json;

/// The name the schema's own file is compiled under.
const ROOT: &str = "rtds-schema.proto";

/// A compiled schema: its file's descriptors.
pub struct ProtoSchema {
    pool: DescriptorPool,
}

/// The `.proto` texts of a schema's references, by the names it imports
/// them as.
struct Sources(HashMap<String, String>);

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let Some(source) = self.0.get(name) else {
            return Err(protox::Error::file_not_found(name));
        };
        match descriptor(source) {
            Some(mut file) => {
                file.name = Some(name.to_string());
                Ok(File::from_file_descriptor_proto(file))
            }
            None => File::from_source(name, source),
        }
    }
}

/// A schema in its serialized form: base64 of a `FileDescriptorProto`.
/// `.proto` text always holds a `;` or a space, which base64 never does.
fn descriptor(source: &str) -> Option<prost_reflect::prost_types::FileDescriptorProto> {
    use base64::Engine;
    use prost_reflect::prost::Message;
    let text = source.trim();
    if text.contains([';', ' ', '\n']) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

impl ProtoSchema {
    /// Compiles `text` with `references` (import name, `.proto` text).
    pub fn parse(text: &str, references: Vec<(String, String)>) -> Result<ProtoSchema, String> {
        let mut sources: HashMap<String, String> = references.into_iter().collect();
        sources.insert(ROOT.into(), text.into());
        let mut files = ChainFileResolver::new();
        files.add(Sources(sources));
        files.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(files);
        compiler
            .include_imports(true)
            .open_file(ROOT)
            .map_err(|error| format!("not a .proto schema: {error}"))?;
        Ok(ProtoSchema {
            pool: compiler.descriptor_pool(),
        })
    }

    /// The message in `bytes` (its message indexes, then the message), as
    /// JSON.
    pub fn decode(&self, bytes: &[u8]) -> Result<Json<'static>, String> {
        let (indexes, encoded) = wire::message_indexes(bytes)?;
        let descriptor = self.message(&indexes)?;
        let message = DynamicMessage::decode(descriptor.clone(), encoded)
            .map_err(|error| format!("not a {} message: {error}", descriptor.full_name()))?;
        let options = SerializeOptions::new()
            .stringify_64_bit_integers(false)
            .use_proto_field_name(true)
            .skip_default_fields(false);
        let value = message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|error| {
                format!(
                    "a {} message JSON cannot show: {error}",
                    descriptor.full_name()
                )
            })?;
        Ok(Json::from(&value))
    }

    /// The message type at `indexes`: the file's top-level message at the
    /// first, then nested ones.
    fn message(&self, indexes: &[i32]) -> Result<MessageDescriptor, String> {
        let file = self
            .pool
            .get_file_by_name(ROOT)
            .ok_or("the schema's file is missing from its own descriptors")?;
        let missing = || format!("no message at indexes {indexes:?} of the schema");
        let (first, nested) = indexes.split_first().ok_or_else(missing)?;
        let mut message = usize::try_from(*first)
            .ok()
            .and_then(|at| file.messages().nth(at))
            .ok_or_else(missing)?;
        for index in nested {
            message = usize::try_from(*index)
                .ok()
                .and_then(|at| message.child_messages().nth(at))
                .ok_or_else(missing)?;
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::Value;

    const SCHEMA: &str = r#"
        syntax = "proto3";
        package wiki;
        import "google/protobuf/timestamp.proto";
        message Edit {
            int64 id = 1;
            string title = 2;
            google.protobuf.Timestamp at = 3;
            repeated string tags = 4;
            message Inner { bool minor = 1; }
            Inner inner = 5;
        }
    "#;

    #[test]
    fn a_message_decodes_with_its_indexes_and_well_known_types() {
        let schema = ProtoSchema::parse(SCHEMA, Vec::new()).unwrap();
        let edit = schema.message(&[0]).unwrap();
        let mut message = DynamicMessage::new(edit);
        message.set_field_by_name("id", Value::I64(9_007_199_254_740_993));
        message.set_field_by_name("title", Value::String("Zürich".into()));
        let bytes = [
            &[0u8][..],
            &prost_reflect::prost::Message::encode_to_vec(&message),
        ]
        .concat();
        let json = schema.decode(&bytes).unwrap().to_value();
        assert_eq!(json["id"], serde_json::json!(9_007_199_254_740_993_i64));
        assert_eq!(json["title"], "Zürich");
        assert_eq!(json["tags"], serde_json::json!([]));
        assert_eq!(schema.message(&[0, 0]).unwrap().name(), "Inner");
        assert!(schema.message(&[1]).is_err());
        assert!(schema.decode(&[0, 0xff]).is_err());
    }

    #[test]
    fn a_schema_serialized_as_confluent_registers_it_reads_too() {
        use base64::Engine;
        let text = ProtoSchema::parse(SCHEMA, Vec::new()).unwrap();
        let file = text.pool.get_file_by_name(ROOT).unwrap();
        let proto = prost_reflect::prost::Message::encode_to_vec(file.file_descriptor_proto());
        let serialized = base64::engine::general_purpose::STANDARD.encode(proto);
        let schema = ProtoSchema::parse(&serialized, Vec::new()).unwrap();
        assert_eq!(
            schema.message(&[0, 0]).unwrap().full_name(),
            "wiki.Edit.Inner"
        );
    }

    #[test]
    fn an_import_resolves_through_the_references() {
        let main = r#"syntax = "proto3"; import "other.proto"; message A { B b = 1; }"#;
        let other = r#"syntax = "proto3"; message B { string s = 1; }"#;
        assert!(ProtoSchema::parse(main, Vec::new()).is_err());
        let references = vec![("other.proto".to_string(), other.to_string())];
        assert!(ProtoSchema::parse(main, references).is_ok());
    }
}
