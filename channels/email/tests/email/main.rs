//! Tests of the e-mail channel: golden fixtures, and real Dovecot / aiosmtpd servers.
//! One binary, so the crate links its tests once.

#[path = "../support/mod.rs"]
mod support;

mod golden;
mod imap_dovecot;
mod outbound_smtp;
