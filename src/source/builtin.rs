//! An in-process generator of users in the exact shape of the Random User API
//! 1.4, so the pipeline can run (and be benchmarked) without the network.
//!
//! It imitates the real API's quirks that a consumer must survive:
//!
//! * `location.postcode` is a JSON number for most nationalities (leading
//!   zeros lost, as in the API: a German `01067` comes out as `1067`) and a
//!   string for GB (`"EC1A 1BB"`-like), CA (`"K1A 0B1"`), NL (`"1234 AB"`),
//!   IE (`"D02 X285"`), NO and UA; NO (Oslo `0xxx`) and UA (Kyiv `0xxxx`)
//!   string codes often start with `0`.
//! * `id` is `{"name": "", "value": null}` for IE, IN and IR.
//! * Names and places use their own script and diacritics (German umlauts,
//!   Finnish, Norwegian, Turkish, Serbian Latin, Ukrainian Cyrillic, Persian);
//!   emails and usernames stay ASCII, as in the API.
//!
//! Speed matters because this feeds the throughput benchmark: every user is
//! drawn from a [`SmallRng`] seeded from `(seed, page, index)`, all tables are
//! static (in `builtin/tables.rs`, apart from the logic here), and every
//! string is built in place with no formatting machinery.
//! The output is deterministic for one build; `SmallRng`'s algorithm may change
//! between `rand` versions, so it is not a stable format across upgrades.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{
    ApiUser, Coordinates, DateAndAge, Location, Login, Name, NationalId, Picture, Postcode, Street,
    Timezone,
};

mod tables;

use tables::{ADJECTIVES, ANIMALS, NATS, PASSWORDS, TIMEZONES};

/// The nationality codes the generator supports, in the API's (alphabetical) order.
pub const NATIONALITIES: &[&str] = &{
    let mut codes = [""; NATS.len()];
    let mut i = 0;
    while i < NATS.len() {
        codes[i] = NATS[i].code;
        i += 1;
    }
    codes
};

/// A nationality code the generator does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown nationality {0:?}; supported: {list}", list = NATIONALITIES.join(", "))]
pub struct UnknownNationality(pub String);

/// A fresh random seed in the API's format: 16 lowercase hex digits.
pub fn random_seed() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Makes the users of one seed, page by page, like the API's `seed`+`page`.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    nats: Vec<&'static Nationality>,
}

