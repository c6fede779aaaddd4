//! Forwards over HTTP. Staff forward, read every forward, relay answers and accept held
//! replies; an agency or ici user reads, answers and declines only its body's forwards
//! (anything else is a 404, so other bodies' ids reveal nothing). F4 notices: listed by
//! staff, confirmed by supervisors.

use actix_web::{HttpResponse, web};
use serde_json::Value;

use super::api::{AttachmentInput, decode_attachments, download};
use super::input::{clean, record_id, shown, ticket_number};
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::{Permission, Role, User};
use crate::forwards::{self, ForwardError, ForwardStatus, ListFilter, NewForward};
use crate::registry::BodyKind;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/tickets/{number}/forwards",
        web::post().to(create_forward),
    )
    .route("/api/v1/forwards", web::get().to(list_forwards))
    .route("/api/v1/forwards/overdue", web::get().to(list_overdue))
    .route("/api/v1/forwards/{id}", web::get().to(get_forward))
    .route(
        "/api/v1/forwards/{id}/attachments/{attachment}",
        web::get().to(get_forward_attachment),
    )
    .route("/api/v1/forwards/{id}/answer", web::post().to(post_answer))
    .route(
        "/api/v1/forwards/{id}/decline",
        web::post().to(post_decline),
    )
    .route("/api/v1/forwards/{id}/relay", web::post().to(post_relay))
    .route(
        "/api/v1/forwards/{id}/replies/{message}/accept",
        web::post().to(post_accept),
    )
    .route("/api/v1/quality-notices", web::get().to(list_notices))
    .route("/api/v1/quality-notices/{id}", web::get().to(get_notice))
    .route(
        "/api/v1/quality-notices/{id}/confirm",
        web::post().to(post_confirm),
    );
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            ForwardError::NotFound(m) => ApiError::NotFound(m),
            ForwardError::Conflict(m) => ApiError::Conflict(m),
            ForwardError::Template(m) => ApiError::internal(m),
            ForwardError::Db(e) => e.into(),
        }
    }
}

/// Staff who read forwards, or a body's user (scoped to its body).
fn reader(who: &Authed) -> Result<&User, ApiError> {
    if who.0.role.may(Permission::AnswerForwards) {
        return Ok(&who.0);
    }
    who.may(Permission::ReadForwards)
}

fn is_body_user(u: &User) -> bool {
    matches!(u.role, Role::Agency | Role::Ici)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no forward `{}`", shown(id)))
}

fn object(v: &Value) -> Result<&serde_json::Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::BadRequest("the body must be a JSON object".into()))
}

fn unknown_fields(
    o: &serde_json::Map<String, Value>,
    known: &[&str],
    errors: &mut Vec<FieldError>,
) {
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        errors.push(FieldError::new(
            &shown(k),
            format!("unknown field: expected {}", known.join(", ")),
        ));
    }
}

