//! Baylanys: the omnichannel messaging and ticketing server of a Unified Contact Center.
//!
//! [`Application::build`] makes the application from a [`config::Config`] and
//! [`Builder::start`] runs it: the HTTP server, the registrar, the job worker, the timers
//! and the channels; [`Application::stop`] ends them all. `main`, the tests and the
//! examples use the same path. Everything below receives the shared [`AppState`].

/// Maps a state enum to the text stored in its column, in one place: `as_str` writes it,
/// `parse` reads it back, `ALL` lists the values.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Result<$name, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| {
                        let all: Vec<&str> = $name::ALL.iter().map(|x| x.as_str()).collect();
                        format!(concat!("unknown ", $what, " `{}`: expected one of {}"), s, all.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

pub mod auth;
pub mod backup;
pub mod calendar;
pub mod calls;
pub mod channels;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod doctor;
pub mod forwards;
pub mod jobs;
pub mod kb;
pub mod logging;
pub mod mail;
pub mod outages;
pub mod quarantine;
pub mod queues;
pub mod ratings;
pub mod registry;
pub mod reports;
pub mod retention;
pub mod search;
pub mod state;
pub mod telegram;
pub mod templates;
pub mod tickets;
pub mod users;
pub mod web;
pub mod webhooks;
pub mod whatsapp;

use std::net::TcpListener;
use std::sync::Arc;

use crate::db::DbError;
pub use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("{0}")]
    Channel(String),
}

/// The server being put together: a state and what to add to it before it runs.
pub struct Builder {
    state: AppState,
    listener: Option<TcpListener>,
}

impl Builder {
    /// A channel beside those the configuration asks for (tests record what is sent).
    pub fn with_adapter(mut self, adapter: Arc<dyn baylanys_core::ChannelAdapter>) -> Builder {
        self.state = self.state.with_adapter(adapter);
        self
    }

    /// The time for timers and job claims (tests move a manual clock).
    pub fn with_clock(mut self, clock: Arc<dyn clock::Clock>) -> Builder {
        self.state = self.state.with_clock(clock);
        self
    }

    /// Serve on this listener instead of binding `config.listen` (tests bind port 0).
    pub fn with_listener(mut self, listener: TcpListener) -> Builder {
        self.listener = Some(listener);
        self
    }

    /// Attaches the configured channels, binds, and starts everything: the HTTP server,
    /// the registrar, the job worker, the timers, the housekeeping and the listeners.
    pub async fn start(self) -> Result<Application, StartError> {
        let listener = match self.listener {
            Some(l) => l,
            None => TcpListener::bind(&self.state.config.listen)
                .map_err(|e| StartError::Bind(self.state.config.listen.clone(), e))?,
        };
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(self.state.config.listen.clone(), e))?;
        let (state, telegram) = channels::add_adapters(self.state)?;
        let state = Arc::new(state);
        let (bot, mut tasks) = channels::start_listeners(&state, telegram);
        let site = web::WebState::new(&state.config, bot);
        let server = web::server(state.clone(), site, listener)
            .map_err(|e| StartError::Bind(state.config.listen.clone(), e))?;
        let handle = server.handle();
        let lmtp_addr = match &state.config.lmtp_listen {
            Some(at) => {
                let (listener, addr) = bind_lmtp(at)?;
                tasks.push(tokio::spawn(mail::lmtp::run_lmtp(state.clone(), listener)));
                Some(addr)
            }
            None => None,
        };
        let _ = state.registrar();
        tasks.push(tokio::spawn(jobs::worker::run(state.clone())));
        tasks.push(tokio::spawn(jobs::timers::run(state.clone())));
        tasks.push(tokio::spawn(refresh(state.clone())));
        tasks.push(tokio::spawn(seal_audit_log(state.clone())));
        tasks.push(tokio::spawn(index_for_search(state.clone())));
        let server = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "the HTTP server stopped with an error");
            }
        });
        Ok(Application {
            addr,
            lmtp_addr,
            state,
            handle,
            server: Some(server),
            tasks,
        })
    }
}

/// The LMTP listener on `at` (`127.0.0.1:0` in tests picks a free port).
fn bind_lmtp(at: &str) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), StartError> {
    let bind = |e| StartError::Bind(format!("{at} (LMTP)"), e);
    let std = TcpListener::bind(at).map_err(bind)?;
    std.set_nonblocking(true).map_err(bind)?;
    let addr = std.local_addr().map_err(bind)?;
    Ok((tokio::net::TcpListener::from_std(std).map_err(bind)?, addr))
}

