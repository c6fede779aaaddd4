//! Outbound: the message we build, read back by our own parser, and delivery through a
//! real SMTP server (aiosmtpd) including how its refusals are classified.

use std::time::Duration;

use baylanys_core::{
    Attachment, Channel, ChannelAdapter, Language, OutboundKind, OutboundMessage, SendError,
};
use baylanys_email::{
    EmailMessage, ParseConfig, ParsedEmail, SmtpAdapter, build_message, new_message_id, parse,
    tag_subject,
};
use lettre::message::Mailbox;

use crate::support::{SmtpSink, free_port};

fn from() -> Mailbox {
    "Baylanys <support@goscorp.kz>"
        .parse()
        .expect("a valid literal")
}

fn acknowledgement(recipient: &str) -> OutboundMessage {
    OutboundMessage {
        channel: Channel::Email,
        kind: OutboundKind::Acknowledgement,
        recipient: recipient.into(),
        ticket_number: Some("UCC-2026-000042".into()),
        language: Language::Ru,
        subject: Some("Re: Справка о регистрации".into()),
        body_text: "Ваше обращение зарегистрировано под номером UCC-2026-000042.".into(),
        body_html: None,
        attachments: Vec::new(),
        message_id: Some("0190f3c2-ack@goscorp.kz".into()),
        references: vec!["reply-2@example.kz".into(), "original-1@example.kz".into()],
        last_inbound_at: None,
    }
}

/// What a recipient's mail client (and our own parser, should it loop back) sees.
fn read_back(raw: &[u8]) -> EmailMessage {
    let cfg = ParseConfig {
        own_addresses: Vec::new(),
        ..ParseConfig::default()
    };
    match parse(raw, &cfg) {
        Ok(ParsedEmail::Message(m)) => *m,
        other => panic!("our own message did not parse back: {other:?}"),
    }
}

#[test]
fn acknowledgement_carries_tag_ids_thread_and_auto_submitted() {
    let msg = acknowledgement("ivan.petrov@example.kz");
    let built = build_message(&msg, &from(), "goscorp.kz").expect("builds");
    let raw = built.formatted();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("Message-ID: <0190f3c2-ack@goscorp.kz>"),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <reply-2@example.kz>"), "{text}");
    assert!(
        text.contains("References: <reply-2@example.kz> <original-1@example.kz>"),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");

    let back = read_back(&raw);
    assert_eq!(
        back.inbound.subject.as_deref(),
        Some("[UCC-2026-000042] Re: Справка о регистрации")
    );
    assert_eq!(
        back.inbound.thread.number_in_subject.as_deref(),
        Some("UCC-2026-000042")
    );
    assert_eq!(back.message_id.as_deref(), Some("0190f3c2-ack@goscorp.kz"));
    assert_eq!(back.inbound.body_text, msg.body_text);
    // Were it ever to come back to us, it would not be acknowledged again.
    assert_eq!(
        back.suppress_ack.as_deref(),
        Some("Auto-Submitted: auto-replied")
    );
}

#[test]
fn reply_is_not_automatic_and_keeps_existing_tag_html_and_attachments() {
    let mut msg = acknowledgement("ivan.petrov@example.kz");
    msg.kind = OutboundKind::Reply;
    msg.subject = Some("Re: [UCC-2026-000042] Справка".into());
    msg.body_html = Some("<p>Ответ <b>по существу</b>.</p>".into());
    msg.attachments = vec![Attachment {
        file_name: "Ответ №42.pdf".into(),
        content_type: "application/pdf".into(),
        content: b"%PDF-1.4 answer".to_vec(),
    }];
    msg.message_id = None;
    msg.references.clear();
    let raw = build_message(&msg, &from(), "goscorp.kz")
        .expect("builds")
        .formatted();
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("Auto-Submitted"), "{text}");
    assert!(!text.contains("In-Reply-To"), "{text}");

    let back = read_back(&raw);
    assert_eq!(
        back.inbound.subject.as_deref(),
        Some("Re: [UCC-2026-000042] Справка")
    );
    assert!(
        back.message_id
            .as_deref()
            .is_some_and(|id| id.ends_with("@goscorp.kz"))
    );
    assert_eq!(back.inbound.body_text, msg.body_text);
    assert_eq!(back.inbound.body_html, msg.body_html);
    assert_eq!(back.inbound.attachments, msg.attachments);
    assert_eq!(back.suppress_ack, None);
}

