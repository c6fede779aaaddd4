//! The job runner of one instance: claims due jobs, runs them, records the outcome.

use std::sync::Arc;
use std::time::Duration;

use baylanys_core::{Attachment, Channel, OutboundKind, OutboundMessage};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::db::schema::{attachments, messages, tickets};
use crate::db::{Blob, DbError};
use crate::jobs::{self, Failure, Job, JobContext, JobRow, Registry, Retry};
use crate::tickets::{DeliveryState, Direction};

/// Jobs running at once in one instance (each holds its lease while it runs).
pub const MAX_IN_FLIGHT: usize = 64;
/// After a full claim, wait until this many slots are free before claiming again, so a
/// busy queue is claimed in batches rather than one job per freed slot.
const CLAIM_LOW_WATER: usize = 16;
/// Outcomes recorded in one transaction at most.
const RECORD_BATCH: usize = 256;

/// A finished run on its way to the database.
struct Outcome {
    job: JobRow,
    result: jobs::RunOutcome,
    at: chrono::DateTime<chrono::Utc>,
    recorded: tokio::sync::oneshot::Sender<()>,
}

/// Runs until shutdown: wakes on new work, when the clock is moved, or once a second.
/// Up to [`MAX_IN_FLIGHT`] jobs run at once; free slots are filled by claiming due jobs
/// in batches; outcomes are committed by one recorder, many in a transaction (a job's
/// slot is freed once its outcome is committed). A job claimed when shutdown comes is
/// finished and recorded; one not yet claimed waits for the next start (or another
/// instance).
pub async fn run(app: Arc<AppState>) {
    let registry = Arc::new(Registry::standard());
    let instance = app.config.instance_id.clone();
    let (outcomes, queue) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let recorder = tokio::spawn(record_outcomes(
        app.clone(),
        registry.clone(),
        instance.clone(),
        queue,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut running = tokio::task::JoinSet::new();
    // The jobs running here, whose leases a side task renews while they run.
    let in_flight: InFlight = Arc::default();
    let renewer = tokio::spawn(renew_leases(
        app.clone(),
        instance.clone(),
        in_flight.clone(),
    ));
    let mut wait_for = 1;
    while !app.shutdown.is_cancelled() {
        crate::state::Beats::beat(&app.beats.worker);
        while running.try_join_next().is_some() {}
        // Wait for free slots (beating meanwhile), then claim as many jobs as are free.
        tokio::select! {
            free = slots.acquire_many(wait_for as u32) => drop(free),
            _ = app.shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
        }
        let free = slots.available_permits();
        let claimed = {
            let instance = instance.clone();
            let now = app.clock.now();
            let lease = app.config.job_lease_secs as i64;
            app.db
                .write(move |c| jobs::claim(c, &instance, free as i64, now, lease))
                .await
        };
        match claimed {
            Ok(batch) if !batch.is_empty() => {
                wait_for = if batch.len() == free {
                    CLAIM_LOW_WATER.min(MAX_IN_FLIGHT)
                } else {
                    1
                };
                for job in batch {
                    // Only this loop takes slots, and `free` were free.
                    let slot = slots.clone().try_acquire_owned().expect("a free slot");
                    let app = app.clone();
                    let registry = registry.clone();
                    let outcomes = outcomes.clone();
                    let held = Held::new(&in_flight, &job.id);
                    running.spawn(async move {
                        let _slot = slot;
                        let _held = held;
                        let result = registry.run(app.clone(), job.clone()).await;
                        if let Err((error, _)) = &result {
                            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed");
                        }
                        let (recorded, wait) = tokio::sync::oneshot::channel();
                        let at = app.clock.now();
                        if outcomes
                            .send(Outcome {
                                job,
                                result,
                                at,
                                recorded,
                            })
                            .is_ok()
                        {
                            let _ = wait.await;
                        }
                    });
                }
                continue;
            }
            Ok(_) => wait_for = 1,
            Err(e) => {
                wait_for = 1;
                tracing::warn!(error = %e, "claiming jobs failed");
            }
        }
        tokio::select! {
            _ = app.shutdown.cancelled() => {}
            _ = app.jobs_wakeup.notified() => {}
            _ = crate::clock::moved(app.clock.as_ref()) => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    // Finish what was claimed, then let the recorder commit the last outcomes.
    while running.join_next().await.is_some() {}
    renewer.abort();
    drop(outcomes);
    let _ = recorder.await;
}

type InFlight = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// A job's place in the in-flight set, given up when its task ends, however it ends.
struct Held {
    set: InFlight,
    id: String,
}

impl Held {
    fn new(set: &InFlight, id: &str) -> Held {
        set.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
        Held {
            set: set.clone(),
            id: id.to_string(),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Renews the leases of the jobs running here three times per lease, so a slow job (a
/// relay that takes its time) is never taken over by another instance while this one
/// is alive and can reach the database.
async fn renew_leases(app: Arc<AppState>, instance: String, in_flight: InFlight) {
    let lease = app.config.job_lease_secs as i64;
    let every = Duration::from_secs((lease as u64 / 3).max(1));
    loop {
        tokio::time::sleep(every).await;
        let ids: Vec<String> = in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let instance = instance.clone();
        let renewed = tokio::time::timeout(
            every,
            app.db
                .write(move |c| jobs::renew(c, &instance, &ids, lease)),
        )
        .await;
        match renewed {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "renewing job leases failed"),
            Err(_) => tracing::warn!("renewing job leases timed out; the database does not answer"),
        }
    }
}

/// Commits outcomes as they come: whatever has queued while the last commit ran goes
/// into the next transaction (group commit).
async fn record_outcomes(
    app: Arc<AppState>,
    registry: Arc<Registry>,
    instance: String,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let db = app.db.clone();
        let registry = registry.clone();
        let instance = instance.clone();
        let items = std::mem::take(&mut batch);
        let recorded = tokio::task::spawn_blocking(move || {
            record_batch(&db, &registry, &instance, &items);
            items
        })
        .await;
        match recorded {
            Ok(items) => {
                for item in items {
                    let _ = item.recorded.send(());
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "recording job outcomes panicked; their leases will expire and they run again")
            }
        }
    }
}

/// One transaction for the whole batch; if it fails, one per outcome, so one bad item
/// costs only itself.
fn record_batch(db: &crate::db::Db, registry: &Registry, instance: &str, items: &[Outcome]) {
    let all = db.write_blocking(|c| {
        let mut done = Vec::new();
        for item in items {
            if record_one(c, registry, item)? {
                done.push(item.job.id.as_str());
            }
        }
        jobs::complete_many(c, &done, instance)
    });
    let Err(e) = all else { return };
    if items.len() > 1 {
        tracing::warn!(error = %e, count = items.len(), "recording a batch of job outcomes failed; recording them one by one");
    }
    for item in items {
        let one = db.write_blocking(|c| {
            if record_one(c, registry, item)? {
                jobs::complete(c, &item.job.id, instance)?;
            }
            Ok(())
        });
        let Err(e) = one else { continue };
        // A completion that cannot be written is a failed run: retried, and visible.
        let error = e.to_string();
        let failed = match &item.result {
            Ok(_) => db.write_blocking(|c| {
                match jobs::fail(c, &item.job, &error, Retry::After(None), item.at)? {
                    Some(gave_up) => registry.failed(c, &item.job, gave_up, &error),
                    None => Ok(()),
                }
            }),
            Err(_) => Err(e),
        };
        if let Err(e) = failed {
            tracing::error!(job = %item.job.id, error = %e, "recording a job outcome failed; its lease will expire and it runs again");
        }
    }
}

/// Writes one outcome; returns true when the job is to be marked done.
fn record_one(
    c: &mut crate::db::DbConn,
    registry: &Registry,
    item: &Outcome,
) -> Result<bool, DbError> {
    match &item.result {
        Ok(write) => {
            if let Some(write) = write {
                write(c)?;
            }
            Ok(true)
        }
        Err((error, retry)) => {
            match jobs::fail(c, &item.job, error, *retry, item.at)? {
                Some(gave_up) => registry.failed(c, &item.job, gave_up, error)?,
                None => {
                    tracing::warn!(job = %item.job.id, %error, "a run whose lease lapsed failed; the job is another run's now")
                }
            }
            Ok(false)
        }
    }
}

/// Sends one queued outgoing message (a row of `messages`) through its channel's adapter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliver {
    pub message_id: String,
    /// Carried in the row, not in the payload (the payload stays `{"message_id"}`).
    #[serde(skip)]
    pub ticket_id: Option<String>,
}

impl Job for Deliver {
    const NAME: &'static str = "deliver";

    fn ticket_id(&self) -> Option<&str> {
        self.ticket_id.as_deref()
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        deliver(&ctx.app, &ctx.row, self.message_id).await
    }

    fn failed(
        &self,
        conn: &mut crate::db::DbConn,
        row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        mark_delivery(
            conn,
            row,
            &self.message_id,
            if gave_up {
                DeliveryState::Failed
            } else {
                DeliveryState::Retrying
            },
            Some(error),
        )
    }
}

fn mark_delivery(
    c: &mut crate::db::DbConn,
    job: &JobRow,
    mid: &str,
    status: DeliveryState,
    error: Option<&str>,
) -> Result<(), DbError> {
    let now = crate::db::now();
    // A bounce can mark the message failed before the worker records the SMTP accept:
    // the bounce has the last word.
    let changed = diesel::update(
        messages::table
            .find(mid)
            .filter(messages::delivery_status.ne(DeliveryState::Failed.as_str())),
    )
    .set((
        messages::delivery_status.eq(status.as_str()),
        messages::delivery_error.eq(error),
        (status == DeliveryState::Sent).then(|| messages::delivered_at.eq(now)),
    ))
    .execute(c)?;
    if let Some(ticket) = &job.ticket_id
        && changed > 0
        && matches!(status, DeliveryState::Sent | DeliveryState::Failed)
    {
        crate::tickets::event(
            c,
            ticket,
            "system",
            if status == DeliveryState::Sent {
                "delivered"
            } else {
                "delivery_failed"
            },
            serde_json::json!({ "message_id": mid, "job_id": job.id, "attempts": job.attempts, "error": error }),
        )?;
    }
    Ok(())
}

/// Why a message cannot go out on this server at all: retrying would not help.
pub fn unconfigured(channel: Channel) -> String {
    format!(
        "no {channel} channel is configured on this server: configure it (e.g. BAYLANYS_SMTP_URL, BAYLANYS_TELEGRAM_TOKEN) and resend"
    )
}

async fn deliver(app: &Arc<AppState>, job: &JobRow, mid: String) -> Result<(), Failure> {
    let id = mid.clone();
    let loaded = app
        .db
        .run(move |c| load_outbound(c, &id))
        .await
        .map_err(|e| (e.to_string(), Retry::After(None)))?;
    let Some(out) = loaded else {
        return Err((
            "the message to deliver no longer exists".into(),
            Retry::Never,
        ));
    };
    let Some(adapter) = app.adapters.get(&out.channel) else {
        // The channel is missing from this server's configuration: fail now, visibly.
        return Err((unconfigured(out.channel), Retry::Never));
    };
    match adapter.send(&out).await {
        Ok(receipt) => {
            let job = job.clone();
            let channel = out.channel;
            app.db
                .write(move |c| {
                    mark_delivery(c, &job, &mid, DeliveryState::Sent, None)?;
                    // The ids the platform gave, so its later statuses find this message.
                    if channel == Channel::WhatsApp
                        && let Some(ids) = &receipt.remote_id
                    {
                        crate::whatsapp::record_sent(c, &mid, ids)?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| (e.to_string(), Retry::After(None)))?;
            Ok(())
        }
        Err(e) => Err(crate::jobs::send_failure(e)),
    }
}

fn load_outbound(c: &mut crate::db::DbConn, mid: &str) -> Result<Option<OutboundMessage>, DbError> {
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
    );
    let row: Option<Row> = messages::table
        .inner_join(tickets::table)
        .filter(messages::id.eq(mid))
        .select((
            messages::ticket_id,
            messages::kind,
            messages::channel,
            messages::address,
            messages::subject,
            messages::body_text,
            messages::body_html,
            messages::external_id,
            tickets::number,
            tickets::language,
        ))
        .first(c)
        .optional()?;
    let Some(r) = row else {
        return Ok(None);
    };
    let channel: Channel = r.2.parse().map_err(|e: String| DbError::Unavailable(e))?;
    let references = if channel == Channel::Email {
        email_references(c, &r.0, mid)?
    } else {
        Vec::new()
    };
    let files: Vec<(String, String, Blob)> = attachments::table
        .filter(attachments::message_id.eq(mid))
        .select((
            attachments::file_name,
            attachments::content_type,
            attachments::content,
        ))
        .load(c)?;
    let last_inbound_at = if channel == Channel::WhatsApp {
        crate::whatsapp::last_inbound_at(c, &r.3)?
    } else {
        None
    };
    Ok(Some(OutboundMessage {
        channel,
        kind: crate::tickets::MessageKind::parse(&r.1)
            .map_or(OutboundKind::Notice, crate::tickets::MessageKind::outbound),
        recipient: r.3,
        ticket_number: Some(r.8),
        language: r.9.parse().unwrap_or_default(),
        subject: r.4,
        body_text: r.5,
        body_html: r.6,
        attachments: files
            .into_iter()
            .map(|(file_name, content_type, Blob(content))| Attachment {
                file_name,
                content_type,
                content,
            })
            .collect(),
        message_id: r.7,
        references,
        last_inbound_at,
    }))
}

/// The Message-IDs an outgoing e-mail threads on: the applicant's latest message first
/// (it becomes In-Reply-To), then the rest of the ticket's mail, newest first.
fn email_references(
    c: &mut crate::db::DbConn,
    ticket_id: &str,
    mid: &str,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String, String)> = messages::table
        .filter(messages::ticket_id.eq(ticket_id))
        .filter(messages::channel.eq(Channel::Email.as_str()))
        .filter(messages::external_id.is_not_null())
        .filter(messages::id.ne(mid))
        .order((messages::created_at.desc(), messages::id.desc()))
        .select((messages::external_id.assume_not_null(), messages::direction))
        .limit(20)
        .load(c)?;
    let (inbound, outbound): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, d)| d == Direction::In.as_str());
    Ok(inbound
        .into_iter()
        .chain(outbound)
        .map(|(id, _)| id)
        .collect())
}
