//! Services over HTTP: `/api/v1/services` (Appendix 1 and passport), their onboarding
//! timeline (F5-F7), the stage look-up (F8), a ticket's services (links and proposals),
//! a ticket contact's registry body (R12), contact cards (R7), and the registry as CSV.
//! Staff read; administrators change the registry; operators link tickets.

use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Language;
use serde::Deserialize;

use super::input::{self, record_id};
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::Permission;
use crate::registry::csv::{self as registry_csv, ImportError, Kind};
use crate::registry::links::{self, LinkSource};
use crate::registry::onboarding::{self, Record, Step};
use crate::registry::services::{self, ServiceFilter, ServiceInput};
use crate::registry::{RegistryError, bodies, cards, ict, stage};

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Fixed paths before `{id}`: actix matches in order.
    cfg.route(
        "/api/v1/services/onboarding/overdue",
        web::get().to(overdue_steps),
    )
    .route("/api/v1/services/stage", web::get().to(stage_lookup))
    .route("/api/v1/services", web::get().to(list_services))
    .route("/api/v1/services", web::post().to(create_service))
    .route("/api/v1/services/{id}", web::get().to(get_service))
    .route("/api/v1/services/{id}", web::patch().to(update_service))
    .route(
        "/api/v1/services/{id}/onboarding",
        web::get().to(get_timeline),
    )
    .route(
        "/api/v1/services/{id}/onboarding",
        web::post().to(record_step),
    )
    .route(
        "/api/v1/tickets/{number}/services",
        web::get().to(ticket_services),
    )
    .route(
        "/api/v1/tickets/{number}/services",
        web::post().to(link_service),
    )
    .route(
        "/api/v1/tickets/{number}/services",
        web::put().to(set_services),
    )
    .route(
        "/api/v1/tickets/{number}/services/{service}",
        web::delete().to(unlink_service),
    )
    .route(
        "/api/v1/tickets/{number}/contact/body",
        web::put().to(set_contact_body),
    )
    .route("/api/v1/bodies/{id}/card", web::get().to(body_card))
    .route("/api/v1/registry/{file}", web::get().to(export_csv))
    .route("/api/v1/registry/{file}", web::post().to(import_csv));
}

/// One write transaction that rolls back when `f` fails with its own error (a bad CSV
/// row, a 21st link), so nothing is half done.
async fn write_as<T, E, F>(app: &AppData, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<crate::db::DbError> + From<diesel::result::Error> + Into<ApiError> + Send + 'static,
{
    let db = app.db.clone();
    let span = tracing::Span::current();
    let out = tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        db.write_blocking_as(f)
    })
    .await
    .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?;
    app.jobs_wakeup.notify_one();
    out.map_err(Into::into)
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid(vec![FieldError::new(field, message)])
}

/// Almaty's date of an instant: what "today" is for a step.
fn almaty_today(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    now.with_timezone(&chrono_tz::Asia::Almaty).date_naive()
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    q: Option<String>,
    body: Option<String>,
    #[serde(default)]
    include_inactive: bool,
    after: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/services",
    tag = "services",
    summary = "Public services, by words of a name, the number or a keyword",
    params(ListQuery),
    responses((status = 200, description = "a page of services", body = ServicePage))
)]
async fn list_services(
    app: AppData,
    who: Authed,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let text = input::clean_opt(q.q).filter(|s| !s.trim().is_empty());
    if let Some(t) = &text
        && (t.split_whitespace().count() > services::MAX_SEARCH_WORDS || t.chars().count() > 500)
    {
        errors.push(FieldError::new(
            "q",
            format!(
                "search with at most {} words and 500 characters",
                services::MAX_SEARCH_WORDS
            ),
        ));
    }
    let body = match q.body.as_deref().map(|b| record_id(b, "body")) {
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => {
            errors.push(FieldError::new("body", "must be a body id (a UUID)"));
            None
        }
        None => None,
    };
    let after = match q.after.as_deref().map(|a| record_id(a, "service")) {
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            errors.push(FieldError::new(
                "after",
                "must be the `next_after` of the previous page",
            ));
            None
        }
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let filter = ServiceFilter {
        q: text,
        body,
        include_inactive: q.include_inactive,
        after,
        limit,
    };
    let list = app.db.run(move |c| services::list(c, &filter)).await?;
    let next = (list.len() as i64 == limit)
        .then(|| list.last().map(|s| s.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "services": list, "next_after": next })))
}

