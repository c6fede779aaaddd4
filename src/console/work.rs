//! Working together on tickets: who else has a ticket open or is writing (presence),
//! internal notes, the check that a reply answers the thread as the operator saw it
//! (409 otherwise), the applicant's other tickets, and saved queue filters.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{messages, saved_filters, ticket_presence, tickets, users};
use crate::db::{DbConn, DbError, new_id};
use crate::tickets::{ActionError, Direction, MessageKind, event};

/// A presence row lives this long unless the page renews it.
pub const PRESENCE_SECS: i64 = 45;
/// Longest internal note.
pub const MAX_NOTE_CHARS: usize = 20_000;

text_enum!(
    /// What a staff member is doing with a ticket.
    Presence, "presence state" {
        Viewing => "viewing",
        Writing => "writing",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Other {
    pub login: String,
    pub name: String,
    pub state: String,
}

fn ticket_id(conn: &mut DbConn, number: &str) -> Result<String, ActionError> {
    crate::tickets::find_id(conn, number)?.ok_or_else(|| ActionError::NotFound(number.into()))
}

/// Notes that `user_id` has the ticket open (or is writing), and returns who else has.
pub fn touch(
    conn: &mut DbConn,
    number: &str,
    user_id: &str,
    state: Presence,
    now: DateTime<Utc>,
) -> Result<Vec<Other>, ActionError> {
    let tid = ticket_id(conn, number)?;
    let expires = (now + Duration::seconds(PRESENCE_SECS)).naive_utc();
    diesel::delete(ticket_presence::table.find((&tid, user_id))).execute(conn)?;
    diesel::insert_into(ticket_presence::table)
        .values((
            ticket_presence::ticket_id.eq(&tid),
            ticket_presence::user_id.eq(user_id),
            ticket_presence::state.eq(state.as_str()),
            ticket_presence::expires_at.eq(expires),
        ))
        .execute(conn)?;
    Ok(others(conn, &tid, user_id, now)?)
}

/// Who besides `user_id` has the ticket open now.
pub fn others(
    conn: &mut DbConn,
    ticket_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Other>, DbError> {
    let rows: Vec<(String, String, String)> = ticket_presence::table
        .inner_join(users::table)
        .filter(ticket_presence::ticket_id.eq(ticket_id))
        .filter(ticket_presence::user_id.ne(user_id))
        .filter(ticket_presence::expires_at.gt(now.naive_utc()))
        .order(users::login.asc())
        .select((users::login, users::name, ticket_presence::state))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(login, name, state)| Other { login, name, state })
        .collect())
}

/// Leaves the ticket (the page was closed or a reply sent).
pub fn leave(conn: &mut DbConn, ticket_id: &str, user_id: &str) -> Result<(), DbError> {
    diesel::delete(ticket_presence::table.find((ticket_id, user_id))).execute(conn)?;
    Ok(())
}

/// An internal note: staff only, never sent to the applicant (no delivery is queued for
/// it), marked as a note wherever it is shown; the audit log records it.
pub fn add_note(
    conn: &mut DbConn,
    number: &str,
    author: &crate::auth::User,
    text: &str,
) -> Result<String, ActionError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ActionError::invalid("text", "the note is empty"));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(ActionError::invalid(
            "text",
            format!("a note is at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let tid = ticket_id(conn, number)?;
    let channel: String = tickets::table
        .find(&tid)
        .select(tickets::channel)
        .first(conn)?;
    let id = new_id();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&id),
            messages::ticket_id.eq(&tid),
            messages::direction.eq(Direction::Internal.as_str()),
            messages::kind.eq(MessageKind::Note.as_str()),
            messages::channel.eq(channel),
            messages::author_id.eq(&author.id),
            messages::address.eq(""),
            messages::body_text.eq(text),
            messages::created_at.eq(crate::db::now()),
            messages::search_text.eq(text.to_lowercase()),
        ))
        .execute(conn)?;
    event(
        conn,
        &tid,
        &author.login,
        "note_added",
        serde_json::json!({"message_id": id}),
    )?;
    Ok(id)
}

