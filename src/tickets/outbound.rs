//! Outgoing messages: recorded with their delivery state and the job that delivers
//! them, in the caller's transaction (nothing is sent from a request).

use baylanys_core::{Channel, OutboundKind};
use diesel::prelude::*;

use super::{DeliveryState, Direction, MessageKind, Rendered};
use crate::db::schema::messages;
use crate::db::{DbConn, DbError, new_id};
use crate::jobs;

/// The domain of our Message-IDs, taken from the sender address.
pub fn mail_domain(mail_from: &str) -> &str {
    mail_from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .unwrap_or("baylanys.local")
}

/// Records an outgoing message as queued and the job that delivers it, in the caller's
/// transaction. Returns the message id.
pub fn queue_outbound(
    conn: &mut DbConn,
    mail_domain: &str,
    ticket_id: &str,
    to: Recipient<'_>,
    kind: OutboundKind,
    author_id: Option<&str>,
    rendered: &Rendered,
) -> Result<String, DbError> {
    let Recipient { channel, address } = to;
    let id = new_id();
    let (external_id, status) = match channel {
        // Our Message-ID is fixed now so replies can thread on it whatever the retries.
        Channel::Email => (Some(format!("{id}@{mail_domain}")), DeliveryState::Queued),
        // A web-form reply is published on the status page as soon as it is committed.
        Channel::WebForm => (None, DeliveryState::Published),
        _ => (None, DeliveryState::Queued),
    };
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&id),
            messages::ticket_id.eq(ticket_id),
            messages::direction.eq(Direction::Out.as_str()),
            messages::kind.eq(MessageKind::of(kind).as_str()),
            messages::channel.eq(channel.as_str()),
            messages::author_id.eq(author_id),
            messages::address.eq(address),
            messages::subject.eq(&rendered.subject),
            messages::body_text.eq(&rendered.text),
            messages::body_html.eq(&rendered.html),
            messages::external_id.eq(&external_id),
            messages::delivery_status.eq(status.as_str()),
            messages::created_at.eq(crate::db::now()),
            (channel == Channel::WebForm).then(|| messages::delivered_at.eq(crate::db::now())),
        ))
        .execute(conn)?;
    if channel != Channel::WebForm {
        // The message id is fresh: nothing to deduplicate against.
        let job = jobs::worker::Deliver {
            message_id: id.clone(),
            ticket_id: Some(ticket_id.to_string()),
        };
        jobs::enqueue_job(conn, &job, None)?;
    }
    Ok(id)
}

/// Where an outgoing message goes: a channel and the address on it.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub channel: Channel,
    pub address: &'a str,
}

/// What an action needs to send to the applicant: the texts, whether e-mail goes out from
/// this server, and the domain of our Message-IDs.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    pub templates: &'a crate::templates::Templates,
    pub email_enabled: bool,
    pub mail_domain: &'a str,
}
