//! Delivery status notifications (RFC 3464) and other `multipart/report` mail: never a
//! ticket; the server marks the outgoing message they refer to as failed.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

/// What a bounce says about a message we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Dsn {
    /// Message-ID of our message, without angle brackets.
    pub original_message_id: Option<String>,
    /// Recipients whose delivery failed, lower-cased.
    pub failed_recipients: Vec<String>,
    /// RFC 3463 status of the first failed recipient (`5.1.1`), or the MDN disposition.
    pub status: Option<String>,
    /// The remote server's text (`550 5.1.1 User unknown`).
    pub diagnostic: Option<String>,
}

/// True for `multipart/report` (delivery-status or disposition notifications).
pub(crate) fn is_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

pub(crate) fn read(message: &Message<'_>) -> Dsn {
    let mut dsn = Dsn::default();
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match kind.as_str() {
            "message/delivery-status"
            | "message/global-delivery-status"
            | "message/disposition-notification"
            | "message/global-disposition-notification" => {
                read_status_fields(&String::from_utf8_lossy(part.contents()), &mut dsn);
            }
            "message/rfc822" | "message/global" if dsn.original_message_id.is_none() => {
                dsn.original_message_id = match &part.body {
                    PartType::Message(inner) => inner.message_id().map(str::to_owned),
                    _ => header_message_id(part.contents()),
                };
            }
            "text/rfc822-headers" | "text/global-headers" if dsn.original_message_id.is_none() => {
                dsn.original_message_id = header_message_id(part.contents());
            }
            _ => {}
        }
    }
    // A bounce without its original still often keeps the thread headers.
    if dsn.original_message_id.is_none() {
        dsn.original_message_id =
            message
                .in_reply_to()
                .as_text()
                .map(str::to_owned)
                .or_else(|| {
                    message
                        .in_reply_to()
                        .as_text_list()
                        .and_then(|l| l.first())
                        .map(|s| s.to_string())
                });
    }
    dsn
}

fn header_message_id(headers: &[u8]) -> Option<String> {
    MessageParser::new()
        .parse_headers(headers)
        .and_then(|m| m.message_id().map(str::to_owned))
}

/// Final-Recipient, Action, Status, Diagnostic-Code of one recipient block.
type RecipientFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Reads RFC 3464 / RFC 8098 fields: a per-message block, then one block per recipient.
fn read_status_fields(text: &str, dsn: &mut Dsn) {
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.lines() {
        match unfolded.last_mut() {
            Some(prev) if line.starts_with([' ', '\t']) && !prev.is_empty() => {
                prev.push(' ');
                prev.push_str(line.trim());
            }
            _ => unfolded.push(line.trim_end().to_owned()),
        }
    }

    let mut any_action = false;
    let mut candidates: Vec<RecipientFields> = Vec::new();
    for block in unfolded.split(|l| l.is_empty()) {
        let field = |name: &str| {
            block.iter().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        if let Some(d) = field("Disposition") {
            dsn.status.get_or_insert(d);
        }
        if let Some(id) = field("Original-Message-ID") {
            dsn.original_message_id
                .get_or_insert_with(|| id.trim_matches(|c| c == '<' || c == '>').to_owned());
        }
        let recipient = field("Final-Recipient").or_else(|| field("Original-Recipient"));
        let action = field("Action").map(|a| a.to_ascii_lowercase());
        any_action |= action.is_some();
        if recipient.is_some() || action.is_some() {
            candidates.push((recipient, action, field("Status"), field("Diagnostic-Code")));
        }
    }

    for (recipient, action, status, diagnostic) in candidates {
        // Without any Action field a report is read as a failure report.
        if any_action && action.as_deref() != Some("failed") {
            continue;
        }
        if let Some(r) = recipient {
            // `rfc822; user@example.kz` — the address type comes first.
            let address = r.split_once(';').map_or(r.as_str(), |(_, a)| a).trim();
            let address = address
                .trim_matches(|c| c == '<' || c == '>')
                .to_lowercase();
            if !address.is_empty() && !dsn.failed_recipients.contains(&address) {
                dsn.failed_recipients.push(address);
            }
        }
        if dsn.status.is_none() {
            dsn.status = status;
        }
        if dsn.diagnostic.is_none() {
            dsn.diagnostic = diagnostic.map(|d| {
                d.split_once(';')
                    .map_or(d.as_str(), |(kind, text)| {
                        if kind.trim().eq_ignore_ascii_case("smtp")
                            || kind.trim().eq_ignore_ascii_case("x-unix")
                        {
                            text
                        } else {
                            &d
                        }
                    })
                    .trim()
                    .to_owned()
            });
        }
    }
}
