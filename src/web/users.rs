//! Staff accounts over HTTP (`/api/v1/users`): the JSON twin of the admin portal's users
//! pages, both calling the functions here, which call [`crate::users`].

use actix_web::{HttpResponse, web};

use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::{Permission, User};
use crate::users::{self, NewUser, StaffAccount, UserChange, UserError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/users", web::get().to(list))
        .route("/api/v1/users", web::post().to(create))
        .route("/api/v1/users/{login}", web::patch().to(change));
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            e @ UserError::NotFound(_) => ApiError::NotFound(e.to_string()),
            e @ UserError::Exists(_) => ApiError::Conflict(e.to_string()),
            UserError::Db(e) => e.into(),
        }
    }
}

/// Every staff account.
pub async fn accounts(app: &AppData) -> Result<Vec<StaffAccount>, ApiError> {
    let now = app.clock.now();
    Ok(app.db.run(move |c| users::list(c, now)).await?)
}

/// Adds an account (the API's POST and the portal's form).
pub async fn add_account(app: &AppData, input: NewUser) -> Result<StaffAccount, ApiError> {
    let now = app.clock.now();
    Ok(app
        .db
        .write(move |c| Ok(users::create(c, &input, now)))
        .await??)
}

/// Changes an account as `by` (the API's PATCH and the portal's forms).
pub async fn change_account(
    app: &AppData,
    by: &User,
    login: &str,
    input: UserChange,
) -> Result<StaffAccount, ApiError> {
    let (now, by, login) = (app.clock.now(), by.clone(), login.to_string());
    Ok(app
        .db
        .write(move |c| Ok(users::change(c, &by, &login, &input, now)))
        .await??)
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    summary = "Staff accounts with their state (active, locked, last sign-in)",
    responses((status = 200, description = "every staff account, by login", body = UserList))
)]
async fn list(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageUsers)?;
    let list = accounts(&app).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "users": list })))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    summary = "Add a staff account",
    request_body(content = NewAccount),
    responses(
        (status = 201, description = "the account", body = crate::users::StaffAccount),
        (status = 409, description = "the login is taken", body = super::Problem, content_type = "application/problem+json")
    )
)]
async fn create(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageUsers)?;
    let input = NewUser::from_json(&body)?;
    let account = add_account(&app, input).await?;
    Ok(HttpResponse::Created().json(account))
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{login}",
    tag = "users",
    summary = "Change a staff account: name, role, body, active, password, unlock",
    description = "Deactivating ends the account's console sessions and revokes its API tokens; a new password ends its sessions. An administrator cannot deactivate themself or change their own role.",
    params(("login" = String, Path, description = "staff login")),
    request_body(content = AccountChange),
    responses((status = 200, description = "the account as now recorded", body = crate::users::StaffAccount))
)]
async fn change(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let by = who.may(Permission::ManageUsers)?.clone();
    let input = UserChange::from_json(&body)?;
    let account = change_account(&app, &by, &path.into_inner(), input).await?;
    Ok(HttpResponse::Ok().json(account))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list answers with json!
struct UserList {
    users: Vec<crate::users::StaffAccount>,
}

// The request bodies (schema only: NewUser::from_json and UserChange::from_json read
// them field by field, so that each mistake is named).

const ROLES: [&str; 10] = [
    "operator",
    "supervisor",
    "admin",
    "editor",
    "agency",
    "ici",
    "quality",
    "informatization",
    "ingest",
    "pbx",
];

fn role() -> utoipa::openapi::schema::Object {
    super::openapi::body::one_of(ROLES)
}

fn body_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}

/// A new staff account.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create reads the body with NewUser::from_json
struct NewAccount {
    /// What the user signs in with: 1-64 of a-z, 0-9, `.`, `_`, `-` and `@`.
    #[schema(pattern = r"^\s*[a-z0-9._@-]{1,64}\s*$", example = "aliya")]
    login: String,
    #[schema(schema_with = role)]
    role: String,
    /// Shown in the console (the login when absent).
    #[schema(max_length = 200)]
    name: Option<String>,
    /// At least 12 characters; none: a token-only account.
    #[schema(min_length = 12)]
    password: Option<String>,
    /// The registry body of an agency or ici user.
    #[schema(schema_with = body_or_null)]
    body_id: Option<String>,
    #[schema(schema_with = super::openapi::body::email)]
    email: Option<String>,
}

/// Any of an account's changes.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: change reads the body with UserChange::from_json
struct AccountChange {
    #[schema(max_length = 200)]
    name: Option<String>,
    #[schema(schema_with = role)]
    role: Option<String>,
    /// `null` clears it.
    #[schema(schema_with = body_or_null)]
    body_id: Option<String>,
    active: Option<bool>,
    #[schema(min_length = 12)]
    password: Option<String>,
    /// `true` lifts the lock after failed sign-ins.
    unlock: Option<bool>,
}
