//! CSV import and export of bodies, persons and services: UTF-8 (a byte-order mark is
//! accepted), a header row, RFC 4180 quoting (fields may hold commas, quotes and line
//! breaks). Lists (phones, systems, keywords, forms) are one cell, `; `-separated. A
//! cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is written
//! with a leading `'`, which import removes again. Rows go through the same validation
//! as the JSON API; a bad row is reported with its line and column, and a file is
//! imported whole or not at all (the caller's one transaction).
//!
//! Rows are matched on `id`: an existing id is updated, a new one is created with that
//! id, an empty one gets a fresh id. Export writes ids, so export then import into a
//! fresh database gives the same registry.

use std::collections::BTreeMap;

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

use super::bodies::{self, BodyFilter};
use super::services::{self, PASSPORT_TEXTS};
use super::{BodyInput, PersonInput, RegistryError};
use crate::db::schema::body_persons;
use crate::db::{DbConn, DbError};

/// Rows in one file at most.
pub const MAX_ROWS: usize = 100_000;
/// Characters in one cell at most.
pub const MAX_CELL: usize = 20_000;
/// Errors reported at most (the rest are counted).
const MAX_ERRORS: usize = 100;

text_enum!(
    /// What a CSV file holds.
    Kind, "registry file" {
        Bodies => "bodies",
        Persons => "persons",
        Services => "services",
    }
);

pub const BODY_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "name_kk",
    "name_ru",
    "region",
    "email",
    "phones",
    "address",
    "website",
    "working_hours",
    "webhook_url",
    "ref_pattern",
    "digest",
    "active",
    "systems",
];
pub const PERSON_COLUMNS: &[&str] = &[
    "id",
    "body_id",
    "name",
    "position",
    "phones",
    "email",
    "ict_group",
    "active",
];
pub const SERVICE_COLUMNS: &[&str] = &[
    "id",
    "register_number",
    "name_kk",
    "name_ru",
    "body_id",
    "standard_body_id",
    "responsible_person_id",
    "bylaws",
    "bylaw_changes",
    "web_page",
    "keywords",
    "active",
    "forms",
    "ucc_number",
    "term_kk",
    "term_ru",
    "result_kk",
    "result_ru",
    "fee_kk",
    "fee_ru",
    "schedule_kk",
    "schedule_ru",
    "documents_kk",
    "documents_ru",
    "refusal_grounds_kk",
    "refusal_grounds_ru",
    "complaints_kk",
    "complaints_ru",
    "other_requirements_kk",
    "other_requirements_ru",
];

impl Kind {
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Bodies => BODY_COLUMNS,
            Kind::Persons => PERSON_COLUMNS,
            Kind::Services => SERVICE_COLUMNS,
        }
    }
}

/// A problem with the file: where, and what to fix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s); nothing was imported", .0.len())]
    Rows(Vec<CsvError>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::Db(DbError::Query(e))
    }
}

fn file_error(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Rows(vec![CsvError {
        line,
        column: None,
        message: message.into(),
    }])
}

/// Records with the line each starts on (1-based).
pub fn parse(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        file_error(line, "the file is not UTF-8: save it as CSV UTF-8")
    })?;
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
        } else {
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    was_quoted = true;
                    at_field_start = false;
                    continue;
                }
                '"' => {
                    return Err(file_error(
                        line,
                        "a quote inside an unquoted field: quote the whole field and double the quote (\"\")",
                    ));
                }
                ',' => {
                    record.push(std::mem::take(&mut field));
                    at_field_start = true;
                    was_quoted = false;
                    continue;
                }
                '\r' if chars.peek() == Some(&'\n') => continue,
                '\n' | '\r' => {
                    record.push(std::mem::take(&mut field));
                    if !(record.len() == 1 && record[0].is_empty() && !was_quoted) {
                        records.push((start, std::mem::take(&mut record)));
                    } else {
                        record.clear();
                    }
                    if records.len() > MAX_ROWS + 1 {
                        return Err(file_error(
                            start,
                            format!("more than {MAX_ROWS} rows: split the file"),
                        ));
                    }
                    line += 1;
                    start = line;
                    at_field_start = true;
                    was_quoted = false;
                    continue;
                }
                _ if was_quoted => {
                    return Err(file_error(
                        line,
                        "text after a closing quote: put the whole field in quotes",
                    ));
                }
                _ => field.push(c),
            }
        }
        at_field_start = false;
        if field.len() > MAX_CELL * 4 {
            return Err(file_error(
                line,
                format!("a cell is longer than {MAX_CELL} characters"),
            ));
        }
    }
    if quoted {
        return Err(file_error(
            start,
            "a quoted field is not closed: the file ends inside quotes",
        ));
    }
    if !field.is_empty() || !record.is_empty() || was_quoted {
        record.push(field);
        records.push((start, record));
    }
    Ok(records)
}

