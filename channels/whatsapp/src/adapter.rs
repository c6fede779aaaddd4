//! Outbound delivery: [`WhatsAppAdapter`] implements the core [`ChannelAdapter`].

use std::sync::Arc;
use std::time::Duration;

use baylanys_core::{
    Attachment, Channel, ChannelAdapter, DeliveryReceipt, Language, OutboundKind, OutboundMessage,
    SendError, SendFuture,
};
use serde_json::{Value, json};

use crate::api::{ApiError, GraphClient};
use crate::config::{TemplateParam, WhatsAppConfig};
use crate::rate::Pacer;

/// WhatsApp's limit on a text message body, in characters.
pub const MESSAGE_LIMIT: usize = 4096;
/// The limit on the body of an interactive (buttons, list) message.
pub const INTERACTIVE_BODY_LIMIT: usize = 1024;
/// Reply-button titles and list button labels.
pub const BUTTON_TITLE_LIMIT: usize = 20;
/// List row titles and section titles.
pub const ROW_TITLE_LIMIT: usize = 24;
/// The customer-service window: free text only within 24 hours of the applicant's last
/// message (a minute's margin for clocks and queues).
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(24 * 3600 - 60);
/// Images sent as images (larger go as documents).
const IMAGE_LIMIT: usize = 5 * 1024 * 1024;

/// The re-engagement error: the window is closed, only a template may go.
pub const OUTSIDE_WINDOW: i64 = 131047;
/// Throughput limit of the business number.
pub const THROUGHPUT_LIMIT: i64 = 130429;
/// Pair rate limit: too many messages to one recipient in a short time.
pub const PAIR_LIMIT: i64 = 131056;

/// Delivers [`OutboundMessage`]s to WhatsApp users; `recipient` is the `wa_id` (digits).
///
/// Inside the 24-hour window: text split at [`MESSAGE_LIMIT`], files as images or
/// documents (uploaded first), a rating request as a 1-5 interactive list (reply
/// buttons allow only three). Outside it (known from `last_inbound_at`, or learnt from
/// a 131047 refusal): the template configured for the kind of message, or a permanent
/// failure that says which setting is missing. Sends are paced per recipient; 130429
/// and 131056 are temporary failures with a wait, retried by the job queue.
#[derive(Clone)]
pub struct WhatsAppAdapter {
    pub(crate) client: GraphClient,
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) config: Arc<WhatsAppConfig>,
}

