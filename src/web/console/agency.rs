//! The agency portal: a body's users see the forwards addressed to their body, and
//! nothing else, answer or decline them with attachments, and see their deadlines.
//!
//! The same pages serve the ICI operator's users for its ICT forwards
//! ([`super::ici`]): a [`Portal`] says under which paths they live. Answers and refusals
//! go through the functions of `POST /api/v1/forwards/{id}/answer|decline`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Attachment;
use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Deserialize;

use super::{ConsoleError, Staff, see_other};
use crate::forwards::{self, ForwardStatus, ListFilter};
use crate::web::{ApiError, AppData, input};

/// Most files one answer carries.
const MAX_FILES: usize = 10;
/// Forwards on one page of the list.
const PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/agency", web::get().to(index))
        .route("/console/agency/forwards/{id}", web::get().to(page))
        .route(
            "/console/agency/forwards/{id}/attachments/{attachment}",
            web::get().to(attachment),
        )
        .route(
            "/console/agency/forwards/{id}/answer",
            web::post().to(answer),
        )
        .route(
            "/console/agency/forwards/{id}/decline",
            web::post().to(decline),
        );
}

/// Where a body's forward pages live.
#[derive(Debug, Clone, Copy)]
pub struct Portal {
    /// The list of the body's forwards.
    pub list: &'static str,
    /// One forward is `{forwards}/{id}`.
    pub forwards: &'static str,
    /// The heading's string key.
    pub title: &'static str,
}

pub const AGENCY: Portal = Portal {
    list: "/console/agency",
    forwards: "/console/agency/forwards",
    title: "agency_title",
};

/// Instants of a view (RFC 3339 strings) as the console shows them, in Astana time.
pub(super) fn local(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .map(|t| crate::templates::local_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| text.to_string())
}

/// A copy of `v` with every RFC 3339 instant in it shown as [`local`] time.
pub(super) fn shown_times(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(s)
            if s.len() >= 20
                && s.as_bytes()[4] == b'-'
                && DateTime::parse_from_rfc3339(s).is_ok() =>
        {
            J::String(local(s))
        }
        J::Array(a) => J::Array(a.iter().map(shown_times).collect()),
        J::Object(o) => J::Object(o.iter().map(|(k, x)| (k.clone(), shown_times(x))).collect()),
        other => other.clone(),
    }
}

fn bad_id(staff: &Staff, e: ApiError) -> ConsoleError {
    ConsoleError::from(e).in_language(staff.language())
}

fn no_forward(app: &AppData, staff: &Staff, id: &str) -> ConsoleError {
    staff.error(
        StatusCode::NOT_FOUND,
        format!(
            "{}: {}",
            staff.text(app, "agency_no_forward"),
            input::shown(id)
        ),
    )
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    after: Option<String>,
}

/// `GET /console/agency`: the body's forwards, earliest deadline first.
async fn index(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    list_page(&app, &req, &staff, AGENCY, q.into_inner()).await
}

