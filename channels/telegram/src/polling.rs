//! Long polling (one instance at a time: the server holds an advisory lock) and the
//! webhook registration used by `baylanys telegram set-webhook URL`.

use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
use teloxide::prelude::*;
use url::Url;

use crate::conversation::{TelegramBot, method_url};

/// Only what the conversation handles; the rest would be fetched just to be ignored.
pub const ALLOWED_UPDATES: [&str; 3] = ["message", "edited_message", "callback_query"];

const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollingError {
    /// The token is wrong: retrying cannot help until the configuration changes.
    #[error("the Bot API refused the token: {0}")]
    InvalidToken(String),
    /// A webhook is set, perhaps by other instances in webhook mode: polling does not
    /// silently take the bot from them. `delete_webhook` switches deliberately.
    #[error("a webhook is set, so long polling cannot run: {0}")]
    WebhookActive(String),
}

/// A getUpdates call that failed.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("Bot API error {code}: {description}")]
    Api {
        code: i64,
        description: String,
        retry_after: Option<Duration>,
    },
    #[error("transport: {0}")]
    Transport(String),
}

impl TelegramBot {
    /// Long polling until `shutdown` completes. The offset comes from and goes back to
    /// the backend after every batch, and every update passes the backend's dedupe, so
    /// a restart neither loses nor repeats an update. An update the backend cannot take
    /// now stops the batch; it is fetched again after a backoff.
    pub async fn run_polling(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), PollingError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Duration::from_secs(1);
        let mut offset = loop {
            match self.backend.load_offset().await {
                Ok(offset) => break offset,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot load the telegram offset yet");
                    if pause(&mut shutdown, &mut backoff).await {
                        return Ok(());
                    }
                }
            }
        };
        backoff = Duration::from_secs(1);
        tracing::info!(offset, "telegram long polling started");

        loop {
            let fetched = tokio::select! {
                () = &mut shutdown => return Ok(()),
                fetched = self.get_updates(offset) => fetched,
            };
            let updates = match fetched {
                Ok(updates) => updates,
                Err(FetchError::Api {
                    code: 401 | 404,
                    description,
                    ..
                }) => {
                    return Err(PollingError::InvalidToken(description));
                }
                Err(FetchError::Api {
                    code: 409,
                    description,
                    ..
                }) if description.contains("webhook") => {
                    return Err(PollingError::WebhookActive(description));
                }
                Err(FetchError::Api {
                    retry_after: Some(wait),
                    ..
                }) => {
                    tokio::select! {
                        () = &mut shutdown => return Ok(()),
                        () = tokio::time::sleep(wait) => continue,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "getUpdates failed");
                    if pause(&mut shutdown, &mut backoff).await {
                        return Ok(());
                    }
                    continue;
                }
            };

            let mut next = offset;
            let mut stalled = false;
            for raw in &updates {
                let id = raw.get("update_id").and_then(Value::as_i64);
                match self.handle_update(raw).await {
                    Ok(_) => {
                        if let Some(id) = id {
                            next = next.max(id + 1);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(update_id = ?id, error = %e, "telegram update deferred");
                        stalled = true;
                        break;
                    }
                }
            }
            if next != offset {
                // A lost save only means a repeat after restart, which the dedupe skips.
                if let Err(e) = self.backend.save_offset(next).await {
                    tracing::warn!(offset = next, error = %e, "could not save the telegram offset");
                }
                offset = next;
            }
            if stalled {
                if pause(&mut shutdown, &mut backoff).await {
                    return Ok(());
                }
            } else {
                backoff = Duration::from_secs(1);
            }
        }
    }

    /// getUpdates by hand rather than through teloxide: each update stays raw JSON, so
    /// one teloxide cannot read is quarantined whole instead of half-parsed.
    async fn get_updates(&self, offset: i64) -> Result<Vec<Value>, FetchError> {
        let timeout = self.config.poll_timeout_secs;
        let body = json!({
            "offset": offset,
            "timeout": timeout,
            "limit": 100,
            "allowed_updates": ALLOWED_UPDATES,
        });
        let response = self
            .bot
            .client()
            .post(method_url(&self.bot, "getUpdates"))
            .json(&body)
            // The client's default timeout is shorter than a long poll.
            .timeout(Duration::from_secs(u64::from(timeout) + 15))
            .send()
            .await
            // The URL holds the token: never in an error message.
            .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| FetchError::Transport(format!("HTTP {status}: {}", e.without_url())))?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return match answer.get("result") {
                Some(Value::Array(updates)) => Ok(updates.clone()),
                _ => Err(FetchError::Transport(
                    "getUpdates result is not a list".into(),
                )),
            };
        }
        Err(FetchError::Api {
            code: answer
                .get("error_code")
                .and_then(Value::as_i64)
                .unwrap_or(i64::from(status.as_u16())),
            description: answer
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("no description")
                .to_owned(),
            retry_after: answer
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(Duration::from_secs),
        })
    }
}

/// Waits out the backoff (doubling it) unless shutdown comes first; true on shutdown.
async fn pause(
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    backoff: &mut Duration,
) -> bool {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    tokio::select! {
        () = shutdown.as_mut() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

/// Registers `url` as the webhook with its secret token (`baylanys telegram set-webhook`).
/// Pending updates are kept so nothing sent during the switch is lost.
pub async fn set_webhook(bot: &Bot, url: Url, secret: &str) -> Result<(), WebhookSetupError> {
    if !is_valid_secret(secret) {
        return Err(WebhookSetupError::InvalidSecret);
    }
    bot.set_webhook(url)
        .secret_token(secret.to_owned())
        .allowed_updates(
            ALLOWED_UPDATES
                .iter()
                .filter_map(|u| allowed_update(u))
                .collect::<Vec<_>>(),
        )
        .drop_pending_updates(false)
        .await
        .map(|_| ())
        .map_err(|e| WebhookSetupError::Api(e.to_string()))
}

/// Removes the webhook (to go back to long polling), keeping pending updates.
pub async fn delete_webhook(bot: &Bot) -> Result<(), WebhookSetupError> {
    bot.delete_webhook()
        .drop_pending_updates(false)
        .await
        .map(|_| ())
        .map_err(|e| WebhookSetupError::Api(e.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -")]
    InvalidSecret,
    /// teloxide keeps the token out of its error texts.
    #[error("the Bot API refused: {0}")]
    Api(String),
}

/// Telegram's own rule for `secret_token`.
fn is_valid_secret(secret: &str) -> bool {
    (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn allowed_update(name: &str) -> Option<teloxide::types::AllowedUpdate> {
    use teloxide::types::AllowedUpdate;
    match name {
        "message" => Some(AllowedUpdate::Message),
        "edited_message" => Some(AllowedUpdate::EditedMessage),
        "callback_query" => Some(AllowedUpdate::CallbackQuery),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_follows_telegram_rule() {
        assert!(is_valid_secret("abc_DEF-123"));
        assert!(!is_valid_secret(""));
        assert!(!is_valid_secret("with space"));
        assert!(!is_valid_secret(&"a".repeat(257)));
        for name in ALLOWED_UPDATES {
            assert!(allowed_update(name).is_some());
        }
    }
}