/// A required or optional text field, cleaned and bounded.
fn text_field(
    o: &serde_json::Map<String, Value>,
    field: &str,
    required: bool,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match o.get(field) {
        None | Some(Value::Null) if required => {
            errors.push(FieldError::new(field, "required"));
            None
        }
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = clean(s.clone());
            if s.trim().is_empty() {
                if required {
                    errors.push(FieldError::new(field, "must not be empty"));
                }
                None
            } else if s.chars().count() > max {
                errors.push(FieldError::new(
                    field,
                    format!("longer than {max} characters: shorten it"),
                ));
                None
            } else {
                Some(s)
            }
        }
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

fn id_list(
    o: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let Some(v) = o.get(field).filter(|v| !v.is_null()) else {
        return Vec::new();
    };
    let Some(list) = v.as_array() else {
        errors.push(FieldError::new(field, "must be an array of ids"));
        return Vec::new();
    };
    if list.len() > forwards::MAX_ITEMS {
        errors.push(FieldError::new(
            field,
            format!(
                "{} ids: at most {} per forward",
                list.len(),
                forwards::MAX_ITEMS
            ),
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
        {
            Some(u) => {
                let id = u.hyphenated().to_string();
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            None => errors.push(FieldError::new(
                &format!("{field}[{i}]"),
                "not an id: give the `id` shown with the ticket's messages and files",
            )),
        }
    }
    out
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/forwards",
    tag = "forwards",
    summary = "Forward a question about the ticket to a registry body",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = ForwardRequest, description = "no `body` but a `category`: the ICI operator's group (F9)"),
    responses((status = 201, description = "the forward", body = ForwardView))
)]
async fn create_forward(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ForwardTickets)?.clone();
    let number = ticket_number(&path.into_inner())?;
    let o = object(&body)?;
    let mut errors = Vec::new();
    unknown_fields(
        o,
        &[
            "body",
            "question",
            "messages",
            "attachments",
            "include_personal_data",
            "category",
        ],
        &mut errors,
    );
    let body_id = match o.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match uuid::Uuid::parse_str(s.trim()) {
            Ok(u) => Some(u.hyphenated().to_string()),
            Err(_) => {
                errors.push(FieldError::new(
                    "body",
                    format!("`{}` is not a body id (see GET /api/v1/bodies)", shown(s)),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("body", "must be a body id (a string)"));
            None
        }
    };
    let question = text_field(o, "question", true, forwards::MAX_TEXT_CHARS, &mut errors);
    let category = text_field(o, "category", false, 64, &mut errors);
    let include = match o.get("include_personal_data") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new(
                "include_personal_data",
                "must be true or false",
            ));
            false
        }
    };
    let messages = id_list(o, "messages", &mut errors);
    let attachments = id_list(o, "attachments", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let input = NewForward {
        body: body_id,
        question: question.unwrap_or_default(),
        messages,
        attachments,
        include_personal_data: include,
        category,
    };
    let now = app.clock.now();
    let a = app.clone();
    let view = app
        .db
        .write(move |c| {
            Ok(forwards::create(c, &a, &number, &user, &input, now)
                .and_then(|f| Ok(f.staff_view(c, now)?)))
        })
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Created().json(view))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    body: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    overdue: Option<String>,
    ticket: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/forwards",
    tag = "forwards",
    summary = "Forwards, earliest deadline first (agency/ici users: their body's only)",
    params(ListQuery),
    responses((status = 200, description = "a page of forwards (staff also see each one's `ticket`)", body = ForwardPage))
)]
async fn list_forwards(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(app, who, q.into_inner(), None).await
}

/// The overdue list: `GET /api/v1/forwards?overdue=true`, under its own name.
#[utoipa::path(
    get,
    path = "/api/v1/forwards/overdue",
    tag = "forwards",
    summary = "Open forwards past their deadline",
    params(ListQuery),
    responses((status = 200, description = "a page of forwards (staff also see each one's `ticket`)", body = ForwardPage))
)]
async fn list_overdue(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    list(app, who, q.into_inner(), Some(true)).await
}

async fn list(
    app: AppData,
    who: Authed,
    q: ListQuery,
    overdue: Option<bool>,
) -> Result<HttpResponse, ApiError> {
    let user = reader(&who)?.clone();
    let mut errors = Vec::new();
    let limit = match q.limit.as_deref().map(|l| l.trim().parse::<i64>()) {
        None => 50,
        Some(Ok(l)) if (1..=200).contains(&l) => l,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "must be a number between 1 and 200",
            ));
            50
        }
    };
    let overdue = match q.overdue.as_deref().map(str::trim) {
        _ if overdue.is_some() => overdue,
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("overdue", "must be true or false"));
            None
        }
    };
    let kind = q
        .kind
        .as_deref()
        .map(BodyKind::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("kind", e));
            None
        });
    let status = q
        .status
        .as_deref()
        .map(ForwardStatus::parse)
        .transpose()
        .unwrap_or_else(|e| {
            errors.push(FieldError::new("status", e));
            None
        });
    let mut uuid_of = |v: Option<String>, field: &str, what: &str| {
        v.and_then(|s| match uuid::Uuid::parse_str(s.trim()) {
            Ok(u) => Some(u.hyphenated().to_string()),
            Err(_) => {
                errors.push(FieldError::new(field, format!("must be {what}")));
                None
            }
        })
    };
    let mut body = uuid_of(q.body, "body", "a body id");
    let after = uuid_of(
        q.after,
        "after",
        "the `next_after` of the previous page (a forward id)",
    );
    let ticket = match q.ticket {
        Some(t) => match ticket_number(&t) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new(
                    "ticket",
                    "must be a registration number such as UCC-2026-000042",
                ));
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    if is_body_user(&user) {
        // Their own body's forwards, whatever filter they give.
        match (&body, &user.body_id) {
            (Some(b), Some(own)) if b != own => {
                return Ok(HttpResponse::Ok()
                    .json(serde_json::json!({"forwards": [], "next_after": null})));
            }
            _ => body = user.body_id.clone(),
        }
        if body.is_none() {
            return Ok(
                HttpResponse::Ok().json(serde_json::json!({"forwards": [], "next_after": null}))
            );
        }
    }
    let filter = ListFilter {
        body,
        kind,
        status,
        overdue,
        ticket: if is_body_user(&user) { None } else { ticket },
        after,
        limit,
    };
    let now = app.clock.now();
    let staff = !is_body_user(&user);
    let (list, next) = app.db.run(move |c| forwards::list(c, &filter, now)).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|f| {
            let mut v = f.body_view(now);
            if staff {
                v["ticket"] = f.ticket_number.clone().into();
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"forwards": items, "next_after": next})))
}

