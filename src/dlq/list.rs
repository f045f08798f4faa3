//! `rtds dlq list`: the dead letters a filter takes, newest first, as a
//! table whose every field is escaped for the terminal.

use super::*;

/// The dead letters `filter` takes, newest first, at most `limit`.
pub fn list(settings: &Settings, filter: &Filter, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let observer = Observer::new(&settings.kafka)?;
    let dlq = dlq(&observer, settings)?;
    let mut letters: Vec<DeadLetter> = observer
        .dead_letters(&dlq, &HashMap::new())?
        .into_iter()
        .filter(|letter| filter.takes(letter))
        .collect();
    letters.sort_by_key(|letter| std::cmp::Reverse((letter.time, letter.offset)));
    letters.truncate(limit);
    Ok(letters)
}

/// The dead letters as a table for people. Their text is escaped already
/// (see [`DeadLetter`]); cells are cut to their column.
pub fn render(letters: &[DeadLetter]) -> String {
    let mut out = format!(
        "{:<24} {:>12} {:>14} {:<14} {:<36} {:<50} {}\n",
        "time", "dlq p/offset", "source p/off", "kind", "key", "reason", "payload"
    );
    for letter in letters {
        let at = |p: Option<i32>, o: Option<i64>| match (p, o) {
            (Some(p), Some(o)) => format!("{p}/{o}"),
            _ => "-".into(),
        };
        let time = letter.time.map_or("-".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
        });
        let _ = writeln!(
            out,
            "{time:<24} {:>12} {:>14} {:<14} {:<36} {:<50} {}",
            format!("{}/{}", letter.partition, letter.offset),
            at(letter.source_partition, letter.source_offset),
            cut(&letter.reason, 14),
            cut(letter.key.as_deref().unwrap_or("-"), 36),
            cut(&letter.error, 50),
            cut(&letter.payload, 40),
        );
    }
    let _ = writeln!(out, "({} records)", letters.len());
    out
}

/// `text` cut to `n` characters, with `…` when cut.
fn cut(text: &str, n: usize) -> String {
    let mut shown: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        shown.push('…');
    }
    shown
}