/// How often the sealer chains the audit events written since (they are tamper-evident
/// from then on).
const SEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Chains new audit events (and an older release's) into their tickets' chains, a few
/// tickets per transaction, until shutdown. With several instances they take turns per
/// ticket (its row is locked while it is sealed).
async fn seal_audit_log(state: Arc<AppState>) {
    while !state.shutdown.is_cancelled() {
        loop {
            match state
                .db
                .write(|c| tickets::audit::seal_pending(c, 100))
                .await
            {
                Ok(0) => break,
                Ok(_) if state.shutdown.is_cancelled() => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "sealing audit events failed; trying again shortly");
                    break;
                }
            }
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => {}
            _ = tokio::time::sleep(SEAL_EVERY) => {}
        }
    }
}

/// Indexes, once at start and in small transactions, what an older release stored
/// without a search row (tickets, Knowledge Base articles, service passports): the
/// normalising is Rust's, so a migration cannot do it. Searches work meanwhile and find
/// the rows indexed so far.
async fn index_for_search(state: Arc<AppState>) {
    let mut total = 0usize;
    let mut after = String::new();
    let mut tickets_done = false;
    loop {
        if state.shutdown.is_cancelled() {
            return;
        }
        let from = after.clone();
        let done = state
            .db
            .write(move |c| {
                if tickets_done {
                    return Ok((kb::backfill(c, 200)?, None));
                }
                search::tickets::backfill(c, &from, 200)
            })
            .await;
        match done {
            Ok((n, Some(last))) => {
                total += n;
                after = last;
            }
            Ok((n, None)) if !tickets_done => {
                total += n;
                tickets_done = true;
            }
            Ok((0, None)) => break,
            Ok((n, None)) => total += n,
            Err(e) => {
                tracing::warn!(error = %e, "indexing older rows for search failed; the next start tries again");
                return;
            }
        }
        // Between batches the other writers (appeals, sign-ins) go first.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if total > 0 {
        tracing::info!(rows = total, "indexed older rows for search");
    }
}

/// A running server: its address, its state, and what [`Application::stop`] waits for.
pub struct Application {
    pub addr: std::net::SocketAddr,
    /// Where the LMTP listener took connections, when configured.
    pub lmtp_addr: Option<std::net::SocketAddr>,
    pub state: Arc<AppState>,
    handle: actix_web::dev::ServerHandle,
    server: Option<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What [`Application::stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Registrar writer threads joined.
    pub registrar_threads: usize,
    /// Background tasks (worker, timers, housekeeping, listeners) that ended.
    pub tasks: usize,
}

impl Application {
    /// The state from the configuration, ready for [`Builder::start`].
    pub async fn build(config: config::Config) -> Result<Builder, StartError> {
        Ok(Builder {
            state: AppState::open(config).await?,
            listener: None,
        })
    }

    /// Runs until the HTTP server stops (a signal handler calls [`Application::stop`]).
    pub async fn wait(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// A handle that stops the HTTP server (for a signal handler).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.handle.clone()
    }

    /// Stops background work, lets requests in flight finish, commits what the
    /// registrar holds, and waits for every thread and task to end.
    pub async fn stop(self) -> Stopped {
        self.stop_with(true).await
    }

    /// [`Application::stop`]; `graceful: false` drops open connections at once instead
    /// of waiting for requests in flight and idle keep-alive connections.
    pub async fn stop_with(mut self, graceful: bool) -> Stopped {
        self.state.shutdown.cancel();
        self.handle.stop(graceful).await;
        self.wait().await;
        let mut ended = 0;
        for t in self.tasks.drain(..) {
            // A task that does not end within the grace period is ended.
            let abort = t.abort_handle();
            match tokio::time::timeout(std::time::Duration::from_secs(15), t).await {
                Ok(_) => ended += 1,
                Err(_) => {
                    tracing::warn!("a background task did not stop in time; aborted");
                    abort.abort();
                }
            }
        }
        let state = self.state.clone();
        let registrar_threads = tokio::task::spawn_blocking(move || state.stop_registrar())
            .await
            .unwrap_or(0);
        Stopped {
            registrar_threads,
            tasks: ended,
        }
    }
}

/// Every minute: the calendar's overrides re-read, number sequences made ahead; every
/// hour, housekeeping.
async fn refresh(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut minutes = 0u64;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if minutes.is_multiple_of(60) {
            state.housekeeping().await;
        }
        minutes += 1;
        if let Err(e) = state.reload_calendar().await {
            tracing::warn!(error = %e, "calendar refresh failed");
        }
        // The first tick runs at once; a registration that comes even earlier creates
        // its sequence itself.
        if let Err(e) = state.prepare_numbers().await {
            tracing::warn!(error = %e, "preparing registration-number sequences failed");
        }
    }
}
