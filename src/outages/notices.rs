//! Who is told and what: a notice freezes its recipient list when it is issued (bodies
//! subscribed to an affected system, plus every central, local, provider and e-service
//! body that subscribed to nothing), renders its text once (Kazakh and Russian, with an
//! iCalendar part), and queues one delivery per recipient address and channel, all in
//! the caller's transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use minijinja::context;

use super::jobs::{OutageDelivery, OutageLeadCheck, OutageNotice};
use super::store::Outage;
use super::{DeliveryStatus, NoticeChannel, NoticeKind, lead_deadline};
use crate::AppState;
use crate::db::schema::{
    bodies, body_persons, body_systems, jobs, outage_deliveries, outage_notices, systems,
};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Job, JobStatus, enqueue_job};
use crate::registry::{BodyKind, Names};

/// A person's id, body, e-mail and chat.
type PersonRow = (String, String, Option<String>, Option<String>);

/// One address of one recipient body.
#[derive(Debug, Clone)]
pub struct Address {
    pub body_id: String,
    pub person_id: Option<String>,
    pub channel: NoticeChannel,
    pub address: String,
}

/// The recipients of an outage on `codes`: every address of every body told, one per
/// channel and address; a body with no address at all gets one `none` entry.
pub fn recipients(conn: &mut DbConn, codes: &[String]) -> Result<Vec<Address>, DbError> {
    type B = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let all: Vec<B> = bodies::table
        .filter(bodies::active.eq(1))
        .order(bodies::id.asc())
        .select((
            bodies::id,
            bodies::kind,
            bodies::email,
            bodies::telegram_chat_id,
            bodies::webhook_url,
            bodies::webhook_secret,
        ))
        .load(conn)?;
    let subs: Vec<(String, String)> = body_systems::table
        .select((body_systems::body_id, body_systems::system_code))
        .load(conn)?;
    let mut subscribed_any: HashSet<&str> = HashSet::new();
    let mut affected: HashSet<&str> = HashSet::new();
    for (body, code) in &subs {
        subscribed_any.insert(body);
        if codes.iter().any(|c| c == code) {
            affected.insert(body);
        }
    }
    let told: Vec<&B> = all
        .iter()
        .filter(|b| {
            affected.contains(b.0.as_str())
                || (!subscribed_any.contains(b.0.as_str())
                    && BodyKind::parse(&b.1).is_ok_and(BodyKind::told_of_every_outage))
        })
        .collect();
    let told_ids: HashSet<&str> = told.iter().map(|b| b.0.as_str()).collect();
    let persons: Vec<PersonRow> = body_persons::table
        .filter(body_persons::active.eq(1))
        .order(body_persons::id.asc())
        .select((
            body_persons::id,
            body_persons::body_id,
            body_persons::email,
            body_persons::telegram_chat_id,
        ))
        .load(conn)?;
    let mut persons_of: HashMap<&str, Vec<&PersonRow>> = HashMap::new();
    for p in &persons {
        if told_ids.contains(p.1.as_str()) {
            persons_of.entry(p.1.as_str()).or_default().push(p);
        }
    }
    let mut out: Vec<Address> = Vec::new();
    for b in told {
        let mut mine: Vec<Address> = Vec::new();
        // An address two bodies share is told once per notice (a notice's deliveries are
        // unique by channel and address): the first body's delivery covers the other.
        let mut shared = false;
        let mut add =
            |person: Option<&String>, channel: NoticeChannel, address: &Option<String>| {
                let Some(a) = address.as_deref().map(str::trim).filter(|a| !a.is_empty()) else {
                    return;
                };
                let key = if channel == NoticeChannel::Email {
                    a.to_lowercase()
                } else {
                    a.to_string()
                };
                if out.iter().any(|m| m.channel == channel && m.address == key) {
                    shared = true;
                } else if !mine
                    .iter()
                    .any(|m| m.channel == channel && m.address == key)
                {
                    mine.push(Address {
                        body_id: b.0.clone(),
                        person_id: person.cloned(),
                        channel,
                        address: key,
                    });
                }
            };
        add(None, NoticeChannel::Email, &b.2);
        add(None, NoticeChannel::Telegram, &b.3);
        if b.5.is_some() {
            add(None, NoticeChannel::Webhook, &b.4);
        }
        for p in persons_of.get(b.0.as_str()).into_iter().flatten() {
            add(Some(&p.0), NoticeChannel::Email, &p.2);
            add(Some(&p.0), NoticeChannel::Telegram, &p.3);
        }
        if mine.is_empty() && !shared {
            // No address at all: recorded, failed at once, under the body's id (so two
            // such bodies are two deliveries, not one key twice).
            mine.push(Address {
                body_id: b.0.clone(),
                person_id: None,
                channel: NoticeChannel::None,
                address: b.0.clone(),
            });
        }
        out.extend(mine);
    }
    Ok(out)
}

