//! Staff accounts as an administrator keeps them: the list with each account's state
//! (active, locked after failed sign-ins, last sign-in), adding one, changing its name,
//! role and body, deactivating and reactivating it, a new password, lifting the sign-in
//! lock. One module behind the CLI (`baylanys user`), the API (`/api/v1/users`) and the
//! admin portal's pages, so all three check the same things.
//!
//! A deactivated account cannot sign in, its console sessions end and its API tokens are
//! revoked (reactivating it does not bring them back: new ones are issued). An
//! administrator cannot deactivate themself or take the admin role from themself, so an
//! active administrator always remains.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::{Role, User};
use crate::console::sessions;
use crate::db::schema::{api_tokens, sign_in_failures, users};
use crate::db::{DbConn, DbError};

/// Longest login (the sign-in form takes no longer one).
pub const MAX_LOGIN_CHARS: usize = sessions::MAX_LOGIN_CHARS;
/// Shortest password an administrator may set.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 200;

/// A staff account as the administrator sees it (never its password or tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StaffAccount {
    pub login: String,
    pub name: String,
    /// operator, supervisor, admin, editor, agency, ici, quality, informatization,
    /// ingest or pbx.
    #[schema(value_type = String, example = "operator")]
    pub role: Role,
    /// The registry body of an agency or ici user.
    pub body_id: Option<String>,
    /// Where staff notices go.
    pub email: Option<String>,
    pub active: bool,
    /// False for a token-only account (machines), which cannot sign in to the console.
    pub has_password: bool,
    /// Until when the console refuses this login after repeated failed sign-ins
    /// (Asia/Almaty, RFC 3339); absent when not locked.
    pub locked_until: Option<String>,
    /// Failed sign-ins on record since the last success or unlock.
    pub failed_sign_ins: i32,
    /// The last sign-in to the console (Asia/Almaty, RFC 3339), if any.
    pub last_sign_in_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// (field, what to fix) pairs.
    #[error("the user has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("no user `{0}`")]
    NotFound(String),
    #[error("a user with login `{0}` already exists: change it instead")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for UserError {
    fn from(e: diesel::result::Error) -> Self {
        UserError::Db(DbError::Query(e))
    }
}

fn bad(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

/// A new account, as given (strings, checked by [`create`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    pub login: String,
    /// Defaults to the login.
    pub name: Option<String>,
    pub role: String,
    /// `None`: a token-only account.
    pub password: Option<String>,
    pub body_id: Option<String>,
    pub email: Option<String>,
}

/// What a change gives; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    pub name: Option<String>,
    pub role: Option<String>,
    /// `Some(None)` clears the body.
    pub body_id: Option<Option<String>>,
    pub active: Option<bool>,
    pub password: Option<String>,
    /// Lift the sign-in lock.
    pub unlock: bool,
}

/// Logins are what staff type to sign in: short, lower-case, no spaces.
pub fn check_login(login: &str) -> Result<(), String> {
    let ok = (1..=MAX_LOGIN_CHARS).contains(&login.chars().count())
        && login.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a login: 1-{MAX_LOGIN_CHARS} characters of a-z, 0-9, `.`, `_`, `-` and `@`",
            crate::web::input::shown(login)
        ))
    }
}

pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(format!(
            "give a password of at least {MIN_PASSWORD_CHARS} characters (a few words are easy to remember)"
        ))
    } else if n > sessions::MAX_PASSWORD_CHARS {
        Err(format!(
            "give a password of at most {} characters",
            sessions::MAX_PASSWORD_CHARS
        ))
    } else if password.chars().any(char::is_control) {
        Err("a password cannot hold control characters".into())
    } else {
        Ok(())
    }
}

fn check_name(name: &str, errors: &mut Vec<(String, String)>) -> String {
    let name = baylanys_core::clean_text(name.trim()).trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.push(bad(
            "name",
            format!("give a name of 1-{MAX_NAME_CHARS} characters"),
        ));
    }
    name
}

fn parse_role(text: &str, errors: &mut Vec<(String, String)>) -> Option<Role> {
    match Role::parse(text.trim()) {
        Ok(r) => Some(r),
        Err(m) => {
            errors.push(bad("role", m));
            None
        }
    }
}

/// A body id as given: blank is none; anything but an id is named as the mistake.
fn given_body(b: Option<&str>, errors: &mut Vec<(String, String)>) -> Option<String> {
    let b = b.map(str::trim).filter(|b| !b.is_empty())?;
    match crate::web::input::record_id(b, "body") {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(bad(
                "body_id",
                format!(
                    "no body `{}` in the registry (see GET /api/v1/bodies)",
                    crate::web::input::shown(b)
                ),
            ));
            None
        }
    }
}

