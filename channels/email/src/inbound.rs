//! Raw RFC 5322 bytes to an [`InboundMessage`], a [`Dsn`], or a reason to quarantine.

use baylanys_core::{Attachment, Channel, InboundMessage, Language, Sender, ThreadHints};
use chrono::{DateTime, Utc};
use mail_parser::{
    Address, Encoding, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::Serialize;

use crate::dsn::Dsn;
use crate::{charset, dsn, html, loops, sha256};
use mail_parser::decoders::charsets::map::charset_decoder;

/// What the server tells the parser about itself.
#[derive(Debug, Clone)]
pub struct ParseConfig {
    /// Our own addresses: mail from them is never acknowledged (a loop).
    pub own_addresses: Vec<String>,
    /// Above this total, attachments are dropped (the text is always kept).
    pub max_message_size: usize,
    /// Any single attachment above this is dropped and named in `oversize`.
    pub max_attachment_size: usize,
    /// Prefixes of agencies' own reference numbers quoted in subjects (`ЕО-`, `ZT-`):
    /// each occurrence is reported with the token that follows it.
    pub agency_ref_prefixes: Vec<String>,
    /// Prefix of our registration numbers, as in `[UCC-2026-000042]`.
    pub number_prefix: String,
    /// The authserv-id our receiving MTA writes in `Authentication-Results` (RFC 8601);
    /// only the topmost such header with this id is believed. `None`: no verdict is read.
    pub trusted_authserv_id: Option<String>,
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig {
            own_addresses: vec!["support@goscorp.kz".into()],
            max_message_size: 25 * 1024 * 1024,
            max_attachment_size: 10 * 1024 * 1024,
            agency_ref_prefixes: Vec::new(),
            number_prefix: "UCC".into(),
            trusted_authserv_id: None,
        }
    }
}

/// What one raw message turned out to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ParsedEmail {
    /// Mail from a person (or a robot, see `suppress_ack`): intake makes or continues a ticket.
    Message(Box<EmailMessage>),
    /// A delivery report about mail we sent: never a ticket.
    DeliveryStatus(Dsn),
}

/// A parsed e-mail with what intake needs beyond the channel-neutral [`InboundMessage`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailMessage {
    pub inbound: InboundMessage,
    /// Message-ID without angle brackets; also `inbound.external_id`.
    pub message_id: Option<String>,
    /// SHA-256 hex of the raw bytes: with `message_id` the key for deduplication.
    pub content_hash: String,
    /// The sender's `Date:` header, which may lie; `inbound.received_at` is ours.
    pub date: Option<DateTime<Utc>>,
    /// Agency reference numbers found in the subject (see [`ParseConfig::agency_ref_prefixes`]).
    pub agency_refs: Vec<String>,
    /// File names of attachments dropped for size, so the sender can be told.
    pub oversize: Vec<String>,
    /// Same as `inbound.suppress_ack`.
    pub suppress_ack: Option<String>,
    /// What our receiving MTA found of the sender's authentication, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<crate::auth_results::AuthResults>,
}

/// Why raw bytes could not be read as e-mail at all; the server quarantines them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unparseable e-mail: {reason}")]
pub struct ParseFailure {
    pub reason: String,
}

impl ParseFailure {
    fn new(reason: impl Into<String>) -> Self {
        ParseFailure {
            reason: reason.into(),
        }
    }
}

/// Parse raw bytes received now.
pub fn parse(raw: &[u8], cfg: &ParseConfig) -> Result<ParsedEmail, ParseFailure> {
    parse_at(raw, cfg, Utc::now())
}

/// Parse raw bytes received at `received_at` (the IMAP INTERNALDATE, or the clock).
///
/// mail-parser 0.11 panics on some malformed MIME structures (found by fuzzing:
/// `tests/hostile/mail_parser_part_id_panic.eml`); such a message is a parse failure like
/// any other, kept whole for an operator, never a crash of the mailbox or the pipe.
pub fn parse_at(
    raw: &[u8],
    cfg: &ParseConfig,
    received_at: DateTime<Utc>,
) -> Result<ParsedEmail, ParseFailure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_unguarded(raw, cfg, received_at)
    }))
    .unwrap_or_else(|_| {
        Err(ParseFailure::new(
            "the MIME structure is malformed (the mail parser gave up on it)",
        ))
    })
}

