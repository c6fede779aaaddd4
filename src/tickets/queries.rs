//! Reading tickets: lists with filters and search, one ticket whole, its files.

use baylanys_core::Channel;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::{Direction, Status};
use crate::db::schema::{
    attachments, contacts, messages, services, ticket_events, ticket_services, tickets, users,
};
use crate::db::{DbConn, DbError};

#[derive(Debug, Clone, Serialize, Queryable, Selectable, utoipa::ToSchema)]
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
    /// Linked to this service (`ticket_services`).
    pub service: Option<String>,
    /// Linked to a service of this providing body.
    pub body: Option<String>,
    /// Assigned to this user (id).
    pub assignee: Option<String>,
    /// Assigned to nobody.
    pub unassigned: bool,
    /// Not closed (the console's default).
    pub not_closed: bool,
    pub region: Option<String>,
    pub topic: Option<String>,
    /// Soonest due first (the console's queue) instead of newest first; pages by `offset`.
    pub due_first: bool,
    pub offset: i64,
}

type Filtered<'a> = tickets::BoxedQuery<'a, crate::db::MultiBackend>;

/// The tickets a filter selects (every filter but the words `q`, the order and the page).
fn filtered<'a>(f: &ListFilter, now: DateTime<Utc>) -> Filtered<'a> {
    filtered_as(f, now, false)
}

/// The same; with `by_id` (a search's candidates, fetched by id) the column filters are
/// written so that no index can serve them: without statistics SQLite otherwise read
/// every ticket of the status or queue through that index instead of the few ids
/// (1.4 s for a word and a status over 1,000,000 tickets; a few milliseconds this way).
fn filtered_as<'a>(f: &ListFilter, now: DateTime<Utc>, by_id: bool) -> Filtered<'a> {
    // `column || ''` is the column (NULL stays NULL), but not an indexed expression.
    macro_rules! equal {
        ($query:ident, $column:expr, $value:expr) => {
            if by_id {
                $query.filter($column.concat("").eq($value))
            } else {
                $query.filter($column.eq($value))
            }
        };
    }
    let mut query = tickets::table.into_boxed();
    if let Some(a) = &f.assignee {
        query = equal!(query, tickets::assignee_id, a.clone());
    }
    if f.unassigned {
        query = query.filter(tickets::assignee_id.is_null());
    }
    if f.not_closed {
        query = query.filter(tickets::status.ne(Status::Closed.as_str()));
    }
    if let Some(r) = &f.region {
        query = equal!(query, tickets::region, r.clone());
    }
    if let Some(t) = &f.topic {
        query = equal!(query, tickets::topic, t.clone());
    }
    if let Some(s) = f.status {
        query = equal!(query, tickets::status, s.as_str());
    }
    if let Some(c) = f.channel {
        query = equal!(query, tickets::channel, c.as_str());
    }
    if let Some(q) = &f.queue {
        query = equal!(query, tickets::queue, q.clone());
    }
    match f.overdue {
        Some(true) => query = query.filter(super::answered::overdue(now)),
        Some(false) => query = query.filter(super::answered::not_overdue(now)),
        None => {}
    }
    if let Some(service) = &f.service {
        query = query.filter(
            tickets::id.eq_any(
                ticket_services::table
                    .filter(ticket_services::service_id.eq(service.clone()))
                    .select(ticket_services::ticket_id),
            ),
        );
    }
    if let Some(body) = &f.body {
        query = query.filter(
            tickets::id.eq_any(
                ticket_services::table
                    .filter(
                        ticket_services::service_id.eq_any(
                            services::table
                                .filter(services::body_id.eq(body.clone()))
                                .select(services::id),
                        ),
                    )
                    .select(ticket_services::ticket_id),
            ),
        );
    }
    query
}

/// The words of the filter's `q`, if it has any.
fn words(f: &ListFilter) -> Option<&str> {
    f.q.as_deref().map(str::trim).filter(|q| !q.is_empty())
}

