//! Forwards (F1-F4, F9): an operator sends a ticket's question to a registry body (the
//! ICI operator, a state body, a provider) with chosen messages and files, personal data
//! masked unless included; the body answers (by mail, through the API) or declines; the
//! answer lands in the ticket, wakes it, and the operator relays it to the applicant.
//!
//! A forward has its own deadline ([`deadline`]), deliveries by e-mail and/or a signed
//! webhook through jobs ([`delivery`]), reminders and escalation ([`delivery`] too),
//! replies read from the support mailbox ([`inbound`]), and F4 refusal notices to the
//! quality body ([`quality`]). An agency or ici user sees only its body's forwards and
//! only what was sent with them ([`Forward::body_view`]).
//!
//! Concurrent answers: the first answer or refusal closes the forward (a conditional
//! update decides; the loser of an API race gets 409); later mail replies about it are
//! kept in the ticket as `later` messages, never dropped.

pub mod deadline;
pub mod delivery;
pub mod inbound;
pub mod mask;
pub mod quality;

use baylanys_core::Attachment;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::AppState;
use crate::auth::{Role, User};
use crate::db::schema::{
    attachments, contacts, forward_deliveries, forward_messages, forwards, messages, tickets,
};
use crate::db::{DbConn, DbError, new_id};
use crate::registry::{Body, BodyKind, bodies};
use crate::tickets::{Direction, Status, event, store_attachment};

text_enum!(
    /// Where a forward is.
    ForwardStatus, "forward status" {
        /// Sent (or being delivered); the body has not answered yet.
        Open => "open",
        Answered => "answered",
        Declined => "declined",
    }
);

/// Longest question, answer or refusal reason.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Most messages or attachments one forward may carry.
pub const MAX_ITEMS: usize = 100;
/// Message kinds of what bodies send about forwards.
pub const KIND_ANSWER: &str = "forward_answer";
pub const KIND_HELD: &str = "forward_reply_held";

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// (field, what to fix) pairs.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Template(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ForwardError {
    fn from(e: diesel::result::Error) -> Self {
        ForwardError::Db(DbError::Query(e))
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ForwardError {
    ForwardError::Invalid(vec![(field.to_string(), message.into())])
}

fn template_error(e: impl std::fmt::Display) -> DbError {
    DbError::Unavailable(format!("template: {e}"))
}

/// What an operator sends.
#[derive(Debug, Clone, Default)]
pub struct NewForward {
    pub body: Option<String>,
    pub question: String,
    pub messages: Vec<String>,
    pub attachments: Vec<String>,
    pub include_personal_data: bool,
    pub category: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = forwards)]
pub struct ForwardRow {
    pub id: String,
    pub reference: String,
    pub ticket_id: String,
    pub body_id: String,
    pub body_kind: String,
    pub category: Option<String>,
    pub question: String,
    pub sent: String,
    pub include_personal_data: i32,
    pub status: String,
    pub due_at: NaiveDateTime,
    pub deadline: String,
    pub body_references: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub answer_message_id: Option<String>,
    pub declined_at: Option<NaiveDateTime>,
    pub decline_reason: Option<String>,
    pub closed_by: Option<String>,
    pub relayed_at: Option<NaiveDateTime>,
    pub quality_notice_id: Option<String>,
}

/// A forward with what the views need.
#[derive(Debug, Clone)]
pub struct Forward {
    pub row: ForwardRow,
    pub ticket_number: String,
    pub body_name: crate::registry::Names,
}

