//! The web-form channel: the public appeal form, its JSON twin, and the status page.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::{Attachment, Channel, InboundMessage, Language, Sender};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppData, FieldError, WebData, page_language};
use crate::templates::Templates;
use crate::tickets::domain::{
    EmailAddress, Iin, Phone, REGIONS, TOPICS, region_known, topic_known,
};
use crate::tickets::registrar::{self, IdempotencyKey, RegisterError, StoredAnswer};
use crate::web::metrics::Metrics;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(form_page))
        .route("/appeals", web::post().to(submit_form))
        .route("/api/v1/appeals", web::post().to(submit_json));
}

/// What the form and the JSON API accept.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AppealInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub iin: Option<String>,
    pub region: Option<String>,
    pub topic: Option<String>,
    pub text: Option<String>,
    pub consent: Option<bool>,
    pub language: Option<String>,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: Option<String>,
}

impl AppealInput {
    /// The input as it will be stored (see `baylanys_core::clean_text`), so that lengths
    /// and required fields are judged on what is kept.
    pub fn cleaned(&self) -> AppealInput {
        let c = |v: &Option<String>| {
            v.as_deref()
                .map(|s| baylanys_core::clean_text(s).into_owned())
        };
        AppealInput {
            name: c(&self.name),
            email: c(&self.email),
            phone: c(&self.phone),
            iin: c(&self.iin),
            region: c(&self.region),
            topic: c(&self.topic),
            text: c(&self.text),
            consent: self.consent,
            language: c(&self.language),
            website: c(&self.website),
        }
    }
}

/// The appeal as `validate` accepts it: a name, an e-mail or a phone (or both), a known
/// region and topic, the text and the consent; unknown fields are ignored.
struct AppealBody;

impl utoipa::PartialSchema for AppealBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::openapi::body::one_of_required(AppealFields::schema(), &["email", "phone"])
    }
}

impl utoipa::ToSchema for AppealBody {}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: submit_json reads an AppealInput and validate checks it
struct AppealFields {
    #[schema(pattern = r"\S", max_length = 200)]
    name: String,
    /// Required unless `phone` is given.
    #[schema(schema_with = appeal_email)]
    email: Option<String>,
    /// A Kazakhstan number, e.g. `+7 701 234 5678`; required unless `email` is given.
    #[schema(schema_with = appeal_phone)]
    phone: Option<String>,
    /// The IIN: 12 digits with its check digit.
    #[schema(pattern = r"^\s*[0-9]{12}\s*$", nullable = false)]
    iin: Option<String>,
    #[schema(schema_with = super::openapi::body::region)]
    region: String,
    #[schema(schema_with = super::openapi::body::topic)]
    topic: String,
    #[schema(pattern = r"\S", max_length = 20000)]
    text: String,
    /// Consent to the processing of personal data: must be `true`.
    #[schema(schema_with = consent_given)]
    consent: bool,
    /// The language of the answers (kk or ru); by default the text's.
    #[schema(schema_with = super::openapi::body::language)]
    language: Option<String>,
    /// The honeypot: leave it out or empty.
    #[schema(pattern = r"^\s*$", nullable = false)]
    website: Option<String>,
}

fn appeal_email() -> utoipa::openapi::schema::Object {
    super::openapi::body::email()
}

fn appeal_phone() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(r"^[-+() ]*(?:[78][-+() ]*)?(?:[0-9][-+() ]*){10}$"))
        .build()
}

fn consent_given() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

