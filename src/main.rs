//! The `baylanys` command: serve, migrate, ingest-email, calendar, queue, user, token,
//! telegram, doctor, audit, backup, restore, healthcheck, registry, kb.

use std::process::ExitCode;

use baylanys::calendar::{DayKind, DayOverride};
use baylanys::config::{Config, ConfigArgs};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "baylanys",
    version,
    about = "Omnichannel messaging and ticketing server of the Unified Contact Center 1414"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP, job worker, channels). Settings: defaults < baylanys.toml < BAYLANYS_* < flags;
    /// the log filter is BAYLANYS_LOG (tracing syntax, default info). The API's OpenAPI document
    /// is served at GET /api/v1/openapi.json, readable at GET /api/docs.
    Serve(ConfigArgs),
    /// Apply the database migrations and exit (the server also applies them on start).
    Migrate(ConfigArgs),
    /// Store one raw e-mail read from stdin (an MTA pipe). Exit 0 when stored (ticket,
    /// follow-up, duplicate or quarantine); 65 (EX_DATAERR, the MTA bounces it) when it is
    /// larger than BAYLANYS_MAX_MESSAGE_BYTES; 75 (EX_TEMPFAIL, the MTA keeps it and
    /// retries) on anything else: the database unavailable or missing (this command never
    /// creates one), its schema behind this binary (it never migrates: run `baylanys
    /// migrate`), a bad setting or flag. Postfix: see docs/MAIL.md.
    IngestEmail {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// The national working-day calendar and deadlines.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Manage operator and staff accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Queues (operator groups): names, supervisors, deadline reminders.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The Telegram bot.
    Telegram {
        #[command(subcommand)]
        command: TelegramCommand,
    },
    /// Check the configuration and every configured channel for real (database, SMTP,
    /// IMAP, Telegram, the registry's webhooks); one line each. Exit 0 when all work.
    Doctor {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// The phone channel's call records.
    Calls {
        #[command(subcommand)]
        command: CallsCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the database to FILE while the server runs. SQLite: a consistent snapshot
    /// (VACUUM INTO), checked; PostgreSQL: pg_dump --format=custom.
    Backup {
        /// The new file to write (it must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replace the database with a backup. SQLite: stop `serve` first (refused while the
    /// database looks open, unless --force); PostgreSQL: pg_restore --clean.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        /// Restore even though the SQLite database looks open.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Ask the running server on the configured listen address whether it is alive
    /// (`/healthz`; `--ready`: `/readyz`). Exit 0 when it is, 1 when not: a container's
    /// HEALTHCHECK.
    Healthcheck {
        /// Ask whether it is ready (database, migrations, workers) rather than alive.
        #[arg(long)]
        ready: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// The registry of bodies, persons and services as CSV (UTF-8, a header row).
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// The Knowledge Base: import or export its articles as JSON or CSV.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// The monthly reports (P1 Appendix 2, P3 ICT), written to a file on demand.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Write the monthly report of Appendix 2 (P1) for MONTH to FILE (XLSX, or CSV when
    /// FILE ends in .csv or --format csv); prints the number of rows.
    Monthly {
        /// The month, YYYY-MM (Almaty time).
        #[arg(long)]
        month: String,
        /// The file to write (replaced if it exists).
        #[arg(long)]
        out: std::path::PathBuf,
        /// xlsx or csv [default: from the file's extension, else xlsx].
        #[arg(long)]
        format: Option<String>,
        /// Only this registry body's part (its services, forwards and region).
        #[arg(long)]
        body: Option<String>,
        /// The language of the values: ru or kk (headers are in both) [default: ru].
        #[arg(long, default_value = "ru")]
        lang: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum KbCommand {
    /// Write every article (its newest version and whether it is published) to FILE, or
    /// to stdout without --out.
    Export {
        /// json or csv.
        #[arg(long, default_value = "json")]
        format: String,
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Import articles from FILE (json or csv, as export writes them) in one transaction:
    /// one bad row and nothing is imported (exit 65, each problem named by line and field).
    Import {
        file: std::path::PathBuf,
        /// json or csv (default: from the file name's extension).
        #[arg(long)]
        format: Option<String>,
        /// The login recorded as the author of the versions written.
        #[arg(long = "as", default_value = "cli")]
        author: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

async fn kb(cmd: KbCommand) -> Result<ExitCode, AnyError> {
    use baylanys::kb::io::{self, Format, ImportError};
    match cmd {
        KbCommand::Export {
            format,
            out,
            config,
        } => {
            let format = match Format::parse(&format) {
                Ok(f) => f,
                Err(m) => {
                    eprintln!("--format: {m}");
                    return Ok(ExitCode::from(64));
                }
            };
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let text = app.db.run(move |c| io::export(c, format)).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text)?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
        }
        KbCommand::Import {
            file,
            format,
            author,
            config,
        } => {
            let given = format.or_else(|| {
                file.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
            });
            let format = match given.as_deref().map(Format::parse) {
                Some(Ok(f)) => f,
                Some(Err(m)) => {
                    eprintln!("--format: {m}");
                    return Ok(ExitCode::from(64));
                }
                None => {
                    eprintln!("give --format json or --format csv");
                    return Ok(ExitCode::from(64));
                }
            };
            let bytes = std::fs::read(&file)?;
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let db = app.db.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                db.write_blocking_as(|c| {
                    io::import(c, &bytes, format, &author, baylanys::db::now())
                })
            })
            .await?;
            match outcome {
                Ok(d) => println!(
                    "{}: {} created, {} updated, {} unchanged",
                    file.display(),
                    d.created,
                    d.updated,
                    d.unchanged
                ),
                Err(ImportError::Rows(rows)) => {
                    for r in rows {
                        eprintln!("{}: {r}", file.display());
                    }
                    eprintln!("nothing was imported");
                    return Ok(ExitCode::from(65));
                }
                Err(ImportError::Db(e)) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum CallsCommand {
    /// Import Asterisk's Master.csv (standard column order) in one transaction: a bad
    /// line is reported by its number and nothing is imported (exit 1); calls already
    /// known are left as they are, so a file imported twice changes nothing.
    Import {
        /// The CSV file (`-` for stdin).
        file: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every ticket's chain of events; exit 0 when whole, 1 naming the first
    /// broken link (ticket, event, why).
    Verify {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Write bodies.csv, persons.csv and services.csv into a directory.
    Export {
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Import whichever of bodies.csv, persons.csv, services.csv the directory holds (in
    /// that order), all in one transaction: one bad row and nothing is imported (exit 65).
    Import {
        #[arg(long, value_name = "DIR")]
        dir: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum TelegramCommand {
    /// Tell the Bot API to push updates to URL (ending in /telegram/webhook) with the
    /// configured secret; run the server with BAYLANYS_TELEGRAM_MODE=webhook.
    SetWebhook {
        url: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Compute a deadline: N working days from an instant (R5 reply: N = 2).
    Due {
        /// The instant, RFC 3339 with offset, e.g. 2025-03-07T10:00:00+05:00.
        #[arg(long)]
        from: String,
        /// Working days to count (0..=365).
        #[arg(long, default_value_t = 2)]
        working_days: u32,
        /// Print JSON: {"due_at", "effective_from", "explanation"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List every non-working weekday and working weekend day of a year, with reasons.
    Show {
        #[arg(long)]
        year: i32,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Confirm that a year's movable days (Kurban Ait, transfers) are all set, so its
    /// deadlines stop warning that they are not.
    Confirm {
        #[arg(long)]
        year: i32,
        /// The acts that set them.
        #[arg(long)]
        note: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Add or override a date: holiday, day-off or working-day, naming the act.
    Set {
        /// The date, YYYY-MM-DD.
        date: String,
        /// holiday | day-off | working-day
        #[arg(long)]
        kind: String,
        /// The act that decided it, e.g. "Government decree No. 123 of 01.12.2026".
        #[arg(long)]
        note: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

async fn registry(cmd: RegistryCommand) -> Result<ExitCode, AnyError> {
    use baylanys::registry::csv::{self, ImportError, Kind};
    match cmd {
        RegistryCommand::Export { dir, config } => {
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            std::fs::create_dir_all(&dir)?;
            for kind in Kind::ALL.iter().copied() {
                let text = app.db.run(move |c| csv::export(c, kind)).await?;
                let path = dir.join(format!("{kind}.csv"));
                std::fs::write(&path, text)?;
                println!("wrote {}", path.display());
            }
        }
        RegistryCommand::Import { dir, config } => {
            let mut files = Vec::new();
            for kind in Kind::ALL.iter().copied() {
                let path = dir.join(format!("{kind}.csv"));
                if path.exists() {
                    files.push((kind, path.display().to_string(), std::fs::read(&path)?));
                }
            }
            if files.is_empty() {
                eprintln!(
                    "{} holds none of bodies.csv, persons.csv, services.csv",
                    dir.display()
                );
                return Ok(ExitCode::from(65));
            }
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let db = app.db.clone();
            let failed_in = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let failed = failed_in.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                db.write_blocking_as(|c| {
                    let mut done = Vec::new();
                    for (kind, name, bytes) in &files {
                        match csv::import(c, *kind, bytes) {
                            Ok(d) => done.push((name.clone(), d)),
                            Err(e) => {
                                *failed.lock().unwrap_or_else(|p| p.into_inner()) = name.clone();
                                return Err(e);
                            }
                        }
                    }
                    Ok(done)
                })
            })
            .await?;
            let failed_file = failed_in.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match outcome {
                Ok(done) => {
                    for (name, d) in done {
                        println!("{name}: {} created, {} updated", d.created, d.updated);
                        for (id, secret) in d.webhook_secrets {
                            println!("  body {id}: generated webhook secret {secret} (shown once)");
                        }
                    }
                }
                Err(ImportError::Rows(rows)) => {
                    for r in rows {
                        eprintln!("{failed_file}: {r}");
                    }
                    eprintln!("nothing was imported");
                    return Ok(ExitCode::from(65));
                }
                Err(ImportError::Db(e)) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Add a queue.
    Add {
        /// Lower-case code tickets carry, e.g. `ict`.
        #[arg(long)]
        code: String,
        #[command(flatten)]
        fields: QueueFields,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List the queues.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Change a queue; only the options given change.
    Set {
        code: String,
        #[command(flatten)]
        fields: QueueFields,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Args)]
struct QueueFields {
    /// The name in Kazakh.
    #[arg(long)]
    name_kk: Option<String>,
    /// The name in Russian.
    #[arg(long)]
    name_ru: Option<String>,
    /// Supervisors' logins, comma-separated (replaces the list; "" clears it).
    #[arg(long)]
    supervisors: Option<String>,
    /// R5 reminders before the due instant: on or off.
    #[arg(long)]
    reminders: Option<String>,
    /// Working hours before the due instant the reminder goes [default: the server's, 4].
    #[arg(long)]
    reminder_hours: Option<u32>,
}

impl QueueFields {
    fn input(self, code: Option<String>) -> Result<baylanys::queues::QueueInput, AnyError> {
        let reminders_enabled = match self.reminders.as_deref().map(str::trim) {
            None => None,
            Some("on") | Some("true") | Some("yes") => Some(true),
            Some("off") | Some("false") | Some("no") => Some(false),
            Some(other) => return Err(format!("--reminders `{other}`: give on or off").into()),
        };
        if let Some(h) = self.reminder_hours
            && !(1..=baylanys::queues::MAX_REMINDER_HOURS).contains(&h)
        {
            return Err(format!(
                "--reminder-hours {h}: give 1-{} working hours",
                baylanys::queues::MAX_REMINDER_HOURS
            )
            .into());
        }
        Ok(baylanys::queues::QueueInput {
            code,
            name_kk: self.name_kk,
            name_ru: self.name_ru,
            supervisors: self.supervisors.map(|s| {
                s.split(',')
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect()
            }),
            reminders_enabled,
            reminder_hours: self.reminder_hours,
            active: None,
        })
    }
}

fn queue_error(e: baylanys::queues::QueueError) -> AnyError {
    match e {
        baylanys::queues::QueueError::Invalid(list) => list
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ")
            .into(),
        other => other.to_string().into(),
    }
}

fn print_queue(q: &baylanys::queues::Queue) {
    println!(
        "{}\t{} / {}\tsupervisors: {}\treminders: {}",
        q.code,
        q.name_kk,
        q.name_ru,
        if q.supervisors.is_empty() {
            "-".to_string()
        } else {
            q.supervisors.join(",")
        },
        match (q.reminders_enabled, q.reminder_hours) {
            (false, _) => "off".to_string(),
            (true, Some(h)) => format!("on, {h} working hours before"),
            (true, None) => "on, server default".to_string(),
        }
    );
}

async fn queue(cmd: QueueCommand) -> Result<ExitCode, AnyError> {
    match cmd {
        QueueCommand::Add {
            code,
            fields,
            config,
        } => {
            let input = fields.input(Some(code))?;
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let q = app
                .db
                .write(move |c| Ok(baylanys::queues::create(c, &input)))
                .await?
                .map_err(queue_error)?;
            print_queue(&q);
        }
        QueueCommand::Set {
            code,
            fields,
            config,
        } => {
            let input = fields.input(None)?;
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let q = app
                .db
                .write(move |c| Ok(baylanys::queues::update(c, &code, &input)))
                .await?
                .map_err(queue_error)?;
            print_queue(&q);
        }
        QueueCommand::List { json, config } => {
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let list = app.db.run(baylanys::queues::list).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for q in &list {
                    print_queue(q);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from BAYLANYS_PASSWORD when set.
    Add(UserAdd),
    /// Change an account: role, body, name, a new password (read as `add` reads it), or
    /// deactivate it (which ends its sessions and revokes its tokens) and activate it again.
    Change(UserChangeArgs),
    /// Lift the console's sign-in lock of a login (after repeated failed sign-ins).
    Unlock {
        #[arg(long)]
        login: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Args)]
struct UserAdd {
    #[arg(long)]
    login: String,
    /// operator | supervisor | admin | editor | agency | ici | quality | informatization | ingest | pbx
    #[arg(long)]
    role: String,
    /// Full name shown to colleagues [default: the login].
    #[arg(long)]
    name: Option<String>,
    /// Where staff notices (deadline reminders, escalations, digests) go.
    #[arg(long)]
    email: Option<String>,
    /// The registry body an agency or ici user belongs to (its id).
    #[arg(long)]
    body: Option<String>,
    /// A token-only account (machines, or staff who sign in with tokens): no password.
    #[arg(long)]
    no_password: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
struct UserChangeArgs {
    #[arg(long)]
    login: String,
    /// The new role (as for `user add`).
    #[arg(long)]
    role: Option<String>,
    /// The registry body (its id) of an agency or ici account.
    #[arg(long)]
    body: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// Set a new password from BAYLANYS_PASSWORD, or typed twice on a terminal; signs the
    /// account out everywhere.
    #[arg(long)]
    password: bool,
    /// Nobody signs in as it any more: its sessions end and its tokens are revoked.
    #[arg(long, conflicts_with = "activate")]
    deactivate: bool,
    #[arg(long)]
    activate: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (it is stored hashed, shown once).
    Create {
        #[arg(long)]
        login: String,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn main() -> ExitCode {
    match baylanys::logging::LogFormat::from_env() {
        Ok(format) => baylanys::logging::init(format),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // The pipe stores one message: no worker threads to start for it.
    let mut runtime = if piping() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return if piping() {
                ExitCode::from(EX_TEMPFAIL)
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The new user's password: BAYLANYS_PASSWORD, else asked twice on a terminal; none only
/// with `--no-password`, so an account is never left without one by accident.
/// A refused account change, naming the flag (or variable) to fix.
fn cli_user_error(e: baylanys::users::UserError) -> String {
    match e {
        baylanys::users::UserError::Invalid(list) => list
            .into_iter()
            .map(|(field, m)| match field.as_str() {
                "body_id" => format!("--body: {m}"),
                "password" => format!("BAYLANYS_PASSWORD: {m}"),
                "active" => format!("--deactivate: {m}"),
                f => format!("--{f}: {m}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn user_password(no_password: bool) -> Result<Option<String>, AnyError> {
    use std::io::IsTerminal;
    let from_env = std::env::var("BAYLANYS_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    match (from_env, no_password) {
        (Some(_), true) => Err("give either BAYLANYS_PASSWORD or --no-password, not both".into()),
        (Some(p), false) => Ok(Some(p)),
        (None, true) => Ok(None),
        (None, false) if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("password: ")?;
            if first.is_empty() {
                return Err("the password is empty: type one, or use --no-password".into());
            }
            let again = rpassword::prompt_password("again: ")?;
            if first != again {
                return Err("the two passwords differ: nothing was changed".into());
            }
            Ok(Some(first))
        }
        (None, false) => Err(
            "no password: set BAYLANYS_PASSWORD, run on a terminal to type \
                              one, or give --no-password for a token-only account"
                .into(),
        ),
    }
}

/// GETs `/healthz` or `/readyz` of the server this configuration listens on; a wildcard
/// listen address is asked on the loopback.
async fn healthcheck(ready: bool, config: Config) -> Result<ExitCode, AnyError> {
    let mut addr: std::net::SocketAddr = config
        .listen
        .parse()
        .map_err(|e| format!("listen address `{}`: {e}", config.listen))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = if ready { "readyz" } else { "healthz" };
    let url = format!("http://{addr}/{path}");
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            println!("{url}: {}", r.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            println!("{url}: {status} {}", body.trim());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            println!("{url}: no answer ({e})");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Whether this process is the MTA pipe.
fn piping() -> bool {
    std::env::args().nth(1).as_deref() == Some("ingest-email")
}

/// A command line clap refuses. For `ingest-email` that is a configuration mistake in the
/// MTA, which must defer (75) rather than bounce the citizen's mail with our usage text.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    let _ = e.print();
    if piping() && !informational {
        eprintln!("the message was not stored, try again later");
        ExitCode::from(EX_TEMPFAIL)
    } else {
        ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
    }
}

async fn run(cli: Cli) -> Result<ExitCode, AnyError> {
    match cli.command {
        Command::Serve(args) => serve(Config::load(&args)?).await,
        Command::Migrate(args) => {
            let config = Config::load(&args)?;
            let db = baylanys::db::Db::connect(&config.database_url, 2)?;
            let applied = tokio::task::spawn_blocking(move || db.migrate()).await??;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                for m in applied {
                    println!("applied {m}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calendar { command } => calendar(command).await,
        Command::Doctor { json, config } => {
            let findings = baylanys::doctor::run(&Config::load(&config)?).await;
            if json {
                println!("{}", serde_json::to_string(&findings)?);
            } else {
                for f in &findings {
                    println!(
                        "{} {}: {}",
                        if f.ok { "ok  " } else { "FIX " },
                        f.check,
                        f.detail
                    );
                }
            }
            Ok(if findings.iter().all(|f| f.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Audit {
            command: AuditCommand::Verify { json, config },
        } => {
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let report = app.db.write(baylanys::tickets::audit::verify).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                match &report.broken {
                    None => println!(
                        "the audit log is whole: {} events of {} tickets",
                        report.events, report.tickets
                    ),
                    Some(b) => println!(
                        "broken at ticket {}, event {} (seq {}): {}",
                        b.ticket,
                        b.event,
                        b.seq.map_or("none".to_string(), |s| s.to_string()),
                        b.reason
                    ),
                }
            }
            Ok(if report.broken.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Backup { to, config } => {
            let url = Config::load(&config)?.database_url;
            let held =
                tokio::task::spawn_blocking(move || baylanys::backup::backup(&url, &to)).await??;
            println!("backed up: {held}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            from,
            force,
            config,
        } => {
            let url = Config::load(&config)?.database_url;
            let held =
                tokio::task::spawn_blocking(move || baylanys::backup::restore(&url, &from, force))
                    .await??;
            println!("restored: {held}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { ready, config } => healthcheck(ready, Config::load(&config)?).await,
        Command::Queue { command } => queue(command).await,
        Command::Registry { command } => registry(command).await,
        Command::Calls {
            command: CallsCommand::Import { file, config },
        } => calls_import(&file, existing(Config::load(&config)?)).await,
        Command::Kb { command } => kb(command).await,
        Command::Report { command } => report(command).await,
        Command::IngestEmail { config } => Ok(ingest_email(config).await),
        Command::Telegram {
            command: TelegramCommand::SetWebhook { url, config },
        } => set_webhook(&url, Config::load(&config)?).await,
        Command::User {
            command: UserCommand::Add(a),
        } => {
            // Mistakes the flags alone show fail before a password is asked for.
            baylanys::auth::Role::parse(&a.role).map_err(|m| format!("--role: {m}"))?;
            if let Some(e) = &a.email {
                baylanys::auth::check_email(e).map_err(|m| format!("--email: {m}"))?;
            }
            let app = baylanys::AppState::build(existing(Config::load(&a.config)?)).await?;
            let input = baylanys::users::NewUser {
                login: a.login.clone(),
                name: a.name.clone(),
                role: a.role.clone(),
                password: user_password(a.no_password)?,
                body_id: a.body.clone(),
                email: a.email.clone(),
            };
            let now = app.clock.now();
            let created = app
                .db
                .write(move |c| Ok(baylanys::users::create(c, &input, now)))
                .await?;
            let user = created.map_err(cli_user_error)?;
            println!("added user {} ({})", user.login, user.role.as_str());
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Change(a),
        } => {
            if let Some(r) = &a.role {
                baylanys::auth::Role::parse(r).map_err(|m| format!("--role: {m}"))?;
            }
            let input = baylanys::users::UserChange {
                name: a.name.clone(),
                role: a.role.clone(),
                body_id: a.body.clone().map(Some),
                active: (a.activate || a.deactivate).then_some(a.activate),
                password: if a.password {
                    user_password(false)?
                } else {
                    None
                },
                unlock: false,
            };
            if input == baylanys::users::UserChange::default() {
                return Err(
                    "nothing to change: give --role, --body, --name, --password, --deactivate \
                     or --activate"
                        .into(),
                );
            }
            let app = baylanys::AppState::build(existing(Config::load(&a.config)?)).await?;
            // The machine's operator, not an account: no "yourself" rule applies.
            let by = baylanys::auth::User {
                id: String::new(),
                login: "cli".into(),
                name: "cli".into(),
                role: baylanys::auth::Role::Admin,
                body_id: None,
            };
            let now = app.clock.now();
            let login = a.login.clone();
            let changed = app
                .db
                .write(move |c| Ok(baylanys::users::change(c, &by, &login, &input, now)))
                .await?;
            let user = changed.map_err(cli_user_error)?;
            println!(
                "changed user {} ({}, {})",
                user.login,
                user.role.as_str(),
                if user.active { "active" } else { "deactivated" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Unlock { login, config },
        } => {
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let l = login.clone();
            let lifted = app
                .db
                .write(move |c| baylanys::users::unlock(c, &l))
                .await?;
            if lifted {
                println!("the sign-in lock of {login} is lifted");
            } else {
                println!("{login} had no failed sign-ins on record: nothing to lift");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    login,
                    label,
                    config,
                },
        } => {
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let l = login.clone();
            let token = app
                .db
                .write(move |c| baylanys::auth::create_token(c, &l, label.as_deref()))
                .await?;
            match token {
                Some(t) => {
                    println!("{t}");
                    Ok(ExitCode::SUCCESS)
                }
                None => Err(
                    format!("no active user `{login}`: add one with `baylanys user add`").into(),
                ),
            }
        }
    }
}

async fn calls_import(file: &std::path::Path, config: Config) -> Result<ExitCode, AnyError> {
    use baylanys::calls::import::{ImportError, import};
    let reader: Box<dyn std::io::BufRead + Send> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let app = baylanys::AppState::build(config).await?;
    let db = app.db.clone();
    let started = std::time::Instant::now();
    let now = baylanys::db::now();
    let r = tokio::task::spawn_blocking(move || db.write_blocking_as(|c| import(c, reader, now)))
        .await?;
    match r {
        Ok(done) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {} calls ({} already known) from {} lines in {:.1} s ({:.0} records/s)",
                done.imported,
                done.already_known,
                done.lines,
                secs,
                done.lines as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::BadLines(lines)) => {
            for b in &lines {
                eprintln!("line {}: {}", b.line, b.message);
            }
            eprintln!("nothing was imported: fix the line(s) above and import the file again");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.to_string().into()),
    }
}

async fn set_webhook(url: &str, config: Config) -> Result<ExitCode, AnyError> {
    let token = config
        .telegram_token
        .clone()
        .ok_or("BAYLANYS_TELEGRAM_TOKEN is not set")?;
    let secret = config
        .telegram_webhook_secret
        .clone()
        .ok_or("BAYLANYS_TELEGRAM_WEBHOOK_SECRET is not set: webhook mode needs a secret")?;
    let url: url::Url = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let mut tg = baylanys_telegram::TelegramConfig::new(token);
    if let Some(api) = &config.telegram_api_url {
        tg.api_url = Some(baylanys_telegram::parse_api_url(api)?);
    }
    baylanys_telegram::set_webhook(&tg.bot(), url.clone(), &secret).await?;
    println!("webhook set to {url}");
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config) -> Result<ExitCode, AnyError> {
    let mut app = baylanys::Application::build(config).await?.start().await?;
    let engine = match app.state.db.engine {
        baylanys::db::Engine::Sqlite => "SQLite",
        baylanys::db::Engine::Postgres => "PostgreSQL",
    };
    println!("Baylanys listening on http://{} ({engine})", app.addr);
    tracing::info!(addr = %app.addr, engine, "server started");
    // SIGINT from a terminal, SIGTERM from systemd or `docker stop`.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
        _ = app.wait() => {}
    }
    tracing::info!("stopping");
    let stopped = app.stop().await;
    tracing::info!(
        registrar_threads = stopped.registrar_threads,
        tasks = stopped.tasks,
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// sysexits.h EX_TEMPFAIL: the MTA keeps the message and tries again later.
const EX_TEMPFAIL: u8 = 75;

/// sysexits.h EX_DATAERR: the MTA bounces the message, with our text, to its sender.
const EX_DATAERR: u8 = 65;

/// The MTA pipe. Only a message the server stored (or already had) exits 0, and only one
/// that can never be accepted (over the size limit) is refused for good; anything else,
/// a configuration mistake included, defers (75), so the MTA keeps the mail and retries.
async fn ingest_email(args: ConfigArgs) -> ExitCode {
    let defer = |what: String| {
        eprintln!("error: {what}; the message was not stored, try again later");
        ExitCode::from(EX_TEMPFAIL)
    };
    let config = match Config::load(&args) {
        Ok(c) => existing(c),
        Err(e) => return defer(e.to_string()),
    };
    let limit = config.max_message_bytes;
    let raw = match read_capped(std::io::stdin().lock(), limit) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            eprintln!(
                "error: the message is larger than {limit} bytes, the most this server accepts \
                 (BAYLANYS_MAX_MESSAGE_BYTES); send the files in several smaller messages"
            );
            return ExitCode::from(EX_DATAERR);
        }
        Err(e) => return defer(format!("cannot read the message from stdin: {e}")),
    };
    // No migrations here: the schema version is checked, and one connection is opened.
    let app = match baylanys::AppState::open_for_intake(config).await {
        Ok(app) => std::sync::Arc::new(app),
        Err(e) => return defer(e.to_string()),
    };
    // The year's number sequence exists before a registration needs it (PostgreSQL).
    if let Err(e) = app.prepare_numbers().await {
        return defer(e.to_string());
    }
    match baylanys::mail::ingest_raw(&app, raw, None).await {
        Ok(outcome) => {
            println!(
                "{}{}",
                outcome.name(),
                outcome
                    .number()
                    .map(|n| format!(" {n}"))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => defer(e.to_string()),
    }
}

/// Reads everything, or `None` as soon as there is more than `limit` bytes.
fn read_capped(input: impl std::io::Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut raw = Vec::new();
    input.take(limit.saturating_add(1)).read_to_end(&mut raw)?;
    Ok((raw.len() as u64 <= limit).then_some(raw))
}

async fn calendar(cmd: CalendarCommand) -> Result<ExitCode, AnyError> {
    match cmd {
        CalendarCommand::Due {
            from,
            working_days,
            json,
            config,
        } => {
            let config = Config::load(&config)?;
            let at = baylanys::calendar::parse_instant(&from)?;
            baylanys::calendar::check_covered(at.with_timezone(&chrono::Utc))?;
            let cal = load_calendar(&config).await?;
            let rule = if working_days == baylanys::calendar::R5_REPLY_WORKING_DAYS {
                "R5"
            } else {
                "C1"
            };
            let d = cal.working_days_due(
                at.with_timezone(&chrono::Utc),
                working_days,
                rule,
                &config.working_hours,
            )?;
            baylanys::calendar::check_covered(d.due_at)?;
            if json {
                println!("{}", baylanys::calendar::due_json(&d));
            } else {
                println!("{}", baylanys::calendar::format_almaty(d.due_at));
                println!("{}", d.explanation.en);
                println!("{}", d.explanation.ru);
                println!("{}", d.explanation.kk);
            }
            Ok(ExitCode::SUCCESS)
        }
        CalendarCommand::Show { year, json, config } => {
            let config = Config::load(&config)?;
            let cal = load_calendar(&config).await?;
            let listing = cal.year(year);
            if json {
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                for w in &listing.warnings {
                    println!("warning: {}", w.en);
                }
                for d in &listing.days {
                    println!(
                        "{} {:<3} {:<11} {}{}",
                        d.date,
                        d.weekday,
                        if d.working { "working" } else { "not working" },
                        d.reason.en,
                        d.note
                            .as_deref()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CalendarCommand::Confirm { year, note, config } => {
            if !(2000..=2100).contains(&year) {
                return Err(format!("--year {year}: give a year between 2000 and 2100").into());
            }
            if note.trim().is_empty() {
                return Err("--note must name the acts that set the movable days".into());
            }
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let n = note.trim().to_string();
            app.db
                .write(move |c| baylanys::calendar::store::confirm_year(c, year, &n, "cli"))
                .await?;
            println!("movable days of {year} confirmed ({})", note.trim());
            Ok(ExitCode::SUCCESS)
        }
        CalendarCommand::Set {
            date,
            kind,
            note,
            config,
        } => {
            let date = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|_| format!("`{date}` is not a date like 2027-05-16"))?;
            let kind: DayKind = kind.parse()?;
            if note.trim().is_empty() {
                return Err("--note must name the act that decided it".into());
            }
            let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
            let o = DayOverride {
                date,
                kind,
                note: note.trim().to_string(),
            };
            let stored = o.clone();
            app.db
                .write(move |c| baylanys::calendar::store::store_day(c, &stored, "cli"))
                .await?;
            app.reload_calendar().await?;
            println!(
                "{} set to {} ({}); it is now a {} day",
                o.date,
                o.kind.as_str(),
                o.note,
                if app.calendar().is_working_day(o.date) {
                    "working"
                } else {
                    "non-working"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The calendar with the overrides stored in the configured database; without one, the
/// built-in calendar (with a warning: administrators' overrides are then not known).
async fn load_calendar(
    config: &Config,
) -> Result<std::sync::Arc<baylanys::calendar::Calendar>, AnyError> {
    match baylanys::AppState::build(existing(config.clone())).await {
        Ok(app) => Ok(app.calendar()),
        Err(baylanys::StartError::Db(e @ baylanys::db::DbError::Missing(_))) => {
            eprintln!(
                "warning: {e}; using the built-in calendar without administrators' overrides"
            );
            Ok(std::sync::Arc::new(baylanys::calendar::Calendar::builtin()))
        }
        Err(e) => Err(e.into()),
    }
}

/// One-shot commands work on an existing database and never create one: a mistyped path
/// must not become a second, empty database with its own registration numbers.
async fn report(command: ReportCommand) -> Result<ExitCode, AnyError> {
    use baylanys::reports::{Format, Month, monthly};
    let ReportCommand::Monthly {
        month,
        out,
        format,
        body,
        lang,
        config,
    } = command;
    let month = Month::parse(&month).map_err(|e| format!("--month: {e}"))?;
    let format = match format.as_deref() {
        Some(f) => Format::parse(f).map_err(|e| format!("--format: {e}"))?,
        None if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv")) =>
        {
            Format::Csv
        }
        None => Format::Xlsx,
    };
    if lang != "ru" && lang != "kk" {
        return Err("--lang: must be ru or kk".into());
    }
    let app = baylanys::AppState::build(existing(Config::load(&config)?)).await?;
    let started = std::time::Instant::now();
    let rows = app
        .db
        .run(move |c| {
            let scope = match &body {
                Some(id) => monthly::Scope::of_body(c, id),
                None => Ok(monthly::Scope::All),
            };
            Ok(scope.and_then(|s| monthly::write_file(c, month, &s, &lang, format, &out)))
        })
        .await??;
    eprintln!("{rows} rows in {:.2} s", started.elapsed().as_secs_f64());
    println!("{rows}");
    Ok(ExitCode::SUCCESS)
}

fn existing(mut config: Config) -> Config {
    config.create_database = false;
    config
}
