//! The operator REST API (`/api/v1/tickets`) and the calendar endpoints.

use actix_web::{HttpResponse, web};
use baylanys_core::{Attachment, Channel};
use serde::Deserialize;

use super::input::{self, clean, clean_opt};
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::{Permission, User};
use crate::calendar::{DayKind, DayOverride};
use crate::db::DbError;
use crate::tickets::{self, ListFilter, ReplyInput, Status};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/tickets", web::get().to(list_tickets))
        .route("/api/v1/tickets/{number}", web::get().to(get_ticket))
        .route("/api/v1/attachments/{id}", web::get().to(get_attachment))
        .route(
            "/api/v1/tickets/{number}/replies",
            web::post().to(post_reply),
        )
        .route(
            "/api/v1/tickets/{number}/assign",
            web::post().to(post_assign),
        )
        .route(
            "/api/v1/tickets/{number}/transfer",
            web::post().to(post_transfer),
        )
        .route("/api/v1/tickets/{number}/close", web::post().to(post_close))
        .route("/api/v1/tickets/{number}/notes", web::post().to(post_note))
        .route("/api/v1/tickets/{number}/merge", web::post().to(post_merge))
        .route("/api/v1/tickets/{number}/split", web::post().to(post_split))
        .route(
            "/api/v1/tickets/{number}/status",
            web::post().to(post_status),
        )
        .route("/api/v1/calendar/due", web::get().to(calendar_due))
        .route(
            "/api/v1/calendar/days/{date}",
            web::put().to(put_calendar_day),
        )
        .route("/api/v1/calendar/{year}", web::get().to(calendar_year))
        .route(
            "/api/v1/calendar/{year}/movable-days",
            web::put().to(put_movable_days),
        )
        .route("/calendar/{file}", web::get().to(calendar_ics))
        .route("/api/v1/applicants/export", web::get().to(export_applicant));
}