const MAX_FILES: usize = 5;
const ALLOWED_TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("txt", "text/plain"),
];

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Checks every field; on success, the message intake registers.
pub fn validate(
    texts: &Templates,
    input: &AppealInput,
    attachments: Vec<Attachment>,
    lang: Language,
) -> Result<InboundMessage, Vec<FieldError>> {
    let input = &input.cleaned();
    let mut errors = Vec::new();
    let mut err = |field: &str, key: &str, ctx: minijinja::Value| {
        errors.push(FieldError::new(field, texts.form_message(lang, key, ctx)))
    };

    if present(&input.website).is_some() {
        err("website", "website_filled", context! {});
    }
    let name = present(&input.name).map(str::to_string);
    match &name {
        None => err("name", "name_required", context! {}),
        Some(n) if n.chars().count() > 200 => err("name", "name_too_long", context! {}),
        _ => {}
    }
    let email = present(&input.email).map(EmailAddress::parse);
    if let Some(Err(_)) = &email {
        err("email", "email_invalid", context! {});
    }
    let phone = present(&input.phone).map(Phone::parse);
    if let Some(Err(_)) = &phone {
        err("phone", "phone_invalid", context! {});
    }
    if email.is_none() && phone.is_none() {
        err("email", "contact_required", context! {});
    }
    let iin = present(&input.iin).map(Iin::parse);
    if let Some(Err(e)) = &iin {
        let (key, ctx) = e.message_key();
        err("iin", key, ctx);
    }
    let region = present(&input.region);
    if !region.is_some_and(region_known) {
        err("region", "region_required", context! {});
    }
    let topic = present(&input.topic);
    if !topic.is_some_and(topic_known) {
        err("topic", "topic_required", context! {});
    }
    let text = present(&input.text).map(str::to_string);
    match &text {
        None => err("text", "text_required", context! {}),
        Some(t) if t.chars().count() > 20_000 => err("text", "text_too_long", context! {}),
        _ => {}
    }
    if input.consent != Some(true) {
        err("consent", "consent_required", context! {});
    }
    let language = match present(&input.language).map(str::parse::<Language>) {
        Some(Ok(l)) if l != Language::En => Some(l),
        Some(_) => {
            err("language", "language_invalid", context! {});
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let email = email.and_then(Result::ok).map(|e| e.as_str().to_string());
    let phone = phone.and_then(Result::ok).map(|p| p.as_str().to_string());
    let address = email.clone().or_else(|| phone.clone()).unwrap_or_default();
    let mut msg = InboundMessage::new(
        Channel::WebForm,
        Sender {
            address,
            display_name: name,
            phone,
            email,
        },
        text.unwrap_or_default(),
    );
    msg.language = language;
    msg.attachments = attachments;
    for (key, value) in [("region", region), ("topic", topic)] {
        if let Some(v) = value {
            msg.fields.insert(key.into(), v.into());
        }
    }
    if let Some(Ok(iin)) = iin {
        msg.fields.insert("iin".into(), iin.as_str().into());
    }
    Ok(msg)
}

/// The client's address, as [`super::ratelimit::client_ip`] decides it.
fn client_ip(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> std::net::IpAddr {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let lines = req
        .headers()
        .get_all("X-Forwarded-For")
        .filter_map(|v| v.to_str().ok());
    super::ratelimit::client_ip(peer, lines, trusted)
}

pub(super) fn check_rate(app: &AppData, site: &WebData, req: &HttpRequest) -> Result<(), ApiError> {
    site.rate_limiter
        .check(client_ip(req, &app.config.trusted_proxies))
        .map_err(|secs| {
            Metrics::inc(&site.metrics.rate_limited);
            ApiError::TooMany(secs)
        })
}

/// The `Idempotency-Key` header: absent, or 1-255 visible ASCII characters.
pub(crate) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match v.to_str().map(str::trim) {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters (a UUID is a good key)",
        )])),
    }
}

/// Looks up what a key answered; runs on a blocking thread.
pub(super) async fn stored_answer(
    app: &AppData,
    key: &str,
) -> Result<Option<StoredAnswer>, ApiError> {
    let key = key.to_string();
    Ok(app
        .db
        .run(move |c| registrar::stored_answer(c, &key))
        .await?)
}

/// The first answer again, or a 422 when the key came with a different appeal.
fn replay(stored: StoredAnswer, request_hash: &str) -> Result<HttpResponse, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            "was already used for a different appeal in the last 24 hours: use a new key for a new appeal",
        )]));
    }
    let status = actix_web::http::StatusCode::from_u16(stored.status)
        .unwrap_or(actix_web::http::StatusCode::CREATED);
    let mut resp = HttpResponse::build(status);
    resp.content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"));
    if let Some(url) = serde_json::from_str::<serde_json::Value>(&stored.body)
        .ok()
        .and_then(|b| b["status_url"].as_str().map(str::to_string))
    {
        resp.insert_header((header::LOCATION, url));
    }
    Ok(resp.body(stored.body))
}

