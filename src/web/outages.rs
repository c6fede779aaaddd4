//! Outages over HTTP (O1): the ICI operator declares and changes them; staff read each
//! recipient's delivery proof and the month's compliance; anyone reads the public page
//! and subscribes to `/outages.ics`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use minijinja::context;
use serde::Deserialize;

use super::input::record_id;
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::Permission;
use crate::outages::{OutageError, OutageInput, store};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/outages", web::post().to(declare))
        .route("/api/v1/outages", web::get().to(list))
        .route("/api/v1/outages/compliance", web::get().to(compliance))
        .route("/api/v1/outages/{id}", web::get().to(detail))
        .route("/api/v1/outages/{id}", web::patch().to(change))
        .route("/api/v1/outages/{id}/cancel", web::post().to(cancel))
        .route("/api/v1/outages/{id}/complete", web::post().to(complete))
        .route(
            "/api/v1/bodies/{id}/telegram-link",
            web::post().to(telegram_link),
        )
        .route("/outages", web::get().to(page))
        .route("/outages.ics", web::get().to(feed));
}

impl From<OutageError> for ApiError {
    fn from(e: OutageError) -> Self {
        match e {
            OutageError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            OutageError::NotFound(m) => ApiError::NotFound(m),
            OutageError::Conflict(m) => ApiError::Conflict(m),
            OutageError::Db(e) => e.into(),
        }
    }
}

/// What a declaration with an `Idempotency-Key` found: a new outage, or the one a
/// retry of the same request already declared.
pub(crate) enum Declared {
    New(String),
    Replayed(String),
    OtherRequest,
}

#[utoipa::path(
    post,
    path = "/api/v1/outages",
    tag = "outages",
    summary = "Declare an outage (O1: planned ones 24 h ahead); takes an optional Idempotency-Key",
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,255}$", description = "1-255 visible ASCII characters: a retry with the same key and body gets the first answer")),
    request_body(content = NewOutage),
    responses((status = 201, description = "the outage as GET shows it", body = OutageDetail))
)]
async fn declare(
    app: AppData,
    req: HttpRequest,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::DeclareOutages)?.clone();
    let key = super::public::idempotency_key(&req)?.map(|k| {
        (
            format!("outage:{}:{k}", user.login),
            crate::auth::sha256_hex(body.to_string().as_bytes()),
        )
    });
    let input = OutageInput::from_json(&body, true)?;
    match declare_once(&app, &user.login, key, input).await? {
        Declared::New(id) => respond(&app, HttpResponse::Created(), id).await,
        Declared::Replayed(id) => {
            let mut r = HttpResponse::Created();
            r.insert_header(("Idempotent-Replayed", "true"));
            respond(&app, r, id).await
        }
        Declared::OtherRequest => Err(ApiError::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            "was already used for a different declaration in the last 24 hours: use a new key",
        )])),
    }
}

/// Declares `input` once per `key` (its name and the request's hash): a retry with the
/// same key and request finds the outage the first one declared (the API's
/// Idempotency-Key, the portal form's own key).
pub(crate) async fn declare_once(
    app: &AppData,
    login: &str,
    key: Option<(String, String)>,
    input: OutageInput,
) -> Result<Declared, ApiError> {
    let now = app.clock.now();
    let state = app.get_ref().clone();
    let login = login.to_string();
    let declared = app
        .db
        .write(move |c| {
            use crate::db::schema::idempotency_keys as k;
            use diesel::prelude::*;
            if let Some((key, hash)) = &key {
                let stored: Option<(String, String)> = k::table
                    .find(key)
                    .select((k::request_hash, k::ticket_id))
                    .first(c)
                    .optional()?;
                match stored {
                    Some((h, id)) if h == *hash => return Ok(Ok(Declared::Replayed(id))),
                    Some(_) => return Ok(Ok(Declared::OtherRequest)),
                    None => {}
                }
            }
            let outage = match store::declare(c, &state, &input, &login, now) {
                Ok(o) => o,
                Err(OutageError::Db(e)) => return Err(e),
                Err(e) => return Ok(Err(e)),
            };
            if let Some((key, hash)) = &key {
                // The record names the outage (its `ticket_id` column holds any record id).
                diesel::insert_into(k::table)
                    .values((
                        k::key.eq(key),
                        k::request_hash.eq(hash),
                        k::status.eq(201),
                        k::body.eq(""),
                        k::ticket_id.eq(&outage.id),
                        k::created_at.eq(crate::db::now()),
                    ))
                    .execute(c)?;
            }
            Ok(Ok(Declared::New(outage.id)))
        })
        .await??;
    app.jobs_wakeup.notify_one();
    Ok(declared)
}

