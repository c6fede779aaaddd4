//! Tickets: registration numbers, lifecycle, intake, replies, transfers.

pub mod answered;
pub mod domain;
pub mod intake;
pub mod registrar;

use baylanys_core::{Attachment, Channel, OutboundKind};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{attachments, contacts, messages, ticket_events, tickets, users};
use crate::db::{Blob, DbConn, DbError, new_id};
use crate::jobs;

/// The ticket lifecycle: new -> open -> waiting -> answered -> closed, reopened by a new
/// message from the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    Waiting,
    Answered,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Waiting,
        Status::Answered,
        Status::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Waiting => "waiting",
            Status::Answered => "answered",
            Status::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status `{s}`: expected new, open, waiting, answered or closed")
            })
    }
}

/// Rendered text of an outgoing message.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

/// Lower-cased text for the `q` search; lower-casing here because SQLite's `lower()`
/// only knows ASCII and appeals are in Kazakh and Russian.
pub fn search_text_of(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&p.to_lowercase());
    }
    s
}

/// Appends to the audit log.
pub fn event(
    conn: &mut DbConn,
    ticket_id: &str,
    actor: &str,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), DbError> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::id.eq(new_id()),
            ticket_events::ticket_id.eq(ticket_id),
            ticket_events::at.eq(crate::db::now()),
            ticket_events::actor.eq(actor),
            ticket_events::kind.eq(kind),
            ticket_events::data.eq(data.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn store_attachment(
    conn: &mut DbConn,
    message_id: &str,
    a: &Attachment,
) -> Result<String, DbError> {
    let id = new_id();
    diesel::insert_into(attachments::table)
        .values((
            attachments::id.eq(&id),
            attachments::message_id.eq(message_id),
            attachments::file_name.eq(&a.file_name),
            attachments::content_type.eq(&a.content_type),
            attachments::size.eq(a.content.len() as i64),
            attachments::sha256.eq(crate::auth::sha256_hex(&a.content)),
            attachments::content.eq(Blob(a.content.clone())),
            attachments::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(id)
}

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
    ticket_id: &str,
    channel: Channel,
    kind: OutboundKind,
    address: &str,
    author_id: Option<&str>,
    rendered: &Rendered,
) -> Result<String, DbError> {
    let id = new_id();
    let (external_id, status) = match channel {
        // Our Message-ID is fixed now so replies can thread on it whatever the retries.
        Channel::Email => (
            Some(format!("{id}@{}", crate::tickets::outbound_domain())),
            "queued",
        ),
        // A web-form reply is published on the status page as soon as it is committed.
        Channel::WebForm => (None, "published"),
        _ => (None, "queued"),
    };
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&id),
            messages::ticket_id.eq(ticket_id),
            messages::direction.eq("out"),
            messages::kind.eq(kind_str(kind)),
            messages::channel.eq(channel.as_str()),
            messages::author_id.eq(author_id),
            messages::address.eq(address),
            messages::subject.eq(&rendered.subject),
            messages::body_text.eq(&rendered.text),
            messages::body_html.eq(&rendered.html),
            messages::external_id.eq(&external_id),
            messages::delivery_status.eq(status),
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

static OUTBOUND_DOMAIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Set once at start-up from the configured sender address.
pub fn set_outbound_domain(domain: &str) {
    let _ = OUTBOUND_DOMAIN.set(domain.to_string());
}

fn outbound_domain() -> &'static str {
    OUTBOUND_DOMAIN.get().map_or("goscorp.kz", |s| s.as_str())
}

pub fn kind_str(kind: OutboundKind) -> &'static str {
    match kind {
        OutboundKind::Acknowledgement => "acknowledgement",
        OutboundKind::Reply => "reply",
        OutboundKind::Notice => "notice",
        OutboundKind::RatingRequest => "rating_request",
    }
}

pub fn kind_from_str(s: &str) -> OutboundKind {
    match s {
        "acknowledgement" => OutboundKind::Acknowledgement,
        "reply" => OutboundKind::Reply,
        "rating_request" => OutboundKind::RatingRequest,
        _ => OutboundKind::Notice,
    }
}

// ---------------------------------------------------------------------------------------
// Reading

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = tickets)]
pub struct TicketRow {
    pub id: String,
    pub number: String,
    pub channel: String,
    pub status: String,
    pub queue: String,
    pub assignee_id: Option<String>,
    pub subject: String,
    pub language: String,
    pub region: Option<String>,
    pub topic: Option<String>,
    #[serde(serialize_with = "utc")]
    pub registered_at: chrono::NaiveDateTime,
    pub effective_from: String,
    #[serde(serialize_with = "utc")]
    pub due_at: chrono::NaiveDateTime,
    #[serde(serialize_with = "utc_opt")]
    pub answered_at: Option<chrono::NaiveDateTime>,
    #[serde(serialize_with = "utc_opt")]
    pub closed_at: Option<chrono::NaiveDateTime>,
    pub rating: Option<i32>,
}

/// Instants go out as RFC 3339 in Asia/Almaty.
pub fn almaty(t: &chrono::NaiveDateTime) -> String {
    crate::calendar::format_almaty(t.and_utc())
}