#[utoipa::path(
    post,
    path = "/api/v1/services",
    tag = "services",
    summary = "Add a service with its passport",
    request_body(content = NewService),
    responses(
        (status = 201, description = "the service", body = crate::registry::services::Service),
        (status = 409, description = "a service with this register number exists: change it with PATCH", body = super::Problem, content_type = "application/problem+json")
    )
)]
async fn create_service(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let input = ServiceInput::from_json(&body)?;
    let s = write_as(&app, move |c| services::create(c, &input)).await?;
    Ok(HttpResponse::Created().json(s))
}

#[utoipa::path(
    get,
    path = "/api/v1/services/{id}",
    tag = "services",
    summary = "One service with its onboarding timeline",
    params(("id" = String, Path, description = "service id")),
    responses((status = 200, description = "the service", body = ServiceWithTimeline))
)]
async fn get_service(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let id = record_id(&path, "service")?;
    let now = app.clock.now();
    let i2 = id.clone();
    let found = app
        .db
        .run(move |c| {
            let Some(s) = services::get(c, &i2)? else {
                return Ok(None);
            };
            let steps = onboarding::timeline(c, &i2, now)?;
            Ok(Some((s, steps)))
        })
        .await?;
    let Some((s, steps)) = found else {
        return Err(ApiError::NotFound(format!("no service `{id}`")));
    };
    let mut v = serde_json::to_value(s).expect("a service serialises");
    v["onboarding"] = serde_json::to_value(steps).expect("steps serialise");
    Ok(HttpResponse::Ok().json(v))
}

#[utoipa::path(
    patch,
    path = "/api/v1/services/{id}",
    tag = "services",
    summary = "Change the fields given (a passport key given replaces that key)",
    params(("id" = String, Path, description = "service id")),
    request_body(content = ServiceChange),
    responses((status = 200, description = "the service", body = crate::registry::services::Service))
)]
async fn update_service(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let id = record_id(&path, "service")?;
    let input = ServiceInput::from_json(&body)?;
    let (_, after) = write_as(&app, move |c| services::update(c, &id, &input)).await?;
    Ok(HttpResponse::Ok().json(after))
}

#[utoipa::path(
    get,
    path = "/api/v1/services/{id}/onboarding",
    tag = "services",
    summary = "The service's onboarding timeline",
    params(("id" = String, Path, description = "service id")),
    responses((status = 200, description = "the timeline", body = Timeline))
)]
async fn get_timeline(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let id = record_id(&path, "service")?;
    let now = app.clock.now();
    let i2 = id.clone();
    let steps = app
        .db
        .run(move |c| {
            if services::get(c, &i2)?.is_none() {
                return Ok(None);
            }
            onboarding::timeline(c, &i2, now).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no service `{id}`")))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "service_id": id, "onboarding": steps })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StepBody {
    #[schema(value_type = onboarding::Step)]
    step: serde_json::Value,
    /// The day it happened: from 1991 to today.
    #[schema(schema_with = step_day)]
    date: serde_json::Value,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 4000)]
    note: Option<serde_json::Value>,
}

fn step_day() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date,
        )))
        .pattern(Some(r"^\s*(199[1-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}\s*$"))
        .build()
}

