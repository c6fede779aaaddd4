//! Queues as data (`/api/v1/queues`) and where staff notices go
//! (`PUT /api/v1/users/{login}/contact`). Administrators change them; staff read queues.

use actix_web::{HttpResponse, web};

use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::Permission;
use crate::queues::{self, QueueError, QueueInput};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/queues", web::get().to(list))
        .route("/api/v1/queues", web::post().to(create))
        .route("/api/v1/queues/{code}", web::get().to(get))
        .route("/api/v1/queues/{code}", web::put().to(update))
        .route("/api/v1/queues/{code}", web::patch().to(update))
        .route("/api/v1/users/{login}/contact", web::put().to(put_contact));
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            QueueError::NotFound(code) => ApiError::NotFound(format!("no queue `{code}`")),
            e @ QueueError::Exists(_) => ApiError::Conflict(e.to_string()),
            QueueError::Db(e) => e.into(),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/queues",
    tag = "queues",
    summary = "The queues",
    responses((status = 200, description = "every queue", body = QueueList))
)]
async fn list(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadQueues)?;
    let list = app.db.run(queues::list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "queues": list })))
}

#[utoipa::path(
    get,
    path = "/api/v1/queues/{code}",
    tag = "queues",
    summary = "One queue",
    params(("code" = String, Path, description = "queue code")),
    responses((status = 200, description = "the queue", body = crate::queues::Queue))
)]
async fn get(app: AppData, who: Authed, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadQueues)?;
    let code = path.into_inner();
    let c2 = code.clone();
    match app.db.run(move |c| queues::get(c, &c2)).await? {
        Some(q) => Ok(HttpResponse::Ok().json(q)),
        None => Err(ApiError::NotFound(format!("no queue `{code}`"))),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/queues",
    tag = "queues",
    summary = "Create a queue",
    request_body(content = NewQueue),
    responses(
        (status = 201, description = "the queue", body = crate::queues::Queue),
        (status = 409, description = "a queue with this code exists: change it with an update", body = super::Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageQueues)?;
    let input = QueueInput::from_json(&body)?;
    let q = app
        .db
        .write(move |c| Ok(queues::create(c, &input)))
        .await??;
    Ok(HttpResponse::Created().json(q))
}

#[utoipa::path(
    method(put, patch),
    path = "/api/v1/queues/{code}",
    tag = "queues",
    summary = "Change a queue (any field but `code`)",
    params(("code" = String, Path, description = "queue code")),
    request_body(content = QueueChange),
    responses((status = 200, description = "the queue", body = crate::queues::Queue))
)]
async fn update(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageQueues)?;
    let input = QueueInput::from_json(&body)?;
    let code = path.into_inner();
    let q = app
        .db
        .write(move |c| Ok(queues::update(c, &code, &input)))
        .await??;
    Ok(HttpResponse::Ok().json(q))
}

/// `{"email": "...", "telegram_chat_id": "..."}`; `null` clears a field, absent keeps it.
#[utoipa::path(
    put,
    path = "/api/v1/users/{login}/contact",
    tag = "queues",
    summary = "Where a staff member's notices go",
    params(("login" = String, Path, description = "staff login")),
    request_body(content = StaffContact),
    responses((status = 204, description = "recorded"))
)]
async fn put_contact(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageUsers)?;
    let login = path.into_inner();
    let Some(obj) = body.as_object() else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            "send a JSON object: {\"email\": \"...\"}",
        )]));
    };
    let mut errors = Vec::new();
    let mut email: Option<Option<String>> = None;
    let mut chat: Option<Option<String>> = None;
    for (key, value) in obj {
        match (key.as_str(), value) {
            ("email", serde_json::Value::Null) => email = Some(None),
            ("email", serde_json::Value::String(s)) => match crate::auth::check_email(s) {
                Ok(e) => email = Some(Some(e)),
                Err(m) => errors.push(FieldError::new("email", m)),
            },
            ("telegram_chat_id", serde_json::Value::Null) => chat = Some(None),
            ("telegram_chat_id", v) => match v.as_i64().map(|n| n.to_string()).or_else(|| {
                v.as_str()
                    .filter(|s| s.trim().parse::<i64>().is_ok())
                    .map(|s| s.trim().to_string())
            }) {
                Some(id) => chat = Some(Some(id)),
                None => errors.push(FieldError::new(
                    "telegram_chat_id",
                    "must be a Telegram chat id (a whole number)",
                )),
            },
            ("email", _) => errors.push(FieldError::new("email", "must be a string or null")),
            (other, _) => errors.push(FieldError::new(
                other,
                "unknown field: expected email, telegram_chat_id",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let l = login.clone();
    let found = app
        .db
        .write(move |c| {
            crate::auth::set_contact(
                c,
                &l,
                email.as_ref().map(|e| e.as_deref()),
                chat.as_ref().map(|t| t.as_deref()),
            )
        })
        .await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!("no user `{login}`")))
    }
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list answers with json!
struct QueueList {
    queues: Vec<crate::queues::Queue>,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: QueueInput::from_json and put_contact read them field
// by field, so that each mistake is named). `null` is the same as leaving a field out.

/// A new queue.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create reads the body with QueueInput::from_json
struct NewQueue {
    /// 1-64 characters of a-z, 0-9, `_` and `-`; tickets carry it, so it never changes.
    #[schema(pattern = r"^[a-z0-9_-]{1,64}$", example = "ict")]
    code: String,
    #[schema(pattern = r"\S", max_length = 200)]
    name_kk: String,
    #[schema(pattern = r"\S", max_length = 200)]
    name_ru: String,
    /// Logins of active users who get the queue's reminders.
    supervisors: Option<Vec<String>>,
    /// Reminders of unanswered tickets (on by default).
    reminders_enabled: Option<bool>,
    /// Working hours before a reminder: 1-60.
    #[schema(minimum = 1, maximum = 60)]
    reminder_hours: Option<u32>,
    /// A closed queue takes no transfers (`general` cannot be closed); true by default.
    active: Option<bool>,
}

/// Any of the fields of a new queue but `code`.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: update reads the body with QueueInput::from_json
struct QueueChange {
    #[schema(pattern = r"\S", max_length = 200)]
    name_kk: Option<String>,
    #[schema(pattern = r"\S", max_length = 200)]
    name_ru: Option<String>,
    supervisors: Option<Vec<String>>,
    reminders_enabled: Option<bool>,
    #[schema(minimum = 1, maximum = 60)]
    reminder_hours: Option<u32>,
    /// A closed queue takes no transfers (`general` cannot be closed); true by default.
    active: Option<bool>,
}

/// Where a staff member's notices go; `null` clears a field, absent keeps it.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: put_contact reads the body
struct StaffContact {
    #[schema(schema_with = email_or_null)]
    email: Option<String>,
    /// A Telegram chat id: a whole number, or a string of one.
    #[schema(schema_with = chat_id)]
    telegram_chat_id: Option<String>,
}

fn email_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::email())
}

fn chat_id() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer).format(Some(
            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
        )))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\s*[+-]?[0-9]{1,18}\s*$")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}
