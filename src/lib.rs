//! Baylanys: the omnichannel messaging and ticketing server of a Unified Contact Center.
//!
//! [`App::build`] makes the application from a [`config::Config`]; [`serve`] binds it and
//! starts the HTTP server, the registrar and the job worker. Tests use the same path.

pub mod auth;
pub mod calendar;
pub mod channels;
pub mod clock;
pub mod config;
pub mod db;
pub mod jobs;
pub mod mail;
pub mod quarantine;
pub mod queues;
pub mod telegram;
pub mod templates;
pub mod tickets;
pub mod web;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock, RwLock};

use baylanys_core::{Channel, ChannelAdapter};

use crate::calendar::Calendar;
use crate::config::Config;
use crate::db::{Db, DbError};
use crate::templates::Templates;
use crate::tickets::intake::IntakeContext;
use crate::tickets::registrar::Registrar;

/// The running application, shared by every request handler and background task.
pub struct App {
    pub config: Config,
    pub db: Db,
    calendar: RwLock<Arc<Calendar>>,
    pub templates: Arc<Templates>,
    pub jobs_wakeup: tokio::sync::Notify,
    pub adapters: HashMap<Channel, Arc<dyn ChannelAdapter>>,
    registrar: OnceLock<Registrar>,
    /// Registration-number sequences known to exist (PostgreSQL).
    sequences: std::sync::Mutex<Vec<String>>,
    /// The Telegram bot, when a token is configured (webhook updates are handed to it).
    pub telegram: OnceLock<Arc<baylanys_telegram::TelegramBot>>,
    pub metrics: web::metrics::Metrics,
    pub rate_limiter: web::ratelimit::RateLimiter,
    /// Cancelled on shutdown: background work (jobs, polling, the mailbox) stops.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The time for job claims and timers (tests inject a manual clock).
    pub clock: Arc<dyn clock::Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("{0}")]
    Channel(String),
}

impl App {
    /// Connects and migrates the database and loads the calendar's stored overrides.
    pub async fn build(config: Config) -> Result<Arc<App>, StartError> {
        let db = Db::open(
            &config.database_url,
            db::OpenOptions {
                pool_size: config.pool_size,
                create: config.create_database,
                synchronous: config.sqlite_synchronous,
            },
        )?;
        let migrate_db = db.clone();
        tokio::task::spawn_blocking(move || migrate_db.migrate())
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))??;
        let calendar = calendar::store::load(&db).await?;
        crate::tickets::set_outbound_domain(crate::tickets::mail_domain(&config.mail_from));
        let adapters = HashMap::new();
        Ok(Arc::new(App {
            rate_limiter: web::ratelimit::RateLimiter::new(config.rate_limit_per_minute),
            config,
            db,
            calendar: RwLock::new(Arc::new(calendar)),
            templates: Arc::new(Templates::new()),
            jobs_wakeup: tokio::sync::Notify::new(),
            adapters,
            registrar: OnceLock::new(),
            sequences: std::sync::Mutex::new(Vec::new()),
            telegram: OnceLock::new(),
            metrics: web::metrics::Metrics::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            clock: Arc::new(clock::SystemClock),
        }))
    }

    /// Replaces the clock; only before the application is shared.
    pub fn with_clock(mut self: Arc<Self>, clock: Arc<dyn clock::Clock>) -> Arc<Self> {
        let app = Arc::get_mut(&mut self).expect("the clock is set before the app is shared");
        app.clock = clock;
        self
    }

    /// Adds an outgoing channel; only before the application is shared.
    pub fn with_adapter(mut self: Arc<Self>, adapter: Arc<dyn ChannelAdapter>) -> Arc<Self> {
        let app = Arc::get_mut(&mut self).expect("adapters are added before the app is shared");
        app.adapters.insert(adapter.channel(), adapter);
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
                        + crate::tickets::registrar::prune_idempotency_keys(c)?,
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
            acks_per_sender_per_hour: self.config.acks_per_sender_per_hour,
            follow_ups_per_sender_per_hour: self.config.follow_ups_per_sender_per_hour,
            email_enabled: self.adapters.contains_key(&Channel::Email),
            sequences: &self.sequences,
            numbers: Default::default(),
        }
    }

    /// The group-commit registrar (started on first use).
    pub fn registrar(self: &Arc<Self>) -> &Registrar {
        self.registrar
            .get_or_init(|| Registrar::start(self.clone()))
    }

    pub fn email_enabled(&self) -> bool {
        self.adapters.contains_key(&Channel::Email)
    }
}

/// A running server: its address and a handle to stop it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub server: actix_web::dev::ServerHandle,
    pub app: Arc<App>,
}

impl Running {
    /// Stops background work and the HTTP server (letting requests in flight finish).
    pub async fn stop(&self) {
        self.app.shutdown.cancel();
        self.server.stop(true).await;
    }
}

/// Binds the listener, starts the HTTP server, the job worker, the timers and the
/// calendar refresher.
/// The returned future resolves when the server stops.
pub fn serve(
    app: Arc<App>,
    listener: TcpListener,
) -> Result<(Running, actix_web::dev::Server), StartError> {
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Bind(app.config.listen.clone(), e))?;
    let server = web::server(app.clone(), listener)
        .map_err(|e| StartError::Bind(app.config.listen.clone(), e))?;
    let handle = server.handle();
    let _ = app.registrar();
    tokio::spawn(jobs::worker::run(app.clone()));
    tokio::spawn(jobs::timers::run(app.clone()));
    let refresher = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        let mut minutes = 0u64;
        loop {
            tokio::select! {
                _ = refresher.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if minutes.is_multiple_of(60) {
                refresher.housekeeping().await;
            }
            minutes += 1;
            if let Err(e) = refresher.reload_calendar().await {
                tracing::warn!(error = %e, "calendar refresh failed");
            }
            // The first tick runs at once; a registration that comes even earlier creates
            // its sequence itself.
            if let Err(e) = refresher.prepare_numbers().await {
                tracing::warn!(error = %e, "preparing registration-number sequences failed");
            }
        }
    });
    Ok((
        Running {
            addr,
            server: handle,
            app,
        },
        server,
    ))
}
