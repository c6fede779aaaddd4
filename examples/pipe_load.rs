//! The MTA pipe bench: BENCH_CLI (1,000) distinct messages through `baylanys ingest-email`,
//! one process per message as an MTA runs it, first one after another, then BENCH_PARALLEL
//! (4) at once; prints messages/s for each. The database is SQLite (made by `migrate`), or
//! PostgreSQL with `postgres` (a throwaway cluster). `serve` runs on the same database
//! meanwhile, as it must for the acknowledgements (docs/MAIL.md); on SQLite that also
//! keeps each process from being the last connection, which checkpoints the WAL on close
//! (BENCH_SERVE=0: without it). BENCH_BIN runs another build of the binary (an older
//! release, to compare).
//!
//! cargo build --release && cargo run --release --example pipe_load -- sqlite|postgres

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::{env_or, free_port, server_bin, wait_listening};

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

fn ingest(bin: &Path, db: &str, raw: &[u8]) {
    let mut child = Command::new(bin)
        .args(["ingest-email", "--database-url", db])
        .env("BAYLANYS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("ingest-email runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(raw)
        .expect("stdin written");
    let status = child.wait().expect("ingest-email ends");
    assert!(status.success(), "ingest-email failed: {status}");
}

fn main() {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "sqlite".into());
    let n: usize = env_or("BENCH_CLI", 1_000);
    let parallel: usize = env_or("BENCH_PARALLEL", 4);
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
    let out = Command::new(&bin)
        .args(["migrate", "--database-url", &db])
        .env("BAYLANYS_LOG", "warn")
        .output()
        .expect("migrate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut server = (env_or("BENCH_SERVE", 1) == 1).then(|| {
        let port = free_port();
        let child = Command::new(&bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &db])
            .env("BAYLANYS_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve starts");
        wait_listening(port);
        child
    });

    let started = Instant::now();
    for i in 0..n {
        ingest(&bin, &db, &message("seq", i));
    }
    let seq = n as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    std::thread::scope(|s| {
        for p in 0..parallel {
            let (bin, db) = (&bin, &db);
            s.spawn(move || {
                for i in (p..n).step_by(parallel) {
                    ingest(bin, db, &message("par", i));
                }
            });
        }
    });
    let par = n as f64 / started.elapsed().as_secs_f64();
    if let Some(s) = server.as_mut() {
        let _ = s.kill();
        let _ = s.wait();
    }
    println!(
        "ingest-email {backend} ({}, serve {}): {n} processes one after another = {seq:.0} messages/s; \
         {parallel} at once = {par:.0} messages/s",
        bin.display(),
        if server.is_some() {
            "running"
        } else {
            "not running"
        }
    );
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }
}
