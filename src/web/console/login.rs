//! Sign-in, sign-out and the language switch of the console.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Language;
use minijinja::context;
use serde::Deserialize;

use super::{
    ConsoleError, LOGIN_COOKIE, Staff, html_response, safe_next, secure_cookies, see_other,
    session_cookie,
};
use crate::console::sessions::{self, MAX_LOGIN_CHARS, MAX_PASSWORD_CHARS, SignIn, Terms};
use crate::web::AppData;

/// The sign-in page's language: `?lang=` (kk, ru or en), else the browser's, else Kazakh.
fn login_language(req: &HttpRequest, given: Option<&str>) -> Language {
    let from_query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("lang").cloned());
    given
        .map(str::to_string)
        .or(from_query)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| crate::web::page_language(req))
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

fn login_cookie(
    app: &AppData,
    req: &HttpRequest,
    value: &str,
) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(LOGIN_COOKIE, value.to_string())
        .path("/console/login")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .secure(secure_cookies(app, req))
        .finish()
}

struct LoginView<'a> {
    lang: Language,
    next: Option<String>,
    login: &'a str,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
}

/// The sign-in page, with a fresh double-submit token in its form and its cookie.
fn render(app: &AppData, req: &HttpRequest, v: LoginView<'_>) -> HttpResponse {
    let token = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| t.len() == 64)
        .unwrap_or_else(crate::auth::random_secret);
    let html = app.templates.console_page(
        "console/login.html",
        v.lang,
        context! {
            csrf => &token,
            next => v.next.as_deref().unwrap_or(""),
            next_param => url::form_urlencoded::byte_serialize(v.next.as_deref().unwrap_or("").as_bytes()).collect::<String>(),
            login => v.login,
            error => v.error,
            notice => v.notice,
            languages => ["kk", "ru", "en"],
        },
    );
    match html {
        Ok(html) => {
            let mut r = html_response(v.status, html);
            let _ = r.add_cookie(&login_cookie(app, req, &token));
            r
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "console sign-in page failed");
            HttpResponse::InternalServerError().body("the sign-in page failed")
        }
    }
}

pub async fn form(app: AppData, req: HttpRequest, q: web::Query<LoginQuery>) -> HttpResponse {
    let lang = login_language(&req, None);
    let notice = q
        .signed_out
        .is_some()
        .then(|| app.templates.console_text(lang, "signed_out"));
    render(
        &app,
        &req,
        LoginView {
            lang,
            next: safe_next(q.next.as_deref()),
            login: "",
            error: None,
            notice,
            status: StatusCode::OK,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
    lang: Option<String>,
}

pub async fn submit(app: AppData, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let form = form.into_inner();
    let lang = login_language(&req, form.lang.as_deref());
    let next = safe_next(form.next.as_deref());
    let login = form.login.trim().to_string();
    let shown_login: String = login.chars().take(MAX_LOGIN_CHARS).collect();
    let again = |error: String, status: StatusCode| {
        render(
            &app,
            &req,
            LoginView {
                lang,
                next: next.clone(),
                login: &shown_login,
                error: Some(error),
                notice: None,
                status,
            },
        )
    };
    let t = |key: &str| app.templates.console_text(lang, key);
    // The form came from our page in this browser (double submit: no session yet).
    let cookie = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_string());
    let same = cookie.as_deref().is_some_and(|c| {
        !c.is_empty() && baylanys_core::constant_time_eq(c.as_bytes(), form.csrf.trim().as_bytes())
    });
    if !same {
        return again(t("login_csrf"), StatusCode::FORBIDDEN);
    }
    if login.is_empty() || form.password.is_empty() {
        return again(t("login_required"), StatusCode::UNPROCESSABLE_ENTITY);
    }
    if login.chars().count() > MAX_LOGIN_CHARS || form.password.chars().count() > MAX_PASSWORD_CHARS
    {
        return again(t("login_wrong"), StatusCode::UNAUTHORIZED);
    }
    let (now, terms) = (app.clock.now(), Terms::of(&app.config));
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let password = form.password;
    let outcome = app
        .db
        .write(move |c| {
            sessions::sign_in(c, &login, &password, now, &terms, agent.as_deref(), lang)
        })
        .await;
    match outcome {
        Ok(SignIn::Ok { token, .. }) => {
            let to = next.unwrap_or_else(|| "/console/".into());
            let mut r = see_other(&to, None);
            let _ = r.add_cookie(&session_cookie(&app, &req, Some(&token)));
            // The sign-in form's token is spent.
            let mut spent = login_cookie(&app, &req, "");
            spent.make_removal();
            let _ = r.add_cookie(&spent);
            r
        }
        Ok(SignIn::Wrong { remaining }) => {
            let msg = app.templates.console_format(
                lang,
                "login_wrong_left",
                context! { remaining, minutes => sessions::LOCK_MINUTES },
            );
            again(msg, StatusCode::UNAUTHORIZED)
        }
        Ok(SignIn::Locked { until }) => {
            let msg = app.templates.console_format(
                lang,
                "login_locked",
                context! {
                    until => crate::templates::local_time(until),
                    failures => sessions::MAX_FAILURES,
                },
            );
            let mut r = again(msg, StatusCode::TOO_MANY_REQUESTS);
            let secs = (until - now).num_seconds().max(1);
            if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "console sign-in failed on the database");
            again(t("unavailable"), StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// Sign-out: the session ends in the database; its cookie is removed.
pub async fn logout(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    let (id, now) = (staff.0.id.clone(), app.clock.now());
    app.db.write(move |c| sessions::end(c, &id, now)).await?;
    let mut r = HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!(
                "/console/login?signed_out=1&lang={}",
                staff.language().as_str()
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish();
    let _ = r.add_cookie(&session_cookie(&app, &req, None));
    Ok(r)
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    lang: String,
    back: Option<String>,
}

/// The staff member's console language, kept with the user (every session, every
/// instance).
pub async fn language(
    app: AppData,
    staff: Staff,
    form: web::Form<LanguageForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let lang: Language = form.lang.parse().map_err(|_| {
        staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "`{}` is not a language: choose kk, ru or en",
                crate::web::input::shown(&form.lang)
            ),
        )
    })?;
    let uid = staff.user().id.clone();
    app.db
        .write(move |c| sessions::set_language(c, &uid, lang))
        .await?;
    Ok(see_other(form.back.as_deref().unwrap_or("/console/"), None))
}