async fn respond(
    app: &AppData,
    mut status: actix_web::HttpResponseBuilder,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let now = app.clock.now();
    let view = app.db.run(move |c| store::detail(c, &id, now)).await?;
    Ok(status.json(view))
}

#[utoipa::path(
    get,
    path = "/api/v1/outages/{id}",
    tag = "outages",
    summary = "One outage with its phase, lead and every recipient's deliveries",
    params(("id" = String, Path, description = "outage id")),
    responses((status = 200, description = "the outage", body = OutageDetail))
)]
async fn detail(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadOutages)?;
    let id = record_id(&path, "outage")?;
    let now = app.clock.now();
    let i2 = id.clone();
    match app.db.run(move |c| store::detail(c, &i2, now)).await? {
        Some(v) => Ok(HttpResponse::Ok().json(v)),
        None => Err(ApiError::NotFound(format!("no outage `{id}`"))),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/outages",
    tag = "outages",
    summary = "Outages ending in the last 30 days or later, each with its phase and lead summary",
    responses((status = 200, description = "the outages, each with its phase and lead", body = OutageList))
)]
async fn list(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadOutages)?;
    let now = app.clock.now();
    let items = app.db.run(move |c| store::list_with_lead(c, now)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "outages": items })))
}

#[utoipa::path(
    patch,
    path = "/api/v1/outages/{id}",
    tag = "outages",
    summary = "Reschedule or edit an outage (each sends a notice)",
    params(("id" = String, Path, description = "outage id")),
    request_body(content = OutageChange),
    responses((status = 200, description = "the outage", body = OutageDetail))
)]
async fn change(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::DeclareOutages)?;
    let id = record_id(&path, "outage")?;
    let input = OutageInput::from_json(&body, false)?;
    let now = app.clock.now();
    let state = app.get_ref().clone();
    let i2 = id.clone();
    app.db
        .write(move |c| Ok(store::change(c, &state, &i2, &input, now)))
        .await??;
    app.jobs_wakeup.notify_one();
    respond(&app, HttpResponse::Ok(), id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/outages/{id}/cancel",
    tag = "outages",
    summary = "Cancel an outage",
    params(("id" = String, Path, description = "outage id")),
    responses((status = 200, description = "the outage", body = OutageDetail))
)]
async fn cancel(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::DeclareOutages)?;
    let id = record_id(&path, "outage")?;
    let now = app.clock.now();
    let state = app.get_ref().clone();
    let i2 = id.clone();
    app.db
        .write(move |c| Ok(store::cancel(c, &state, &i2, now)))
        .await??;
    app.jobs_wakeup.notify_one();
    respond(&app, HttpResponse::Ok(), id).await
}

#[utoipa::path(
    post,
    path = "/api/v1/outages/{id}/complete",
    tag = "outages",
    summary = "Complete a started outage",
    params(("id" = String, Path, description = "outage id")),
    responses((status = 200, description = "the outage", body = OutageDetail))
)]
async fn complete(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::DeclareOutages)?;
    let id = record_id(&path, "outage")?;
    let now = app.clock.now();
    let state = app.get_ref().clone();
    let i2 = id.clone();
    app.db
        .write(move |c| Ok(store::complete(c, &state, &i2, now)))
        .await??;
    app.jobs_wakeup.notify_one();
    respond(&app, HttpResponse::Ok(), id).await
}

