//! What the Telegram channel needs from the server: storage of chat settings, the
//! update log, the polling offset, the quarantine, and intake itself.

use std::future::Future;
use std::pin::Pin;

use baylanys_core::{InboundMessage, Language};

/// Boxed so that the trait stays object-safe: the server holds `Arc<dyn TelegramBackend>`.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BackendError>> + Send + 'a>>;

/// How a backend call failed, which decides what happens to the update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The server cannot work now (database down): the update is not marked handled, so
    /// polling retries it and a webhook call answers 503 for Telegram to redeliver.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// This input will never be accepted: the raw update goes to quarantine with the
    /// reason, and the applicant is told to call 1414.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// What intake did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Registration number (`UCC-2026-000042`).
    pub number: String,
    /// The reply deadline (R5), already formatted in Asia/Almaty time for the applicant.
    pub due_at_local: String,
    /// True when a ticket was registered; false when the message joined an open one.
    pub new_ticket: bool,
}

/// One line of `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppealStatus {
    pub number: String,
    /// A status code (`registered`, `in_progress`, `forwarded`, `answered`, `closed`) that
    /// the bot words in the chat's language; other values are shown as given.
    pub status: String,
    pub due_at_local: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatingOutcome {
    Recorded,
    AlreadyRated,
    /// No such ticket for this chat (a forged or stale button).
    Unknown,
}

/// Implemented by the server over its database. Every method may be called concurrently
/// (webhook mode handles updates in parallel).
///
/// Updates are handled at least once: [`TelegramBackend::update_is_new`] is asked before
/// handling and [`TelegramBackend::update_handled`] is told after, so a crash in between
/// repeats the update rather than losing it. Intake therefore must be idempotent on
/// `InboundMessage::external_id` (the update id): a repeat returns the same registration.
pub trait TelegramBackend: Send + Sync {
    /// False when this update id was already handled; the update is then skipped.
    fn update_is_new(&self, update_id: i64) -> BackendFuture<'_, bool>;
    /// The update is done (processed, ignored or quarantined); never handle it again.
    fn update_handled(&self, update_id: i64) -> BackendFuture<'_, ()>;

    /// The language the chat picked, if any.
    fn chat_language(&self, chat_id: i64) -> BackendFuture<'_, Option<Language>>;
    fn set_chat_language(&self, chat_id: i64, language: Language) -> BackendFuture<'_, ()>;
    /// The applicant shared their own number through the keyboard button.
    fn set_chat_phone(&self, chat_id: i64, phone: String) -> BackendFuture<'_, ()>;

    /// The applicant pressed "new appeal": their next message must start a ticket.
    fn request_new_appeal(&self, chat_id: i64) -> BackendFuture<'_, ()>;
    /// Whether "new appeal" was pressed since the last message, clearing the flag.
    fn take_new_appeal_request(&self, chat_id: i64) -> BackendFuture<'_, bool>;

    /// Registers the message as an appeal or joins the chat's open ticket
    /// (`thread.conversation` is the chat id; `thread.force_new` after "new appeal").
    /// For a new ticket the server also queues its acknowledgement job (R4).
    fn intake(&self, message: InboundMessage) -> BackendFuture<'_, Registered>;
    /// The chat's appeals, newest first.
    fn statuses(&self, chat_id: i64) -> BackendFuture<'_, Vec<AppealStatus>>;
    /// A 1..=5 rating (R10) of the ticket, accepted only from the chat it belongs to.
    fn record_rating(
        &self,
        ticket_number: String,
        chat_id: i64,
        rating: u8,
    ) -> BackendFuture<'_, RatingOutcome>;

    /// Keeps an update we could not handle, whole, with the reason.
    fn quarantine(&self, raw_update: String, reason: String) -> BackendFuture<'_, ()>;

    /// The next getUpdates offset (0 when none was saved).
    fn load_offset(&self) -> BackendFuture<'_, i64>;
    fn save_offset(&self, offset: i64) -> BackendFuture<'_, ()>;
}
