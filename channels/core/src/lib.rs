//! Contracts between the Baylanys server and its channel adapters.
//!
//! Every channel turns what it receives into an [`InboundMessage`] and delivers an
//! [`OutboundMessage`] through a [`ChannelAdapter`]. This crate holds only data types and
//! the adapter trait: no database, no HTTP server, so channel crates stay independent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod chat;

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Telegram,
    WebForm,
    Phone,
    #[serde(rename = "whatsapp")]
    WhatsApp,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::Telegram,
        Channel::WebForm,
        Channel::Phone,
        Channel::WhatsApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Telegram => "telegram",
            Channel::WebForm => "web_form",
            Channel::Phone => "phone",
            Channel::WhatsApp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown channel `{s}`: expected email, telegram, web_form, phone or whatsapp"
                )
            })
    }
}

/// The applicant's language. Kazakh and Russian are the official ones (R4); English is a
/// courtesy for staff-facing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Language {
    #[serde(rename = "kk")]
    Kk,
    #[default]
    #[serde(rename = "ru")]
    Ru,
    #[serde(rename = "en")]
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Kk => "kk",
            Language::Ru => "ru",
            Language::En => "en",
        }
    }

    /// Guess Kazakh or Russian from the letters of a text: any of the letters that only
    /// the Kazakh Cyrillic alphabet has (ә ғ қ ң ө ұ ү һ і) makes it Kazakh; otherwise
    /// Russian, the language most appeals that carry no choice are written in.
    pub fn detect(text: &str) -> Language {
        const KAZAKH_ONLY: &[char] = &[
            'ә', 'ғ', 'қ', 'ң', 'ө', 'ұ', 'ү', 'һ', 'і', 'Ә', 'Ғ', 'Қ', 'Ң', 'Ө', 'Ұ', 'Ү', 'Һ',
            'І',
        ];
        let mut kazakh = 0usize;
        let mut cyrillic = 0usize;
        for ch in text.chars() {
            if KAZAKH_ONLY.contains(&ch) {
                kazakh += 1;
            } else if ('\u{0400}'..='\u{04FF}').contains(&ch) {
                cyrillic += 1;
            }
        }
        // One stray letter in a long Russian text (a Kazakh surname) is not enough.
        if kazakh > 0 && kazakh * 50 >= cyrillic.max(1) {
            Language::Kk
        } else {
            Language::Ru
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kk" | "kz" | "kaz" | "kk-kz" => Ok(Language::Kk),
            "ru" | "rus" | "ru-ru" | "ru-kz" => Ok(Language::Ru),
            "en" | "eng" => Ok(Language::En),
            other => Err(format!("unknown language `{other}`: expected kk or ru")),
        }
    }
}

/// Who wrote, as the channel knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sender {
    /// The channel address: an e-mail address (lower-cased), a Telegram chat id, ...
    pub address: String,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A file that came with a message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub file_name: String,
    pub content_type: String,
    #[serde(with = "bytes_as_base64_free")]
    pub content: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("size", &self.content.len())
            .finish()
    }
}

mod bytes_as_base64_free {
    //! Attachments travel inside job payloads as plain byte arrays; compactness is not
    //! a concern there because payloads reference stored files for anything large.
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Vec::<u8>::deserialize(d)
    }
}

/// What a channel knows about which conversation a message continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThreadHints {
    /// E-mail In-Reply-To and References message ids, without angle brackets.
    pub references: Vec<String>,
    /// A registration number found in the subject (`[UCC-2026-000042]`).
    pub number_in_subject: Option<String>,
    /// The channel says this starts a new appeal even if one is open (Telegram "new appeal").
    pub force_new: bool,
    /// The channel's own conversation key (a Telegram chat id): follow-ups join the
    /// contact's open ticket on the same key.
    pub conversation: Option<String>,
}

/// One message received on any channel, ready for intake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The channel's id for deduplication (Message-ID, Telegram update id, ...).
    pub external_id: Option<String>,
    pub sender: Sender,
    pub received_at: DateTime<Utc>,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    /// The language the sender chose, if the channel asked.
    pub language: Option<Language>,
    pub attachments: Vec<Attachment>,
    pub thread: ThreadHints,
    /// Why no automatic acknowledgement may go back (an auto-reply, a mailing list, ...).
    pub suppress_ack: Option<String>,
    /// Structured fields a channel collected (region, topic, IIN for the web form).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl InboundMessage {
    pub fn new(channel: Channel, sender: Sender, body_text: impl Into<String>) -> Self {
        InboundMessage {
            channel,
            external_id: None,
            sender,
            received_at: Utc::now(),
            subject: None,
            body_text: body_text.into(),
            body_html: None,
            language: None,
            attachments: Vec::new(),
            thread: ThreadHints::default(),
            suppress_ack: None,
            fields: serde_json::Map::new(),
        }
    }

    /// The language to answer in: the sender's choice, else guessed from the text.
    pub fn reply_language(&self) -> Language {
        self.language.unwrap_or_else(|| {
            let mut sample = self.subject.clone().unwrap_or_default();
            sample.push(' ');
            sample.push_str(&self.body_text);
            Language::detect(&sample)
        })
    }
}

