//! Group commit for intake: requests queue to writer threads, each of which registers
//! whatever has arrived in one transaction, commits, and only then answers each caller.
//! A caller that hears "registered" knows its appeal is committed; the disk sync is
//! shared. SQLite has one writer; PostgreSQL gets several, which run in parallel.

use std::sync::{Arc, Mutex};

use baylanys_core::InboundMessage;
use tokio::sync::{mpsc, oneshot};

use crate::App;
use crate::db::{DbError, Engine};
use crate::tickets::intake::{IntakeError, Registered, intake, intake_batch};

type Reply = oneshot::Sender<Result<Registered, IntakeError>>;
type Queue = Arc<Mutex<mpsc::Receiver<(InboundMessage, Reply)>>>;

/// The most requests one transaction takes: keeps latency bounded under load.
const MAX_BATCH: usize = 128;
/// Writer threads on PostgreSQL: enough to keep its round trips overlapping.
const POSTGRES_WRITERS: usize = 4;

#[derive(Clone)]
pub struct Registrar {
    tx: mpsc::Sender<(InboundMessage, Reply)>,
}

impl Registrar {
    /// Starts the writer threads. They stop when every `Registrar` clone is dropped.
    pub fn start(app: Arc<App>) -> Registrar {
        let (tx, rx) = mpsc::channel::<(InboundMessage, Reply)>(4096);
        let queue: Queue = Arc::new(Mutex::new(rx));
        let writers = match app.db.engine {
            Engine::Sqlite => 1,
            Engine::Postgres => POSTGRES_WRITERS,
        };
        for n in 0..writers {
            let app = app.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("registrar-{n}"))
                .spawn(move || writer(app, queue))
                .expect("a registrar thread starts");
        }
        Registrar { tx }
    }

    /// Registers one message; resolves once it is committed.
    pub async fn register(&self, msg: InboundMessage) -> Result<Registered, IntakeError> {
        let stopped = || IntakeError::Db(DbError::Unavailable("registrar stopped".into()));
        let (reply, answer) = oneshot::channel();
        self.tx.send((msg, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes what has queued (waiting for the first), so a busy server commits in batches.
fn next_batch(queue: &Queue) -> Option<Vec<(InboundMessage, Reply)>> {
    let mut rx = queue.lock().unwrap_or_else(|p| p.into_inner());
    let first = rx.blocking_recv()?;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn writer(app: Arc<App>, queue: Queue) {
    while let Some(batch) = next_batch(&queue) {
        let (messages, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let calendar = app.calendar();
        let ctx = app.intake_context(&calendar);
        // Web-form appeals always open a ticket: their numbers come in one round trip.
        let new_tickets = messages
            .iter()
            .filter(|m| m.channel == baylanys_core::Channel::WebForm)
            .count();
        let year =
            chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Asia::Almaty));
        let together = app.db.write_blocking(|conn| {
            ctx.reserve_numbers(conn, year, new_tickets)?;
            intake_batch(conn, &ctx, &messages).map_err(into_db)
        });
        let results: Vec<Result<Registered, IntakeError>> = match together {
            Ok(all) => all.into_iter().map(Ok).collect(),
            // One failed: register each alone so the others still get in.
            Err(_) => {
                ctx.numbers.take();
                messages
                    .iter()
                    .map(|m| {
                        app.db
                            .write_blocking(|conn| intake(conn, &ctx, m, None).map_err(into_db))
                            .map_err(IntakeError::Db)
                    })
                    .collect()
            }
        };
        if results.iter().any(Result::is_ok) {
            app.jobs_wakeup.notify_one();
        }
        for (reply, r) in replies.into_iter().zip(results) {
            if let Err(e) = &r {
                tracing::error!(error = %e, "registration failed");
            }
            let _ = reply.send(r);
        }
    }
}

fn into_db(e: IntakeError) -> DbError {
    match e {
        IntakeError::Db(e) => e,
        IntakeError::Deadline(m) => {
            DbError::Unavailable(format!("cannot compute the deadline: {m}"))
        }
        IntakeError::Template(e) => DbError::Unavailable(e.to_string()),
    }
}