/// Each word of `q` is one LIKE in the query: SQLite's expression depth caps how many.
const MAX_SEARCH_WORDS: usize = 20;
const MAX_SEARCH_CHARS: usize = 500;
/// Longest note, reason or resolution an operator may write.
const MAX_NOTE_CHARS: usize = 4000;
/// Longest reply (plain text; the HTML alternative may be larger).
const MAX_REPLY_CHARS: usize = 100_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    status: Option<String>,
    channel: Option<String>,
    queue: Option<String>,
    overdue: Option<bool>,
    q: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    service: Option<String>,
    body: Option<String>,
    /// Assigned to this login; `none`: to nobody.
    assignee: Option<String>,
    region: Option<String>,
    topic: Option<String>,
    /// `true`: only tickets that are not closed.
    open: Option<bool>,
    /// `due`: soonest due first, paged by `offset` (the console's queue); default newest first.
    sort: Option<String>,
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/tickets",
    tag = "tickets",
    summary = "List tickets, newest first",
    params(ListQuery),
    responses((status = 200, description = "a page of tickets; pass `next_after` as `after` for the next", body = TicketPage))
)]
async fn list_tickets(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let q = q.into_inner();
    let mut errors = Vec::new();
    let status = q
        .status
        .as_deref()
        .map(Status::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("status", e));
            None
        });
    let channel = q
        .channel
        .as_deref()
        .map(str::parse::<Channel>)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("channel", e));
            None
        });
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 200"));
    }
    let text = clean_opt(q.q);
    if let Some(t) = &text {
        let words = t.split_whitespace().count();
        if words > MAX_SEARCH_WORDS || t.chars().count() > MAX_SEARCH_CHARS {
            errors.push(FieldError::new(
                "q",
                format!(
                    "too long ({words} words, {} characters): search with at most {MAX_SEARCH_WORDS} words and {MAX_SEARCH_CHARS} characters",
                    t.chars().count()
                ),
            ));
        }
    }
    let queue = clean_opt(q.queue);
    input::at_most(&mut errors, "queue", queue.as_deref(), 64);
    let after = match q.after.as_deref().map(|a| input::record_id(a, "ticket")) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new(
                "after",
                "must be the `next_after` of the previous page (a ticket id)",
            ));
            None
        }
        None => None,
    };
    let mut id_of = |field: &str, v: Option<&str>| match v.map(|v| input::record_id(v, field)) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(FieldError::new(field, "must be a registry id (a UUID)"));
            None
        }
        None => None,
    };
    let service = id_of("service", q.service.as_deref());
    let body = id_of("body", q.body.as_deref());
    let due_first = match q.sort.as_deref() {
        None | Some("newest") => false,
        Some("due") => true,
        Some(other) => {
            errors.push(FieldError::new(
                "sort",
                format!(
                    "`{}` is not an order: use due or newest",
                    input::shown(other)
                ),
            ));
            false
        }
    };
    let offset = q.offset.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        errors.push(FieldError::new("offset", "must be between 0 and 1000000"));
    }
    let (region, topic) = (clean_opt(q.region), clean_opt(q.topic));
    input::at_most(&mut errors, "region", region.as_deref(), 64);
    input::at_most(&mut errors, "topic", topic.as_deref(), 64);
    let assignee = clean_opt(q.assignee);
    input::at_most(&mut errors, "assignee", assignee.as_deref(), 64);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let mut filter = ListFilter {
        status,
        channel,
        queue,
        overdue: q.overdue,
        q: text,
        after,
        limit,
        service,
        body,
        region,
        topic,
        not_closed: q.open == Some(true),
        due_first,
        offset,
        ..Default::default()
    };
    let now = chrono::Utc::now();
    let rows = app
        .db
        .run(move |c| {
            match assignee.as_deref() {
                Some("none") => filter.unassigned = true,
                Some(login) => {
                    use crate::db::schema::users;
                    use diesel::prelude::*;
                    let id: Option<String> = users::table
                        .filter(users::login.eq(login))
                        .select(users::id)
                        .first(c)
                        .optional()?;
                    // An unknown login has no tickets.
                    filter.assignee = Some(id.unwrap_or_default());
                }
                None => {}
            }
            tickets::list(c, &filter, now)
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tickets": rows, "next_after": next })))
}

#[utoipa::path(
    get,
    path = "/api/v1/tickets/{number}",
    tag = "tickets",
    summary = "One ticket with messages, deliveries, events, forwards and its deadline explanation",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    responses((status = 200, description = "the ticket", body = TicketJson))
)]
async fn get_ticket(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let number = input::ticket_number(&path.into_inner())?;
    let n = number.clone();
    let now = chrono::Utc::now();
    let detail = app.db.run(move |c| ticket_json(c, &n, now)).await?;
    detail
        .map(|d| HttpResponse::Ok().json(d))
        .ok_or_else(|| ApiError::NotFound(format!("ticket {number} not found")))
}

/// One ticket as staff see it (the API's and the console's ticket page's data): the
/// detail, its registry links, its forwards, the applicant's other tickets.
pub fn ticket_json(
    c: &mut crate::db::DbConn,
    number: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<serde_json::Value>, DbError> {
    let Some(d) = tickets::detail(c, number, now)? else {
        return Ok(None);
    };
    let mut v = serde_json::to_value(&d).map_err(|e| DbError::Unavailable(e.to_string()))?;
    crate::registry::links::decorate(c, &d.ticket.id, &mut v)?;
    // Its forwards, as staff see them (at most 100: a ticket rarely has more).
    let filter = crate::forwards::ListFilter {
        ticket: Some(number.to_string()),
        limit: 100,
        ..Default::default()
    };
    let (list, _) = crate::forwards::list(c, &filter, now)?;
    let mut forwards = Vec::new();
    for f in &list {
        forwards.push(f.staff_view(c, now)?);
    }
    v["forwards"] = serde_json::Value::Array(forwards);
    let others = crate::console::work::other_tickets(c, &d.ticket.id)?;
    v["other_tickets"] = serde_json::to_value(others).unwrap_or_default();
    v["last_message_id"] = crate::console::work::last_message_id(c, &d.ticket.id)?.into();
    Ok(Some(v))
}

/// A file an applicant or operator attached, as it was stored.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "tickets",
    summary = "A stored file, as a download",
    params(("id" = String, Path, description = "attachment id")),
    responses((status = 200, description = "the file's bytes, with the content type it was stored with (application/octet-stream when that is not a valid one)", body = Vec<u8>, content_type = "*/*"))
)]
async fn get_attachment(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let id = input::record_id(&path.into_inner(), "attachment")?;
    let wanted = id.clone();
    let file = app.db.run(move |c| tickets::attachment(c, &id)).await?;
    let Some(file) = file else {
        return Err(ApiError::NotFound(format!("no attachment {wanted}")));
    };
    Ok(download(file, &wanted))
}