/// Why a message goes out; adapters use it for channel-specific touches
/// (a rating keyboard on Telegram, `Auto-Submitted` on e-mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundKind {
    Acknowledgement,
    Reply,
    Notice,
    RatingRequest,
    /// Sent on our own initiative to many, answering nothing (outage notices).
    Broadcast,
}

impl OutboundKind {
    /// Automatic messages carry `Auto-Submitted` (RFC 3834).
    pub fn is_automatic(self) -> bool {
        !matches!(self, OutboundKind::Reply)
    }

    /// The `Auto-Submitted` value: `auto-generated` for what answers nothing,
    /// `auto-replied` for the rest.
    pub fn auto_submitted(self) -> Option<&'static str> {
        match self {
            OutboundKind::Reply => None,
            OutboundKind::Broadcast => Some("auto-generated"),
            _ => Some("auto-replied"),
        }
    }
}

/// One message to deliver through a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub channel: Channel,
    pub kind: OutboundKind,
    /// The channel address: e-mail address or Telegram chat id.
    pub recipient: String,
    pub ticket_number: Option<String>,
    pub language: Language,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Our Message-ID for this message (e-mail threading), without angle brackets.
    pub message_id: Option<String>,
    /// Message ids this one answers (In-Reply-To first), without angle brackets.
    pub references: Vec<String>,
    /// When the recipient last wrote to us on this channel, if the server knows: chat
    /// platforms with a customer-service window (WhatsApp's 24 hours) decide from it
    /// whether free text may go or only an approved template.
    #[serde(default)]
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// What a successful delivery returns: the id the far side gave it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeliveryReceipt {
    pub remote_id: Option<String>,
}

/// How a delivery failed, which decides whether the job is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later (connection refused, SMTP 4xx, Telegram 429).
    #[error("temporary failure: {message}")]
    Temporary {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Never going to work (SMTP 5xx, a bot blocked by the user).
    #[error("permanent failure: {message}")]
    Permanent { message: String },
}

impl SendError {
    pub fn temporary(message: impl Into<String>) -> Self {
        SendError::Temporary {
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError::Permanent {
            message: message.into(),
        }
    }
}

/// What a platform later says became of a message it accepted (WhatsApp `statuses`):
/// `remote_id` is the id the platform gave it, as in [`DeliveryReceipt::remote_id`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    pub channel: Channel,
    pub remote_id: String,
    pub event: DeliveryEvent,
    pub at: Option<DateTime<Utc>>,
}

/// The states a platform reports, in the order they normally come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeliveryEvent {
    /// The platform sent it on.
    Sent,
    /// It reached the recipient's device.
    Delivered,
    /// The recipient opened it.
    Read,
    /// It will not arrive: the platform's error code and words.
    Failed { code: Option<i64>, message: String },
}

impl DeliveryEvent {
    /// Later states outrank earlier ones, so a late "delivered" never undoes a "read";
    /// a failure outranks everything.
    pub fn rank(&self) -> u8 {
        match self {
            DeliveryEvent::Sent => 1,
            DeliveryEvent::Delivered => 2,
            DeliveryEvent::Read => 3,
            DeliveryEvent::Failed { .. } => 4,
        }
    }
}

pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<DeliveryReceipt, SendError>> + Send + 'a>>;

/// A channel that can deliver outbound messages.
pub trait ChannelAdapter: Send + Sync {
    fn channel(&self) -> Channel;
    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_language_detected_from_kazakh_letters() {
        assert_eq!(
            Language::detect("Сәлеметсіз бе, өтініш қабылдаңыз"),
            Language::Kk
        );
        assert_eq!(
            Language::detect("Здравствуйте, примите обращение"),
            Language::Ru
        );
        assert_eq!(Language::detect("hello"), Language::Ru);
    }

