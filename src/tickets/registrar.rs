//! Group commit for intake: requests queue to one writer thread that registers whatever
//! has arrived in one transaction, commits, and only then answers each caller. A caller
//! that hears "registered" knows its appeal is committed; the disk sync is shared.

use std::sync::Arc;

use baylanys_core::InboundMessage;
use tokio::sync::{mpsc, oneshot};

use crate::db::DbError;
use crate::tickets::intake::{IntakeError, Registered};

type Reply = oneshot::Sender<Result<Registered, IntakeError>>;

/// The most requests one transaction takes: keeps latency bounded under load.
const MAX_BATCH: usize = 128;

#[derive(Clone)]
pub struct Registrar {
    tx: mpsc::Sender<(InboundMessage, Reply)>,
}

impl Registrar {
    /// Starts the writer thread. It stops when every `Registrar` clone is dropped.
    pub fn start(app: Arc<crate::App>) -> Registrar {
        let (tx, mut rx) = mpsc::channel::<(InboundMessage, Reply)>(4096);
        std::thread::Builder::new()
            .name("registrar".into())
            .spawn(move || {
                let mut batch: Vec<(InboundMessage, Reply)> = Vec::with_capacity(MAX_BATCH);
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let (messages, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
                    let calendar = app.calendar();
                    let result = app.db.write_blocking(|conn| {
                        let ctx = app.intake_context(&calendar);
                        crate::tickets::intake::intake_batch(conn, &ctx, &messages)
                    });
                    match result {
                        Ok(results) => {
                            if results.iter().any(|r| r.is_ok()) {
                                app.jobs_wakeup.notify_one();
                            }
                            for (reply, r) in replies.into_iter().zip(results) {
                                let _ = reply.send(r);
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "registration batch failed");
                            let text = e.to_string();
                            for reply in replies {
                                let _ = reply
                                    .send(Err(IntakeError::Db(DbError::Unavailable(text.clone()))));
                            }
                        }
                    }
                }
            })
            .expect("the registrar thread starts");
        Registrar { tx }
    }

    /// Registers one message; resolves once it is committed.
    pub async fn register(&self, msg: InboundMessage) -> Result<Registered, IntakeError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((msg, reply))
            .await
            .map_err(|_| IntakeError::Db(DbError::Unavailable("registrar stopped".into())))?;
        answer
            .await
            .map_err(|_| IntakeError::Db(DbError::Unavailable("registrar stopped".into())))?
    }
}