/// A stored file as a download.
pub(super) fn download(file: Attachment, wanted: &str) -> HttpResponse {
    // Served as a download, never rendered inline: files come from the public.
    let disposition = actix_web::http::header::ContentDisposition {
        disposition: actix_web::http::header::DispositionType::Attachment,
        parameters: vec![actix_web::http::header::DispositionParam::FilenameExt(
            actix_web::http::header::ExtendedValue {
                charset: actix_web::http::header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: file.file_name.into_bytes(),
            },
        )],
    };
    // A row stored before types were checked may hold anything: never echo it as a header.
    let content_type = baylanys_core::media_type(&file.content_type)
        .filter(|t| actix_web::http::header::HeaderValue::from_str(t).is_ok())
        .unwrap_or_else(|| {
            tracing::warn!(attachment = %wanted, "stored content type is not valid; served as octet-stream");
            "application/octet-stream".into()
        });
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(disposition)
        .body(file.content)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct AttachmentInput {
    /// Printable characters, no path.
    #[schema(pattern = r"\S", max_length = 255)]
    file_name: String,
    /// `type/subtype`; by default sniffed from the content.
    #[schema(pattern = r"^\s*([A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+.*)?$")]
    content_type: Option<String>,
    /// Base64 (standard alphabet) of the file, within BAYLANYS_MAX_ATTACHMENT_BYTES.
    #[schema(format = Byte)]
    content_base64: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReplyBody {
    #[schema(max_length = 100000)]
    text: String,
    #[schema(max_length = 500000)]
    html: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentInput>,
    /// `false`: a holding reply, the ticket stays unanswered (R5).
    #[serde(default = "final_by_default", rename = "final")]
    final_reply: bool,
    /// R7: ids of registry bodies whose contact cards are appended, in the ticket's language.
    #[serde(default)]
    #[schema(schema_with = card_ids)]
    cards: Vec<String>,
    /// The newest message the author saw (`last_message_id` of the ticket): when another
    /// answer went out since, the reply is refused with 409 instead of a second answer.
    #[schema(schema_with = message_id_or_null)]
    last_seen_message_id: Option<String>,
}

/// At most registry::cards::MAX_CARDS body ids.
fn card_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(super::openapi::body::uuid())
        .max_items(Some(crate::registry::cards::MAX_CARDS))
        .build()
}

fn message_id_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}

fn final_by_default() -> bool {
    true
}

