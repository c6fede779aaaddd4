//! Services (F5-F7): the Appendix 1 form of 001 (number in the register, names, by-laws
//! and their changes, web page, responsible person, providing body) and the passport of
//! 002 §10-11, in Kazakh and Russian where citizens read it.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Names, RegistryError, bad, clean, names_from, names_up_to, strings_from};
use crate::db::schema::{bodies, body_persons, services};
use crate::db::{DbConn, DbError, new_id, now};

text_enum!(
    /// How a service is given (002 §10: "electronic (fully or partly automated), paper").
    ServiceForm, "service form" {
        ElectronicFull => "electronic_full",
        ElectronicPartial => "electronic_partial",
        Paper => "paper",
    }
);

/// The passport's texts for citizens, both languages each.
pub const PASSPORT_TEXTS: [&str; 8] = [
    "term",
    "result",
    "fee",
    "schedule",
    "documents",
    "refusal_grounds",
    "complaints",
    "other_requirements",
];

/// The service passport (002 §10-11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Passport {
    pub term: Option<NamesOwned>,
    pub forms: Vec<String>,
    pub result: Option<NamesOwned>,
    pub fee: Option<NamesOwned>,
    pub schedule: Option<NamesOwned>,
    pub documents: Option<NamesOwned>,
    pub refusal_grounds: Option<NamesOwned>,
    pub complaints: Option<NamesOwned>,
    pub other_requirements: Option<NamesOwned>,
    /// The Unified Contact Center's number given in the passport.
    pub ucc_number: String,
}

/// A text in both languages, stored in the passport JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NamesOwned {
    pub kk: String,
    pub ru: String,
}

impl From<Names> for NamesOwned {
    fn from(n: Names) -> Self {
        NamesOwned { kk: n.kk, ru: n.ru }
    }
}

impl Passport {
    pub fn text(&self, key: &str) -> Option<&NamesOwned> {
        match key {
            "term" => self.term.as_ref(),
            "result" => self.result.as_ref(),
            "fee" => self.fee.as_ref(),
            "schedule" => self.schedule.as_ref(),
            "documents" => self.documents.as_ref(),
            "refusal_grounds" => self.refusal_grounds.as_ref(),
            "complaints" => self.complaints.as_ref(),
            "other_requirements" => self.other_requirements.as_ref(),
            _ => None,
        }
    }

    pub fn set_text(&mut self, key: &str, v: Option<NamesOwned>) {
        match key {
            "term" => self.term = v,
            "result" => self.result = v,
            "fee" => self.fee = v,
            "schedule" => self.schedule = v,
            "documents" => self.documents = v,
            "refusal_grounds" => self.refusal_grounds = v,
            "complaints" => self.complaints = v,
            "other_requirements" => self.other_requirements = v,
            _ => {}
        }
    }
}

pub const DEFAULT_UCC_NUMBER: &str = "1414";
const MAX_KEYWORDS: usize = 50;
const MAX_BYLAWS: usize = 4000;
const MAX_PASSPORT_TEXT: usize = 8000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
    pub position: Option<String>,
    pub phones: Vec<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: String,
    pub register_number: String,
    pub name: Names,
    /// The providing body.
    pub body_id: String,
    pub body_name: Option<Names>,
    pub standard_body_id: Option<String>,
    pub responsible_person_id: Option<String>,
    pub responsible_person: Option<PersonRef>,
    pub bylaws: String,
    pub bylaw_changes: String,
    pub web_page: Option<String>,
    pub passport: Passport,
    pub keywords: Vec<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A create or an update: absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    pub register_number: Option<String>,
    pub name: Option<Names>,
    pub body: Option<String>,
    pub standard_body: Option<Option<String>>,
    pub responsible_person: Option<Option<String>>,
    pub bylaws: Option<String>,
    pub bylaw_changes: Option<String>,
    pub web_page: Option<Option<String>>,
    /// Passport keys given (each replaces that key only).
    pub passport: Vec<PassportChange>,
    pub keywords: Option<Vec<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone)]
