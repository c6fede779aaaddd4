//! E-mail endpoints: raw RFC 5322 intake for MTAs and gateways, and the quarantine.

use actix_web::{HttpResponse, web};

use super::{ApiError, AppData, Authed};
use crate::auth::Role;
use crate::mail::{self, MailOutcome, QuarantineError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/inbound/email", web::post().to(post_inbound_email))
        .route("/api/v1/quarantine", web::get().to(list_quarantine))
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

fn handles_quarantine(r: Role) -> bool {
    matches!(r, Role::Operator | Role::Supervisor | Role::Admin)
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
    HttpResponse::Accepted().json(body)
}

/// The body is the raw message, whatever the content type says.
async fn post_inbound_email(
    app: AppData,
    who: Authed,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    who.require(
        |r| matches!(r, Role::Ingest | Role::Admin),
        "submit raw e-mail",
    )?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body must be the raw RFC 5322 message; it is empty".into(),
        ));
    }
    let outcome = mail::ingest_raw(&app, body.to_vec(), None).await?;
    Ok(outcome_json(&outcome))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    channel: Option<String>,
}

async fn list_quarantine(
    app: AppData,
    who: Authed,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    who.require(handles_quarantine, "see the quarantine")?;
    let channel = match q.into_inner().channel {
        Some(c) => Some(
            c.parse::<baylanys_core::Channel>()
                .map_err(|e| ApiError::Invalid(vec![super::FieldError::new("channel", e)]))?,
        ),
        None => None,
    };
    let items = app
        .db
        .run(move |c| mail::quarantine_list(c, channel))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// The raw payload, for an operator to read: the message or update exactly as it came.
async fn get_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(handles_quarantine, "see the quarantine")?;
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let wanted = id.clone();
    let item = app.db.run(move |c| mail::quarantine_item(c, &id)).await?;
    let Some(mail::QuarantinedPayload {
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

async fn retry_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(handles_quarantine, "retry quarantined mail")?;
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let outcome = mail::quarantine_retry(&app, &id).await?;
    Ok(outcome_json(&outcome))
}

async fn release_quarantined(
    app: AppData,
    who: Authed,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = who.require(handles_quarantine, "release quarantined mail")?;
    let actor = format!("user:{}", user.login);
    let id = super::input::record_id(&path.into_inner(), "quarantined item")?;
    let outcome = mail::quarantine_release(&app, &id, &actor).await?;
    Ok(outcome_json(&outcome))
}