#[utoipa::path(
    post,
    path = "/api/v1/services/{id}/onboarding",
    tag = "services",
    summary = "Record an onboarding step (F5-F7)",
    params(("id" = String, Path, description = "service id")),
    request_body(content = StepBody),
    responses((status = 201, description = "the timeline with the step and the next one it opens", body = Timeline))
)]
async fn record_step(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<StepBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::ManageRegistry)?.clone();
    let id = record_id(&path, "service")?;
    let b = body.into_inner();
    let mut errors = Vec::new();
    let step = match b.step.as_str().map(Step::parse) {
        Some(Ok(s)) => Some(s),
        Some(Err(m)) => {
            errors.push(FieldError::new("step", m));
            None
        }
        None => {
            errors.push(FieldError::new("step", "must be a string"));
            None
        }
    };
    let date = match b
        .date
        .as_str()
        .map(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d"))
    {
        Some(Ok(d)) => Some(d),
        _ => {
            errors.push(FieldError::new(
                "date",
                "must be the date it happened, YYYY-MM-DD",
            ));
            None
        }
    };
    let note = match b.note {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => {
            let s = input::clean(s);
            input::at_most(&mut errors, "note", Some(&s), 4000);
            Some(s).filter(|s| !s.trim().is_empty())
        }
        Some(_) => {
            errors.push(FieldError::new("note", "must be a string"));
            None
        }
    };
    let (Some(step), Some(date)) = (step, date) else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let now = app.clock.now();
    let calendar = app.calendar();
    let hours = app.config.working_hours;
    let i2 = id.clone();
    let steps = write_as(&app, move |c| {
        let r = Record {
            step,
            date,
            note,
            by: &user.login,
        };
        onboarding::record(c, &calendar, &hours, &i2, &r, almaty_today(now))?;
        Ok::<_, RegistryError>(onboarding::timeline(c, &i2, now)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "service_id": id, "onboarding": steps })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct OverdueQuery {
    body: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/services/onboarding/overdue",
    tag = "services",
    summary = "Expected onboarding steps past their deadline, oldest first",
    params(OverdueQuery),
    responses((status = 200, description = "the overdue steps", body = OverdueSteps))
)]
async fn overdue_steps(
    app: AppData,
    who: Authed,
    query: web::Query<OverdueQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let q = query.into_inner();
    let body = match q.body.as_deref() {
        Some(b) => Some(record_id(b, "body").map_err(|_| invalid("body", "must be a body id"))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    let now = app.clock.now();
    let list = app
        .db
        .run(move |c| onboarding::overdue(c, now, body.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "overdue": list })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StageQuery {
    application: Option<String>,
    lang: Option<String>,
}

fn language_of(lang: Option<&str>) -> Result<Language, ApiError> {
    match lang.map(str::trim) {
        None | Some("") | Some("ru") => Ok(Language::Ru),
        Some("kk") => Ok(Language::Kk),
        Some(other) => Err(invalid(
            "lang",
            format!("`{}` must be kk or ru", input::shown(other)),
        )),
    }
}

/// F8: never a 5xx for the monitoring system's trouble; the outcome says what happened
/// and `message` says it in the applicant's language.
#[utoipa::path(
    get,
    path = "/api/v1/services/stage",
    tag = "services",
    summary = "F8: the stage of an application in the monitoring system",
    params(StageQuery),
    responses((status = 200, description = "the outcome (`found`, `not_found`, `unavailable`, `not_configured`) and the message for the applicant", body = StageAnswer))
)]
async fn stage_lookup(
    app: AppData,
    who: Authed,
    query: web::Query<StageQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let q = query.into_inner();
    let language = language_of(q.lang.as_deref())?;
    let application = match q.application.as_deref().map(stage::check_application) {
        Some(Ok(a)) => a,
        Some(Err(m)) => return Err(invalid("application", m)),
        None => return Err(invalid("application", "give the application number")),
    };
    let found = stage::lookup(&app.config.registry, &application).await;
    let message = stage::message(&app.templates, &found, &application, language);
    let mut v = serde_json::to_value(&found).expect("a stage serialises");
    if let stage::Stage::Unavailable { reason } = &found {
        tracing::warn!(%application, %reason, "the monitoring system does not answer");
    }
    v["application"] = serde_json::Value::String(application);
    v["message"] = serde_json::Value::String(message);
    v["lang"] = serde_json::Value::String(language.as_str().into());
    Ok(HttpResponse::Ok().json(v))
}

async fn ticket_id_of(app: &AppData, number: &str) -> Result<String, ApiError> {
    let n = number.to_string();
    app.db
        .run(move |c| crate::tickets::queries::find_id(c, &n))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("ticket {number} not found")))
}

