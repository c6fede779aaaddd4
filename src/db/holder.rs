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

/// TCP keepalives on the lock's connection, on both ends: an instance cut off the network
/// sends no FIN, so without them the server keeps its session (and the lock) for hours
/// while the input stands still. The server drops a silent holder after about 20 s
/// (5 s idle, then 3 probes 5 s apart), and the holder's own check fails as fast.
const SERVER_KEEPALIVES: &[&str] = &[
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 20000",
];
const CLIENT_KEEPALIVES: &[(&str, &str)] = &[
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "5"),
    ("keepalives_count", "3"),
    ("tcp_user_timeout", "20000"),
    ("connect_timeout", "10"),
];

/// `url` with the keepalive parameters added (those the URL sets itself are kept).
fn with_keepalives(url: &str) -> String {
    let mut out = url.to_string();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let given: Vec<&str> = query
        .split('&')
        .filter_map(|kv| kv.split('=').next())
        .collect();
    for (k, v) in CLIENT_KEEPALIVES {
        if !given.contains(k) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{k}={v}"));
        }
    }
    out
}

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
        let url = with_keepalives(url);
        let id = lock_id(key);
        tokio::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&url)
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            for set in SERVER_KEEPALIVES {
                // tcp_user_timeout is PostgreSQL 12+: an older server keeps the rest.
                if let Err(e) = conn.batch_execute(set) {
                    tracing::debug!(error = %e, "{set} not taken");
                }
            }
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

#[cfg(test)]
mod tests {
    use super::with_keepalives;

    #[test]
    fn keepalives_are_added_to_the_url_without_overriding_it() {
        assert_eq!(
            with_keepalives("postgres://u@h/db"),
            "postgres://u@h/db?keepalives=1&keepalives_idle=5&keepalives_interval=5\
             &keepalives_count=3&tcp_user_timeout=20000&connect_timeout=10"
        );
        let own = with_keepalives("postgres://u@h/db?sslmode=require&keepalives_idle=30");
        assert!(
            own.starts_with("postgres://u@h/db?sslmode=require&keepalives_idle=30&keepalives=1")
        );
        assert_eq!(own.matches("keepalives_idle").count(), 1, "{own}");
    }
}