fn parse_unguarded(
    raw: &[u8],
    cfg: &ParseConfig,
    received_at: DateTime<Utc>,
) -> Result<ParsedEmail, ParseFailure> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseFailure::new("empty message"));
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| ParseFailure::new("no header section"))?;
    if message.parts.first().is_none_or(|p| p.headers.is_empty()) {
        return Err(ParseFailure::new("no header section"));
    }

    if dsn::is_report(&message) {
        return Ok(ParsedEmail::DeliveryStatus(dsn::read(&message)));
    }

    let (address, display_name) = sender(&message).ok_or_else(|| {
        ParseFailure::new("no sender address: From, Sender and Return-Path are missing or invalid")
    })?;

    // A bounce from an MTA that does not write RFC 3464 reports.
    if address.split('@').next() == Some("mailer-daemon") {
        return Ok(ParsedEmail::DeliveryStatus(dsn::read(&message)));
    }

    let suppress_ack = loops::suppress_reason(&message, Some(&address), &cfg.own_addresses);
    let subject = subject(&message);
    let message_id = message
        .message_id()
        .map(|id| bounded_id(id.trim()))
        .filter(|id| !id.is_empty());
    let authentication = cfg
        .trusted_authserv_id
        .as_deref()
        .and_then(|id| crate::auth_results::read(&message, id));
    let (body_text, body_html) = bodies(&message);
    let (attachments, oversize) = attachments(&message, cfg);

    let mut fields = serde_json::Map::new();
    if let Some(reply_to) = first_address(message.reply_to())
        && reply_to.0 != address
    {
        fields.insert("reply_to".into(), reply_to.0.into());
    }

    let thread = ThreadHints {
        references: thread_references(&message),
        number_in_subject: subject
            .as_deref()
            .and_then(|s| number_in_subject(s, &cfg.number_prefix)),
        ..ThreadHints::default()
    };
    let agency_refs = subject
        .as_deref()
        .map(|s| agency_refs(s, &cfg.agency_ref_prefixes))
        .unwrap_or_default();

    let inbound = InboundMessage {
        channel: Channel::Email,
        external_id: message_id.clone(),
        sender: Sender {
            address: address.clone(),
            display_name,
            phone: None,
            email: Some(address),
        },
        received_at,
        subject,
        body_text,
        body_html,
        language: content_language(&message),
        attachments,
        thread,
        suppress_ack: suppress_ack.clone(),
        fields,
    };

    Ok(ParsedEmail::Message(Box::new(EmailMessage {
        inbound,
        message_id,
        content_hash: sha256(raw),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        agency_refs,
        oversize,
        suppress_ack,
        authentication,
    })))
}

fn first_address(addr: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    let addr = addr?
        .iter()
        .find(|a| a.address().is_some_and(is_plausible_address))?;
    let address = addr.address()?.trim().to_lowercase();
    let name = addr
        .name()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&address));
    Some((address, name))
}

fn is_plausible_address(a: &str) -> bool {
    let a = a.trim();
    matches!(a.rsplit_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !a.contains(char::is_whitespace))
}

/// From, else Sender, else the envelope's Return-Path.
fn sender(message: &Message<'_>) -> Option<(String, Option<String>)> {
    let (address, mut name) = first_address(message.from())
        .or_else(|| first_address(message.sender()))
        .or_else(|| {
            message
                .return_address()
                .filter(|a| is_plausible_address(a))
                .map(|a| (a.trim().to_lowercase(), None))
        })?;
    // A display name in raw 8-bit (no RFC 2047) came through as lossy UTF-8.
    if name.as_deref().is_some_and(|n| n.contains('\u{FFFD}')) {
        name = raw_header_text(message, "From").and_then(|from| {
            let end = from.rfind('<')?;
            let n = from[..end].trim().trim_matches('"').trim().to_owned();
            (!n.is_empty()).then_some(n)
        });
    }
    Some((address, name))
}

