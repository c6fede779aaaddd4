//! The administrator's pages: users and roles, queues, the calendar's days, the
//! registry, templates preview.
//!
//! Every change goes through the function the JSON API calls for it
//! ([`crate::web::users`], [`crate::queues`], `PUT /api/v1/calendar/days/{date}`,
//! `POST /api/v1/registry/{file}`), so a page and the API refuse the same things with the
//! same words; a refused form is shown again with 422, its values kept and each message
//! beside its field.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Language;
use minijinja::{Value, context};

use super::agency::form_pairs;
use super::{ConsoleError, Staff, field_errors, see_other};
use crate::auth::Role;
use crate::calendar::DayKind;
use crate::registry::bodies::{self, BodyFilter};
use crate::registry::csv::Kind;
use crate::registry::services::{self, ServiceFilter};
use crate::users::{NewUser, UserChange};
use crate::web::{ApiError, AppData, input};

/// Services on one page of the registry's list.
const SERVICES_PAGE: i64 = 100;
/// Largest registry file the import form takes.
const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/admin", web::get().to(index))
        .route("/console/admin/users", web::get().to(users_page))
        .route("/console/admin/users", web::post().to(user_create))
        .route("/console/admin/users/{login}", web::get().to(user_page))
        .route("/console/admin/users/{login}", web::post().to(user_update))
        .route(
            "/console/admin/users/{login}/password",
            web::post().to(user_password),
        )
        .route(
            "/console/admin/users/{login}/active",
            web::post().to(user_active),
        )
        .route(
            "/console/admin/users/{login}/unlock",
            web::post().to(user_unlock),
        )
        .route("/console/admin/queues", web::get().to(queues_page))
        .route("/console/admin/queues", web::post().to(queue_create))
        .route("/console/admin/queues/{code}", web::get().to(queue_page))
        .route("/console/admin/queues/{code}", web::post().to(queue_update))
        .route("/console/admin/calendar", web::get().to(calendar_page))
        .route("/console/admin/calendar/days", web::post().to(calendar_day))
        .route("/console/admin/registry", web::get().to(registry_page))
        .route(
            "/console/admin/registry/import",
            web::post().to(registry_import),
        )
        .route(
            "/console/admin/registry/{file}",
            web::get().to(registry_export),
        )
        .route("/console/admin/templates", web::get().to(templates_page));
}

/// The sections of the portal, for its own navigation.
const SECTIONS: [(&str, &str); 5] = [
    ("users", "/console/admin/users"),
    ("queues", "/console/admin/queues"),
    ("calendar", "/console/admin/calendar"),
    ("registry", "/console/admin/registry"),
    ("templates", "/console/admin/templates"),
];

fn sections(req: &HttpRequest) -> Vec<Value> {
    SECTIONS
        .iter()
        .map(|(key, href)| {
            context! { key, href, current => req.path().starts_with(href) }
        })
        .collect()
}

/// A form shown again: what was typed and what to fix, by field.
#[derive(Default)]
struct Draft {
    values: BTreeMap<String, String>,
    errors: Vec<(String, String)>,
}

impl Draft {
    fn of(values: &[(String, String)], fields: &[&str]) -> Draft {
        let mut d = Draft::default();
        for f in fields {
            let shown = input::clean(value(values, f).unwrap_or_default());
            d.values.insert(f.to_string(), shown);
        }
        d
    }
}

/// The last value of a form field (a checkbox after its hidden fallback wins).
fn value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The field errors of a refusal, or the refusal as an error page.
fn refused_fields(staff: &Staff, e: ApiError) -> Result<Vec<(String, String)>, ConsoleError> {
    match e {
        ApiError::Invalid(list) => Ok(list.into_iter().map(|f| (f.field, f.message)).collect()),
        other => Err(ConsoleError::from(other).in_language(staff.language())),
    }
}

fn lang_name<'a>(staff: &Staff, kk: &'a str, ru: &'a str) -> &'a str {
    if staff.language() == Language::Kk {
        kk
    } else {
        ru
    }
}

/// `GET /console/admin`: the portal's first page.
async fn index(app: AppData, req: HttpRequest, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    staff.page(
        &app,
        &req,
        "console/admin/index.html",
        context! { sections => sections(&req) },
    )
}

