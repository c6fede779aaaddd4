//! Group commit for intake: requests queue to writer threads, each of which registers
//! whatever has arrived in one transaction, commits, and only then answers each caller.
//! A caller that hears "registered" knows its appeal is committed; the disk sync is
//! shared. SQLite has one writer; PostgreSQL gets several, which run in parallel.
//!
//! An appeal may come with an idempotency key: its record (the answer the client got) is
//! written in the same transaction as the registration, so a retry after a lost answer
//! gets that answer again, and the unique key decides between concurrent duplicates.

use std::cell::Cell;
use std::sync::{Arc, Mutex, Weak};

use diesel::prelude::*;

use baylanys_core::InboundMessage;
use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::db::{DbConn, DbError, Engine};
use crate::tickets::intake::{IntakeError, Registered, intake, intake_batch};

type Reply = oneshot::Sender<Result<Registered, RegisterError>>;
/// A message, its idempotency key, its text stemmed ahead, and where the answer goes.
type Item = (
    InboundMessage,
    Option<IdempotencyKey>,
    crate::search::tickets::Stemmed,
    Reply,
);
/// `None` asks one writer thread to stop.
type Queue = Arc<Mutex<mpsc::Receiver<Option<Item>>>>;

/// How long an idempotency record answers retries (pruned by the hourly housekeeping).
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// A client's key for one submission, and the fingerprint of what it submitted.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Scoped by route (`api:...`, `form:...`), so the two never answer for each other.
    pub key: String,
    pub request_hash: String,
}

/// The answer recorded for a key.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// Another submission with the same key was registered first (it is committed).
    #[error("this Idempotency-Key was used by another submission")]
    KeyTaken,
}

/// The JSON a registered appeal is answered with (and replayed from its key).
pub fn created_body(public_url: &str, reg: &Registered) -> serde_json::Value {
    let status_url = crate::tickets::status_link(
        public_url,
        &reg.number,
        reg.access_key.as_deref(),
        reg.language,
    );
    serde_json::json!({
        "number": reg.number,
        "registered_at": crate::calendar::format_almaty(reg.registered_at),
        "due_at": crate::calendar::format_almaty(reg.due_at),
        "status_url": status_url,
    })
}

/// The answer stored for `key`, if any (expired records count until they are pruned).
pub fn stored_answer(conn: &mut DbConn, key: &str) -> Result<Option<StoredAnswer>, DbError> {
    use crate::db::schema::idempotency_keys as k;
    let row: Option<(String, i32, String)> = k::table
        .find(key)
        .select((k::request_hash, k::status, k::body))
        .first(conn)
        .optional()?;
    Ok(row.map(|(request_hash, status, body)| StoredAnswer {
        request_hash,
        status: u16::try_from(status).unwrap_or(500),
        body,
    }))
}

/// Forgets records older than [`IDEMPOTENCY_HOURS`].
pub fn prune_idempotency_keys(conn: &mut DbConn) -> Result<usize, DbError> {
    use crate::db::schema::idempotency_keys as k;
    let before = (chrono::Utc::now() - chrono::Duration::hours(IDEMPOTENCY_HOURS)).naive_utc();
    Ok(diesel::delete(k::table.filter(k::created_at.lt(before))).execute(conn)?)
}

