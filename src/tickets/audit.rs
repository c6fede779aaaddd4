//! The ticket's audit log: every change, who made it and when, append-only and
//! tamper-evident. Each event has its place in its ticket's chain (`seq`) and
//! `hash = SHA-256(prev_hash, ticket, seq, at, actor, kind, data)`; changing, removing or
//! reordering an event breaks every later link, which `baylanys audit verify` finds.
//!
//! Personal data (an applicant's address in the actor, names, e-mail addresses, phone
//! numbers and IINs in the data) is not hashed: it is moved to the `personal` column and
//! its place in the event holds a placeholder, so retention can erase it without
//! breaking the chain. Reading an event puts it back (or `[removed]`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{NaiveDateTime, SubsecRound};
use diesel::prelude::*;
use regex::Regex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::schema::{ticket_events, tickets};
use crate::db::{DbConn, DbError, new_id};

/// Keys whose string values are personal data wherever they appear in an event.
const PERSONAL_KEYS: &[&str] = &[
    "name",
    "email",
    "address",
    "phone",
    "iin",
    "iin_bin",
    "applicant",
    "sender",
    "recipient",
    "chat_id",
    "telegram_chat_id",
    "whatsapp_id",
];

/// Whether an actor is an applicant on a channel (`email:aigul@mail.kz`), not staff.
fn applicant_channel(prefix: &str) -> bool {
    baylanys_core::Channel::ALL
        .iter()
        .any(|c| c.as_str() == prefix)
}

/// What stands in for a personal value: `⟪p0⟫`.
fn placeholder(i: usize) -> String {
    format!("⟪p{i}⟫")
}

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"⟪p(\d+)⟫").expect("compiles"));

static PERSONAL_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+",
        r"|(?:\+7|\b8)[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}\b",
        r"|\b\d{12}\b",
    ))
    .expect("compiles")
});

/// An event as stored: personal values taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub actor: String,
    pub data: String,
    /// `{"p0": "...", ...}`, or `None` when the event holds no personal data.
    pub personal: Option<String>,
}

struct Splitter {
    values: BTreeMap<String, String>,
}

impl Splitter {
    fn take(&mut self, value: String) -> String {
        let i = self.values.len();
        self.values.insert(format!("p{i}"), value);
        placeholder(i)
    }

    fn text(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for m in PERSONAL_TEXT.find_iter(s) {
            out.push_str(&s[last..m.start()]);
            out.push_str(&self.take(m.as_str().to_string()));
            last = m.end();
        }
        out.push_str(&s[last..]);
        out
    }

