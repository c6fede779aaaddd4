//! LMTP intake bench: `baylanys serve --lmtp-listen ...` (release build) on SQLite or a
//! throwaway PostgreSQL cluster, driven by BENCH_CONNECTIONS (16) persistent LMTP
//! connections that deliver BENCH_MAILS (10,000) distinct messages in all, each as one
//! pipelined MAIL/RCPT/DATA write; a mail counts once its "250 stored" reply arrives.
//! BENCH_BIN runs another build of the server.
//!
//! cargo build --release && cargo run --release --example lmtp_load -- sqlite|postgres

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{env_or, free_port, server_bin, wait_listening};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn message(i: usize) -> String {
    format!(
        "From: Applicant {i} <lmtp{i}@example.kz>\r\nTo: support@goscorp.kz\r\n\
         Subject: Вопрос {i}\r\nMessage-ID: <lmtp-{i}@example.kz>\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0500\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Здравствуйте! Не могу войти на портал электронного правительства, обращение {i}.\r\n"
    )
}

async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.expect("reads");
        assert!(n > 0, "the server closed the connection");
        all.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return all;
        }
    }
}

async fn client(port: u16, next: Arc<AtomicUsize>, total: usize) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    assert!(reply(&mut r).await.starts_with("220"));
    w.write_all(b"LHLO bench\r\n").await.expect("writes");
    assert!(reply(&mut r).await.starts_with("250"));
    let mut latencies = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let started = Instant::now();
        let body = message(i);
        let write = format!(
            "MAIL FROM:<lmtp{i}@example.kz> BODY=8BITMIME\r\nRCPT TO:<support@goscorp.kz>\r\nDATA\r\n{body}.\r\n"
        );
        w.write_all(write.as_bytes()).await.expect("writes");
        for code in ["250", "250", "354", "250"] {
            let got = reply(&mut r).await;
            assert!(got.starts_with(code), "expected {code}, got {got}");
        }
        latencies.push(started.elapsed());
    }
    w.write_all(b"QUIT\r\n").await.expect("writes");
    latencies
}

fn main() {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "sqlite".into());
    let mails: usize = env_or("BENCH_MAILS", 10_000);
    let connections: usize = env_or("BENCH_CONNECTIONS", 16);
    let bin = std::env::var("BENCH_BIN").map_or_else(|_| server_bin(), Into::into);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cluster = None;
    let db = match backend.as_str() {
        "sqlite" => format!("sqlite://{}", tmp.path().join("bench.db").display()),
        "postgres" => {
            let (url, stop) = support::postgres::start_postgres(tmp.path());
            cluster = Some(stop);
            url
        }
        other => panic!("backend `{other}`: use sqlite or postgres"),
    };
    let (http, lmtp) = (free_port(), free_port());
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{http}")])
        .args(["--lmtp-listen", &format!("127.0.0.1:{lmtp}")])
        .args(["--database-url", &db, "--acks-per-sender-per-hour", "0"])
        // Without SMTP every acknowledgement fails at once: not worth a log line each here.
        .env("BAYLANYS_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(lmtp);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(lmtp, next.clone(), mails)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client"));
        }
        all
    });
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "lmtp {backend}: {mails} mails over {connections} connections in {secs:.2} s = {:.0} mails/s; \
         per mail p50 {:.1} ms, p99 {:.1} ms",
        mails as f64 / secs,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
    let _ = server.kill();
    let _ = server.wait();
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }
}
