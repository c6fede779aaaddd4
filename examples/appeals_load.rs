//! Load bench: 64 concurrent HTTP clients POST /api/v1/appeals against the release
//! server; prints appeals/s, p50/p99 latency and the server's peak RSS.
//!
//! cargo build --release && cargo run --release --example appeals_load -- sqlite
//! cargo run --release --example appeals_load -- postgres [postgres://URL]
//! cargo run --release --example appeals_load -- sqlite|postgres [URL] wrk
//!
//! With `wrk` the load comes from wrk (Debian package `wrk`) running
//! `examples/wrk/appeals.lua` (one distinct applicant per request) with as many
//! connections, instead of this program's own clients; its figures are printed as wrk
//! reports them, then the server's peak RSS.
//!
//! Without a URL, `postgres` starts a throwaway cluster with the Debian tools (fsync on,
//! as in production). Options by environment: BENCH_CLIENTS (64), BENCH_SECONDS (10).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::postgres::start_postgres;
use support::{env_or, free_port, server_bin, wait_listening};

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let rest: Vec<String> = args.collect();
    let use_wrk = rest.iter().any(|a| a == "wrk");
    let given_url = rest.into_iter().find(|a| a != "wrk");
    let clients: usize = env_or("BENCH_CLIENTS", 64);
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let server_bin = server_bin();
    // Before the server starts: a panic later would leave it running.
    if use_wrk && Command::new("wrk").arg("-v").output().is_err() {
        eprintln!("wrk is not installed: apt-get install wrk (or leave out `wrk`)");
        std::process::exit(2);
    }

    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cluster = None;
    let db = match (backend.as_str(), given_url) {
        ("sqlite", _) => format!("sqlite://{}", tmp.path().join("bench.db").display()),
        ("postgres", Some(url)) => url,
        ("postgres", None) => {
            let (url, stop) = start_postgres(tmp.path());
            cluster = Some(stop);
            url
        }
        (other, _) => panic!("backend `{other}`: use sqlite or postgres"),
    };
    let port = free_port();
    let mut server = Command::new(&server_bin)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db,
            "--rate-limit-per-minute",
            "0",
        ])
        .env("BAYLANYS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    let pid = server.id();
    wait_listening(port);

    if use_wrk {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/wrk/appeals.lua");
        let status = Command::new("wrk")
            .args([
                &format!("-t{}", env_or("BENCH_WRK_THREADS", 2)),
                &format!("-c{clients}"),
                &format!("-d{seconds}s"),
                "--latency",
                "-s",
                script,
                &format!("http://127.0.0.1:{port}"),
            ])
            .status()
            .expect("wrk runs (apt-get install wrk)");
        println!("backend:      {backend} (wrk exit {status})");
        println!(
            "server peak RSS: {:.1} MiB",
            peak_rss_kib(pid) as f64 / 1024.0
        );
        let _ = server.kill();
        let _ = server.wait();
        if let Some(stop) = cluster {
            let _ = Command::new("sh").args(["-c", &stop]).status();
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (latencies, errors, elapsed) =
        rt.block_on(drive(port, clients, Duration::from_secs(seconds)));
    let peak_rss_kib = peak_rss_kib(pid);
    let _ = server.kill();
    let _ = server.wait();
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }

    let mut l = latencies;
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!("backend:      {backend}");
    println!("clients:      {clients}");
    println!(
        "appeals:      {} in {:.1} s ({} errors)",
        l.len(),
        elapsed.as_secs_f64(),
        errors
    );
    println!(
        "appeals/s:    {:.0}",
        l.len() as f64 / elapsed.as_secs_f64()
    );
    println!("latency p50:  {:.2} ms", pct(0.50).as_secs_f64() * 1000.0);
    println!("latency p99:  {:.2} ms", pct(0.99).as_secs_f64() * 1000.0);
    println!("server peak RSS: {:.1} MiB", peak_rss_kib as f64 / 1024.0);
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

async fn drive(port: u16, clients: usize, duration: Duration) -> (Vec<Duration>, usize, Duration) {
    let url = format!("http://127.0.0.1:{port}/api/v1/appeals");
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut lat = Vec::new();
                let mut errors = 0usize;
                let mut i = 0u64;
                while Instant::now() < end {
                    i += 1;
                    let body = serde_json::json!({
                        "name": "Бенчмарк Тест", "email": format!("bench{c}-{i}@example.kz"),
                        "region": "astana", "topic": "other", "consent": true,
                        "text": format!("Нагрузочное обращение {c}-{i}: проверка пропускной способности"),
                    });
                    let t0 = Instant::now();
                    match client.post(&url).json(&body).send().await {
                        Ok(r) if r.status() == 201 => {
                            let _ = r.bytes().await;
                            lat.push(t0.elapsed());
                        }
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