    fn value(&mut self, v: &serde_json::Value, personal_key: bool) -> serde_json::Value {
        use serde_json::Value as V;
        match v {
            V::String(s) if personal_key => V::String(self.take(s.clone())),
            V::Number(n) if personal_key => V::String(self.take(n.to_string())),
            V::String(s) => V::String(self.text(s)),
            V::Array(list) => V::Array(list.iter().map(|x| self.value(x, personal_key)).collect()),
            V::Object(map) => V::Object(
                map.iter()
                    .map(|(k, x)| {
                        (
                            k.clone(),
                            self.value(x, PERSONAL_KEYS.contains(&k.as_str())),
                        )
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Takes the personal data out of an event's actor and data.
pub fn split(actor: &str, data: &serde_json::Value) -> Split {
    let mut s = Splitter {
        values: BTreeMap::new(),
    };
    let actor = match actor.split_once(':') {
        Some((channel, who)) if applicant_channel(channel) && !who.is_empty() => {
            format!("{channel}:{}", s.take(who.to_string()))
        }
        _ => actor.to_string(),
    };
    let data = s.value(data, false).to_string();
    let personal = (!s.values.is_empty())
        .then(|| serde_json::to_string(&s.values).expect("strings serialise"));
    Split {
        actor,
        data,
        personal,
    }
}

/// Puts personal values back into a stored text; erased ones read `[removed]`.
pub fn join(text: &str, personal: Option<&str>) -> String {
    if !text.contains('⟪') {
        return text.to_string();
    }
    let values: BTreeMap<String, String> = personal
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    PLACEHOLDER
        .replace_all(text, |c: &regex::Captures<'_>| {
            values
                .get(&format!("p{}", &c[1]))
                .cloned()
                .unwrap_or_else(|| "[removed]".into())
        })
        .into_owned()
}

/// An event's stored data with its personal values put back (in the JSON's strings, so
/// a value with quotes stays a value).
pub fn join_data(data: &str, personal: Option<&str>) -> serde_json::Value {
    fn walk(v: serde_json::Value, personal: Option<&str>) -> serde_json::Value {
        use serde_json::Value as V;
        match v {
            V::String(s) => V::String(join(&s, personal)),
            V::Array(list) => V::Array(list.into_iter().map(|x| walk(x, personal)).collect()),
            V::Object(map) => V::Object(
                map.into_iter()
                    .map(|(k, x)| (k, walk(x, personal)))
                    .collect(),
            ),
            other => other,
        }
    }
    walk(
        serde_json::from_str(data).unwrap_or(serde_json::Value::Null),
        personal,
    )
}

/// The instant as stored on both engines (microseconds), so the hash of what was
/// written is the hash of what is read back.
pub fn event_time(at: NaiveDateTime) -> NaiveDateTime {
    at.trunc_subsecs(6)
}

/// The link: SHA-256 over the previous hash and the event without personal data.
pub fn link_hash(
    prev: Option<&str>,
    ticket_id: &str,
    seq: i64,
    at: NaiveDateTime,
    actor: &str,
    kind: &str,
    data: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev.unwrap_or(""),
        ticket_id,
        &seq.to_string(),
        &at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        actor,
        kind,
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.update(data.as_bytes());
    hex::encode(h.finalize())
}

/// A ticket's first event, sealed: what the one-statement registration on PostgreSQL
/// writes.
pub struct Sealed {
    pub at: NaiveDateTime,
    pub split: Split,
    pub seq: i64,
    pub hash: String,
}

pub fn first_event(ticket_id: &str, actor: &str, kind: &str, data: &serde_json::Value) -> Sealed {
    let at = event_time(crate::db::now());
    let split = split(actor, data);
    let hash = link_hash(None, ticket_id, 1, at, &split.actor, kind, &split.data);
    Sealed {
        at,
        split,
        seq: 1,
        hash,
    }
}

/// Writes a new ticket's first event (no chain to read yet).
pub fn insert_first(
    conn: &mut DbConn,
    ticket_id: &str,
    kind: &str,
    e: &Sealed,
) -> Result<(), DbError> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::id.eq(new_id()),
            ticket_events::ticket_id.eq(ticket_id),
            ticket_events::at.eq(e.at),
            ticket_events::actor.eq(&e.split.actor),
            ticket_events::kind.eq(kind),
            ticket_events::data.eq(&e.split.data),
            ticket_events::seq.eq(e.seq),
            ticket_events::hash.eq(&e.hash),
            ticket_events::personal.eq(&e.split.personal),
        ))
        .execute(conn)?;
    Ok(())
}

/// Appends to the audit log. The event is written without its place in the chain; the
/// sealer ([`seal_pending`], a background task of the server, and `audit verify` before it
/// checks) chains it moments later. Appending takes no lock, so it never orders itself
/// against the other rows a transaction changes (which could deadlock).
pub fn event(
    conn: &mut DbConn,
    ticket_id: &str,
    actor: &str,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), DbError> {
    let at = event_time(crate::db::now());
    let split = split(actor, &data);
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::id.eq(new_id()),
            ticket_events::ticket_id.eq(ticket_id),
            ticket_events::at.eq(at),
            ticket_events::actor.eq(&split.actor),
            ticket_events::kind.eq(kind),
            ticket_events::data.eq(&split.data),
            ticket_events::personal.eq(&split.personal),
        ))
        .execute(conn)?;
    Ok(())
}

