//! Following the support mailbox: the checkpoint lives in `channel_state`, every message
//! goes through [`super::ingest_raw`], and on PostgreSQL one instance at a time holds the
//! mailbox through a session advisory lock on a connection of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baylanys_email::imap::{Checkpoint, FetchedMail, ImapConfig, ImapInbox, InboxSink, SinkError};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::App;
use crate::db::schema::channel_state;
use crate::db::{DbError, Engine};

/// How often a waiting instance tries for the mailbox, and the holder checks its lock.
const LOCK_RETRY: Duration = Duration::from_secs(10);

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
    app: Arc<App>,
    key: String,
}

impl DbSink {
    pub fn new(app: Arc<App>, key: String) -> DbSink {
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
pub async fn run_imap(app: Arc<App>) {
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
    loop {
        let lock = match MailboxLock::acquire(&app, &key).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                tracing::debug!(mailbox = %key, "another instance holds the mailbox");
                tokio::time::sleep(LOCK_RETRY).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the mailbox lock; retrying");
                tokio::time::sleep(LOCK_RETRY).await;
                continue;
            }
        };
        tracing::info!(mailbox = %key, "following the IMAP mailbox");
        let sink = DbSink::new(app.clone(), key.clone());
        ImapInbox::new(config.clone()).run(&sink, lock.lost()).await;
        tracing::warn!(mailbox = %key, "lost the mailbox lock; trying to take it again");
    }
}

/// The right to read the mailbox: nothing on SQLite (one process), a session advisory
/// lock on a dedicated PostgreSQL connection otherwise, released when it closes.
pub struct MailboxLock {
    conn: Option<Arc<Mutex<diesel::PgConnection>>>,
}

impl MailboxLock {
    /// `Ok(None)` when another instance holds it.
    pub async fn acquire(app: &App, key: &str) -> Result<Option<MailboxLock>, DbError> {
        if app.db.engine == Engine::Sqlite {
            return Ok(Some(MailboxLock { conn: None }));
        }
        let url = app.config.database_url.clone();
        let id = lock_id(key);
        tokio::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&url)
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            let got: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_lock({id})"
            )))
            .get_result(&mut conn)?;
            Ok(got.then(|| MailboxLock {
                conn: Some(Arc::new(Mutex::new(conn))),
            }))
        })
        .await
        .map_err(|e| DbError::Unavailable(format!("lock task failed: {e}")))?
    }

    /// Resolves when the lock's connection stops answering (the lock went with it).
    pub async fn lost(self) {
        let Some(conn) = self.conn else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(LOCK_RETRY).await;
            let c = conn.clone();
            let alive = tokio::task::spawn_blocking(move || {
                let mut guard = c.lock().unwrap_or_else(|p| p.into_inner());
                guard.batch_execute("SELECT 1").is_ok()
            })
            .await
            .unwrap_or(false);
            if !alive {
                return;
            }
        }
    }
}

/// A stable 63-bit lock id for the mailbox key.
fn lock_id(key: &str) -> i64 {
    let hash = baylanys_email::sha256(key.as_bytes());
    i64::from_str_radix(&hash[..15], 16).unwrap_or(4242002)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_key_drops_the_password() {
        let k = state_key("imap://support%40goscorp.kz:secret@127.0.0.1:1143/INBOX?idle_timeout=5");
        assert_eq!(k, "imap:imap://support%40goscorp.kz@127.0.0.1:1143/INBOX");
        assert!(lock_id(&k) > 0);
    }
}