/// The list of the body's forwards, by status, with deadlines marked in words.
pub(super) async fn list_page(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    portal: Portal,
    q: ListQuery,
) -> Result<HttpResponse, ConsoleError> {
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") | Some("all") => None,
        Some(s) => Some(ForwardStatus::parse(s).map_err(|m| {
            staff.error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("status: {m}; or leave it out for all"),
            )
        })?),
    };
    let after = match q.after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(input::record_id(a, "forward").map_err(|e| bad_id(staff, e))?),
        None => None,
    };
    let now = app.clock.now();
    let (list, next) = match staff.user().body_id.clone() {
        Some(body) => {
            let filter = ListFilter {
                body: Some(body),
                status,
                after: after.clone(),
                limit: PAGE,
                ..Default::default()
            };
            app.db.run(move |c| forwards::list(c, &filter, now)).await?
        }
        None => (Vec::new(), None),
    };
    let today = now.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    let kk = staff.language() == baylanys_core::Language::Kk;
    let items: Vec<Value> = list
        .iter()
        .map(|f| {
            let v = f.body_view(now);
            let due = f.row.due_at.and_utc();
            let open = f.row.status == ForwardStatus::Open.as_str();
            let overdue = f.is_overdue(now);
            let due_today = open
                && !overdue
                && due.with_timezone(&chrono_tz::Asia::Almaty).date_naive() == today;
            let question: String = v["sent"]["question"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(160)
                .collect();
            context! {
                id => &f.row.id,
                reference => &f.row.reference,
                status => &f.row.status,
                category => &f.row.category,
                body => if kk { &f.body_name.kk } else { &f.body_name.ru },
                question,
                due => crate::templates::local_time(due),
                created => crate::templates::local_time(f.row.created_at.and_utc()),
                overdue,
                due_today,
            }
        })
        .collect();
    let status_text = status.map(|s| s.as_str()).unwrap_or("all");
    let next_url = next.map(|n| format!("{}?status={status_text}&after={n}", portal.list));
    staff.page(
        app,
        req,
        "console/agency/index.html",
        context! {
            portal => context! { list => portal.list, forwards => portal.forwards, title => portal.title },
            items,
            status => status_text,
            statuses => ["all", "open", "answered", "declined"],
            next_url,
            paged => after.is_some(),
            bound => staff.user().body_id.is_some(),
        },
    )
}

/// What a refused answer or refusal keeps for the page shown again.
#[derive(Default)]
pub(super) struct Draft {
    answer_text: String,
    answer_errors: Vec<(String, String)>,
    decline_reason: String,
    decline_errors: Vec<(String, String)>,
    /// The 409 explanation: someone closed the forward first.
    conflict: Option<String>,
}

async fn page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    forward_page(&app, &req, &staff, AGENCY, &path.into_inner()).await
}

pub(super) async fn forward_page(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    portal: Portal,
    raw_id: &str,
) -> Result<HttpResponse, ConsoleError> {
    render(
        app,
        req,
        staff,
        portal,
        raw_id,
        StatusCode::OK,
        Draft::default(),
    )
    .await
}

async fn render(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    portal: Portal,
    raw_id: &str,
    status: StatusCode,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let id = input::record_id(raw_id, "forward").map_err(|e| bad_id(staff, e))?;
    let now = app.clock.now();
    let (i, user) = (id.clone(), staff.user().clone());
    let found = app
        .db
        .run(move |c| {
            let Some(f) = forwards::get_for(c, &i, &user)? else {
                return Ok(None);
            };
            let history = forwards::history(c, &f.row)?;
            Ok(Some((f, history)))
        })
        .await?;
    let Some((f, history)) = found else {
        return Err(no_forward(app, staff, &id));
    };
    let view = f.body_view(now);
    let kk = staff.language() == baylanys_core::Language::Kk;
    let due = f.row.due_at.and_utc();
    let overdue = f.is_overdue(now);
    let open = f.row.status == ForwardStatus::Open.as_str();
    let due_today = open
        && !overdue
        && due.with_timezone(&chrono_tz::Asia::Almaty).date_naive()
            == now.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    let errors = super::field_errors;
    let has_errors = !draft.answer_errors.is_empty() || !draft.decline_errors.is_empty();
    staff.page_with_status(
        app,
        req,
        status,
        "console/agency/forward.html",
        context! {
            portal => context! { list => portal.list, forwards => portal.forwards, title => portal.title },
            f => Value::from_serialize(shown_times(&view)),
            history => Value::from_serialize(shown_times(&serde_json::Value::from(history))),
            body => if kk { &f.body_name.kk } else { &f.body_name.ru },
            url => format!("{}/{}", portal.forwards, f.row.id),
            due => crate::templates::local_time(due),
            overdue,
            due_today,
            open,
            answer_text => draft.answer_text,
            answer_errors => errors(draft.answer_errors),
            decline_reason => draft.decline_reason,
            decline_errors => errors(draft.decline_errors),
            conflict => draft.conflict,
            has_errors,
            max_mb => app.config.max_attachment_bytes / (1024 * 1024),
            max_files => MAX_FILES,
        },
    )
}

