//! The operator console under `/console/`: server-rendered pages (minijinja,
//! `templates/console/`) for staff signed in with a password into a database-kept session
//! ([`crate::console::sessions`]).
//!
//! The framework every console page uses:
//! - routes are rows of [`super::access::ROUTES`] with [`Access::Console`]: the access
//!   middleware finds the session cookie, checks the role and, for every request that is
//!   not a GET, the CSRF token (a `csrf` form field, urlencoded or multipart, or the
//!   `X-CSRF-Token` header), before any handler runs;
//! - a handler takes [`Staff`] (the user, role, language, CSRF token) and answers with
//!   [`Staff::page`] (the layout `console/base.html` with navigation by role) or a
//!   [`ConsoleError`] (an HTML page; a missing session is a redirect to the sign-in);
//! - [`Staff::require`] checks a permission; [`see_other`] redirects after a POST, with
//!   an optional notice shown on the next page.

pub mod admin;
pub mod agency;
pub mod calls;
pub mod dashboard;
pub mod ici;
pub mod login;
pub mod queue;
pub mod ticket;

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use baylanys_core::Language;
use minijinja::{Value, context};

use super::access::Access;
use super::{AppData, FieldError};
use crate::auth::{Permission, Role, User};
use crate::console::sessions::{self, Session, Terms};
use crate::db::DbError;
use crate::templates::Templates;

/// The session cookie (HttpOnly, SameSite=Lax, Secure behind TLS, path /console).
pub const SESSION_COOKIE: &str = "baylanys_console";
/// The sign-in form's own CSRF cookie (double submit: there is no session yet).
pub const LOGIN_COOKIE: &str = "baylanys_console_login";
/// The form field (or `X-CSRF-Token` header) every non-GET console request carries.
pub const CSRF_FIELD: &str = "csrf";
/// Largest console form the CSRF check reads into memory (files included).
const MAX_FORM_BYTES: usize = 64 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/login", web::get().to(login::form))
        .route("/console/login", web::post().to(login::submit))
        .route("/console/logout", web::post().to(login::logout))
        .route("/console/language", web::post().to(login::language))
        .route("/console/static/{file}", web::get().to(static_file))
        .route("/console/", web::get().to(home))
        .route("/console/queue", web::get().to(queue::page))
        .route("/console/queue/poll", web::get().to(queue::poll))
        .route("/console/queue/bulk", web::post().to(queue::bulk))
        .route("/console/filters", web::post().to(queue::save_filter))
        .route(
            "/console/filters/{id}/delete",
            web::post().to(queue::delete_filter),
        )
        .route("/console/tickets/{number}", web::get().to(ticket::page))
        .route(
            "/console/attachments/{id}",
            web::get().to(ticket::attachment),
        )
        .route(
            "/console/tickets/{number}/presence",
            web::post().to(ticket::presence),
        )
        .route(
            "/console/tickets/{number}/take",
            web::post().to(ticket::take),
        )
        .route(
            "/console/tickets/{number}/assign",
            web::post().to(ticket::assign),
        )
        .route(
            "/console/tickets/{number}/reply",
            web::post().to(ticket::reply),
        )
        .route(
            "/console/tickets/{number}/note",
            web::post().to(ticket::note),
        )
        .route(
            "/console/tickets/{number}/transfer",
            web::post().to(ticket::transfer),
        )
        .route(
            "/console/tickets/{number}/status",
            web::post().to(ticket::set_status),
        )
        .route(
            "/console/tickets/{number}/close",
            web::post().to(ticket::close),
        )
        .route(
            "/console/tickets/{number}/merge",
            web::post().to(ticket::merge),
        )
        .route(
            "/console/tickets/{number}/split",
            web::post().to(ticket::split),
        )
        .route("/console/tickets/{number}/kb", web::post().to(ticket::kb))
        .route(
            "/console/tickets/{number}/forward",
            web::post().to(ticket::forward),
        )
        .configure(calls::routes)
        .configure(agency::routes)
        .configure(ici::routes)
        .configure(dashboard::routes)
        .configure(admin::routes);
}

/// One entry of the console's navigation: shown to the roles it is for.
pub struct NavItem {
    /// The key of its label in `templates/console/<lang>.json` (`nav_<key>`).
    pub key: &'static str,
    pub href: &'static str,
    pub shown_to: fn(Role) -> bool,
}

