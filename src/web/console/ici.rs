//! The ICI operator's portal: declare, reschedule, cancel and complete outages, see each
//! recipient's delivery proof, and see and answer ICT forwards.
//!
//! The outage forms are read into the JSON `POST /api/v1/outages` and `PATCH
//! /api/v1/outages/{id}` take and checked by the same [`OutageInput::from_json`], so a
//! refusal names the same fields; the ICT forwards are the agency portal's pages
//! ([`super::agency`]) under `/console/ici/forwards`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDateTime, TimeZone, Utc};
use minijinja::{Value, context};

use super::agency::{self, Portal, shown_times};
use super::{ConsoleError, Staff, see_other};
use crate::auth::Permission;
use crate::outages::{OutageError, OutageInput, store};
use crate::web::outages::Declared;
use crate::web::{ApiError, AppData, input};

pub const ICI: Portal = Portal {
    list: "/console/ici/forwards",
    forwards: "/console/ici/forwards",
    title: "ici_forwards_title",
};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/ici", web::get().to(index))
        .route("/console/ici/outages/new", web::get().to(new_form))
        .route("/console/ici/outages", web::post().to(declare))
        .route("/console/ici/outages/{id}", web::get().to(outage))
        .route(
            "/console/ici/outages/{id}/reschedule",
            web::post().to(reschedule),
        )
        .route("/console/ici/outages/{id}/cancel", web::post().to(cancel))
        .route(
            "/console/ici/outages/{id}/complete",
            web::post().to(complete),
        )
        .route("/console/ici/forwards", web::get().to(forwards))
        .route("/console/ici/forwards/{id}", web::get().to(forward))
        .route(
            "/console/ici/forwards/{id}/attachments/{attachment}",
            web::get().to(forward_attachment),
        )
        .route(
            "/console/ici/forwards/{id}/answer",
            web::post().to(forward_answer),
        )
        .route(
            "/console/ici/forwards/{id}/decline",
            web::post().to(forward_decline),
        );
}

/// The form's fields, in the order the form has them (errors of other fields are
/// shown above the form).
const FIELDS: [&str; 11] = [
    "kind",
    "starts_at",
    "ends_at",
    "systems",
    "impact",
    "title_kk",
    "title_ru",
    "text_kk",
    "text_ru",
    "reason",
    "form",
];

/// `datetime-local` values are Astana time, to the minute.
const LOCAL_FORMAT: &str = "%Y-%m-%dT%H:%M";

fn local_input(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Almaty)
        .format(LOCAL_FORMAT)
        .to_string()
}

/// A field name of the JSON API as the form's field: `title.kk` is `title_kk`,
/// `systems[0]` is `systems`, anything else not in the form is the whole form's.
fn form_field(api: &str) -> String {
    let base = api.split('[').next().unwrap_or(api);
    let f = match base {
        "title" => "title_kk".to_string(),
        "text" => "text_kk".to_string(),
        other => other.replace('.', "_"),
    };
    if FIELDS.contains(&f.as_str()) {
        f
    } else {
        "form".into()
    }
}

/// Field errors as the template reads them: the field's messages by field, and the
/// list in the form's order (for the summary at the top).
fn errors_value(errors: &[(String, String)]) -> (Value, Vec<Value>) {
    let mut by: std::collections::BTreeMap<String, String> = Default::default();
    for (f, m) in errors {
        let f = form_field(f);
        by.entry(f)
            .and_modify(|e| {
                e.push_str("; ");
                e.push_str(m);
            })
            .or_insert_with(|| m.clone());
    }
    let list = FIELDS
        .iter()
        .filter_map(|f| by.get(*f).map(|m| context! { field => *f, message => m }))
        .collect();
    (Value::from_serialize(&by), list)
}

/// `GET /console/ici`: the outages with their lead-time compliance.
async fn index(app: AppData, req: HttpRequest, staff: Staff) -> Result<HttpResponse, ConsoleError> {
    let now = app.clock.now();
    let list = app.db.run(move |c| store::list_with_lead(c, now)).await?;
    let items: Vec<serde_json::Value> = list.iter().map(shown_times).collect();
    staff.page(
        &app,
        &req,
        "console/ici/index.html",
        context! {
            items => Value::from_serialize(&items),
            may_answer => staff.may(Permission::AnswerForwards),
        },
    )
}

