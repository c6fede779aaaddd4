//! The e-mail channel: raw RFC 5322 bytes in ([`parse`]), `lettre` messages out
//! ([`build_message`], [`SmtpAdapter`]), and an IMAP mailbox follower ([`imap`]).
//!
//! The crate knows nothing of the database: the server stores what [`parse`] returns,
//! quarantines what it refuses, and keeps the IMAP checkpoint through [`imap::InboxSink`].
//!
//! How the server uses it:
//! - Intake of raw mail (IMAP, `ingest-email`, raw POST): `parse(raw, &cfg)` (or
//!   [`parse_at`] with the IMAP INTERNALDATE for backfilled mail).
//!   `Ok(ParsedEmail::Message(m))`: dedupe on `m.message_id` + `m.content_hash`, then intake
//!   `m.inbound` (no acknowledgement when `m.suppress_ack` is set; tell the sender about
//!   `m.oversize`). `Ok(ParsedEmail::DeliveryStatus(dsn))`: mark the outgoing message
//!   `dsn.original_message_id` failed, never a ticket. `Err(ParseFailure { reason })`:
//!   quarantine the raw bytes with `reason`.
//! - Delivery: one [`SmtpAdapter::from_url`] per process, used through
//!   `baylanys_core::ChannelAdapter::send`; `SendError::Temporary` is retried, `Permanent`
//!   is final. The server generates `OutboundMessage::message_id` with [`new_message_id`]
//!   when it creates the job, so a retried delivery keeps one Message-ID.
//! - IMAP: implement [`imap::InboxSink`] over the database and run
//!   `ImapInbox::new(ImapConfig::from_url(url)?).run(&sink, shutdown)` while holding the
//!   mailbox's advisory lock.

pub mod auth_results;
mod charset;
mod dsn;
mod html;
mod inbound;
mod loops;
mod outbound;
mod smtp;

pub mod imap;

pub use auth_results::AuthResults;
pub use dsn::Dsn;
pub use html::html_to_text;
pub use inbound::{
    EmailMessage, ParseConfig, ParseFailure, ParsedEmail, bounded_id, parse, parse_at,
};
pub use outbound::{BuildError, build_message, new_message_id, tag_subject};
pub use smtp::{
    DEFAULT_CONNECTIONS as DEFAULT_SMTP_CONNECTIONS, SmtpAdapter, SmtpConfigError,
    classify_smtp_error,
};

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256, the form the server stores for raw messages and attachments.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
