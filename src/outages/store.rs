//! Outages as rows: declaring, changing, cancelling and completing (each in one
//! transaction with the notice it implies and the jobs it schedules), and the views:
//! one outage with every recipient's proof, the month's compliance, the public list.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::notices;
use super::{
    DeliveryStatus, Impact, NoticeKind, OutageError, OutageInput, OutageKind, OutageStatus, bad,
    check_lead, lead_deadline, lead_text,
};
use crate::AppState;
use crate::db::schema::{bodies, outage_deliveries, outage_notices, outages};
use crate::db::{DbConn, DbError, new_id};
use crate::registry::Names;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outage {
    pub id: String,
    pub kind: OutageKind,
    pub status: OutageStatus,
    pub impact: Impact,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub systems: Vec<String>,
    pub title: Names,
    pub text: Names,
    pub reason: Option<String>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
    pub sequence: i32,
    pub lead_notice_id: Option<String>,
    pub lead_breach: bool,
    pub breach_reason: Option<String>,
    pub breached_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Outage {
    /// `upcoming`, `in_progress`, `ended` (past its end, not yet completed), `completed`, `cancelled`.
    pub fn phase(&self, now: DateTime<Utc>) -> &'static str {
        match self.status {
            OutageStatus::Cancelled => "cancelled",
            OutageStatus::Completed => "completed",
            OutageStatus::Active if now < self.starts_at => "upcoming",
            OutageStatus::Active if now < self.ends_at => "in_progress",
            OutageStatus::Active => "ended",
        }
    }
}

#[derive(Queryable)]
struct Row {
    id: String,
    kind: String,
    status: String,
    impact: String,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    systems: String,
    title_kk: String,
    title_ru: String,
    text_kk: String,
    text_ru: String,
    reason: Option<String>,
    declared_by: String,
    declared_at: NaiveDateTime,
    sequence: i32,
    lead_notice_id: Option<String>,
    lead_breach: i32,
    breach_reason: Option<String>,
    breached_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
    _created_at: NaiveDateTime,
    _updated_at: NaiveDateTime,
}