impl WhatsAppAdapter {
    pub fn new(config: WhatsAppConfig) -> WhatsAppAdapter {
        let client = GraphClient::new(
            config.api_url.clone(),
            config.access_token.clone(),
            config.phone_number_id.clone(),
        );
        WhatsAppAdapter {
            pacer: Arc::new(Pacer::new(
                config.rate_global_per_sec,
                config.per_recipient_interval,
            )),
            client,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &WhatsAppConfig {
        &self.config
    }

    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, SendError> {
        let to = parse_recipient(&message.recipient)?;
        let open = message
            .last_inbound_at
            .is_none_or(|at| chrono::Utc::now() - at < WINDOW);
        let ids = if open {
            match self.free_form(to, message).await {
                Err(Refused::OutsideWindow(_)) if self.template_for(message.kind).is_some() => {
                    self.template(to, message).await?
                }
                Err(Refused::OutsideWindow(e)) => return Err(self.no_template(message.kind, &e)),
                Err(Refused::Other(e)) => return Err(e),
                Ok(ids) => ids,
            }
        } else if self.template_for(message.kind).is_some() {
            self.template(to, message).await?
        } else {
            return Err(self.no_template(message.kind, "the last message is over 24 hours old"));
        };
        Ok(DeliveryReceipt {
            remote_id: Some(ids.join(",")),
        })
    }

    fn template_for(&self, kind: OutboundKind) -> Option<&crate::config::TemplateSpec> {
        self.config.templates.get(&kind)
    }

    fn no_template(&self, kind: OutboundKind, why: &str) -> SendError {
        let kind = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        SendError::permanent(format!(
            "outside WhatsApp's 24-hour customer-service window ({why}) and no template is \
             configured for `{kind}`: add one to BAYLANYS_WHATSAPP_TEMPLATES and resend"
        ))
    }

    async fn free_form(&self, to: &str, m: &OutboundMessage) -> Result<Vec<String>, Refused> {
        let mut ids = Vec::new();
        if m.kind == OutboundKind::RatingRequest {
            let number = m.ticket_number.as_deref().ok_or_else(|| {
                Refused::Other(SendError::permanent(
                    "a rating request needs the ticket number",
                ))
            })?;
            let mut parts = split_text(&m.body_text, INTERACTIVE_BODY_LIMIT);
            let last = parts.pop().ok_or_else(|| {
                Refused::Other(SendError::permanent("a rating request needs a text"))
            })?;
            for part in parts {
                ids.push(self.post(to, text_body(to, &part)).await?);
            }
            let list = rating_list(&self.config.texts, to, number, &last, Some(m.language));
            ids.push(self.post(to, list).await?);
            return Ok(ids);
        }
        let parts = split_text(&m.body_text, MESSAGE_LIMIT);
        if parts.is_empty() && m.attachments.is_empty() {
            return Err(Refused::Other(SendError::permanent(
                "nothing to send: empty text and no files",
            )));
        }
        for part in parts {
            ids.push(self.post(to, text_body(to, &part)).await?);
        }
        for file in &m.attachments {
            ids.push(self.send_file(to, file).await?);
        }
        Ok(ids)
    }

    async fn send_file(&self, to: &str, file: &Attachment) -> Result<String, Refused> {
        let media = self
            .client
            .upload(&file.file_name, &file.content_type, file.content.clone())
            .await
            .map_err(|e| Refused::Other(classify_plain(&e)))?;
        let image = matches!(file.content_type.as_str(), "image/jpeg" | "image/png")
            && file.content.len() <= IMAGE_LIMIT;
        let body = if image {
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                   "type": "image", "image": {"id": media}})
        } else {
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                   "type": "document", "document": {"id": media, "filename": file.file_name}})
        };
        self.post(to, body).await
    }

    async fn template(&self, to: &str, m: &OutboundMessage) -> Result<Vec<String>, SendError> {
        let spec = self
            .template_for(m.kind)
            .ok_or_else(|| self.no_template(m.kind, "no template"))?;
        let number = m.ticket_number.clone().unwrap_or_else(|| "-".into());
        let mut body_params = Vec::new();
        let mut components = Vec::new();
        for p in &spec.params {
            match p {
                TemplateParam::Number => body_params.push(json!({"type": "text", "text": number})),
                TemplateParam::Text => {
                    let text = cut(m.body_text.trim(), self.config.template_text_limit);
                    // Template parameters may not carry line breaks or long runs of spaces.
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    body_params.push(json!({"type": "text", "text": text}))
                }
                TemplateParam::RateButtons => {
                    for i in 0..5u8 {
                        components.push(json!({
                            "type": "button", "sub_type": "quick_reply", "index": i.to_string(),
                            "parameters": [{"type": "payload", "payload": format!("rate:{number}:{}", i + 1)}]
                        }));
                    }
                }
            }
        }
        if !body_params.is_empty() {
            components.insert(0, json!({"type": "body", "parameters": body_params}));
        }
        let body = json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "template",
            "template": {"name": spec.name, "language": {"code": language_code(m.language)},
                         "components": components}
        });
        match self.post(to, body).await {
            Ok(id) => Ok(vec![id]),
            Err(Refused::OutsideWindow(e)) => Err(SendError::permanent(e)),
            Err(Refused::Other(e)) => Err(e),
        }
    }

    /// One paced send; rate refusals penalise this recipient for their wait.
    pub(crate) async fn post(&self, to: &str, body: Value) -> Result<String, Refused> {
        self.pacer.acquire(to).await;
        match self.client.send(&body).await {
            Ok(id) => Ok(id),
            Err(ApiError::Api { code, message, .. }) if code == OUTSIDE_WINDOW => Err(
                Refused::OutsideWindow(format!("WhatsApp error {code}: {message}")),
            ),
            Err(e) => {
                let error = classify(&e, &self.config);
                if let SendError::Temporary {
                    retry_after: Some(wait),
                    ..
                } = &error
                {
                    self.pacer.penalize(to, *wait).await;
                }
                Err(Refused::Other(error))
            }
        }
    }

    /// The bot's own answer: text; failures are logged (the appeal is registered, and
    /// what matters reaches the applicant through the server's retried jobs).
    pub async fn say(&self, to: &str, text: &str) {
        for part in split_text(text, MESSAGE_LIMIT) {
            if let Err(e) = self.post(to, text_body(to, &part)).await {
                tracing::warn!(to, error = ?e, "whatsapp reply not delivered");
                return;
            }
        }
    }

    /// The bot's answer with up to three reply buttons `(id, title)`.
    pub async fn say_with_buttons(&self, to: &str, text: &str, buttons: &[(String, String)]) {
        let mut parts = split_text(text, INTERACTIVE_BODY_LIMIT);
        let Some(last) = parts.pop() else { return };
        for part in parts {
            if let Err(e) = self.post(to, text_body(to, &part)).await {
                tracing::warn!(to, error = ?e, "whatsapp reply not delivered");
                return;
            }
        }
        let buttons: Vec<Value> = buttons
            .iter()
            .take(3)
            .map(|(id, title)| {
                json!({"type": "reply", "reply": {"id": id, "title": cut(title, BUTTON_TITLE_LIMIT)}})
            })
            .collect();
        let body = json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "interactive",
            "interactive": {"type": "button", "body": {"text": last}, "action": {"buttons": buttons}}
        });
        if let Err(e) = self.post(to, body).await {
            tracing::warn!(to, error = ?e, "whatsapp reply not delivered");
        }
    }
}

