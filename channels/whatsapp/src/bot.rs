//! The conversation: what the bot does with each verified webhook body.

use std::sync::Arc;

use baylanys_core::chat::{ChatBackend, ChatError, ChatRating};
use baylanys_core::{
    Attachment, Channel, DeliveryEvent, DeliveryReport, InboundMessage, Language, Sender,
};
use serde_json::{Value, json};

use crate::adapter::{MESSAGE_LIMIT, WhatsAppAdapter};
use crate::api::MediaProblem;

/// The WhatsApp side of Baylanys: handles webhook bodies, answers through the adapter.
pub struct WhatsAppBot {
    adapter: WhatsAppAdapter,
    backend: Arc<dyn ChatBackend>,
}

/// What became of one webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handled {
    /// Messages acted on (registered, joined, a button, a command).
    pub messages: usize,
    /// Messages handled before (a redelivery): skipped.
    pub duplicates: usize,
    pub statuses: usize,
    /// Why (part of) the body could not be handled: the server keeps it whole in the
    /// quarantine with these reasons. Everything else in it was handled.
    pub quarantined: Vec<String>,
}

/// The body could not be handled now and must be handled again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backend unavailable, webhook kept for retry: {0}")]
pub struct Unavailable(pub String);

enum Problem {
    Unavailable(String),
    /// This item cannot be handled: the body is quarantined with the reason; once the
    /// message is claimed the sender is told (if given).
    Quarantine {
        reason: String,
        tell: Option<String>,
    },
}

impl From<ChatError> for Problem {
    fn from(e: ChatError) -> Problem {
        match e {
            ChatError::Unavailable(m) => Problem::Unavailable(m),
            ChatError::Rejected(m) => Problem::Quarantine {
                reason: m,
                tell: None,
            },
        }
    }
}

fn quarantine(reason: impl Into<String>) -> Problem {
    Problem::Quarantine {
        reason: reason.into(),
        tell: None,
    }
}

/// A file that came with a message, before download.
struct IncomingFile {
    media_id: String,
    name: String,
    content_type: String,
}

/// What became of one message.
enum Did {
    Acted,
    Duplicate,
}

impl WhatsAppBot {
    pub fn new(adapter: WhatsAppAdapter, backend: Arc<dyn ChatBackend>) -> WhatsAppBot {
        WhatsAppBot { adapter, backend }
    }

    fn texts(&self) -> &crate::texts::Texts {
        &self.adapter.config.texts
    }