fn utc<S: serde::Serializer>(t: &chrono::NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&almaty(t))
}

fn utc_opt<S: serde::Serializer>(
    t: &Option<chrono::NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&almaty(t)),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    pub queue: Option<String>,
    pub overdue: Option<bool>,
    pub q: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// Newest first, keyset-paginated on the time-ordered ticket id.
pub fn list(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<TicketRow>, DbError> {
    let mut query = tickets::table.select(TicketRow::as_select()).into_boxed();
    if let Some(s) = f.status {
        query = query.filter(tickets::status.eq(s.as_str()));
    }
    if let Some(c) = f.channel {
        query = query.filter(tickets::channel.eq(c.as_str()));
    }
    if let Some(q) = &f.queue {
        query = query.filter(tickets::queue.eq(q.clone()));
    }
    match f.overdue {
        Some(true) => query = query.filter(answered::overdue(now)),
        Some(false) => query = query.filter(answered::not_overdue(now)),
        None => {}
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        for word in q.to_lowercase().split_whitespace() {
            let escaped = word
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = format!("%{escaped}%");
            // The ticket's own text, or any follow-up's (which never rewrite the ticket).
            query = query.filter(
                tickets::search_text
                    .like(pattern.clone())
                    .escape('\\')
                    .or(diesel::dsl::exists(
                        messages::table
                            .filter(messages::ticket_id.eq(tickets::id))
                            .filter(messages::search_text.like(pattern).escape('\\'))
                            .select(messages::id),
                    )),
            );
        }
    }
    if let Some(after) = &f.after {
        query = query.filter(tickets::id.lt(after.clone()));
    }
    Ok(query
        .order(tickets::id.desc())
        .limit(f.limit.clamp(1, 200))
        .load(conn)?)
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub direction: String,
    pub kind: String,
    pub channel: String,
    pub address: String,
    pub author: Option<String>,
    pub subject: Option<String>,
    pub body_text: String,
    pub delivery_status: Option<String>,
    pub delivery_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Serialize, Queryable)]
