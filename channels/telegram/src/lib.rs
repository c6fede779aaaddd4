//! The Telegram channel of Baylanys (R2): a bot through which applicants file appeals,
//! follow them and rate the answers, and the adapter through which the server writes to
//! them.
//!
//! # Pieces
//! - [`TelegramConfig`]: token, Bot API URL (`BAYLANYS_TELEGRAM_API_URL` points at a
//!   self-hosted Bot API or the tests' fake), webhook secret, rate limits, file size cap.
//! - [`TelegramBackend`]: what the server implements over its database (dedupe of
//!   update ids, chat language and phone, intake, statuses, ratings, quarantine, offset).
//! - [`TelegramBot`]: the conversation. [`TelegramBot::handle_update`] takes one raw
//!   update; [`TelegramBot::handle_webhook`] checks the secret header first and says
//!   which HTTP status to answer; [`TelegramBot::run_polling`] is the long-polling loop.
//! - [`TelegramAdapter`]: the core [`baylanys_core::ChannelAdapter`] for outbound
//!   messages, paced by a [`RateLimiter`] (30/s overall, 1/s per chat by default).
//! - `fake_api` (feature `fake-api`): a local fake Bot API server for tests.
//!
//! # Who acknowledges a new appeal
//! The server's acknowledgement job does, through [`TelegramAdapter`], as on every
//! channel: so the acknowledgement with number and deadline (R4, R5) is retried,
//! recorded, and written from the same templates; so does "added to your appeal No. X"
//! when a message joins an open ticket (queued by the server's intake), so no webhook call
//! or polled batch waits on a chat's pacing; the note on a file not taken (too large,
//! download failed) travels in `fields["telegram_files_skipped"][i]["notice"]` for the
//! server to queue the same way. The bot's immediate answers are to commands and
//! buttons, and to updates it does not register (text too long, intake refused).
//! [`TelegramConfig::bot_acknowledges`] switches the bot to say all of these itself, for
//! a deployment without that job queue.
//!
//! # Never lose, never repeat
//! Updates are handled at least once and acted on once: the backend claims each update id
//! with an insert-or-skip (a message in its intake transaction), so overlapping copies of
//! one update (Telegram retries a slow webhook) add and say nothing; an update that cannot
//! be parsed or handled, or whose text or caption is over Telegram's limits (4,096 and
//! 1,024 UTF-16 units), is quarantined whole with the reason; an
//! update the backend cannot take now (database down) is not acknowledged to Telegram
//! (polling: the offset does not move; webhook: 503), so Telegram delivers it again.

//! # Wiring into the server
//! ```text
//! let config = TelegramConfig::from_env()?.expect("BAYLANYS_TELEGRAM_TOKEN set");
//! let backend: Arc<dyn TelegramBackend> = Arc::new(DbTelegramBackend::new(pool.clone()));
//! let telegram = Arc::new(TelegramBot::new(config, backend));
//! // Outbound: register the adapter with the job workers (it shares the bot's pacing).
//! adapters.insert(Channel::Telegram, Arc::new(telegram.adapter()) as Arc<dyn ChannelAdapter>);
//!
//! // Webhook mode: any number of instances, no lock.
//! async fn telegram_webhook(
//!     req: HttpRequest,
//!     body: web::Bytes,
//!     telegram: web::Data<TelegramBot>,
//! ) -> HttpResponse {
//!     let secret = req.headers().get(SECRET_HEADER).and_then(|v| v.to_str().ok());
//!     let outcome = telegram.handle_webhook(secret, &body).await;
//!     HttpResponse::build(StatusCode::from_u16(outcome.http_status()).unwrap()).finish()
//! }
//! // route: POST /telegram/webhook: ask `webhook_secret_ok` before reading the body, and
//! // read at most what an update can be (the server: 1 MiB; larger goes to quarantine)
//!
//! // Polling mode: one instance, while it holds the PostgreSQL advisory lock.
//! tokio::spawn(async move { telegram.run_polling(shutdown_signal).await });
//!
//! // CLI `baylanys telegram set-webhook URL` (and `delete-webhook` to go back to polling):
//! set_webhook(&config.bot(), url, config.webhook_secret.as_deref().unwrap_or_default()).await?;
//! ```
//! The `TelegramBackend` methods run on the caller's tokio runtime: put the diesel calls
//! on a blocking thread inside them (`spawn_blocking`), as everywhere in the server.
//!
//! # Limits
//! The pacing is FIFO across all sends of one process: during a broadcast to many chats
//! the bot's own replies wait their turn behind it. Pacing is per process, so two
//! instances sending at once can together exceed 30/s; Telegram then answers 429 and
//! the adapter returns `Temporary` with `retry_after` for the job queue to honour.

mod adapter;
mod backend;
mod config;
mod conversation;
mod polling;
mod rate;
pub mod texts;

#[cfg(feature = "fake-api")]
pub mod fake_api;

pub use adapter::{
    CALLBACK_DATA_LIMIT, MESSAGE_LIMIT, TelegramAdapter, classify, rating_keyboard, split_text,
};
pub use backend::{
    AppealStatus, BackendError, BackendFuture, LinkOutcome, RatingOutcome, Registered,
    TelegramBackend,
};
pub use config::{ConfigError, TelegramConfig, parse_api_url};
pub use conversation::{HandleError, Handled, TelegramBot, WebhookOutcome};
pub use polling::{ALLOWED_UPDATES, PollingError, WebhookSetupError, delete_webhook, set_webhook};
pub use rate::RateLimiter;

/// The teloxide version this crate speaks, re-exported so the server names the same types.
pub use teloxide;

/// The webhook header Telegram sends the secret token in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
