//! One holder at a time across instances: a session advisory lock on a PostgreSQL
//! connection of its own, released by the server when the holder dies (so another
//! instance takes over); nothing to hold on SQLite, which serves one process.
//! Single-consumer inputs (the IMAP mailbox, Telegram long polling) run under it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::{Db, DbError, Engine};

/// How often a waiting instance tries again, and the holder checks its lock.
const LOCK_RETRY: Duration = Duration::from_secs(10);

/// The right to consume one input.
pub struct HolderLock {
    conn: Option<Arc<Mutex<diesel::PgConnection>>>,
}

impl HolderLock {
    /// `Ok(None)` when another instance holds `key`.
    pub async fn acquire(db: &Db, url: &str, key: &str) -> Result<Option<HolderLock>, DbError> {
        if db.engine == Engine::Sqlite {
            return Ok(Some(HolderLock { conn: None }));
        }
        let url = url.to_string();
        let id = lock_id(key);
        tokio::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&url)
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            let got: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "pg_try_advisory_lock({id})"
            )))
            .get_result(&mut conn)?;
            Ok(got.then(|| HolderLock {
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

/// Runs `work` whenever this instance holds `key`, until `stop` is cancelled. `work`
/// gets a future that resolves when the lock is lost or on shutdown, and should end then.
pub async fn hold_and_run<W, Fut>(
    db: &Db,
    url: &str,
    key: &str,
    stop: tokio_util::sync::CancellationToken,
    work: W,
) where
    W: Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = ()>,
{
    while !stop.is_cancelled() {
        match HolderLock::acquire(db, url, key).await {
            Ok(Some(lock)) => {
                tracing::info!(input = key, "this instance holds the input");
                let stop = stop.clone();
                work(Box::pin(async move {
                    tokio::select! {
                        _ = lock.lost() => {}
                        _ = stop.cancelled() => {}
                    }
                }))
                .await;
                tracing::info!(input = key, "stopped holding the input");
            }
            Ok(None) => tracing::debug!(input = key, "another instance holds the input"),
            Err(e) => tracing::warn!(input = key, error = %e, "cannot take the lock; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(LOCK_RETRY) => {}
        }
    }
}

/// A stable 63-bit lock id for a key.
pub fn lock_id(key: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    i64::from_str_radix(&hash[..15], 16).unwrap_or(4242002)
}
