//! Intake (R1, R4, R5): an [`InboundMessage`] becomes, in the caller's transaction, a
//! registered ticket or a follow-up on an open one, plus the jobs it implies.

use baylanys_core::{Channel, InboundMessage, Language, OutboundKind};
use chrono::{DateTime, Datelike, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::calendar::{Calendar, Deadline, WorkingHours};
use crate::db::schema::{messages, tickets};
use crate::db::{DbConn, DbError, new_id};
use crate::templates::Templates;
use crate::tickets::contacts::find_or_create_contact;
use crate::tickets::numbers::NumberPool;
use crate::tickets::threading::{ThreadTarget, find_thread};
use crate::tickets::{Direction, MessageKind, Status, event, search_text_of};

/// Everything intake needs besides the message, borrowed from the application.
pub struct IntakeContext<'a> {
    pub calendar: &'a Calendar,
    pub hours: &'a WorkingHours,
    pub prefix: &'a str,
    pub public_url: &'a str,
    pub templates: &'a Templates,
    /// The domain of our Message-IDs.
    pub mail_domain: &'a str,
    pub acks_per_sender_per_hour: u32,
    /// Follow-ups one sender may add per hour before the next are held (0: no limit).
    pub follow_ups_per_sender_per_hour: u32,
    /// Web-form applicants who gave an e-mail get the acknowledgement there too.
    pub email_enabled: bool,
    /// PostgreSQL number sequences this application has made sure exist.
    pub sequences: &'a std::sync::Mutex<Vec<String>>,
    /// Numbers taken ahead for a batch (one round trip for all), used before asking again.
    pub numbers: std::cell::RefCell<NumberPool>,
    /// A batch's new search-vocabulary words, added once when the whole batch is in
    /// (`None` outside a batch: each registration adds its own).
    pub vocab_words: std::cell::RefCell<Option<std::collections::BTreeMap<String, String>>>,
    /// New tickets' texts stemmed ahead on the requests' threads ([`stem_ahead`]), by
    /// that text: a registration that finds its own takes it instead of stemming.
    pub stemmed:
        std::cell::RefCell<std::collections::HashMap<String, crate::search::tickets::Stemmed>>,
    /// R12: registry bodies' ICT questions go to the ICT queue with the F3 deadline.
    pub ict: &'a crate::registry::ict::IctRouting,
}

/// What intake did with a message.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub ticket_id: String,
    pub number: String,
    pub new_ticket: bool,
    pub registered_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub effective_from: String,
    pub language: Language,
    /// The secret for the public status page, handed out once, on registration.
    #[serde(skip)]
    pub access_key: Option<String>,
    pub message_id: String,
    /// False for a copy of a Telegram update another copy already took: nothing was
    /// added, and the fields describe the earlier registration (empty if there is none).
    pub added: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot compute the deadline: {0}")]
    Deadline(String),
    #[error(transparent)]
    Template(#[from] crate::templates::TemplateError),
}

impl From<diesel::result::Error> for IntakeError {
    fn from(e: diesel::result::Error) -> Self {
        IntakeError::Db(DbError::Query(e))
    }
}

/// Registers or appends `msg`. Runs inside the caller's write transaction.
pub fn intake(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    msg: &InboundMessage,
    raw_payload_id: Option<&str>,
) -> Result<Registered, IntakeError> {
    let now = chrono::Utc::now();
    // Stored text carries no control characters, on either backend (PostgreSQL refuses NUL).
    let msg = &*msg.cleaned();
    if let Some(update_id) = crate::telegram::update_id_of(msg)
        && !crate::telegram::claim_update_id(conn, update_id)?
    {
        return Ok(earlier_registration(conn, msg, now)?);
    }
    if let Some(wamid) = crate::whatsapp::message_id_of(msg)
        && !crate::whatsapp::claim_message_id(conn, wamid)?
    {
        return Ok(earlier_registration(conn, msg, now)?);
    }
    let contact_id = find_or_create_contact(conn, msg)?;
    let reg = match find_thread(conn, msg, &contact_id)? {
        Some(existing) => append(conn, ctx, msg, existing, raw_payload_id, now)?,
        None => register(conn, ctx, msg, &contact_id, raw_payload_id, now)?,
    };
    if matches!(msg.channel, Channel::Telegram | Channel::WhatsApp) {
        queue_chat_notices(conn, ctx, &reg, msg)?;
    }
    Ok(reg)
}

