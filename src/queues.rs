//! Queues (operator groups, R8) as data an administrator keeps: names in Kazakh and
//! Russian, supervisors (user logins) and the deadline-reminder settings (R5).

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{queues, users};
use crate::db::{DbConn, DbError};

/// The queue intake files new tickets in.
pub const DEFAULT_QUEUE: &str = "general";
/// Reminders before the due instant are bounded to a week of working hours.
pub const MAX_REMINDER_HOURS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Queue {
    pub code: String,
    pub name_kk: String,
    pub name_ru: String,
    pub supervisors: Vec<String>,
    pub reminders_enabled: bool,
    /// Working hours before the due instant; `None`: the server's default.
    pub reminder_hours: Option<u32>,
    /// False: closed to new tickets and transfers; its tickets stay where they are.
    pub active: bool,
}

/// What a create or an update gives; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueInput {
    pub code: Option<String>,
    pub name_kk: Option<String>,
    pub name_ru: Option<String>,
    pub supervisors: Option<Vec<String>>,
    pub reminders_enabled: Option<bool>,
    pub reminder_hours: Option<u32>,
    pub active: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// (field, what to fix) pairs.
    #[error("the queue has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("no queue `{0}`")]
    NotFound(String),
    #[error("a queue `{0}` already exists: change it with an update")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for QueueError {
    fn from(e: diesel::result::Error) -> Self {
        QueueError::Db(DbError::Query(e))
    }
}

