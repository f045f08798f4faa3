//! The schema registry: records of Avro, Protobuf and JSON Schema topics
//! carry a schema id in the Confluent wire format ([`wire`]), and the
//! registry serves each id's schema, fetched once and kept parsed
//! ([`Registry::decode`]). The decoded record is the JSON that the
//! mappings' paths read, whatever its format ([`avro`], [`protobuf`]; a
//! JSON Schema record is JSON after its frame).
//!
//! Failures keep their class: a record without the frame, with an id the
//! registry does not know, or that its schema does not decode, is bad data
//! (the DLQ); a registry that is down or slow is an outage (the record
//! waits and is retried, as for Cassandra); a registry that refuses rtds's
//! login stops the job, naming what to fix.

pub mod avro;
pub mod protobuf;
pub mod users;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use serde::Deserialize;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::config::{RegistrySettings, masked_source};
use crate::logging::error_chain;
use crate::mapping::{Format, Json};
use crate::retry::Class;
use crate::user::Invalid;
use avro::AvroSchema;
use protobuf::ProtoSchema;

/// How deep references of references may go: a cycle ends here.
const MAX_REFERENCE_DEPTH: usize = 16;

/// A schema as parsed, or why its text is not one (kept too: an id's
/// schema never changes, so neither does the answer).
type Parsed = Result<Schema, String>;

/// One id's place in the cache: empty until its schema is fetched.
type Slot = Arc<OnceCell<Arc<Parsed>>>;

/// A registry's schema, parsed for decoding.
pub enum Schema {
    /// Boxed: its names make it the largest by far.
    Avro(Box<AvroSchema>),
    Protobuf(ProtoSchema),
    /// A JSON Schema: the record is the JSON after the frame.
    Json,
}

impl Schema {
    fn kind(&self) -> &'static str {
        match self {
            Schema::Avro(_) => "an Avro",
            Schema::Protobuf(_) => "a Protobuf",
            Schema::Json => "a JSON",
        }
    }
}

/// Why a schema could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Fetch {
    /// The registry has no schema of this id (or of a reference of it).
    #[error("{0}")]
    Unknown(String),
    /// Not reachable, slow, or failing: worth another try.
    #[error("{0}")]
    Down(String),
    /// Refused rtds (its login, or the request): retrying cannot help.
    #[error("{0}")]
    Denied(String),
}

impl Fetch {
    pub fn class(&self) -> Class {
        match self {
            Fetch::Down(_) => Class::Transient,
            Fetch::Unknown(_) | Fetch::Denied(_) => Class::Permanent,
        }
    }
}

/// The registry's client and its schemas, parsed, by id.
pub struct Registry {
    http: reqwest::Client,
    /// The base URL, without a trailing `/`.
    base: String,
    /// Masked, for messages.
    shown: String,
    login: Option<(String, String)>,
    cache: Mutex<Cache>,
}

/// The schemas kept, each with when it was last used; a cell is set once,
/// by the first record that needs it, while the others of that id wait.
struct Cache {
    cells: HashMap<u32, (Slot, u64)>,
    clock: u64,
    limit: usize,
}

/// `GET /schemas/ids/{id}` and `GET /subjects/{subject}/versions/{v}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    schema: String,
    /// `AVRO` when absent, as the Confluent API has it.
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    /// The name the schema uses for it (a `.proto` import, an Avro type).
    name: String,
    subject: String,
    version: i64,
}

