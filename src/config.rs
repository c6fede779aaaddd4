//! Typed configuration: defaults < `baylanys.toml` (or `--config FILE`) < `BAYLANYS_*`
//! environment variables. Every setting is listed by `baylanys serve --help`.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// The settings as they may appear in the TOML file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub registration_prefix: Option<String>,
    pub working_hours: Option<String>,
    pub rate_limit_per_minute: Option<u32>,
    pub workers: Option<usize>,
    pub pool_size: Option<u32>,
    pub instance_id: Option<String>,
    pub job_lease_secs: Option<u64>,
    pub smtp_url: Option<String>,
    pub smtp_connections: Option<u32>,
    pub mail_from: Option<String>,
    pub imap_url: Option<String>,
    pub max_attachment_bytes: Option<u64>,
    pub max_message_bytes: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_concurrent_uploads: Option<usize>,
    pub acks_per_sender_per_hour: Option<u32>,
    pub agency_ref_prefixes: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    pub telegram_token: Option<String>,
    pub telegram_api_url: Option<String>,
    pub telegram_webhook_secret: Option<String>,
    pub telegram_mode: Option<String>,
    pub sqlite_synchronous: Option<String>,
    pub follow_ups_per_sender_per_hour: Option<u32>,
    pub retention_days: Option<u32>,
    pub metrics_token: Option<String>,
    pub trusted_authserv_id: Option<String>,
    pub reminders_enabled: Option<bool>,
    pub reminder_hours: Option<u32>,
    pub staff_language: Option<String>,
    pub forward_days: Option<Vec<String>>,
    pub ict_sla: Option<Vec<String>>,
    pub quality_notice_auto_send: Option<bool>,
    pub monitoring_url: Option<String>,
    pub monitoring_token: Option<String>,
    pub application_pattern: Option<String>,
    pub ict_queue: Option<String>,
    pub ict_topics: Option<Vec<String>>,
    pub ict_working_days: Option<u32>,
    pub outage_dispatch_margin_minutes: Option<u32>,
    pub lmtp_listen: Option<String>,
    pub lmtp_clients: Option<Vec<String>>,
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_token: Option<String>,
    pub recording_max_bytes: Option<u64>,
    pub recording_retention_days: Option<u32>,
    pub console_idle_minutes: Option<u32>,
    pub console_session_hours: Option<u32>,
    pub console_poll_seconds: Option<u32>,
    pub whatsapp_token: Option<String>,
    pub whatsapp_phone_number_id: Option<String>,
    pub whatsapp_app_secret: Option<String>,
    pub whatsapp_verify_token: Option<String>,
    pub whatsapp_api_url: Option<String>,
    pub whatsapp_templates: Option<String>,
    pub whatsapp_per_recipient_interval_ms: Option<u64>,
}

