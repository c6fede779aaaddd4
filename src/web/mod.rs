//! actix-web: the public form and status pages, the REST API, health and metrics.
//! Errors leave as application/problem+json (RFC 9457) through [`ApiError`].

pub mod access;
pub mod api;
pub mod calls;
pub mod console;
pub mod forwards;
pub mod input;
pub mod kb;
pub mod limits;
pub mod mail_api;
pub mod metrics;
pub mod openapi;
pub mod outages;
pub mod previews;
pub mod public;
pub mod queues;
pub mod ratelimit;
pub mod registry;
pub mod reports;
pub mod services;
pub mod status_page;
pub mod telegram_hook;
pub mod users;
pub mod whatsapp_hook;

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use baylanys_core::Language;
use serde::Serialize;

use crate::AppState;
use crate::auth::{Role, User};
use crate::db::DbError;

pub type AppData = web::Data<Arc<AppState>>;

/// What only the HTTP layer keeps: its counters, the appeal rate limit, and the Telegram
/// bot that webhook updates are handed to.
pub struct WebState {
    pub metrics: metrics::Metrics,
    pub rate_limiter: ratelimit::RateLimiter,
    pub telegram: Option<Arc<baylanys_telegram::TelegramBot>>,
}

impl WebState {
    pub fn new(
        config: &crate::config::Config,
        telegram: Option<Arc<baylanys_telegram::TelegramBot>>,
    ) -> WebState {
        WebState {
            metrics: metrics::Metrics::default(),
            rate_limiter: ratelimit::RateLimiter::new(config.rate_limit_per_minute),
            telegram,
        }
    }
}

pub type WebData = web::Data<WebState>;

/// One field that failed validation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// A fault of ours (a template, a bug): logged with its detail; the caller is given
    /// only a reference to quote.
    #[error("an internal error occurred; quote reference {0} to the contact center")]
    Internal(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("the server is reading as many uploads as it can: retry in {0} s")]
    Busy(u64),
    #[error(
        "the URL is longer than {} bytes: shorten it (send long input in a POST body)",
        limits::MAX_REQUEST_LINE
    )]
    UriTooLong,
}

impl ApiError {
    /// Logs `detail` under the request's id (or a fresh reference) and returns the error
    /// that names it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        let reference = request_id().unwrap_or_else(crate::db::new_id);
        tracing::error!(reference, error = %detail, "internal error in a request");
        ApiError::Internal(reference)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database error in a request");
        ApiError::Unavailable(
            "the database is unavailable; nothing was changed, please retry".into(),
        )
    }
}

