//! R5 deadline escalation, the first timers: a reminder to whoever works the ticket some
//! working hours before its due instant, an escalation to the queue's supervisors when
//! it becomes overdue, and a daily digest of overdue tickets to supervisors.
//!
//! Timers only enqueue (see `timers`); the per-ticket jobs carry a dedupe key per ticket,
//! so however many sweeps and instances see a ticket, it is reminded and escalated once.
//! Each job checks "answered" again when it runs and in its own transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::Text;
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::db::schema::{jobs as job_rows, tickets, users};
use crate::db::{DbConn, DbError};
use crate::jobs::staff::queue_notice;
use crate::jobs::{self, Failure, Job, JobContext, Retry};
use crate::queues::{self, Queue, StaffAddress};
use crate::templates::local_time;
use crate::tickets::answered;

/// Tickets due further ahead than this are not looked at yet (long holidays included).
const LOOK_AHEAD_DAYS: i64 = 15;
/// Escalations are for tickets that just became overdue; older ones are in the digest.
const ESCALATE_WITHIN_DAYS: i64 = 7;
/// At most this many tickets are handled per sweep; the next tick takes the rest.
const SWEEP_LIMIT: i64 = 500;

fn db_failure(e: DbError) -> Failure {
    (e.to_string(), Retry::After(None))
}

/// One tick of the deadline timer: finds tickets whose reminder or escalation is due
/// and enqueues one job for each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadlineSweep {
    /// The tick, `2026-12-01T10:15` (UTC minute).
    pub tick: String,
}

impl Job for DeadlineSweep {
    const NAME: &'static str = "deadline_sweep";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.tick))
    }

    fn max_attempts(&self) -> i32 {
        // The next tick does the same work.
        1
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        let queued = app
            .db
            .write(move |c| sweep(c, &shared, now))
            .await
            .map_err(db_failure)?;
        if queued > 0 {
            app.jobs_wakeup.notify_one();
        }
        Ok(())
    }
}

/// `"deadline_reminder:" || tickets.id`, the dedupe key of a ticket's timer job.
fn key_of(
    kind: &'static str,
) -> diesel::dsl::Concat<diesel::dsl::AsExprOf<String, Text>, tickets::id> {
    use diesel::IntoSql;
    format!("{kind}:").into_sql::<Text>().concat(tickets::id)
}

fn timer_key(kind: &str, ticket_id: &str) -> String {
    format!("{kind}:{ticket_id}")
}

fn sweep(c: &mut DbConn, app: &Arc<AppState>, now: DateTime<Utc>) -> Result<usize, DbError> {
    let now_naive = now.naive_utc();
    let mut queues_seen: HashMap<String, Option<Queue>> = HashMap::new();
    let mut queued = 0;
    // Reminders: unanswered, not yet due, no reminder job yet.
    let soon: Vec<(String, String, NaiveDateTime)> = tickets::table
        .filter(answered::unanswered())
        .filter(tickets::due_at.gt(now_naive))
        .filter(tickets::due_at.le(now_naive + TimeDelta::days(LOOK_AHEAD_DAYS)))
        .filter(not(exists(job_rows::table.filter(
            job_rows::dedupe_key.eq(key_of(DeadlineReminder::NAME).nullable()),
        ))))
        .order(tickets::due_at.asc())
        .limit(SWEEP_LIMIT)
        .select((tickets::id, tickets::queue, tickets::due_at))
        .load(c)?;
    let calendar = app.calendar();
    for (id, queue, due) in soon {
        let q = match queues_seen.get(&queue) {
            Some(q) => q.clone(),
            None => {
                let q = queues::get(c, &queue)?;
                queues_seen.insert(queue.clone(), q.clone());
                q
            }
        };
        let (enabled, hours) = reminder_settings(app, q.as_ref());
        if !enabled {
            continue;
        }
        let Ok(remind_at) =
            calendar.working_hours_before(due.and_utc(), hours, &app.config.working_hours)
        else {
            continue;
        };
        if remind_at <= now {
            let job = DeadlineReminder {
                ticket_id: id,
                due_at: due,
                hours,
            };
            jobs::enqueue_job(c, &job, Some(remind_at.naive_utc()))?;
            queued += 1;
        }
    }
    // Escalations: unanswered, just overdue, not escalated yet.
    let late: Vec<(String, NaiveDateTime)> = tickets::table
        .filter(answered::overdue(now))
        .filter(tickets::due_at.gt(now_naive - TimeDelta::days(ESCALATE_WITHIN_DAYS)))
        .filter(not(exists(job_rows::table.filter(
            job_rows::dedupe_key.eq(key_of(DeadlineEscalation::NAME).nullable()),
        ))))
        .order(tickets::due_at.asc())
        .limit(SWEEP_LIMIT)
        .select((tickets::id, tickets::due_at))
        .load(c)?;
    for (id, due) in late {
        let job = DeadlineEscalation {
            ticket_id: id,
            due_at: due,
        };
        jobs::enqueue_job(c, &job, Some(due))?;
        queued += 1;
    }
    Ok(queued)
}

