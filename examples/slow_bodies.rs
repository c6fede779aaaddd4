//! Slow-body bench: opens many POST /api/v1/appeals requests on loopback that announce
//! a 10 KB body and trickle it a byte a second, against a release server it starts (SQLite
//! in a temp dir), and prints the server's RSS before, at peak and after they close,
//! with what the server answered.
//!
//! cargo build --release && cargo run --release --example slow_bodies
//!
//! Options by environment: BENCH_CONNECTIONS (20000), BENCH_HOLD_SECONDS (40),
//! BENCH_SERVER (path of the server binary, default: target/release/baylanys). The open
//! file limit is raised for this process and the server (both hold one socket each).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{env_or, free_port, server_bin, wait_listening};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let connections: usize = env_or("BENCH_CONNECTIONS", 20_000).min(50_000);
    let hold = Duration::from_secs(env_or("BENCH_HOLD_SECONDS", 40u64).min(300));
    let server_bin = std::env::var("BENCH_SERVER")
        .map(std::path::PathBuf::from)
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(server_bin);
    raise_fd_limit(connections as u64 * 2 + 1024);

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
            "--rate-limit-per-minute",
            "0",
        ])
        .env("BAYLANYS_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    let pid = server.id();
    wait_listening(port);
    std::thread::sleep(Duration::from_secs(1));
    let before = rss_kib(pid, "VmRSS:");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let outcomes = rt.block_on(drive(port, connections, hold));
    let peak = rss_kib(pid, "VmHWM:");
    drop(rt);
    // Every client socket is closed now; give the server a moment to notice.
    std::thread::sleep(Duration::from_secs(5));
    let after = rss_kib(pid, "VmRSS:");
    let alive = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let _ = server.kill();
    let _ = server.wait();

    println!(
        "{connections} slow bodies, held up to {} s, in {:.1} s",
        hold.as_secs(),
        started.elapsed().as_secs_f64()
    );
    let mut list: Vec<_> = outcomes.into_iter().collect();
    list.sort();
    for (what, n) in list {
        println!("  {what}: {n}");
    }
    println!(
        "server RSS: before {:.1} MiB, peak {:.1} MiB, after {:.1} MiB; still accepting: {alive}",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        after as f64 / 1024.0
    );
}

fn raise_fd_limit(wanted: u64) {
    use rlimit::Resource;
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap_or((1024, 1024));
    // Root may raise the hard limit; everyone may raise the soft one up to it.
    if hard < wanted && rlimit::setrlimit(Resource::NOFILE, wanted, wanted).is_ok() {
        return;
    }
    let got = rlimit::increase_nofile_limit(wanted).unwrap_or(soft);
    if got < wanted {
        eprintln!("open file limit {got} is below {wanted}: expect connect errors");
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn drive(port: u16, connections: usize, hold: Duration) -> HashMap<String, usize> {
    let outcomes = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let deadline = tokio::time::Instant::now() + hold;
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let outcomes = outcomes.clone();
        tasks.push(tokio::spawn(async move {
            let what = one(port, deadline).await;
            *outcomes.lock().expect("lock").entry(what).or_default() += 1;
        }));
        // Spread the connects over a few seconds so the accept queue keeps up.
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(outcomes)
        .map(|m| m.into_inner().expect("lock"))
        .unwrap_or_default()
}

/// One slow request: its outcome as the client saw it.
async fn one(port: u16, deadline: tokio::time::Instant) -> String {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return "connect failed".into();
    };
    let head = "POST /api/v1/appeals HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
                Content-Length: 10000\r\n\r\n{\"text\": \"";
    if s.write_all(head.as_bytes()).await.is_err() {
        return "closed while sending the head".into();
    }
    let mut buf = [0u8; 512];
    loop {
        tokio::select! {
            read = s.read(&mut buf) => {
                return match read {
                    Ok(n) if n >= 12 => {
                        let status = String::from_utf8_lossy(&buf[9..12]).into_owned();
                        format!("answered {status}")
                    }
                    Ok(_) => "closed by the server without an answer".into(),
                    Err(_) => "reset by the server".into(),
                };
            }
            _ = tokio::time::sleep_until(deadline) => return "still open at the end (client closed)".into(),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if s.write_all(b"a").await.is_err() {
                    return "closed while trickling".into();
                }
            }
        }
    }
}
