//! The WhatsApp channel's server side: webhook bodies stored raw and handled by a job,
//! the [`ChatBackend`] the bot talks to over the database, message-id claims, and the
//! statuses WhatsApp reports on our messages.

use std::sync::Arc;

use baylanys_core::chat::{
    ChatAppeal, ChatBackend, ChatError, ChatFuture, ChatRating, ChatRegistered,
};
use baylanys_core::{Channel, DeliveryEvent, DeliveryReport, InboundMessage, Language};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::db::schema::{
    channel_state, contacts, messages, raw_payloads, tickets, whatsapp_messages, whatsapp_sent,
};
use crate::db::{Blob, DbConn, DbError};
use crate::jobs::{Failure, Job, JobContext, Retry};
use crate::tickets::{DeliveryState, Direction, MessageKind, Status};

/// The WhatsApp message id (`wamid`) a message came from, if it came from WhatsApp.
pub fn message_id_of(msg: &InboundMessage) -> Option<&str> {
    if msg.channel != Channel::WhatsApp {
        return None;
    }
    msg.external_id.as_deref()
}

/// Takes a message id, insert-or-skip: true for the one transaction that took it.
pub fn claim_message_id(c: &mut DbConn, id: &str) -> Result<bool, DbError> {
    use diesel::sql_types::{Text, Timestamp};
    let sql = |a: &str, b: &str| {
        format!(
            "INSERT INTO whatsapp_messages (message_id, handled_at) VALUES ({a}, {b}) \
             ON CONFLICT (message_id) DO NOTHING"
        )
    };
    let now = crate::db::now();
    let inserted = match c {
        DbConn::Pg(c) => diesel::sql_query(sql("$1", "$2"))
            .bind::<Text, _>(id)
            .bind::<Timestamp, _>(now)
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(sql("?", "?"))
            .bind::<Text, _>(id)
            .bind::<Timestamp, _>(now)
            .execute(c)?,
    };
    Ok(inserted == 1)
}

/// Forgets claimed message ids older than `days` (Meta redelivers for a day at most).
pub fn prune_message_log(c: &mut DbConn, days: i64) -> Result<usize, DbError> {
    let before = crate::db::now() - chrono::Duration::days(days);
    Ok(
        diesel::delete(whatsapp_messages::table.filter(whatsapp_messages::handled_at.lt(before)))
            .execute(c)?,
    )
}

/// Stores a verified webhook body raw and queues the job that handles it, in one
/// transaction, before Meta is answered. A body stored before (a redelivery of the same
/// bytes) is neither stored nor queued again. Returns the stored row's id and whether it
/// is new.
pub fn store_webhook(c: &mut DbConn, body: &[u8]) -> Result<(String, bool), DbError> {
    use diesel::sql_types::{Binary, Text, Timestamp};
    let sha = crate::auth::sha256_hex(body);
    let key = format!("whatsapp:{sha}");
    let id = crate::db::new_id();
    let sql = |p: fn(usize) -> String| {
        format!(
            "INSERT INTO raw_payloads (id, channel, dedupe_key, content, sha256, status, received_at) \
             VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (dedupe_key) DO NOTHING",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7)
        )
    };
    let now = crate::db::now();
    let bind = |q: String| {
        diesel::sql_query(q)
            .bind::<Text, _>(id.clone())
            .bind::<Text, _>(Channel::WhatsApp.as_str())
            .bind::<Text, _>(key.clone())
            .bind::<Binary, _>(body.to_vec())
            .bind::<Text, _>(sha.clone())
            .bind::<Text, _>(crate::quarantine::STORED)
            .bind::<Timestamp, _>(now)
    };
    let inserted = match c {
        DbConn::Pg(c) => bind(sql(|n| format!("${n}"))).execute(c)?,
        DbConn::Sqlite(c) => bind(sql(|_| "?".into())).execute(c)?,
    };
    if inserted == 0 {
        let existing: String = raw_payloads::table
            .filter(raw_payloads::dedupe_key.eq(&key))
            .select(raw_payloads::id)
            .first(c)?;
        return Ok((existing, false));
    }
    crate::jobs::enqueue_job(c, &WhatsAppWebhook { raw_id: id.clone() }, None)?;
    Ok((id, true))
}

