//! What the Nth follow-up on one ticket costs: BENCH_FOLLOWUPS (1,000) mails of 10 KB
//! POSTed as raw e-mail to one ticket, one after another, against the release server;
//! prints the time of the 1st, 10th, 100th and last follow-up (the mean of 10 around
//! each), then the p50 of 200 other citizens' appeals registered afterwards.
//!
//! cargo build --release && cargo run --release --example followup_cost -- sqlite
//! cargo run --release --example followup_cost -- postgres [postgres://URL]
//!
//! The per-sender follow-up limit is turned off here, so every follow-up really joins
//! the ticket (the limit would hold them, which is cheaper still).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{env_or, free_port, server_bin, wait_listening};

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let n: usize = env_or("BENCH_FOLLOWUPS", 1_000_usize).max(20);
    let bin = server_bin();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cluster = None;
    let db = match (backend.as_str(), given_url) {
        ("sqlite", _) => format!("sqlite://{}", tmp.path().join("bench.db").display()),
        ("postgres", Some(url)) => url,
        ("postgres", None) => {
            let (url, stop) = support::postgres::start_postgres(tmp.path());
            cluster = Some(stop);
            url
        }
        (other, _) => panic!("backend `{other}`: use sqlite or postgres"),
    };
    let port = free_port();
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db, "--rate-limit-per-minute", "0"])
        .args(["--follow-ups-per-sender-per-hour", "0"])
        .env("BAYLANYS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(port);
    let cli = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .args(["--database-url", &db])
            .env("BAYLANYS_LOG", "warn")
            .output()
            .expect("baylanys runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    cli(&["user", "add", "--login", "mta", "--role", "ingest"]);
    let token = cli(&["token", "create", "--login", "mta"]);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (times, appeal_p50) = rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}");
        let post = |raw: String| {
            client
                .post(format!("{url}/api/v1/inbound/email"))
                .bearer_auth(&token)
                .body(raw)
                .send()
        };
        let first: serde_json::Value = post(mail(0, "Вопрос о портале"))
            .await
            .expect("server answers")
            .json()
            .await
            .expect("JSON");
        let number = first["number"].as_str().expect("registered").to_string();
        let mut times = Vec::with_capacity(n);
        for k in 1..=n {
            let t0 = Instant::now();
            let r = post(mail(k, &format!("Re: [{number}] Вопрос о портале")))
                .await
                .expect("server answers");
            assert_eq!(r.status(), 202);
            let _ = r.bytes().await;
            times.push(t0.elapsed());
        }
        let mut appeals = Vec::new();
        for i in 0..200 {
            let body = serde_json::json!({
                "name": "Другой Заявитель", "email": format!("other{i}@example.kz"),
                "region": "astana", "topic": "other", "consent": true,
                "text": "Обращение во время длинной переписки",
            });
            let t0 = Instant::now();
            let r = client
                .post(format!("{url}/api/v1/appeals"))
                .json(&body)
                .send()
                .await
                .expect("server answers");
            assert_eq!(r.status(), 201);
            appeals.push(t0.elapsed());
        }
        appeals.sort_unstable();
        (times, appeals[appeals.len() / 2])
    });
    let _ = server.kill();
    let _ = server.wait();
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }
    let around = |k: usize| {
        let from = k.saturating_sub(5).min(n - 10);
        let w = &times[from..from + 10];
        w.iter().sum::<Duration>().as_secs_f64() * 1000.0 / w.len() as f64
    };
    println!("backend: {backend}, {n} follow-ups of 10 KB to one ticket");
    for k in [1, 10, 100, n] {
        println!("follow-up #{k:<5} {:.2} ms", around(k));
    }
    println!(
        "other appeals afterwards: p50 {:.2} ms",
        appeal_p50.as_secs_f64() * 1000.0
    );
}

/// A 10 KB plain-text mail from the same applicant.
fn mail(k: usize, subject: &str) -> String {
    let body = format!("Дополнение номер {k}. ").repeat(10 * 1024 / 40);
    format!(
        "From: citizen@example.kz\r\nTo: support@goscorp.kz\r\nSubject: {subject}\r\n\
         Message-ID: <followup-{k}@example.kz>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
}
