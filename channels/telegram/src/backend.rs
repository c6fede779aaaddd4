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

/// What `/link CODE` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The chat now receives the outage notices of this body (or person), named here.
    Linked { name: String },
    /// No such code, used already, or expired.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatingOutcome {
    Recorded,
    AlreadyRated,
    /// No such ticket for this user, or no rating was asked for (a forged or stale button).
    Unknown,
}

/// Implemented by the server over its database. Every method may be called concurrently
/// (webhook mode handles updates in parallel, and Telegram redelivers a slow webhook, so
/// copies of one update overlap).
///
/// Updates are handled at least once and acted on once: the database decides, by an
/// insert-or-skip of the update id, which copy acts. A message claims its update id in
/// the intake transaction itself ([`TelegramBackend::intake`] answers `None` for a copy);
/// anything else does its idempotent work first and then [`TelegramBackend::claim_update`]
/// before it speaks, so a crash in between repeats the work rather than losing it.
pub trait TelegramBackend: Send + Sync {
    /// False when this update id was already taken; a cheap early skip for redeliveries.
    /// Only a hint: overlapping copies may all see true, the claim decides.
    fn update_is_new(&self, update_id: i64) -> BackendFuture<'_, bool>;
    /// Takes the update id (insert-or-skip); true for the one caller that took it.
    fn claim_update(&self, update_id: i64) -> BackendFuture<'_, bool>;

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
    /// (`thread.conversation` is the chat id; `thread.force_new` after "new appeal"),
    /// claiming `external_id` (the update id) in the same transaction: `None` when another
    /// copy of the update already took it, and nothing was added. The server queues what
    /// the applicant is told (acknowledgement, R4; "added to your appeal") as jobs.
    fn intake(&self, message: InboundMessage) -> BackendFuture<'_, Option<Registered>>;
    /// The chat's appeals, newest first.
    fn statuses(&self, chat_id: i64) -> BackendFuture<'_, Vec<AppealStatus>>;
    /// A 1..=5 rating (R10) of the ticket, accepted only when a rating request was sent
    /// for it and not yet answered, and only from its applicant: `from_user` is the
    /// callback's sender, who must be the ticket's chat (private chats: user id = chat id).
    fn record_rating(
        &self,
        ticket_number: String,
        from_user: i64,
        rating: u8,
    ) -> BackendFuture<'_, RatingOutcome>;

    /// `/link CODE`: a one-time code an administrator issued links this chat to a
    /// registry body or person for outage notices (O1). Backends without a registry
    /// know no codes.
    fn link_chat(&self, _chat_id: i64, _code: String) -> BackendFuture<'_, LinkOutcome> {
        Box::pin(async { Ok(LinkOutcome::Unknown) })
    }

    /// Keeps an update we could not handle, whole, with the reason.
    fn quarantine(&self, raw_update: String, reason: String) -> BackendFuture<'_, ()>;

    /// F8: the answer to `/stage NUMBER` in the chat's language (the server asks the
    /// monitoring system); `None` when this backend does not look stages up.
    fn stage_text(
        &self,
        _argument: String,
        _language: Option<Language>,
    ) -> BackendFuture<'_, Option<String>> {
        Box::pin(async { Ok(None) })
    }

    /// The next getUpdates offset (0 when none was saved).
    fn load_offset(&self) -> BackendFuture<'_, i64>;
    fn save_offset(&self, offset: i64) -> BackendFuture<'_, ()>;
}
