//! The vocabulary of indexed words, for typos: every word of five letters or more that
//! was indexed, with its terms and its trigrams (`^справку$` -> `^сп`, `спр`, ...). A
//! query word of six letters or more that the vocabulary does not know is matched to
//! the known words that share its first or its last trigram (one edit leaves one of them
//! whole), and those within one edit (a letter wrong, missing, added, or two swapped)
//! lend their terms to the query. Same tables and SQL
//! on both backends, so the same typos are found.

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::{Query, word_terms, words};
use crate::db::prepared::Value;
use crate::db::{DbConn, DbError};

/// Words shorter than this are not kept (a typo is looked for only from six letters).
pub const MIN_WORD: usize = 5;
/// A query word this long or longer may be a typo of a known word.
pub const MIN_TYPO_WORD: usize = 6;
/// Known words a typo may stand for, at most.
const MAX_NEIGHBOURS: usize = 8;
/// Rows per INSERT (bind parameters stay far below either backend's limit).
const CHUNK: usize = 200;

/// The padded trigrams of a word, distinct.
pub fn trigrams(word: &str) -> Vec<String> {
    let chars: Vec<char> = std::iter::once('^')
        .chain(word.chars())
        .chain(std::iter::once('$'))
        .collect();
    let mut out: Vec<String> = Vec::new();
    for w in chars.windows(3) {
        let t: String = w.iter().collect();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Optimal string alignment distance, stopping once it exceeds `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        let mut row_min = usize::MAX;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
    }
    d[n][m]
}

/// `?` placeholders as PostgreSQL numbers them.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(QueryableByName)]
struct WordRow {
    #[diesel(sql_type = Text)]
    word: String,
}

#[derive(QueryableByName)]
struct WordTerms {
    #[diesel(sql_type = Text)]
    word: String,
    #[diesel(sql_type = Text)]
    terms: String,
}

/// Binds `values` to a boxed `sql_query` of one backend.
macro_rules! bind_all {
    ($q:expr, $values:expr) => {{
        let mut q = $q;
        for v in $values {
            q = match v {
                Value::Text(t) => q.bind::<Text, _>(*t),
                Value::OptText(t) => q.bind::<Nullable<Text>, _>(*t),
                Value::Int(i) => q.bind::<BigInt, _>(*i),
                Value::Time(t) => q.bind::<Timestamp, _>(*t),
            };
        }
        q
    }};
}

/// Runs `sql` (with `?` placeholders), whose shape is known only at run time (so it is
/// not kept prepared: fixed texts go through [`crate::db::prepared`]), on either backend.
pub fn execute(conn: &mut DbConn, sql: &str, binds: &[Value<'_>]) -> Result<usize, DbError> {
    Ok(match conn {
        DbConn::Sqlite(c) => bind_all!(
            diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(),
            binds
        )
        .execute(c)?,
        DbConn::Pg(c) => bind_all!(
            diesel::sql_query(numbered(sql)).into_boxed::<diesel::pg::Pg>(),
            binds
        )
        .execute(c)?,
    })
}

/// Loads rows of `sql` (with `?` placeholders), as [`execute`].
pub fn load<R>(conn: &mut DbConn, sql: &str, binds: &[Value<'_>]) -> Result<Vec<R>, DbError>
where
    R: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    Ok(match conn {
        DbConn::Sqlite(c) => bind_all!(
            diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(),
            binds
        )
        .load::<R>(c)?,
        DbConn::Pg(c) => bind_all!(
            diesel::sql_query(numbered(sql)).into_boxed::<diesel::pg::Pg>(),
            binds
        )
        .load::<R>(c)?,
    })
}

fn placeholders(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(", "));
    vec![row; rows].join(", ")
}

/// Adds a word with its terms to `words` when the vocabulary keeps it: long enough for
/// the typo tolerance, not yet there, and not a number or code (a typo in one is
/// another number).
pub fn gather(words: &mut BTreeMap<String, String>, surface: &str, terms: &[String]) {
    if surface.chars().count() >= MIN_WORD
        && !surface.chars().any(|c| c.is_numeric())
        && !terms.is_empty()
        && !words.contains_key(surface)
    {
        words.insert(surface.to_string(), terms.join(" "));
    }
}

/// The words of `texts` the vocabulary keeps, with their terms, sorted (so concurrent
/// writers take the same keys in the same order).
pub fn words_of<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for text in texts {
        for w in words(text) {
            if !out.contains_key(&w.surface) {
                gather(&mut out, &w.surface, &word_terms(&w.surface));
            }
        }
    }
    out
}

/// Adds the words not yet known to the vocabulary of `scope`, with their trigrams.
pub fn add(
    conn: &mut DbConn,
    scope: &str,
    words: &BTreeMap<String, String>,
) -> Result<(), DbError> {
    let list: Vec<(&String, &String)> = words.iter().collect();
    for chunk in list.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO search_vocab (scope, word, terms) VALUES {} ON CONFLICT DO NOTHING RETURNING word",
            placeholders(chunk.len(), 3)
        );
        let mut binds = Vec::with_capacity(chunk.len() * 3);
        for (w, t) in chunk {
            binds.extend([Value::Text(scope), Value::Text(w), Value::Text(t)]);
        }
        let added: Vec<WordRow> = load(conn, &sql, &binds)?;
        let mut rows: Vec<(String, i64, String)> = Vec::new();
        for a in &added {
            let len = a.word.chars().count() as i64;
            for t in trigrams(&a.word) {
                rows.push((t, len, a.word.clone()));
            }
        }
        rows.sort();
        for part in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO search_trigrams (scope, trigram, len, word) VALUES {} ON CONFLICT DO NOTHING",
                placeholders(part.len(), 4)
            );
            let mut binds = Vec::with_capacity(part.len() * 4);
            for (t, len, w) in part {
                binds.extend([
                    Value::Text(scope),
                    Value::Text(t),
                    Value::Int(*len),
                    Value::Text(w),
                ]);
            }
            execute(conn, &sql, &binds)?;
        }
    }
    Ok(())
}

/// Gives each long query word the vocabulary does not know the terms of the known
/// words one edit away.
pub fn expand(conn: &mut DbConn, scope: &str, query: &mut Query) -> Result<(), DbError> {
    let long: Vec<String> = query
        .words
        .iter()
        .filter(|w| {
            w.surface.chars().count() >= MIN_TYPO_WORD && !w.surface.chars().any(char::is_numeric)
        })
        .map(|w| w.surface.clone())
        .collect();
    if long.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT word FROM search_vocab WHERE scope = ? AND word IN ({})",
        vec!["?"; long.len()].join(", ")
    );
    let mut binds = vec![Value::Text(scope)];
    binds.extend(long.iter().map(|w| Value::Text(w)));
    let known: HashSet<String> = load::<WordRow>(conn, &sql, &binds)?
        .into_iter()
        .map(|r| r.word)
        .collect();
    for qw in query.words.iter_mut() {
        if !long.contains(&qw.surface) || known.contains(&qw.surface) {
            continue;
        }
        // One edit (at any place of a word of six letters or more) leaves the first or the
        // last padded trigram whole, so the known words that begin or end so (and are as
        // long, give or take a letter) are the candidates; Rust measures each.
        let grams = trigrams(&qw.surface);
        let (Some(first), Some(last)) = (grams.first(), grams.last()) else {
            continue;
        };
        let len = qw.surface.chars().count() as i64;
        let candidates: Vec<WordRow> = load(
            conn,
            "SELECT DISTINCT word FROM search_trigrams WHERE scope = ? AND trigram IN (?, ?) \
             AND len BETWEEN ? AND ?",
            &[
                Value::Text(scope),
                Value::Text(first),
                Value::Text(last),
                Value::Int(len - 1),
                Value::Int(len + 1),
            ],
        )?;
        let mut near: Vec<(usize, String)> = candidates
            .into_iter()
            .map(|r| (edit_distance(&qw.surface, &r.word, 1), r.word))
            .filter(|(d, _)| *d <= 1)
            .collect();
        near.sort();
        near.truncate(MAX_NEIGHBOURS);
        if near.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT word, terms FROM search_vocab WHERE scope = ? AND word IN ({})",
            vec!["?"; near.len()].join(", ")
        );
        let mut binds = vec![Value::Text(scope)];
        binds.extend(near.iter().map(|(_, w)| Value::Text(w)));
        let mut found: Vec<WordTerms> = load(conn, &sql, &binds)?;
        found.sort_by(|a, b| a.word.cmp(&b.word));
        for r in found {
            for t in r.terms.split(' ') {
                if !t.is_empty()
                    && !qw.terms.iter().any(|x| x == t)
                    && !qw.fuzzy.iter().any(|x| x == t)
                {
                    qw.fuzzy.push(t.to_string());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_is_one() {
        assert_eq!(edit_distance("несудимости", "несудимости", 1), 0);
        assert_eq!(edit_distance("несудимости", "несудимосии", 1), 1);
        assert_eq!(edit_distance("несудимости", "несудимсти", 1), 1);
        assert_eq!(edit_distance("несудимости", "несудимоссти", 1), 1);
        assert_eq!(edit_distance("несудимости", "несудимотси", 1), 1);
        assert_eq!(edit_distance("несудимости", "несудмисоти", 1), 2);
        assert_eq!(edit_distance("справка", "паспорт", 1), 2);
    }

    #[test]
    fn one_edit_leaves_the_first_or_the_last_trigram_whole() {
        let word = "несудимости";
        let chars: Vec<char> = word.chars().collect();
        let mut typos: Vec<String> = Vec::new();
        for i in 0..chars.len() {
            let mut c = chars.clone();
            c[i] = 'ж';
            typos.push(c.iter().collect());
            let mut c = chars.clone();
            c.remove(i);
            typos.push(c.iter().collect());
            let mut c = chars.clone();
            c.insert(i, 'ж');
            typos.push(c.iter().collect());
            if i + 1 < chars.len() {
                let mut c = chars.clone();
                c.swap(i, i + 1);
                typos.push(c.iter().collect());
            }
        }
        let g = trigrams(word);
        for typo in typos {
            let t = trigrams(&typo);
            assert!(
                t.first() == g.first() || t.last() == g.last(),
                "{typo} shares neither end with {word}"
            );
            assert!(edit_distance(word, &typo, 1) <= 1, "{typo}");
        }
    }
}