/// A login that cannot be stored is no account (and never reaches the database:
/// PostgreSQL refuses NUL in text).
fn storable(login: &str) -> bool {
    login.len() <= 256 && !login.chars().any(char::is_control)
}

fn string_of(
    key: &str,
    value: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match value.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            errors.push(bad(key, "must be a string"));
            None
        }
    }
}

fn object_of(
    v: &serde_json::Value,
    example: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, UserError> {
    v.as_object().cloned().ok_or_else(|| {
        UserError::Invalid(vec![bad(
            "body",
            format!("send a JSON object, e.g. {example}"),
        )])
    })
}

impl NewUser {
    /// Reads a JSON body field by field, so each mistake names its field.
    pub fn from_json(v: &serde_json::Value) -> Result<NewUser, UserError> {
        let obj = object_of(
            v,
            r#"{"login": "aliya", "name": "Әлия Сейтқали", "role": "operator", "password": "..."}"#,
        )?;
        let mut errors = Vec::new();
        let mut u = NewUser::default();
        let mut login = None;
        let mut role = None;
        for (key, value) in &obj {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "login" => login = string_of(key, value, &mut errors),
                "name" => u.name = string_of(key, value, &mut errors),
                "role" => role = string_of(key, value, &mut errors),
                "password" => u.password = string_of(key, value, &mut errors),
                "body_id" => u.body_id = string_of(key, value, &mut errors),
                "email" => u.email = string_of(key, value, &mut errors),
                other => errors.push(bad(
                    other,
                    "unknown field: expected login, name, role, password, body_id, email",
                )),
            }
        }
        match login {
            Some(l) => u.login = l,
            None if !errors.iter().any(|e| e.0 == "login") => {
                errors.push(bad("login", "required: what the user signs in with"))
            }
            None => {}
        }
        match role {
            Some(r) => u.role = r,
            None if !errors.iter().any(|e| e.0 == "role") => errors.push(bad(
                "role",
                "required: operator, supervisor, admin, editor, agency, ici, quality, informatization, ingest or pbx",
            )),
            None => {}
        }
        if errors.is_empty() {
            Ok(u)
        } else {
            Err(UserError::Invalid(errors))
        }
    }
}

