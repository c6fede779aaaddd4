//! E-mail load bench against the release server on SQLite, with a real Dovecot and a
//! local aiosmtpd sink (see channels/email/tests/support/mod.rs for what to install):
//!
//! 1. fills the Dovecot mailbox with BENCH_IMAP (10,000) generated messages (maildir
//!    files), starts `baylanys serve --imap-url ... --smtp-url ...` and measures
//!    messages/s ingested through IMAP (until /metrics shows them all as tickets), and the
//!    acknowledgements/s that reach the SMTP sink meanwhile;
//! 2. pipes BENCH_CLI (1,000) messages through `baylanys ingest-email`, one process each;
//! 3. queues BENCH_REPLIES (1,000) operator replies through the API and measures
//!    mails/s arriving at the SMTP sink.
//!
//! cargo build --release && cargo run --release --example email_load
//!
//! Measured on the 2-core dev machine (SQLite, 2026-11-22): IMAP intake 606 messages/s
//! (10,000 in 16.5 s); acknowledgements at the sink 350 mails/s meanwhile;
//! `ingest-email` 75 messages/s (1,000 processes, each opening and migrating the DB);
//! operator replies 343 mails/s (1,000, API to the SMTP sink).

#[path = "../channels/email/tests/support/mod.rs"]
mod mail_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_support::{Dovecot, SmtpSink};

fn main() {
    let n_imap: usize = env_or("BENCH_IMAP", 10_000);
    let n_cli: usize = env_or("BENCH_CLI", 1_000);
    let n_replies: usize = env_or("BENCH_REPLIES", 1_000);
    let bin = server_bin();
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", tmp.path().join("bench.db").display());
    let sink = SmtpSink::start();
    let dovecot = Dovecot::start();

    let t = Instant::now();
    for i in 0..n_imap {
        dovecot.deliver(&message("imap", i));
    }
    println!(
        "mailbox filled: {n_imap} messages in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let port = mail_support::free_port();
    let imap_url = dovecot.url("?idle_timeout=60");
    let started = Instant::now();
    let mut server = serve(&bin, port, &db, &imap_url, &sink.url());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = reqwest::Client::new();
    rt.block_on(wait_for_tickets(&client, port, n_imap));
    let imap_secs = started.elapsed().as_secs_f64();
    println!(
        "IMAP intake:   {n_imap} tickets in {imap_secs:.1} s = {:.0} messages/s",
        n_imap as f64 / imap_secs
    );
    wait_for_sink(&sink, n_imap);
    let ack_secs = started.elapsed().as_secs_f64();
    println!(
        "acks by SMTP:  {n_imap} at the sink {ack_secs:.1} s after start = {:.0} mails/s",
        n_imap as f64 / ack_secs
    );

    let t = Instant::now();
    for i in 0..n_cli {
        ingest_cli(&bin, &db, &message("cli", i));
    }
    let cli_secs = t.elapsed().as_secs_f64();
    println!(
        "ingest-email:  {n_cli} processes in {cli_secs:.1} s = {:.0} messages/s",
        n_cli as f64 / cli_secs
    );
    wait_for_sink(&sink, n_imap + n_cli);

    let token = operator_token(&bin, &db);
    let before = sink.count();
    let t = Instant::now();
    rt.block_on(queue_replies(&client, port, &token, n_replies));
    wait_for_sink(&sink, before + n_replies);
    let reply_secs = t.elapsed().as_secs_f64();
    println!(
        "replies:       {n_replies} queued by API and at the sink in {reply_secs:.1} s = {:.0} mails/s",
        n_replies as f64 / reply_secs
    );

    let _ = server.kill();
    let _ = server.wait();
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn server_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .map(|p| p.join("baylanys"))
        .filter(|p| p.exists())
        .expect("build the server first: cargo build --release")
}

fn message(kind: &str, i: usize) -> Vec<u8> {
    format!(
        "From: Applicant {i} <{kind}{i}@example.kz>\r\nTo: support@goscorp.kz\r\n\
         Subject: Вопрос {kind} {i}\r\nMessage-ID: <{kind}-{i}@example.kz>\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0500\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Здравствуйте! Не могу войти на портал электронного правительства, обращение {i}.\r\n"
    )
    .into_bytes()
}

fn serve(bin: &Path, port: u16, db: &str, imap_url: &str, smtp_url: &str) -> Child {
    let server = Command::new(bin)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            db,
        ])
        .args([
            "--rate-limit-per-minute",
            "0",
            "--acks-per-sender-per-hour",
            "0",
        ])
        .args(["--imap-url", imap_url, "--smtp-url", smtp_url])
        .env("BAYLANYS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

async fn open_tickets(client: &reqwest::Client, port: u16) -> usize {
    let Ok(resp) = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
    else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("baylanys_tickets_open "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn wait_for_tickets(client: &reqwest::Client, port: u16, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    while open_tickets(client, port).await < n {
        assert!(
            Instant::now() < deadline,
            "IMAP intake did not finish in 30 min"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn wait_for_sink(sink: &SmtpSink, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    while sink.count() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} mails reached the sink",
            sink.count()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ingest_cli(bin: &Path, db: &str, raw: &[u8]) {
    let mut child = Command::new(bin)
        .args(["ingest-email", "--database-url", db])
        .env("BAYLANYS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("ingest-email runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(raw).expect("writing the message");
    }
    let status = child.wait().expect("ingest-email ends");
    assert!(status.success(), "ingest-email failed: {status}");
}

fn operator_token(bin: &Path, db: &str) -> String {
    let ok = Command::new(bin)
        .args([
            "user",
            "add",
            "--login",
            "bench",
            "--role",
            "operator",
            "--database-url",
            db,
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "user add failed");
    let out = Command::new(bin)
        .args(["token", "create", "--login", "bench", "--database-url", db])
        .output()
        .expect("token create runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn ticket_numbers(client: &reqwest::Client, port: u16, token: &str, n: usize) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut after: Option<String> = None;
    while numbers.len() < n {
        let mut url = format!("http://127.0.0.1:{port}/api/v1/tickets?limit=200");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        let rows = page["tickets"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            break;
        }
        numbers.extend(
            rows.iter()
                .filter_map(|r| r["number"].as_str().map(str::to_string)),
        );
        after = rows
            .last()
            .and_then(|r| r["id"].as_str().map(str::to_string));
    }
    numbers.truncate(n);
    numbers
}

async fn queue_replies(client: &reqwest::Client, port: u16, token: &str, n: usize) {
    let numbers = ticket_numbers(client, port, token, n).await;
    let chunks: Vec<Vec<String>> = numbers
        .chunks(n.div_ceil(16).max(1))
        .map(<[String]>::to_vec)
        .collect();
    let tasks = chunks.into_iter().map(|chunk| {
        let client = client.clone();
        let token = token.to_string();
        tokio::spawn(async move {
            for number in chunk {
                let resp = client
                    .post(format!(
                        "http://127.0.0.1:{port}/api/v1/tickets/{number}/replies"
                    ))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"text": "Восстановите пароль через ЦОН."}))
                    .send()
                    .await
                    .expect("reply");
                assert_eq!(resp.status(), 202, "reply to {number}");
            }
        })
    });
    for t in tasks {
        t.await.expect("reply task");
    }
}