/// The newest message of the thread an operator sees (notes aside): what a reply form
/// carries as `last_seen`.
pub fn last_message_id(conn: &mut DbConn, ticket_id: &str) -> Result<Option<String>, DbError> {
    Ok(messages::table
        .filter(messages::ticket_id.eq(ticket_id))
        .filter(messages::direction.ne(Direction::Internal.as_str()))
        .order((messages::created_at.desc(), messages::id.desc()))
        .select(messages::id)
        .first(conn)
        .optional()?)
}

/// A reply answers the thread as its author saw it: when someone else has answered since
/// `last_seen` (the newest message the form showed), 409, naming the newer answers. The
/// ticket row is locked first on PostgreSQL, so two replies cannot both pass.
pub fn check_current(conn: &mut DbConn, number: &str, last_seen: &str) -> Result<(), ActionError> {
    let tid = ticket_id(conn, number)?;
    if let DbConn::Pg(pg) = conn {
        use diesel::RunQueryDsl as _;
        diesel::sql_query("SELECT id FROM tickets WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(&tid)
            .execute(pg)?;
    }
    let seen: Option<(chrono::NaiveDateTime, String)> = messages::table
        .filter(messages::id.eq(last_seen))
        .filter(messages::ticket_id.eq(&tid))
        .select((messages::created_at, messages::id))
        .first(conn)
        .optional()?;
    let Some((seen_at, seen_id)) = seen else {
        return Err(ActionError::invalid(
            "last_seen",
            "is not a message of this ticket: reload the ticket and reply again",
        ));
    };
    let newer: Vec<String> = messages::table
        .filter(messages::ticket_id.eq(&tid))
        .filter(messages::direction.eq(Direction::Out.as_str()))
        .filter(messages::kind.eq(MessageKind::Reply.as_str()))
        .filter(
            messages::created_at.gt(seen_at).or(messages::created_at
                .eq(seen_at)
                .and(messages::id.gt(seen_id))),
        )
        .select(messages::id)
        .load(conn)?;
    if newer.is_empty() {
        Ok(())
    } else {
        Err(ActionError::Conflict(format!(
            "ticket {number} was answered after the message you saw ({}): read the new answer \
             before sending yours (your text is kept)",
            newer.join(", ")
        )))
    }
}

/// The applicant's other tickets (the same contact), newest first.
#[derive(Debug, Clone, Serialize, Queryable, utoipa::ToSchema)]
pub struct OtherTicket {
    pub number: String,
    pub status: String,
    pub subject: String,
    #[serde(serialize_with = "almaty")]
    pub registered_at: chrono::NaiveDateTime,
}

fn almaty<S: serde::Serializer>(t: &chrono::NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::tickets::almaty(t))
}

pub fn other_tickets(conn: &mut DbConn, ticket_id: &str) -> Result<Vec<OtherTicket>, DbError> {
    let contact: String = tickets::table
        .find(ticket_id)
        .select(tickets::contact_id)
        .first(conn)?;
    Ok(tickets::table
        .filter(tickets::contact_id.eq(contact))
        .filter(tickets::id.ne(ticket_id))
        .filter(tickets::anonymised_at.is_null())
        .order(tickets::id.desc())
        .limit(50)
        .select((
            tickets::number,
            tickets::status,
            tickets::subject,
            tickets::registered_at,
        ))
        .load(conn)?)
}

#[derive(Debug, Clone, Serialize, Queryable)]
pub struct SavedFilter {
    pub id: String,
    pub name: String,
    pub query: String,
}

pub const MAX_SAVED_FILTERS: i64 = 50;