#[test]
fn subject_tag_and_message_ids() {
    assert_eq!(
        tag_subject("Справка", Some("UCC-2026-000001")),
        "[UCC-2026-000001] Справка"
    );
    assert_eq!(
        tag_subject("Re: [ucc-2026-000001] x", Some("UCC-2026-000001")),
        "Re: [ucc-2026-000001] x"
    );
    assert_eq!(tag_subject("x", None), "x");
    let a = new_message_id("goscorp.kz");
    assert!(a.ends_with("@goscorp.kz") && !a.contains('<'));
    assert_ne!(a, new_message_id("goscorp.kz"));
}

#[test]
fn bad_recipient_is_a_build_error() {
    let msg = acknowledgement("not an address");
    assert!(build_message(&msg, &from(), "goscorp.kz").is_err());
}

#[tokio::test]
async fn smtp_delivers_and_classifies_refusals() {
    let smtp = tokio::task::spawn_blocking(SmtpSink::start)
        .await
        .expect("start smtp");
    let adapter = SmtpAdapter::from_url(&smtp.url(), from(), "goscorp.kz").expect("valid URL");
    assert_eq!(adapter.channel(), Channel::Email);

    let receipt = adapter
        .send(&acknowledgement("ivan.petrov@example.kz"))
        .await
        .expect("delivered");
    assert!(receipt.remote_id.is_some_and(|r| r.contains("queued")));
    let received = smtp.wait_for_messages(1, Duration::from_secs(5));
    assert_eq!(received.len(), 1);
    let back = read_back(&received[0]);
    assert_eq!(back.message_id.as_deref(), Some("0190f3c2-ack@goscorp.kz"));
    assert_eq!(
        back.inbound.thread.number_in_subject.as_deref(),
        Some("UCC-2026-000042")
    );

    match adapter.send(&acknowledgement("temp-full@example.kz")).await {
        Err(SendError::Temporary { message, .. }) => assert!(message.contains("451"), "{message}"),
        other => panic!("4xx must be temporary, got {other:?}"),
    }
    match adapter.send(&acknowledgement("reject-me@example.kz")).await {
        Err(SendError::Permanent { message }) => {
            assert!(
                message.contains("550") && message.contains("No such user"),
                "{message}"
            )
        }
        other => panic!("5xx must be permanent, got {other:?}"),
    }
    // The pool survives refusals: the next good message still goes out.
    adapter
        .send(&acknowledgement("anna@example.kz"))
        .await
        .expect("delivered after refusals");
    assert_eq!(smtp.wait_for_messages(2, Duration::from_secs(5)).len(), 2);
}

#[tokio::test]
async fn smtp_connection_refused_is_temporary() {
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let adapter = SmtpAdapter::from_url(&url, from(), "goscorp.kz").expect("valid URL");
    match adapter.send(&acknowledgement("ivan@example.kz")).await {
        Err(SendError::Temporary { .. }) => {}
        other => panic!("connection refused must be temporary, got {other:?}"),
    }
    assert!(SmtpAdapter::from_url("ftp://x", from(), "goscorp.kz").is_err());
    assert!(
        SmtpAdapter::from_url(
            "smtp://mail.example.kz:587?tls=starttls",
            from(),
            "goscorp.kz"
        )
        .is_ok()
    );
    assert!(SmtpAdapter::from_url("smtps://u:p@mail.example.kz", from(), "goscorp.kz").is_ok());
}
