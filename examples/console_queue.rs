//! The operator console's queue page with BENCH_TICKETS (1,000,000) tickets in the
//! database: an operator with BENCH_MINE (20,000) of them signs in, and each view of
//! the queue page (mine, my queue, unassigned; soonest due first, with every count the
//! page shows) is fetched BENCH_ROUNDS (50) times over HTTP from the release server;
//! prints p50 and p95 per view. The tickets are written straight into the database
//! with one INSERT ... SELECT (registering a million through the API would take hours).
//!
//! cargo build --release && cargo run --release --example console_queue -- sqlite
//! cargo run --release --example console_queue -- postgres [postgres://URL]

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use support::{env_or, free_port, server_bin, wait_listening};

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let n: u64 = env_or("BENCH_TICKETS", 1_000_000_u64);
    let mine_every: u64 = (n / env_or("BENCH_MINE", 20_000_u64).max(1)).max(1);
    let rounds: usize = env_or("BENCH_ROUNDS", 50_usize).max(5);
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
    let cli = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .args(["--database-url", &db])
            .env("BAYLANYS_LOG", "warn")
            .env("BAYLANYS_PASSWORD", "bench password 1")
            .output()
            .expect("baylanys runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli(&["migrate"]);
    cli(&["user", "add", "--login", "bench-op", "--role", "operator"]);
    let t0 = Instant::now();
    fill(&db, n, mine_every);
    println!(
        "filled {n} tickets ({} assigned to the operator) in {:.1} s",
        n / mine_every,
        t0.elapsed().as_secs_f64()
    );
    let port = free_port();
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db])
        .env("BAYLANYS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(port);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let results = rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let url = format!("http://127.0.0.1:{port}");
        let login = client
            .get(format!("{url}/console/login"))
            .send()
            .await
            .expect("login page");
        let login_cookie = cookie(&login, "baylanys_console_login");
        let page = login.text().await.expect("page");
        let csrf = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#)
            .unwrap()
            .captures(&page)
            .expect("csrf")[1]
            .to_string();
        let r = client
            .post(format!("{url}/console/login"))
            .header("cookie", format!("baylanys_console_login={login_cookie}"))
            .form(&[
                ("login", "bench-op"),
                ("password", "bench password 1"),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .expect("sign-in");
        assert_eq!(r.status(), 303, "signed in");
        let session = format!("baylanys_console={}", cookie(&r, "baylanys_console"));
        let mut out = Vec::new();
        for view in ["mine", "queue", "unassigned"] {
            let mut times = Vec::with_capacity(rounds);
            for i in 0..rounds + 3 {
                let t0 = Instant::now();
                let r = client
                    .get(format!("{url}/console/queue?view={view}"))
                    .header("cookie", &session)
                    .send()
                    .await
                    .expect("queue page");
                assert_eq!(r.status(), 200);
                let body = r.text().await.expect("body");
                assert!(body.contains("ticket-link"), "the page lists tickets");
                if i >= 3 {
                    times.push(t0.elapsed());
                }
            }
            times.sort_unstable();
            out.push((view, times));
        }
        out
    });
    let _ = server.kill();
    let _ = server.wait();
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("backend: {backend}, {n} tickets, queue page over HTTP, {rounds} rounds per view");
    for (view, times) in results {
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "view {view:<10} p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms",
            ms(p(0.5)),
            ms(p(0.95)),
            ms(*times.last().unwrap())
        );
    }
}

fn cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .expect("the cookie")
        .to_string()
}

/// One contact and `n` tickets: statuses cycle, due instants spread over a week, one in
/// `mine_every` assigned to the operator, all in queue `general`.
fn fill(db: &str, n: u64, mine_every: u64) {
    let (engine, url) = baylanys::db::parse_url(db).expect("url");
    let contact = "INSERT INTO contacts (id, kind, name, created_at, updated_at) \
                   VALUES ('bench-contact', 'person', 'Bench', '2026-12-01 09:00:00', '2026-12-01 09:00:00');";
    match engine {
        baylanys::db::Engine::Sqlite => {
            use diesel::Connection;
            let mut c = diesel::SqliteConnection::establish(&url).expect("sqlite");
            c.batch_execute(&format!(
                "PRAGMA synchronous = OFF; {contact}
                 INSERT INTO tickets (id, number, contact_id, channel, status, queue, assignee_id,
                   subject, language, registered_at, effective_from, due_at, deadline, search_text, updated_at)
                 WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < {n})
                 SELECT printf('00000000-0000-7000-8000-%012d', k), printf('UCC-2025-%07d', k), 'bench-contact',
                   'web_form', CASE (k / 7) % 5 WHEN 0 THEN 'new' WHEN 1 THEN 'open' WHEN 2 THEN 'waiting'
                   WHEN 3 THEN 'answered' ELSE 'closed' END, 'general',
                   CASE WHEN k % {mine_every} = 0 THEN (SELECT id FROM users WHERE login = 'bench-op') END,
                   'Обращение ' || k, 'ru', '2026-12-01 09:00:00', '2026-12-01',
                   datetime('2026-12-01 09:00:00', '+' || (k % 10080) || ' minutes'), '{{}}',
                   'обращение ' || k, '2026-12-01 09:00:00' FROM seq;
                 ANALYZE;"
            ))
            .expect("fill sqlite");
        }
        baylanys::db::Engine::Postgres => {
            use diesel::Connection;
            let mut c = diesel::PgConnection::establish(&url).expect("postgres");
            c.batch_execute(&format!(
                "{contact}
                 INSERT INTO tickets (id, number, contact_id, channel, status, queue, assignee_id,
                   subject, language, registered_at, effective_from, due_at, deadline, search_text, updated_at)
                 SELECT '00000000-0000-7000-8000-' || lpad(k::text, 12, '0'), 'UCC-2025-' || lpad(k::text, 7, '0'),
                   'bench-contact', 'web_form', (ARRAY['closed','new','open','waiting','answered'])[(k / 7) % 5 + 1],
                   'general', CASE WHEN k % {mine_every} = 0 THEN (SELECT id FROM users WHERE login = 'bench-op') END,
                   'Обращение ' || k, 'ru', '2026-12-01 09:00:00', '2026-12-01',
                   timestamp '2026-12-01 09:00:00' + (k % 10080) * interval '1 minute', '{{}}',
                   'обращение ' || k, '2026-12-01 09:00:00' FROM generate_series(1, {n}) AS k;
                 ANALYZE tickets;"
            ))
            .expect("fill postgres");
        }
    }
}