/// The navigation, in order. Portals add their rows here.
pub const NAV: &[NavItem] = &[
    NavItem {
        key: "home",
        href: "/console/",
        shown_to: |_| true,
    },
    NavItem {
        key: "queue",
        href: "/console/queue",
        shown_to: |r| r.may(Permission::ReadTickets),
    },
    NavItem {
        key: "agency",
        href: "/console/agency",
        // The ICI operator's users answer their ICT forwards in their own portal.
        shown_to: |r| r.may(Permission::AnswerForwards) && r != Role::Ici,
    },
    NavItem {
        key: "ici",
        href: "/console/ici",
        shown_to: |r| r.may(Permission::DeclareOutages),
    },
    NavItem {
        key: "dashboard",
        href: "/console/dashboard",
        shown_to: |r| r.may(Permission::ReadReports),
    },
    NavItem {
        key: "admin",
        href: "/console/admin",
        shown_to: |r| r.may(Permission::ManageUsers),
    },
];

/// A signed-in staff member, for any console handler: the access middleware has found
/// the session (a handler of a route outside the table looks it up itself). Without one,
/// the extractor answers with a redirect to the sign-in.
#[derive(Debug, Clone)]
pub struct Staff(pub Session);

impl Staff {
    pub fn user(&self) -> &User {
        &self.0.user
    }
    pub fn role(&self) -> Role {
        self.0.user.role
    }
    pub fn language(&self) -> Language {
        self.0.language
    }
    pub fn csrf(&self) -> &str {
        &self.0.csrf
    }
    /// Whether the role may do `what`.
    pub fn may(&self, what: Permission) -> bool {
        self.role().may(what)
    }
    /// A 403 page naming the role and the action, unless it may.
    pub fn require(&self, what: Permission) -> Result<(), ConsoleError> {
        if self.may(what) {
            Ok(())
        } else {
            Err(self.forbidden(what))
        }
    }
    fn forbidden(&self, what: Permission) -> ConsoleError {
        ConsoleError::new(
            StatusCode::FORBIDDEN,
            self.language(),
            format!(
                "role `{}` may not {}",
                self.role().as_str(),
                what.describe()
            ),
        )
    }

    /// An error page in the staff member's language.
    pub fn error(&self, status: StatusCode, message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(status, self.language(), message)
    }

    /// The console's string `key` in the staff member's language.
    pub fn text(&self, app: &AppData, key: &str) -> String {
        app.templates.console_text(self.language(), key)
    }

    /// What every console page is given besides its own context: `me`, `nav`, `csrf`,
    /// `path` (the page's URL, for the language switch), `notice` (after a redirect).
    pub fn base_context(&self, req: &HttpRequest) -> Value {
        let nav: Vec<Value> = NAV
            .iter()
            .filter(|n| (n.shown_to)(self.role()))
            .map(|n| {
                let current = req.path() == n.href
                    || (n.href != "/console/" && req.path().starts_with(n.href));
                context! { key => n.key, href => n.href, current }
            })
            .collect();
        let notice =
            web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("notice").cloned())
                .filter(|n| {
                    n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
        let path = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        context! {
            me => context! {
                login => &self.0.user.login,
                name => &self.0.user.name,
                role => self.role().as_str(),
            },
            nav,
            csrf => &self.0.csrf,
            path,
            notice,
            languages => ["kk", "ru", "en"],
        }
    }

    /// A console page: `name` under templates/ rendered with `ctx`, the base context and
    /// the strings of the staff member's language.
    pub fn page(
        &self,
        app: &AppData,
        req: &HttpRequest,
        name: &str,
        ctx: Value,
    ) -> Result<HttpResponse, ConsoleError> {
        self.page_with_status(app, req, StatusCode::OK, name, ctx)
    }

    pub fn page_with_status(
        &self,
        app: &AppData,
        req: &HttpRequest,
        status: StatusCode,
        name: &str,
        ctx: Value,
    ) -> Result<HttpResponse, ConsoleError> {
        let full = context! { ..ctx, ..self.base_context(req) };
        let html = app
            .templates
            .console_page(name, self.language(), full)
            .map_err(|e| {
                let reference = super::request_id().unwrap_or_else(crate::db::new_id);
                tracing::error!(reference, template = name, error = %format!("{e:#}"), "console page failed");
                ConsoleError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    self.language(),
                    format!("the page could not be shown; quote reference {reference}"),
                )
            })?;
        Ok(html_response(status, html))
    }
}

