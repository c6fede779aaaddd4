//! The ticket index: one row per ticket in `ticket_search` with the distinct terms of
//! its text and of every follow-up that has search text (what the `q` of
//! `GET /api/v1/tickets` looks in), indexed by FTS5 (`ticket_fts`, external content)
//! on SQLite and by a GIN index on a `tsvector` (`simple`) on PostgreSQL.
//!
//! A row's `doc` number follows the ticket id's time order (the UUIDv7 milliseconds and
//! random bits, probed on for a free one), so a search walks the index newest first and
//! stops after a page instead of collecting every match.

use std::collections::{BTreeMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::vocab;
use super::{Query, term_set};
use crate::db::prepared::{self, Value};
use crate::db::schema::{messages, ticket_search, tickets};
use crate::db::{DbConn, DbError};

/// The vocabulary scope of ticket words.
pub const SCOPE: &str = "tickets";
/// Distinct terms kept per ticket (a PostgreSQL `tsvector` holds at most 1 MB).
pub const MAX_TERMS: usize = 20_000;

/// Where a ticket's row would go first: its id's milliseconds and random bits.
pub fn doc_base(ticket_id: &str) -> i64 {
    match uuid::Uuid::parse_str(ticket_id) {
        Ok(u) => {
            let v = u.as_u128();
            let ms = (v >> 80) as i64;
            let rand_a = ((v >> 64) & 0xfff) as i64;
            (ms << 15) | (rand_a << 3)
        }
        Err(_) => 0,
    }
}

fn joined(terms: &[String]) -> String {
    terms[..terms.len().min(MAX_TERMS)].join(" ")
}

/// The ticket's search row, if it has one: doc and terms (a statement the connection
/// keeps prepared).
fn existing(conn: &mut DbConn, ticket_id: &str) -> Result<Option<(i64, String)>, DbError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        doc: i64,
        #[diesel(sql_type = Text)]
        terms: String,
    }
    let rows: Vec<Row> = prepared::load(
        conn,
        "SELECT doc, terms FROM ticket_search WHERE ticket_id = ? LIMIT 1",
        &[Value::Text(ticket_id)],
    )?;
    Ok(rows.into_iter().next().map(|r| (r.doc, r.terms)))
}

/// Writes the ticket's row with `terms` (a first row takes a free `doc` near its base).
fn store(conn: &mut DbConn, ticket_id: &str, terms: &str) -> Result<(), DbError> {
    let base = doc_base(ticket_id);
    let ms = base & !0x7fff;
    for k in 0..0x8000i64 {
        let doc = ms | ((base + k) & 0x7fff);
        let n = prepared::execute(
            conn,
            "INSERT INTO ticket_search (doc, ticket_id, terms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            &[Value::Int(doc), Value::Text(ticket_id), Value::Text(terms)],
        )?;
        if n == 1 {
            return Ok(());
        }
        // Taken by this ticket (a concurrent indexer): its text wins. The tickets of one
        // millisecond share a base, so most misses are another ticket's slot; looking
        // for our own row once in 64 misses keeps a batch from paying a query per miss
        // (the profile of 2026-12-04 had those lookups at 17 % of the writer).
        if k % 64 == 0 && existing(conn, ticket_id)?.is_some() {
            diesel::update(ticket_search::table.filter(ticket_search::ticket_id.eq(ticket_id)))
                .set(ticket_search::terms.eq(terms))
                .execute(conn)?;
            return Ok(());
        }
    }
    Err(DbError::Unavailable(format!(
        "no free search slot for ticket {ticket_id}"
    )))
}

/// Indexes a new ticket's own text (subject, first message, number).
pub fn index_new(conn: &mut DbConn, ticket_id: &str, text: &str) -> Result<(), DbError> {
    let mut words = BTreeMap::new();
    index_new_later_words(conn, ticket_id, text, None, &mut words)?;
    vocab::add(conn, SCOPE, &words)
}

/// [`index_new`] whose vocabulary words are gathered into `words` for the caller to add
/// once for many tickets (a registration batch shares most of its words), in the same
/// transaction. `stemmed`, when given, is the ticket's text without its number already
/// stemmed (on the request's thread, off the single writer): only the rest of `text` is
/// stemmed here.
pub fn index_new_later_words(
    conn: &mut DbConn,
    ticket_id: &str,
    text: &str,
    stemmed: Option<Stemmed>,
    words: &mut BTreeMap<String, String>,
) -> Result<(), DbError> {
    let ahead = stemmed
        .filter(|s| text.starts_with(&s.text))
        .unwrap_or_default();
    let rest = &text[ahead.text.len()..];
    let terms = ahead.finish(rest, words);
    store(conn, ticket_id, &joined(&terms))
}

