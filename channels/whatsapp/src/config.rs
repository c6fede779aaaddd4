//! Settings of the WhatsApp channel.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use baylanys_core::OutboundKind;
use url::Url;

/// The Graph API version path the default base URL names.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com/v21.0";

/// One approved message template: its name at Meta and what fills its body's `{{1}}`,
/// `{{2}}`, ... in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    pub name: String,
    pub params: Vec<TemplateParam>,
}

/// What may fill a template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateParam {
    /// The ticket's registration number.
    Number,
    /// The message's own text, cut to [`WhatsAppConfig::template_text_limit`] characters.
    Text,
    /// Not a body parameter: five quick-reply buttons carrying `rate:<number>:<1..5>`
    /// (the template must have been approved with five quick-reply buttons).
    RateButtons,
}

/// Settings of the WhatsApp channel. The server fills it from its own configuration.
#[derive(Clone)]
pub struct WhatsAppConfig {
    /// The system user's access token (`Authorization: Bearer`).
    pub access_token: String,
    /// The business phone number's id: messages go to `<api>/<id>/messages`.
    pub phone_number_id: String,
    /// Base URL with the version, `https://graph.facebook.com/v21.0` by default (the
    /// tests point it at their local stand-in).
    pub api_url: Url,
    /// The app secret: `X-Hub-Signature-256` of every webhook POST is checked with it.
    pub app_secret: String,
    /// What Meta must send as `hub.verify_token` in the GET handshake.
    pub verify_token: String,
    /// Media larger than this is not downloaded; the applicant is told why.
    pub max_file_bytes: u64,
    pub rate_global_per_sec: u32,
    /// The least time between two messages to one recipient (WhatsApp's pair rate limit).
    pub per_recipient_interval: Duration,
    /// Templates for what must go out after the 24-hour customer-service window closed.
    pub templates: HashMap<OutboundKind, TemplateSpec>,
    pub template_text_limit: usize,
    /// Waits after a 130429 (throughput) and 131056 (pair rate) refusal.
    pub throughput_retry: Duration,
    pub pair_retry: Duration,
    /// What the bot says (the server's templates, see [`crate::texts`]).
    pub texts: crate::texts::Texts,
}

impl WhatsAppConfig {
    pub fn new(
        access_token: impl Into<String>,
        phone_number_id: impl Into<String>,
        app_secret: impl Into<String>,
        verify_token: impl Into<String>,
    ) -> WhatsAppConfig {
        WhatsAppConfig {
            access_token: access_token.into(),
            phone_number_id: phone_number_id.into(),
            api_url: Url::parse(DEFAULT_API_URL).expect("a valid constant"),
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            max_file_bytes: 20 * 1024 * 1024,
            rate_global_per_sec: 80,
            per_recipient_interval: Duration::from_millis(1000),
            templates: HashMap::new(),
            template_text_limit: 900,
            throughput_retry: Duration::from_secs(2),
            pair_retry: Duration::from_secs(6),
            texts: crate::texts::Texts::default(),
        }
    }
}

impl fmt::Debug for WhatsAppConfig {
    // The token and the secrets are credentials: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppConfig")
            .field("access_token", &"<redacted>")
            .field("phone_number_id", &self.phone_number_id)
            .field("api_url", &self.api_url.as_str())
            .field("app_secret", &"<redacted>")
            .field("verify_token", &"<redacted>")
            .field("max_file_bytes", &self.max_file_bytes)
            .field("per_recipient_interval", &self.per_recipient_interval)
            .field("templates", &self.templates)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("BAYLANYS_WHATSAPP_API_URL `{value}` is not an http(s) URL: {reason}")]
    ApiUrl { value: String, reason: String },
    #[error("BAYLANYS_WHATSAPP_TEMPLATES: {0}")]
    Templates(String),
}

/// An http(s) base URL such as `https://graph.facebook.com/v21.0`.
pub fn parse_api_url(value: &str) -> Result<Url, ConfigError> {
    let bad = |reason: String| ConfigError::ApiUrl {
        value: value.to_owned(),
        reason,
    };
    let url = Url::parse(value.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("expected http:// or https://".into()));
    }
    Ok(url)
}

/// `acknowledgement=ucc_ack:number,text;reply=ucc_reply:number,text;rating_request=ucc_rate:number,rate_buttons`:
/// for each kind of message (acknowledgement, reply, rating_request, notice) the approved
/// template's name and what fills its parameters (number, text, rate_buttons).
pub fn parse_templates(value: &str) -> Result<HashMap<OutboundKind, TemplateSpec>, ConfigError> {
    let mut out = HashMap::new();
    for item in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| ConfigError::Templates(format!("`{item}`: {why}"));
        let (kind, rest) = item
            .split_once('=')
            .ok_or_else(|| bad("expected kind=template_name:params"))?;
        let kind = match kind.trim() {
            "acknowledgement" => OutboundKind::Acknowledgement,
            "reply" => OutboundKind::Reply,
            "rating_request" => OutboundKind::RatingRequest,
            "notice" => OutboundKind::Notice,
            other => {
                return Err(bad(&format!(
                    "unknown kind `{other}`: use acknowledgement, reply, rating_request or notice"
                )));
            }
        };
        let (name, params) = rest.split_once(':').unwrap_or((rest, ""));
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(bad(
                "a template name is lower-case letters, digits and underscores",
            ));
        }
        let mut list = Vec::new();
        for p in params.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            list.push(match p {
                "number" => TemplateParam::Number,
                "text" => TemplateParam::Text,
                "rate_buttons" => TemplateParam::RateButtons,
                other => {
                    return Err(bad(&format!(
                        "unknown parameter `{other}`: use number, text or rate_buttons"
                    )));
                }
            });
        }
        out.insert(
            kind,
            TemplateSpec {
                name: name.to_owned(),
                params: list,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_parsed_with_their_parameters() {
        let t = parse_templates(
            "acknowledgement=ucc_ack:number,text; rating_request=ucc_rate:number,rate_buttons",
        )
        .expect("valid");
        assert_eq!(
            t[&OutboundKind::Acknowledgement],
            TemplateSpec {
                name: "ucc_ack".into(),
                params: vec![TemplateParam::Number, TemplateParam::Text]
            }
        );
        assert_eq!(
            t[&OutboundKind::RatingRequest].params[1],
            TemplateParam::RateButtons
        );
        assert!(parse_templates("reply=Bad Name:number").is_err());
        assert!(parse_templates("fax=x:number").is_err());
        assert!(parse_templates("reply=x:due").is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let c = WhatsAppConfig::new("EAAG-secret", "123", "app-secret", "verify-me");
        let shown = format!("{c:?}");
        assert!(!shown.contains("EAAG-secret") && !shown.contains("app-secret"));
        assert!(parse_api_url("ftp://x").is_err());
    }
}