// ---------------------------------------------------------------------------------------
// Users and roles

const NEW_USER_FIELDS: [&str; 6] = ["login", "name", "role", "password", "body_id", "email"];

/// Agency and ici users belong to one of these.
async fn body_choices(app: &AppData, staff: &Staff) -> Result<Vec<Value>, ConsoleError> {
    let filter = BodyFilter::default();
    let list = app.db.run(move |c| bodies::list(c, &filter)).await?;
    Ok(list
        .iter()
        .map(|b| {
            context! {
                id => &b.id,
                name => lang_name(staff, &b.name.kk, &b.name.ru),
                kind => b.kind.as_str(),
            }
        })
        .collect())
}

fn roles() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

async fn users_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    let mut draft = Draft::of(&[], &NEW_USER_FIELDS);
    draft.values.insert("role".into(), "operator".into());
    render_users(&app, &req, &staff, StatusCode::OK, draft).await
}

async fn render_users(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    status: StatusCode,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let accounts = crate::web::users::accounts(app)
        .await
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    let bodies = body_choices(app, staff).await?;
    let has_errors = !draft.errors.is_empty();
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/users.html",
        context! {
            sections => sections(req),
            users => Value::from_serialize(super::agency::shown_times(
                &serde_json::to_value(&accounts).unwrap_or_default(),
            )),
            bodies,
            roles => roles(),
            v => Value::from_serialize(&draft.values),
            errors => field_errors(draft.errors),
            has_errors,
            min_password => crate::users::MIN_PASSWORD_CHARS,
        },
    )
}

async fn user_create(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let mut draft = Draft::of(&pairs, &NEW_USER_FIELDS);
    let v = |k: &str| draft.values.get(k).cloned().unwrap_or_default();
    let some = |s: String| (!s.trim().is_empty()).then_some(s);
    let input = NewUser {
        // As typed: a login with a control character is refused, not quietly changed.
        login: value(&pairs, "login").unwrap_or_default(),
        name: some(v("name")),
        role: v("role"),
        // The form makes a console account: its password is required.
        password: Some(value(&pairs, "password").unwrap_or_default()),
        body_id: some(v("body_id")),
        email: some(v("email")),
    };
    match crate::web::users::add_account(&app, input).await {
        Ok(a) => Ok(see_other(
            &format!("/console/admin/users/{}", a.login),
            Some("admin_user_created"),
        )),
        Err(e) => {
            draft.errors = match e {
                ApiError::Conflict(m) => vec![("login".into(), m)],
                other => refused_fields(&staff, other)?,
            };
            // A password is never sent back to the browser.
            draft.values.insert("password".into(), String::new());
            render_users(&app, &req, &staff, StatusCode::UNPROCESSABLE_ENTITY, draft).await
        }
    }
}

async fn user_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    render_user(&app, &req, &staff, &path.into_inner(), StatusCode::OK, None).await
}

async fn render_user(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    login: &str,
    status: StatusCode,
    draft: Option<Draft>,
) -> Result<HttpResponse, ConsoleError> {
    let (l, now) = (login.to_string(), app.clock.now());
    let account = app
        .db
        .run(move |c| crate::users::get(c, &l, now))
        .await?
        .ok_or_else(|| {
            staff.error(
                StatusCode::NOT_FOUND,
                format!(
                    "{}: {}",
                    staff.text(app, "admin_no_user"),
                    input::shown(login)
                ),
            )
        })?;
    let draft = draft.unwrap_or_else(|| {
        let mut d = Draft::default();
        d.values.insert("name".into(), account.name.clone());
        d.values.insert("role".into(), account.role.as_str().into());
        d.values.insert(
            "body_id".into(),
            account.body_id.clone().unwrap_or_default(),
        );
        d
    });
    let bodies = body_choices(app, staff).await?;
    let has_errors = !draft.errors.is_empty();
    let yourself = account.login == staff.user().login;
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/user.html",
        context! {
            sections => sections(req),
            u => Value::from_serialize(super::agency::shown_times(
                &serde_json::to_value(&account).unwrap_or_default(),
            )),
            url => format!("/console/admin/users/{}", account.login),
            bodies,
            roles => roles(),
            v => Value::from_serialize(&draft.values),
            errors => field_errors(draft.errors),
            has_errors,
            yourself,
            min_password => crate::users::MIN_PASSWORD_CHARS,
        },
    )
}

