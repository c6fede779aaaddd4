//! `GET /whatsapp/webhook` (Meta's verification handshake) and `POST /whatsapp/webhook`
//! (messages and statuses, signed with the app secret). A verified body is stored raw
//! with the job that handles it before Meta is answered; nothing is handled in the
//! request.

use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_whatsapp::signature;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiError, AppData};

/// Meta's webhook bodies are a few KiB (a batch of messages and statuses, media by id):
/// 1 MiB is ample and bounds what a caller can make us read before the signature check.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/whatsapp/webhook", web::get().to(handshake))
        .route("/whatsapp/webhook", web::post().to(webhook));
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

fn not_configured() -> ApiError {
    ApiError::NotFound(
        "the WhatsApp channel is not configured on this server (BAYLANYS_WHATSAPP_TOKEN, \
         BAYLANYS_WHATSAPP_PHONE_NUMBER_ID)"
            .into(),
    )
}

/// Meta's verification handshake: answers `hub.challenge` when `hub.mode` is
/// `subscribe` and `hub.verify_token` is ours.
#[utoipa::path(
    get,
    path = "/whatsapp/webhook",
    tag = "channels",
    params(Handshake),
    responses(
        (status = 200, description = "The challenge, as given", body = String, content_type = "text/plain"),
        (status = 403, description = "Wrong mode or verify token", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "WhatsApp is not configured", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn handshake(
    app: AppData,
    query: web::Query<Handshake>,
) -> Result<HttpResponse, ApiError> {
    let Some(adapter) = app.whatsapp.as_ref() else {
        return Err(not_configured());
    };
    let q = query.into_inner();
    match signature::handshake(
        &adapter.config().verify_token,
        q.mode.as_deref(),
        q.verify_token.as_deref(),
        q.challenge.as_deref(),
    ) {
        Some(challenge) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(challenge.to_owned())),
        None => {
            tracing::warn!(mode = ?q.mode, "whatsapp webhook handshake refused: wrong mode or verify token");
            Err(ApiError::Forbidden(
                "the handshake needs hub.mode=subscribe and the configured hub.verify_token \
                 (BAYLANYS_WHATSAPP_VERIFY_TOKEN)"
                    .into(),
            ))
        }
    }
}

/// Messages and statuses from Meta. The `X-Hub-Signature-256` HMAC-SHA256 of the raw
/// body with the app secret is checked first; a verified body is stored raw and its
/// handling queued in one transaction, then answered 200. A redelivery of the same bytes
/// is answered 200 and not queued again.
#[utoipa::path(
    post,
    path = "/whatsapp/webhook",
    tag = "channels",
    request_body(content = WebhookBody, description = "A WhatsApp Business Account webhook, as Meta sends it: stored as received (the signature decides, not the shape) and read by the job", content_type = "application/json"),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256(app secret, raw body)>")),
    responses(
        (status = 200, description = "Stored (or stored before); handled by a job"),
        (status = 403, description = "Missing or wrong signature: refused, logged, not stored", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "WhatsApp is not configured", body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 1 MiB: no webhook is that large", body = super::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not stored now: Meta delivers it again", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn webhook(
    app: AppData,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(adapter) = app.whatsapp.as_ref() else {
        return Err(not_configured());
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_WEBHOOK_BYTES) {
        tracing::warn!(declared, peer = ?req.peer_addr(), "whatsapp webhook refused unread: over the size limit");
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(MAX_WEBHOOK_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("the webhook body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > MAX_WEBHOOK_BYTES {
            tracing::warn!(peer = ?req.peer_addr(), "whatsapp webhook refused: over the size limit");
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let header = req
        .headers()
        .get(signature::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if let Err(why) = signature::verify(&adapter.config().app_secret, header, &body) {
        // Never processed, never stored: anyone can post here.
        tracing::warn!(peer = ?req.peer_addr(), bytes = body.len(), reason = %why, "whatsapp webhook refused: bad signature");
        return Err(ApiError::Forbidden(format!(
            "{why}: the body was not accepted"
        )));
    }
    let body = body.freeze();
    let stored = app
        .db
        .write(move |c| crate::whatsapp::store_webhook(c, &body))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the webhook could not be stored now: {e}")))?;
    if stored.1 {
        app.jobs_wakeup.notify_one();
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"ok": true})))
}

fn too_large() -> ApiError {
    ApiError::TooLarge(format!(
        "the body is over {MAX_WEBHOOK_BYTES} bytes: no WhatsApp webhook is that large"
    ))
}

/// Meta's webhook: `entry[].changes[].value` carries `messages` and `statuses`. Meta adds
/// fields over time, so none is refused here.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only: webhook stores the raw body, the job reads it
struct WebhookBody {
    /// `whatsapp_business_account`.
    #[schema(example = "whatsapp_business_account")]
    object: String,
    entry: Vec<WebhookEntry>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only
struct WebhookEntry {
    /// The WhatsApp Business Account id.
    id: String,
    changes: Vec<WebhookChange>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // schema only
struct WebhookChange {
    /// `messages`.
    field: String,
    /// `messaging_product`, `metadata`, `contacts`, `messages`, `statuses`.
    value: std::collections::HashMap<String, serde_json::Value>,
}