fn iso(t: &NaiveDateTime) -> String {
    crate::tickets::almaty(t)
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

impl Forward {
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.row.status == ForwardStatus::Open.as_str() && self.row.due_at < now.naive_utc()
    }

    /// What the body sees: what was sent, the deadline and where the forward is.
    pub fn body_view(&self, now: DateTime<Utc>) -> serde_json::Value {
        let r = &self.row;
        serde_json::json!({
            "id": r.id,
            "reference": r.reference,
            "body": {"id": r.body_id, "kind": r.body_kind, "name": self.body_name},
            "category": r.category,
            "sent": json_of(&r.sent),
            "status": r.status,
            "due_at": iso(&r.due_at),
            "overdue": self.is_overdue(now),
            "body_references": json_of(&r.body_references),
            "created_at": iso(&r.created_at),
            "answered_at": r.answered_at.as_ref().map(iso),
            "declined_at": r.declined_at.as_ref().map(iso),
            "decline_reason": r.decline_reason,
        })
    }

    /// What staff see: all of the body's view, the ticket, the original question, the
    /// deliveries with their errors and the body's messages.
    pub fn staff_view(
        &self,
        c: &mut DbConn,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, DbError> {
        let r = &self.row;
        let mut v = self.body_view(now);
        let deliveries: Vec<delivery::DeliveryRow> = forward_deliveries::table
            .filter(forward_deliveries::forward_id.eq(&r.id))
            .order(forward_deliveries::created_at.asc())
            .select(delivery::DeliveryRow::as_select())
            .load(c)?;
        let replies: Vec<(String, String, Option<String>, Option<String>)> =
            forward_messages::table
                .filter(forward_messages::forward_id.eq(&r.id))
                .order(forward_messages::created_at.asc())
                .select((
                    forward_messages::message_id,
                    forward_messages::state,
                    forward_messages::reason,
                    forward_messages::decided_by,
                ))
                .load(c)?;
        let created_by: Option<String> = crate::db::schema::users::table
            .find(&r.created_by)
            .select(crate::db::schema::users::login)
            .first(c)
            .optional()?;
        let extra = serde_json::json!({
            "ticket": self.ticket_number,
            "question": r.question,
            "include_personal_data": r.include_personal_data != 0,
            "deadline": json_of(&r.deadline),
            "created_by": created_by,
            "answer_message_id": r.answer_message_id,
            "closed_by": r.closed_by,
            "relayed_at": r.relayed_at.as_ref().map(iso),
            "quality_notice_id": r.quality_notice_id,
            "deliveries": deliveries.iter().map(delivery::DeliveryRow::view).collect::<Vec<_>>(),
            "messages_from_body": replies.into_iter().map(|(id, state, reason, by)| serde_json::json!({
                "message_id": id, "state": state, "reason": reason, "decided_by": by,
            })).collect::<Vec<_>>(),
        });
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        Ok(v)
    }
}

/// Loads a forward with its ticket number and body name.
pub fn get(c: &mut DbConn, id: &str) -> Result<Option<Forward>, DbError> {
    let row: Option<(ForwardRow, String, String, String)> = forwards::table
        .inner_join(tickets::table)
        .inner_join(crate::db::schema::bodies::table)
        .filter(forwards::id.eq(id))
        .select((
            ForwardRow::as_select(),
            tickets::number,
            crate::db::schema::bodies::name_kk,
            crate::db::schema::bodies::name_ru,
        ))
        .first(c)
        .optional()?;
    Ok(row.map(|(row, ticket_number, kk, ru)| Forward {
        row,
        ticket_number,
        body_name: crate::registry::Names { kk, ru },
    }))
}

/// The forward as `user` may see it: agency and ici users only their body's (anything
/// else is "not found", so ids of other bodies' forwards reveal nothing).
pub fn get_for(c: &mut DbConn, id: &str, user: &User) -> Result<Option<Forward>, DbError> {
    let f = get(c, id)?;
    Ok(f.filter(|f| visible_to(user, &f.row.body_id)))
}

pub fn visible_to(user: &User, body_id: &str) -> bool {
    match user.role {
        Role::Agency | Role::Ici => user.body_id.as_deref() == Some(body_id),
        _ => true,
    }
}

/// Where a forward's mail goes: the ICI operator's ICT group (F9) when it has members
/// with an address, else the body's address.
pub fn addressees(c: &mut DbConn, body: &Body) -> Result<Vec<String>, DbError> {
    let mut to = Vec::new();
    if body.kind == BodyKind::IciOperator {
        for p in bodies::persons_of(c, &body.id)? {
            if p.active
                && p.ict_group
                && let Some(e) = p.email
                && !to.contains(&e)
            {
                to.push(e);
            }
        }
    }
    if to.is_empty()
        && let Some(e) = &body.email
    {
        to.push(e.clone());
    }
    Ok(to)
}

/// Every address a body's mail may come from: its own and its persons'.
pub fn body_addresses(c: &mut DbConn, body: &Body) -> Result<Vec<String>, DbError> {
    let mut all: Vec<String> = body.email.iter().map(|e| e.to_lowercase()).collect();
    for p in bodies::persons_of(c, &body.id)? {
        if p.active
            && let Some(e) = p.email
        {
            all.push(e.to_lowercase());
        }
    }
    Ok(all)
}

struct TicketInfo {
    id: String,
    number: String,
    status: String,
    contact_id: String,
    applicant: Option<String>,
}

fn ticket_info(c: &mut DbConn, number: &str) -> Result<Option<TicketInfo>, DbError> {
    let row: Option<(String, String, String, String, Option<String>)> = tickets::table
        .filter(tickets::number.eq(number))
        .select((
            tickets::id,
            tickets::number,
            tickets::status,
            tickets::contact_id,
            tickets::applicant,
        ))
        .first(c)
        .optional()?;
    Ok(row.map(|r| TicketInfo {
        id: r.0,
        number: r.1,
        status: r.2,
        contact_id: r.3,
        applicant: r.4,
    }))
}

/// The applicant's own details, to be masked wherever they appear.
fn applicant_details(c: &mut DbConn, t: &TicketInfo) -> Result<Vec<String>, DbError> {
    let mut known = Vec::new();
    if let Some(serde_json::Value::Object(o)) = t.applicant.as_deref().map(json_of) {
        for k in ["name", "email", "phone", "iin", "address"] {
            if let Some(serde_json::Value::String(s)) = o.get(k) {
                known.push(s.clone());
            }
        }
    }
    type Details = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let contact: Option<Details> = contacts::table
        .find(&t.contact_id)
        .select((
            contacts::name,
            contacts::email,
            contacts::phone,
            contacts::iin_bin,
        ))
        .first(c)
        .optional()?;
    if let Some((a, b, d, e)) = contact {
        known.extend([a, b, d, e].into_iter().flatten());
    }
    // The longest first, so a name is not half-masked by a shorter detail inside it.
    known.sort_by_key(|k| std::cmp::Reverse(k.chars().count()));
    known.dedup();
    Ok(known)
}

/// Creates a forward and queues its deliveries and timers, in the caller's transaction.
pub fn create(
    c: &mut DbConn,
    app: &AppState,
    number: &str,
    author: &User,
    input: &NewForward,
    now: DateTime<Utc>,
) -> Result<Forward, ForwardError> {
    let Some(t) = ticket_info(c, number)? else {
        return Err(ForwardError::NotFound(format!("ticket {number} not found")));
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    let body = match &input.body {
        Some(id) => match bodies::get(c, id)? {
            Some(b) if b.active => Some(b),
            Some(_) => {
                errors.push((
                    "body".into(),
                    format!("body `{id}` is inactive: choose another"),
                ));
                None
            }
            None => {
                errors.push((
                    "body".into(),
                    format!("no body `{id}` in the registry (see GET /api/v1/bodies)"),
                ));
                None
            }
        },
        None if input.category.is_some() => match bodies::ici_operator(c)? {
            Some(b) => Some(b),
            None => {
                errors.push((
                    "body".into(),
                    "ICT questions go to the ICI operator, and the registry has none: give a body id"
                        .into(),
                ));
                None
            }
        },
        None => {
            errors.push((
                "body".into(),
                "required: the id of the registry body to ask (or an ICT `category` for the ICI operator)"
                    .into(),
            ));
            None
        }
    };
    if let (Some(b), Some(cat)) = (&body, &input.category)
        && b.kind == BodyKind::IciOperator
        && !app.config.forwards.ict_sla.contains_key(cat)
    {
        errors.push((
            "category".into(),
            format!(
                "unknown ICT category `{}`: one of {} (BAYLANYS_ICT_SLA)",
                crate::web::input::shown(cat),
                app.config.forwards.categories().join(", ")
            ),
        ));
    }
    let to = match &body {
        Some(b) => addressees(c, b)?,
        None => Vec::new(),
    };
    let webhook = body
        .as_ref()
        .and_then(|b| b.webhook_url.clone().zip(b.webhook_secret.clone()));
    if let Some(b) = &body
        && to.is_empty()
        && webhook.is_none()
    {
        errors.push((
            "body".into(),
            format!(
                "body `{}` has neither an e-mail address nor a webhook for forwards: set one in the registry",
                b.id
            ),
        ));
    }
    // The chosen messages and files must be the ticket's own.
    let found: Vec<(String, String, NaiveDateTime, String)> = messages::table
        .filter(messages::ticket_id.eq(&t.id))
        .filter(messages::id.eq_any(&input.messages))
        .select((
            messages::id,
            messages::direction,
            messages::created_at,
            messages::body_text,
        ))
        .load(c)?;
    for (i, id) in input.messages.iter().enumerate() {
        if !found.iter().any(|m| &m.0 == id) {
            errors.push((
                format!("messages[{i}]"),
                format!("`{id}` is not a message of ticket {}", t.number),
            ));
        }
    }
    let files: Vec<(String, String, String, i64)> = attachments::table
        .inner_join(messages::table)
        .filter(messages::ticket_id.eq(&t.id))
        .filter(attachments::id.eq_any(&input.attachments))
        .select((
            attachments::id,
            attachments::file_name,
            attachments::content_type,
            attachments::size,
        ))
        .load(c)?;
    for (i, id) in input.attachments.iter().enumerate() {
        if !files.iter().any(|f| &f.0 == id) {
            errors.push((
                format!("attachments[{i}]"),
                format!("`{id}` is not an attachment of ticket {}", t.number),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ForwardError::Invalid(errors));
    }
    let body = body.expect("checked above");
    let known = if input.include_personal_data {
        Vec::new()
    } else {
        applicant_details(c, &t)?
    };
    let shown = |text: &str| {
        if input.include_personal_data {
            text.to_string()
        } else {
            mask::mask(text, &known)
        }
    };
    // In the order the operator chose them.
    let sent_messages: Vec<serde_json::Value> = input
        .messages
        .iter()
        .filter_map(|id| found.iter().find(|m| &m.0 == id))
        .map(|(id, dir, at, text)| {
            serde_json::json!({"id": id, "direction": dir, "at": iso(at), "text": shown(text)})
        })
        .collect();
    let sent_files: Vec<serde_json::Value> = input
        .attachments
        .iter()
        .filter_map(|id| files.iter().find(|f| &f.0 == id))
        .map(|(id, name, ct, size)| {
            serde_json::json!({"id": id, "file_name": name, "content_type": ct, "size": size})
        })
        .collect();
    let sent = serde_json::json!({
        "question": shown(&input.question),
        "messages": sent_messages,
        "attachments": sent_files,
    });
    let calendar = app.calendar();
    let deadline = deadline::forward_due(
        &calendar,
        &app.config.forwards,
        &app.config.working_hours,
        now,
        body.kind,
        input.category.as_deref(),
    )
    .map_err(|e| invalid("body", format!("no deadline can be computed: {e}")))?;
    // Taking the ticket's row first serialises forwards of one ticket (their numbers).
    let now_naive = now.naive_utc();
    diesel::update(tickets::table.find(&t.id))
        .set(tickets::updated_at.eq(now_naive))
        .execute(c)?;
    let count: i64 = forwards::table
        .filter(forwards::ticket_id.eq(&t.id))
        .count()
        .get_result(c)?;
    let id = new_id();
    let reference = format!("{}-F{}", t.number, count + 1);
    diesel::insert_into(forwards::table)
        .values((
            forwards::id.eq(&id),
            forwards::reference.eq(&reference),
            forwards::ticket_id.eq(&t.id),
            forwards::body_id.eq(&body.id),
            forwards::body_kind.eq(body.kind.as_str()),
            forwards::category.eq(&input.category),
            forwards::question.eq(&input.question),
            forwards::sent.eq(sent.to_string()),
            forwards::include_personal_data.eq(i32::from(input.include_personal_data)),
            forwards::status.eq(ForwardStatus::Open.as_str()),
            forwards::due_at.eq(deadline.due_at.naive_utc()),
            forwards::deadline.eq(serde_json::to_string(&deadline).unwrap_or_default()),
            forwards::created_by.eq(&author.id),
            forwards::created_at.eq(now_naive),
            forwards::updated_at.eq(now_naive),
        ))
        .execute(c)?;
    let mut seq = 0;
    for address in &to {
        seq += 1;
        delivery::queue(
            c,
            &id,
            delivery::Purpose::Forward,
            delivery::Via::Email,
            address,
            Some(delivery::message_id(&id, seq, &app.mail_domain)),
        )?;
    }
    if let Some((url, _)) = &webhook {
        delivery::queue(
            c,
            &id,
            delivery::Purpose::Forward,
            delivery::Via::Webhook,
            url,
            None,
        )?;
    }
    delivery::schedule_timers(c, app, &id, deadline.due_at, now)?;
    if t.status != Status::Closed.as_str() {
        diesel::update(tickets::table.find(&t.id))
            .set(tickets::status.eq(Status::Waiting.as_str()))
            .execute(c)?;
    }
    event(
        c,
        &t.id,
        &author.login,
        "forwarded",
        serde_json::json!({
            "forward_id": id, "reference": reference, "body_id": body.id,
            "due_at": crate::calendar::format_almaty(deadline.due_at),
            "messages": input.messages, "attachments": input.attachments,
            "include_personal_data": input.include_personal_data,
            "to": to, "webhook": webhook.is_some(),
        }),
    )?;
    Ok(get(c, &id)?.expect("just inserted"))
}

/// The body's answer, by API or accepted mail: the first closes the forward.
pub struct Answer<'a> {
    pub text: &'a str,
    pub attachments: &'a [Attachment],
    /// A login, or `mail:<address>`.
    pub by: &'a str,
    /// `api` or `email`.
    pub channel: &'a str,
    pub address: &'a str,
    pub raw_payload_id: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub subject: Option<&'a str>,
}

/// Stores a message from the body in the ticket (with its files); returns its id.
fn store_body_message(
    c: &mut DbConn,
    f: &ForwardRow,
    a: &Answer<'_>,
    kind: &str,
) -> Result<String, DbError> {
    let id = new_id();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&id),
            messages::ticket_id.eq(&f.ticket_id),
            messages::direction.eq(Direction::In.as_str()),
            messages::kind.eq(kind),
            messages::channel.eq(a.channel),
            // Not the body's address: a body never becomes a participant of the
            // applicant's thread through its answer.
            messages::address.eq(format!("forward:{}", f.reference)),
            messages::subject.eq(a.subject),
            messages::body_text.eq(a.text),
            messages::external_id.eq(a.external_id),
            messages::raw_payload_id.eq(a.raw_payload_id),
            // The thread's own time, as every other message of the ticket.
            messages::created_at.eq(crate::db::now()),
            messages::search_text.eq(crate::tickets::search_text_of(&[a.text])),
        ))
        .execute(c)?;
    crate::search::tickets::add_text(c, &f.ticket_id, a.text)?;
    for file in a.attachments {
        store_attachment(c, &id, file)?;
    }
    Ok(id)
}