fn subject(message: &Message<'_>) -> Option<String> {
    let subject = message.subject()?;
    let subject = if subject.contains('\u{FFFD}') {
        raw_header_text(message, "Subject").unwrap_or_else(|| subject.to_owned())
    } else {
        subject.to_owned()
    };
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    (!subject.is_empty()).then_some(subject)
}

/// A header's raw bytes decoded by charset detection, for mailers that put 8-bit text
/// in headers without RFC 2047 encoding.
fn raw_header_text(message: &Message<'_>, name: &str) -> Option<String> {
    let header = message
        .parts
        .first()?
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let bytes = message
        .raw_message()
        .get(header.offset_start() as usize..header.offset_end() as usize)?;
    let text = charset::decode_unlabelled(bytes);
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// In-Reply-To and the newest References count for threading; older ones add nothing,
/// and a header of 40,000 ids must cost no more than one of ten.
const MAX_REFERENCES: usize = 32;
/// Longer ids are kept as a hash: indexes (PostgreSQL's row limit) and keys stay small.
const MAX_ID_LEN: usize = 250;

/// A message id as stored: control characters removed; a very long one hashed.
pub fn bounded_id(id: &str) -> String {
    let id = baylanys_core::clean_text(id);
    if id.len() <= MAX_ID_LEN {
        id.into_owned()
    } else {
        format!("sha256:{}", sha256(id.as_bytes()))
    }
}

fn thread_references(message: &Message<'_>) -> Vec<String> {
    let list = |value: &HeaderValue<'_>| -> Vec<String> {
        match value {
            HeaderValue::Text(t) => vec![t.to_string()],
            HeaderValue::TextList(l) => l.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let in_reply_to = list(message.in_reply_to());
    let references = list(message.references());
    // The newest references stand last in the header; the oldest are dropped.
    let newest = references.len().saturating_sub(MAX_REFERENCES);
    let mut seen = std::collections::HashSet::new();
    let mut ids: Vec<String> = Vec::new();
    for id in in_reply_to
        .iter()
        .take(MAX_REFERENCES)
        .chain(references[newest..].iter())
    {
        let id = bounded_id(id.trim().trim_matches(|c| c == '<' || c == '>'));
        if !id.is_empty() && ids.len() < MAX_REFERENCES && seen.insert(id.clone()) {
            ids.push(id);
        }
    }
    ids
}

/// `[UCC-2026-000042]` in the subject gives `UCC-2026-000042` (prefix case-insensitive,
/// returned upper-case).
pub(crate) fn number_in_subject(subject: &str, prefix: &str) -> Option<String> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find(']') {
            let candidate = after[..close].trim();
            if let Ok(n) = baylanys_core::RegistrationNumber::parse(candidate)
                && n.has_prefix(prefix)
            {
                return Some(n.as_str().to_string());
            }
        }
        rest = after;
    }
    None
}

fn agency_refs(subject: &str, prefixes: &[String]) -> Vec<String> {
    let mut refs = Vec::new();
    for prefix in prefixes.iter().filter(|p| !p.is_empty()) {
        for (pos, _) in subject.match_indices(prefix.as_str()) {
            let tail = &subject[pos + prefix.len()..];
            // `№ 12-3/456`: allow one space between prefix and number.
            let tail_trimmed = tail.strip_prefix(' ').unwrap_or(tail);
            let token: String = tail_trimmed
                .chars()
                .take_while(|c| c.is_alphanumeric() || "-/._".contains(*c))
                .collect();
            let token = token.trim_end_matches(['.', '-', '/', '_']);
            if token.chars().any(|c| c.is_ascii_digit()) {
                let found = format!("{prefix}{}", &tail[..tail.len() - tail_trimmed.len()]) + token;
                if !refs.contains(&found) {
                    refs.push(found);
                }
            }
        }
    }
    refs
}

