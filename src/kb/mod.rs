//! The Knowledge Base (R6, R9): articles in Kazakh or Russian, with every version kept
//! (who changed which fields, when), drafts that only editors see until one of them
//! publishes a version, tags, and links to a service and a body of the registry; and
//! the service passports (002 §10-11) of the registry, searched beside the articles.
//! Search normalises text once in Rust ([`crate::search`]) and ranks with each
//! engine's full-text index (FTS5 bm25, PostgreSQL ts_rank), titles weighing more.

pub mod io;

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use serde::Serialize;
use serde_json::Value;

use crate::db::prepared::Value as Bind;
use crate::db::schema::{bodies, kb_articles, kb_search, kb_versions, services};
use crate::db::{DbConn, DbError};
use crate::search::vocab;
use crate::search::{self, Query, normalise};

/// The vocabulary scope of Knowledge Base words.
pub const SCOPE: &str = "kb";
pub const LANGUAGES: [&str; 2] = ["kk", "ru"];
pub const MAX_TITLE: usize = 300;
pub const MAX_BODY: usize = 100_000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG: usize = 50;
pub const MAX_NOTE: usize = 1000;
/// Characters of the passage shown with each hit.
const SNIPPET_CHARS: usize = 240;

#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// (field, what to fix) pairs.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for KbError {
    fn from(e: diesel::result::Error) -> Self {
        KbError::Db(DbError::Query(e))
    }
}

fn bad(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

/// An article as editors see it (the head version) or as staff see it (the published
/// version).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Article {
    pub id: String,
    pub language: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub service: Option<String>,
    pub linked_body: Option<String>,
    /// The version these texts are.
    pub version: i32,
    /// The newest version.
    pub head_version: i32,
    pub published_version: Option<i32>,
    /// The head version is not the published one (never published, or changed since).
    pub draft: bool,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    pub published_at: Option<String>,
    pub published_by: Option<String>,
}

/// One version: its texts, and who changed which fields when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = KbVersion)]
pub struct Version {
    pub version: i32,
    pub language: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub service: Option<String>,
    pub linked_body: Option<String>,
    pub changed: Vec<String>,
    pub note: Option<String>,
    pub author: String,
    pub at: String,
    pub published: bool,
}

/// A create or an update. Absent fields stay; `null` clears a link.
#[derive(Debug, Clone, Default)]
pub struct ArticleInput {
    pub language: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub service: Option<Option<String>>,
    pub linked_body: Option<Option<String>>,
    pub note: Option<String>,
    /// Publish the version this writes.
    pub publish: bool,
}

fn text_field(
    v: &Value,
    field: &str,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match v.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = crate::web::input::clean(s.clone()).trim().to_string();
            let n = s.chars().count();
            if n == 0 {
                errors.push(bad(field, "must not be empty"));
                None
            } else if n > max {
                errors.push(bad(field, format!("is {n} characters long: at most {max}")));
                None
            } else {
                Some(s)
            }
        }
        Some(_) => {
            errors.push(bad(field, "must be a string"));
            None
        }
    }
}

fn link_field(
    v: &Value,
    field: &str,
    errors: &mut Vec<(String, String)>,
) -> Option<Option<String>> {
    match v.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s.trim().is_empty() => Some(None),
        Some(other) => crate::registry::services::id_from(field, other, errors).map(Some),
    }
}