#[utoipa::path(
    post,
    path = "/api/v1/appeals",
    tag = "appeals",
    summary = "Register a citizen's appeal (the JSON twin of the form at GET /)",
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "1-255 visible ASCII characters: a retry with the same key and body gets the first answer")),
    request_body(content = AppealBody),
    responses((status = 201, description = "registered", body = AppealRegistered), (status = 429, description = "too many appeals from this address (see Retry-After)", body = super::Problem, content_type = "application/problem+json"))
)]
async fn submit_json(
    app: AppData,
    site: WebData,
    req: HttpRequest,
    body: web::Json<AppealInput>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?.map(|k| format!("api:{k}"));
    let request_hash =
        crate::auth::sha256_hex(serde_json::to_string(&*body).unwrap_or_default().as_bytes());
    // A retry is answered before the rate limit counts it.
    if let Some(k) = &key
        && let Some(stored) = stored_answer(&app, k).await?
    {
        return replay(stored, &request_hash);
    }
    check_rate(&app, &site, &req)?;
    let lang = Language::En;
    let msg = validate(&app.templates, &body, Vec::new(), lang).map_err(|e| {
        Metrics::inc(&site.metrics.appeals_rejected);
        ApiError::Invalid(e)
    })?;
    let keyed = key.clone().map(|key| IdempotencyKey {
        key,
        request_hash: request_hash.clone(),
    });
    let reg = match app.registrar().register_keyed(msg, keyed).await {
        Ok(reg) => reg,
        // A concurrent duplicate won: answer what it answered.
        Err(RegisterError::KeyTaken) => {
            let stored = match &key {
                Some(k) => stored_answer(&app, k).await?,
                None => None,
            };
            return match stored {
                Some(s) => replay(s, &request_hash),
                None => Err(ApiError::Conflict(
                    "another request with this Idempotency-Key is being registered: retry".into(),
                )),
            };
        }
        Err(RegisterError::Intake(e)) => return Err(e.into()),
    };
    Metrics::inc(&site.metrics.appeals_registered);
    let body = registrar::created_body(&app.config.public_url, &reg);
    let location = crate::tickets::status_link(
        &app.config.public_url,
        &reg.number,
        reg.access_key.as_deref(),
        reg.language,
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(body))
}

fn options(lang: Language, list: &[(&str, &str, &str)]) -> Vec<serde_json::Value> {
    list.iter()
        .map(|(code, kk, ru)| serde_json::json!({"code": code, "name": if lang == Language::Kk { kk } else { ru }}))
        .collect()
}

fn render_form(
    app: &AppData,
    lang: Language,
    values: &AppealInput,
    errors: &[FieldError],
    status: actix_web::http::StatusCode,
    token: &str,
) -> HttpResponse {
    // Missing values show as empty fields, not as the word "none".
    let mut shown = serde_json::to_value(values).unwrap_or_default();
    if let Some(map) = shown.as_object_mut() {
        for v in map.values_mut() {
            if v.is_null() {
                *v = serde_json::Value::String(String::new());
            }
        }
    }
    let html = app.templates.page(
        "web/form.html",
        lang,
        context! {
            values => shown,
            errors => errors,
            error_fields => errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            regions => options(lang, REGIONS),
            topics => options(lang, TOPICS),
            max_mb => (app.config.max_attachment_bytes / (1024 * 1024)).to_string(),
            idempotency_key => token,
        },
    );
    html_response(status, html)
}

pub(super) fn html_response(
    status: actix_web::http::StatusCode,
    html: Result<String, minijinja::Error>,
) -> HttpResponse {
    match html {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            HttpResponse::InternalServerError().body("page template failed")
        }
    }
}

pub(super) fn error_page(
    app: &AppData,
    lang: Language,
    status: actix_web::http::StatusCode,
    message: &str,
) -> HttpResponse {
    html_response(
        status,
        app.templates
            .page("web/error.html", lang, context! { message }),
    )
}

async fn form_page(app: AppData, req: HttpRequest) -> HttpResponse {
    let lang = page_language(&req);
    render_form(
        &app,
        lang,
        &AppealInput::default(),
        &[],
        actix_web::http::StatusCode::OK,
        &crate::auth::random_secret(),
    )
}

/// Longest text field of the form, in bytes.
const MAX_FIELD_BYTES: usize = 64 * 1024;

pub(super) struct FormRead {
    pub(super) input: AppealInput,
    /// The hidden per-form token: the same form sent twice registers once.
    pub(super) token: Option<String>,
    pub(super) files: Vec<Attachment>,
    pub(super) errors: Vec<FieldError>,
    /// A file was over the size limit (413).
    pub(super) oversize: bool,
    /// Reading stopped before the end of the form: the connection cannot be reused.
    pub(super) stopped: bool,
}

