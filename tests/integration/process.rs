//! The `baylanys` binary as people run it: the CLI, and `serve` killed with SIGKILL.

use std::process::{Command, Stdio};

use crate::support::{Backend, free_port, fresh_database};

fn baylanys() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_baylanys"));
    c.env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn");
    c
}

#[test]
fn cli_calendar_due_prints_the_r5_deadline_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let out = baylanys()
        .args([
            "calendar",
            "due",
            "--from",
            "2025-03-07T10:00:00+05:00",
            "--working-days",
            "2",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("2025-03-12T18:30:00+05:00\n"), "{text}");
    let out = baylanys()
        .args([
            "calendar",
            "due",
            "--from",
            "2025-03-07T10:00:00+05:00",
            "--json",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["due_at"], "2025-03-12T18:30:00+05:00");
    assert_eq!(v["effective_from"], "2025-03-07");
    assert!(v["explanation"]["kk"].is_string() && v["explanation"]["ru"].is_string());
}

#[test]
fn cli_bad_input_exits_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let cases: &[(&[&str], &str)] = &[
        (
            &["calendar", "due", "--from", "2025-03-07T10:00"],
            "no UTC offset",
        ),
        (
            &["calendar", "due", "--from", "tomorrow"],
            "not an RFC 3339 time",
        ),
        (
            &[
                "calendar",
                "due",
                "--from",
                "2025-03-07T10:00:00Z",
                "--working-days",
                "366",
            ],
            "out of range",
        ),
        (
            &["calendar", "due", "--from", "9999-01-01T10:00:00+05:00"],
            "outside the years the calendar covers (2000-2100)",
        ),
        (
            &["calendar", "due", "--from", "0001-01-01T10:00:00+05:00"],
            "outside the years the calendar covers",
        ),
        (
            &[
                "calendar",
                "set",
                "2027-05-16",
                "--kind",
                "party",
                "--note",
                "x",
            ],
            "unknown kind of day",
        ),
    ];
    for (args, expected) in cases {
        let out = baylanys()
            .args(*args)
            .args(["--database-url", &db])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn cli_calendar_set_changes_later_deadlines_and_show_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let set = || {
        baylanys()
            .args([
                "calendar",
                "set",
                "2027-05-17",
                "--kind",
                "day-off",
                "--note",
                "Kurban Ait 2027",
                "--database-url",
                &db,
            ])
            .output()
            .unwrap()
    };
    // A one-shot command never creates the database (a mistyped path would be a new one).
    let out = set();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("c.db").exists());
    let out = baylanys()
        .args(["migrate", "--database-url", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = set();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = baylanys()
        .args(["calendar", "show", "--year", "2027", "--database-url", &db])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2027-05-17") && text.contains("Kurban Ait 2027"),
        "{text}"
    );
    let out = baylanys()
        .args([
            "calendar",
            "due",
            "--from",
            "2027-05-14T10:00:00+05:00",
            "--database-url",
            &db,
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("2027-05-19T18:30:00+05:00"));
}

fn kill9_scenario(backend: Backend) {
    let (db, _dir) = fresh_database(backend);
    let port = free_port();
    let start = || {
        baylanys()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                &db,
                "--rate-limit-per-minute",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait_ready = || {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("server did not start");
    };
    let mut server = start();
    wait_ready();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acknowledged: Vec<String> = rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/api/v1/appeals");
        let sends = (0..200).map(|i| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let r = client
                    .post(&url)
                    .json(&crate::support::appeal(&format!("appeal {i}")))
                    .send()
                    .await
                    .ok()?;
                if r.status() == 201 {
                    let v: serde_json::Value = r.json().await.ok()?;
                    v["number"].as_str().map(str::to_string)
                } else {
                    None
                }
            }
        });
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    assert_eq!(acknowledged.len(), 200);
    // SIGKILL: no shutdown hooks, no flush.
    server.kill().unwrap();
    server.wait().unwrap();
    let mut server = start();
    wait_ready();
    let found = rt.block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let out = baylanys()
            .args([
                "user",
                "add",
                "--login",
                "auditor",
                "--role",
                "quality",
                "--database-url",
                &db,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "no password and no terminal");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--no-password"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = baylanys()
            .args([
                "user",
                "add",
                "--login",
                "auditor",
                "--role",
                "quality",
                "--no-password",
                "--database-url",
                &db,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = baylanys()
            .args([
                "token",
                "create",
                "--login",
                "auditor",
                "--database-url",
                &db,
            ])
            .output()
            .unwrap();
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let client = reqwest::Client::new();
        let mut found = 0;
        for n in &acknowledged {
            let r = client
                .get(format!("{url}/api/v1/tickets/{n}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                found += 1;
            }
        }
        found
    });
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        found,
        acknowledged.len(),
        "every acknowledged appeal survives kill -9"
    );
}

/// `serve` as operations see it: JSON log lines without colour, one access line per
/// request with the request id the response echoes, and secrets masked.
#[test]
fn serve_logs_json_access_lines_with_request_ids_and_masks_secrets() {
    let (db, _dir) = fresh_database(Backend::Sqlite);
    let port = free_port();
    let mut server = baylanys()
        .env("BAYLANYS_LOG", "info")
        .env("BAYLANYS_LOG_FORMAT", "json")
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db,
            "--smtp-url",
            "smtp://relay:hunter2secret@127.0.0.1:9",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (echoed, problem, generated) = rt.block_on(async {
        let client = reqwest::Client::new();
        let r = client
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/tickets/UCC-2026-000001"
            ))
            .header("x-request-id", "trace-42.a")
            .send()
            .await
            .unwrap();
        let echoed = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let problem: serde_json::Value = r.json().await.unwrap();
        let r = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .header("x-request-id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
        (echoed, problem, generated)
    });
    let health = |extra: &[&str]| {
        baylanys()
            .args(["healthcheck", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .output()
            .unwrap()
    };
    let alive = health(&[]);
    assert!(alive.status.success(), "{alive:?}");
    let ready = health(&["--ready"]);
    let ready_text = String::from_utf8_lossy(&ready.stdout).to_string();
    // The worker goes round within a second of the start.
    assert!(ready_text.contains("/readyz"), "{ready_text}");
    server.kill().unwrap();
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let gone = health(&[]);
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    assert!(
        String::from_utf8_lossy(&gone.stdout).contains("no answer"),
        "{gone:?}"
    );
    assert_eq!(echoed, "trace-42.a");
    assert_eq!(problem["request_id"], "trace-42.a");
    assert_eq!(problem["status"], 401);
    assert_ne!(generated, "bad id with spaces");
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes off a terminal: {log}"
    );
    assert!(
        !log.contains("hunter2secret"),
        "the SMTP password is masked: {log}"
    );
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["fields"]["request_id"] == "trace-42.a")
        .unwrap_or_else(|| panic!("an access line for the request: {log}"));
    assert_eq!(access["target"], "baylanys::access");
    assert_eq!(access["fields"]["route"], "/api/v1/tickets/{number}");
    assert_eq!(access["fields"]["status"], 401);
    assert_eq!(access["fields"]["method"], "GET");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["request_id"] == generated.as_str()),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SMTP"))),
        "{log}"
    );
}

#[test]
fn kill9_loses_no_acknowledged_appeal_sqlite() {
    kill9_scenario(Backend::Sqlite);
}

#[test]
fn kill9_loses_no_acknowledged_appeal_postgres() {
    kill9_scenario(Backend::Postgres);
}