/// Settings given on the command line or in the environment (they win over the file).
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file (default: ./baylanys.toml when it exists).
    #[arg(long = "config", env = "BAYLANYS_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BAYLANYS_LISTEN")]
    pub listen: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER:PASS@HOST/DB [default: sqlite://data/baylanys.db].
    #[arg(long, env = "BAYLANYS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Public base URL used in status links sent to applicants [default: http://LISTEN].
    #[arg(long, env = "BAYLANYS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Prefix of registration numbers, PREFIX-YEAR-000001 [default: UCC].
    #[arg(long, env = "BAYLANYS_REGISTRATION_PREFIX")]
    pub registration_prefix: Option<String>,
    /// Working hours in Asia/Almaty, HH:MM-HH:MM [default: 09:00-18:30].
    #[arg(long, env = "BAYLANYS_WORKING_HOURS")]
    pub working_hours: Option<String>,
    /// Appeals accepted per client IP per minute on the public form and API; 0 turns the limit off [default: 30].
    #[arg(long, env = "BAYLANYS_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// HTTP worker threads [default: number of CPUs].
    #[arg(long, env = "BAYLANYS_WORKERS")]
    pub workers: Option<usize>,
    /// Database connections in the pool [default: 16].
    #[arg(long, env = "BAYLANYS_POOL_SIZE")]
    pub pool_size: Option<u32>,
    /// Name of this instance in job leases [default: host name and process id].
    #[arg(long, env = "BAYLANYS_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Seconds a job stays leased to the instance running it; another instance takes it
    /// over once the lease lapses. Longer than the slowest job [default: 120; 5-3600].
    #[arg(long, env = "BAYLANYS_JOB_LEASE_SECS")]
    pub job_lease_secs: Option<u64>,
    /// Outgoing mail server: smtp://HOST:PORT, smtp://HOST:587?tls=required, smtps://USER:PASS@HOST:465.
    #[arg(long, env = "BAYLANYS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// SMTP connections used in parallel, each reused across messages [default: 8].
    #[arg(long, env = "BAYLANYS_SMTP_CONNECTIONS")]
    pub smtp_connections: Option<u32>,
    /// Sender address of outgoing mail [default: support@goscorp.kz].
    #[arg(long, env = "BAYLANYS_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Support mailbox: imap://USER:PASS@HOST:PORT/INBOX or imaps://...
    #[arg(long, env = "BAYLANYS_IMAP_URL")]
    pub imap_url: Option<String>,
    /// Largest accepted attachment in bytes [default: 10485760].
    #[arg(long, env = "BAYLANYS_MAX_ATTACHMENT_BYTES")]
    pub max_attachment_bytes: Option<u64>,
    /// Largest accepted message in bytes [default: 26214400].
    #[arg(long, env = "BAYLANYS_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<u64>,
    /// Seconds a request body may take to arrive; slower ones get 408 [default: 60].
    #[arg(long, env = "BAYLANYS_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Request bodies read at once; more wait briefly, then get 503 with Retry-After [default: 256].
    #[arg(long, env = "BAYLANYS_MAX_CONCURRENT_UPLOADS")]
    pub max_concurrent_uploads: Option<usize>,
    /// Automatic acknowledgements sent to one address per hour at most [default: 5].
    #[arg(long, env = "BAYLANYS_ACKS_PER_SENDER_PER_HOUR")]
    pub acks_per_sender_per_hour: Option<u32>,
    /// Prefixes of state agencies' own reference numbers in mail subjects, comma-separated
    /// (e.g. "МЮ-,Исх. №"); found references are recorded on the ticket.
    #[arg(long, env = "BAYLANYS_AGENCY_REF_PREFIXES", value_delimiter = ',')]
    pub agency_ref_prefixes: Option<Vec<String>>,
    /// Reverse proxies whose X-Forwarded-For is believed for the rate limit, comma-separated IPs.
    #[arg(long, env = "BAYLANYS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Telegram bot token; the bot runs when it is set.
    #[arg(long, env = "BAYLANYS_TELEGRAM_TOKEN", hide_env_values = true)]
    pub telegram_token: Option<String>,
    /// Bot API base URL, for a self-hosted Bot API server [default: https://api.telegram.org].
    #[arg(long, env = "BAYLANYS_TELEGRAM_API_URL")]
    pub telegram_api_url: Option<String>,
    /// Secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with webhook updates.
    #[arg(long, env = "BAYLANYS_TELEGRAM_WEBHOOK_SECRET", hide_env_values = true)]
    pub telegram_webhook_secret: Option<String>,
    /// How updates arrive: polling or webhook [default: polling].
    #[arg(long, env = "BAYLANYS_TELEGRAM_MODE")]
    pub telegram_mode: Option<String>,
    /// SQLite durability: full (a 201 survives a power cut) or normal (survives a killed
    /// process; the last commits may be lost on an OS crash) [default: full].
    #[arg(long, env = "BAYLANYS_SQLITE_SYNCHRONOUS")]
    pub sqlite_synchronous: Option<String>,
    /// Follow-ups one sender may add in an hour; later ones are held on the ticket for an
    /// operator (stored, but they do not reopen it); 0 turns the limit off [default: 30].
    #[arg(long, env = "BAYLANYS_FOLLOW_UPS_PER_SENDER_PER_HOUR")]
    pub follow_ups_per_sender_per_hour: Option<u32>,
    /// Days after a ticket is closed until its personal data is removed (names,
    /// addresses, message texts, files); 0 keeps it [default: 1825, five years].
    #[arg(long, env = "BAYLANYS_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// When set, GET /metrics needs `Authorization: Bearer <this>` [default: open].
    #[arg(long, env = "BAYLANYS_METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// The authserv-id our receiving MTA writes in Authentication-Results; mail failing
    /// DMARC there never joins an existing ticket [default: none, no verdict is read].
    #[arg(long, env = "BAYLANYS_TRUSTED_AUTHSERV_ID")]
    pub trusted_authserv_id: Option<String>,
    /// R5 reminders before the due instant, for queues that do not say otherwise [default: true].
    #[arg(long, env = "BAYLANYS_REMINDERS_ENABLED")]
    pub reminders_enabled: Option<bool>,
    /// How many working hours before the due instant the reminder goes [default: 4].
    #[arg(
        id = "default_reminder_hours",
        long = "default-reminder-hours",
        env = "BAYLANYS_REMINDER_HOURS"
    )]
    pub reminder_hours: Option<u32>,
    /// Language of staff notices (reminders, escalations, digests): kk, ru or en [default: ru].
    #[arg(long, env = "BAYLANYS_STAFF_LANGUAGE")]
    pub staff_language: Option<String>,
    /// Working days a body has to answer a forward, per body kind, comma-separated
    /// `kind=days` (`default=` for kinds not named) [default: default=5,ici_operator=3].
    #[arg(long, env = "BAYLANYS_FORWARD_DAYS", value_delimiter = ',')]
    pub forward_days: Option<Vec<String>>,
    /// F3: the ICI operator's deadline per ICT category, comma-separated `category=N`
    /// with `h` (working hours) or `d` (working days) [default: incident=4h,access=8h,consultation=2d,other=3d].
    #[arg(long, env = "BAYLANYS_ICT_SLA", value_delimiter = ',')]
    pub ict_sla: Option<Vec<String>>,
    /// F4: send a quality notice at once instead of after a supervisor confirms it [default: false].
    #[arg(long, env = "BAYLANYS_QUALITY_NOTICE_AUTO_SEND")]
    pub quality_notice_auto_send: Option<bool>,
    /// F8: the monitoring system's stage look-up, a URL with `{application}`, e.g.
    /// https://monitoring.example.kz/api/stage/{application} [default: none, look-ups say so].
    #[arg(long, env = "BAYLANYS_MONITORING_URL")]
    pub monitoring_url: Option<String>,
    /// F8: bearer token sent to the monitoring endpoint.
    #[arg(long, env = "BAYLANYS_MONITORING_TOKEN", hide_env_values = true)]
    pub monitoring_token: Option<String>,
    /// F8: regular expression of an application number in an appeal's text (the status
    /// page looks those up) [default: \b[A-Z]{2,4}\d{8,20}\b, e.g. KZ20261234567].
    #[arg(long, env = "BAYLANYS_APPLICATION_PATTERN")]
    pub application_pattern: Option<String>,
    /// R12: the queue of ICT questions from registry bodies' staff, created if missing [default: ict].
    #[arg(long, env = "BAYLANYS_ICT_QUEUE")]
    pub ict_queue: Option<String>,
    /// R12: topics that are ICT questions, comma-separated [default: egov_portal,digital_signature,mobile_app].
    #[arg(long, env = "BAYLANYS_ICT_TOPICS", value_delimiter = ',')]
    pub ict_topics: Option<Vec<String>>,
    /// R12/F3: working days to answer an ICT question of a registry body [default: 1].
    #[arg(long, env = "BAYLANYS_ICT_WORKING_DAYS")]
    pub ict_working_days: Option<u32>,
    /// O1: a planned outage must start at least 24 h plus this many minutes after it is
    /// declared, so its notices can be delivered 24 h ahead [default: 15].
    #[arg(long, env = "BAYLANYS_OUTAGE_DISPATCH_MARGIN_MINUTES")]
    pub outage_dispatch_margin_minutes: Option<u32>,
    /// LMTP listener (RFC 2033) for an MTA, e.g. 127.0.0.1:2424 [default: off].
    #[arg(long, env = "BAYLANYS_LMTP_LISTEN")]
    pub lmtp_listen: Option<String>,
    /// Addresses besides loopback that may deliver over LMTP, comma-separated IPs [default: none].
    #[arg(long, env = "BAYLANYS_LMTP_CLIENTS", value_delimiter = ',')]
    pub lmtp_clients: Option<Vec<String>>,
    /// The HTTP SMS gateway that sends acknowledgements to phone applicants (POST JSON
    /// `{to, text, reference}`) [default: none, no SMS].
    #[arg(long, env = "BAYLANYS_SMS_GATEWAY_URL")]
    pub sms_gateway_url: Option<String>,
    /// Bearer token sent to the SMS gateway.
    #[arg(long, env = "BAYLANYS_SMS_GATEWAY_TOKEN", hide_env_values = true)]
    pub sms_gateway_token: Option<String>,
    /// The largest call recording taken, uploaded or fetched [default: 52428800, 50 MiB].
    #[arg(long, env = "BAYLANYS_RECORDING_MAX_BYTES")]
    pub recording_max_bytes: Option<u64>,
    /// Days a call recording is kept after it was stored (a record request holds it
    /// longer); 0 keeps them [default: 90].
    #[arg(long, env = "BAYLANYS_RECORDING_RETENTION_DAYS")]
    pub recording_retention_days: Option<u32>,
    /// Operator console: a session without a request for this many minutes ends (1-1440) [default: 60].
    #[arg(long, env = "BAYLANYS_CONSOLE_IDLE_MINUTES")]
    pub console_idle_minutes: Option<u32>,
    /// Operator console: a session ends this many hours after sign-in, however active (1-72) [default: 12].
    #[arg(long, env = "BAYLANYS_CONSOLE_SESSION_HOURS")]
    pub console_session_hours: Option<u32>,
    /// Operator console: where JavaScript runs, the queue page asks for new tickets this
    /// often and adds them to the list (2-300 seconds) [default: 15].
    #[arg(long, env = "BAYLANYS_CONSOLE_POLL_SECONDS")]
    pub console_poll_seconds: Option<u32>,
    /// WhatsApp Business Cloud API access token (a system user's); with the phone number
    /// id it turns the WhatsApp channel on.
    #[arg(long, env = "BAYLANYS_WHATSAPP_TOKEN", hide_env_values = true)]
    pub whatsapp_token: Option<String>,
    /// The WhatsApp business phone number's id (Meta's App Dashboard, WhatsApp > API Setup).
    #[arg(long, env = "BAYLANYS_WHATSAPP_PHONE_NUMBER_ID")]
    pub whatsapp_phone_number_id: Option<String>,
    /// The Meta app secret: every webhook POST's X-Hub-Signature-256 is checked with it.
    #[arg(long, env = "BAYLANYS_WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub whatsapp_app_secret: Option<String>,
    /// The verify token you give Meta with the webhook URL (the GET handshake).
    #[arg(long, env = "BAYLANYS_WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub whatsapp_verify_token: Option<String>,
    /// Graph API base URL with its version [default: https://graph.facebook.com/v21.0].
    #[arg(long, env = "BAYLANYS_WHATSAPP_API_URL")]
    pub whatsapp_api_url: Option<String>,
    /// Approved templates for messages outside the 24-hour window, e.g.
    /// "acknowledgement=ucc_ack:number,text;reply=ucc_reply:number,text;rating_request=ucc_rate:number,rate_buttons".
    #[arg(long, env = "BAYLANYS_WHATSAPP_TEMPLATES")]
    pub whatsapp_templates: Option<String>,
    /// Least milliseconds between two messages to one WhatsApp user (pair rate limit) [default: 1000].
    #[arg(long, env = "BAYLANYS_WHATSAPP_PER_RECIPIENT_INTERVAL_MS")]
    pub whatsapp_per_recipient_interval_ms: Option<u64>,
}

