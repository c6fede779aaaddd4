//! The API as a contract: an OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` annotations, completed from the access table (who may call each
//! operation, its bearer security, its 401/403) and from the shape of each operation (the
//! problem+json errors its parameters and body can earn), so neither can drift from what
//! the server does. Served at `GET /api/v1/openapi.json` and, rendered by us, at
//! `GET /api/docs`.

use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use minijinja::context;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{AppData, access};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baylanys",
        description = "The omnichannel ticketing server of the Unified Contact Center 1414. \
            Staff routes take `Authorization: Bearer TOKEN` (`baylanys token create`); errors \
            are `application/problem+json` (RFC 9457) carrying the request's `request_id`, \
            which every answer echoes in `X-Request-Id`; a 422 lists each bad field in \
            `errors`. Who may call each operation comes from the access table the server \
            enforces (docs/ACCESS.md)."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics_route,
        super::public::submit_json,
        super::api::list_tickets,
        super::api::get_ticket,
        super::api::get_attachment,
        super::api::post_reply,
        super::api::post_assign,
        super::api::post_transfer,
        super::api::post_close,
        super::api::post_status,
        super::api::post_note,
        super::api::post_merge,
        super::api::post_split,
        super::api::calendar_due,
        super::api::calendar_year,
        super::api::put_calendar_day,
        super::api::put_movable_days,
        super::api::export_applicant,
        super::services::ticket_services,
        super::services::link_service,
        super::services::set_services,
        super::services::unlink_service,
        super::services::set_contact_body,
        super::forwards::create_forward,
        super::forwards::list_forwards,
        super::forwards::list_overdue,
        super::forwards::get_forward,
        super::forwards::get_forward_attachment,
        super::forwards::post_answer,
        super::forwards::post_decline,
        super::forwards::post_relay,
        super::forwards::post_accept,
        super::forwards::list_notices,
        super::forwards::get_notice,
        super::forwards::post_confirm,
        super::mail_api::post_inbound_email,
        super::mail_api::list_quarantine,
        super::mail_api::get_quarantined,
        super::mail_api::retry_quarantined,
        super::mail_api::release_quarantined,
        super::mail_api::list_unmatched_reports,
        super::queues::list,
        super::queues::create,
        super::queues::get,
        super::queues::update,
        super::queues::put_contact,
        super::users::list,
        super::users::create,
        super::users::change,
        super::previews::get_preview,
        super::registry::list_bodies,
        super::registry::create_body,
        super::registry::get_body,
        super::registry::update_body,
        super::services::body_card,
        super::registry::add_person,
        super::registry::update_person,
        super::outages::telegram_link,
        super::registry::list_systems,
        super::registry::create_system,
        super::registry::get_system,
        super::registry::rename_system,
        super::services::list_services,
        super::services::create_service,
        super::services::stage_lookup,
        super::services::overdue_steps,
        super::services::get_service,
        super::services::update_service,
        super::services::get_timeline,
        super::services::record_step,
        super::services::export_csv,
        super::services::import_csv,
        super::outages::declare,
        super::outages::list,
        super::outages::compliance,
        super::outages::detail,
        super::outages::change,
        super::outages::cancel,
        super::outages::complete,
        super::calls::event,
        super::calls::import_csv,
        super::calls::wait_stats,
        super::calls::detail,
        super::calls::ticket,
        super::calls::recording,
        super::calls::recording_access,
        super::calls::submit_request,
        super::calls::request_detail,
        super::calls::release_request,
        super::calls::request_archive,
        super::whatsapp_hook::handshake,
        super::whatsapp_hook::webhook,
        super::kb::search_articles,
        super::kb::create_article,
        super::kb::get_article,
        super::kb::update_article,
        super::kb::publish_article,
        super::kb::article_versions,
        super::kb::export_base,
        super::kb::import_base,
        super::reports::rate_api,
        super::reports::figures,
        super::reports::monthly_report,
        super::reports::ict_report,
        super::reports::analytics_report,
        super::reports::service_level_report,
        super::reports::runs,
        super::reports::run,
        super::reports::start_run,
        super::reports::retry_run,
        super::reports::list_choices,
        super::reports::create_choice,
        super::reports::update_choice,
        super::reports::classify,
        super::reports::list_discrepancies,
        super::reports::create_discrepancy,
        super::reports::get_discrepancy,
        super::reports::answer_discrepancy,
        openapi_json,
    ),
    components(schemas(super::Problem, super::FieldError)),
    modifiers(&FromAccessTable)
)]
pub struct ApiDoc;