impl Generator {
    /// `nats`: `None` for all supported nationalities, or the codes to draw
    /// from (case-insensitive, e.g. `"gb"`, `"US"`). An empty list means all,
    /// as the API does when `nat` names nothing usable.
    pub fn new(seed: &str, nats: Option<&[String]>) -> Result<Self, UnknownNationality> {
        let nats = match nats {
            Some(codes) if !codes.is_empty() => {
                let wanted = codes
                    .iter()
                    .map(|code| {
                        let code = code.trim();
                        NATIONALITIES
                            .iter()
                            .find(|known| known.eq_ignore_ascii_case(code))
                            .copied()
                            .ok_or_else(|| UnknownNationality(code.to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Table order, not the caller's, so "gb,us" and "us,gb" agree.
                NATS.iter()
                    .filter(|nat| wanted.contains(&nat.code))
                    .collect()
            }
            _ => NATS.iter().collect(),
        };
        Ok(Self {
            seed: fnv1a(seed.as_bytes()),
            nats,
        })
    }

    /// The users of page `page` (1-based), `results` per page. User `index` of
    /// a page depends only on (seed, page, index), so a page's first users do
    /// not change with `results`.
    pub fn page(&self, page: u32, results: usize) -> Vec<ApiUser> {
        self.users(page, results).collect()
    }

    /// The users of [`Generator::page`] one at a time, for callers that turn
    /// each into something smaller at once and never hold the whole page.
    pub fn users(&self, page: u32, results: usize) -> impl Iterator<Item = ApiUser> + '_ {
        let page_key = mix(self.seed ^ mix(u64::from(page)));
        (0..results).map(move |index| self.user(page_key.wrapping_add(index as u64)))
    }

    fn user(&self, key: u64) -> ApiUser {
        let rng = &mut SmallRng::seed_from_u64(key);
        let nat = pick(rng, &self.nats);
        let female = rng.random::<bool>();
        let (gender, title, firsts, portraits) = if female {
            ("female", pick(rng, nat.titles.female), nat.female, "women/")
        } else {
            ("male", nat.titles.male, nat.male, "men/")
        };
        let first = pick(rng, firsts);
        let last = pick(rng, nat.last);

        let location = location(rng, nat);
        let email = email(first, last);
        let username = username(rng);
        let uuid = uuid::Builder::from_random_bytes(rng.random::<u128>().to_le_bytes())
            .into_uuid()
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned();

        let dob = date_and_age(rng, 18, 80);
        let registered = date_and_age(rng, 0, 20);
        let portrait = rng.random_range(0..100);

        ApiUser {
            gender: gender.to_owned(),
            name: Name {
                title: Some(title.to_owned()),
                first: first.to_owned(),
                last: last.to_owned(),
            },
            location,
            email,
            login: Login {
                uuid: Some(uuid),
                username,
                password: Some(pick(rng, PASSWORDS).to_owned()),
            },
            dob,
            registered,
            phone: fill(rng, nat.phone),
            picture: Picture {
                large: Some(portrait_url("", portraits, portrait)),
                medium: portrait_url("med/", portraits, portrait),
                thumbnail: Some(portrait_url("thumb/", portraits, portrait)),
            },
            cell: Some(fill(rng, nat.cell)),
            id: Some(match nat.id {
                Some((name, pattern)) => NationalId {
                    name: name.to_owned(),
                    value: Some(fill(rng, pattern)),
                },
                None => NationalId {
                    name: String::new(),
                    value: None,
                },
            }),
            nat: Some(nat.code.to_owned()),
        }
    }
}

/// Where a user of `nat` lives. Draws from `rng` in a fixed order: the
/// generator's output for a seed depends on it.
fn location(rng: &mut SmallRng, nat: &Nationality) -> Location {
    Location {
        street: Street {
            number: rng.random_range(1..=9999),
            name: pick(rng, nat.streets).to_owned(),
        },
        city: pick(rng, nat.cities).to_owned(),
        state: pick(rng, nat.states).to_owned(),
        country: nat.country.to_owned(),
        postcode: match nat.postcode {
            PostcodeFormat::Number(low, high) => {
                Postcode::Number(u64::from(rng.random_range(low..=high)))
            }
            PostcodeFormat::Text(patterns) => {
                let pattern = pick(rng, patterns);
                Postcode::Text(fill(rng, pattern))
            }
        },
        coordinates: Some(Coordinates {
            latitude: decimal(rng.random_range(-900_000..=900_000)),
            longitude: decimal(rng.random_range(-1_800_000..=1_800_000)),
        }),
        timezone: Some({
            let (offset, description) = pick(rng, TIMEZONES);
            Timezone {
                offset: offset.to_owned(),
                description: description.to_owned(),
            }
        }),
    }
}

/// `first.last@example.com`, folded to ASCII as the API does.
fn email(first: &str, last: &str) -> String {
    let mut email = String::with_capacity(first.len() + last.len() + 13);
    push_folded(&mut email, first);
    email.push('.');
    push_folded(&mut email, last);
    email.push_str("@example.com");
    email
}

/// An adjective, an animal and three digits, as the API's usernames.
fn username(rng: &mut SmallRng) -> String {
    let mut username = String::with_capacity(24);
    username.push_str(pick(rng, ADJECTIVES));
    username.push_str(pick(rng, ANIMALS));
    push_padded(&mut username, rng.random_range(100..1000), 3);
    username
}

/// FNV-1a: a stable hash of the seed text (std's hasher is randomly keyed).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64's finalizer: spreads page numbers so pages get unrelated keys.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn pick<T: Copy>(rng: &mut SmallRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Fills an ASCII pattern: `#` a digit, `%` a non-zero digit, `A` an
/// uppercase letter; anything else is kept.
fn fill(rng: &mut SmallRng, pattern: &str) -> String {
    pattern
        .bytes()
        .map(|byte| match byte {
            b'#' => char::from(b'0' + rng.random_range(0..10u8)),
            b'%' => char::from(b'1' + rng.random_range(0..9u8)),
            b'A' => char::from(b'A' + rng.random_range(0..26u8)),
            other => char::from(other),
        })
        .collect()
}

fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    let mut start = digits.len();
    while rest > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    for _ in digits.len() - start..width {
        out.push('0');
    }
    digits[start..]
        .iter()
        .for_each(|&d| out.push(char::from(d)));
}

/// Ten-thousandths as the API's coordinate text, e.g. -698246 -> "-69.8246".
fn decimal(ten_thousandths: i32) -> String {
    let mut out = String::with_capacity(10);
    if ten_thousandths < 0 {
        out.push('-');
    }
    let magnitude = ten_thousandths.unsigned_abs();
    push_padded(&mut out, magnitude / 10_000, 1);
    out.push('.');
    push_padded(&mut out, magnitude % 10_000, 4);
    out
}

fn portrait_url(size: &str, folder: &str, number: u32) -> String {
    let mut url = String::with_capacity(56);
    url.push_str("https://randomuser.me/api/portraits/");
    url.push_str(size);
    url.push_str(folder);
    push_padded(&mut url, number, 1);
    url.push_str(".jpg");
    url
}

/// Ages are counted at this fixed instant, 2025-01-01T00:00:00Z, rather than
/// "now", so the same seed gives the same users on every run.
const REFERENCE_UNIX: i64 = 1_735_689_600;
const REFERENCE_YEAR: i64 = 2025;
/// The mean Gregorian year, in seconds.
const YEAR_SECONDS: i64 = 31_556_952;
const DAY_SECONDS: i64 = 86_400;

/// A date between `min_age` and `max_age` years before the reference instant,
/// as the API's ISO-8601 text with milliseconds, and the age it gives.
fn date_and_age(rng: &mut SmallRng, min_age: i64, max_age: i64) -> DateAndAge {
    let seconds =
        REFERENCE_UNIX - rng.random_range(min_age * YEAR_SECONDS..(max_age + 1) * YEAR_SECONDS);
    let millis = rng.random_range(0..1000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(DAY_SECONDS));
    let time = seconds.rem_euclid(DAY_SECONDS) as u32;
    // The reference is 1 January, so only those born on 1 January have had
    // this year's birthday.
    let age = REFERENCE_YEAR - year - i64::from((month, day) != (1, 1));

    let mut date = String::with_capacity(24);
    push_padded(&mut date, year as u32, 4);
    for (separator, value) in [
        ('-', month),
        ('-', day),
        ('T', time / 3600),
        (':', time / 60 % 60),
        (':', time % 60),
    ] {
        date.push(separator);
        push_padded(&mut date, value, 2);
    }
    date.push('.');
    push_padded(&mut date, millis, 3);
    date.push('Z');
    DateAndAge {
        date,
        age: Some(age as u32),
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = shifted_month + if shifted_month < 10 { 3 } else { -9 };
    (
        year_of_era + era * 400 + i64::from(month <= 2),
        month as u32,
        day as u32,
    )
}

/// Appends `text` lowercased and folded to ASCII for an email address: Latin
/// diacritics lose their marks, Cyrillic and Persian are transliterated
/// letter by letter (as the API does), and anything else is dropped.
fn push_folded(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if !c.is_ascii() {
            out.push_str(fold(c.to_lowercase().next().unwrap_or(c)));
        }
    }
}

fn fold(c: char) -> &'static str {
    match c {
        'ä' | 'á' | 'à' | 'â' | 'ã' | 'å' | 'ā' => "a",
        'æ' => "ae",
        'ç' | 'č' | 'ć' => "c",
        'đ' => "dj",
        'é' | 'è' | 'ê' | 'ë' => "e",
        'ğ' => "g",
        'í' | 'ì' | 'î' | 'ï' | 'ı' | 'i' => "i",
        'ñ' => "n",
        'ö' | 'ó' | 'ò' | 'ô' | 'õ' | 'ø' => "o",
        'ß' => "ss",
        'ş' | 'š' => "s",
        'ü' | 'ú' | 'ù' | 'û' => "u",
        'ž' => "z",
        // Ukrainian.
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "h",
        'ґ' => "g",
        'д' => "d",
        'е' => "e",
        'є' => "ye",
        'ж' => "zh",
        'з' => "z",
        'и' => "y",
        'і' => "i",
        'ї' => "yi",
        'й' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ю' => "yu",
        'я' => "ya",
        // Persian: consonants and long vowels only, short vowels are unwritten.
        'ا' | 'آ' => "a",
        'ب' => "b",
        'پ' => "p",
        'ت' | 'ط' => "t",
        'ث' | 'س' | 'ص' => "s",
        'ج' => "j",
        'چ' => "ch",
        'ح' | 'ه' | 'ة' => "h",
        'خ' => "kh",
        'د' => "d",
        'ذ' | 'ز' | 'ض' | 'ظ' => "z",
        'ر' => "r",
        'ژ' => "zh",
        'ش' => "sh",
        'غ' | 'ق' => "gh",
        'ف' => "f",
        'ک' | 'ك' => "k",
        'گ' => "g",
        'ل' => "l",
        'م' => "m",
        'ن' => "n",
        'و' => "v",
        'ی' | 'ي' | 'ئ' => "y",
        _ => "",
    }
}

type Table = &'static [&'static str];