impl Registry {
    /// A client of `settings.url`, which must be set.
    pub fn new(settings: &RegistrySettings) -> anyhow::Result<Registry> {
        let shown = masked_source(&settings.url);
        let mut http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("rtds/", env!("CARGO_PKG_VERSION")));
        if !settings.ca_file.is_empty() {
            let pem = std::fs::read(&settings.ca_file)
                .with_context(|| format!("cannot read registry.ca_file {}", settings.ca_file))?;
            let ca = reqwest::Certificate::from_pem(&pem).with_context(|| {
                format!(
                    "registry.ca_file {} is not a PEM certificate",
                    settings.ca_file
                )
            })?;
            http = http.add_root_certificate(ca);
        }
        let login = (!settings.username.is_empty())
            .then(|| (settings.username.clone(), settings.password.clone()));
        Ok(Registry {
            http: http
                .build()
                .context("cannot set up the schema registry's client")?,
            base: settings.url.trim_end_matches('/').to_string(),
            shown,
            login,
            cache: Mutex::new(Cache {
                cells: HashMap::new(),
                clock: 0,
                limit: settings.cache_schemas,
            }),
        })
    }

    /// The record in `payload` of a `format` topic, decoded; a bad record
    /// is `Ok(Err(why))`, and an `Err` is the registry failing.
    pub async fn decode<'a>(
        &self,
        format: Format,
        payload: &'a [u8],
    ) -> Result<Result<Json<'a>, Invalid>, Fetch> {
        let (id, encoded) = match wire::framed(payload) {
            Ok(framed) => framed,
            Err(why) => return Ok(Err(Invalid::NotRegistryFramed(why))),
        };
        let schema = match self.schema(id).await {
            Ok(schema) => schema,
            Err(Fetch::Unknown(why)) => return Ok(Err(Invalid::UnknownSchema { id, why })),
            Err(error) => return Err(error),
        };
        let undecodable = |why| Invalid::Undecodable { id, why };
        let decoded = match (format, schema.as_ref()) {
            (_, Err(why)) => Err(format!("its schema cannot be read: {why}")),
            (Format::Avro, Ok(Schema::Avro(avro))) => avro.decode(encoded),
            (Format::Protobuf, Ok(Schema::Protobuf(proto))) => proto.decode(encoded),
            (Format::JsonSchema, Ok(Schema::Json)) => {
                Json::parse(encoded).map_err(|error| format!("not JSON: {error}"))
            }
            (format, Ok(schema)) => Err(format!(
                "its schema is {} schema, and the mapping reads {}",
                schema.kind(),
                format.name()
            )),
        };
        Ok(decoded.map_err(undecodable))
    }

    /// The schema of `id`: from the cache, or fetched and parsed once.
    pub async fn schema(&self, id: u32) -> Result<Arc<Parsed>, Fetch> {
        let cell = self.cache.lock().expect("schema cache lock").cell(id);
        cell.get_or_try_init(|| async { Ok(Arc::new(self.fetch(id).await?)) })
            .await
            .cloned()
    }

    async fn fetch(&self, id: u32) -> Result<Parsed, Fetch> {
        let reply: Reply = self.get(&format!("schemas/ids/{id}")).await?;
        let mut references = Vec::new();
        self.references(&reply.references, &mut references, 0)
            .await?;
        Ok(parse(&reply, references))
    }

    /// The texts of `wanted` and of theirs, each after those it uses.
    async fn references(
        &self,
        wanted: &[Reference],
        out: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Result<(), Fetch> {
        if !wanted.is_empty() && depth >= MAX_REFERENCE_DEPTH {
            return Err(Fetch::Unknown(format!(
                "references nested deeper than {MAX_REFERENCE_DEPTH}: a cycle?"
            )));
        }
        for reference in wanted {
            let path = format!(
                "subjects/{}/versions/{}",
                encoded(&reference.subject),
                reference.version
            );
            let reply: Reply = self.get(&path).await?;
            Box::pin(self.references(&reply.references, out, depth + 1)).await?;
            out.push((reference.name.clone(), reply.schema));
        }
        Ok(())
    }

    /// The subjects it has: what the status asks, to see that it answers.
    pub async fn subjects(&self) -> Result<Vec<String>, Fetch> {
        self.get("subjects").await
    }

    /// Registers the Avro schema `schema` under `subject`: its id, new or
    /// the one it already had.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, Fetch> {
        #[derive(Deserialize)]
        struct Registered {
            id: u32,
        }
        let path = format!("subjects/{}/versions", encoded(subject));
        let body = serde_json::json!({ "schema": schema });
        let request = self.http.post(format!("{}/{path}", self.base)).json(&body);
        let registered: Registered = self.call(request, &path).await?;
        Ok(registered.id)
    }

    /// A GET of `path` under the base URL, its reply read as JSON.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Fetch> {
        let request = self.http.get(format!("{}/{path}", self.base));
        self.call(request, path).await
    }

    /// Sends `request` (to `path`) with the login: its reply read as JSON,
    /// or its failure classed.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<T, Fetch> {
        let accept = "application/vnd.schemaregistry.v1+json, application/json";
        let mut request = request.header("Accept", accept);
        if let Some((user, password)) = &self.login {
            request = request.basic_auth(user, Some(password));
        }
        let at = || format!("the schema registry at {} ({path})", self.shown);
        let reply = request.send().await.map_err(|error| {
            Fetch::Down(format!("{}: {}", at(), error_chain(&error.without_url())))
        })?;
        let status = reply.status();
        if status.is_success() {
            return reply.json().await.map_err(|error| {
                Fetch::Down(format!(
                    "{}: a reply rtds cannot read: {}",
                    at(),
                    error_chain(&error.without_url())
                ))
            });
        }
        let said = reply.text().await.unwrap_or_default();
        let said: String = said.chars().take(200).collect();
        Err(match status.as_u16() {
            404 => Fetch::Unknown(format!("{} answered 404: {said}", at())),
            401 | 403 => Fetch::Denied(format!(
                "{} refused rtds ({status}: {said}): check registry.username and \
                 registry.password, and that the user may read schemas",
                at()
            )),
            408 | 429 | 500.. => Fetch::Down(format!("{} answered {status}: {said}", at())),
            _ => Fetch::Denied(format!(
                "{} refused the request ({status}: {said}): check registry.url (for Apicurio \
                 it ends in /apis/ccompat/v7)",
                at()
            )),
        })
    }
}

