//! Bodies and their responsible persons.

use diesel::prelude::*;
use serde::Serialize;

use super::{BodyKind, DigestPeriod, Names, RegistryError, bad, clean, names_from, strings_from};
use crate::db::schema::{bodies, body_persons, body_systems};
use crate::db::{DbConn, DbError, new_id, now};

/// The longest reference pattern an administrator may set (a regex, compiled per mail).
const MAX_PATTERN: usize = 200;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Body {
    pub id: String,
    pub kind: BodyKind,
    pub name: Names,
    pub region: Option<String>,
    pub email: Option<String>,
    pub phones: Vec<String>,
    pub address: Option<String>,
    pub website: Option<String>,
    pub working_hours: Option<String>,
    pub webhook_url: Option<String>,
    /// The shared secret is never shown after it was set; this says whether there is one.
    pub webhook_secret_set: bool,
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    pub ref_pattern: Option<String>,
    /// Whether a chat was linked for outage notices (`/link CODE`).
    pub telegram_linked: bool,
    #[serde(skip)]
    pub telegram_chat_id: Option<String>,
    pub digest: DigestPeriod,
    pub active: bool,
    /// Codes of the systems it subscribes to for outage notices.
    pub systems: Vec<String>,
    pub persons: Vec<Person>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub id: String,
    pub body_id: String,
    pub name: String,
    pub position: Option<String>,
    pub phones: Vec<String>,
    pub email: Option<String>,
    #[serde(skip)]
    pub telegram_chat_id: Option<String>,
    pub telegram_linked: bool,
    /// Member of the ICI operator's group of responsible persons (001 §17.3).
    pub ict_group: bool,
    pub active: bool,
}

/// A create or an update; absent fields stay as they are, `null` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct BodyInput {
    pub kind: Option<BodyKind>,
    pub name: Option<Names>,
    pub region: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phones: Option<Vec<String>>,
    pub address: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub working_hours: Option<Option<String>>,
    pub webhook_url: Option<Option<String>>,
    pub webhook_secret: Option<Option<String>>,
    pub ref_pattern: Option<Option<String>>,
    pub digest: Option<DigestPeriod>,
    pub active: Option<bool>,
    pub systems: Option<Vec<String>>,
    /// Only on create: the first responsible persons.
    pub persons: Vec<PersonInput>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonInput {
    pub name: Option<String>,
    pub position: Option<Option<String>>,
    pub phones: Option<Vec<String>>,
    pub email: Option<Option<String>>,
    pub ict_group: Option<bool>,
    pub active: Option<bool>,
}

const BODY_FIELDS: &str = "kind, name, region, email, phones, address, website, working_hours, \
     webhook_url, webhook_secret, ref_pattern, digest, active, systems, persons";
const PERSON_FIELDS: &str = "name, position, phones, email, ict_group, active";

/// An optional string: `null` clears it, an empty string too.
fn opt_text(
    field: &str,
    v: &serde_json::Value,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> Option<Option<String>> {
    match v {
        serde_json::Value::Null => Some(None),
        serde_json::Value::String(s) => {
            let s = clean(field, s, max, errors);
            Some((!s.is_empty()).then_some(s))
        }
        _ => {
            errors.push(bad(field, "must be a string or null"));
            None
        }
    }
}

fn opt_email(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<Option<String>> {
    match opt_text(field, v, 254, errors)? {
        None => Some(None),
        Some(e) => match crate::auth::check_email(&e) {
            Ok(e) => Some(Some(e)),
            Err(m) => {
                errors.push(bad(field, m));
                None
            }
        },
    }
}

/// A code of an e-government system: what outages and subscriptions name.
pub fn check_system_code(code: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&code.len())
        && code.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' || c == '.'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{code}` is not a system code: 1-64 characters of a-z, 0-9, `_`, `-` and `.`"
        ))
    }
}

/// A webhook address: http or https with a host.
pub fn check_webhook_url(s: &str) -> Result<String, String> {
    match url::Url::parse(s) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
            Ok(u.to_string())
        }
        Ok(_) => Err(format!(
            "`{s}` must be an http:// or https:// URL with a host"
        )),
        Err(e) => Err(format!("`{s}` is not a URL ({e})")),
    }
}

