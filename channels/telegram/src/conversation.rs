//! The conversation: what the bot does with each update, whether it came by long polling
//! or by webhook.

use std::sync::Arc;
use std::time::Duration;

use baylanys_core::{Attachment, Channel, InboundMessage, Language, Sender};
use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::{
    ButtonRequest, CallbackQuery, FileId, InlineKeyboardButton, InlineKeyboardMarkup,
    KeyboardButton, KeyboardMarkup, Message, MessageKind, ReplyMarkup, Update, UpdateKind,
};

use crate::adapter::{MESSAGE_LIMIT, TelegramAdapter, send_text, split_text};
use crate::backend::{BackendError, RatingOutcome, Registered, TelegramBackend};
use crate::config::TelegramConfig;
use crate::rate::RateLimiter;

/// Downloads of large files from a slow Bot API must not hang an update forever.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Telegram's limit on a message text, in UTF-16 code units (as it counts).
pub const TEXT_LIMIT: usize = MESSAGE_LIMIT;
/// Telegram's limit on a media caption, in UTF-16 code units.
pub const CAPTION_LIMIT: usize = 1024;

/// The Telegram side of Baylanys: handles updates and hands out the outbound adapter.
pub struct TelegramBot {
    pub(crate) bot: Bot,
    pub(crate) backend: Arc<dyn TelegramBackend>,
    pub(crate) config: TelegramConfig,
    pub(crate) limiter: Arc<RateLimiter>,
}

/// What became of one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Acted on: an appeal, a command, a button.
    Processed,
    /// Handled before (a webhook redelivery or a repeat after restart): skipped.
    Duplicate,
    /// Nothing for us (a service message, a group chat, an update kind we do not use).
    Ignored,
    /// Could not be parsed or handled: kept whole in the quarantine with the reason.
    Quarantined,
}

/// The update could not be handled now and must come again (it was not marked handled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("backend unavailable, update kept for retry: {0}")]
    Unavailable(String),
}

/// What a webhook call comes to; [`WebhookOutcome::http_status`] is the answer to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    Handled(Handled),
    /// Missing or wrong `X-Telegram-Bot-Api-Secret-Token`, or no secret configured.
    Unauthorized,
    /// Telegram should deliver it again later.
    RetryLater(String),
}

impl WebhookOutcome {
    /// 200 for anything handled or quarantined (a non-2xx makes Telegram redeliver),
    /// 401 for a wrong secret, 503 when the server cannot take updates now.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookOutcome::Handled(_) => 200,
            WebhookOutcome::Unauthorized => 401,
            WebhookOutcome::RetryLater(_) => 503,
        }
    }
}

/// Why handling stopped inside the conversation.
enum Problem {
    Unavailable(String),
    /// Keep the raw update with the reason; then, once the update is claimed, tell the
    /// chat (if given) what happened.
    Quarantine {
        reason: String,
        tell: Option<(i64, String)>,
    },
}

impl Problem {
    fn quarantine(reason: impl Into<String>) -> Self {
        Problem::Quarantine {
            reason: reason.into(),
            tell: None,
        }
    }
}

impl From<BackendError> for Problem {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::Unavailable(m) => Problem::Unavailable(m),
            BackendError::Rejected(m) => Problem::quarantine(m),
        }
    }
}

/// A file attached to an incoming message, before download.
struct IncomingFile {
    file_id: String,
    /// 0 when Telegram did not say.
    size: u64,
    name: String,
    content_type: String,
}

enum FileProblem {
    TooLarge(u64),
    Failed(String),
}

impl TelegramBot {
    pub fn new(config: TelegramConfig, backend: Arc<dyn TelegramBackend>) -> Self {
        let limiter = RateLimiter::new(config.rate_global_per_sec, config.rate_per_chat_per_sec);
        TelegramBot {
            bot: config.bot(),
            backend,
            config,
            limiter: Arc::new(limiter),
        }
    }

    /// A bot that sends through `adapter`'s bot and rate budget: the server makes the
    /// adapter first (its outgoing channel) and the bot once its backend can exist.
    pub fn with_adapter(
        config: TelegramConfig,
        backend: Arc<dyn TelegramBackend>,
        adapter: &TelegramAdapter,
    ) -> Self {
        TelegramBot {
            bot: adapter.bot.clone(),
            backend,
            config,
            limiter: adapter.limiter.clone(),
        }
    }

    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    pub fn config(&self) -> &TelegramConfig {
        &self.config
    }

