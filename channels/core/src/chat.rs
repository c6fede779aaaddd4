//! What a chat-bot channel needs from the server, whatever the messenger: the contract
//! the WhatsApp bot is written against (Telegram's `TelegramBackend` is the older,
//! Telegram-keyed form of the same contract: chat ids as `i64`, plus polling offsets).
//!
//! Addresses are the channel's own (a WhatsApp `wa_id`, a chat id) as text, and the
//! dedupe key is the platform's message id, so no method names a messenger.

use std::future::Future;
use std::pin::Pin;

use crate::{DeliveryReport, InboundMessage, Language};

/// Boxed so that the trait stays object-safe: the server holds `Arc<dyn ChatBackend>`.
pub type ChatFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChatError>> + Send + 'a>>;

/// How a backend call failed, which decides what happens to the inbound item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The server cannot work now (database down): the item is not marked handled and
    /// must come again (a job retried, a webhook answered 503).
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// This input will never be accepted: kept whole in quarantine with the reason.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// What intake did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRegistered {
    pub number: String,
    /// The reply deadline (R5), formatted in Asia/Almaty time for the applicant.
    pub due_at_local: String,
    /// True when a ticket was registered; false when the message joined an open one.
    pub new_ticket: bool,
}

/// One line of the status answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAppeal {
    pub number: String,
    /// `registered`, `in_progress`, `forwarded`, `answered`, `closed`, or as given.
    pub status: String,
    pub due_at_local: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRating {
    Recorded,
    AlreadyRated,
    /// No such ticket for this sender, or no rating was asked for.
    Unknown,
}

/// Implemented by the server over its database; every method may be called concurrently
/// (copies of one webhook overlap). Items are handled at least once and acted on once:
/// a message claims its id inside the intake transaction ([`ChatBackend::intake`]
/// answers `None` for a copy); anything else does its idempotent work first and then
/// [`ChatBackend::claim`]s before it speaks.
pub trait ChatBackend: Send + Sync {
    /// Takes a platform message id (insert-or-skip); true for the one caller that took it.
    fn claim(&self, message_id: String) -> ChatFuture<'_, bool>;
    /// False when the id was taken already: a cheap early skip for redeliveries.
    fn is_new(&self, message_id: String) -> ChatFuture<'_, bool>;
    fn language(&self, address: String) -> ChatFuture<'_, Option<Language>>;
    fn set_language(&self, address: String, language: Language) -> ChatFuture<'_, ()>;
    /// "New appeal" was chosen: the next message starts a ticket.
    fn request_new_appeal(&self, address: String) -> ChatFuture<'_, ()>;
    /// Whether "new appeal" was chosen since the last message, clearing the flag.
    fn take_new_appeal_request(&self, address: String) -> ChatFuture<'_, bool>;
    /// Registers or joins the open appeal of `thread.conversation`, claiming
    /// `external_id` in the same transaction (`None`: another copy took it). The server
    /// queues what the applicant is told (acknowledgement, "added to your appeal").
    fn intake(&self, message: InboundMessage) -> ChatFuture<'_, Option<ChatRegistered>>;
    /// The sender's appeals, newest first.
    fn statuses(&self, address: String) -> ChatFuture<'_, Vec<ChatAppeal>>;
    /// A 1..=5 rating (R10), only from the ticket's applicant and only when asked.
    fn record_rating(
        &self,
        ticket_number: String,
        from_address: String,
        rating: u8,
    ) -> ChatFuture<'_, ChatRating>;
    /// What the platform says became of one of our messages.
    fn delivery_report(&self, report: DeliveryReport) -> ChatFuture<'_, ()>;
    /// Keeps what could not be handled, whole, with the reason.
    fn quarantine(&self, raw: Vec<u8>, reason: String) -> ChatFuture<'_, ()>;
}
