//! Ratings (R10) and reports (P1-P4) over HTTP: the e-mail rating links and the status
//! page's rating form (no sign-in, no JavaScript), the ratings' figures, the monthly
//! report (XLSX or CSV), the ICT report, the analytics with SVG charts, the runs with
//! their deliveries, the classification choices, and discrepancy requests.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Language;
use minijinja::context;

use super::{ApiError, AppData, Authed, FieldError};
use crate::auth::{Permission, Role};
use crate::ratings::{self, Outcome, Source};
use crate::reports::analytics::{self, Dimension};
use crate::reports::{Format, Month, ReportError, choices, discrepancy, ict, jobs, monthly, svg};

/// The largest form body the rating pages read (a comment of 2000 characters fits many
/// times over, percent-encoded).
const MAX_FORM: usize = 64 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/rate/{token}/comment", web::post().to(rate_comment))
        .route("/rate/{token}/{score}", web::get().to(rate_link))
        .route("/appeals/{number}/rating", web::post().to(rate_form))
        .route("/api/v1/tickets/{number}/ratings", web::post().to(rate_api))
        .route("/api/v1/ratings/figures", web::get().to(figures))
        .route("/api/v1/reports/monthly", web::get().to(monthly_report))
        .route("/api/v1/reports/ict", web::get().to(ict_report))
        .route("/api/v1/reports/analytics", web::get().to(analytics_report))
        .route(
            "/api/v1/reports/service-level",
            web::get().to(service_level_report),
        )
        .route("/api/v1/reports/runs", web::get().to(runs))
        .route("/api/v1/reports/runs", web::post().to(start_run))
        .route("/api/v1/reports/runs/{id}", web::get().to(run))
        .route("/api/v1/reports/runs/{id}/retry", web::post().to(retry_run))
        .route("/api/v1/reports/choices", web::get().to(list_choices))
        .route("/api/v1/reports/choices", web::post().to(create_choice))
        .route(
            "/api/v1/reports/choices/{id}",
            web::patch().to(update_choice),
        )
        .route(
            "/api/v1/tickets/{number}/classification",
            web::put().to(classify),
        )
        .route(
            "/api/v1/reports/discrepancies",
            web::get().to(list_discrepancies),
        )
        .route(
            "/api/v1/reports/discrepancies",
            web::post().to(create_discrepancy),
        )
        .route(
            "/api/v1/reports/discrepancies/{id}",
            web::get().to(get_discrepancy),
        )
        .route(
            "/api/v1/reports/discrepancies/{id}/answer",
            web::post().to(answer_discrepancy),
        );
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Db(e) => e.into(),
            ReportError::NotFound(m) => ApiError::NotFound(m),
            ReportError::Write(m) => ApiError::internal(m),
        }
    }
}

fn report_db(e: ReportError) -> crate::db::DbError {
    match e {
        ReportError::Db(e) => e,
        other => crate::db::DbError::Unavailable(other.to_string()),
    }
}

fn invalid(list: Vec<(String, String)>) -> ApiError {
    ApiError::Invalid(
        list.into_iter()
            .map(|(f, m)| FieldError::new(&f, m))
            .collect(),
    )
}

fn outcome_error(o: Outcome) -> ApiError {
    match o {
        Outcome::Invalid { field, message } => {
            ApiError::Invalid(vec![FieldError::new(&field, message)])
        }
        Outcome::AlreadyRated => ApiError::Conflict("this conversation was already rated".into()),
        Outcome::Unknown => ApiError::NotFound("no such ticket or rating offer".into()),
        Outcome::Recorded { .. } => ApiError::internal("a recorded rating is not an error"),
    }
}

// ---- the applicant's side ----

fn page(app: &AppData, lang: Language, status: StatusCode, ctx: minijinja::Value) -> HttpResponse {
    match app.templates.page("web/rate.html", lang, ctx) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "rating page template failed");
            HttpResponse::InternalServerError().body("page template failed")
        }
    }
}

fn lang_of(s: &str) -> Language {
    match s.parse::<Language>() {
        Ok(Language::Kk) => Language::Kk,
        _ => Language::Ru,
    }
}

/// Checks a link's token: the offer, or the page that says why not.
async fn offer_of(
    app: &AppData,
    req: &HttpRequest,
    token: &str,
) -> Result<ratings::Offer, HttpResponse> {
    let fallback = super::page_language(req);
    let now = app.clock.now().naive_utc();
    let t = token.to_string();
    let found = app
        .db
        .write(move |c| {
            let key = ratings::link_key(c)?;
            match ratings::verify(&key, &t, now) {
                Ok(id) => Ok(Ok(ratings::load_offer(c, &id)?)),
                Err(e) => {
                    // An expired link still names its offer: answer in its language.
                    let id = t.split('.').next().unwrap_or("").to_string();
                    let lang = ratings::load_offer(c, &id)?.map(|o| o.language);
                    Ok(Err((e, lang)))
                }
            }
        })
        .await;
    match found {
        Ok(Ok(Some(o))) => Ok(o),
        Ok(Ok(None)) => Err(page(
            app,
            fallback,
            StatusCode::NOT_FOUND,
            context! { state => "forged" },
        )),
        Ok(Err((ratings::TokenError::Expired, lang))) => {
            let lang = lang.map(|l| lang_of(&l)).unwrap_or(fallback);
            Err(page(
                app,
                lang,
                StatusCode::GONE,
                context! { state => "expired" },
            ))
        }
        Ok(Err((ratings::TokenError::Forged, _))) => Err(page(
            app,
            fallback,
            StatusCode::NOT_FOUND,
            context! { state => "forged" },
        )),
        Err(e) => {
            tracing::error!(error = %e, "rating link");
            Err(HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "30"))
                .body("temporarily unavailable, please retry"))
        }
    }
}