#[utoipa::path(
    get,
    path = "/api/v1/forwards/{id}",
    tag = "forwards",
    summary = "One forward with its deliveries and the body's messages (a body's user: what was sent and its history)",
    params(("id" = String, Path, description = "forward id")),
    responses((status = 200, description = "the forward: all of this to staff, the body's view (without the ticket and deliveries) to the body's users", body = ForwardView))
)]
async fn get_forward(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = reader(&who)?.clone();
    let id = record_id(&path.into_inner(), "forward")?;
    let now = app.clock.now();
    let wanted = id.clone();
    let view = app
        .db
        .run(move |c| {
            let Some(f) = forwards::get_for(c, &id, &user)? else {
                return Ok(None);
            };
            if is_body_user(&user) {
                let mut v = f.body_view(now);
                v["history"] = forwards::history(c, &f.row)?.into();
                Ok(Some(v))
            } else {
                f.staff_view(c, now).map(Some)
            }
        })
        .await?;
    view.map(|v| HttpResponse::Ok().json(v))
        .ok_or_else(|| not_found(&wanted))
}

#[utoipa::path(
    get,
    path = "/api/v1/forwards/{id}/attachments/{attachment}",
    tag = "forwards",
    summary = "A file sent with the forward",
    params(("id" = String, Path, description = "forward id"), ("attachment" = String, Path, description = "attachment id")),
    responses((status = 200, description = "the file's bytes, with the content type it was stored with (application/octet-stream when that is not a valid one)", body = Vec<u8>, content_type = "*/*"))
)]
async fn get_forward_attachment(
    app: AppData,
    who: Authed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = reader(&who)?.clone();
    let (id, att) = path.into_inner();
    let id = record_id(&id, "forward")?;
    let att = record_id(&att, "attachment")?;
    let (wanted, wanted_att) = (id.clone(), att.clone());
    let file = app
        .db
        .run(move |c| {
            let Some(f) = forwards::get_for(c, &id, &user)? else {
                return Ok(Err(()));
            };
            // A body gets only what was sent with its forward.
            if !forwards::sent_attachment(&f.row, &att) {
                return Ok(Ok(None));
            }
            crate::tickets::attachment(c, &att).map(Ok)
        })
        .await?;
    match file {
        Err(()) => Err(not_found(&wanted)),
        Ok(None) => Err(ApiError::NotFound(format!(
            "no attachment `{wanted_att}` was sent with this forward"
        ))),
        Ok(Some(file)) => Ok(download(file, &wanted_att)),
    }
}

/// The forward of a body user's own body, or 404.
pub(crate) async fn own_forward(
    app: &AppData,
    user: &User,
    id: &str,
) -> Result<forwards::ForwardRow, ApiError> {
    let (i, u) = (id.to_string(), user.clone());
    app.db
        .run(move |c| forwards::get_for(c, &i, &u))
        .await?
        .map(|f| f.row)
        .ok_or_else(|| not_found(id))
}