/// Applies one of the user page's forms; a refusal shows the page again.
async fn apply_change(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    login: &str,
    change: UserChange,
    draft: Option<Draft>,
    notice: &str,
) -> Result<HttpResponse, ConsoleError> {
    match crate::web::users::change_account(app, staff.user(), login, change).await {
        Ok(a) => Ok(see_other(
            &format!("/console/admin/users/{}", a.login),
            Some(notice),
        )),
        Err(ApiError::NotFound(_)) => {
            render_user(app, req, staff, login, StatusCode::NOT_FOUND, None).await
        }
        Err(e) => {
            let errors = refused_fields(staff, e)?;
            let draft = match draft {
                Some(mut d) => {
                    d.errors = errors;
                    d
                }
                None => {
                    // The state forms (active, unlock) keep the edit form as it was.
                    let (l, now) = (login.to_string(), app.clock.now());
                    let a = app.db.run(move |c| crate::users::get(c, &l, now)).await?;
                    let mut d = Draft {
                        errors,
                        ..Default::default()
                    };
                    if let Some(a) = a {
                        d.values.insert("name".into(), a.name);
                        d.values.insert("role".into(), a.role.as_str().into());
                        d.values
                            .insert("body_id".into(), a.body_id.unwrap_or_default());
                    }
                    d
                }
            };
            render_user(
                app,
                req,
                staff,
                login,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(draft),
            )
            .await
        }
    }
}

async fn user_update(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let draft = Draft::of(&pairs, &["name", "role", "body_id"]);
    let v = |k: &str| draft.values.get(k).cloned().unwrap_or_default();
    let body_id = v("body_id");
    let change = UserChange {
        name: Some(v("name")),
        role: Some(v("role")),
        body_id: Some((!body_id.trim().is_empty()).then_some(body_id)),
        ..Default::default()
    };
    let login = path.into_inner();
    apply_change(
        &app,
        &req,
        &staff,
        &login,
        change,
        Some(draft),
        "admin_user_changed",
    )
    .await
}

async fn user_password(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let change = UserChange {
        password: Some(value(&pairs, "password").unwrap_or_default()),
        ..Default::default()
    };
    let login = path.into_inner();
    apply_change(
        &app,
        &req,
        &staff,
        &login,
        change,
        None,
        "admin_password_set",
    )
    .await
}

async fn user_active(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let active = match value(&pairs, "active").as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => {
            return Err(staff.error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "active: send 1 (reactivate) or 0 (deactivate)",
            ));
        }
    };
    let change = UserChange {
        active: Some(active),
        ..Default::default()
    };
    let notice = if active {
        "admin_user_reactivated"
    } else {
        "admin_user_deactivated"
    };
    let login = path.into_inner();
    apply_change(&app, &req, &staff, &login, change, None, notice).await
}

async fn user_unlock(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let change = UserChange {
        unlock: true,
        ..Default::default()
    };
    let login = path.into_inner();
    apply_change(
        &app,
        &req,
        &staff,
        &login,
        change,
        None,
        "admin_user_unlocked",
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Queues

const QUEUE_FIELDS: [&str; 6] = [
    "code",
    "name_kk",
    "name_ru",
    "supervisors",
    "reminders_enabled",
    "reminder_hours",
];

/// The queue form as the API's JSON body, so [`crate::queues::QueueInput::from_json`]
/// checks it as it checks the API's.
fn queue_json(pairs: &[(String, String)], with_code: bool) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    let text = |k: &str| value(pairs, k).unwrap_or_default().trim().to_string();
    if with_code {
        o.insert("code".into(), text("code").into());
    }
    o.insert("name_kk".into(), text("name_kk").into());
    o.insert("name_ru".into(), text("name_ru").into());
    let sups: Vec<serde_json::Value> = text("supervisors")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.into())
        .collect();
    o.insert("supervisors".into(), sups.into());
    o.insert(
        "reminders_enabled".into(),
        (text("reminders_enabled") == "1").into(),
    );
    let hours = text("reminder_hours");
    if !hours.is_empty() {
        o.insert(
            "reminder_hours".into(),
            hours
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or(hours.into()),
        );
    }
    if let Some(a) = value(pairs, "active") {
        o.insert("active".into(), (a == "1").into());
    }
    serde_json::Value::Object(o)
}