fn from_row(r: Row) -> Result<Outage, DbError> {
    let parse = |e: String| DbError::Unavailable(format!("an outage row: {e}"));
    Ok(Outage {
        kind: OutageKind::parse(&r.kind).map_err(parse)?,
        status: OutageStatus::parse(&r.status).map_err(parse)?,
        impact: Impact::parse(&r.impact).map_err(parse)?,
        systems: serde_json::from_str(&r.systems).map_err(|e| parse(e.to_string()))?,
        id: r.id,
        starts_at: utc(r.starts_at),
        ends_at: utc(r.ends_at),
        title: Names {
            kk: r.title_kk,
            ru: r.title_ru,
        },
        text: Names {
            kk: r.text_kk,
            ru: r.text_ru,
        },
        reason: r.reason,
        declared_by: r.declared_by,
        declared_at: utc(r.declared_at),
        sequence: r.sequence,
        lead_notice_id: r.lead_notice_id,
        lead_breach: r.lead_breach != 0,
        breach_reason: r.breach_reason,
        breached_at: r.breached_at.map(utc),
        completed_at: r.completed_at.map(utc),
        cancelled_at: r.cancelled_at.map(utc),
    })
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Outage>, DbError> {
    let row: Option<Row> = outages::table.find(id).first(conn).optional()?;
    row.map(from_row).transpose()
}

fn must_get(conn: &mut DbConn, id: &str) -> Result<Outage, OutageError> {
    get(conn, id)?.ok_or_else(|| OutageError::NotFound(format!("no outage `{id}`")))
}

fn check_systems(conn: &mut DbConn, codes: &[String]) -> Result<(), OutageError> {
    let unknown = crate::registry::systems::unknown(conn, codes)?;
    if unknown.is_empty() {
        return Ok(());
    }
    Err(OutageError::Invalid(vec![bad(
        "systems",
        format!(
            "unknown system code(s): {}; see GET /api/v1/systems (an administrator adds systems)",
            unknown.join(", ")
        ),
    )]))
}

/// Declares an outage at `now` (O1): the declaration notice is fanned out in the same
/// transaction, and the reminders, the start notice and the lead check are scheduled.
pub fn declare(
    conn: &mut DbConn,
    app: &AppState,
    input: &OutageInput,
    declared_by: &str,
    now: DateTime<Utc>,
) -> Result<Outage, OutageError> {
    let (
        Some(kind),
        Some(starts_at),
        Some(ends_at),
        Some(systems),
        Some(impact),
        Some(title),
        Some(text),
    ) = (
        input.kind,
        input.starts_at,
        input.ends_at,
        input.systems.clone(),
        input.impact,
        input.title.clone(),
        input.text.clone(),
    )
    else {
        return Err(OutageError::Invalid(vec![bad(
            "body",
            "a declaration needs every field",
        )]));
    };
    let breach = check_lead(kind, starts_at, now, app.config.outage_dispatch_margin)
        .map_err(|e| OutageError::Invalid(vec![e]))?;
    check_systems(conn, &systems)?;
    let id = new_id();
    let at = now.naive_utc();
    diesel::insert_into(outages::table)
        .values((
            outages::id.eq(&id),
            outages::kind.eq(kind.as_str()),
            outages::status.eq(OutageStatus::Active.as_str()),
            outages::impact.eq(impact.as_str()),
            outages::starts_at.eq(starts_at.naive_utc()),
            outages::ends_at.eq(ends_at.naive_utc()),
            outages::systems.eq(serde_json::to_string(&systems).expect("strings serialise")),
            outages::title_kk.eq(&title.kk),
            outages::title_ru.eq(&title.ru),
            outages::text_kk.eq(&text.kk),
            outages::text_ru.eq(&text.ru),
            outages::reason.eq(&input.reason),
            outages::declared_by.eq(declared_by),
            outages::declared_at.eq(at),
            outages::sequence.eq(0),
            outages::lead_breach.eq(i32::from(breach.is_some())),
            outages::breach_reason.eq(&breach),
            outages::breached_at.eq(breach.as_ref().map(|_| at)),
            outages::created_at.eq(at),
            outages::updated_at.eq(at),
        ))
        .execute(conn)?;
    let outage = must_get(conn, &id)?;
    let notice = notices::issue_now(conn, app, &outage, NoticeKind::Declared, now)?;
    set_lead(conn, &id, &notice)?;
    let outage = must_get(conn, &id)?;
    notices::schedule(conn, &outage, &notice, now, now)?;
    Ok(outage)
}

fn set_lead(conn: &mut DbConn, id: &str, notice: &str) -> Result<(), DbError> {
    diesel::update(outages::table.find(id))
        .set(outages::lead_notice_id.eq(notice))
        .execute(conn)?;
    Ok(())
}

fn active(o: &Outage) -> Result<(), OutageError> {
    match o.status {
        OutageStatus::Active => Ok(()),
        s => Err(OutageError::Conflict(format!(
            "the outage is {s}: it no longer changes (declare a new one)"
        ))),
    }
}

/// Reschedules or edits (PATCH). A new start must keep the lead for planned outages; a
/// new start makes the notice that announces it the one the lead is measured on.
pub fn change(
    conn: &mut DbConn,
    app: &AppState,
    id: &str,
    input: &OutageInput,
    now: DateTime<Utc>,
) -> Result<Outage, OutageError> {
    let o = must_get(conn, id)?;
    active(&o)?;
    let starts_at = input.starts_at.unwrap_or(o.starts_at);
    let ends_at = input.ends_at.unwrap_or(o.ends_at);
    if ends_at <= starts_at {
        return Err(OutageError::Invalid(vec![bad(
            if input.ends_at.is_some() {
                "ends_at"
            } else {
                "starts_at"
            },
            format!(
                "the outage would end before it starts (starts_at {}, ends_at {})",
                super::almaty(starts_at),
                super::almaty(ends_at)
            ),
        )]));
    }
    let moved = starts_at != o.starts_at;
    let systems = input.systems.clone().unwrap_or_else(|| o.systems.clone());
    if input.systems.is_some() {
        check_systems(conn, &systems)?;
    }
    // A system added tells bodies that were not told before: their lead counts from now.
    let added = systems.iter().any(|c| !o.systems.contains(c));
    if moved && o.starts_at <= now {
        return Err(OutageError::Conflict(
            "the outage has started: its start no longer moves (change ends_at, or complete it)"
                .into(),
        ));
    }
    let relead = moved || added;
    let mut breach = None;
    if relead {
        breach = check_lead(o.kind, starts_at, now, app.config.outage_dispatch_margin).map_err(
            |(field, message)| {
                let (field, message) = if moved {
                    (field, message)
                } else {
                    (
                        "systems".to_string(),
                        format!(
                            "adding a system tells new bodies, so the lead rule applies: {message}"
                        ),
                    )
                };
                OutageError::Invalid(vec![(field, message)])
            },
        )?;
    }
    if o.kind == OutageKind::Planned && input.reason.is_some() {
        return Err(OutageError::Invalid(vec![bad(
            "reason",
            "only emergency outages give a reason",
        )]));
    }
    let title = input.title.clone().unwrap_or_else(|| o.title.clone());
    let text = input.text.clone().unwrap_or_else(|| o.text.clone());
    let at = now.naive_utc();
    diesel::update(outages::table.find(id))
        .set((
            outages::starts_at.eq(starts_at.naive_utc()),
            outages::ends_at.eq(ends_at.naive_utc()),
            outages::systems.eq(serde_json::to_string(&systems).expect("strings serialise")),
            outages::impact.eq(input.impact.unwrap_or(o.impact).as_str()),
            outages::title_kk.eq(&title.kk),
            outages::title_ru.eq(&title.ru),
            outages::text_kk.eq(&text.kk),
            outages::text_ru.eq(&text.ru),
            outages::reason.eq(input.reason.clone().or(o.reason.clone())),
            outages::sequence.eq(o.sequence + 1),
            outages::updated_at.eq(at),
        ))
        .execute(conn)?;
    if let Some(why) = &breach {
        record_breach(conn, id, why, now)?;
    }
    let changed = must_get(conn, id)?;
    let kind = if moved {
        NoticeKind::Rescheduled
    } else {
        NoticeKind::Edited
    };
    let notice = notices::issue_now(conn, app, &changed, kind, now)?;
    if relead {
        // The 24 h reminder goes when the start was announced more than 48 h ahead.
        let announced = match (&o.lead_notice_id, moved) {
            (Some(old), false) => notice_time(conn, old)?.unwrap_or(now),
            _ => now,
        };
        set_lead(conn, id, &notice)?;
        let changed = must_get(conn, id)?;
        notices::schedule(conn, &changed, &notice, announced, now)?;
    }
    must_get(conn, id)
}

/// Marks the outage as having missed its lead (kept: compliance reports it).
pub fn record_breach(
    conn: &mut DbConn,
    id: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let o = get(conn, id)?;
    let reason = match o.as_ref().and_then(|o| o.breach_reason.clone()) {
        Some(old) if old.contains(why) => old,
        Some(old) => format!("{old}; {why}"),
        None => why.to_string(),
    };
    diesel::update(outages::table.find(id))
        .set((
            outages::lead_breach.eq(1),
            outages::breach_reason.eq(reason),
            outages::breached_at.eq(o.and_then(|o| o.breached_at).unwrap_or(now).naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn cancel(
    conn: &mut DbConn,
    app: &AppState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Outage, OutageError> {
    let o = must_get(conn, id)?;
    active(&o)?;
    let at = now.naive_utc();
    diesel::update(outages::table.find(id))
        .set((
            outages::status.eq(OutageStatus::Cancelled.as_str()),
            outages::cancelled_at.eq(at),
            outages::sequence.eq(o.sequence + 1),
            outages::updated_at.eq(at),
        ))
        .execute(conn)?;
    let o = must_get(conn, id)?;
    notices::issue_now(conn, app, &o, NoticeKind::Cancelled, now)?;
    Ok(o)
}

pub fn complete(
    conn: &mut DbConn,
    app: &AppState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Outage, OutageError> {
    let o = must_get(conn, id)?;
    active(&o)?;
    if now < o.starts_at {
        return Err(OutageError::Conflict(format!(
            "the outage has not started (it starts {}): cancel it instead",
            super::almaty(o.starts_at)
        )));
    }
    let at = now.naive_utc();
    diesel::update(outages::table.find(id))
        .set((
            outages::status.eq(OutageStatus::Completed.as_str()),
            outages::completed_at.eq(at),
            outages::updated_at.eq(at),
        ))
        .execute(conn)?;
    let o = must_get(conn, id)?;
    notices::issue_now(conn, app, &o, NoticeKind::Completed, now)?;
    Ok(o)
}

// ---------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub channel: String,
    pub address: String,
    pub person_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub accepted_reply: Option<String>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub body_id: String,
    pub name: Names,
    /// `reached` (a delivery accepted in time), `late` (accepted after the deadline),
    /// `pending` (still trying), `unreached` (every delivery failed, or the deadline passed).
    pub state: &'static str,
    pub reached_at: Option<DateTime<Utc>>,
    /// The lead achieved: start minus the first accepted delivery, in seconds.
    pub lead_seconds: Option<i64>,
    pub lead: Option<String>,
    pub deliveries: Vec<DeliveryView>,
}

type DeliveryRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i32,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

fn deliveries_of(
    conn: &mut DbConn,
    notice_id: &str,
) -> Result<Vec<(String, DeliveryView)>, DbError> {
    let rows: Vec<DeliveryRow> = outage_deliveries::table
        .filter(outage_deliveries::notice_id.eq(notice_id))
        .order((
            outage_deliveries::body_id.asc(),
            outage_deliveries::channel.asc(),
            outage_deliveries::address.asc(),
        ))
        .select((
            outage_deliveries::id,
            outage_deliveries::body_id,
            outage_deliveries::channel,
            outage_deliveries::address,
            outage_deliveries::person_id,
            outage_deliveries::status,
            outage_deliveries::attempts,
            outage_deliveries::queued_at,
            outage_deliveries::sent_at,
            outage_deliveries::accepted_reply,
            outage_deliveries::last_error,
            outage_deliveries::last_attempt_at,
            outage_deliveries::failed_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.1,
                DeliveryView {
                    id: r.0,
                    channel: r.2,
                    address: r.3,
                    person_id: r.4,
                    status: r.5,
                    attempts: r.6,
                    queued_at: utc(r.7),
                    sent_at: r.8.map(utc),
                    accepted_reply: r.9,
                    last_error: r.10,
                    last_attempt_at: r.11.map(utc),
                    failed_at: r.12.map(utc),
                },
            )
        })
        .collect())
}

/// Every recipient of `notice_id` with its state against the lead deadline of `starts_at`.
pub fn recipients(
    conn: &mut DbConn,
    notice_id: &str,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<RecipientView>, DbError> {
    let deadline = lead_deadline(starts_at);
    let mut by_body: Vec<(String, Vec<DeliveryView>)> = Vec::new();
    for (body, d) in deliveries_of(conn, notice_id)? {
        match by_body.last_mut() {
            Some((b, list)) if *b == body => list.push(d),
            _ => by_body.push((body, vec![d])),
        }
    }
    let ids: Vec<&String> = by_body.iter().map(|(b, _)| b).collect();
    let mut names: HashMap<String, Names> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String)> = bodies::table
            .filter(bodies::id.eq_any(chunk))
            .select((bodies::id, bodies::name_kk, bodies::name_ru))
            .load(conn)?;
        for (id, kk, ru) in rows {
            names.insert(id, Names { kk, ru });
        }
    }
    Ok(by_body
        .into_iter()
        .map(|(body_id, deliveries)| {
            let reached_at = deliveries.iter().filter_map(|d| d.sent_at).min();
            let all_failed = deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Failed.as_str());
            let state = match reached_at {
                Some(t) if t <= deadline => "reached",
                Some(_) => "late",
                None if all_failed || now > deadline => "unreached",
                None => "pending",
            };
            let lead = reached_at.map(|t| starts_at - t);
            RecipientView {
                name: names.remove(&body_id).unwrap_or(Names {
                    kk: body_id.clone(),
                    ru: body_id.clone(),
                }),
                body_id,
                state,
                reached_at,
                lead_seconds: lead.map(|l| l.num_seconds()),
                lead: lead.map(lead_text),
                deliveries,
            }
        })
        .collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    pub id: String,
    pub kind: String,
    pub sequence: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub recipients: i32,
    pub deliveries: HashMap<String, i64>,
}

pub fn notices_of(conn: &mut DbConn, outage_id: &str) -> Result<Vec<NoticeView>, DbError> {
    type N = (
        String,
        String,
        i32,
        NaiveDateTime,
        NaiveDateTime,
        NaiveDateTime,
        i32,
    );
    let rows: Vec<N> = outage_notices::table
        .filter(outage_notices::outage_id.eq(outage_id))
        .order((outage_notices::created_at.asc(), outage_notices::id.asc()))
        .select((
            outage_notices::id,
            outage_notices::kind,
            outage_notices::sequence,
            outage_notices::starts_at,
            outage_notices::ends_at,
            outage_notices::created_at,
            outage_notices::recipients,
        ))
        .load(conn)?;
    let counts: Vec<(String, String, i64)> = outage_deliveries::table
        .filter(outage_deliveries::outage_id.eq(outage_id))
        .group_by((outage_deliveries::notice_id, outage_deliveries::status))
        .select((
            outage_deliveries::notice_id,
            outage_deliveries::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| NoticeView {
            deliveries: counts
                .iter()
                .filter(|c| c.0 == r.0)
                .map(|c| (c.1.clone(), c.2))
                .collect(),
            id: r.0,
            kind: r.1,
            sequence: r.2,
            starts_at: utc(r.3),
            ends_at: utc(r.4),
            created_at: utc(r.5),
            recipients: r.6,
        })
        .collect())
}

/// When the notice the lead is measured on was issued.
pub fn notice_time(conn: &mut DbConn, notice_id: &str) -> Result<Option<DateTime<Utc>>, DbError> {
    Ok(outage_notices::table
        .find(notice_id)
        .select(outage_notices::created_at)
        .first::<NaiveDateTime>(conn)
        .optional()?
        .map(utc))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadSummary {
    pub deadline: DateTime<Utc>,
    pub notice_id: Option<String>,
    /// Start minus the time the lead notice was issued.
    pub announced_seconds: Option<i64>,
    /// The smallest lead achieved over recipients; none while any is not reached.
    pub min_achieved_seconds: Option<i64>,
    pub min_achieved: Option<String>,
    pub recipients: usize,
    pub reached: usize,
    pub late: usize,
    pub pending: usize,
    pub unreached: usize,
}

pub fn summarise(o: &Outage, issued: Option<DateTime<Utc>>, list: &[RecipientView]) -> LeadSummary {
    let count = |s: &str| list.iter().filter(|r| r.state == s).count();
    let all_reached = list.iter().all(|r| r.reached_at.is_some());
    let min = list
        .iter()
        .filter_map(|r| r.lead_seconds)
        .min()
        .filter(|_| all_reached && !list.is_empty());
    LeadSummary {
        deadline: lead_deadline(o.starts_at),
        notice_id: o.lead_notice_id.clone(),
        announced_seconds: issued.map(|t| (o.starts_at - t).num_seconds()),
        min_achieved_seconds: min,
        min_achieved: min.map(|s| lead_text(chrono::Duration::seconds(s))),
        recipients: list.len(),
        reached: count("reached"),
        late: count("late"),
        pending: count("pending"),
        unreached: count("unreached"),
    }
}

/// The outage's lead summary and the recipients of the notice it is measured on.
pub fn lead_of(
    conn: &mut DbConn,
    o: &Outage,
    now: DateTime<Utc>,
) -> Result<(LeadSummary, Vec<RecipientView>), DbError> {
    let (list, issued) = match &o.lead_notice_id {
        Some(n) => (
            recipients(conn, n, o.starts_at, now)?,
            notice_time(conn, n)?,
        ),
        None => (Vec::new(), None),
    };
    Ok((summarise(o, issued, &list), list))
}

/// `GET /api/v1/outages/{id}`: the outage, its lead and each recipient's proof.
pub fn detail(
    conn: &mut DbConn,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<serde_json::Value>, DbError> {
    let Some(o) = get(conn, id)? else {
        return Ok(None);
    };
    let (lead, list) = lead_of(conn, &o, now)?;
    let mut v = serde_json::to_value(&o).expect("an outage serialises");
    v["phase"] = o.phase(now).into();
    v["lead"] = serde_json::to_value(&lead).expect("serialises");
    v["recipients"] = serde_json::to_value(&list).expect("serialises");
    v["notices"] = serde_json::to_value(notices_of(conn, id)?).expect("serialises");
    Ok(Some(v))
}

/// Outages starting in `[from, to)`, oldest first.
pub fn starting_between(
    conn: &mut DbConn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Outage>, DbError> {
    let rows: Vec<Row> = outages::table
        .filter(outages::starts_at.ge(from.naive_utc()))
        .filter(outages::starts_at.lt(to.naive_utc()))
        .order((outages::starts_at.asc(), outages::id.asc()))
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

/// The month's outages with their minimum lead and breaches (the ICT report uses it).
pub fn compliance(
    conn: &mut DbConn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, DbError> {
    let mut items = Vec::new();
    let mut breaches = 0;
    for o in starting_between(conn, from, to)? {
        let (lead, list) = lead_of(conn, &o, now)?;
        if o.lead_breach {
            breaches += 1;
        }
        items.push(serde_json::json!({
            "id": o.id, "kind": o.kind, "status": o.status, "title": o.title,
            "starts_at": o.starts_at, "ends_at": o.ends_at, "declared_at": o.declared_at,
            "lead": lead, "lead_breach": o.lead_breach, "breach_reason": o.breach_reason,
            "unreached": list.iter().filter(|r| r.state != "reached").map(|r| serde_json::json!({
                "body_id": r.body_id, "name": r.name, "state": r.state,
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(serde_json::json!({ "outages": items.len(), "breaches": breaches, "items": items }))
}

/// Active outages not yet over, soonest first (the public page and feed).
pub fn current_and_upcoming(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<Outage>, DbError> {
    let rows: Vec<Row> = outages::table
        .filter(outages::status.eq(OutageStatus::Active.as_str()))
        .filter(outages::ends_at.gt(now.naive_utc()))
        .order((outages::starts_at.asc(), outages::id.asc()))
        .limit(500)
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}

/// The outages a calendar subscription shows, each with its lead summary (the list of
/// `GET /api/v1/outages` and the ICI operator's portal).
pub fn list_with_lead(
    conn: &mut DbConn,
    now: DateTime<Utc>,
) -> Result<Vec<serde_json::Value>, DbError> {
    let mut out = Vec::new();
    for o in for_feed(conn, now)? {
        let (lead, _) = lead_of(conn, &o, now)?;
        let mut v = serde_json::to_value(&o).expect("an outage serialises");
        v["phase"] = o.phase(now).into();
        v["lead"] = serde_json::to_value(&lead).expect("serialises");
        out.push(v);
    }
    Ok(out)
}

/// What a calendar subscription shows: everything ending in the last 30 days or later,
/// cancelled ones included (so calendars drop them).
pub fn for_feed(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<Outage>, DbError> {
    let rows: Vec<Row> = outages::table
        .filter(outages::ends_at.gt((now - chrono::Duration::days(30)).naive_utc()))
        .order((outages::starts_at.asc(), outages::id.asc()))
        .limit(1000)
        .load(conn)?;
    rows.into_iter().map(from_row).collect()
}