/// Fills in, for every operation, what the access table and the operation's shape say.
struct FromAccessTable;

const METHODS: [&str; 8] = [
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

impl Modify for FromAccessTable {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token: `baylanys token create --login LOGIN`"))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for (method, op) in METHODS.iter().zip(ops) {
                let Some(op) = op.as_mut() else { continue };
                // A documented operation the access table does not know is a bug: the
                // test that builds the document fails on it.
                let access = access::of(method, path)
                    .unwrap_or_else(|| panic!("{method} {path} is not in access::ROUTES"));
                complete(method, op, access);
            }
        }
    }
}

fn complete(method: &str, op: &mut Operation, access: access::Access) {
    let who = format!("**Who may:** {}.", access.who());
    op.description = Some(match op.description.take() {
        Some(d) if !d.is_empty() => format!("{d}\n\n{who}"),
        _ => who,
    });
    let params = op.parameters.as_deref().unwrap_or_default();
    let in_path = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let in_query_or_header = params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header));
    let has_body = op.request_body.is_some();
    let mut errors: Vec<(u16, &str)> = Vec::new();
    if in_path || in_query_or_header || has_body {
        errors.push((
            400,
            "a parameter or the body cannot be read (not JSON, wrong type)",
        ));
    }
    if access.needs_token() {
        op.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        errors.push((401, "no token, or a revoked one"));
        errors.push((403, "the token's role may not call this"));
    }
    if in_path {
        errors.push((404, "no such record"));
    }
    if has_body {
        errors.push((
            408,
            "the body did not arrive within BAYLANYS_BODY_TIMEOUT_SECS",
        ));
    }
    if method != "GET" && in_path {
        errors.push((409, "the record's state does not allow this now"));
    }
    if has_body {
        errors.push((413, "the body is larger than BAYLANYS_MAX_MESSAGE_BYTES"));
    }
    if in_path || in_query_or_header || has_body {
        errors.push((
            422,
            "a value is not acceptable: `errors` names each field and what to do",
        ));
    }
    errors.push((
        503,
        "the database is unavailable (nothing changed; retry), or too many uploads at once",
    ));
    for (status, description) in errors {
        let key = status.to_string();
        if op.responses.responses.contains_key(&key) {
            continue;
        }
        op.responses
            .responses
            .insert(key, RefOr::T(problem(description)));
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Pieces of the request bodies' schemas that several handlers share. The handlers read
/// and check the bodies themselves; these only describe what they accept.
pub(super) mod body {
    use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

    /// What a text needs to be more than blanks: one character that is not white space.
    pub const NOT_BLANK: &str = r"\S";

    /// A string that is one of `values`.
    pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.into_iter().map(str::to_string)))
            .build()
    }

    /// A text of 1 to `max` characters, not only blanks.
    pub fn text(max: usize) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NOT_BLANK))
            .max_length(Some(max))
            .build()
    }

    /// `{"kk": ..., "ru": ...}`, both required and not blank, each at most `max` characters.
    pub fn names(max: usize) -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("kk", text(max))
            .property("ru", text(max))
            .required("kk")
            .required("ru")
            .build()
    }

    /// A registry text in both languages (bodies, systems, services: 500 characters).
    pub fn registry_names() -> Object {
        names(500)
    }

    /// A record id: a UUID, as the registry and the tickets give them.
    pub fn uuid() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".into())))
            .build()
    }

    /// An RFC 3339 instant with its offset, in the years 2000-2099.
    pub fn instant() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .pattern(Some(r"^(20[0-9]{2}|2100)-"))
            .build()
    }

    /// A day, `YYYY-MM-DD`, in the years 2000-2099.
    pub fn day() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(r"^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$"))
            .build()
    }

    /// A month, `YYYY-MM`, in the years 2000-2099.
    pub fn month() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^20[0-9]{2}-(0[1-9]|1[0-2])$"))
            .build()
    }

    /// A registration number, e.g. `UCC-2026-000042`.
    pub fn ticket_number() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\s*[A-Za-z0-9]+-[0-9]{4}-[0-9]{6,}\s*$"))
            .build()
    }

    /// An e-mail address.
    pub fn email() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(254))
            .build()
    }

    /// `schema` or `null`.
    pub fn or_null(schema: Object) -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(schema)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    /// `schema`, with at least one of `fields` given.
    pub fn one_of_required(schema: RefOr<Schema>, fields: &[&str]) -> RefOr<Schema> {
        let mut any = utoipa::openapi::schema::AnyOfBuilder::new();
        for f in fields {
            any = any.item(ObjectBuilder::new().required(*f));
        }
        utoipa::openapi::schema::AllOfBuilder::new()
            .item(schema)
            .item(any)
            .into()
    }

    /// `array` or `null`.
    pub fn or_null_array(array: utoipa::openapi::schema::Array) -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(array)
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    /// The region codes of the appeal form (tickets::domain::REGIONS).
    pub fn region() -> Object {
        one_of(crate::tickets::domain::REGIONS.iter().map(|r| r.0))
    }

    /// The topic codes of the appeal form (tickets::domain::TOPICS).
    pub fn topic() -> Object {
        one_of(crate::tickets::domain::TOPICS.iter().map(|t| t.0))
    }

    /// A language an applicant is answered in.
    pub fn language() -> Object {
        one_of(["kk", "ru"])
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/openapi.json", web::get().to(openapi_json))
        .route("/api/docs", web::get().to(docs_page));
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    summary = "This document (OpenAPI 3.1); a readable page of it is at GET /api/docs",
    responses((status = 200, description = "the OpenAPI document", body = serde_json::Value))
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// GET /api/docs: the document as a plain page (no scripts, nothing fetched).
async fn docs_page(app: AppData) -> HttpResponse {
    let doc = serde_json::to_value(document()).unwrap_or_default();
    let mut operations = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method.to_ascii_lowercase()) else {
                    continue;
                };
                let responses: Vec<serde_json::Value> = op["responses"]
                    .as_object()
                    .map(|r| {
                        r.iter()
                            .map(|(status, resp)| {
                                serde_json::json!({
                                    "status": status,
                                    "description": resp["description"],
                                    "content": resp["content"].as_object()
                                        .map(|c| c.keys().cloned().collect::<Vec<_>>())
                                        .unwrap_or_default(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = &op["requestBody"];
                operations.push(serde_json::json!({
                    "method": method,
                    "path": path,
                    "anchor": format!("{}-{}", method.to_ascii_lowercase(),
                        path.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
                    "tag": op["tags"][0],
                    "summary": op["summary"],
                    "description": op["description"],
                    "parameters": op["parameters"],
                    "body": if body.is_null() { serde_json::Value::Null } else {
                        serde_json::json!({
                            "description": body["description"],
                            "required": body["required"],
                            "content": body["content"].as_object().map(|c| c.iter().map(|(k, v)| {
                                serde_json::json!({"type": k, "schema": schema_text(&v["schema"])})
                            }).collect::<Vec<_>>()).unwrap_or_default(),
                        })
                    },
                    "responses": responses,
                }));
            }
        }
    }
    let schemas: Vec<serde_json::Value> = doc["components"]["schemas"]
        .as_object()
        .map(|s| {
            s.iter()
                .map(|(name, schema)| {
                    let required: Vec<&str> = schema["required"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    let fields: Vec<serde_json::Value> = schema["properties"]
                        .as_object()
                        .map(|p| {
                            p.iter()
                                .map(|(field, s)| {
                                    serde_json::json!({
                                        "name": field,
                                        "type": schema_text(s),
                                        "required": required.contains(&field.as_str()),
                                        "description": s["description"],
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    serde_json::json!({"name": name, "description": schema["description"], "fields": fields})
                })
                .collect()
        })
        .unwrap_or_default();
    let html = app.templates.page(
        "web/api_docs.html",
        baylanys_core::Language::En,
        context! {
            title => doc["info"]["title"],
            version => doc["info"]["version"],
            intro => doc["info"]["description"],
            operations,
            schemas,
        },
    );
    match html {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => actix_web::ResponseError::error_response(&super::ApiError::internal(e)),
    }
}

/// A schema in a few words: `Problem`, `string`, `array of AttachmentInput`, `any`.
fn schema_text(s: &serde_json::Value) -> String {
    if let Some(r) = s["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(one) = s["oneOf"].as_array() {
        return one.iter().map(schema_text).collect::<Vec<_>>().join(" or ");
    }
    let kind = match &s["type"] {
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        _ => return "any".into(),
    };
    if kind.starts_with("array") {
        return format!("{kind} of {}", schema_text(&s["items"]));
    }
    kind
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// JSON success answers whose body is, on purpose, not described field by field:
    /// (method, path, status, why).
    const FREE_FORM: &[(&str, &str, &str, &str)] = &[
        (
            "GET",
            "/api/v1/openapi.json",
            "200",
            "the OpenAPI document itself (its schema is the OpenAPI 3.1 specification's)",
        ),
        (
            "GET",
            "/api/v1/quarantine/{id}",
            "200",
            "a quarantined chat update exactly as the platform sent it (it was quarantined because it could not be read)",
        ),
    ];

    /// A schema that says nothing about the body: `{}`, or an object without properties.
    fn says_nothing(doc: &Value, schema: &Value) -> bool {
        if let Some(r) = schema["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or(r);
            return says_nothing(doc, &doc["components"]["schemas"][name]);
        }
        let Some(o) = schema.as_object() else {
            return true;
        };
        let described = [
            "properties",
            "items",
            "oneOf",
            "anyOf",
            "allOf",
            "enum",
            "const",
        ]
        .iter()
        .any(|k| o.contains_key(*k))
            || o.get("additionalProperties").is_some_and(Value::is_object);
        let scalar = match &o.get("type") {
            Some(Value::String(t)) => t != "object",
            Some(Value::Array(ts)) => ts.iter().any(|t| t != "object" && t != "null"),
            _ => false,
        };
        !(described || scalar)
    }

    /// JSON request bodies that, on purpose, name no required field: (method, path, why).
    const NOTHING_REQUIRED: &[(&str, &str, &str)] = &[
        (
            "PATCH",
            "/api/v1/users/{login}",
            "a change: any of the account's fields",
        ),
        (
            "POST",
            "/api/v1/tickets/{number}/close",
            "the body is optional: a resolution, if any",
        ),
        (
            "POST",
            "/api/v1/forwards/{id}/relay",
            "optional: without it the body's answer goes as it is",
        ),
        (
            "POST",
            "/api/v1/kb/articles/{id}/publish",
            "optional: without it the newest version",
        ),
        (
            "POST",
            "/api/v1/bodies/{id}/telegram-link",
            "optional: without it the code links the body itself",
        ),
        (
            "PATCH",
            "/api/v1/bodies/{id}",
            "a change: any of the fields",
        ),
        (
            "PATCH",
            "/api/v1/bodies/{id}/persons/{person}",
            "a change: any of the fields",
        ),
        (
            "PATCH",
            "/api/v1/services/{id}",
            "a change: any of the fields",
        ),
        (
            "PATCH",
            "/api/v1/outages/{id}",
            "a change: any of the fields (at least one)",
        ),
        (
            "PATCH",
            "/api/v1/kb/articles/{id}",
            "a change: any of the fields",
        ),
        (
            "PATCH",
            "/api/v1/reports/choices/{id}",
            "a change: any of the fields",
        ),
        (
            "PATCH",
            "/api/v1/queues/{code}",
            "a change: any of the fields",
        ),
        (
            "PUT",
            "/api/v1/queues/{code}",
            "a change: any of the fields",
        ),
        (
            "PUT",
            "/api/v1/users/{login}/contact",
            "absent keeps a field, null clears it",
        ),
        (
            "PUT",
            "/api/v1/tickets/{number}/classification",
            "absent keeps a classification, null clears it",
        ),
        (
            "POST",
            "/api/v1/kb/import",
            "the file may be the bare list of articles (each names its required fields)",
        ),
    ];

    /// JSON request bodies that cannot be typed: (method, path, why). None so far.
    const UNTYPED_BODIES: &[(&str, &str, &str)] = &[];

    /// The schema with its `$ref` followed.
    fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or(r);
                resolved(doc, &doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The fields a body must have: its `required`, those of every `allOf` part, and those
    /// every `oneOf`/`anyOf` alternative shares (at least one each).
    fn required_fields(doc: &Value, schema: &Value) -> Vec<String> {
        let schema = resolved(doc, schema);
        let mut out: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            out.extend(required_fields(doc, part));
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = schema[key].as_array() {
                let each: Vec<Vec<String>> = alternatives
                    .iter()
                    .map(|a| required_fields(doc, a))
                    .collect();
                if each.iter().all(|r| !r.is_empty()) {
                    out.extend(each.into_iter().flatten());
                }
            }
        }
        out
    }

    #[test]
    fn every_json_request_body_has_a_schema_with_its_required_fields() {
        let doc = serde_json::to_value(super::document()).expect("the document serialises");
        let (mut untyped, mut optional) = (Vec::new(), Vec::new());
        let mut bodies = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("an operation map") {
                let method = method.to_uppercase();
                let Some(content) = op["requestBody"]["content"].as_object() else {
                    continue;
                };
                for (kind, media) in content {
                    if !kind.contains("json") {
                        continue;
                    }
                    bodies += 1;
                    let schema = &media["schema"];
                    if says_nothing(&doc, schema) {
                        untyped.push((method.clone(), path.clone()));
                    } else if required_fields(&doc, schema).is_empty() {
                        optional.push((method.clone(), path.clone()));
                    }
                }
            }
        }
        assert!(bodies > 40, "only {bodies} JSON request bodies found");
        for (list, found, what) in [
            (
                UNTYPED_BODIES,
                &untyped,
                "have no schema (type them, or name them in UNTYPED_BODIES with a reason)",
            ),
            (
                NOTHING_REQUIRED,
                &optional,
                "name no required field (list them, or name them in NOTHING_REQUIRED with a reason)",
            ),
        ] {
            let unexplained: Vec<_> = found
                .iter()
                .filter(|(m, p)| {
                    !list
                        .iter()
                        .any(|(lm, lp, _)| (lm, lp) == (&m.as_str(), &p.as_str()))
                })
                .collect();
            assert!(
                unexplained.is_empty(),
                "{} JSON request bodies {what}: {unexplained:#?}",
                unexplained.len()
            );
            // An exception that is no longer one is taken off its list.
            for (m, p, _) in list {
                assert!(
                    found
                        .iter()
                        .any(|(fm, fp)| (fm.as_str(), fp.as_str()) == (*m, *p)),
                    "{m} {p} is listed as an exception but is not one now"
                );
            }
        }
    }

    #[test]
    fn a_json_request_body_that_refuses_unknown_fields_says_so() {
        let doc = serde_json::to_value(super::document()).expect("the document serialises");
        // The handlers that name an unknown field as a mistake (unknown_fields, from_json).
        for (method, path) in [
            ("post", "/api/v1/bodies"),
            ("post", "/api/v1/services"),
            ("post", "/api/v1/tickets/{number}/forwards"),
            ("post", "/api/v1/outages"),
            ("post", "/api/v1/queues"),
            ("post", "/api/v1/kb/articles"),
        ] {
            let schema = resolved(
                &doc,
                &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"],
            );
            let closed =
                |s: &Value| resolved(&doc, s)["additionalProperties"] == Value::Bool(false);
            assert!(
                closed(schema)
                    || schema["allOf"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(closed)),
                "{method} {path}: {schema:#}"
            );
        }
    }

    #[test]
    fn every_json_success_answer_has_a_schema_that_describes_it() {
        let doc = serde_json::to_value(super::document()).expect("the document serialises");
        let mut vague = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("an operation map") {
                let method = method.to_uppercase();
                for (status, response) in op["responses"].as_object().expect("responses") {
                    if !status.starts_with('2') {
                        continue;
                    }
                    let Some(content) = response["content"].as_object() else {
                        continue;
                    };
                    for (kind, media) in content {
                        if !kind.contains("json") {
                            continue;
                        }
                        if says_nothing(&doc, &media["schema"]) {
                            vague.push((method.clone(), path.clone(), status.clone()));
                        }
                    }
                }
            }
        }
        let unexplained: Vec<_> = vague
            .iter()
            .filter(|(m, p, s)| {
                !FREE_FORM
                    .iter()
                    .any(|(fm, fp, fs, _)| (fm, fp, fs) == (&m.as_str(), &p.as_str(), &s.as_str()))
            })
            .collect();
        assert!(
            unexplained.is_empty(),
            "{} JSON success answers have no schema (give each its type, or name it in FREE_FORM with a reason): {unexplained:#?}",
            unexplained.len()
        );
        // An exception that has got a schema since is taken off the list.
        for (m, p, s, _) in FREE_FORM {
            assert!(
                vague
                    .iter()
                    .any(|(vm, vp, vs)| (vm.as_str(), vp.as_str(), vs.as_str()) == (*m, *p, *s)),
                "{m} {p} {s} is in FREE_FORM but has a schema now"
            );
        }
    }
}
