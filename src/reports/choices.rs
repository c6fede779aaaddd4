//! The last two columns of Appendix 2: "violation of the by-law on the service
//! procedure" and "actions (inaction) of staff". Administrators keep the choices;
//! operators record one of each on a ticket.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{report_choices, ticket_classifications, tickets};
use crate::db::{DbConn, DbError, new_id};

text_enum!(
    /// Which column a choice belongs to.
    ChoiceKind, "classification" {
        BylawViolation => "bylaw_violation",
        StaffAction => "staff_action",
    }
);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Choice {
    pub id: String,
    pub kind: String,
    pub code: String,
    pub name: crate::registry::Names,
    pub position: i32,
    pub active: bool,
}

type ChoiceRow = (String, String, String, String, String, i32, i32);

fn to_choice(r: ChoiceRow) -> Choice {
    Choice {
        id: r.0,
        kind: r.1,
        code: r.2,
        name: crate::registry::Names { kk: r.3, ru: r.4 },
        position: r.5,
        active: r.6 == 1,
    }
}

const COLS: (
    report_choices::id,
    report_choices::kind,
    report_choices::code,
    report_choices::name_kk,
    report_choices::name_ru,
    report_choices::position,
    report_choices::active,
) = (
    report_choices::id,
    report_choices::kind,
    report_choices::code,
    report_choices::name_kk,
    report_choices::name_ru,
    report_choices::position,
    report_choices::active,
);

pub fn list(conn: &mut DbConn) -> Result<Vec<Choice>, DbError> {
    let rows: Vec<ChoiceRow> = report_choices::table
        .order((
            report_choices::kind,
            report_choices::position,
            report_choices::code,
        ))
        .select(COLS)
        .load(conn)?;
    Ok(rows.into_iter().map(to_choice).collect())
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Choice>, DbError> {
    let row: Option<ChoiceRow> = report_choices::table
        .find(id)
        .select(COLS)
        .first(conn)
        .optional()?;
    Ok(row.map(to_choice))
}

/// Field errors, each (field, what to do).
pub type Invalid = Vec<(String, String)>;

fn check_name(v: &serde_json::Value, errors: &mut Invalid) -> Option<(String, String)> {
    let get = |l: &str| {
        v.get(l)
            .and_then(|x| x.as_str())
            .map(str::trim)
            .unwrap_or("")
    };
    let (kk, ru) = (get("kk"), get("ru"));
    let mut ok = true;
    for (l, s) in [("kk", kk), ("ru", ru)] {
        if s.is_empty() || s.chars().count() > 200 {
            errors.push((format!("name.{l}"), "required, 1-200 characters".into()));
            ok = false;
        }
    }
    ok.then(|| (kk.to_string(), ru.to_string()))
}

/// `{"kind", "code", "name": {"kk", "ru"}, "position"}`.
pub fn create(
    conn: &mut DbConn,
    v: &serde_json::Value,
) -> Result<Result<Choice, Invalid>, DbError> {
    let mut errors = Invalid::new();
    let kind = match v
        .get("kind")
        .and_then(|x| x.as_str())
        .map(ChoiceKind::parse)
    {
        Some(Ok(k)) => Some(k),
        _ => {
            errors.push((
                "kind".into(),
                "must be bylaw_violation or staff_action".into(),
            ));
            None
        }
    };
    let code = v
        .get("code")
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .trim()
        .to_string();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        errors.push((
            "code".into(),
            "required: 1-64 ASCII letters, digits, _ or -".into(),
        ));
    }
    let name = check_name(
        v.get("name").unwrap_or(&serde_json::Value::Null),
        &mut errors,
    );
    let position = match v.get("position") {
        None | Some(serde_json::Value::Null) => 0,
        Some(p) => match p
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| (0..=10_000).contains(p))
        {
            Some(p) => p,
            None => {
                errors.push(("position".into(), "a whole number 0-10000".into()));
                0
            }
        },
    };
    let (Some(kind), Some((kk, ru)), true) = (kind, name, errors.is_empty()) else {
        return Ok(Err(errors));
    };
    let exists: i64 = report_choices::table
        .filter(report_choices::kind.eq(kind.as_str()))
        .filter(report_choices::code.eq(&code))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Ok(Err(vec![(
            "code".into(),
            format!("`{code}` already exists for {}", kind.as_str()),
        )]));
    }
    let id = new_id();
    let now = crate::db::now();
    diesel::insert_into(report_choices::table)
        .values((
            report_choices::id.eq(&id),
            report_choices::kind.eq(kind.as_str()),
            report_choices::code.eq(&code),
            report_choices::name_kk.eq(&kk),
            report_choices::name_ru.eq(&ru),
            report_choices::position.eq(position),
            report_choices::active.eq(1),
            report_choices::created_at.eq(now),
            report_choices::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Ok(get(conn, &id)?.expect("just added")))
}