#[utoipa::path(
    get,
    path = "/api/v1/tickets/{number}/services",
    tag = "services",
    summary = "The services linked to a ticket, and the matcher's proposals",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    responses((status = 200, description = "the linked services and the matcher's proposals", body = TicketServicesProposed))
)]
async fn ticket_services(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let number = input::ticket_number(&path.into_inner())?;
    let id = ticket_id_of(&app, &number).await?;
    let (linked, proposals) = app
        .db
        .run(move |c| Ok((links::linked(c, &id)?, links::propose(c, &id)?)))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "number": number, "services": linked, "proposals": proposals,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LinkBody {
    #[schema(schema_with = super::openapi::body::uuid)]
    service: serde_json::Value,
    /// The operator accepts the matcher's proposal (recorded as such).
    #[serde(default)]
    accept_proposal: bool,
}

fn service_id_from(v: &serde_json::Value, field: &str) -> Result<String, ApiError> {
    v.as_str()
        .and_then(|s| record_id(s, "service").ok())
        .ok_or_else(|| invalid(field, "must be a service id (a UUID)"))
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/services",
    tag = "services",
    summary = "Link a service to the ticket",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = LinkBody),
    responses((status = 200, description = "the ticket's services", body = TicketServices))
)]
async fn link_service(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let b = body.into_inner();
    let service = service_id_from(&b.service, "service")?;
    let source = if b.accept_proposal {
        LinkSource::Proposal
    } else {
        LinkSource::Operator
    };
    let id = ticket_id_of(&app, &number).await?;
    let linked = write_as(&app, move |c| {
        links::link(c, &id, &service, source, &user.login)?;
        Ok::<_, RegistryError>(links::linked(c, &id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "number": number, "services": linked })))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct SetBody {
    #[schema(schema_with = service_ids)]
    services: Vec<serde_json::Value>,
}

/// At most links::MAX_LINKS service ids.
fn service_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(super::openapi::body::uuid())
        .max_items(Some(links::MAX_LINKS))
        .build()
}

#[utoipa::path(
    put,
    path = "/api/v1/tickets/{number}/services",
    tag = "services",
    summary = "Replace the ticket's services",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = SetBody),
    responses((status = 200, description = "the ticket's services", body = TicketServices))
)]
async fn set_services(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<SetBody>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let b = body.into_inner();
    if b.services.len() > links::MAX_LINKS {
        return Err(invalid(
            "services",
            format!("at most {} services on a ticket", links::MAX_LINKS),
        ));
    }
    let mut wanted = Vec::new();
    let mut errors = Vec::new();
    for (i, v) in b.services.iter().enumerate() {
        match service_id_from(v, "services") {
            Ok(s) if !wanted.contains(&s) => wanted.push(s),
            Ok(_) => {}
            Err(_) => errors.push(FieldError::new(
                &format!("services[{i}]"),
                "must be a service id (a UUID)",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let id = ticket_id_of(&app, &number).await?;
    let linked = write_as(&app, move |c| {
        let current: Vec<String> = links::linked(c, &id)?
            .into_iter()
            .map(|l| l.service_id)
            .collect();
        for s in current.iter().filter(|s| !wanted.contains(s)) {
            links::unlink(c, &id, s, &user.login)?;
        }
        for (i, s) in wanted.iter().enumerate() {
            links::link(c, &id, s, LinkSource::Operator, &user.login).map_err(|e| match e {
                RegistryError::Invalid(list) => RegistryError::Invalid(
                    list.into_iter()
                        .map(|(_, m)| (format!("services[{i}]"), m))
                        .collect(),
                ),
                other => other,
            })?;
        }
        Ok::<_, RegistryError>(links::linked(c, &id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "number": number, "services": linked })))
}

#[utoipa::path(
    delete,
    path = "/api/v1/tickets/{number}/services/{service}",
    tag = "services",
    summary = "Unlink a service from the ticket",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001"), ("service" = String, Path, description = "service id")),
    responses((status = 204, description = "unlinked"))
)]
async fn unlink_service(
    app: AppData,
    who: Authed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let (number, service) = path.into_inner();
    let number = input::ticket_number(&number)?;
    let service = record_id(&service, "service")?;
    let id = ticket_id_of(&app, &number).await?;
    let removed = app
        .db
        .write(move |c| links::unlink(c, &id, &service, &user.login))
        .await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "ticket {number} is not linked to that service"
        )))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ContactBodyInput {
    /// The body's id, or `null` for none.
    #[schema(schema_with = body_id_or_null)]
    body: serde_json::Value,
}

fn body_id_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}

