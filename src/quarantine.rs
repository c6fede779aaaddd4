//! Raw payloads of every channel, kept before anything is done with them: the bytes of
//! a mail, the JSON of a Telegram update. What could not be read or stored stays here,
//! quarantined with its reason, for staff to see, retry or release; nothing is dropped.

use baylanys_core::Channel;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::raw_payloads;
use crate::db::{Blob, DbConn, DbError, new_id};

/// Stored, not yet acted on (the transaction that acts on it is still running).
pub const STORED: &str = "stored";
/// Turned into a ticket, a follow-up or a delivery report.
pub const PROCESSED: &str = "processed";
/// Could not be read or stored: held whole, with the reason, for staff.
pub const QUARANTINED: &str = "quarantined";
/// A delivery report that matched none of our messages.
pub const UNMATCHED_REPORT: &str = "unmatched_report";

/// Stores raw bytes first (nothing is lost even if parsing fails later). Returns the id,
/// or the existing row's id and `false` when the same payload was stored before.
pub fn store_raw(
    conn: &mut DbConn,
    channel: Channel,
    dedupe_key: Option<&str>,
    content: &[u8],
    status: &str,
    reason: Option<&str>,
) -> Result<(String, bool), DbError> {
    let reason = reason.map(baylanys_core::clean_text);
    if let Some(key) = dedupe_key {
        let existing: Option<String> = raw_payloads::table
            .filter(raw_payloads::dedupe_key.eq(key))
            .select(raw_payloads::id)
            .first(conn)
            .optional()?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    let id = new_id();
    diesel::insert_into(raw_payloads::table)
        .values((
            raw_payloads::id.eq(&id),
            raw_payloads::channel.eq(channel.as_str()),
            raw_payloads::dedupe_key.eq(dedupe_key),
            raw_payloads::content.eq(Blob(content.to_vec())),
            raw_payloads::sha256.eq(crate::auth::sha256_hex(content)),
            raw_payloads::status.eq(status),
            raw_payloads::reason.eq(reason.as_deref()),
            raw_payloads::received_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok((id, true))
}

/// Quarantines a stored payload with the reason.
pub fn mark(c: &mut DbConn, raw_id: &str, reason: &str) -> Result<(), DbError> {
    diesel::update(raw_payloads::table.find(raw_id))
        .set((
            raw_payloads::status.eq(QUARANTINED),
            raw_payloads::reason.eq(baylanys_core::clean_text(reason).as_ref()),
        ))
        .execute(c)?;
    Ok(())
}

/// Records what a stored payload became: processed, on `ticket_id`.
pub fn link(
    conn: &mut DbConn,
    raw_payload_id: Option<&str>,
    ticket_id: &str,
) -> Result<(), DbError> {
    if let Some(raw) = raw_payload_id {
        diesel::update(raw_payloads::table.find(raw))
            .set((
                raw_payloads::ticket_id.eq(ticket_id),
                raw_payloads::status.eq(PROCESSED),
                raw_payloads::reason.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// One quarantined payload as operators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuarantineItem {
    pub id: String,
    /// `email` or `telegram`: only e-mail can be retried or released as a ticket.
    pub channel: String,
    pub received_at: String,
    pub reason: Option<String>,
    pub size: i64,
    pub sha256: String,
}

/// Which held payloads a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldKind {
    /// Payloads that could not be read or stored.
    Quarantined,
    /// Delivery reports that matched none of our messages.
    UnmatchedReports,
}

impl HeldKind {
    fn status(self) -> &'static str {
        match self {
            HeldKind::Quarantined => QUARANTINED,
            HeldKind::UnmatchedReports => UNMATCHED_REPORT,
        }
    }
}

/// One page of a listing, newest first, and where the next page starts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuarantinePage {
    pub items: Vec<QuarantineItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// What every channel quarantined (or the unmatched delivery reports), newest first,
/// optionally of one channel, `limit` (1-200) at a time after the id `after`.
pub fn list(
    c: &mut DbConn,
    kind: HeldKind,
    channel: Option<Channel>,
    after: Option<&str>,
    limit: i64,
) -> Result<QuarantinePage, DbError> {
    type Row = (
        String,
        String,
        chrono::NaiveDateTime,
        Option<String>,
        i32,
        String,
    );
    let limit = limit.clamp(1, 200);
    let mut query = raw_payloads::table
        .filter(raw_payloads::status.eq(kind.status()))
        .into_boxed();
    if let Some(ch) = channel {
        query = query.filter(raw_payloads::channel.eq(ch.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(raw_payloads::id.lt(after.to_string()));
    }
    // Ids are time-ordered (UUIDv7): the id order is the order of arrival.
    let rows: Vec<Row> = query
        .order(raw_payloads::id.desc())
        .limit(limit + 1)
        .select((
            raw_payloads::id,
            raw_payloads::channel,
            raw_payloads::received_at,
            raw_payloads::reason,
            diesel::dsl::sql::<diesel::sql_types::Integer>("length(content)"),
            raw_payloads::sha256,
        ))
        .load(c)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<QuarantineItem> = rows
        .into_iter()
        .take(limit as usize)
        .map(|(id, channel, at, reason, size, sha256)| QuarantineItem {
            id,
            channel,
            received_at: crate::tickets::almaty(&at),
            reason,
            size: i64::from(size),
            sha256,
        })
        .collect();
    let next_after = if more {
        items.last().map(|i| i.id.clone())
    } else {
        None
    };
    Ok(QuarantinePage { items, next_after })
}

/// One quarantined payload whole.
pub struct QuarantinedPayload {
    pub channel: String,
    pub reason: Option<String>,
    pub raw: Vec<u8>,
}

pub fn item(c: &mut DbConn, id: &str) -> Result<Option<QuarantinedPayload>, DbError> {
    let row: Option<(String, Option<String>, Blob)> = raw_payloads::table
        .find(id)
        .filter(raw_payloads::status.eq_any([QUARANTINED, UNMATCHED_REPORT]))
        .select((
            raw_payloads::channel,
            raw_payloads::reason,
            raw_payloads::content,
        ))
        .first(c)
        .optional()?;
    Ok(row.map(|(channel, reason, Blob(raw))| QuarantinedPayload {
        channel,
        reason,
        raw,
    }))
}

/// A quarantined payload of `channel` with the instant it arrived, for a retry.
pub fn held_payload(
    c: &mut DbConn,
    id: &str,
    channel: Channel,
) -> Result<Option<(Vec<u8>, chrono::NaiveDateTime)>, DbError> {
    let row: Option<(Blob, chrono::NaiveDateTime)> = raw_payloads::table
        .find(id)
        .filter(raw_payloads::status.eq(QUARANTINED))
        .filter(raw_payloads::channel.eq(channel.as_str()))
        .select((raw_payloads::content, raw_payloads::received_at))
        .first(c)
        .optional()?;
    Ok(row.map(|(Blob(b), at)| (b, at)))
}
