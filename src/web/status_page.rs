//! The applicant's page of an appeal, behind its secret link: the status and deadline,
//! the conversation with its files, and a form to add to the appeal (text and files).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::{Attachment, Channel, InboundMessage, Language, Sender};
use minijinja::context;
use serde::Deserialize;

use super::public::{
    AppealInput, FormError, FormRead, check_rate, error_page, form_hash, html_response, read_form,
    stored_answer,
};
use super::{AppData, FieldError, WebData, page_language};
use crate::tickets::domain::RegistrationNumber;
use crate::tickets::queries::{StatusAccess, StatusView};
use crate::tickets::registrar::{IdempotencyKey, RegisterError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/appeals/{number}", web::get().to(status_page))
        .route("/appeals/{number}/follow-up", web::post().to(add_follow_up))
        .route("/appeals/{number}/files/{file}", web::get().to(file));
}

/// Longest addition, in characters (as the form's text).
const MAX_TEXT_CHARS: usize = 20_000;

#[derive(Deserialize)]
pub(super) struct KeyQuery {
    key: Option<String>,
    new: Option<String>,
    added: Option<String>,
}

/// What the follow-up form shows again after a refusal.
#[derive(Default)]
struct FollowUpForm {
    text: String,
    errors: Vec<FieldError>,
    token: String,
}

fn not_found(app: &AppData, lang: Language) -> HttpResponse {
    error_page(
        app,
        lang,
        StatusCode::NOT_FOUND,
        &app.templates
            .form_message(lang, "appeal_not_found", context! {}),
    )
}

fn unavailable(
    app: &AppData,
    lang: Language,
    what: &str,
    e: impl std::fmt::Display,
) -> HttpResponse {
    tracing::error!(error = %e, "{what}");
    error_page(
        app,
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        &app.templates
            .form_message(lang, "temporarily_unavailable", context! {}),
    )
}

/// The number and key of a request, when both look right (the key is checked later).
fn number_and_key(number: &str, key: Option<String>) -> Option<(String, String)> {
    let key = key.filter(|k| !k.is_empty() && k.len() <= 255)?;
    RegistrationNumber::parse(number).ok()?;
    Some((number.to_string(), key))
}