fn link_message(
    c: &mut DbConn,
    forward_id: &str,
    message_id: &str,
    state: &str,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(forward_messages::table)
        .values((
            forward_messages::message_id.eq(message_id),
            forward_messages::forward_id.eq(forward_id),
            forward_messages::state.eq(state),
            forward_messages::reason.eq(reason),
            forward_messages::created_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// What became of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Landed {
    /// It answered the forward.
    Answer,
    /// The forward was closed before: kept in the ticket as a later message.
    Later,
}

/// Closes the forward with `a` if it is still open; else (mail only) keeps `a` as a later
/// message. API callers pass `keep_late = false` and get a conflict instead.
pub fn answer(
    c: &mut DbConn,
    app: &AppState,
    f: &ForwardRow,
    a: &Answer<'_>,
    keep_late: bool,
    now: DateTime<Utc>,
) -> Result<(Landed, String), ForwardError> {
    let now_naive = now.naive_utc();
    let won = diesel::update(
        forwards::table
            .find(&f.id)
            .filter(forwards::status.eq(ForwardStatus::Open.as_str())),
    )
    .set((
        forwards::status.eq(ForwardStatus::Answered.as_str()),
        forwards::answered_at.eq(now_naive),
        forwards::closed_by.eq(a.by),
        forwards::updated_at.eq(now_naive),
    ))
    .execute(c)?
        == 1;
    if !won && !keep_late {
        return Err(closed_conflict(c, &f.id)?);
    }
    let message_id = store_body_message(c, f, a, KIND_ANSWER)?;
    let landed = if won { Landed::Answer } else { Landed::Later };
    if won {
        diesel::update(forwards::table.find(&f.id))
            .set(forwards::answer_message_id.eq(&message_id))
            .execute(c)?;
    }
    link_message(
        c,
        &f.id,
        &message_id,
        if won { "answer" } else { "later" },
        None,
        now_naive,
    )?;
    wake(
        c,
        app,
        f,
        "forward_answered",
        a.by,
        serde_json::json!({
            "forward_id": f.id, "reference": f.reference, "message_id": message_id,
            "late": !won, "channel": a.channel,
        }),
    )?;
    Ok((landed, message_id))
}

fn closed_conflict(c: &mut DbConn, id: &str) -> Result<ForwardError, DbError> {
    let status: String = forwards::table.find(id).select(forwards::status).first(c)?;
    Ok(ForwardError::Conflict(format!(
        "the forward is already {status}: one answer or refusal closes it"
    )))
}

/// The body refuses (F4 counts refusals).
pub fn decline(
    c: &mut DbConn,
    app: &AppState,
    f: &ForwardRow,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, ForwardError> {
    let now_naive = now.naive_utc();
    let won = diesel::update(
        forwards::table
            .find(&f.id)
            .filter(forwards::status.eq(ForwardStatus::Open.as_str())),
    )
    .set((
        forwards::status.eq(ForwardStatus::Declined.as_str()),
        forwards::declined_at.eq(now_naive),
        forwards::decline_reason.eq(reason),
        forwards::closed_by.eq(by),
        forwards::updated_at.eq(now_naive),
    ))
    .execute(c)?
        == 1;
    if !won {
        return Err(closed_conflict(c, &f.id)?);
    }
    wake(
        c,
        app,
        f,
        "forward_declined",
        by,
        serde_json::json!({"forward_id": f.id, "reference": f.reference, "reason": reason}),
    )?;
    Ok(quality::on_refusal(c, app, f, now)?)
}

/// The ticket goes back to work and whoever works it is told.
fn wake(
    c: &mut DbConn,
    app: &AppState,
    f: &ForwardRow,
    kind: &str,
    actor: &str,
    data: serde_json::Value,
) -> Result<(), DbError> {
    let (number, subject, status, assignee): (String, String, String, Option<String>) =
        tickets::table
            .find(&f.ticket_id)
            .select((
                tickets::number,
                tickets::subject,
                tickets::status,
                tickets::assignee_id,
            ))
            .first(c)?;
    diesel::update(tickets::table.find(&f.ticket_id))
        .set((
            tickets::status.eq(Status::Open.as_str()),
            tickets::updated_at.eq(crate::db::now()),
        ))
        .execute(c)?;
    event(c, &f.ticket_id, actor, kind, data)?;
    if status != Status::Open.as_str() {
        event(
            c,
            &f.ticket_id,
            "system",
            "status_changed",
            serde_json::json!({"from": status, "to": "open", "reason": kind}),
        )?;
    }
    let who = assignee.unwrap_or_else(|| f.created_by.clone());
    if let Some(to) = crate::queues::staff_by_id(c, &who)? {
        let rendered = app
            .templates
            .staff_notice(
                kind,
                app.config.staff_language,
                minijinja::context! {
                    number => &number, subject => &subject, reference => &f.reference,
                },
            )
            .map_err(template_error)?;
        crate::jobs::staff::queue_notice(c, kind, Some(&f.ticket_id), &to, &rendered)?;
    }
    Ok(())
}

/// Whoever works the ticket learns that a reply waits to be accepted or ignored; the
/// ticket itself does not change.
pub fn tell_staff_of_held(c: &mut DbConn, app: &AppState, f: &ForwardRow) -> Result<(), DbError> {
    let (number, subject, assignee): (String, String, Option<String>) = tickets::table
        .find(&f.ticket_id)
        .select((tickets::number, tickets::subject, tickets::assignee_id))
        .first(c)?;
    let who = assignee.unwrap_or_else(|| f.created_by.clone());
    if let Some(to) = crate::queues::staff_by_id(c, &who)? {
        let rendered = app
            .templates
            .staff_notice(
                "forward_reply_held",
                app.config.staff_language,
                minijinja::context! {
                    number => &number, subject => &subject, reference => &f.reference,
                },
            )
            .map_err(template_error)?;
        crate::jobs::staff::queue_notice(
            c,
            "forward_reply_held",
            Some(&f.ticket_id),
            &to,
            &rendered,
        )?;
    }
    Ok(())
}

/// An operator takes a held mail reply as the body's answer.
pub fn accept_held(
    c: &mut DbConn,
    app: &AppState,
    f: &ForwardRow,
    message_id: &str,
    by: &User,
    now: DateTime<Utc>,
) -> Result<Landed, ForwardError> {
    let state: Option<String> = forward_messages::table
        .find(message_id)
        .filter(forward_messages::forward_id.eq(&f.id))
        .select(forward_messages::state)
        .first(c)
        .optional()?;
    match state.as_deref() {
        None => {
            return Err(ForwardError::NotFound(format!(
                "no held reply `{message_id}` on forward {}",
                f.reference
            )));
        }
        Some("held") => {}
        Some(other) => {
            return Err(ForwardError::Conflict(format!(
                "reply `{message_id}` is not held (it is `{other}`)"
            )));
        }
    }
    let now_naive = now.naive_utc();
    let won = diesel::update(
        forwards::table
            .find(&f.id)
            .filter(forwards::status.eq(ForwardStatus::Open.as_str())),
    )
    .set((
        forwards::status.eq(ForwardStatus::Answered.as_str()),
        forwards::answered_at.eq(now_naive),
        forwards::answer_message_id.eq(message_id),
        forwards::closed_by.eq(&by.login),
        forwards::updated_at.eq(now_naive),
    ))
    .execute(c)?
        == 1;
    diesel::update(forward_messages::table.find(message_id))
        .set((
            forward_messages::state.eq(if won { "accepted" } else { "later" }),
            forward_messages::decided_by.eq(&by.login),
        ))
        .execute(c)?;
    diesel::update(messages::table.find(message_id))
        .set(messages::kind.eq(KIND_ANSWER))
        .execute(c)?;
    wake(
        c,
        app,
        f,
        "forward_answered",
        &by.login,
        serde_json::json!({
            "forward_id": f.id, "reference": f.reference, "message_id": message_id,
            "accepted_held_reply": true, "late": !won,
        }),
    )?;
    Ok(if won { Landed::Answer } else { Landed::Later })
}

/// The answer's text and files, for the operator to relay.
pub fn answer_content(
    c: &mut DbConn,
    f: &ForwardRow,
) -> Result<Option<(String, Vec<Attachment>)>, DbError> {
    let Some(mid) = &f.answer_message_id else {
        return Ok(None);
    };
    let text: String = messages::table
        .find(mid)
        .select(messages::body_text)
        .first(c)?;
    let ids: Vec<String> = attachments::table
        .filter(attachments::message_id.eq(mid))
        .order(attachments::created_at.asc())
        .select(attachments::id)
        .load(c)?;
    let mut files = Vec::new();
    for id in ids {
        if let Some(a) = crate::tickets::attachment(c, &id)? {
            files.push(a);
        }
    }
    Ok(Some((text, files)))
}

pub fn mark_relayed(
    c: &mut DbConn,
    f: &ForwardRow,
    by: &User,
    edited: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(forwards::table.find(&f.id))
        .set(forwards::relayed_at.eq(now.naive_utc()))
        .execute(c)?;
    event(
        c,
        &f.ticket_id,
        &by.login,
        "forward_relayed",
        serde_json::json!({"forward_id": f.id, "reference": f.reference, "edited": edited}),
    )
}

/// What happened to the forward, as its body may see it, oldest first: sent, each
/// reminder that reached the body, the answer (its text) or the refusal, and the relay
/// of the answer to the applicant.
pub fn history(c: &mut DbConn, f: &ForwardRow) -> Result<Vec<serde_json::Value>, DbError> {
    let mut list: Vec<(NaiveDateTime, serde_json::Value)> = vec![(
        f.created_at,
        serde_json::json!({"kind": "sent", "at": iso(&f.created_at)}),
    )];
    let reminders: Vec<NaiveDateTime> = forward_deliveries::table
        .filter(forward_deliveries::forward_id.eq(&f.id))
        .filter(forward_deliveries::purpose.eq(delivery::Purpose::Reminder.as_str()))
        .filter(forward_deliveries::delivered_at.is_not_null())
        .select(forward_deliveries::delivered_at.assume_not_null())
        .load(c)?;
    for at in reminders {
        list.push((at, serde_json::json!({"kind": "reminded", "at": iso(&at)})));
    }
    if let Some(at) = &f.answered_at {
        let text: Option<String> = match &f.answer_message_id {
            Some(mid) => messages::table
                .find(mid)
                .select(messages::body_text)
                .first(c)
                .optional()?,
            None => None,
        };
        list.push((
            *at,
            serde_json::json!({"kind": "answered", "at": iso(at), "by": f.closed_by, "text": text}),
        ));
    }
    if let Some(at) = &f.declined_at {
        list.push((
            *at,
            serde_json::json!({"kind": "declined", "at": iso(at), "by": f.closed_by, "text": f.decline_reason}),
        ));
    }
    if let Some(at) = &f.relayed_at {
        list.push((*at, serde_json::json!({"kind": "relayed", "at": iso(at)})));
    }
    list.sort_by_key(|(at, _)| *at);
    Ok(list.into_iter().map(|(_, v)| v).collect())
}

/// Whether an attachment was sent with a forward (what a body may download).
pub fn sent_attachment(f: &ForwardRow, attachment_id: &str) -> bool {
    json_of(&f.sent)["attachments"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["id"] == attachment_id))
}

/// Records the body's own reference numbers found in `texts` by its pattern (the
/// registry's `ref_pattern`); a body without a pattern falls back to what the configured
/// `agency_ref_prefixes` found in the subject (`fallback`).
pub fn record_body_references(
    c: &mut DbConn,
    f: &ForwardRow,
    pattern: Option<&str>,
    texts: &[&str],
    fallback: &[String],
) -> Result<Vec<String>, DbError> {
    let candidates: Vec<String> = match pattern {
        Some(p) => match crate::registry::bodies::check_ref_pattern(p) {
            Ok(re) => texts
                .iter()
                .flat_map(|t| re.find_iter(t).take(20).map(|m| m.as_str().to_string()))
                .collect(),
            Err(_) => Vec::new(),
        },
        None => fallback.to_vec(),
    };
    let mut known: Vec<String> = serde_json::from_str(&f.body_references).unwrap_or_default();
    let mut found = Vec::new();
    for s in candidates {
        if !known.contains(&s) {
            known.push(s.clone());
            found.push(s);
        }
    }
    if !found.is_empty() {
        diesel::update(forwards::table.find(&f.id))
            .set(forwards::body_references.eq(serde_json::to_string(&known).unwrap_or_default()))
            .execute(c)?;
        event(
            c,
            &f.ticket_id,
            "system",
            "agency_reference",
            serde_json::json!({"references": found, "forward_id": f.id}),
        )?;
    }
    Ok(found)
}

/// Filters of the forward list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub body: Option<String>,
    pub kind: Option<BodyKind>,
    pub status: Option<ForwardStatus>,
    pub overdue: Option<bool>,
    pub ticket: Option<String>,
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

/// One page, earliest due first (ties by id); `next_after` continues it.
pub fn list(
    c: &mut DbConn,
    filter: &ListFilter,
    now: DateTime<Utc>,
) -> Result<(Vec<Forward>, Option<String>), DbError> {
    let now_naive = now.naive_utc();
    let mut q = forwards::table
        .inner_join(tickets::table)
        .inner_join(crate::db::schema::bodies::table)
        .select((
            ForwardRow::as_select(),
            tickets::number,
            crate::db::schema::bodies::name_kk,
            crate::db::schema::bodies::name_ru,
        ))
        .into_boxed();
    if let Some(b) = &filter.body {
        q = q.filter(forwards::body_id.eq(b.clone()));
    }
    if let Some(k) = filter.kind {
        q = q.filter(forwards::body_kind.eq(k.as_str()));
    }
    if let Some(s) = filter.status {
        q = q.filter(forwards::status.eq(s.as_str()));
    }
    match filter.overdue {
        Some(true) => {
            q = q
                .filter(forwards::status.eq(ForwardStatus::Open.as_str()))
                .filter(forwards::due_at.lt(now_naive));
        }
        Some(false) => {
            q = q.filter(
                forwards::status
                    .ne(ForwardStatus::Open.as_str())
                    .or(forwards::due_at.ge(now_naive)),
            );
        }
        None => {}
    }
    if let Some(t) = &filter.ticket {
        q = q.filter(tickets::number.eq(t.clone()));
    }
    if let Some(after) = &filter.after {
        let due: Option<NaiveDateTime> = forwards::table
            .find(after)
            .select(forwards::due_at)
            .first(c)
            .optional()?;
        let Some(due) = due else {
            // Not a page this list ever gave: nothing follows it.
            return Ok((Vec::new(), None));
        };
        {
            q = q.filter(
                forwards::due_at
                    .gt(due)
                    .or(forwards::due_at.eq(due).and(forwards::id.gt(after.clone()))),
            );
        }
    }
    let rows: Vec<(ForwardRow, String, String, String)> = q
        .order((forwards::due_at.asc(), forwards::id.asc()))
        .limit(filter.limit + 1)
        .load(c)?;
    let more = rows.len() as i64 > filter.limit;
    let list: Vec<Forward> = rows
        .into_iter()
        .take(filter.limit as usize)
        .map(|(row, ticket_number, kk, ru)| Forward {
            row,
            ticket_number,
            body_name: crate::registry::Names { kk, ru },
        })
        .collect();
    let next = more
        .then(|| list.last().map(|f| f.row.id.clone()))
        .flatten();
    Ok((list, next))
}