/// An administrator issues a one-time code; `/link CODE` sent to the bot from the chat
/// that should receive the body's (or the person's) outage notices links it.
#[utoipa::path(
    post,
    path = "/api/v1/bodies/{id}/telegram-link",
    tag = "registry",
    summary = "A one-time code linking a Telegram chat to the body (or one person)",
    params(("id" = String, Path, description = "body id")),
    request_body(content = Option<LinkFor>, description = "optional: without a body, or without `person_id`, the code links the body itself"),
    responses((status = 201, description = "the code to send to the bot", body = LinkCode))
)]
async fn telegram_link(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: Option<web::Json<serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let id = record_id(&path, "body")?;
    let body = body
        .map(|b| b.into_inner())
        .unwrap_or(serde_json::Value::Null);
    let person = match body.get("person_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(p)) => Some(record_id(p, "person").map_err(|_| {
            ApiError::Invalid(vec![FieldError::new(
                "person_id",
                "not a person id of this body",
            )])
        })?),
        Some(_) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "person_id",
                "must be a person id (a string) or left out for the body itself",
            )]));
        }
    };
    if let Some(obj) = body.as_object()
        && let Some(k) = obj.keys().find(|k| *k != "person_id")
    {
        return Err(ApiError::Invalid(vec![FieldError::new(
            k,
            "unknown field: expected person_id",
        )]));
    }
    let now = app.clock.now();
    let issued = app
        .db
        .write(move |c| crate::outages::links::issue(c, &id, person.as_deref(), now))
        .await?;
    match issued {
        Ok((code, expires_at)) => Ok(HttpResponse::Created().json(serde_json::json!({
            "code": code,
            "expires_at": expires_at,
            "send_to_the_bot": format!("/link {code}"),
        }))),
        Err(m) => Err(ApiError::NotFound(m)),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MonthQuery {
    month: Option<String>,
}

/// `2026-10` into the month's bounds in Almaty time.
fn month_bounds(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()?;
    if text.trim().len() != 7 {
        return None;
    }
    let next = first.checked_add_months(chrono::Months::new(1))?;
    let tz = chrono_tz::Asia::Almaty;
    let at = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    Some((at(first)?, at(next)?))
}

#[utoipa::path(
    get,
    path = "/api/v1/outages/compliance",
    tag = "outages",
    summary = "Outages starting in a month with their lead, unreached recipients and breaches",
    params(MonthQuery),
    responses((status = 200, description = "the month's compliance report", body = Compliance))
)]
async fn compliance(
    app: AppData,
    who: Authed,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadOutages)?;
    let month = query.into_inner().month.unwrap_or_default();
    let Some((from, to)) = month_bounds(&month) else {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "month",
            format!(
                "`{}` is not a month: give ?month=YYYY-MM, e.g. 2026-10",
                super::input::shown(&month)
            ),
        )]));
    };
    let now = app.clock.now();
    let mut v = app
        .db
        .run(move |c| store::compliance(c, from, to, now))
        .await?;
    v["month"] = month.trim().into();
    Ok(HttpResponse::Ok().json(v))
}

async fn page(app: AppData, req: HttpRequest) -> HttpResponse {
    let lang = super::page_language(&req);
    let now = app.clock.now();
    let list = match app
        .db
        .run(move |c| store::current_and_upcoming(c, now))
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the outage page could not be read");
            return HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .body("the outage list is unavailable, retry shortly");
        }
    };
    let kk = lang == baylanys_core::Language::Kk;
    let items: Vec<serde_json::Value> = list
        .iter()
        .map(|o| {
            serde_json::json!({
                "id": o.id,
                "phase": o.phase(now),
                "kind": o.kind,
                "impact": o.impact,
                "title": if kk { &o.title.kk } else { &o.title.ru },
                "text": if kk { &o.text.kk } else { &o.text.ru },
                "starts": crate::templates::local_time(o.starts_at),
                "ends": crate::templates::local_time(o.ends_at),
                "systems": o.systems,
            })
        })
        .collect();
    let html = app.templates.page(
        "web/outages.html",
        lang,
        context! { items, switch_url => "/outages?lang=" },
    );
    match html {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "page template failed");
            HttpResponse::InternalServerError().body("page template failed")
        }
    }
}

async fn feed(app: AppData) -> Result<HttpResponse, ApiError> {
    let now = app.clock.now();
    let list = app.db.run(move |c| store::for_feed(c, now)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "inline; filename=\"baylanys-outages.ics\"",
        ))
        .body(crate::outages::ics::feed(&list, &app.mail_domain, now)))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built as JSON values (schema only: nothing constructs them).