pub(super) fn decode_attachments(
    list: Vec<AttachmentInput>,
    max: u64,
) -> Result<Vec<Attachment>, ApiError> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, a) in list.into_iter().enumerate() {
        let Some(file_name) = baylanys_core::safe_file_name(&a.file_name) else {
            errors.push(FieldError::new(
                &format!("attachments[{i}].file_name"),
                "required: the file's name (printable characters)",
            ));
            continue;
        };
        let given = a
            .content_type
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let content_type = match given.map(baylanys_core::media_type) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                errors.push(FieldError::new(
                    &format!("attachments[{i}].content_type"),
                    format!(
                        "`{}` is not a media type: give type/subtype such as application/pdf, or leave it out",
                        input::shown(given.unwrap_or_default())
                    ),
                ));
                continue;
            }
            None => None,
        };
        match base64::engine::general_purpose::STANDARD.decode(a.content_base64.trim()) {
            Ok(bytes) if bytes.len() as u64 <= max => out.push(Attachment {
                file_name,
                content_type: content_type
                    .unwrap_or_else(|| baylanys_core::sniff_media_type(&bytes).to_string()),
                content: bytes,
            }),
            Ok(_) => errors.push(FieldError::new(
                &format!("attachments[{i}]"),
                format!("larger than {max} bytes"),
            )),
            Err(e) => errors.push(FieldError::new(
                &format!("attachments[{i}].content_base64"),
                format!("not valid base64: {e}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/replies",
    tag = "tickets",
    summary = "Reply to the applicant through the ticket's channel",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = ReplyBody),
    responses((status = 202, description = "the reply is queued for delivery", body = tickets::ReplyQueued))
)]
async fn post_reply(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let body = body.into_inner();
    let (text, html) = (clean(body.text), clean_opt(body.html));
    let mut errors = Vec::new();
    input::at_most(&mut errors, "text", Some(&text), MAX_REPLY_CHARS);
    input::at_most(&mut errors, "html", html.as_deref(), 5 * MAX_REPLY_CHARS);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    if body.cards.len() > crate::registry::cards::MAX_CARDS {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "cards",
            format!(
                "at most {} cards in one reply",
                crate::registry::cards::MAX_CARDS
            ),
        )]));
    }
    let cards = body
        .cards
        .iter()
        .enumerate()
        .map(|(i, c)| {
            input::record_id(c, "body").map_err(|_| {
                ApiError::Invalid(vec![FieldError::new(
                    &format!("cards[{i}]"),
                    "must be a body id (a UUID)",
                )])
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut input = ReplyInput {
        attachments: decode_attachments(body.attachments, app.config.max_attachment_bytes)?,
        text,
        html,
        final_reply: body.final_reply,
    };
    let number = input::ticket_number(&path.into_inner())?;
    if !cards.is_empty() {
        let (n, t, templates) = (number.clone(), input.text.clone(), app.templates.clone());
        let with_cards = app
            .db
            .run(move |c| {
                Ok(crate::registry::cards::append(
                    c, &templates, &n, &t, &cards,
                ))
            })
            .await??;
        // The HTML alternative, when given, carries the cards too.
        if let Some(h) = &mut input.html {
            let added = with_cards[input.text.trim_end().len()..].trim();
            h.push_str(&format!("<pre>{}</pre>", html_escape(added)));
        }
        input.text = with_cards;
    }
    let last_seen = body.last_seen_message_id;
    let queued = ticket_action(&app, user, move |c, user, app| {
        if let Some(seen) = &last_seen {
            crate::console::work::check_current(c, &number, seen)?;
        }
        tickets::reply(c, &number, user, &input, app.outbox())
    })
    .await?;
    Ok(HttpResponse::Accepted().json(queued))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Runs an operator action in one write transaction, then wakes the job worker for
/// whatever the action queued (notices, replies, rating requests).
pub(super) async fn ticket_action<T, F>(app: &AppData, user: User, action: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn, &User, &crate::AppState) -> Result<T, tickets::ActionError>
        + Send
        + 'static,
    T: Send + 'static,
{
    let shared = app.get_ref().clone();
    let out = app
        .db
        .write(move |c| Ok(action(c, &user, &shared)))
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(out)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AssignBody {
    /// An active staff login.
    #[schema(pattern = r"\S", max_length = 64)]
    login: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/assign",
    tag = "tickets",
    summary = "Assign the ticket to a staff login",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = AssignBody),
    responses((status = 204, description = "assigned"))
)]
async fn post_assign(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let login = clean(body.into_inner().login).trim().to_string();
    if login.is_empty() || login.chars().count() > 64 {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "login",
            "required: the login of the user to assign (1-64 characters)",
        )]));
    }
    ticket_action(&app, user, move |c, user, _| {
        tickets::assign(c, &number, user, &login)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct TransferBody {
    /// A queue's code (GET /api/v1/queues).
    #[schema(pattern = r"\S", max_length = 64)]
    queue: String,
    /// Why, for the ticket's history.
    #[schema(max_length = 4000)]
    note: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/transfer",
    tag = "tickets",
    summary = "Transfer the ticket to another queue (R8: the applicant is told)",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = TransferBody),
    responses((status = 204, description = "transferred"))
)]
async fn post_transfer(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let body = body.into_inner();
    let (queue, note) = (clean(body.queue), clean_opt(body.note));
    let mut errors = Vec::new();
    input::at_most(&mut errors, "note", note.as_deref(), MAX_NOTE_CHARS);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    ticket_action(&app, user, move |c, user, app| {
        let note = note.as_deref();
        tickets::transfer(c, &number, user, &queue, note, app.outbox())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
struct CloseBody {
    #[schema(max_length = 4000)]
    resolution: Option<String>,
}

/// The body is optional; when there is one it must be the JSON object, like every route's.
#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/close",
    tag = "tickets",
    summary = "Close the ticket (chat channels then ask for a rating, R10); the body may be empty",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = CloseBody),
    responses((status = 204, description = "closed"))
)]
async fn post_close(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let body: CloseBody = if body.iter().all(u8::is_ascii_whitespace) {
        CloseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the JSON body is not valid: {e} (expected {{\"resolution\": \"text\"}} or no body)"
            ))
        })?
    };
    let resolution = clean_opt(body.resolution);
    let mut errors = Vec::new();
    input::at_most(
        &mut errors,
        "resolution",
        resolution.as_deref(),
        MAX_NOTE_CHARS,
    );
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    ticket_action(&app, user, move |c, user, app| {
        tickets::close(c, &number, user, resolution.as_deref(), app.outbox())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StatusBody {
    /// `answered` and `closed` are set by POST .../replies and POST .../close.
    #[schema(schema_with = status_to_set)]
    status: String,
    #[schema(max_length = 4000)]
    reason: Option<String>,
}

fn status_to_set() -> utoipa::openapi::schema::Object {
    super::openapi::body::one_of(["open", "waiting"])
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/status",
    tag = "tickets",
    summary = "Set the ticket waiting, back to open, or reopen it",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = StatusBody),
    responses((status = 204, description = "status changed"))
)]
async fn post_status(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let body = body.into_inner();
    let (status, reason) = (clean(body.status), clean_opt(body.reason));
    let mut errors = Vec::new();
    input::at_most(&mut errors, "reason", reason.as_deref(), MAX_NOTE_CHARS);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    ticket_action(&app, user, move |c, user, _| {
        tickets::set_status(c, &number, user, &status, reason.as_deref())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NoteBody {
    #[schema(pattern = r"\S", max_length = 4000)]
    text: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/notes",
    tag = "tickets",
    summary = "Add an internal note: staff only, never sent to the applicant",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = NoteBody),
    responses((status = 201, description = "the note, in the ticket's messages with direction `internal`", body = NoteCreated))
)]
async fn post_note(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let text = clean(body.into_inner().text);
    let id = ticket_action(&app, user, move |c, user, _| {
        crate::console::work::add_note(c, &number, user, &text)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "message_id": id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MergeBody {
    /// The duplicate ticket, merged into this one (same applicant).
    #[schema(schema_with = super::openapi::body::ticket_number)]
    duplicate: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/merge",
    tag = "tickets",
    summary = "Merge a duplicate ticket of the same applicant into this one (its messages move, the earlier deadline is kept, the duplicate is closed)",
    params(("number" = String, Path, description = "the ticket that stays, e.g. UCC-2026-000001")),
    request_body(content = MergeBody),
    responses((status = 204, description = "merged"))
)]
async fn post_merge(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let duplicate = input::ticket_number(&clean(body.into_inner().duplicate))?;
    ticket_action(&app, user, move |c, user, _| {
        crate::console::work::merge(c, &number, &duplicate, user)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct SplitBody {
    /// The applicant's message that becomes a ticket of its own.
    #[schema(schema_with = super::openapi::body::uuid)]
    message_id: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/split",
    tag = "tickets",
    summary = "Split one of the applicant's later messages off into a ticket of its own",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = SplitBody),
    responses((status = 201, description = "the new ticket", body = SplitCreated))
)]
async fn post_split(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<SplitBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let message = input::record_id(&body.into_inner().message_id, "message")?;
    let new = ticket_action(&app, user, move |c, user, app| {
        let n = crate::console::work::allocate_number(c, app)?;
        crate::console::work::split(c, &number, &message, user, &n)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "number": new })))
}

// ---------------------------------------------------------------------------------------
// Calendar

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DueQuery {
    from: Option<String>,
    working_days: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/calendar/due",
    tag = "calendar",
    summary = "The due instant N working days after a moment (R5)",
    params(DueQuery),
    responses((status = 200, description = "the due instant and why", body = DueAnswer))
)]
async fn calendar_due(app: AppData, q: web::Query<DueQuery>) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let mut errors = Vec::new();
    let from = match q.from.as_deref().map(crate::calendar::parse_instant) {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(FieldError::new("from", e.to_string()));
            None
        }
        None => {
            errors.push(FieldError::new(
                "from",
                "required: an RFC 3339 time with offset, e.g. 2025-03-07T10:00:00+05:00",
            ));
            None
        }
    };
    let n = match q.working_days.as_deref().map(str::parse::<u32>) {
        Some(Ok(n)) if n <= crate::calendar::MAX_WORKING_DAYS => Some(n),
        Some(_) => {
            errors.push(FieldError::new(
                "working_days",
                format!(
                    "must be a whole number in 0..={}",
                    crate::calendar::MAX_WORKING_DAYS
                ),
            ));
            None
        }
        None => Some(crate::calendar::R5_REPLY_WORKING_DAYS),
    };
    if let Some(t) = from {
        let year = chrono::Datelike::year(&t.with_timezone(&chrono_tz::Asia::Almaty));
        if !(CALENDAR_FIRST_YEAR..=CALENDAR_LAST_YEAR).contains(&year) {
            errors.push(FieldError::new(
                "from",
                format!(
                    "year {year} is outside the years the calendar covers ({CALENDAR_FIRST_YEAR}-{CALENDAR_LAST_YEAR})"
                ),
            ));
        }
    }
    let (Some(from), Some(n), true) = (from, n, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let rule = if n == crate::calendar::R5_REPLY_WORKING_DAYS {
        "R5"
    } else {
        "C1"
    };
    let deadline = app
        .calendar()
        .working_days_due(
            from.with_timezone(&chrono::Utc),
            n,
            rule,
            &app.config.working_hours,
        )
        .map_err(|e| ApiError::Invalid(vec![FieldError::new("from", e.to_string())]))?;
    let due_year = chrono::Datelike::year(&deadline.due_at.with_timezone(&chrono_tz::Asia::Almaty));
    if due_year > CALENDAR_LAST_YEAR {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "working_days",
            format!(
                "the deadline falls in {due_year}, after the last year the calendar covers ({CALENDAR_LAST_YEAR}): count fewer days or start earlier"
            ),
        )]));
    }
    Ok(HttpResponse::Ok().json(crate::calendar::due_json(&deadline)))
}