/// A pattern of the body's own reference numbers: a regular expression, bounded in size.
pub fn check_ref_pattern(s: &str) -> Result<regex::Regex, String> {
    if s.len() > MAX_PATTERN {
        return Err(format!("is longer than {MAX_PATTERN} characters"));
    }
    regex::RegexBuilder::new(s)
        .size_limit(1 << 16)
        .build()
        .map_err(|e| format!("is not a regular expression: {e}"))
}

impl PersonInput {
    pub fn from_json(prefix: &str, v: &serde_json::Value) -> Result<PersonInput, RegistryError> {
        let mut errors = Vec::new();
        let input = Self::read(prefix, v, &mut errors);
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(RegistryError::Invalid(errors))
        }
    }

    fn read(
        prefix: &str,
        v: &serde_json::Value,
        errors: &mut Vec<(String, String)>,
    ) -> PersonInput {
        let mut p = PersonInput::default();
        let Some(obj) = v.as_object() else {
            let field = if prefix.is_empty() { "body" } else { prefix };
            errors.push(bad(
                field,
                "send a JSON object, e.g. {\"name\": \"...\", \"position\": \"...\", \"email\": \"...\"}",
            ));
            return p;
        };
        let f = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        for (key, value) in obj {
            let field = f(key);
            match key.as_str() {
                "name" => match value.as_str() {
                    Some(s) => {
                        let s = clean(&field, s, 300, errors);
                        if s.is_empty() {
                            errors.push(bad(&field, "must not be empty"));
                        }
                        p.name = Some(s);
                    }
                    None => errors.push(bad(&field, "must be a string")),
                },
                "position" => p.position = opt_text(&field, value, 300, errors),
                "phones" => p.phones = Some(strings_from(&field, value, 40, errors)),
                "email" => p.email = opt_email(&field, value, errors),
                "ict_group" | "active" => match value.as_bool() {
                    Some(b) if key == "ict_group" => p.ict_group = Some(b),
                    Some(b) => p.active = Some(b),
                    None => errors.push(bad(&field, "must be true or false")),
                },
                _ => errors.push(bad(
                    &field,
                    format!("unknown field: expected {PERSON_FIELDS}"),
                )),
            }
        }
        p
    }
}