/// A text's distinct terms in order (as [`term_set`]), each word stemmed once, and the
/// words the vocabulary keeps (as [`vocab::words_of`]); more text can be added after.
#[derive(Debug, Clone, Default)]
pub struct Stemmed {
    /// The text stemmed so far.
    pub text: String,
    surfaces: HashSet<String>,
    seen: HashSet<String>,
    terms: Vec<String>,
    words: BTreeMap<String, String>,
}

impl Stemmed {
    /// Stems `text`.
    pub fn of(text: &str) -> Stemmed {
        let mut s = Stemmed::default();
        s.add(text);
        s
    }

    /// Stems `rest` (which follows the text so far, from a word boundary), adds the
    /// vocabulary words to `words` (those already there are kept) and gives the terms.
    pub fn finish(mut self, rest: &str, words: &mut BTreeMap<String, String>) -> Vec<String> {
        self.add(rest);
        for (w, t) in self.words {
            words.entry(w).or_insert(t);
        }
        self.terms
    }

    /// Stems `more`, which follows the text so far and starts at a word boundary.
    fn add(&mut self, more: &str) {
        self.text.push_str(more);
        for w in super::words(more) {
            if !self.surfaces.insert(w.surface.clone()) {
                continue;
            }
            let terms = super::word_terms(&w.surface);
            vocab::gather(&mut self.words, &w.surface, &terms);
            for t in terms {
                if self.seen.insert(t.clone()) {
                    self.terms.push(t);
                }
            }
        }
    }
}

#[cfg(test)]
fn terms_and_words(text: &str, words: &mut BTreeMap<String, String>) -> Vec<String> {
    Stemmed::default().finish(text, words)
}

/// Adds a follow-up's text to its ticket's row (the whole ticket when it has none yet).
pub fn add_text(conn: &mut DbConn, ticket_id: &str, text: &str) -> Result<(), DbError> {
    match existing(conn, ticket_id)? {
        None => reindex(conn, ticket_id)?,
        Some((_, old)) => {
            let mut terms: Vec<String> = old
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            let known: std::collections::HashSet<String> = terms.iter().cloned().collect();
            let before = terms.len();
            for t in term_set([text]) {
                if !known.contains(&t) && terms.len() < MAX_TERMS {
                    terms.push(t);
                }
            }
            if terms.len() > before {
                diesel::update(ticket_search::table.filter(ticket_search::ticket_id.eq(ticket_id)))
                    .set(ticket_search::terms.eq(terms.join(" ")))
                    .execute(conn)?;
            }
        }
    }
    vocab::add(conn, SCOPE, &vocab::words_of([text]))
}

/// Rebuilds a ticket's row from its texts (after a merge or a split of tickets).
pub fn reindex(conn: &mut DbConn, ticket_id: &str) -> Result<(), DbError> {
    let Some(own) = tickets::table
        .find(ticket_id)
        .select(tickets::search_text)
        .first::<String>(conn)
        .optional()?
    else {
        return forget(conn, ticket_id);
    };
    let follow_ups: Vec<Option<String>> = messages::table
        .filter(messages::ticket_id.eq(ticket_id))
        .filter(messages::search_text.is_not_null())
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(messages::search_text)
        .load(conn)?;
    let texts: Vec<&str> = std::iter::once(own.as_str())
        .chain(follow_ups.iter().flatten().map(String::as_str))
        .collect();
    store(conn, ticket_id, &joined(&term_set(texts.iter().copied())))?;
    vocab::add(conn, SCOPE, &vocab::words_of(texts))
}

/// Removes a ticket from the index (retention: its text is gone).
pub fn forget(conn: &mut DbConn, ticket_id: &str) -> Result<(), DbError> {
    diesel::delete(ticket_search::table.filter(ticket_search::ticket_id.eq(ticket_id)))
        .execute(conn)?;
    Ok(())
}

