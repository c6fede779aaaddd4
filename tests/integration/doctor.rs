//! `baylanys doctor` against real servers: a migrated database, the SMTP server process,
//! Dovecot and the fake Bot API answer; a closed SMTP port, a wrong IMAP password and a
//! webhook host that refuses are each named with what to fix.

use std::process::Command;

use baylanys::auth::Role;
use baylanys_telegram::fake_api::FakeBotApi;
use serde_json::json;

use crate::email::mail_support::{Dovecot, SmtpSink, free_port};
use crate::support::{Backend, fresh_database, spawn_on};

both_backends!(doctor_says_what_works_and_what_to_fix);

fn doctor(args: &[&str]) -> (bool, Vec<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .arg("doctor")
        .arg("--json")
        .args(args)
        .output()
        .expect("baylanys runs");
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), findings)
}

fn finding<'a>(all: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no `{check}` in {all:?}"))
}

async fn doctor_says_what_works_and_what_to_fix(backend: Backend) {
    let (db, dir) = fresh_database(backend);
    let smtp = SmtpSink::start();
    let dovecot = tokio::task::spawn_blocking(Dovecot::start).await.unwrap();
    let fake = FakeBotApi::start();
    let bot = fake.config();
    let api = bot.api_url.clone().unwrap().to_string();
    let token = bot.token.clone();
    let imap = dovecot.url("");
    let closed = free_port();

    // The server's start migrates; a body with a webhook to a port nobody listens on.
    let t = spawn_on(&db, dir, 0, Vec::new()).await;
    let admin = t.token("admin", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "ici_operator", "name": {"kk": "АКИ", "ru": "ИКИ"},
                   "webhook_url": format!("http://127.0.0.1:{closed}/hook")}),
        )
        .await;
    assert_eq!(r.status(), 201);

    let good = |smtp_url: String, imap_url: String| {
        let (db, api, token) = (db.clone(), api.clone(), token.clone());
        tokio::task::spawn_blocking(move || {
            doctor(&[
                "--database-url",
                &db,
                "--smtp-url",
                &smtp_url,
                "--imap-url",
                &imap_url,
                "--telegram-token",
                &token,
                "--telegram-api-url",
                &api,
            ])
        })
    };
    let (all_ok, findings) = good(smtp.url(), imap.clone()).await.unwrap();
    for check in ["database", "smtp", "imap", "telegram"] {
        assert_eq!(finding(&findings, check)["ok"], true, "{findings:?}");
    }
    assert!(
        finding(&findings, "imap")["detail"]
            .as_str()
            .unwrap()
            .contains("IDLE"),
        "{findings:?}"
    );
    // The refusing webhook alone makes it fail, and says which body.
    assert!(!all_ok);
    let hook = finding(&findings, "webhook ИКИ");
    assert_eq!(hook["ok"], false);

    let bad_imap = {
        let (scheme, rest) = imap.split_once("://").unwrap();
        let host = rest.split_once('@').unwrap().1;
        format!("{scheme}://nobody:wrong@{host}")
    };
    let (ok, findings) = good(format!("smtp://127.0.0.1:{closed}"), bad_imap)
        .await
        .unwrap();
    assert!(!ok);
    let s = finding(&findings, "smtp");
    assert_eq!(s["ok"], false);
    assert!(
        s["detail"].as_str().unwrap().contains("check the host"),
        "{s}"
    );
    let i = finding(&findings, "imap");
    assert_eq!(i["ok"], false);
    assert!(
        !i["detail"].as_str().unwrap().contains("wrong@"),
        "the password is masked: {i}"
    );

    // A database that does not exist is not created.
    let missing = "sqlite:///nonexistent/dir/baylanys.db".to_string();
    let (ok, findings) = tokio::task::spawn_blocking(move || doctor(&["--database-url", &missing]))
        .await
        .unwrap();
    assert!(!ok);
    assert_eq!(finding(&findings, "database")["ok"], false);
    assert_eq!(finding(&findings, "smtp")["ok"], false, "not configured");
    drop(dovecot);
}
