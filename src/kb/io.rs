//! Import and export of the Knowledge Base, as JSON (`{"articles": [...]}` or a bare
//! array) or CSV (UTF-8, a header row, RFC 4180 quoting; columns `id, language, title,
//! body, tags, service, linked_body, published`, tags `; `-separated). An export holds
//! each article's newest version and whether it is the published one; importing it into
//! an empty base gives the same articles (ids kept). Rows are matched on `id`: a known id
//! gets a new version when something changed, an unknown one is created with that id,
//! an empty one gets a fresh id. A file is imported whole in the caller's transaction or
//! not at all; every bad row is reported with its line (CSV) or position (JSON) and field.

use serde::Serialize;
use serde_json::{Value, json};

use super::{ArticleInput, KbError};
use crate::db::schema::kb_articles;
use crate::db::{DbConn, DbError};
use diesel::prelude::*;

pub const COLUMNS: &[&str] = &[
    "id",
    "language",
    "title",
    "body",
    "tags",
    "service",
    "linked_body",
    "published",
];
/// Articles in one file at most.
pub const MAX_ARTICLES: usize = 50_000;
/// Problems reported at most.
const MAX_PROBLEMS: usize = 100;

text_enum!(
    /// How a file is written.
    Format, "file format" {
        Json => "json",
        Csv => "csv",
    }
);

/// A bad row: where (CSV line, or position in the JSON array), which field, what to fix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, {}: {}", self.line, self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s); nothing was imported", .0.len())]
    Rows(Vec<Problem>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::Db(DbError::Query(e))
    }
}

fn problem(line: usize, field: &str, message: impl Into<String>) -> ImportError {
    ImportError::Rows(vec![Problem {
        line,
        field: field.into(),
        message: message.into(),
    }])
}

/// What an import did.
#[derive(Debug, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = KbImported)]
pub struct Imported {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn all_articles(conn: &mut DbConn) -> Result<Vec<super::Article>, DbError> {
    let ids: Vec<String> = kb_articles::table
        .order(kb_articles::id.asc())
        .select(kb_articles::id)
        .load(conn)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(a) = super::get(conn, &id)? {
            out.push(a);
        }
    }
    Ok(out)
}

fn export_value(a: &super::Article) -> Value {
    json!({
        "id": a.id,
        "language": a.language,
        "title": a.title,
        "body": a.body,
        "tags": a.tags,
        "service": a.service,
        "linked_body": a.linked_body,
        "published": !a.draft,
    })
}

/// A cell as written: formula-looking text defused, quoted when needed.
fn cell(v: &str) -> String {
    let defused = match v.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\'') => format!("'{v}"),
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