/// A cell as written: formula-looking text defused, quoted when needed.
fn cell(v: &str) -> String {
    let defused = match v.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t') => format!("'{v}"),
        // A value that starts with the defusing quote keeps it through a round trip.
        Some('\'') => format!("'{v}"),
        _ => v.to_string(),
    };
    if defused.contains([',', '"', '\n', '\r'])
        || defused.starts_with(' ')
        || defused.ends_with(' ')
    {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn undefuse(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\'']) => rest,
        _ => v,
    }
}

fn write_row(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn list_cell(items: &[String]) -> String {
    items.join("; ")
}

fn bool_cell(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

pub fn export(conn: &mut DbConn, kind: Kind) -> Result<String, DbError> {
    let mut out = String::from("\u{feff}");
    write_row(
        &mut out,
        &kind
            .columns()
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
    );
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    match kind {
        Kind::Bodies => {
            let filter = BodyFilter {
                include_inactive: true,
                ..BodyFilter::default()
            };
            let mut list = bodies::list(conn, &filter)?;
            list.sort_by(|a, b| a.id.cmp(&b.id));
            for b in list {
                write_row(
                    &mut out,
                    &[
                        b.id.clone(),
                        b.kind.as_str().into(),
                        b.name.kk.clone(),
                        b.name.ru.clone(),
                        opt(&b.region),
                        opt(&b.email),
                        list_cell(&b.phones),
                        opt(&b.address),
                        opt(&b.website),
                        opt(&b.working_hours),
                        opt(&b.webhook_url),
                        opt(&b.ref_pattern),
                        b.digest.as_str().into(),
                        bool_cell(b.active),
                        list_cell(&b.systems),
                    ],
                );
            }
        }
        Kind::Persons => {
            let ids: Vec<String> = body_persons::table
                .order(body_persons::id.asc())
                .select(body_persons::id)
                .load(conn)?;
            for id in ids {
                let Some(p) = bodies::person(conn, &id)? else {
                    continue;
                };
                write_row(
                    &mut out,
                    &[
                        p.id,
                        p.body_id,
                        p.name,
                        opt(&p.position),
                        list_cell(&p.phones),
                        opt(&p.email),
                        bool_cell(p.ict_group),
                        bool_cell(p.active),
                    ],
                );
            }
        }
        Kind::Services => {
            let mut list = services::all(conn)?;
            list.sort_by(|a, b| a.id.cmp(&b.id));
            for s in list {
                let mut row = vec![
                    s.id.clone(),
                    s.register_number.clone(),
                    s.name.kk.clone(),
                    s.name.ru.clone(),
                    s.body_id.clone(),
                    opt(&s.standard_body_id),
                    opt(&s.responsible_person_id),
                    s.bylaws.clone(),
                    s.bylaw_changes.clone(),
                    opt(&s.web_page),
                    list_cell(&s.keywords),
                    bool_cell(s.active),
                    list_cell(&s.passport.forms),
                    s.passport.ucc_number.clone(),
                ];
                for key in PASSPORT_TEXTS {
                    let t = s.passport.text(key);
                    row.push(t.map(|t| t.kk.clone()).unwrap_or_default());
                    row.push(t.map(|t| t.ru.clone()).unwrap_or_default());
                }
                write_row(&mut out, &row);
            }
        }
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Imported {
    pub kind: String,
    pub created: usize,
    pub updated: usize,
    /// Generated webhook secrets, by body id: shown this once.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    pub webhook_secrets: BTreeMap<String, String>,
}

fn list_value(s: &str) -> Value {
    Value::Array(
        s.split(';')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| Value::String(x.to_string()))
            .collect(),
    )
}

fn bool_value(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" | "да" | "иә" => Ok(Some(true)),
        "false" | "0" | "no" | "нет" | "жоқ" => Ok(Some(false)),
        other => Err(format!(
            "`{}` must be true or false",
            crate::web::input::shown(other)
        )),
    }
}

/// The column a JSON field error is about.
fn column_of(field: &str) -> String {
    let f = field.strip_prefix("passport.").unwrap_or(field);
    let f = f.split('[').next().unwrap_or(f);
    match f {
        "body" => "body_id".into(),
        "standard_body" => "standard_body_id".into(),
        "responsible_person" => "responsible_person_id".into(),
        other => other.replace('.', "_"),
    }
}

/// A row as the JSON the API takes; empty optional cells are left out.
fn row_json(kind: Kind, row: &BTreeMap<&str, &str>) -> Result<Value, (String, String)> {
    let get = |k: &str| row.get(k).copied().unwrap_or("").trim();
    let mut o = serde_json::Map::new();
    let text = |o: &mut serde_json::Map<String, Value>, key: &str, col: &str| {
        let v = get(col);
        if !v.is_empty() {
            o.insert(key.into(), Value::String(v.into()));
        }
    };
    let boolean =
        |o: &mut serde_json::Map<String, Value>, key: &str| -> Result<(), (String, String)> {
            if let Some(b) = bool_value(get(key)).map_err(|m| (key.to_string(), m))? {
                o.insert(key.into(), Value::Bool(b));
            }
            Ok(())
        };
    match kind {
        Kind::Bodies => {
            text(&mut o, "kind", "kind");
            o.insert(
                "name".into(),
                json!({"kk": get("name_kk"), "ru": get("name_ru")}),
            );
            for k in [
                "region",
                "email",
                "address",
                "website",
                "working_hours",
                "webhook_url",
                "ref_pattern",
                "digest",
            ] {
                text(&mut o, k, k);
            }
            o.insert("phones".into(), list_value(get("phones")));
            o.insert("systems".into(), list_value(get("systems")));
            boolean(&mut o, "active")?;
        }
        Kind::Persons => {
            o.insert("name".into(), Value::String(get("name").into()));
            for k in ["position", "email"] {
                text(&mut o, k, k);
            }
            o.insert("phones".into(), list_value(get("phones")));
            boolean(&mut o, "ict_group")?;
            boolean(&mut o, "active")?;
        }
        Kind::Services => {
            o.insert(
                "register_number".into(),
                Value::String(get("register_number").into()),
            );
            o.insert(
                "name".into(),
                json!({"kk": get("name_kk"), "ru": get("name_ru")}),
            );
            o.insert("body".into(), Value::String(get("body_id").into()));
            for (key, col) in [
                ("standard_body", "standard_body_id"),
                ("responsible_person", "responsible_person_id"),
            ] {
                let v = get(col);
                o.insert(
                    key.into(),
                    if v.is_empty() {
                        Value::Null
                    } else {
                        Value::String(v.into())
                    },
                );
            }
            for k in ["bylaws", "bylaw_changes"] {
                o.insert(k.into(), Value::String(get(k).into()));
            }
            let page = get("web_page");
            o.insert(
                "web_page".into(),
                if page.is_empty() {
                    Value::Null
                } else {
                    Value::String(page.into())
                },
            );
            o.insert("keywords".into(), list_value(get("keywords")));
            boolean(&mut o, "active")?;
            let mut passport = serde_json::Map::new();
            passport.insert("forms".into(), list_value(get("forms")));
            let ucc = get("ucc_number");
            passport.insert(
                "ucc_number".into(),
                Value::String(
                    if ucc.is_empty() {
                        services::DEFAULT_UCC_NUMBER
                    } else {
                        ucc
                    }
                    .into(),
                ),
            );
            for key in PASSPORT_TEXTS {
                let (kk, ru) = (get(&format!("{key}_kk")), get(&format!("{key}_ru")));
                passport.insert(
                    key.into(),
                    if kk.is_empty() && ru.is_empty() {
                        Value::Null
                    } else {
                        json!({"kk": kk, "ru": ru})
                    },
                );
            }
            o.insert("passport".into(), Value::Object(passport));
        }
    }
    Ok(Value::Object(o))
}

fn row_errors(line: usize, e: RegistryError, errors: &mut Vec<CsvError>) -> Result<(), DbError> {
    match e {
        RegistryError::Invalid(list) => {
            for (field, message) in list {
                errors.push(CsvError {
                    line,
                    column: Some(column_of(&field)),
                    message,
                });
            }
            Ok(())
        }
        RegistryError::NotFound(m) | RegistryError::Conflict(m) => {
            errors.push(CsvError {
                line,
                column: None,
                message: m,
            });
            Ok(())
        }
        RegistryError::Db(e) => Err(e),
    }
}

/// Imports one file in the caller's transaction; on any bad row, returns every problem
/// (up to 100) and the caller rolls back.
pub fn import(conn: &mut DbConn, kind: Kind, bytes: &[u8]) -> Result<Imported, ImportError> {
    let records = parse(bytes)?;
    let Some((_, header)) = records.first() else {
        return Err(file_error(
            1,
            format!(
                "the file is empty: the first row names the columns ({})",
                kind.columns().join(",")
            ),
        ));
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut errors = Vec::new();
    if header.len() > kind.columns().len() * 2 {
        return Err(file_error(
            1,
            format!(
                "{} columns: the header names at most these: {}",
                header.len(),
                kind.columns().join(",")
            ),
        ));
    }
    for (i, h) in header.iter().enumerate() {
        if !kind.columns().contains(&h.as_str()) {
            errors.push(CsvError {
                line: 1,
                column: Some(crate::web::input::shown(h)),
                message: format!("unknown column: expected {}", kind.columns().join(",")),
            });
        } else if header[..i].contains(h) {
            errors.push(CsvError {
                line: 1,
                column: Some(h.clone()),
                message: "this column is named twice".into(),
            });
        }
    }
    let required: &[&str] = match kind {
        Kind::Bodies => &["kind", "name_kk", "name_ru"],
        Kind::Persons => &["body_id", "name"],
        Kind::Services => &["register_number", "name_kk", "name_ru", "body_id"],
    };
    for r in required {
        if !header.iter().any(|h| h == r) {
            errors.push(CsvError {
                line: 1,
                column: Some((*r).into()),
                message: "this column is required".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    let mut done = Imported {
        kind: kind.as_str().into(),
        ..Imported::default()
    };
    for (line, cells) in records.iter().skip(1) {
        let line = *line;
        if errors.len() >= MAX_ERRORS {
            break;
        }
        if cells.len() != header.len() {
            errors.push(CsvError {
                line,
                column: None,
                message: format!(
                    "{} cells where the header has {} columns",
                    cells.len(),
                    header.len()
                ),
            });
            continue;
        }
        if let Some((i, _)) = cells
            .iter()
            .enumerate()
            .find(|(_, c)| c.chars().count() > MAX_CELL)
        {
            errors.push(CsvError {
                line,
                column: Some(header[i].clone()),
                message: format!("longer than {MAX_CELL} characters"),
            });
            continue;
        }
        let row: BTreeMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(cells.iter().map(|c| undefuse(c)))
            .collect();
        let id = row.get("id").map(|s| s.trim()).filter(|s| !s.is_empty());
        let id = match id {
            Some(s) => {
                match uuid::Uuid::parse_str(s) {
                    Ok(_) => Some(s.to_ascii_lowercase()),
                    Err(_) => {
                        errors.push(CsvError {
                        line,
                        column: Some("id".into()),
                        message: "must be a record id (a UUID, as exported) or empty for a new record".into(),
                    });
                        continue;
                    }
                }
            }
            None => None,
        };
        let v = match row_json(kind, &row) {
            Ok(v) => v,
            Err((col, m)) => {
                errors.push(CsvError {
                    line,
                    column: Some(col),
                    message: m,
                });
                continue;
            }
        };
        let outcome = import_row(conn, kind, id.as_deref(), &row, &v, &mut done);
        if let Err(e) = outcome {
            row_errors(line, e, &mut errors)?;
        }
    }
    if errors.is_empty() {
        Ok(done)
    } else {
        Err(ImportError::Rows(errors))
    }
}

fn import_row(
    conn: &mut DbConn,
    kind: Kind,
    id: Option<&str>,
    row: &BTreeMap<&str, &str>,
    v: &Value,
    done: &mut Imported,
) -> Result<(), RegistryError> {
    let new_id = crate::db::new_id();
    match kind {
        Kind::Bodies => {
            let input = BodyInput::from_json(v)?;
            let exists = match id {
                Some(id) => bodies::get(conn, id)?.is_some(),
                None => false,
            };
            let (b, secret) = if exists {
                done.updated += 1;
                bodies::update(conn, id.unwrap_or_default(), &input)?
            } else {
                done.created += 1;
                bodies::create_with_id(conn, id.unwrap_or(&new_id), &input)?
            };
            if let Some(s) = secret {
                done.webhook_secrets.insert(b.id, s);
            }
        }
        Kind::Persons => {
            let input = PersonInput::from_json("", v)?;
            let body = row.get("body_id").map(|s| s.trim()).unwrap_or("");
            if uuid::Uuid::parse_str(body).is_err() {
                return Err(RegistryError::Invalid(vec![super::bad(
                    "body_id",
                    "must be the id of a body (a UUID)",
                )]));
            }
            let existing = match id {
                Some(id) => bodies::person(conn, id)?,
                None => None,
            };
            match existing {
                Some(p) if p.body_id == body => {
                    done.updated += 1;
                    bodies::update_person(conn, body, &p.id, &input)?;
                }
                Some(_) => {
                    return Err(RegistryError::Invalid(vec![super::bad(
                        "body_id",
                        "this person belongs to another body: a person does not move between bodies",
                    )]));
                }
                None => {
                    done.created += 1;
                    bodies::add_person_with_id(conn, id.unwrap_or(&new_id), body, &input).map_err(
                        |e| match e {
                            RegistryError::NotFound(m) => {
                                RegistryError::Invalid(vec![super::bad("body_id", m)])
                            }
                            other => other,
                        },
                    )?;
                }
            }
        }
        Kind::Services => {
            let input = services::ServiceInput::from_json(v)?;
            let exists = match id {
                Some(id) => services::get(conn, id)?.is_some(),
                None => false,
            };
            if exists {
                done.updated += 1;
                services::update(conn, id.unwrap_or_default(), &input)?;
            } else {
                done.created += 1;
                services::create_with_id(conn, id.unwrap_or(&new_id), &input)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_newlines_bom_and_crlf_are_read() {
        let text = "\u{feff}id,name\r\n1,\"Иванов, \"\"Иван\"\"\nвторая строка\"\r\n\r\n2,plain\n";
        let rows = parse(text.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].0, 2);
        assert_eq!(rows[1].1[1], "Иванов, \"Иван\"\nвторая строка");
        assert_eq!(rows[2].0, 5);
        assert_eq!(rows[2].1, vec!["2", "plain"]);
    }

    #[test]
    fn broken_csv_names_the_line() {
        for (text, line) in [
            ("a,b\n1,\"open\n2,3\n", 2),
            ("a,b\n1,x\"y\n", 2),
            ("a\n\"q\"x\n", 2),
        ] {
            match parse(text.as_bytes()) {
                Err(ImportError::Rows(e)) => assert_eq!(e[0].line, line, "{text:?}: {e:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(parse(b"a,b\n\xff\xfe,1\n"), Err(ImportError::Rows(e)) if e[0].line == 2));
    }

    #[test]
    fn formula_cells_are_defused_and_restored() {
        for v in [
            "=HYPERLINK(\"x\")",
            "+7 701 000 0000",
            "-1",
            "@SUM",
            "'quoted",
            "plain, with comma",
        ] {
            let written = cell(v);
            assert!(!written.starts_with(['=', '+', '-', '@']), "{written}");
            let read = parse(format!("{written}\n").as_bytes()).expect("parses");
            assert_eq!(undefuse(&read[0].1[0]), v);
        }
    }
}