    /// The outbound adapter, sharing this bot's rate budget.
    pub fn adapter(&self) -> TelegramAdapter {
        TelegramAdapter::new(self.bot.clone(), self.limiter.clone())
    }

    /// Whether a webhook call carries the configured secret; the HTTP layer asks this
    /// before it reads the body, so a stranger's upload costs nothing.
    pub fn webhook_secret_ok(&self, secret_header: Option<&str>) -> bool {
        let Some(expected) = self.config.webhook_secret.as_deref() else {
            // Without a secret anyone could post forged appeals: webhook mode needs one.
            tracing::error!("telegram webhook called but no webhook secret is configured");
            return false;
        };
        let given = secret_header.unwrap_or_default();
        if !baylanys_core::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            tracing::warn!("telegram webhook call with a wrong secret token");
            return false;
        }
        true
    }

    /// One webhook call: checks the secret header, then handles the body.
    pub async fn handle_webhook(&self, secret_header: Option<&str>, body: &[u8]) -> WebhookOutcome {
        if !self.webhook_secret_ok(secret_header) {
            return WebhookOutcome::Unauthorized;
        }
        match self.handle_update_bytes(body).await {
            Ok(handled) => WebhookOutcome::Handled(handled),
            Err(HandleError::Unavailable(m)) => WebhookOutcome::RetryLater(m),
        }
    }

    /// A webhook body the HTTP layer would not hand over whole for handling (too large
    /// for any real update): kept in the quarantine with the reason.
    pub async fn quarantine_webhook_body(&self, body: &[u8], reason: String) -> WebhookOutcome {
        let text = String::from_utf8_lossy(body).into_owned();
        match self.quarantine(text, reason).await {
            Ok(handled) => WebhookOutcome::Handled(handled),
            Err(HandleError::Unavailable(m)) => WebhookOutcome::RetryLater(m),
        }
    }

    /// Handles an update given as raw bytes; bytes that are not JSON are quarantined.
    pub async fn handle_update_bytes(&self, raw: &[u8]) -> Result<Handled, HandleError> {
        match serde_json::from_slice::<Value>(raw) {
            Ok(value) => self.handle_update(&value).await,
            Err(e) => {
                let text = String::from_utf8_lossy(raw).into_owned();
                self.quarantine(text, format!("update is not JSON: {e}"))
                    .await
            }
        }
    }

    /// Handles one update. Anything that cannot be parsed or handled is quarantined with
    /// the reason; `Err` only when the backend is down and the update must come again.
    pub async fn handle_update(&self, raw: &Value) -> Result<Handled, HandleError> {
        // From text, not from the Value: teloxide's UpdateKind reads borrowed keys and
        // misreads every update when fed a `serde_json::Value`.
        let update: Update = match serde_json::from_str(&raw.to_string()) {
            Ok(update) => update,
            Err(e) => {
                return self
                    .quarantine(raw.to_string(), format!("not a Telegram update: {e}"))
                    .await;
            }
        };
        let update_id = i64::from(update.id.0);
        match self.backend.update_is_new(update_id).await {
            Ok(true) => {}
            Ok(false) => return Ok(Handled::Duplicate),
            Err(e) => return Err(HandleError::Unavailable(e.to_string())),
        }
        let outcome = match &update.kind {
            UpdateKind::Message(message) => self.on_message(update_id, message, false).await,
            UpdateKind::EditedMessage(message) => self.on_message(update_id, message, true).await,
            UpdateKind::CallbackQuery(query) => self.on_callback(update_id, query).await,
            // teloxide's marker for an update whose content it could not read.
            UpdateKind::Error(_) => Err(Problem::quarantine(
                "malformed or unsupported update content",
            )),
            _ => self.ignore(update_id).await,
        };
        match outcome {
            Ok(handled) => Ok(handled),
            Err(Problem::Quarantine { reason, tell }) => {
                let handled = self.quarantine(raw.to_string(), reason).await?;
                match self.backend.claim_update(update_id).await {
                    Ok(true) => {
                        if let Some((chat_id, text)) = tell {
                            self.say(chat_id, text, None).await;
                        }
                    }
                    Ok(false) => {}
                    // Kept in the quarantine already; at worst a redelivery keeps it again.
                    Err(e) => {
                        tracing::warn!(update_id, error = %e, "could not claim telegram update")
                    }
                }
                Ok(handled)
            }
            Err(Problem::Unavailable(m)) => Err(HandleError::Unavailable(m)),
        }
    }

    /// Takes the update for this handler before it speaks; false when another copy did.
    async fn claim(&self, update_id: i64) -> Result<bool, Problem> {
        Ok(self.backend.claim_update(update_id).await?)
    }

    /// Nothing to do but remember the update was seen.
    async fn ignore(&self, update_id: i64) -> Result<Handled, Problem> {
        Ok(if self.claim(update_id).await? {
            Handled::Ignored
        } else {
            Handled::Duplicate
        })
    }

    async fn quarantine(&self, raw: String, reason: String) -> Result<Handled, HandleError> {
        tracing::warn!(%reason, "telegram update quarantined");
        match self.backend.quarantine(raw, reason).await {
            Ok(()) => Ok(Handled::Quarantined),
            // Not kept anywhere yet, so it must come again rather than be dropped.
            Err(e) => Err(HandleError::Unavailable(e.to_string())),
        }
    }

    async fn on_message(
        &self,
        update_id: i64,
        message: &Message,
        edited: bool,
    ) -> Result<Handled, Problem> {
        // Appeals come from people in private chats; a group the bot was added to is not
        // an applicant, and service messages (pins, joins) carry nothing to register.
        if !message.chat.is_private() || !matches!(message.kind, MessageKind::Common(_)) {
            return self.ignore(update_id).await;
        }
        let chat_id = message.chat.id.0;
        let language = self.backend.chat_language(chat_id).await?;
        if let Some((what, length, limit)) = over_limit(message) {
            // Telegram itself never sends more: kept whole for staff, never registered cut.
            return Err(Problem::Quarantine {
                reason: format!(
                    "{what} of {length} UTF-16 units is over Telegram's limit of {limit}"
                ),
                tell: Some((
                    chat_id,
                    self.config
                        .texts
                        .message_too_long(length, limit)
                        .pick(language),
                )),
            });
        }

        if !edited {
            if let Some(text) = message.text() {
                if let Some(command) = command_of(text) {
                    if command == "link" {
                        return self.on_link(update_id, chat_id, language, text).await;
                    }
                    let args = text
                        .trim()
                        .split_once(char::is_whitespace)
                        .map_or("", |x| x.1);
                    return self
                        .on_command(update_id, chat_id, language, &command, args.trim())
                        .await;
                }
                let label = text.trim();
                if self.config.texts.is_new_appeal_label(label) {
                    self.backend.request_new_appeal(chat_id).await?;
                    if !self.claim(update_id).await? {
                        return Ok(Handled::Duplicate);
                    }
                    self.say(
                        chat_id,
                        self.config.texts.new_appeal_prompt().pick(language),
                        None,
                    )
                    .await;
                    return Ok(Handled::Processed);
                }
            }
            if let Some(contact) = message.contact() {
                let own = match (contact.user_id, message.from.as_ref()) {
                    (Some(contact_user), Some(from)) => contact_user == from.id,
                    _ => false,
                };
                // The "share my phone" button; someone else's contact is appeal content.
                if own {
                    self.backend
                        .set_chat_phone(chat_id, contact.phone_number.clone())
                        .await?;
                    if !self.claim(update_id).await? {
                        return Ok(Handled::Duplicate);
                    }
                    let keyboard = main_keyboard(&self.config.texts, language);
                    self.say(
                        chat_id,
                        self.config.texts.phone_saved().pick(language),
                        Some(keyboard),
                    )
                    .await;
                    return Ok(Handled::Processed);
                }
            }
        }
        self.register(update_id, message, language, edited).await
    }

    /// A command's work is reading or an idempotent flag; its answer goes out once, by
    /// the copy that claims the update.
    /// `/link CODE` (O1): this chat receives a body's outage notices from now on.
    async fn on_link(
        &self,
        update_id: i64,
        chat_id: i64,
        language: Option<Language>,
        text: &str,
    ) -> Result<Handled, Problem> {
        let code = text.split_whitespace().nth(1).map(str::to_string);
        let outcome = match code {
            Some(code) if code.len() <= 64 => Some(self.backend.link_chat(chat_id, code).await?),
            _ => None,
        };
        if !self.claim(update_id).await? {
            return Ok(Handled::Duplicate);
        }
        let texts = &self.config.texts;
        let reply = match outcome {
            Some(crate::backend::LinkOutcome::Linked { name }) => texts.link_done(&name),
            Some(crate::backend::LinkOutcome::Unknown) => texts.link_unknown(),
            None => texts.link_usage(),
        };
        self.say(chat_id, reply.pick(language), None).await;
        Ok(Handled::Processed)
    }

    async fn on_command(
        &self,
        update_id: i64,
        chat_id: i64,
        language: Option<Language>,
        command: &str,
        args: &str,
    ) -> Result<Handled, Problem> {
        let stage = match command {
            "stage" => self.backend.stage_text(args.to_string(), language).await?,
            _ => None,
        };
        let statuses = match command {
            "status" => Some(self.backend.statuses(chat_id).await?),
            "new" => {
                self.backend.request_new_appeal(chat_id).await?;
                None
            }
            _ => None,
        };
        if !self.claim(update_id).await? {
            return Ok(Handled::Duplicate);
        }
        match command {
            "start" => {
                // Before a choice the keyboard labels carry both languages.
                self.say(
                    chat_id,
                    self.config.texts.greeting().pick(None),
                    Some(main_keyboard(&self.config.texts, None)),
                )
                .await;
                let choice = InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("Қазақша", "lang:kk"),
                    InlineKeyboardButton::callback("Русский", "lang:ru"),
                ]]);
                self.say(
                    chat_id,
                    self.config.texts.choose_language(),
                    Some(ReplyMarkup::InlineKeyboard(choice)),
                )
                .await;
            }
            "status" => {
                let statuses = statuses.unwrap_or_default();
                let text = if statuses.is_empty() {
                    self.config.texts.no_appeals().pick(language)
                } else {
                    let mut lines = vec![self.config.texts.appeals_header().pick_short(language)];
                    for s in &statuses {
                        lines.push(
                            self.config
                                .texts
                                .appeal_line(&s.number, &s.status, &s.due_at_local)
                                .pick_short(language),
                        );
                    }
                    lines.join("\n")
                };
                self.say(chat_id, text, None).await;
            }
            "new" => {
                self.say(
                    chat_id,
                    self.config.texts.new_appeal_prompt().pick(language),
                    None,
                )
                .await;
            }
            "stage" if stage.is_some() => {
                self.say(chat_id, stage.unwrap_or_default(), None).await;
            }
            // /help and any command we do not know: say what the bot can do.
            _ => {
                let keyboard = main_keyboard(&self.config.texts, language);
                self.say(
                    chat_id,
                    self.config.texts.help().pick(language),
                    Some(keyboard),
                )
                .await;
            }
        }
        Ok(Handled::Processed)
    }

    async fn register(
        &self,
        update_id: i64,
        message: &Message,
        language: Option<Language>,
        edited: bool,
    ) -> Result<Handled, Problem> {
        let chat_id = message.chat.id.0;
        let mut body = message
            .text()
            .or_else(|| message.caption())
            .unwrap_or_default()
            .to_owned();
        let mut fields = serde_json::Map::new();
        fields.insert("telegram_chat_id".into(), json!(chat_id));
        fields.insert("telegram_message_id".into(), json!(message.id.0));
        if edited {
            fields.insert("telegram_edited".into(), json!(true));
        }
        if let Some(location) = message.location() {
            let line = format!("📍 {:.6}, {:.6}", location.latitude, location.longitude);
            push_line(&mut body, &line);
            fields.insert(
                "location".into(),
                json!({"latitude": location.latitude, "longitude": location.longitude}),
            );
        }
        if let Some(contact) = message.contact() {
            let name = [
                Some(contact.first_name.as_str()),
                contact.last_name.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            push_line(&mut body, &format!("👤 {name}: {}", contact.phone_number));
            fields.insert(
                "contact".into(),
                json!({"name": name, "phone": contact.phone_number}),
            );
        }

        let files = files_of(message);
        if body.trim().is_empty() && files.is_empty() {
            // A sticker, a poll, a dice: nothing an operator could answer.
            if !self.claim(update_id).await? {
                return Ok(Handled::Duplicate);
            }
            self.say(
                chat_id,
                self.config.texts.unsupported_message().pick(language),
                None,
            )
            .await;
            return Ok(Handled::Ignored);
        }
        let mut attachments = Vec::new();
        let mut apologies = Vec::new();
        let mut skipped = Vec::new();
        for file in &files {
            match self.download(file).await {
                Ok(attachment) => attachments.push(attachment),
                Err(problem) => {
                    let (reason, text) = match problem {
                        FileProblem::TooLarge(size) => (
                            format!("too large: {size} bytes"),
                            self.config.texts.file_too_large(
                                &file.name,
                                size,
                                self.config.max_file_bytes,
                            ),
                        ),
                        FileProblem::Failed(reason) => {
                            (reason, self.config.texts.file_failed(&file.name))
                        }
                    };
                    tracing::warn!(chat_id, file = %file.name, %reason, "telegram file not taken");
                    let notice = text.pick(language);
                    // The server queues the notice as a job, like "added to your appeal".
                    skipped.push(json!({"name": file.name, "reason": reason, "notice": notice}));
                    apologies.push(notice);
                }
            }
        }
        if !skipped.is_empty() {
            fields.insert("telegram_files_skipped".into(), Value::Array(skipped));
        }
        if body.trim().is_empty() {
            // Operators see at least which files came when there is no caption.
            let names: Vec<String> = files.iter().map(|f| format!("📎 {}", f.name)).collect();
            body = names.join("\n");
        }

        let force_new = self.backend.take_new_appeal_request(chat_id).await?;
        let inbound = InboundMessage {
            external_id: Some(update_id.to_string()),
            received_at: message.date,
            language,
            attachments,
            fields,
            ..InboundMessage::new(Channel::Telegram, sender_of(message), body)
        };
        let mut inbound = inbound;
        inbound.thread.conversation = Some(chat_id.to_string());
        inbound.thread.force_new = force_new;

        let outcome = self.backend.intake(inbound).await;
        if force_new && !matches!(outcome, Ok(Some(_))) {
            // Not registered by this copy: the applicant's "new appeal" still stands for
            // their next message.
            if let Err(e) = self.backend.request_new_appeal(chat_id).await {
                tracing::warn!(chat_id, error = %e, "could not restore new-appeal flag");
            }
        }
        let registered = match outcome {
            Ok(Some(registered)) => registered,
            // Another copy of this update was registered: nothing added, nothing to say.
            Ok(None) => return Ok(Handled::Duplicate),
            Err(BackendError::Rejected(reason)) => {
                return Err(Problem::Quarantine {
                    reason,
                    tell: Some((chat_id, self.config.texts.intake_failed().pick(language))),
                });
            }
            Err(error) => return Err(error.into()),
        };
        self.after_intake(chat_id, language, &registered).await;
        if self.config.bot_acknowledges {
            for apology in apologies {
                self.say(chat_id, apology, None).await;
            }
        }
        Ok(Handled::Processed)
    }

    /// Only for a deployment without the server's job queue: otherwise the server's
    /// jobs say "registered" (R4), "added to your appeal" and the notes on files not
    /// taken, and a webhook call or a polled batch never waits for a chat's pacing.
    async fn after_intake(&self, chat_id: i64, language: Option<Language>, r: &Registered) {
        if !self.config.bot_acknowledges {
            return;
        }
        let text = if r.new_ticket {
            self.config
                .texts
                .acknowledgement(&r.number, &r.due_at_local)
                .pick(language)
        } else {
            self.config.texts.joined(&r.number).pick(language)
        };
        self.say(
            chat_id,
            text,
            Some(main_keyboard(&self.config.texts, language)),
        )
        .await;
    }

    async fn download(&self, file: &IncomingFile) -> Result<Attachment, FileProblem> {
        let limit = self.config.max_file_bytes;
        if file.size > limit {
            return Err(FileProblem::TooLarge(file.size));
        }
        let meta = self
            .bot
            .get_file(FileId(file.file_id.clone()))
            .await
            .map_err(|e| FileProblem::Failed(format!("getFile: {e}")))?;
        if u64::from(meta.meta.size) > limit {
            return Err(FileProblem::TooLarge(u64::from(meta.meta.size)));
        }
        let url = file_url(&self.bot, &meta.path);
        let mut response = self
            .bot
            .client()
            .get(url)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| FileProblem::Failed(format!("download: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(FileProblem::Failed(format!(
                "download: HTTP {}",
                response.status()
            )));
        }
        let mut content = Vec::new();
        // Counted while reading: the size Telegram declared is not a promise.
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FileProblem::Failed(format!("download: {}", e.without_url())))?
        {
            if (content.len() + chunk.len()) as u64 > limit {
                return Err(FileProblem::TooLarge((content.len() + chunk.len()) as u64));
            }
            content.extend_from_slice(&chunk);
        }
        Ok(Attachment {
            file_name: file.name.clone(),
            content_type: file.content_type.clone(),
            content,
        })
    }

    async fn on_callback(&self, update_id: i64, query: &CallbackQuery) -> Result<Handled, Problem> {
        // The person who pressed: a user id beyond i64 names no chat we know.
        let from_user = i64::try_from(query.from.id.0).unwrap_or_default();
        let chat_id = match &query.message {
            Some(message) => message.chat().id.0,
            None => from_user,
        };
        let data = query.data.as_deref().unwrap_or_default();
        // The idempotent part first (a setting, a rating taken once), then the claim,
        // then the answer: a second copy of the press changes and says nothing.
        enum Pressed {
            Language(Language),
            Rating(RatingOutcome, Option<Language>),
            Other,
        }
        let pressed = if let Some(code) = data.strip_prefix("lang:") {
            match code.parse::<Language>() {
                Ok(language @ (Language::Kk | Language::Ru)) => {
                    self.backend.set_chat_language(chat_id, language).await?;
                    Pressed::Language(language)
                }
                _ => Pressed::Other,
            }
        } else if let Some(rest) = data.strip_prefix("rate:") {
            match parse_rating(rest) {
                Some((number, rating)) => Pressed::Rating(
                    self.backend
                        .record_rating(number.to_owned(), from_user, rating)
                        .await?,
                    self.backend.chat_language(from_user).await?,
                ),
                None => Pressed::Other,
            }
        } else {
            Pressed::Other
        };
        if !self.claim(update_id).await? {
            return Ok(Handled::Duplicate);
        }
        let (answer, remove_keyboard) = match pressed {
            Pressed::Language(language) => {
                let chosen = Some(language);
                self.say(
                    chat_id,
                    self.config.texts.language_chosen().pick(chosen),
                    Some(main_keyboard(&self.config.texts, chosen)),
                )
                .await;
                let label = if language == Language::Kk {
                    "Қазақша"
                } else {
                    "Русский"
                };
                (Some(label.to_owned()), true)
            }
            Pressed::Rating(outcome, language) => {
                let text = match outcome {
                    RatingOutcome::Recorded => self.config.texts.rating_recorded(),
                    RatingOutcome::AlreadyRated => self.config.texts.rating_already_recorded(),
                    RatingOutcome::Unknown => self.config.texts.rating_unknown(),
                };
                // Only the applicant's recorded (or already recorded) rating retires the
                // buttons; a stranger's press leaves them for the applicant.
                (
                    Some(text.pick_short(language)),
                    outcome != RatingOutcome::Unknown,
                )
            }
            Pressed::Other => (None, false),
        };

        let mut request = self.bot.answer_callback_query(query.id.clone());
        if let Some(text) = answer {
            request = request.text(text);
        }
        // The spinner on the button stops either way; failures only cost cosmetics.
        if let Err(e) = request.await {
            tracing::warn!(chat_id, error = %e, "answerCallbackQuery failed");
        }
        if let Some(message) = query.message.as_ref().filter(|_| remove_keyboard) {
            let edit = self
                .bot
                .edit_message_reply_markup(message.chat().id, message.id());
            if let Err(e) = edit.await {
                tracing::warn!(chat_id, error = %e, "could not remove the inline keyboard");
            }
        }
        Ok(Handled::Processed)
    }

    /// The bot's own reply; failures are logged, not fatal: the appeal is registered and
    /// the server's notices reach the applicant through the retried job queue.
    async fn say(&self, chat_id: i64, text: String, markup: Option<ReplyMarkup>) {
        let parts = split_text(&text, MESSAGE_LIMIT);
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let markup = if i == last { markup.clone() } else { None };
            if let Err(e) = send_text(&self.bot, &self.limiter, chat_id, part, markup).await {
                tracing::warn!(chat_id, error = %e, "telegram reply not delivered");
                return;
            }
        }
    }
}

