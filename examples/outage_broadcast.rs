//! Outage broadcast bench (O1): one notice to BENCH_RECIPIENTS (10,000) bodies by e-mail,
//! through a local SMTP server process (aiosmtpd, see channels/email/tests/support).
//! The server runs in this process on SQLite (or `postgres`: a throwaway cluster); the
//! bodies are inserted directly, the outage is declared over HTTP as the ICI operator
//! would. Prints the declaration's latency (recipients frozen, deliveries and jobs
//! queued in one transaction), notices/s, and the time until the SMTP server accepted
//! the last one (from the delivery records' accept times).
//!
//! cargo run --release --example outage_broadcast [-- sqlite|postgres]
//! BENCH_SINK=rust cargo run --release --example outage_broadcast [-- sqlite|postgres]
//!
//! `BENCH_SINK=rust` sends to a minimal SMTP sink in this example (one thread, counts and
//! forgets) instead of aiosmtpd: what Baylanys can push when the server is not the limit.
//! `BAYLANYS_SMTP_CONNECTIONS` sets the connections (default 8).
//!
//! Measured on the 2-core dev machine shared with other builds (2026-12-02), 10,000
//! recipients, last notice accepted after: before (lettre pool of 4, batches of 32,
//! aiosmtpd) SQLite 33.9 s (295/s), PostgreSQL 27.5 s (364/s); now with aiosmtpd SQLite
//! 8.0 s (1,253/s), PostgreSQL 13.1 s (762/s); with the Rust sink SQLite 3.0 s (3,282/s),
//! PostgreSQL 7.5 s (1,330/s). The cap was Nagle's algorithm against the server's delayed ACK
//! (lettre writes the final `.` separately; 40 ms per message per connection); with
//! aiosmtpd the single Python process writing a file per message is the limit now.

#[path = "../channels/email/tests/support/mod.rs"]
mod mail_support;
mod support;

use std::time::{Duration, Instant};

use baylanys::auth::Role;
use baylanys::config::{Config, ConfigArgs, FileConfig};
use baylanys::db::DbConn;
use baylanys::db::schema::{bodies, body_systems, outage_deliveries};
use diesel::prelude::*;
use support::env_or;

