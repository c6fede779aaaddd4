//! The registry over HTTP: `/api/v1/bodies` (with their responsible persons) and
//! `/api/v1/systems`. Staff read it; administrators change it; an agency or ici user reads
//! only its own body.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::input::record_id;
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::Permission;
use crate::registry::bodies::{self, BodyFilter};
use crate::registry::{BodyInput, BodyKind, PersonInput, RegistryError, systems};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/bodies", web::get().to(list_bodies))
        .route("/api/v1/bodies", web::post().to(create_body))
        .route("/api/v1/bodies/{id}", web::get().to(get_body))
        .route("/api/v1/bodies/{id}", web::patch().to(update_body))
        .route("/api/v1/bodies/{id}/persons", web::post().to(add_person))
        .route(
            "/api/v1/bodies/{id}/persons/{person}",
            web::patch().to(update_person),
        )
        .route("/api/v1/systems", web::get().to(list_systems))
        .route("/api/v1/systems", web::post().to(create_system))
        .route("/api/v1/systems/{code}", web::get().to(get_system))
        .route("/api/v1/systems/{code}", web::patch().to(rename_system));
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            RegistryError::NotFound(m) => ApiError::NotFound(m),
            RegistryError::Conflict(m) => ApiError::Conflict(m),
            RegistryError::Db(e) => e.into(),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BodyQuery {
    kind: Option<String>,
    system: Option<String>,
    q: Option<String>,
    #[serde(default)]
    include_inactive: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/bodies",
    tag = "registry",
    summary = "Registry bodies, filtered by kind, subscription or part of a name",
    params(BodyQuery),
    responses((status = 200, description = "the bodies", body = BodyList))
)]
async fn list_bodies(
    app: AppData,
    who: Authed,
    query: web::Query<BodyQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadRegistry)?;
    let q = query.into_inner();
    let kind = q
        .kind
        .as_deref()
        .map(BodyKind::parse)
        .transpose()
        .map_err(|m| ApiError::Invalid(vec![FieldError::new("kind", m)]))?;
    let filter = BodyFilter {
        kind,
        system: q.system,
        q: q.q
            .map(super::input::clean)
            .filter(|s| !s.trim().is_empty()),
        include_inactive: q.include_inactive,
    };
    let list = app.db.run(move |c| bodies::list(c, &filter)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "bodies": list })))
}

/// The body and, once, a generated webhook secret.
fn with_secret(body: &crate::registry::Body, secret: Option<String>) -> serde_json::Value {
    let mut v = serde_json::to_value(body).expect("a body serialises");
    if let Some(s) = secret {
        v["webhook_secret"] = serde_json::Value::String(s);
    }
    v
}

#[utoipa::path(
    post,
    path = "/api/v1/bodies",
    tag = "registry",
    summary = "Add a registry body",
    request_body(content = NewBody),
    responses((status = 201, description = "the body (with `webhook_secret` when one was generated)", body = BodyWithSecret))
)]
async fn create_body(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let input = BodyInput::from_json(&body)?;
    let (b, secret) = app
        .db
        .write(move |c| Ok(bodies::create(c, &input)))
        .await??;
    Ok(HttpResponse::Created().json(with_secret(&b, secret)))
}

#[utoipa::path(
    get,
    path = "/api/v1/bodies/{id}",
    tag = "registry",
    summary = "One body with its persons and subscriptions",
    params(("id" = String, Path, description = "body id")),
    responses((status = 200, description = "the body", body = crate::registry::Body))
)]
async fn get_body(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = record_id(&path, "body")?;
    let own = who.0.body_id.as_deref() == Some(id.as_str());
    if !own {
        who.may(Permission::ReadRegistry)?;
    }
    let i2 = id.clone();
    match app.db.run(move |c| bodies::get(c, &i2)).await? {
        Some(b) => Ok(HttpResponse::Ok().json(b)),
        None => Err(ApiError::NotFound(format!("no body `{id}`"))),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/bodies/{id}",
    tag = "registry",
    summary = "Change the fields given (`null` clears)",
    params(("id" = String, Path, description = "body id")),
    request_body(content = BodyChange),
    responses((status = 200, description = "the body (with `webhook_secret` when one was generated)", body = BodyWithSecret))
)]
async fn update_body(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let id = record_id(&path, "body")?;
    let input = BodyInput::from_json(&body)?;
    let (b, secret) = app
        .db
        .write(move |c| Ok(bodies::update(c, &id, &input)))
        .await??;
    Ok(HttpResponse::Ok().json(with_secret(&b, secret)))
}

