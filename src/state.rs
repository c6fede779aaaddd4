//! What every part of the server shares: settings, the database, the calendar, the
//! templates, the outgoing channels, the job wake-up and the clock. No web types: the
//! HTTP layer keeps its own ([`crate::web::WebState`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use baylanys_core::{Channel, ChannelAdapter};

use crate::calendar::{self, Calendar};
use crate::config::Config;
use crate::db::{self, Db, DbError};
use crate::templates::Templates;
use crate::tickets::intake::IntakeContext;
use crate::tickets::registrar::Registrar;
use crate::{StartError, clock};

/// The running application's shared state, handed to every request handler and task.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    calendar: RwLock<Arc<Calendar>>,
    pub templates: Arc<Templates>,
    pub jobs_wakeup: tokio::sync::Notify,
    pub adapters: HashMap<Channel, Arc<dyn ChannelAdapter>>,
    /// The WhatsApp adapter itself (also among `adapters`): the webhook job answers
    /// through it.
    pub whatsapp: Option<Arc<baylanys_whatsapp::WhatsAppAdapter>>,
    /// The group-commit registrar, started on first use; its threads hold this state
    /// weakly, so the two never keep each other alive.
    registrar: OnceLock<Registrar>,
    /// Registration-number sequences known to exist (PostgreSQL).
    sequences: std::sync::Mutex<Vec<String>>,
    /// The domain of our Message-IDs, from the sender address.
    pub mail_domain: String,
    /// Cancelled on shutdown: background work (jobs, polling, the mailbox) stops.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The time for job claims and timers (tests inject a manual clock).
    pub clock: Arc<dyn clock::Clock>,
    /// When the background loops last went round (`/readyz`).
    pub beats: Beats,
}

/// Unix seconds (wall clock) of each background loop's last round; 0: not yet.
#[derive(Debug, Default)]
pub struct Beats {
    pub worker: std::sync::atomic::AtomicI64,
    pub timers: std::sync::atomic::AtomicI64,
}

