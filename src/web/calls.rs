//! The phone channel over HTTP: call events from the PBX, the Asterisk CSV import, the
//! R3 wait figures, the call card (a ticket from a call), recordings, and R11 record
//! requests with their ZIP.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;

use super::input::{record_id, shown};
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::{Permission, Role};
use crate::calls::{self, CallError, CallEvent, card, import, recordings, requests, stats};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/calls", web::post().to(event))
        .route("/api/v1/calls/import", web::post().to(import_csv))
        .route("/api/v1/calls/stats", web::get().to(wait_stats))
        .route("/api/v1/calls/{call_id}", web::get().to(detail))
        .route("/api/v1/calls/{call_id}/ticket", web::post().to(ticket))
        .route(
            "/api/v1/calls/{call_id}/recording",
            web::get().to(recording),
        )
        .route(
            "/api/v1/calls/{call_id}/recording/access",
            web::get().to(recording_access),
        )
        .route("/api/v1/record-requests", web::post().to(submit_request))
        .route(
            "/api/v1/record-requests/{id}",
            web::get().to(request_detail),
        )
        .route(
            "/api/v1/record-requests/{id}/release",
            web::post().to(release_request),
        )
        .route(
            "/api/v1/record-requests/{id}/archive",
            web::get().to(request_archive),
        );
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            CallError::NotFound(m) => ApiError::NotFound(m),
            CallError::Conflict(m) => ApiError::Conflict(m),
            CallError::Db(e) => e.into(),
        }
    }
}

/// Runs `f` in a write transaction, again when two transactions got in each other's way.
async fn write_retrying<T, F>(app: &AppData, f: F) -> Result<T, ApiError>
where
    F: Fn(&mut crate::db::DbConn) -> Result<T, CallError> + Send + Sync + Clone + 'static,
    T: Send + 'static,
{
    let mut tries = 0;
    loop {
        tries += 1;
        let db = app.db.clone();
        let f = f.clone();
        let r =
            tokio::task::spawn_blocking(move || db.write_blocking_as::<T, CallError, _>(|c| f(c)))
                .await
                .map_err(ApiError::internal)?;
        match r {
            Err(CallError::Db(e)) if (e.is_conflict() || e.is_unique_violation()) && tries < 5 => {
                continue;
            }
            r => return Ok(r?),
        }
    }
}

fn call_path(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::NotFound(format!("no call `{}`", shown(raw))));
    }
    Ok(id.to_string())
}

#[utoipa::path(
    post,
    path = "/api/v1/calls",
    tag = "calls",
    summary = "Report a call event from the PBX (merged by call_id in any order; a redelivery changes nothing)",
    request_body(content = CallEventBody, description = "merged by `call_id`, in any order; times RFC 3339 with offset, `answered_at` and `ended_at` not before `arrived_at`"),
    responses(
        (status = 201, description = "the call, created by this event", body = CallRecorded),
        (status = 200, description = "the call, merged (`changed`: false for a redelivery)", body = CallRecorded)
    )
)]
async fn event(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::SubmitCalls)?;
    let ev = CallEvent::from_json(&body, app.config.recording_max_bytes)?;
    let settings = recordings::Settings::of(&app.config);
    let now = app.clock.now().naive_utc();
    let recorded =
        write_retrying(&app, move |c| calls::record_event(c, &ev, &settings, now)).await?;
    if recorded.recording_queued {
        app.jobs_wakeup.notify_one();
    }
    let call = recorded.call.clone();
    let mut view = app.db.run(move |c| calls::view(c, &call)).await?;
    view["created"] = recorded.created.into();
    view["changed"] = recorded.changed.into();
    view["ignored"] = serde_json::json!(recorded.ignored);
    let mut resp = if recorded.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(resp.json(view))
}

