//! Outbound delivery: [`TelegramAdapter`] implements the core [`ChannelAdapter`].

use std::sync::Arc;

use baylanys_core::{
    Attachment, Channel, ChannelAdapter, DeliveryReceipt, OutboundKind, OutboundMessage, SendError,
    SendFuture,
};
use teloxide::prelude::*;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId, ReplyMarkup,
};
use teloxide::{ApiError, RequestError};

use crate::config::TelegramConfig;
use crate::rate::RateLimiter;

/// Telegram's limit on a message text, in UTF-16 code units (how it counts length).
pub const MESSAGE_LIMIT: usize = 4096;
/// Telegram's limit on callback data, in bytes.
pub const CALLBACK_DATA_LIMIT: usize = 64;
/// sendPhoto refuses larger images; they go as documents.
const PHOTO_LIMIT: usize = 10 * 1024 * 1024;

/// Delivers [`OutboundMessage`]s to Telegram chats; `recipient` is the chat id.
///
/// Long texts are split at [`MESSAGE_LIMIT`]; attachments follow the text as photos
/// (JPEG, PNG, WebP up to 10 MB) or documents; a [`OutboundKind::RatingRequest`] gets a
/// 1..5 inline keyboard (R10). Sends are paced by a [`RateLimiter`] shared with the bot's
/// own replies. `OutboundMessage::subject` is not shown: chats have no subject line.
///
/// A message split into several parts that fails midway is retried whole by the job
/// queue, so the applicant may see the first parts twice; nothing is lost.
#[derive(Clone)]
pub struct TelegramAdapter {
    pub(crate) bot: Bot,
    pub(crate) limiter: Arc<RateLimiter>,
}

impl TelegramAdapter {
    pub fn new(bot: Bot, limiter: Arc<RateLimiter>) -> Self {
        TelegramAdapter { bot, limiter }
    }

