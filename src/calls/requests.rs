//! Record requests (R11): the informatization or the quality body names a date and the
//! applicant's phone number (optionally a time range or a ticket); the request is due 4
//! hours later (the R11 rule of the calendar). Baylanys finds the matching calls and the
//! interactions on every channel for that number and date; a supervisor reviews and
//! releases; the requester downloads one ZIP with the recordings, the transcripts of
//! the written channels and `manifest.json` (each file's sha256, the call ids and times).
//! A reminder an hour before the deadline and an escalation at it go to the supervisors
//! (jobs at those instants); the request shows when it was answered against its deadline.

use std::io::Write;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{CallError, CallRow, number_variants};
use crate::db::schema::{
    calls, contacts, messages, record_request_items, record_requests, tickets, users,
};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, Retry};

text_enum!(
    RequestStatus, "record request status" {
        /// Found, waiting for a supervisor.
        Submitted => "submitted",
        /// Released to the requester.
        Released => "released",
    }
);

/// What the requester names.
#[derive(Debug, Clone)]
pub struct RequestInput {
    pub day: NaiveDate,
    pub phone: String,
    pub time_from: Option<NaiveTime>,
    pub time_to: Option<NaiveTime>,
    pub ticket: Option<String>,
}

impl RequestInput {
    pub fn from_json(body: &serde_json::Value) -> Result<RequestInput, CallError> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let s = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        for k in ["date", "phone", "time_from", "time_to", "ticket"] {
            if body.get(k).is_some_and(|v| !v.is_null() && !v.is_string()) {
                errors.push((k.into(), "must be a string".into()));
            }
        }
        let day = match s("date") {
            None => {
                errors.push(("date".into(), "is required (YYYY-MM-DD)".into()));
                None
            }
            Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) if (2000..=2100).contains(&chrono::Datelike::year(&d)) => Some(d),
                _ => {
                    errors.push((
                        "date".into(),
                        format!("`{d}` is not a date like 2026-12-03"),
                    ));
                    None
                }
            },
        };
        let phone = match s("phone") {
            None => {
                errors.push(("phone".into(), "is required".into()));
                None
            }
            Some(p) => match baylanys_sms::SmsAdapter::normalise(p) {
                Some(n) => Some(n),
                None => {
                    errors.push((
                        "phone".into(),
                        format!("`{p}` is not a phone number like +7 701 234 56 78"),
                    ));
                    None
                }
            },
        };
        let mut time = |k: &str| match s(k) {
            None => None,
            Some(t) => match NaiveTime::parse_from_str(t, "%H:%M") {
                Ok(t) => Some(t),
                Err(_) => {
                    errors.push((k.into(), format!("`{t}` is not a time like 09:30")));
                    None
                }
            },
        };
        let time_from = time("time_from");
        let time_to = time("time_to");
        if let (Some(a), Some(b)) = (time_from, time_to)
            && b < a
        {
            errors.push(("time_to".into(), "is before time_from".into()));
        }
        let ticket = match s("ticket") {
            None => None,
            Some(t) => match baylanys_core::RegistrationNumber::parse(t) {
                Ok(n) => Some(n.as_str().to_string()),
                Err(m) => {
                    errors.push(("ticket".into(), m));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(CallError::Invalid(errors));
        }
        let (Some(day), Some(phone)) = (day, phone) else {
            return Err(CallError::invalid("body", "required fields are missing"));
        };
        Ok(RequestInput {
            day,
            phone,
            time_from,
            time_to,
            ticket,
        })
    }

    /// The UTC instants the request covers: the day (Almaty), narrowed to the range.
    fn window(&self) -> (NaiveDateTime, NaiveDateTime) {
        let at = |t: NaiveTime| {
            chrono_tz::Asia::Almaty
                .from_local_datetime(&self.day.and_time(t))
                .earliest()
                .map_or_else(|| self.day.and_time(t), |d| d.naive_utc())
        };
        let start = at(self.time_from.unwrap_or(NaiveTime::MIN));
        let end = match self.time_to {
            Some(t) => at(t) + TimeDelta::minutes(1),
            None => at(NaiveTime::MIN) + TimeDelta::days(1),
        };
        (start, end)
    }
}