fn store_key(
    conn: &mut DbConn,
    key: &IdempotencyKey,
    reg: &Registered,
    public_url: &str,
) -> Result<(), DbError> {
    use crate::db::schema::idempotency_keys as k;
    diesel::insert_into(k::table)
        .values((
            k::key.eq(&key.key),
            k::request_hash.eq(&key.request_hash),
            k::status.eq(201),
            k::body.eq(created_body(public_url, reg).to_string()),
            k::ticket_id.eq(&reg.ticket_id),
            k::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The most requests one transaction takes: keeps latency bounded under load.
const MAX_BATCH: usize = 128;
/// Writer threads on PostgreSQL: enough to keep its round trips overlapping.
const POSTGRES_WRITERS: usize = 4;

#[derive(Clone)]
pub struct Registrar {
    tx: mpsc::Sender<Option<Item>>,
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl Registrar {
    /// Starts the writer threads. They hold the state weakly (it holds the registrar),
    /// and end on [`Registrar::stop`] or when the state is gone.
    pub fn start(app: Weak<AppState>, engine: Engine) -> Registrar {
        let (tx, rx) = mpsc::channel::<Option<Item>>(4096);
        let queue: Queue = Arc::new(Mutex::new(rx));
        let writers = match engine {
            Engine::Sqlite => 1,
            Engine::Postgres => POSTGRES_WRITERS,
        };
        let threads = (0..writers)
            .map(|n| {
                let app = app.clone();
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("registrar-{n}"))
                    .spawn(move || writer(app, queue))
                    .expect("a registrar thread starts")
            })
            .collect();
        Registrar {
            tx,
            threads: Arc::new(Mutex::new(threads)),
        }
    }

    /// Asks every writer to stop once what was queued before is committed, waits for
    /// them (blocking), and returns how many ended.
    pub fn stop(&self) -> usize {
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for _ in &threads {
            // A full queue means the writers are busy: they reach the stop after it.
            let mut stop = None;
            while let Err(mpsc::error::TrySendError::Full(back)) = self.tx.try_send(stop) {
                stop = back;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        threads
            .into_iter()
            .map(|t| t.join())
            .filter(Result::is_ok)
            .count()
    }

    /// Registers one message; resolves once it is committed.
    pub async fn register(&self, msg: InboundMessage) -> Result<Registered, IntakeError> {
        self.register_keyed(msg, None).await.map_err(|e| match e {
            RegisterError::Intake(e) => e,
            RegisterError::KeyTaken => {
                IntakeError::Db(DbError::Unavailable("idempotency key without a key".into()))
            }
        })
    }

    /// Registers one message and, in the same transaction, the answer for `key`.
    pub async fn register_keyed(
        &self,
        msg: InboundMessage,
        key: Option<IdempotencyKey>,
    ) -> Result<Registered, RegisterError> {
        let stopped = || {
            RegisterError::Intake(IntakeError::Db(DbError::Unavailable(
                "registrar stopped".into(),
            )))
        };
        let (reply, answer) = oneshot::channel();
        // Stemming is most of a new ticket's CPU; here it runs on the request's thread.
        let stemmed = crate::tickets::intake::stem_ahead(&msg);
        self.tx
            .send(Some((msg, key, stemmed, reply)))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes what has queued (waiting for the first), so a busy server commits in batches.
/// `None` when this writer is to stop now; `(batch, true)` when it stops after the batch.
fn next_batch(queue: &Queue) -> Option<(Vec<Item>, bool)> {
    let mut rx = queue.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.blocking_recv()??;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(Some(next)) => batch.push(next),
            // A stop request: this batch is committed first.
            Ok(None) => return Some((batch, true)),
            Err(_) => break,
        }
    }
    Some((batch, false))
}

fn writer(app: Weak<AppState>, queue: Queue) {
    let mut last = false;
    while !last && let Some((batch, stop_after)) = next_batch(&queue) {
        last = stop_after;
        let Some(app) = app.upgrade() else {
            return;
        };
        let mut messages = Vec::with_capacity(batch.len());
        let mut keys = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let public_url = app.config.public_url.as_str();
        let calendar = app.calendar();
        let ctx = app.intake_context(&calendar);
        for (m, k, stemmed, r) in batch {
            messages.push(m);
            keys.push(k);
            replies.push(r);
            ctx.stemmed
                .borrow_mut()
                .insert(stemmed.text.clone(), stemmed);
        }
        // Web-form appeals always open a ticket: their numbers come in one round trip.
        let new_tickets = messages
            .iter()
            .filter(|m| m.channel == baylanys_core::Channel::WebForm)
            .count();
        let year =
            chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Asia::Almaty));
        let together = app.db.write_blocking_as::<_, IntakeError, _>(|conn| {
            ctx.reserve_numbers(conn, year, new_tickets)?;
            let all = intake_batch(conn, &ctx, &messages)?;
            for (reg, key) in all.iter().zip(&keys) {
                if let Some(key) = key {
                    store_key(conn, key, reg, public_url)?;
                }
            }
            Ok(all)
        });
        let results: Vec<Result<Registered, RegisterError>> = match together {
            Ok(all) => all.into_iter().map(Ok).collect(),
            // One failed (or two shared a key): register each alone so the others get in.
            Err(_) => {
                ctx.numbers.take();
                messages
                    .iter()
                    .zip(&keys)
                    .map(|(m, key)| {
                        // Alone, a message can still meet another writer's batch in a
                        // deadlock (both claim the same Telegram update copies): the
                        // database picks a loser, which simply tries again.
                        let mut tries = 0;
                        loop {
                            tries += 1;
                            let taken = Cell::new(false);
                            let r = app
                                .db
                                .write_blocking_as(|conn| {
                                    let reg = intake(conn, &ctx, m, None)?;
                                    if let Some(key) = key {
                                        store_key(conn, key, &reg, public_url).inspect_err(
                                            |e| {
                                                taken.set(e.is_unique_violation());
                                            },
                                        )?;
                                    }
                                    Ok::<_, IntakeError>(reg)
                                })
                                .map_err(|e| {
                                    if taken.get() {
                                        RegisterError::KeyTaken
                                    } else {
                                        RegisterError::Intake(e)
                                    }
                                });
                            match &r {
                                Err(RegisterError::Intake(IntakeError::Db(e)))
                                    if e.is_conflict() && tries < 4 => {}
                                _ => break r,
                            }
                        }
                    })
                    .collect()
            }
        };
        if results.iter().any(Result::is_ok) {
            app.jobs_wakeup.notify_one();
        }
        for (reply, r) in replies.into_iter().zip(results) {
            if let Err(RegisterError::Intake(e)) = &r {
                tracing::error!(error = %e, "registration failed");
            }
            let _ = reply.send(r);
        }
    }
}