use crate::calendar::{FIRST_YEAR as CALENDAR_FIRST_YEAR, LAST_YEAR as CALENDAR_LAST_YEAR};

fn parse_year(text: &str) -> Result<i32, ApiError> {
    match text.parse::<i32>() {
        Ok(y) if (CALENDAR_FIRST_YEAR..=CALENDAR_LAST_YEAR).contains(&y) => Ok(y),
        _ => Err(ApiError::Invalid(vec![FieldError::new(
            "year",
            format!(
                "`{}` is not a year between {CALENDAR_FIRST_YEAR} and {CALENDAR_LAST_YEAR}",
                input::shown(text)
            ),
        )])),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/calendar/{year}",
    tag = "calendar",
    summary = "The working-day calendar of a year",
    params(("year" = String, Path, description = "a year, e.g. 2026")),
    responses((status = 200, description = "the year's days off, moved days and their sources", body = crate::calendar::YearListing))
)]
async fn calendar_year(app: AppData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let year = parse_year(&path.into_inner())?;
    Ok(HttpResponse::Ok().json(app.calendar().year(year)))
}

async fn calendar_ics(app: AppData, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = path.into_inner();
    let Some(year) = file.strip_suffix(".ics") else {
        return Err(ApiError::NotFound(format!(
            "/calendar/{}: ask for /calendar/YEAR.ics",
            input::shown(&file)
        )));
    };
    let year = parse_year(year)?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"baylanys-{year}.ics\""),
        ))
        .body(app.calendar().ics(year)))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DayBody {
    #[schema(value_type = crate::calendar::DayKind)]
    kind: String,
    /// The act that decided it (decree number and date).
    #[schema(pattern = r"\S")]
    note: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/calendar/days/{date}",
    tag = "calendar",
    summary = "Override one day of the calendar",
    params(("date" = String, Path, description = "YYYY-MM-DD")),
    request_body(content = DayBody),
    responses((status = 200, description = "the day as now recorded", body = DayRecorded))
)]
async fn put_calendar_day(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<DayBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ManageCalendar)?.clone();
    let body = body.into_inner();
    let o = set_calendar_day(&app, &user, &path.into_inner(), &body.kind, body.note).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "date": o.date.to_string(), "kind": o.kind.as_str(), "note": o.note,
        "working": app.calendar().is_working_day(o.date),
    })))
}