async fn attachment(
    app: AppData,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, att) = path.into_inner();
    forward_attachment(&app, &staff, &id, &att).await
}

/// A file sent with the body's own forward, as a download.
pub(super) async fn forward_attachment(
    app: &AppData,
    staff: &Staff,
    raw_id: &str,
    raw_att: &str,
) -> Result<HttpResponse, ConsoleError> {
    let id = input::record_id(raw_id, "forward").map_err(|e| bad_id(staff, e))?;
    let att = input::record_id(raw_att, "attachment").map_err(|e| bad_id(staff, e))?;
    let (i, a, user) = (id.clone(), att.clone(), staff.user().clone());
    let file = app
        .db
        .run(move |c| {
            let Some(f) = forwards::get_for(c, &i, &user)? else {
                return Ok(Err(()));
            };
            if !forwards::sent_attachment(&f.row, &a) {
                return Ok(Ok(None));
            }
            crate::tickets::attachment(c, &a).map(Ok)
        })
        .await?;
    match file {
        Err(()) => Err(no_forward(app, staff, &id)),
        Ok(None) => Err(staff.error(
            StatusCode::NOT_FOUND,
            format!("{}: {att}", staff.text(app, "agency_no_attachment")),
        )),
        Ok(Some(file)) => Ok(crate::web::api::download(file, &att)),
    }
}