fn content_language(message: &Message<'_>) -> Option<Language> {
    let value = message.header_raw("Content-Language")?;
    let first = value.split(',').next()?.trim();
    first.parse().ok()
}

/// The text a person wrote, and the HTML if they sent any.
fn bodies(message: &Message<'_>) -> (String, Option<String>) {
    let mut texts = Vec::new();
    for &id in &message.text_body {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        match &part.body {
            PartType::Text(_) => texts.push(part_text(message, part)),
            PartType::Html(_) => texts.push(html::html_to_text(&part_text(message, part))),
            _ => {}
        }
    }
    let html = message.html_body.iter().find_map(|&id| {
        let part = message.parts.get(id as usize)?;
        matches!(part.body, PartType::Html(_)).then(|| part_text(message, part))
    });
    let text = texts
        .iter()
        .map(|t| t.trim_end())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (text.replace("\r\n", "\n"), html)
}

/// A text part's content, redecoded when mail-parser had no usable charset for it.
fn part_text(message: &Message<'_>, part: &MessagePart<'_>) -> String {
    let decoded = match &part.body {
        PartType::Text(t) | PartType::Html(t) => t.as_ref(),
        _ => return String::new(),
    };
    let label = part.content_type().and_then(|ct| ct.attribute("charset"));
    let broken = broken_transfer_encoding(part);
    if !broken && charset::parser_handled(label, decoded) {
        return decoded.to_owned();
    }
    match transfer_decoded(message, part) {
        Some(bytes) => match label.and_then(|l| charset_decoder(l.trim().as_bytes())) {
            Some(decode) if broken && charset::parser_handled(label, &decode(&bytes)) => {
                decode(&bytes)
            }
            _ => charset::decode_labelled(label, &bytes),
        },
        None => decoded.to_owned(),
    }
}

/// mail-parser keeps a base64 / quoted-printable part verbatim when its closing
/// boundary is missing (a truncated message); we decode what is there.
fn broken_transfer_encoding(part: &MessagePart<'_>) -> bool {
    part.is_encoding_problem && !matches!(declared_encoding(part), Encoding::None)
}

/// The transfer encoding the part declares; mail-parser reports `None` once it gave up.
fn declared_encoding(part: &MessagePart<'_>) -> Encoding {
    match part.encoding {
        Encoding::None => match part
            .content_transfer_encoding()
            .map(|e| e.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("base64") => Encoding::Base64,
            Some("quoted-printable") => Encoding::QuotedPrintable,
            _ => Encoding::None,
        },
        declared => declared,
    }
}

/// The part's bytes after base64 / quoted-printable, before any charset.
fn transfer_decoded(message: &Message<'_>, part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let raw = message
        .raw_message()
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)?;
    match declared_encoding(part) {
        Encoding::Base64 => {
            let compact: Vec<u8> = raw
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            mail_parser::decoders::base64::base64_decode(&compact)
        }
        Encoding::QuotedPrintable => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)
        }
        Encoding::None => Some(raw.to_vec()),
    }
}

fn attachments(message: &Message<'_>, cfg: &ParseConfig) -> (Vec<Attachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut oversize = Vec::new();
    let mut total = 0usize;
    for (n, part) in message.attachments().enumerate() {
        let (content_type, default_ext) = content_type(part);
        let file_name = attachment_name(message, part)
            .and_then(|n| baylanys_core::safe_file_name(&n))
            .unwrap_or_else(|| match &part.body {
                PartType::Message(inner) => format!(
                    "{}.eml",
                    inner
                        .subject()
                        .map(|s| s.replace(['/', '\\'], "_"))
                        .unwrap_or_else(|| "message".into())
                ),
                _ => format!("attachment-{}.{default_ext}", n + 1),
            });
        // Attached text keeps its original bytes: it is a file, not something we display.
        let content = match &part.body {
            PartType::Multipart(_) => continue,
            _ if broken_transfer_encoding(part) => {
                transfer_decoded(message, part).unwrap_or_else(|| part.contents().to_vec())
            }
            PartType::Text(_) | PartType::Html(_) => {
                transfer_decoded(message, part).unwrap_or_else(|| part.contents().to_vec())
            }
            _ => part.contents().to_vec(),
        };
        if content.len() > cfg.max_attachment_size || total + content.len() > cfg.max_message_size {
            oversize.push(file_name);
            continue;
        }
        total += content.len();
        kept.push(Attachment {
            file_name,
            content_type,
            content,
        });
    }
    (kept, oversize)
}