/// One nationality's tables and formats.
#[derive(Debug)]
struct Nationality {
    code: &'static str,
    country: &'static str,
    titles: Titles,
    male: Table,
    female: Table,
    last: Table,
    streets: Table,
    cities: Table,
    states: Table,
    postcode: PostcodeFormat,
    /// [`fill`] patterns.
    phone: &'static str,
    cell: &'static str,
    /// The id's name and [`fill`] pattern; `None` gives `{"name":"","value":null}`.
    id: Option<(&'static str, &'static str)>,
}

#[derive(Debug)]
enum PostcodeFormat {
    /// A JSON number drawn from this inclusive range.
    Number(u32, u32),
    /// A JSON string from one of these [`fill`] patterns.
    Text(Table),
}

#[derive(Debug, Clone, Copy)]
struct Titles {
    male: &'static str,
    female: Table,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::api::Reply;
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    fn all(seed: &str) -> Generator {
        Generator::new(seed, None).expect("no filter")
    }

    fn only(codes: &[&str]) -> Generator {
        let codes: Vec<String> = codes.iter().map(|code| code.to_string()).collect();
        Generator::new("filter", Some(&codes)).expect("known codes")
    }

    #[test]
    fn nationalities_list_the_table_in_order() {
        let codes: Vec<&str> = NATS.iter().map(|nat| nat.code).collect();
        assert_eq!(NATIONALITIES, codes.as_slice());
        assert!(NATIONALITIES.is_sorted());
        assert!(NATIONALITIES.len() >= 12);
    }