#[utoipa::path(
    post,
    path = "/api/v1/calls/import",
    tag = "calls",
    summary = "Import Asterisk's Master.csv call records (one transaction: a bad line is named and nothing is imported)",
    request_body(content = String, content_type = "text/csv", description = "Master.csv lines: accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield"),
    responses((status = 200, description = "how many lines were read, imported and already known", body = calls::import::Imported))
)]
async fn import_csv(app: AppData, who: Authed, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    who.may(Permission::SubmitCalls)?;
    let now = app.clock.now().naive_utc();
    let db = app.db.clone();
    let r = tokio::task::spawn_blocking(move || {
        db.write_blocking_as(|c| import::import(c, std::io::Cursor::new(&body[..]), now))
    })
    .await
    .map_err(ApiError::internal)?;
    match r {
        Ok(done) => Ok(HttpResponse::Ok().json(done)),
        Err(import::ImportError::BadLines(lines)) => Err(ApiError::Invalid(
            lines
                .into_iter()
                .map(|b| FieldError::new(&format!("line {}", b.line), b.message))
                .collect(),
        )),
        Err(import::ImportError::Read(m)) => Err(ApiError::BadRequest(m)),
        Err(import::ImportError::Db(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/calls/stats",
    tag = "calls",
    summary = "R3 wait figures: average wait, share answered within 30 s, abandoned share; in total and by hour, day, queue or operator",
    params(
        ("from" = String, Query, description = "first day (YYYY-MM-DD, Almaty)"),
        ("to" = String, Query, description = "last day, inclusive"),
        ("by" = Option<String>, Query, description = "hour, day, queue or operator")
    ),
    responses((status = 200, description = "the figures of the range, in total and by group", body = WaitStats))
)]
async fn wait_stats(
    app: AppData,
    who: Authed,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadCallStats)?;
    let mut errors = Vec::new();
    let mut day = |k: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new(k, "is required (YYYY-MM-DD)"));
            None
        }
        Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if (2000..=2100).contains(&chrono::Datelike::year(&d)) => Some(d),
            _ => {
                errors.push(FieldError::new(
                    k,
                    format!("`{}` is not a date like 2026-12-03", shown(s)),
                ));
                None
            }
        },
    };
    let from = day("from", &q.from);
    let to = day("to", &q.to);
    let by = match q.by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => match stats::GroupBy::parse(b) {
            Ok(g) => Some(g),
            Err(m) => {
                errors.push(FieldError::new("by", shown(&m)));
                None
            }
        },
    };
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            errors.push(FieldError::new("to", "is before from"));
        } else if (t - f).num_days() > 366 {
            errors.push(FieldError::new(
                "to",
                "the range is longer than 366 days: ask for less",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(ApiError::BadRequest("from and to are required".into()));
    };
    let (total, groups) = app.db.run(move |c| stats::figures(c, from, to, by)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": from, "to": to, "by": by.map(|b| b.as_str()),
        "target_secs": stats::TARGET_SECS,
        "total": total, "groups": groups,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/calls/{call_id}",
    tag = "calls",
    summary = "One call: its times, wait, operator, ticket (number and deadline to read out) and recording",
    params(("call_id" = String, Path, description = "the PBX's call id")),
    responses((status = 200, description = "the call", body = CallView))
)]
async fn detail(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let id = call_path(&path)?;
    let view = app
        .db
        .run(move |c| {
            Ok(match calls::find(c, &id)? {
                Some(call) => Some(calls::view(c, &call)?),
                None => None,
            })
        })
        .await?;
    match view {
        Some(v) => Ok(HttpResponse::Ok().json(v)),
        None => Err(ApiError::NotFound(format!("no call `{}`", shown(&path)))),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/calls/{call_id}/ticket",
    tag = "calls",
    summary = "The call card: register the caller's matter as a phone ticket (R5 deadline), acknowledged by SMS and/or e-mail if asked",
    params(("call_id" = String, Path, description = "the PBX's call id")),
    request_body(content = CallCard),
    responses((status = 201, description = "the ticket registered for the call", body = CallTicket))
)]
async fn ticket(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let call_id = call_path(&path)?;
    let input = card::CardInput::from_json(&body)?;
    let hash = crate::auth::sha256_hex(body.to_string().as_bytes());
    let made = register_card(&app, &user.login, &call_id, input, hash).await?;
    Ok(HttpResponse::Created().json(made))
}

/// The call card's registration, for the API and the console page: one phone ticket per
/// call (an idempotency key per call decides between two cards at once), linked to the
/// call, with the acknowledgements asked for queued.
pub(crate) async fn register_card(
    app: &AppData,
    login: &str,
    call_id: &str,
    input: card::CardInput,
    request_hash: String,
) -> Result<serde_json::Value, ApiError> {
    let call_id = call_id.to_string();
    let id = call_id.clone();
    let call = app
        .db
        .run(move |c| calls::find(c, &id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no call `{}`", shown(&call_id))))?;
    if let Some(t) = &call.ticket_id {
        let t = t.clone();
        let number: String = app
            .db
            .run(move |c| {
                use diesel::prelude::*;
                Ok(crate::db::schema::tickets::table
                    .find(&t)
                    .select(crate::db::schema::tickets::number)
                    .first(c)?)
            })
            .await?;
        return Err(ApiError::Conflict(format!(
            "call {call_id} is already on ticket {number}: add to that ticket instead"
        )));
    }
    if input.sms && !app.adapters.contains_key(&baylanys_core::Channel::Phone) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "sms",
            "no SMS gateway is configured (BAYLANYS_SMS_GATEWAY_URL): leave `sms` out",
        )]));
    }
    let msg = card::message_of(&call, &input);
    let key = crate::tickets::registrar::IdempotencyKey {
        key: format!("call-ticket:{call_id}"),
        request_hash,
    };
    let reg = match app.registrar().register_keyed(msg, Some(key)).await {
        Ok(reg) => reg,
        Err(crate::tickets::registrar::RegisterError::KeyTaken) => {
            return Err(ApiError::Conflict(format!(
                "another call card registered call {call_id} at the same moment: reload the card"
            )));
        }
        Err(crate::tickets::registrar::RegisterError::Intake(e)) => return Err(e.into()),
    };
    let deadline = app
        .calendar()
        .reply_due(reg.registered_at, &app.config.working_hours)
        .map_err(ApiError::internal)?;
    let state = app.get_ref().clone();
    let (reg2, input2, login) = (reg.clone(), input.clone(), login.to_string());
    let enabled = (
        app.adapters.contains_key(&baylanys_core::Channel::Phone),
        app.email_enabled(),
    );
    let cid = call_id.clone();
    let deadline_json = crate::calendar::due_json(&deadline);
    let acks = write_retrying(app, move |c| {
        let templates = state.templates.clone();
        let (reg, deadline) = (reg2.clone(), deadline.clone());
        let render = move |channel| {
            templates.acknowledgement(
                reg.language,
                &reg.number,
                reg.registered_at,
                &deadline,
                channel,
                None,
            )
        };
        card::link_and_acknowledge(
            c,
            &cid,
            &reg2,
            &input2,
            &login,
            &render,
            &state.mail_domain,
            enabled,
        )
    })
    .await?;
    app.jobs_wakeup.notify_one();
    Ok(serde_json::json!({
        "number": reg.number,
        "registered_at": crate::calendar::format_almaty(reg.registered_at),
        "due_at": crate::calendar::format_almaty(reg.due_at),
        "due": deadline_json,
        "call_id": call_id,
        "caller": call.caller,
        "acknowledgements": acks,
    }))
}

