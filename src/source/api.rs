//! The Random User API's reply shape (version 1.4), shared by the HTTP client
//! that reads it, the built-in generator that makes it and the local stand-in
//! server that serves it, so the three can never drift apart.
//!
//! Only the fields a [`crate::user::User`] record needs are required when
//! reading; everything else is optional, because the real API drops fields the
//! caller excluded with `inc`/`exc` and may add new ones at any time.

use serde::{Deserialize, Serialize};

/// One reply of `GET /api/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply<R = ApiUser> {
    pub results: Vec<R>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Info>,
}

/// The `info` block: echoes what was asked, so a caller can page through a seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub seed: String,
    pub results: u32,
    pub page: u32,
    pub version: String,
}

/// One element of `results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiUser {
    pub gender: String,
    pub name: Name,
    pub location: Location,
    pub email: String,
    pub login: Login,
    pub dob: DateAndAge,
    pub registered: DateAndAge,
    pub phone: String,
    pub picture: Picture,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<NationalId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub first: String,
    pub last: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub street: Street,
    pub city: String,
    pub state: String,
    pub country: String,
    pub postcode: Postcode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<Coordinates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Timezone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Street {
    pub number: u32,
    pub name: String,
}

/// The API sends a string for some nationalities ("EC1A 1BB", "01234") and a
/// number for others (e.g. 75915); both are kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Postcode {
    Text(String),
    Number(u64),
}

impl std::fmt::Display for Postcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Postcode::Text(text) => f.write_str(text),
            Postcode::Number(number) => write!(f, "{number}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    pub latitude: String,
    pub longitude: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timezone {
    pub offset: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `dob` and `registered`: an ISO-8601 date and the age in years it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DateAndAge {
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
}

/// The national id; `value` is `null` for nationalities without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NationalId {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large: Option<String>,
    pub medium: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// The top-level fields a caller can name in `inc` and `exc`.
pub const FIELDS: [&str; 12] = [
    "gender",
    "name",
    "location",
    "email",
    "login",
    "registered",
    "dob",
    "phone",
    "cell",
    "id",
    "picture",
    "nat",
];

/// The fields a record is made from: what the client asks for with `inc`.
pub const RECORD_FIELDS: [&str; 9] = [
    "gender",
    "name",
    "location",
    "email",
    "login",
    "registered",
    "dob",
    "phone",
    "picture",
];