/// What the declaration form shows: the values given, the systems to choose from.
async fn render_form(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    form: &std::collections::HashMap<String, String>,
    chosen: &[String],
    errors: &[(String, String)],
) -> Result<HttpResponse, ConsoleError> {
    let systems = app.db.run(crate::registry::systems::list).await?;
    let kk = staff.language() == baylanys_core::Language::Kk;
    let systems: Vec<Value> = systems
        .iter()
        .map(|s| {
            context! {
                code => &s.code,
                name => if kk { &s.name.kk } else { &s.name.ru },
                checked => chosen.contains(&s.code),
            }
        })
        .collect();
    let mut values = std::collections::BTreeMap::new();
    for f in FIELDS.into_iter().chain(["form_key"]) {
        values.insert(f, form.get(f).cloned().unwrap_or_default());
    }
    if values["form_key"].is_empty() {
        values.insert("form_key", crate::auth::random_secret());
    }
    let earliest =
        crate::outages::earliest_planned_start(app.clock.now(), app.config.outage_dispatch_margin);
    let (by_field, summary) = errors_value(errors);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    staff.page_with_status(
        app,
        req,
        status,
        "console/ici/declare.html",
        context! {
            v => Value::from_serialize(&values),
            systems,
            errors => by_field,
            summary,
            earliest => crate::templates::local_time(earliest),
        },
    )
}

async fn new_form(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
) -> Result<HttpResponse, ConsoleError> {
    render_form(&app, &req, &staff, &Default::default(), &[], &[]).await
}