#[derive(Debug, Deserialize)]
struct ListenQuery {
    download: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/calls/{call_id}/recording",
    tag = "calls",
    summary = "Listen to (or, with download=1, download) a call's recording; every access is recorded",
    params(
        ("call_id" = String, Path, description = "the PBX's call id"),
        ("download" = Option<String>, Query, description = "1: as an attachment")
    ),
    responses((status = 200, description = "the recording, with `X-Content-SHA256`", body = String, content_type = "audio/wav"))
)]
async fn recording(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    q: web::Query<ListenQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ListenRecordings)?.clone();
    let call_id = call_path(&path)?;
    let download = q
        .download
        .as_deref()
        .is_some_and(|d| d == "1" || d == "true");
    let action = if download { "download" } else { "listen" };
    let now = app.clock.now().naive_utc();
    let id = call_id.clone();
    let actor = format!("{}:{}", user.role.as_str(), user.login);
    let found = app
        .db
        .write(move |c| {
            let rec = recordings::stored(c, &id)?;
            if rec.is_some() {
                recordings::record_access(c, &id, &actor, action, now)?;
            }
            Ok(rec)
        })
        .await?;
    let Some(rec) = found else {
        return Err(ApiError::NotFound(format!(
            "call `{}` has no stored recording (none was given, it is still being fetched, or it was deleted after the retention period)",
            shown(&call_id)
        )));
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type(rec.content_type.as_str())
        .insert_header(("X-Content-SHA256", rec.sha256.as_str()))
        .insert_header(("Cache-Control", "no-store"));
    let disposition = if download { "attachment" } else { "inline" };
    let name: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    resp.insert_header((
        "Content-Disposition",
        format!("{disposition}; filename=\"{name}\""),
    ));
    Ok(resp.body(rec.content))
}

