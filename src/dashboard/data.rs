//! The stored users as the page shows them: the newest few, and charts of a
//! bounded sample (gender, countries, age, registration year). The sample is
//! labelled: the whole table when it is small, its first rows otherwise.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use crate::cassandra::Sampled;
use crate::user::User;

/// Countries shown by name; the rest add up under "other".
const TOP_COUNTRIES: usize = 10;

/// One bar of a chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Count {
    pub label: String,
    pub count: u64,
}

/// The charts of one sample; each adds up to `sample`.
#[derive(Debug, Clone, Serialize)]
pub struct Charts {
    pub sample: usize,
    pub whole_table: bool,
    /// Why there is no sample, when there is none.
    pub unavailable: Option<String>,
    pub gender: Vec<Count>,
    pub countries: Vec<Count>,
    pub age: Vec<Count>,
    pub registered: Vec<Count>,
}

/// A stored user as the page's card shows it, and nothing more: `/api/users`
/// answers whoever reaches the port, so the phone, street address, post code
/// and exact date of birth stay in the table; the card needs only the age.
#[derive(Debug, Clone, Serialize)]
pub struct StoredUser {
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub email: String,
    pub picture: String,
    pub country: Option<String>,
    /// Whole years since `dob` at `now`, when `dob` is a date.
    pub age: Option<i32>,
    pub written_at: Option<DateTime<Utc>>,
}

impl StoredUser {
    pub fn new(user: User, written_at: Option<i64>, now: DateTime<Utc>) -> StoredUser {
        StoredUser {
            country: country(&user.address).map(str::to_string),
            age: age(&user.dob, now),
            written_at: written_at.and_then(DateTime::from_timestamp_micros),
            first_name: user.first_name,
            last_name: user.last_name,
            username: user.username,
            email: user.email,
            picture: user.picture,
        }
    }
}

/// The last part of `"{number} {street}, {city}, {state}, {country}"`.
fn country(address: &str) -> Option<&str> {
    address
        .rsplit_once(", ")
        .map(|(_, country)| country)
        .filter(|c| !c.is_empty())
}

fn date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Whole years from the date `dob` to `now`.
fn age(dob: &str, now: DateTime<Utc>) -> Option<i32> {
    let years = now.years_since(date(dob)?)?;
    i32::try_from(years).ok()
}

/// Counts sorted by label (the youngest band first, "unknown" last), or by
/// count (largest first).
fn counts(map: impl IntoIterator<Item = (String, u64)>, by_label: bool) -> Vec<Count> {
    let mut counts: Vec<Count> = map
        .into_iter()
        .map(|(label, count)| Count { label, count })
        .collect();
    if by_label {
        counts.sort_by_key(|c| (c.label == "unknown", c.label != "under 20", c.label.clone()));
    } else {
        counts.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    }
    counts
}

/// The `n` largest counts by name, largest first, then the rest added up
/// under "other" with `other`, counted there already: a bar chart stays
/// readable however many names there are.
pub fn top(map: impl IntoIterator<Item = (String, u64)>, n: usize, other: u64) -> Vec<Count> {
    let mut counts = counts(map, false);
    let rest = counts.split_off(n.min(counts.len()));
    let other = other + rest.iter().map(|c| c.count).sum::<u64>();
    if other > 0 {
        counts.push(Count {
            label: "other".into(),
            count: other,
        });
    }
    counts
}

/// An age's decade, `20–29`; under 20 and 70 on together.
fn age_band(age: i32) -> String {
    match age {
        ..20 => "under 20".into(),
        70.. => "70+".into(),
        _ => format!("{}–{}", age / 10 * 10, age / 10 * 10 + 9),
    }
}