/// A form's (field, what to fix) pairs as the map its template reads (`errors.name`).
pub fn field_errors(list: Vec<(String, String)>) -> Value {
    Value::from_serialize(
        list.into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
}

/// A console page's HTML with the headers every console page has.
pub fn html_response(status: StatusCode, html: String) -> HttpResponse {
    let mut r = HttpResponse::build(status);
    r.content_type("text/html; charset=utf-8");
    for (k, v) in page_headers() {
        r.insert_header((k, v));
    }
    r.body(html)
}

/// Not cached, not framed, no scripts but ours, no referrer to other sites.
fn page_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                 frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        ),
    ]
}

/// 303 See Other to `to` (a console path), with a notice key the next page shows
/// (`notice_<key>` in the strings).
pub fn see_other(to: &str, notice: Option<&str>) -> HttpResponse {
    let to = safe_next(Some(to)).unwrap_or_else(|| "/console/".into());
    let location = match notice {
        Some(n) if to.contains('?') => format!("{to}&notice={n}"),
        Some(n) => format!("{to}?notice={n}"),
        None => to,
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A redirect target given by the client, when it is a path of the console (never
/// another site: no scheme, no `//`, no backslash, no control characters).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    let ok = n.starts_with("/console/")
        && !n.starts_with("//")
        && !n.contains('\\')
        && !n.contains("://")
        && n.len() <= 1024
        && n.chars().all(|c| !c.is_control());
    ok.then(|| n.to_string())
}

/// An error of a console page: an HTML page in the staff member's language, or the
/// redirect to the sign-in when there is no session.
#[derive(Debug)]
pub struct ConsoleError {
    pub status: StatusCode,
    pub language: Language,
    pub message: String,
    /// Set: answer with a redirect to the sign-in, then back here.
    pub sign_in_then: Option<String>,
}

impl ConsoleError {
    pub fn new(status: StatusCode, language: Language, message: impl Into<String>) -> Self {
        ConsoleError {
            status,
            language,
            message: message.into(),
            sign_in_then: None,
        }
    }
    pub fn sign_in(next: Option<String>) -> Self {
        ConsoleError {
            status: StatusCode::SEE_OTHER,
            language: Language::Kk,
            message: String::new(),
            sign_in_then: Some(next.unwrap_or_else(|| "/console/".into())),
        }
    }
    pub fn in_language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Error pages are rendered without the request's state: one set of templates for them.
static ERROR_TEMPLATES: LazyLock<Templates> = LazyLock::new(Templates::new);

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        if let Some(next) = &self.sign_in_then {
            let url = format!(
                "/console/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        let html = ERROR_TEMPLATES
            .console_page(
                "console/error.html",
                self.language,
                context! { status => self.status.as_u16(), message => &self.message },
            )
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "console error page failed");
                format!(
                    "<!doctype html><title>{}</title><p>{}</p>",
                    self.status.as_u16(),
                    html_escape(&self.message)
                )
            });
        html_response(self.status, html)
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl From<DbError> for ConsoleError {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "database error in a console page");
        ConsoleError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Language::Kk,
            "the database is unavailable; nothing was changed, please retry",
        )
    }
}

/// The JSON API's errors as console pages (same status, same words).
impl From<super::ApiError> for ConsoleError {
    fn from(e: super::ApiError) -> Self {
        let message = match &e {
            super::ApiError::Invalid(fields) => fields
                .iter()
                .map(|f: &FieldError| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        ConsoleError::new(e.status_code(), Language::Kk, message)
    }
}

impl From<crate::tickets::ActionError> for ConsoleError {
    fn from(e: crate::tickets::ActionError) -> Self {
        super::ApiError::from(e).into()
    }
}

impl FromRequest for Staff {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        if let Some(s) = req.extensions().get::<Session>().cloned() {
            return Box::pin(async move { Ok(Staff(s)) });
        }
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let app = req.app_data::<AppData>().cloned();
        let next = next_of(req);
        Box::pin(async move {
            let (Some(token), Some(app)) = (token, app) else {
                return Err(ConsoleError::sign_in(next));
            };
            let (now, terms) = (app.clock.now(), Terms::of(&app.config));
            let session = app
                .db
                .run(move |c| sessions::lookup(c, &token, now, &terms))
                .await?;
            session.map(Staff).ok_or(ConsoleError::sign_in(next))
        })
    }
}

/// Where to come back to after signing in: this page, when it is one to come back to.
fn next_of(req: &HttpRequest) -> Option<String> {
    if req.method() != actix_web::http::Method::GET {
        return None;
    }
    let full = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    safe_next(Some(&full))
}

/// Whether the request came over TLS (directly, or as a trusted proxy says) or the
/// public URL is https: then cookies are Secure.
pub fn secure_cookies(app: &AppData, req: &HttpRequest) -> bool {
    app.config.public_url.starts_with("https://") || req.connection_info().scheme() == "https"
}

/// The session cookie, or (with `None`) the header that removes it.
pub fn session_cookie(
    app: &AppData,
    req: &HttpRequest,
    token: Option<&str>,
) -> actix_web::cookie::Cookie<'static> {
    let mut c = actix_web::cookie::Cookie::build(SESSION_COOKIE, token.unwrap_or("").to_string())
        .path("/console")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(secure_cookies(app, req))
        .finish();
    if token.is_none() {
        c.make_removal();
    }
    c
}

