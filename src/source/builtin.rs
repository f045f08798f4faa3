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
//! static, and every string is built in place with no formatting machinery.
//! The output is deterministic for one build; `SmallRng`'s algorithm may change
//! between `rand` versions, so it is not a stable format across upgrades.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{
    ApiUser, Coordinates, DateAndAge, Location, Login, Name, NationalId, Picture, Postcode, Street,
    Timezone,
};

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

        let location = Location {
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
        };

        let mut email = String::with_capacity(first.len() + last.len() + 13);
        push_folded(&mut email, first);
        email.push('.');
        push_folded(&mut email, last);
        email.push_str("@example.com");

        let mut username = String::with_capacity(24);
        username.push_str(pick(rng, ADJECTIVES));
        username.push_str(pick(rng, ANIMALS));
        push_padded(&mut username, rng.random_range(100..1000), 3);

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

const ENGLISH: Titles = Titles {
    male: "Mr",
    female: &["Mrs", "Ms", "Miss"],
};
/// The API titles French and Swiss users in French.
const FRENCH: Titles = Titles {
    male: "Monsieur",
    female: &["Madame", "Mademoiselle"],
};

#[rustfmt::skip]
const TURKISH_PLACES: Table = &[
    "İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Konya", "Gaziantep", "Şanlıurfa",
    "Eskişehir", "Diyarbakır", "Kahramanmaraş", "Muğla",
];