/// GET /rate/{token}/{score}: the one-click rating from the e-mail.
async fn rate_link(
    app: AppData,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (token, score) = path.into_inner();
    let offer = match offer_of(&app, &req, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let lang = lang_of(&offer.language);
    let Some(score) = score.parse::<i32>().ok().filter(|s| (1..=5).contains(s)) else {
        return page(
            &app,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { state => "invalid", message => if lang == Language::Kk {
                "Баға 1-ден 5-ке дейінгі сан болуы керек."
            } else {
                "Оценка — число от 1 до 5."
            } },
        );
    };
    if offer.used {
        return page(
            &app,
            lang,
            StatusCode::CONFLICT,
            context! { state => "used" },
        );
    }
    let input = ratings::RatingInput {
        ticket_id: offer.ticket_id.clone(),
        channel: "email".into(),
        score,
        source: Some(Source::EmailLink),
        request_id: Some(offer.request_id.clone()),
        ..Default::default()
    };
    match app.db.write(move |c| ratings::record(c, input)).await {
        Ok(Outcome::Recorded { .. }) => page(
            &app,
            lang,
            StatusCode::OK,
            context! { state => "recorded", score, token, number => offer.number },
        ),
        Ok(Outcome::AlreadyRated) => page(
            &app,
            lang,
            StatusCode::CONFLICT,
            context! { state => "used" },
        ),
        Ok(_) => page(
            &app,
            lang,
            StatusCode::NOT_FOUND,
            context! { state => "forged" },
        ),
        Err(e) => {
            tracing::error!(error = %e, "rating link");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "30"))
                .body("temporarily unavailable")
        }
    }
}

fn read_form(body: &[u8]) -> Result<HashMap<String, String>, String> {
    if body.len() > MAX_FORM {
        return Err(format!("the form is larger than {} KiB", MAX_FORM / 1024));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())?;
    let mut map = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    Ok(map)
}

fn survey(form: &HashMap<String, String>, key: &str) -> Result<Option<i32>, ()> {
    match form.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i32>()
            .ok()
            .filter(|v| (1..=3).contains(v))
            .map(Some)
            .ok_or(()),
    }
}

fn bad_form(app: &AppData, lang: Language, message: &str) -> HttpResponse {
    page(
        app,
        lang,
        StatusCode::UNPROCESSABLE_ENTITY,
        context! { state => "invalid", message },
    )
}

fn invalid_text(lang: Language, field: &str) -> &'static str {
    match (lang, field) {
        (Language::Kk, "comment") => "Пікір тым ұзын: 2000 таңбаға дейін қысқартыңыз.",
        (_, "comment") => "Комментарий слишком длинный: сократите до 2000 знаков.",
        (Language::Kk, "score") => "Баға 1-ден 5-ке дейінгі сан болуы керек.",
        (_, "score") => "Оценка — число от 1 до 5.",
        (Language::Kk, _) => "Сауалнама жауабы 1, 2 немесе 3 болуы керек.",
        _ => "Ответ на вопрос анкеты — 1, 2 или 3.",
    }
}

/// POST /rate/{token}/comment: the optional comment and survey after a link rating.
async fn rate_comment(
    app: AppData,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let token = path.into_inner();
    let offer = match offer_of(&app, &req, &token).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let lang = lang_of(&offer.language);
    let form = match read_form(&body) {
        Ok(f) => f,
        Err(_) => return bad_form(&app, lang, invalid_text(lang, "comment")),
    };
    let (Ok(q1), Ok(q2)) = (
        survey(&form, "satisfied_process"),
        survey(&form, "satisfied_info"),
    ) else {
        return bad_form(&app, lang, invalid_text(lang, "survey"));
    };
    let comment = form.get("comment").cloned();
    let id = offer.request_id.clone();
    match app
        .db
        .write(move |c| ratings::add_comment(c, &id, comment.as_deref(), q1, q2))
        .await
    {
        Ok(Outcome::Recorded { .. }) => page(
            &app,
            lang,
            StatusCode::OK,
            context! { state => "commented" },
        ),
        Ok(Outcome::Invalid { field, .. }) => bad_form(&app, lang, invalid_text(lang, &field)),
        Ok(_) => page(
            &app,
            lang,
            StatusCode::CONFLICT,
            context! { state => "used" },
        ),
        Err(e) => {
            tracing::error!(error = %e, "rating comment");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "30"))
                .body("temporarily unavailable")
        }
    }
}