/// The whole base in `format`.
pub fn export(conn: &mut DbConn, format: Format) -> Result<String, DbError> {
    let articles = all_articles(conn)?;
    Ok(match format {
        Format::Json => {
            let list: Vec<Value> = articles.iter().map(export_value).collect();
            serde_json::to_string_pretty(&json!({ "articles": list })).expect("JSON serialises")
        }
        Format::Csv => {
            let mut out = String::from("\u{feff}");
            out.push_str(&COLUMNS.join(","));
            out.push_str("\r\n");
            for a in &articles {
                let row = [
                    a.id.clone(),
                    a.language.clone(),
                    a.title.clone(),
                    a.body.clone(),
                    a.tags.join("; "),
                    a.service.clone().unwrap_or_default(),
                    a.linked_body.clone().unwrap_or_default(),
                    (!a.draft).to_string(),
                ];
                let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
            out
        }
    })
}

/// The items of a file, each with its line (CSV) or position (JSON), as JSON objects.
fn items(bytes: &[u8], format: Format) -> Result<Vec<(usize, Value)>, ImportError> {
    match format {
        Format::Json => {
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| problem(e.line(), "file", format!("not valid JSON: {e}")))?;
            let list = match v {
                Value::Array(a) => a,
                Value::Object(mut o) => match o.remove("articles") {
                    Some(Value::Array(a)) => a,
                    _ => {
                        return Err(problem(
                            1,
                            "articles",
                            "give {\"articles\": [...]} or an array of articles",
                        ));
                    }
                },
                _ => {
                    return Err(problem(
                        1,
                        "file",
                        "give {\"articles\": [...]} or an array of articles",
                    ));
                }
            };
            Ok(list
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i + 1, v))
                .collect())
        }
        Format::Csv => {
            let records = crate::registry::csv::parse(bytes).map_err(|e| match e {
                crate::registry::csv::ImportError::Rows(rows) => ImportError::Rows(
                    rows.into_iter()
                        .map(|r| Problem {
                            line: r.line,
                            field: r.column.unwrap_or_else(|| "file".into()),
                            message: r.message,
                        })
                        .collect(),
                ),
                crate::registry::csv::ImportError::Db(e) => ImportError::Db(e),
            })?;
            let mut it = records.into_iter();
            let Some((_, header)) = it.next() else {
                return Err(problem(1, "file", "the file is empty: give a header row"));
            };
            let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
            for h in &header {
                if !COLUMNS.contains(&h.as_str()) {
                    return Err(problem(
                        1,
                        h,
                        format!("unknown column: the columns are {}", COLUMNS.join(", ")),
                    ));
                }
            }
            let mut out = Vec::new();
            for (line, cells) in it {
                if cells.len() != header.len() {
                    return Err(problem(
                        line,
                        "row",
                        format!("has {} cells, the header {}", cells.len(), header.len()),
                    ));
                }
                let mut o = serde_json::Map::new();
                for (h, c) in header.iter().zip(cells) {
                    let c = undefuse(&c).to_string();
                    let v = match h.as_str() {
                        "tags" => Value::Array(
                            c.split(';')
                                .map(str::trim)
                                .filter(|t| !t.is_empty())
                                .map(|t| Value::String(t.into()))
                                .collect(),
                        ),
                        "published" => match c.trim().to_ascii_lowercase().as_str() {
                            "" | "false" | "0" | "no" => Value::Bool(false),
                            "true" | "1" | "yes" => Value::Bool(true),
                            _ => Value::String(c),
                        },
                        "service" | "linked_body" if c.trim().is_empty() => Value::Null,
                        "id" if c.trim().is_empty() => continue,
                        _ => Value::String(c),
                    };
                    o.insert(h.clone(), v);
                }
                out.push((line, Value::Object(o)));
            }
            Ok(out)
        }
    }
}

/// Imports a file into the base, in the caller's transaction; `author` is recorded on
/// every version written.
pub fn import(
    conn: &mut DbConn,
    bytes: &[u8],
    format: Format,
    author: &str,
    now: chrono::NaiveDateTime,
) -> Result<Imported, ImportError> {
    let items = items(bytes, format)?;
    if items.len() > MAX_ARTICLES {
        return Err(problem(
            1,
            "file",
            format!("more than {MAX_ARTICLES} articles: split the file"),
        ));
    }
    let mut problems: Vec<Problem> = Vec::new();
    let mut done = Imported::default();
    let mut seen = std::collections::HashSet::new();
    for (line, v) in items {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let id = match v.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if uuid::Uuid::parse_str(s.trim()).is_ok() => {
                Some(s.trim().to_ascii_lowercase())
            }
            Some(other) => {
                problems.push(Problem {
                    line,
                    field: "id".into(),
                    message: format!(
                        "`{}` is not an article id (a UUID); leave it empty for a new article",
                        crate::web::input::shown(&other.to_string())
                    ),
                });
                continue;
            }
        };
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            problems.push(Problem {
                line,
                field: "id".into(),
                message: "this id is in the file twice".into(),
            });
            continue;
        }
        let exists = match &id {
            Some(id) => super::get(conn, id)?.is_some(),
            None => false,
        };
        let result = ArticleInput::from_json(&v, !exists).and_then(|input| {
            if exists {
                let id = id.as_deref().expect("exists has an id");
                super::update(conn, id, &input, author, now).map(|(_, wrote)| {
                    if wrote {
                        done.updated += 1;
                    } else {
                        done.unchanged += 1;
                    }
                })
            } else {
                super::create(conn, id.as_deref(), &input, author, now).map(|_| done.created += 1)
            }
        });
        match result {
            Ok(()) => {}
            Err(KbError::Invalid(list)) => {
                problems.extend(list.into_iter().map(|(field, message)| Problem {
                    line,
                    field,
                    message,
                }));
            }
            Err(KbError::NotFound(m)) => problems.push(Problem {
                line,
                field: "id".into(),
                message: m,
            }),
            Err(KbError::Db(e)) => return Err(ImportError::Db(e)),
        }
    }
    if problems.is_empty() {
        Ok(done)
    } else {
        problems.truncate(MAX_PROBLEMS);
        Err(ImportError::Rows(problems))
    }
}