/// Whether reminders go for a queue, and how many working hours before the due instant.
pub fn reminder_settings(app: &AppState, queue: Option<&Queue>) -> (bool, u32) {
    let enabled = app.config.reminders_enabled && queue.is_none_or(|q| q.reminders_enabled);
    let hours = queue
        .and_then(|q| q.reminder_hours)
        .unwrap_or(app.config.reminder_hours);
    (enabled, hours)
}

/// What a timer job needs to know about its ticket.
struct Watched {
    id: String,
    number: String,
    subject: String,
    queue: String,
    status: String,
    answered_at: Option<NaiveDateTime>,
    due_at: NaiveDateTime,
    assignee_id: Option<String>,
}

fn watched(c: &mut DbConn, id: &str) -> Result<Option<Watched>, DbError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<NaiveDateTime>,
        NaiveDateTime,
        Option<String>,
    );
    let row: Option<Row> = tickets::table
        .find(id)
        .select((
            tickets::id,
            tickets::number,
            tickets::subject,
            tickets::queue,
            tickets::status,
            tickets::answered_at,
            tickets::due_at,
            tickets::assignee_id,
        ))
        .first(c)
        .optional()?;
    Ok(row.map(|r| Watched {
        id: r.0,
        number: r.1,
        subject: r.2,
        queue: r.3,
        status: r.4,
        answered_at: r.5,
        due_at: r.6,
        assignee_id: r.7,
    }))
}

fn unique(list: Vec<StaffAddress>) -> Vec<StaffAddress> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|s| seen.insert(s.user_id.clone()))
        .collect()
}

/// Sends one notice per recipient and records on the ticket's audit log who got it.
fn notify(
    c: &mut DbConn,
    t: &Watched,
    kind: &str,
    to: &[StaffAddress],
    rendered: &crate::tickets::Rendered,
    extra: serde_json::Value,
) -> Result<(), DbError> {
    let mut sent_to = Vec::new();
    let mut without_email = Vec::new();
    for s in to {
        match queue_notice(c, kind, Some(&t.id), s, rendered)? {
            Some(_) => sent_to.push(s.login.clone()),
            None => without_email.push(s.login.clone()),
        }
    }
    crate::tickets::event(
        c,
        &t.id,
        "system",
        kind,
        serde_json::json!({
            "due_at": crate::tickets::almaty(&t.due_at),
            "to": sent_to,
            "without_email": without_email,
            "internal": true,
            "details": extra,
        }),
    )
}

/// R5: the reminder to the assignee (or, unassigned, the queue's supervisors and
/// members) some working hours before the due instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadlineReminder {
    pub ticket_id: String,
    pub due_at: NaiveDateTime,
    pub hours: u32,
}

impl Job for DeadlineReminder {
    const NAME: &'static str = "deadline_reminder";

    fn dedupe_key(&self) -> Option<String> {
        Some(timer_key(Self::NAME, &self.ticket_id))
    }

    fn ticket_id(&self) -> Option<&str> {
        Some(&self.ticket_id)
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        app.db
            .write(move |c| {
                let Some(t) = watched(c, &self.ticket_id)? else {
                    return Ok(());
                };
                // Answered (or closed) in time, or already late: no reminder.
                if answered::is_answered(t.answered_at, &t.status) || t.due_at <= now.naive_utc() {
                    return Ok(());
                }
                let queue = queues::get(c, &t.queue)?;
                if !reminder_settings(&shared, queue.as_ref()).0 {
                    return Ok(());
                }
                let assignee = match &t.assignee_id {
                    Some(uid) => queues::staff_by_id(c, uid)?,
                    None => None,
                };
                let to = match (assignee, &queue) {
                    (Some(a), _) => vec![a],
                    (None, Some(q)) => {
                        let mut all = queues::supervisors_of(c, q)?;
                        all.extend(queues::members_of(c, &q.code)?);
                        unique(all)
                    }
                    (None, None) => Vec::new(),
                };
                let rendered = shared
                    .templates
                    .staff_notice(
                        "reminder",
                        shared.config.staff_language,
                        context! {
                            number => &t.number, subject => &t.subject, queue => &t.queue,
                            due => local_time(t.due_at.and_utc()), hours => self.hours,
                        },
                    )
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                notify(
                    c,
                    &t,
                    "deadline_reminder",
                    &to,
                    &rendered,
                    serde_json::json!({"hours_before": self.hours}),
                )
            })
            .await
            .map_err(db_failure)?;
        app.jobs_wakeup.notify_one();
        Ok(())
    }
}