/// POST /appeals/{number}/rating: the status page's form (its key proves the applicant).
async fn rate_form(
    app: AppData,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let number = path.into_inner();
    let mut lang = super::page_language(&req);
    let form = match read_form(&body) {
        Ok(f) => f,
        Err(_) => return bad_form(&app, lang, invalid_text(lang, "comment")),
    };
    if let Some(l) = form.get("lang") {
        lang = lang_of(l);
    }
    let key = form.get("key").cloned().unwrap_or_default();
    if key.len() > 200 || number.len() > 40 {
        return page(
            &app,
            lang,
            StatusCode::NOT_FOUND,
            context! { state => "forged" },
        );
    }
    let Some(score) = form
        .get("score")
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|s| (1..=5).contains(s))
    else {
        return bad_form(&app, lang, invalid_text(lang, "score"));
    };
    let (Ok(q1), Ok(q2)) = (
        survey(&form, "satisfied_process"),
        survey(&form, "satisfied_info"),
    ) else {
        return bad_form(&app, lang, invalid_text(lang, "survey"));
    };
    let comment = form.get("comment").cloned();
    let now = app.clock.now().naive_utc();
    let (n, k) = (number.clone(), key.clone());
    let done = app
        .db
        .write(move |c| {
            let Some((ticket_id, _)) = ratings::status_for(c, &n, &k, now)? else {
                return Ok(None);
            };
            let Some(request_id) = ratings::open_offer(c, &ticket_id, now)? else {
                return Ok(Some(Outcome::AlreadyRated));
            };
            ratings::record(
                c,
                ratings::RatingInput {
                    ticket_id,
                    channel: "web_form".into(),
                    score,
                    source: Some(Source::StatusPage),
                    comment,
                    satisfied_process: q1,
                    satisfied_info: q2,
                    request_id: Some(request_id),
                    ..Default::default()
                },
            )
            .map(Some)
        })
        .await;
    match done {
        Ok(None) => page(
            &app,
            lang,
            StatusCode::NOT_FOUND,
            context! { state => "forged" },
        ),
        Ok(Some(Outcome::Recorded { .. })) => {
            // Back to the status page, which now thanks for the rating.
            let url = format!(
                "/appeals/{}?key={}&lang={}",
                number.to_ascii_uppercase(),
                key,
                lang.as_str()
            );
            HttpResponse::SeeOther()
                .insert_header(("Location", url))
                .finish()
        }
        Ok(Some(Outcome::Invalid { field, .. })) => {
            bad_form(&app, lang, invalid_text(lang, &field))
        }
        Ok(Some(_)) => page(
            &app,
            lang,
            StatusCode::CONFLICT,
            context! { state => "used" },
        ),
        Err(e) => {
            tracing::error!(error = %e, "status page rating");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "30"))
                .body("temporarily unavailable")
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{number}/ratings",
    tag = "ratings",
    summary = "Record a rating (R10): the phone system's post-call survey, or staff entering one given by voice",
    params(("number" = String, Path, description = "registration number")),
    request_body(content = NewRating),
    responses((status = 201, description = "the rating, recorded", body = RatingRecorded), (status = 409, description = "this conversation was already rated"))
)]
async fn rate_api(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who
        .require(
            |r| r.may(Permission::WorkTickets) || r == Role::Pbx,
            "record ratings",
        )?
        .clone();
    let number = path.into_inner();
    let v = body.into_inner();
    let mut errors = Vec::new();
    let score = match v.get("score").and_then(|s| s.as_i64()) {
        Some(s) => i32::try_from(s).unwrap_or(0),
        None => {
            errors.push(FieldError::new(
                "score",
                "required: a whole number from 1 to 5",
            ));
            0
        }
    };
    let int = |k: &str, errors: &mut Vec<FieldError>| match v.get(k) {
        None | Some(serde_json::Value::Null) => None,
        Some(x) => match x.as_i64().and_then(|x| i32::try_from(x).ok()) {
            Some(x) => Some(x),
            None => {
                errors.push(FieldError::new(k, "1, 2 or 3"));
                None
            }
        },
    };
    let q1 = int("satisfied_process", &mut errors);
    let q2 = int("satisfied_info", &mut errors);
    let text = |k: &str, errors: &mut Vec<FieldError>| match v.get(k) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(k, "a text"));
            None
        }
    };
    let comment = text("comment", &mut errors);
    let operator = text("operator", &mut errors).filter(|o| o.len() <= 64);
    let channel = text("channel", &mut errors).unwrap_or_else(|| "phone".into());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let source = if user.role == Role::Pbx {
        Source::Phone
    } else {
        Source::Api
    };
    let outcome = app
        .db
        .write(move |c| {
            let Some(ticket_id) = crate::tickets::find_id(c, &number)? else {
                return Ok(Outcome::Unknown);
            };
            ratings::record(
                c,
                ratings::RatingInput {
                    ticket_id,
                    operator,
                    channel,
                    score,
                    source: Some(source),
                    comment,
                    satisfied_process: q1,
                    satisfied_info: q2,
                    request_id: None,
                },
            )
        })
        .await?;
    match outcome {
        o @ Outcome::Recorded { .. } => Ok(HttpResponse::Created().json(o)),
        other => Err(outcome_error(other)),
    }
}

// ---- staff: figures and reports ----

type Query = web::Query<HashMap<String, String>>;

fn month_param(
    q: &HashMap<String, String>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Month> {
    match q.get(key) {
        None => {
            errors.push(FieldError::new(key, "required: a month, YYYY-MM"));
            None
        }
        Some(s) => match Month::parse(s) {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(FieldError::new(key, e));
                None
            }
        },
    }
}

/// `lang`: the language of a file's values, ru (the default) or kk.
fn lang_param(q: &HashMap<String, String>, errors: &mut Vec<FieldError>) -> &'static str {
    match q.get("lang").map(String::as_str) {
        None | Some("ru") => "ru",
        Some("kk") => "kk",
        Some(_) => {
            errors.push(FieldError::new("lang", "ru or kk"));
            "ru"
        }
    }
}