/// The resolved configuration the application runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub public_url: String,
    pub registration_prefix: String,
    pub working_hours: crate::calendar::WorkingHours,
    pub rate_limit_per_minute: u32,
    pub workers: usize,
    pub pool_size: u32,
    pub instance_id: String,
    /// Seconds a job stays leased to the instance running it (5-3600).
    pub job_lease_secs: u64,
    pub smtp_url: Option<String>,
    /// SMTP connections used in parallel (at least 1).
    pub smtp_connections: u32,
    pub mail_from: String,
    pub imap_url: Option<String>,
    pub max_attachment_bytes: u64,
    pub max_message_bytes: u64,
    pub body_timeout_secs: u64,
    pub max_concurrent_uploads: usize,
    pub acks_per_sender_per_hour: u32,
    pub agency_ref_prefixes: Vec<String>,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub telegram_token: Option<String>,
    pub telegram_api_url: Option<String>,
    pub telegram_webhook_secret: Option<String>,
    pub telegram_mode: String,
    pub sqlite_synchronous: crate::db::Synchronous,
    pub follow_ups_per_sender_per_hour: u32,
    /// Days after closing until a ticket's personal data is removed; 0: never.
    pub retention_days: u32,
    /// The bearer token /metrics asks for, if any.
    pub metrics_token: Option<String>,
    pub trusted_authserv_id: Option<String>,
    /// Whether a missing SQLite database may be created (serve and migrate); one-shot
    /// commands refuse, so a mistyped path never becomes a second, empty database.
    pub create_database: bool,
    pub reminders_enabled: bool,
    pub reminder_hours: u32,
    pub staff_language: baylanys_core::Language,
    /// Forward deadlines (F2, F3) and the F4 setting.
    pub forwards: crate::forwards::deadline::ForwardTerms,
    /// Services: the stage look-up (F8) and ICT routing (R12).
    pub registry: crate::registry::RegistryConfig,
    /// O1: the dispatch margin on top of the 24-hour lead of planned outages.
    pub outage_dispatch_margin: chrono::Duration,
    /// Where the LMTP listener binds; `None`: no listener.
    pub lmtp_listen: Option<String>,
    /// Peers besides loopback allowed to deliver over LMTP.
    pub lmtp_clients: Vec<std::net::IpAddr>,
    /// The SMS gateway of the phone channel's acknowledgements; `None`: no SMS.
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_token: Option<String>,
    /// The largest call recording taken.
    pub recording_max_bytes: u64,
    /// Days recordings are kept (0: for ever).
    pub recording_retention_days: u32,
    /// Operator console sessions: idle and absolute expiry.
    pub console_idle: chrono::Duration,
    pub console_session_max: chrono::Duration,
    /// How often the queue page's script asks for new tickets, in seconds.
    pub console_poll_seconds: u32,
    /// The WhatsApp channel runs when the token and the phone number id are set.
    pub whatsapp_token: Option<String>,
    pub whatsapp_phone_number_id: Option<String>,
    pub whatsapp_app_secret: Option<String>,
    pub whatsapp_verify_token: Option<String>,
    pub whatsapp_api_url: Option<String>,
    pub whatsapp_templates: Option<String>,
    pub whatsapp_per_recipient_interval_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("configuration file {0} is not valid: {1}")]
    Parse(PathBuf, String),
    #[error("setting `{0}`: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Defaults < file < command line/environment.
    pub fn load(args: &ConfigArgs) -> Result<Config, ConfigError> {
        let file = match &args.config_file {
            Some(path) => read_file(path)?,
            None if Path::new("baylanys.toml").exists() => read_file(Path::new("baylanys.toml"))?,
            None => FileConfig::default(),
        };
        Self::resolve(args.clone(), file)
    }

    pub fn resolve(a: ConfigArgs, f: FileConfig) -> Result<Config, ConfigError> {
        let listen = a
            .listen
            .or(f.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let hours_text = a
            .working_hours
            .or(f.working_hours)
            .unwrap_or_else(|| "09:00-18:30".into());
        let working_hours = parse_working_hours(&hours_text)?;
        let prefix = a
            .registration_prefix
            .or(f.registration_prefix)
            .unwrap_or_else(|| "UCC".into());
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::Invalid(
                "registration_prefix",
                format!("`{prefix}` must be non-empty ASCII letters and digits"),
            ));
        }
        let telegram_mode = a
            .telegram_mode
            .or(f.telegram_mode)
            .unwrap_or_else(|| "polling".into());
        if telegram_mode != "polling" && telegram_mode != "webhook" {
            return Err(ConfigError::Invalid(
                "telegram_mode",
                format!("`{telegram_mode}` must be polling or webhook"),
            ));
        }
        let sqlite_synchronous = match a
            .sqlite_synchronous
            .or(f.sqlite_synchronous)
            .as_deref()
            .map(str::trim)
        {
            None | Some("full") | Some("FULL") => crate::db::Synchronous::Full,
            Some("normal") | Some("NORMAL") => crate::db::Synchronous::Normal,
            Some(other) => {
                return Err(ConfigError::Invalid(
                    "sqlite_synchronous",
                    format!("`{other}` must be full or normal"),
                ));
            }
        };
        let public_url = a
            .public_url
            .or(f.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let mut trusted_proxies = Vec::new();
        for p in a.trusted_proxies.or(f.trusted_proxies).unwrap_or_default() {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            trusted_proxies.push(p.parse().map_err(|_| {
                ConfigError::Invalid("trusted_proxies", format!("`{p}` is not an IP address"))
            })?);
        }
        let mut lmtp_clients = Vec::new();
        for p in a.lmtp_clients.or(f.lmtp_clients).unwrap_or_default() {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            lmtp_clients.push(p.parse().map_err(|_| {
                ConfigError::Invalid("lmtp_clients", format!("`{p}` is not an IP address"))
            })?);
        }
        let lmtp_listen = a
            .lmtp_listen
            .or(f.lmtp_listen)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let console_idle_minutes = a
            .console_idle_minutes
            .or(f.console_idle_minutes)
            .unwrap_or(60);
        if !(1..=1440).contains(&console_idle_minutes) {
            return Err(ConfigError::Invalid(
                "console_idle_minutes",
                format!("`{console_idle_minutes}` must be 1-1440 minutes"),
            ));
        }
        let console_session_hours = a
            .console_session_hours
            .or(f.console_session_hours)
            .unwrap_or(12);
        if !(1..=72).contains(&console_session_hours) {
            return Err(ConfigError::Invalid(
                "console_session_hours",
                format!("`{console_session_hours}` must be 1-72 hours"),
            ));
        }
        let console_poll_seconds = a
            .console_poll_seconds
            .or(f.console_poll_seconds)
            .unwrap_or(15);
        if !(2..=300).contains(&console_poll_seconds) {
            return Err(ConfigError::Invalid(
                "console_poll_seconds",
                format!("`{console_poll_seconds}` must be 2-300 seconds"),
            ));
        }
        let reminder_hours = a.reminder_hours.or(f.reminder_hours).unwrap_or(4);
        if !(1..=crate::queues::MAX_REMINDER_HOURS).contains(&reminder_hours) {
            return Err(ConfigError::Invalid(
                "reminder_hours",
                format!(
                    "`{reminder_hours}` must be 1-{} working hours",
                    crate::queues::MAX_REMINDER_HOURS
                ),
            ));
        }
        let staff_language = match a.staff_language.or(f.staff_language).as_deref() {
            None => baylanys_core::Language::Ru,
            Some(l) => l.trim().parse().map_err(|_| {
                ConfigError::Invalid("staff_language", format!("`{l}` must be kk, ru or en"))
            })?,
        };
        let forwards = crate::forwards::deadline::ForwardTerms::parse(
            a.forward_days.or(f.forward_days).as_deref(),
            a.ict_sla.or(f.ict_sla).as_deref(),
            a.quality_notice_auto_send
                .or(f.quality_notice_auto_send)
                .unwrap_or(false),
        )?;
        let registry = crate::registry::RegistryConfig::resolve(
            a.monitoring_url.or(f.monitoring_url),
            a.monitoring_token.or(f.monitoring_token),
            a.application_pattern.or(f.application_pattern),
            a.ict_queue.or(f.ict_queue),
            a.ict_topics.or(f.ict_topics),
            a.ict_working_days.or(f.ict_working_days),
        )
        .map_err(|(field, m)| ConfigError::Invalid(field, m))?;
        let nonempty =
            |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Config {
            whatsapp_token: nonempty(a.whatsapp_token.or(f.whatsapp_token)),
            whatsapp_phone_number_id: nonempty(
                a.whatsapp_phone_number_id.or(f.whatsapp_phone_number_id),
            ),
            whatsapp_app_secret: nonempty(a.whatsapp_app_secret.or(f.whatsapp_app_secret)),
            whatsapp_verify_token: nonempty(a.whatsapp_verify_token.or(f.whatsapp_verify_token)),
            whatsapp_api_url: nonempty(a.whatsapp_api_url.or(f.whatsapp_api_url)),
            whatsapp_templates: nonempty(a.whatsapp_templates.or(f.whatsapp_templates)),
            whatsapp_per_recipient_interval_ms: a
                .whatsapp_per_recipient_interval_ms
                .or(f.whatsapp_per_recipient_interval_ms)
                .unwrap_or(1000),
            forwards,
            registry,
            trusted_proxies,
            lmtp_listen,
            lmtp_clients,
            sms_gateway_url: a
                .sms_gateway_url
                .or(f.sms_gateway_url)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            sms_gateway_token: a.sms_gateway_token.or(f.sms_gateway_token),
            recording_max_bytes: a
                .recording_max_bytes
                .or(f.recording_max_bytes)
                .unwrap_or(50 * 1024 * 1024)
                .max(1),
            recording_retention_days: a
                .recording_retention_days
                .or(f.recording_retention_days)
                .unwrap_or(90),
            database_url: a
                .database_url
                .or(f.database_url)
                .unwrap_or_else(|| "sqlite://data/baylanys.db".into()),
            public_url: public_url.trim_end_matches('/').to_string(),
            registration_prefix: prefix,
            working_hours,
            rate_limit_per_minute: a
                .rate_limit_per_minute
                .or(f.rate_limit_per_minute)
                .unwrap_or(30),
            workers: a
                .workers
                .or(f.workers)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            pool_size: a.pool_size.or(f.pool_size).unwrap_or(16),
            instance_id: a.instance_id.or(f.instance_id).unwrap_or_else(|| {
                format!(
                    "{}-{}",
                    std::env::var("HOSTNAME").unwrap_or_else(|_| "baylanys".into()),
                    std::process::id()
                )
            }),
            job_lease_secs: match a.job_lease_secs.or(f.job_lease_secs) {
                None => crate::jobs::LEASE_SECONDS as u64,
                Some(s) if (5..=3600).contains(&s) => s,
                Some(s) => {
                    return Err(ConfigError::Invalid(
                        "job_lease_secs",
                        format!("{s}: give 5 to 3600 seconds, more than the slowest job takes"),
                    ));
                }
            },
            smtp_url: a.smtp_url.or(f.smtp_url),
            smtp_connections: a
                .smtp_connections
                .or(f.smtp_connections)
                .unwrap_or(baylanys_email::DEFAULT_SMTP_CONNECTIONS)
                .max(1),
            mail_from: a
                .mail_from
                .or(f.mail_from)
                .unwrap_or_else(|| "support@goscorp.kz".into()),
            imap_url: a.imap_url.or(f.imap_url),
            max_attachment_bytes: a
                .max_attachment_bytes
                .or(f.max_attachment_bytes)
                .unwrap_or(10 * 1024 * 1024),
            max_message_bytes: a
                .max_message_bytes
                .or(f.max_message_bytes)
                .unwrap_or(25 * 1024 * 1024),
            body_timeout_secs: a.body_timeout_secs.or(f.body_timeout_secs).unwrap_or(60),
            max_concurrent_uploads: a
                .max_concurrent_uploads
                .or(f.max_concurrent_uploads)
                .unwrap_or(256),
            acks_per_sender_per_hour: a
                .acks_per_sender_per_hour
                .or(f.acks_per_sender_per_hour)
                .unwrap_or(5),
            agency_ref_prefixes: a
                .agency_ref_prefixes
                .or(f.agency_ref_prefixes)
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            telegram_token: a
                .telegram_token
                .or(f.telegram_token)
                .filter(|t| !t.is_empty()),
            telegram_api_url: a.telegram_api_url.or(f.telegram_api_url),
            telegram_webhook_secret: a.telegram_webhook_secret.or(f.telegram_webhook_secret),
            telegram_mode,
            listen,
            sqlite_synchronous,
            follow_ups_per_sender_per_hour: a
                .follow_ups_per_sender_per_hour
                .or(f.follow_ups_per_sender_per_hour)
                .unwrap_or(30),
            retention_days: a.retention_days.or(f.retention_days).unwrap_or(1825),
            metrics_token: a
                .metrics_token
                .or(f.metrics_token)
                .filter(|t| !t.trim().is_empty()),
            trusted_authserv_id: a
                .trusted_authserv_id
                .or(f.trusted_authserv_id)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            create_database: true,
            reminders_enabled: a.reminders_enabled.or(f.reminders_enabled).unwrap_or(true),
            reminder_hours,
            console_idle: chrono::Duration::minutes(console_idle_minutes.into()),
            console_session_max: chrono::Duration::hours(console_session_hours.into()),
            console_poll_seconds,
            staff_language,
            outage_dispatch_margin: {
                let m = a
                    .outage_dispatch_margin_minutes
                    .or(f.outage_dispatch_margin_minutes)
                    .unwrap_or(15);
                if m > 24 * 60 {
                    return Err(ConfigError::Invalid(
                        "outage_dispatch_margin_minutes",
                        format!("`{m}` must be at most 1440 minutes"),
                    ));
                }
                chrono::Duration::minutes(i64::from(m))
            },
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e.to_string()))
}