    /// An adapter with its own limiter. Prefer [`crate::TelegramBot::adapter`] when the
    /// bot also runs in this process, so both count against one budget.
    pub fn from_config(config: &TelegramConfig) -> Self {
        let limiter = RateLimiter::new(config.rate_global_per_sec, config.rate_per_chat_per_sec);
        TelegramAdapter::new(config.bot(), Arc::new(limiter))
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, SendError> {
        let chat_id = parse_chat_id(&message.recipient)?;
        let keyboard = match message.kind {
            OutboundKind::RatingRequest => {
                let number = message.ticket_number.as_deref().ok_or_else(|| {
                    SendError::permanent("a rating request needs the ticket number")
                })?;
                Some(rating_keyboard(number)?)
            }
            _ => None,
        };
        let chunks = split_text(&message.body_text, MESSAGE_LIMIT);
        if chunks.is_empty() && message.attachments.is_empty() {
            return Err(SendError::permanent(
                "nothing to send: empty text and no files",
            ));
        }
        if chunks.is_empty() && keyboard.is_some() {
            return Err(SendError::permanent(
                "a rating request needs a text to carry its buttons",
            ));
        }

        let mut remote_ids = Vec::new();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.into_iter().enumerate() {
            let markup = if i == last { keyboard.clone() } else { None };
            let id = send_text(&self.bot, &self.limiter, chat_id, chunk, markup).await?;
            remote_ids.push(id.0.to_string());
        }
        for attachment in &message.attachments {
            let id = self.send_file(chat_id, attachment).await?;
            remote_ids.push(id.0.to_string());
        }
        Ok(DeliveryReceipt {
            remote_id: Some(remote_ids.join(",")),
        })
    }

    async fn send_file(&self, chat_id: i64, file: &Attachment) -> Result<MessageId, SendError> {
        self.limiter.acquire(chat_id).await;
        let input = InputFile::memory(file.content.clone()).file_name(file.file_name.clone());
        let result = if is_photo(file) {
            self.bot.send_photo(ChatId(chat_id), input).await
        } else {
            self.bot.send_document(ChatId(chat_id), input).await
        };
        match result {
            Ok(sent) => Ok(sent.id),
            Err(e) => Err(self.failed(chat_id, e).await),
        }
    }

    async fn failed(&self, chat_id: i64, error: RequestError) -> SendError {
        failed(&self.limiter, chat_id, error).await
    }
}

impl ChannelAdapter for TelegramAdapter {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// One paced sendMessage; shared by the adapter and the bot's own replies.
pub(crate) async fn send_text(
    bot: &Bot,
    limiter: &RateLimiter,
    chat_id: i64,
    text: String,
    markup: Option<ReplyMarkup>,
) -> Result<MessageId, SendError> {
    limiter.acquire(chat_id).await;
    let mut request = bot.send_message(ChatId(chat_id), text);
    if let Some(markup) = markup {
        request = request.reply_markup(markup);
    }
    match request.await {
        Ok(sent) => Ok(sent.id),
        Err(e) => Err(failed(limiter, chat_id, e).await),
    }
}

async fn failed(limiter: &RateLimiter, chat_id: i64, error: RequestError) -> SendError {
    let error = classify(error);
    if let SendError::Temporary {
        retry_after: Some(wait),
        ..
    } = &error
    {
        limiter.penalize(chat_id, *wait).await;
    }
    error
}

/// Decides retry or give up. teloxide keeps the API's description but not its HTTP
/// code, so the code is read back from the description's standard prefix.
pub fn classify(error: RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(wait) => SendError::Temporary {
            message: format!("Telegram flood control: retry after {} s", wait.seconds()),
            retry_after: Some(wait.duration()),
        },
        RequestError::Network(e) => SendError::temporary(format!("network error: {e}")),
        RequestError::Io(e) => SendError::temporary(format!("I/O error: {e}")),
        // A proxy's HTML error page in place of the Bot API's JSON: the API is not reachable.
        RequestError::InvalidJson { source, .. } => {
            SendError::temporary(format!("unreadable Bot API answer: {source}"))
        }
        RequestError::MigrateToChatId(to) => {
            SendError::permanent(format!("the group became supergroup {}", to.0))
        }
        RequestError::Api(api) => classify_api(api),
    }
}

fn classify_api(api: ApiError) -> SendError {
    let message = api.to_string();
    match api {
        // A wrong token is fixed by an administrator; the message should still go then.
        ApiError::InvalidToken => SendError::temporary(message),
        ApiError::Unknown(description) => {
            let temporary = [
                "Too Many Requests",
                "Internal Server Error",
                "Bad Gateway",
                "Gateway",
            ]
            .iter()
            .any(|prefix| description.starts_with(prefix));
            if temporary {
                SendError::temporary(description)
            } else {
                SendError::permanent(description)
            }
        }
        // Blocked, kicked, deactivated (403) and every other 400 will not change on retry.
        _ => SendError::permanent(message),
    }
}

fn parse_chat_id(recipient: &str) -> Result<i64, SendError> {
    recipient.trim().parse::<i64>().map_err(|_| {
        SendError::permanent(format!("recipient `{recipient}` is not a Telegram chat id"))
    })
}

/// The 1..5 buttons of a rating request (R10); their data is `rate:<number>:<n>`.
pub fn rating_keyboard(ticket_number: &str) -> Result<ReplyMarkup, SendError> {
    let longest = format!("rate:{ticket_number}:5");
    if longest.len() > CALLBACK_DATA_LIMIT || ticket_number.contains(':') {
        return Err(SendError::permanent(format!(
            "ticket number `{ticket_number}` does not fit a rating button"
        )));
    }
    let row = (1..=5).map(|n| {
        InlineKeyboardButton::callback(n.to_string(), format!("rate:{ticket_number}:{n}"))
    });
    Ok(ReplyMarkup::InlineKeyboard(InlineKeyboardMarkup::new([
        row,
    ])))
}

fn is_photo(file: &Attachment) -> bool {
    let kind = file.content_type.to_ascii_lowercase();
    matches!(
        kind.as_str(),
        "image/jpeg" | "image/jpg" | "image/png" | "image/webp"
    ) && file.content.len() <= PHOTO_LIMIT
}

/// Splits a text into parts of at most `limit` UTF-16 code units, preferring a
/// paragraph break, then a line break, then a space in the second half of each part;
/// a hard cut falls between two chars, never inside one (nor inside a surrogate pair).
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(2);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let fit = prefix_within(rest, limit);
        if fit == rest.len() {
            parts.push(rest.to_owned());
            break;
        }
        let head = &rest[..fit];
        let half = fit / 2;
        let cut = [("\n\n", 2), ("\n", 1), (" ", 1)]
            .iter()
            .find_map(|(separator, len)| {
                head.rfind(separator)
                    .filter(|&at| at >= half)
                    .map(|at| (at, at + len))
            })
            .unwrap_or((fit, fit));
        let part = rest[..cut.0].trim_end();
        if !part.is_empty() {
            parts.push(part.to_owned());
        }
        rest = rest[cut.1..].trim_start_matches(['\n', '\r']);
    }
    parts
}