/// An Astana `datetime-local` value as the API's RFC 3339 instant, or the field's error.
fn instant_of(
    app: &AppData,
    staff: &Staff,
    field: &str,
    value: &str,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    let parsed = NaiveDateTime::parse_from_str(v, LOCAL_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .ok()
        .and_then(|n| chrono_tz::Asia::Almaty.from_local_datetime(&n).earliest());
    match parsed {
        Some(t) => Some(t.to_rfc3339()),
        None => {
            errors.push((
                field.to_string(),
                format!(
                    "`{}`: {}",
                    input::shown(v),
                    staff.text(app, "ici_time_invalid")
                ),
            ));
            None
        }
    }
}

/// The form as `application/x-www-form-urlencoded` pairs (systems repeat).
type Pairs = Vec<(String, String)>;

fn fields_of(pairs: Pairs) -> (std::collections::HashMap<String, String>, Vec<String>) {
    let mut form = std::collections::HashMap::new();
    let mut systems = Vec::new();
    for (k, v) in pairs {
        if k == "systems" {
            let v = v.trim().to_string();
            if !v.is_empty() && !systems.contains(&v) {
                systems.push(v);
            }
        } else if k != "csrf" {
            form.insert(k, v);
        }
    }
    (form, systems)
}

/// `POST /console/ici/outages`: the declaration; the form's own key makes a second
/// submit of the same form find the outage the first declared.
async fn declare(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let (form, systems) = fields_of(agency::form_pairs(&staff, &body)?);
    let get = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let mut body = serde_json::Map::new();
    for k in ["kind", "impact"] {
        if !get(k).is_empty() {
            body.insert(k.into(), get(k).into());
        }
    }
    for k in ["starts_at", "ends_at"] {
        if let Some(t) = instant_of(&app, &staff, k, &get(k), &mut errors) {
            body.insert(k.into(), t.into());
        }
    }
    if !systems.is_empty() {
        body.insert("systems".into(), systems.clone().into());
    }
    for k in ["title", "text"] {
        let (kk, ru) = (get(&format!("{k}_kk")), get(&format!("{k}_ru")));
        if !kk.is_empty() || !ru.is_empty() {
            body.insert(k.into(), serde_json::json!({"kk": kk, "ru": ru}));
        }
    }
    if !get("reason").is_empty() {
        body.insert("reason".into(), get("reason").into());
    }
    let body = serde_json::Value::Object(body);
    let parsed = OutageInput::from_json(&body, true);
    let input = match parsed {
        Ok(i) if errors.is_empty() => i,
        Ok(_) => return render_form(&app, &req, &staff, &form, &systems, &errors).await,
        Err(OutageError::Invalid(more)) => {
            // A time the form could not read is said once, by the form's own words.
            let more: Vec<(String, String)> = more
                .into_iter()
                .filter(|(f, m)| !(errors.iter().any(|(e, _)| e == f) && m == "required"))
                .collect();
            errors.extend(more);
            return render_form(&app, &req, &staff, &form, &systems, &errors).await;
        }
        Err(e) => return Err(ConsoleError::from(ApiError::from(e)).in_language(staff.language())),
    };
    let form_key = get("form_key");
    let key = (!form_key.is_empty() && form_key.len() <= 128).then(|| {
        (
            format!("outage:{}:console:{form_key}", staff.user().login),
            crate::auth::sha256_hex(body.to_string().as_bytes()),
        )
    });
    match crate::web::outages::declare_once(&app, &staff.user().login, key, input).await {
        Ok(Declared::New(id)) => Ok(see_other(
            &format!("/console/ici/outages/{id}"),
            Some("ici_declared"),
        )),
        Ok(Declared::Replayed(id)) => Ok(see_other(
            &format!("/console/ici/outages/{id}"),
            Some("ici_declared_once"),
        )),
        Ok(Declared::OtherRequest) => {
            let errors = vec![("form".to_string(), staff.text(&app, "ici_form_used"))];
            let mut form = form.clone();
            form.remove("form_key");
            render_form(&app, &req, &staff, &form, &systems, &errors).await
        }
        Err(ApiError::Invalid(fields)) => {
            let errors: Vec<(String, String)> =
                fields.into_iter().map(|f| (f.field, f.message)).collect();
            render_form(&app, &req, &staff, &form, &systems, &errors).await
        }
        Err(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

/// What a refused change keeps for the outage page shown again.
#[derive(Default)]
struct OutageDraft {
    starts_at: Option<String>,
    ends_at: Option<String>,
    errors: Vec<(String, String)>,
    conflict: Option<String>,
}

fn outage_id(staff: &Staff, raw: &str) -> Result<String, ConsoleError> {
    input::record_id(raw, "outage").map_err(|e| ConsoleError::from(e).in_language(staff.language()))
}

fn no_outage(app: &AppData, staff: &Staff, id: &str) -> ConsoleError {
    staff.error(
        StatusCode::NOT_FOUND,
        format!("{}: {}", staff.text(app, "ici_no_outage"), input::shown(id)),
    )
}

async fn render_outage(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    id: &str,
    status: StatusCode,
    draft: OutageDraft,
) -> Result<HttpResponse, ConsoleError> {
    let now = app.clock.now();
    let i = id.to_string();
    let found = app
        .db
        .run(move |c| {
            let Some(o) = store::get(c, &i)? else {
                return Ok(None);
            };
            let v = store::detail(c, &i, now)?;
            Ok(v.map(|v| (o, v)))
        })
        .await?;
    let Some((o, v)) = found else {
        return Err(no_outage(app, staff, id));
    };
    let phase = o.phase(now);
    let (by_field, summary) = errors_value(&draft.errors);
    staff.page_with_status(
        app,
        req,
        status,
        "console/ici/outage.html",
        context! {
            o => Value::from_serialize(shown_times(&v)),
            url => format!("/console/ici/outages/{}", o.id),
            phase,
            starts_input => draft.starts_at.unwrap_or_else(|| local_input(o.starts_at)),
            ends_input => draft.ends_at.unwrap_or_else(|| local_input(o.ends_at)),
            may_reschedule => phase == "upcoming" || phase == "in_progress" || phase == "ended",
            may_move_start => phase == "upcoming",
            may_cancel => o.status == crate::outages::OutageStatus::Active,
            may_complete => phase == "in_progress" || phase == "ended",
            errors => by_field,
            summary,
            conflict => draft.conflict,
        },
    )
}

async fn outage(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let id = outage_id(&staff, &path.into_inner())?;
    render_outage(
        &app,
        &req,
        &staff,
        &id,
        StatusCode::OK,
        OutageDraft::default(),
    )
    .await
}

/// A store action's refusal as the outage page again: 409 with the explanation, 422
/// with the fields.
async fn refused(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    id: &str,
    e: OutageError,
    mut draft: OutageDraft,
) -> Result<HttpResponse, ConsoleError> {
    match e {
        OutageError::Conflict(m) => {
            draft.conflict = Some(m);
            render_outage(app, req, staff, id, StatusCode::CONFLICT, draft).await
        }
        OutageError::Invalid(list) => {
            draft.errors = list;
            render_outage(app, req, staff, id, StatusCode::UNPROCESSABLE_ENTITY, draft).await
        }
        OutageError::NotFound(_) => Err(no_outage(app, staff, id)),
        OutageError::Db(e) => Err(ConsoleError::from(e).in_language(staff.language())),
    }
}

/// Runs a store action on the outage and notifies the jobs.
async fn run<F>(app: &AppData, action: F) -> Result<Result<(), OutageError>, ConsoleError>
where
    F: FnOnce(&mut crate::db::DbConn, &crate::AppState) -> Result<store::Outage, OutageError>
        + Send
        + 'static,
{
    let state = app.get_ref().clone();
    let r = app
        .db
        .write(move |c| match action(c, &state) {
            Ok(_) => Ok(Ok(())),
            Err(OutageError::Db(e)) => Err(e),
            Err(e) => Ok(Err(e)),
        })
        .await?;
    app.jobs_wakeup.notify_one();
    Ok(r)
}

/// `POST /console/ici/outages/{id}/reschedule`: new start and/or end; only what
/// differs from the outage is sent, so a second submit of the same times changes nothing.
async fn reschedule(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let id = outage_id(&staff, &path.into_inner())?;
    let (form, _) = fields_of(agency::form_pairs(&staff, &body)?);
    let get = |k: &str| {
        form.get(k)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let i = id.clone();
    let Some(current) = app.db.run(move |c| store::get(c, &i)).await? else {
        return Err(no_outage(&app, &staff, &id));
    };
    let draft = || OutageDraft {
        starts_at: Some(get("starts_at")),
        ends_at: Some(get("ends_at")),
        ..Default::default()
    };
    let mut errors = Vec::new();
    let mut body = serde_json::Map::new();
    for (k, was) in [
        ("starts_at", current.starts_at),
        ("ends_at", current.ends_at),
    ] {
        let given = get(k);
        if given.is_empty() {
            errors.push((k.to_string(), staff.text(&app, "ici_time_required")));
        } else if given != local_input(was)
            && let Some(t) = instant_of(&app, &staff, k, &given, &mut errors)
        {
            body.insert(k.into(), t.into());
        }
    }
    if errors.is_empty() && body.is_empty() {
        errors.push(("starts_at".into(), staff.text(&app, "ici_nothing_changed")));
    }
    if !errors.is_empty() {
        let mut d = draft();
        d.errors = errors;
        return render_outage(&app, &req, &staff, &id, StatusCode::UNPROCESSABLE_ENTITY, d).await;
    }
    let input = match OutageInput::from_json(&serde_json::Value::Object(body), false) {
        Ok(i) => i,
        Err(e) => return refused(&app, &req, &staff, &id, e, draft()).await,
    };
    let (i, now) = (id.clone(), app.clock.now());
    match run(&app, move |c, s| store::change(c, s, &i, &input, now)).await? {
        Ok(()) => Ok(see_other(
            &format!("/console/ici/outages/{id}"),
            Some("ici_rescheduled"),
        )),
        Err(e) => refused(&app, &req, &staff, &id, e, draft()).await,
    }
}

/// A step of an outage's life (cancel, complete) as `POST /console/ici/outages/{id}/...`.
type Step = fn(
    &mut crate::db::DbConn,
    &crate::AppState,
    &str,
    chrono::DateTime<Utc>,
) -> Result<store::Outage, OutageError>;

async fn step(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    (action, done): (Step, &'static str),
) -> Result<HttpResponse, ConsoleError> {
    let id = outage_id(&staff, &path.into_inner())?;
    let (i, now) = (id.clone(), app.clock.now());
    match run(&app, move |c, s| action(c, s, &i, now)).await? {
        Ok(()) => Ok(see_other(&format!("/console/ici/outages/{id}"), Some(done))),
        Err(e) => refused(&app, &req, &staff, &id, e, OutageDraft::default()).await,
    }
}

async fn cancel(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    step(app, req, staff, path, (store::cancel, "ici_cancelled")).await
}

async fn complete(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    step(app, req, staff, path, (store::complete, "ici_completed")).await
}

// The ICT forwards: the agency portal's pages for the ICI operator's body.

/// The ICT forwards are the ICI operator's users' (an agency user has its own portal).
fn ici_only(staff: &Staff) -> Result<(), ConsoleError> {
    if staff.role() == crate::auth::Role::Ici {
        Ok(())
    } else {
        Err(staff.error(
            StatusCode::FORBIDDEN,
            format!(
                "role `{}` may not read the ICI operator's ICT forwards",
                staff.role().as_str()
            ),
        ))
    }
}

async fn forwards(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: web::Query<agency::ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    ici_only(&staff)?;
    agency::list_page(&app, &req, &staff, ICI, q.into_inner()).await
}

async fn forward(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    ici_only(&staff)?;
    agency::forward_page(&app, &req, &staff, ICI, &path.into_inner()).await
}

async fn forward_attachment(
    app: AppData,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, att) = path.into_inner();
    ici_only(&staff)?;
    agency::forward_attachment(&app, &staff, &id, &att).await
}

async fn forward_answer(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    ici_only(&staff)?;
    agency::answer_in(&app, &req, &staff, ICI, &path.into_inner(), payload).await
}

async fn forward_decline(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    ici_only(&staff)?;
    let form = agency::DeclineForm::read(&staff, &body)?;
    agency::decline_in(&app, &req, &staff, ICI, &path.into_inner(), form).await
}