/// An outage is worth a retry (503); anything else is ours to fix, and the caller gets a
/// reference to quote rather than our internals.
impl From<crate::tickets::intake::IntakeError> for ApiError {
    fn from(e: crate::tickets::intake::IntakeError) -> Self {
        use crate::tickets::intake::IntakeError as I;
        match e {
            I::Db(e) if e.is_transient() => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::tickets::ActionError> for ApiError {
    fn from(e: crate::tickets::ActionError) -> Self {
        use crate::tickets::ActionError as A;
        match e {
            A::NotFound(n) => ApiError::NotFound(format!("ticket {n} not found")),
            A::Conflict(m) => ApiError::Conflict(m),
            A::Invalid { field, message } => {
                ApiError::Invalid(vec![FieldError::new(field, message)])
            }
            A::Db(e) => e.into(),
            A::Template(e) => ApiError::internal(e),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    /// The request's id, to quote when asking about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
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
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
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
            request_id: request_id(),
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let ApiError::TooMany(secs) | ApiError::Busy(secs) = self {
            resp.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if let ApiError::TooLarge(_) | ApiError::Timeout(_) = self {
            // The rest of the body is not read: the connection cannot carry another request.
            resp.insert_header((header::CONNECTION, "close"));
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
    /// The caller, when its role may do `what`; else 403 naming the role and the action.
    pub fn may(&self, what: crate::auth::Permission) -> Result<&User, ApiError> {
        self.require(|r| r.may(what), what.describe())
    }

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
        // The access middleware has looked the token up already.
        if let Some(user) = req.extensions().get::<User>().cloned() {
            return Box::pin(async move { Ok(Authed(user)) });
        }
        let token = bearer(req.headers());
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

/// The visitor's language: `?lang=` first, then Accept-Language, then Kazakh (the state
/// language).
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
    best.map_or(Language::Kk, |(_, l)| l)
}

/// `{"status": "ok"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: healthz answers with json!
struct Health {
    /// `ok`.
    status: String,
}

/// What readyz checked; each value is `ok`/`applied`/`running` or what is wrong.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: readyz answers with json!
struct Readiness {
    /// `ready` or `not ready`.
    status: String,
    checks: ReadyChecks,
    channels: ReadyChannels,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: readyz answers with json!
struct ReadyChecks {
    database: String,
    migrations: String,
    job_worker: String,
    timers: String,
}

/// Each channel's configuration: its transport, or `not configured`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: readyz answers with json!
struct ReadyChannels {
    email_out: String,
    email_in: String,
    telegram: String,
    whatsapp: String,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness: the database answers",
    responses((status = 200, description = "alive", body = Health))
)]
async fn healthz(app: AppData) -> Result<HttpResponse, ApiError> {
    app.db.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

/// A background loop that has not gone round for this long is stuck (they go round at
/// least every 15 s).
const STALE_BEAT_SECS: i64 = 60;

/// Ready to take traffic: the database answers and carries every migration, the job
/// worker and the timers go round. Also says what each channel is configured as.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness: database, migrations, job worker, timers, and each channel's configuration",
    responses((status = 200, description = "ready", body = Readiness), (status = 503, description = "not ready: the checks say what is wrong", body = Readiness))
)]
async fn readyz(app: AppData) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let mut ready = true;
    let database = match app.db.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            ready = false;
            format!("unreachable: {e}")
        }
    };
    let db = app.db.clone();
    let migrations = match tokio::task::spawn_blocking(move || db.pending_migrations()).await {
        Ok(Ok(p)) if p.is_empty() => "applied".to_string(),
        Ok(Ok(p)) => {
            ready = false;
            format!("pending: {} (run `baylanys migrate`)", p.join(", "))
        }
        Ok(Err(e)) => {
            ready = false;
            format!("unknown: {e}")
        }
        Err(e) => {
            ready = false;
            format!("unknown: {e}")
        }
    };
    let now = chrono::Utc::now().timestamp();
    let mut beat = |at: i64| {
        if at == 0 {
            ready = false;
            "not started".to_string()
        } else if now - at > STALE_BEAT_SECS {
            ready = false;
            format!("stuck: last round {} s ago", now - at)
        } else {
            "running".to_string()
        }
    };
    let worker = beat(app.beats.worker.load(Relaxed));
    let timers = beat(app.beats.timers.load(Relaxed));
    let c = &app.config;
    let configured = |on: bool, what: &str| {
        if on {
            what.to_string()
        } else {
            "not configured".to_string()
        }
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {
            "database": database,
            "migrations": migrations,
            "job_worker": worker,
            "timers": timers,
        },
        "channels": {
            "email_out": configured(c.smtp_url.is_some(), "smtp"),
            "email_in": configured(c.imap_url.is_some(), "imap"),
            "telegram": configured(c.telegram_token.is_some(), &c.telegram_mode),
            "whatsapp": configured(app.whatsapp.is_some(), "webhook"),
        },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics (with BAYLANYS_METRICS_TOKEN: that bearer token)",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
async fn metrics_route(
    app: AppData,
    site: WebData,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if let Some(token) = &app.config.metrics_token {
        let given = bearer(req.headers()).unwrap_or_default();
        if !baylanys_core::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    let now = app.clock.now();
    let snapshot = app
        .db
        .run(move |c| {
            Ok(metrics::Snapshot {
                jobs: crate::jobs::counts(c)?,
                job_depth: crate::jobs::depth_by_kind(c)?,
                tickets: crate::tickets::queries::counts(c, now)?,
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(site.metrics.render(&snapshot)))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such route: see README.md for the API".into(),
    ))
}

/// What a JSON body that cannot be read turns into: 413 when too large, 400 otherwise.
fn json_error(err: actix_web::error::JsonPayloadError, max_body: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::TooLarge(format!(
            "the JSON body is larger than {max_body} bytes (BAYLANYS_MAX_MESSAGE_BYTES)"
        )),
        J::ContentType => ApiError::BadRequest(
            "the body must be JSON: send `Content-Type: application/json`".into(),
        ),
        other => ApiError::BadRequest(format!("the JSON body is not valid: {other}")),
    }
}

/// How long a graceful stop waits for requests in flight.
const SHUTDOWN_SECS: u64 = 10;

/// Builds the HTTP server on an already bound listener.
pub fn server(
    app: Arc<AppState>,
    site: WebState,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
    let workers = app.config.workers.max(1);
    let max_body = (app.config.max_message_bytes as usize).max(1024 * 1024);
    let uploads = limits::Uploads::new(
        app.config.max_concurrent_uploads,
        std::time::Duration::from_secs(app.config.body_timeout_secs.max(1)),
    );
    let data = web::Data::new(app);
    let site = web::Data::new(site);
    let factory = move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(site.clone())
            .app_data(web::Data::new(uploads.clone()))
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(move |err, _| json_error(err, max_body).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::BadRequest(format!("query parameters: {err}")).into()
            }))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| ApiError::BadRequest(format!("path: {err}")).into()),
            )
            .wrap(actix_web::middleware::from_fn(authorize))
            .wrap(actix_web::middleware::from_fn(guard_bodies))
            .wrap(actix_web::middleware::from_fn(count_errors))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_route))
            .configure(public::routes)
            .configure(status_page::routes)
            .configure(api::routes)
            .configure(queues::routes)
            .configure(users::routes)
            .configure(previews::routes)
            .configure(services::routes)
            .configure(registry::routes)
            .configure(forwards::routes)
            .configure(outages::routes)
            .configure(calls::routes)
            .configure(kb::routes)
            .configure(reports::routes)
            .configure(mail_api::routes)
            .configure(telegram_hook::routes)
            .configure(whatsapp_hook::routes)
            .configure(openapi::routes)
            .configure(console::routes)
            .default_service(web::to(not_found))
    };
    let addr = listener.local_addr()?;
    // A burst of connections waits in the kernel instead of being refused.
    let _ = socket2::SockRef::from(&listener).listen(4096);
    // actix-web's HttpServer, with each connection behind a HeadGuard (see there why).
    let server = actix_server::Server::build()
        .workers(workers)
        .shutdown_timeout(SHUTDOWN_SECS)
        .disable_signals()
        .listen("baylanys-http", listener, move || {
            let http = actix_http::HttpService::build()
                .keep_alive(std::time::Duration::from_secs(5))
                .client_request_timeout(std::time::Duration::from_secs(5))
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(addr)
                .h1(map_config(
                    factory()
                        .into_factory()
                        .map_err(|err: actix_web::Error| err.error_response()),
                    |_| actix_web::dev::AppConfig::default(),
                ));
            fn_service(|io: actix_rt::net::TcpStream| async move {
                let peer = io.peer_addr().ok();
                let _ = io.set_nodelay(true);
                Ok::<_, actix_http::error::DispatchError>((limits::HeadGuard::new(io), peer))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// The bearer token of a request, if it sent one.
fn bearer(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
}

/// Enforces [`access::ROUTES`] before any handler or extractor runs: 401 without a valid
/// token, 403 for a role the route is not for. The caller is left in the request for
/// [`Authed`].
async fn authorize(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let rule = req
        .match_pattern()
        .and_then(|p| access::of(req.method().as_str(), &p));
    if let Some(rule @ access::Access::Console(_)) = rule {
        return console::authorize(req, rule, next).await;
    }
    let Some(rule) = rule.filter(|r| r.needs_token()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(token) = bearer(req.headers()) else {
        return Ok(req.error_response(ApiError::Unauthorized));
    };
    let Some(app) = req.app_data::<AppData>().cloned() else {
        return Ok(req.error_response(ApiError::Unauthorized));
    };
    let user = match app
        .db
        .run(move |c| crate::auth::user_by_token(c, &token))
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(req.error_response(ApiError::Unauthorized)),
        Err(e) => return Ok(req.error_response(ApiError::from(e))),
    };
    if !rule.allows(user.role) {
        let refusal = ApiError::Forbidden(format!(
            "role `{}` may not {}",
            user.role.as_str(),
            rule.describe()
        ));
        return Ok(req.error_response(refusal));
    }
    req.extensions_mut().insert(user);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Long URIs (414), slow bodies (408) and too many bodies at once (503) are refused
/// before a handler sees them.
async fn guard_bodies(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > limits::MAX_REQUEST_LINE {
        return Ok(req.error_response(ApiError::UriTooLong));
    }
    let uploads = req.app_data::<web::Data<limits::Uploads>>().cloned();
    let (Some(uploads), true) = (uploads, limits::has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(slot) = uploads.slot().await else {
        return Ok(req.error_response(ApiError::Busy(limits::UPLOAD_RETRY_AFTER)));
    };
    let timed_out = limits::TimedBody::wrap(&mut req, uploads.body_timeout, slot);
    let res = next.call(req).await?;
    if timed_out.load(std::sync::atomic::Ordering::Relaxed) {
        let secs = uploads.body_timeout.as_secs();
        let (req, _) = res.into_parts();
        let err = ApiError::Timeout(format!(
            "the request body did not arrive within {secs} s (BAYLANYS_BODY_TIMEOUT_SECS)"
        ));
        return Ok(actix_web::dev::ServiceResponse::new(
            req,
            err.error_response(),
        ));
    }
    Ok(res.map_into_boxed_body())
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled (echoed in `X-Request-Id`, problem+json and the
/// access log), when called from within one.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// A caller's `X-Request-Id` when it is a sane token (1-64 of `A-Za-z0-9._-`), else ours.
fn incoming_request_id(req: &actix_web::dev::ServiceRequest) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map_or_else(crate::db::new_id, str::to_string)
}

/// Counts and times every request, writes its access line, gives it a request id and
/// turns actix's own errors into problem+json.
async fn count_errors(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let app = req.app_data::<AppData>().cloned();
    let site = req.app_data::<WebData>().cloned();
    let started = std::time::Instant::now();
    let id = incoming_request_id(&req);
    let method = req.method().clone();
    let mut res = REQUEST_ID
        .scope(id.clone(), async move {
            let res = next.call(req).await?;
            Ok::<_, actix_web::Error>(as_problem(res, app.as_ref()))
        })
        .await?;
    let elapsed = started.elapsed();
    if let Some(site) = &site {
        site.metrics.observe_request(elapsed);
    }
    let status = res.status();
    if status.is_server_error()
        && let Some(site) = site
    {
        metrics::Metrics::inc(&site.metrics.http_errors);
    }
    let route = res.request().match_pattern();
    tracing::info!(
        target: "baylanys::access",
        method = %method,
        route = route.as_deref().unwrap_or("-"),
        status = status.as_u16(),
        ms = (elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        request_id = %id,
        "request"
    );
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

/// Errors raised by actix itself (a body over the limit, a bad payload) leave as
/// problem+json like ours, not as text/plain.
fn as_problem(
    res: actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody + 'static>,
    app: Option<&AppData>,
) -> actix_web::dev::ServiceResponse<actix_web::body::BoxBody> {
    let status = res.status();
    let ours = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/problem+json") || t.starts_with("text/html"));
    let Some(detail) = res
        .response()
        .error()
        .filter(|_| status.is_client_error() || status.is_server_error())
        .filter(|_| !ours)
        .map(|e| e.to_string())
    else {
        return res.map_into_boxed_body();
    };
    let err = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "the body is larger than {} bytes (BAYLANYS_MAX_MESSAGE_BYTES)",
            app.map_or(0, |a| a.config.max_message_bytes.max(1024 * 1024))
        )),
        StatusCode::BAD_REQUEST => {
            ApiError::BadRequest(format!("the request cannot be read: {detail}"))
        }
        StatusCode::NOT_FOUND => ApiError::NotFound(detail),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout(detail),
        _ => {
            tracing::error!(%status, error = %detail, "request failed");
            let body = Problem {
                kind: "about:blank",
                title: status.canonical_reason().unwrap_or("Error"),
                status: status.as_u16(),
                detail,
                errors: None,
                request_id: request_id(),
            };
            let out = HttpResponse::build(status)
                .insert_header((header::CONTENT_TYPE, "application/problem+json"))
                .body(serde_json::to_string(&body).unwrap_or_default());
            let (req, _) = res.into_parts();
            return actix_web::dev::ServiceResponse::new(req, out);
        }
    };
    let (req, _) = res.into_parts();
    actix_web::dev::ServiceResponse::new(req, err.error_response())
}