#[utoipa::path(
    put,
    path = "/api/v1/tickets/{number}/contact/body",
    tag = "services",
    summary = "The body the ticket's applicant is referred to",
    params(("number" = String, Path, description = "registration number, e.g. UCC-2026-000001")),
    request_body(content = ContactBodyInput),
    responses((status = 200, description = "the ticket's contact body", body = crate::registry::ict::ContactBody))
)]
async fn set_contact_body(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<ContactBodyInput>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = input::ticket_number(&path.into_inner())?;
    let body_id = match &body.body {
        serde_json::Value::Null => None,
        v => Some(
            v.as_str()
                .and_then(|s| record_id(s, "body").ok())
                .ok_or_else(|| invalid("body", "must be a body id (a UUID) or null"))?,
        ),
    };
    let calendar = app.calendar();
    let shared = app.get_ref().clone();
    let out = write_as(&app, move |c| {
        ict::set_contact_body(
            c,
            &shared.config.registry.ict,
            &calendar,
            &shared.config.working_hours,
            &number,
            body_id.as_deref(),
            &user.login,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CardQuery {
    lang: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/bodies/{id}/card",
    tag = "registry",
    summary = "R7: the body's contact card",
    params(("id" = String, Path, description = "body id"), CardQuery),
    responses((status = 200, description = "the card in the language asked", body = BodyCard))
)]
async fn body_card(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    query: web::Query<CardQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let id = record_id(&path, "body")?;
    let language = language_of(query.lang.as_deref())?;
    let i2 = id.clone();
    let body = app
        .db
        .run(move |c| bodies::get(c, &i2))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no body `{id}`")))?;
    let text = cards::render(&app.templates, &body, language).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "body_id": body.id, "lang": language.as_str(), "text": text,
    })))
}

/// The registry file a path names (`bodies.csv`, ...).
pub(crate) fn kind_of(file: &str) -> Result<Kind, ApiError> {
    file.strip_suffix(".csv")
        .and_then(|k| Kind::parse(k).ok())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no registry file `{}`: bodies.csv, persons.csv or services.csv",
                input::shown(file)
            ))
        })
}

#[utoipa::path(
    get,
    path = "/api/v1/registry/{file}",
    tag = "registry",
    summary = "The registry as CSV (UTF-8 with BOM, RFC 4180)",
    params(("file" = String, Path, description = "`bodies.csv`, `persons.csv` or `services.csv`")),
    responses((status = 200, description = "the CSV file", body = String, content_type = "text/csv"))
)]
async fn export_csv(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let kind = kind_of(&path)?;
    export_file(&app, kind).await
}

/// The registry file as a CSV download (the API's and the admin portal's).
pub(crate) async fn export_file(app: &AppData, kind: Kind) -> Result<HttpResponse, ApiError> {
    let text = app.db.run(move |c| registry_csv::export(c, kind)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{}.csv\"", kind.as_str()),
        ))
        .body(text))
}

/// Imports a registry file whole or not at all (the API's and the admin portal's).
pub(crate) async fn import_file(
    app: &AppData,
    kind: Kind,
    bytes: web::Bytes,
) -> Result<registry_csv::Imported, ApiError> {
    write_as(app, move |c| registry_csv::import(c, kind, &bytes)).await
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Rows(rows) => ApiError::Invalid(
                rows.into_iter()
                    .map(|r| {
                        let field = match &r.column {
                            Some(c) => format!("line {}: {c}", r.line),
                            None => format!("line {}", r.line),
                        };
                        FieldError::new(&field, r.message)
                    })
                    .collect(),
            ),
            ImportError::Db(e) => e.into(),
        }
    }
}

