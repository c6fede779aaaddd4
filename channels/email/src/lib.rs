//! The e-mail channel: raw RFC 5322 bytes in ([`parse`]), `lettre` messages out
//! ([`build_message`], [`SmtpAdapter`]), and an IMAP mailbox follower ([`imap`]).
//!
//! The crate knows nothing of the database: the server stores what [`parse`] returns,
//! quarantines what it refuses, and keeps the IMAP checkpoint through [`imap::InboxSink`].

mod charset;
mod dsn;
mod html;
mod inbound;
mod loops;
mod outbound;
mod smtp;

pub mod imap;

pub use dsn::Dsn;
pub use html::html_to_text;
pub use inbound::{EmailMessage, ParseConfig, ParseFailure, ParsedEmail, parse, parse_at};
pub use outbound::{BuildError, build_message, new_message_id, tag_subject};
pub use smtp::{SmtpAdapter, SmtpConfigError, classify_smtp_error};

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256, the form the server stores for raw messages and attachments.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