#[utoipa::path(
    get,
    path = "/api/v1/calls/{call_id}/recording/access",
    tag = "calls",
    summary = "Who listened to or downloaded a call's recording, and when",
    params(("call_id" = String, Path, description = "the PBX's call id")),
    responses((status = 200, description = "every access to the recording", body = RecordingAccessLog))
)]
async fn recording_access(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ListenRecordings)?;
    let call_id = call_path(&path)?;
    let id = call_id.clone();
    let log = app.db.run(move |c| recordings::access_log(c, &id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"call_id": call_id, "access": log})))
}

#[utoipa::path(
    post,
    path = "/api/v1/record-requests",
    tag = "calls",
    summary = "R11: request the recordings and transcripts of a number on a date (due in 4 hours)",
    request_body(content = NewRecordRequest),
    responses((status = 201, description = "the request with what was found and its deadline", body = RecordRequest))
)]
async fn submit_request(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::RequestRecords)?.clone();
    let input = requests::RequestInput::from_json(&body)?;
    let now = app.clock.now();
    let (login, role) = (user.login.clone(), user.role.as_str().to_string());
    let view = write_retrying(&app, move |c| {
        let id = requests::submit(c, &input, &login, &role, now)?;
        let r = requests::find(c, &id)?.ok_or_else(|| CallError::NotFound(id.clone()))?;
        Ok(requests::view(c, &r)?)
    })
    .await?;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Created().json(view))
}

