//! Settings of the Telegram channel and the teloxide `Bot` built from them.

use std::fmt;

use teloxide::Bot;
use url::Url;

/// Settings of the Telegram channel. The server fills it from its own layered config;
/// [`TelegramConfig::from_env`] reads the `BAYLANYS_TELEGRAM_*` variables directly.
#[derive(Clone)]
pub struct TelegramConfig {
    pub token: String,
    /// A self-hosted Bot API server, or the tests' fake; `None` is api.telegram.org.
    pub api_url: Option<Url>,
    /// Checked against `X-Telegram-Bot-Api-Secret-Token` on every webhook call.
    pub webhook_secret: Option<String>,
    pub rate_global_per_sec: u32,
    pub rate_per_chat_per_sec: u32,
    /// Files larger than this are not downloaded; the applicant is told why. 20 MiB is
    /// what the public Bot API lets `getFile` fetch anyway.
    pub max_file_bytes: u64,
    /// Long-polling `timeout` for getUpdates, in seconds.
    pub poll_timeout_secs: u32,
    /// When true the bot itself answers a new registration with the number and deadline.
    /// Off by default: the server's acknowledgement job does it through the adapter, so
    /// the acknowledgement is retried and recorded like on every other channel (R4).
    pub bot_acknowledges: bool,
    /// What the bot says: the server's templates (see [`crate::texts`]).
    pub texts: crate::texts::Texts,
}

impl TelegramConfig {
    pub fn new(token: impl Into<String>) -> Self {
        TelegramConfig {
            token: token.into(),
            api_url: None,
            webhook_secret: None,
            rate_global_per_sec: 30,
            rate_per_chat_per_sec: 1,
            max_file_bytes: 20 * 1024 * 1024,
            poll_timeout_secs: 10,
            bot_acknowledges: false,
            texts: crate::texts::Texts::default(),
        }
    }

    /// Reads `BAYLANYS_TELEGRAM_TOKEN` (required: `Ok(None)` without it),
    /// `BAYLANYS_TELEGRAM_API_URL`, `BAYLANYS_TELEGRAM_WEBHOOK_SECRET`,
    /// `BAYLANYS_TELEGRAM_RATE_GLOBAL_PER_SEC`, `BAYLANYS_TELEGRAM_RATE_PER_CHAT_PER_SEC`,
    /// `BAYLANYS_TELEGRAM_MAX_FILE_BYTES`.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`TelegramConfig::from_env`] over any lookup, so it can be tested without the
    /// process environment.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(token) = var("BAYLANYS_TELEGRAM_TOKEN").filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let mut config = TelegramConfig::new(token.trim());
        if let Some(url) = var("BAYLANYS_TELEGRAM_API_URL").filter(|u| !u.trim().is_empty()) {
            config.api_url = Some(parse_api_url(&url)?);
        }
        config.webhook_secret = var("BAYLANYS_TELEGRAM_WEBHOOK_SECRET").filter(|s| !s.is_empty());
        if let Some(v) = var("BAYLANYS_TELEGRAM_RATE_GLOBAL_PER_SEC") {
            config.rate_global_per_sec = parse_number("BAYLANYS_TELEGRAM_RATE_GLOBAL_PER_SEC", &v)?;
        }
        if let Some(v) = var("BAYLANYS_TELEGRAM_RATE_PER_CHAT_PER_SEC") {
            config.rate_per_chat_per_sec =
                parse_number("BAYLANYS_TELEGRAM_RATE_PER_CHAT_PER_SEC", &v)?;
        }
        if let Some(v) = var("BAYLANYS_TELEGRAM_MAX_FILE_BYTES") {
            config.max_file_bytes = parse_number("BAYLANYS_TELEGRAM_MAX_FILE_BYTES", &v)?;
        }
        Ok(Some(config))
    }

    /// The teloxide client for this configuration.
    pub fn bot(&self) -> Bot {
        let bot = Bot::new(self.token.clone());
        match &self.api_url {
            Some(url) => bot.set_api_url(url.clone()),
            None => bot,
        }
    }
}

impl fmt::Debug for TelegramConfig {
    // The token and the secret are credentials: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url.as_ref().map(Url::as_str))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("rate_global_per_sec", &self.rate_global_per_sec)
            .field("rate_per_chat_per_sec", &self.rate_per_chat_per_sec)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("poll_timeout_secs", &self.poll_timeout_secs)
            .field("bot_acknowledges", &self.bot_acknowledges)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("BAYLANYS_TELEGRAM_API_URL `{value}` is not an http(s) URL: {reason}")]
    ApiUrl { value: String, reason: String },
    #[error("{name} `{value}` is not a positive whole number")]
    Number { name: &'static str, value: String },
}

/// An http(s) base URL such as `http://127.0.0.1:8081` or `https://tg.example.kz/botapi`.
pub fn parse_api_url(value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::ApiUrl {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::ApiUrl {
            value: value.to_owned(),
            reason: "expected http:// or https://".to_owned(),
        });
    }
    Ok(url)
}

fn parse_number<T: std::str::FromStr + PartialOrd + Default>(
    name: &'static str,
    value: &str,
) -> Result<T, ConfigError> {
    match value.trim().parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(ConfigError::Number {
            name,
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_without_token_means_channel_off() {
        assert_eq!(
            TelegramConfig::from_vars(|_| None).map(|c| c.is_none()),
            Ok(true)
        );
    }

    #[test]
    fn env_sets_url_and_limits() {
        let config = TelegramConfig::from_vars(|name| match name {
            "BAYLANYS_TELEGRAM_TOKEN" => Some("123:abc".into()),
            "BAYLANYS_TELEGRAM_API_URL" => Some("http://127.0.0.1:8081".into()),
            "BAYLANYS_TELEGRAM_RATE_GLOBAL_PER_SEC" => Some("20".into()),
            _ => None,
        })
        .expect("valid settings")
        .expect("token given");
        assert_eq!(config.rate_global_per_sec, 20);
        assert_eq!(config.rate_per_chat_per_sec, 1);
        assert_eq!(config.bot().api_url().as_str(), "http://127.0.0.1:8081/");
        assert!(!format!("{config:?}").contains("123:abc"));
    }

    #[test]
    fn bad_url_and_zero_rate_are_refused_with_the_variable_named() {
        let bad_url = TelegramConfig::from_vars(|name| match name {
            "BAYLANYS_TELEGRAM_TOKEN" => Some("t".into()),
            "BAYLANYS_TELEGRAM_API_URL" => Some("ftp://x".into()),
            _ => None,
        });
        assert!(matches!(bad_url, Err(ConfigError::ApiUrl { .. })));
        let zero = TelegramConfig::from_vars(|name| match name {
            "BAYLANYS_TELEGRAM_TOKEN" => Some("t".into()),
            "BAYLANYS_TELEGRAM_RATE_PER_CHAT_PER_SEC" => Some("0".into()),
            _ => None,
        });
        let message = zero.expect_err("zero rate refused").to_string();
        assert!(message.contains("BAYLANYS_TELEGRAM_RATE_PER_CHAT_PER_SEC"));
    }
}
