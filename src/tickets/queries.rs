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
    /// Linked to this service (`ticket_services`).
    pub service: Option<String>,
    /// Linked to a service of this providing body.
    pub body: Option<String>,
}

/// Newest first, keyset-paginated on the time-ordered ticket id. With `q`, the words
/// are searched in the ticket index ([`crate::search::tickets`]): each word (any of its
/// inflected forms, or a known word one typo away) must be in the ticket's text or a
/// follow-up's; a `q` with nothing searchable in it (punctuation, stop words) finds
/// nothing.
pub fn list(
    conn: &mut DbConn,
    f: &ListFilter,
    now: DateTime<Utc>,
) -> Result<Vec<TicketRow>, DbError> {
    let filtered = || {
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
    };
    let limit = f.limit.clamp(1, 200);
    let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
        let mut query = filtered();
        if let Some(after) = &f.after {
            query = query.filter(tickets::id.lt(after.clone()));
        }
        return Ok(query.order(tickets::id.desc()).limit(limit).load(conn)?);
    };
    let mut query = crate::search::Query::parse(q);
    if query.is_empty() {
        return Ok(Vec::new());
    }
    crate::search::vocab::expand(conn, crate::search::tickets::SCOPE, &mut query)?;
    let mut bound = match &f.after {
        Some(after) => crate::search::tickets::bound_after(conn, after)?,
        None => i64::MAX,
    };
    // The index is read newest first in growing chunks; each chunk is filtered here, so
    // a page costs about the same however many tickets match.
    let mut chunk = (limit * 2).max(100);
    let mut out: Vec<TicketRow> = Vec::new();
    loop {
        let found = crate::search::tickets::candidates(conn, &query, bound, chunk)?;
        let Some(last) = found.last() else {
            break;
        };
        bound = last.doc;
        let ids: Vec<&str> = found.iter().map(|c| c.ticket_id.as_str()).collect();
        let rows: Vec<TicketRow> = filtered().filter(tickets::id.eq_any(ids)).load(conn)?;
        let mut by_id: std::collections::HashMap<String, TicketRow> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        for c in &found {
            if let Some(r) = by_id.remove(&c.ticket_id) {
                out.push(r);
                if out.len() as i64 == limit {
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
    appeal: String,
    replies: Vec<serde_json::Value>,
}

/// The status page's view, when `key` is the ticket's secret (compared in constant time).
pub fn status_view(
    c: &mut crate::db::DbConn,
    number: &str,
    key: &str,
) -> Result<Option<StatusView>, crate::db::DbError> {
    let row: Option<(
        String,
        String,
        String,
        Option<String>,
        chrono::NaiveDateTime,
        chrono::NaiveDateTime,
    )> = tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select((
            tickets::id,
            tickets::number,
            tickets::status,
            tickets::access_key_hash,
            tickets::registered_at,
            tickets::due_at,
        ))
        .first(c)
        .optional()?;
    let Some((id, number, status, Some(hash), registered, due)) = row else {
        return Ok(None);
    };
    if !baylanys_core::constant_time_eq(hash.as_bytes(), crate::auth::hash_secret(key).as_bytes()) {
        return Ok(None);
    }
    let appeal: String = messages::table
        .filter(messages::ticket_id.eq(&id))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .order(messages::created_at.asc())
        .select(messages::body_text)
        .first(c)
        .optional()?
        .unwrap_or_default();
    let replies: Vec<(String, chrono::NaiveDateTime)> = messages::table
        .filter(messages::ticket_id.eq(&id))
        .filter(messages::direction.eq(Direction::Out.as_str()))
        .filter(messages::channel.eq(Channel::WebForm.as_str()))
        .order(messages::created_at.asc())
        .select((messages::body_text, messages::created_at))
        .load(c)?;
    Ok(Some(StatusView {
        number,
        status,
        registered: crate::templates::local_time(registered.and_utc()),
        due: crate::templates::local_time(due.and_utc()),
        appeal,
        replies: replies
            .into_iter()
            .map(|(text, at)| serde_json::json!({"text": text, "at": crate::templates::local_time(at.and_utc())}))
            .collect(),
    }))
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
