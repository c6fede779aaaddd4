//! SMS out through an HTTP SMS gateway: the phone channel's way back to the applicant
//! (the acknowledgement of a ticket registered from a call).
//!
//! The gateway takes `POST {url}` with a JSON body `{"to", "text", "reference"}` (and
//! `Authorization: Bearer {token}` when one is configured). A 2xx answer is delivery (its
//! JSON `id`, if any, is the receipt); 429, 5xx and transport errors are temporary (the
//! job queue tries again, honouring `Retry-After`); any other 4xx is permanent.

use std::time::Duration;

use baylanys_core::{
    Channel, ChannelAdapter, DeliveryReceipt, OutboundMessage, SendError, SendFuture,
};

/// How the gateway is reached.
#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// The gateway's send URL (http or https).
    pub url: String,
    pub token: Option<String>,
    /// The longest text sent; longer texts are cut at a character boundary (gateways
    /// split into parts themselves up to a limit).
    pub max_chars: usize,
    pub timeout: Duration,
}

impl SmsConfig {
    pub fn new(url: impl Into<String>) -> SmsConfig {
        SmsConfig {
            url: url.into(),
            token: None,
            max_chars: 670,
            timeout: Duration::from_secs(15),
        }
    }
}

/// The phone channel's outgoing adapter.
#[derive(Debug, Clone)]
pub struct SmsAdapter {
    config: SmsConfig,
    client: reqwest::Client,
}

impl SmsAdapter {
    /// Checks the URL and builds the client.
    pub fn new(config: SmsConfig) -> Result<SmsAdapter, String> {
        let lower = config.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(format!(
                "SMS gateway URL `{}` must start with http:// or https://",
                config.url
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("SMS gateway client: {e}"))?;
        Ok(SmsAdapter { config, client })
    }

    /// A phone number as the gateway wants it: `+` and digits (`8 701 ...` becomes
    /// `+7701...`); `None` when it is not a phone number.
    pub fn normalise(number: &str) -> Option<String> {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        let digits = match (digits.len(), digits.as_bytes().first()) {
            (11, Some(b'8')) => format!("7{}", &digits[1..]),
            (10, _) => format!("7{digits}"),
            _ => digits,
        };
        (10..=15)
            .contains(&digits.len())
            .then(|| format!("+{digits}"))
    }

    fn text_of(&self, message: &OutboundMessage) -> String {
        let text = message.body_text.trim();
        match text.char_indices().nth(self.config.max_chars) {
            Some((cut, _)) => text[..cut].to_string(),
            None => text.to_string(),
        }
    }

    async fn deliver(&self, message: &OutboundMessage) -> Result<DeliveryReceipt, SendError> {
        let to = SmsAdapter::normalise(&message.recipient).ok_or_else(|| {
            SendError::permanent(format!("`{}` is not a phone number", message.recipient))
        })?;
        let body = serde_json::json!({
            "to": to,
            "text": self.text_of(message),
            "reference": message.ticket_number,
        });
        let mut req = self.client.post(&self.config.url).json(&body);
        if let Some(token) = &self.config.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::temporary(format!("SMS gateway unreachable: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            let id = resp.json::<serde_json::Value>().await.ok().and_then(|v| {
                v.get("id")
                    .map(|id| id.to_string().trim_matches('"').to_string())
            });
            return Ok(DeliveryReceipt { remote_id: id });
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let detail: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let message = format!("SMS gateway answered {status}: {detail}");
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Temporary {
                message,
                retry_after,
            })
        } else {
            Err(SendError::permanent(message))
        }
    }
}

impl ChannelAdapter for SmsAdapter {
    fn channel(&self) -> Channel {
        Channel::Phone
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_or_refused() {
        assert_eq!(
            SmsAdapter::normalise("8 (701) 234-56-78").as_deref(),
            Some("+77012345678")
        );
        assert_eq!(
            SmsAdapter::normalise("+7 701 234 5678").as_deref(),
            Some("+77012345678")
        );
        assert_eq!(
            SmsAdapter::normalise("7012345678").as_deref(),
            Some("+77012345678")
        );
        assert_eq!(SmsAdapter::normalise("1414"), None);
        assert_eq!(SmsAdapter::normalise("not a number"), None);
    }

    #[test]
    fn only_http_urls_are_taken() {
        assert!(SmsAdapter::new(SmsConfig::new("ftp://x")).is_err());
        assert!(SmsAdapter::new(SmsConfig::new("http://127.0.0.1:1/send")).is_ok());
    }

    #[test]
    fn long_texts_are_cut_at_a_character() {
        let mut c = SmsConfig::new("http://127.0.0.1:1/send");
        c.max_chars = 3;
        let a = SmsAdapter::new(c).unwrap();
        let m = OutboundMessage {
            channel: Channel::Phone,
            kind: baylanys_core::OutboundKind::Acknowledgement,
            recipient: "+77012345678".into(),
            ticket_number: None,
            language: baylanys_core::Language::Kk,
            subject: None,
            body_text: "Сәлем әлем".into(),
            body_html: None,
            attachments: vec![],
            message_id: None,
            references: vec![],
            last_inbound_at: None,
        };
        assert_eq!(a.text_of(&m), "Сәл");
    }
}
