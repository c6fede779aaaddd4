//! Wires the channel crates into the server: outgoing adapters first (they are part of
//! the shared state), then what listens (the mailbox, Telegram polling) once the state
//! exists.

use std::sync::Arc;

use baylanys_telegram::{TelegramAdapter, TelegramBot, TelegramConfig};

use crate::{AppState, StartError};

/// Telegram's outgoing half, made with the state; the bot is made from it later.
pub struct TelegramParts {
    config: TelegramConfig,
    adapter: TelegramAdapter,
}

/// Adds the adapters the configuration asks for: SMTP when `smtp_url` is set, Telegram
/// when a token is.
pub fn add_adapters(mut state: AppState) -> Result<(AppState, Option<TelegramParts>), StartError> {
    if let Some(url) = state.config.smtp_url.clone() {
        let from: lettre::message::Mailbox = state.config.mail_from.parse().map_err(|e| {
            StartError::Channel(format!(
                "mail_from `{}` is not a mail address: {e}",
                state.config.mail_from
            ))
        })?;
        let adapter = baylanys_email::SmtpAdapter::from_url_with_connections(
            &url,
            from,
            state.mail_domain.clone(),
            state.config.smtp_connections,
        )
        .map_err(|e| StartError::Channel(e.to_string()))?;
        state = state.with_adapter(Arc::new(adapter));
        tracing::info!(smtp = %url, connections = state.config.smtp_connections, from = %state.config.mail_from, "e-mail goes out through SMTP");
    } else {
        tracing::warn!(
            "e-mail is not configured (BAYLANYS_SMTP_URL): acknowledgements and replies to \
             e-mail applicants fail with that reason on the ticket"
        );
    }
    if let Some(url) = &state.config.imap_url {
        baylanys_email::imap::ImapConfig::from_url(url)
            .map_err(|e| StartError::Channel(e.to_string()))?;
    }
    if let Some(url) = state.config.sms_gateway_url.clone() {
        let mut config = baylanys_sms::SmsConfig::new(url.clone());
        config.token = state.config.sms_gateway_token.clone();
        let adapter = baylanys_sms::SmsAdapter::new(config)
            .map_err(|e| StartError::Channel(format!("BAYLANYS_SMS_GATEWAY_URL: {e}")))?;
        state = state.with_adapter(Arc::new(adapter));
        tracing::info!(sms = %url, "phone acknowledgements go out by SMS");
    }
    let telegram = telegram_config(&state)?;
    let parts = telegram.map(|config| TelegramParts {
        adapter: TelegramAdapter::from_config(&config),
        config,
    });
    if let Some(p) = &parts {
        state = state.with_adapter(Arc::new(p.adapter.clone()));
    }
    if let Some(config) = whatsapp_config(&state)? {
        tracing::info!(api = %config.api_url, phone_number_id = %config.phone_number_id, "WhatsApp channel on: webhook at /whatsapp/webhook");
        state = state.with_whatsapp(baylanys_whatsapp::WhatsAppAdapter::new(config));
    }
    Ok((state, parts))
}