fn queue_draft(q: &crate::queues::Queue) -> Draft {
    let mut d = Draft::default();
    d.values.insert("code".into(), q.code.clone());
    d.values.insert("name_kk".into(), q.name_kk.clone());
    d.values.insert("name_ru".into(), q.name_ru.clone());
    d.values
        .insert("supervisors".into(), q.supervisors.join(", "));
    d.values.insert(
        "reminders_enabled".into(),
        if q.reminders_enabled { "1" } else { "0" }.into(),
    );
    d.values.insert(
        "reminder_hours".into(),
        q.reminder_hours.map(|h| h.to_string()).unwrap_or_default(),
    );
    d.values
        .insert("active".into(), if q.active { "1" } else { "0" }.into());
    d
}

async fn queues_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    let mut draft = Draft::of(&[], &QUEUE_FIELDS);
    draft.values.insert("reminders_enabled".into(), "1".into());
    render_queues(&app, &req, &staff, StatusCode::OK, draft).await
}

async fn render_queues(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    status: StatusCode,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let list = app.db.run(crate::queues::list).await?;
    let has_errors = !draft.errors.is_empty();
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/queues.html",
        context! {
            sections => sections(req),
            queues => Value::from_serialize(&list),
            v => Value::from_serialize(&draft.values),
            errors => field_errors(draft.errors),
            has_errors,
            max_hours => crate::queues::MAX_REMINDER_HOURS,
        },
    )
}

/// A queue's field errors by the form's field (`supervisors[1]` is `supervisors`).
fn queue_errors(
    staff: &Staff,
    e: crate::queues::QueueError,
) -> Result<Vec<(String, String)>, ConsoleError> {
    let fields = match ApiError::from(e) {
        ApiError::Conflict(m) => return Ok(vec![("code".into(), m)]),
        other => refused_fields(staff, other)?,
    };
    Ok(fields
        .into_iter()
        .map(|(f, m)| {
            let field = f.split('[').next().unwrap_or(&f).to_string();
            (field, m)
        })
        .collect())
}

async fn queue_create(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let mut draft = Draft::of(&pairs, &QUEUE_FIELDS);
    let created = match crate::queues::QueueInput::from_json(&queue_json(&pairs, true)) {
        Ok(input) => {
            app.db
                .write(move |c| Ok(crate::queues::create(c, &input)))
                .await?
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(q) => Ok(see_other(
            &format!("/console/admin/queues/{}", q.code),
            Some("admin_queue_created"),
        )),
        Err(e) => {
            draft.errors = queue_errors(&staff, e)?;
            render_queues(&app, &req, &staff, StatusCode::UNPROCESSABLE_ENTITY, draft).await
        }
    }
}

async fn queue_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    render_queue(&app, &req, &staff, &path.into_inner(), StatusCode::OK, None).await
}

async fn render_queue(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    code: &str,
    status: StatusCode,
    draft: Option<Draft>,
) -> Result<HttpResponse, ConsoleError> {
    let c2 = code.to_string();
    let found = app
        .db
        .run(move |c| {
            let Some(q) = crate::queues::get(c, &c2)? else {
                return Ok(None);
            };
            let members = crate::queues::members_of(c, &c2)?;
            Ok(Some((q, members)))
        })
        .await?;
    let Some((q, members)) = found else {
        return Err(staff.error(
            StatusCode::NOT_FOUND,
            format!(
                "{}: {}",
                staff.text(app, "admin_no_queue"),
                input::shown(code)
            ),
        ));
    };
    let draft = draft.unwrap_or_else(|| queue_draft(&q));
    let has_errors = !draft.errors.is_empty();
    let members: Vec<&str> = members.iter().map(|m| m.login.as_str()).collect();
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/queue.html",
        context! {
            sections => sections(req),
            q => Value::from_serialize(&q),
            members,
            url => format!("/console/admin/queues/{}", q.code),
            default_queue => q.code == crate::queues::DEFAULT_QUEUE,
            v => Value::from_serialize(&draft.values),
            errors => field_errors(draft.errors),
            has_errors,
            max_hours => crate::queues::MAX_REMINDER_HOURS,
        },
    )
}