/// `{"name", "position", "active"}`, each optional.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    v: &serde_json::Value,
) -> Result<Option<Result<Choice, Invalid>>, DbError> {
    if get(conn, id)?.is_none() {
        return Ok(None);
    }
    let mut errors = Invalid::new();
    let name = v.get("name").map(|n| check_name(n, &mut errors));
    let active = match v.get("active") {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(i32::from(*b)),
        Some(_) => {
            errors.push(("active".into(), "true or false".into()));
            None
        }
    };
    let position = match v.get("position") {
        None => None,
        Some(p) => match p
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| (0..=10_000).contains(p))
        {
            Some(p) => Some(p),
            None => {
                errors.push(("position".into(), "a whole number 0-10000".into()));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Ok(Some(Err(errors)));
    }
    let now = crate::db::now();
    if let Some(Some((kk, ru))) = name {
        diesel::update(report_choices::table.find(id))
            .set((
                report_choices::name_kk.eq(kk),
                report_choices::name_ru.eq(ru),
            ))
            .execute(conn)?;
    }
    if let Some(a) = active {
        diesel::update(report_choices::table.find(id))
            .set(report_choices::active.eq(a))
            .execute(conn)?;
    }
    if let Some(p) = position {
        diesel::update(report_choices::table.find(id))
            .set(report_choices::position.eq(p))
            .execute(conn)?;
    }
    diesel::update(report_choices::table.find(id))
        .set(report_choices::updated_at.eq(now))
        .execute(conn)?;
    Ok(Some(Ok(get(conn, id)?.expect("exists"))))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Classification {
    pub number: String,
    pub bylaw_violation: Option<String>,
    pub staff_action: Option<String>,
    pub set_by: Option<String>,
}

pub enum SetError {
    NotFound,
    Invalid(Invalid),
}

/// `{"bylaw_violation": code|null, "staff_action": code|null}`: absent keys stay.
pub fn set_on_ticket(
    conn: &mut DbConn,
    number: &str,
    v: &serde_json::Value,
    actor: &str,
) -> Result<Result<Classification, SetError>, DbError> {
    let Some(ticket_id) = crate::tickets::find_id(conn, number)? else {
        return Ok(Err(SetError::NotFound));
    };
    let current: Option<(Option<String>, Option<String>)> = ticket_classifications::table
        .find(&ticket_id)
        .select((
            ticket_classifications::bylaw_violation,
            ticket_classifications::staff_action,
        ))
        .first(conn)
        .optional()?;
    let (mut bylaw, mut staff) = current.unwrap_or_default();
    let mut errors = Invalid::new();
    if !v.is_object() {
        errors.push((
            "body".into(),
            "send a JSON object with bylaw_violation and/or staff_action".into(),
        ));
    }
    for (kind, slot) in [
        (ChoiceKind::BylawViolation, &mut bylaw),
        (ChoiceKind::StaffAction, &mut staff),
    ] {
        match v.get(kind.as_str()) {
            None => {}
            Some(serde_json::Value::Null) => *slot = None,
            Some(serde_json::Value::String(code)) => {
                let ok: i64 = report_choices::table
                    .filter(report_choices::kind.eq(kind.as_str()))
                    .filter(report_choices::code.eq(code))
                    .filter(report_choices::active.eq(1))
                    .count()
                    .get_result(conn)?;
                if ok == 0 {
                    errors.push((
                        kind.as_str().into(),
                        format!(
                            "no active choice `{}`: see GET /api/v1/reports/choices",
                            code.chars().take(64).collect::<String>()
                        ),
                    ));
                } else {
                    *slot = Some(code.clone());
                }
            }
            Some(_) => errors.push((kind.as_str().into(), "a choice's code, or null".into())),
        }
    }
    if !errors.is_empty() {
        return Ok(Err(SetError::Invalid(errors)));
    }
    let now = crate::db::now();
    diesel::delete(ticket_classifications::table.find(&ticket_id)).execute(conn)?;
    diesel::insert_into(ticket_classifications::table)
        .values((
            ticket_classifications::ticket_id.eq(&ticket_id),
            ticket_classifications::bylaw_violation.eq(&bylaw),
            ticket_classifications::staff_action.eq(&staff),
            ticket_classifications::set_by.eq(actor),
            ticket_classifications::set_at.eq(now),
        ))
        .execute(conn)?;
    crate::tickets::event(
        conn,
        &ticket_id,
        actor,
        "classified",
        serde_json::json!({"bylaw_violation": bylaw, "staff_action": staff}),
    )?;
    let number: String = tickets::table
        .find(&ticket_id)
        .select(tickets::number)
        .first(conn)?;
    Ok(Ok(Classification {
        number,
        bylaw_violation: bylaw,
        staff_action: staff,
        set_by: Some(actor.to_string()),
    }))
}