    #[test]
    fn r4_one_kazakh_surname_in_russian_text_stays_russian() {
        let text = "Здравствуйте, меня зовут Әлия, я пишу по поводу справки о несудимости, \
                    которую не могу получить на портале уже третью неделю подряд, помогите";
        assert_eq!(Language::detect(text), Language::Ru);
    }

    #[test]
    fn channel_round_trips_through_its_name() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        assert!("fax".parse::<Channel>().unwrap_err().contains("fax"));
    }
}

/// A registration number (R4); the one place its format is written.
/// `UCC-2026-000042`: prefix, year of registration (Asia/Almaty), sequence (6+ digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    pub fn new(prefix: &str, year: i32, sequence: i64) -> RegistrationNumber {
        RegistrationNumber(format!("{prefix}-{year}-{sequence:06}"))
    }

    pub fn parse(text: &str) -> Result<RegistrationNumber, String> {
        let t = text.trim().to_ascii_uppercase();
        let mut parts = t.split('-');
        let (Some(prefix), Some(year), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "`{text}` is not a registration number like UCC-2026-000042"
            ));
        };
        let ok = !prefix.is_empty()
            && prefix.chars().all(|c| c.is_ascii_alphanumeric())
            && year.len() == 4
            && year.bytes().all(|b| b.is_ascii_digit())
            && seq.len() >= 6
            && seq.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(RegistrationNumber(t))
        } else {
            Err(format!(
                "`{text}` is not a registration number like UCC-2026-000042"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this number has our `prefix` (any case).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.0
            .split('-')
            .next()
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    }
}

impl fmt::Display for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares secrets without an early exit, so timing does not reveal the matching prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Text as Baylanys stores it: control characters removed, except tab, line feed and
/// carriage return. PostgreSQL refuses U+0000 in text and SQLite would keep it, so every
/// edge (a channel's parser, a form, an API body, a query parameter) passes text through
/// here and both backends store the same thing; raw payloads keep their bytes.
pub fn clean_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_stripped_control) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !is_stripped_control(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// [`clean_text`] in place, for owned strings.
pub fn clean_string(s: &mut String) {
    if s.chars().any(is_stripped_control) {
        s.retain(|c| !is_stripped_control(c));
    }
}

/// C0 controls (but tab, LF, CR), DEL and the C1 controls.
fn is_stripped_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

impl InboundMessage {
    /// The message with its text cleaned (see [`InboundMessage::clean`]); borrowed when
    /// there was nothing to clean, which is nearly always.
    pub fn cleaned(&self) -> std::borrow::Cow<'_, InboundMessage> {
        let dirty = |s: &str| s.chars().any(is_stripped_control);
        let opt = |s: &Option<String>| s.as_deref().is_some_and(dirty);
        let any = dirty(&self.body_text)
            || dirty(&self.sender.address)
            || [
                &self.subject,
                &self.body_html,
                &self.external_id,
                &self.suppress_ack,
                &self.sender.display_name,
                &self.sender.phone,
                &self.sender.email,
                &self.thread.number_in_subject,
                &self.thread.conversation,
            ]
            .into_iter()
            .any(opt)
            || self
                .thread
                .references
                .iter()
                .any(|r| dirty(r) || r.is_empty())
            || self
                .attachments
                .iter()
                .any(|a| dirty(&a.file_name) || dirty(&a.content_type))
            || self.fields.values().any(|v| v.as_str().is_some_and(dirty));
        if any {
            let mut m = self.clone();
            m.clean();
            std::borrow::Cow::Owned(m)
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }

    /// Removes control characters from every text the message carries (see
    /// [`clean_text`]): the one place intake makes text storable on both backends.
    pub fn clean(&mut self) {
        clean_string(&mut self.body_text);
        for s in [
            &mut self.subject,
            &mut self.body_html,
            &mut self.external_id,
            &mut self.suppress_ack,
            &mut self.sender.display_name,
            &mut self.sender.phone,
            &mut self.sender.email,
            &mut self.thread.number_in_subject,
            &mut self.thread.conversation,
        ]
        .into_iter()
        .flatten()
        {
            clean_string(s);
        }
        clean_string(&mut self.sender.address);
        for r in &mut self.thread.references {
            clean_string(r);
        }
        self.thread.references.retain(|r| !r.is_empty());
        for a in &mut self.attachments {
            clean_string(&mut a.file_name);
            clean_string(&mut a.content_type);
        }
        for v in self.fields.values_mut() {
            if let serde_json::Value::String(s) = v {
                clean_string(s);
            }
        }
    }
}

#[cfg(test)]
mod clean_tests {
    use super::*;

    #[test]
    fn control_characters_are_removed_but_line_breaks_and_tabs_stay() {
        assert_eq!(clean_text("a\0b\u{7}c\u{85}d\te\r\nf"), "abcd\te\r\nf");
        assert!(matches!(clean_text("Сәлем"), std::borrow::Cow::Borrowed(_)));
        let mut m = InboundMessage::new(Channel::Email, Sender::default(), "x\0y");
        m.subject = Some("s\0".into());
        m.thread.references = vec!["\0".into(), "a@b".into()];
        m.clean();
        assert_eq!(m.body_text, "xy");
        assert_eq!(m.subject.as_deref(), Some("s"));
        assert_eq!(m.thread.references, vec!["a@b".to_string()]);
        assert!(matches!(m.cleaned(), std::borrow::Cow::Borrowed(_)));
        m.sender.display_name = Some("A\u{1b}[31m".into());
        assert_eq!(m.cleaned().sender.display_name.as_deref(), Some("A[31m"));
    }
}

/// A file name as Baylanys stores it (every channel): control characters (line breaks too) removed, path
/// separators replaced by `_`, trimmed, at most 255 characters; `None` when nothing is
/// left (or only dots), so the caller names the file itself.
pub fn safe_file_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .replace(['/', '\\'], "_")
        .trim()
        .chars()
        .take(255)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        None
    } else {
        Some(cleaned)
    }
}