/// An outage with its phase: `upcoming`, `in_progress`, `ended`, `completed`, `cancelled`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list adds `phase` to each outage
struct OutageListed {
    #[serde(flatten)]
    outage: store::Outage,
    phase: String,
    lead: store::LeadSummary,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list answers with json!
struct OutageList {
    outages: Vec<OutageListed>,
}

/// One outage with its phase, its lead, every recipient's deliveries and its notices.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: store::detail builds it
struct OutageDetail {
    #[serde(flatten)]
    outage: store::Outage,
    phase: String,
    lead: store::LeadSummary,
    recipients: Vec<store::RecipientView>,
    notices: Vec<store::NoticeView>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: telegram_link answers with json!
struct LinkCode {
    code: String,
    expires_at: DateTime<Utc>,
    /// What to send to the bot: `/link CODE`.
    send_to_the_bot: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: compliance adds `month` to store::compliance
struct Compliance {
    /// The month asked, YYYY-MM.
    month: String,
    #[serde(flatten)]
    compliance: OutageCompliance,
}

/// The month's outages with their lead and breaches (store::compliance).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: store::compliance builds it
pub(super) struct OutageCompliance {
    /// How many outages started in the month.
    outages: usize,
    /// How many of them breached the lead.
    breaches: usize,
    items: Vec<ComplianceItem>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: store::compliance builds it
struct ComplianceItem {
    id: String,
    kind: crate::outages::OutageKind,
    status: crate::outages::OutageStatus,
    title: crate::registry::Names,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    declared_at: DateTime<Utc>,
    lead: store::LeadSummary,
    lead_breach: bool,
    breach_reason: Option<String>,
    /// The recipients not reached in time.
    unreached: Vec<Unreached>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: store::compliance builds it
struct Unreached {
    body_id: String,
    name: crate::registry::Names,
    /// `late`, `pending` or `unreached`.
    state: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn months_are_bounded_in_almaty_time() {
        let (from, to) = super::month_bounds("2026-10").expect("a month");
        assert_eq!(from.to_rfc3339(), "2026-09-30T19:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-10-31T19:00:00+00:00");
        assert!(super::month_bounds("2026-13").is_none());
        assert!(super::month_bounds("2026-1").is_none());
        assert!(super::month_bounds("").is_none());
    }
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: OutageInput::from_json reads them field by field, so
// that each mistake is named).

/// A declaration (O1): a planned outage, announced at least 24 hours ahead, or an
/// emergency with its reason.
struct NewOutage;

impl utoipa::PartialSchema for NewOutage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder};
        let blank = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\s*$"))
            .build();
        let planned = ObjectBuilder::new()
            .property("kind", super::openapi::body::one_of(["planned"]))
            .property("reason", super::openapi::body::or_null(blank))
            .required("kind");
        let emergency = ObjectBuilder::new()
            .property("kind", super::openapi::body::one_of(["emergency"]))
            .property("reason", super::openapi::body::text(2000))
            .required("kind")
            .required("reason");
        AllOfBuilder::new()
            .item(OutageFields::schema())
            .item(OneOfBuilder::new().item(planned).item(emergency))
            .into()
    }
}

impl utoipa::ToSchema for NewOutage {}

#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: declare reads the body with OutageInput::from_json
struct OutageFields {
    /// `planned` (24 hours ahead, no `reason`) or `emergency` (with its `reason`).
    kind: crate::outages::OutageKind,
    /// RFC 3339 with its offset; a planned outage at least 24 hours from now.
    #[schema(value_type = String, format = DateTime)]
    starts_at: String,
    /// After `starts_at`.
    #[schema(value_type = String, format = DateTime)]
    ends_at: String,
    /// Codes of the systems interrupted (GET /api/v1/systems).
    #[schema(schema_with = system_codes)]
    systems: Vec<String>,
    impact: crate::outages::Impact,
    /// A mail subject: one line each.
    #[schema(schema_with = title)]
    title: crate::registry::Names,
    #[schema(schema_with = text)]
    text: crate::registry::Names,
    /// An emergency's reason: why it cannot wait 24 hours.
    #[schema(max_length = 2000)]
    reason: Option<String>,
}

/// Any of a declaration's fields but `kind`; at least one.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
#[allow(dead_code)] // schema only: change reads the body with OutageInput::from_json
struct OutageChange {
    #[schema(value_type = Option<String>, format = DateTime, nullable = false)]
    starts_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, nullable = false)]
    ends_at: Option<String>,
    #[schema(schema_with = system_codes)]
    systems: Option<Vec<String>>,
    #[schema(nullable = false)]
    impact: Option<crate::outages::Impact>,
    #[schema(schema_with = title)]
    title: Option<crate::registry::Names>,
    #[schema(schema_with = text)]
    text: Option<crate::registry::Names>,
    #[schema(max_length = 2000)]
    reason: Option<String>,
}

/// Whom the code links: a person of the body, or the body itself.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: telegram_link reads the body
struct LinkFor {
    #[schema(schema_with = person_or_null)]
    person_id: Option<String>,
}

fn person_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}

fn system_codes() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(super::openapi::body::text(100))
        .min_items(Some(1))
        .max_items(Some(100))
        .build()
}

fn title() -> utoipa::openapi::schema::Object {
    super::openapi::body::names(200)
}

fn text() -> utoipa::openapi::schema::Object {
    super::openapi::body::names(4000)
}