#[rustfmt::skip]
const NATS: &[Nationality] = &[
    Nationality {
        code: "AU",
        country: "Australia",
        titles: ENGLISH,
        male: &[
            "Jack", "Oliver", "William", "Noah", "Lachlan", "Cooper", "Riley", "Hamish",
            "Mitchell", "Bailey", "Kyle", "Lucas",
        ],
        female: &[
            "Charlotte", "Olivia", "Mia", "Ruby", "Matilda", "Chloe", "Isabella", "Zara", "Jasmine",
            "Kayla", "Tahlia", "Georgia",
        ],
        last: &[
            "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson",
            "Martin", "White", "Anderson", "Walker", "Thompson", "Kelly", "Ryan",
        ],
        streets: &[
            "George St", "Pitt St", "Rundle Mall", "Swanston St", "Hay St", "Queen St",
            "Adelaide St", "Bourke St", "Lakeshore Rd", "Dalhousie St",
        ],
        cities: &[
            "Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Hobart", "Darwin", "Canberra",
            "Gold Coast", "Newcastle", "Wollongong", "Geelong",
        ],
        states: &[
            "New South Wales", "Victoria", "Queensland", "Western Australia", "South Australia",
            "Tasmania", "Northern Territory", "Australian Capital Territory",
        ],
        postcode: PostcodeFormat::Number(800, 7470),
        phone: "0%-####-####",
        cell: "04##-###-###",
        id: Some(("TFN", "#########")),
    },
    Nationality {
        code: "BR",
        country: "Brazil",
        titles: ENGLISH,
        male: &[
            "João", "Gabriel", "Lucas", "Matheus", "Pedro", "Guilherme", "Rafael", "Felipe",
            "Antônio", "Raimundo", "Caio", "Vitório",
        ],
        female: &[
            "Ana", "Maria", "Júlia", "Beatriz", "Larissa", "Letícia", "Luíza", "Fernanda",
            "Mônica", "Cecília", "Tâmara", "Débora",
        ],
        last: &[
            "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
            "Lima", "Gomes", "Araújo", "Conceição", "Gonçalves", "Simões", "Magalhães",
        ],
        streets: &[
            "Rua Dois", "Rua São Jorge", "Rua da Paz", "Avenida Brasil", "Rua Sete de Setembro",
            "Rua Tiradentes", "Rua Quinze de Novembro", "Rua Santa Rita", "Rua Castro Alves",
            "Rua Bela Vista",
        ],
        cities: &[
            "São Paulo", "Rio de Janeiro", "Belo Horizonte", "Salvador", "Fortaleza", "Curitiba",
            "Manaus", "Recife", "Goiânia", "Belém", "Florianópolis", "Maceió",
        ],
        states: &[
            "São Paulo", "Rio de Janeiro", "Minas Gerais", "Bahia", "Ceará", "Paraná", "Amazonas",
            "Pernambuco", "Goiás", "Pará", "Santa Catarina", "Alagoas",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(##) ####-####",
        cell: "(##) 9####-####",
        id: Some(("CPF", "###.###.###-##")),
    },
    Nationality {
        code: "CA",
        country: "Canada",
        titles: ENGLISH,
        male: &[
            "Liam", "Noah", "William", "Benjamin", "Logan", "Félix", "Samuel", "Owen", "Nathan",
            "Justin", "Mathis", "Zachary",
        ],
        female: &[
            "Olivia", "Emma", "Charlotte", "Chloe", "Léa", "Madison", "Ava", "Abigail", "Maya",
            "Rosalie", "Jade", "Brooklyn",
        ],
        last: &[
            "Roy", "Tremblay", "Gagnon", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie",
            "Fortin", "Wilson", "MacDonald", "Campbell", "Martin", "Li", "Singh",
        ],
        streets: &[
            "King St", "Queen St", "Dufferin St", "Rue Sainte-Catherine", "Parliament St",
            "Grand Ave", "Brock Rd", "Victoria Ave", "Bay Ave", "Arctic Way",
        ],
        cities: &[
            "Toronto", "Montréal", "Vancouver", "Calgary", "Edmonton", "Ottawa", "Winnipeg",
            "Québec", "Halifax", "Regina", "Saskatoon", "Victoria",
        ],
        states: &[
            "Ontario", "Québec", "British Columbia", "Alberta", "Manitoba", "Nova Scotia",
            "Saskatchewan", "New Brunswick", "Newfoundland and Labrador", "Prince Edward Island",
            "Yukon", "Nunavut",
        ],
        postcode: PostcodeFormat::Text(&["A#A #A#"]),
        phone: "%##-###-####",
        cell: "%##-###-####",
        id: Some(("SIN", "### ### ###")),
    },
    Nationality {
        code: "CH",
        country: "Switzerland",
        titles: FRENCH,
        male: &[
            "Noah", "Luca", "Leon", "Matteo", "Elias", "Nicolas", "Jonas", "Loïc", "Rémy", "Gian",
            "Reto", "Urs",
        ],
        female: &[
            "Mia", "Emma", "Léa", "Lina", "Lara", "Anna", "Chiara", "Noémie", "Zoé", "Andrea",
            "Ursula", "Mélanie",
        ],
        last: &[
            "Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer",
            "Steiner", "Fischer", "Gerber", "Brunner", "Baumann", "Favre", "Rochat",
        ],
        streets: &[
            "Bahnhofstrasse", "Rue de la Gare", "Dorfstrasse", "Grand-Rue", "Rue du Centre",
            "Via Cantonale", "Kirchweg", "Rue du Lac", "Seestrasse", "Chemin des Vignes",
        ],
        cities: &[
            "Zürich", "Genève", "Basel", "Lausanne", "Bern", "Winterthur", "Luzern", "St. Gallen",
            "Lugano", "Biel/Bienne", "Neuchâtel", "Fribourg",
        ],
        states: &[
            "Zürich", "Genève", "Basel-Stadt", "Vaud", "Bern", "Luzern", "St. Gallen", "Ticino",
            "Neuchâtel", "Fribourg", "Graubünden", "Valais",
        ],
        postcode: PostcodeFormat::Number(1000, 9658),
        phone: "0%# ### ## ##",
        cell: "07# ### ## ##",
        id: Some(("AVS", "756.####.####.##")),
    },
    Nationality {
        code: "DE",
        country: "Germany",
        titles: ENGLISH,
        male: &[
            "Jürgen", "Lukas", "Maximilian", "Felix", "Jonas", "Leon", "Paul", "Matthias", "Uwe",
            "Günter", "Björn", "Horst",
        ],
        female: &[
            "Lena", "Sophie", "Hannah", "Anja", "Sabine", "Jutta", "Käthe", "Jördis", "Brigitte",
            "Ursula", "Mareike", "Lieselotte",
        ],
        last: &[
            "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Schäfer", "Köhler", "Krüger", "Weiß", "Böhm",
        ],
        streets: &[
            "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Mühlenweg",
            "Lindenstraße", "Am Sportplatz", "Königsallee", "Birkenweg", "Wiesenstraße",
        ],
        cities: &[
            "Berlin", "München", "Köln", "Düsseldorf", "Nürnberg", "Lübeck", "Göttingen",
            "Würzburg", "Saarbrücken", "Osnabrück", "Leipzig", "Freiburg im Breisgau",
        ],
        states: &[
            "Berlin", "Bayern", "Nordrhein-Westfalen", "Schleswig-Holstein", "Niedersachsen",
            "Saarland", "Sachsen", "Baden-Württemberg", "Thüringen", "Hessen",
            "Mecklenburg-Vorpommern", "Rheinland-Pfalz",
        ],
        postcode: PostcodeFormat::Number(1067, 99998),
        phone: "0%##-#######",
        cell: "017#-#######",
        id: Some(("SVNR", "## ###### A ###")),
    },
    Nationality {
        code: "DK",
        country: "Denmark",
        titles: ENGLISH,
        male: &[
            "William", "Noah", "Oscar", "Lucas", "Emil", "Frederik", "Mikkel", "Søren", "Jørgen",
            "Magnus", "Rasmus", "Asger",
        ],
        female: &[
            "Emma", "Ida", "Freja", "Clara", "Sofie", "Laura", "Mathilde", "Signe", "Astrid",
            "Kirstine", "Line", "Mette",
        ],
        last: &[
            "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen",
            "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen",
            "Thomsen",
        ],
        streets: &[
            "Vestergade", "Østergade", "Nørregade", "Søndergade", "Strøget", "Algade", "Bredgade",
            "Kongevejen", "Møllevej", "Skovvej",
        ],
        cities: &[
            "København", "Aarhus", "Odense", "Aalborg", "Esbjerg", "Randers", "Kolding", "Horsens",
            "Vejle", "Roskilde", "Herning", "Silkeborg",
        ],
        states: &[
            "Hovedstaden", "Midtjylland", "Syddanmark", "Nordjylland", "Sjælland",
        ],
        postcode: PostcodeFormat::Number(1000, 9990),
        phone: "%#######",
        cell: "%#######",
        id: Some(("CPR", "######-####")),
    },
    Nationality {
        code: "ES",
        country: "Spain",
        titles: ENGLISH,
        male: &[
            "Alejandro", "Hugo", "Álvaro", "Javier", "Sergio", "Iván", "Adrián", "Rubén", "Jesús",
            "Ángel", "Raúl", "Gonzalo",
        ],
        female: &[
            "Lucía", "María", "Paula", "Sofía", "Carmen", "Nerea", "Inés", "Aitana", "Noelia",
            "Begoña", "Montserrat", "Ángela",
        ],
        last: &[
            "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
            "Gómez", "Martín", "Jiménez", "Ruiz", "Muñoz", "Iglesias", "Ibáñez",
        ],
        streets: &[
            "Calle Mayor", "Calle de Alcalá", "Avenida de Andalucía", "Calle de la Luna",
            "Paseo de Extremadura", "Calle de Atocha", "Ronda de Valencia", "Calle del Barquillo",
            "Avenida del Puerto", "Calle de Segovia",
        ],
        cities: &[
            "Madrid", "Barcelona", "Valencia", "Sevilla", "Zaragoza", "Málaga", "Córdoba",
            "Alcalá de Henares", "Gijón", "Vigo", "Cádiz", "Almería",
        ],
        states: &[
            "Comunidad de Madrid", "Cataluña", "Comunidad Valenciana", "Andalucía", "Aragón",
            "Asturias", "Galicia", "Castilla y León", "País Vasco", "Región de Murcia",
            "Islas Baleares", "Navarra",
        ],
        postcode: PostcodeFormat::Number(1001, 52080),
        phone: "9##-###-###",
        cell: "6##-###-###",
        id: Some(("DNI", "########-A")),
    },
    Nationality {
        code: "FI",
        country: "Finland",
        titles: ENGLISH,
        male: &[
            "Eetu", "Väinö", "Onni", "Aleksi", "Juho", "Mikko", "Topias", "Elias", "Eemil",
            "Lauri", "Ville", "Niilo",
        ],
        female: &[
            "Aino", "Eevi", "Siiri", "Helmi", "Pihla", "Venla", "Minttu", "Sanni", "Ella", "Aada",
            "Iida", "Lotta",
        ],
        last: &[
            "Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine",
            "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Saarinen", "Lähteenmäki",
            "Kärkkäinen", "Hyvönen",
        ],
        streets: &[
            "Hämeenkatu", "Mannerheimintie", "Pyynikintie", "Aleksanterinkatu", "Itsenäisyydenkatu",
            "Mäkelänkatu", "Pispalan Valtatie", "Tehtaankatu", "Rautatienkatu", "Esplanadi",
        ],
        cities: &[
            "Helsinki", "Espoo", "Tampere", "Vantaa", "Oulu", "Turku", "Jyväskylä", "Lahti",
            "Kuopio", "Pori", "Hämeenlinna", "Seinäjoki",
        ],
        states: &[
            "Uusimaa", "Pirkanmaa", "Pohjois-Pohjanmaa", "Varsinais-Suomi", "Keski-Suomi",
            "Päijät-Häme", "Pohjois-Savo", "Satakunta", "Kanta-Häme", "Etelä-Pohjanmaa", "Lappi",
            "Kainuu",
        ],
        postcode: PostcodeFormat::Number(100, 99999),
        phone: "0%-###-###",
        cell: "04#-###-##-##",
        id: Some(("HETU", "######-###A")),
    },
    Nationality {
        code: "FR",
        country: "France",
        titles: FRENCH,
        male: &[
            "Hugo", "Lucas", "Théo", "Louis", "Nathan", "Mathéo", "Jérôme", "Gaël", "Noé", "Léo",
            "Clément", "Maël",
        ],
        female: &[
            "Chloé", "Léa", "Manon", "Inès", "Camille", "Océane", "Zoé", "Maëlle", "Éloïse",
            "Margaux", "Célia", "Noémie",
        ],
        last: &[
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Lefèvre", "Girard", "Bonnet", "Mercier", "Fontaine",
        ],
        streets: &[
            "Rue de la Mairie", "Rue du Bât-d'Argent", "Place de la Libération",
            "Rue Pierre-Delore", "Avenue Jean-Jaurès", "Rue des Écoles", "Rue de l'Église",
            "Quai Chauveau", "Rue Dugas-Montbel", "Boulevard de la Duchère",
        ],
        cities: &[
            "Paris", "Lyon", "Marseille", "Nantes", "Toulouse", "Saint-Étienne", "Besançon",
            "Orléans", "Nîmes", "Rennes", "Grenoble", "Montpellier",
        ],
        states: &[
            "Paris", "Rhône", "Bouches-du-Rhône", "Loire-Atlantique", "Haute-Garonne", "Loire",
            "Doubs", "Loiret", "Gard", "Ille-et-Vilaine", "Isère", "Hérault",
        ],
        postcode: PostcodeFormat::Number(1000, 98799),
        phone: "0%-##-##-##-##",
        cell: "06-##-##-##-##",
        id: Some(("INSEE", "%## ## ## ### ### ##")),
    },
    Nationality {
        code: "GB",
        country: "United Kingdom",
        titles: ENGLISH,
        male: &[
            "Oliver", "Harry", "George", "Jack", "Charlie", "Alfie", "Thomas", "Oscar", "Liam",
            "Ethan", "Rhys", "Callum",
        ],
        female: &[
            "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Chloe", "Ellie",
            "Freya", "Eleanor", "Siobhan",
        ],
        last: &[
            "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans", "Thomas",
            "Roberts", "Walker", "Wright", "Hughes", "Edwards", "O'Brien",
        ],
        streets: &[
            "High Street", "Station Road", "Church Lane", "Victoria Road", "Manor Road",
            "Queensway", "Mill Lane", "The Green", "Richmond Road", "Park Avenue",
        ],
        cities: &[
            "London", "Manchester", "Leeds", "Bristol", "Sheffield", "York", "Oxford", "Cambridge",
            "Cardiff", "Aberdeen", "Brighton and Hove", "Newcastle upon Tyne",
        ],
        states: &[
            "Greater London", "Greater Manchester", "West Yorkshire", "Somerset", "South Yorkshire",
            "North Yorkshire", "Oxfordshire", "Cambridgeshire", "South Glamorgan", "Grampian",
            "East Sussex", "Tyne and Wear",
        ],
        postcode: PostcodeFormat::Text(&["AA%A %AA", "A% %AA", "AA% %AA", "A%% %AA", "AA%% %AA"]),
        phone: "01### ######",
        cell: "07### ######",
        id: Some(("NINO", "AA ## ## ## A")),
    },
    Nationality {
        code: "IE",
        country: "Ireland",
        titles: ENGLISH,
        male: &[
            "Seán", "Conor", "Cian", "Oisín", "Darragh", "Liam", "Patrick", "Aidan", "Ciarán",
            "Eoin", "Niall", "Dónal",
        ],
        female: &[
            "Aoife", "Saoirse", "Niamh", "Caoimhe", "Róisín", "Siobhán", "Clodagh", "Ciara",
            "Áine", "Orla", "Emma", "Sinéad",
        ],
        last: &[
            "Murphy", "Kelly", "O'Sullivan", "Walsh", "Smith", "O'Brien", "Byrne", "Ryan",
            "O'Connor", "O'Neill", "Doyle", "McCarthy", "Gallagher", "Kennedy", "Ó Súilleabháin",
        ],
        streets: &[
            "Main Street", "Church Street", "O'Connell Street", "Grafton Street", "Patrick Street",
            "Shop Street", "The Mall", "Green Street", "Castle Street", "Strand Road",
        ],
        cities: &[
            "Dublin", "Cork", "Limerick", "Galway", "Waterford", "Drogheda", "Kilkenny", "Sligo",
            "Tralee", "Ennis", "Athlone", "Wexford",
        ],
        states: &[
            "Dublin", "Cork", "Limerick", "Galway", "Waterford", "Louth", "Kilkenny", "Sligo",
            "Kerry", "Clare", "Westmeath", "Wexford",
        ],
        postcode: PostcodeFormat::Text(&["A## A###", "A## AA##", "A%# A#A#"]),
        phone: "0%#-###-####",
        cell: "08#-###-####",
        id: None,
    },
    Nationality {
        code: "IN",
        country: "India",
        titles: ENGLISH,
        male: &[
            "Aarav", "Vihaan", "Aditya", "Arjun", "Sai", "Reyansh", "Ishaan", "Rohan", "Karan",
            "Vikram", "Pranav", "Siddharth",
        ],
        female: &[
            "Aadhya", "Ananya", "Diya", "Saanvi", "Isha", "Priya", "Kavya", "Meera", "Nisha",
            "Pooja", "Riya", "Shreya",
        ],
        last: &[
            "Sharma", "Verma", "Patel", "Reddy", "Nair", "Iyer", "Gupta", "Singh", "Kumar", "Das",
            "Chopra", "Mehta", "Rao", "Bhat", "Kulkarni",
        ],
        streets: &[
            "MG Road", "Nehru Road", "Gandhi Marg", "Station Road", "Park Street", "Brigade Road",
            "Linking Road", "Anna Salai", "Rajpath", "Marine Drive",
        ],
        cities: &[
            "Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Kolkata", "Pune", "Ahmedabad",
            "Jaipur", "Lucknow", "Kochi", "Indore",
        ],
        states: &[
            "Maharashtra", "Delhi", "Karnataka", "Telangana", "Tamil Nadu", "West Bengal",
            "Gujarat", "Rajasthan", "Uttar Pradesh", "Kerala", "Madhya Pradesh", "Punjab",
        ],
        postcode: PostcodeFormat::Number(110_001, 855_126),
        phone: "%#########",
        cell: "9#########",
        id: None,
    },
    Nationality {
        code: "IR",
        country: "Iran",
        titles: ENGLISH,
        male: &[
            "محمد", "علی", "حسین", "رضا", "امیرحسین", "مهدی", "آرین", "سینا", "پارسا", "کیان",
            "بردیا", "محمدامین",
        ],
        female: &[
            "فاطمه", "زهرا", "مریم", "نرگس", "ستایش", "یاسمن", "هستی", "آیلین", "کیمیا", "نازنین",
            "ریحانه", "پرنیا",
        ],
        last: &[
            "احمدی", "محمدی", "حسینی", "رضایی", "کریمی", "موسوی", "جعفری", "صادقی", "رحیمی", "نوری",
            "کامروا", "یزدانی", "سلطانی", "قاسمی",
        ],
        streets: &[
            "شهید کبیری طامه", "پارک 17 شهریور", "میدان انقلاب", "شهید استاد حسن بنا", "آزادی",
            "ولیعصر", "فلسطین", "کارگر شمالی", "شریعتی", "مطهری",
        ],
        cities: &[
            "تهران", "مشهد", "اصفهان", "کرج", "شیراز", "تبریز", "قم", "اهواز", "کرمانشاه", "رشت",
            "یزد", "همدان",
        ],
        states: &[
            "تهران", "خراسان رضوی", "اصفهان", "البرز", "فارس", "آذربایجان شرقی", "قم", "خوزستان",
            "کرمانشاه", "گیلان", "یزد", "همدان",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "0%#-########",
        cell: "09##-###-####",
        id: None,
    },
    Nationality {
        code: "MX",
        country: "Mexico",
        titles: ENGLISH,
        male: &[
            "Santiago", "Mateo", "Sebastián", "Leonardo", "Emiliano", "Diego", "Iker", "Rodrigo",
            "Joaquín", "Jesús", "Gerardo", "Ramón",
        ],
        female: &[
            "Sofía", "Valentina", "Regina", "Ximena", "Camila", "María José", "Guadalupe",
            "Fernanda", "Renata", "Itzel", "Citlali", "Marisol",
        ],
        last: &[
            "Hernández", "García", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez",
            "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Zúñiga",
        ],
        streets: &[
            "Avenida Juárez", "Calle Hidalgo", "Calle Morelos", "Avenida Reforma", "Calle Allende",
            "Calzada Zaragoza", "Avenida Madero", "Calle Guerrero", "Periférico Sur",
            "Calle Niños Héroes",
        ],
        cities: &[
            "Ciudad de México", "Guadalajara", "Monterrey", "Puebla", "Tijuana", "León", "Mérida",
            "Querétaro", "San Luis Potosí", "Oaxaca de Juárez", "Cancún", "Culiacán",
        ],
        states: &[
            "Ciudad de México", "Jalisco", "Nuevo León", "Puebla", "Baja California", "Guanajuato",
            "Yucatán", "Querétaro", "San Luis Potosí", "Oaxaca", "Quintana Roo", "Sinaloa",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(%##) ### ####",
        cell: "(%##) ### ####",
        id: Some(("NSS", "## ## ## #### #")),
    },
    Nationality {
        code: "NL",
        country: "Netherlands",
        titles: ENGLISH,
        male: &[
            "Daan", "Sem", "Bram", "Lars", "Thijs", "Ruben", "Jeroen", "Joost", "Sjoerd", "Wouter",
            "Gijs", "Teun",
        ],
        female: &[
            "Emma", "Julia", "Sanne", "Fenna", "Lotte", "Anouk", "Femke", "Marloes", "Ilse",
            "Noor", "Mirthe", "Joyce",
        ],
        last: &[
            "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit",
            "Meijer", "de Boer", "Mulder", "Bos", "Vos", "Peters", "van Leeuwen",
        ],
        streets: &[
            "Kerkstraat", "Schoolstraat", "Molenweg", "Dorpsstraat", "Stationsweg", "Julianastraat",
            "Beatrixlaan", "Prinsengracht", "Oranjestraat", "Nieuwstraat",
        ],
        cities: &[
            "Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg",
            "Almere", "Breda", "Nijmegen", "Zwolle", "'s-Hertogenbosch",
        ],
        states: &[
            "Noord-Holland", "Zuid-Holland", "Utrecht", "Noord-Brabant", "Groningen", "Flevoland",
            "Gelderland", "Overijssel", "Limburg", "Friesland", "Drenthe", "Zeeland",
        ],
        postcode: PostcodeFormat::Text(&["%### AA"]),
        phone: "(0%#) ### ####",
        cell: "(06) ########",
        id: Some(("BSN", "#########")),
    },
    Nationality {
        code: "NO",
        country: "Norway",
        titles: ENGLISH,
        male: &[
            "Ørjan", "Håkon", "Jørgen", "Sindre", "Magnus", "Eirik", "Bjørn", "Kåre", "Sivert",
            "Tormod", "Aksel", "Øystein",
        ],
        female: &[
            "Ingrid", "Sigrid", "Åse", "Solveig", "Marte", "Ragnhild", "Kjersti", "Maren", "Tiril",
            "Ylva", "Bodil", "Synnøve",
        ],
        last: &[
            "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
            "Kristiansen", "Jensen", "Karlsen", "Haugen", "Bakken", "Sæther", "Løken", "Strøm",
        ],
        streets: &[
            "Storgata", "Kirkegata", "Bygdøy allé", "Sørkedalsveien", "Trondheimsveien",
            "Hasleveien", "Kongens gate", "Nedre Slottsgate", "Åsveien", "Fjellveien",
        ],
        cities: &[
            "Oslo", "Bergen", "Trondheim", "Stavanger", "Drammen", "Fredrikstad", "Kristiansand",
            "Tromsø", "Sandnes", "Ålesund", "Bodø", "Lillehammer",
        ],
        states: &[
            "Oslo", "Vestland", "Trøndelag", "Rogaland", "Buskerud", "Østfold", "Agder", "Troms",
            "Møre og Romsdal", "Nordland", "Innlandet", "Vestfold",
        ],
        // Oslo's codes start with 0; they stay text so the zero survives.
        postcode: PostcodeFormat::Text(&["0###", "%###"]),
        phone: "%#######",
        cell: "9#######",
        id: Some(("FN", "###########")),
    },
    Nationality {
        code: "NZ",
        country: "New Zealand",
        titles: ENGLISH,
        male: &[
            "Oliver", "Jack", "Leo", "Noah", "George", "Hunter", "Nikau", "Tama", "Manaia", "Finn",
            "Hamish", "Riley",
        ],
        female: &[
            "Isla", "Charlotte", "Amelia", "Olivia", "Harper", "Aroha", "Mere", "Ngaio", "Anahera",
            "Ruby", "Zoe", "Maia",
        ],
        last: &[
            "Smith", "Wilson", "Williams", "Brown", "Taylor", "Jones", "Walker", "Thompson",
            "Ngata", "Te Whata", "Parata", "Robinson", "Harris", "King", "Clark",
        ],
        streets: &[
            "Queen Street", "Lambton Quay", "Cuba Street", "Colombo Street", "Ponsonby Road",
            "Karangahape Road", "Victoria Street", "Riccarton Road", "Great North Road",
            "Hobson Street",
        ],
        cities: &[
            "Auckland", "Wellington", "Christchurch", "Hamilton", "Tauranga", "Dunedin",
            "Palmerston North", "Napier", "Nelson", "Rotorua", "Whangārei", "Invercargill",
        ],
        states: &[
            "Auckland", "Wellington", "Canterbury", "Waikato", "Bay of Plenty", "Otago",
            "Manawatū-Whanganui", "Hawke's Bay", "Nelson", "Northland", "Southland", "Taranaki",
        ],
        postcode: PostcodeFormat::Number(1010, 9893),
        phone: "(0%#)-###-####",
        cell: "(02#)-###-####",
        id: Some(("NHI", "AAA####")),
    },
    Nationality {
        code: "RS",
        country: "Serbia",
        titles: ENGLISH,
        male: &[
            "Nikola", "Luka", "Stefan", "Marko", "Miloš", "Đorđe", "Dušan", "Nemanja", "Vuk",
            "Aleksandar", "Dragoljub", "Žarko",
        ],
        female: &[
            "Milica", "Jelena", "Ana", "Jovana", "Teodora", "Marija", "Sanja", "Dragana",
            "Ljiljana", "Snežana", "Katarina", "Anđela",
        ],
        last: &[
            "Jovanović", "Petrović", "Nikolić", "Marković", "Đorđević", "Stojanović", "Ilić",
            "Stanković", "Pavlović", "Milošević", "Živković", "Todorović", "Kovačević", "Popović",
            "Đukić",
        ],
        streets: &[
            "Knez Mihailova", "Bulevar kralja Aleksandra", "Nemanjina", "Cara Dušana",
            "Karađorđeva", "Zmaj Jovina", "Kneza Miloša", "Takovska", "Vojvode Stepe",
            "Bulevar oslobođenja",
        ],
        cities: &[
            "Beograd", "Novi Sad", "Niš", "Kragujevac", "Subotica", "Zrenjanin", "Pančevo", "Čačak",
            "Kraljevo", "Smederevo", "Leskovac", "Užice",
        ],
        states: &[
            "Beogradski", "Južnobački", "Nišavski", "Šumadijski", "Severnobački", "Srednjebanatski",
            "Južnobanatski", "Moravički", "Raški", "Podunavski", "Jablanički", "Zlatiborski",
        ],
        postcode: PostcodeFormat::Number(11000, 38000),
        phone: "0%#-####-###",
        cell: "06#-####-###",
        id: Some(("SID", "#############")),
    },
    Nationality {
        code: "TR",
        country: "Turkey",
        titles: ENGLISH,
        male: &[
            "Mehmet", "Mustafa", "Ahmet", "Ali", "Hüseyin", "Hasan", "İbrahim", "Yusuf", "Emre",
            "Çağrı", "Oğuz", "Barış",
        ],
        female: &[
            "Ayşe", "Fatma", "Emine", "Hatice", "Zeynep", "Elif", "Şule", "Gülşen", "Özlem",
            "Büşra", "Çiğdem", "Tuğba",
        ],
        last: &[
            "Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Yıldız", "Yıldırım", "Öztürk", "Aydın",
            "Özdemir", "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin",
        ],
        streets: &[
            "Atatürk Cd", "İstiklal Cd", "Cumhuriyet Cd", "Fatih Sultan Mehmet Cd", "Bağdat Cd",
            "Kuşkavağı Cd", "Necatibey Cd", "Talak Göktepe Cd", "Filistin Cd", "Doktorlar Cd",
        ],
        cities: TURKISH_PLACES,
        // The API's Turkish "states" are provinces named after their capitals.
        states: TURKISH_PLACES,
        postcode: PostcodeFormat::Number(10000, 81999),
        phone: "(%##)-###-####",
        cell: "(5##)-###-####",
        id: Some(("TCKN", "%##########")),
    },
    Nationality {
        code: "UA",
        country: "Ukraine",
        titles: ENGLISH,
        male: &[
            "Олександр", "Андрій", "Богдан", "Дмитро", "Ярослав", "Тарас", "Остап", "Євген",
            "Віталій", "Юрій", "Святослав", "Ілля",
        ],
        female: &[
            "Олена", "Оксана", "Наталія", "Ірина", "Юлія", "Софія", "Дарина", "Мар'яна", "Христина",
            "Ганна", "Людмила", "Ярина",
        ],
        last: &[
            "Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Мельник", "Поліщук",
            "Литвиненко", "Гнатюк", "Савчук", "Дячук", "Зінченко", "Яковенко", "Костенко",
        ],
        streets: &[
            "Хрещатик", "вулиця Шевченка", "вулиця Франка", "проспект Перемоги",
            "вулиця Сагайдачного", "вулиця Лесі Українки", "бульвар Дружби", "вулиця Городоцька",
            "вулиця Січових Стрільців", "вулиця Грушевського",
        ],
        cities: &[
            "Київ", "Харків", "Одеса", "Дніпро", "Львів", "Запоріжжя", "Вінниця", "Полтава",
            "Чернігів", "Житомир", "Івано-Франківськ", "Ужгород",
        ],
        states: &[
            "Київська", "Харківська", "Одеська", "Дніпропетровська", "Львівська", "Запорізька",
            "Вінницька", "Полтавська", "Чернігівська", "Житомирська", "Івано-Франківська",
            "Закарпатська",
        ],
        // Kyiv's codes start with 0 (01001 ...); text keeps the zero.
        postcode: PostcodeFormat::Text(&["0####", "%####"]),
        phone: "(0%#) ###-####",
        cell: "(09#) ###-##-##",
        id: Some(("INN", "##########")),
    },
    Nationality {
        code: "US",
        country: "United States",
        titles: ENGLISH,
        male: &[
            "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
            "Christopher", "Daniel", "Matthew", "Brandon", "Tyler", "Jesse", "Wyatt",
        ],
        female: &[
            "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
            "Sarah", "Karen", "Nancy", "Lisa", "Ashley", "Kimberly", "Brittany", "Megan",
        ],
        last: &[
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
            "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Lee",
            "Perez", "Thompson", "O'Connor",
        ],
        streets: &[
            "Main St", "Oak Ridge Ln", "Pecan Acres Ln", "W Sherman Dr", "Valwood Pkwy",
            "Depaul Dr", "Hickory Creek Dr", "Spring St", "Lakeview St", "Daisy Dr",
        ],
        cities: &[
            "Seattle", "Austin", "Denver", "Portland", "Columbus", "Fresno", "Omaha", "Raleigh",
            "Tucson", "Boise", "Saint Paul", "Buffalo",
        ],
        states: &[
            "Washington", "Texas", "Colorado", "Oregon", "Ohio", "California", "Nebraska",
            "North Carolina", "Arizona", "Idaho", "Minnesota", "New York",
        ],
        postcode: PostcodeFormat::Number(10000, 99999),
        phone: "(%##) ###-####",
        cell: "(%##) ###-####",
        id: Some(("SSN", "###-##-####")),
    },
];

/// The API's timezone list; like the API, a user's timezone is drawn from it
/// regardless of nationality.
const TIMEZONES: &[(&str, &str)] = &[
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-11:00", "Midway Island, Samoa"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"),
    ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"),
    ("-3:30", "Newfoundland"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"),
    ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde Islands"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"),
    ("+2:00", "Kaliningrad, South Africa"),
    ("+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"),
    ("+3:30", "Tehran"),
    ("+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"),
    ("+4:30", "Kabul"),
    ("+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"),
    ("+5:45", "Kathmandu"),
    ("+6:00", "Almaty, Dhaka, Colombo"),
    ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Beijing, Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"),
    ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
];

/// Usernames are an adjective, an animal and three digits, as in the API.
#[rustfmt::skip]
const ADJECTIVES: Table = &[
    "happy", "sad", "big", "small", "black", "white", "red", "blue", "green", "yellow", "orange",
    "purple", "brown", "crazy", "lazy", "heavy", "tiny", "silver", "golden", "beautiful", "angry",
    "ticklish", "organic", "smart", "ornery", "goofy", "lucky", "shy",
];

#[rustfmt::skip]
const ANIMALS: Table = &[
    "peacock", "bird", "swan", "gorilla", "tiger", "lion", "elephant", "rabbit", "frog", "fish",
    "koala", "panda", "wolf", "bear", "dog", "cat", "leopard", "zebra", "butterfly", "ladybug",
    "goose", "duck", "snake", "mouse", "ostrich", "meercat", "buffalo", "kangaroo",
];

/// Like the API, weak passwords from a small list.
#[rustfmt::skip]
const PASSWORDS: Table = &[
    "gggggg", "topgun", "sammy", "chester", "trouble", "bond007", "dragon", "sunshine", "butterfly",
    "rockstar", "pepper", "qwerty", "letmein", "123456", "mustang", "jasper", "ginger", "cowboy",
    "password1", "hockey", "maverick", "snoopy", "tigger", "monkey",
];

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
