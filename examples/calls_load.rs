//! Phone channel bench (R3): BENCH_CALLS (1,000,000) Asterisk Master.csv records imported
//! with the real CLI (`baylanys calls import FILE`, one transaction), then the R3 figures
//! query (`calls::stats::figures`, what GET /api/v1/calls/stats runs) over the whole
//! month, in total and by hour, day, queue and operator. SQLite by default, or
//! `postgres`: a throwaway cluster.
//!
//! cargo build --release && cargo run --release --example calls_load [-- sqlite|postgres]
//!
//! The calls spread over 30 days, 20 queues and 50 operators: 85 % answered (wait 0-89 s),
//! 10 % abandoned, 5 % busy or failed. Prints records/s and each query's time (best of 3).

mod support;

use std::io::Write;
use std::time::Instant;

use support::env_or;

fn main() {
    let n: usize = env_or("BENCH_CALLS", 1_000_000);
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
    let file = tmp.path().join("Master.csv");
    write_file(&file, n);
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "{n} call records, {:.0} MB of CSV, {backend}",
        size as f64 / 1e6
    );
    let bin = support::server_bin();
    let migrate = std::process::Command::new(&bin)
        .arg("migrate")
        .env("BAYLANYS_DATABASE_URL", &db)
        .status()
        .expect("migrate runs");
    assert!(migrate.success());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The operators' logins, so userfield is known.
    rt.block_on(async {
        let config = config(&db);
        let app = baylanys::AppState::build(config).await.expect("state");
        app.db
            .write(|c| {
                for i in 0..50 {
                    baylanys::auth::add_user(
                        c,
                        &format!("op{i:02}"),
                        "Operator",
                        baylanys::auth::Role::Operator,
                        None,
                    )?;
                }
                Ok(())
            })
            .await
            .expect("operators");
    });
    let started = Instant::now();
    let out = std::process::Command::new(&bin)
        .args(["calls", "import"])
        .arg(&file)
        .env("BAYLANYS_DATABASE_URL", &db)
        .output()
        .expect("import runs");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "import (process, wall): {secs:.1} s, {:.0} records/s",
        n as f64 / secs
    );
    rt.block_on(async {
        let app = baylanys::AppState::build(config(&db)).await.expect("state");
        use baylanys::calls::stats::{GroupBy, figures};
        let from = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let to = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        for by in [None, Some(GroupBy::Day), Some(GroupBy::Hour), Some(GroupBy::Queue), Some(GroupBy::Operator)] {
            let mut best = f64::MAX;
            let mut groups = 0;
            let mut total = None;
            for _ in 0..3 {
                let t = Instant::now();
                let (tot, g) = app.db.run(move |c| figures(c, from, to, by)).await.expect("figures");
                best = best.min(t.elapsed().as_secs_f64());
                groups = g.len();
                total = Some(tot);
            }
            let tot = total.expect("ran");
            println!(
                "stats by {:<8} {:>4} groups: {:>7.1} ms  (offered {}, avg wait {:?} s, within 30 s {:?}, abandoned {:?})",
                by.map_or("total", |b| b.as_str()),
                groups,
                best * 1000.0,
                tot.offered,
                tot.average_wait_secs,
                tot.answered_within_30s_share,
                tot.abandoned_share
            );
        }
    });
    drop(stop_cluster);
}

fn config(db: &str) -> baylanys::config::Config {
    let args = baylanys::config::ConfigArgs {
        database_url: Some(db.to_string()),
        pool_size: Some(4),
        ..Default::default()
    };
    baylanys::config::Config::resolve(args, baylanys::config::FileConfig::default())
        .expect("config")
}

fn write_file(path: &std::path::Path, n: usize) {
    let f = std::fs::File::create(path).expect("csv");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let base = chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let fmt = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    for i in 0..n {
        let r = next();
        let start = base
            + chrono::TimeDelta::days((r % 30) as i64)
            + chrono::TimeDelta::seconds(((r >> 8) % 36_000) as i64);
        let kind = (r >> 24) % 100;
        let wait = ((r >> 32) % 90) as i64;
        let queue = format!("q{:02}", (r >> 40) % 20);
        let op = format!("op{:02}", (r >> 48) % 50);
        let caller = format!("8701{:07}", (r >> 12) % 10_000_000);
        let (answer, end, disp, op) = if kind < 85 {
            let a = start + chrono::TimeDelta::seconds(wait);
            (
                fmt(a),
                fmt(a + chrono::TimeDelta::seconds(180)),
                "ANSWERED",
                op,
            )
        } else if kind < 95 {
            (
                String::new(),
                fmt(start + chrono::TimeDelta::seconds(wait)),
                "NO ANSWER",
                String::new(),
            )
        } else if kind < 98 {
            (
                String::new(),
                fmt(start + chrono::TimeDelta::seconds(2)),
                "BUSY",
                String::new(),
            )
        } else {
            (String::new(), fmt(start), "CONGESTION", String::new())
        };
        writeln!(
            w,
            "\"\",\"{caller}\",\"1414\",\"{queue}\",\"\"\"\"\" <{caller}>\",\"SIP/trunk-{i:08x}\",\"SIP/{op}-{i:08x}\",\"Queue\",\"{queue}\",\"{}\",\"{answer}\",\"{end}\",\"200\",\"180\",\"{disp}\",\"DOCUMENTATION\",\"1764000000.{i}\",\"{op}\"",
            fmt(start)
        )
        .expect("write");
    }
    w.flush().expect("flush");
}