fn bad(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

/// A code is what tickets carry: short, lower-case, URL-safe.
pub fn check_code(code: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{code}` is not a queue code: 1-64 characters of a-z, 0-9, `_` and `-`"
        ))
    }
}

fn check_name(field: &str, name: &str, errors: &mut Vec<(String, String)>) -> String {
    let name = baylanys_core::clean_text(name.trim()).trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(bad(field, "give a name of 1-200 characters"));
    }
    name
}

impl QueueInput {
    /// Reads a JSON body field by field, so each mistake names its field.
    pub fn from_json(v: &serde_json::Value) -> Result<QueueInput, QueueError> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(QueueError::Invalid(vec![bad(
                "body",
                "send a JSON object, e.g. {\"code\": \"ict\", \"name_kk\": \"...\", \"name_ru\": \"...\"}",
            )]));
        };
        let mut input = QueueInput::default();
        for (key, value) in obj {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "code" | "name_kk" | "name_ru" => match value.as_str() {
                    Some(s) => {
                        let s = Some(s.to_string());
                        match key.as_str() {
                            "code" => input.code = s,
                            "name_kk" => input.name_kk = s,
                            _ => input.name_ru = s,
                        }
                    }
                    None => errors.push(bad(key, "must be a string")),
                },
                "supervisors" => match value.as_array() {
                    Some(list) => {
                        let mut logins = Vec::new();
                        for (i, l) in list.iter().enumerate() {
                            match l.as_str() {
                                Some(s) => logins.push(s.trim().to_string()),
                                None => errors.push(bad(
                                    &format!("supervisors[{i}]"),
                                    "must be a user login (a string)",
                                )),
                            }
                        }
                        input.supervisors = Some(logins);
                    }
                    None => errors.push(bad(key, "must be a list of user logins")),
                },
                "reminders_enabled" => match value.as_bool() {
                    Some(b) => input.reminders_enabled = Some(b),
                    None => errors.push(bad(key, "must be true or false")),
                },
                "active" => match value.as_bool() {
                    Some(b) => input.active = Some(b),
                    None => errors.push(bad(key, "must be true or false")),
                },
                "reminder_hours" => match value.as_u64() {
                    Some(h) if (1..=u64::from(MAX_REMINDER_HOURS)).contains(&h) => {
                        input.reminder_hours = Some(h as u32)
                    }
                    _ => errors.push(bad(
                        key,
                        format!("must be a whole number of working hours, 1-{MAX_REMINDER_HOURS}"),
                    )),
                },
                other => errors.push(bad(
                    other,
                    "unknown field: expected code, name_kk, name_ru, supervisors, reminders_enabled, reminder_hours, active",
                )),
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(QueueError::Invalid(errors))
        }
    }
}

type Row = (String, String, String, String, i32, Option<i32>, i32);

fn from_row(r: Row) -> Queue {
    Queue {
        code: r.0,
        name_kk: r.1,
        name_ru: r.2,
        supervisors: serde_json::from_str(&r.3).unwrap_or_default(),
        reminders_enabled: r.4 != 0,
        reminder_hours: r.5.and_then(|h| u32::try_from(h).ok()),
        active: r.6 != 0,
    }
}

const COLUMNS: (
    queues::code,
    queues::name_kk,
    queues::name_ru,
    queues::supervisors,
    queues::reminders_enabled,
    queues::reminder_hours,
    queues::active,
) = (
    queues::code,
    queues::name_kk,
    queues::name_ru,
    queues::supervisors,
    queues::reminders_enabled,
    queues::reminder_hours,
    queues::active,
);

pub fn list(conn: &mut DbConn) -> Result<Vec<Queue>, DbError> {
    let rows: Vec<Row> = queues::table
        .order(queues::code.asc())
        .select(COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub fn get(conn: &mut DbConn, code: &str) -> Result<Option<Queue>, DbError> {
    let row: Option<Row> = queues::table
        .find(code)
        .select(COLUMNS)
        .first(conn)
        .optional()?;
    Ok(row.map(from_row))
}

pub fn exists(conn: &mut DbConn, code: &str) -> Result<bool, DbError> {
    Ok(get(conn, code)?.is_some())
}

/// Whether tickets may be filed in or transferred to the queue.
pub fn is_open(conn: &mut DbConn, code: &str) -> Result<bool, DbError> {
    Ok(get(conn, code)?.is_some_and(|q| q.active))
}

/// Every supervisor must be an active user.
fn check_supervisors(
    conn: &mut DbConn,
    logins: &[String],
    errors: &mut Vec<(String, String)>,
) -> Result<(), DbError> {
    for (i, login) in logins.iter().enumerate() {
        let found: Option<String> = users::table
            .filter(users::login.eq(login))
            .filter(users::active.eq(1))
            .select(users::id)
            .first(conn)
            .optional()?;
        if found.is_none() {
            errors.push(bad(
                &format!("supervisors[{i}]"),
                format!("no active user `{login}`: add one with `baylanys user add`"),
            ));
        }
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, input: &QueueInput) -> Result<Queue, QueueError> {
    let mut errors = Vec::new();
    let code = input.code.clone().unwrap_or_default();
    if input.code.is_none() {
        errors.push(bad("code", "required: e.g. \"ict\""));
    } else if let Err(e) = check_code(&code) {
        errors.push(bad("code", e));
    }
    let name_kk = match &input.name_kk {
        Some(n) => check_name("name_kk", n, &mut errors),
        None => {
            errors.push(bad("name_kk", "required: the name in Kazakh"));
            String::new()
        }
    };
    let name_ru = match &input.name_ru {
        Some(n) => check_name("name_ru", n, &mut errors),
        None => {
            errors.push(bad("name_ru", "required: the name in Russian"));
            String::new()
        }
    };
    let supervisors = input.supervisors.clone().unwrap_or_default();
    check_supervisors(conn, &supervisors, &mut errors)?;
    if !errors.is_empty() {
        return Err(QueueError::Invalid(errors));
    }
    if exists(conn, &code)? {
        return Err(QueueError::Exists(code));
    }
    let now = crate::db::now();
    diesel::insert_into(queues::table)
        .values((
            queues::code.eq(&code),
            queues::name_kk.eq(&name_kk),
            queues::name_ru.eq(&name_ru),
            queues::supervisors.eq(serde_json::json!(supervisors).to_string()),
            queues::reminders_enabled.eq(i32::from(input.reminders_enabled.unwrap_or(true))),
            queues::reminder_hours.eq(input.reminder_hours.map(|h| h as i32)),
            queues::active.eq(i32::from(input.active.unwrap_or(true))),
            queues::created_at.eq(now),
            queues::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, &code)?.ok_or(QueueError::NotFound(code))
}

pub fn update(conn: &mut DbConn, code: &str, input: &QueueInput) -> Result<Queue, QueueError> {
    let Some(mut q) = get(conn, code)? else {
        return Err(QueueError::NotFound(code.to_string()));
    };
    let mut errors = Vec::new();
    if input.code.as_deref().is_some_and(|c| c != code) {
        errors.push(bad(
            "code",
            "a queue's code cannot change: tickets carry it; create a new queue instead",
        ));
    }
    if let Some(n) = &input.name_kk {
        q.name_kk = check_name("name_kk", n, &mut errors);
    }
    if let Some(n) = &input.name_ru {
        q.name_ru = check_name("name_ru", n, &mut errors);
    }
    if let Some(s) = &input.supervisors {
        check_supervisors(conn, s, &mut errors)?;
        q.supervisors = s.clone();
    }
    if let Some(b) = input.reminders_enabled {
        q.reminders_enabled = b;
    }
    if let Some(h) = input.reminder_hours {
        q.reminder_hours = Some(h);
    }
    if let Some(a) = input.active {
        if !a && code == DEFAULT_QUEUE {
            errors.push(bad(
                "active",
                format!("`{DEFAULT_QUEUE}` is where intake files new tickets: it stays open"),
            ));
        }
        q.active = a;
    }
    if !errors.is_empty() {
        return Err(QueueError::Invalid(errors));
    }
    diesel::update(queues::table.find(code))
        .set((
            queues::name_kk.eq(&q.name_kk),
            queues::name_ru.eq(&q.name_ru),
            queues::supervisors.eq(serde_json::json!(q.supervisors).to_string()),
            queues::reminders_enabled.eq(i32::from(q.reminders_enabled)),
            queues::reminder_hours.eq(q.reminder_hours.map(|h| h as i32)),
            queues::active.eq(i32::from(q.active)),
            queues::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(q)
}

/// A member of staff a notice can go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffAddress {
    pub user_id: String,
    pub login: String,
    pub email: Option<String>,
}

fn staff_where(
    conn: &mut DbConn,
    logins: Option<&[String]>,
    queue: Option<&str>,
) -> Result<Vec<StaffAddress>, DbError> {
    let mut q = users::table
        .filter(users::active.eq(1))
        .select((users::id, users::login, users::email))
        .order(users::login.asc())
        .into_boxed();
    if let Some(l) = logins {
        q = q.filter(users::login.eq_any(l.to_vec()));
    }
    if let Some(code) = queue {
        q = q.filter(users::queue.eq(code.to_string()));
    }
    let rows: Vec<(String, String, Option<String>)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, login, email)| StaffAddress {
            user_id,
            login,
            email,
        })
        .collect())
}

/// The queue's supervisors (active users).
pub fn supervisors_of(conn: &mut DbConn, queue: &Queue) -> Result<Vec<StaffAddress>, DbError> {
    if queue.supervisors.is_empty() {
        return Ok(Vec::new());
    }
    staff_where(conn, Some(&queue.supervisors), None)
}

/// The queue's members (users whose home queue it is).
pub fn members_of(conn: &mut DbConn, code: &str) -> Result<Vec<StaffAddress>, DbError> {
    staff_where(conn, None, Some(code))
}

/// One user as a notice recipient.
pub fn staff_by_id(conn: &mut DbConn, user_id: &str) -> Result<Option<StaffAddress>, DbError> {
    let row: Option<(String, String, Option<String>)> = users::table
        .find(user_id)
        .filter(users::active.eq(1))
        .select((users::id, users::login, users::email))
        .first(conn)
        .optional()?;
    Ok(row.map(|(user_id, login, email)| StaffAddress {
        user_id,
        login,
        email,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_lower_case_and_url_safe() {
        assert!(check_code("general").is_ok());
        assert!(check_code("ict-2").is_ok());
        assert!(check_code("").is_err());
        assert!(check_code("ICT").is_err());
        assert!(check_code("a/b").is_err());
        assert!(check_code(&"a".repeat(65)).is_err());
    }

    #[test]
    fn json_input_names_each_bad_field() {
        let v =
            serde_json::json!({"code": 5, "supervisors": ["a", 1], "reminder_hours": 0, "x": 1});
        let Err(QueueError::Invalid(errors)) = QueueInput::from_json(&v) else {
            panic!("invalid input accepted");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        for f in ["code", "supervisors[1]", "reminder_hours", "x"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }
}