#[utoipa::path(
    post,
    path = "/api/v1/bodies/{id}/persons",
    tag = "registry",
    summary = "Add a responsible person",
    params(("id" = String, Path, description = "body id")),
    request_body(content = NewPerson),
    responses((status = 201, description = "the person", body = crate::registry::bodies::Person))
)]
async fn add_person(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let id = record_id(&path, "body")?;
    let input = PersonInput::from_json("", &body)?;
    let p = app
        .db
        .write(move |c| Ok(bodies::add_person(c, &id, &input)))
        .await??;
    Ok(HttpResponse::Created().json(p))
}

#[utoipa::path(
    patch,
    path = "/api/v1/bodies/{id}/persons/{person}",
    tag = "registry",
    summary = "Change a responsible person",
    params(("id" = String, Path, description = "body id"), ("person" = String, Path, description = "person id")),
    request_body(content = PersonChange),
    responses((status = 200, description = "the person", body = crate::registry::bodies::Person))
)]
async fn update_person(
    app: AppData,
    who: Authed,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let (id, person) = path.into_inner();
    let id = record_id(&id, "body")?;
    let person = record_id(&person, "person")?;
    let input = PersonInput::from_json("", &body)?;
    let p = app
        .db
        .write(move |c| Ok(bodies::update_person(c, &id, &person, &input)))
        .await??;
    Ok(HttpResponse::Ok().json(p))
}

/// The catalogue is read by staff and by the ICI operator, who declares outages on it.
fn may_read_systems(who: &Authed) -> Result<(), ApiError> {
    if who.0.role == crate::auth::Role::Ici {
        return Ok(());
    }
    who.may(Permission::ReadRegistry).map(|_| ())
}

#[utoipa::path(
    get,
    path = "/api/v1/systems",
    tag = "registry",
    summary = "The catalogue of e-government systems",
    responses((status = 200, description = "the systems", body = SystemList))
)]
async fn list_systems(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    may_read_systems(&who)?;
    let list = app.db.run(systems::list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "systems": list })))
}

#[utoipa::path(
    get,
    path = "/api/v1/systems/{code}",
    tag = "registry",
    summary = "One system",
    params(("code" = String, Path, description = "system code")),
    responses((status = 200, description = "the system", body = crate::registry::systems::System))
)]
async fn get_system(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_read_systems(&who)?;
    let code = super::input::clean(path.into_inner());
    let c2 = code.clone();
    match app.db.run(move |c| systems::get(c, &c2)).await? {
        Some(s) => Ok(HttpResponse::Ok().json(s)),
        None => Err(ApiError::NotFound(format!(
            "no system `{}`",
            super::input::shown(&code)
        ))),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/systems",
    tag = "registry",
    summary = "Add a system",
    request_body(content = NewSystem),
    responses(
        (status = 201, description = "the system", body = crate::registry::systems::System),
        (status = 409, description = "a system with this code exists: rename it with PATCH", body = super::Problem, content_type = "application/problem+json")
    )
)]
async fn create_system(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let (code, name) = systems::from_json(&body, true)?;
    let (Some(code), Some(name)) = (code, name) else {
        unreachable!("from_json requires both on create");
    };
    let s = app
        .db
        .write(move |c| Ok(systems::create(c, &code, &name)))
        .await??;
    Ok(HttpResponse::Created().json(s))
}

#[utoipa::path(
    patch,
    path = "/api/v1/systems/{code}",
    tag = "registry",
    summary = "Rename a system",
    params(("code" = String, Path, description = "system code")),
    request_body(content = SystemChange),
    responses((status = 200, description = "the system", body = crate::registry::systems::System))
)]
async fn rename_system(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageRegistry)?;
    let code = super::input::clean(path.into_inner());
    let (_, name) = systems::from_json(&body, false)?;
    let Some(name) = name else {
        unreachable!("from_json requires a name");
    };
    let s = app
        .db
        .write(move |c| Ok(systems::rename(c, &code, &name)))
        .await??;
    Ok(HttpResponse::Ok().json(s))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_bodies answers with json!
struct BodyList {
    bodies: Vec<crate::registry::Body>,
}