/// Submits a request and finds what matches; returns its id.
pub fn submit(
    conn: &mut DbConn,
    input: &RequestInput,
    requester: &str,
    role: &str,
    now: DateTime<Utc>,
) -> Result<String, CallError> {
    let deadline = crate::calendar::recording_due(now)
        .map_err(|e| CallError::invalid("date", e.to_string()))?;
    let id = new_id();
    diesel::insert_into(record_requests::table)
        .values((
            record_requests::id.eq(&id),
            record_requests::requester.eq(requester),
            record_requests::requester_role.eq(role),
            record_requests::day.eq(input.day.format("%Y-%m-%d").to_string()),
            record_requests::phone.eq(&input.phone),
            record_requests::time_from.eq(input.time_from.map(|t| t.format("%H:%M").to_string())),
            record_requests::time_to.eq(input.time_to.map(|t| t.format("%H:%M").to_string())),
            record_requests::ticket_number.eq(&input.ticket),
            record_requests::status.eq(RequestStatus::Submitted.as_str()),
            record_requests::due_at.eq(deadline.due_at.naive_utc()),
            record_requests::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    let (calls_found, tickets_found) = matches(conn, input)?;
    for (kind, refs) in [("call", calls_found), ("ticket", tickets_found)] {
        for r in refs {
            diesel::insert_into(record_request_items::table)
                .values((
                    record_request_items::id.eq(new_id()),
                    record_request_items::request_id.eq(&id),
                    record_request_items::kind.eq(kind),
                    record_request_items::ref_id.eq(r),
                ))
                .execute(conn)?;
        }
    }
    let due = deadline.due_at.naive_utc();
    crate::jobs::enqueue_job(
        conn,
        &RecordRequestTimer {
            request_id: id.clone(),
            escalate: false,
        },
        Some(due - TimeDelta::hours(1)),
    )?;
    crate::jobs::enqueue_job(
        conn,
        &RecordRequestTimer {
            request_id: id.clone(),
            escalate: true,
        },
        Some(due),
    )?;
    Ok(id)
}

/// The calls (ids) and tickets (ids) of the number in the request's window, and the
/// named ticket.
fn matches(conn: &mut DbConn, input: &RequestInput) -> Result<(Vec<String>, Vec<String>), DbError> {
    let variants = number_variants(&input.phone);
    let (start, end) = input.window();
    let found_calls: Vec<String> = calls::table
        .filter(calls::caller.eq_any(&variants))
        .filter(calls::arrived_at.ge(start))
        .filter(calls::arrived_at.lt(end))
        .order(calls::arrived_at.asc())
        .select(calls::call_id)
        .load(conn)?;
    let cleaned = diesel::dsl::sql::<diesel::sql_types::Text>(
        "replace(replace(replace(replace(contacts.phone, ' ', ''), '-', ''), '(', ''), ')', '')",
    );
    let by_contact = contacts::table
        .filter(contacts::phone.is_not_null())
        .filter(cleaned.eq_any(variants.clone()))
        .select(contacts::id);
    let of_number: Vec<String> = tickets::table
        .filter(tickets::contact_id.eq_any(by_contact))
        .select(tickets::id)
        .load(conn)?;
    let by_address: Vec<String> = messages::table
        .filter(messages::address.eq_any(&variants))
        .select(messages::ticket_id)
        .distinct()
        .load(conn)?;
    let named: Vec<String> = match &input.ticket {
        Some(n) => tickets::table
            .filter(tickets::number.eq(n))
            .select(tickets::id)
            .load(conn)?,
        None => Vec::new(),
    };
    let mut candidates: Vec<String> = of_number.into_iter().chain(by_address).collect();
    candidates.sort();
    candidates.dedup();
    // A ticket of the number counts when it had an interaction in the window; the named
    // ticket counts whatever its dates.
    let mut found: Vec<String> = messages::table
        .filter(messages::ticket_id.eq_any(&candidates))
        .filter(messages::created_at.ge(start))
        .filter(messages::created_at.lt(end))
        .select(messages::ticket_id)
        .distinct()
        .load(conn)?;
    found.extend(named);
    found.sort();
    found.dedup();
    Ok((found_calls, found))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = record_requests)]
pub struct RequestRow {
    pub id: String,
    pub requester: String,
    pub requester_role: String,
    pub day: String,
    pub phone: String,
    pub time_from: Option<String>,
    pub time_to: Option<String>,
    pub ticket_number: Option<String>,
    pub status: String,
    pub due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub released_at: Option<NaiveDateTime>,
    pub released_by: Option<String>,
    pub downloaded_at: Option<NaiveDateTime>,
    pub escalated_at: Option<NaiveDateTime>,
}

pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<RequestRow>, DbError> {
    Ok(record_requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?)
}

fn items(conn: &mut DbConn, id: &str, kind: &str) -> Result<Vec<String>, DbError> {
    Ok(record_request_items::table
        .filter(record_request_items::request_id.eq(id))
        .filter(record_request_items::kind.eq(kind))
        .order(record_request_items::ref_id.asc())
        .select(record_request_items::ref_id)
        .load(conn)?)
}

/// The request as the API shows it.
pub fn view(conn: &mut DbConn, r: &RequestRow) -> Result<serde_json::Value, DbError> {
    let call_ids = items(conn, &r.id, "call")?;
    let mut found_calls = Vec::new();
    for c in &call_ids {
        if let Some(call) = super::find(conn, c)? {
            found_calls.push(super::view(conn, &call)?);
        }
    }
    let ticket_ids = items(conn, &r.id, "ticket")?;
    let numbers: Vec<String> = tickets::table
        .filter(tickets::id.eq_any(&ticket_ids))
        .order(tickets::number.asc())
        .select(tickets::number)
        .load(conn)?;
    let t = |x: Option<NaiveDateTime>| x.map(|t| t.and_utc());
    let on_time = r.released_at.map(|a| a <= r.due_at);
    Ok(serde_json::json!({
        "id": r.id,
        "requester": r.requester,
        "requester_role": r.requester_role,
        "date": r.day,
        "phone": r.phone,
        "time_from": r.time_from,
        "time_to": r.time_to,
        "ticket": r.ticket_number,
        "status": r.status,
        "submitted_at": r.created_at.and_utc(),
        "due_at": r.due_at.and_utc(),
        "due_at_local": crate::calendar::format_almaty(r.due_at.and_utc()),
        "rule": "R11",
        "answered_at": t(r.released_at),
        "answered_on_time": on_time,
        "released_by": r.released_by,
        "downloaded_at": t(r.downloaded_at),
        "escalated_at": t(r.escalated_at),
        "calls": found_calls,
        "tickets": numbers,
    }))
}

/// A supervisor releases the request: the requester may download it from now on.
pub fn release(conn: &mut DbConn, id: &str, by: &str, now: NaiveDateTime) -> Result<(), CallError> {
    let r = find(conn, id)?
        .ok_or_else(|| CallError::NotFound(format!("record request {id} not found")))?;
    if r.status == RequestStatus::Released.as_str() {
        return Err(CallError::Conflict(format!(
            "record request {id} was released already"
        )));
    }
    diesel::update(record_requests::table.find(id))
        .set((
            record_requests::status.eq(RequestStatus::Released.as_str()),
            record_requests::released_at.eq(now),
            record_requests::released_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "audio/mpeg" => "mp3",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/mp4" => "m4a",
        "audio/webm" => "webm",
        "audio/flac" => "flac",
        _ => "wav",
    }
}

/// One ZIP with the recordings, the transcripts and manifest.json; records the download
/// (and each recording's access). `Err(Conflict)` before a supervisor released it.
pub fn archive(
    conn: &mut DbConn,
    id: &str,
    actor: &str,
    now: NaiveDateTime,
) -> Result<Vec<u8>, CallError> {
    let r = find(conn, id)?
        .ok_or_else(|| CallError::NotFound(format!("record request {id} not found")))?;
    if r.status != RequestStatus::Released.as_str() {
        return Err(CallError::Conflict(
            "a supervisor has not released this request yet: ask them, the download opens then"
                .into(),
        ));
    }
    let input = RequestInput {
        day: NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").unwrap_or_default(),
        phone: r.phone.clone(),
        time_from: r
            .time_from
            .as_deref()
            .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok()),
        time_to: r
            .time_to
            .as_deref()
            .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok()),
        ticket: r.ticket_number.clone(),
    };
    let (start, end) = input.window();
    let mut files: Vec<(String, Vec<u8>, serde_json::Value)> = Vec::new();
    let mut manifest_calls = Vec::new();
    for call_id in items(conn, id, "call")? {
        let Some(call) = super::find(conn, &call_id)? else {
            continue;
        };
        let rec = super::recordings::stored(conn, &call_id)?;
        let file = match rec {
            Some(rec) => {
                let name = format!(
                    "recordings/{}.{}",
                    safe(&call_id),
                    extension(&rec.content_type)
                );
                super::recordings::record_access(
                    conn,
                    &call_id,
                    actor,
                    "record_request_download",
                    now,
                )?;
                files.push((
                    name.clone(),
                    rec.content.clone(),
                    serde_json::json!({"call_id": call_id, "content_type": rec.content_type}),
                ));
                Some(name)
            }
            None => None,
        };
        manifest_calls.push(call_entry(&call, file));
    }
    let ticket_ids = items(conn, id, "ticket")?;
    for ticket_id in ticket_ids {
        let (number, channel): (String, String) = tickets::table
            .find(&ticket_id)
            .select((tickets::number, tickets::channel))
            .first(conn)?;
        type Msg = (
            NaiveDateTime,
            String,
            String,
            String,
            Option<String>,
            String,
        );
        let mut q = messages::table
            .filter(messages::ticket_id.eq(&ticket_id))
            .order(messages::created_at.asc())
            .select((
                messages::created_at,
                messages::direction,
                messages::channel,
                messages::address,
                messages::subject,
                messages::body_text,
            ))
            .into_boxed();
        if r.ticket_number.as_deref() != Some(number.as_str()) {
            q = q
                .filter(messages::created_at.ge(start))
                .filter(messages::created_at.lt(end));
        }
        let msgs: Vec<Msg> = q.load(conn)?;
        // Written channels only: a call is in the recordings.
        let written: Vec<&Msg> = msgs
            .iter()
            .filter(|m| m.2 != "phone" || !m.5.is_empty())
            .collect();
        if written.is_empty() {
            continue;
        }
        let mut text = format!("{number}\n");
        for (at, direction, channel, address, subject, body) in written {
            text.push_str(&format!(
                "\n--- {} | {direction} | {channel} | {address}\n",
                crate::calendar::format_almaty(at.and_utc())
            ));
            if let Some(s) = subject {
                text.push_str(&format!("{s}\n"));
            }
            text.push_str(body);
            text.push('\n');
        }
        let name = format!("transcripts/{}.txt", safe(&number));
        files.push((
            name,
            text.into_bytes(),
            serde_json::json!({"ticket": number, "channel": channel}),
        ));
    }
    let mut manifest_files = Vec::new();
    for (name, bytes, about) in &files {
        let mut entry = serde_json::json!({
            "name": name,
            "size": bytes.len(),
            "sha256": crate::auth::sha256_hex(bytes),
        });
        if let (Some(e), Some(a)) = (entry.as_object_mut(), about.as_object()) {
            e.extend(a.clone());
        }
        manifest_files.push(entry);
    }
    let manifest = serde_json::json!({
        "request": {
            "id": r.id, "date": r.day, "phone": r.phone, "time_from": r.time_from,
            "time_to": r.time_to, "ticket": r.ticket_number, "requester": r.requester,
            "submitted_at": r.created_at.and_utc(), "due_at": r.due_at.and_utc(),
            "released_at": r.released_at.map(|t| t.and_utc()), "released_by": r.released_by,
        },
        "generated_at": now.and_utc(),
        "files": manifest_files,
        "calls": manifest_calls,
    });
    let zip = write_zip(&files, &manifest)
        .map_err(|e| CallError::Db(DbError::Unavailable(format!("zip: {e}"))))?;
    diesel::update(record_requests::table.find(id))
        .set(record_requests::downloaded_at.eq(now))
        .execute(conn)?;
    Ok(zip)
}

