//! Following the support mailbox: the checkpoint lives in `channel_state`, every message
//! goes through [`super::ingest_raw`], and on PostgreSQL one instance at a time holds the
//! mailbox through a session advisory lock on a connection of its own.

use std::sync::Arc;

use baylanys_email::imap::{Checkpoint, FetchedMail, ImapConfig, ImapInbox, InboxSink, SinkError};
use diesel::prelude::*;

use crate::AppState;
use crate::db::schema::channel_state;

/// The mailbox URL without its password, as the checkpoint's key and in logs.
pub fn state_key(url: &str) -> String {
    let redacted = match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => url.split('@').next_back().unwrap_or_default().to_string(),
    };
    format!("imap:{redacted}")
}

/// The database side of the mailbox follower.
pub struct DbSink {
    app: Arc<AppState>,
    key: String,
}

impl DbSink {
    pub fn new(app: Arc<AppState>, key: String) -> DbSink {
        DbSink { app, key }
    }
}

impl InboxSink for DbSink {
    async fn load_checkpoint(&self) -> Result<Option<Checkpoint>, SinkError> {
        let key = self.key.clone();
        let value: Option<String> = self
            .app
            .db
            .run(move |c| {
                Ok(channel_state::table
                    .find(&key)
                    .select(channel_state::value)
                    .first(c)
                    .optional()?)
            })
            .await?;
        Ok(value.map(|v| serde_json::from_str(&v)).transpose()?)
    }

    async fn deliver(&self, mail: FetchedMail) -> Result<(), SinkError> {
        let outcome = super::ingest_raw(&self.app, mail.raw, mail.internal_date).await?;
        tracing::debug!(
            uid = mail.uid,
            outcome = outcome.name(),
            "IMAP message stored"
        );
        Ok(())
    }

    async fn save_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), SinkError> {
        let key = self.key.clone();
        let value = serde_json::to_string(&checkpoint)?;
        self.app
            .db
            .write(move |c| {
                diesel::delete(channel_state::table.find(&key)).execute(c)?;
                diesel::insert_into(channel_state::table)
                    .values((
                        channel_state::key.eq(&key),
                        channel_state::value.eq(&value),
                        channel_state::updated_at.eq(crate::db::now()),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// Follows the configured mailbox for the life of the process.
pub async fn run_imap(app: Arc<AppState>) {
    let Some(url) = app.config.imap_url.clone() else {
        return;
    };
    let config = match ImapConfig::from_url(&url) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "IMAP inbox not started");
            return;
        }
    };
    let key = state_key(&url);
    let db_url = app.config.database_url.clone();
    crate::db::holder::hold_and_run(&app.db, &db_url, &key, app.shutdown.clone(), |lost| {
        let sink = DbSink::new(app.clone(), key.clone());
        let inbox = ImapInbox::new(config.clone());
        async move { inbox.run(&sink, lost).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_key_drops_the_password() {
        let k = state_key("imap://support%40goscorp.kz:secret@127.0.0.1:1143/INBOX?idle_timeout=5");
        assert_eq!(k, "imap:imap://support%40goscorp.kz@127.0.0.1:1143/INBOX");
        assert!(crate::db::holder::lock_id(&k) > 0);
    }
}
