//! actix-web: the public form and status pages, the REST API, health and metrics.
//! Errors leave as application/problem+json (RFC 9457) through [`ApiError`].

pub mod api;
pub mod mail_api;
pub mod metrics;
pub mod public;
pub mod queues;
pub mod ratelimit;
pub mod telegram_hook;

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use baylanys_core::Language;
use serde::Serialize;

use crate::App;
use crate::auth::{Role, User};
use crate::db::DbError;

pub type AppData = web::Data<Arc<App>>;

/// One field that failed validation.
#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    #[error(
        "authentication required: send `Authorization: Bearer <token>` (create one with `baylanys token create`)"
    )]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many appeals from this address: try again in {0} s")]
    TooMany(u64),
    #[error("{0}")]
    Unavailable(String),
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database error in a request");
        ApiError::Unavailable(
            "the database is unavailable; nothing was changed, please retry".into(),
        )
    }
}

impl From<crate::tickets::ActionError> for ApiError {
    fn from(e: crate::tickets::ActionError) -> Self {
        use crate::tickets::ActionError as A;
        match e {
            A::NotFound(n) => ApiError::NotFound(format!("ticket {n} not found")),
            A::Conflict(m) => ApiError::Conflict(m),
            A::Invalid(m) => match m.split_once(": ") {
                Some((field, msg)) => ApiError::Invalid(vec![FieldError::new(field, msg)]),
                None => ApiError::BadRequest(m),
            },
            A::Db(e) => e.into(),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let errors = match self {
            ApiError::Invalid(e) => Some(e.as_slice()),
            _ => None,
        };
        let body = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let ApiError::TooMany(secs) = self {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::Unauthorized = self {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

/// The authenticated caller of an API route.
pub struct Authed(pub User);

impl Authed {
    pub fn require(&self, allowed: impl Fn(Role) -> bool, what: &str) -> Result<&User, ApiError> {
        if allowed(self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "role `{}` may not {what}",
                self.0.role.as_str()
            )))
        }
    }
}

impl FromRequest for Authed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        let app = req.app_data::<AppData>().cloned();
        Box::pin(async move {
            let (Some(token), Some(app)) = (token, app) else {
                return Err(ApiError::Unauthorized);
            };
            let user = app
                .db
                .run(move |c| crate::auth::user_by_token(c, &token))
                .await?;
            user.map(Authed).ok_or(ApiError::Unauthorized)
        })
    }
}

/// The visitor's language: `?lang=` first, then Accept-Language, then Russian.
pub fn page_language(req: &HttpRequest) -> Language {
    let from_query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("lang").and_then(|l| l.parse::<Language>().ok()));
    if let Some(l) = from_query.filter(|l| *l != Language::En) {
        return l;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut best: Option<(f32, Language)> = None;
    for part in accept.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("kk") => Language::Kk,
            Some("ru") => Language::Ru,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Language::Ru, |(_, l)| l)
}

async fn healthz(app: AppData) -> Result<HttpResponse, ApiError> {
    use diesel::connection::SimpleConnection;
    app.db.run(|c| Ok(c.batch_execute("SELECT 1")?)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

async fn metrics_route(app: AppData) -> Result<HttpResponse, ApiError> {
    use crate::db::schema::tickets;
    use diesel::prelude::*;
    let now = app.clock.now();
    let (jobs, open, overdue) = app
        .db
        .run(move |c| {
            let jobs = crate::jobs::counts(c)?;
            let open: i64 = tickets::table
                .filter(tickets::status.ne("closed"))
                .count()
                .get_result(c)?;
            let overdue: i64 = tickets::table
                .filter(crate::tickets::answered::overdue(now))
                .count()
                .get_result(c)?;
            Ok((jobs, open, overdue))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(app.metrics.render(&jobs, open, overdue)))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such route: see README.md for the API".into(),
    ))
}

/// Builds the HTTP server on an already bound listener.
pub fn server(app: Arc<App>, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
    let workers = app.config.workers.max(1);
    let max_body = (app.config.max_message_bytes as usize).max(1024 * 1024);
    let data = web::Data::new(app);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(|err, _| {
                        ApiError::BadRequest(format!("the JSON body is not valid: {err}")).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::BadRequest(format!("query parameters: {err}")).into()
            }))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| ApiError::BadRequest(format!("path: {err}")).into()),
            )
            .wrap(actix_web::middleware::from_fn(count_errors))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics_route))
            .configure(public::routes)
            .configure(api::routes)
            .configure(queues::routes)
            .configure(mail_api::routes)
            .configure(telegram_hook::routes)
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .listen(listener)?
    .disable_signals()
    .run();
    Ok(server)
}

async fn count_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let app = req.app_data::<AppData>().cloned();
    let mut res = next.call(req).await?;
    if res.status().is_server_error()
        && let Some(app) = app
    {
        metrics::Metrics::inc(&app.metrics.http_errors);
    }
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}
