//! The e-mail channel on the server side: raw mail in (IMAP, `ingest-email`, raw POST),
//! delivery reports, and the quarantine of mail that could not be read.
//!
//! Raw bytes are stored in `raw_payloads` in the same transaction as whatever they turn
//! into, so a message is either kept (as a ticket, a follow-up, a delivery report or a
//! quarantined payload) or not at all, and the sender's MTA (or IMAP) hands it over again.

pub mod imap;
pub mod lmtp;

pub use imap::run_imap;

use std::sync::Arc;

use baylanys_core::{Channel, InboundMessage, OutboundKind, Sender};
use baylanys_email::{Dsn, EmailMessage, ParseConfig, ParseFailure, ParsedEmail};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde::Serialize;

use crate::AppState;
use crate::db::schema::{messages, raw_payloads};
use crate::db::{DbConn, DbError};
use crate::quarantine::{self, UNMATCHED_REPORT, store_raw};
use crate::tickets::intake::{IntakeError, Registered, intake};
use crate::tickets::{DeliveryState, Direction, event, queue_outbound};

/// What became of one raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MailOutcome {
    /// A new ticket.
    Registered { number: String },
    /// A follow-up on an existing ticket.
    Appended { number: String },
    /// The same message was stored before; nothing changed.
    Duplicate,
    /// Kept whole for an operator: it could not be read.
    Quarantined { id: String, reason: String },
    /// A delivery report; `number` is the ticket whose message bounced, when known.
    DeliveryStatus { number: Option<String> },
    /// A body's answer to a forward (or, `late`, a reply after it was closed: kept).
    ForwardAnswer {
        reference: String,
        message_id: String,
        late: bool,
    },
    /// A reply about a forward that failed the sender checks: held for an operator.
    ForwardReplyHeld {
        reference: String,
        message_id: String,
    },
}

impl MailOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            MailOutcome::Registered { .. } => "registered",
            MailOutcome::Appended { .. } => "appended",
            MailOutcome::Duplicate => "duplicate",
            MailOutcome::Quarantined { .. } => "quarantined",
            MailOutcome::DeliveryStatus { .. } => "delivery_status",
            MailOutcome::ForwardAnswer { .. } => "forward_answer",
            MailOutcome::ForwardReplyHeld { .. } => "forward_reply_held",
        }
    }

    pub fn number(&self) -> Option<&str> {
        match self {
            MailOutcome::Registered { number } | MailOutcome::Appended { number } => Some(number),
            MailOutcome::DeliveryStatus { number } => number.as_deref(),
            _ => None,
        }
    }
}

/// The parser's view of this server.
pub fn parse_config(app: &AppState) -> ParseConfig {
    let own = app
        .config
        .mail_from
        .trim()
        .trim_matches(|c| c == '<' || c == '>');
    let own = own.rsplit_once('<').map_or(own, |(_, a)| a).to_lowercase();
    ParseConfig {
        own_addresses: vec![own],
        max_message_size: usize::try_from(app.config.max_message_bytes).unwrap_or(usize::MAX),
        max_attachment_size: usize::try_from(app.config.max_attachment_bytes).unwrap_or(usize::MAX),
        agency_ref_prefixes: app.config.agency_ref_prefixes.clone(),
        number_prefix: app.config.registration_prefix.clone(),
        trusted_authserv_id: app.config.trusted_authserv_id.clone(),
    }
}

/// `email:<message-id>:<sha256>`, or `email:<sha256>` without a Message-ID.
fn dedupe_key(parsed: &Result<ParsedEmail, ParseFailure>, hash: &str) -> String {
    match parsed {
        Ok(ParsedEmail::Message(m)) => match &m.message_id {
            Some(id) => format!("email:{id}:{hash}"),
            None => format!("email:{hash}"),
        },
        _ => format!("email:{hash}"),
    }
}

/// A raw message parsed and keyed, ready to be stored: the work done before the
/// transaction.
#[derive(Clone)]
pub struct Prepared {
    raw: Arc<Vec<u8>>,
    parsed: Result<ParsedEmail, ParseFailure>,
    hash: String,
    key: String,
}