/// The byte length of the longest prefix of `text` within `limit` UTF-16 units.
fn prefix_within(text: &str, limit: usize) -> usize {
    let mut units = 0;
    for (at, ch) in text.char_indices() {
        units += ch.len_utf16();
        if units > limit {
            return at;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_len(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_text("Сәлем", 4096), vec!["Сәлем".to_owned()]);
        assert!(split_text("  \n ", 4096).is_empty());
    }

    #[test]
    fn long_text_splits_on_paragraphs() {
        let paragraph = "Абзац текста ответа. ".repeat(40);
        let text = [paragraph.trim(); 10].join("\n\n");
        let parts = split_text(&text, MESSAGE_LIMIT);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(utf16_len(part) <= MESSAGE_LIMIT);
            assert!(
                part.ends_with("ответа."),
                "cut inside a paragraph: {part:?}"
            );
        }
        assert_eq!(parts.join("\n\n"), text);
    }

    #[test]
    fn emoji_are_never_cut_in_half() {
        // Each emoji is two UTF-16 units; an odd limit would land between them.
        let text = "😀".repeat(5000);
        let parts = split_text(&text, 4095);
        for part in &parts {
            assert!(utf16_len(part) <= 4095);
            assert!(part.chars().all(|c| c == '😀'));
        }
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn text_without_breaks_is_cut_hard() {
        let text = "ы".repeat(9000);
        let parts = split_text(&text, MESSAGE_LIMIT);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn r10_rating_keyboard_carries_number_and_score() {
        let markup = rating_keyboard("UCC-2026-000042").expect("fits");
        let json = serde_json::to_value(&markup).expect("serializable");
        let row = &json["inline_keyboard"][0];
        assert_eq!(row.as_array().map(Vec::len), Some(5));
        assert_eq!(row[4]["callback_data"], "rate:UCC-2026-000042:5");
        assert!(rating_keyboard(&"X".repeat(60)).is_err());
    }

    #[test]
    fn errors_map_to_retry_or_give_up() {
        use teloxide::types::Seconds;
        let flood = classify(RequestError::RetryAfter(Seconds::from_seconds(3)));
        assert_eq!(
            flood,
            SendError::Temporary {
                message: "Telegram flood control: retry after 3 s".into(),
                retry_after: Some(std::time::Duration::from_secs(3)),
            }
        );
        assert!(matches!(
            classify(RequestError::Api(ApiError::BotBlocked)),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            SendError::Temporary { .. }
        ));
        assert!(matches!(
            classify(RequestError::Api(ApiError::Unknown(
                "Bad Request: nope".into()
            ))),
            SendError::Permanent { .. }
        ));
    }
}