impl ArticleInput {
    /// Reads `{"language", "title", "body", "tags"?, "service"?, "linked_body"?, "note"?,
    /// "publish"?}`; every field's problem is reported.
    pub fn from_json(v: &Value, creating: bool) -> Result<ArticleInput, KbError> {
        let mut errors = Vec::new();
        if !v.is_object() {
            return Err(KbError::Invalid(vec![bad(
                "body",
                "send a JSON object: {\"language\": \"kk\"|\"ru\", \"title\", \"body\", \"tags\"?, \"service\"?}",
            )]));
        }
        let known = [
            "id",
            "language",
            "title",
            "body",
            "tags",
            "service",
            "linked_body",
            "note",
            "publish",
            "published",
        ];
        if let Some(o) = v.as_object() {
            for k in o.keys() {
                if !known.contains(&k.as_str()) {
                    errors.push(bad(
                        k,
                        format!("unknown field: expected {}", known[1..9].join(", ")),
                    ));
                }
            }
        }
        let language = match v.get("language") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if LANGUAGES.contains(&s.trim()) => Some(s.trim().to_string()),
            Some(other) => {
                errors.push(bad(
                    "language",
                    format!(
                        "`{}` is not a language of the base: kk or ru",
                        crate::web::input::shown(&other.to_string())
                    ),
                ));
                None
            }
        };
        let title = text_field(v, "title", MAX_TITLE, &mut errors);
        let body = text_field(v, "body", MAX_BODY, &mut errors);
        let note = text_field(v, "note", MAX_NOTE, &mut errors);
        let tags = match v.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut tags: Vec<String> = Vec::new();
                if items.len() > MAX_TAGS {
                    errors.push(bad("tags", format!("at most {MAX_TAGS} tags")));
                }
                for item in items.iter().take(MAX_TAGS) {
                    match item
                        .as_str()
                        .map(|s| crate::web::input::clean(s.to_string()))
                    {
                        Some(t) if !t.trim().is_empty() && t.trim().chars().count() <= MAX_TAG => {
                            let t = t.trim().to_string();
                            if !tags.contains(&t) {
                                tags.push(t);
                            }
                        }
                        _ => errors.push(bad(
                            "tags",
                            format!("each tag is a string of 1-{MAX_TAG} characters"),
                        )),
                    }
                }
                Some(tags)
            }
            Some(_) => {
                errors.push(bad("tags", "must be an array of strings"));
                None
            }
        };
        let service = link_field(v, "service", &mut errors);
        let linked_body = link_field(v, "linked_body", &mut errors);
        let publish = match v.get("publish").or_else(|| v.get("published")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(bad("publish", "must be true or false"));
                false
            }
        };
        if creating {
            for (field, given) in [
                ("language", language.is_some()),
                ("title", title.is_some()),
                ("body", body.is_some()),
            ] {
                if !given && !errors.iter().any(|(f, _)| f == field) {
                    errors.push(bad(field, "is required"));
                }
            }
        }
        if !errors.is_empty() {
            return Err(KbError::Invalid(errors));
        }
        Ok(ArticleInput {
            language,
            title,
            body,
            tags,
            service,
            linked_body,
            note,
            publish,
        })
    }
}

type ArticleRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i32,
    Option<i32>,
    (NaiveDateTime, String, NaiveDateTime, String),
    (Option<NaiveDateTime>, Option<String>),
);

fn at(t: &NaiveDateTime) -> String {
    crate::tickets::almaty(t)
}

fn tags_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn head_row(conn: &mut DbConn, id: &str) -> Result<Option<ArticleRow>, DbError> {
    Ok(kb_articles::table
        .find(id)
        .select((
            kb_articles::id,
            kb_articles::language,
            kb_articles::title,
            kb_articles::body,
            kb_articles::tags,
            kb_articles::service_id,
            kb_articles::body_id,
            kb_articles::version,
            kb_articles::published_version,
            (
                kb_articles::created_at,
                kb_articles::created_by,
                kb_articles::updated_at,
                kb_articles::updated_by,
            ),
            (kb_articles::published_at, kb_articles::published_by),
        ))
        .first(conn)
        .optional()?)
}

fn article_of(r: ArticleRow) -> Article {
    let (created_at, created_by, updated_at, updated_by) = r.9;
    Article {
        draft: r.8 != Some(r.7),
        id: r.0,
        language: r.1,
        title: r.2,
        body: r.3,
        tags: tags_of(&r.4),
        service: r.5,
        linked_body: r.6,
        version: r.7,
        head_version: r.7,
        published_version: r.8,
        created_at: at(&created_at),
        created_by,
        updated_at: at(&updated_at),
        updated_by,
        published_at: r.10.0.as_ref().map(at),
        published_by: r.10.1,
    }
}

/// The article as editors see it: its newest version.
pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Article>, DbError> {
    Ok(head_row(conn, id)?.map(article_of))
}