/// Parses `raw` as received at `received_at` (now when `None`) and computes its dedupe key.
pub fn prepare(app: &AppState, raw: Vec<u8>, received_at: Option<DateTime<Utc>>) -> Prepared {
    let at = received_at.unwrap_or_else(Utc::now);
    let parsed = baylanys_email::parse_at(&raw, &parse_config(app), at);
    let hash = baylanys_email::sha256(&raw);
    let key = dedupe_key(&parsed, &hash);
    Prepared {
        raw: Arc::new(raw),
        parsed,
        hash,
        key,
    }
}

/// The raw row and what it turns into, in the caller's transaction.
fn store_prepared(c: &mut DbConn, app: &AppState, p: &Prepared) -> Result<MailOutcome, DbError> {
    let (raw_id, new) = store_raw(
        c,
        Channel::Email,
        Some(&p.key),
        &p.raw,
        quarantine::STORED,
        None,
    )?;
    if !new {
        return Ok(MailOutcome::Duplicate);
    }
    apply(c, app, &raw_id, p.parsed.clone())
}

/// Stores, parses and acts on one raw message. `received_at` is the IMAP INTERNALDATE
/// for backfilled mail, else now. An error means nothing was stored and the database is
/// out of reach (the MTA or the mailbox follower tries again later); a message the
/// database refuses for any other reason is kept whole in the quarantine instead, so one
/// message never blocks the mailbox.
pub async fn ingest_raw(
    app: &Arc<AppState>,
    raw: Vec<u8>,
    received_at: Option<DateTime<Utc>>,
) -> Result<MailOutcome, DbError> {
    let prepared = prepare(app, raw, received_at);
    ingest_prepared(app, prepared).await
}

/// [`ingest_raw`] of a message already prepared.
pub async fn ingest_prepared(
    app: &Arc<AppState>,
    prepared: Prepared,
) -> Result<MailOutcome, DbError> {
    let mut failure = None;
    // A second try covers a race lost to another process (a number sequence created at
    // the same moment); a fault of the message itself fails again.
    for _ in 0..2 {
        let (a, p) = (app.clone(), prepared.clone());
        let result = app.db.write(move |c| store_prepared(c, &a, &p)).await;
        match result {
            Ok(outcome) => {
                app.jobs_wakeup.notify_one();
                return Ok(outcome);
            }
            Err(e) if e.is_transient() => return Err(e),
            // Only our own dedupe key says "duplicate": another instance stored this one.
            Err(e) if e.is_unique_violation() && raw_key_exists(app, &prepared.key).await? => {
                return Ok(MailOutcome::Duplicate);
            }
            Err(e) => {
                tracing::warn!(error = %e, "storing an e-mail failed");
                failure = Some(e);
            }
        }
    }
    let reason = format!(
        "could not be stored as a ticket: {}",
        failure.map_or_else(String::new, |e| e.to_string())
    );
    quarantine_whole(app, prepared.raw, &prepared.hash, reason).await
}

/// Several messages in one transaction (group commit: one sync for all), each in its own
/// savepoint. A message that fails there, or all of them when the transaction does, go
/// through [`ingest_prepared`] alone, so every outcome is the one [`ingest_raw`] gives.
pub async fn ingest_batch(
    app: &Arc<AppState>,
    batch: Vec<Prepared>,
) -> Vec<Result<MailOutcome, DbError>> {
    let batch = Arc::new(batch);
    let (a, b) = (app.clone(), batch.clone());
    let together = app
        .db
        .write(move |c| {
            let mut out = Vec::with_capacity(b.len());
            for p in b.iter() {
                c.batch_execute("SAVEPOINT mail_batch")?;
                match store_prepared(c, &a, p) {
                    Ok(outcome) => {
                        c.batch_execute("RELEASE SAVEPOINT mail_batch")?;
                        out.push(Some(outcome));
                    }
                    Err(e) if e.is_transient() => return Err(e),
                    Err(_) => {
                        c.batch_execute("ROLLBACK TO SAVEPOINT mail_batch")?;
                        c.batch_execute("RELEASE SAVEPOINT mail_batch")?;
                        out.push(None);
                    }
                }
            }
            Ok(out)
        })
        .await
        .unwrap_or_else(|_| vec![None; batch.len()]);
    app.jobs_wakeup.notify_one();
    let mut results = Vec::with_capacity(batch.len());
    for (p, outcome) in batch.iter().zip(together) {
        results.push(match outcome {
            Some(o) => Ok(o),
            None => ingest_prepared(app, p.clone()).await,
        });
    }
    results
}