#[utoipa::path(
    post,
    path = "/api/v1/forwards/{id}/answer",
    tag = "forwards",
    summary = "The body answers the forward",
    params(("id" = String, Path, description = "forward id")),
    request_body(content = ForwardAnswer),
    responses((status = 200, description = "the answer, recorded", body = ForwardAnswered))
)]
async fn post_answer(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::AnswerForwards)?.clone();
    let id = record_id(&path.into_inner(), "forward")?;
    let f = own_forward(&app, &user, &id).await?;
    let o = object(&body)?;
    let mut errors = Vec::new();
    unknown_fields(o, &["text", "attachments"], &mut errors);
    let text = text_field(o, "text", true, forwards::MAX_TEXT_CHARS, &mut errors);
    let files: Vec<AttachmentInput> = match o.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            match serde_json::from_value(v.clone()) {
                Ok(list) => list,
                Err(e) => {
                    errors.push(FieldError::new(
                    "attachments",
                    format!("must be [{{\"file_name\", \"content_type\"?, \"content_base64\"}}]: {e}"),
                ));
                    Vec::new()
                }
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let files = decode_attachments(files, app.config.max_attachment_bytes)?;
    let text = text.unwrap_or_default();
    let (landed, message_id) = answer_forward(&app, &user, f, text, files, "api").await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "forward_id": id, "status": "answered", "landed": landed, "message_id": message_id,
    })))
}

/// The body's answer to its own forward `f` (checked by the caller), as the API and the
/// agency and ICI portals give it: the first answer closes the forward and lands in the
/// ticket; a later one is a 409.
pub(crate) async fn answer_forward(
    app: &AppData,
    user: &User,
    f: forwards::ForwardRow,
    text: String,
    files: Vec<baylanys_core::Attachment>,
    channel: &'static str,
) -> Result<(forwards::Landed, String), ApiError> {
    let now = app.clock.now();
    let a = app.clone();
    let login = user.login.clone();
    let out = app
        .db
        .write(move |c| {
            let answer = forwards::Answer {
                text: &text,
                attachments: &files,
                by: &login,
                channel,
                address: &login,
                raw_payload_id: None,
                external_id: None,
                subject: None,
            };
            Ok(forwards::answer(c, &a, &f, &answer, false, now))
        })
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(out)
}

/// The body's refusal of its own forward `f` (API and portals); returns the F4 notice
/// raised, if any.
pub(crate) async fn decline_forward(
    app: &AppData,
    user: &User,
    f: forwards::ForwardRow,
    reason: String,
) -> Result<Option<String>, ApiError> {
    let now = app.clock.now();
    let a = app.clone();
    let login = user.login.clone();
    let notice = app
        .db
        .write(move |c| Ok(forwards::decline(c, &a, &f, &reason, &login, now)))
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(notice)
}