/// When `wa_id` last wrote to us: the start of the 24-hour window.
pub fn last_inbound_at(
    c: &mut DbConn,
    wa_id: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, DbError> {
    let at: Option<chrono::NaiveDateTime> = messages::table
        .filter(messages::address.eq(wa_id))
        .filter(messages::channel.eq(Channel::WhatsApp.as_str()))
        .filter(messages::direction.eq(Direction::In.as_str()))
        .select(diesel::dsl::max(messages::created_at))
        .first(c)?;
    Ok(at.map(|t| t.and_utc()))
}

fn rank_of(state: &str) -> i32 {
    match state {
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "failed" => 4,
        _ => 0,
    }
}

/// Records the ids WhatsApp gave a sent message (comma-separated, one per part), and
/// applies any status that came for them before this was recorded.
pub fn record_sent(c: &mut DbConn, message_id: &str, ids: &str) -> Result<(), DbError> {
    use diesel::sql_types::{Text, Timestamp};
    for remote in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let sql = |p: fn(usize) -> String| {
            format!(
                "INSERT INTO whatsapp_sent (remote_id, message_id, status_rank, updated_at) \
                 VALUES ({}, {}, 0, {}) ON CONFLICT (remote_id) DO UPDATE SET message_id = excluded.message_id",
                p(1),
                p(2),
                p(3)
            )
        };
        let now = crate::db::now();
        let bind = |q: String| {
            diesel::sql_query(q)
                .bind::<Text, _>(remote.to_string())
                .bind::<Text, _>(message_id.to_string())
                .bind::<Timestamp, _>(now)
        };
        match c {
            DbConn::Pg(c) => bind(sql(|n| format!("${n}"))).execute(c)?,
            DbConn::Sqlite(c) => bind(sql(|_| "?".into())).execute(c)?,
        };
        let (status, error): (Option<String>, Option<String>) = whatsapp_sent::table
            .find(remote)
            .select((whatsapp_sent::status, whatsapp_sent::error))
            .first(c)?;
        if let Some(status) = status {
            apply_to_message(c, message_id, &status, error.as_deref())?;
        }
    }
    Ok(())
}

/// A status WhatsApp reported: kept by its id (never downgraded: a late "delivered"
/// does not undo "read"), and shown on our message once we know which one it is.
pub fn apply_report(c: &mut DbConn, report: &DeliveryReport) -> Result<(), DbError> {
    use diesel::sql_types::{Integer, Text, Timestamp};
    let (state, error) = match &report.event {
        DeliveryEvent::Sent => ("sent", None),
        DeliveryEvent::Delivered => ("delivered", None),
        DeliveryEvent::Read => ("read", None),
        DeliveryEvent::Failed { code, message } => (
            "failed",
            Some(match code {
                Some(code) => format!("WhatsApp error {code}: {message}"),
                None => format!("WhatsApp: {message}"),
            }),
        ),
    };
    let rank = rank_of(state);
    let now = crate::db::now();
    let sql = |p: fn(usize) -> String| {
        format!(
            "INSERT INTO whatsapp_sent (remote_id, status, status_rank, error, updated_at) \
             VALUES ({}, {}, {}, {}, {}) ON CONFLICT (remote_id) DO UPDATE SET \
             status = excluded.status, status_rank = excluded.status_rank, \
             error = excluded.error, updated_at = excluded.updated_at \
             WHERE whatsapp_sent.status_rank < excluded.status_rank",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        )
    };
    let bind = |q: String| {
        diesel::sql_query(q)
            .bind::<Text, _>(report.remote_id.clone())
            .bind::<Text, _>(state)
            .bind::<Integer, _>(rank)
            .bind::<diesel::sql_types::Nullable<Text>, _>(error.clone())
            .bind::<Timestamp, _>(now)
    };
    let changed = match c {
        DbConn::Pg(c) => bind(sql(|n| format!("${n}"))).execute(c)?,
        DbConn::Sqlite(c) => bind(sql(|_| "?".into())).execute(c)?,
    };
    if changed == 0 {
        return Ok(());
    }
    let message: Option<Option<String>> = whatsapp_sent::table
        .find(&report.remote_id)
        .select(whatsapp_sent::message_id)
        .first(c)
        .optional()?;
    if let Some(Some(mid)) = message {
        apply_to_message(c, &mid, state, error.as_deref())?;
    }
    Ok(())
}

/// Moves our message's delivery state forward (sent -> delivered -> read; failed wins).
fn apply_to_message(
    c: &mut DbConn,
    mid: &str,
    state: &str,
    error: Option<&str>,
) -> Result<(), DbError> {
    let earlier: &[&str] = match state {
        "delivered" => &["queued", "retrying", "sent"],
        "read" => &["queued", "retrying", "sent", "delivered"],
        "failed" => &["queued", "retrying", "sent", "delivered", "read"],
        _ => return Ok(()),
    };
    let target = match state {
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        _ => DeliveryState::Failed,
    };
    let changed = diesel::update(
        messages::table
            .find(mid)
            .filter(messages::delivery_status.eq_any(earlier)),
    )
    .set((
        messages::delivery_status.eq(target.as_str()),
        (target == DeliveryState::Failed).then(|| messages::delivery_error.eq(error)),
    ))
    .execute(c)?;
    if changed > 0 && target == DeliveryState::Failed {
        let ticket: String = messages::table
            .find(mid)
            .select(messages::ticket_id)
            .first(c)?;
        crate::tickets::event(
            c,
            &ticket,
            "system",
            "delivery_failed",
            serde_json::json!({ "message_id": mid, "channel": "whatsapp", "error": error }),
        )?;
    }
    Ok(())
}