/// A body, and once, the webhook secret generated for it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: with_secret builds it
struct BodyWithSecret {
    #[serde(flatten)]
    body: crate::registry::Body,
    /// Shown only in the answer that generated it.
    webhook_secret: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_systems answers with json!
struct SystemList {
    systems: Vec<crate::registry::systems::System>,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: BodyInput, PersonInput and systems::from_json read them,
// field by field, so that each mistake is named).

/// A registry body. Text fields take `null` or `""` to stay empty.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create_body reads the body with BodyInput::from_json
struct NewBody {
    kind: crate::registry::BodyKind,
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: crate::registry::Names,
    #[schema(max_length = 200)]
    region: Option<String>,
    #[schema(schema_with = nullable_email)]
    email: Option<String>,
    #[schema(schema_with = phones)]
    phones: Option<Vec<String>>,
    #[schema(max_length = 500)]
    address: Option<String>,
    #[schema(max_length = 500)]
    website: Option<String>,
    #[schema(max_length = 300)]
    working_hours: Option<String>,
    /// Where forwards and outage notices are POSTed: an http(s) URL with a host.
    #[schema(
        pattern = r"^\s*[hH][tT][tT][pP][sS]?://[A-Za-z0-9]",
        max_length = 2000
    )]
    webhook_url: Option<String>,
    /// The shared secret of the webhook's signature; generated (and shown once) when a
    /// `webhook_url` comes without one.
    #[schema(min_length = 16, max_length = 200)]
    webhook_secret: Option<String>,
    /// A regular expression of the body's own reference numbers (found in its replies).
    #[schema(format = Regex, max_length = 200)]
    ref_pattern: Option<String>,
    #[schema(nullable = false)]
    digest: Option<crate::registry::DigestPeriod>,
    #[schema(nullable = false)]
    active: Option<bool>,
    /// Codes of the systems whose outage notices it receives.
    #[schema(schema_with = system_codes)]
    systems: Option<Vec<String>>,
    /// Its first responsible persons.
    #[schema(nullable = false)]
    persons: Option<Vec<NewPerson>>,
}

/// Any of the fields of a new body but `persons` (they have their own operations);
/// `null` clears an optional text.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: update_body reads the body with BodyInput::from_json
struct BodyChange {
    #[schema(nullable = false)]
    kind: Option<crate::registry::BodyKind>,
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: Option<crate::registry::Names>,
    #[schema(max_length = 200)]
    region: Option<String>,
    #[schema(schema_with = nullable_email)]
    email: Option<String>,
    #[schema(schema_with = phones)]
    phones: Option<Vec<String>>,
    #[schema(max_length = 500)]
    address: Option<String>,
    #[schema(max_length = 500)]
    website: Option<String>,
    #[schema(max_length = 300)]
    working_hours: Option<String>,
    #[schema(
        pattern = r"^\s*[hH][tT][tT][pP][sS]?://[A-Za-z0-9]",
        max_length = 2000
    )]
    webhook_url: Option<String>,
    #[schema(min_length = 16, max_length = 200)]
    webhook_secret: Option<String>,
    #[schema(format = Regex, max_length = 200)]
    ref_pattern: Option<String>,
    #[schema(nullable = false)]
    digest: Option<crate::registry::DigestPeriod>,
    #[schema(nullable = false)]
    active: Option<bool>,
    #[schema(schema_with = system_codes)]
    systems: Option<Vec<String>>,
}

/// A responsible person (001 §20, Appendix 1).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: add_person reads the body with PersonInput::from_json
struct NewPerson {
    #[schema(pattern = r"\S", max_length = 300)]
    name: String,
    #[schema(max_length = 300)]
    position: Option<String>,
    #[schema(schema_with = phones)]
    phones: Option<Vec<String>>,
    #[schema(schema_with = nullable_email)]
    email: Option<String>,
    /// Member of the ICI operator's group of responsible persons (001 §17.3).
    #[schema(nullable = false)]
    ict_group: Option<bool>,
    #[schema(nullable = false)]
    active: Option<bool>,
}

/// Any of the fields of a new person.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: update_person reads the body with PersonInput::from_json
struct PersonChange {
    #[schema(pattern = r"\S", max_length = 300, nullable = false)]
    name: Option<String>,
    #[schema(max_length = 300)]
    position: Option<String>,
    #[schema(schema_with = phones)]
    phones: Option<Vec<String>>,
    #[schema(schema_with = nullable_email)]
    email: Option<String>,
    #[schema(nullable = false)]
    ict_group: Option<bool>,
    #[schema(nullable = false)]
    active: Option<bool>,
}

/// An e-government system of the catalogue.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create_system reads the body with systems::from_json
struct NewSystem {
    #[schema(pattern = r"^\s*[a-z0-9_.-]{1,64}\s*$", example = "egov-portal")]
    code: String,
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: crate::registry::Names,
}

/// A system's new name (its code does not change).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: rename_system reads the body with systems::from_json
struct SystemChange {
    #[schema(schema_with = super::openapi::body::registry_names)]
    name: crate::registry::Names,
}

fn nullable_email() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::email())
}

/// Phone numbers as written on the body's letterhead (blank ones are dropped).
fn phones() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::Array::new(
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(40)),
    )
}

/// Codes of systems: 1-64 characters of a-z, 0-9, `_`, `-` and `.`.
fn system_codes() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::Array::new(
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[a-z0-9_.-]{1,64}$")),
    )
}
