//! `baylanys doctor`: checks the configuration and each configured channel for real
//! (the database, SMTP, IMAP, the Telegram Bot API, the registry's webhooks) and says in
//! one line each what works and what to fix.

use std::time::Duration;

use crate::config::Config;

/// One check's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub check: String,
    pub ok: bool,
    /// What works, or what is wrong and what to change.
    pub detail: String,
}

fn ok(check: &str, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        ok: true,
        detail: detail.into(),
    }
}

fn fix(check: &str, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        ok: false,
        detail: detail.into(),
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every check the configuration calls for.
pub async fn run(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let db = database(config, &mut out).await;
    out.push(smtp(config).await);
    if let Some(f) = imap(config).await {
        out.push(f);
    }
    if let Some(f) = telegram(config).await {
        out.push(f);
    }
    if let Some(f) = whatsapp(config).await {
        out.push(f);
    }
    if let Some(db) = db {
        webhooks(&db, &mut out).await;
    }
    out
}

async fn database(config: &Config, out: &mut Vec<Finding>) -> Option<crate::db::Db> {
    let shown = crate::logging::redact(&config.database_url);
    let opened = crate::db::Db::open(
        &config.database_url,
        crate::db::OpenOptions {
            pool_size: 2,
            create: false,
            synchronous: config.sqlite_synchronous,
            background_checkpoint: false,
        },
    );
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            out.push(fix(
                "database",
                format!("{shown}: {e} (check BAYLANYS_DATABASE_URL; `baylanys migrate` creates an SQLite file)"),
            ));
            return None;
        }
    };
    if let Err(e) = db.ping().await {
        out.push(fix("database", format!("{shown} does not answer: {e}")));
        return None;
    }
    let d = db.clone();
    match tokio::task::spawn_blocking(move || d.pending_migrations()).await {
        Ok(Ok(p)) if p.is_empty() => out.push(ok(
            "database",
            format!("{shown}: answers, every migration applied"),
        )),
        Ok(Ok(p)) => out.push(fix(
            "database",
            format!(
                "{shown}: {} migration(s) pending ({}): run `baylanys migrate`",
                p.len(),
                p.join(", ")
            ),
        )),
        Ok(Err(e)) => out.push(fix(
            "database",
            format!("{shown}: the migrations cannot be read: {e}"),
        )),
        Err(e) => out.push(fix("database", e.to_string())),
    }
    Some(db)
}

async fn smtp(config: &Config) -> Finding {
    let Some(url) = &config.smtp_url else {
        return fix(
            "smtp",
            "not configured: acknowledgements and replies to e-mail applicants cannot be sent \
             (set BAYLANYS_SMTP_URL, e.g. smtp://127.0.0.1:25)",
        );
    };
    let shown = crate::logging::redact(url);
    let from: lettre::message::Mailbox = match config.mail_from.parse() {
        Ok(f) => f,
        Err(e) => {
            return fix(
                "smtp",
                format!(
                    "BAYLANYS_MAIL_FROM `{}` is not an address: {e}",
                    config.mail_from
                ),
            );
        }
    };
    let adapter = match baylanys_email::SmtpAdapter::from_url(url, from, "doctor.invalid") {
        Ok(a) => a,
        Err(e) => return fix("smtp", format!("{shown}: {e}")),
    };
    match tokio::time::timeout(TIMEOUT, adapter.check()).await {
        Ok(Ok(())) => ok("smtp", format!("{shown}: the server greets us")),
        Ok(Err(e)) => fix(
            "smtp",
            format!("{shown}: {e} (check the host, port, TLS mode and credentials)"),
        ),
        Err(_) => fix(
            "smtp",
            format!("{shown}: no answer within {} s", TIMEOUT.as_secs()),
        ),
    }
}

async fn imap(config: &Config) -> Option<Finding> {
    let url = config.imap_url.as_ref()?;
    let shown = crate::logging::redact(url);
    let imap_config = match baylanys_email::imap::ImapConfig::from_url(url) {
        Ok(c) => c,
        Err(e) => return Some(fix("imap", format!("{shown}: {e}"))),
    };
    let inbox = baylanys_email::imap::ImapInbox::new(imap_config);
    Some(
        match tokio::time::timeout(TIMEOUT * 2, inbox.check()).await {
            Ok(Ok(detail)) => ok("imap", detail),
            Ok(Err(e)) => fix("imap", format!("{shown}: {e}")),
            Err(_) => fix(
                "imap",
                format!("{shown}: no answer within {} s", TIMEOUT.as_secs() * 2),
            ),
        },
    )
}