/// The file name, re-read from the raw header when mail-parser decoded an RFC 2231
/// continuation in a non-UTF-8 charset as UTF-8 (`filename*0*=windows-1251''...; filename*1*=...`).
fn attachment_name(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let name = part.attachment_name()?;
    if !name.contains('\u{FFFD}') {
        return Some(name.to_owned());
    }
    for (header, param) in [
        ("Content-Disposition", "filename"),
        ("Content-Type", "name"),
    ] {
        let raw = part
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(header))
            .and_then(|h| {
                message
                    .raw_message()
                    .get(h.offset_start() as usize..h.offset_end() as usize)
            });
        if let Some(decoded) = raw.and_then(|r| rfc2231_param(&String::from_utf8_lossy(r), param)) {
            return Some(decoded);
        }
    }
    Some(name.to_owned())
}

/// Value of `param` in a MIME header, joining RFC 2231 segments as bytes before
/// decoding them with the charset named in the first one.
fn rfc2231_param(header_value: &str, param: &str) -> Option<String> {
    let mut segments: Vec<(u32, bool, String)> = Vec::new();
    let mut plain = None;
    for item in split_params(header_value) {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"').to_owned();
        let Some(rest) = key.strip_prefix(param) else {
            continue;
        };
        match rest {
            "" => plain = Some(value),
            "*" => segments.push((0, true, value)),
            _ => {
                let Some(rest) = rest.strip_prefix('*') else {
                    continue;
                };
                let (number, encoded) = match rest.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (rest, false),
                };
                if let Ok(n) = number.parse() {
                    segments.push((n, encoded, value));
                }
            }
        }
    }
    segments.sort_by_key(|s| s.0);
    let mut label = None;
    let mut bytes = Vec::new();
    for (i, (_, encoded, value)) in segments.iter().enumerate() {
        let mut value = value.as_str();
        if i == 0 && *encoded {
            let mut parts = value.splitn(3, '\'');
            if let (Some(cs), Some(_lang), Some(rest)) = (parts.next(), parts.next(), parts.next())
            {
                label = Some(cs.to_owned()).filter(|c| !c.is_empty());
                value = rest;
            }
        }
        if *encoded {
            bytes.extend(percent_encoding::percent_decode_str(value));
        } else {
            bytes.extend_from_slice(value.as_bytes());
        }
    }
    if segments.is_empty() {
        return plain;
    }
    Some(charset::decode_labelled(label.as_deref(), &bytes))
}

/// `a; b="x;y"; c` split at semicolons outside quotes.
fn split_params(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => items.push(std::mem::take(&mut current)),
            '\r' | '\n' => {}
            _ => current.push(c),
        }
    }
    items.push(current);
    items
}

