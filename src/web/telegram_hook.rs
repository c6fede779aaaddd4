//! `POST /telegram/webhook`: updates pushed by the Bot API, handed to the bot.

use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_telegram::WebhookOutcome;

use super::{ApiError, AppData};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/telegram/webhook", web::post().to(webhook));
}

async fn webhook(
    app: AppData,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(bot) = app.telegram.get() else {
        return Err(ApiError::NotFound(
            "the Telegram channel is not configured on this server (BAYLANYS_TELEGRAM_TOKEN)"
                .into(),
        ));
    };
    let secret = req
        .headers()
        .get("X-Telegram-Bot-Api-Secret-Token")
        .and_then(|v| v.to_str().ok());
    match bot.handle_webhook(secret, &body).await {
        WebhookOutcome::Handled(_) => Ok(HttpResponse::Ok().json(serde_json::json!({"ok": true}))),
        WebhookOutcome::Unauthorized => Err(ApiError::Forbidden(
            "wrong or missing X-Telegram-Bot-Api-Secret-Token".into(),
        )),
        WebhookOutcome::RetryLater(reason) => Err(ApiError::Unavailable(reason)),
    }
}