fn range_params(
    q: &HashMap<String, String>,
    errors: &mut Vec<FieldError>,
) -> Option<(Month, Month)> {
    let from = month_param(q, "from", errors);
    let to = month_param(q, "to", errors);
    let (from, to) = (from?, to?);
    if from > to {
        errors.push(FieldError::new("to", "must not be before `from`"));
        return None;
    }
    let mut n = 0;
    let mut m = from;
    while m <= to {
        n += 1;
        m = m.next();
    }
    if n > analytics::MAX_MONTHS {
        errors.push(FieldError::new(
            "to",
            format!("at most {} months at once", analytics::MAX_MONTHS),
        ));
        return None;
    }
    Some((from, to))
}

#[utoipa::path(
    get,
    path = "/api/v1/ratings/figures",
    tag = "ratings",
    summary = "Ratings by operator, queue, channel or month (R10); `format=svg` draws the average as a bar chart",
    params(
        ("by" = String, Query, description = "operator | queue | channel | month"),
        ("from" = String, Query, description = "first month, YYYY-MM"),
        ("to" = String, Query, description = "last month, YYYY-MM"),
        ("format" = Option<String>, Query, description = "json (default) | svg")
    ),
    responses((status = 200, description = "the figures by group, or with `format=svg` their bar chart", content((RatingFigures = "application/json"), (String = "image/svg+xml"))))
)]
async fn figures(app: AppData, who: Authed, q: Query) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let mut errors = Vec::new();
    let by = match q.get("by").map(|b| ratings::GroupBy::parse(b)) {
        Some(Ok(b)) => Some(b),
        _ => {
            errors.push(FieldError::new(
                "by",
                "required: operator, queue, channel or month",
            ));
            None
        }
    };
    let range = range_params(&q, &mut errors);
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    if !matches!(format, "json" | "svg") {
        errors.push(FieldError::new("format", "json or svg"));
    }
    let (Some(by), Some((from, to)), true) = (by, range, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let (f, t) = (from.to_string(), to.to_string());
    let list = app.db.run(move |c| ratings::figures(c, by, &f, &t)).await?;
    if format == "svg" {
        let bars: Vec<(String, f64)> = list.iter().map(|f| (f.key.clone(), f.average)).collect();
        let chart = svg::bar_chart(
            "ratings",
            &format!("Средняя оценка (1-5) / Орташа баға: {}", by.as_str()),
            &format!(
                "{from} — {to}: {} оценок",
                list.iter().map(|f| f.ratings).sum::<i64>()
            ),
            &bars,
        );
        return Ok(HttpResponse::Ok()
            .content_type("image/svg+xml; charset=utf-8")
            .body(chart));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "by": by.as_str(), "from": from.to_string(), "to": to.to_string(), "figures": list
    })))
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/monthly",
    tag = "reports",
    summary = "The monthly report of Appendix 2 (P1), whole or one body's part, as XLSX or CSV",
    params(
        ("month" = String, Query, description = "YYYY-MM"),
        ("format" = String, Query, description = "xlsx | csv"),
        ("body" = Option<String>, Query, description = "a registry body's id: its part only"),
        ("lang" = Option<String>, Query, description = "the language of the values: ru (default) | kk; headers are in both")
    ),
    responses((status = 200, description = "the file", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
)]
async fn monthly_report(app: AppData, who: Authed, q: Query) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let mut errors = Vec::new();
    let month = month_param(&q, "month", &mut errors);
    let format = match q.get("format").map(|f| Format::parse(f)) {
        Some(Ok(f)) => Some(f),
        _ => {
            errors.push(FieldError::new("format", "required: xlsx or csv"));
            None
        }
    };
    let lang = lang_param(&q, &mut errors);
    let body = match q.get("body") {
        None => None,
        Some(b) => match super::input::record_id(b, "body") {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new("body", "the id of a registry body"));
                None
            }
        },
    };
    let (Some(month), Some(format), true) = (month, format, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let out = app
        .db
        .run(move |c| {
            let scope = match &body {
                Some(id) => match monthly::Scope::of_body(c, id) {
                    Ok(s) => s,
                    Err(ReportError::NotFound(m)) => return Ok(Err(m)),
                    Err(e) => return Err(report_db(e)),
                },
                None => monthly::Scope::All,
            };
            let name = monthly::file_name(month, &scope, format);
            monthly::to_bytes(c, month, &scope, lang, format)
                .map(|(bytes, _)| Ok((name, bytes)))
                .map_err(report_db)
        })
        .await?;
    let (name, bytes) = out.map_err(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/ict",
    tag = "reports",
    summary = "The ICT report (P3): ICT questions and forwards by category with SLA compliance, and the month's outages",
    params(
        ("month" = String, Query, description = "YYYY-MM"),
        ("format" = Option<String>, Query, description = "json (default) | xlsx (three sheets, Kazakh and Russian headers) | csv (the same three tables)"),
        ("lang" = Option<String>, Query, description = "the language of the files' values: ru (default) | kk")
    ),
    responses((status = 200, description = "the report, or with `format=xlsx` or `csv` its file", content((IctReport = "application/json"), (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv"))))
)]
async fn ict_report(app: AppData, who: Authed, q: Query) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let mut errors = Vec::new();
    let month = month_param(&q, "month", &mut errors);
    let format = match q.get("format").map(String::as_str) {
        None | Some("json") => None,
        Some(f) => match Format::parse(f) {
            Ok(f) => Some(f),
            Err(_) => {
                errors.push(FieldError::new("format", "json, xlsx or csv"));
                None
            }
        },
    };
    let lang = lang_param(&q, &mut errors);
    let (Some(month), true) = (month, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let topics = app.config.registry.ict.topics.clone();
    let now = app.clock.now();
    let v = app
        .db
        .run(move |c| analytics::ict_report(c, month, &topics, now).map_err(report_db))
        .await?;
    let Some(format) = format else {
        return Ok(HttpResponse::Ok().json(v));
    };
    let bytes = match format {
        Format::Xlsx => ict::xlsx(&v, lang).map_err(report_db)?,
        Format::Csv => ict::csv(&v, lang).into_bytes(),
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}\"", ict::file_name(month, format)),
        ))
        .body(bytes))
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/analytics",
    tag = "reports",
    summary = "The analytics (P4): appeals, complaints, deadlines kept and missed, violations by body, service-standard and staff complaints",
    params(
        ("by" = String, Query, description = "month | region | body | channel"),
        ("from" = String, Query, description = "YYYY-MM"),
        ("to" = String, Query, description = "YYYY-MM (at most 36 months)"),
        ("format" = Option<String>, Query, description = "json (default) | csv | svg (a bar chart of appeals, or a line chart by month)")
    ),
    responses((status = 200, description = "the rows by group, or with `format=csv` or `svg` the file", content((AnalyticsReport = "application/json"), (String = "text/csv"), (String = "image/svg+xml"))))
)]
async fn analytics_report(app: AppData, who: Authed, q: Query) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let mut errors = Vec::new();
    let by = match q.get("by").map(|b| Dimension::parse(b)) {
        Some(Ok(b)) => Some(b),
        _ => {
            errors.push(FieldError::new(
                "by",
                "required: month, region, body or channel",
            ));
            None
        }
    };
    let range = range_params(&q, &mut errors);
    let format = q
        .get("format")
        .map(String::as_str)
        .unwrap_or("json")
        .to_string();
    if !matches!(format.as_str(), "json" | "csv" | "svg") {
        errors.push(FieldError::new("format", "json, csv or svg"));
    }
    let (Some(by), Some((from, to)), true) = (by, range, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let now = app.clock.now();
    let rows = app
        .db
        .run(move |c| analytics::analytics(c, by, from, to, now).map_err(report_db))
        .await?;
    match format.as_str() {
        "csv" => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"analytics-{}-{from}-{to}.csv\"",
                    by.as_str()
                ),
            ))
            .body(analytics::analytics_csv(&rows))),
        "svg" => {
            let title = format!("Обращения / Өтініштер: {}", by.as_str());
            let desc = format!("{from} — {to}");
            let chart = if by == Dimension::Month {
                let x: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
                let series = vec![
                    (
                        "Обращения / Өтініштер".to_string(),
                        rows.iter().map(|r| r.appeals as f64).collect(),
                    ),
                    (
                        "Жалобы / Шағымдар".to_string(),
                        rows.iter().map(|r| r.complaints as f64).collect(),
                    ),
                    (
                        "Нарушения сроков / Мерзім бұзылуы".to_string(),
                        rows.iter().map(|r| r.deadline_violations as f64).collect(),
                    ),
                ];
                svg::line_chart("analytics", &title, &desc, &x, &series)
            } else {
                let bars: Vec<(String, f64)> = rows
                    .iter()
                    .map(|r| {
                        (
                            r.name.clone().unwrap_or_else(|| r.key.clone()),
                            r.appeals as f64,
                        )
                    })
                    .collect();
                svg::bar_chart("analytics", &title, &desc, &bars)
            };
            Ok(HttpResponse::Ok()
                .content_type("image/svg+xml; charset=utf-8")
                .body(chart))
        }
        _ => Ok(HttpResponse::Ok().json(serde_json::json!({
            "by": by.as_str(), "from": from.to_string(), "to": to.to_string(), "rows": rows
        }))),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/runs",
    tag = "reports",
    summary = "Runs of the monthly reports (P1, P3) with each recipient's delivery state",
    params(("month" = Option<String>, Query, description = "YYYY-MM")),
    responses((status = 200, description = "the runs, newest first", body = ReportRuns))
)]
async fn runs(app: AppData, who: Authed, q: Query) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let month = match q.get("month") {
        None => None,
        Some(m) => Some(
            Month::parse(m)
                .map_err(|e| ApiError::Invalid(vec![FieldError::new("month", e)]))?
                .to_string(),
        ),
    };
    let list = app
        .db
        .run(move |c| jobs::list_runs(c, month.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "runs": list })))
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/runs/{id}",
    tag = "reports",
    summary = "One run: its deliveries and the discrepancy requests kept with it",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, description = "the run", body = ReportRun))
)]
async fn run(app: AppData, who: Authed, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let id = super::input::record_id(&path, "report run")?;
    match app.db.run(move |c| jobs::run_view(c, &id)).await? {
        Some(v) => Ok(HttpResponse::Ok().json(v)),
        None => Err(ApiError::NotFound("no such report run".into())),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/reports/runs",
    tag = "reports",
    summary = "Start (or find) the run of a report on a month and send it to its recipients: once per month and recipient",
    request_body(content = NewRun),
    responses((status = 202, description = "the run", body = ReportRun))
)]
async fn start_run(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::RunReports)?.clone();
    let mut errors = Vec::new();
    let report = match body.get("report").and_then(|r| r.as_str()) {
        Some(r @ ("P1" | "P3")) => Some(r.to_string()),
        _ => {
            errors.push(FieldError::new("report", "P1 or P3"));
            None
        }
    };
    let month = match body.get("month").and_then(|m| m.as_str()).map(Month::parse) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            errors.push(FieldError::new("month", e));
            None
        }
        None => {
            errors.push(FieldError::new("month", "required: YYYY-MM"));
            None
        }
    };
    let (Some(report), Some(month), true) = (report, month, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    if month >= Month::of(app.clock.now()) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "month",
            "only a month that is over can be reported",
        )]));
    }
    let due = app
        .calendar()
        .monthly_report_due(
            month.range().0.and_utc(),
            &report,
            &app.config.working_hours,
        )
        .map_err(ApiError::internal)?
        .due_at
        .naive_utc();
    let v = app
        .db
        .write(move |c| {
            let id = jobs::start_run(c, &report, month, &user.login, due)?;
            jobs::run_view(c, &id)
        })
        .await?;
    app.jobs_wakeup.notify_one();
    Ok(HttpResponse::Accepted().json(v))
}