/// The article as staff see it: its published version, if any.
pub fn get_published(conn: &mut DbConn, id: &str) -> Result<Option<Article>, DbError> {
    let Some(mut a) = get(conn, id)? else {
        return Ok(None);
    };
    let Some(p) = a.published_version else {
        return Ok(None);
    };
    if p != a.version {
        let v = version(conn, id, p)?.ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        a.language = v.language;
        a.title = v.title;
        a.body = v.body;
        a.tags = v.tags;
        a.service = v.service;
        a.linked_body = v.linked_body;
        a.version = p;
    }
    a.draft = false;
    Ok(Some(a))
}

type VersionRow = (
    i32,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    NaiveDateTime,
);

fn version_of(r: VersionRow, published: Option<i32>) -> Version {
    Version {
        published: published == Some(r.0),
        version: r.0,
        language: r.1,
        title: r.2,
        body: r.3,
        tags: tags_of(&r.4),
        service: r.5,
        linked_body: r.6,
        changed: serde_json::from_str(&r.7).unwrap_or_default(),
        note: r.8,
        author: r.9,
        at: at(&r.10),
    }
}

const VERSION_COLUMNS: (
    kb_versions::version,
    kb_versions::language,
    kb_versions::title,
    kb_versions::body,
    kb_versions::tags,
    kb_versions::service_id,
    kb_versions::body_id,
    kb_versions::changed,
    kb_versions::note,
    kb_versions::author,
    kb_versions::at,
) = (
    kb_versions::version,
    kb_versions::language,
    kb_versions::title,
    kb_versions::body,
    kb_versions::tags,
    kb_versions::service_id,
    kb_versions::body_id,
    kb_versions::changed,
    kb_versions::note,
    kb_versions::author,
    kb_versions::at,
);

pub fn version(conn: &mut DbConn, id: &str, v: i32) -> Result<Option<Version>, DbError> {
    let published: Option<Option<i32>> = kb_articles::table
        .find(id)
        .select(kb_articles::published_version)
        .first(conn)
        .optional()?;
    let row: Option<VersionRow> = kb_versions::table
        .filter(kb_versions::article_id.eq(id))
        .filter(kb_versions::version.eq(v))
        .select(VERSION_COLUMNS)
        .first(conn)
        .optional()?;
    Ok(row.map(|r| version_of(r, published.flatten())))
}

/// Every version, newest first.
pub fn versions(conn: &mut DbConn, id: &str) -> Result<Option<Vec<Version>>, DbError> {
    let Some(published) = kb_articles::table
        .find(id)
        .select(kb_articles::published_version)
        .first::<Option<i32>>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Vec<VersionRow> = kb_versions::table
        .filter(kb_versions::article_id.eq(id))
        .order(kb_versions::version.desc())
        .select(VERSION_COLUMNS)
        .load(conn)?;
    Ok(Some(
        rows.into_iter().map(|r| version_of(r, published)).collect(),
    ))
}