/// Indexes up to `batch` tickets after `after` (in id order; `""` starts at the first)
/// that have no row yet (those of an older release); returns how many, and the last id
/// looked at when there may be more, to start the next batch after it. The cursor keeps
/// each batch a short range scan, so a big backfill never holds the write lock long.
/// Anonymised tickets stay out.
pub fn backfill(
    conn: &mut DbConn,
    after: &str,
    batch: i64,
) -> Result<(usize, Option<String>), DbError> {
    let ids: Vec<String> = tickets::table
        .filter(tickets::id.gt(after))
        .filter(tickets::anonymised_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(
            ticket_search::table
                .filter(ticket_search::ticket_id.eq(tickets::id))
                .select(ticket_search::doc),
        )))
        .order(tickets::id.asc())
        .select(tickets::id)
        .limit(batch)
        .load(conn)?;
    for id in &ids {
        reindex(conn, id)?;
    }
    let more = (ids.len() as i64 == batch)
        .then(|| ids.last().cloned())
        .flatten();
    Ok((ids.len(), more))
}

/// The doc number below which the page after ticket `after` starts.
pub fn bound_after(conn: &mut DbConn, after: &str) -> Result<i64, DbError> {
    Ok(match existing(conn, after)? {
        Some((doc, _)) => doc,
        None => doc_base(after),
    })
}

#[derive(QueryableByName, Debug, Clone)]
pub struct Candidate {
    #[diesel(sql_type = BigInt)]
    pub doc: i64,
    #[diesel(sql_type = Text)]
    pub ticket_id: String,
}

/// Up to `limit` tickets matching `query` below `bound`, newest first.
pub fn candidates(
    conn: &mut DbConn,
    query: &Query,
    bound: i64,
    limit: i64,
) -> Result<Vec<Candidate>, DbError> {
    if query.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT s.doc AS doc, s.ticket_id AS ticket_id FROM ticket_fts \
             JOIN ticket_search s ON s.doc = ticket_fts.rowid \
             WHERE ticket_fts MATCH ? AND ticket_fts.rowid < ? \
             ORDER BY ticket_fts.rowid DESC LIMIT ?",
        )
        .bind::<Text, _>(query.fts5())
        .bind::<BigInt, _>(bound)
        .bind::<BigInt, _>(limit)
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT doc, ticket_id FROM ticket_search \
             WHERE tsv @@ to_tsquery('simple', $1) AND doc < $2 \
             ORDER BY doc DESC LIMIT $3",
        )
        .bind::<Text, _>(query.tsquery())
        .bind::<BigInt, _>(bound)
        .bind::<BigInt, _>(limit)
        .load(c)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_gives_the_terms_and_the_vocabulary_words_of_two() {
        let text = "Справка о несудимости, справка №12345 не приходит; eGov CON-7 справка \
                    анықтама берілмеді, анықтаманы күтемін";
        let mut words = BTreeMap::new();
        let terms = terms_and_words(text, &mut words);
        assert_eq!(terms, term_set([text]));
        assert_eq!(words, vocab::words_of([text]));
        assert!(words.contains_key("несудимости"), "{words:?}");
        assert!(!words.keys().any(|w| w.contains("12345")), "{words:?}");
        // Words already gathered (from a batch's earlier ticket) are kept, not repeated.
        let before = words.len();
        terms_and_words("справка несудимости", &mut words);
        assert_eq!(words.len(), before);
    }

    #[test]
    fn a_text_stemmed_ahead_and_finished_later_gives_what_the_whole_gives() {
        let ahead = "справка о несудимости не приходит\nанықтама берілмеді";
        let whole = format!("{ahead}\n2026-000123");
        let mut split_words = BTreeMap::new();
        let terms = Stemmed::of(ahead).finish(&whole[ahead.len()..], &mut split_words);
        let mut whole_words = BTreeMap::new();
        assert_eq!(terms, terms_and_words(&whole, &mut whole_words));
        assert_eq!(terms, term_set([whole.as_str()]));
        assert_eq!(split_words, whole_words);
    }

    #[test]
    fn doc_numbers_follow_the_ticket_ids_time_order() {
        let mut ids: Vec<String> = (0..50)
            .map(|_| {
                std::thread::sleep(std::time::Duration::from_micros(300));
                crate::db::new_id()
            })
            .collect();
        ids.sort();
        let docs: Vec<i64> = ids.iter().map(|i| doc_base(i)).collect();
        assert!(docs.windows(2).all(|w| w[0] <= w[1]), "{docs:?}");
        assert!(docs.iter().all(|d| *d > 0));
        assert_eq!(doc_base("not a uuid"), 0);
    }
}