async fn queue_update(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let code = path.into_inner();
    let pairs = form_pairs(&staff, &body)?;
    let mut fields = QUEUE_FIELDS.to_vec();
    fields.push("active");
    let mut draft = Draft::of(&pairs, &fields);
    draft.values.insert("code".into(), code.clone());
    let c2 = code.clone();
    let changed = match crate::queues::QueueInput::from_json(&queue_json(&pairs, false)) {
        Ok(input) => {
            app.db
                .write(move |c| Ok(crate::queues::update(c, &c2, &input)))
                .await?
        }
        Err(e) => Err(e),
    };
    match changed {
        Ok(q) => Ok(see_other(
            &format!("/console/admin/queues/{}", q.code),
            Some("admin_queue_changed"),
        )),
        Err(crate::queues::QueueError::NotFound(_)) => {
            render_queue(&app, &req, &staff, &code, StatusCode::NOT_FOUND, None).await
        }
        Err(e) => {
            draft.errors = queue_errors(&staff, e)?;
            render_queue(
                &app,
                &req,
                &staff,
                &code,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(draft),
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The calendar's days

fn almaty_year(app: &AppData) -> i32 {
    chrono::Datelike::year(&app.clock.now().with_timezone(&chrono_tz::Asia::Almaty))
}

async fn calendar_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let year = match q.get("year").map(|y| y.trim()).filter(|y| !y.is_empty()) {
        None => almaty_year(&app),
        Some(y) => match y.parse::<i32>() {
            Ok(y) if (crate::calendar::FIRST_YEAR..=crate::calendar::LAST_YEAR).contains(&y) => y,
            _ => {
                return Err(staff.error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "year: `{}` is not a year between {} and {}",
                        input::shown(y),
                        crate::calendar::FIRST_YEAR,
                        crate::calendar::LAST_YEAR
                    ),
                ));
            }
        },
    };
    let mut draft = Draft::default();
    for f in ["date", "kind", "note"] {
        draft.values.insert(f.into(), String::new());
    }
    draft.values.insert("kind".into(), "holiday".into());
    render_calendar(&app, &req, &staff, year, StatusCode::OK, draft)
}

fn render_calendar(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    year: i32,
    status: StatusCode,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let cal = app.calendar();
    let listing = cal.year(year);
    let explain = |e: &crate::calendar::Explanation| -> String {
        match staff.language() {
            Language::Kk => e.kk.clone(),
            Language::Ru => e.ru.clone(),
            Language::En => e.en.clone(),
        }
    };
    let days: Vec<Value> = listing
        .days
        .iter()
        .map(|d| {
            context! {
                date => d.date.to_string(),
                weekday => d.weekday.to_string(),
                working => d.working,
                kind => d.kind.as_str(),
                reason => explain(&d.reason),
                source => match d.source {
                    crate::calendar::Source::Builtin => "builtin",
                    crate::calendar::Source::Override => "override",
                },
                note => &d.note,
            }
        })
        .collect();
    let warnings: Vec<String> = listing.warnings.iter().map(explain).collect();
    // What the calendar now means for a ticket registered at this moment (R5).
    let now = app.clock.now();
    let due = cal
        .working_days_due(
            now,
            crate::calendar::R5_REPLY_WORKING_DAYS,
            "R5",
            &app.config.working_hours,
        )
        .ok()
        .map(|d| {
            context! {
                at => crate::templates::local_time(d.due_at),
                explanation => explain(&d.explanation),
            }
        });
    let has_errors = !draft.errors.is_empty();
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/calendar.html",
        context! {
            sections => sections(req),
            year,
            prev => (year > crate::calendar::FIRST_YEAR).then_some(year - 1),
            next => (year < crate::calendar::LAST_YEAR).then_some(year + 1),
            movable_days_set => listing.movable_days_set,
            warnings,
            days,
            now => crate::templates::local_time(now),
            due,
            kinds => DayKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            v => Value::from_serialize(&draft.values),
            errors => field_errors(draft.errors),
            has_errors,
        },
    )
}