fn check_links(
    conn: &mut DbConn,
    service: Option<&str>,
    body: Option<&str>,
) -> Result<(), KbError> {
    let mut errors = Vec::new();
    if let Some(s) = service
        && services::table
            .find(s)
            .select(services::id)
            .first::<String>(conn)
            .optional()?
            .is_none()
    {
        errors.push(bad(
            "service",
            format!("no service `{s}` in the registry (see GET /api/v1/services)"),
        ));
    }
    if let Some(b) = body
        && bodies::table
            .find(b)
            .select(bodies::id)
            .first::<String>(conn)
            .optional()?
            .is_none()
    {
        errors.push(bad(
            "linked_body",
            format!("no body `{b}` in the registry (see GET /api/v1/bodies)"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(KbError::Invalid(errors))
    }
}

/// The fields of one version.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    language: String,
    title: String,
    body: String,
    tags: Vec<String>,
    service: Option<String>,
    linked_body: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn write_version(
    conn: &mut DbConn,
    id: &str,
    version: i32,
    f: &Fields,
    changed: &[&str],
    note: Option<&str>,
    author: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(kb_versions::table)
        .values((
            kb_versions::article_id.eq(id),
            kb_versions::version.eq(version),
            kb_versions::language.eq(&f.language),
            kb_versions::title.eq(&f.title),
            kb_versions::body.eq(&f.body),
            kb_versions::tags.eq(serde_json::to_string(&f.tags).expect("tags serialise")),
            kb_versions::service_id.eq(&f.service),
            kb_versions::body_id.eq(&f.linked_body),
            kb_versions::changed.eq(serde_json::to_string(changed).expect("names serialise")),
            kb_versions::note.eq(note),
            kb_versions::author.eq(author),
            kb_versions::at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A new article (version 1, a draft unless `publish`), with the given id or a fresh one.
pub fn create(
    conn: &mut DbConn,
    id: Option<&str>,
    input: &ArticleInput,
    author: &str,
    now: NaiveDateTime,
) -> Result<Article, KbError> {
    let (Some(language), Some(title), Some(body)) = (&input.language, &input.title, &input.body)
    else {
        return Err(KbError::Invalid(vec![bad(
            "title",
            "language, title and body are required",
        )]));
    };
    let f = Fields {
        language: language.clone(),
        title: title.clone(),
        body: body.clone(),
        tags: input.tags.clone().unwrap_or_default(),
        service: input.service.clone().flatten(),
        linked_body: input.linked_body.clone().flatten(),
    };
    check_links(conn, f.service.as_deref(), f.linked_body.as_deref())?;
    let id = id.map_or_else(crate::db::new_id, str::to_string);
    diesel::insert_into(kb_articles::table)
        .values((
            kb_articles::id.eq(&id),
            kb_articles::language.eq(&f.language),
            kb_articles::title.eq(&f.title),
            kb_articles::body.eq(&f.body),
            kb_articles::tags.eq(serde_json::to_string(&f.tags).expect("tags serialise")),
            kb_articles::service_id.eq(&f.service),
            kb_articles::body_id.eq(&f.linked_body),
            kb_articles::version.eq(1),
            kb_articles::published_version.eq(None::<i32>),
            kb_articles::created_at.eq(now),
            kb_articles::created_by.eq(author),
            kb_articles::updated_at.eq(now),
            kb_articles::updated_by.eq(author),
        ))
        .execute(conn)?;
    let all = [
        "language",
        "title",
        "body",
        "tags",
        "service",
        "linked_body",
    ];
    write_version(conn, &id, 1, &f, &all, input.note.as_deref(), author, now)?;
    if input.publish {
        set_published(conn, &id, 1, author, now)?;
    }
    index_article(conn, &id)?;
    get(conn, &id)?.ok_or_else(|| KbError::NotFound(format!("no article `{id}`")))
}

/// Writes the fields given as a new version (a draft unless `publish`); nothing when
/// they change nothing. Returns the article and whether a version was written.
pub fn update(
    conn: &mut DbConn,
    id: &str,
    input: &ArticleInput,
    author: &str,
    now: NaiveDateTime,
) -> Result<(Article, bool), KbError> {
    let Some(before) = get(conn, id)? else {
        return Err(KbError::NotFound(format!("no article `{id}`")));
    };
    let old = Fields {
        language: before.language.clone(),
        title: before.title.clone(),
        body: before.body.clone(),
        tags: before.tags.clone(),
        service: before.service.clone(),
        linked_body: before.linked_body.clone(),
    };
    let new = Fields {
        language: input.language.clone().unwrap_or(old.language.clone()),
        title: input.title.clone().unwrap_or(old.title.clone()),
        body: input.body.clone().unwrap_or(old.body.clone()),
        tags: input.tags.clone().unwrap_or(old.tags.clone()),
        service: input.service.clone().unwrap_or(old.service.clone()),
        linked_body: input.linked_body.clone().unwrap_or(old.linked_body.clone()),
    };
    let mut changed = Vec::new();
    for (name, differs) in [
        ("language", new.language != old.language),
        ("title", new.title != old.title),
        ("body", new.body != old.body),
        ("tags", new.tags != old.tags),
        ("service", new.service != old.service),
        ("linked_body", new.linked_body != old.linked_body),
    ] {
        if differs {
            changed.push(name);
        }
    }
    if changed.is_empty() {
        if input.publish && before.draft {
            set_published(conn, id, before.version, author, now)?;
            index_article(conn, id)?;
            return Ok((get(conn, id)?.expect("exists"), false));
        }
        return Ok((before, false));
    }
    check_links(conn, new.service.as_deref(), new.linked_body.as_deref())?;
    let v = before.version + 1;
    write_version(
        conn,
        id,
        v,
        &new,
        &changed,
        input.note.as_deref(),
        author,
        now,
    )?;
    diesel::update(kb_articles::table.find(id))
        .set((
            kb_articles::language.eq(&new.language),
            kb_articles::title.eq(&new.title),
            kb_articles::body.eq(&new.body),
            kb_articles::tags.eq(serde_json::to_string(&new.tags).expect("tags serialise")),
            kb_articles::service_id.eq(&new.service),
            kb_articles::body_id.eq(&new.linked_body),
            kb_articles::version.eq(v),
            kb_articles::updated_at.eq(now),
            kb_articles::updated_by.eq(author),
        ))
        .execute(conn)?;
    if input.publish {
        set_published(conn, id, v, author, now)?;
    }
    index_article(conn, id)?;
    Ok((get(conn, id)?.expect("exists"), true))
}

fn set_published(
    conn: &mut DbConn,
    id: &str,
    v: i32,
    author: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(kb_articles::table.find(id))
        .set((
            kb_articles::published_version.eq(Some(v)),
            kb_articles::published_at.eq(Some(now)),
            kb_articles::published_by.eq(Some(author)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Publishes `version` (the newest when `None`): staff see that one from now on.
pub fn publish(
    conn: &mut DbConn,
    id: &str,
    version: Option<i32>,
    author: &str,
    now: NaiveDateTime,
) -> Result<Article, KbError> {
    let Some(a) = get(conn, id)? else {
        return Err(KbError::NotFound(format!("no article `{id}`")));
    };
    let v = version.unwrap_or(a.version);
    if v < 1 || v > a.version {
        return Err(KbError::Invalid(vec![bad(
            "version",
            format!("the article has versions 1 to {}", a.version),
        )]));
    }
    set_published(conn, id, v, author, now)?;
    index_article(conn, id)?;
    Ok(get(conn, id)?.expect("exists"))
}

/// One row of `kb_search`, replaced.
#[allow(clippy::too_many_arguments)]
fn put_doc(
    conn: &mut DbConn,
    source: &str,
    ref_id: &str,
    state: &str,
    language: &str,
    service: Option<&str>,
    body: Option<&str>,
    version: i32,
    title: &str,
    text: &str,
) -> Result<(), DbError> {
    diesel::delete(
        kb_search::table
            .filter(kb_search::source.eq(source))
            .filter(kb_search::ref_id.eq(ref_id))
            .filter(kb_search::state.eq(state))
            .filter(kb_search::language.eq(language)),
    )
    .execute(conn)?;
    diesel::insert_into(kb_search::table)
        .values((
            kb_search::source.eq(source),
            kb_search::ref_id.eq(ref_id),
            kb_search::state.eq(state),
            kb_search::language.eq(language),
            kb_search::service_id.eq(service),
            kb_search::body_id.eq(body),
            kb_search::version.eq(version),
            kb_search::title_terms.eq(normalise(title)),
            kb_search::body_terms.eq(normalise(text)),
        ))
        .execute(conn)?;
    vocab::add(conn, SCOPE, &vocab::words_of([title, text]))
}

/// The search rows of an article: its published version, and its draft when the
/// newest version is not the published one.
pub fn index_article(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    diesel::delete(
        kb_search::table
            .filter(kb_search::source.eq("article"))
            .filter(kb_search::ref_id.eq(id)),
    )
    .execute(conn)?;
    let Some(a) = get(conn, id)? else {
        return Ok(());
    };
    if let Some(p) = get_published(conn, id)? {
        let text = format!("{}\n{}", p.body, p.tags.join("\n"));
        put_doc(
            conn,
            "article",
            id,
            "published",
            &p.language,
            p.service.as_deref(),
            p.linked_body.as_deref(),
            p.version,
            &p.title,
            &text,
        )?;
    }
    if a.draft {
        let text = format!("{}\n{}", a.body, a.tags.join("\n"));
        put_doc(
            conn,
            "article",
            id,
            "draft",
            &a.language,
            a.service.as_deref(),
            a.linked_body.as_deref(),
            a.version,
            &a.title,
            &text,
        )?;
    }
    Ok(())
}

/// A passport's title and text in one language, as indexed and shown.
fn passport_texts(s: &crate::registry::services::Service, lang: &str) -> (String, String) {
    let pick = |n: &crate::registry::services::NamesOwned| {
        if lang == "kk" {
            n.kk.clone()
        } else {
            n.ru.clone()
        }
    };
    let title = if lang == "kk" {
        s.name.kk.clone()
    } else {
        s.name.ru.clone()
    };
    let mut parts = vec![s.register_number.clone()];
    for key in crate::registry::services::PASSPORT_TEXTS {
        if let Some(t) = s.passport.text(key) {
            let t = pick(t);
            if !t.trim().is_empty() {
                parts.push(t);
            }
        }
    }
    if !s.keywords.is_empty() {
        parts.push(s.keywords.join(", "));
    }
    if !s.bylaws.trim().is_empty() {
        parts.push(s.bylaws.clone());
    }
    (title, parts.join("\n"))
}

/// The search rows of a service's passport (both languages; none when inactive).
pub fn index_passport(conn: &mut DbConn, service_id: &str) -> Result<(), DbError> {
    diesel::delete(
        kb_search::table
            .filter(kb_search::source.eq("passport"))
            .filter(kb_search::ref_id.eq(service_id)),
    )
    .execute(conn)?;
    let Some(s) = crate::registry::services::get(conn, service_id)? else {
        return Ok(());
    };
    if !s.active {
        return Ok(());
    }
    for lang in LANGUAGES {
        let (title, text) = passport_texts(&s, lang);
        put_doc(
            conn,
            "passport",
            service_id,
            "published",
            lang,
            Some(service_id),
            Some(&s.body_id),
            1,
            &title,
            &text,
        )?;
    }
    Ok(())
}

/// Indexes up to `batch` articles and services that have no search rows yet (those of
/// an older release); returns how many.
pub fn backfill(conn: &mut DbConn, batch: i64) -> Result<usize, DbError> {
    let articles: Vec<String> = kb_articles::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            kb_search::table
                .filter(kb_search::source.eq("article"))
                .filter(kb_search::ref_id.eq(kb_articles::id)),
        )))
        .select(kb_articles::id)
        .limit(batch)
        .load(conn)?;
    for id in &articles {
        index_article(conn, id)?;
    }
    let services: Vec<String> = services::table
        .filter(services::active.eq(1))
        .select(services::id)
        .load(conn)?;
    let indexed: HashSet<String> = kb_search::table
        .filter(kb_search::source.eq("passport"))
        .select(kb_search::ref_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut n = articles.len();
    for id in services
        .iter()
        .filter(|s| !indexed.contains(*s))
        .take(batch as usize)
    {
        index_passport(conn, id)?;
        n += 1;
    }
    Ok(n)
}

/// What to look for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// Words; empty lists the base (newest first).
    pub q: String,
    /// `kk` or `ru`.
    pub language: Option<String>,
    pub service: Option<String>,
    pub body: Option<String>,
    /// Drafts too (editors).
    pub drafts: bool,
    pub limit: i64,
    pub offset: i64,
}

/// One found article or passport, with its title and a passage highlighted (HTML,
/// escaped, matching words in `<mark>`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = KbHit)]
pub struct Hit {
    /// `article` or `passport`.
    pub kind: String,
    /// The article's id, or the service's.
    pub id: String,
    pub language: String,
    /// `published` or `draft`.
    pub state: String,
    pub version: i32,
    pub title: String,
    pub title_html: String,
    pub snippet_html: String,
    /// The whole text (an answer to insert into a reply).
    pub text: String,
    pub tags: Vec<String>,
    pub service: Option<String>,
    pub linked_body: Option<String>,
    pub score: f64,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    ref_id: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Text)]
    language: String,
    #[diesel(sql_type = Nullable<Text>)]
    service_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    body_id: Option<String>,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Double)]
    score: f64,
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    doc: i64,
}

/// Searches the base: ranked (bm25 on SQLite, ts_rank on PostgreSQL; titles count
/// four times), filtered by language, service and body, drafts only for editors. A
/// query with nothing to search for (punctuation, stop words) finds nothing; an empty
/// one lists the base.
pub fn search(conn: &mut DbConn, p: &SearchParams) -> Result<Vec<Hit>, DbError> {
    let mut query = Query::parse(&p.q);
    let listing = p.q.trim().is_empty();
    if query.is_empty() && !listing {
        return Ok(Vec::new());
    }
    vocab::expand(conn, SCOPE, &mut query)?;
    let pg = matches!(conn, DbConn::Pg(_));
    let matcher = if pg { query.tsquery() } else { query.fts5() };
    let mut filters = String::new();
    let mut binds: Vec<Bind<'_>> = Vec::new();
    if !listing {
        binds.push(Bind::Text(&matcher));
    }
    if let Some(l) = &p.language {
        filters.push_str(" AND s.language = ?");
        binds.push(Bind::Text(l));
    }
    if let Some(s) = &p.service {
        filters.push_str(" AND s.service_id = ?");
        binds.push(Bind::Text(s));
    }
    if let Some(b) = &p.body {
        filters.push_str(" AND s.body_id = ?");
        binds.push(Bind::Text(b));
    }
    if !p.drafts {
        filters.push_str(" AND s.state = 'published'");
    }
    binds.push(Bind::Int(p.limit.clamp(1, 100)));
    binds.push(Bind::Int(p.offset.clamp(0, 10_000)));
    let cols = "s.doc AS doc, s.source AS source, s.ref_id AS ref_id, s.state AS state, \
                s.language AS language, s.service_id AS service_id, s.body_id AS body_id, \
                s.version AS version";
    let sql = match (listing, pg) {
        (true, _) => format!(
            "SELECT {cols}, CAST(0 AS DOUBLE PRECISION) AS score FROM kb_search s WHERE 1 = 1{filters} \
             ORDER BY s.doc DESC LIMIT ? OFFSET ?"
        ),
        (false, false) => format!(
            "SELECT {cols}, -bm25(kb_fts, 4.0, 1.0) AS score FROM kb_fts \
             JOIN kb_search s ON s.doc = kb_fts.rowid WHERE kb_fts MATCH ?{filters} \
             ORDER BY score DESC, s.doc ASC LIMIT ? OFFSET ?"
        ),
        (false, true) => format!(
            "SELECT {cols}, CAST(ts_rank(s.tsv, q) AS DOUBLE PRECISION) AS score \
             FROM kb_search s, to_tsquery('simple', ?) q WHERE s.tsv @@ q{filters} \
             ORDER BY score DESC, s.doc ASC LIMIT ? OFFSET ?"
        ),
    };
    let rows: Vec<HitRow> = vocab::load(conn, &sql, &binds)?;
    let terms = query.term_set();
    // The texts of every article hit in one read.
    let article_ids: Vec<&str> = rows
        .iter()
        .filter(|r| r.source == "article")
        .map(|r| r.ref_id.as_str())
        .collect();
    let mut texts: std::collections::HashMap<(String, i32), (String, String, String)> =
        kb_versions::table
            .filter(kb_versions::article_id.eq_any(&article_ids))
            .select((
                kb_versions::article_id,
                kb_versions::version,
                kb_versions::title,
                kb_versions::body,
                kb_versions::tags,
            ))
            .load::<(String, i32, String, String, String)>(conn)?
            .into_iter()
            .map(|(a, v, t, b, g)| ((a, v), (t, b, g)))
            .collect();
    let mut hits = Vec::with_capacity(rows.len());
    for r in rows {
        let (title, text, tags) = if r.source == "article" {
            match texts.remove(&(r.ref_id.clone(), r.version)) {
                Some((t, b, g)) => (t, b, tags_of(&g)),
                None => continue,
            }
        } else {
            match crate::registry::services::get(conn, &r.ref_id)? {
                Some(s) => {
                    let (t, b) = passport_texts(&s, &r.language);
                    (t, b, s.keywords.clone())
                }
                None => continue,
            }
        };
        let linked_body = if r.source == "article" {
            r.body_id
        } else {
            None
        };
        hits.push(Hit {
            kind: r.source,
            id: r.ref_id,
            language: r.language,
            state: r.state,
            version: r.version,
            title_html: search::highlight(&title, &terms),
            snippet_html: search::snippet(&text, &terms, SNIPPET_CHARS),
            title,
            text,
            tags,
            service: r.service_id,
            linked_body,
            score: r.score,
        });
    }
    Ok(hits)
}