pub enum PassportChange {
    Text(&'static str, Option<NamesOwned>),
    Forms(Vec<String>),
    UccNumber(String),
}

const SERVICE_FIELDS: &str = "register_number, name, body, standard_body, responsible_person, \
     bylaws, bylaw_changes, web_page, passport, keywords, active";
const PASSPORT_FIELDS: &str = "term, forms, result, fee, schedule, documents, refusal_grounds, \
     complaints, other_requirements, ucc_number";

/// A record id as the registry writes them (a UUID), so a path or a CSV cell cannot be
/// anything else.
pub(crate) fn id_from(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match v.as_str().map(str::trim) {
        Some(s) if uuid::Uuid::parse_str(s).is_ok() => Some(s.to_ascii_lowercase()),
        Some(s) => {
            errors.push(bad(
                field,
                format!(
                    "`{}` is not a record id (a UUID from the registry)",
                    crate::web::input::shown(s)
                ),
            ));
            None
        }
        None => {
            errors.push(bad(field, "must be a record id (a string)"));
            None
        }
    }
}

fn opt_id(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<Option<String>> {
    if v.is_null() {
        return Some(None);
    }
    id_from(field, v, errors).map(Some)
}

/// A register number: 1-64 visible characters.
pub fn check_register_number(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("must not be empty: the service's number in the register".into());
    }
    if s.chars().count() > 64 {
        return Err("is longer than 64 characters".into());
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(s.to_string())
}

fn web_page_from(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<Option<String>> {
    match v {
        serde_json::Value::Null => Some(None),
        serde_json::Value::String(s) if s.trim().is_empty() => Some(None),
        serde_json::Value::String(s) => match url::Url::parse(s.trim()) {
            Ok(u)
                if (u.scheme() == "https" || u.scheme() == "http")
                    && u.host().is_some()
                    && s.len() <= 2000 =>
            {
                Some(Some(u.to_string()))
            }
            _ => {
                errors.push(bad(
                    field,
                    "must be an http:// or https:// URL (at most 2,000 characters)",
                ));
                None
            }
        },
        _ => {
            errors.push(bad(field, "must be a URL or null"));
            None
        }
    }
}

fn text_from(
    field: &str,
    v: &serde_json::Value,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match v {
        serde_json::Value::Null => Some(String::new()),
        serde_json::Value::String(s) => Some(clean(field, s, max, errors)),
        _ => {
            errors.push(bad(field, "must be a string"));
            None
        }
    }
}

fn passport_from(v: &serde_json::Value, errors: &mut Vec<(String, String)>) -> Vec<PassportChange> {
    let Some(obj) = v.as_object() else {
        errors.push(bad(
            "passport",
            format!("must be an object with any of {PASSPORT_FIELDS}"),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in obj {
        let field = format!("passport.{key}");
        if let Some(k) = PASSPORT_TEXTS.iter().find(|k| **k == key.as_str()) {
            if value.is_null() {
                out.push(PassportChange::Text(k, None));
            } else if let Some(n) = names_up_to(&field, value, MAX_PASSPORT_TEXT, errors) {
                out.push(PassportChange::Text(k, Some(n.into())));
            }
            continue;
        }
        match key.as_str() {
            "forms" => {
                let list = strings_from(&field, value, 40, errors);
                let mut forms = Vec::new();
                for (i, f) in list.iter().enumerate() {
                    match ServiceForm::parse(f) {
                        Ok(f) => forms.push(f.as_str().to_string()),
                        Err(m) => errors.push(bad(&format!("{field}[{i}]"), m)),
                    }
                }
                out.push(PassportChange::Forms(forms));
            }
            "ucc_number" => match value.as_str() {
                Some(s) => {
                    let s = clean(&field, s, 40, errors);
                    if s.is_empty() {
                        errors.push(bad(&field, "must not be empty"));
                    }
                    out.push(PassportChange::UccNumber(s));
                }
                None => errors.push(bad(&field, "must be a string such as \"1414\"")),
            },
            _ => errors.push(bad(
                &field,
                format!("unknown field: expected {PASSPORT_FIELDS}"),
            )),
        }
    }
    out
}

impl ServiceInput {
    /// Reads a JSON body field by field, so each mistake names its field.
    pub fn from_json(v: &serde_json::Value) -> Result<ServiceInput, RegistryError> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(RegistryError::Invalid(vec![bad(
                "body",
                "send a JSON object, e.g. {\"register_number\": \"00101001\", \"name\": {\"kk\": \"...\", \"ru\": \"...\"}, \"body\": \"<body id>\"}",
            )]));
        };
        let mut s = ServiceInput::default();
        for (key, value) in obj {
            let field = key.as_str();
            match field {
                "register_number" => match value.as_str().map(check_register_number) {
                    Some(Ok(n)) => s.register_number = Some(n),
                    Some(Err(m)) => errors.push(bad(field, m)),
                    None => errors.push(bad(field, "must be a string")),
                },
                "name" => s.name = names_from(field, value, &mut errors),
                "body" => s.body = id_from(field, value, &mut errors),
                "standard_body" => s.standard_body = opt_id(field, value, &mut errors),
                "responsible_person" => s.responsible_person = opt_id(field, value, &mut errors),
                "bylaws" => s.bylaws = text_from(field, value, MAX_BYLAWS, &mut errors),
                "bylaw_changes" => {
                    s.bylaw_changes = text_from(field, value, MAX_BYLAWS, &mut errors)
                }
                "web_page" => s.web_page = web_page_from(field, value, &mut errors),
                "passport" => s.passport = passport_from(value, &mut errors),
                "keywords" => {
                    let list = strings_from(field, value, 100, &mut errors);
                    if list.len() > MAX_KEYWORDS {
                        errors.push(bad(field, format!("at most {MAX_KEYWORDS} keywords")));
                    }
                    s.keywords = Some(list.into_iter().map(|k| k.to_lowercase()).collect());
                }
                "active" => match value.as_bool() {
                    Some(b) => s.active = Some(b),
                    None => errors.push(bad(field, "must be true or false")),
                },
                other => errors.push(bad(
                    other,
                    format!("unknown field: expected {SERVICE_FIELDS}"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(RegistryError::Invalid(errors))
        }
    }
}

type ServiceRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    i32,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
);

#[allow(clippy::type_complexity)]
const SERVICE_COLUMNS: (
    services::id,
    services::register_number,
    services::name_kk,
    services::name_ru,
    services::body_id,
    services::standard_body_id,
    services::responsible_person_id,
    services::bylaws,
    services::bylaw_changes,
    services::web_page,
    services::passport,
    services::keywords,
    services::active,
    services::created_at,
    services::updated_at,
) = (
    services::id,
    services::register_number,
    services::name_kk,
    services::name_ru,
    services::body_id,
    services::standard_body_id,
    services::responsible_person_id,
    services::bylaws,
    services::bylaw_changes,
    services::web_page,
    services::passport,
    services::keywords,
    services::active,
    services::created_at,
    services::updated_at,
);

fn service_from(r: ServiceRow) -> Service {
    Service {
        id: r.0,
        register_number: r.1,
        name: Names { kk: r.2, ru: r.3 },
        body_id: r.4,
        body_name: None,
        standard_body_id: r.5,
        responsible_person_id: r.6,
        responsible_person: None,
        bylaws: r.7,
        bylaw_changes: r.8,
        web_page: r.9,
        passport: serde_json::from_str(&r.10).unwrap_or_default(),
        keywords: serde_json::from_str(&r.11).unwrap_or_default(),
        active: r.12 != 0,
        created_at: crate::tickets::almaty(&r.13),
        updated_at: crate::tickets::almaty(&r.14),
    }
}

fn complete(conn: &mut DbConn, mut s: Service) -> Result<Service, DbError> {
    let names: Option<(String, String)> = bodies::table
        .find(&s.body_id)
        .select((bodies::name_kk, bodies::name_ru))
        .first(conn)
        .optional()?;
    s.body_name = names.map(|(kk, ru)| Names { kk, ru });
    if let Some(pid) = &s.responsible_person_id {
        s.responsible_person = super::bodies::person(conn, pid)?.map(|p| PersonRef {
            id: p.id,
            name: p.name,
            position: p.position,
            phones: p.phones,
            email: p.email,
        });
    }
    Ok(s)
}

/// [`complete`] for a page: two queries, whatever its length.
fn complete_page(conn: &mut DbConn, mut page: Vec<Service>) -> Result<Vec<Service>, DbError> {
    let body_ids: Vec<String> = page.iter().map(|s| s.body_id.clone()).collect();
    let names: std::collections::HashMap<String, Names> = bodies::table
        .filter(bodies::id.eq_any(&body_ids))
        .select((bodies::id, bodies::name_kk, bodies::name_ru))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, kk, ru)| (id, Names { kk, ru }))
        .collect();
    let person_ids: Vec<String> = page
        .iter()
        .filter_map(|s| s.responsible_person_id.clone())
        .collect();
    let persons: std::collections::HashMap<String, PersonRef> = body_persons::table
        .filter(body_persons::id.eq_any(&person_ids))
        .select((
            body_persons::id,
            body_persons::name,
            body_persons::position,
            body_persons::phones,
            body_persons::email,
        ))
        .load::<(String, String, Option<String>, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, position, phones, email)| {
            let p = PersonRef {
                id: id.clone(),
                name,
                position,
                phones: serde_json::from_str(&phones).unwrap_or_default(),
                email,
            };
            (id, p)
        })
        .collect();
    for s in &mut page {
        s.body_name = names.get(&s.body_id).cloned();
        s.responsible_person = s
            .responsible_person_id
            .as_ref()
            .and_then(|p| persons.get(p).cloned());
    }
    Ok(page)
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Service>, DbError> {
    let row: Option<ServiceRow> = services::table
        .find(id)
        .select(SERVICE_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(|r| complete(conn, service_from(r))).transpose()
}

pub fn by_register_number(conn: &mut DbConn, number: &str) -> Result<Option<Service>, DbError> {
    let row: Option<ServiceRow> = services::table
        .filter(services::register_number.eq(number))
        .select(SERVICE_COLUMNS)
        .first(conn)
        .optional()?;
    row.map(|r| complete(conn, service_from(r))).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Words, each found in a name (either language), the number or a keyword.
    pub q: Option<String>,
    pub body: Option<String>,
    pub include_inactive: bool,
    pub after: Option<String>,
    pub limit: i64,
}

/// At most this many words in `q` (one LIKE each).
pub const MAX_SEARCH_WORDS: usize = 20;

fn like_pattern(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// By register number, keyset-paged on the id.
pub fn list(conn: &mut DbConn, f: &ServiceFilter) -> Result<Vec<Service>, DbError> {
    let mut query = services::table.select(SERVICE_COLUMNS).into_boxed();
    if !f.include_inactive {
        query = query.filter(services::active.eq(1));
    }
    if let Some(b) = &f.body {
        query = query.filter(services::body_id.eq(b.clone()));
    }
    if let Some(q) = &f.q {
        for word in q.to_lowercase().split_whitespace().take(MAX_SEARCH_WORDS) {
            query = query.filter(services::search_text.like(like_pattern(word)).escape('\\'));
        }
    }
    if let Some(a) = &f.after {
        query = query.filter(services::id.gt(a.clone()));
    }
    let rows: Vec<ServiceRow> = query
        .order(services::id.asc())
        .limit(f.limit.clamp(1, 500))
        .load(conn)?;
    complete_page(conn, rows.into_iter().map(service_from).collect())
}

/// Every service, for export and the matcher.
pub fn all(conn: &mut DbConn) -> Result<Vec<Service>, DbError> {
    let rows: Vec<ServiceRow> = services::table
        .select(SERVICE_COLUMNS)
        .order(services::register_number.asc())
        .load(conn)?;
    Ok(rows.into_iter().map(service_from).collect())
}

fn search_text(number: &str, name: &Names, keywords: &[String]) -> String {
    let mut parts = vec![
        number.to_lowercase(),
        name.kk.to_lowercase(),
        name.ru.to_lowercase(),
    ];
    parts.extend(keywords.iter().map(|k| k.to_lowercase()));
    parts.join("\n")
}

fn body_exists(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(bodies::table
        .find(id)
        .select(bodies::id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

fn person_body(conn: &mut DbConn, id: &str) -> Result<Option<String>, DbError> {
    Ok(body_persons::table
        .find(id)
        .select(body_persons::body_id)
        .first(conn)
        .optional()?)
}

/// What refers to other records is checked against them, each naming its field.
fn check_refs(
    conn: &mut DbConn,
    body: &str,
    standard_body: Option<&str>,
    person: Option<&str>,
) -> Result<(), RegistryError> {
    let mut errors = Vec::new();
    if !body_exists(conn, body)? {
        errors.push(bad("body", format!("no body `{body}` in the registry")));
    }
    if let Some(sb) = standard_body
        && !body_exists(conn, sb)?
    {
        errors.push(bad(
            "standard_body",
            format!("no body `{sb}` in the registry"),
        ));
    }
    if let Some(p) = person {
        match person_body(conn, p)? {
            None => errors.push(bad("responsible_person", format!("no person `{p}` in the registry"))),
            Some(b) if b != body => errors.push(bad(
                "responsible_person",
                "must be a responsible person of the providing body (add them under /api/v1/bodies/{id}/persons)",
            )),
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(errors))
    }
}

fn apply_passport(p: &mut Passport, changes: &[PassportChange]) {
    for c in changes {
        match c {
            PassportChange::Text(k, v) => p.set_text(k, v.clone()),
            PassportChange::Forms(f) => p.forms = f.clone(),
            PassportChange::UccNumber(n) => p.ucc_number = n.clone(),
        }
    }
}

fn number_taken(conn: &mut DbConn, number: &str, except: Option<&str>) -> Result<bool, DbError> {
    let mut q = services::table
        .filter(services::register_number.eq(number))
        .select(services::id)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(services::id.ne(id.to_string()));
    }
    Ok(q.first::<String>(conn).optional()?.is_some())
}

pub fn create(conn: &mut DbConn, input: &ServiceInput) -> Result<Service, RegistryError> {
    create_with_id(conn, &new_id(), input)
}

/// A create with a given id (CSV import keeps ids, so a round trip is the same registry).
pub fn create_with_id(
    conn: &mut DbConn,
    id: &str,
    input: &ServiceInput,
) -> Result<Service, RegistryError> {
    let mut errors = Vec::new();
    if input.register_number.is_none() {
        errors.push(bad(
            "register_number",
            "give the service's number in the register",
        ));
    }
    if input.name.is_none() {
        errors.push(bad(
            "name",
            "give the name: {\"kk\": \"...\", \"ru\": \"...\"}",
        ));
    }
    if input.body.is_none() {
        errors.push(bad("body", "give the providing body's id"));
    }
    if !errors.is_empty() {
        return Err(RegistryError::Invalid(errors));
    }
    let (Some(number), Some(name), Some(body)) = (&input.register_number, &input.name, &input.body)
    else {
        unreachable!("checked above");
    };
    let standard = input.standard_body.clone().flatten();
    let person = input.responsible_person.clone().flatten();
    check_refs(conn, body, standard.as_deref(), person.as_deref())?;
    if number_taken(conn, number, None)? {
        return Err(RegistryError::Conflict(format!(
            "a service with register number `{number}` exists already"
        )));
    }
    let mut passport = Passport {
        ucc_number: DEFAULT_UCC_NUMBER.into(),
        ..Passport::default()
    };
    apply_passport(&mut passport, &input.passport);
    let keywords = input.keywords.clone().unwrap_or_default();
    let at = now();
    diesel::insert_into(services::table)
        .values((
            services::id.eq(id),
            services::register_number.eq(number),
            services::name_kk.eq(&name.kk),
            services::name_ru.eq(&name.ru),
            services::body_id.eq(body),
            services::standard_body_id.eq(&standard),
            services::responsible_person_id.eq(&person),
            services::bylaws.eq(input.bylaws.clone().unwrap_or_default()),
            services::bylaw_changes.eq(input.bylaw_changes.clone().unwrap_or_default()),
            services::web_page.eq(input.web_page.clone().flatten()),
            services::passport.eq(serde_json::to_string(&passport).expect("a passport serialises")),
            services::keywords.eq(serde_json::to_string(&keywords).expect("strings serialise")),
            services::search_text.eq(search_text(number, name, &keywords)),
            services::active.eq(i32::from(input.active.unwrap_or(true))),
            services::created_at.eq(at),
            services::updated_at.eq(at),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    crate::kb::index_passport(conn, id)?;
    get(conn, id)?.ok_or_else(|| RegistryError::NotFound(format!("no service `{id}`")))
}

/// Changes the fields given; returns the service before and after (the onboarding
/// timeline reacts to a new responsible person).
pub fn update(
    conn: &mut DbConn,
    id: &str,
    input: &ServiceInput,
) -> Result<(Service, Service), RegistryError> {
    let Some(before) = get(conn, id)? else {
        return Err(RegistryError::NotFound(format!("no service `{id}`")));
    };
    let body = input.body.clone().unwrap_or_else(|| before.body_id.clone());
    let standard = match &input.standard_body {
        Some(v) => v.clone(),
        None => before.standard_body_id.clone(),
    };
    let person = match &input.responsible_person {
        Some(v) => v.clone(),
        None => before.responsible_person_id.clone(),
    };
    check_refs(conn, &body, standard.as_deref(), person.as_deref())?;
    let number = input
        .register_number
        .clone()
        .unwrap_or_else(|| before.register_number.clone());
    if number_taken(conn, &number, Some(id))? {
        return Err(RegistryError::Conflict(format!(
            "a service with register number `{number}` exists already"
        )));
    }
    let name = input.name.clone().unwrap_or_else(|| before.name.clone());
    let keywords = input
        .keywords
        .clone()
        .unwrap_or_else(|| before.keywords.clone());
    let mut passport = before.passport.clone();
    apply_passport(&mut passport, &input.passport);
    diesel::update(services::table.find(id))
        .set((
            services::register_number.eq(&number),
            services::name_kk.eq(&name.kk),
            services::name_ru.eq(&name.ru),
            services::body_id.eq(&body),
            services::standard_body_id.eq(&standard),
            services::responsible_person_id.eq(&person),
            services::bylaws.eq(input
                .bylaws
                .clone()
                .unwrap_or_else(|| before.bylaws.clone())),
            services::bylaw_changes.eq(input
                .bylaw_changes
                .clone()
                .unwrap_or_else(|| before.bylaw_changes.clone())),
            services::web_page.eq(match &input.web_page {
                Some(v) => v.clone(),
                None => before.web_page.clone(),
            }),
            services::passport.eq(serde_json::to_string(&passport).expect("a passport serialises")),
            services::keywords.eq(serde_json::to_string(&keywords).expect("strings serialise")),
            services::search_text.eq(search_text(&number, &name, &keywords)),
            services::active.eq(i32::from(input.active.unwrap_or(before.active))),
            services::updated_at.eq(now()),
        ))
        .execute(conn)
        .map_err(DbError::Query)?;
    crate::kb::index_passport(conn, id)?;
    let after =
        get(conn, id)?.ok_or_else(|| RegistryError::NotFound(format!("no service `{id}`")))?;
    Ok((before, after))
}