/// The tickets that match `q` and the filter, newest first (after `f.after`), skipping
/// `skip` and at most `wanted`. The words are searched in the ticket index
/// ([`crate::search::tickets`]): each word (any of its inflected forms, or a known word
/// one typo away) must be in the ticket's text or a follow-up's; a `q` with nothing
/// searchable in it (punctuation, stop words) finds nothing.
fn searched(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
    q: &str,
    skip: i64,
    wanted: i64,
) -> Result<Vec<TicketRow>, DbError> {
    let mut query = crate::search::Query::parse(q);
    if query.is_empty() || wanted <= 0 {
        return Ok(Vec::new());
    }
    crate::search::vocab::expand(conn, crate::search::tickets::SCOPE, &mut query)?;
    let mut bound = match &f.after {
        Some(after) => crate::search::tickets::bound_after(conn, after)?,
        None => i64::MAX,
    };
    // The index is read newest first in growing chunks; each chunk is filtered here, so
    // a page costs about the same however many tickets match.
    let mut chunk = (wanted.min(1000) * 2).max(100);
    let mut skipped = 0;
    let mut out: Vec<TicketRow> = Vec::new();
    loop {
        let found = crate::search::tickets::candidates(conn, &query, bound, chunk)?;
        let Some(last) = found.last() else {
            break;
        };
        bound = last.doc;
        let ids: Vec<&str> = found.iter().map(|c| c.ticket_id.as_str()).collect();
        let rows: Vec<TicketRow> = filtered_as(f, now, true)
            .select(TicketRow::as_select())
            .filter(tickets::id.eq_any(ids))
            .load(conn)?;
        let mut by_id: std::collections::HashMap<String, TicketRow> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        for c in &found {
            if let Some(r) = by_id.remove(&c.ticket_id) {
                if skipped < skip {
                    skipped += 1;
                    continue;
                }
                out.push(r);
                if out.len() as i64 == wanted {
                    return Ok(out);
                }
            }
        }
        if (found.len() as i64) < chunk {
            break;
        }
        chunk = (chunk * 4).min(10_000);
    }
    Ok(out)
}