/// `09:00-18:30` into working hours.
pub fn parse_working_hours(text: &str) -> Result<crate::calendar::WorkingHours, ConfigError> {
    let bad = || {
        ConfigError::Invalid(
            "working_hours",
            format!("`{text}` must look like 09:00-18:30 (start before end)"),
        )
    };
    let (s, e) = text.split_once('-').ok_or_else(bad)?;
    let start = chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad())?;
    let end = chrono::NaiveTime::parse_from_str(e.trim(), "%H:%M").map_err(|_| bad())?;
    if start >= end {
        return Err(bad());
    }
    Ok(crate::calendar::WorkingHours { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_wins_over_file_and_file_over_defaults() {
        let file: FileConfig =
            toml::from_str("listen = \"0.0.0.0:9000\"\nregistration_prefix = \"ECC\"").unwrap();
        let args = ConfigArgs {
            registration_prefix: Some("UCX".into()),
            ..Default::default()
        };
        let c = Config::resolve(args, file).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.registration_prefix, "UCX");
        assert_eq!(c.database_url, "sqlite://data/baylanys.db");
        assert_eq!(c.rate_limit_per_minute, 30);
    }

    #[test]
    fn c2_working_hours_are_checked() {
        assert!(parse_working_hours("09:00-18:30").is_ok());
        let err = parse_working_hours("18:30-09:00").unwrap_err().to_string();
        assert!(err.contains("09:00-18:30"), "{err}");
        assert!(parse_working_hours("nine to five").is_err());
    }

    #[test]
    fn unknown_file_settings_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
