//! The Telegram channel's server side: the backend the bot talks to (chat settings,
//! update log, offset, quarantine, intake) over the database.

use std::sync::Arc;

use baylanys_core::{Channel, InboundMessage, Language};
use baylanys_telegram::{
    AppealStatus, BackendError, BackendFuture, RatingOutcome, Registered, TelegramBackend,
};
use diesel::prelude::*;

use crate::AppState;
use crate::db::schema::{channel_state, contacts, messages, telegram_updates, tickets};
use crate::db::{DbConn, DbError};
use crate::tickets::{DeliveryState, Direction, MessageKind, Status};

/// The server's [`TelegramBackend`], over the shared state (which does not hold the bot,
/// so the two never keep each other alive).
pub struct DbBackend {
    app: Arc<AppState>,
}

impl DbBackend {
    pub fn new(app: Arc<AppState>) -> DbBackend {
        DbBackend { app }
    }

    fn app(&self) -> Result<&Arc<AppState>, BackendError> {
        Ok(&self.app)
    }

    async fn run<T, F>(&self, f: F) -> Result<T, BackendError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.app()?
            .db
            .write(f)
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))
    }

    /// A read that needs no write lock.
    async fn read<T, F>(&self, f: F) -> Result<T, BackendError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.app()?
            .db
            .run(f)
            .await
            .map_err(|e| BackendError::Unavailable(e.to_string()))
    }
}

/// The Telegram update id a message came from, if it came from Telegram.
pub fn update_id_of(msg: &InboundMessage) -> Option<i64> {
    if msg.channel != Channel::Telegram {
        return None;
    }
    msg.external_id.as_deref()?.parse().ok()
}

/// Takes a Telegram update id, insert-or-skip: true for the one transaction that took it.
/// The primary key decides between overlapping copies, on both engines (a concurrent
/// copy on PostgreSQL waits for the first transaction and then skips).
pub fn claim_update_id(c: &mut DbConn, update_id: i64) -> Result<bool, DbError> {
    use diesel::sql_types::{BigInt, Timestamp};
    let sql = |a: &str, b: &str| {
        format!(
            "INSERT INTO telegram_updates (update_id, handled_at) VALUES ({a}, {b}) \
             ON CONFLICT (update_id) DO NOTHING"
        )
    };
    let now = crate::db::now();
    let inserted = match c {
        DbConn::Pg(c) => diesel::sql_query(sql("$1", "$2"))
            .bind::<BigInt, _>(update_id)
            .bind::<Timestamp, _>(now)
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(sql("?", "?"))
            .bind::<BigInt, _>(update_id)
            .bind::<Timestamp, _>(now)
            .execute(c)?,
    };
    Ok(inserted == 1)
}

fn get_state(c: &mut DbConn, key: &str) -> Result<Option<String>, DbError> {
    Ok(channel_state::table
        .find(key)
        .select(channel_state::value)
        .first(c)
        .optional()?)
}