/// Newest first, keyset-paginated on the time-ordered ticket id; or (`due_first`) soonest
/// due first, by pages. With `q`, the tickets whose text matches (see [`searched`]),
/// newest first; `due_first` then sorts the page by due instant.
pub fn list(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<TicketRow>, DbError> {
    let limit = f.limit.clamp(1, 200);
    if let Some(q) = words(f) {
        let skip = if f.due_first { f.offset.max(0) } else { 0 };
        let mut rows = searched(conn, f, now, q, skip, limit)?;
        if f.due_first {
            rows.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        }
        return Ok(rows);
    }
    let mut query = filtered(f, now).select(TicketRow::as_select());
    if f.due_first {
        return Ok(query
            .order((tickets::due_at.asc(), tickets::id.asc()))
            .limit(limit)
            .offset(f.offset.max(0))
            .load(conn)?);
    }
    if let Some(after) = &f.after {
        query = query.filter(tickets::id.lt(after.clone()));
    }
    Ok(query.order(tickets::id.desc()).limit(limit).load(conn)?)
}

/// How many tickets the filter selects, counted up to `cap` (a page's badges need no
/// more, and counting a million rows on every page view would cost more than the page).
pub fn count_up_to(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
    cap: i64,
) -> Result<i64, DbError> {
    if let Some(q) = words(f) {
        return Ok(searched(conn, f, now, q, 0, cap.max(0) + 1)?.len() as i64);
    }
    let ids: Vec<String> = filtered(f, now)
        .select(tickets::id)
        .limit(cap.max(0) + 1)
        .load(conn)?;
    Ok(ids.len() as i64)
}

/// The newest ticket (the greatest time-ordered id) the filter selects: an aggregate,
/// so the filter's own index serves it instead of a walk down the primary key.
pub fn newest_id(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    if let Some(q) = words(f) {
        return Ok(searched(conn, f, now, q, 0, 1)?.pop().map(|r| r.id));
    }
    Ok(filtered(f, now)
        .select(diesel::dsl::max(tickets::id))
        .first::<Option<String>>(conn)?)
}

/// How many tickets the filter selects.
pub fn count(conn: &mut DbConn, f: &ListFilter, now: DateTime<Utc>) -> Result<i64, DbError> {
    if let Some(q) = words(f) {
        return Ok(searched(conn, f, now, q, 0, i64::MAX)?.len() as i64);
    }
    Ok(filtered(f, now).count().get_result(conn)?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

#[derive(Debug, Serialize, Queryable, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: String,
    #[serde(skip)]
    pub message_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    type Extra = (
        String,
        String,
        Option<String>,
        Option<chrono::NaiveDateTime>,
    );
    let (contact_id, deadline, applicant, anonymised): Extra = tickets::table
        .find(&id)
        .select((
            tickets::contact_id,
            tickets::deadline,
            tickets::applicant,
            tickets::anonymised_at,
        ))
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
        // In the order they happened (the chain follows it; new events are sealed later).
        .order((ticket_events::at.asc(), ticket_events::id.asc()))
        .select((
            ticket_events::at,
            ticket_events::actor,
            ticket_events::kind,
            ticket_events::data,
            ticket_events::personal,
        ))
        .load::<(
            chrono::NaiveDateTime,
            String,
            String,
            String,
            Option<String>,
        )>(conn)?
        .into_iter()
        .map(|(at, actor, kind, data, personal)| EventView {
            at: almaty(&at),
            actor: super::audit::join(&actor, personal.as_deref()),
            kind,
            data: super::audit::join_data(&data, personal.as_deref()),
        })
        .collect();
    let overdue =
        super::answered::is_overdue(ticket.answered_at, &ticket.status, ticket.due_at, now);
    // The details as submitted with this ticket win over what the contact learnt later.
    let given: serde_json::Value = applicant
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let given = |k: &str| given.get(k).and_then(|v| v.as_str()).map(str::to_string);
    // After retention the ticket no longer says who wrote it, whatever the contact holds
    // for its other tickets.
    let contact = if anonymised.is_some() {
        (None, None, None, None)
    } else {
        contact
    };
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

/// The public status page of a ticket, with its secret: the link an applicant is given.
pub fn status_url(public_url: &str, number: &str, key: Option<&str>) -> String {
    format!("{public_url}/appeals/{number}?key={}", key.unwrap_or(""))
}

/// The link given to the applicant: the status page in the appeal's language.
pub fn status_link(
    public_url: &str,
    number: &str,
    key: Option<&str>,
    lang: baylanys_core::Language,
) -> String {
    let lang = match lang {
        baylanys_core::Language::Kk => "kk",
        _ => "ru",
    };
    format!("{}&lang={lang}", status_url(public_url, number, key))
}

/// What the public status page shows of a ticket to the holder of its secret link.
#[derive(Serialize)]
pub struct StatusView {
    number: String,
    status: String,
    registered: String,
    due: String,
    /// The first message, as registered.
    appeal: String,
    /// The operators' answers published on the page.
    replies: Vec<serde_json::Value>,
    /// The whole conversation the page may show, oldest first: the applicant's messages
    /// (on any channel) and the published answers, each with its files.
    thread: Vec<StatusMessage>,
}

#[derive(Serialize)]
pub struct StatusMessage {
    /// `applicant` or `center`.
    from: &'static str,
    at: String,
    text: String,
    files: Vec<StatusFile>,
}

#[derive(Serialize)]
pub struct StatusFile {
    id: String,
    name: String,
    size: i64,
}

/// Who the holder of a ticket's status link is, as the ticket's first message has it.
pub struct StatusAccess {
    pub ticket_id: String,
    pub number: String,
    pub status: String,
    /// The address the applicant wrote from (e-mail, or phone for the web form).
    pub address: String,
    pub language: String,
    /// The applicant's details as submitted (`name`, `email`, `phone`), if kept.
    pub applicant: serde_json::Value,
    registered: chrono::NaiveDateTime,
    due: chrono::NaiveDateTime,
}

/// The ticket `number`, when `key` is its secret (compared in constant time).
pub fn status_access(
    c: &mut crate::db::DbConn,
    number: &str,
    key: &str,
) -> Result<Option<StatusAccess>, crate::db::DbError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
        String,
        Option<String>,
    );
    let row: Option<Row> = tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select((
            tickets::id,
            tickets::number,
            tickets::status,
            tickets::access_key_hash,
            tickets::registered_at,
            tickets::due_at,
            tickets::language,
            tickets::applicant,
        ))
        .first(c)
        .optional()?;
    let Some((id, number, status, Some(hash), registered, due, language, applicant)) = row else {
        return Ok(None);
    };
    if !baylanys_core::constant_time_eq(hash.as_bytes(), crate::auth::hash_secret(key).as_bytes()) {
        return Ok(None);
    }
    let address: String = messages::table
        .filter(messages::ticket_id.eq(&id))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .order(messages::created_at.asc())
        .select(messages::address)
        .first(c)
        .optional()?
        .unwrap_or_default();
    Ok(Some(StatusAccess {
        ticket_id: id,
        number,
        status,
        address,
        language,
        applicant: applicant
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default(),
        registered,
        due,
    }))
}

/// The messages of `a`'s ticket the status page shows: the applicant's own (the address
/// of the first message) and the answers published on the page; (id, from, text, at).
fn status_messages(
    c: &mut crate::db::DbConn,
    a: &StatusAccess,
) -> Result<Vec<(String, &'static str, String, chrono::NaiveDateTime)>, crate::db::DbError> {
    let rows: Vec<(
        String,
        String,
        String,
        String,
        String,
        chrono::NaiveDateTime,
    )> = messages::table
        .filter(messages::ticket_id.eq(&a.ticket_id))
        .filter(
            messages::direction
                .eq(Direction::In.as_str())
                .and(messages::address.eq(&a.address))
                .or(messages::direction
                    .eq(Direction::Out.as_str())
                    .and(messages::channel.eq(Channel::WebForm.as_str()))
                    .and(messages::kind.eq(super::MessageKind::Reply.as_str()))),
        )
        .order((messages::created_at.asc(), messages::id.asc()))
        .select((
            messages::id,
            messages::direction,
            messages::kind,
            messages::body_text,
            messages::channel,
            messages::created_at,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(id, direction, _, text, _, at)| {
            let from = if direction == Direction::In.as_str() {
                "applicant"
            } else {
                "center"
            };
            (id, from, text, at)
        })
        .collect())
}

/// The status page's view, when `key` is the ticket's secret (compared in constant time).
pub fn status_view(
    c: &mut crate::db::DbConn,
    number: &str,
    key: &str,
) -> Result<Option<StatusView>, crate::db::DbError> {
    let Some(a) = status_access(c, number, key)? else {
        return Ok(None);
    };
    let shown = status_messages(c, &a)?;
    let ids: Vec<&String> = shown.iter().map(|(id, ..)| id).collect();
    let files: Vec<(String, String, String, i64)> = attachments::table
        .filter(attachments::message_id.eq_any(ids))
        .order(attachments::created_at.asc())
        .select((
            attachments::message_id,
            attachments::id,
            attachments::file_name,
            attachments::size,
        ))
        .load(c)?;
    let local = |at: chrono::NaiveDateTime| crate::templates::local_time(at.and_utc());
    let thread: Vec<StatusMessage> = shown
        .into_iter()
        .map(|(id, from, text, at)| StatusMessage {
            from,
            at: local(at),
            text,
            files: files
                .iter()
                .filter(|f| f.0 == id)
                .map(|(_, id, name, size)| StatusFile {
                    id: id.clone(),
                    name: name.clone(),
                    size: *size,
                })
                .collect(),
        })
        .collect();
    let appeal = thread
        .iter()
        .find(|m| m.from == "applicant")
        .map(|m| m.text.clone())
        .unwrap_or_default();
    let replies = thread
        .iter()
        .filter(|m| m.from == "center")
        .map(|m| serde_json::json!({"text": m.text, "at": m.at}))
        .collect();
    Ok(Some(StatusView {
        number: a.number,
        status: a.status,
        registered: local(a.registered),
        due: local(a.due),
        appeal,
        replies,
        thread,
    }))
}

/// A file the status page shows (the applicant's own, or on a published answer), for
/// the holder of the ticket's key.
pub fn status_file(
    c: &mut crate::db::DbConn,
    number: &str,
    key: &str,
    file_id: &str,
) -> Result<Option<baylanys_core::Attachment>, crate::db::DbError> {
    let Some(a) = status_access(c, number, key)? else {
        return Ok(None);
    };
    let message: Option<String> = attachments::table
        .filter(attachments::id.eq(file_id))
        .select(attachments::message_id)
        .first(c)
        .optional()?;
    let Some(message) = message else {
        return Ok(None);
    };
    if !status_messages(c, &a)?
        .iter()
        .any(|(id, ..)| *id == message)
    {
        return Ok(None);
    }
    crate::tickets::attachment(c, file_id)
}

/// How many tickets are not closed and how many of them are overdue; registrations by
/// channel; outgoing messages by channel and delivery state (read at scrape time, so
/// every instance reports the same).
#[derive(Debug, Clone, Serialize)]
pub struct TicketCounts {
    pub open: i64,
    pub overdue: i64,
    pub registered_by_channel: Vec<(String, i64)>,
    pub deliveries: Vec<(String, String, i64)>,
}

pub fn counts(conn: &mut DbConn, now: DateTime<Utc>) -> Result<TicketCounts, DbError> {
    let open: i64 = tickets::table
        .filter(tickets::status.ne(Status::Closed.as_str()))
        .count()
        .get_result(conn)?;
    let overdue: i64 = tickets::table
        .filter(super::answered::overdue(now))
        .count()
        .get_result(conn)?;
    let registered_by_channel: Vec<(String, i64)> = tickets::table
        .group_by(tickets::channel)
        .select((tickets::channel, diesel::dsl::count_star()))
        .load(conn)?;
    let deliveries: Vec<(String, Option<String>, i64)> = messages::table
        .filter(messages::direction.eq(Direction::Out.as_str()))
        .group_by((messages::channel, messages::delivery_status))
        .select((
            messages::channel,
            messages::delivery_status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    Ok(TicketCounts {
        open,
        overdue,
        registered_by_channel,
        deliveries: deliveries
            .into_iter()
            .map(|(c, s, n)| (c, s.unwrap_or_default(), n))
            .collect(),
    })
}
