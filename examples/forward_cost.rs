//! What a forward costs and how long the overdue list takes with many forwards (F1, F2).
//! The server runs in this process on port 0 (the same `Application` as `baylanys
//! serve`); requests go over loopback HTTP, so the times are the server's plus a
//! loopback round trip.
//!
//! cargo run --release --example forward_cost -- sqlite
//! cargo run --release --example forward_cost -- postgres [postgres://URL]   # else a throwaway cluster
//!
//! BENCH_FORWARDS (300) forwards are created through `POST /api/v1/tickets/{n}/forwards`
//! (masking, deadline, deliveries and timers included); then BENCH_ROWS (100,000)
//! forwards over 10 bodies are written straight to the table (a fifth of them overdue)
//! and `GET /api/v1/forwards/overdue?limit=50` is timed: the first page, the next page,
//! one body's, and the full list's first page.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use baylanys::auth::Role;
use baylanys::config::{Config, ConfigArgs, FileConfig};
use chrono::{TimeDelta, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use support::env_or;

fn stats(mut d: Vec<Duration>) -> String {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(d[((d.len() as f64 - 1.0) * q).round() as usize]);
    let mean = d.iter().map(|x| ms(*x)).sum::<f64>() / d.len() as f64;
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, mean {:.2} ms (n={})",
        p(0.5),
        p(0.95),
        mean,
        d.len()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let n_forwards: usize = env_or("BENCH_FORWARDS", 300_usize).max(10);
    let n_rows: usize = env_or("BENCH_ROWS", 100_000_usize);
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
    let args = ConfigArgs {
        database_url: Some(db),
        listen: Some("127.0.0.1:0".into()),
        rate_limit_per_minute: Some(0),
        ..Default::default()
    };
    let config = Config::resolve(args, FileConfig::default()).expect("config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = baylanys::Application::build(config)
        .await
        .expect("builds")
        .with_listener(listener)
        .start()
        .await
        .expect("starts");
    let base = format!("http://{}", app.addr);
    let state = app.state.clone();
    let (admin, op, op_id) = state
        .db
        .write(|c| {
            baylanys::auth::add_user(c, "admin", "admin", Role::Admin, None)?;
            let op = baylanys::auth::add_user(c, "op", "op", Role::Operator, None)?;
            Ok((
                baylanys::auth::create_token(c, "admin", None)?.expect("admin"),
                baylanys::auth::create_token(c, "op", None)?.expect("op"),
                op.id,
            ))
        })
        .await
        .expect("users");
    let http = reqwest::Client::new();
    let post = |path: String, token: String, body: Value| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("answers");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut bodies = Vec::new();
    for i in 0..10 {
        let (s, b) = post(
            "/api/v1/bodies".into(),
            admin.clone(),
            json!({"kind": if i == 0 { "ici_operator" } else { "central_state_body" },
                   "name": {"kk": format!("Орган {i}"), "ru": format!("Орган {i}")},
                   "email": format!("body{i}@gov.kz")}),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        bodies.push(b["id"].as_str().expect("id").to_string());
    }
    let mut tickets = Vec::new();
    for i in 0..200 {
        let (s, t) = post(
            "/api/v1/appeals".into(),
            String::new(),
            json!({"name": "Айгүл Серікқызы", "email": format!("a{i}@example.kz"),
                   "region": "astana", "topic": "egov_portal", "consent": true,
                   "text": format!("Мой ИИН 900101300123, тел. 87011234567. Вопрос {i}.")}),
        )
        .await;
        assert_eq!(s, 201, "{t}");
        tickets.push(t["number"].as_str().expect("number").to_string());
    }
    let numbers = tickets.clone();
    let firsts: Vec<(String, String)> = state
        .db
        .run(move |c| {
            use baylanys::db::schema::{messages, tickets};
            let mut out = Vec::new();
            for n in numbers {
                let (tid, mid): (String, String) = tickets::table
                    .inner_join(messages::table)
                    .filter(tickets::number.eq(&n))
                    .select((tickets::id, messages::id))
                    .first(c)?;
                out.push((tid, mid));
                let _ = n;
            }
            Ok(out)
        })
        .await
        .expect("message ids");

    // 1. What one forward costs.
    let mut took = Vec::new();
    for i in 0..n_forwards {
        let k = i % tickets.len();
        let body = json!({"body": bodies[1 + i % 9], "question": "Выдана ли справка, тел. 87011234567?",
                          "messages": [firsts[k].1]});
        let started = Instant::now();
        let (s, f) = post(
            format!("/api/v1/tickets/{}/forwards", tickets[k]),
            op.clone(),
            body,
        )
        .await;
        took.push(started.elapsed());
        assert_eq!(s, 201, "{f}");
    }
    println!(
        "[{backend}] POST /api/v1/tickets/{{n}}/forwards: {}",
        stats(took)
    );

    // 2. Many forwards: rows written straight to the table.
    let started = Instant::now();
    let ticket_ids: Vec<String> = firsts.iter().map(|f| f.0.clone()).collect();
    let (b2, op2) = (bodies.clone(), op_id.clone());
    state
        .db
        .write(move |c| {
            use baylanys::db::schema::forwards;
            let now = Utc::now().naive_utc();
            let mut i = 0;
            while i < n_rows {
                let end = (i + 500).min(n_rows);
                let rows: Vec<_> = (i..end)
                    .map(|j| {
                        let overdue = j % 5 == 0;
                        let due = if overdue {
                            now - TimeDelta::minutes((j % 10_000) as i64 + 1)
                        } else {
                            now + TimeDelta::minutes((j % 10_000) as i64 + 60)
                        };
                        let status = if !overdue && j % 3 == 0 {
                            "answered"
                        } else {
                            "open"
                        };
                        (
                            forwards::id.eq(baylanys::db::new_id()),
                            forwards::reference.eq(format!("BENCH-{j}")),
                            forwards::ticket_id.eq(ticket_ids[j % ticket_ids.len()].clone()),
                            forwards::body_id.eq(b2[j % b2.len()].clone()),
                            forwards::body_kind.eq(if j % b2.len() == 0 {
                                "ici_operator"
                            } else {
                                "central_state_body"
                            }),
                            forwards::question.eq("Вопрос"),
                            forwards::sent
                                .eq(r#"{"question":"Вопрос","messages":[],"attachments":[]}"#),
                            forwards::status.eq(status),
                            forwards::due_at.eq(due),
                            forwards::deadline.eq("{}"),
                            forwards::created_by.eq(op2.clone()),
                            forwards::created_at.eq(now),
                            forwards::updated_at.eq(now),
                        )
                    })
                    .collect();
                // A multi-row insert needs the engine's own connection.
                match c {
                    baylanys::db::DbConn::Pg(pg) => diesel::insert_into(forwards::table)
                        .values(rows)
                        .execute(pg)?,
                    baylanys::db::DbConn::Sqlite(lite) => diesel::insert_into(forwards::table)
                        .values(rows)
                        .execute(lite)?,
                };
                i = end;
            }
            if let baylanys::db::DbConn::Pg(pg) = c {
                // What autovacuum does on a live server.
                diesel::sql_query("ANALYZE forwards").execute(pg)?;
            }
            Ok(())
        })
        .await
        .expect("bulk insert");
    println!(
        "[{backend}] {n_rows} forwards written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let get = |path: String| {
        let http = http.clone();
        let base = base.clone();
        let op = op.clone();
        async move {
            let started = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(op)
                .send()
                .await
                .expect("answers");
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.expect("JSON");
            (started.elapsed(), v)
        }
    };
    let (_, first) = get("/api/v1/forwards/overdue?limit=50".into()).await;
    assert_eq!(first["forwards"].as_array().map(Vec::len), Some(50));
    let after = first["next_after"]
        .as_str()
        .expect("more pages")
        .to_string();
    for (label, path) in [
        (
            "overdue, first page of 50",
            "/api/v1/forwards/overdue?limit=50".to_string(),
        ),
        (
            "overdue, next page of 50",
            format!("/api/v1/forwards/overdue?limit=50&after={after}"),
        ),
        (
            "overdue of one body, page of 50",
            format!("/api/v1/forwards/overdue?limit=50&body={}", bodies[5]),
        ),
        (
            "overdue of one kind, page of 50",
            "/api/v1/forwards/overdue?limit=50&kind=ici_operator".to_string(),
        ),
        (
            "all forwards, first page of 50",
            "/api/v1/forwards?limit=50".to_string(),
        ),
    ] {
        let mut took = Vec::new();
        for _ in 0..50 {
            took.push(get(path.clone()).await.0);
        }
        println!("[{backend}] GET {label}: {}", stats(took));
    }
    app.stop().await;
    if let Some(stop) = cluster {
        let _ = std::process::Command::new("sh")
            .args(["-c", &stop])
            .status();
    }
}