/// R5: the escalation to the queue's supervisors when the ticket becomes overdue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadlineEscalation {
    pub ticket_id: String,
    pub due_at: NaiveDateTime,
}

impl Job for DeadlineEscalation {
    const NAME: &'static str = "deadline_escalation";

    fn dedupe_key(&self) -> Option<String> {
        Some(timer_key(Self::NAME, &self.ticket_id))
    }

    fn ticket_id(&self) -> Option<&str> {
        Some(&self.ticket_id)
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        app.db
            .write(move |c| {
                let Some(t) = watched(c, &self.ticket_id)? else {
                    return Ok(());
                };
                if !answered::is_overdue(t.answered_at, &t.status, t.due_at, now) {
                    return Ok(());
                }
                let to = match queues::get(c, &t.queue)? {
                    Some(q) => queues::supervisors_of(c, &q)?,
                    None => Vec::new(),
                };
                let assignee: Option<String> = match &t.assignee_id {
                    Some(uid) => users::table
                        .find(uid)
                        .select(users::login)
                        .first(c)
                        .optional()?,
                    None => None,
                };
                let rendered = shared
                    .templates
                    .staff_notice(
                        "escalation",
                        shared.config.staff_language,
                        context! {
                            number => &t.number, subject => &t.subject, queue => &t.queue,
                            due => local_time(t.due_at.and_utc()), assignee,
                        },
                    )
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                notify(
                    c,
                    &t,
                    "deadline_escalated",
                    &to,
                    &rendered,
                    serde_json::json!({}),
                )
            })
            .await
            .map_err(db_failure)?;
        app.jobs_wakeup.notify_one();
        Ok(())
    }
}

/// The daily overdue digest to supervisors, at the start of working hours on working
/// days. Its record is this job (one per day, by its key) and the `staff_notices` it
/// queued (kind `overdue_digest`, listing the numbers); tickets get no event for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverdueDigest {
    /// The Almaty working day it is for.
    pub date: NaiveDate,
}

/// Tickets listed in one digest at most (the oldest first); the list API has the rest.
const DIGEST_LIMIT: i64 = 200;

impl Job for OverdueDigest {
    const NAME: &'static str = "overdue_digest";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.date))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        let date = self.date;
        app.db
            .write(move |c| digest(c, &shared, date, now))
            .await
            .map_err(db_failure)?;
        app.jobs_wakeup.notify_one();
        Ok(())
    }
}

fn digest(
    c: &mut DbConn,
    app: &AppState,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    // A digest that runs on a later day than its own (a backlog, a restart) is dropped:
    // it would list that day's overdue tickets under another day's date, and the day's
    // own digest follows. As for a day the server was down: not caught up.
    if now.with_timezone(&chrono_tz::Asia::Almaty).date_naive() != date {
        tracing::info!(%date, "a stale overdue digest is skipped");
        return Ok(());
    }
    let rows: Vec<(String, String, String, NaiveDateTime)> = tickets::table
        .filter(answered::overdue(now))
        .order(tickets::due_at.asc())
        .limit(DIGEST_LIMIT)
        .select((
            tickets::number,
            tickets::queue,
            tickets::subject,
            tickets::due_at,
        ))
        .load(c)?;
    if rows.is_empty() {
        return Ok(());
    }
    // Supervisor -> the overdue tickets of the queues they supervise.
    let mut per_queue: BTreeMap<String, Vec<StaffAddress>> = BTreeMap::new();
    let mut lists: BTreeMap<String, (StaffAddress, Vec<minijinja::Value>)> = BTreeMap::new();
    for (number, queue, subject, due) in rows {
        if !per_queue.contains_key(&queue) {
            let sups = match queues::get(c, &queue)? {
                Some(q) => queues::supervisors_of(c, &q)?,
                None => Vec::new(),
            };
            per_queue.insert(queue.clone(), sups);
        }
        for s in per_queue.get(&queue).into_iter().flatten() {
            let entry = lists
                .entry(s.user_id.clone())
                .or_insert_with(|| (s.clone(), Vec::new()));
            entry.1.push(context! {
                number => &number, queue => &queue, subject => &subject,
                due => local_time(due.and_utc()),
            });
        }
    }
    let day = date.format("%d.%m.%Y").to_string();
    for (_, (to, tickets)) in lists {
        let rendered = app
            .templates
            .staff_notice(
                "digest",
                app.config.staff_language,
                context! { date => &day, tickets },
            )
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        queue_notice(c, OverdueDigest::NAME, None, &to, &rendered)?;
    }
    Ok(())
}