/// The whole file in one transaction: a bad row and nothing is imported.
#[utoipa::path(
    post,
    path = "/api/v1/registry/{file}",
    tag = "registry",
    summary = "Import a CSV file (the whole file or nothing; a 422 lists each bad row as `line N: column`)",
    params(("file" = String, Path, description = "`bodies.csv`, `persons.csv` or `services.csv`")),
    request_body(content = String, content_type = "text/csv", description = "the CSV, as GET gives it"),
    responses((status = 200, description = "what was created and changed", body = crate::registry::csv::Imported))
)]
async fn import_csv(
    app: AppData,
    who: Authed,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let kind = kind_of(&path)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty()
        && !content_type.starts_with("text/csv")
        && !content_type.starts_with("text/plain")
        && !content_type.starts_with("application/octet-stream")
    {
        return Err(ApiError::BadRequest(
            "send the file as `Content-Type: text/csv` (UTF-8, a header row)".into(),
        ));
    }
    let done = import_file(&app, kind, body).await?;
    Ok(HttpResponse::Ok().json(done))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_services answers with json!
struct ServicePage {
    services: Vec<crate::registry::services::Service>,
    next_after: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: get_service adds `onboarding` to the service
struct ServiceWithTimeline {
    #[serde(flatten)]
    service: crate::registry::services::Service,
    onboarding: Vec<onboarding::StepView>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: get_timeline and record_step answer with json!
struct Timeline {
    service_id: String,
    onboarding: Vec<onboarding::StepView>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: overdue_steps answers with json!
struct OverdueSteps {
    overdue: Vec<onboarding::OverdueStep>,
}

/// The stage lookup's outcome, with what was asked and the message for the applicant.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: stage_lookup adds these to the outcome
struct StageAnswer {
    #[serde(flatten)]
    stage: stage::Stage,
    application: String,
    message: String,
    /// `kk` or `ru`.
    lang: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: ticket_services answers with json!
struct TicketServicesProposed {
    number: String,
    services: Vec<links::LinkedService>,
    proposals: Vec<links::Proposal>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: link_service and set_services answer with json!
struct TicketServices {
    number: String,
    services: Vec<links::LinkedService>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: body_card answers with json!
struct BodyCard {
    body_id: String,
    /// `kk` or `ru`.
    lang: String,
    text: String,
}

// ---------------------------------------------------------------------------------------
// The request bodies of the services (schema only: ServiceInput::from_json reads them field
// by field, so that each mistake is named).

/// A service of the register with its passport (002 §10-11; Appendix 1).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create_service reads the body with ServiceInput::from_json
struct NewService {
    /// The service's number in the register: 1-64 visible characters.
    #[schema(schema_with = register_number, example = "00101001")]
    register_number: String,
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: crate::registry::Names,
    /// The providing body's id.
    #[schema(schema_with = super::openapi::body::uuid)]
    body: String,
    /// The body that wrote the service standard.
    #[schema(schema_with = body_id_or_null)]
    standard_body: Option<String>,
    /// A person of the providing body.
    #[schema(schema_with = body_id_or_null)]
    responsible_person: Option<String>,
    /// The by-laws defining the procedure, with their details.
    #[schema(max_length = 4000)]
    bylaws: Option<String>,
    #[schema(max_length = 4000)]
    bylaw_changes: Option<String>,
    /// The web page about the service: an http(s) URL, or `null`/`""` for none.
    #[schema(schema_with = web_page)]
    web_page: Option<String>,
    /// Words the matcher finds the service by (at most 50).
    #[schema(schema_with = keywords)]
    keywords: Option<Vec<String>>,
    #[schema(nullable = false)]
    active: Option<bool>,
    #[schema(nullable = false)]
    passport: Option<PassportInput>,
}

/// Any of the fields of a new service; a passport key given replaces that key.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: update_service reads the body with ServiceInput::from_json
struct ServiceChange {
    #[schema(schema_with = register_number)]
    register_number: Option<String>,
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: Option<crate::registry::Names>,
    #[schema(schema_with = super::openapi::body::uuid)]
    body: Option<String>,
    #[schema(schema_with = body_id_or_null)]
    standard_body: Option<String>,
    #[schema(schema_with = body_id_or_null)]
    responsible_person: Option<String>,
    #[schema(max_length = 4000)]
    bylaws: Option<String>,
    #[schema(max_length = 4000)]
    bylaw_changes: Option<String>,
    #[schema(schema_with = web_page)]
    web_page: Option<String>,
    #[schema(schema_with = keywords)]
    keywords: Option<Vec<String>>,
    #[schema(nullable = false)]
    active: Option<bool>,
    #[schema(nullable = false)]
    passport: Option<PassportInput>,
}

/// The passport's keys to set: each text in both languages (`null` clears it).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: services::passport_from reads it
struct PassportInput {
    #[schema(schema_with = passport_text)]
    term: Option<crate::registry::Names>,
    #[schema(nullable = false)]
    forms: Option<Vec<crate::registry::services::ServiceForm>>,
    #[schema(schema_with = passport_text)]
    result: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    fee: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    schedule: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    documents: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    refusal_grounds: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    complaints: Option<crate::registry::Names>,
    #[schema(schema_with = passport_text)]
    other_requirements: Option<crate::registry::Names>,
    /// The number citizens call about it, e.g. `1414`.
    #[schema(pattern = r"\S", max_length = 40, nullable = false)]
    ucc_number: Option<String>,
}

fn passport_text() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::names(8000))
}

fn register_number() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(
            r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        ))
        .max_length(Some(64))
        .build()
}

fn web_page() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(r"^\s*[hH][tT][tT][pP][sS]?://[A-Za-z0-9]"))
                .max_length(Some(2000)),
        )
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(r"^\s*$")),
        )
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Null),
        )
        .into()
}

fn keywords() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .max_length(Some(100)),
        )
        .max_items(Some(50))
        .build()
}
