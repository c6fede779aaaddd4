//! E-mail endpoints: raw RFC 5322 intake for MTAs and gateways, and the quarantine.

use actix_web::{HttpResponse, web};

use super::{ApiError, AppData, Authed};
use crate::auth::Permission;
use crate::mail::{self, MailOutcome, QuarantineError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/inbound/email", web::post().to(post_inbound_email))
        .route("/api/v1/quarantine", web::get().to(list_quarantine))
        .route(
            "/api/v1/delivery-reports/unmatched",
            web::get().to(list_unmatched_reports),
        )
        .route("/api/v1/quarantine/{id}", web::get().to(get_quarantined))
        .route(
            "/api/v1/quarantine/{id}/retry",
            web::post().to(retry_quarantined),
        )
        .route(
            "/api/v1/quarantine/{id}/release",
            web::post().to(release_quarantined),
        );
}

impl From<QuarantineError> for ApiError {
    fn from(e: QuarantineError) -> Self {
        match e {
            QuarantineError::NotFound(_) => ApiError::NotFound(e.to_string()),
            QuarantineError::Db(e) => e.into(),
        }
    }
}

fn outcome_json(outcome: &MailOutcome) -> HttpResponse {
    let mut body = serde_json::json!({ "outcome": outcome.name() });
    if let Some(n) = outcome.number() {
        body["number"] = n.into();
    }
    if let MailOutcome::Quarantined { id, reason } = outcome {
        body["id"] = id.as_str().into();
        body["reason"] = reason.as_str().into();
    }
    match outcome {
        MailOutcome::ForwardAnswer {
            reference,
            message_id,
            late,
        } => {
            body["forward"] = reference.as_str().into();
            body["message_id"] = message_id.as_str().into();
            body["late"] = (*late).into();
        }
        MailOutcome::ForwardReplyHeld {
            reference,
            message_id,
        } => {
            body["forward"] = reference.as_str().into();
            body["message_id"] = message_id.as_str().into();
        }
        _ => {}
    }
    HttpResponse::Accepted().json(body)
}

/// The body is the raw message, whatever the content type says.
#[utoipa::path(
    post,
    path = "/api/v1/inbound/email",
    tag = "mail",
    summary = "Submit one raw RFC 5322 message (what an MTA pipe would)",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the raw RFC 5322 message, as received (any content type)"),
    responses((status = 202, description = "registered, joined to a ticket, or quarantined", body = MailAnswer))
)]
async fn post_inbound_email(
    app: AppData,
    who: Authed,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::SubmitRawMail)?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body must be the raw RFC 5322 message; it is empty".into(),
        ));
    }
    let outcome = mail::ingest_raw(&app, body.to_vec(), None).await?;
    Ok(outcome_json(&outcome))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    channel: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/quarantine",
    tag = "mail",
    summary = "What every channel quarantined, newest first",
    params(ListQuery),
    responses((status = 200, description = "a page of held items", body = crate::quarantine::QuarantinePage))
)]
async fn list_quarantine(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::HandleQuarantine)?;
    list_held(
        app,
        q.into_inner(),
        crate::quarantine::HeldKind::Quarantined,
    )
    .await
}

/// Delivery reports that matched none of our messages: kept, and shown here.
#[utoipa::path(
    get,
    path = "/api/v1/delivery-reports/unmatched",
    tag = "mail",
    summary = "Delivery reports that match none of our messages",
    params(ListQuery),
    responses((status = 200, description = "a page of held items", body = crate::quarantine::QuarantinePage))
)]
async fn list_unmatched_reports(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::HandleQuarantine)?;
    list_held(
        app,
        q.into_inner(),
        crate::quarantine::HeldKind::UnmatchedReports,
    )
    .await
}

async fn list_held(
    app: AppData,
    q: ListQuery,
    kind: crate::quarantine::HeldKind,
) -> Result<HttpResponse, ApiError> {
    let field = |name: &str, m: String| ApiError::Invalid(vec![super::FieldError::new(name, m)]);
    let channel = match q.channel {
        Some(c) => Some(
            c.parse::<baylanys_core::Channel>()
                .map_err(|e| field("channel", e))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(field("limit", format!("{limit}: give 1 to 200")));
    }
    let after = match q.after {
        Some(a) if uuid::Uuid::parse_str(&a).is_err() => {
            return Err(field(
                "after",
                "must be the `next_after` of the previous page".into(),
            ));
        }
        other => other,
    };
    let page = app
        .db
        .run(move |c| crate::quarantine::list(c, kind, channel, after.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The raw payload, for an operator to read: the message or update exactly as it came.
#[utoipa::path(
    get,
    path = "/api/v1/quarantine/{id}",
    tag = "mail",
    summary = "One quarantined item with its raw payload",
    params(("id" = String, Path, description = "quarantine id")),
    responses((status = 200, description = "the payload exactly as it came: an e-mail, or a chat update's JSON", content((serde_json::Value = "application/json"), (String = "message/rfc822"))))
)]
async fn get_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::HandleQuarantine)?;
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let wanted = id.clone();
    let item = app.db.run(move |c| crate::quarantine::item(c, &id)).await?;
    let Some(crate::quarantine::QuarantinedPayload {
        channel,
        reason,
        raw,
    }) = item
    else {
        return Err(ApiError::NotFound(format!("no quarantined item {wanted}")));
    };
    let content_type = if channel == "email" {
        "message/rfc822"
    } else {
        "application/json"
    };
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type)
        .insert_header(("X-Baylanys-Channel", channel));
    if let Some(reason) = reason
        && let Ok(v) =
            actix_web::http::header::HeaderValue::from_str(&reason.replace(['\r', '\n'], " "))
    {
        resp.insert_header(("X-Baylanys-Reason", v));
    }
    Ok(resp.body(raw))
}

#[utoipa::path(
    post,
    path = "/api/v1/quarantine/{id}/retry",
    tag = "mail",
    summary = "Parse a quarantined e-mail again",
    params(("id" = String, Path, description = "quarantine id")),
    responses((status = 202, description = "the outcome, as the intake answers it", body = MailAnswer))
)]
async fn retry_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.may(Permission::HandleQuarantine)?;
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let outcome = mail::quarantine_retry(&app, &id).await?;
    Ok(outcome_json(&outcome))
}

#[utoipa::path(
    post,
    path = "/api/v1/quarantine/{id}/release",
    tag = "mail",
    summary = "Make a ticket of a quarantined item",
    params(("id" = String, Path, description = "quarantine id")),
    responses((status = 202, description = "the outcome, as the intake answers it", body = MailAnswer))
)]
async fn release_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = who.may(Permission::HandleQuarantine)?;
    let actor = format!("user:{}", user.login);
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let outcome = mail::quarantine_release(&app, &id, &actor).await?;
    Ok(outcome_json(&outcome))
}

// ---------------------------------------------------------------------------------------

/// What the intake did with a message; the other fields go with their outcome.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: outcome_json builds it
struct MailAnswer {
    /// `registered`, `appended`, `duplicate`, `quarantined`, `delivery_status`,
    /// `forward_answer` or `forward_reply_held`.
    outcome: String,
    /// The ticket (registered, appended, delivery_status when matched).
    number: Option<String>,
    /// The quarantined item's id.
    id: Option<String>,
    /// Why it was quarantined.
    reason: Option<String>,
    /// The forward's reference (forward_answer, forward_reply_held).
    forward: Option<String>,
    message_id: Option<String>,
    /// The answer came after the forward was closed.
    late: Option<bool>,
}