/// The text or caption over Telegram's own limit, if any: (what, length, limit).
fn over_limit(message: &Message) -> Option<(&'static str, usize, usize)> {
    let units = |s: &str| s.encode_utf16().count();
    if let Some(text) = message.text() {
        let length = units(text);
        if length > TEXT_LIMIT {
            return Some(("text", length, TEXT_LIMIT));
        }
    }
    if let Some(caption) = message.caption() {
        let length = units(caption);
        if length > CAPTION_LIMIT {
            return Some(("caption", length, CAPTION_LIMIT));
        }
    }
    None
}

/// `/status@BaylanysBot args` -> `status`.
fn command_of(text: &str) -> Option<String> {
    let first = text.split_whitespace().next()?;
    let name = first.strip_prefix('/')?;
    let name = name.split('@').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// `UCC-2026-000042:4` -> (`UCC-2026-000042`, 4), only for ratings 1..=5.
fn parse_rating(data: &str) -> Option<(&str, u8)> {
    let (number, rating) = data.rsplit_once(':')?;
    let rating: u8 = rating.parse().ok()?;
    ((1..=5).contains(&rating) && !number.is_empty()).then_some((number, rating))
}

/// Share-phone and new-appeal buttons, kept under the input field.
fn main_keyboard(texts: &crate::texts::Texts, language: Option<Language>) -> ReplyMarkup {
    let keyboard = KeyboardMarkup::new([
        vec![
            KeyboardButton::new(texts.share_phone_button().pick_short(language))
                .request(ButtonRequest::Contact),
        ],
        vec![KeyboardButton::new(
            texts.new_appeal_button().pick_short(language),
        )],
    ])
    .resize_keyboard()
    .persistent();
    ReplyMarkup::Keyboard(keyboard)
}

fn sender_of(message: &Message) -> Sender {
    let display_name = message.from.as_ref().map(|user| match &user.username {
        Some(username) => format!("{} (@{username})", user.full_name()),
        None => user.full_name(),
    });
    let phone = message.contact().and_then(|contact| {
        let own =
            contact.user_id.is_some() && contact.user_id == message.from.as_ref().map(|u| u.id);
        own.then(|| contact.phone_number.clone())
    });
    Sender {
        address: message.chat.id.0.to_string(),
        display_name,
        phone,
        email: None,
    }
}

fn files_of(message: &Message) -> Vec<IncomingFile> {
    let mut files = Vec::new();
    if let Some(sizes) = message.photo() {
        // Telegram lists the sizes smallest first; the largest is the original.
        if let Some(photo) = sizes.last() {
            files.push(IncomingFile {
                file_id: photo.file.id.0.clone(),
                size: u64::from(photo.file.size),
                name: format!("photo_{}.jpg", photo.file.unique_id.0),
                content_type: "image/jpeg".to_owned(),
            });
        }
    }
    if let Some(d) = message.document() {
        files.push(IncomingFile {
            file_id: d.file.id.0.clone(),
            size: u64::from(d.file.size),
            name: d.file_name.clone().unwrap_or_else(|| "document".to_owned()),
            content_type: mime(d.mime_type.as_ref(), "application/octet-stream"),
        });
    }
    if let Some(v) = message.voice() {
        files.push(IncomingFile {
            file_id: v.file.id.0.clone(),
            size: u64::from(v.file.size),
            name: format!("voice_{}.ogg", v.file.unique_id.0),
            content_type: mime(v.mime_type.as_ref(), "audio/ogg"),
        });
    }
    if let Some(v) = message.video() {
        files.push(IncomingFile {
            file_id: v.file.id.0.clone(),
            size: u64::from(v.file.size),
            name: v
                .file_name
                .clone()
                .unwrap_or_else(|| format!("video_{}.mp4", v.file.unique_id.0)),
            content_type: mime(v.mime_type.as_ref(), "video/mp4"),
        });
    }
    if let Some(a) = message.audio() {
        files.push(IncomingFile {
            file_id: a.file.id.0.clone(),
            size: u64::from(a.file.size),
            name: a
                .file_name
                .clone()
                .unwrap_or_else(|| format!("audio_{}.mp3", a.file.unique_id.0)),
            content_type: mime(a.mime_type.as_ref(), "audio/mpeg"),
        });
    }
    if let Some(v) = message.video_note() {
        files.push(IncomingFile {
            file_id: v.file.id.0.clone(),
            size: u64::from(v.file.size),
            name: format!("video_note_{}.mp4", v.file.unique_id.0),
            content_type: "video/mp4".to_owned(),
        });
    }
    if let Some(a) = message.animation() {
        files.push(IncomingFile {
            file_id: a.file.id.0.clone(),
            size: u64::from(a.file.size),
            name: a
                .file_name
                .clone()
                .unwrap_or_else(|| format!("animation_{}.mp4", a.file.unique_id.0)),
            content_type: mime(a.mime_type.as_ref(), "video/mp4"),
        });
    }
    files
}

/// teloxide does not re-export the `mime` crate, hence the generic.
fn mime<M: ToString>(declared: Option<&M>, default: &str) -> String {
    declared.map_or_else(|| default.to_owned(), ToString::to_string)
}

fn push_line(body: &mut String, line: &str) {
    if !body.is_empty() {
        body.push('\n');
    }
    body.push_str(line);
}

/// `<api>/bot<token>/<method>`, built like teloxide builds its own.
pub(crate) fn method_url(bot: &Bot, method: &str) -> url::Url {
    let mut url = bot.api_url();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .push(&format!("bot{}", bot.token()))
            .push(method);
    }
    url
}