async fn raw_key_exists(app: &AppState, key: &str) -> Result<bool, DbError> {
    let key = key.to_string();
    app.db
        .run(move |c| {
            Ok(raw_payloads::table
                .filter(raw_payloads::dedupe_key.eq(&key))
                .select(raw_payloads::id)
                .first::<String>(c)
                .optional()?
                .is_some())
        })
        .await
}

/// Keeps the raw bytes alone, in the quarantine, with the reason: the last resort for a
/// message that the database took as bytes but not as a ticket.
async fn quarantine_whole(
    app: &AppState,
    raw: Arc<Vec<u8>>,
    hash: &str,
    reason: String,
) -> Result<MailOutcome, DbError> {
    let key = format!("email-unstored:{hash}");
    let reason = baylanys_core::clean_text(&reason).into_owned();
    app.db
        .write(move |c| {
            let (id, new) = store_raw(
                c,
                Channel::Email,
                Some(&key),
                &raw,
                quarantine::QUARANTINED,
                Some(&reason),
            )?;
            if !new {
                return Ok(MailOutcome::Duplicate);
            }
            tracing::warn!(raw_id = id, reason, "e-mail quarantined");
            Ok(MailOutcome::Quarantined { id, reason })
        })
        .await
}

/// Acts on a parsed message whose raw row `raw_id` exists, in the caller's transaction.
fn apply(
    c: &mut DbConn,
    app: &AppState,
    raw_id: &str,
    parsed: Result<ParsedEmail, ParseFailure>,
) -> Result<MailOutcome, DbError> {
    match parsed {
        Ok(ParsedEmail::Message(m)) => register_message(c, app, raw_id, *m),
        Ok(ParsedEmail::DeliveryStatus(dsn)) => delivery_status(c, raw_id, &dsn),
        Err(failure) => quarantine(c, raw_id, &failure.reason),
    }
}

fn quarantine(c: &mut DbConn, raw_id: &str, reason: &str) -> Result<MailOutcome, DbError> {
    crate::quarantine::mark(c, raw_id, reason)?;
    tracing::warn!(raw_id, reason, "e-mail quarantined");
    Ok(MailOutcome::Quarantined {
        id: raw_id.to_string(),
        reason: reason.to_string(),
    })
}

/// Intake in a savepoint: a message intake refuses (no deadline can be computed) is
/// quarantined instead of undoing the stored raw bytes.
fn register_message(
    c: &mut DbConn,
    app: &AppState,
    raw_id: &str,
    m: EmailMessage,
) -> Result<MailOutcome, DbError> {
    // A body's reply about a forward goes to the forward, not to intake.
    if let Some(outcome) = crate::forwards::inbound::take_reply(c, app, raw_id, &m)? {
        return Ok(outcome);
    }
    let mut inbound = m.inbound;
    inbound.suppress_ack = m.suppress_ack.clone();
    let unauthenticated = m
        .authentication
        .as_ref()
        .filter(|a| a.dmarc_failed())
        .cloned();
    if unauthenticated.is_some() {
        // Anyone can write an applicant's address in From: a message our MTA found failing
        // DMARC never joins an existing ticket.
        inbound.thread.force_new = true;
    }
    let calendar = app.calendar();
    c.batch_execute("SAVEPOINT mail_intake")?;
    let registered = match intake(c, &app.intake_context(&calendar), &inbound, Some(raw_id)) {
        Ok(r) => r,
        Err(IntakeError::Db(e)) => return Err(e),
        Err(e) => {
            c.batch_execute("ROLLBACK TO SAVEPOINT mail_intake")?;
            c.batch_execute("RELEASE SAVEPOINT mail_intake")?;
            return quarantine(c, raw_id, &e.to_string());
        }
    };
    c.batch_execute("RELEASE SAVEPOINT mail_intake")?;
    if let Some(auth) = unauthenticated {
        crate::tickets::event(
            c,
            &registered.ticket_id,
            "system",
            "sender_not_authenticated",
            serde_json::json!({
                "authentication_results": auth, "message_id": registered.message_id,
                "note": "DMARC failed at our mail server: registered as a new ticket, not joined to an existing one",
            }),
        )?;
    }
    if !m.agency_refs.is_empty() {
        // An agency's own number for the matter: kept for matching its answers to forwards.
        crate::tickets::event(
            c,
            &registered.ticket_id,
            "system",
            "agency_reference",
            serde_json::json!({"references": m.agency_refs, "message_id": registered.message_id}),
        )?;
    }
    if !m.oversize.is_empty() {
        oversize_notice(c, app, &inbound, &registered, &m.oversize)?;
    }
    Ok(if registered.new_ticket {
        MailOutcome::Registered {
            number: registered.number,
        }
    } else {
        MailOutcome::Appended {
            number: registered.number,
        }
    })
}