#[utoipa::path(
    post,
    path = "/api/v1/reports/runs/{id}/retry",
    tag = "reports",
    summary = "Send again every delivery of the run that failed",
    params(("id" = String, Path, description = "run id")),
    responses((status = 202, description = "how many deliveries are sent again, and the run", body = RunRetried))
)]
async fn retry_run(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::RunReports)?;
    let id = super::input::record_id(&path, "report run")?;
    let out = app
        .db
        .write(move |c| {
            let n = jobs::retry_run(c, &id)?;
            Ok(match n {
                Some(n) => Some((n, jobs::run_view(c, &id)?)),
                None => None,
            })
        })
        .await?;
    app.jobs_wakeup.notify_one();
    match out {
        Some((n, v)) => {
            Ok(HttpResponse::Accepted().json(serde_json::json!({ "retried": n, "run": v })))
        }
        None => Err(ApiError::NotFound("no such report run".into())),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/choices",
    tag = "reports",
    summary = "The choices of the report's two classifications (by-law violation, staff actions)",
    responses((status = 200, description = "the choices", body = ChoiceList))
)]
async fn list_choices(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadTickets)?;
    let list = app.db.run(choices::list).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "choices": list })))
}

#[utoipa::path(
    post,
    path = "/api/v1/reports/choices",
    tag = "reports",
    summary = "Add a classification choice",
    request_body(content = NewChoice),
    responses((status = 201, description = "the choice", body = crate::reports::choices::Choice))
)]
async fn create_choice(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageReportChoices)?;
    let v = body.into_inner();
    match app.db.write(move |c| choices::create(c, &v)).await? {
        Ok(choice) => Ok(HttpResponse::Created().json(choice)),
        Err(list) => Err(invalid(list)),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/reports/choices/{id}",
    tag = "reports",
    summary = "Rename, reorder, retire or bring back a choice",
    params(("id" = String, Path, description = "choice id")),
    request_body(content = ChoiceChange),
    responses((status = 200, description = "the choice", body = crate::reports::choices::Choice))
)]
async fn update_choice(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ManageReportChoices)?;
    let id = super::input::record_id(&path, "choice")?;
    let v = body.into_inner();
    match app.db.write(move |c| choices::update(c, &id, &v)).await? {
        Some(Ok(choice)) => Ok(HttpResponse::Ok().json(choice)),
        Some(Err(list)) => Err(invalid(list)),
        None => Err(ApiError::NotFound("no such choice".into())),
    }
}