/// `<api>/file/bot<token>/<file_path>`; the path's own slashes stay slashes.
fn file_url(bot: &Bot, file_path: &str) -> url::Url {
    let mut url = bot.api_url();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .push("file")
            .push(&format!("bot{}", bot.token()));
        segments.extend(file_path.split('/').filter(|s| !s.is_empty()));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_lose_bot_name_and_arguments() {
        assert_eq!(
            command_of("/status@BaylanysBot now").as_deref(),
            Some("status")
        );
        assert_eq!(command_of("/START").as_deref(), Some("start"));
        assert_eq!(command_of("hello /start"), None);
        assert_eq!(command_of("/"), None);
    }

    #[test]
    fn r10_rating_data_parsed_only_in_range() {
        assert_eq!(
            parse_rating("UCC-2026-000042:4"),
            Some(("UCC-2026-000042", 4))
        );
        assert_eq!(parse_rating("UCC-2026-000042:6"), None);
        assert_eq!(parse_rating("UCC-2026-000042:0"), None);
        assert_eq!(parse_rating(":3"), None);
        assert_eq!(parse_rating("x"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(baylanys_core::constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!baylanys_core::constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!baylanys_core::constant_time_eq(b"s3cret", b"s3cre"));
    }

    #[test]
    fn urls_keep_a_base_path_and_file_path_slashes() {
        let bot = Bot::new("1:t").set_api_url("http://h:1/tg".parse().expect("valid url"));
        assert_eq!(
            method_url(&bot, "getUpdates").as_str(),
            "http://h:1/tg/bot1:t/getUpdates"
        );
        assert_eq!(
            file_url(&bot, "photos/a.jpg").as_str(),
            "http://h:1/tg/file/bot1:t/photos/a.jpg"
        );
        let root = Bot::new("1:t").set_api_url("http://h:1/".parse().expect("valid url"));
        assert_eq!(
            method_url(&root, "getMe").as_str(),
            "http://h:1/bot1:t/getMe"
        );
    }
}
