//! Wires the channel crates into the server: outgoing adapters and inbound listeners.

use std::sync::Arc;

use crate::{App, StartError};

/// Adds the adapters and starts the listeners the configuration asks for. Adapters are
/// added first: they need the application before it is shared with any task.
pub async fn attach(app: Arc<App>) -> Result<Arc<App>, StartError> {
    let app = attach_email(app)?;
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
