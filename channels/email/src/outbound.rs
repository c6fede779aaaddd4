//! [`OutboundMessage`] to a `lettre` message: the ticket tag in the subject for
//! threading, our own Message-ID, and RFC 3834 marks on everything automatic.

use baylanys_core::{Language, OutboundMessage};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// Why an outbound message could not be built: never worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid recipient address `{address}`: {reason}")]
    Recipient { address: String, reason: String },
    #[error("cannot build message: {0}")]
    Message(#[from] lettre::error::Error),
}

/// A fresh Message-ID (without angle brackets) in our domain.
pub fn new_message_id(domain: &str) -> String {
    format!("{}@{}", uuid::Uuid::now_v7().simple(), domain.trim())
}

/// `[UCC-2026-000042] subject`, unless the tag is already there (a reply to a reply).
pub fn tag_subject(subject: &str, ticket_number: Option<&str>) -> String {
    let subject = subject.trim();
    match ticket_number.map(str::trim).filter(|n| !n.is_empty()) {
        Some(number)
            if !subject
                .to_uppercase()
                .contains(&format!("[{}]", number.to_uppercase())) =>
        {
            if subject.is_empty() {
                format!("[{number}]")
            } else {
                format!("[{number}] {subject}")
            }
        }
        _ => subject.to_owned(),
    }
}

fn default_subject(language: Language) -> &'static str {
    match language {
        Language::Kk => "Өтініш",
        Language::Ru => "Обращение",
        Language::En => "Appeal",
    }
}

fn angle(id: &str) -> String {
    format!("<{}>", id.trim().trim_matches(|c| c == '<' || c == '>'))
}

/// Build the e-mail for `msg`. `domain` names our Message-IDs when the server gave none.
pub fn build_message(
    msg: &OutboundMessage,
    from: &Mailbox,
    domain: &str,
) -> Result<lettre::Message, BuildError> {
    let to: Mailbox =
        msg.recipient
            .trim()
            .parse()
            .map_err(|e: lettre::address::AddressError| BuildError::Recipient {
                address: msg.recipient.clone(),
                reason: e.to_string(),
            })?;
    let subject = tag_subject(
        msg.subject
            .as_deref()
            .unwrap_or(default_subject(msg.language)),
        msg.ticket_number.as_deref(),
    );
    let message_id = msg
        .message_id
        .clone()
        .unwrap_or_else(|| new_message_id(domain));

    let mut builder = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(angle(&message_id)))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Language"),
            msg.language.as_str().to_owned(),
        ));
    let references: Vec<String> = msg
        .references
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(angle)
        .collect();
    if let Some(first) = references.first() {
        builder = builder
            .in_reply_to(first.clone())
            .references(references.join(" "));
    }
    if let Some(auto) = msg.kind.auto_submitted() {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                auto.into(),
            ))
            // Asks Exchange not to answer our robot with its own (loop prevention).
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".into(),
            ));
    }

    let text = SinglePart::plain(msg.body_text.clone());
    let body = match &msg.body_html {
        Some(html) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::html(html.clone())),
        None if msg.attachments.is_empty() => return Ok(builder.singlepart(text)?),
        None => MultiPart::mixed().singlepart(text),
    };
    if msg.attachments.is_empty() {
        return Ok(builder.multipart(body)?);
    }
    let mut mixed = if msg.body_html.is_some() {
        MultiPart::mixed().multipart(body)
    } else {
        body
    };
    for a in &msg.attachments {
        let content_type = ContentType::parse(&a.content_type).unwrap_or_else(|_| {
            ContentType::parse("application/octet-stream").expect("a valid literal")
        });
        mixed = mixed
            .singlepart(Attachment::new(a.file_name.clone()).body(a.content.clone(), content_type));
    }
    Ok(builder.multipart(mixed)?)
}
