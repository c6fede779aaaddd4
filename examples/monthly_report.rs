//! The monthly report (P1, Appendix 2) over a big month: BENCH_TICKETS (1,000,000)
//! tickets registered in November 2026, each with its appeal text (Cyrillic), a tenth
//! classified and forwarded-free, are written straight to a fresh database; then the
//! release binary runs `baylanys report monthly --month 2026-11 --out FILE` (XLSX, and
//! CSV with BENCH_FORMAT=csv) as a child process, and this prints its wall time and its
//! peak RSS (VmHWM, polled while it runs) and checks the row count. Aim: under 10 s and
//! under 200 MiB on the 2-core machine.
//!
//! cargo build --release && cargo run --release --example monthly_report -- sqlite
//! cargo run --release --example monthly_report -- postgres [postgres://URL]   # else a throwaway cluster
//!
//! BENCH_BIN=path/to/release/baylanys times that binary instead (the seeding is SQL, so
//! the example itself may be a debug build).

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use baylanys::config::{Config, ConfigArgs, FileConfig};
use diesel::RunQueryDsl;
use support::postgres::start_postgres;
use support::{env_or, server_bin};

fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Rows 1..=n of a counter, as each engine writes it.
fn series(postgres: bool, n: u64) -> String {
    if postgres {
        format!("SELECT i FROM generate_series(1, {n}) AS s(i)")
    } else {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        )
    }
}

/// A timestamp `secs` seconds after 2026-10-31 19:00 UTC (1 November, 00:00 Almaty).
fn at(postgres: bool, secs: &str) -> String {
    if postgres {
        format!("(TIMESTAMP '2026-10-31 19:00:00' + ({secs}) * INTERVAL '1 second')")
    } else {
        format!("datetime('2026-10-31 19:00:00', '+' || ({secs}) || ' seconds')")
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let n: u64 = env_or("BENCH_TICKETS", 1_000_000);
    let format: String = env_or("BENCH_FORMAT", "xlsx".to_string());
    // BENCH_BIN: another build of the binary to time (e.g. a release one beside a debug example).
    let bin = std::env::var_os("BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(server_bin);
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
    let pg = backend == "postgres";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let seeded = Instant::now();
    rt.block_on(async {
        let args = ConfigArgs {
            database_url: Some(db.clone()),
            ..Default::default()
        };
        let mut config = Config::resolve(args, FileConfig::default()).expect("config");
        config.create_database = true;
        let app = baylanys::AppState::build(config).await.expect("database");
        let contacts = (n / 10).max(1);
        let s = |k: u64| series(pg, k);
        let statements = vec![
            format!(
                "INSERT INTO contacts (id, kind, name, email, created_at, updated_at) \
                 SELECT 'c' || i, 'person', 'Заявитель Тестовый ' || i, 'a' || i || '@example.kz', \
                 {now}, {now} FROM ({}) q",
                s(contacts),
                now = at(pg, "0")
            ),
            format!(
                "INSERT INTO report_choices (id, kind, code, name_kk, name_ru, position, active, created_at, updated_at) \
                 VALUES ('ch1', 'bylaw_violation', 'term', 'Мерзімі бұзылды', 'Нарушен срок', 0, 1, {now}, {now}), \
                 ('ch2', 'staff_action', 'rude', 'Әдепсіздік', 'Грубость', 0, 1, {now}, {now})",
                now = at(pg, "0")
            ),
            format!(
                "INSERT INTO tickets (id, number, contact_id, channel, status, queue, subject, language, region, topic, \
                 registered_at, effective_from, due_at, deadline, answered_at, search_text, updated_at, applicant) \
                 SELECT 't' || i, 'UCC-2026-' || i, 'c' || (1 + i % {contacts}), \
                 CASE i % 3 WHEN 0 THEN 'email' WHEN 1 THEN 'web_form' ELSE 'telegram' END, \
                 CASE i % 4 WHEN 0 THEN 'answered' WHEN 1 THEN 'closed' ELSE 'open' END, 'general', \
                 'Обращение ' || i, 'ru', CASE i % 2 WHEN 0 THEN 'astana' ELSE 'almaty' END, \
                 CASE i % 5 WHEN 0 THEN 'complaint' ELSE 'egov_portal' END, \
                 {reg}, '2026-11-01', {due}, '{{}}', CASE i % 4 WHEN 0 THEN {due} ELSE NULL END, '', {reg}, \
                 '{{\"name\": \"Иванов Иван Иванович\"}}' FROM ({}) q",
                s(n),
                reg = at(pg, "i * 2"),
                due = at(pg, "i * 2 + 172800")
            ),
            format!(
                "INSERT INTO messages (id, ticket_id, direction, kind, channel, address, body_text, created_at) \
                 SELECT 'm' || i, 't' || i, 'in', 'appeal', 'web_form', 'a@example.kz', \
                 'Здравствуйте! Прошу разъяснить порядок получения справки о несудимости через портал eGov. \
                 Заявка № ' || i || ' не обработана в срок, сотрудник ЦОН не дал ответа.', {reg} FROM ({}) q",
                s(n),
                reg = at(pg, "i * 2")
            ),
            format!(
                "INSERT INTO ticket_classifications (ticket_id, bylaw_violation, staff_action, set_by, set_at) \
                 SELECT 't' || (i * 10), 'term', CASE i % 2 WHEN 0 THEN 'rude' ELSE NULL END, 'op', {now} FROM ({}) q",
                s(n / 10),
                now = at(pg, "0")
            ),
        ];
        app.db
            .write(move |c| {
                for st in statements {
                    diesel::sql_query(st).execute(c)?;
                }
                if pg {
                    diesel::sql_query("ANALYZE").execute(c)?;
                }
                Ok(())
            })
            .await
            .expect("seeded");
    });
    println!(
        "{backend}: seeded {n} tickets in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let out = tmp.path().join(format!("report.{format}"));
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .env("BAYLANYS_LOG", "warn")
        .args([
            "report",
            "monthly",
            "--month",
            "2026-11",
            "--format",
            &format,
            "--database-url",
            &db,
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the release binary runs");
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(k) = rss_kib(pid) {
            peak = peak.max(k);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().expect("output");
    assert!(output.status.success(), "the report failed");
    let rows: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a row count");
    assert_eq!(rows, n, "every ticket of the month is a row");
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{backend}: monthly report, {rows} rows, {format} {:.1} MiB: {:.2} s, peak RSS {:.1} MiB",
        size as f64 / 1048576.0,
        elapsed.as_secs_f64(),
        peak as f64 / 1024.0
    );
    if let Some(stop) = cluster {
        let _ = Command::new("sh").arg("-c").arg(stop).status();
    }
}