/// Checks and stores one day's override by `user` and reloads the calendar (the API's
/// PUT and the admin portal's form).
pub(crate) async fn set_calendar_day(
    app: &AppData,
    user: &crate::auth::User,
    text: &str,
    kind: &str,
    note: String,
) -> Result<DayOverride, ApiError> {
    let note = clean(note);
    let mut errors = Vec::new();
    input::at_most(&mut errors, "note", Some(&note), MAX_NOTE_CHARS);
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| {
            errors.push(FieldError::new(
                "date",
                format!("`{}` is not a date like 2027-05-16", input::shown(text)),
            ))
        })
        .ok();
    let year = date.map(|d| chrono::Datelike::year(&d));
    if let Some(y) = year.filter(|y| !(CALENDAR_FIRST_YEAR..=CALENDAR_LAST_YEAR).contains(y)) {
        errors.push(FieldError::new(
            "date",
            format!(
                "year {y} is outside the years the calendar covers ({CALENDAR_FIRST_YEAR}-{CALENDAR_LAST_YEAR})"
            ),
        ));
    }
    let kind = kind
        .parse::<DayKind>()
        .map_err(|e| errors.push(FieldError::new("kind", e.to_string())))
        .ok();
    if note.trim().is_empty() {
        errors.push(FieldError::new(
            "note",
            "required: name the act that decided it (decree number and date)",
        ));
    }
    let (Some(date), Some(kind), true) = (date, kind, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let o = DayOverride {
        date,
        kind,
        note: note.trim().to_string(),
    };
    let (stored, login) = (o.clone(), user.login.clone());
    app.db
        .write(move |c| crate::calendar::store::store_day(c, &stored, &login))
        .await?;
    app.reload_calendar().await?;
    Ok(o)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MovableDaysBody {
    /// The acts that set the year's movable days.
    #[schema(pattern = r"\S", max_length = 4000)]
    note: String,
}

/// An administrator confirms that a year's movable days are all entered.
#[utoipa::path(
    put,
    path = "/api/v1/calendar/{year}/movable-days",
    tag = "calendar",
    summary = "Confirm the year's movable holidays",
    params(("year" = String, Path, description = "a year, e.g. 2026")),
    request_body(content = MovableDaysBody),
    responses((status = 200, description = "the year as now confirmed", body = crate::calendar::YearListing))
)]
async fn put_movable_days(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<MovableDaysBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ManageCalendar)?.clone();
    let year = parse_year(&path.into_inner())?;
    let note = clean(body.into_inner().note).trim().to_string();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "note",
            format!("longer than {MAX_NOTE_CHARS} characters: shorten it"),
        )]));
    }
    if note.is_empty() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "note",
            "required: name the acts that set the year's movable days",
        )]));
    }
    app.db
        .write(move |c| crate::calendar::store::confirm_year(c, year, &note, &user.login))
        .await?;
    app.reload_calendar().await?;
    Ok(HttpResponse::Ok().json(app.calendar().year(year)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ApplicantQuery {
    email: Option<String>,
    phone: Option<String>,
    iin: Option<String>,
    telegram_chat_id: Option<String>,
}

/// Everything held about one applicant (`?email=`, `?phone=`, `?iin=`,
/// `?telegram_chat_id=`): their contacts and each ticket in full. Each exported ticket
/// records who exported it.
#[utoipa::path(
    get,
    path = "/api/v1/applicants/export",
    tag = "tickets",
    summary = "Everything held about one applicant (personal data law)",
    params(ApplicantQuery),
    responses((status = 200, description = "the applicant's tickets, messages and events", body = ApplicantExport))
)]
async fn export_applicant(
    app: AppData,
    who: Authed,
    query: web::Query<ApplicantQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ExportPersonalData)?.clone();
    let q = query.into_inner();
    let keep = |v: Option<String>| {
        v.map(clean)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let applicant = crate::retention::Applicant {
        email: keep(q.email),
        phone: keep(q.phone),
        iin: keep(q.iin),
        telegram_chat_id: keep(q.telegram_chat_id),
    };
    if applicant.email.is_none()
        && applicant.phone.is_none()
        && applicant.iin.is_none()
        && applicant.telegram_chat_id.is_none()
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "email",
            "name the applicant: give email, phone, iin or telegram_chat_id",
        )]));
    }
    let now = app.clock.now();
    let v = app
        .db
        .write(move |c| crate::retention::export(c, &applicant, &user.login, now))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"applicant.json\"",
        ))
        .json(v))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