async fn status_page(
    app: AppData,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> HttpResponse {
    let lang = page_language(&req);
    let query = query.into_inner();
    let notice = if query.added.is_some() {
        Some("added")
    } else {
        None
    };
    let just_registered = query.new.is_some();
    let Some((number, key)) = number_and_key(&path.into_inner(), query.key) else {
        return not_found(&app, lang);
    };
    let form = FollowUpForm {
        token: crate::auth::random_secret(),
        ..Default::default()
    };
    render(
        &app,
        lang,
        &number,
        &key,
        just_registered,
        notice,
        form,
        StatusCode::OK,
    )
    .await
}

/// The page, or 404 when the key is not the ticket's.
#[allow(clippy::too_many_arguments)]
async fn render(
    app: &AppData,
    lang: Language,
    number: &str,
    key: &str,
    just_registered: bool,
    notice: Option<&str>,
    form: FollowUpForm,
    status: StatusCode,
) -> HttpResponse {
    let (n, k) = (number.to_string(), key.to_string());
    let view = app
        .db
        .run(move |c| crate::tickets::queries::status_view(c, &n, &k))
        .await;
    // R10: the rating form (web/rating_form.html) when an offer is open.
    let (n, k, now) = (
        number.to_string(),
        key.to_string(),
        app.clock.now().naive_utc(),
    );
    let rating = app
        .db
        .run(move |c| crate::ratings::status_for(c, &n, &k, now))
        .await
        .ok()
        .flatten()
        .map(|(_, r)| r);
    let v = match view {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(app, lang),
        Err(e) => return unavailable(app, lang, "status page", e),
    };
    let stages = stages_named(app, &v, lang).await;
    let status_url = crate::tickets::status_url(&app.config.public_url, number, Some(key));
    let page = format!("/appeals/{number}?key={}", urlencode(key));
    let error_fields: Vec<&str> = form.errors.iter().map(|e| e.field.as_str()).collect();
    html_response(
        status,
        app.templates.page(
            "web/status.html",
            lang,
            context! {
                just_registered, stages, notice, rating, key,
                switch_url => format!("{page}&lang="),
                status_url,
                files_base => format!("/appeals/{number}/files/"),
                key_q => urlencode(key),
                follow_up => context! {
                    action => format!("/appeals/{number}/follow-up?key={}&lang={}", urlencode(key), lang.as_str()),
                    text => form.text,
                    errors => form.errors,
                    error_fields,
                    token => form.token,
                    max_mb => (app.config.max_attachment_bytes / (1024 * 1024)).to_string(),
                },
                ..minijinja::Value::from_serialize(&v)
            },
        ),
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// F8: the stage of each application number the appeal names (at most 3, asked at
/// once, each within the 5 s timeout), worded in the page's language.
async fn stages_named(app: &AppData, view: &StatusView, lang: Language) -> Vec<String> {
    let appeal = serde_json::to_value(view)
        .ok()
        .and_then(|v| v["appeal"].as_str().map(str::to_string))
        .unwrap_or_default();
    let numbers = crate::registry::stage::numbers_in(&app.config.registry, &appeal, 3);
    let asks = numbers
        .iter()
        .map(|n| crate::registry::stage::lookup(&app.config.registry, n));
    let found = futures_util::future::join_all(asks).await;
    numbers
        .iter()
        .zip(found)
        .map(|(n, s)| crate::registry::stage::message(&app.templates, &s, n, lang))
        .collect()
}

/// The applicant's addition as a message for intake: from the address of the ticket's
/// first message, naming the ticket, so it joins it (and reopens it when answered).
fn addition(a: &StatusAccess, text: String, files: Vec<Attachment>) -> InboundMessage {
    let field = |k: &str| {
        a.applicant
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let mut msg = InboundMessage::new(
        Channel::WebForm,
        Sender {
            address: a.address.clone(),
            display_name: field("name"),
            phone: field("phone"),
            email: field("email"),
        },
        text,
    );
    msg.language = a.language.parse().ok().filter(|l| *l != Language::En);
    msg.attachments = files;
    msg.thread.number_in_subject = Some(a.number.clone());
    msg
}

async fn add_follow_up(
    app: AppData,
    site: WebData,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<KeyQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let lang = page_language(&req);
    let Some((number, key)) = number_and_key(&path.into_inner(), query.into_inner().key) else {
        return not_found(&app, lang);
    };
    if check_rate(&app, &site, &req).is_err() {
        let mut resp = error_page(
            &app,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &app.templates
                .form_message(lang, "too_many_appeals", context! { secs => 60 }),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return resp;
    }
    let (n, k) = (number.clone(), key.clone());
    let access = match app
        .db
        .run(move |c| crate::tickets::queries::status_access(c, &n, &k))
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return not_found(&app, lang),
        Err(e) => return unavailable(&app, lang, "follow-up look-up", e),
    };
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
                StatusCode::BAD_REQUEST,
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
    let text = baylanys_core::clean_text(input.text.as_deref().unwrap_or(""))
        .trim()
        .to_string();
    if text.is_empty() && files.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "text",
            app.templates
                .form_message(lang, "follow_up_empty", context! {}),
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        errors.push(FieldError::new(
            "text",
            app.templates
                .form_message(lang, "text_too_long", context! {}),
        ));
    }
    let token_or_new = token.clone().unwrap_or_else(crate::auth::random_secret);
    if !errors.is_empty() {
        let status = if oversize {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let form = FollowUpForm {
            text,
            errors,
            token: token_or_new,
        };
        let mut resp = render(&app, lang, &number, &key, false, None, form, status).await;
        if stopped {
            resp.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        return resp;
    }
    let done = HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!(
                "/appeals/{number}?key={}&lang={}&added=1#thread",
                urlencode(&key),
                lang.as_str()
            ),
        ))
        .finish();
    // The same form page sent twice (a double click, a reload) adds once.
    let hashed = AppealInput {
        text: Some(text.clone()),
        ..Default::default()
    };
    let keyed = token.map(|t| IdempotencyKey {
        key: format!("follow-up:{}:{t}", access.ticket_id),
        request_hash: form_hash(&hashed, &files),
    });
    if let Some(k) = &keyed
        && let Ok(Some(_)) = stored_answer(&app, &k.key).await
    {
        return done;
    }
    let msg = addition(&access, text, files);
    match app.registrar().register_keyed(msg, keyed).await {
        Ok(_) | Err(RegisterError::KeyTaken) => done,
        Err(RegisterError::Intake(e)) => unavailable(&app, lang, "follow-up not added", e),
    }
}

#[derive(Deserialize)]
struct FilePath {
    number: String,
    file: String,
}

/// A file of the conversation, for the holder of the key; 404 for anything else.
async fn file(
    app: AppData,
    req: HttpRequest,
    path: web::Path<FilePath>,
    query: web::Query<KeyQuery>,
) -> HttpResponse {
    let lang = page_language(&req);
    let FilePath { number, file } = path.into_inner();
    let Some((number, key)) = number_and_key(&number, query.into_inner().key) else {
        return not_found(&app, lang);
    };
    if file.is_empty()
        || file.len() > 64
        || !file.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return not_found(&app, lang);
    }
    let wanted = file.clone();
    match app
        .db
        .run(move |c| crate::tickets::queries::status_file(c, &number, &key, &file))
        .await
    {
        Ok(Some(f)) => {
            let mut resp = super::api::download(f, &wanted);
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("private, no-store"),
            );
            resp
        }
        Ok(None) => not_found(&app, lang),
        Err(e) => unavailable(&app, lang, "status page file", e),
    }
}
