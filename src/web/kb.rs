//! The Knowledge Base over HTTP (R6, R9): `/api/v1/kb/articles` (search, read, write,
//! version, publish) and `/api/v1/kb/import|export`. Staff search and read what is
//! published; editors also write, see drafts and versions, and move whole bases in and
//! out.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::input::record_id;
use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::Permission;
use crate::kb::io::{self, Format, ImportError};
use crate::kb::{self, ArticleInput, KbError, SearchParams};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/kb/articles", web::get().to(search_articles))
        .route("/api/v1/kb/articles", web::post().to(create_article))
        .route("/api/v1/kb/articles/{id}", web::get().to(get_article))
        .route("/api/v1/kb/articles/{id}", web::patch().to(update_article))
        .route(
            "/api/v1/kb/articles/{id}/publish",
            web::post().to(publish_article),
        )
        .route(
            "/api/v1/kb/articles/{id}/versions",
            web::get().to(article_versions),
        )
        .route("/api/v1/kb/export", web::get().to(export_base))
        .route("/api/v1/kb/import", web::post().to(import_base));
}

impl From<KbError> for ApiError {
    fn from(e: KbError) -> Self {
        match e {
            KbError::Invalid(list) => ApiError::Invalid(
                list.into_iter()
                    .map(|(f, m)| FieldError::new(&f, m))
                    .collect(),
            ),
            KbError::NotFound(m) => ApiError::NotFound(m),
            KbError::Db(e) => e.into(),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Rows(rows) => ApiError::Invalid(
                rows.into_iter()
                    .map(|r| FieldError::new(&format!("line {}: {}", r.line, r.field), r.message))
                    .collect(),
            ),
            ImportError::Db(e) => e.into(),
        }
    }
}

fn is_editor(who: &Authed) -> bool {
    who.0.role.may(Permission::EditKnowledgeBase)
}

fn author(who: &Authed) -> String {
    who.0.login.clone()
}

async fn write<T, E, F>(app: &AppData, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<crate::db::DbError> + From<diesel::result::Error> + Into<ApiError> + Send + 'static,
{
    let db = app.db.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        db.write_blocking_as(f)
    })
    .await
    .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    .map_err(Into::into)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Words (any inflected form; a one-letter typo in a word of six letters or more is
    /// forgiven). Empty: the newest articles and passports.
    q: Option<String>,
    /// `kk` or `ru`.
    language: Option<String>,
    /// A service id: its articles and its passport.
    service: Option<String>,
    /// A registry body id: the articles linked to it and its services' passports.
    body: Option<String>,
    /// Editors: include drafts (default true for editors; never for others).
    drafts: Option<bool>,
    /// 1-50 (default 20).
    limit: Option<i64>,
    /// Hits to skip (default 0).
    offset: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/kb/articles",
    tag = "kb",
    summary = "Search the Knowledge Base: articles and service passports, ranked, with highlighted titles and passages",
    params(SearchQuery),
    responses((status = 200, description = "the hits, best first", body = KbHits))
)]
async fn search_articles(
    app: AppData,
    who: Authed,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadKnowledgeBase)?;
    let q = query.into_inner();
    let mut errors = Vec::new();
    let language = q
        .language
        .map(super::input::clean)
        .filter(|l| !l.is_empty());
    if let Some(l) = &language
        && !kb::LANGUAGES.contains(&l.as_str())
    {
        errors.push(FieldError::new(
            "language",
            format!("`{}` is not kk or ru", super::input::shown(l)),
        ));
    }
    let mut id_of = |field: &str, v: Option<String>| match v.filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(v) => match record_id(&v, field) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new(field, "must be a registry id (a UUID)"));
                None
            }
        },
    };
    let service = id_of("service", q.service);
    let body = id_of("body", q.body);
    let limit = q.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 50"));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=10_000).contains(&offset) {
        errors.push(FieldError::new("offset", "must be between 0 and 10000"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let params = SearchParams {
        q: super::input::clean(q.q.unwrap_or_default()),
        language,
        service,
        body,
        drafts: is_editor(&who) && q.drafts.unwrap_or(true),
        limit,
        offset,
    };
    let hits = app.db.run(move |c| kb::search(c, &params)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "hits": hits })))
}