fn main() {
    let n: usize = env_or("BENCH_RECIPIENTS", 10_000);
    let backend = std::env::args().nth(1).unwrap_or_else(|| "sqlite".into());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut stop_cluster = None;
    let db = match backend.as_str() {
        "sqlite" => format!("sqlite://{}", tmp.path().join("bench.db").display()),
        "postgres" => {
            let (url, stop) = support::postgres::start_postgres(tmp.path());
            stop_cluster = Some(stop);
            url
        }
        other => panic!("backend `{other}`: use sqlite or postgres"),
    };
    let sink = match std::env::var("BENCH_SINK").as_deref() {
        Ok("rust") => Sink::Rust(RustSink::start()),
        Ok("python") | Err(_) => Sink::Python(mail_support::SmtpSink::start()),
        Ok(other) => panic!("BENCH_SINK `{other}`: use python or rust"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(n, &db, &sink));
    if let Some(stop) = stop_cluster {
        let _ = std::process::Command::new("sh")
            .args(["-c", &stop])
            .status();
    }
}

async fn run(n: usize, db: &str, sink: &Sink) {
    let mut config = Config::resolve(
        ConfigArgs {
            database_url: Some(db.to_string()),
            listen: Some("127.0.0.1:0".into()),
            smtp_url: Some(sink.url()),
            smtp_connections: std::env::var("BAYLANYS_SMTP_CONNECTIONS")
                .ok()
                .and_then(|v| v.parse().ok()),
            ..Default::default()
        },
        FileConfig::default(),
    )
    .expect("config");
    config.rate_limit_per_minute = 0;
    let app = baylanys::Application::build(config)
        .await
        .expect("builds")
        .start()
        .await
        .expect("starts");
    let state = app.state.clone();
    println!(
        "SMTP: {} ({} connections)",
        sink.name(),
        state.config.smtp_connections
    );
    let url = format!("http://{}", app.addr);
    let started = Instant::now();
    let ici = state
        .db
        .write(move |c| {
            insert_bodies(c, n)?;
            baylanys::auth::add_user_in(c, "ici", "ici", Role::Ici, None, Some("bench-ici"))?;
            Ok(baylanys::auth::create_token(c, "ici", None)?.expect("user added"))
        })
        .await
        .expect("bodies inserted");
    println!(
        "registry: {n} bodies subscribed to egov-portal, inserted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let starts = chrono::Utc::now() + chrono::Duration::days(3);
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let t0_wall = chrono::Utc::now();
    let r = client
        .post(format!("{url}/api/v1/outages"))
        .bearer_auth(&ici)
        .json(&serde_json::json!({
            "kind": "planned", "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::hours(4)).to_rfc3339(),
            "systems": ["egov-portal"], "impact": "full",
            "title": {"kk": "Дерекқорды жаңарту", "ru": "Обновление базы данных"},
            "text": {"kk": "Портал жұмыс істемейді.", "ru": "Портал будет недоступен."}}))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let declared = t0.elapsed();
    println!(
        "declaration: 201 in {:.2} s ({n} deliveries and jobs queued in its transaction)",
        declared.as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = state.clone();
        let (sent, failed, last) =
            s.db.run(|c| {
                let sent: i64 = outage_deliveries::table
                    .filter(outage_deliveries::status.eq("sent"))
                    .count()
                    .get_result(c)?;
                let failed: i64 = outage_deliveries::table
                    .filter(outage_deliveries::status.eq("failed"))
                    .count()
                    .get_result(c)?;
                let last: Option<chrono::NaiveDateTime> = outage_deliveries::table
                    .select(diesel::dsl::max(outage_deliveries::sent_at))
                    .first(c)?;
                Ok((sent, failed, last))
            })
            .await
            .expect("counts");
        if sent as usize + failed as usize >= n {
            let last = last.expect("some were sent").and_utc();
            let secs = (last - t0_wall).num_milliseconds() as f64 / 1000.0;
            println!(
                "delivered: {sent} accepted, {failed} failed; the last accepted {secs:.1} s after the POST = {:.0} notices/s",
                sent as f64 / secs
            );
            println!("SMTP server holds {} messages", sink.count());
            if let Sink::Rust(s) = sink {
                println!(
                    "SMTP connections opened: {}",
                    s.connections.load(std::sync::atomic::Ordering::Relaxed)
                );
            }
            break;
        }
        assert!(Instant::now() < deadline, "only {sent} of {n} after 600 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

fn insert_bodies(c: &mut DbConn, n: usize) -> Result<(), baylanys::db::DbError> {
    let now = chrono::Utc::now().naive_utc();
    diesel::insert_into(baylanys::db::schema::systems::table)
        .values((
            baylanys::db::schema::systems::code.eq("egov-portal"),
            baylanys::db::schema::systems::name_kk.eq("eGov порталы"),
            baylanys::db::schema::systems::name_ru.eq("Портал eGov"),
            baylanys::db::schema::systems::created_at.eq(now),
            baylanys::db::schema::systems::updated_at.eq(now),
        ))
        .execute(c)?;
    let body = |id: String, kind: &'static str, email: String| {
        (
            bodies::id.eq(id),
            bodies::kind.eq(kind),
            bodies::name_kk.eq(format!("{email} kk")),
            bodies::name_ru.eq(format!("{email} ru")),
            bodies::email.eq(Some(email)),
            bodies::created_at.eq(now),
            bodies::updated_at.eq(now),
        )
    };
    diesel::insert_into(bodies::table)
        .values(body(
            "bench-ici".into(),
            "ici_operator",
            "ici@bench.kz".into(),
        ))
        .execute(c)?;
    diesel::insert_into(body_systems::table)
        .values((
            body_systems::body_id.eq("bench-ici"),
            body_systems::system_code.eq("other"),
        ))
        .execute(c)?;
    let ids: Vec<String> = (0..n).map(|_| baylanys::db::new_id()).collect();
    for (k, chunk) in ids.chunks(500).enumerate() {
        let rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, id)| {
                body(
                    id.clone(),
                    "local_executive_body",
                    format!("akimat{}@bench.kz", k * 500 + i),
                )
            })
            .collect();
        let subs: Vec<_> = chunk
            .iter()
            .map(|id| {
                (
                    body_systems::body_id.eq(id.clone()),
                    body_systems::system_code.eq("egov-portal"),
                )
            })
            .collect();
        match c {
            DbConn::Pg(c) => {
                diesel::insert_into(bodies::table)
                    .values(&rows)
                    .execute(c)?;
                diesel::insert_into(body_systems::table)
                    .values(&subs)
                    .execute(c)?;
            }
            DbConn::Sqlite(c) => {
                diesel::insert_into(bodies::table)
                    .values(&rows)
                    .execute(c)?;
                diesel::insert_into(body_systems::table)
                    .values(&subs)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// The SMTP server the notices go to.
enum Sink {
    Python(mail_support::SmtpSink),
    Rust(RustSink),
}

impl Sink {
    fn url(&self) -> String {
        match self {
            Sink::Python(s) => s.url(),
            Sink::Rust(s) => format!("smtp://127.0.0.1:{}", s.port),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Sink::Python(_) => "aiosmtpd (one Python process, a file per message)",
            Sink::Rust(_) => "the bench's Rust sink (one thread, counts and forgets)",
        }
    }

    fn count(&self) -> usize {
        match self {
            Sink::Python(s) => s.count(),
            Sink::Rust(s) => s.count.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// A minimal SMTP server, for this bench only: one thread (its own single-threaded
/// runtime), answers EHLO/MAIL/RCPT/DATA/RSET/NOOP/QUIT with success, reads each message
/// to its final dot, counts it and forgets it. It shows what Baylanys can push when the
/// server is not the limit.
struct RustSink {
    port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RustSink {
    fn start() -> RustSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the sink");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = count.clone();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sink runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        let _ = serve_smtp(stream, &counter).await;
                    });
                }
            });
        });
        RustSink {
            port,
            count,
            connections,
        }
    }
}

async fn serve_smtp(
    stream: tokio::net::TcpStream,
    count: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .get(..4)
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        let reply: &[u8] = match verb.as_slice() {
            b"EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            b"DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                write
                    .write_all(format!("250 2.0.0 Ok: queued as {n}\r\n").as_bytes())
                    .await?;
                continue;
            }
            b"QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await?;
    }
}
