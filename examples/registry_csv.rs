//! What the registry's CSV and lists cost: BENCH_SERVICES (10,000) services of
//! BENCH_BODIES (100) bodies imported with `baylanys registry import` (one transaction),
//! exported again, then, against the server, the p50 of a services search, of a page of
//! services, and of a page of tickets filtered by providing body after BENCH_TICKETS
//! (1,000) appeals were each linked to a service.
//!
//! cargo build --examples && cargo run --example registry_csv -- sqlite
//! cargo run --example registry_csv -- postgres [postgres://URL]

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{env_or, free_port, server_bin, wait_listening};

fn uuid(n: u64, kind: u64) -> String {
    format!("0190f000-{kind:04x}-7000-8000-{n:012x}")
}

fn write_files(dir: &std::path::Path, bodies: u64, services: u64) {
    std::fs::create_dir_all(dir).expect("dir");
    let mut b = String::from("id,kind,name_kk,name_ru,email,phones,digest\n");
    let mut p = String::from("id,body_id,name,position,phones,email\n");
    for i in 0..bodies {
        let _ = writeln!(
            b,
            "{},central_state_body,Министрлік {i},\"Министерство {i}, \"\"отдел\"\"\",m{i}@gov.kz,+7 7172 00 {i:02},weekly",
            uuid(i, 1)
        );
        let _ = writeln!(
            p,
            "{},{},Маман {i},бас маман,+7 701 000 {i:04},p{i}@gov.kz",
            uuid(i, 2),
            uuid(i, 1)
        );
    }
    let mut s = String::from(
        "id,register_number,name_kk,name_ru,body_id,responsible_person_id,bylaws,keywords,forms,term_kk,term_ru,documents_kk,documents_ru\n",
    );
    for i in 0..services {
        let body = i % bodies;
        let _ = writeln!(
            s,
            "{},{:08},Қызмет {i} анықтама,Услуга {i} справка,{},{},\"Приказ № {i}\nот 01.01.2026\",услуга{i}; справка{i},electronic_full,5 жұмыс күні,5 рабочих дней,Жеке куәлік,Удостоверение личности",
            uuid(i, 3),
            i,
            uuid(body, 1),
            uuid(body, 2)
        );
    }
    std::fs::write(dir.join("bodies.csv"), b).expect("written");
    std::fs::write(dir.join("persons.csv"), p).expect("written");
    std::fs::write(dir.join("services.csv"), s).expect("written");
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let bodies: u64 = env_or("BENCH_BODIES", 100_u64).max(1);
    let services: u64 = env_or("BENCH_SERVICES", 10_000_u64).max(1);
    let tickets: u64 = env_or("BENCH_TICKETS", 1_000_u64).max(1);
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
            .output()
            .expect("baylanys runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    cli(&["migrate"]);
    let files = tmp.path().join("in");
    write_files(&files, bodies, services);
    let size = std::fs::metadata(files.join("services.csv"))
        .map(|m| m.len())
        .unwrap_or(0);
    let dir = files.display().to_string();
    let started = Instant::now();
    cli(&["registry", "import", "--dir", &dir]);
    let import = started.elapsed();
    let out = tmp.path().join("out").display().to_string();
    let started = Instant::now();
    cli(&["registry", "export", "--dir", &out]);
    let export = started.elapsed();
    println!(
        "{backend}: import of {bodies} bodies, {bodies} persons, {services} services ({} KB of services.csv): {:.2} s; export: {:.2} s",
        size / 1024,
        import.as_secs_f64(),
        export.as_secs_f64()
    );

    let port = free_port();
    let mut server = Command::new(&bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db, "--rate-limit-per-minute", "0"])
        .env("BAYLANYS_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    wait_listening(port);
    cli(&["user", "add", "--login", "op", "--role", "operator"]);
    let token = cli(&["token", "create", "--login", "op"]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}");
        let get = |path: String| {
            let req = client.get(format!("{url}{path}")).bearer_auth(&token);
            async move {
                let t = Instant::now();
                let r = req.send().await.expect("answers");
                assert!(r.status().is_success(), "{}", r.status());
                let _ = r.bytes().await;
                t.elapsed()
            }
        };
        let mut search = Vec::new();
        let mut page = Vec::new();
        for i in 0..50 {
            search.push(get(format!("/api/v1/services?q=справка{}&limit=50", i * 7)).await);
            page.push(get("/api/v1/services?limit=50".to_string()).await);
        }
        for i in 0..tickets {
            let body = serde_json::json!({"name": "Бенч", "email": format!("b{i}@example.kz"),
                "region": "astana", "topic": "public_service", "text": format!("Справка {i}"), "consent": true});
            let r: serde_json::Value = client.post(format!("{url}/api/v1/appeals")).json(&body).send().await
                .expect("answers").json().await.expect("json");
            let number = r["number"].as_str().expect("a number").to_string();
            let service = uuid(i % services, 3);
            let r = client
                .post(format!("{url}/api/v1/tickets/{number}/services"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"service": service}))
                .send()
                .await
                .expect("answers");
            assert!(r.status().is_success(), "{}", r.status());
        }
        let mut by_body = Vec::new();
        let mut detail = Vec::new();
        for i in 0..50 {
            by_body.push(get(format!("/api/v1/tickets?body={}&limit=50", uuid(i % bodies, 1))).await);
        }
        let list: serde_json::Value = client.get(format!("{url}/api/v1/tickets?limit=50")).bearer_auth(&token)
            .send().await.expect("answers").json().await.expect("json");
        let mut proposals = Vec::new();
        for t in list["tickets"].as_array().expect("tickets").iter().take(50) {
            let n = t["number"].as_str().expect("n");
            detail.push(get(format!("/api/v1/tickets/{n}")).await);
            proposals.push(get(format!("/api/v1/tickets/{n}/services")).await);
        }
        println!(
            "{backend}: p50 services search {:.1} ms, services page of 50 {:.1} ms, tickets of a body (page of 50, {tickets} linked) {:.1} ms, ticket detail with proposals among {services} services {:.1} ms (its services and proposals alone {:.1} ms)",
            p50(search).as_secs_f64() * 1e3,
            p50(page).as_secs_f64() * 1e3,
            p50(by_body).as_secs_f64() * 1e3,
            p50(detail).as_secs_f64() * 1e3,
            p50(proposals).as_secs_f64() * 1e3,
        );
    });
    let _ = server.kill();
    let _ = server.wait();
    if let Some(stop) = cluster {
        let _ = Command::new("sh").args(["-c", &stop]).status();
    }
}