type EventRow = (
    String,
    NaiveDateTime,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// Seals a ticket's unsealed events (written before the chain existed) after its sealed
/// ones, in the order they happened, taking their personal data out.
fn seal_ticket(conn: &mut DbConn, ticket_id: &str) -> Result<usize, DbError> {
    let last: Option<(Option<i64>, Option<String>)> = ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket_id))
        .filter(ticket_events::seq.is_not_null())
        .order(ticket_events::seq.desc())
        .select((ticket_events::seq, ticket_events::hash))
        .first(conn)
        .optional()?;
    let (mut seq, mut prev) = match last {
        Some((Some(s), h)) => (s, h),
        _ => (0, None),
    };
    type Unsealed = (
        String,
        NaiveDateTime,
        String,
        String,
        String,
        Option<String>,
    );
    let rows: Vec<Unsealed> = ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket_id))
        .filter(ticket_events::seq.is_null())
        .order((ticket_events::at.asc(), ticket_events::id.asc()))
        .select((
            ticket_events::id,
            ticket_events::at,
            ticket_events::actor,
            ticket_events::kind,
            ticket_events::data,
            ticket_events::personal,
        ))
        .load(conn)?;
    for (id, at, actor, kind, data, personal) in &rows {
        let at = event_time(*at);
        // Events of this release were split when written; an older release's are split now.
        let split = if personal.is_some() || !needs_split(actor, data) {
            Split {
                actor: actor.clone(),
                data: data.clone(),
                personal: personal.clone(),
            }
        } else {
            let value: serde_json::Value = serde_json::from_str(data)
                .unwrap_or_else(|_| serde_json::Value::String(data.clone()));
            split(actor, &value)
        };
        seq += 1;
        let hash = link_hash(
            prev.as_deref(),
            ticket_id,
            seq,
            at,
            &split.actor,
            kind,
            &split.data,
        );
        diesel::update(ticket_events::table.find(id))
            .set((
                ticket_events::at.eq(at),
                ticket_events::actor.eq(&split.actor),
                ticket_events::data.eq(&split.data),
                ticket_events::personal.eq(&split.personal),
                ticket_events::seq.eq(seq),
                ticket_events::prev_hash.eq(&prev),
                ticket_events::hash.eq(&hash),
            ))
            .execute(conn)?;
        prev = Some(hash);
    }
    Ok(rows.len())
}

/// Whether a stored actor or data still holds personal data in the clear (an event of an
/// older release, written before events were split).
fn needs_split(actor: &str, data: &str) -> bool {
    let s = split(
        actor,
        &serde_json::from_str(data).unwrap_or(serde_json::Value::Null),
    );
    s.personal.is_some()
}

/// Seals up to `limit` tickets' unsealed events (new ones, or an older release's) into
/// their chains, in the order they happened; returns how many it sealed. On PostgreSQL a
/// ticket another transaction holds is skipped (`SKIP LOCKED`) and sealed next time, so
/// the sealer never waits for, or deadlocks with, the work that writes events.
pub fn seal_pending(conn: &mut DbConn, limit: i64) -> Result<usize, DbError> {
    let ids: Vec<String> = ticket_events::table
        .filter(ticket_events::seq.is_null())
        .select(ticket_events::ticket_id)
        .distinct()
        .limit(limit)
        .load(conn)?;
    let mut n = 0;
    for id in ids {
        if let DbConn::Pg(c) = conn {
            // NO KEY UPDATE: other sealers wait, writers of new events (whose foreign key
            // takes KEY SHARE) do not.
            let held = diesel::sql_query(
                "SELECT 1 FROM tickets WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED",
            )
            .bind::<diesel::sql_types::Text, _>(&id)
            .execute(c)?;
            if held == 0 {
                continue;
            }
        }
        n += seal_ticket(conn, &id)?;
    }
    Ok(n)
}

/// Erases the personal data of a ticket's events; the chain stays whole.
pub fn erase_personal(conn: &mut DbConn, ticket_id: &str) -> Result<usize, DbError> {
    Ok(diesel::update(
        ticket_events::table
            .filter(ticket_events::ticket_id.eq(ticket_id))
            .filter(ticket_events::personal.is_not_null()),
    )
    .set(ticket_events::personal.eq(None::<String>))
    .execute(conn)?)
}

/// The first link that does not hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Broken {
    pub ticket: String,
    pub event: String,
    pub seq: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verified {
    pub tickets: u64,
    pub events: u64,
    pub broken: Option<Broken>,
}