/// A notice's text, rendered once when it is issued.
pub struct Rendered {
    pub subject: String,
    pub body_text: String,
    pub ics: String,
    pub payload: serde_json::Value,
}

fn local(t: DateTime<Utc>) -> String {
    crate::templates::local_time(t)
}

pub fn render(
    conn: &mut DbConn,
    app: &AppState,
    o: &Outage,
    kind: NoticeKind,
    notice_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, DbError> {
    let names: Vec<(String, String, String)> = systems::table
        .filter(systems::code.eq_any(&o.systems))
        .select((systems::code, systems::name_kk, systems::name_ru))
        .load(conn)?;
    let system_names = |kk: bool| -> Vec<String> {
        o.systems
            .iter()
            .map(|c| {
                names
                    .iter()
                    .find(|n| &n.0 == c)
                    .map_or_else(|| c.clone(), |n| if kk { n.1.clone() } else { n.2.clone() })
            })
            .collect()
    };
    let page = format!("{}/outages", app.config.public_url);
    let mut parts = Vec::new();
    for (lang, kk) in [
        (baylanys_core::Language::Kk, true),
        (baylanys_core::Language::Ru, false),
    ] {
        let ctx = context! {
            notice => kind.as_str(),
            kind => o.kind.as_str(),
            impact => o.impact.as_str(),
            title => if kk { &o.title.kk } else { &o.title.ru },
            text => if kk { &o.text.kk } else { &o.text.ru },
            reason => o.reason.clone(),
            starts => local(o.starts_at),
            ends => local(o.completed_at.unwrap_or(o.ends_at)),
            systems => system_names(kk),
            page => page.clone(),
            sequence => o.sequence,
        };
        let r = app
            .templates
            .message("outage", lang, ctx)
            .map_err(|e| DbError::Unavailable(format!("outage notice: {e}")))?;
        parts.push(r);
    }
    let subject = format!(
        "{} / {}",
        parts[0].subject.clone().unwrap_or_default(),
        parts[1].subject.clone().unwrap_or_default()
    );
    let body_text = format!("{}\n\n— — —\n\n{}", parts[0].text, parts[1].text);
    let ics = super::ics::notice(o, kind, &app.mail_domain, &app.config.mail_from, now);
    let payload = serde_json::json!({
        "event": format!("outage.{}", kind.as_str()),
        "notice_id": notice_id,
        "outage": {
            "id": o.id, "kind": o.kind, "status": o.status, "impact": o.impact,
            "starts_at": o.starts_at, "ends_at": o.ends_at, "systems": o.systems,
            "title": o.title, "text": o.text, "reason": o.reason, "sequence": o.sequence,
            "completed_at": o.completed_at, "cancelled_at": o.cancelled_at,
        },
    });
    Ok(Rendered {
        subject,
        body_text,
        ics,
        payload,
    })
}

/// Issues a notice that goes at once (declaration, change, cancellation, completion);
/// returns its id.
pub fn issue_now(
    conn: &mut DbConn,
    app: &AppState,
    o: &Outage,
    kind: NoticeKind,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    let key = format!("outage_notice:{}:{}:{}", o.id, kind.as_str(), o.sequence);
    issue(conn, app, o, kind, &key, now)
}

/// Issues the notice keyed `key`, once: freezes the recipients, renders, and queues a
/// delivery job per address. Returns the notice's id (the existing one when it was issued
/// before).
pub fn issue(
    conn: &mut DbConn,
    app: &AppState,
    o: &Outage,
    kind: NoticeKind,
    key: &str,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    let existing: Option<String> = outage_notices::table
        .filter(outage_notices::dedupe_key.eq(key))
        .select(outage_notices::id)
        .first(conn)
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = new_id();
    let list = recipients(conn, &o.systems)?;
    let rendered = render(conn, app, o, kind, &id, now)?;
    let at = now.naive_utc();
    let bodies_told: HashSet<&str> = list.iter().map(|a| a.body_id.as_str()).collect();
    diesel::insert_into(outage_notices::table)
        .values((
            outage_notices::id.eq(&id),
            outage_notices::outage_id.eq(&o.id),
            outage_notices::kind.eq(kind.as_str()),
            outage_notices::dedupe_key.eq(key),
            outage_notices::sequence.eq(o.sequence),
            outage_notices::starts_at.eq(o.starts_at.naive_utc()),
            outage_notices::ends_at.eq(o.ends_at.naive_utc()),
            outage_notices::subject.eq(&rendered.subject),
            outage_notices::body_text.eq(&rendered.body_text),
            outage_notices::ics.eq(&rendered.ics),
            outage_notices::webhook_payload.eq(rendered.payload.to_string()),
            outage_notices::recipients.eq(bodies_told.len() as i32),
            outage_notices::created_at.eq(at),
        ))
        .execute(conn)?;
    let no_address = "the body has no e-mail, Telegram chat or webhook in the registry: add one (PATCH /api/v1/bodies/{id})";
    let rows: Vec<_> = list
        .iter()
        .map(|a| {
            let none = a.channel == NoticeChannel::None;
            (
                new_id(),
                a,
                if none {
                    DeliveryStatus::Failed
                } else {
                    DeliveryStatus::Queued
                },
                none.then_some(no_address),
            )
        })
        .collect();
    for chunk in rows.chunks(400) {
        let deliveries: Vec<_> = chunk
            .iter()
            .map(|(did, a, status, error)| {
                (
                    outage_deliveries::id.eq(did.clone()),
                    outage_deliveries::notice_id.eq(id.clone()),
                    outage_deliveries::outage_id.eq(o.id.clone()),
                    outage_deliveries::body_id.eq(a.body_id.clone()),
                    outage_deliveries::person_id.eq(a.person_id.clone()),
                    outage_deliveries::channel.eq(a.channel.as_str()),
                    outage_deliveries::address.eq(a.address.clone()),
                    outage_deliveries::status.eq(status.as_str()),
                    outage_deliveries::queued_at.eq(at),
                    outage_deliveries::last_error.eq(error.map(str::to_string)),
                    outage_deliveries::failed_at.eq(error.map(|_| at)),
                )
            })
            .collect();
        let jobs_rows: Vec<_> = chunk
            .iter()
            .filter(|(_, a, _, _)| a.channel != NoticeChannel::None)
            .map(|(did, _, _, _)| {
                let job = OutageDelivery {
                    delivery_id: did.clone(),
                };
                (
                    jobs::id.eq(new_id()),
                    jobs::kind.eq(OutageDelivery::NAME),
                    jobs::payload.eq(serde_json::to_string(&job).expect("a payload serialises")),
                    jobs::status.eq(JobStatus::Pending.as_str()),
                    jobs::run_at.eq(at),
                    jobs::attempts.eq(0),
                    jobs::max_attempts.eq(job.max_attempts()),
                    jobs::dedupe_key.eq(job.dedupe_key()),
                    jobs::created_at.eq(at),
                    jobs::updated_at.eq(at),
                )
            })
            .collect();
        // Many rows per statement: a notice to thousands costs tens of statements.
        match conn {
            DbConn::Pg(c) => {
                diesel::insert_into(outage_deliveries::table)
                    .values(&deliveries)
                    .execute(c)?;
                diesel::insert_into(jobs::table)
                    .values(&jobs_rows)
                    .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                diesel::insert_into(outage_deliveries::table)
                    .values(&deliveries)
                    .execute(c)?;
                diesel::insert_into(jobs::table)
                    .values(&jobs_rows)
                    .execute(c)?;
            }
        }
    }
    Ok(id)
}

/// Schedules what follows the notice `lead` that announced the current start (issued at
/// `lead_at`): the reminder 24 h before (when announced more than 48 h ahead), 1 h
/// before, the start notice, and the check that every recipient was reached 24 h ahead.
pub fn schedule(
    conn: &mut DbConn,
    o: &Outage,
    lead: &str,
    lead_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let mut later = |kind: NoticeKind, at: DateTime<Utc>| -> Result<(), DbError> {
        if at > now {
            enqueue_job(
                conn,
                &OutageNotice {
                    outage_id: o.id.clone(),
                    kind: kind.as_str().to_string(),
                    lead: lead.to_string(),
                },
                Some(at.naive_utc()),
            )?;
        }
        Ok(())
    };
    if o.starts_at - lead_at > Duration::hours(48) {
        later(NoticeKind::Reminder24h, o.starts_at - Duration::hours(24))?;
    }
    later(NoticeKind::Reminder1h, o.starts_at - Duration::hours(1))?;
    later(NoticeKind::Started, o.starts_at)?;
    // At start - 24 h, or at once when that has passed (an emergency under 24 h: its
    // recipients cannot have been told in time, so supervisors hear of it now).
    enqueue_job(
        conn,
        &OutageLeadCheck {
            outage_id: o.id.clone(),
            lead: lead.to_string(),
        },
        Some(lead_deadline(o.starts_at).max(now).naive_utc()),
    )?;
    Ok(())
}

/// The names of a body, for alerts.
pub fn body_names(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Names>, DbError> {
    let rows: Vec<(String, String)> = bodies::table
        .filter(bodies::id.eq_any(ids))
        .select((bodies::name_kk, bodies::name_ru))
        .load(conn)?;
    Ok(rows.into_iter().map(|(kk, ru)| Names { kk, ru }).collect())
}