/// Why one send was refused: the window (a template may do), or anything else.
#[derive(Debug)]
pub(crate) enum Refused {
    OutsideWindow(String),
    Other(SendError),
}

impl From<Refused> for SendError {
    fn from(r: Refused) -> SendError {
        match r {
            Refused::OutsideWindow(m) => SendError::permanent(m),
            Refused::Other(e) => e,
        }
    }
}

impl ChannelAdapter for WhatsAppAdapter {
    fn channel(&self) -> Channel {
        Channel::WhatsApp
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// Retry or give up, by the Graph API's error code.
pub fn classify(error: &ApiError, config: &WhatsAppConfig) -> SendError {
    match error {
        ApiError::Api { code, message, .. } if *code == THROUGHPUT_LIMIT => SendError::Temporary {
            message: format!("WhatsApp error {code}: {message}"),
            retry_after: Some(config.throughput_retry),
        },
        ApiError::Api { code, message, .. } if *code == PAIR_LIMIT => SendError::Temporary {
            message: format!("WhatsApp error {code}: {message}"),
            retry_after: Some(config.pair_retry),
        },
        other => classify_plain(other),
    }
}

fn classify_plain(error: &ApiError) -> SendError {
    match error {
        ApiError::Transport(m) => SendError::temporary(m.clone()),
        ApiError::Api {
            http_status, code, ..
        } => {
            // Unknown/service errors, app-level rate limits, a token to renew: an
            // administrator or time fixes them, and the message should still go then.
            let temporary = matches!(
                code,
                1 | 2 | 4 | 17 | 190 | 80007 | 130429 | 131000 | 131016 | 131056 | 133004
            ) || *http_status >= 500;
            if temporary {
                SendError::Temporary {
                    message: error.to_string(),
                    retry_after: Some(Duration::from_secs(5)),
                }
            } else {
                SendError::permanent(error.to_string())
            }
        }
    }
}

fn parse_recipient(recipient: &str) -> Result<&str, SendError> {
    let to = recipient.trim().trim_start_matches('+');
    if (6..=20).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit()) {
        Ok(to)
    } else {
        Err(SendError::permanent(format!(
            "recipient `{recipient}` is not a WhatsApp id (the phone number in digits)"
        )))
    }
}

fn language_code(language: Language) -> &'static str {
    match language {
        Language::Kk => "kk",
        _ => "ru",
    }
}