#[utoipa::path(
    post,
    path = "/api/v1/kb/articles",
    tag = "kb",
    summary = "Write a new article (a draft, version 1, unless `publish`)",
    request_body(content = NewArticle),
    responses((status = 201, description = "the article", body = kb::Article))
)]
async fn create_article(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let input = ArticleInput::from_json(&body, true)?;
    let by = author(&who);
    let a = write(&app, move |c| {
        kb::create(c, None, &input, &by, crate::db::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(a))
}

#[utoipa::path(
    get,
    path = "/api/v1/kb/articles/{id}",
    tag = "kb",
    summary = "One article: its newest version for editors, its published version for other staff",
    params(("id" = String, Path, description = "article id")),
    responses((status = 200, description = "the article", body = kb::Article))
)]
async fn get_article(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadKnowledgeBase)?;
    let id = record_id(&path, "article")?;
    let editor = is_editor(&who);
    let i2 = id.clone();
    let a = app
        .db
        .run(move |c| {
            if editor {
                kb::get(c, &i2)
            } else {
                kb::get_published(c, &i2)
            }
        })
        .await?;
    a.map(|a| HttpResponse::Ok().json(a))
        .ok_or_else(|| ApiError::NotFound(format!("no article `{id}`")))
}

#[utoipa::path(
    patch,
    path = "/api/v1/kb/articles/{id}",
    tag = "kb",
    summary = "Change an article: the fields given make a new version (a draft unless `publish`)",
    params(("id" = String, Path, description = "article id")),
    request_body(content = ArticleChange),
    responses((status = 200, description = "the article; `X-New-Version: false` when nothing changed", body = kb::Article))
)]
async fn update_article(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let id = record_id(&path, "article")?;
    let input = ArticleInput::from_json(&body, false)?;
    let by = author(&who);
    let (a, wrote) = write(&app, move |c| {
        kb::update(c, &id, &input, &by, crate::db::now())
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("x-new-version", wrote.to_string()))
        .json(a))
}