/// The forward of the staff member's own body, or the 404 page.
async fn own(
    app: &AppData,
    staff: &Staff,
    raw_id: &str,
) -> Result<(String, forwards::ForwardRow), ConsoleError> {
    let id = input::record_id(raw_id, "forward").map_err(|e| bad_id(staff, e))?;
    match crate::web::forwards::own_forward(app, staff.user(), &id).await {
        Ok(f) => Ok((id, f)),
        Err(ApiError::NotFound(_)) => Err(no_forward(app, staff, &id)),
        Err(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

async fn answer(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    answer_in(&app, &req, &staff, AGENCY, &path.into_inner(), payload).await
}

/// The answer form: multipart text and files, checked as the API checks them.
pub(super) async fn answer_in(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    portal: Portal,
    raw_id: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let (id, f) = own(app, staff, raw_id).await?;
    let form = read_answer(req, payload, app.config.max_attachment_bytes)
        .await
        .map_err(|m| staff.error(StatusCode::BAD_REQUEST, m))?;
    let text = input::clean(form.text);
    let mut errors = Vec::new();
    if text.trim().is_empty() {
        errors.push(("text".to_string(), staff.text(app, "agency_answer_empty")));
    } else if text.chars().count() > forwards::MAX_TEXT_CHARS {
        errors.push((
            "text".to_string(),
            format!(
                "{} ({})",
                staff.text(app, "agency_too_long"),
                forwards::MAX_TEXT_CHARS
            ),
        ));
    }
    if let Some((key, name)) = form.file_problem {
        let m = app.templates.console_format(
            staff.language(),
            key,
            context! { name, mb => app.config.max_attachment_bytes / (1024 * 1024), most => MAX_FILES },
        );
        errors.push(("attachments".to_string(), m));
    }
    if !errors.is_empty() {
        let draft = Draft {
            answer_text: text,
            answer_errors: errors,
            ..Default::default()
        };
        return render(
            app,
            req,
            staff,
            portal,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            draft,
        )
        .await;
    }
    match crate::web::forwards::answer_forward(
        app,
        staff.user(),
        f,
        text.clone(),
        form.files,
        "console",
    )
    .await
    {
        Ok(_) => Ok(see_other(
            &format!("{}/{id}", portal.forwards),
            Some("agency_answered"),
        )),
        Err(ApiError::Conflict(m)) => {
            let draft = Draft {
                answer_text: text,
                conflict: Some(m),
                ..Default::default()
            };
            render(app, req, staff, portal, &id, StatusCode::CONFLICT, draft).await
        }
        Err(ApiError::Invalid(fields)) => {
            let draft = Draft {
                answer_text: text,
                answer_errors: fields
                    .into_iter()
                    .map(|e| (field_of(&e.field), e.message))
                    .collect(),
                ..Default::default()
            };
            render(
                app,
                req,
                staff,
                portal,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                draft,
            )
            .await
        }
        Err(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

/// `attachments[2].file_name` is the form's `attachments`.
fn field_of(api_field: &str) -> String {
    api_field
        .split(['[', '.'])
        .next()
        .unwrap_or(api_field)
        .to_string()
}

/// An urlencoded form's fields, read here rather than by `web::Form` (whose 16 KB limit
/// is below a 20,000-character reason or two 4,000-character outage texts in Cyrillic);
/// the body's size is bounded by the server's payload limit.
pub(super) fn form_pairs(
    staff: &Staff,
    body: &web::Bytes,
) -> Result<Vec<(String, String)>, ConsoleError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        staff.error(
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {e}"),
        )
    })
}

pub struct DeclineForm {
    reason: String,
}

impl DeclineForm {
    pub(super) fn read(staff: &Staff, body: &web::Bytes) -> Result<DeclineForm, ConsoleError> {
        let reason = form_pairs(staff, body)?
            .into_iter()
            .find(|(k, _)| k == "reason")
            .map(|(_, v)| v)
            .unwrap_or_default();
        Ok(DeclineForm { reason })
    }
}

async fn decline(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = DeclineForm::read(&staff, &body)?;
    decline_in(&app, &req, &staff, AGENCY, &path.into_inner(), form).await
}

/// The refusal form: a reason is required.
pub(super) async fn decline_in(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    portal: Portal,
    raw_id: &str,
    form: DeclineForm,
) -> Result<HttpResponse, ConsoleError> {
    let (id, f) = own(app, staff, raw_id).await?;
    let reason = input::clean(form.reason);
    let problem = if reason.trim().is_empty() {
        Some(staff.text(app, "agency_reason_empty"))
    } else if reason.chars().count() > forwards::MAX_TEXT_CHARS {
        Some(format!(
            "{} ({})",
            staff.text(app, "agency_too_long"),
            forwards::MAX_TEXT_CHARS
        ))
    } else {
        None
    };
    if let Some(p) = problem {
        let draft = Draft {
            decline_reason: reason,
            decline_errors: vec![("reason".into(), p)],
            ..Default::default()
        };
        return render(
            app,
            req,
            staff,
            portal,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            draft,
        )
        .await;
    }
    match crate::web::forwards::decline_forward(app, staff.user(), f, reason.clone()).await {
        Ok(_) => Ok(see_other(
            &format!("{}/{id}", portal.forwards),
            Some("agency_declined"),
        )),
        Err(ApiError::Conflict(m)) => {
            let draft = Draft {
                decline_reason: reason,
                conflict: Some(m),
                ..Default::default()
            };
            render(app, req, staff, portal, &id, StatusCode::CONFLICT, draft).await
        }
        Err(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

struct AnswerForm {
    text: String,
    files: Vec<Attachment>,
    /// A file too large, or too many (the string's key, the file): said next to the
    /// file field.
    file_problem: Option<(&'static str, String)>,
}

async fn read_answer(
    req: &HttpRequest,
    payload: web::Payload,
    max_file: u64,
) -> Result<AnswerForm, String> {
    let parts = super::read_parts(req, payload, "attachments", max_file, MAX_FILES).await?;
    let file_problem = match (&parts.too_large, &parts.too_many) {
        (Some(name), _) => Some(("agency_file_too_large", name.clone())),
        (None, Some(name)) => Some(("agency_too_many_files", name.clone())),
        (None, None) => None,
    };
    Ok(AnswerForm {
        text: parts.get("text").unwrap_or("").to_string(),
        files: parts.files,
        file_problem,
    })
}
