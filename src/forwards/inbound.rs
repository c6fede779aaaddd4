//! Mail from a body about a forward, read from the support mailbox: recognised by our
//! Message-IDs in In-Reply-To/References, else by the forward's reference in the subject.
//! It is the body's answer only from one of the body's addresses and not failing DMARC at
//! our MTA; otherwise it is kept in the ticket as a held reply for an operator to accept.

use std::sync::LazyLock;

use baylanys_email::EmailMessage;
use diesel::prelude::*;
use regex::Regex;

use super::{Answer, ForwardRow, Landed, get, link_message, store_body_message};
use crate::AppState;
use crate::db::schema::{forwards, raw_payloads};
use crate::db::{DbConn, DbError};
use crate::mail::MailOutcome;

/// `[UCC-2026-000042-F1]` in a subject.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\s*([A-Za-z0-9]{1,16}-\d{4}-\d{6,}-F\d{1,6})\s*\]").expect("a valid pattern")
});

fn forward_of(c: &mut DbConn, m: &EmailMessage) -> Result<Option<ForwardRow>, DbError> {
    for r in &m.inbound.thread.references {
        if let Some(id) = super::delivery::forward_of_message_id(r)
            && let Some(f) = get(c, &id)?
        {
            return Ok(Some(f.row));
        }
    }
    let Some(subject) = &m.inbound.subject else {
        return Ok(None);
    };
    for cap in REFERENCE.captures_iter(subject).take(5) {
        let reference = cap[1].to_ascii_uppercase();
        let found: Option<ForwardRow> = forwards::table
            .filter(forwards::reference.eq(&reference))
            .select(ForwardRow::as_select())
            .first(c)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Takes a mail that is about a forward (answer, later reply or held reply), in the
/// caller's transaction; `None` for any other mail, which intake handles as before.
pub fn take_reply(
    c: &mut DbConn,
    app: &AppState,
    raw_id: &str,
    m: &EmailMessage,
) -> Result<Option<MailOutcome>, DbError> {
    let Some(f) = forward_of(c, m)? else {
        return Ok(None);
    };
    let Some(body) = crate::registry::bodies::get(c, &f.body_id)? else {
        return Ok(None);
    };
    let sender = m.inbound.sender.address.to_lowercase();
    let known = super::body_addresses(c, &body)?.contains(&sender);
    let dmarc_failed = m.authentication.as_ref().is_some_and(|a| a.dmarc_failed());
    let reason = match (known, dmarc_failed) {
        (_, true) => Some("DMARC failed at our mail server"),
        (false, _) => Some("the sender is not an address of the body in the registry"),
        _ => None,
    };
    let now = app.clock.now();
    let by = format!("mail:{sender}");
    let answer = Answer {
        text: &m.inbound.body_text,
        attachments: &m.inbound.attachments,
        by: &by,
        channel: "email",
        address: &sender,
        raw_payload_id: Some(raw_id),
        external_id: m.message_id.as_deref(),
        subject: m.inbound.subject.as_deref(),
    };
    let texts = [
        m.inbound.subject.as_deref().unwrap_or_default(),
        m.inbound.body_text.as_str(),
    ];
    let outcome = match reason {
        Some(reason) => {
            let mid = store_body_message(c, &f, &answer, super::KIND_HELD)?;
            link_message(c, &f.id, &mid, "held", Some(reason), now.naive_utc())?;
            crate::tickets::event(
                c,
                &f.ticket_id,
                "system",
                "forward_reply_held",
                serde_json::json!({
                    "forward_id": f.id, "reference": f.reference, "message_id": mid,
                    "from": sender, "reason": reason,
                    "authentication_results": m.authentication,
                }),
            )?;
            super::tell_staff_of_held(c, app, &f)?;
            MailOutcome::ForwardReplyHeld {
                reference: f.reference.clone(),
                message_id: mid,
            }
        }
        None => {
            super::record_body_references(
                c,
                &f,
                body.ref_pattern.as_deref(),
                &texts,
                &m.agency_refs,
            )?;
            let (landed, mid) = match super::answer(c, app, &f, &answer, true, now) {
                Ok(done) => done,
                Err(super::ForwardError::Db(e)) => return Err(e),
                Err(e) => return Err(DbError::Unavailable(e.to_string())),
            };
            MailOutcome::ForwardAnswer {
                reference: f.reference.clone(),
                message_id: mid,
                late: landed == Landed::Later,
            }
        }
    };
    diesel::update(raw_payloads::table.find(raw_id))
        .set((
            raw_payloads::status.eq(crate::quarantine::PROCESSED),
            raw_payloads::ticket_id.eq(&f.ticket_id),
        ))
        .execute(c)?;
    Ok(Some(outcome))
}