/// RFC 6838 `restricted-name`: what may stand on either side of the `/` of a media type.
fn is_restricted_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.len() <= 127
        && chars.all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
}

/// RFC 9110 `token`: parameter names and unquoted values.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A content type that is safe to store and to send back as a header: `type/subtype`
/// (RFC 6838) with optional `; name=value` parameters, lower-cased type and subtype.
/// `None` for anything else (a `\r\n` smuggling a header, a bare word, ...).
pub fn media_type(text: &str) -> Option<String> {
    let mut parts = text.split(';');
    let essence = parts.next()?.trim();
    let (t, s) = essence.split_once('/')?;
    if !is_restricted_name(t) || !is_restricted_name(s) {
        return None;
    }
    let mut out = format!("{}/{}", t.to_ascii_lowercase(), s.to_ascii_lowercase());
    for p in parts {
        let (name, value) = p.trim().split_once('=')?;
        let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
        let value_ok = if quoted {
            value[1..value.len() - 1]
                .chars()
                .all(|c| c == '\t' || (' '..='~').contains(&c))
        } else {
            is_token(value)
        };
        if !is_token(name) || !value_ok {
            return None;
        }
        out.push_str("; ");
        out.push_str(&name.to_ascii_lowercase());
        out.push('=');
        out.push_str(value);
    }
    Some(out)
}

/// The content type of a file judged from its first bytes, for files that came without
/// a usable one.
pub fn sniff_media_type(bytes: &[u8]) -> &'static str {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"PK\x03\x04", "application/zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),
    ];
    if let Some((_, t)) = SIGNATURES.iter().find(|(sig, _)| bytes.starts_with(sig)) {
        return t;
    }
    let text = std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(is_stripped_control));
    if text && !bytes.is_empty() {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(
            safe_file_name("../../etc/passwd").as_deref(),
            Some(".._.._etc_passwd")
        );
        assert_eq!(safe_file_name(" a\0b\r\n.pdf ").as_deref(), Some("ab.pdf"));
        assert_eq!(safe_file_name(".."), None);
        assert_eq!(safe_file_name("\0"), None);
        assert_eq!(
            safe_file_name(&"я".repeat(300)).unwrap().chars().count(),
            255
        );
    }

    #[test]
    fn media_types_are_type_slash_subtype_tokens() {
        assert_eq!(
            media_type("Application/PDF").as_deref(),
            Some("application/pdf")
        );
        assert_eq!(
            media_type("text/plain; charset=UTF-8").as_deref(),
            Some("text/plain; charset=UTF-8")
        );
        assert_eq!(media_type("text/html\r\nSet-Cookie: x=1"), None);
        assert_eq!(media_type("pdf"), None);
        assert_eq!(media_type("text/"), None);
        assert_eq!(media_type("text/plain; charset=\"a\nb\""), None);
        assert_eq!(sniff_media_type(b"%PDF-1.4"), "application/pdf");
        assert_eq!(sniff_media_type(b"\x00\x01"), "application/octet-stream");
        assert_eq!(
            sniff_media_type("Сәлем".as_bytes()),
            "text/plain; charset=utf-8"
        );
    }
}