impl BodyInput {
    /// Reads a JSON body field by field, so each mistake names its field.
    pub fn from_json(v: &serde_json::Value) -> Result<BodyInput, RegistryError> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(RegistryError::Invalid(vec![bad(
                "body",
                "send a JSON object, e.g. {\"kind\": \"central_state_body\", \"name\": {\"kk\": \"...\", \"ru\": \"...\"}, \"email\": \"...\", \"systems\": []}",
            )]));
        };
        let mut b = BodyInput::default();
        for (key, value) in obj {
            let field = key.as_str();
            match field {
                "kind" => match value.as_str().map(BodyKind::parse) {
                    Some(Ok(k)) => b.kind = Some(k),
                    Some(Err(m)) => errors.push(bad(field, m)),
                    None => errors.push(bad(field, "must be a string")),
                },
                "name" => b.name = names_from(field, value, &mut errors),
                "region" => b.region = opt_text(field, value, 200, &mut errors),
                "email" => b.email = opt_email(field, value, &mut errors),
                "phones" => b.phones = Some(strings_from(field, value, 40, &mut errors)),
                "address" => b.address = opt_text(field, value, 500, &mut errors),
                "website" => b.website = opt_text(field, value, 500, &mut errors),
                "working_hours" => b.working_hours = opt_text(field, value, 300, &mut errors),
                "webhook_url" => {
                    b.webhook_url = match opt_text(field, value, 2000, &mut errors) {
                        Some(Some(u)) => match check_webhook_url(&u) {
                            Ok(u) => Some(Some(u)),
                            Err(m) => {
                                errors.push(bad(field, m));
                                None
                            }
                        },
                        other => other,
                    }
                }
                "webhook_secret" => {
                    b.webhook_secret = opt_text(field, value, 200, &mut errors);
                    if let Some(Some(s)) = &b.webhook_secret
                        && s.len() < 16
                    {
                        errors.push(bad(field, "must be at least 16 characters"));
                    }
                }
                "ref_pattern" => {
                    b.ref_pattern = match opt_text(field, value, MAX_PATTERN, &mut errors) {
                        Some(Some(p)) => match check_ref_pattern(&p) {
                            Ok(_) => Some(Some(p)),
                            Err(m) => {
                                errors.push(bad(field, m));
                                None
                            }
                        },
                        other => other,
                    }
                }
                "digest" => match value.as_str().map(DigestPeriod::parse) {
                    Some(Ok(d)) => b.digest = Some(d),
                    Some(Err(m)) => errors.push(bad(field, m)),
                    None => errors.push(bad(field, "must be a string")),
                },
                "active" => match value.as_bool() {
                    Some(a) => b.active = Some(a),
                    None => errors.push(bad(field, "must be true or false")),
                },
                "systems" => {
                    let codes = strings_from(field, value, 64, &mut errors);
                    for (i, c) in codes.iter().enumerate() {
                        if let Err(m) = check_system_code(c) {
                            errors.push(bad(&format!("systems[{i}]"), m));
                        }
                    }
                    b.systems = Some(codes);
                }
                "persons" => match value.as_array() {
                    Some(list) => {
                        for (i, p) in list.iter().enumerate() {
                            let prefix = format!("persons[{i}]");
                            let person = PersonInput::read(&prefix, p, &mut errors);
                            if person.name.is_none() {
                                errors
                                    .push(bad(&format!("{prefix}.name"), "give the person's name"));
                            }
                            b.persons.push(person);
                        }
                    }
                    None => errors.push(bad(field, "must be a list of persons")),
                },
                other => errors.push(bad(other, format!("unknown field: expected {BODY_FIELDS}"))),
            }
        }
        if errors.is_empty() {
            Ok(b)
        } else {
            Err(RegistryError::Invalid(errors))
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = bodies)]
struct BodyRow {
    id: String,
    kind: String,
    name_kk: String,
    name_ru: String,
    region: Option<String>,
    email: Option<String>,
    phones: String,
    address: Option<String>,
    website: Option<String>,
    working_hours: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    ref_pattern: Option<String>,
    telegram_chat_id: Option<String>,
    digest: String,
    active: i32,
}

fn body_from(r: BodyRow) -> Body {
    Body {
        id: r.id,
        // Rows are written through BodyKind, so an unknown kind is a hand edit.
        kind: BodyKind::parse(&r.kind).unwrap_or(BodyKind::ServiceProvider),
        name: Names {
            kk: r.name_kk,
            ru: r.name_ru,
        },
        region: r.region,
        email: r.email,
        phones: serde_json::from_str(&r.phones).unwrap_or_default(),
        address: r.address,
        website: r.website,
        working_hours: r.working_hours,
        webhook_url: r.webhook_url,
        webhook_secret_set: r.webhook_secret.is_some(),
        webhook_secret: r.webhook_secret,
        ref_pattern: r.ref_pattern,
        telegram_linked: r.telegram_chat_id.is_some(),
        telegram_chat_id: r.telegram_chat_id,
        digest: DigestPeriod::parse(&r.digest).unwrap_or(DigestPeriod::None),
        active: r.active != 0,
        systems: Vec::new(),
        persons: Vec::new(),
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = body_persons)]
struct PersonRow {
    id: String,
    body_id: String,
    name: String,
    position: Option<String>,
    phones: String,
    email: Option<String>,
    telegram_chat_id: Option<String>,
    ict_group: i32,
    active: i32,
}

fn person_from(r: PersonRow) -> Person {
    Person {
        id: r.id,
        body_id: r.body_id,
        name: r.name,
        position: r.position,
        phones: serde_json::from_str(&r.phones).unwrap_or_default(),
        email: r.email,
        telegram_linked: r.telegram_chat_id.is_some(),
        telegram_chat_id: r.telegram_chat_id,
        ict_group: r.ict_group != 0,
        active: r.active != 0,
    }
}