pub fn save_filter(
    conn: &mut DbConn,
    user_id: &str,
    name: &str,
    query: &str,
) -> Result<SavedFilter, ActionError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ActionError::invalid(
            "name",
            "give the filter a name (1-100 characters)",
        ));
    }
    if query.len() > 2000 {
        return Err(ActionError::invalid(
            "query",
            "the filter is longer than 2000 characters",
        ));
    }
    let n: i64 = saved_filters::table
        .filter(saved_filters::user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    if n >= MAX_SAVED_FILTERS {
        return Err(ActionError::Conflict(format!(
            "you have {MAX_SAVED_FILTERS} saved filters: delete one first"
        )));
    }
    diesel::delete(
        saved_filters::table
            .filter(saved_filters::user_id.eq(user_id))
            .filter(saved_filters::name.eq(name)),
    )
    .execute(conn)?;
    let id = new_id();
    diesel::insert_into(saved_filters::table)
        .values((
            saved_filters::id.eq(&id),
            saved_filters::user_id.eq(user_id),
            saved_filters::name.eq(name),
            saved_filters::query.eq(query),
            saved_filters::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(SavedFilter {
        id,
        name: name.into(),
        query: query.into(),
    })
}

pub fn saved_filters_of(conn: &mut DbConn, user_id: &str) -> Result<Vec<SavedFilter>, DbError> {
    Ok(saved_filters::table
        .filter(saved_filters::user_id.eq(user_id))
        .order(saved_filters::name.asc())
        .select((saved_filters::id, saved_filters::name, saved_filters::query))
        .load(conn)?)
}

pub fn delete_filter(conn: &mut DbConn, user_id: &str, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(
        saved_filters::table
            .filter(saved_filters::user_id.eq(user_id))
            .filter(saved_filters::id.eq(id)),
    )
    .execute(conn)?
        > 0)
}

/// Merges `duplicate` into `target` (two tickets of one applicant about one thing): the
/// duplicate's messages (and their files) move to the target, the target keeps the
/// earlier of the two deadlines, the duplicate is closed, and both audit logs say so.
pub fn merge(
    conn: &mut DbConn,
    target: &str,
    duplicate: &str,
    actor: &crate::auth::User,
) -> Result<(), ActionError> {
    let into = ticket_id(conn, target)?;
    let from = ticket_id(conn, duplicate)?;
    if into == from {
        return Err(ActionError::invalid(
            "duplicate",
            "a ticket cannot be merged into itself",
        ));
    }
    type Row = (String, String, chrono::NaiveDateTime, String, String);
    let load = |conn: &mut DbConn, id: &str| -> Result<Row, DbError> {
        Ok(tickets::table
            .find(id)
            .select((
                tickets::contact_id,
                tickets::status,
                tickets::due_at,
                tickets::deadline,
                tickets::effective_from,
            ))
            .first(conn)?)
    };
    let (t_contact, _, t_due, _, _) = load(conn, &into)?;
    let (d_contact, d_status, d_due, d_deadline, d_from) = load(conn, &from)?;
    if t_contact != d_contact {
        return Err(ActionError::invalid(
            "duplicate",
            format!(
                "{duplicate} is not from the same applicant as {target}: only one applicant's tickets merge"
            ),
        ));
    }
    if d_status == crate::tickets::Status::Closed.as_str() {
        return Err(ActionError::Conflict(format!(
            "{duplicate} is closed: it cannot be merged"
        )));
    }
    let moved = diesel::update(messages::table.filter(messages::ticket_id.eq(&from)))
        .set(messages::ticket_id.eq(&into))
        .execute(conn)?;
    let now = crate::db::now();
    if d_due < t_due {
        diesel::update(tickets::table.find(&into))
            .set((
                tickets::due_at.eq(d_due),
                tickets::deadline.eq(&d_deadline),
                tickets::effective_from.eq(&d_from),
            ))
            .execute(conn)?;
    }
    diesel::update(tickets::table.find(&into))
        .set(tickets::updated_at.eq(now))
        .execute(conn)?;
    diesel::update(tickets::table.find(&from))
        .set((
            tickets::status.eq(crate::tickets::Status::Closed.as_str()),
            tickets::closed_at.eq(now),
            tickets::updated_at.eq(now),
        ))
        .execute(conn)?;
    event(
        conn,
        &into,
        &actor.login,
        "merged",
        serde_json::json!({"from": duplicate.to_ascii_uppercase(), "messages": moved, "due_kept": if d_due < t_due { duplicate } else { target }}),
    )?;
    event(
        conn,
        &from,
        &actor.login,
        "merged_into",
        serde_json::json!({"into": target.to_ascii_uppercase(), "messages": moved}),
    )?;
    Ok(())
}

/// A fresh registration number for a ticket made here (a split), from the same
/// counters as intake.
pub fn allocate_number(conn: &mut DbConn, app: &crate::AppState) -> Result<String, DbError> {
    use chrono::Datelike;
    let year = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Almaty)
        .year();
    let calendar = app.calendar();
    let ctx = app.intake_context(&calendar);
    Ok(crate::tickets::numbers::next_number(
        conn,
        &app.config.registration_prefix,
        year,
        ctx.sequences,
    )?
    .as_str()
    .to_string())
}