#[utoipa::path(
    put,
    path = "/api/v1/tickets/{number}/classification",
    tag = "reports",
    summary = "Record the ticket's two classifications for the monthly report",
    params(("number" = String, Path, description = "registration number")),
    request_body(content = ClassificationBody),
    responses((status = 200, description = "the classification", body = crate::reports::choices::Classification))
)]
async fn classify(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::WorkTickets)?.clone();
    let number = path.into_inner();
    let v = body.into_inner();
    let n2 = number.clone();
    match app
        .db
        .write(move |c| choices::set_on_ticket(c, &n2, &v, &user.login))
        .await?
    {
        Ok(cl) => Ok(HttpResponse::Ok().json(cl)),
        Err(choices::SetError::NotFound) => Err(ApiError::NotFound(format!(
            "ticket {} not found",
            number.chars().take(40).collect::<String>()
        ))),
        Err(choices::SetError::Invalid(list)) => Err(invalid(list)),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/discrepancies",
    tag = "reports",
    summary = "Discrepancy requests (P2), newest first",
    responses((status = 200, description = "the discrepancy requests, newest first", body = DiscrepancyList))
)]
async fn list_discrepancies(app: AppData, who: Authed) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let list = app.db.run(|c| discrepancy::list(c, None)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "discrepancies": list })))
}

