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

#[derive(Deserialize)]
struct BodyQuery {
    kind: Option<String>,
    system: Option<String>,
    q: Option<String>,
    #[serde(default)]
    include_inactive: bool,
}

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

async fn list_systems(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    may_read_systems(&who)?;
    let list = app.db.run(systems::list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "systems": list })))
}

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