pub(crate) enum FormError {
    Unreadable(String),
}

/// The request body, noting when it has ended.
pub(crate) struct WatchEnd<S> {
    pub(crate) inner: S,
    pub(crate) ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<S: futures_util::Stream + Unpin> futures_util::Stream for WatchEnd<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        let next = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if let std::task::Poll::Ready(None) = next {
            self.ended.store(true, std::sync::atomic::Ordering::Release);
        }
        next
    }
}

/// The next item of the multipart reader, or an error when the body has ended and the
/// reader still waits for more: actix-multipart 0.7 answers Pending, forever, when a
/// body ends inside a part with a few bytes left (a form cut short, a mangled closing
/// boundary), and the request would hang until the body timeout (found by fuzzing).
pub(crate) async fn next_or_stuck<T: futures_util::Stream + Unpin>(
    stream: &mut T,
    ended: &std::sync::atomic::AtomicBool,
) -> Result<Option<T::Item>, FormError> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *stream).poll_next(cx) {
        std::task::Poll::Ready(item) => std::task::Poll::Ready(Ok(item)),
        std::task::Poll::Pending if ended.load(std::sync::atomic::Ordering::Acquire) => {
            std::task::Poll::Ready(Err(FormError::Unreadable(
                "the form ends before its closing boundary".into(),
            )))
        }
        std::task::Poll::Pending => std::task::Poll::Pending,
    })
    .await
}

/// What [`parse_form`] read from a form's bytes.
#[derive(Debug)]
pub struct ParsedForm {
    pub input: AppealInput,
    pub token: Option<String>,
    pub files: Vec<Attachment>,
    pub errors: Vec<FieldError>,
    pub oversize: bool,
    pub stopped: bool,
}

/// The form reader over a whole body: `content_type` is the request's header (with its
/// boundary). The server reads the request as it streams; this is the same code, for the
/// fuzzer and the property tests. `Err` when the body is not a readable multipart form.
pub async fn parse_form(
    texts: &Templates,
    content_type: &str,
    body: Vec<u8>,
    max_file: u64,
    lang: Language,
) -> Result<ParsedForm, String> {
    let mut headers = actix_web::http::header::HeaderMap::new();
    let value = header::HeaderValue::from_str(content_type).map_err(|e| e.to_string())?;
    headers.insert(header::CONTENT_TYPE, value);
    let stream = futures_util::stream::once(async move {
        Ok::<_, actix_web::error::PayloadError>(actix_web::web::Bytes::from(body))
    });
    match read_form(texts, &headers, Box::pin(stream), max_file, lang).await {
        Ok(f) => Ok(ParsedForm {
            input: f.input,
            token: f.token,
            files: f.files,
            errors: f.errors,
            oversize: f.oversize,
            stopped: f.stopped,
        }),
        Err(FormError::Unreadable(e)) => Err(e),
    }
}