pub struct AttachmentView {
    pub id: String,
    #[serde(skip)]
    pub message_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct ContactView {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketRow,
    pub contact: ContactView,
    pub assignee: Option<String>,
    pub deadline: serde_json::Value,
    pub overdue: bool,
    pub messages: Vec<MessageView>,
    pub events: Vec<EventView>,
}

pub fn find_id(conn: &mut DbConn, number: &str) -> Result<Option<String>, DbError> {
    Ok(tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select(tickets::id)
        .first(conn)
        .optional()?)
}

pub fn detail(
    conn: &mut DbConn,
    number: &str,
    now: DateTime<Utc>,
) -> Result<Option<TicketDetail>, DbError> {
    let Some(id) = find_id(conn, number)? else {
        return Ok(None);
    };
    let ticket: TicketRow = tickets::table
        .find(&id)
        .select(TicketRow::as_select())
        .first(conn)?;
    let (contact_id, deadline, applicant): (String, String, Option<String>) = tickets::table
        .find(&id)
        .select((tickets::contact_id, tickets::deadline, tickets::applicant))
        .first(conn)?;
    let contact = contacts::table
        .find(&contact_id)
        .select((
            contacts::name,
            contacts::email,
            contacts::phone,
            contacts::telegram_chat_id,
        ))
        .first::<(
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        )>(conn)?;
    let assignee = match &ticket.assignee_id {
        Some(uid) => users::table
            .find(uid)
            .select(users::login)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    let messages = messages_of(conn, &id)?;
    let events = ticket_events::table
        .filter(ticket_events::ticket_id.eq(&id))
        .order((ticket_events::at.asc(), ticket_events::id.asc()))
        .select((
            ticket_events::at,
            ticket_events::actor,
            ticket_events::kind,
            ticket_events::data,
        ))
        .load::<(chrono::NaiveDateTime, String, String, String)>(conn)?
        .into_iter()
        .map(|(at, actor, kind, data)| EventView {
            at: almaty(&at),
            actor,
            kind,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let overdue = answered::is_overdue(ticket.answered_at, &ticket.status, ticket.due_at, now);
    // The details as submitted with this ticket win over what the contact learnt later.
    let given: serde_json::Value = applicant
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let given = |k: &str| given.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Ok(Some(TicketDetail {
        contact: ContactView {
            name: if applicant.is_some() {
                given("name")
            } else {
                contact.0
            },
            email: given("email").or(contact.1),
            phone: if applicant.is_some() {
                given("phone")
            } else {
                contact.2
            },
            telegram_chat_id: contact.3,
        },
        assignee,
        deadline: serde_json::from_str(&deadline).unwrap_or(serde_json::Value::Null),
        overdue,
        ticket,
        messages,
        events,
    }))
}

pub fn messages_of(conn: &mut DbConn, ticket_id: &str) -> Result<Vec<MessageView>, DbError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    );
    let rows: Vec<Row> = messages::table
        .left_join(users::table.on(users::id.nullable().eq(messages::author_id)))
        .filter(messages::ticket_id.eq(ticket_id))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select((
            messages::id,
            messages::direction,
            messages::kind,
            messages::channel,
            messages::address,
            users::login.nullable(),
            messages::subject,
            messages::body_text,
            messages::delivery_status,
            messages::delivery_error,
            messages::created_at,
            messages::delivered_at,
        ))
        .load(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    let mut files: Vec<AttachmentView> = attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .select((
            attachments::id,
            attachments::message_id,
            attachments::file_name,
            attachments::content_type,
            attachments::size,
            attachments::sha256,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let (mine, rest): (Vec<_>, Vec<_>) = files.drain(..).partition(|a| a.message_id == r.0);
            files = rest;
            MessageView {
                id: r.0,
                direction: r.1,
                kind: r.2,
                channel: r.3,
                address: r.4,
                author: r.5,
                subject: r.6,
                body_text: r.7,
                delivery_status: r.8,
                delivery_error: r.9,
                created_at: almaty(&r.10),
                delivered_at: r.11.as_ref().map(almaty),
                attachments: mine,
            }
        })
        .collect())
}

/// One stored file: its name, type and bytes.
pub fn attachment(conn: &mut DbConn, id: &str) -> Result<Option<Attachment>, DbError> {
    let row: Option<(String, String, Blob)> = attachments::table
        .find(id)
        .select((
            attachments::file_name,
            attachments::content_type,
            attachments::content,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(file_name, content_type, Blob(content))| Attachment {
            file_name,
            content_type,
            content,
        }),
    )
}

// ---------------------------------------------------------------------------------------
// Operator actions

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("ticket {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
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

#[derive(Debug, Serialize)]
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
    templates: &crate::templates::Templates,
    email_enabled: bool,
) -> Result<ReplyQueued, ActionError> {
    if input.text.trim().is_empty() {
        return Err(ActionError::Invalid("text: the reply is empty".into()));
    }
    let t = load_target(conn, number)?;
    if t.status == Status::Closed.as_str() {
        return Err(ActionError::Conflict(format!(
            "ticket {} is closed: reopen it before replying",
            t.number
        )));
    }
    let language = t.language.parse().unwrap_or_default();
    let rendered = templates.reply(language, &t.number, &input.text, input.html.as_deref());
    let mut ids = Vec::new();
    for (channel, address) in applicant_routes(&t, email_enabled) {
        let id = queue_outbound(
            conn,
            &t.id,
            channel,
            OutboundKind::Reply,
            &address,
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
        return Err(ActionError::Invalid(format!(
            "assignee: no active user `{login}`"
        )));
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
    templates: &crate::templates::Templates,
    email_enabled: bool,
) -> Result<(), ActionError> {
    let queue = queue.trim();
    if queue.is_empty() || queue.len() > 64 {
        return Err(ActionError::Invalid(
            "queue: give the name of the queue (1-64 characters)".into(),
        ));
    }
    let t = load_target(conn, number)?;
    if !crate::queues::exists(conn, queue)? {
        return Err(ActionError::Invalid(format!(
            "queue: no queue `{queue}`: see GET /api/v1/queues, or ask an administrator to add it"
        )));
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
    let rendered = templates.transfer_notice(language, &t.number, queue);
    for (channel, address) in applicant_routes(&t, email_enabled) {
        queue_outbound(
            conn,
            &t.id,
            channel,
            OutboundKind::Notice,
            &address,
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
    let target = match to {
        "open" => Status::Open,
        "waiting" => Status::Waiting,
        "answered" | "closed" => {
            return Err(ActionError::Invalid(format!(
                "status: `{to}` is set by POST .../replies or POST .../close"
            )));
        }
        other => {
            return Err(ActionError::Invalid(format!(
                "status: `{other}` is not a state to move to: use open or waiting"
            )));
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
    templates: &crate::templates::Templates,
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
    if t.channel == Channel::Telegram.as_str() {
        let language = t.language.parse().unwrap_or_default();
        let rendered = templates.rating_request(language, &t.number);
        for (channel, address) in applicant_routes(&t, false) {
            queue_outbound(
                conn,
                &t.id,
                channel,
                OutboundKind::RatingRequest,
                &address,
                None,
                &rendered,
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RatingOutcome {
    Recorded,
    AlreadyRated,
    Unknown,
}

/// R10: a rating is recorded once.
pub fn rate(
    conn: &mut DbConn,
    number: &str,
    rating: i32,
    actor: &str,
) -> Result<RatingOutcome, DbError> {
    if !(1..=5).contains(&rating) {
        return Ok(RatingOutcome::Unknown);
    }
    let Some(id) = find_id(conn, number)? else {
        return Ok(RatingOutcome::Unknown);
    };
    let n = diesel::update(tickets::table.find(&id).filter(tickets::rating.is_null()))
        .set(tickets::rating.eq(rating))
        .execute(conn)?;
    if n == 0 {
        return Ok(RatingOutcome::AlreadyRated);
    }
    event(
        conn,
        &id,
        actor,
        "rated",
        serde_json::json!({"rating": rating}),
    )?;
    Ok(RatingOutcome::Recorded)
}