/// Loads a body's subscriptions and persons into it.
fn complete(conn: &mut DbConn, mut body: Body) -> Result<Body, DbError> {
    body.systems = body_systems::table
        .filter(body_systems::body_id.eq(&body.id))
        .order(body_systems::system_code.asc())
        .select(body_systems::system_code)
        .load(conn)?;
    body.persons = persons_of(conn, &body.id)?;
    Ok(body)
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Body>, DbError> {
    let row: Option<BodyRow> = bodies::table
        .find(id)
        .select(BodyRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| complete(conn, body_from(r))).transpose()
}

/// What a list of bodies is filtered by.
#[derive(Debug, Clone, Default)]
pub struct BodyFilter {
    pub kind: Option<BodyKind>,
    /// Subscribed to this system.
    pub system: Option<String>,
    /// Part of a name, either language, case-insensitive.
    pub q: Option<String>,
    pub include_inactive: bool,
}

pub fn list(conn: &mut DbConn, filter: &BodyFilter) -> Result<Vec<Body>, DbError> {
    let mut query = bodies::table.select(BodyRow::as_select()).into_boxed();
    if let Some(k) = filter.kind {
        query = query.filter(bodies::kind.eq(k.as_str()));
    }
    if !filter.include_inactive {
        query = query.filter(bodies::active.eq(1));
    }
    if let Some(code) = &filter.system {
        let ids = body_systems::table
            .filter(body_systems::system_code.eq(code.clone()))
            .select(body_systems::body_id);
        query = query.filter(bodies::id.eq_any(ids));
    }
    let rows: Vec<BodyRow> = query.order(bodies::name_ru.asc()).load(conn)?;
    let needle = filter.q.as_ref().map(|q| q.to_lowercase());
    let mut out = Vec::new();
    for r in rows {
        let b = body_from(r);
        if let Some(n) = &needle
            && !b.name.kk.to_lowercase().contains(n)
            && !b.name.ru.to_lowercase().contains(n)
        {
            continue;
        }
        out.push(complete(conn, b)?);
    }
    Ok(out)
}

pub fn persons_of(conn: &mut DbConn, body_id: &str) -> Result<Vec<Person>, DbError> {
    let rows: Vec<PersonRow> = body_persons::table
        .filter(body_persons::body_id.eq(body_id))
        .order((body_persons::created_at.asc(), body_persons::id.asc()))
        .select(PersonRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(person_from).collect())
}

pub fn person(conn: &mut DbConn, id: &str) -> Result<Option<Person>, DbError> {
    let row: Option<PersonRow> = body_persons::table
        .find(id)
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(person_from))
}