impl Beats {
    pub fn beat(slot: &std::sync::atomic::AtomicI64) {
        slot.store(
            chrono::Utc::now().timestamp(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl AppState {
    /// Connects and migrates the database and loads the calendar's stored overrides;
    /// no channel is attached yet (see [`AppState::with_adapter`]).
    pub async fn open(config: Config) -> Result<AppState, StartError> {
        let db = Db::open(
            &config.database_url,
            db::OpenOptions {
                pool_size: config.pool_size,
                create: config.create_database,
                synchronous: config.sqlite_synchronous,
                background_checkpoint: true,
            },
        )?;
        let migrate_db = db.clone();
        tokio::task::spawn_blocking(move || migrate_db.migrate())
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        AppState::with_db(config, db).await
    }

    /// For a one-shot command that stores one message (`ingest-email`): opens the
    /// existing database lazily and checks its schema version instead of migrating.
    pub async fn open_for_intake(config: Config) -> Result<AppState, StartError> {
        let db = Db::open_one_shot(&config.database_url, config.sqlite_synchronous)?;
        let check_db = db.clone();
        tokio::task::spawn_blocking(move || check_db.check_schema())
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        AppState::with_db(config, db).await
    }

    async fn with_db(config: Config, db: Db) -> Result<AppState, StartError> {
        let calendar = calendar::store::load(&db).await?;
        Ok(AppState {
            mail_domain: crate::tickets::mail_domain(&config.mail_from).to_string(),
            config,
            db,
            calendar: RwLock::new(Arc::new(calendar)),
            templates: Arc::new(Templates::new()),
            jobs_wakeup: tokio::sync::Notify::new(),
            adapters: HashMap::new(),
            whatsapp: None,
            registrar: OnceLock::new(),
            sequences: std::sync::Mutex::new(Vec::new()),
            shutdown: tokio_util::sync::CancellationToken::new(),
            clock: Arc::new(clock::SystemClock),
            beats: Beats::default(),
        })
    }

    /// [`AppState::open`], shared: for commands that use the state as it is.
    pub async fn build(config: Config) -> Result<Arc<AppState>, StartError> {
        Ok(Arc::new(AppState::open(config).await?))
    }

    /// Replaces the clock (tests move a manual one).
    pub fn with_clock(mut self, clock: Arc<dyn clock::Clock>) -> AppState {
        self.clock = clock;
        self
    }

    /// Adds an outgoing channel.
    pub fn with_adapter(mut self, adapter: Arc<dyn ChannelAdapter>) -> AppState {
        self.adapters.insert(adapter.channel(), adapter);
        self
    }

    /// Adds the WhatsApp channel: its outgoing adapter and the webhook job's bot.
    pub fn with_whatsapp(mut self, adapter: baylanys_whatsapp::WhatsAppAdapter) -> AppState {
        let adapter = Arc::new(adapter);
        self.adapters.insert(Channel::WhatsApp, adapter.clone());
        self.whatsapp = Some(adapter);
        self
    }

    /// The calendar as of now (overrides included).
    pub fn calendar(&self) -> Arc<Calendar> {
        self.calendar
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Creates this year's and next year's registration-number sequences (PostgreSQL),
    /// committed before any registration uses them.
    pub async fn prepare_numbers(self: &Arc<Self>) -> Result<(), DbError> {
        use chrono::Datelike;
        let year = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Almaty)
            .year();
        let app = self.clone();
        self.db
            .run(move |c| {
                crate::tickets::numbers::prepare_sequences(
                    c,
                    &app.config.registration_prefix,
                    &[year, year + 1],
                    &app.sequences,
                )
            })
            .await
    }

    /// Hourly: forgets finished jobs after 30 days and Telegram update ids after 7.
    pub async fn housekeeping(&self) {
        let pruned = self
            .db
            .write(|c| {
                Ok((
                    crate::jobs::prune_done(c, 30)?,
                    crate::telegram::prune_update_log(c, 7)?
                        + crate::whatsapp::prune_message_log(c, 7)?
                        + crate::tickets::registrar::prune_idempotency_keys(c)?
                        + crate::console::sessions::forget_old(c, chrono::Utc::now())?,
                ))
            })
            .await;
        match pruned {
            Ok((jobs, updates)) if jobs + updates > 0 => {
                tracing::info!(jobs, updates, "housekeeping removed old rows")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }

    /// Re-reads the stored overrides: after an edit here, or periodically for edits made
    /// through another instance.
    pub async fn reload_calendar(&self) -> Result<(), DbError> {
        let fresh = calendar::store::load(&self.db).await?;
        *self.calendar.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    pub fn intake_context<'a>(&'a self, calendar: &'a Calendar) -> IntakeContext<'a> {
        IntakeContext {
            calendar,
            hours: &self.config.working_hours,
            prefix: &self.config.registration_prefix,
            public_url: &self.config.public_url,
            templates: &self.templates,
            mail_domain: &self.mail_domain,
            acks_per_sender_per_hour: self.config.acks_per_sender_per_hour,
            follow_ups_per_sender_per_hour: self.config.follow_ups_per_sender_per_hour,
            email_enabled: self.adapters.contains_key(&Channel::Email),
            sequences: &self.sequences,
            numbers: Default::default(),
            vocab_words: Default::default(),
            stemmed: Default::default(),
            ict: &self.config.registry.ict,
        }
    }

    /// The group-commit registrar (started on first use).
    pub fn registrar(self: &Arc<Self>) -> &Registrar {
        self.registrar
            .get_or_init(|| Registrar::start(Arc::downgrade(self), self.db.engine))
    }

    /// Stops the registrar's threads once what they hold is committed, and waits for
    /// them; returns how many ended. Later registrations are refused as "stopped".
    pub fn stop_registrar(&self) -> usize {
        self.registrar.get().map_or(0, Registrar::stop)
    }

    /// What operator actions need to write to the applicant.
    pub fn outbox(&self) -> crate::tickets::Outbox<'_> {
        crate::tickets::Outbox {
            templates: &self.templates,
            email_enabled: self.email_enabled(),
            mail_domain: &self.mail_domain,
        }
    }

    pub fn email_enabled(&self) -> bool {
        self.adapters.contains_key(&Channel::Email)
    }
}
