//! Wires the channel crates into the server: outgoing adapters and inbound listeners.

use std::sync::Arc;

use crate::{App, StartError};

/// Adds the adapters and starts the listeners the configuration asks for. Adapters are
/// added first: they need the application before it is shared with any task.
pub async fn attach(app: Arc<App>) -> Result<Arc<App>, StartError> {
    let app = attach_email(app)?;
    let app = attach_telegram(app)?;
    start_email_inbox(&app)?;
    Ok(app)
}

/// The SMTP adapter, when `smtp_url` is set.
fn attach_email(app: Arc<App>) -> Result<Arc<App>, StartError> {
    let Some(url) = app.config.smtp_url.clone() else {
        return Ok(app);
    };
    let from: lettre::message::Mailbox = app.config.mail_from.parse().map_err(|e| {
        StartError::Channel(format!(
            "mail_from `{}` is not a mail address: {e}",
            app.config.mail_from
        ))
    })?;
    let domain = crate::tickets::mail_domain(&app.config.mail_from).to_string();
    let adapter = baylanys_email::SmtpAdapter::from_url(&url, from, domain)
        .map_err(|e| StartError::Channel(e.to_string()))?;
    Ok(app.with_adapter(Arc::new(adapter)))
}

/// The IMAP follower, when `imap_url` is set; a bad URL stops the start.
fn start_email_inbox(app: &Arc<App>) -> Result<(), StartError> {
    let Some(url) = &app.config.imap_url else {
        return Ok(());
    };
    baylanys_email::imap::ImapConfig::from_url(url)
        .map_err(|e| StartError::Channel(e.to_string()))?;
    tokio::spawn(crate::mail::run_imap(app.clone()));
    Ok(())
}

/// The advisory-lock key of Telegram long polling: one instance polls at a time.
const TELEGRAM_POLLING_LOCK: &str = "telegram:polling";

/// Telegram: the adapter for outgoing messages, and updates by long polling (one
/// instance at a time) or through `POST /telegram/webhook`. It must be the last adapter
/// added: the bot's backend keeps a handle on the application from here on.
fn attach_telegram(app: Arc<App>) -> Result<Arc<App>, StartError> {
    let Some(token) = app.config.telegram_token.clone() else {
        return Ok(app);
    };
    let mut config = baylanys_telegram::TelegramConfig::new(token);
    if let Some(url) = &app.config.telegram_api_url {
        config.api_url = Some(
            baylanys_telegram::parse_api_url(url)
                .map_err(|e| StartError::Channel(format!("BAYLANYS_TELEGRAM_API_URL: {e}")))?,
        );
    }
    config.webhook_secret = app.config.telegram_webhook_secret.clone();
    config.max_file_bytes = app.config.max_attachment_bytes;
    config.texts = baylanys_telegram::texts::Texts::new(Arc::new(crate::templates::TelegramTexts(
        app.templates.clone(),
    )));
    config.texts.check().map_err(StartError::Channel)?;
    if app.config.telegram_mode == "webhook" && config.webhook_secret.is_none() {
        return Err(StartError::Channel(
            "webhook mode needs BAYLANYS_TELEGRAM_WEBHOOK_SECRET so forged updates are refused"
                .into(),
        ));
    }
    let backend = Arc::new(crate::telegram::DbBackend::default());
    let bot = Arc::new(baylanys_telegram::TelegramBot::new(config, backend.clone()));
    let app = app.with_adapter(Arc::new(bot.adapter()));
    let _ = app.telegram.set(bot.clone());
    backend.bind(app.clone());
    if app.config.telegram_mode == "polling" {
        let app2 = app.clone();
        tokio::spawn(async move {
            let url = app2.config.database_url.clone();
            crate::db::holder::hold_and_run(
                &app2.db,
                &url,
                TELEGRAM_POLLING_LOCK,
                app2.shutdown.clone(),
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
        });
    }
    Ok(app)
}