    #[test]
    fn patterns_are_ascii_and_tables_are_not_empty() {
        for nat in NATS {
            let mut patterns = vec![nat.phone, nat.cell];
            patterns.extend(nat.id.map(|(_, pattern)| pattern));
            if let PostcodeFormat::Text(texts) = nat.postcode {
                patterns.extend_from_slice(texts);
            }
            assert!(patterns.iter().all(|p| p.is_ascii()), "{}", nat.code);
            for table in [
                nat.male,
                nat.female,
                nat.last,
                nat.streets,
                nat.cities,
                nat.states,
            ] {
                assert!(!table.is_empty(), "{}", nat.code);
            }
        }
    }

    #[test]
    fn same_seed_and_page_give_the_same_users() {
        assert_eq!(all("abc").page(1, 50), all("abc").page(1, 50));
        assert_eq!(all("abc").page(3, 10), all("abc").page(3, 50)[..10]);
        assert_ne!(all("abc").page(1, 50), all("abc").page(2, 50));
        assert_ne!(all("abc").page(1, 50), all("abd").page(1, 50));
    }

    /// Pins the output of one seed: a few fields of the first users, and a
    /// hash of a whole page's JSON, which touches every table. A change here
    /// means the same seed no longer gives the same users.
    #[test]
    fn a_seed_gives_the_pinned_users() {
        let users = all("pinned").page(1, 3);
        let summary: Vec<String> = users
            .iter()
            .map(|u| {
                format!(
                    "{} {} {} | {} | {} {}, {}",
                    u.nat.as_deref().unwrap(),
                    u.name.first,
                    u.name.last,
                    u.email,
                    u.location.street.number,
                    u.location.street.name,
                    u.location.city
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "CA Félix Roy | felix.roy@example.com | 802 Parliament St, Edmonton",
                "NL Marloes Peters | marloes.peters@example.com | 891 Kerkstraat, Breda",
                "TR Ahmet Arslan | ahmet.arslan@example.com | 4854 İstiklal Cd, Kahramanmaraş",
            ]
        );
        let page = serde_json::to_vec(&all("pinned").page(2, 5000)).unwrap();
        assert_eq!(fnv1a(&page), 0xfb83_dda0_9363_7c70);
    }

    #[test]
    fn every_nationality_occurs_without_a_filter() {
        let seen: BTreeSet<String> = all("mix")
            .page(1, 5000)
            .into_iter()
            .filter_map(|user| user.nat)
            .collect();
        let expected: BTreeSet<String> = NATIONALITIES.iter().map(|c| c.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn postcodes_come_as_numbers_and_as_text_with_leading_zeros() {
        let users = all("postcodes").page(1, 5000);
        let text = |user: &ApiUser| match &user.location.postcode {
            Postcode::Text(text) => Some(text.clone()),
            Postcode::Number(_) => None,
        };
        assert!(
            users
                .iter()
                .any(|u| matches!(u.location.postcode, Postcode::Number(_)))
        );
        assert!(users.iter().filter_map(text).any(|t| t.contains(' ')));
        assert!(users.iter().filter_map(text).any(|t| t.starts_with('0')));
        for user in &users {
            let is_text = text(user).is_some();
            let nat = user.nat.as_deref().unwrap();
            let expect_text = matches!(nat, "GB" | "CA" | "NL" | "IE" | "NO" | "UA");
            assert_eq!(is_text, expect_text, "{nat}: {:?}", user.location.postcode);
        }
    }

    #[test]
    fn some_nationalities_have_a_null_id() {
        for user in all("ids").page(1, 3000) {
            let id = user.id.expect("always set");
            let nat = user.nat.unwrap();
            if matches!(nat.as_str(), "IE" | "IN" | "IR") {
                assert_eq!((id.name.as_str(), id.value), ("", None));
            } else {
                assert!(!id.name.is_empty() && id.value.is_some(), "{nat}");
            }
        }
    }

    #[test]
    fn names_and_places_use_their_own_scripts() {
        let users = all("scripts").page(1, 5000);
        let has = |needle: fn(char) -> bool| {
            users.iter().any(|u| {
                [&u.name.first, &u.name.last, &u.location.city]
                    .iter()
                    .any(|text| text.chars().any(needle))
            })
        };
        assert!(has(|c| "äöüß".contains(c)), "German or Finnish");
        assert!(has(|c| "øå".contains(c)), "Norwegian or Danish");
        assert!(has(|c| "şğı".contains(c)), "Turkish");
        assert!(has(|c| "čćđšž".contains(c)), "Serbian");
        assert!(has(|c| ('\u{0400}'..='\u{04FF}').contains(&c)), "Cyrillic");
        assert!(has(|c| ('\u{0600}'..='\u{06FF}').contains(&c)), "Arabic");
    }

    #[test]
    fn a_filter_restricts_nationalities() {
        let users = only(&["gb", "US", " fi "]).page(1, 500);
        assert!(users.iter().all(|u| {
            let nat = u.nat.as_deref().unwrap();
            ["GB", "US", "FI"].contains(&nat)
        }));
        assert_eq!(
            only(&["gb", "us"]).page(4, 20),
            only(&["US", "GB"]).page(4, 20)
        );
        assert!(
            only(&[])
                .page(1, 2000)
                .iter()
                .any(|u| u.nat.as_deref() == Some("IR"))
        );
    }

    #[test]
    fn an_unknown_nationality_is_named_in_the_error() {
        let codes = vec!["gb".to_string(), "xx".to_string()];
        let error = Generator::new("seed", Some(&codes)).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("\"xx\""), "{message}");
        assert!(
            message.contains("GB") && message.contains("UA"),
            "{message}"
        );
    }

    #[test]
    fn users_survive_a_json_round_trip() {
        let users = all("json").page(7, 3000);
        let text = serde_json::to_string(&Reply {
            results: users.clone(),
            info: None,
        })
        .unwrap();
        let back: Reply = serde_json::from_str(&text).unwrap();
        assert_eq!(back.results, users);
        for user in users.iter().take(200) {
            let one = serde_json::to_string(user).unwrap();
            assert_eq!(&serde_json::from_str::<ApiUser>(&one).unwrap(), user);
        }
    }

    #[test]
    fn random_seeds_look_like_the_apis() {
        let seed = random_seed();
        assert_eq!(seed.len(), 16);
        assert!(
            seed.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(seed, random_seed());
    }

    #[test]
    fn folding_keeps_emails_ascii() {
        let fold = |text: &str| {
            let mut out = String::new();
            push_folded(&mut out, text);
            out
        };
        assert_eq!(fold("Jördis"), "jordis");
        assert_eq!(fold("Weiß"), "weiss");
        assert_eq!(fold("Øystein"), "oystein");
        assert_eq!(fold("İbrahim"), "ibrahim");
        assert_eq!(fold("Đorđević"), "djordjevic");
        assert_eq!(fold("O'Connor"), "oconnor");
        assert_eq!(fold("van den Berg"), "vandenberg");
        assert_eq!(fold("Ярослав"), "yaroslav");
        assert_eq!(fold("محمد"), "mhmd");
    }

    #[test]
    fn dates_are_iso_with_millis_and_match_their_ages() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(REFERENCE_UNIX / DAY_SECONDS), (2025, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for user in all("dates").page(1, 2000) {
            for (dated, ages) in [(&user.dob, 18..=80), (&user.registered, 0..=20)] {
                let date = dated.date.as_bytes();
                assert_eq!(date.len(), 24, "{}", dated.date);
                assert_eq!((date[10], date[19], date[23]), (b'T', b'.', b'Z'));
                let number =
                    |range: std::ops::Range<usize>| -> i64 { dated.date[range].parse().unwrap() };
                let (year, month, day) = (number(0..4), number(5..7), number(8..10));
                assert!((1..=12).contains(&month) && (1..=31).contains(&day));
                let age = 2025 - year - i64::from((month, day) != (1, 1));
                assert_eq!(i64::from(dated.age.unwrap()), age, "{}", dated.date);
                assert!(ages.contains(&age), "{}", dated.date);
            }
        }
    }

    /// Generates 200,000 users, checks every one and prints the rate; run
    /// with `--release -- --nocapture` to see it. No timing assertions: the
    /// machine's load is not this test's business.
    #[test]
    fn many_users_are_well_formed() {
        let generator = all("bulk");
        let (pages, per_page) = (40, 5000);
        let mut elapsed = Duration::ZERO;
        let mut uuids = BTreeSet::new();
        for page in 1..=pages {
            let started = Instant::now();
            let users = generator.page(page, per_page);
            elapsed += started.elapsed();
            check_users(&users, &mut uuids);
        }
        let total = pages as usize * per_page;
        println!(
            "generated {total} users in {elapsed:?}: {:.0} users/s",
            total as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(uuids.len(), total, "login uuids are unique");
    }

    fn check_users(users: &[ApiUser], uuids: &mut BTreeSet<uuid::Uuid>) {
        for user in users {
            assert!(user.gender == "male" || user.gender == "female");
            assert!(user.name.title.is_some());
            assert!(!user.name.first.is_empty() && !user.name.last.is_empty());
            let (local, domain) = user.email.split_once('@').unwrap();
            assert_eq!(domain, "example.com");
            let (first, last) = local.split_once('.').unwrap();
            assert!(!first.is_empty() && !last.is_empty(), "{}", user.email);
            assert!(
                user.email
                    .bytes()
                    .all(|b| !b.is_ascii_uppercase() && b.is_ascii())
            );
            let login = &user.login;
            assert!(
                login
                    .username
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
            assert!(
                login.username[login.username.len() - 3..]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            );
            assert!(login.password.is_some());
            let uuid = uuid::Uuid::parse_str(login.uuid.as_deref().unwrap()).unwrap();
            assert_eq!(uuid.get_version_num(), 4);
            uuids.insert(uuid);
            let folder = if user.gender == "female" {
                "women"
            } else {
                "men"
            };
            let medium = &user.picture.medium;
            assert!(medium.starts_with("https://randomuser.me/api/portraits/med/"));
            assert!(medium.contains(folder) && medium.ends_with(".jpg"));
            assert!(user.picture.large.is_some() && user.picture.thumbnail.is_some());
            assert!(!user.phone.is_empty() && user.cell.is_some());
            assert!(!user.location.street.name.is_empty());
            assert!((1..=9999).contains(&user.location.street.number));
            let coordinates = user.location.coordinates.as_ref().unwrap();
            let latitude: f64 = coordinates.latitude.parse().unwrap();
            let longitude: f64 = coordinates.longitude.parse().unwrap();
            assert!(latitude.abs() <= 90.0 && longitude.abs() <= 180.0);
            assert!(user.location.timezone.is_some());
            assert!(NATIONALITIES.contains(&user.nat.as_deref().unwrap()));
            assert!(user.dob.age.unwrap() >= 18);
        }
    }
}
