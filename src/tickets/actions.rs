//! What operators do to a ticket: reply, assign, transfer, change status, close; and
//! the applicant's rating (R10).

use baylanys_core::{Attachment, Channel, OutboundKind};
use diesel::prelude::*;
use serde::Serialize;

use super::{Status, event, find_id, queue_outbound, store_attachment};
use crate::db::schema::{contacts, tickets, users};
use crate::db::{DbConn, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("ticket {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A field of the request is wrong: which, and what to do.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

impl ActionError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ActionError {
        ActionError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<diesel::result::Error> for ActionError {
    fn from(e: diesel::result::Error) -> Self {
        ActionError::Db(DbError::Query(e))
    }
}

struct Target {
    id: String,
    number: String,
    status: String,
    channel: String,
    language: String,
    conversation: Option<String>,
    contact_email: Option<String>,
    contact_chat: Option<String>,
    contact_whatsapp: Option<String>,
}

fn load_target(conn: &mut DbConn, number: &str) -> Result<Target, ActionError> {
    let row = tickets::table
        .inner_join(contacts::table)
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select((
            tickets::id,
            tickets::number,
            tickets::status,
            tickets::channel,
            tickets::language,
            tickets::conversation,
            contacts::email,
            contacts::telegram_chat_id,
            contacts::whatsapp_id,
        ))
        .first::<(
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        )>(conn)
        .optional()?
        .ok_or_else(|| ActionError::NotFound(number.to_string()))?;
    Ok(Target {
        id: row.0,
        number: row.1,
        status: row.2,
        channel: row.3,
        language: row.4,
        conversation: row.5,
        contact_email: row.6,
        contact_chat: row.7,
        contact_whatsapp: row.8,
    })
}

/// Where messages to the applicant of a ticket go: the channel it came from; a web-form
/// ticket is answered on its status page and, when an e-mail was given, by e-mail too.
fn applicant_routes(t: &Target, email_enabled: bool) -> Vec<(Channel, String)> {
    let mut routes = Vec::new();
    match t.channel.parse::<Channel>() {
        Ok(Channel::Email) => {
            if let Some(e) = &t.contact_email {
                routes.push((Channel::Email, e.clone()));
            }
        }
        Ok(Channel::Telegram) => {
            if let Some(c) = t.conversation.as_ref().or(t.contact_chat.as_ref()) {
                routes.push((Channel::Telegram, c.clone()));
            }
        }
        Ok(Channel::WhatsApp) => {
            if let Some(c) = t.conversation.as_ref().or(t.contact_whatsapp.as_ref()) {
                routes.push((Channel::WhatsApp, c.clone()));
            }
        }
        Ok(Channel::WebForm) => {
            routes.push((Channel::WebForm, "status-page".to_string()));
            if email_enabled && let Some(e) = &t.contact_email {
                routes.push((Channel::Email, e.clone()));
            }
        }
        _ => {}
    }
    routes
}

pub struct ReplyInput {
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// A final reply answers the ticket (R5); a holding one ("we have asked the agency")
    /// is delivered and recorded but leaves it unanswered.
    pub final_reply: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyQueued {
    pub number: String,
    pub message_ids: Vec<String>,
    pub status: String,
}

pub fn reply(
    conn: &mut DbConn,
    number: &str,
    author: &crate::auth::User,
    input: &ReplyInput,
    outbox: super::Outbox<'_>,
) -> Result<ReplyQueued, ActionError> {
    if input.text.trim().is_empty() {
        return Err(ActionError::invalid("text", "the reply is empty"));
    }
    let t = load_target(conn, number)?;
    if t.status == Status::Closed.as_str() {
        return Err(ActionError::Conflict(format!(
            "ticket {} is closed: reopen it before replying",
            t.number
        )));
    }
    let language = t.language.parse().unwrap_or_default();
    let mut ids = Vec::new();
    for (channel, address) in applicant_routes(&t, outbox.email_enabled) {
        let rendered = outbox.templates.reply(
            language,
            &t.number,
            &input.text,
            input.html.as_deref(),
            channel,
        )?;
        let id = queue_outbound(
            conn,
            outbox.mail_domain,
            &t.id,
            crate::tickets::Recipient {
                channel,
                address: &address,
            },
            OutboundKind::Reply,
            Some(&author.id),
            &rendered,
        )?;
        for a in &input.attachments {
            store_attachment(conn, &id, a)?;
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(ActionError::Conflict(format!(
            "ticket {} has no channel to answer through",
            t.number
        )));
    }
    let now = crate::db::now();
    let status = if input.final_reply {
        Status::Answered.as_str()
    } else if t.status == Status::New.as_str() {
        // Someone is working on it; it is not answered.
        Status::Open.as_str()
    } else {
        t.status.as_str()
    };
    diesel::update(tickets::table.find(&t.id))
        .set((tickets::status.eq(status), tickets::updated_at.eq(now)))
        .execute(conn)?;
    if input.final_reply {
        diesel::update(
            tickets::table
                .find(&t.id)
                .filter(tickets::answered_at.is_null()),
        )
        .set(tickets::answered_at.eq(now))
        .execute(conn)?;
        // R10: a final reply ends the conversation: the applicant is asked to rate it.
        crate::ratings::offer(conn, &t.id, Some(&author.id), now)?;
    }
    event(
        conn,
        &t.id,
        &author.login,
        "replied",
        serde_json::json!({"message_ids": ids, "final": input.final_reply}),
    )?;
    Ok(ReplyQueued {
        number: t.number,
        message_ids: ids,
        status: status.into(),
    })
}

pub fn assign(
    conn: &mut DbConn,
    number: &str,
    actor: &crate::auth::User,
    login: &str,
) -> Result<(), ActionError> {
    let t = load_target(conn, number)?;
    let user: Option<(String, i32)> = users::table
        .filter(users::login.eq(login))
        .select((users::id, users::active))
        .first(conn)
        .optional()?;
    let Some((uid, 1)) = user else {
        return Err(ActionError::invalid(
            "login",
            format!("no active user `{login}`"),
        ));
    };
    let status = if t.status == Status::New.as_str() {
        Status::Open.as_str()
    } else {
        t.status.as_str()
    };
    diesel::update(tickets::table.find(&t.id))
        .set((
            tickets::assignee_id.eq(&uid),
            tickets::status.eq(status),
            tickets::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    event(
        conn,
        &t.id,
        &actor.login,
        "assigned",
        serde_json::json!({"to": login}),
    )?;
    Ok(())
}

/// R8: another group's remit; the ticket moves and the applicant is told.
pub fn transfer(
    conn: &mut DbConn,
    number: &str,
    actor: &crate::auth::User,
    queue: &str,
    note: Option<&str>,
    outbox: super::Outbox<'_>,
) -> Result<(), ActionError> {
    let queue = queue.trim();
    if queue.is_empty() || queue.len() > 64 {
        return Err(ActionError::invalid(
            "queue",
            "give the name of the queue (1-64 characters)",
        ));
    }
    let t = load_target(conn, number)?;
    if !crate::queues::exists(conn, queue)? {
        return Err(ActionError::invalid(
            "queue",
            format!(
                "no queue `{queue}`: see GET /api/v1/queues, or ask an administrator to add it"
            ),
        ));
    }
    if !crate::queues::is_open(conn, queue)? {
        return Err(ActionError::invalid(
            "queue",
            format!("queue `{queue}` is closed to new tickets: choose another one"),
        ));
    }
    let from: String = tickets::table
        .find(&t.id)
        .select(tickets::queue)
        .first(conn)?;
    if from == queue {
        return Err(ActionError::Conflict(format!(
            "ticket {} is already in queue {queue}",
            t.number
        )));
    }
    diesel::update(tickets::table.find(&t.id))
        .set((
            tickets::queue.eq(queue),
            tickets::assignee_id.eq(None::<String>),
            tickets::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    event(
        conn,
        &t.id,
        &actor.login,
        "transferred",
        serde_json::json!({"from": from, "to": queue, "note": note}),
    )?;
    let language = t.language.parse().unwrap_or_default();
    let rendered = outbox
        .templates
        .transfer_notice(language, &t.number, queue)?;
    for (channel, address) in applicant_routes(&t, outbox.email_enabled) {
        queue_outbound(
            conn,
            outbox.mail_domain,
            &t.id,
            crate::tickets::Recipient {
                channel,
                address: &address,
            },
            OutboundKind::Notice,
            Some(&actor.id),
            &rendered,
        )?;
    }
    Ok(())
}

/// Moves a ticket between working states: `waiting` (on the applicant or a forward) and
/// `open` (work resumes, or a closed ticket is reopened). Answering and closing have
/// their own actions, because they send messages.
pub fn set_status(
    conn: &mut DbConn,
    number: &str,
    actor: &crate::auth::User,
    to: &str,
    reason: Option<&str>,
) -> Result<(), ActionError> {
    let target = match Status::parse(to) {
        Ok(s @ (Status::Open | Status::Waiting)) => s,
        Ok(Status::Answered | Status::Closed) => {
            return Err(ActionError::invalid(
                "status",
                format!("`{to}` is set by POST .../replies or POST .../close"),
            ));
        }
        Ok(Status::New) | Err(_) => {
            return Err(ActionError::invalid(
                "status",
                format!("`{to}` is not a state to move to: use open or waiting"),
            ));
        }
    };
    let t = load_target(conn, number)?;
    if t.status == target.as_str() {
        return Err(ActionError::Conflict(format!(
            "ticket {} is already {}",
            t.number,
            target.as_str()
        )));
    }
    if target == Status::Waiting && t.status == Status::Closed.as_str() {
        return Err(ActionError::Conflict(format!(
            "ticket {} is closed: reopen it first",
            t.number
        )));
    }
    let now = crate::db::now();
    diesel::update(tickets::table.find(&t.id))
        .set((
            tickets::status.eq(target.as_str()),
            tickets::updated_at.eq(now),
            (t.status == Status::Closed.as_str())
                .then(|| tickets::closed_at.eq(None::<chrono::NaiveDateTime>)),
        ))
        .execute(conn)?;
    let kind = if t.status == Status::Closed.as_str() {
        "reopened"
    } else {
        "status_changed"
    };
    event(
        conn,
        &t.id,
        &actor.login,
        kind,
        serde_json::json!({"from": t.status, "to": target.as_str(), "reason": reason}),
    )?;
    Ok(())
}

/// Closes the ticket and (R10) offers the applicant a 1-5 rating where the channel can ask.
pub fn close(
    conn: &mut DbConn,
    number: &str,
    actor: &crate::auth::User,
    resolution: Option<&str>,
    outbox: super::Outbox<'_>,
) -> Result<(), ActionError> {
    let t = load_target(conn, number)?;
    if t.status == Status::Closed.as_str() {
        return Err(ActionError::Conflict(format!(
            "ticket {} is already closed",
            t.number
        )));
    }
    let now = crate::db::now();
    diesel::update(tickets::table.find(&t.id))
        .set((
            tickets::status.eq(Status::Closed.as_str()),
            tickets::closed_at.eq(now),
            tickets::updated_at.eq(now),
        ))
        .execute(conn)?;
    event(
        conn,
        &t.id,
        &actor.login,
        "closed",
        serde_json::json!({"resolution": resolution}),
    )?;
    // R10: the close ends the conversation; a rating is offered on its channel unless
    // the final reply already offered one.
    let _ = outbox;
    crate::ratings::offer(conn, &t.id, Some(&actor.id), now)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RatingOutcome {
    Recorded,
    AlreadyRated,
    Unknown,
}

/// R10: a rating is recorded once per conversation (see [`crate::ratings::record`]);
/// `actor` is `telegram:CHAT` for the bot's keyboard.
pub fn rate(
    conn: &mut DbConn,
    number: &str,
    rating: i32,
    actor: &str,
) -> Result<RatingOutcome, DbError> {
    let Some(id) = find_id(conn, number)? else {
        return Ok(RatingOutcome::Unknown);
    };
    let channel: String = tickets::table
        .find(&id)
        .select(tickets::channel)
        .first(conn)?;
    let source = if actor.starts_with("telegram:") {
        crate::ratings::Source::Telegram
    } else {
        crate::ratings::Source::Api
    };
    let outcome = crate::ratings::record(
        conn,
        crate::ratings::RatingInput {
            ticket_id: id,
            channel,
            score: rating,
            source: Some(source),
            ..Default::default()
        },
    )?;
    Ok(match outcome {
        crate::ratings::Outcome::Recorded { .. } => RatingOutcome::Recorded,
        crate::ratings::Outcome::AlreadyRated => RatingOutcome::AlreadyRated,
        _ => RatingOutcome::Unknown,
    })
}