#[utoipa::path(
    post,
    path = "/api/v1/forwards/{id}/decline",
    tag = "forwards",
    summary = "The body declines the forward (F4 counts refusals)",
    params(("id" = String, Path, description = "forward id")),
    request_body(content = ForwardDecline),
    responses((status = 200, description = "the forward, declined", body = ForwardDeclined))
)]
async fn post_decline(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::AnswerForwards)?.clone();
    let id = record_id(&path.into_inner(), "forward")?;
    let f = own_forward(&app, &user, &id).await?;
    let o = object(&body)?;
    let mut errors = Vec::new();
    unknown_fields(o, &["reason"], &mut errors);
    let reason = text_field(o, "reason", true, forwards::MAX_TEXT_CHARS, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let reason = reason.unwrap_or_default();
    let notice = decline_forward(&app, &user, f, reason).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "forward_id": id, "status": "declined", "quality_notice_id": notice,
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/forwards/{id}/relay",
    tag = "forwards",
    summary = "Relay the body's answer to the applicant as a reply",
    params(("id" = String, Path, description = "forward id")),
    request_body(content = Option<ForwardRelay>, description = "optional: without it, the body's answer as it is, as a final reply"),
    responses((status = 202, description = "the reply is queued", body = ForwardRelayed))
)]
async fn post_relay(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: Option<web::Json<Value>>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ForwardTickets)?.clone();
    let id = record_id(&path.into_inner(), "forward")?;
    let empty = serde_json::Map::new();
    let body = body.map(|b| b.into_inner());
    let o = match &body {
        Some(v) => object(v)?,
        None => &empty,
    };
    let mut errors = Vec::new();
    unknown_fields(o, &["text", "final"], &mut errors);
    let edited = text_field(o, "text", false, 100_000, &mut errors);
    let final_reply = match o.get("final") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("final", "must be true or false"));
            true
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let now = app.clock.now();
    let a = app.clone();
    let wanted = id.clone();
    let queued = app
        .db
        .write(move |c| {
            let Some(f) = forwards::get(c, &id)? else {
                return Ok(Err(not_found(&id)));
            };
            let Some((text, files)) = forwards::answer_content(c, &f.row)? else {
                return Ok(Err(ApiError::Conflict(format!(
                    "forward {} has no answer to relay yet",
                    f.row.reference
                ))));
            };
            let input = crate::tickets::ReplyInput {
                text: edited.clone().unwrap_or(text),
                html: None,
                attachments: files,
                final_reply,
            };
            let queued = match crate::tickets::reply(c, &f.ticket_number, &user, &input, a.outbox())
            {
                Ok(q) => q,
                Err(crate::tickets::ActionError::Db(e)) => return Err(e),
                Err(e) => return Ok(Err(e.into())),
            };
            forwards::mark_relayed(c, &f.row, &user, edited.is_some(), now)?;
            Ok(Ok(queued))
        })
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "forward_id": wanted, "reply": queued,
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/forwards/{id}/replies/{message}/accept",
    tag = "forwards",
    summary = "A held mail reply becomes the body's answer",
    params(("id" = String, Path, description = "forward id"), ("message" = String, Path, description = "message id")),
    responses((status = 200, description = "where the reply landed", body = ForwardAccepted))
)]
async fn post_accept(
    app: AppData,
    who: Authed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ForwardTickets)?.clone();
    let (id, message) = path.into_inner();
    let id = record_id(&id, "forward")?;
    let message = record_id(&message, "reply")?;
    let now = app.clock.now();
    let a = app.clone();
    let wanted = id.clone();
    let landed = app
        .db
        .write(move |c| {
            let Some(f) = forwards::get(c, &id)? else {
                return Ok(Err(ForwardError::NotFound(format!("no forward `{id}`"))));
            };
            Ok(forwards::accept_held(c, &a, &f.row, &message, &user, now))
        })
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Ok().json(serde_json::json!({"forward_id": wanted, "landed": landed})))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct NoticeQuery {
    after: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/quality-notices",
    tag = "quality",
    summary = "F4 quality notices with their evidence",
    params(NoticeQuery),
    responses((status = 200, description = "a page of notices", body = QualityNoticePage))
)]
async fn list_notices(
    app: AppData,
    who: Authed,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadForwards)?;
    let q = q.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "limit",
            "must be between 1 and 200",
        )]));
    }
    let after = match q.after {
        Some(a) => Some(record_id(&a, "quality notice").map_err(|_| {
            ApiError::Invalid(vec![FieldError::new(
                "after",
                "must be the `next_after` of the previous page",
            )])
        })?),
        None => None,
    };
    let (rows, next) = app
        .db
        .run(move |c| forwards::quality::list(c, after.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "notices": rows.iter().map(|r| r.view()).collect::<Vec<_>>(), "next_after": next,
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/quality-notices/{id}",
    tag = "quality",
    summary = "One quality notice",
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, description = "the notice", body = QualityNotice))
)]
async fn get_notice(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadForwards)?;
    let id = record_id(&path.into_inner(), "quality notice")?;
    let wanted = id.clone();
    match app.db.run(move |c| forwards::quality::get(c, &id)).await? {
        Some(n) => Ok(HttpResponse::Ok().json(n.view())),
        None => Err(ApiError::NotFound(format!("no quality notice `{wanted}`"))),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/quality-notices/{id}/confirm",
    tag = "quality",
    summary = "Send the notice to the registry's quality body by mail",
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, description = "the notice, confirmed", body = QualityNotice))
)]
async fn post_confirm(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ConfirmQualityNotices)?.clone();
    let id = record_id(&path.into_inner(), "quality notice")?;
    let now = app.clock.now();
    let n = app
        .db
        .write(move |c| Ok(forwards::quality::confirm(c, &id, &user.login, now)))
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Ok().json(n.view()))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

/// The body a forward went to.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: Forward::body_view builds it
struct ForwardBody {
    id: String,
    kind: String,
    name: crate::registry::Names,
}

