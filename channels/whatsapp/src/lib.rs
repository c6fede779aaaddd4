//! The WhatsApp channel of Baylanys (R2): applicants write to the contact center's
//! WhatsApp Business number; the server answers through the same number.
//!
//! Built on the WhatsApp Business Cloud API (the Graph API, base URL configurable):
//! - [`signature`]: the GET verification handshake and the `X-Hub-Signature-256`
//!   HMAC-SHA256 check over the raw body with the app secret.
//! - [`WhatsAppBot`]: the conversation over a verified webhook body (messages and
//!   statuses), written against the channel-neutral [`baylanys_core::chat::ChatBackend`].
//! - [`WhatsAppAdapter`]: the core [`baylanys_core::ChannelAdapter`]: text split at
//!   4,096 characters, documents and images, interactive buttons and lists, the
//!   24-hour window with template fallbacks, per-recipient pacing, error codes.
//! - `fake_api` (feature `fake-api`): a local stand-in for the Graph API for tests.
//!
//! # Never lose, never repeat
//! The server stores every verified body raw and queues its handling as a job in one
//! transaction before it answers Meta, so a crash loses nothing and several instances
//! handle each body once (jobs are claimed with `SKIP LOCKED`). Inside, each message is
//! claimed by its `wamid` (insert-or-skip, in the intake transaction for appeals), so a
//! redelivered webhook adds and says nothing. What cannot be handled is quarantined
//! whole with the reasons.

mod adapter;
pub mod api;
mod bot;
mod config;
mod rate;
pub mod signature;
pub mod texts;

#[cfg(feature = "fake-api")]
pub mod fake_api;

pub use adapter::{
    BUTTON_TITLE_LIMIT, INTERACTIVE_BODY_LIMIT, MESSAGE_LIMIT, OUTSIDE_WINDOW, PAIR_LIMIT,
    THROUGHPUT_LIMIT, WINDOW, WhatsAppAdapter, classify, cut, rating_list, split_text,
};
pub use bot::{Handled, Unavailable, WhatsAppBot};
pub use config::{
    ConfigError, DEFAULT_API_URL, TemplateParam, TemplateSpec, WhatsAppConfig, parse_api_url,
    parse_templates,
};
pub use rate::Pacer;
pub use signature::SIGNATURE_HEADER;