impl UserChange {
    /// Reads a JSON body field by field; `null` clears `body_id`.
    pub fn from_json(v: &serde_json::Value) -> Result<UserChange, UserError> {
        let obj = object_of(v, r#"{"role": "supervisor"} or {"active": false}"#)?;
        let mut errors = Vec::new();
        let mut c = UserChange::default();
        for (key, value) in &obj {
            match (key.as_str(), value) {
                ("body_id", serde_json::Value::Null) => c.body_id = Some(None),
                (_, serde_json::Value::Null) => {}
                ("name", v) => c.name = string_of(key, v, &mut errors),
                ("role", v) => c.role = string_of(key, v, &mut errors),
                ("password", v) => c.password = string_of(key, v, &mut errors),
                ("body_id", v) => c.body_id = string_of(key, v, &mut errors).map(Some),
                ("active", v) => match v.as_bool() {
                    Some(b) => c.active = Some(b),
                    None => errors.push(bad(key, "must be true or false")),
                },
                ("unlock", v) => match v.as_bool() {
                    Some(b) => c.unlock = b,
                    None => errors.push(bad(key, "must be true (lift the sign-in lock)")),
                },
                (other, _) => errors.push(bad(
                    other,
                    "unknown field: expected name, role, body_id, active, password, unlock",
                )),
            }
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(UserError::Invalid(errors))
        }
    }
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i32,
    bool,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

type Lock = (i32, Option<NaiveDateTime>);

fn from_row(r: Row, lock: Option<&Lock>, now: DateTime<Utc>) -> Option<StaffAccount> {
    let (_, login, name, role, body_id, email, active, has_password, last, created) = r;
    let role = Role::parse(&role).ok()?;
    let shown = |t: NaiveDateTime| crate::calendar::format_almaty(t.and_utc());
    Some(StaffAccount {
        login,
        name,
        role,
        body_id,
        email,
        active: active != 0,
        has_password,
        locked_until: lock
            .and_then(|l| l.1)
            .filter(|u| *u > now.naive_utc())
            .map(shown),
        failed_sign_ins: lock.map_or(0, |l| l.0),
        last_sign_in_at: last.map(shown),
        created_at: shown(created),
    })
}

fn rows(conn: &mut DbConn, login: Option<&str>) -> Result<Vec<Row>, DbError> {
    let mut q = users::table
        .select((
            users::id,
            users::login,
            users::name,
            users::role,
            users::body_id,
            users::email,
            users::active,
            users::password_hash.is_not_null(),
            users::last_sign_in_at,
            users::created_at,
        ))
        .order(users::login.asc())
        .into_boxed();
    if let Some(l) = login {
        q = q.filter(users::login.eq(l.to_string()));
    }
    Ok(q.load(conn)?)
}

fn locks(conn: &mut DbConn, login: Option<&str>) -> Result<HashMap<String, Lock>, DbError> {
    let mut q = sign_in_failures::table
        .select((
            sign_in_failures::login,
            sign_in_failures::failures,
            sign_in_failures::locked_until,
        ))
        .into_boxed();
    if let Some(l) = login {
        q = q.filter(sign_in_failures::login.eq(l.to_string()));
    }
    let list: Vec<(String, i32, Option<NaiveDateTime>)> = q.load(conn)?;
    Ok(list.into_iter().map(|(l, n, u)| (l, (n, u))).collect())
}

/// Every staff account, by login.
pub fn list(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<StaffAccount>, DbError> {
    let locks = locks(conn, None)?;
    Ok(rows(conn, None)?
        .into_iter()
        .filter_map(|r| {
            let lock = locks.get(&r.1);
            from_row(r, lock, now)
        })
        .collect())
}

pub fn get(
    conn: &mut DbConn,
    login: &str,
    now: DateTime<Utc>,
) -> Result<Option<StaffAccount>, DbError> {
    if !storable(login) {
        return Ok(None);
    }
    let locks = locks(conn, Some(login))?;
    Ok(rows(conn, Some(login))?
        .into_iter()
        .next()
        .and_then(|r| from_row(r, locks.get(login), now)))
}

/// Adds an account after checking every field (each mistake named by its field).
pub fn create(
    conn: &mut DbConn,
    input: &NewUser,
    now: DateTime<Utc>,
) -> Result<StaffAccount, UserError> {
    let mut errors = Vec::new();
    let login = input.login.trim().to_string();
    if let Err(m) = check_login(&login) {
        errors.push(bad("login", m));
    }
    let name = match input.name.as_deref().map(str::trim) {
        None | Some("") => login.clone(),
        Some(n) => check_name(n, &mut errors),
    };
    let role = parse_role(&input.role, &mut errors);
    if let Some(p) = &input.password
        && let Err(m) = check_password(p)
    {
        errors.push(bad("password", m));
    }
    let email = match input.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => match crate::auth::check_email(e) {
            Ok(e) => Some(e),
            Err(m) => {
                errors.push(bad("email", m));
                None
            }
        },
    };
    let body = given_body(input.body_id.as_deref(), &mut errors);
    if let Some(role) = role
        && errors.iter().all(|e| e.0 != "body_id")
        && let Err(m) = crate::auth::check_body_for(conn, role, body.as_deref())?
    {
        errors.push(bad("body_id", m));
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(UserError::Invalid(errors));
    };
    if !rows(conn, Some(&login))?.is_empty() {
        return Err(UserError::Exists(login));
    }
    crate::auth::add_user_in(
        conn,
        &login,
        &name,
        role,
        input.password.as_deref(),
        body.as_deref(),
    )
    .map_err(|e| {
        if e.is_unique_violation() {
            UserError::Exists(login.clone())
        } else {
            e.into()
        }
    })?;
    if let Some(e) = &email {
        crate::auth::set_contact(conn, &login, Some(Some(e)), None)?;
    }
    get(conn, &login, now)?.ok_or(UserError::NotFound(login))
}

/// Changes an account; `by` is the administrator doing it.
pub fn change(
    conn: &mut DbConn,
    by: &User,
    login: &str,
    input: &UserChange,
    now: DateTime<Utc>,
) -> Result<StaffAccount, UserError> {
    let found = if storable(login) {
        rows(conn, Some(login))?.into_iter().next()
    } else {
        None
    };
    let Some(row) = found else {
        return Err(UserError::NotFound(login.to_string()));
    };
    let (id, current_role, current_body) = (row.0.clone(), row.3.clone(), row.4.clone());
    let current_role = Role::parse(&current_role).ok();
    let mut errors = Vec::new();
    let name = input.name.as_deref().map(|n| check_name(n, &mut errors));
    let role = match &input.role {
        Some(r) => parse_role(r, &mut errors),
        None => current_role,
    };
    let yourself = by.id == id;
    if yourself && role.is_some_and(|r| r != by.role) {
        errors.push(bad(
            "role",
            "you cannot change your own role: another administrator can",
        ));
    }
    if yourself && input.active == Some(false) {
        errors.push(bad(
            "active",
            "you cannot deactivate yourself: another administrator can",
        ));
    }
    if let Some(p) = &input.password
        && let Err(m) = check_password(p)
    {
        errors.push(bad("password", m));
    }
    let needs_body = matches!(role, Some(Role::Agency | Role::Ici));
    let body = match &input.body_id {
        Some(b) => given_body(b.as_deref(), &mut errors),
        // A role without a body leaves the old one behind.
        None if !needs_body => None,
        None => current_body.clone(),
    };
    let role_or_body_changed = role != current_role || body != current_body;
    if let Some(r) = role
        && role_or_body_changed
        && errors.iter().all(|e| e.0 != "body_id")
        && let Err(m) = crate::auth::check_body_for(conn, r, body.as_deref())?
    {
        errors.push(bad("body_id", m));
    }
    if !errors.is_empty() {
        return Err(UserError::Invalid(errors));
    }
    if let Some(n) = &name {
        diesel::update(users::table.find(&id))
            .set(users::name.eq(n))
            .execute(conn)?;
    }
    if let Some(r) = role
        && role_or_body_changed
    {
        diesel::update(users::table.find(&id))
            .set((users::role.eq(r.as_str()), users::body_id.eq(&body)))
            .execute(conn)?;
    }
    if let Some(p) = &input.password {
        let hash = crate::auth::hash_password(p).map_err(DbError::Unavailable)?;
        diesel::update(users::table.find(&id))
            .set(users::password_hash.eq(Some(hash)))
            .execute(conn)?;
        // Whoever knew the old password is signed out.
        sessions::end_all_of(conn, &id, now)?;
    }
    match input.active {
        Some(false) => {
            diesel::update(users::table.find(&id))
                .set(users::active.eq(0))
                .execute(conn)?;
            sessions::end_all_of(conn, &id, now)?;
            diesel::update(
                api_tokens::table
                    .filter(api_tokens::user_id.eq(&id))
                    .filter(api_tokens::revoked_at.is_null()),
            )
            .set(api_tokens::revoked_at.eq(Some(now.naive_utc())))
            .execute(conn)?;
        }
        Some(true) => {
            diesel::update(users::table.find(&id))
                .set(users::active.eq(1))
                .execute(conn)?;
        }
        None => {}
    }
    if input.unlock {
        unlock(conn, login)?;
    }
    tracing::info!(login, by = %by.login, "staff account changed");
    get(conn, login, now)?.ok_or(UserError::NotFound(login.to_string()))
}

/// Lifts the console's sign-in lock of a login; false when it had no failures on record.
pub fn unlock(conn: &mut DbConn, login: &str) -> Result<bool, DbError> {
    sessions::unlock(conn, login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_short_lower_case_without_spaces() {
        assert!(check_login("aliya").is_ok());
        assert!(check_login("a.seitkali@1414").is_ok());
        for bad in ["", "Aliya", "a b", "әлия", "a\u{0}", &"a".repeat(65)] {
            assert!(check_login(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(sessions::MAX_PASSWORD_CHARS + 1)).is_err());
        assert!(check_password("twelve chars\u{0}").is_err());
    }

    #[test]
    fn json_input_names_each_bad_field() {
        let v = serde_json::json!({"login": 5, "role": "boss", "x": 1});
        let Err(UserError::Invalid(errors)) = NewUser::from_json(&v) else {
            panic!("invalid input accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["login", "x"], "role is checked by create");
        let Err(UserError::Invalid(errors)) = NewUser::from_json(&serde_json::json!({})) else {
            panic!("an empty body accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["login", "role"]);
        let c = UserChange::from_json(&serde_json::json!({"body_id": null, "active": false}))
            .expect("a change");
        assert_eq!(c.body_id, Some(None));
        assert_eq!(c.active, Some(false));
        let Err(UserError::Invalid(errors)) =
            UserChange::from_json(&serde_json::json!({"active": "no", "unlock": 1}))
        else {
            panic!("invalid change accepted");
        };
        assert_eq!(errors.len(), 2);
    }
}