/// Reads the multipart form: text fields and up to five files within the limits.
pub(super) async fn read_form<S>(
    texts: &Templates,
    headers: &header::HeaderMap,
    body: S,
    max_file: u64,
    lang: Language,
) -> Result<FormRead, FormError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>>
        + Unpin
        + 'static,
{
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut payload = Multipart::new(
        headers,
        WatchEnd {
            inner: body,
            ended: ended.clone(),
        },
    );
    let mut input = AppealInput::default();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut too_large = Vec::new();
    let mut token = None;
    let mut stopped = false;
    // Five files at the limit, the text fields and some slack; past that we stop reading.
    let max_total = (MAX_FILES + 1) * max_file as usize + 16 * MAX_FIELD_BYTES;
    let read = &mut 0usize;
    while let Some(field) = next_or_stuck(&mut payload, &ended).await? {
        let mut field = field.map_err(|e| FormError::Unreadable(e.to_string()))?;
        let name = field.name().unwrap_or("").to_string();
        let file_name = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let mut data = Vec::new();
        let limit = if file_name.is_some() {
            max_file as usize
        } else {
            MAX_FIELD_BYTES
        };
        let mut oversize = false;
        while let Some(chunk) = next_or_stuck(&mut field, &ended).await? {
            let chunk = chunk.map_err(|e| FormError::Unreadable(e.to_string()))?;
            if data.len() + chunk.len() > limit {
                // Over the limit: refused, never cut to size. The rest is read (up to the
                // form's total) so the client gets the answer, not a reset.
                oversize = true;
                *read += data.len() + chunk.len();
                data = Vec::new();
                while let Some(rest) = next_or_stuck(&mut field, &ended).await? {
                    *read += rest
                        .map_err(|e| FormError::Unreadable(e.to_string()))?
                        .len();
                    if *read > max_total {
                        stopped = true;
                        break;
                    }
                }
                break;
            }
            data.extend_from_slice(&chunk);
        }
        *read += data.len();
        // Far over what a form may carry: answer with what was read, read no more.
        stopped |= *read > max_total;
        if stopped && !oversize {
            errors.push(FieldError::new(
                "attachments",
                texts.form_message(
                    lang,
                    "form_too_large",
                    context! { max_files => MAX_FILES, mb => max_file / (1024 * 1024) },
                ),
            ));
            break;
        }
        if oversize && file_name.is_none() {
            errors.push(FieldError::new(
                &name,
                texts.form_message(
                    lang,
                    "field_too_long",
                    context! { max_bytes => MAX_FIELD_BYTES },
                ),
            ));
            if stopped {
                break;
            }
            continue;
        }
        if name == "attachments" {
            let Some(file_name) = file_name.as_deref().and_then(baylanys_core::safe_file_name)
            else {
                continue;
            };
            if oversize {
                too_large.push(file_name);
                if stopped {
                    break;
                }
                continue;
            }
            if data.is_empty() {
                continue;
            }
            let ext = file_name
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .unwrap_or_default();
            let Some((_, content_type)) = ALLOWED_TYPES.iter().find(|(e, _)| *e == ext) else {
                errors.push(FieldError::new(
                    "attachments",
                    texts.form_message(lang, "file_type", context! { file => &file_name }),
                ));
                continue;
            };
            if files.len() >= MAX_FILES {
                errors.push(FieldError::new(
                    "attachments",
                    texts.form_message(lang, "too_many_files", context! { max_files => MAX_FILES }),
                ));
                continue;
            }
            files.push(Attachment {
                file_name,
                content_type: (*content_type).to_string(),
                content: data,
            });
            continue;
        }
        let value = String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "name" => input.name = Some(value),
            "email" => input.email = Some(value),
            "phone" => input.phone = Some(value),
            "iin" => input.iin = Some(value),
            "region" => input.region = Some(value),
            "topic" => input.topic = Some(value),
            "text" => input.text = Some(value),
            "consent" => {
                input.consent = Some(matches!(value.as_str(), "yes" | "on" | "true" | "1"))
            }
            "language" => input.language = Some(value),
            "website" => input.website = Some(value),
            "idempotency_key" => {
                token = Some(value.trim().to_string()).filter(|t| {
                    (1..=255).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
                })
            }
            _ => {}
        }
    }
    let mb = max_file / (1024 * 1024);
    let oversize_files = stopped || !too_large.is_empty();
    for file_name in too_large {
        errors.push(FieldError::new(
            "attachments",
            texts.form_message(lang, "file_too_large", context! { file => &file_name, mb }),
        ));
    }
    Ok(FormRead {
        input,
        token,
        files,
        errors,
        oversize: oversize_files,
        stopped,
    })
}