/// The request, if the caller may see it: its requester, another member of the same
/// body (role), or a supervisor.
async fn visible_request(
    app: &AppData,
    user: &crate::auth::User,
    raw: &str,
) -> Result<requests::RequestRow, ApiError> {
    let id = record_id(raw, "record request")?;
    let found = app.db.run(move |c| requests::find(c, &id)).await?;
    match found {
        Some(r) if user.role == Role::Supervisor || r.requester_role == user.role.as_str() => Ok(r),
        _ => Err(ApiError::NotFound(format!(
            "no record request `{}`",
            shown(raw)
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/record-requests/{id}",
    tag = "calls",
    summary = "A record request: what was found, its deadline, when it was answered",
    params(("id" = String, Path, description = "record request id")),
    responses((status = 200, description = "the request", body = RecordRequest))
)]
async fn request_detail(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = who
        .require(
            |r| r.may(Permission::RequestRecords) || r.may(Permission::ReleaseRecords),
            "read record requests",
        )?
        .clone();
    let r = visible_request(&app, &user, &path).await?;
    let view = app.db.run(move |c| requests::view(c, &r)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    post,
    path = "/api/v1/record-requests/{id}/release",
    tag = "calls",
    summary = "A supervisor releases a record request to its requester (the answer time against the R11 deadline)",
    params(("id" = String, Path, description = "record request id")),
    responses((status = 200, description = "the request", body = RecordRequest))
)]
async fn release_request(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ReleaseRecords)?.clone();
    let id = record_id(&path, "record request")?;
    let now = app.clock.now().naive_utc();
    let login = user.login.clone();
    let view = write_retrying(&app, move |c| {
        if requests::find(c, &id)?.is_none() {
            return Err(CallError::NotFound(format!("no record request `{id}`")));
        }
        requests::release(c, &id, &login, now)?;
        let r = requests::find(c, &id)?.ok_or_else(|| CallError::NotFound(id.clone()))?;
        Ok(requests::view(c, &r)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    get,
    path = "/api/v1/record-requests/{id}/archive",
    tag = "calls",
    summary = "The released request as one ZIP: recordings, transcripts of the written channels, manifest.json with each file's sha256",
    params(("id" = String, Path, description = "record request id")),
    responses((status = 200, description = "the ZIP", body = String, content_type = "application/zip"),
        (status = 409, description = "not released yet: a supervisor releases the request first"))
)]
async fn request_archive(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    _req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::RequestRecords)?.clone();
    let r = visible_request(&app, &user, &path).await?;
    let now = app.clock.now().naive_utc();
    let actor = format!("{}:{}", user.role.as_str(), user.login);
    let id = r.id.clone();
    let zip = write_retrying(&app, move |c| requests::archive(c, &id, &actor, now)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"record-request-{}.zip\"", r.id),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(zip))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built as JSON values (schema only: nothing constructs them).

/// A call (calls::view): the PBX's record with its times in UTC, its ticket and recording.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: calls::view builds it
struct CallView {
    call_id: String,
    caller: String,
    called: String,
    queue: String,
    arrived_at: chrono::DateTime<chrono::Utc>,
    answered_at: Option<chrono::DateTime<chrono::Utc>>,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    operator: Option<String>,
    disposition: Option<String>,
    /// R3: answered minus arrived (an abandoned call: until it ended).
    wait_secs: Option<i64>,
    /// The Almaty day it arrived, YYYY-MM-DD.
    local_day: String,
    local_hour: i32,
    survey: Option<i32>,
    /// `events` or `import`.
    source: String,
    /// The events received, in order.
    events: Vec<String>,
    ticket: Option<CallTicketRef>,
    recording: Option<RecordingSummary>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: calls::view builds it
struct CallTicketRef {
    number: String,
    due_at: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: recordings::summary builds it
struct RecordingSummary {
    status: String,
    content_type: Option<String>,
    size: Option<i64>,
    sha256: Option<String>,
    error: Option<String>,
}

/// The call after an event, and what the event did.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: event adds these to calls::view
struct CallRecorded {
    #[serde(flatten)]
    call: CallView,
    created: bool,
    changed: bool,
    /// Fields this event gave differently from what was stored first (kept as stored).
    ignored: Vec<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: wait_stats answers with json!
struct WaitStats {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    /// The grouping asked for, if any.
    by: Option<String>,
    /// R3's target wait, in seconds.
    target_secs: i64,
    total: stats::Figures,
    groups: Vec<stats::Figures>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: register_card builds it
struct CallTicket {
    number: String,
    registered_at: String,
    due_at: String,
    due: super::api::DueAnswer,
    call_id: String,
    caller: String,
    acknowledgements: card::Acks,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: recording_access answers with json!
struct RecordingAccessLog {
    call_id: String,
    access: Vec<RecordingAccess>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: recordings::access_log builds it
struct RecordingAccess {
    actor: String,
    action: String,
    at: chrono::DateTime<chrono::Utc>,
}

/// An R11 record request (requests::view).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: requests::view builds it
struct RecordRequest {
    id: String,
    requester: String,
    requester_role: String,
    date: String,
    phone: String,
    time_from: Option<String>,
    time_to: Option<String>,
    ticket: Option<String>,
    status: String,
    submitted_at: chrono::DateTime<chrono::Utc>,
    due_at: chrono::DateTime<chrono::Utc>,
    due_at_local: String,
    /// `R11`.
    rule: String,
    answered_at: Option<chrono::DateTime<chrono::Utc>>,
    answered_on_time: Option<bool>,
    released_by: Option<String>,
    downloaded_at: Option<chrono::DateTime<chrono::Utc>>,
    escalated_at: Option<chrono::DateTime<chrono::Utc>>,
    calls: Vec<CallView>,
    tickets: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: CallEvent, CardInput and RequestInput read them field by
// field, so that each mistake is named).

/// One event of a call from the PBX: `arrived`, `answered` (with `answered_at`) or
/// `ended` (with `ended_at` and `disposition`).
struct CallEventBody;

impl utoipa::PartialSchema for CallEventBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use super::openapi::body::one_of;
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder};
        let arrived = ObjectBuilder::new()
            .property("event", one_of(["arrived"]))
            .required("event");
        let answered = ObjectBuilder::new()
            .property("event", one_of(["answered"]))
            .property("answered_at", super::openapi::body::instant())
            .required("event")
            .required("answered_at");
        let ended = ObjectBuilder::new()
            .property("event", one_of(["ended"]))
            .property("ended_at", super::openapi::body::instant())
            .property(
                "disposition",
                one_of(calls::Disposition::ALL.iter().map(|d| d.as_str())),
            )
            .required("event")
            .required("ended_at")
            .required("disposition");
        AllOfBuilder::new()
            .item(CallEventFields::schema())
            .item(OneOfBuilder::new().item(arrived).item(answered).item(ended))
            .into()
    }
}

impl utoipa::ToSchema for CallEventBody {}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: event reads the body with CallEvent::from_json
struct CallEventFields {
    /// The PBX's id of the call: its events are merged by it.
    #[schema(pattern = r"\S", max_length = 128)]
    call_id: String,
    #[schema(value_type = calls::CallEventKind)]
    event: String,
    /// The caller's number.
    #[schema(pattern = r"\S", max_length = 128)]
    caller: String,
    /// The number called, e.g. `1414`.
    #[schema(pattern = r"\S", max_length = 128)]
    called: String,
    /// The PBX queue the call waited in.
    #[schema(pattern = r"\S", max_length = 128)]
    queue: String,
    #[schema(schema_with = super::openapi::body::instant)]
    arrived_at: String,
    #[schema(schema_with = instant_or_null)]
    answered_at: Option<String>,
    #[schema(schema_with = instant_or_null)]
    ended_at: Option<String>,
    /// The login of the operator who answered.
    #[schema(max_length = 128)]
    operator: Option<String>,
    /// `answered` for a call with `answered_at`.
    disposition: Option<calls::Disposition>,
    recording: Option<RecordingBody>,
    /// The caller's post-call score of the operator (R10).
    #[schema(minimum = 1, maximum = 5)]
    survey: Option<i32>,
}

fn instant_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::instant())
}

/// The call's recording: where to fetch it, or its content.
struct RecordingBody;

impl utoipa::PartialSchema for RecordingBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let kinds: Vec<&str> = calls::RECORDING_TYPES
            .iter()
            .filter_map(|t| t.strip_prefix("audio/"))
            .collect();
        let content_type = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!(
                r"^\s*audio/({})\s*(;.*)?$",
                kinds.join("|").replace('-', r"\-")
            )))
            .description(Some(format!(
                "one of {}",
                calls::RECORDING_TYPES.join(", ")
            )))
            .build();
        let url = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[hH][tT][tT][pP][sS]?://[A-Za-z0-9]"))
            .max_length(Some(2048));
        let by_url = ObjectBuilder::new()
            .property("url", url)
            .property("content_type", content_type.clone())
            .required("url");
        let content = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Byte,
            )))
            .min_length(Some(4))
            .description(Some("base64, within BAYLANYS_RECORDING_MAX_BYTES"));
        let by_content = ObjectBuilder::new()
            .property("content_base64", content)
            .property("content_type", content_type)
            .required("content_base64")
            .required("content_type");
        OneOfBuilder::new().item(by_url).item(by_content).into()
    }
}

