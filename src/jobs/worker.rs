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

/// Runs until shutdown: wakes on new work, when the clock is moved, or once a second. A
/// job claimed when shutdown comes is finished; one not yet claimed waits for the next
/// start (or another instance).
pub async fn run(app: Arc<AppState>) {
    let registry = Arc::new(Registry::standard());
    let instance = app.config.instance_id.clone();
    while !app.shutdown.is_cancelled() {
        crate::state::Beats::beat(&app.beats.worker);
        let claimed = {
            let instance = instance.clone();
            let now = app.clock.now();
            app.db
                .write(move |c| jobs::claim(c, &instance, 32, now))
                .await
        };
        match claimed {
            Ok(batch) if !batch.is_empty() => {
                let runs = batch.into_iter().map(|job| {
                    let app = app.clone();
                    let instance = instance.clone();
                    let registry = registry.clone();
                    async move { run_one(&app, &registry, &instance, job).await }
                });
                futures_util::future::join_all(runs).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
        }
        tokio::select! {
            _ = app.shutdown.cancelled() => {}
            _ = app.jobs_wakeup.notified() => {}
            _ = crate::clock::moved(app.clock.as_ref()) => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn run_one(app: &Arc<AppState>, registry: &Arc<Registry>, instance: &str, job: JobRow) {
    let outcome = registry.run(app.clone(), job.clone()).await;
    let instance = instance.to_string();
    let result = match outcome {
        Ok(()) => {
            app.db
                .write(move |c| jobs::complete(c, &job.id, &instance))
                .await
        }
        Err((error, retry)) => {
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed");
            let registry = registry.clone();
            let now = app.clock.now();
            app.db
                .write(move |c| {
                    let gave_up = jobs::fail(c, &job, &error, retry, now)?;
                    registry.failed(c, &job, gave_up, &error)
                })
                .await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "recording a job outcome failed; its lease will expire and it runs again");
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
        Ok(_receipt) => {
            let job = job.clone();
            app.db
                .write(move |c| mark_delivery(c, &job, &mid, DeliveryState::Sent, None))
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