/// Splits one message of a ticket off into a ticket of its own (a second question in a
/// follow-up): a new number, the same applicant, channel, queue and deadline terms as
/// the original, open and unassigned; both audit logs say so. Returns the new number.
pub fn split(
    conn: &mut DbConn,
    number: &str,
    message_id: &str,
    actor: &crate::auth::User,
    new_number: &str,
) -> Result<String, ActionError> {
    let tid = ticket_id(conn, number)?;
    let msg: Option<(String, String)> = messages::table
        .filter(messages::id.eq(message_id))
        .filter(messages::ticket_id.eq(&tid))
        .select((messages::direction, messages::body_text))
        .first(conn)
        .optional()?;
    let Some((direction, body)) = msg else {
        return Err(ActionError::invalid(
            "message",
            "is not a message of this ticket",
        ));
    };
    if direction != Direction::In.as_str() {
        return Err(ActionError::invalid(
            "message",
            "only the applicant's messages are split off",
        ));
    }
    let first_in: Option<String> = messages::table
        .filter(messages::ticket_id.eq(&tid))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(messages::id)
        .first(conn)
        .optional()?;
    if first_in.as_deref() == Some(message_id) {
        return Err(ActionError::invalid(
            "message",
            "the first message is the ticket itself: split a later one",
        ));
    }
    type Src = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        chrono::NaiveDateTime,
        String,
        chrono::NaiveDateTime,
        String,
        Option<String>,
    );
    let src: Src = tickets::table
        .find(&tid)
        .select((
            tickets::contact_id,
            tickets::channel,
            tickets::queue,
            tickets::language,
            tickets::region,
            tickets::topic,
            tickets::registered_at,
            tickets::effective_from,
            tickets::due_at,
            tickets::deadline,
            tickets::applicant,
        ))
        .first(conn)?;
    let new_id_ = new_id();
    let subject: String = body
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect();
    let now = crate::db::now();
    diesel::insert_into(tickets::table)
        .values((
            tickets::id.eq(&new_id_),
            tickets::number.eq(new_number),
            tickets::contact_id.eq(&src.0),
            tickets::channel.eq(&src.1),
            tickets::status.eq(crate::tickets::Status::Open.as_str()),
            tickets::queue.eq(&src.2),
            tickets::subject.eq(&subject),
            tickets::language.eq(&src.3),
            tickets::region.eq(&src.4),
            tickets::topic.eq(&src.5),
            tickets::registered_at.eq(src.6),
            tickets::effective_from.eq(&src.7),
            tickets::due_at.eq(src.8),
            tickets::deadline.eq(&src.9),
            tickets::search_text.eq(crate::tickets::search_text_of(&[
                &subject, &body, new_number,
            ])),
            tickets::updated_at.eq(now),
            tickets::applicant.eq(&src.10),
        ))
        .execute(conn)?;
    diesel::update(messages::table.find(message_id))
        .set(messages::ticket_id.eq(&new_id_))
        .execute(conn)?;
    let data = serde_json::json!({"from": number.to_ascii_uppercase(), "message_id": message_id});
    let first = crate::tickets::audit::first_event(&new_id_, &actor.login, "split_from", &data);
    crate::tickets::audit::insert_first(conn, &new_id_, "split_from", &first)?;
    event(
        conn,
        &tid,
        &actor.login,
        "split",
        serde_json::json!({"to": new_number, "message_id": message_id}),
    )?;
    Ok(new_number.to_string())
}
