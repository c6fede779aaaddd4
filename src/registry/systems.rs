//! The catalogue of e-government systems (O1): what outages name and bodies subscribe to.

use diesel::prelude::*;
use serde::Serialize;

use super::{Names, RegistryError, bad, names_from};
use crate::db::schema::systems;
use crate::db::{DbConn, DbError, now};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct System {
    pub code: String,
    pub name: Names,
}

/// `{"code": "egov-portal", "name": {"kk": ..., "ru": ...}}`; on update only `name`.
pub fn from_json(
    v: &serde_json::Value,
    creating: bool,
) -> Result<(Option<String>, Option<Names>), RegistryError> {
    let mut errors = Vec::new();
    let Some(obj) = v.as_object() else {
        return Err(RegistryError::Invalid(vec![bad(
            "body",
            "send a JSON object: {\"code\": \"egov-portal\", \"name\": {\"kk\": \"...\", \"ru\": \"...\"}}",
        )]));
    };
    let (mut code, mut name) = (None, None);
    for (key, value) in obj {
        match key.as_str() {
            "code" if creating => match value.as_str() {
                Some(c) => match super::bodies::check_system_code(c.trim()) {
                    Ok(()) => code = Some(c.trim().to_string()),
                    Err(m) => errors.push(bad("code", m)),
                },
                None => errors.push(bad("code", "must be a string")),
            },
            "name" => name = names_from("name", value, &mut errors),
            other => errors.push(bad(
                other,
                if creating {
                    "unknown field: expected code, name"
                } else {
                    "unknown field: expected name (a code does not change)"
                },
            )),
        }
    }
    if creating && code.is_none() && !errors.iter().any(|(f, _)| f == "code") {
        errors.push(bad("code", "give the system's code, e.g. \"egov-portal\""));
    }
    if name.is_none() && !errors.iter().any(|(f, _)| f.starts_with("name")) {
        errors.push(bad(
            "name",
            "give the name: {\"kk\": \"...\", \"ru\": \"...\"}",
        ));
    }
    if errors.is_empty() {
        Ok((code, name))
    } else {
        Err(RegistryError::Invalid(errors))
    }
}

fn from_row((code, kk, ru): (String, String, String)) -> System {
    System {
        code,
        name: Names { kk, ru },
    }
}

pub fn list(conn: &mut DbConn) -> Result<Vec<System>, DbError> {
    let rows: Vec<(String, String, String)> = systems::table
        .order(systems::code.asc())
        .select((systems::code, systems::name_kk, systems::name_ru))
        .load(conn)?;
    Ok(rows.into_iter().map(from_row).collect())
}

pub fn get(conn: &mut DbConn, code: &str) -> Result<Option<System>, DbError> {
    let row = systems::table
        .find(code)
        .select((systems::code, systems::name_kk, systems::name_ru))
        .first(conn)
        .optional()?;
    Ok(row.map(from_row))
}

/// The codes of `codes` that are not in the catalogue.
pub fn unknown(conn: &mut DbConn, codes: &[String]) -> Result<Vec<String>, DbError> {
    let known: Vec<String> = systems::table
        .filter(systems::code.eq_any(codes))
        .select(systems::code)
        .load(conn)?;
    Ok(codes
        .iter()
        .filter(|c| !known.contains(c))
        .cloned()
        .collect())
}

pub fn create(conn: &mut DbConn, code: &str, name: &Names) -> Result<System, RegistryError> {
    if get(conn, code)?.is_some() {
        return Err(RegistryError::Conflict(format!(
            "a system `{code}` already exists: change its name with PATCH"
        )));
    }
    let at = now();
    diesel::insert_into(systems::table)
        .values((
            systems::code.eq(code),
            systems::name_kk.eq(&name.kk),
            systems::name_ru.eq(&name.ru),
            systems::created_at.eq(at),
            systems::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    Ok(System {
        code: code.into(),
        name: name.clone(),
    })
}

pub fn rename(conn: &mut DbConn, code: &str, name: &Names) -> Result<System, RegistryError> {
    let n = diesel::update(systems::table.find(code))
        .set((
            systems::name_kk.eq(&name.kk),
            systems::name_ru.eq(&name.ru),
            systems::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    if n == 0 {
        return Err(RegistryError::NotFound(format!("no system `{code}`")));
    }
    Ok(System {
        code: code.into(),
        name: name.clone(),
    })
}