/// The access middleware's part for [`Access::Console`] routes: the session, the role,
/// the CSRF token of anything but GET and HEAD. Refusals are pages, not problem+json.
pub(super) async fn authorize(
    mut req: actix_web::dev::ServiceRequest,
    rule: Access,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let Some(app) = req.app_data::<AppData>().cloned() else {
        return Ok(req.error_response(ConsoleError::sign_in(None)));
    };
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
    let session = match token {
        None => None,
        Some(token) => {
            let (now, terms) = (app.clock.now(), Terms::of(&app.config));
            match app
                .db
                .run(move |c| sessions::lookup(c, &token, now, &terms))
                .await
            {
                Ok(s) => s,
                Err(e) => return Ok(req.error_response(ConsoleError::from(e))),
            }
        }
    };
    let Some(session) = session else {
        let next = next_of(req.request());
        let had_cookie = req.cookie(SESSION_COOKIE).is_some();
        let mut res = req.error_response(ConsoleError::sign_in(next));
        if had_cookie {
            // A cookie of an ended or expired session is removed.
            let removal = session_cookie(&app, res.request(), None);
            let _ = res.response_mut().add_cookie(&removal);
        }
        return Ok(res);
    };
    if !rule.allows(session.user.role) {
        let e = ConsoleError::new(
            StatusCode::FORBIDDEN,
            session.language,
            format!(
                "role `{}` may not {}",
                session.user.role.as_str(),
                rule.describe()
            ),
        );
        return Ok(req.error_response(e));
    }
    let method = req.method().clone();
    if method != actix_web::http::Method::GET && method != actix_web::http::Method::HEAD {
        match csrf_of(&mut req).await {
            Ok(Some(given))
                if baylanys_core::constant_time_eq(given.as_bytes(), session.csrf.as_bytes()) => {}
            Ok(_) => {
                tracing::warn!(login = %session.user.login, path = %req.path(), "console CSRF check failed");
                let e = ConsoleError::new(
                    StatusCode::FORBIDDEN,
                    session.language,
                    ERROR_TEMPLATES.console_text(session.language, "csrf_refused"),
                );
                return Ok(req.error_response(e));
            }
            Err(e) => return Ok(req.error_response(e.in_language(session.language))),
        }
    }
    req.extensions_mut().insert(session);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The CSRF token a request carries: the `X-CSRF-Token` header, else the `csrf` field of
/// its urlencoded or multipart body (read here and put back for the handler).
async fn csrf_of(req: &mut actix_web::dev::ServiceRequest) -> Result<Option<String>, ConsoleError> {
    use futures_util::StreamExt;
    if let Some(h) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Ok(Some(h.trim().to_string()));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ConsoleError::new(
                StatusCode::BAD_REQUEST,
                Language::Kk,
                format!("the form could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(ConsoleError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Language::Kk,
                format!(
                    "the form is larger than {} MB: send fewer or smaller files",
                    MAX_FORM_BYTES / (1024 * 1024)
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let found = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == CSRF_FIELD))
            .map(|(_, v)| v)
    } else if content_type.starts_with("multipart/form-data") {
        use crate::web::public::{WatchEnd, next_or_stuck};
        let stream = futures_util::stream::once({
            let b = body.clone();
            async move { Ok::<_, actix_web::error::PayloadError>(b) }
        });
        // A form that ends inside a part would leave the reader waiting for ever: such a
        // form has no token (the handler then says the form cannot be read).
        let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watched = WatchEnd {
            inner: Box::pin(stream),
            ended: ended.clone(),
        };
        let mut form = actix_multipart::Multipart::new(req.headers(), watched);
        let mut found = None;
        while let Ok(Some(Ok(mut field))) = next_or_stuck(&mut form, &ended).await {
            let is_csrf = field.name() == Some(CSRF_FIELD);
            let mut value = Vec::new();
            while let Ok(Some(Ok(chunk))) = next_or_stuck(&mut field, &ended).await {
                if is_csrf && value.len() < 256 {
                    value.extend_from_slice(&chunk);
                }
            }
            if is_csrf {
                found = Some(String::from_utf8_lossy(&value).trim().to_string());
                break;
            }
        }
        found
    } else {
        None
    };
    let stream: Pin<
        Box<dyn futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>>,
    > = Box::pin(futures_util::stream::once(async move { Ok(body) }));
    req.set_payload(actix_web::dev::Payload::from(stream));
    Ok(found)
}

/// A multipart console form read whole: its text fields and the files of its file
/// inputs named `file_field` (inputs left empty are skipped).
pub(super) struct FormParts {
    pub fields: Vec<(String, String)>,
    pub files: Vec<baylanys_core::Attachment>,
    /// The first file over `max_file` bytes, by its name.
    pub too_large: Option<String>,
    /// The first file past `max_files`, by its name.
    pub too_many: Option<String>,
}

impl FormParts {
    /// The last value sent for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a multipart console form; a text field over 256 KB is refused by its name, and
/// a form that ends inside a part is unreadable at once (actix-multipart would wait for
/// ever: see `web::public::next_or_stuck`).
pub(super) async fn read_parts(
    req: &HttpRequest,
    payload: web::Payload,
    file_field: &str,
    max_file: u64,
    max_files: usize,
) -> Result<FormParts, String> {
    use crate::web::public::{FormError, WatchEnd, next_or_stuck};
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut payload = actix_multipart::Multipart::new(
        req.headers(),
        WatchEnd {
            inner: payload,
            ended: ended.clone(),
        },
    );
    let stuck = |FormError::Unreadable(m): FormError| format!("the form cannot be read: {m}");
    let mut f = FormParts {
        fields: Vec::new(),
        files: Vec::new(),
        too_large: None,
        too_many: None,
    };
    while let Some(field) = next_or_stuck(&mut payload, &ended).await.map_err(stuck)? {
        let mut field = field.map_err(|e| format!("the form cannot be read: {e}"))?;
        let name = field.name().unwrap_or("").to_string();
        let file_name = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let limit = if file_name.is_some() {
            max_file as usize
        } else {
            256 * 1024
        };
        let mut data = Vec::new();
        let mut over = false;
        while let Some(chunk) = next_or_stuck(&mut field, &ended).await.map_err(stuck)? {
            let chunk = chunk.map_err(|e| format!("the form cannot be read: {e}"))?;
            if data.len() + chunk.len() > limit {
                over = true;
                continue;
            }
            data.extend_from_slice(&chunk);
        }
        if name == file_field {
            // A file input left empty sends a part without a name or bytes.
            let Some(file_name) = file_name.as_deref().and_then(baylanys_core::safe_file_name)
            else {
                continue;
            };
            if over {
                f.too_large.get_or_insert(file_name);
            } else if data.is_empty() {
                continue;
            } else if f.files.len() >= max_files {
                f.too_many.get_or_insert(file_name);
            } else {
                f.files.push(baylanys_core::Attachment {
                    content_type: baylanys_core::sniff_media_type(&data).to_string(),
                    file_name,
                    content: data,
                });
            }
            continue;
        }
        if over {
            return Err(format!("{name}: longer than 256 KB"));
        }
        f.fields
            .push((name, String::from_utf8_lossy(&data).into_owned()));
    }
    Ok(f)
}

/// The console's style sheet and its small script (progressive enhancement only: every
/// page works without it), served from the binary.
async fn static_file(path: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match path.as_str() {
        "console.css" => (include_str!("console.css"), "text/css; charset=utf-8"),
        "console.js" => (include_str!("console.js"), "text/javascript; charset=utf-8"),
        _ => {
            return HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("no such file");
        }
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// The console's start page.
async fn home(app: AppData, req: HttpRequest, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    staff.page(
        &app,
        &req,
        "console/home.html",
        context! { expires => crate::templates::local_time(staff.0.expires_at) },
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn redirects_stay_inside_the_console() {
        assert_eq!(
            safe_next(Some("/console/queue?view=mine")).as_deref(),
            Some("/console/queue?view=mine")
        );
        for bad in [
            "//evil.example/console/",
            "https://evil.example/console/",
            "/console/\\evil",
            "/other",
            "/console/\nSet-Cookie: x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }
}