pub fn charts(sample: &[Sampled], whole_table: bool, now: DateTime<Utc>) -> Charts {
    let (mut gender, mut countries, mut age, mut registered) = Default::default();
    let bump = |map: &mut HashMap<String, u64>, key: String| *map.entry(key).or_default() += 1;
    let unknown = || "unknown".to_string();
    for row in sample {
        bump(
            &mut gender,
            row.gender
                .clone()
                .filter(|g| !g.is_empty())
                .unwrap_or_else(unknown),
        );
        let place = row.address.as_deref().and_then(country);
        bump(&mut countries, place.map_or_else(unknown, str::to_string));
        let years = row.dob.as_deref().and_then(|dob| self::age(dob, now));
        bump(&mut age, years.map_or_else(unknown, age_band));
        let registered_date = row.registered_date.as_deref().and_then(date);
        let year = registered_date.map(|d| d.year().to_string());
        bump(&mut registered, year.unwrap_or_else(unknown));
    }
    Charts {
        sample: sample.len(),
        whole_table,
        unavailable: None,
        gender: counts(gender, false),
        countries: top(countries, TOP_COUNTRIES, 0),
        age: counts(age, true),
        registered: counts(registered, true),
    }
}

/// No charts, and why.
pub fn unavailable(why: String) -> Charts {
    Charts {
        whole_table: false,
        unavailable: Some(why),
        ..charts(&[], false, Utc::now())
    }
}

/// The ids of the `n` most recently written rows of the sample, newest first.
pub fn newest(sample: &[Sampled], n: usize) -> Vec<(uuid::Uuid, Option<i64>)> {
    let mut rows: Vec<_> = sample.iter().map(|r| (r.id, r.written_at)).collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    rows.truncate(n);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(gender: &str, country: &str, dob: &str, written_at: i64) -> Sampled {
        Sampled {
            id: uuid::Uuid::new_v4(),
            gender: Some(gender.into()),
            address: Some(format!("1 Main St, Town, State, {country}")),
            dob: Some(dob.into()),
            registered_date: Some("2015-06-01T00:00:00.000Z".into()),
            written_at: Some(written_at),
        }
    }

    #[test]
    fn a_stored_user_is_what_its_card_shows_and_no_more() {
        let user = User {
            id: uuid::Uuid::new_v4(),
            first_name: "Ana".into(),
            last_name: "Silva".into(),
            gender: "female".into(),
            address: "12 Rua Direita, Porto, Porto, Portugal".into(),
            post_code: "4000-001".into(),
            email: "ana.silva@example.com".into(),
            username: "bluecat10".into(),
            dob: "1990-03-04T10:00:00.000Z".into(),
            registered_date: "2015-06-01T00:00:00.000Z".into(),
            phone: "(555) 010-1234".into(),
            picture: "https://randomuser.me/api/portraits/med/women/12.jpg".into(),
        };
        let now = DateTime::parse_from_rfc3339("2026-03-03T00:00:00Z")
            .unwrap()
            .to_utc();
        let stored = StoredUser::new(user, Some(1_700_000_000_000_000), now);
        let json = serde_json::to_value(stored).unwrap();
        let fields: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "age",
                "country",
                "email",
                "first_name",
                "last_name",
                "picture",
                "username",
                "written_at"
            ],
            "{json}"
        );
        assert_eq!(json["country"], "Portugal");
        assert_eq!(json["age"], 35, "36 on the next day");
    }

    #[test]
    fn every_chart_adds_up_to_the_sample() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut sample: Vec<Sampled> = (0..30)
            .map(|i| {
                let country = format!("Country {}", i % 12);
                row(
                    ["female", "male"][i % 2],
                    &country,
                    "1990-03-04T10:00:00.000Z",
                    i as i64,
                )
            })
            .collect();
        sample.push(Sampled {
            gender: None,
            dob: Some("not a date".into()),
            ..row("x", "Y", "", 99)
        });
        let charts = charts(&sample, true, now);
        for chart in [
            &charts.gender,
            &charts.countries,
            &charts.age,
            &charts.registered,
        ] {
            assert_eq!(chart.iter().map(|c| c.count).sum::<u64>(), 31, "{chart:?}");
        }
        assert_eq!(charts.countries.len(), TOP_COUNTRIES + 1);
        assert_eq!(charts.countries.last().unwrap().label, "other");
        assert!(charts.age.contains(&Count {
            label: "30–39".into(),
            count: 30
        }));
        assert!(charts.age.contains(&Count {
            label: "unknown".into(),
            count: 1
        }));
        let newest = newest(&sample, 2);
        assert_eq!(newest[0].1, Some(99));
        assert_eq!(newest[1].1, Some(29));
    }
}