/// A client of `settings.url`, asked for its subjects once: a registry
/// that refuses rtds, or a URL where none answers as one, stops the start;
/// one that is down only holds the records that need it until it is back.
pub async fn open(settings: &RegistrySettings) -> anyhow::Result<Registry> {
    let registry = Registry::new(settings)?;
    match registry.subjects().await {
        Ok(subjects) => info!(
            registry = %registry.shown,
            subjects = subjects.len(),
            "reading schemas from the schema registry"
        ),
        Err(Fetch::Down(why)) => {
            warn!("{why}: records of its formats wait until it answers")
        }
        Err(Fetch::Denied(why)) => bail!("{why}"),
        Err(Fetch::Unknown(why)) => bail!(
            "{why}: no schema registry answers there; registry.url is the base of its \
             Confluent API (for Apicurio, http://HOST:PORT/apis/ccompat/v7)"
        ),
    }
    Ok(registry)
}

impl Cache {
    /// The cell of `id`, made when missing; past the limit, the least
    /// recently used other cell is dropped first.
    fn cell(&mut self, id: u32) -> Slot {
        self.clock += 1;
        let clock = self.clock;
        if let Some((cell, used)) = self.cells.get_mut(&id) {
            *used = clock;
            return cell.clone();
        }
        if self.cells.len() >= self.limit
            && let Some(oldest) = self
                .cells
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id)
        {
            self.cells.remove(&oldest);
        }
        let cell = Arc::new(OnceCell::new());
        self.cells.insert(id, (cell.clone(), clock));
        cell
    }
}

/// A reply's schema, parsed by its type.
fn parse(reply: &Reply, references: Vec<(String, String)>) -> Parsed {
    match reply.schema_type.as_deref().unwrap_or("AVRO") {
        "AVRO" => {
            let texts: Vec<String> = references.into_iter().map(|(_, text)| text).collect();
            AvroSchema::parse(&reply.schema, &texts).map(|avro| Schema::Avro(Box::new(avro)))
        }
        "PROTOBUF" => ProtoSchema::parse(&reply.schema, references).map(Schema::Protobuf),
        "JSON" => Ok(Schema::Json),
        other => Err(format!(
            "a schema of type {other}, which rtds does not read"
        )),
    }
}

/// A subject in a URL path.
fn encoded(subject: &str) -> String {
    subject
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