/// What a chat (Telegram, WhatsApp) is told about a message intake took, queued as
/// `deliver` jobs in the intake transaction (never sent from the request): "added to your
/// appeal" for a follow-up (the channel's `joined` text), and the channel's note on each
/// file it could not take (`<channel>_files_skipped`).
fn queue_chat_notices(
    c: &mut DbConn,
    ctx: &IntakeContext<'_>,
    reg: &Registered,
    msg: &InboundMessage,
) -> Result<(), DbError> {
    let channel = msg.channel.as_str();
    let language = msg.language.unwrap_or(reg.language);
    let mut texts = Vec::new();
    if !reg.new_ticket {
        let joined = ctx
            .templates
            .channel_text(
                channel,
                "joined",
                language,
                &serde_json::json!({ "number": reg.number }),
            )
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        texts.push(joined);
    }
    let skipped = msg
        .fields
        .get(&format!("{channel}_files_skipped"))
        .and_then(serde_json::Value::as_array);
    for file in skipped.into_iter().flatten() {
        if let Some(notice) = file.get("notice").and_then(serde_json::Value::as_str) {
            texts.push(notice.to_owned());
        }
    }
    if let Some(files) = skipped {
        crate::tickets::event(
            c,
            &reg.ticket_id,
            &format!("{channel}:{}", msg.sender.address),
            "files_skipped",
            serde_json::json!({ "message_id": reg.message_id, "files": files }),
        )?;
    }
    for text in texts {
        let rendered = crate::tickets::Rendered {
            text,
            ..Default::default()
        };
        crate::tickets::queue_outbound(
            c,
            ctx.mail_domain,
            &reg.ticket_id,
            crate::tickets::Recipient {
                channel: msg.channel,
                address: &msg.sender.address,
            },
            baylanys_core::OutboundKind::Notice,
            None,
            &rendered,
        )?;
    }
    Ok(())
}

/// The earlier registration a repeated update points to: message, ticket, number,
/// registered, due, effective from, language.
type Earlier = (
    String,
    String,
    String,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    String,
    String,
);

/// What a repeated Telegram update was registered as, for the copy that lost the claim.
fn earlier_registration(
    conn: &mut DbConn,
    msg: &InboundMessage,
    now: DateTime<Utc>,
) -> Result<Registered, DbError> {
    let earlier: Option<Earlier> = messages::table
        .inner_join(tickets::table)
        .filter(messages::channel.eq(msg.channel.as_str()))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .filter(messages::external_id.eq(&msg.external_id))
        .select((
            messages::id,
            tickets::id,
            tickets::number,
            tickets::registered_at,
            tickets::due_at,
            tickets::effective_from,
            tickets::language,
        ))
        .first(conn)
        .optional()?;
    // None: the update was taken by another path (quarantined, say); nothing to point to.
    let n = now.naive_utc();
    let (message_id, ticket_id, number, registered_at, due_at, effective_from, language) = earlier
        .unwrap_or_else(|| {
            let e = String::new;
            (e(), e(), e(), n, n, e(), e())
        });
    Ok(Registered {
        ticket_id,
        number,
        new_ticket: false,
        registered_at: registered_at.and_utc(),
        due_at: due_at.and_utc(),
        effective_from,
        language: language.parse().unwrap_or_default(),
        access_key: None,
        message_id,
        added: false,
    })
}

/// The applicant's details as given with this message: kept on the ticket as submitted.
fn applicant_of(msg: &InboundMessage) -> Option<String> {
    let s = &msg.sender;
    let email = s
        .email
        .clone()
        .or_else(|| (msg.channel == Channel::Email).then(|| s.address.to_lowercase()));
    let iin = msg.fields.get("iin").and_then(|v| v.as_str());
    let mut o = serde_json::Map::new();
    for (k, v) in [
        ("name", s.display_name.as_deref()),
        ("email", email.as_deref()),
        ("phone", s.phone.as_deref()),
        ("iin", iin),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), v.into());
        }
    }
    (!o.is_empty()).then(|| serde_json::Value::Object(o).to_string())
}