#[utoipa::path(
    post,
    path = "/api/v1/reports/discrepancies",
    tag = "reports",
    summary = "Record a provider's discrepancy request (P2): the explanation is due by the next working day",
    request_body(content = NewDiscrepancy),
    responses((status = 201, description = "the request with its deadline", body = Discrepancy))
)]
async fn create_discrepancy(
    app: AppData,
    who: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::RunReports)?.clone();
    let v = body.into_inner();
    let now = app.clock.now();
    let a = app.get_ref().clone();
    match app
        .db
        .write(move |c| discrepancy::create(c, &a, &v, &user.login, now))
        .await?
    {
        Ok(d) => Ok(HttpResponse::Created().json(d)),
        Err(list) => Err(invalid(list)),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/discrepancies/{id}",
    tag = "reports",
    summary = "One discrepancy request with its answer and the answer's delivery",
    params(("id" = String, Path, description = "request id")),
    responses((status = 200, description = "the request", body = Discrepancy))
)]
async fn get_discrepancy(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::ReadReports)?;
    let id = super::input::record_id(&path, "discrepancy request")?;
    match app.db.run(move |c| discrepancy::get(c, &id)).await? {
        Some(v) => Ok(HttpResponse::Ok().json(v)),
        None => Err(ApiError::NotFound("no such discrepancy request".into())),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/reports/discrepancies/{id}/answer",
    tag = "reports",
    summary = "Answer a discrepancy request: the explanation is e-mailed to the provider and kept with the report run",
    params(("id" = String, Path, description = "request id")),
    request_body(content = DiscrepancyAnswer),
    responses((status = 202, description = "the request", body = Discrepancy), (status = 409, description = "already answered"))
)]
async fn answer_discrepancy(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::RunReports)?.clone();
    let id = super::input::record_id(&path, "discrepancy request")?;
    let v = body.into_inner();
    let out = app
        .db
        .write(move |c| discrepancy::answer(c, &id, &v, &user.login))
        .await?;
    app.jobs_wakeup.notify_one();
    match out {
        Ok(d) => Ok(HttpResponse::Accepted().json(d)),
        Err(discrepancy::AnswerError::NotFound) => {
            Err(ApiError::NotFound("no such discrepancy request".into()))
        }
        Err(discrepancy::AnswerError::Answered) => Err(ApiError::Conflict(
            "this request was already answered".into(),
        )),
        Err(discrepancy::AnswerError::Invalid(list)) => Err(invalid(list)),
    }
}

// ---------------------------------------------------------------------------------------
// The shapes of the answers built with `json!` (schema only: nothing constructs them).

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: rate_api answers with ratings::Outcome::Recorded
struct RatingRecorded {
    /// `recorded`.
    outcome: String,
    rating_id: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: figures answers with json!
struct RatingFigures {
    /// `operator`, `queue`, `channel` or `month`.
    by: String,
    from: String,
    to: String,
    figures: Vec<ratings::Figures>,
}

/// The ICT report (P3).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: analytics::ict_report builds it
struct IctReport {
    /// `P3`.
    report: String,
    month: String,
    ict_questions: Vec<analytics::IctLine>,
    ict_forwards: Vec<analytics::IctLine>,
    outages: super::outages::OutageCompliance,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: analytics_report answers with json!
struct AnalyticsReport {
    /// `month`, `region`, `body` or `channel`.
    by: String,
    from: String,
    to: String,
    rows: Vec<analytics::AnalyticsRow>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: runs answers with json!
struct ReportRuns {
    runs: Vec<ReportRun>,
}

/// A run of a monthly report with each recipient's delivery (jobs::run_view).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: jobs::run_view builds it
struct ReportRun {
    id: String,
    /// `P1` or `P3`.
    report: String,
    month: String,
    status: String,
    started_by: String,
    due_at: String,
    last_error: Option<String>,
    created_at: String,
    finished_at: Option<String>,
    deliveries: Vec<ReportDelivery>,
    discrepancies: Vec<Discrepancy>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: jobs::run_view builds it
struct ReportDelivery {
    id: String,
    body_id: String,
    scope: String,
    address: Option<String>,
    status: String,
    attempts: i32,
    rows: Option<i32>,
    file_name: Option<String>,
    last_error: Option<String>,
    sent_at: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: retry_run answers with json!
struct RunRetried {
    retried: i64,
    run: ReportRun,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_choices answers with json!
struct ChoiceList {
    choices: Vec<crate::reports::choices::Choice>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: list_discrepancies answers with json!
struct DiscrepancyList {
    discrepancies: Vec<Discrepancy>,
}

/// A body's request to check a report's figures (discrepancy::view).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: discrepancy::view builds it
struct Discrepancy {
    id: String,
    run_id: Option<String>,
    report: String,
    month: String,
    body_id: String,
    /// The body's figures, as it sent them.
    figures: String,
    details: String,
    status: String,
    due_at: String,
    /// The deadline's explanation.
    deadline: serde_json::Value,
    created_by: String,
    created_at: String,
    answer: Option<String>,
    answered_by: Option<String>,
    answered_at: Option<String>,
    answer_status: Option<String>,
    answer_error: Option<String>,
    answer_sent_at: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/reports/service-level",
    tag = "reports",
    summary = "The service level of a period: registered, answered, answered on time, overdue now; in total and by queue, operator, channel or day (the supervisor dashboard's figures; the overdue tickets themselves: `GET /api/v1/tickets?overdue=true`)",
    params(
        ("from" = Option<String>, Query, description = "first day, YYYY-MM-DD (Almaty); default: this month's 1st"),
        ("to" = Option<String>, Query, description = "last day, inclusive; default: today; at most 366 days"),
        ("by" = Option<String>, Query, description = "queue | operator | channel | day"),
        ("format" = Option<String>, Query, description = "json (default) | csv")
    ),
    responses((status = 200, description = "`{from, to, by, now, total, groups}`; each line `{key, name_kk?, name_ru?, registered, answered, answered_on_time, answered_late, overdue_now, pending, on_time_percent}`",
        content((ServiceLevel = "application/json"), (String = "text/csv"))))
)]
async fn service_level_report(
    app: AppData,
    who: Authed,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    use crate::reports::service_level::{self, GroupBy, Period};
    who.may(Permission::ReadReports)?;
    let now = app.clock.now();
    let mut errors = Vec::new();
    let period = match Period::parse(
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
        now,
    ) {
        Ok(p) => Some(p),
        Err(list) => {
            errors.extend(
                list.into_iter()
                    .map(|e| FieldError::new(e.field, e.message())),
            );
            None
        }
    };
    let by = match q.get("by").map(|b| b.trim()).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match GroupBy::parse(b) {
            Ok(g) => Some(g),
            Err(_) => {
                errors.push(FieldError::new("by", "queue, operator, channel or day"));
                None
            }
        },
    };
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        errors.push(FieldError::new("format", "json or csv"));
    }
    let (Some(period), true) = (period, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let (total, groups) = app
        .db
        .run(move |c| service_level::service_level(c, period, by, now))
        .await?;
    if format == "csv" {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"service-level-{}-{}-{}.csv\"",
                    by.map_or("total", |b| b.as_str()),
                    period.from,
                    period.to
                ),
            ))
            .body(service_level::csv(by, &total, &groups)));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": period.from, "to": period.to, "by": by.map(|b| b.as_str()),
        "now": crate::reports::utc(now.naive_utc()),
        "total": total, "groups": groups,
    })))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: service_level_report answers with json!