/// The WhatsApp channel's settings, when its token and phone number id are set; the
/// webhook cannot work without the app secret and the verify token, so they are required.
fn whatsapp_config(
    state: &AppState,
) -> Result<Option<baylanys_whatsapp::WhatsAppConfig>, StartError> {
    let c = &state.config;
    let (Some(token), Some(phone)) = (&c.whatsapp_token, &c.whatsapp_phone_number_id) else {
        if c.whatsapp_token.is_some() || c.whatsapp_phone_number_id.is_some() {
            return Err(StartError::Channel(
                "WhatsApp needs both BAYLANYS_WHATSAPP_TOKEN and BAYLANYS_WHATSAPP_PHONE_NUMBER_ID"
                    .into(),
            ));
        }
        return Ok(None);
    };
    let (Some(secret), Some(verify)) = (&c.whatsapp_app_secret, &c.whatsapp_verify_token) else {
        return Err(StartError::Channel(
            "WhatsApp needs BAYLANYS_WHATSAPP_APP_SECRET (webhook signatures) and \
             BAYLANYS_WHATSAPP_VERIFY_TOKEN (the webhook handshake)"
                .into(),
        ));
    };
    let mut config = baylanys_whatsapp::WhatsAppConfig::new(token, phone, secret, verify);
    if let Some(url) = &c.whatsapp_api_url {
        config.api_url = baylanys_whatsapp::parse_api_url(url)
            .map_err(|e| StartError::Channel(e.to_string()))?;
    }
    if let Some(t) = &c.whatsapp_templates {
        config.templates = baylanys_whatsapp::parse_templates(t)
            .map_err(|e| StartError::Channel(e.to_string()))?;
    }
    config.per_recipient_interval =
        std::time::Duration::from_millis(c.whatsapp_per_recipient_interval_ms);
    config.max_file_bytes = c.max_attachment_bytes;
    config.texts = baylanys_whatsapp::texts::Texts::new(Arc::new(crate::templates::WhatsAppTexts(
        state.templates.clone(),
    )));
    config.texts.check().map_err(StartError::Channel)?;
    Ok(Some(config))
}

/// The advisory-lock key of Telegram long polling: one instance polls at a time.
const TELEGRAM_POLLING_LOCK: &str = "telegram:polling";

fn telegram_config(state: &AppState) -> Result<Option<TelegramConfig>, StartError> {
    let Some(token) = state.config.telegram_token.clone() else {
        return Ok(None);
    };
    let mut config = TelegramConfig::new(token);
    if let Some(url) = &state.config.telegram_api_url {
        config.api_url = Some(
            baylanys_telegram::parse_api_url(url)
                .map_err(|e| StartError::Channel(format!("BAYLANYS_TELEGRAM_API_URL: {e}")))?,
        );
    }
    config.webhook_secret = state.config.telegram_webhook_secret.clone();
    config.max_file_bytes = state.config.max_attachment_bytes;
    config.texts = baylanys_telegram::texts::Texts::new(Arc::new(crate::templates::TelegramTexts(
        state.templates.clone(),
    )));
    config.texts.check().map_err(StartError::Channel)?;
    if state.config.telegram_mode == "webhook" && config.webhook_secret.is_none() {
        return Err(StartError::Channel(
            "webhook mode needs BAYLANYS_TELEGRAM_WEBHOOK_SECRET so forged updates are refused"
                .into(),
        ));
    }
    Ok(Some(config))
}

/// Starts what listens: the IMAP follower, and the Telegram bot (long polling under an
/// advisory lock, or webhook updates through the HTTP layer). Returns the bot, for the
/// webhook, and the tasks, for shutdown to wait on.
pub fn start_listeners(
    state: &Arc<AppState>,
    telegram: Option<TelegramParts>,
) -> (Option<Arc<TelegramBot>>, Vec<tokio::task::JoinHandle<()>>) {
    let mut tasks = Vec::new();
    if state.config.imap_url.is_some() {
        tasks.push(tokio::spawn(crate::mail::run_imap(state.clone())));
    }
    let Some(TelegramParts { config, adapter }) = telegram else {
        return (None, tasks);
    };
    let backend = Arc::new(crate::telegram::DbBackend::new(state.clone()));
    let bot = Arc::new(TelegramBot::with_adapter(config, backend, &adapter));
    if state.config.telegram_mode == "polling" {
        let (state, bot) = (state.clone(), bot.clone());
        tasks.push(tokio::spawn(async move {
            let url = state.config.database_url.clone();
            crate::db::holder::hold_and_run(
                &state.db,
                &url,
                TELEGRAM_POLLING_LOCK,
                state.shutdown.clone(),
                |lost| {
                    let bot = bot.clone();
                    async move {
                        if let Err(e) = bot.run_polling(lost).await {
                            tracing::error!(error = %e, "telegram polling stopped");
                        }
                    }
                },
            )
            .await;
        }));
    }
    (Some(bot), tasks)
}