async fn submit_form(
    app: AppData,
    site: WebData,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let lang = page_language(&req);
    if let Err(e) = check_rate(&app, &site, &req) {
        let secs = match e {
            ApiError::TooMany(s) => s,
            _ => 60,
        };
        let mut resp = error_page(
            &app,
            lang,
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            &app.templates
                .form_message(lang, "too_many_appeals", context! { secs }),
        );
        if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let form = match read_form(
        &app.templates,
        req.headers(),
        payload,
        app.config.max_attachment_bytes,
        lang,
    )
    .await
    {
        Ok(r) => r,
        Err(FormError::Unreadable(e)) => {
            return error_page(
                &app,
                lang,
                actix_web::http::StatusCode::BAD_REQUEST,
                &app.templates
                    .form_message(lang, "form_unreadable", context! { detail => e }),
            );
        }
    };
    let FormRead {
        input,
        token,
        files,
        mut errors,
        oversize,
        stopped,
    } = form;
    let lang = present(&input.language)
        .and_then(|l| l.parse().ok())
        .filter(|l| *l != Language::En)
        .unwrap_or(lang);
    let key = token.as_ref().map(|t| format!("form:{t}"));
    let request_hash = form_hash(&input, &files);
    if let Some(k) = &key {
        match stored_answer(&app, k).await {
            Ok(Some(stored)) if stored.request_hash == request_hash => {
                return redirect_to_status(&stored.body, lang);
            }
            // The same form page sent again with other content: a new form, and why.
            Ok(Some(_)) => {
                let e = [FieldError::new(
                    "text",
                    app.templates
                        .form_message(lang, "form_already_sent", context! {}),
                )];
                let fresh = crate::auth::random_secret();
                return render_form(
                    &app,
                    lang,
                    &input,
                    &e,
                    actix_web::http::StatusCode::CONFLICT,
                    &fresh,
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency look-up failed"),
        }
    }
    let token = token.unwrap_or_else(crate::auth::random_secret);
    let close = |mut resp: HttpResponse| {
        if stopped {
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        resp
    };
    let refused = if oversize {
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let validated = validate(&app.templates, &input, files, lang);
    let appeal = match validated {
        Ok(m) if errors.is_empty() => m,
        Ok(_) => {
            Metrics::inc(&site.metrics.appeals_rejected);
            return close(render_form(&app, lang, &input, &errors, refused, &token));
        }
        Err(mut e) => {
            e.append(&mut errors);
            Metrics::inc(&site.metrics.appeals_rejected);
            return close(render_form(&app, lang, &input, &e, refused, &token));
        }
    };
    let keyed = key.map(|key| IdempotencyKey {
        key,
        request_hash: request_hash.clone(),
    });
    let form_key = keyed.as_ref().map(|k| k.key.clone());
    match app.registrar().register_keyed(appeal, keyed).await {
        Err(RegisterError::KeyTaken) => {
            // The same form was sent twice at once and the other one registered.
            let stored = match &form_key {
                Some(k) => stored_answer(&app, k).await.ok().flatten(),
                None => None,
            };
            match stored {
                Some(s) => redirect_to_status(&s.body, lang),
                None => error_page(
                    &app,
                    lang,
                    actix_web::http::StatusCode::CONFLICT,
                    &app.templates
                        .form_message(lang, "form_in_flight", context! {}),
                ),
            }
        }
        Ok(reg) => {
            Metrics::inc(&site.metrics.appeals_registered);
            // Post/redirect/get: reloading the confirmation cannot submit the appeal twice.
            let url = format!(
                "/appeals/{}?key={}&lang={}&new=1",
                reg.number,
                reg.access_key.as_deref().unwrap_or(""),
                lang.as_str()
            );
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .finish()
        }
        Err(RegisterError::Intake(e)) => {
            // The citizen gets a reference to quote; the cause stays in the log.
            let reference = crate::db::new_id();
            tracing::error!(reference, error = %e, "a form appeal was not registered");
            error_page(
                &app,
                lang,
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                &app.templates
                    .form_message(lang, "not_registered", context! { reference }),
            )
        }
    }
}

/// What the form's idempotency record is compared on: the fields and each file.
pub(super) fn form_hash(input: &AppealInput, files: &[Attachment]) -> String {
    let mut text = serde_json::to_string(input).unwrap_or_default();
    for f in files {
        text.push('\n');
        text.push_str(&f.file_name);
        text.push(' ');
        text.push_str(&crate::auth::sha256_hex(&f.content));
    }
    crate::auth::sha256_hex(text.as_bytes())
}

/// Post/redirect/get to the status page of a stored registration.
fn redirect_to_status(body: &str, lang: Language) -> HttpResponse {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let number = v["number"].as_str().unwrap_or("");
    let key = v["status_url"]
        .as_str()
        .and_then(|u| u.split_once("?key="))
        .map_or("", |(_, k)| k.split('&').next().unwrap_or(""));
    let url = format!("/appeals/{number}?key={key}&lang={}&new=1", lang.as_str());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url))
        .finish()
}

/// The answer to a registered appeal (registrar::created_body).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: registrar::created_body builds it
struct AppealRegistered {
    /// The registration number, e.g. UCC-2026-000001.
    number: String,
    registered_at: String,
    /// R5: the reply is due by then.
    due_at: String,
    /// The appeal's status page, in the appeal's language.
    status_url: String,
}