/// Seals what is pending, then walks every ticket's chain (in pages of tickets) and
/// stops at the first broken link. A write: run it in a write transaction.
pub fn verify(conn: &mut DbConn) -> Result<Verified, DbError> {
    while seal_pending(conn, 500)? > 0 {}
    let mut report = Verified {
        tickets: 0,
        events: 0,
        broken: None,
    };
    let mut after = String::new();
    loop {
        let page: Vec<(String, String)> = tickets::table
            .filter(tickets::id.gt(&after))
            .order(tickets::id.asc())
            .select((tickets::id, tickets::number))
            .limit(500)
            .load(conn)?;
        let Some((last, _)) = page.last() else {
            return Ok(report);
        };
        after = last.clone();
        for (id, number) in page {
            report.tickets += 1;
            let rows: Vec<EventRow> = ticket_events::table
                .filter(ticket_events::ticket_id.eq(&id))
                .order((ticket_events::seq.asc(), ticket_events::id.asc()))
                .select((
                    ticket_events::id,
                    ticket_events::at,
                    ticket_events::actor,
                    ticket_events::kind,
                    ticket_events::data,
                    ticket_events::seq,
                    ticket_events::prev_hash,
                    ticket_events::hash,
                ))
                .load(conn)?;
            let mut prev: Option<String> = None;
            for (expected, (event, at, actor, kind, data, seq, prev_hash, hash)) in (1..).zip(rows)
            {
                report.events += 1;
                let broken = |reason: String| Broken {
                    ticket: number.clone(),
                    event: event.clone(),
                    seq,
                    reason,
                };
                let reason = match seq {
                    None => Some("the event is not sealed into the chain".to_string()),
                    Some(s) if s != expected => {
                        Some(format!("event {expected} is missing (the next one is {s})"))
                    }
                    Some(s) => {
                        let want = link_hash(prev.as_deref(), &id, s, at, &actor, &kind, &data);
                        if prev_hash != prev {
                            Some("its previous-hash does not match the event before".into())
                        } else if hash.as_deref() != Some(want.as_str()) {
                            Some("its content does not match its hash (changed after it was written)".into())
                        } else {
                            None
                        }
                    }
                };
                if let Some(reason) = reason {
                    report.broken = Some(broken(reason));
                    return Ok(report);
                }
                prev = hash;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_leaves_the_hashed_form_and_comes_back() {
        let data = serde_json::json!({
            "reason": "5 acknowledgements to aigul@mail.kz in the last hour",
            "name": "Айгүл Серікқызы",
            "nested": {"phone": "+7 701 234 56 78", "queue": "general"},
            "iin note": "ИИН 870412300123",
        });
        let s = split("email:aigul@mail.kz", &data);
        assert_eq!(s.actor, "email:⟪p0⟫");
        for gone in ["aigul", "Айгүл", "701", "870412300123"] {
            assert!(!s.data.contains(gone), "{gone} in {}", s.data);
        }
        assert!(s.data.contains("general"));
        assert_eq!(join_data(&s.data, s.personal.as_deref()), data);
        let quoted = serde_json::json!({"name": "O\"Brien \\ Ltd"});
        let q = split("aliya", &quoted);
        assert_eq!(join_data(&q.data, q.personal.as_deref()), quoted);
        assert_eq!(join(&s.actor, s.personal.as_deref()), "email:aigul@mail.kz");
        assert_eq!(join(&s.actor, None), "email:[removed]");
        // Staff actors are not personal data.
        assert_eq!(split("aliya", &serde_json::json!({})).actor, "aliya");
        assert_eq!(split("aliya", &serde_json::json!({})).personal, None);
    }

    #[test]
    fn the_hash_covers_every_part_and_the_previous_link() {
        let at = event_time(crate::db::now());
        let h = link_hash(None, "t", 1, at, "a", "k", "{}");
        assert_ne!(h, link_hash(Some(&h), "t", 1, at, "a", "k", "{}"));
        assert_ne!(h, link_hash(None, "t", 2, at, "a", "k", "{}"));
        assert_ne!(h, link_hash(None, "t", 1, at, "b", "k", "{}"));
        assert_ne!(h, link_hash(None, "t", 1, at, "a", "k", "{\"x\":1}"));
        // Parts cannot be shifted into each other.
        assert_ne!(
            link_hash(None, "t", 1, at, "ab", "k", "{}"),
            link_hash(None, "t", 1, at, "a", "bk", "{}")
        );
    }
}
