//! Load bench: Telegram follow-ups through `POST /telegram/webhook` against the server
//! binary and the fake Bot API (SQLite); prints updates/s and p50/p99 latency. Each chat
//! first registers an appeal, so every update measured joins an open ticket and has an
//! "added to your appeal" reply due.
//!
//! cargo build --release && cargo run --release --example telegram_webhook_load
//!
//! Options by environment: BENCH_CHATS (100), BENCH_UPDATES_PER_CHAT (10).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baylanys_telegram::fake_api::FakeBotApi;
use serde_json::{Value, json};
use support::{env_or, free_port, server_bin, wait_listening};

fn main() {
    let chats: i64 = env_or("BENCH_CHATS", 100);
    let per_chat: i64 = env_or("BENCH_UPDATES_PER_CHAT", 10);
    let server_bin = server_bin();
    let fake = FakeBotApi::start();
    let tg = fake.config();
    let tmp = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", tmp.path().join("bench.db").display());
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
        .env("BAYLANYS_TELEGRAM_TOKEN", &tg.token)
        .env(
            "BAYLANYS_TELEGRAM_API_URL",
            tg.api_url
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_default(),
        )
        .env("BAYLANYS_TELEGRAM_MODE", "webhook")
        .env("BAYLANYS_TELEGRAM_WEBHOOK_SECRET", "fake-secret")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!("http://127.0.0.1:{port}/telegram/webhook");
    // Round 0 registers one appeal per chat; rounds 1.. are the measured follow-ups.
    rt.block_on(drive(&url, chats, 0, 1));
    let (latencies, errors, elapsed) = rt.block_on(drive(&url, chats, 1, per_chat));
    let _ = server.kill();
    let _ = server.wait();

    let mut l = latencies;
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!("chats:        {chats}, {per_chat} follow-ups each");
    println!(
        "updates:      {} in {:.2} s ({errors} errors)",
        l.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "updates/s:    {:.1}",
        l.len() as f64 / elapsed.as_secs_f64()
    );
    println!("latency p50:  {:.1} ms", pct(0.50).as_secs_f64() * 1000.0);
    println!("latency p99:  {:.1} ms", pct(0.99).as_secs_f64() * 1000.0);
}

fn update(chat: i64, round: i64) -> Value {
    json!({
        "update_id": 1_000_000 + chat * 1_000 + round,
        "message": {
            "message_id": round + 1,
            "date": 1_778_000_000,
            "chat": {"id": 5_000_000 + chat, "type": "private", "first_name": "Бенч"},
            "from": {"id": 5_000_000 + chat, "is_bot": false, "first_name": "Бенч"},
            "text": format!("Сообщение {round} в чате {chat}: проверка пропускной способности"),
        }
    })
}

/// One client per chat, sending its rounds one after another (as Telegram does per chat).
async fn drive(url: &str, chats: i64, first: i64, rounds: i64) -> (Vec<Duration>, usize, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..chats)
        .map(|chat| {
            let url = url.to_string();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut lat = Vec::new();
                let mut errors = 0usize;
                for round in first..first + rounds {
                    let t0 = Instant::now();
                    let sent = client
                        .post(&url)
                        .header("X-Telegram-Bot-Api-Secret-Token", "fake-secret")
                        .json(&update(chat, round))
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
