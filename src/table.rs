//! Stored users (`rtds users`) and a mapping's rows (`rtds rows`) as
//! plain-text tables for people, and
//! [`escape`], the one rule for showing outside text (a stored user, a dead
//! letter's key, payload and reason) on a terminal.

use crate::user::User;

/// Longest cell shown; longer text is cut with an ellipsis.
const MAX_CELL: usize = 42;

/// A column: its title and how to get its cell from a user.
type Column = (&'static str, fn(&User) -> String);

/// The columns shown.
const COLUMNS: [Column; 8] = [
    ("id", |u| u.id.to_string()),
    ("name", |u| format!("{} {}", u.first_name, u.last_name)),
    ("gender", |u| u.gender.clone()),
    ("email", |u| u.email.clone()),
    ("username", |u| u.username.clone()),
    ("dob", |u| u.dob.chars().take(10).collect()),
    ("post_code", |u| u.post_code.clone()),
    ("address", |u| u.address.clone()),
];

pub fn render(users: &[User]) -> String {
    let titles: Vec<String> = COLUMNS.iter().map(|(title, _)| title.to_string()).collect();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|user| COLUMNS.iter().map(|(_, get)| get(user)).collect())
        .collect();
    grid(&titles, rows, "users")
}

/// Rows under their titles, each cell escaped and cut, columns padded to
/// their widest cell, and the count of `what` below.
pub fn grid(titles: &[String], rows: Vec<Vec<String>>, what: &str) -> String {
    let count = rows.len();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|cell| cut(escape(cell))).collect())
        .collect();
    let widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(titles.to_vec());
    out += &line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        out += &line(row);
    }
    out += &format!("({count} {what})\n");
    out
}

/// Outside text (a stored user, a dead letter's key, payload, reason or
/// header) with control characters (ESC, CSI, CR, BEL, newlines, ...) and
/// the characters that reorder text (bidi embeddings and overrides
/// U+202A-U+202E, isolates U+2066-U+2069, marks U+200E, U+200F and U+061C)
/// written as escapes like `\u{1b}`: a record is outside data, and printed
/// raw it could move the cursor, rewrite the line, change colours or make
/// the terminal show its characters in another order than they are. Every
/// other character, `é` or `日本` too, stays as it is.
pub fn escape(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || reorders(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The Unicode bidi controls: they change the order in which the text
/// after them is shown.
fn reorders(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

fn cut(text: String) -> String {
    if text.chars().count() <= MAX_CELL {
        text
    } else {
        let mut short: String = text.chars().take(MAX_CELL - 1).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user with non-ASCII text and an address longer than a cell.
    fn sample() -> User {
        User {
            id: uuid::Uuid::nil(),
            first_name: "Väinö".into(),
            last_name: "Äijälä".into(),
            gender: "male".into(),
            address: "4519 Hämeenkatu, Ylöjärvi, Pirkanmaa, Finland, and a long tail".into(),
            post_code: "03851".into(),
            email: "vaino.aijala@example.com".into(),
            username: "bluebird345".into(),
            dob: "1961-09-25T02:18:41.094Z".into(),
            registered_date: "2015-01-03T11:20:53.000Z".into(),
            phone: "02-520-937".into(),
            picture: "https://randomuser.me/api/portraits/med/men/12.jpg".into(),
        }
    }

    #[test]
    fn aligns_non_ascii_and_cuts_long_cells() {
        let text = render(&[sample()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[2].contains("Väinö Äijälä"));
        assert!(lines[2].contains("1961-09-25  03851"));
        assert!(lines[2].ends_with('…'));
        let name_at = |line: &str| line.chars().take_while(|&c| c != 'n' && c != 'V').count();
        assert_eq!(name_at(lines[0]), name_at(lines[2]));
        assert_eq!(lines[3], "(1 users)");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let user = User {
            first_name: "\u{1b}[2J\u{1b}[31mEve".into(),
            last_name: "Ng\n\u{9b}2A".into(),
            email: "\u{202e}moc.elpmaxe@eve".into(),
            ..sample()
        };
        let text = render(&[user]);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(text.contains("\\u{1b}[2J\\u{1b}[31mEve"), "{text}");
        assert!(text.contains("Eve Ng\\u{a}\\u{9b}2A"), "{text}");
        assert!(text.contains("\\u{202e}moc.elpmaxe@eve"), "{text}");
        assert_eq!(text.lines().count(), 4, "one line per user: {text}");
    }

    #[test]
    fn escapes_what_moves_the_cursor_or_reorders_and_keeps_plain_text() {
        let hostile = "a\u{1b}[31mb\rc\u{7}d\u{202e}e\u{200f}f\u{61c}g\u{2067}h";
        assert_eq!(
            escape(hostile),
            "a\\u{1b}[31mb\\u{d}c\\u{7}d\\u{202e}e\\u{200f}f\\u{61c}g\\u{2067}h"
        );
        assert_eq!(escape("José 日本 Ελλάδα"), "José 日本 Ελλάδα");
    }
}