fn set_systems(conn: &mut DbConn, body_id: &str, codes: &[String]) -> Result<(), DbError> {
    diesel::delete(body_systems::table.filter(body_systems::body_id.eq(body_id))).execute(conn)?;
    for code in codes {
        diesel::insert_into(body_systems::table)
            .values((
                body_systems::body_id.eq(body_id),
                body_systems::system_code.eq(code),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Adds a body (and the persons given with it). Returns it with, when the caller gave a
/// webhook URL but no secret, a generated secret: the only time it is shown.
pub fn create(
    conn: &mut DbConn,
    input: &BodyInput,
) -> Result<(Body, Option<String>), RegistryError> {
    create_with_id(conn, &new_id(), input)
}

/// [`create`] with a given id (a CSV import keeps ids, so a round trip is the same registry).
pub fn create_with_id(
    conn: &mut DbConn,
    id: &str,
    input: &BodyInput,
) -> Result<(Body, Option<String>), RegistryError> {
    let mut errors = Vec::new();
    if input.kind.is_none() {
        errors.push(bad("kind", "give the body's kind"));
    }
    if input.name.is_none() {
        errors.push(bad(
            "name",
            "give the name: {\"kk\": \"...\", \"ru\": \"...\"}",
        ));
    }
    if !errors.is_empty() {
        return Err(RegistryError::Invalid(errors));
    }
    let (Some(kind), Some(name)) = (input.kind, input.name.as_ref()) else {
        unreachable!("checked above");
    };
    let generated = match (&input.webhook_url, &input.webhook_secret) {
        (Some(Some(_)), None | Some(None)) => Some(crate::auth::random_secret()),
        _ => None,
    };
    let secret = generated
        .clone()
        .or_else(|| input.webhook_secret.clone().flatten());
    let id = id.to_string();
    let at = now();
    let flat = |o: &Option<Option<String>>| o.clone().flatten();
    diesel::insert_into(bodies::table)
        .values((
            bodies::id.eq(&id),
            bodies::kind.eq(kind.as_str()),
            bodies::name_kk.eq(&name.kk),
            bodies::name_ru.eq(&name.ru),
            bodies::region.eq(flat(&input.region)),
            bodies::email.eq(flat(&input.email)),
            bodies::phones.eq(
                serde_json::to_string(&input.phones.clone().unwrap_or_default())
                    .expect("strings serialise"),
            ),
            bodies::address.eq(flat(&input.address)),
            bodies::website.eq(flat(&input.website)),
            bodies::working_hours.eq(flat(&input.working_hours)),
            bodies::webhook_url.eq(flat(&input.webhook_url)),
            bodies::webhook_secret.eq(secret),
            bodies::ref_pattern.eq(flat(&input.ref_pattern)),
            bodies::digest.eq(input.digest.unwrap_or(DigestPeriod::None).as_str()),
            bodies::active.eq(i32::from(input.active.unwrap_or(true))),
            bodies::created_at.eq(at),
            bodies::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    set_systems(conn, &id, input.systems.as_deref().unwrap_or_default())?;
    for p in &input.persons {
        add_person(conn, &id, p)?;
    }
    let body = get(conn, &id)?.ok_or_else(|| RegistryError::NotFound(format!("no body `{id}`")))?;
    Ok((body, generated))
}

/// Changes the fields given. Returns the body and a generated webhook secret when a URL
/// was set on a body that had no secret.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    input: &BodyInput,
) -> Result<(Body, Option<String>), RegistryError> {
    let Some(before) = get(conn, id)? else {
        return Err(RegistryError::NotFound(format!("no body `{id}`")));
    };
    if !input.persons.is_empty() {
        return Err(RegistryError::Invalid(vec![bad(
            "persons",
            "change persons through /api/v1/bodies/{id}/persons",
        )]));
    }
    let at = now();
    macro_rules! set {
        ($col:expr, $val:expr) => {
            diesel::update(bodies::table.find(id))
                .set(($col.eq($val), bodies::updated_at.eq(at)))
                .execute(conn)
                .map_err(DbError::Query)?;
        };
    }
    if let Some(k) = input.kind {
        set!(bodies::kind, k.as_str());
    }
    if let Some(n) = &input.name {
        set!(bodies::name_kk, &n.kk);
        set!(bodies::name_ru, &n.ru);
    }
    if let Some(v) = &input.region {
        set!(bodies::region, v);
    }
    if let Some(v) = &input.email {
        set!(bodies::email, v);
    }
    if let Some(v) = &input.phones {
        set!(
            bodies::phones,
            serde_json::to_string(v).expect("strings serialise")
        );
    }
    if let Some(v) = &input.address {
        set!(bodies::address, v);
    }
    if let Some(v) = &input.website {
        set!(bodies::website, v);
    }
    if let Some(v) = &input.working_hours {
        set!(bodies::working_hours, v);
    }
    if let Some(v) = &input.webhook_url {
        set!(bodies::webhook_url, v);
    }
    let mut generated = None;
    match &input.webhook_secret {
        Some(v) => {
            set!(bodies::webhook_secret, v);
        }
        None => {
            if matches!(input.webhook_url, Some(Some(_))) && !before.webhook_secret_set {
                let s = crate::auth::random_secret();
                set!(bodies::webhook_secret, Some(&s));
                generated = Some(s);
            }
        }
    }
    if let Some(v) = &input.ref_pattern {
        set!(bodies::ref_pattern, v);
    }
    if let Some(d) = input.digest {
        set!(bodies::digest, d.as_str());
    }
    if let Some(a) = input.active {
        set!(bodies::active, i32::from(a));
    }
    if let Some(codes) = &input.systems {
        set_systems(conn, id, codes)?;
    }
    let body = get(conn, id)?.ok_or_else(|| RegistryError::NotFound(format!("no body `{id}`")))?;
    Ok((body, generated))
}

pub fn add_person(
    conn: &mut DbConn,
    body_id: &str,
    p: &PersonInput,
) -> Result<Person, RegistryError> {
    add_person_with_id(conn, &new_id(), body_id, p)
}

/// [`add_person`] with a given id (CSV import).
pub fn add_person_with_id(
    conn: &mut DbConn,
    id: &str,
    body_id: &str,
    p: &PersonInput,
) -> Result<Person, RegistryError> {
    let Some(name) = p.name.as_ref().filter(|n| !n.is_empty()) else {
        return Err(RegistryError::Invalid(vec![bad(
            "name",
            "give the person's name",
        )]));
    };
    let exists: Option<String> = bodies::table
        .find(body_id)
        .select(bodies::id)
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    if exists.is_none() {
        return Err(RegistryError::NotFound(format!("no body `{body_id}`")));
    }
    let id = id.to_string();
    let at = now();
    diesel::insert_into(body_persons::table)
        .values((
            body_persons::id.eq(&id),
            body_persons::body_id.eq(body_id),
            body_persons::name.eq(name),
            body_persons::position.eq(p.position.clone().flatten()),
            body_persons::phones.eq(serde_json::to_string(&p.phones.clone().unwrap_or_default())
                .expect("strings serialise")),
            body_persons::email.eq(p.email.clone().flatten()),
            body_persons::ict_group.eq(i32::from(p.ict_group.unwrap_or(false))),
            body_persons::active.eq(i32::from(p.active.unwrap_or(true))),
            body_persons::created_at.eq(at),
            body_persons::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    person(conn, &id)?.ok_or_else(|| RegistryError::NotFound(format!("no person `{id}`")))
}

pub fn update_person(
    conn: &mut DbConn,
    body_id: &str,
    person_id: &str,
    p: &PersonInput,
) -> Result<Person, RegistryError> {
    let found = person(conn, person_id)?.filter(|x| x.body_id == body_id);
    if found.is_none() {
        return Err(RegistryError::NotFound(format!(
            "no person `{person_id}` in body `{body_id}`"
        )));
    }
    let at = now();
    macro_rules! set {
        ($col:expr, $val:expr) => {
            diesel::update(body_persons::table.find(person_id))
                .set(($col.eq($val), body_persons::updated_at.eq(at)))
                .execute(conn)
                .map_err(DbError::Query)?;
        };
    }
    if let Some(n) = &p.name {
        set!(body_persons::name, n);
    }
    if let Some(v) = &p.position {
        set!(body_persons::position, v);
    }
    if let Some(v) = &p.phones {
        set!(
            body_persons::phones,
            serde_json::to_string(v).expect("strings serialise")
        );
    }
    if let Some(v) = &p.email {
        set!(body_persons::email, v);
    }
    if let Some(v) = p.ict_group {
        set!(body_persons::ict_group, i32::from(v));
    }
    if let Some(v) = p.active {
        set!(body_persons::active, i32::from(v));
    }
    person(conn, person_id)?
        .ok_or_else(|| RegistryError::NotFound(format!("no person `{person_id}`")))
}

/// The ICI operator body (the first active one): the default target of ICT forwards.
pub fn ici_operator(conn: &mut DbConn) -> Result<Option<Body>, DbError> {
    let row: Option<BodyRow> = bodies::table
        .filter(bodies::kind.eq(BodyKind::IciOperator.as_str()))
        .filter(bodies::active.eq(1))
        .order(bodies::created_at.asc())
        .select(BodyRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| complete(conn, body_from(r))).transpose()
}