/// Records the dropped attachments and tells the sender (not a robot) which and why.
fn oversize_notice(
    c: &mut DbConn,
    app: &AppState,
    inbound: &InboundMessage,
    reg: &Registered,
    files: &[String],
) -> Result<(), DbError> {
    let limit = app.config.max_attachment_bytes;
    event(
        c,
        &reg.ticket_id,
        "system",
        "attachments_dropped",
        serde_json::json!({ "files": files, "limit_bytes": limit }),
    )?;
    if inbound.suppress_ack.is_some() {
        return Ok(());
    }
    let rendered = app
        .templates
        .message(
            "oversize",
            reg.language,
            minijinja::context! { number => reg.number, files, limit => human_size(limit) },
        )
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    queue_outbound(
        c,
        &app.mail_domain,
        &reg.ticket_id,
        crate::tickets::Recipient {
            channel: Channel::Email,
            address: &inbound.sender.address,
        },
        OutboundKind::Notice,
        None,
        &rendered,
    )?;
    Ok(())
}

/// `10.0 МБ`, or `512 КБ` below a megabyte (the same abbreviations in both languages).
fn human_size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        format!("{:.1} МБ", bytes as f64 / MB as f64)
    } else {
        format!("{} КБ", bytes.div_ceil(1024))
    }
}

/// A bounce for one of our messages: that message is marked failed; never a ticket.
fn delivery_status(c: &mut DbConn, raw_id: &str, dsn: &Dsn) -> Result<MailOutcome, DbError> {
    let target: Option<(String, String)> = match &dsn.original_message_id {
        Some(id) => messages::table
            .filter(messages::external_id.eq(id.trim_matches(|c| c == '<' || c == '>')))
            .filter(messages::direction.eq(Direction::Out.as_str()))
            .select((messages::id, messages::ticket_id))
            .first(c)
            .optional()?,
        None => None,
    };
    let error = dsn
        .diagnostic
        .clone()
        .or_else(|| dsn.status.clone().map(|s| format!("status {s}")))
        .unwrap_or_else(|| "the recipient's mail server reported a delivery failure".into());
    let mut number = None;
    if let Some((message_id, ticket_id)) = &target {
        diesel::update(messages::table.find(message_id))
            .set((
                messages::delivery_status.eq(DeliveryState::Failed.as_str()),
                messages::delivery_error.eq(&error),
            ))
            .execute(c)?;
        event(
            c,
            ticket_id,
            "system",
            "delivery_failed",
            serde_json::json!({
                "message_id": message_id, "error": error, "recipients": dsn.failed_recipients,
                "status": dsn.status, "source": "delivery status notification",
            }),
        )?;
        number = crate::db::schema::tickets::table
            .find(ticket_id)
            .select(crate::db::schema::tickets::number)
            .first(c)
            .optional()?;
    }
    let (status, reason) = match &target {
        Some(_) => (quarantine::PROCESSED, None),
        None => (
            UNMATCHED_REPORT,
            Some("delivery report for a message we do not know"),
        ),
    };
    diesel::update(raw_payloads::table.find(raw_id))
        .set((
            raw_payloads::status.eq(status),
            raw_payloads::reason.eq(reason),
            raw_payloads::ticket_id.eq(target.map(|t| t.1)),
        ))
        .execute(c)?;
    Ok(MailOutcome::DeliveryStatus { number })
}

/// Why a quarantine action could not run.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("no quarantined e-mail with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for QuarantineError {
    fn from(e: diesel::result::Error) -> Self {
        QuarantineError::Db(DbError::Query(e))
    }
}