async fn calendar_day(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs = form_pairs(&staff, &body)?;
    let mut draft = Draft::of(&pairs, &["date", "kind", "note"]);
    let v = |k: &str| draft.values.get(k).cloned().unwrap_or_default();
    let (date, kind, note) = (v("date"), v("kind"), v("note"));
    match crate::web::api::set_calendar_day(&app, staff.user(), &date, &kind, note).await {
        Ok(o) => Ok(see_other(
            &format!(
                "/console/admin/calendar?year={}",
                chrono::Datelike::year(&o.date)
            ),
            Some("admin_day_set"),
        )),
        Err(e) => {
            draft.errors = refused_fields(&staff, e)?;
            let year = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .ok()
                .map(|d| chrono::Datelike::year(&d))
                .filter(|y| (crate::calendar::FIRST_YEAR..=crate::calendar::LAST_YEAR).contains(y))
                .unwrap_or_else(|| almaty_year(&app));
            render_calendar(
                &app,
                &req,
                &staff,
                year,
                StatusCode::UNPROCESSABLE_ENTITY,
                draft,
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// The registry

/// What an import did or why it was refused, for the registry page.
#[derive(Default)]
struct ImportOutcome {
    kind: String,
    /// (created, updated, generated webhook secrets by body id).
    done: Option<(usize, usize, BTreeMap<String, String>)>,
    /// Each problem of the file (where, what to fix).
    problems: Vec<(String, String)>,
}

async fn registry_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let after = match q.get("after").map(|a| a.trim()).filter(|a| !a.is_empty()) {
        Some(a) => Some(
            input::record_id(a, "service")
                .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?,
        ),
        None => None,
    };
    // The counts of an import that just succeeded (the redirect's query).
    let count = |k: &str| q.get(k).and_then(|n| n.parse::<usize>().ok());
    let outcome = match (count("created"), count("updated")) {
        (Some(c), Some(u)) => ImportOutcome {
            kind: q
                .get("kind")
                .filter(|k| Kind::parse(k).is_ok())
                .cloned()
                .unwrap_or_default(),
            done: Some((c, u, BTreeMap::new())),
            problems: Vec::new(),
        },
        _ => ImportOutcome::default(),
    };
    render_registry(&app, &req, &staff, StatusCode::OK, after, outcome).await
}

async fn render_registry(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    status: StatusCode,
    after: Option<String>,
    outcome: ImportOutcome,
) -> Result<HttpResponse, ConsoleError> {
    let a2 = after.clone();
    let (bodies, services) = app
        .db
        .run(move |c| {
            let bodies = bodies::list(
                c,
                &BodyFilter {
                    include_inactive: true,
                    ..Default::default()
                },
            )?;
            let services = services::list(
                c,
                &ServiceFilter {
                    include_inactive: true,
                    after: a2,
                    limit: SERVICES_PAGE,
                    ..Default::default()
                },
            )?;
            Ok((bodies, services))
        })
        .await?;
    let body_rows: Vec<Value> = bodies
        .iter()
        .map(|b| {
            context! {
                id => &b.id,
                kind => b.kind.as_str(),
                name => lang_name(staff, &b.name.kk, &b.name.ru),
                email => &b.email,
                website => &b.website,
                active => b.active,
                persons => b.persons.len(),
                services => services.iter().filter(|s| s.body_id == b.id).count(),
            }
        })
        .collect();
    let service_rows: Vec<Value> = services
        .iter()
        .map(|s| {
            context! {
                id => &s.id,
                register_number => &s.register_number,
                name => lang_name(staff, &s.name.kk, &s.name.ru),
                body_id => &s.body_id,
                body => s.body_name.as_ref().map(|n| lang_name(staff, &n.kk, &n.ru).to_string()),
                web_page => &s.web_page,
                active => s.active,
            }
        })
        .collect();
    let next_url = (services.len() as i64 == SERVICES_PAGE)
        .then(|| {
            services
                .last()
                .map(|s| format!("/console/admin/registry?after={}#services", s.id))
        })
        .flatten();
    let (done, secrets) = match outcome.done {
        Some((created, updated, secrets)) => (
            Some(context! { created, updated }),
            secrets
                .into_iter()
                .map(|(id, secret)| context! { id, secret })
                .collect::<Vec<_>>(),
        ),
        None => (None, Vec::new()),
    };
    let problems: Vec<Value> = outcome
        .problems
        .iter()
        .map(|(at, m)| context! { at, message => m })
        .collect();
    staff.page_with_status(
        app,
        req,
        status,
        "console/admin/registry.html",
        context! {
            sections => sections(req),
            bodies => body_rows,
            services => service_rows,
            next_url,
            paged => after.is_some(),
            files => ["bodies", "persons", "services"],
            kind => outcome.kind,
            done,
            secrets,
            problems,
            max_mb => MAX_IMPORT_BYTES / (1024 * 1024),
        },
    )
}

async fn registry_export(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let kind = crate::web::services::kind_of(&path)
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    crate::web::services::export_file(&app, kind)
        .await
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))
}

/// The import form: which file, and the file (multipart); whether the file was too large.
async fn read_import(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(String, Vec<u8>, bool), String> {
    let parts = super::read_parts(req, payload, "file", MAX_IMPORT_BYTES as u64, 1).await?;
    let kind = parts.get("kind").unwrap_or("").trim().to_string();
    let over = parts.too_large.is_some();
    let data = parts
        .files
        .into_iter()
        .next()
        .map(|f| f.content)
        .unwrap_or_default();
    Ok((kind, data, over))
}

async fn registry_import(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (kind_text, data, over) = read_import(&req, payload)
        .await
        .map_err(|m| staff.error(StatusCode::BAD_REQUEST, m))?;
    let refuse = |kind: String, at: &str, m: String| ImportOutcome {
        kind,
        done: None,
        problems: vec![(at.to_string(), m)],
    };
    let Ok(kind) = Kind::parse(&kind_text) else {
        let o = refuse(
            String::new(),
            "kind",
            staff.text(&app, "admin_import_kind_missing"),
        );
        return render_registry(
            &app,
            &req,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            o,
        )
        .await;
    };
    let problem = if over {
        Some(format!(
            "{} ({} MB)",
            staff.text(&app, "admin_import_too_large"),
            MAX_IMPORT_BYTES / (1024 * 1024)
        ))
    } else if data.is_empty() {
        Some(staff.text(&app, "admin_import_no_file"))
    } else {
        None
    };
    if let Some(m) = problem {
        let o = refuse(kind_text, "file", m);
        return render_registry(
            &app,
            &req,
            &staff,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            o,
        )
        .await;
    }
    match crate::web::services::import_file(&app, kind, web::Bytes::from(data)).await {
        Ok(done) if done.webhook_secrets.is_empty() => Ok(see_other(
            &format!(
                "/console/admin/registry?kind={}&created={}&updated={}",
                kind.as_str(),
                done.created,
                done.updated
            ),
            Some("admin_imported"),
        )),
        // Generated secrets are shown this once: the page itself, not a redirect.
        Ok(done) => {
            let o = ImportOutcome {
                kind: kind_text,
                done: Some((done.created, done.updated, done.webhook_secrets)),
                problems: Vec::new(),
            };
            render_registry(&app, &req, &staff, StatusCode::OK, None, o).await
        }
        Err(e) => {
            let o = ImportOutcome {
                kind: kind_text,
                done: None,
                problems: refused_fields(&staff, e)?,
            };
            render_registry(
                &app,
                &req,
                &staff,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                o,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Templates preview

/// The applicant-facing messages, rendered in Kazakh and Russian with sample data (the
/// same as `GET /api/v1/templates/preview`).
async fn templates_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    let preview = crate::web::previews::preview(&app)
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    staff.page(
        &app,
        &req,
        "console/admin/templates.html",
        context! {
            sections => sections(&req),
            preview => Value::from_serialize(super::agency::shown_times(
                &serde_json::to_value(&preview).unwrap_or_default(),
            )),
        },
    )
}