/// A forward (Forward::body_view; Forward::staff_view adds the fields marked staff).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: Forward::body_view and staff_view build it
pub(super) struct ForwardView {
    id: String,
    reference: String,
    body: ForwardBody,
    category: Option<String>,
    /// What was sent: the question, messages and files.
    sent: Value,
    status: String,
    due_at: String,
    overdue: bool,
    /// The body's own references for it (free-form, as the body gave them).
    body_references: Value,
    created_at: String,
    answered_at: Option<String>,
    declined_at: Option<String>,
    decline_reason: Option<String>,
    /// Staff: the ticket's registration number.
    ticket: Option<String>,
    /// Staff.
    question: Option<String>,
    /// Staff.
    include_personal_data: Option<bool>,
    /// Staff: the deadline's explanation.
    deadline: Option<Value>,
    /// Staff.
    created_by: Option<String>,
    /// Staff.
    answer_message_id: Option<String>,
    /// Staff.
    closed_by: Option<String>,
    /// Staff.
    relayed_at: Option<String>,
    /// Staff.
    quality_notice_id: Option<String>,
    /// Staff.
    deliveries: Option<Vec<ForwardDelivery>>,
    /// Staff: the body's replies by mail and what was decided about each.
    messages_from_body: Option<Vec<BodyMessage>>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: DeliveryRow::view builds it
struct ForwardDelivery {
    id: String,
    purpose: String,
    channel: String,
    address: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    failed_attempts: Value,
    delivered_at: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: Forward::staff_view builds it
struct BodyMessage {
    message_id: String,
    state: String,
    reason: Option<String>,
    decided_by: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_forwards and list_overdue build it
struct ForwardPage {
    forwards: Vec<ForwardView>,
    next_after: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_answer answers with json!
struct ForwardAnswered {
    forward_id: String,
    /// `answered`.
    status: String,
    landed: forwards::Landed,
    message_id: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_decline answers with json!
struct ForwardDeclined {
    forward_id: String,
    /// `declined`.
    status: String,
    /// The F4 notice this refusal raised, if it was the body's second within 30 days.
    quality_notice_id: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_relay answers with json!
struct ForwardRelayed {
    forward_id: String,
    reply: crate::tickets::ReplyQueued,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: post_accept answers with json!
struct ForwardAccepted {
    forward_id: String,
    landed: forwards::Landed,
}

/// An F4 quality notice (NoticeRow::view).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: NoticeRow::view builds it
struct QualityNotice {
    id: String,
    body_id: String,
    quality_body_id: Option<String>,
    /// The two refusals and what they were about.
    evidence: Value,
    due_at: String,
    deadline: Value,
    status: String,
    confirmed_by: Option<String>,
    confirmed_at: Option<String>,
    sent_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_notices answers with json!
struct QualityNoticePage {
    notices: Vec<QualityNotice>,
    next_after: Option<String>,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: the handlers read them field by field, so that each
// mistake is named).

/// A question to a registry body about the ticket, with the messages and files it shows.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create_forward reads the body
struct ForwardRequest {
    /// The body's id (GET /api/v1/bodies); none: the ICI operator, by `category`.
    #[schema(schema_with = id_or_null)]
    body: Option<String>,
    #[schema(pattern = r"\S", max_length = 20000)]
    question: String,
    /// Ids of the ticket's messages to show the body.
    #[schema(schema_with = ids)]
    messages: Option<Vec<String>>,
    /// Ids of the ticket's files to send along.
    #[schema(schema_with = ids)]
    attachments: Option<Vec<String>>,
    /// Show the applicant's name and contacts (by default they are withheld).
    include_personal_data: Option<bool>,
    /// An ICT category (F3 deadlines).
    #[schema(max_length = 64)]
    category: Option<String>,
}

/// The body's answer.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: post_answer reads the body
struct ForwardAnswer {
    #[schema(pattern = r"\S", max_length = 20000)]
    text: String,
    attachments: Option<Vec<super::api::AttachmentInput>>,
}

/// The body's refusal, with its reason (F4).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: post_decline reads the body
struct ForwardDecline {
    #[schema(pattern = r"\S", max_length = 20000)]
    reason: String,
}

/// The answer relayed to the applicant.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: post_relay reads the body
struct ForwardRelay {
    /// The answer as edited; without it, the body's answer as it is.
    #[schema(max_length = 100000)]
    text: Option<String>,
    /// `false`: a holding reply, the ticket stays unanswered (R5).
    #[serde(rename = "final")]
    final_reply: Option<bool>,
}

fn id_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}

/// At most forwards::MAX_ITEMS ids, or `null` for none.
fn ids() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            utoipa::openapi::schema::ArrayBuilder::new()
                .items(super::openapi::body::uuid())
                .max_items(Some(forwards::MAX_ITEMS)),
        )
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Null),
        )
        .into()
}