/// Handles one stored webhook body (a row of `raw_payloads`): the job makes a body
/// survive a restart, and makes several instances handle it once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhatsAppWebhook {
    pub raw_id: String,
}

impl Job for WhatsAppWebhook {
    const NAME: &'static str = "whatsapp_webhook";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("whatsapp_webhook:{}", self.raw_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let Some(adapter) = app.whatsapp.clone() else {
            return Err((
                "the WhatsApp channel is not configured on this server \
                 (BAYLANYS_WHATSAPP_TOKEN, BAYLANYS_WHATSAPP_PHONE_NUMBER_ID): the stored \
                 webhook waits for it"
                    .into(),
                Retry::After(None),
            ));
        };
        let raw_id = self.raw_id.clone();
        let stored: Option<Blob> = app
            .db
            .run(move |c| {
                Ok(raw_payloads::table
                    .find(&raw_id)
                    .filter(raw_payloads::status.eq(crate::quarantine::STORED))
                    .select(raw_payloads::content)
                    .first(c)
                    .optional()?)
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        // Handled already (or released by staff): nothing to do.
        let Some(Blob(body)) = stored else {
            return Ok(());
        };
        let bot = baylanys_whatsapp::WhatsAppBot::new(
            (*adapter).clone(),
            Arc::new(DbBackend::new(app.clone())),
        );
        let handled = bot
            .handle_body(&body)
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let raw_id = self.raw_id.clone();
        app.db
            .write(move |c| {
                if handled.quarantined.is_empty() {
                    diesel::update(raw_payloads::table.find(&raw_id))
                        .set(raw_payloads::status.eq(crate::quarantine::PROCESSED))
                        .execute(c)?;
                } else {
                    let reason = handled.quarantined.join("; ");
                    tracing::warn!(raw = %raw_id, %reason, "whatsapp webhook quarantined");
                    crate::quarantine::mark(c, &raw_id, &reason)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        Ok(())
    }
}

/// The server's [`ChatBackend`] for WhatsApp, over the shared state.
pub struct DbBackend {
    app: Arc<AppState>,
}

impl DbBackend {
    pub fn new(app: Arc<AppState>) -> DbBackend {
        DbBackend { app }
    }

    async fn write<T, F>(&self, f: F) -> Result<T, ChatError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.app
            .db
            .write(f)
            .await
            .map_err(|e| ChatError::Unavailable(e.to_string()))
    }

    async fn read<T, F>(&self, f: F) -> Result<T, ChatError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.app
            .db
            .run(f)
            .await
            .map_err(|e| ChatError::Unavailable(e.to_string()))
    }
}

fn status_code(status: &str) -> &str {
    match Status::parse(status) {
        Ok(Status::New) => "registered",
        Ok(Status::Open | Status::Waiting) => "in_progress",
        _ => status,
    }
}

impl ChatBackend for DbBackend {
    fn claim(&self, message_id: String) -> ChatFuture<'_, bool> {
        Box::pin(self.write(move |c| claim_message_id(c, &message_id)))
    }

    fn is_new(&self, message_id: String) -> ChatFuture<'_, bool> {
        Box::pin(self.read(move |c| {
            let seen: i64 = whatsapp_messages::table
                .find(message_id)
                .count()
                .get_result(c)?;
            Ok(seen == 0)
        }))
    }

    fn language(&self, address: String) -> ChatFuture<'_, Option<Language>> {
        Box::pin(self.read(move |c| {
            let lang: Option<Option<String>> = contacts::table
                .filter(contacts::whatsapp_id.eq(address))
                .select(contacts::language)
                .first(c)
                .optional()?;
            Ok(lang.flatten().and_then(|l| l.parse().ok()))
        }))
    }

    fn set_language(&self, address: String, language: Language) -> ChatFuture<'_, ()> {
        Box::pin(self.write(move |c| {
            let id = crate::tickets::contacts::whatsapp_user(c, &address)?;
            diesel::update(contacts::table.find(id))
                .set(contacts::language.eq(language.as_str()))
                .execute(c)?;
            Ok(())
        }))
    }

    fn request_new_appeal(&self, address: String) -> ChatFuture<'_, ()> {
        Box::pin(self.write(move |c| {
            let key = format!("wa:new:{address}");
            let now = crate::db::now();
            let n = diesel::update(channel_state::table.find(&key))
                .set((
                    channel_state::value.eq("1"),
                    channel_state::updated_at.eq(now),
                ))
                .execute(c)?;
            if n == 0 {
                diesel::insert_into(channel_state::table)
                    .values((
                        channel_state::key.eq(&key),
                        channel_state::value.eq("1"),
                        channel_state::updated_at.eq(now),
                    ))
                    .execute(c)?;
            }
            Ok(())
        }))
    }

    fn take_new_appeal_request(&self, address: String) -> ChatFuture<'_, bool> {
        Box::pin(async move {
            let key = format!("wa:new:{address}");
            // Nearly always unset: a read spares the single SQLite writer a transaction.
            let probe = key.clone();
            let set: i64 = self
                .read(move |c| Ok(channel_state::table.find(probe).count().get_result(c)?))
                .await?;
            if set == 0 {
                return Ok(false);
            }
            self.write(move |c| Ok(diesel::delete(channel_state::table.find(key)).execute(c)? > 0))
                .await
        })
    }

    fn intake(&self, mut message: InboundMessage) -> ChatFuture<'_, Option<ChatRegistered>> {
        Box::pin(async move {
            if message.language.is_none() {
                message.language = self.language(message.sender.address.clone()).await?;
            }
            let reg = self
                .app
                .registrar()
                .register(message)
                .await
                .map_err(|e| match e {
                    crate::tickets::intake::IntakeError::Deadline(m) => ChatError::Rejected(m),
                    other => ChatError::Unavailable(other.to_string()),
                })?;
            Ok(reg.added.then(|| ChatRegistered {
                number: reg.number,
                due_at_local: crate::templates::local_time(reg.due_at),
                new_ticket: reg.new_ticket,
            }))
        })
    }

    fn statuses(&self, address: String) -> ChatFuture<'_, Vec<ChatAppeal>> {
        Box::pin(self.read(move |c| {
            let rows: Vec<(String, String, chrono::NaiveDateTime)> = tickets::table
                .inner_join(contacts::table)
                .filter(contacts::whatsapp_id.eq(address))
                .order(tickets::id.desc())
                .limit(10)
                .select((tickets::number, tickets::status, tickets::due_at))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(number, status, due)| ChatAppeal {
                    number,
                    status: status_code(&status).to_string(),
                    due_at_local: crate::templates::local_time(due.and_utc()),
                })
                .collect())
        }))
    }

    fn record_rating(
        &self,
        ticket_number: String,
        from_address: String,
        rating: u8,
    ) -> ChatFuture<'_, ChatRating> {
        Box::pin(self.write(move |c| {
            let number = ticket_number.to_ascii_uppercase();
            let owner: Option<(String, Option<String>)> = tickets::table
                .inner_join(contacts::table)
                .filter(tickets::number.eq(&number))
                .select((tickets::id, contacts::whatsapp_id))
                .first(c)
                .optional()?;
            let Some((ticket_id, Some(owner))) = owner else {
                return Ok(ChatRating::Unknown);
            };
            if owner != from_address {
                return Ok(ChatRating::Unknown);
            }
            // R10: only a conversation that asked for a rating (a request that did not fail).
            let asked: i64 = messages::table
                .filter(messages::ticket_id.eq(&ticket_id))
                .filter(messages::direction.eq(Direction::Out.as_str()))
                .filter(messages::kind.eq(MessageKind::RatingRequest.as_str()))
                .filter(messages::delivery_status.ne(DeliveryState::Failed.as_str()))
                .count()
                .get_result(c)?;
            if asked == 0 {
                return Ok(ChatRating::Unknown);
            }
            let actor = format!("whatsapp:{from_address}");
            Ok(
                match crate::tickets::rate(c, &number, i32::from(rating), &actor)? {
                    crate::tickets::RatingOutcome::Recorded => ChatRating::Recorded,
                    crate::tickets::RatingOutcome::AlreadyRated => ChatRating::AlreadyRated,
                    crate::tickets::RatingOutcome::Unknown => ChatRating::Unknown,
                },
            )
        }))
    }

    fn delivery_report(&self, report: DeliveryReport) -> ChatFuture<'_, ()> {
        Box::pin(self.write(move |c| apply_report(c, &report)))
    }

    fn quarantine(&self, raw: Vec<u8>, reason: String) -> ChatFuture<'_, ()> {
        Box::pin(self.write(move |c| {
            let key = format!("whatsapp:item:{}", crate::auth::sha256_hex(&raw));
            crate::quarantine::store_raw(
                c,
                Channel::WhatsApp,
                Some(&key),
                &raw,
                crate::quarantine::QUARANTINED,
                Some(&reason),
            )?;
            Ok(())
        }))
    }
}