/// `type/subtype` (with the charset of text) and an extension for unnamed parts.
fn content_type(part: &MessagePart<'_>) -> (String, String) {
    let Some(ct) = part.content_type() else {
        return ("text/plain".into(), "txt".into());
    };
    let ctype = ct.ctype().to_ascii_lowercase();
    let subtype = ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase();
    let ext = match (ctype.as_str(), subtype.as_str()) {
        ("text", "plain") => "txt".to_owned(),
        ("message", _) => "eml".to_owned(),
        ("image", "jpeg") => "jpg".to_owned(),
        ("application", "octet-stream") => "bin".to_owned(),
        (_, s) => s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect(),
    };
    let mut full = format!("{ctype}/{subtype}");
    if ctype == "text"
        && let Some(cs) = ct.attribute("charset")
    {
        full.push_str("; charset=");
        full.push_str(&cs.to_ascii_lowercase());
    }
    (full, ext)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mime_structures_that_panic_the_parser_are_parse_failures() {
        // Each file under tests/hostile made mail-parser 0.11 panic (found by fuzzing).
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("the hostile fixtures") {
            let raw = std::fs::read(entry.expect("entry").path()).expect("readable");
            let failure =
                super::parse(&raw, &super::ParseConfig::default()).expect_err("not parsed");
            assert!(failure.reason.contains("malformed"), "{}", failure.reason);
            seen += 1;
        }
        assert!(seen >= 3);
    }

    use super::*;

    #[test]
    fn registration_number_from_subject_tag() {
        assert_eq!(
            number_in_subject("Re: [ucc-2026-000042] Справка", "UCC").as_deref(),
            Some("UCC-2026-000042")
        );
        assert_eq!(number_in_subject("[UCC-26-1] x", "UCC"), None);
        assert_eq!(number_in_subject("[ABC-2026-000042]", "UCC"), None);
        assert_eq!(
            number_in_subject("[x] [UCC-2026-7] [UCC-2026-000007]", "UCC").as_deref(),
            Some("UCC-2026-000007"),
            "numbers have 6 digits or more, as we issue them"
        );
    }

    #[test]
    fn rfc2231_segments_join_before_decoding() {
        let header = "Content-Disposition: attachment;\r\n filename*0*=windows-1251''%C7%E0%FF%E2%EB%E5%ED%E8%E5;\r\n filename*1*=%20%EE%F2;\r\n filename*2=\" 1.docx\"";
        assert_eq!(
            rfc2231_param(header, "filename").as_deref(),
            Some("Заявление от 1.docx")
        );
        assert_eq!(
            rfc2231_param("a; filename=\"x;y.txt\"", "filename").as_deref(),
            Some("x;y.txt")
        );
    }

    #[test]
    fn agency_references_follow_their_prefix() {
        let prefixes = vec!["МЮ-".to_owned(), "Исх. №".to_owned()];
        assert_eq!(
            agency_refs("Ответ на МЮ-2026/1234, Исх. № 12-3/456.", &prefixes),
            vec!["МЮ-2026/1234".to_owned(), "Исх. № 12-3/456".to_owned()]
        );
        assert!(agency_refs("МЮ-без номера", &prefixes).is_empty());
    }

    #[test]
    fn forty_thousand_references_are_bounded_and_long_ids_hashed() {
        let refs: Vec<String> = (0..40_000)
            .map(|n| format!("<id-{n}@example.kz>"))
            .collect();
        let long_id = "x".repeat(1_000_000);
        let raw = format!(
            "From: a@example.kz\r\nMessage-ID: <{long_id}@example.kz>\r\nIn-Reply-To: <id-39999@example.kz>\r\n\
             References: {}\r\nSubject: s\r\n\r\nbody\r\n",
            refs.join(" ")
        );
        let Ok(ParsedEmail::Message(m)) = parse(raw.as_bytes(), &ParseConfig::default()) else {
            panic!("the message parses");
        };
        let ids = &m.inbound.thread.references;
        assert_eq!(ids.len(), MAX_REFERENCES);
        assert_eq!(
            ids[0], "id-39999@example.kz",
            "In-Reply-To comes first, once"
        );
        assert!(ids.contains(&"id-39998@example.kz".to_string()));
        assert!(
            !ids.contains(&"id-0@example.kz".to_string()),
            "the oldest are dropped"
        );
        let id = m.message_id.expect("an id");
        assert!(id.starts_with("sha256:") && id.len() < 80, "{id}");
        assert_eq!(m.inbound.external_id.as_deref(), Some(id.as_str()));
    }
}