fn load_quarantined(
    c: &mut DbConn,
    id: &str,
) -> Result<(Vec<u8>, chrono::NaiveDateTime), QuarantineError> {
    crate::quarantine::held_payload(c, id, Channel::Email)?
        .ok_or_else(|| QuarantineError::NotFound(id.to_string()))
}

/// Parses the stored bytes again (after a parser fix, say); what now parses is processed.
pub async fn quarantine_retry(
    app: &Arc<AppState>,
    id: &str,
) -> Result<MailOutcome, QuarantineError> {
    let a = app.clone();
    let (id, wanted) = (id.to_string(), id.to_string());
    let outcome = app
        .db
        .write(move |c| {
            let (raw, at) = match load_quarantined(c, &id) {
                Ok(found) => found,
                Err(QuarantineError::NotFound(_)) => return Ok(None),
                Err(QuarantineError::Db(e)) => return Err(e),
            };
            let parsed = baylanys_email::parse_at(&raw, &parse_config(&a), at.and_utc());
            apply(c, &a, &id, parsed).map(Some)
        })
        .await?;
    app.jobs_wakeup.notify_one();
    outcome.ok_or_else(|| QuarantineError::NotFound(wanted))
}

/// An operator forces a ticket from a quarantined message: its raw text is the body.
pub async fn quarantine_release(
    app: &Arc<AppState>,
    id: &str,
    actor: &str,
) -> Result<MailOutcome, QuarantineError> {
    let a = app.clone();
    let (id, actor, wanted) = (id.to_string(), actor.to_string(), id.to_string());
    let outcome = app
        .db
        .write(move |c| {
            let (raw, at) = match load_quarantined(c, &id) {
                Ok(found) => found,
                Err(QuarantineError::NotFound(_)) => return Ok(None),
                Err(QuarantineError::Db(e)) => return Err(e),
            };
            let msg = released_message(&raw, at.and_utc());
            let calendar = a.calendar();
            let reg =
                intake(c, &a.intake_context(&calendar), &msg, Some(&id)).map_err(|e| match e {
                    IntakeError::Db(e) => e,
                    other => DbError::Unavailable(other.to_string()),
                })?;
            event(
                c,
                &reg.ticket_id,
                &actor,
                "released_from_quarantine",
                serde_json::json!({ "raw_payload_id": id }),
            )?;
            Ok(Some(MailOutcome::Registered { number: reg.number }))
        })
        .await?;
    app.jobs_wakeup.notify_one();
    outcome.ok_or_else(|| QuarantineError::NotFound(wanted))
}

fn released_message(raw: &[u8], received_at: DateTime<Utc>) -> InboundMessage {
    let address = crude_from(raw);
    let plausible = address.contains('@') && !address.contains(char::is_whitespace);
    let sender = Sender {
        address: address.clone(),
        email: plausible.then(|| address.clone()),
        ..Sender::default()
    };
    let mut msg = InboundMessage::new(Channel::Email, sender, String::from_utf8_lossy(raw));
    msg.subject = Some("(unparsed message)".into());
    msg.received_at = received_at;
    msg.thread.force_new = true;
    if !plausible {
        msg.suppress_ack = Some("released from quarantine without a sender address".into());
    }
    msg
}

/// The address in the first `From:` line, however broken the rest is; else `unknown`.
fn crude_from(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let line = text
        .lines()
        .find(|l| l.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("from:")));
    let Some(value) = line.and_then(|l| l.get(5..)).map(str::trim) else {
        return "unknown".into();
    };
    let address = match (value.rfind('<'), value.rfind('>')) {
        (Some(s), Some(e)) if s < e => &value[s + 1..e],
        _ => value,
    };
    let address = address.trim().to_lowercase();
    if address.is_empty() {
        "unknown".into()
    } else {
        address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crude_from_finds_the_address_or_says_unknown() {
        assert_eq!(
            crude_from(b"X: 1\r\nFrom: Aigul <Aigul@Example.kz>\r\n\xff\xfe"),
            "aigul@example.kz"
        );
        assert_eq!(crude_from(b"from: a@b.kz\n"), "a@b.kz");
        assert_eq!(crude_from(b"\x00\x01 garbage"), "unknown");
    }

    #[test]
    fn sizes_are_shown_in_megabytes_or_kilobytes() {
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 МБ");
        assert_eq!(human_size(1024), "1 КБ");
    }
}