struct ServiceLevel {
    from: String,
    to: String,
    /// `queue`, `operator`, `channel` or `day`; null for the total only.
    by: Option<String>,
    now: String,
    total: crate::reports::service_level::Line,
    groups: Vec<crate::reports::service_level::Line>,
}

// ---------------------------------------------------------------------------------------
// The request bodies (schema only: the handlers and reports::{choices, discrepancy} read
// them field by field, so that each mistake is named).

/// A rating of the conversation's operator (R10), with the 3-level survey of 004 app. 6.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: rate_api reads the body
struct NewRating {
    #[schema(minimum = 1, maximum = 5)]
    score: i32,
    /// The operator's login (a longer one is ignored); by default the one who answered last.
    operator: Option<String>,
    /// Where it was given; `phone` by default.
    #[schema(schema_with = channel_or_null)]
    channel: Option<String>,
    /// Satisfied with the process: 1-3.
    #[schema(minimum = 1, maximum = 3)]
    satisfied_process: Option<i32>,
    /// Satisfied with the information: 1-3.
    #[schema(minimum = 1, maximum = 3)]
    satisfied_info: Option<i32>,
    #[schema(max_length = 2000)]
    comment: Option<String>,
}

/// A report and the month (over) it covers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: start_run reads the body
struct NewRun {
    #[schema(schema_with = report_name)]
    report: String,
    /// A month that is over.
    #[schema(schema_with = super::openapi::body::month)]
    month: String,
}

/// A choice of one of the report's two classifications.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: choices::create reads the body
struct NewChoice {
    kind: choices::ChoiceKind,
    /// 1-64 ASCII letters, digits, `_` or `-`, unique in its kind.
    #[schema(pattern = r"^\s*[A-Za-z0-9_-]{1,64}\s*$")]
    code: String,
    #[schema(schema_with = choice_name)]
    name: crate::registry::Names,
    /// Its place in the list: 0-10000.
    #[schema(minimum = 0, maximum = 10000)]
    position: Option<i32>,
}

/// Any of a choice's name, position and whether it is offered.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: choices::update reads the body
struct ChoiceChange {
    #[schema(schema_with = choice_name)]
    name: Option<crate::registry::Names>,
    #[schema(minimum = 0, maximum = 10000, nullable = false)]
    position: Option<i32>,
    #[schema(nullable = false)]
    active: Option<bool>,
}

/// The ticket's two classifications: a choice's code each, `null` to clear, absent to keep.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: choices::set_on_ticket reads the body
struct ClassificationBody {
    /// A code of an active `bylaw_violation` choice.
    bylaw_violation: Option<String>,
    /// A code of an active `staff_action` choice.
    staff_action: Option<String>,
}

/// A provider's discrepancy request (P2).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: discrepancy::create reads the body
struct NewDiscrepancy {
    #[schema(schema_with = report_name)]
    report: String,
    #[schema(schema_with = super::openapi::body::month)]
    month: String,
    /// The provider's registry body.
    #[schema(max_length = 64)]
    body_id: String,
    /// The provider's figures: a text, or JSON (at most 10000 characters either way).
    #[schema(schema_with = provider_figures)]
    figures: serde_json::Value,
    #[schema(pattern = r"\S", max_length = 10000)]
    details: Option<String>,
}

/// The explanation sent to the provider.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: discrepancy::answer reads the body
struct DiscrepancyAnswer {
    #[schema(pattern = r"\S", max_length = 10000)]
    answer: String,
}

fn channel_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    super::openapi::body::or_null(super::openapi::body::one_of(
        baylanys_core::Channel::ALL.iter().map(|c| c.as_str()),
    ))
}

fn report_name() -> utoipa::openapi::schema::Object {
    super::openapi::body::one_of(["P1", "P3"])
}

fn choice_name() -> utoipa::openapi::schema::Object {
    super::openapi::body::names(200)
}

fn provider_figures() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(super::openapi::body::text(10_000))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .item(utoipa::openapi::schema::Array::default())
        .into()
}