impl utoipa::ToSchema for RecordingBody {}

/// The call card: the matter the operator registers as a phone ticket.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: ticket reads the body with CardInput::from_json
struct CallCard {
    #[schema(pattern = r"\S", max_length = 100)]
    topic: String,
    #[schema(pattern = r"\S", max_length = 100)]
    region: String,
    #[schema(pattern = r"\S", max_length = 20000)]
    text: String,
    /// The applicant's language.
    #[schema(schema_with = super::openapi::body::language)]
    language: String,
    /// Where the acknowledgement also goes.
    #[schema(schema_with = email_or_null)]
    email: Option<String>,
    /// The applicant's name.
    #[schema(max_length = 200)]
    name: Option<String>,
    /// Acknowledge by SMS too (needs BAYLANYS_SMS_GATEWAY_URL).
    sms: Option<bool>,
}

fn email_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::email())
}

/// R11: the recordings of a number on a date.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: submit_request reads the body with RequestInput::from_json
struct NewRecordRequest {
    #[schema(schema_with = super::openapi::body::day)]
    date: String,
    /// The applicant's number, e.g. `+7 701 234 56 78` (10-15 digits).
    #[schema(pattern = r"^[^0-9]*([0-9][^0-9]*){10,15}$")]
    phone: String,
    /// `HH:MM`, Almaty time.
    #[schema(schema_with = time_or_null)]
    time_from: Option<String>,
    /// `HH:MM`, not before `time_from`.
    #[schema(schema_with = time_or_null)]
    time_to: Option<String>,
    /// The ticket the request is about, e.g. UCC-2026-000001.
    #[schema(schema_with = ticket_or_null)]
    ticket: Option<String>,
}

fn time_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\s*([01][0-9]|2[0-3]):[0-5][0-9]\s*$"))
            .build(),
    )
}

fn ticket_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::ticket_number())
}
