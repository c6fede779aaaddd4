//! `POST /telegram/webhook`: updates pushed by the Bot API, handed to the bot.

use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_telegram::{SECRET_HEADER, WebhookOutcome};
use futures_util::StreamExt;

use super::{ApiError, WebData};

/// A real update is one message's JSON (text at most 4,096 characters, files by id only):
/// a few KiB, so 1 MiB is ample and bounds what one call may make us handle.
const MAX_UPDATE_BYTES: usize = 1024 * 1024;
/// A larger body from a caller with the secret is still kept whole in the quarantine,
/// up to this; beyond it it is refused unread.
const MAX_QUARANTINE_BYTES: usize = 16 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/telegram/webhook", web::post().to(webhook));
}

async fn webhook(
    site: WebData,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(bot) = site.telegram.as_ref() else {
        return Err(ApiError::NotFound(
            "the Telegram channel is not configured on this server (BAYLANYS_TELEGRAM_TOKEN)"
                .into(),
        ));
    };
    let secret = req
        .headers()
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok());
    // The secret first: a stranger's body is never read.
    if !bot.webhook_secret_ok(secret) {
        return Err(forbidden());
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_QUARANTINE_BYTES) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(MAX_UPDATE_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("the update body could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_QUARANTINE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let outcome = if body.len() > MAX_UPDATE_BYTES {
        let reason = format!(
            "update body of {} bytes is over the {MAX_UPDATE_BYTES}-byte limit of a Telegram update",
            body.len()
        );
        bot.quarantine_webhook_body(&body, reason).await
    } else {
        bot.handle_webhook(secret, &body).await
    };
    match outcome {
        WebhookOutcome::Handled(_) => Ok(HttpResponse::Ok().json(serde_json::json!({"ok": true}))),
        WebhookOutcome::Unauthorized => Err(forbidden()),
        WebhookOutcome::RetryLater(reason) => Err(ApiError::Unavailable(reason)),
    }
}

fn forbidden() -> ApiError {
    ApiError::Forbidden("wrong or missing X-Telegram-Bot-Api-Secret-Token".into())
}

fn too_large() -> ApiError {
    ApiError::BadRequest(format!(
        "the body is over {MAX_QUARANTINE_BYTES} bytes: no Telegram update is that large"
    ))
}