/// A page of tickets.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_tickets builds this shape with json!
struct TicketPage {
    tickets: Vec<tickets::TicketRow>,
    /// The last ticket's id when the page is full: pass it as `after`.
    next_after: Option<String>,
}

/// One ticket as staff see it: the detail, its registry links, its forwards and the
/// applicant's other tickets (`contact` carries `body_id` too).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: ticket_json builds this shape
struct TicketJson {
    #[serde(flatten)]
    detail: tickets::TicketDetail,
    services: Vec<crate::registry::links::LinkedService>,
    service_proposals: Vec<crate::registry::links::Proposal>,
    forwards: Vec<super::forwards::ForwardView>,
    other_tickets: Vec<crate::console::work::OtherTicket>,
    /// The newest message that is not an internal note (pass it as `last_seen_message_id`).
    last_message_id: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_note answers with json!
struct NoteCreated {
    message_id: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_split answers with json!
struct SplitCreated {
    /// The new ticket's registration number.
    number: String,
}

/// A deadline (calendar::due_json).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: calendar::due_json builds it
pub(super) struct DueAnswer {
    due_at: String,
    /// The date counting starts from (YYYY-MM-DD).
    effective_from: String,
    /// `R5` (the reply deadline) or `C1` (another count of working days).
    rule: String,
    explanation: crate::calendar::Explanation,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: put_calendar_day answers with json!
struct DayRecorded {
    date: String,
    kind: DayKind,
    note: String,
    /// Whether the day is now a working day.
    working: bool,
}

/// Everything held about one applicant.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: retention::export builds it
struct ApplicantExport {
    contacts: Vec<serde_json::Value>,
    tickets: Vec<serde_json::Value>,
}