fn append(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    msg: &InboundMessage,
    t: ThreadTarget,
    raw_payload_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Registered, IntakeError> {
    let held = follow_ups_exceeded(conn, ctx, msg, now)?;
    let message_id = new_id();
    let search = search_text_of(&[msg.subject.as_deref().unwrap_or(""), &msg.body_text]);
    let kind = if held.is_some() {
        MessageKind::Held
    } else {
        MessageKind::Appeal
    };
    insert_message(
        conn,
        &message_id,
        &t.ticket_id,
        msg,
        raw_payload_id,
        kind,
        Some(&search),
    )?;
    crate::search::tickets::add_text(conn, &t.ticket_id, &search)?;
    for a in &msg.attachments {
        crate::tickets::store_attachment(conn, &message_id, a)?;
    }
    if let Some(count) = held {
        // Stored and shown on the ticket, but it neither reopens nor re-sorts it.
        event(
            conn,
            &t.ticket_id,
            &actor_of(msg),
            "follow_up_held",
            serde_json::json!({
                "message_id": message_id, "channel": msg.channel,
                "reason": format!(
                    "{count} follow-ups from {} in the last hour (limit {})",
                    msg.sender.address, ctx.follow_ups_per_sender_per_hour
                ),
            }),
        )?;
        crate::quarantine::link(conn, raw_payload_id, &t.ticket_id)?;
        return Ok(t.registered(message_id));
    }
    let reopen = Status::parse(&t.status).is_ok_and(Status::reopens_on_message);
    diesel::update(tickets::table.find(&t.ticket_id))
        .set((
            tickets::updated_at.eq(now.naive_utc()),
            reopen.then(|| tickets::status.eq(Status::Open.as_str())),
            reopen.then(|| tickets::closed_at.eq(None::<chrono::NaiveDateTime>)),
        ))
        .execute(conn)?;
    event(
        conn,
        &t.ticket_id,
        &actor_of(msg),
        "message_received",
        serde_json::json!({
            "message_id": message_id, "channel": msg.channel,
        }),
    )?;
    if reopen {
        event(
            conn,
            &t.ticket_id,
            &actor_of(msg),
            "reopened",
            serde_json::json!({
                "from": t.status, "reason": "new message from the applicant",
            }),
        )?;
    }
    crate::quarantine::link(conn, raw_payload_id, &t.ticket_id)?;
    Ok(t.registered(message_id))
}

/// `Some(count)` when the sender has already added as many follow-ups this hour as one
/// sender may: the next ones are held for an operator (a flood must not reopen a ticket
/// over and over, nor cost the other applicants their turn).
fn follow_ups_exceeded(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    msg: &InboundMessage,
    now: DateTime<Utc>,
) -> Result<Option<i64>, DbError> {
    let limit = i64::from(ctx.follow_ups_per_sender_per_hour);
    if limit == 0 {
        return Ok(None);
    }
    let since = (now - chrono::Duration::hours(1)).naive_utc();
    // Counting stops at the limit: the cost does not grow with the flood.
    let recent: Vec<String> = messages::table
        .filter(messages::address.eq(&msg.sender.address))
        .filter(messages::created_at.gt(since))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .select(messages::id)
        .limit(limit + 1)
        .load(conn)?;
    let count = recent.len() as i64;
    Ok((count > limit).then_some(count))
}

fn register(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    msg: &InboundMessage,
    contact_id: &str,
    raw_payload_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Registered, IntakeError> {
    // Registration happens when the message reached us, not when we got round to it.
    let registered_at = msg.received_at.min(now);
    let mut deadline: Deadline = ctx
        .calendar
        .reply_due(registered_at, ctx.hours)
        .map_err(|e| IntakeError::Deadline(e.to_string()))?;
    let mut queue = None;
    let mut rule = "R5";
    let topic = msg.fields.get("topic").and_then(|v| v.as_str());
    if let Some((q, d)) = crate::registry::ict::at_intake(
        conn,
        ctx.ict,
        ctx.calendar,
        ctx.hours,
        contact_id,
        topic,
        registered_at,
    )? {
        (queue, deadline, rule) = (q, d, "F3");
    }
    let year = registered_at.with_timezone(&chrono_tz::Asia::Almaty).year();
    let number = ctx.take_number(conn, year)?;
    let language = msg.reply_language();
    let ticket_id = new_id();
    let subject = subject_of(msg);
    let access_key = (msg.channel == Channel::WebForm).then(crate::auth::random_secret);
    let field = |k: &str| {
        msg.fields
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let deadline_json = serde_json::to_string(&deadline).unwrap_or_default();
    let ticket = NewTicket {
        id: &ticket_id,
        number: number.as_str(),
        contact_id,
        channel: msg.channel.as_str(),
        conversation: msg.thread.conversation.as_deref(),
        status: Status::New.as_str(),
        queue: queue.unwrap_or_else(|| field("queue").unwrap_or_else(|| "general".into())),
        subject: &subject,
        language: language.as_str(),
        region: field("region"),
        topic: field("topic"),
        access_key_hash: access_key.as_deref().map(crate::auth::hash_secret),
        registered_at: registered_at.naive_utc(),
        effective_from: deadline.effective_from.to_string(),
        due_at: deadline.due_at.naive_utc(),
        deadline: &deadline_json,
        search_text: search_text_of(&[&subject, &msg.body_text, number.as_str()]),
        updated_at: now.naive_utc(),
        applicant: applicant_of(msg),
    };
    let message_id = new_id();
    let actor = actor_of(msg);
    let registered_event = serde_json::json!({
        "number": number.as_str(),
        "channel": msg.channel,
        "due_at": deadline.due_at,
        "effective_from": deadline.effective_from.to_string(),
        "rule": rule,
    });
    match conn {
        // One round trip for the ticket, its first message and the audit event.
        DbConn::Pg(_) => insert_registration_pg(
            conn,
            &ticket,
            &message_id,
            msg,
            raw_payload_id,
            &crate::tickets::audit::first_event(
                &ticket_id,
                &actor,
                "registered",
                &registered_event,
            ),
        )?,
        DbConn::Sqlite(_) => {
            diesel::insert_into(tickets::table)
                .values(&ticket)
                .execute(conn)?;
            // The ticket's own search text covers its first message.
            insert_message(
                conn,
                &message_id,
                &ticket_id,
                msg,
                raw_payload_id,
                MessageKind::Appeal,
                None,
            )?;
            let first = crate::tickets::audit::first_event(
                &ticket_id,
                &actor,
                "registered",
                &registered_event,
            );
            crate::tickets::audit::insert_first(conn, &ticket_id, "registered", &first)?;
        }
    }
    match ctx.vocab_words.borrow_mut().as_mut() {
        Some(words) => {
            // The number is the last line; what comes before it may be stemmed already.
            let ahead = ticket
                .search_text
                .rsplit_once('\n')
                .and_then(|(before, _)| ctx.stemmed.borrow_mut().remove(before));
            crate::search::tickets::index_new_later_words(
                conn,
                &ticket_id,
                &ticket.search_text,
                ahead,
                words,
            )?
        }
        None => crate::search::tickets::index_new(conn, &ticket_id, &ticket.search_text)?,
    }
    for a in &msg.attachments {
        crate::tickets::store_attachment(conn, &message_id, a)?;
    }
    crate::quarantine::link(conn, raw_payload_id, &ticket_id)?;

    let reg = Registered {
        ticket_id,
        number: number.as_str().to_string(),
        new_ticket: true,
        registered_at,
        due_at: deadline.due_at,
        effective_from: deadline.effective_from.to_string(),
        language,
        access_key,
        message_id,
        added: true,
    };
    acknowledge(conn, ctx, msg, &reg, &deadline)?;
    Ok(reg)
}

/// Queues the acknowledgement (R4) through the channel the message came from, unless the
/// message is an auto-reply or the sender has had too many acknowledgements this hour.
fn acknowledge(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    msg: &InboundMessage,
    reg: &Registered,
    deadline: &Deadline,
) -> Result<(), IntakeError> {
    let (channel, address) = match msg.channel {
        Channel::Email => (Channel::Email, msg.sender.address.to_lowercase()),
        Channel::Telegram => (Channel::Telegram, msg.sender.address.clone()),
        Channel::WhatsApp => (Channel::WhatsApp, msg.sender.address.clone()),
        Channel::WebForm => match (&msg.sender.email, ctx.email_enabled) {
            // The confirmation page is the web form's acknowledgement; e-mail repeats it.
            (Some(email), true) => (Channel::Email, email.clone()),
            _ => return Ok(()),
        },
        Channel::Phone => return Ok(()),
    };
    if let Some(reason) = &msg.suppress_ack {
        event(
            conn,
            &reg.ticket_id,
            "system",
            "ack_suppressed",
            serde_json::json!({"reason": reason}),
        )?;
        return Ok(());
    }
    if ctx.acks_per_sender_per_hour > 0 {
        let since = (chrono::Utc::now() - chrono::Duration::hours(1)).naive_utc();
        let recent: i64 = messages::table
            .filter(messages::kind.eq("acknowledgement"))
            .filter(messages::address.eq(&address))
            .filter(messages::created_at.gt(since))
            .count()
            .get_result(conn)?;
        if recent >= i64::from(ctx.acks_per_sender_per_hour) {
            event(
                conn,
                &reg.ticket_id,
                "system",
                "ack_suppressed",
                serde_json::json!({
                    "reason": format!("{recent} acknowledgements to {address} in the last hour"),
                }),
            )?;
            return Ok(());
        }
    }
    let status_url = reg
        .access_key
        .as_ref()
        .map(|k| crate::tickets::status_link(ctx.public_url, &reg.number, Some(k), reg.language));
    let rendered = ctx.templates.acknowledgement(
        reg.language,
        &reg.number,
        reg.registered_at,
        deadline,
        channel,
        status_url.as_deref(),
    )?;
    crate::tickets::queue_outbound(
        conn,
        ctx.mail_domain,
        &reg.ticket_id,
        crate::tickets::Recipient {
            channel,
            address: &address,
        },
        OutboundKind::Acknowledgement,
        None,
        &rendered,
    )?;
    Ok(())
}

fn insert_message(
    conn: &mut DbConn,
    id: &str,
    ticket_id: &str,
    msg: &InboundMessage,
    raw_payload_id: Option<&str>,
    kind: MessageKind,
    search_text: Option<&str>,
) -> Result<(), DbError> {
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id),
            messages::ticket_id.eq(ticket_id),
            messages::direction.eq(Direction::In.as_str()),
            messages::kind.eq(kind.as_str()),
            messages::search_text.eq(search_text),
            messages::channel.eq(msg.channel.as_str()),
            messages::address.eq(&msg.sender.address),
            messages::subject.eq(&msg.subject),
            messages::body_text.eq(&msg.body_text),
            messages::body_html.eq(&msg.body_html),
            messages::external_id.eq(&msg.external_id),
            messages::raw_payload_id.eq(raw_payload_id),
            messages::created_at.eq(msg.received_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new ticket row (the columns a registration sets).
#[derive(Insertable)]
#[diesel(table_name = tickets)]
struct NewTicket<'a> {
    id: &'a str,
    number: &'a str,
    contact_id: &'a str,
    channel: &'a str,
    conversation: Option<&'a str>,
    status: &'a str,
    queue: String,
    subject: &'a str,
    language: &'a str,
    region: Option<String>,
    topic: Option<String>,
    access_key_hash: Option<String>,
    registered_at: chrono::NaiveDateTime,
    effective_from: String,
    due_at: chrono::NaiveDateTime,
    deadline: &'a str,
    search_text: String,
    updated_at: chrono::NaiveDateTime,
    applicant: Option<String>,
}

/// PostgreSQL: the ticket, its first message and the `registered` event in one statement
/// (data-modifying CTEs; the foreign keys are checked at the end of the statement).
fn insert_registration_pg(
    c: &mut DbConn,
    t: &NewTicket<'_>,
    message_id: &str,
    msg: &InboundMessage,
    raw_payload_id: Option<&str>,
    event: &crate::tickets::audit::Sealed,
) -> Result<(), DbError> {
    use crate::db::prepared::{self, Value};
    // A fixed text, prepared once per connection (a `sql_query` was parsed and planned
    // by the server for every appeal).
    const SQL: &str = "WITH t AS (INSERT INTO tickets (id, number, contact_id, channel, \
        conversation, status, queue, subject, language, region, topic, access_key_hash, \
        registered_at, effective_from, due_at, deadline, search_text, updated_at, applicant) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)), \
        m AS (INSERT INTO messages (id, ticket_id, direction, kind, channel, address, subject, \
        body_text, body_html, external_id, raw_payload_id, created_at) VALUES \
        (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)) \
        INSERT INTO ticket_events (id, ticket_id, at, actor, kind, data, seq, hash, personal) \
        VALUES (?, ?, ?, ?, 'registered', ?, 1, ?, ?)";
    let event_id = new_id();
    prepared::execute(
        c,
        SQL,
        &[
            Value::Text(t.id),
            Value::Text(t.number),
            Value::Text(t.contact_id),
            Value::Text(t.channel),
            Value::OptText(t.conversation),
            Value::Text(t.status),
            Value::Text(&t.queue),
            Value::Text(t.subject),
            Value::Text(t.language),
            Value::OptText(t.region.as_deref()),
            Value::OptText(t.topic.as_deref()),
            Value::OptText(t.access_key_hash.as_deref()),
            Value::Time(t.registered_at),
            Value::Text(&t.effective_from),
            Value::Time(t.due_at),
            Value::Text(t.deadline),
            Value::Text(&t.search_text),
            Value::Time(t.updated_at),
            Value::OptText(t.applicant.as_deref()),
            // messages
            Value::Text(message_id),
            Value::Text(t.id),
            Value::Text(Direction::In.as_str()),
            Value::Text(MessageKind::Appeal.as_str()),
            Value::Text(t.channel),
            Value::Text(&msg.sender.address),
            Value::OptText(msg.subject.as_deref()),
            Value::Text(&msg.body_text),
            Value::OptText(msg.body_html.as_deref()),
            Value::OptText(msg.external_id.as_deref()),
            Value::OptText(raw_payload_id),
            Value::Time(msg.received_at.naive_utc()),
            // ticket_events
            Value::Text(&event_id),
            Value::Text(t.id),
            Value::Time(event.at),
            Value::Text(&event.split.actor),
            Value::Text(&event.split.data),
            Value::Text(&event.hash),
            Value::OptText(event.split.personal.as_deref()),
        ],
    )?;
    Ok(())
}

/// What registration would stem of a new ticket's text (its subject and first message,
/// without the number it has yet to get), done ahead where CPU is spare: the request's
/// thread, not the single writer.
pub fn stem_ahead(msg: &InboundMessage) -> crate::search::tickets::Stemmed {
    let msg = &*msg.cleaned();
    crate::search::tickets::Stemmed::of(&search_text_of(&[&subject_of(msg), &msg.body_text]))
}

fn subject_of(msg: &InboundMessage) -> String {
    let from_subject = msg
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let text = from_subject.unwrap_or_else(|| msg.body_text.trim());
    let line = text.lines().next().unwrap_or("").trim();
    let mut s: String = line.chars().take(120).collect();
    if s.is_empty() {
        s = match msg.channel {
            Channel::Telegram => "Telegram".into(),
            Channel::Email => "(no subject)".into(),
            Channel::WebForm => "Web form".into(),
            Channel::Phone => "Phone call".into(),
            Channel::WhatsApp => "WhatsApp".into(),
        };
    }
    s
}

fn actor_of(msg: &InboundMessage) -> String {
    format!("{}:{}", msg.channel, msg.sender.address)
}

/// Registers a whole batch in one transaction: the group commit behind the appeal
/// endpoints. Any failure aborts the batch (`Err`); the caller then registers the
/// messages one by one, so one bad message never takes the others down.
pub fn intake_batch(
    conn: &mut DbConn,
    ctx: &IntakeContext<'_>,
    batch: &[InboundMessage],
) -> Result<Vec<Registered>, IntakeError> {
    // The batch's words go to the vocabulary in one statement at the end: the tickets of
    // a batch share most of them, and one insert per ticket was the writer's largest cost.
    ctx.vocab_words.replace(Some(Default::default()));
    let all: Result<Vec<Registered>, IntakeError> = batch
        .iter()
        .map(|msg| intake(conn, ctx, msg, None))
        .collect();
    let words = ctx.vocab_words.take();
    let all = all?;
    if let Some(words) = words {
        crate::search::vocab::add(conn, crate::search::tickets::SCOPE, &words)?;
    }
    Ok(all)
}