fn call_entry(call: &CallRow, file: Option<String>) -> serde_json::Value {
    let t = |x: Option<NaiveDateTime>| x.map(|t| t.and_utc());
    serde_json::json!({
        "call_id": call.call_id,
        "caller": call.caller,
        "queue": call.queue,
        "operator": call.operator,
        "arrived_at": call.arrived_at.and_utc(),
        "answered_at": t(call.answered_at),
        "ended_at": t(call.ended_at),
        "disposition": call.disposition,
        "wait_secs": call.wait_secs,
        "recording": file,
    })
}

/// A name safe as a file name in the archive.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_zip(
    files: &[(String, Vec<u8>, serde_json::Value)],
    manifest: &serde_json::Value,
) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes, _) in files {
        w.start_file(name.as_str(), options)?;
        w.write_all(bytes)?;
    }
    w.start_file("manifest.json", options)?;
    w.write_all(
        serde_json::to_string_pretty(manifest)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(w.finish()?.into_inner())
}

/// The reminder (an hour before the deadline) or the escalation (at it) of a request
/// not yet released, to every active supervisor (and, escalated, the administrators).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordRequestTimer {
    pub request_id: String,
    pub escalate: bool,
}

impl Job for RecordRequestTimer {
    const NAME: &'static str = "record_request_timer";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!(
            "record-request:{}:{}",
            self.request_id,
            if self.escalate {
                "escalation"
            } else {
                "reminder"
            }
        ))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let now = app.clock.now().naive_utc();
        let language = app.config.staff_language;
        let templates = app.templates.clone();
        app.db
            .write(move |c| {
                let Some(r) = find(c, &self.request_id)? else {
                    return Ok(());
                };
                if r.status == RequestStatus::Released.as_str() {
                    return Ok(());
                }
                let roles: &[&str] = if self.escalate {
                    &["supervisor", "admin"]
                } else {
                    &["supervisor"]
                };
                let staff: Vec<(String, String, Option<String>)> = users::table
                    .filter(users::active.eq(1))
                    .filter(users::role.eq_any(roles))
                    .order(users::login.asc())
                    .select((users::id, users::login, users::email))
                    .load(c)?;
                let kind = if self.escalate {
                    "record_request_escalation"
                } else {
                    "record_request_reminder"
                };
                let rendered = templates
                    .staff_notice(
                        kind,
                        language,
                        minijinja::context! {
                            id => r.id, date => r.day, requester => r.requester,
                            due => crate::calendar::format_almaty(r.due_at.and_utc()),
                        },
                    )
                    .map_err(|e| DbError::Unavailable(format!("template: {e}")))?;
                for (user_id, login, email) in staff {
                    let to = crate::queues::StaffAddress {
                        user_id,
                        login,
                        email,
                    };
                    crate::jobs::staff::queue_notice(c, kind, None, &to, &rendered)?;
                }
                if self.escalate {
                    diesel::update(record_requests::table.find(&r.id))
                        .set(record_requests::escalated_at.eq(now))
                        .execute(c)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        Ok(())
    }
}