    /// Handles one verified webhook body (the server stored it raw first). `Err` only
    /// when the backend is down and the body must be handled again.
    pub async fn handle_body(&self, raw: &[u8]) -> Result<Handled, Unavailable> {
        let mut handled = Handled::default();
        let v: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => {
                handled
                    .quarantined
                    .push(format!("the webhook body is not JSON: {e}"));
                return Ok(handled);
            }
        };
        if v["object"] != "whatsapp_business_account" {
            handled.quarantined.push(format!(
                "not a WhatsApp Business webhook: `object` is {}",
                cut_json(&v["object"])
            ));
            return Ok(handled);
        }
        let Some(entries) = v["entry"].as_array() else {
            handled
                .quarantined
                .push("the webhook has no `entry` array".into());
            return Ok(handled);
        };
        for entry in entries {
            let Some(changes) = entry["changes"].as_array() else {
                handled
                    .quarantined
                    .push("an entry has no `changes` array".into());
                continue;
            };
            for change in changes {
                // Other fields (account or template updates) carry nothing for tickets.
                if change["field"] != "messages" {
                    continue;
                }
                let value = &change["value"];
                for status in value["statuses"].as_array().into_iter().flatten() {
                    match self.on_status(status).await {
                        Ok(()) => handled.statuses += 1,
                        Err(Problem::Unavailable(m)) => return Err(Unavailable(m)),
                        Err(Problem::Quarantine { reason, .. }) => handled.quarantined.push(reason),
                    }
                }
                let names = names_of(value);
                for message in value["messages"].as_array().into_iter().flatten() {
                    match self.on_message(message, &names).await {
                        Ok(Did::Acted) => handled.messages += 1,
                        Ok(Did::Duplicate) => handled.duplicates += 1,
                        Err(Problem::Unavailable(m)) => return Err(Unavailable(m)),
                        Err(Problem::Quarantine { reason, tell }) => {
                            handled.quarantined.push(reason);
                            self.claim_and_tell(message, tell).await?;
                        }
                    }
                }
            }
        }
        Ok(handled)
    }

    /// After a quarantined message: claim it and tell the sender once.
    async fn claim_and_tell(
        &self,
        message: &Value,
        tell: Option<String>,
    ) -> Result<(), Unavailable> {
        let (Some(id), Some(from)) = (message["id"].as_str(), sender_id(message)) else {
            return Ok(());
        };
        match self.backend.claim(id.to_owned()).await {
            Ok(true) => {
                if let Some(text) = tell {
                    self.adapter.say(&from, &text).await;
                }
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(ChatError::Unavailable(m)) => Err(Unavailable(m)),
            Err(ChatError::Rejected(_)) => Ok(()),
        }
    }

    async fn on_status(&self, s: &Value) -> Result<(), Problem> {
        let (Some(id), Some(state)) = (s["id"].as_str(), s["status"].as_str()) else {
            return Err(quarantine("a status without `id` or `status`"));
        };
        let event = match state {
            "sent" => DeliveryEvent::Sent,
            "delivered" => DeliveryEvent::Delivered,
            "read" => DeliveryEvent::Read,
            "failed" => {
                let e = &s["errors"][0];
                let mut message = [e["title"].as_str(), e["message"].as_str()]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>();
                message.dedup();
                let mut message = message.join(": ");
                if let Some(d) = e["error_data"]["details"].as_str() {
                    message.push_str(&format!(" ({d})"));
                }
                if message.is_empty() {
                    message = "failed".into();
                }
                DeliveryEvent::Failed {
                    code: e["code"].as_i64(),
                    message: baylanys_core::clean_text(&message).into_owned(),
                }
            }
            // `deleted`, `warning` and what may come: nothing to show on a ticket.
            _ => return Ok(()),
        };
        let report = DeliveryReport {
            channel: Channel::WhatsApp,
            remote_id: baylanys_core::clean_text(id).into_owned(),
            event,
            at: timestamp(&s["timestamp"]),
        };
        Ok(self.backend.delivery_report(report).await?)
    }

    async fn on_message(&self, m: &Value, names: &[(String, String)]) -> Result<Did, Problem> {
        let (Some(id), Some(from)) = (m["id"].as_str(), sender_id(m)) else {
            return Err(quarantine("a message without `id` or a valid `from`"));
        };
        if id.is_empty() || id.len() > 256 {
            return Err(quarantine("a message id that is empty or over 256 bytes"));
        }
        let id = id.to_owned();
        if !self.backend.is_new(id.clone()).await? {
            return Ok(Did::Duplicate);
        }
        let language = self.backend.language(from.clone()).await?;
        let kind = m["type"].as_str().unwrap_or_default();
        match kind {
            "interactive" => {
                let i = &m["interactive"];
                let reply = if i["button_reply"].is_object() {
                    &i["button_reply"]
                } else {
                    &i["list_reply"]
                };
                let choice = reply["id"].as_str().unwrap_or_default().to_owned();
                self.on_choice(id, from, language, &choice).await
            }
            "button" => {
                let choice = m["button"]["payload"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.on_choice(id, from, language, &choice).await
            }
            "text" => {
                let text = m["text"]["body"].as_str().unwrap_or_default();
                let length = text.chars().count();
                if length > MESSAGE_LIMIT {
                    let tell = self
                        .texts()
                        .text(
                            "message_too_long",
                            json!({"length": length, "limit": MESSAGE_LIMIT}),
                        )
                        .pick(language);
                    return Err(Problem::Quarantine {
                        reason: format!(
                            "text of {length} characters is over WhatsApp's limit of {MESSAGE_LIMIT}"
                        ),
                        tell: Some(tell),
                    });
                }
                match command_of(text) {
                    Some(command) => self.on_command(id, from, language, command).await,
                    None => self.register(id, m, from, names, language).await,
                }
            }
            "image" | "document" | "audio" | "video" | "location" | "contacts" => {
                self.register(id, m, from, names, language).await
            }
            // A reaction answers nothing.
            "reaction" => self.claim_quietly(id).await,
            // Stickers, orders, system notices, `unsupported` and types yet to come.
            _ => {
                if !self.backend.claim(id).await? {
                    return Ok(Did::Duplicate);
                }
                let text = self
                    .texts()
                    .text("unsupported_message", json!({}))
                    .pick(language);
                self.adapter.say(&from, &text).await;
                Ok(Did::Acted)
            }
        }
    }

    async fn claim_quietly(&self, id: String) -> Result<Did, Problem> {
        Ok(if self.backend.claim(id).await? {
            Did::Acted
        } else {
            Did::Duplicate
        })
    }

    fn menu(&self, language: Option<Language>) -> Vec<(String, String)> {
        let t = self.texts();
        vec![
            (
                "menu:status".into(),
                t.text("button_status", json!({})).pick_short(language),
            ),
            (
                "menu:new".into(),
                t.text("button_new_appeal", json!({})).pick_short(language),
            ),
            (
                "menu:help".into(),
                t.text("button_help", json!({})).pick_short(language),
            ),
        ]
    }

    async fn ask_language(&self, to: &str) {
        let buttons = [
            ("lang:kk".to_string(), "Қазақша".to_string()),
            ("lang:ru".to_string(), "Русский".to_string()),
        ];
        self.adapter
            .say_with_buttons(to, &self.texts().bilingual("choose_language"), &buttons)
            .await;
    }

    async fn on_command(
        &self,
        id: String,
        from: String,
        language: Option<Language>,
        command: Command,
    ) -> Result<Did, Problem> {
        let statuses = match command {
            Command::Status => Some(self.backend.statuses(from.clone()).await?),
            Command::New => {
                self.backend.request_new_appeal(from.clone()).await?;
                None
            }
            _ => None,
        };
        if !self.backend.claim(id).await? {
            return Ok(Did::Duplicate);
        }
        self.answer(&from, language, command, statuses).await;
        Ok(Did::Acted)
    }

    async fn answer(
        &self,
        to: &str,
        language: Option<Language>,
        command: Command,
        statuses: Option<Vec<baylanys_core::chat::ChatAppeal>>,
    ) {
        let t = self.texts();
        match command {
            Command::Start => {
                self.adapter
                    .say(to, &t.text("greeting", json!({})).pick(None))
                    .await;
                self.ask_language(to).await;
            }
            Command::Status => {
                let statuses = statuses.unwrap_or_default();
                let text = if statuses.is_empty() {
                    t.text("no_appeals", json!({})).pick(language)
                } else {
                    let mut lines = vec![t.text("appeals_header", json!({})).pick_short(language)];
                    for s in &statuses {
                        lines.push(
                            t.appeal_line(&s.number, &s.status, &s.due_at_local)
                                .pick_short(language),
                        );
                    }
                    lines.join("\n")
                };
                self.adapter.say(to, &text).await;
            }
            Command::New => {
                self.adapter
                    .say(to, &t.text("new_appeal_prompt", json!({})).pick(language))
                    .await;
            }
            Command::Help => {
                self.adapter
                    .say_with_buttons(
                        to,
                        &t.text("help", json!({})).pick(language),
                        &self.menu(language),
                    )
                    .await;
            }
        }
    }

    async fn on_choice(
        &self,
        id: String,
        from: String,
        language: Option<Language>,
        choice: &str,
    ) -> Result<Did, Problem> {
        let t = self.texts();
        if let Some(code) = choice.strip_prefix("lang:")
            && let Ok(chosen @ (Language::Kk | Language::Ru)) = code.parse::<Language>()
        {
            self.backend.set_language(from.clone(), chosen).await?;
            if !self.backend.claim(id).await? {
                return Ok(Did::Duplicate);
            }
            let text = t.text("language_chosen", json!({})).pick(Some(chosen));
            self.adapter
                .say_with_buttons(&from, &text, &self.menu(Some(chosen)))
                .await;
            return Ok(Did::Acted);
        }
        if let Some(rest) = choice.strip_prefix("rate:")
            && let Some((number, rating)) = parse_rating(rest)
        {
            let outcome = self
                .backend
                .record_rating(number.to_owned(), from.clone(), rating)
                .await?;
            if !self.backend.claim(id).await? {
                return Ok(Did::Duplicate);
            }
            let key = match outcome {
                ChatRating::Recorded => "rating_recorded",
                ChatRating::AlreadyRated => "rating_already_recorded",
                ChatRating::Unknown => "rating_unknown",
            };
            self.adapter
                .say(&from, &t.text(key, json!({})).pick(language))
                .await;
            return Ok(Did::Acted);
        }
        let command = match choice {
            "menu:status" => Command::Status,
            "menu:new" => Command::New,
            _ => Command::Help,
        };
        self.on_command(id, from, language, command).await
    }

    async fn register(
        &self,
        id: String,
        m: &Value,
        from: String,
        names: &[(String, String)],
        language: Option<Language>,
    ) -> Result<Did, Problem> {
        let kind = m["type"].as_str().unwrap_or_default();
        let mut body = m["text"]["body"]
            .as_str()
            .or_else(|| m[kind]["caption"].as_str())
            .unwrap_or_default()
            .to_owned();
        let mut fields = serde_json::Map::new();
        fields.insert("whatsapp_message_id".into(), json!(id));
        fields.insert("whatsapp_type".into(), json!(kind));
        if kind == "location" {
            let l = &m["location"];
            let (Some(lat), Some(lon)) = (l["latitude"].as_f64(), l["longitude"].as_f64()) else {
                return Err(quarantine("a location without latitude and longitude"));
            };
            let mut line = format!("📍 {lat:.6}, {lon:.6}");
            for part in [l["name"].as_str(), l["address"].as_str()]
                .into_iter()
                .flatten()
            {
                line.push_str(", ");
                line.push_str(part);
            }
            push_line(&mut body, &line);
            fields.insert(
                "location".into(),
                json!({"latitude": lat, "longitude": lon, "name": l["name"], "address": l["address"]}),
            );
        }
        if kind == "contacts" {
            let mut shared = Vec::new();
            for c in m["contacts"].as_array().into_iter().flatten().take(20) {
                let name = c["name"]["formatted_name"]
                    .as_str()
                    .or_else(|| c["name"]["first_name"].as_str())
                    .unwrap_or("?");
                let phones: Vec<&str> = c["phones"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["phone"].as_str())
                    .take(10)
                    .collect();
                push_line(&mut body, &format!("👤 {name}: {}", phones.join(", ")));
                shared.push(json!({"name": name, "phones": phones}));
            }
            fields.insert("contacts".into(), Value::Array(shared));
        }
        let files = file_of(m, kind);
        if body.trim().is_empty() && files.is_none() {
            if !self.backend.claim(id).await? {
                return Ok(Did::Duplicate);
            }
            let text = self
                .texts()
                .text("unsupported_message", json!({}))
                .pick(language);
            self.adapter.say(&from, &text).await;
            return Ok(Did::Acted);
        }
        let mut attachments = Vec::new();
        let mut skipped = Vec::new();
        if let Some(file) = &files {
            let limit = self.adapter.config.max_file_bytes;
            match self.adapter.client.download(&file.media_id, limit).await {
                Ok(media) => {
                    let content_type = media
                        .mime_type
                        .as_deref()
                        .and_then(baylanys_core::media_type)
                        .unwrap_or_else(|| file.content_type.clone());
                    attachments.push(Attachment {
                        file_name: file.name.clone(),
                        content_type,
                        content: media.content,
                    });
                }
                Err(problem) => {
                    let (reason, notice) = match problem {
                        MediaProblem::TooLarge(size) => (
                            format!("too large: {size} bytes"),
                            self.texts().file_too_large(&file.name, size, limit),
                        ),
                        MediaProblem::Failed(reason) => (
                            reason,
                            self.texts().text("file_failed", json!({"name": file.name})),
                        ),
                    };
                    tracing::warn!(from, file = %file.name, %reason, "whatsapp file not taken");
                    skipped.push(json!({"name": file.name, "reason": reason, "notice": notice.pick(language)}));
                }
            }
        }
        if !skipped.is_empty() {
            fields.insert("whatsapp_files_skipped".into(), Value::Array(skipped));
        }
        if body.trim().is_empty()
            && let Some(file) = &files
        {
            body = format!("📎 {}", file.name);
        }
        let name = names
            .iter()
            .find(|(wa, _)| *wa == from)
            .map(|(_, n)| n.clone());
        let force_new = self.backend.take_new_appeal_request(from.clone()).await?;
        let mut inbound = InboundMessage::new(
            Channel::WhatsApp,
            Sender {
                address: from.clone(),
                display_name: name,
                phone: Some(format!("+{from}")),
                email: None,
            },
            body,
        );
        inbound.external_id = Some(id);
        if let Some(at) = timestamp(&m["timestamp"]) {
            inbound.received_at = at.min(chrono::Utc::now());
        }
        inbound.language = language;
        inbound.attachments = attachments;
        inbound.fields = fields;
        inbound.thread.conversation = Some(from.clone());
        inbound.thread.force_new = force_new;
        let outcome = self.backend.intake(inbound).await;
        if force_new
            && !matches!(outcome, Ok(Some(_)))
            && let Err(e) = self.backend.request_new_appeal(from.clone()).await
        {
            tracing::warn!(from, error = %e, "could not restore the new-appeal flag");
        }
        match outcome {
            Ok(Some(registered)) => {
                if language.is_none() && registered.new_ticket {
                    self.ask_language(&from).await;
                }
                Ok(Did::Acted)
            }
            Ok(None) => Ok(Did::Duplicate),
            Err(ChatError::Rejected(reason)) => Err(Problem::Quarantine {
                reason,
                tell: Some(self.texts().text("intake_failed", json!({})).pick(language)),
            }),
            Err(ChatError::Unavailable(m)) => Err(Problem::Unavailable(m)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Start,
    Status,
    New,
    Help,
}

/// A text that is one of the bot's words: `/start`, `/status`, `/new`, `/help` and
/// their Kazakh and Russian equivalents.
fn command_of(text: &str) -> Option<Command> {
    let word = text.trim().trim_start_matches('/').to_lowercase();
    Some(match word.as_str() {
        "start" | "бастау" | "старт" | "тіл" | "язык" => Command::Start,
        "status" | "статус" | "мәртебе" => Command::Status,
        "new" | "жаңа өтініш" | "новое обращение" => Command::New,
        "help" | "көмек" | "помощь" | "меню" | "menu" => Command::Help,
        _ => return None,
    })
}

/// `UCC-2026-000042:4` -> (`UCC-2026-000042`, 4), only for ratings 1..=5.
fn parse_rating(data: &str) -> Option<(&str, u8)> {
    let (number, rating) = data.rsplit_once(':')?;
    let rating: u8 = rating.parse().ok()?;
    ((1..=5).contains(&rating) && !number.is_empty() && number.len() <= 64)
        .then_some((number, rating))
}

/// The sender's `wa_id`: digits only.
fn sender_id(m: &Value) -> Option<String> {
    let from = m["from"].as_str()?;
    ((6..=20).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit()))
        .then(|| from.to_owned())
}

/// `wa_id` -> profile name, from the `contacts` of a change.
fn names_of(value: &Value) -> Vec<(String, String)> {
    value["contacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let wa = c["wa_id"].as_str()?;
            let name = c["profile"]["name"].as_str()?;
            Some((
                wa.to_owned(),
                baylanys_core::clean_text(name).chars().take(200).collect(),
            ))
        })
        .collect()
}

fn timestamp(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = v
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| v.as_i64())?;
    chrono::DateTime::from_timestamp(secs, 0)
}

fn file_of(m: &Value, kind: &str) -> Option<IncomingFile> {
    if !matches!(kind, "image" | "document" | "audio" | "video") {
        return None;
    }
    let f = &m[kind];
    let media_id = f["id"].as_str()?.to_owned();
    let declared = f["mime_type"]
        .as_str()
        .and_then(baylanys_core::media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    let ext = match declared.split(';').next().unwrap_or_default() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "video/mp4" => "mp4",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let short: String = media_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    let name = f["filename"]
        .as_str()
        .and_then(baylanys_core::safe_file_name)
        .unwrap_or_else(|| format!("{kind}_{short}.{ext}"));
    Some(IncomingFile {
        media_id,
        name,
        content_type: declared,
    })
}

fn push_line(body: &mut String, line: &str) {
    if !body.is_empty() {
        body.push('\n');
    }
    body.push_str(line);
}

fn cut_json(v: &Value) -> String {
    v.to_string().chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_both_languages_are_commands_and_others_are_appeals() {
        assert_eq!(command_of("/status"), Some(Command::Status));
        assert_eq!(command_of(" Мәртебе "), Some(Command::Status));
        assert_eq!(command_of("Новое обращение"), Some(Command::New));
        assert_eq!(command_of("Не могу войти в eGov"), None);
    }

    #[test]
    fn r10_rating_payloads_parse_only_in_range() {
        assert_eq!(
            parse_rating("UCC-2026-000042:4"),
            Some(("UCC-2026-000042", 4))
        );
        assert_eq!(parse_rating("UCC-2026-000042:6"), None);
        assert_eq!(parse_rating(":3"), None);
    }

    #[test]
    fn a_sender_is_digits_only() {
        assert_eq!(
            sender_id(&json!({"from": "77011234567"})).as_deref(),
            Some("77011234567")
        );
        assert_eq!(sender_id(&json!({"from": "7701; DROP"})), None);
        assert_eq!(sender_id(&json!({"from": 7701})), None);
    }
}