fn set_state(c: &mut DbConn, key: &str, value: &str) -> Result<(), DbError> {
    let now = crate::db::now();
    let n = diesel::update(channel_state::table.find(key))
        .set((
            channel_state::value.eq(value),
            channel_state::updated_at.eq(now),
        ))
        .execute(c)?;
    if n == 0 {
        diesel::insert_into(channel_state::table)
            .values((
                channel_state::key.eq(key),
                channel_state::value.eq(value),
                channel_state::updated_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Forgets handled update ids older than `days`: the stored offset already keeps
/// Telegram from sending them again; the ids only guard against a redelivery soon after.
pub fn prune_update_log(c: &mut DbConn, days: i64) -> Result<usize, DbError> {
    let before = crate::db::now() - chrono::Duration::days(days);
    Ok(
        diesel::delete(telegram_updates::table.filter(telegram_updates::handled_at.lt(before)))
            .execute(c)?,
    )
}

/// The statuses the bot words in the chat's language.
fn status_code(status: &str) -> &str {
    match Status::parse(status) {
        Ok(Status::New) => "registered",
        Ok(Status::Open | Status::Waiting) => "in_progress",
        _ => status,
    }
}

impl TelegramBackend for DbBackend {
    fn stage_text(
        &self,
        argument: String,
        language: Option<Language>,
    ) -> BackendFuture<'_, Option<String>> {
        Box::pin(async move {
            let app = self.app()?;
            let language = language.unwrap_or(Language::Ru);
            let args = serde_json::json!({});
            let text = match crate::registry::stage::check_application(&argument) {
                Ok(number) => {
                    let found = crate::registry::stage::lookup(&app.config.registry, &number).await;
                    crate::registry::stage::message(&app.templates, &found, &number, language)
                }
                Err(_) => app
                    .templates
                    .telegram_text("stage_usage", language, &args)
                    .map_err(|e| BackendError::Unavailable(e.to_string()))?,
            };
            Ok(Some(text))
        })
    }

    fn update_is_new(&self, update_id: i64) -> BackendFuture<'_, bool> {
        Box::pin(self.read(move |c| {
            let seen: i64 = telegram_updates::table
                .find(update_id)
                .count()
                .get_result(c)?;
            Ok(seen == 0)
        }))
    }

    fn claim_update(&self, update_id: i64) -> BackendFuture<'_, bool> {
        Box::pin(self.run(move |c| claim_update_id(c, update_id)))
    }

    fn chat_language(&self, chat_id: i64) -> BackendFuture<'_, Option<Language>> {
        Box::pin(self.run(move |c| {
            let lang: Option<Option<String>> = contacts::table
                .filter(contacts::telegram_chat_id.eq(chat_id.to_string()))
                .select(contacts::language)
                .first(c)
                .optional()?;
            Ok(lang.flatten().and_then(|l| l.parse().ok()))
        }))
    }

    fn set_chat_language(&self, chat_id: i64, language: Language) -> BackendFuture<'_, ()> {
        Box::pin(self.run(move |c| {
            let id = crate::tickets::contacts::telegram_chat(c, &chat_id.to_string())?;
            diesel::update(contacts::table.find(id))
                .set(contacts::language.eq(language.as_str()))
                .execute(c)?;
            Ok(())
        }))
    }

    fn set_chat_phone(&self, chat_id: i64, phone: String) -> BackendFuture<'_, ()> {
        Box::pin(self.run(move |c| {
            let id = crate::tickets::contacts::telegram_chat(c, &chat_id.to_string())?;
            diesel::update(contacts::table.find(id))
                .set(contacts::phone.eq(phone))
                .execute(c)?;
            Ok(())
        }))
    }

    fn link_chat(
        &self,
        chat_id: i64,
        code: String,
    ) -> BackendFuture<'_, baylanys_telegram::LinkOutcome> {
        Box::pin(async move {
            let now = self.app()?.clock.now();
            let linked = self
                .run(move |c| crate::outages::links::link(c, chat_id, &code, now))
                .await?;
            Ok(match linked {
                Some(name) => baylanys_telegram::LinkOutcome::Linked { name },
                None => baylanys_telegram::LinkOutcome::Unknown,
            })
        })
    }

    fn request_new_appeal(&self, chat_id: i64) -> BackendFuture<'_, ()> {
        Box::pin(self.run(move |c| set_state(c, &format!("tg:new:{chat_id}"), "1")))
    }

    fn take_new_appeal_request(&self, chat_id: i64) -> BackendFuture<'_, bool> {
        Box::pin(self.run(move |c| {
            let key = format!("tg:new:{chat_id}");
            Ok(diesel::delete(channel_state::table.find(key)).execute(c)? > 0)
        }))
    }

    fn intake(&self, mut message: InboundMessage) -> BackendFuture<'_, Option<Registered>> {
        Box::pin(async move {
            let app = self.app()?.clone();
            if message.language.is_none() {
                let chat = message.sender.address.parse::<i64>().unwrap_or_default();
                message.language = self.chat_language(chat).await?;
            }
            // Intake claims the update id in its own transaction: a copy adds nothing.
            let reg = app
                .registrar()
                .register(message)
                .await
                .map_err(|e| match e {
                    crate::tickets::intake::IntakeError::Deadline(m) => BackendError::Rejected(m),
                    other => BackendError::Unavailable(other.to_string()),
                })?;
            Ok(reg.added.then(|| Registered {
                number: reg.number,
                due_at_local: crate::templates::local_time(reg.due_at),
                new_ticket: reg.new_ticket,
            }))
        })
    }

    fn statuses(&self, chat_id: i64) -> BackendFuture<'_, Vec<AppealStatus>> {
        Box::pin(self.run(move |c| {
            let rows: Vec<(String, String, chrono::NaiveDateTime)> = tickets::table
                .inner_join(contacts::table)
                .filter(contacts::telegram_chat_id.eq(chat_id.to_string()))
                .order(tickets::id.desc())
                .limit(10)
                .select((tickets::number, tickets::status, tickets::due_at))
                .load(c)?;
            Ok(rows
                .into_iter()
                .map(|(number, status, due)| AppealStatus {
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
        from_user: i64,
        rating: u8,
    ) -> BackendFuture<'_, RatingOutcome> {
        Box::pin(self.run(move |c| {
            let number = ticket_number.to_ascii_uppercase();
            let owner: Option<(String, Option<String>)> = tickets::table
                .inner_join(contacts::table)
                .filter(tickets::number.eq(&number))
                .select((tickets::id, contacts::telegram_chat_id))
                .first(c)
                .optional()?;
            // Only the applicant: the person who pressed, not whatever chat the button is in.
            let Some((ticket_id, Some(chat))) = owner else {
                return Ok(RatingOutcome::Unknown);
            };
            if chat != from_user.to_string() {
                return Ok(RatingOutcome::Unknown);
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
                return Ok(RatingOutcome::Unknown);
            }
            let actor = format!("telegram:{from_user}");
            Ok(
                match crate::tickets::rate(c, &number, i32::from(rating), &actor)? {
                    crate::tickets::RatingOutcome::Recorded => RatingOutcome::Recorded,
                    crate::tickets::RatingOutcome::AlreadyRated => RatingOutcome::AlreadyRated,
                    crate::tickets::RatingOutcome::Unknown => RatingOutcome::Unknown,
                },
            )
        }))
    }

    fn quarantine(&self, raw_update: String, reason: String) -> BackendFuture<'_, ()> {
        Box::pin(self.run(move |c| {
            // Copies of one update (a redelivered webhook) are one entry: the key is unique.
            let key = format!(
                "telegram:{}",
                crate::auth::sha256_hex(raw_update.as_bytes())
            );
            crate::quarantine::store_raw(
                c,
                Channel::Telegram,
                Some(&key),
                raw_update.as_bytes(),
                crate::quarantine::QUARANTINED,
                Some(&reason),
            )?;
            Ok(())
        }))
    }

    fn load_offset(&self) -> BackendFuture<'_, i64> {
        Box::pin(self.run(|c| {
            Ok(get_state(c, "tg:offset")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0))
        }))
    }

    fn save_offset(&self, offset: i64) -> BackendFuture<'_, ()> {
        Box::pin(self.run(move |c| set_state(c, "tg:offset", &offset.to_string())))
    }
}