#[utoipa::path(
    post,
    path = "/api/v1/kb/articles/{id}/publish",
    tag = "kb",
    summary = "Publish a version (the newest by default): staff see it from now on",
    params(("id" = String, Path, description = "article id")),
    request_body(content = Option<PublishVersion>, description = "optional: without it, the newest version"),
    responses((status = 200, description = "the article", body = kb::Article))
)]
async fn publish_article(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: Option<web::Json<serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let id = record_id(&path, "article")?;
    let version = match body.as_ref().and_then(|b| b.get("version").cloned()) {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                return Err(ApiError::Invalid(vec![FieldError::new(
                    "version",
                    "must be a version number",
                )]));
            }
        },
    };
    let by = author(&who);
    let a = write(&app, move |c| {
        kb::publish(c, &id, version, &by, crate::db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(a))
}

#[utoipa::path(
    get,
    path = "/api/v1/kb/articles/{id}/versions",
    tag = "kb",
    summary = "Every version of an article, newest first: its texts, the fields changed, who and when",
    params(("id" = String, Path, description = "article id")),
    responses((status = 200, description = "the versions, newest first", body = KbVersions))
)]
async fn article_versions(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let id = record_id(&path, "article")?;
    let i2 = id.clone();
    match app.db.run(move |c| kb::versions(c, &i2)).await? {
        Some(v) => Ok(HttpResponse::Ok().json(serde_json::json!({ "versions": v }))),
        None => Err(ApiError::NotFound(format!("no article `{id}`"))),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FormatQuery {
    /// `json` (default) or `csv`.
    format: Option<String>,
}

fn format_of(q: Option<&str>, req: Option<&HttpRequest>) -> Result<Format, ApiError> {
    if let Some(f) = q {
        return Format::parse(f.trim())
            .map_err(|m| ApiError::Invalid(vec![FieldError::new("format", m)]));
    }
    let ct = req
        .and_then(|r| r.headers().get("content-type"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(if ct.starts_with("text/csv") {
        Format::Csv
    } else {
        Format::Json
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/kb/export",
    tag = "kb",
    summary = "The whole base (each article's newest version and whether it is published), as JSON or CSV",
    params(FormatQuery),
    responses((status = 200, description = "the file: JSON `{\"articles\": [...]}`, or CSV with `?format=csv`",
        content((KbExport = "application/json"), (String = "text/csv"))))
)]
async fn export_base(
    app: AppData,
    who: Authed,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let format = format_of(query.format.as_deref(), None)?;
    let text = app.db.run(move |c| io::export(c, format)).await?;
    let (ct, ext) = match format {
        Format::Json => ("application/json", "json"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    Ok(HttpResponse::Ok()
        .content_type(ct)
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"kb.{ext}\""),
        ))
        .body(text))
}

#[utoipa::path(
    post,
    path = "/api/v1/kb/import",
    tag = "kb",
    summary = "Import articles (the whole file or nothing; a 422 names each bad row as `line N: field`)",
    params(FormatQuery),
    request_body(description = "the file as export writes it: JSON, or CSV (`?format=csv` or `Content-Type: text/csv`) with the columns id, language, title, body, tags (`;` between), service, linked_body, published",
        content((KbImport = "application/json"), (String = "text/csv"))),
    responses((status = 200, description = "how many articles were created, updated and left unchanged", body = io::Imported))
)]
async fn import_base(
    app: AppData,
    who: Authed,
    req: HttpRequest,
    query: web::Query<FormatQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::EditKnowledgeBase)?;
    let format = format_of(query.format.as_deref(), Some(&req))?;
    let by = author(&who);
    let done = write(&app, move |c| {
        io::import(c, &body, format, &by, crate::db::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(done))
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: search_articles answers with json!
struct KbHits {
    hits: Vec<kb::Hit>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: article_versions answers with json!
struct KbVersions {
    versions: Vec<kb::Version>,
}

/// The whole base as JSON (the import takes the same file).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: io::export builds it
struct KbExport {
    articles: Vec<KbExported>,
}

/// An article's newest version in the export.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: io::export builds it
struct KbExported {
    id: String,
    language: String,
    title: String,
    body: String,
    tags: Vec<String>,
    service: Option<String>,
    linked_body: Option<String>,
    published: bool,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: ArticleInput::from_json reads them field by field, so
// that each mistake is named).

/// A new article. `id` and `published` are accepted too, so that an exported article can
/// be sent back as it is (`id` is ignored, `published` is `publish`).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: create_article reads the body with ArticleInput::from_json
struct NewArticle {
    #[schema(schema_with = super::openapi::body::language)]
    language: String,
    #[schema(pattern = r"\S", max_length = 300)]
    title: String,
    #[schema(pattern = r"\S", max_length = 100000)]
    body: String,
    #[schema(schema_with = tags)]
    tags: Option<Vec<String>>,
    /// The service it answers about (`null` or `""`: none).
    #[schema(schema_with = link)]
    service: Option<String>,
    /// The registry body it is about (`null` or `""`: none).
    #[schema(schema_with = link)]
    linked_body: Option<String>,
    /// What this version changed.
    #[schema(pattern = r"\S", max_length = 1000)]
    note: Option<String>,
    /// Publish this version at once (otherwise a draft).
    publish: Option<bool>,
    /// Ignored (an export's).
    id: Option<serde_json::Value>,
    /// `publish`, as an export names it.
    published: Option<bool>,
}

/// Any of the fields of a new article: the fields given make a new version.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: update_article reads the body with ArticleInput::from_json
struct ArticleChange {
    #[schema(schema_with = language_or_null)]
    language: Option<String>,
    #[schema(pattern = r"\S", max_length = 300)]
    title: Option<String>,
    #[schema(pattern = r"\S", max_length = 100000)]
    body: Option<String>,
    #[schema(schema_with = tags)]
    tags: Option<Vec<String>>,
    #[schema(schema_with = link)]
    service: Option<String>,
    #[schema(schema_with = link)]
    linked_body: Option<String>,
    #[schema(pattern = r"\S", max_length = 1000)]
    note: Option<String>,
    publish: Option<bool>,
    id: Option<serde_json::Value>,
    published: Option<bool>,
}

/// The version to publish.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: publish_article reads the body
struct PublishVersion {
    #[schema(minimum = 1)]
    version: Option<i32>,
}

fn tags() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null_array(
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(super::openapi::body::text(kb::MAX_TAG))
            .max_items(Some(kb::MAX_TAGS))
            .build(),
    )
}

fn link() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(super::openapi::body::uuid())
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(r"^\s*$")),
        )
        .item(
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::Null),
        )
        .into()
}

fn language_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::language())
}

/// A file of articles: `{"articles": [...]}` or the bare list. A known `id` updates that
/// article (a new version when something changed); none, or an unknown one, adds it.
struct KbImport;

impl utoipa::PartialSchema for KbImport {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder};
        let list = || {
            ArrayBuilder::new()
                .items(ImportedArticle::schema())
                .max_items(Some(io::MAX_ARTICLES))
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .property("articles", list())
                    .required("articles"),
            )
            .item(list())
            .into()
    }
}

impl utoipa::ToSchema for KbImport {}

/// An article of an import file, as the export writes it.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // schema only: io::import reads each with ArticleInput::from_json
struct ImportedArticle {
    /// The article's id, to update it; none for a new article.
    #[schema(schema_with = id_or_null)]
    id: Option<String>,
    #[schema(schema_with = super::openapi::body::language)]
    language: String,
    #[schema(pattern = r"\S", max_length = 300)]
    title: String,
    #[schema(pattern = r"\S", max_length = 100000)]
    body: String,
    #[schema(schema_with = tags)]
    tags: Option<Vec<String>>,
    #[schema(schema_with = link)]
    service: Option<String>,
    #[schema(schema_with = link)]
    linked_body: Option<String>,
    #[schema(pattern = r"\S", max_length = 1000)]
    note: Option<String>,
    published: Option<bool>,
    publish: Option<bool>,
}

fn id_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::uuid())
}