/// WhatsApp: every setting the webhook and the sends need, then the phone number asked
/// for with the token.
async fn whatsapp(config: &Config) -> Option<Finding> {
    let (token, phone) = match (&config.whatsapp_token, &config.whatsapp_phone_number_id) {
        (None, None) => return None,
        (Some(t), Some(p)) => (t, p),
        _ => {
            return Some(fix(
                "whatsapp",
                "set both BAYLANYS_WHATSAPP_TOKEN and BAYLANYS_WHATSAPP_PHONE_NUMBER_ID",
            ));
        }
    };
    let mut missing = Vec::new();
    if config.whatsapp_app_secret.is_none() {
        missing.push("BAYLANYS_WHATSAPP_APP_SECRET (webhook signatures)");
    }
    if config.whatsapp_verify_token.is_none() {
        missing.push("BAYLANYS_WHATSAPP_VERIFY_TOKEN (the webhook handshake)");
    }
    if !missing.is_empty() {
        return Some(fix("whatsapp", format!("set {}", missing.join(" and "))));
    }
    if let Some(t) = &config.whatsapp_templates
        && let Err(e) = baylanys_whatsapp::parse_templates(t)
    {
        return Some(fix("whatsapp", e.to_string()));
    }
    let base = config
        .whatsapp_api_url
        .clone()
        .unwrap_or_else(|| baylanys_whatsapp::DEFAULT_API_URL.into());
    let url = format!("{}/{phone}", base.trim_end_matches('/'));
    let answer = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .timeout(TIMEOUT)
        .send()
        .await;
    let windows = if config.whatsapp_templates.is_some() {
        "templates configured for outside the 24-hour window"
    } else {
        "no templates: messages outside the 24-hour window will fail (BAYLANYS_WHATSAPP_TEMPLATES)"
    };
    Some(match answer {
        Ok(r) if r.status().is_success() => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            let number = v["display_phone_number"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            ok(
                "whatsapp",
                format!(
                    "number {number} answers at {base}; give Meta the webhook URL                      <public_url>/whatsapp/webhook with the verify token; {windows}"
                ),
            )
        }
        Ok(r) if r.status() == 401 || r.status() == 400 || r.status() == 404 => fix(
            "whatsapp",
            format!(
                "{base} refuses the token or the phone number id ({}): check                  BAYLANYS_WHATSAPP_TOKEN and BAYLANYS_WHATSAPP_PHONE_NUMBER_ID",
                r.status()
            ),
        ),
        Ok(r) => fix("whatsapp", format!("{base} answers {}", r.status())),
        Err(e) => fix(
            "whatsapp",
            format!(
                "{base} does not answer: {} (check BAYLANYS_WHATSAPP_API_URL and the network)",
                crate::logging::redact(&e.to_string())
            ),
        ),
    })
}

async fn telegram(config: &Config) -> Option<Finding> {
    let token = config.telegram_token.as_ref()?;
    let base = config
        .telegram_api_url
        .clone()
        .unwrap_or_else(|| "https://api.telegram.org".into());
    let url = format!("{}/bot{token}/getMe", base.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let answer = client.get(&url).timeout(TIMEOUT).send().await;
    Some(match answer {
        Ok(r) if r.status().is_success() => {
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            let name = v["result"]["username"].as_str().unwrap_or("?").to_string();
            let mode = &config.telegram_mode;
            if mode == "webhook" && config.telegram_webhook_secret.is_none() {
                fix(
                    "telegram",
                    format!(
                        "bot @{name} answers, but webhook mode needs BAYLANYS_TELEGRAM_WEBHOOK_SECRET"
                    ),
                )
            } else {
                ok(
                    "telegram",
                    format!("bot @{name} answers at {base} ({mode} mode)"),
                )
            }
        }
        Ok(r) if r.status() == 401 || r.status() == 404 => fix(
            "telegram",
            format!(
                "{base} refuses the token ({}): check BAYLANYS_TELEGRAM_TOKEN",
                r.status()
            ),
        ),
        Ok(r) => fix("telegram", format!("{base} answers {}", r.status())),
        Err(e) => fix(
            "telegram",
            format!(
                "{base} does not answer: {} (check BAYLANYS_TELEGRAM_API_URL and the network)",
                crate::logging::redact(&e.to_string())
            ),
        ),
    })
}

/// Each active body's webhook: its host accepts a connection (nothing is posted).
async fn webhooks(db: &crate::db::Db, out: &mut Vec<Finding>) {
    let bodies = db
        .run(|c| crate::registry::bodies::list(c, &crate::registry::bodies::BodyFilter::default()))
        .await
        .unwrap_or_default();
    for b in bodies {
        let Some(url) = &b.webhook_url else { continue };
        let check = format!("webhook {}", b.name.ru);
        let Ok(parsed) = url::Url::parse(url) else {
            out.push(fix(
                &check,
                format!("`{url}` is not a URL: PATCH /api/v1/bodies/{}", b.id),
            ));
            continue;
        };
        let host = parsed.host_str().unwrap_or("").to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let connect = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await;
        out.push(match connect {
            Ok(Ok(_)) if b.webhook_secret_set => {
                ok(&check, format!("{host}:{port} accepts connections"))
            }
            Ok(Ok(_)) => fix(
                &check,
                format!(
                    "{host}:{port} accepts connections, but the body has no webhook secret: set one"
                ),
            ),
            Ok(Err(e)) => fix(&check, format!("{host}:{port}: {e}")),
            Err(_) => fix(
                &check,
                format!("{host}:{port}: no answer within {} s", TIMEOUT.as_secs()),
            ),
        });
    }
}
