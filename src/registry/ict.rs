//! R12: state bodies are applicants too. A contact can be a registry body's staff
//! member; their ICT questions (configured topics) go to the ICT queue, created when
//! missing, with the ICT deadline of F3 (configured working days) instead of R5's.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::RegistryError;
use crate::calendar::{Calendar, Deadline, WorkingHours};
use crate::db::schema::{bodies, contacts, tickets};
use crate::db::{DbConn, DbError};

/// Where ICT questions of registry bodies go, and how fast they are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IctRouting {
    pub queue: String,
    /// Topic codes that are ICT questions.
    pub topics: Vec<String>,
    pub working_days: u32,
}

impl IctRouting {
    pub fn is_ict_topic(&self, topic: Option<&str>) -> bool {
        topic.is_some_and(|t| self.topics.iter().any(|x| x == t))
    }

    /// The F3 deadline of an ICT question registered at `at`.
    pub fn deadline(
        &self,
        calendar: &Calendar,
        hours: &WorkingHours,
        at: DateTime<Utc>,
    ) -> Result<Deadline, String> {
        calendar
            .working_days_due(at, self.working_days, "F3", hours)
            .map_err(|e| e.to_string())
    }
}

/// The ICT queue exists (created with plain names when missing; instances racing to
/// create it add one row). Says whether it is open: an administrator may have closed it,
/// and then ICT questions keep their F3 deadline in the queue they are in.
pub fn ensure_queue(conn: &mut DbConn, code: &str) -> Result<bool, DbError> {
    let at = crate::db::now();
    diesel::sql_query(
        "INSERT INTO queues (code, name_kk, name_ru, supervisors, reminders_enabled, \
         reminder_hours, created_at, updated_at) VALUES ($1, 'АКТ сұрақтары', 'Вопросы ИКТ', \
         '[]', 1, NULL, $2, $3) ON CONFLICT (code) DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(code)
    .bind::<diesel::sql_types::Timestamp, _>(at)
    .bind::<diesel::sql_types::Timestamp, _>(at)
    .execute(conn)?;
    crate::queues::is_open(conn, code)
}

/// At registration: the deadline of a body's ICT question and its queue (`None` while
/// the ICT queue is closed), or `None` for everyone else (one lookup, only for ICT topics).
pub fn at_intake(
    conn: &mut DbConn,
    routing: &IctRouting,
    calendar: &Calendar,
    hours: &WorkingHours,
    contact_id: &str,
    topic: Option<&str>,
    registered_at: DateTime<Utc>,
) -> Result<Option<(Option<String>, Deadline)>, DbError> {
    if !routing.is_ict_topic(topic) {
        return Ok(None);
    }
    let body: Option<Option<String>> = contacts::table
        .find(contact_id)
        .select(contacts::body_id)
        .first(conn)
        .optional()?;
    if body.flatten().is_none() {
        return Ok(None);
    }
    let Ok(deadline) = routing.deadline(calendar, hours, registered_at) else {
        // Outside the calendar's years: R5's deadline (computed by the caller) stands.
        return Ok(None);
    };
    let open = ensure_queue(conn, &routing.queue)?;
    Ok(Some((open.then(|| routing.queue.clone()), deadline)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactBody {
    pub number: String,
    pub body_id: Option<String>,
    /// The ticket got the F3 deadline, and moved to the ICT queue unless an administrator
    /// closed that queue (`queue` says where it is).
    pub routed_to_ict: bool,
    pub queue: String,
    pub due_at: String,
}

/// Sets (or clears) the registry body of a ticket's contact; an unanswered ICT question
/// of theirs then moves to the ICT queue with the F3 deadline.
pub fn set_contact_body(
    conn: &mut DbConn,
    routing: &IctRouting,
    calendar: &Calendar,
    hours: &WorkingHours,
    number: &str,
    body: Option<&str>,
    by: &str,
) -> Result<ContactBody, RegistryError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        String,
        Option<chrono::NaiveDateTime>,
        chrono::NaiveDateTime,
        String,
        chrono::NaiveDateTime,
    );
    let row: Option<Row> = tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select((
            tickets::id,
            tickets::number,
            tickets::contact_id,
            tickets::topic,
            tickets::status,
            tickets::answered_at,
            tickets::registered_at,
            tickets::queue,
            tickets::due_at,
        ))
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    let Some((id, number, contact, topic, status, answered_at, registered_at, queue, due_at)) = row
    else {
        return Err(RegistryError::NotFound(format!(
            "ticket {number} not found"
        )));
    };
    if let Some(b) = body {
        let known: Option<String> = bodies::table
            .find(b)
            .select(bodies::id)
            .first(conn)
            .optional()
            .map_err(DbError::Query)?;
        if known.is_none() {
            return Err(RegistryError::Invalid(vec![super::bad(
                "body",
                format!("no body `{b}` in the registry"),
            )]));
        }
    }
    diesel::update(contacts::table.find(&contact))
        .set(contacts::body_id.eq(body))
        .execute(conn)
        .map_err(DbError::Query)?;
    crate::tickets::event(
        conn,
        &id,
        by,
        "contact_body_set",
        serde_json::json!({"body_id": body}),
    )?;
    let mut out = ContactBody {
        number: number.clone(),
        body_id: body.map(str::to_string),
        routed_to_ict: false,
        queue: queue.clone(),
        due_at: crate::tickets::almaty(&due_at),
    };
    let unanswered = !crate::tickets::answered::is_answered(answered_at, &status);
    if body.is_some()
        && unanswered
        && queue != routing.queue
        && routing.is_ict_topic(topic.as_deref())
    {
        let deadline = routing
            .deadline(calendar, hours, registered_at.and_utc())
            .map_err(|m| {
                RegistryError::Conflict(format!("the F3 deadline cannot be computed: {m}"))
            })?;
        // A closed ICT queue takes no tickets: the question keeps its queue, with F3's deadline.
        let to = if ensure_queue(conn, &routing.queue)? {
            routing.queue.clone()
        } else {
            queue.clone()
        };
        diesel::update(tickets::table.find(&id))
            .set((
                tickets::queue.eq(&to),
                tickets::due_at.eq(deadline.due_at.naive_utc()),
                tickets::effective_from.eq(deadline.effective_from.to_string()),
                tickets::deadline.eq(serde_json::to_string(&deadline).unwrap_or_default()),
                tickets::updated_at.eq(crate::db::now()),
            ))
            .execute(conn)
            .map_err(DbError::Query)?;
        crate::tickets::event(
            conn,
            &id,
            by,
            "ict_routed",
            serde_json::json!({
                "from_queue": queue, "queue": to, "rule": "F3",
                "due_at": deadline.due_at, "working_days": routing.working_days,
            }),
        )?;
        out.routed_to_ict = true;
        out.queue = to;
        out.due_at = crate::tickets::almaty(&deadline.due_at.naive_utc());
    }
    Ok(out)
}
