//! Load bench: WhatsApp follow-ups through `POST /whatsapp/webhook` against the server
//! binary and the local Graph API stand-in (SQLite, or PostgreSQL with
//! BENCH_DATABASE_URL); prints webhooks accepted per second at the HTTP edge (signature
//! checked, body stored raw with its job) and webhooks handled per second end to end
//! (until the last "added to your appeal" reply was accepted by the stand-in), with
//! p50/p99 latency of the POSTs. Each sender first registers an appeal, so every
//! measured webhook joins an open ticket and has a reply due.
//!
//! cargo build --release && cargo run --release --example whatsapp_webhook_load
//!
//! Options by environment: BENCH_SENDERS (100), BENCH_WEBHOOKS_PER_SENDER (10),
//! BENCH_DATABASE_URL (a fresh SQLite file).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baylanys_whatsapp::fake_api::{self, FakeGraphApi};
use support::{env_or, free_port, server_bin, wait_listening};

fn main() {
    let senders: u64 = env_or("BENCH_SENDERS", 100);
    let per_sender: u64 = env_or("BENCH_WEBHOOKS_PER_SENDER", 10);
    let server_bin = server_bin();
    let fake = Arc::new(FakeGraphApi::start());
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", tmp.path().join("bench.db").display()));
    let port = free_port();
    let mut server = Command::new(&server_bin)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db,
        ])
        .env("BAYLANYS_LOG", "warn")
        .env("BAYLANYS_WHATSAPP_TOKEN", &fake.token)
        .env("BAYLANYS_WHATSAPP_PHONE_NUMBER_ID", &fake.phone_number_id)
        .env("BAYLANYS_WHATSAPP_APP_SECRET", &fake.app_secret)
        .env("BAYLANYS_WHATSAPP_VERIFY_TOKEN", &fake.verify_token)
        .env("BAYLANYS_WHATSAPP_API_URL", fake.url.as_str())
        // The bench measures the server, not WhatsApp's pair pacing.
        .env("BAYLANYS_WHATSAPP_PER_RECIPIENT_INTERVAL_MS", "1")
        .env("BAYLANYS_FOLLOW_UPS_PER_SENDER_PER_HOUR", "0")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("http://127.0.0.1:{port}/whatsapp/webhook");
    // Round 0 registers one appeal per sender; rounds 1.. are the measured follow-ups.
    rt.block_on(drive(&fake, &url, senders, 0, 1));
    // Wait until every acknowledgement went out, so the measured rounds start clean.
    let acks_by = Instant::now() + Duration::from_secs(120);
    while acks(&fake) < senders as usize && Instant::now() < acks_by {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = added(&fake);
    let (latencies, errors, accepted_in) = rt.block_on(drive(&fake, &url, senders, 1, per_sender));
    let start = Instant::now() - accepted_in;
    let want = before + (senders * per_sender) as usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    while added(&fake) < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let handled_in = start.elapsed();
    let handled = added(&fake) - before;
    let _ = server.kill();
    let _ = server.wait();

    let mut l = latencies;
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let engine = if db.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    println!("engine:          {engine}");
    println!("senders:         {senders}, {per_sender} follow-up webhooks each");
    println!(
        "accepted:        {} in {:.2} s ({errors} errors): {:.1} webhooks/s",
        l.len(),
        accepted_in.as_secs_f64(),
        l.len() as f64 / accepted_in.as_secs_f64()
    );
    println!(
        "handled:         {handled} in {:.2} s: {:.1} webhooks/s (stored, job run, message joined, reply sent)",
        handled_in.as_secs_f64(),
        handled as f64 / handled_in.as_secs_f64()
    );
    println!(
        "POST p50:        {:.1} ms",
        pct(0.50).as_secs_f64() * 1000.0
    );
    println!(
        "POST p99:        {:.1} ms",
        pct(0.99).as_secs_f64() * 1000.0
    );
}

fn wa(sender: u64) -> String {
    format!("7705{:07}", sender)
}

/// Replies "added to your appeal" the stand-in accepted.
fn added(fake: &FakeGraphApi) -> usize {
    fake.sent()
        .iter()
        .filter(|c| c.status == 200 && c.text.as_deref().is_some_and(|t| t.contains("добавлено")))
        .count()
}

fn acks(fake: &FakeGraphApi) -> usize {
    fake.sent()
        .iter()
        .filter(|c| {
            c.status == 200
                && c.text
                    .as_deref()
                    .is_some_and(|t| t.contains("зарегистрировано"))
        })
        .count()
}

/// One client per sender, sending its webhooks one after another (as Meta does per user).
async fn drive(
    fake: &Arc<FakeGraphApi>,
    url: &str,
    senders: u64,
    first: u64,
    rounds: u64,
) -> (Vec<Duration>, usize, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|sender| {
            let url = url.to_string();
            let fake = fake.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut lat = Vec::new();
                let mut errors = 0usize;
                for round in first..first + rounds {
                    let text =
                        format!("Сообщение {round} от {sender}: проверка пропускной способности");
                    let message =
                        fake_api::text(&wa(sender), &format!("wamid.BENCH{sender}x{round}"), &text);
                    let body = serde_json::to_vec(&fake.webhook(vec![message], Vec::new(), "Бенч"))
                        .expect("serializable");
                    let t0 = Instant::now();
                    let sent = client
                        .post(&url)
                        .header("X-Hub-Signature-256", fake.sign(&body))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => lat.push(t0.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    (all, errors, start.elapsed())
}