pub(crate) fn text_body(to: &str, text: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
           "type": "text", "text": {"preview_url": false, "body": text}})
}

/// The 1-5 rating (R10) as an interactive list: rows `rate:<number>:<n>`, best first.
pub fn rating_list(
    texts: &crate::texts::Texts,
    to: &str,
    number: &str,
    body: &str,
    language: Option<Language>,
) -> Value {
    let label = cut(
        &texts.text("rating_button", json!({})).pick_short(language),
        BUTTON_TITLE_LIMIT,
    );
    let rows: Vec<Value> = (1..=5u8)
        .rev()
        .map(|n| {
            let title = texts
                .text("rating_row", json!({ "rating": n }))
                .pick_short(language);
            json!({"id": format!("rate:{number}:{n}"), "title": cut(&title, ROW_TITLE_LIMIT)})
        })
        .collect();
    json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": "interactive",
        "interactive": {"type": "list", "body": {"text": body},
            "action": {"button": label, "sections": [{"title": cut(&label, ROW_TITLE_LIMIT), "rows": rows}]}}
    })
}

/// At most `limit` characters, with an ellipsis when cut.
pub fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(limit.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Splits a text into parts of at most `limit` characters (counted as UTF-16 units, so
/// never more characters than the platform counts), preferring a paragraph break, then a
/// line break, then a space in the second half of each part.
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
            .find_map(|(sep, len)| {
                head.rfind(sep)
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

    #[test]
    fn long_text_splits_within_the_limit_and_loses_nothing() {
        let paragraph = "Абзац текста ответа. ".repeat(40);
        let text = [paragraph.trim(); 12].join("\n\n");
        let parts = split_text(&text, MESSAGE_LIMIT);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| p.chars().count() <= MESSAGE_LIMIT));
        assert_eq!(parts.join("\n\n"), text);
        assert_eq!(split_text(&"ы".repeat(9000), MESSAGE_LIMIT).len(), 3);
    }

    #[test]
    fn errors_map_to_retry_fallback_or_give_up() {
        let config = WhatsAppConfig::new("t", "1", "s", "v");
        let api = |code| ApiError::Api {
            http_status: 400,
            code,
            message: "m".into(),
        };
        assert!(matches!(
            classify(&api(130429), &config),
            SendError::Temporary { retry_after: Some(d), .. } if d == config.throughput_retry
        ));
        assert!(matches!(
            classify(&api(131056), &config),
            SendError::Temporary { retry_after: Some(d), .. } if d == config.pair_retry
        ));
        assert!(matches!(
            classify(&api(131026), &config),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(&ApiError::Transport("refused".into()), &config),
            SendError::Temporary { .. }
        ));
        assert!(parse_recipient("77011234567").is_ok());
        assert!(parse_recipient("abc").is_err());
    }

    #[test]
    fn r10_rating_list_has_five_rows_within_whatsapps_limits() {
        let texts = crate::texts::Texts::default();
        let list = rating_list(&texts, "7701", "UCC-2026-000042", "Оцените", None);
        let rows = list["interactive"]["action"]["sections"][0]["rows"]
            .as_array()
            .expect("rows");
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0]["id"], "rate:UCC-2026-000042:5");
        assert!(
            rows.iter()
                .all(|r| r["title"].as_str().unwrap().chars().count() <= ROW_TITLE_LIMIT)
        );
        assert_eq!(cut("абвгд", 3), "аб…");
    }
}
