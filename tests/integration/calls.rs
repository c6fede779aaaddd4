//! The phone channel over real HTTP on both backends: call events in every state
//! (redelivered, out of order, concurrent), the Asterisk CSV import with a bad line, the
//! R3 figures against hand-computed values, a call joining an open ticket, the call card
//! with an SMS acknowledgement through a local gateway that fails first, recordings
//! fetched from a local server that fails first, retention with the injected clock,
//! listening rights, and an R11 record request end to end with its ZIP opened.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Backend, TestApp, appeal, eventually, fresh_database, spawn, spawn_custom};

both_backends!(
    call_events_merge_in_any_order_and_redelivery_changes_nothing,
    csv_import_names_a_bad_line_and_the_r3_figures_match_hand_computed_values,
    a_call_joins_the_open_ticket_and_the_call_card_registers_one_acknowledged_by_sms,
    recordings_are_fetched_with_retries_kept_checked_and_deleted_after_retention,
    a_record_request_is_found_released_and_downloaded_as_one_zip,
    the_console_call_card_registers_a_ticket_and_shows_its_number_and_deadline,
    the_calls_import_command_names_a_bad_line_imports_nothing_then_everything_once,
);

/// The console page of a call: the operator fills in the card (CSRF-checked form), the
/// page then shows the number and deadline to read out; bad input shows the form again
/// naming the fields.
async fn the_console_call_card_registers_a_ticket_and_shows_its_number_and_deadline(
    backend: Backend,
) {
    use crate::console::{Browser, staff};
    let t = spawn(backend).await;
    let pbx = t.token("pbx", Role::Pbx).await;
    staff(&t, "dana", Role::Operator).await;
    staff(&t, "editor1", Role::Editor).await;
    let (s, _) = post(
        &t,
        &pbx,
        with(
            event("cc-1", "answered"),
            json!({"caller": "+77051112233", "answered_at": "2026-12-03T10:00:07+05:00"}),
        ),
    )
    .await;
    assert_eq!(s, 201);
    let mut b = Browser::new(&t);
    let csrf = b.sign_in("dana").await;
    let r = b.get("/console/calls/cc-1").await;
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("+77051112233") && html.contains("id=\"register\""),
        "{html}"
    );
    // Missing fields: the form again, 422, each field named; nothing registered.
    let r = b
        .post(
            "/console/calls/cc-1/ticket",
            &[("csrf", &csrf), ("topic", ""), ("language", "ru")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("f-region") && html.contains("role=\"alert\""),
        "{html}"
    );
    // Without the session's CSRF token: refused.
    let r = b
        .post(
            "/console/calls/cc-1/ticket",
            &[
                ("csrf", "forged"),
                ("topic", "t"),
                ("region", "astana"),
                ("text", "x"),
                ("language", "ru"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = b
        .post(
            "/console/calls/cc-1/ticket",
            &[
                ("csrf", &csrf),
                ("topic", "egov_portal"),
                ("region", "astana"),
                ("text", "Не приходит код из SMS"),
                ("language", "kk"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(to, "/console/calls/cc-1?notice=ticket_registered");
    let html = b.get(&to).await.text().await.unwrap();
    let op = t.token("op-api", Role::Operator).await;
    let call: Value = t
        .get_auth("/api/v1/calls/cc-1", &op)
        .await
        .json()
        .await
        .unwrap();
    let number = call["ticket"]["number"].as_str().unwrap();
    let due = call["ticket"]["due_at"].as_str().unwrap();
    assert!(
        html.contains(&format!("id=\"ticket-number\">{number}<")),
        "{html}"
    );
    assert!(
        html.contains(&format!("id=\"ticket-due\">{due}<")),
        "{html}"
    );
    assert_eq!(ticket_of(&t, &op, number).await["language"], "kk");
    // A second card for the same call: 409, the ticket stays one.
    let r = b
        .post(
            "/console/calls/cc-1/ticket",
            &[
                ("csrf", &csrf),
                ("topic", "t"),
                ("region", "astana"),
                ("text", "x"),
                ("language", "ru"),
            ],
        )
        .await;
    assert_eq!(r.status(), 409);
    // A role that may not read tickets does not see call cards.
    let mut e = Browser::new(&t);
    e.sign_in("editor1").await;
    assert_eq!(e.get("/console/calls/cc-1").await.status(), 403);
    assert_eq!(b.get("/console/calls/no-such-call").await.status(), 404);
}

/// A local HTTP server: the first `fail_first` requests get 503, then each gets
/// `status`, `content_type` and `body`. Keeps every request body.
struct FakeServer {
    url: String,
    hits: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn fake_server(
    fail_first: usize,
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
) -> FakeServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (h, b) = (hits.clone(), bodies.clone());
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (h, b, body) = (h.clone(), b.clone(), body.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let n = h.fetch_add(1, Ordering::SeqCst);
                b.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[head_end..]).to_string());
                let (status, ct, payload): (&str, &str, &[u8]) = if n < fail_first {
                    ("503 Service Unavailable", "text/plain", b"try later")
                } else {
                    (status, content_type, &body)
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    payload.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(payload).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    FakeServer {
        url: format!("http://{addr}/"),
        hits,
        bodies,
    }
}

fn event(call_id: &str, kind: &str) -> Value {
    json!({
        "call_id": call_id, "event": kind, "caller": "+77015550001", "called": "1414",
        "queue": "general", "arrived_at": "2026-12-03T10:00:00+05:00",
    })
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn post(t: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let r = t.post_auth("/api/v1/calls", token, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn call_events_merge_in_any_order_and_redelivery_changes_nothing(backend: Backend) {
    let (url, dir) = fresh_database(backend);
    let t = spawn_custom(&url, dir, |c| c.recording_max_bytes = 1000, |b| b).await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let op = t.token("aliya", Role::Operator).await;

    // Every state, once each, in order.
    let (s, v) = post(&t, &pbx, event("c-1", "arrived")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["events"], json!(["arrived"]));
    assert_eq!(v["wait_secs"], Value::Null);
    // Redelivered: nothing changes.
    let (s, v) = post(&t, &pbx, event("c-1", "arrived")).await;
    assert_eq!((s, v["changed"].clone()), (200, json!(false)), "{v}");
    let answered = with(
        event("c-1", "answered"),
        json!({"answered_at": "2026-12-03T10:00:25+05:00", "operator": "aliya"}),
    );
    let (s, v) = post(&t, &pbx, answered.clone()).await;
    assert_eq!((s, v["changed"].clone()), (200, json!(true)), "{v}");
    assert_eq!(v["wait_secs"], 25);
    let ended = with(
        event("c-1", "ended"),
        json!({"ended_at": "2026-12-03T10:04:00+05:00", "disposition": "answered", "survey": 5}),
    );
    let (s, v) = post(&t, &pbx, ended.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"], json!(["arrived", "answered", "ended"]));
    assert_eq!(v["survey"], 5);
    assert_eq!(v["operator"], "aliya");
    for again in [answered, ended] {
        let (s, v) = post(&t, &pbx, again).await;
        assert_eq!((s, v["changed"].clone()), (200, json!(false)), "{v}");
    }
    // A later event saying otherwise is not taken: the first value stays, and it says so.
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("c-1", "answered"),
            json!({"answered_at": "2026-12-03T10:00:50+05:00"}),
        ),
    )
    .await;
    assert_eq!(
        (s, v["wait_secs"].clone(), v["changed"].clone()),
        (200, json!(25), json!(false)),
        "{v}"
    );
    assert_eq!(v["ignored"], json!(["answered_at"]));

    // Out of order: `ended` first, then `answered`, then `arrived`.
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("c-2", "ended"),
            json!({"ended_at": "2026-12-03T10:09:00+05:00", "disposition": "answered"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["wait_secs"], Value::Null);
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("c-2", "answered"),
            json!({"answered_at": "2026-12-03T10:00:40+05:00"}),
        ),
    )
    .await;
    assert_eq!((s, v["wait_secs"].clone()), (200, json!(40)), "{v}");
    let (_, v) = post(&t, &pbx, event("c-2", "arrived")).await;
    assert_eq!(v["events"], json!(["arrived", "answered", "ended"]));
    assert_eq!(v["disposition"], "answered");

    // A complete record in one POST, an abandoned call (it waited until it ended), a busy one.
    let (s, v) = post(&t, &pbx, with(event("c-3", "ended"), json!({"answered_at": "2026-12-03T10:00:05+05:00", "ended_at": "2026-12-03T10:03:00+05:00", "disposition": "answered", "operator": "aliya"}))).await;
    assert_eq!((s, v["wait_secs"].clone()), (201, json!(5)), "{v}");
    let (_, v) = post(
        &t,
        &pbx,
        with(
            event("c-4", "ended"),
            json!({"ended_at": "2026-12-03T10:01:10+05:00", "disposition": "abandoned"}),
        ),
    )
    .await;
    assert_eq!(v["wait_secs"], 70, "{v}");
    let (_, v) = post(
        &t,
        &pbx,
        with(
            event("c-5", "ended"),
            json!({"ended_at": "2026-12-03T10:00:01+05:00", "disposition": "busy"}),
        ),
    )
    .await;
    assert_eq!(v["wait_secs"], Value::Null, "{v}");
    // An answered call cannot end abandoned.
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("c-3", "ended"),
            json!({"ended_at": "2026-12-03T10:03:00+05:00", "disposition": "abandoned"}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["disposition"], "answered");
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("c-4", "answered"),
            json!({"answered_at": "2026-12-03T10:00:30+05:00"}),
        ),
    )
    .await;
    assert_eq!(s, 422, "{v}");

    // Concurrent duplicates: two events of one call at once, ten calls; one row each.
    let mut sends = Vec::new();
    for i in 0..10 {
        let id = format!("race-{i}");
        for body in [
            event(&id, "arrived"),
            with(
                event(&id, "answered"),
                json!({"answered_at": "2026-12-03T10:00:12+05:00"}),
            ),
            event(&id, "arrived"),
        ] {
            let (t, pbx) = (&t, pbx.clone());
            sends.push(async move { post(t, &pbx, body).await });
        }
    }
    let results = futures_util::future::join_all(sends).await;
    assert!(
        results.iter().all(|(s, _)| *s == 200 || *s == 201),
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 10);
    for i in 0..10 {
        let v: Value = t
            .get_auth(&format!("/api/v1/calls/race-{i}"), &op)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["events"], json!(["arrived", "answered"]), "{v}");
        assert_eq!(v["wait_secs"], 12);
    }

    // Hostile input: each gets a 422 naming what to fix, and nothing is stored.
    let cases = [
        (
            with(
                event("h-1", "answered"),
                json!({"answered_at": "2026-12-03T09:59:00+05:00"}),
            ),
            "answered_at",
        ),
        (
            with(
                event("h-2", "arrived"),
                json!({"arrived_at": "03.12.2026 10:00"}),
            ),
            "arrived_at",
        ),
        (
            with(
                event("h-3", "arrived"),
                json!({"arrived_at": "1970-01-01T00:00:00Z"}),
            ),
            "arrived_at",
        ),
        (
            with(
                event("h-4", "ended"),
                json!({"ended_at": "2026-12-03T10:01:00+05:00"}),
            ),
            "disposition",
        ),
        (
            with(
                event("h-5", "answered"),
                json!({"answered_at": "2026-12-03T10:00:03+05:00", "operator": "ghost"}),
            ),
            "operator",
        ),
        (
            with(event("h-6", "arrived"), json!({"survey": 9})),
            "survey",
        ),
        (
            with(event("h-7", "arrived"), json!({"event": "ringing"})),
            "event",
        ),
        (
            with(
                event("h-8", "arrived"),
                json!({"recording": {"content_base64": "!!!not base64!!!", "content_type": "audio/wav"}}),
            ),
            "recording.content_base64",
        ),
        (
            with(
                event("h-9", "arrived"),
                json!({"recording": {"content_base64": "A".repeat(4000), "content_type": "audio/wav"}}),
            ),
            "recording.content_base64",
        ),
        (
            with(
                event("h-10", "arrived"),
                json!({"recording": {"content_base64": "AAAA", "content_type": "text/html"}}),
            ),
            "recording.content_type",
        ),
        (
            with(
                event("h-11", "arrived"),
                json!({"recording": {"url": "file:///etc/passwd"}}),
            ),
            "recording.url",
        ),
        (
            with(
                event("h-12", "arrived"),
                json!({"call_id": "x".repeat(500)}),
            ),
            "call_id",
        ),
        (
            with(event("h-13", "arrived"), json!({"caller": 77015550001u64})),
            "caller",
        ),
    ];
    for (body, field) in cases {
        let (s, v) = post(&t, &pbx, body.clone()).await;
        assert_eq!(s, 422, "{body}: {v}");
        assert!(fields(&v).contains(&field.to_string()), "{field}: {v}");
        assert!(v["detail"].is_string());
    }
    for id in ["h-1", "h-5", "h-8"] {
        assert_eq!(
            t.get_auth(&format!("/api/v1/calls/{id}"), &op)
                .await
                .status(),
            404
        );
    }
    let r = t
        .client
        .post(format!("{}/api/v1/calls", t.url))
        .bearer_auth(&pbx)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Only the PBX (and an administrator) reports calls.
    assert_eq!(
        t.post_auth("/api/v1/calls", &op, event("x", "arrived"))
            .await
            .status(),
        403
    );
}

/// Master.csv lines: id, caller, queue, start, answer, end, disposition, operator.
#[allow(clippy::too_many_arguments)]
fn cdr(
    id: &str,
    caller: &str,
    queue: &str,
    start: &str,
    answer: &str,
    end: &str,
    disposition: &str,
    op: &str,
) -> String {
    format!(
        "\"\",\"{caller}\",\"1414\",\"{queue}\",\"\"\"Caller\"\" <{caller}>\",\"SIP/trunk-0001\",\"SIP/{op}-0002\",\"Queue\",\"{queue}\",\"{start}\",\"{answer}\",\"{end}\",\"60\",\"50\",\"{disposition}\",\"DOCUMENTATION\",\"{id}\",\"{op}\"\n"
    )
}

/// `baylanys calls import FILE` (and `-` for stdin) against the server's database: a bad
/// line is named on stderr with exit 1 and nothing imported; the good file is imported,
/// and imported again changes nothing.
async fn the_calls_import_command_names_a_bad_line_imports_nothing_then_everything_once(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let op = t.token("op", Role::Operator).await;
    t.token("aliya", Role::Operator).await;
    t.token("bolat", Role::Operator).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>, stdin: Option<String>| {
        let url = t.database_url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
                    .env_remove("BAYLANYS_DATABASE_URL")
                    .env("BAYLANYS_LOG", "warn")
                    .args(["calls", "import"])
                    .args(&args)
                    .args(["--database-url", &url])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut pipe = child.stdin.take().unwrap();
                if let Some(input) = stdin {
                    pipe.write_all(input.as_bytes()).unwrap();
                }
                drop(pipe);
                let out = child.wait_with_output().unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).to_string(),
                    String::from_utf8_lossy(&out.stderr).to_string(),
                )
            })
            .await
            .unwrap()
        }
    };
    let good = hand_computed_file();
    let bad = good.replacen("NO ANSWER", "MAYBE", 1);
    let bad_path = dir.path().join("bad.csv");
    std::fs::write(&bad_path, &bad).unwrap();
    let (code, _, err) = run(vec![bad_path.display().to_string()], None).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("line 3:") && err.contains("MAYBE"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(t.get_auth("/api/v1/calls/1.1", &op).await.status(), 404);
    let (code, _, err) = run(
        vec![dir.path().join("missing.csv").display().to_string()],
        None,
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot open") && err.contains("missing.csv"),
        "{err}"
    );

    let path = dir.path().join("Master.csv");
    std::fs::write(&path, &good).unwrap();
    let (code, out, err) = run(vec![path.display().to_string()], None).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("imported 6 calls (0 already known) from 6 lines"),
        "{out}"
    );
    let c: Value = t
        .get_auth("/api/v1/calls/1.2", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (c["wait_secs"].clone(), c["operator"].clone()),
        (json!(40), json!("aliya")),
        "{c}"
    );
    // The same records from stdin: all known, nothing changes.
    let (code, out, err) = run(vec!["-".into()], Some(good)).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("imported 0 calls (6 already known) from 6 lines"),
        "{out}"
    );
}

fn hand_computed_file() -> String {
    [
        cdr(
            "1.1",
            "87011110001",
            "general",
            "2026-12-03 10:00:00",
            "2026-12-03 10:00:10",
            "2026-12-03 10:03:00",
            "ANSWERED",
            "aliya",
        ),
        cdr(
            "1.2",
            "87011110002",
            "general",
            "2026-12-03 10:05:00",
            "2026-12-03 10:05:40",
            "2026-12-03 10:09:00",
            "ANSWERED",
            "aliya",
        ),
        cdr(
            "1.3",
            "87011110003",
            "tax",
            "2026-12-03 10:20:00",
            "",
            "2026-12-03 10:21:00",
            "NO ANSWER",
            "",
        ),
        cdr(
            "1.4",
            "87011110004",
            "tax",
            "2026-12-03 11:00:00",
            "2026-12-03 11:00:20",
            "2026-12-03 11:04:00",
            "ANSWERED",
            "bolat",
        ),
        cdr(
            "1.5",
            "87011110005",
            "tax",
            "2026-12-03 11:30:00",
            "",
            "2026-12-03 11:30:05",
            "BUSY",
            "",
        ),
        cdr(
            "1.6",
            "87011110006",
            "general",
            "2026-12-04 09:00:00",
            "2026-12-04 09:00:30",
            "2026-12-04 09:02:00",
            "ANSWERED",
            "bolat",
        ),
    ]
    .concat()
}

async fn import(t: &TestApp, token: &str, body: String) -> (u16, Value) {
    let r = t
        .client
        .post(format!("{}/api/v1/calls/import", t.url))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn csv_import_names_a_bad_line_and_the_r3_figures_match_hand_computed_values(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let op = t.token("op", Role::Operator).await;
    t.token("aliya", Role::Operator).await;
    t.token("bolat", Role::Operator).await;

    // A bad third line (a disposition Asterisk does not write): named, nothing imported.
    let good = hand_computed_file();
    let mut lines: Vec<&str> = good.lines().collect();
    let bad = lines[2].replace("NO ANSWER", "MAYBE");
    lines[2] = &bad;
    let header = "accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,disposition,amaflags,uniqueid,userfield\n";
    let (s, v) = import(&t, &pbx, format!("{header}{}\n", lines.join("\n"))).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(fields(&v), ["line 4"], "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAYBE")
    );
    assert_eq!(
        t.get_auth("/api/v1/calls/1.1", &op).await.status(),
        404,
        "nothing half-imported"
    );
    // More bad lines: each named (an oversized line, an unknown login, too few fields, bad times).
    let huge = format!("\"{}\"", "x".repeat(10_000));
    let file = format!(
        "{}{huge}\n{}\"only\",\"three\",\"fields\"\n{}",
        cdr(
            "2.1",
            "87011110001",
            "general",
            "2026-12-03 10:00:00",
            "2026-12-03 10:00:10",
            "2026-12-03 10:03:00",
            "ANSWERED",
            "aliya"
        ),
        cdr(
            "2.2",
            "87011110001",
            "general",
            "2026-12-03 10:00:00",
            "2026-12-03 10:00:10",
            "2026-12-03 10:03:00",
            "ANSWERED",
            "ghost"
        ),
        cdr(
            "2.3",
            "87011110001",
            "general",
            "2026-12-03 10:00:00",
            "2026-12-03 09:00:10",
            "2026-12-03 10:03:00",
            "ANSWERED",
            "aliya"
        ),
    );
    let (s, v) = import(&t, &pbx, file).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(fields(&v), ["line 2", "line 3", "line 4", "line 5"], "{v}");
    assert_eq!(t.get_auth("/api/v1/calls/2.1", &op).await.status(), 404);

    let (s, v) = import(&t, &pbx, good.clone()).await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"lines": 6, "imported": 6, "already_known": 0})),
        "{v}"
    );
    let (s, v) = import(&t, &pbx, good).await;
    assert_eq!(
        (s, v.clone()),
        (200, json!({"lines": 6, "imported": 0, "already_known": 6})),
        "{v}"
    );
    let c: Value = t
        .get_auth("/api/v1/calls/1.3", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            c["disposition"].clone(),
            c["wait_secs"].clone(),
            c["caller"].clone()
        ),
        (json!("abandoned"), json!(60), json!("+77011110003"))
    );
    assert_eq!(
        c["arrived_at"], "2026-12-03T05:20:00Z",
        "Almaty local time read as UTC+5"
    );

    // R3 by hand: waits 10, 40, 60 (abandoned), 20, 30; the busy call is left out.
    let stats = |q: &str| {
        let (t, sup, q) = (&t, sup.clone(), q.to_string());
        async move {
            let r = t
                .get_auth(
                    &format!("/api/v1/calls/stats?from=2026-12-03&to=2026-12-04{q}"),
                    &sup,
                )
                .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let v = stats("").await;
    let total = &v["total"];
    assert_eq!(
        (
            total["calls"].clone(),
            total["offered"].clone(),
            total["answered"].clone(),
            total["abandoned"].clone(),
            total["busy_or_failed"].clone(),
            total["answered_within_30s"].clone()
        ),
        (json!(6), json!(5), json!(4), json!(1), json!(1), json!(3))
    );
    assert_eq!(total["average_wait_secs"], 32.0);
    assert_eq!(total["answered_within_30s_share"], 0.6);
    assert_eq!(total["abandoned_share"], 0.2);
    let pick = |v: &Value| -> Vec<(String, Value, Value, Value)> {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["key"].as_str().unwrap().to_string(),
                    g["average_wait_secs"].clone(),
                    g["answered_within_30s_share"].clone(),
                    g["abandoned_share"].clone(),
                )
            })
            .collect()
    };
    let k = |s: &str| s.to_string();
    assert_eq!(
        pick(&stats("&by=day").await),
        vec![
            (k("2026-12-03"), json!(32.5), json!(0.5), json!(0.25)),
            (k("2026-12-04"), json!(30.0), json!(1.0), json!(0.0)),
        ]
    );
    assert_eq!(
        pick(&stats("&by=hour").await),
        vec![
            (
                k("2026-12-03 10:00"),
                json!(36.6667),
                json!(0.3333),
                json!(0.3333)
            ),
            (k("2026-12-03 11:00"), json!(20.0), json!(1.0), json!(0.0)),
            (k("2026-12-04 09:00"), json!(30.0), json!(1.0), json!(0.0)),
        ]
    );
    assert_eq!(
        pick(&stats("&by=queue").await),
        vec![
            (k("general"), json!(26.6667), json!(0.6667), json!(0.0)),
            (k("tax"), json!(40.0), json!(0.5), json!(0.5)),
        ]
    );
    let by_op = pick(&stats("&by=operator").await);
    assert!(
        by_op.contains(&(k("aliya"), json!(25.0), json!(0.5), json!(0.0))),
        "{by_op:?}"
    );
    assert!(
        by_op.contains(&(k("bolat"), json!(25.0), json!(1.0), json!(0.0))),
        "{by_op:?}"
    );
    assert!(
        by_op.contains(&(k("-"), json!(60.0), json!(0.0), json!(1.0))),
        "{by_op:?}"
    );
    // One day alone, and a day without calls.
    assert_eq!(
        t.get_auth("/api/v1/calls/stats?from=2026-12-04&to=2026-12-04", &sup)
            .await
            .json::<Value>()
            .await
            .unwrap()["total"]["offered"],
        1
    );
    let empty: Value = t
        .get_auth("/api/v1/calls/stats?from=2026-12-05&to=2026-12-05", &sup)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            empty["total"]["calls"].clone(),
            empty["total"]["average_wait_secs"].clone()
        ),
        (json!(0), Value::Null)
    );
    // Bad queries are named.
    for (q, field) in [
        ("from=2026-12-05&to=2026-12-01", "to"),
        ("from=yesterday&to=2026-12-01", "from"),
        ("to=2026-12-01", "from"),
        ("from=2026-12-01&to=2026-12-02&by=week", "by"),
        ("from=2020-01-01&to=2026-01-01", "to"),
    ] {
        let r = t.get_auth(&format!("/api/v1/calls/stats?{q}"), &sup).await;
        assert_eq!(r.status(), 422, "{q}");
        assert!(
            fields(&r.json().await.unwrap()).contains(&field.to_string()),
            "{q}"
        );
    }
    assert_eq!(
        t.get_auth("/api/v1/calls/stats?from=2026-12-03&to=2026-12-04", &op)
            .await
            .status(),
        403
    );
    assert_eq!(import(&t, &op, String::new()).await.0, 403);
}

async fn ticket_of(t: &TestApp, token: &str, number: &str) -> Value {
    t.get_auth(&format!("/api/v1/tickets/{number}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn a_call_joins_the_open_ticket_and_the_call_card_registers_one_acknowledged_by_sms(
    backend: Backend,
) {
    let gateway = fake_server(
        1,
        "200 OK",
        "application/json",
        br#"{"id": "sms-1"}"#.to_vec(),
    )
    .await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (url, dir) = fresh_database(backend);
    let (c2, gw) = (clock.clone(), gateway.url.clone());
    let t = spawn_custom(
        &url,
        dir,
        move |c| c.sms_gateway_url = Some(format!("{gw}send")),
        |b| b.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let op = t.token("aliya", Role::Operator).await;

    // A web-form appeal gave "+7 701 234 5678": a call from 8 701 234 56 78 joins it.
    let r = t
        .post_json("/api/v1/appeals", appeal("Справка не приходит"))
        .await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = post(
        &t,
        &pbx,
        with(
            event("j-1", "arrived"),
            json!({"caller": "8 701 234 56 78"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["ticket"]["number"], number.as_str(), "{v}");
    let detail = ticket_of(&t, &op, &number).await;
    let phone_messages: Vec<&Value> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["channel"] == "phone")
        .collect();
    assert_eq!(phone_messages.len(), 1, "{detail}");
    assert!(
        detail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "call_joined")
    );
    // Redelivered: not a second message.
    post(
        &t,
        &pbx,
        with(
            event("j-1", "arrived"),
            json!({"caller": "8 701 234 56 78"}),
        ),
    )
    .await;
    let detail = ticket_of(&t, &op, &number).await;
    assert_eq!(
        detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["channel"] == "phone")
            .count(),
        1
    );

    // A call from a number with no open ticket: the operator registers it from the card.
    let (_, v) = post(&t, &pbx, with(event("card-1", "answered"), json!({"caller": "+77029998877", "answered_at": "2026-12-03T10:00:09+05:00", "operator": "aliya"}))).await;
    assert_eq!(v["ticket"], Value::Null, "{v}");
    let card = json!({"topic": "egov_portal", "region": "astana", "text": "Не могу войти в кабинет eGov", "language": "ru", "sms": true});
    // Hostile card input first.
    let r = t
        .post_auth(
            "/api/v1/calls/card-1/ticket",
            &op,
            json!({"topic": "", "language": "fr", "text": 5}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let f = fields(&r.json().await.unwrap());
    for want in ["topic", "region", "text", "language"] {
        assert!(f.contains(&want.to_string()), "{want}: {f:?}");
    }
    assert_eq!(
        t.post_auth("/api/v1/calls/no-such/ticket", &op, card.clone())
            .await
            .status(),
        404
    );
    assert_eq!(
        t.post_auth("/api/v1/calls/card-1/ticket", &pbx, card.clone())
            .await
            .status(),
        403
    );
    let r = t
        .post_auth("/api/v1/calls/card-1/ticket", &op, card.clone())
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    let card_number = made["number"].as_str().unwrap().to_string();
    assert!(
        made["due_at"].as_str().is_some_and(|d| !d.is_empty()),
        "{made}"
    );
    assert_eq!(made["due"]["rule"], "R5", "{made}");
    assert_eq!(made["caller"], "+77029998877");
    // The card shows the number and deadline to read out; the ticket is a phone ticket.
    let call: Value = t
        .get_auth("/api/v1/calls/card-1", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(call["ticket"]["number"], card_number.as_str());
    assert_eq!(call["ticket"]["due_at"], made["due_at"]);
    let detail = ticket_of(&t, &op, &card_number).await;
    assert_eq!(detail["channel"], "phone", "{detail}");
    assert_eq!(detail["topic"], "egov_portal");
    // One card per call.
    assert_eq!(
        t.post_auth("/api/v1/calls/card-1/ticket", &op, card.clone())
            .await
            .status(),
        409
    );

    // The SMS gateway fails the first send; the retry after the backoff (the clock moves
    // past it) delivers it.
    eventually("the acknowledgement is delivered on the retry", || {
        let (t, op, n, clock) = (&t, op.clone(), card_number.clone(), clock.clone());
        async move {
            clock.advance(TimeDelta::seconds(11));
            let d = ticket_of(t, &op, &n).await;
            d["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "acknowledgement" && m["delivery_status"] == "sent")
        }
    })
    .await;
    assert_eq!(gateway.hits.load(Ordering::SeqCst), 2);
    let sent: Value = serde_json::from_str(&gateway.bodies.lock().unwrap()[1]).unwrap();
    assert_eq!(sent["to"], "+77029998877");
    assert_eq!(sent["reference"], card_number.as_str());
    assert!(
        sent["text"].as_str().unwrap().contains(&card_number),
        "{sent}"
    );

    // The next call from that number joins the card's ticket.
    let (_, v) = post(
        &t,
        &pbx,
        with(event("card-2", "arrived"), json!({"caller": "87029998877"})),
    )
    .await;
    assert_eq!(v["ticket"]["number"], card_number.as_str(), "{v}");
}

const WAV: &[u8] = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00";

fn sha(b: &[u8]) -> String {
    baylanys::auth::sha256_hex(b)
}

async fn recordings_are_fetched_with_retries_kept_checked_and_deleted_after_retention(
    backend: Backend,
) {
    let pbx_files = fake_server(1, "200 OK", "audio/wav", WAV.to_vec()).await;
    let html = fake_server(0, "200 OK", "text/html", b"<html>login</html>".to_vec()).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (url, dir) = fresh_database(backend);
    let c2 = clock.clone();
    let t = spawn_custom(
        &url,
        dir,
        |c| c.recording_retention_days = 30,
        |b| b.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let op = t.token("op", Role::Operator).await;
    let quality = t.token("quality", Role::Quality).await;
    let info = t.token("info", Role::Informatization).await;
    let admin = t.token("admin", Role::Admin).await;

    let ended = |id: &str, recording: Value| {
        with(
            event(id, "ended"),
            json!({"answered_at": "2026-12-03T10:00:05+05:00", "ended_at": "2026-12-03T10:02:00+05:00", "disposition": "answered", "caller": "+77015550077", "recording": recording}),
        )
    };
    let (s, v) = post(
        &t,
        &pbx,
        ended(
            "r-url",
            json!({"url": format!("{}rec/1.wav", pbx_files.url)}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["recording"]["status"], "pending");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(WAV);
    let (s, v) = post(
        &t,
        &pbx,
        ended(
            "r-upload",
            json!({"content_base64": b64, "content_type": "audio/wav"}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["recording"]["status"], "stored");
    assert_eq!(v["recording"]["sha256"], sha(WAV));
    post(
        &t,
        &pbx,
        ended("r-html", json!({"url": format!("{}rec/2.wav", html.url)})),
    )
    .await;

    // The first fetch gets 503; the retry after the backoff stores it.
    eventually("the retry stores the recording", || {
        let (t, op, clock) = (&t, op.clone(), clock.clone());
        async move {
            clock.advance(TimeDelta::seconds(11));
            let v: Value = t
                .get_auth("/api/v1/calls/r-url", &op)
                .await
                .json()
                .await
                .unwrap();
            v["recording"]["status"] == "stored"
        }
    })
    .await;
    assert_eq!(
        pbx_files.hits.load(Ordering::SeqCst),
        2,
        "one failure, one success"
    );
    let v: Value = t
        .get_auth("/api/v1/calls/r-url", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["recording"]["sha256"], sha(WAV));
    assert_eq!(v["recording"]["size"], WAV.len());
    // A page instead of a recording is refused for good, and says why.
    eventually("the wrong type is given up", || {
        let (t, op, clock) = (&t, op.clone(), clock.clone());
        async move {
            clock.advance(TimeDelta::seconds(11));
            let v: Value = t
                .get_auth("/api/v1/calls/r-html", &op)
                .await
                .json()
                .await
                .unwrap();
            v["recording"]["status"] == "failed"
                && v["recording"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("text/html"))
        }
    })
    .await;

    // Listening: supervisor, quality and informatization; each access recorded.
    for (token, who) in [(&sup, "sup"), (&quality, "quality"), (&info, "info")] {
        let r = t.get_auth("/api/v1/calls/r-url/recording", token).await;
        assert_eq!(r.status(), 200, "{who}");
        assert_eq!(r.headers()["content-type"], "audio/wav");
        assert_eq!(r.headers()["x-content-sha256"].to_str().unwrap(), sha(WAV));
        assert_eq!(&r.bytes().await.unwrap()[..], WAV);
    }
    let r = t
        .get_auth("/api/v1/calls/r-url/recording?download=1", &sup)
        .await;
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    for token in [&op, &pbx, &admin] {
        assert_eq!(
            t.get_auth("/api/v1/calls/r-url/recording", token)
                .await
                .status(),
            403
        );
    }
    assert_eq!(
        t.get_auth("/api/v1/calls/r-html/recording", &sup)
            .await
            .status(),
        404
    );
    let log: Value = t
        .get_auth("/api/v1/calls/r-url/recording/access", &sup)
        .await
        .json()
        .await
        .unwrap();
    let who: Vec<(&str, &str)> = log["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        who,
        [
            ("supervisor:sup", "listen"),
            ("quality:quality", "listen"),
            ("informatization:info", "listen"),
            ("supervisor:sup", "download")
        ]
    );

    // A record request for the number and day holds its recordings past the retention
    // period; once released, the hold ends 30 days later and the daily job deletes them.
    let r = t
        .post_auth(
            "/api/v1/record-requests",
            &quality,
            json!({"date": "2026-12-03", "phone": "+7 701 555 00 77"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let req: Value = r.json().await.unwrap();
    assert_eq!(req["calls"].as_array().unwrap().len(), 3, "{req}");
    clock.advance(TimeDelta::days(31));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let v: Value = t
        .get_auth("/api/v1/calls/r-url", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["recording"]["status"], "stored",
        "held by the open request: {v}"
    );
    let id = req["id"].as_str().unwrap();
    assert_eq!(
        t.post_auth(
            &format!("/api/v1/record-requests/{id}/release"),
            &sup,
            json!({})
        )
        .await
        .status(),
        200
    );
    clock.advance(TimeDelta::days(31));
    eventually("the expired recordings are deleted", || {
        let (t, op, clock) = (&t, op.clone(), clock.clone());
        async move {
            clock.advance(TimeDelta::seconds(1));
            let v: Value = t
                .get_auth("/api/v1/calls/r-url", &op)
                .await
                .json()
                .await
                .unwrap();
            v["recording"]["status"] == "deleted"
        }
    })
    .await;
    let v: Value = t
        .get_auth("/api/v1/calls/r-upload", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["recording"]["status"], "deleted");
    assert_eq!(
        v["recording"]["sha256"],
        sha(WAV),
        "the sha256 stays as evidence"
    );
    assert_eq!(
        t.get_auth("/api/v1/calls/r-url/recording", &sup)
            .await
            .status(),
        404
    );
}

async fn a_record_request_is_found_released_and_downloaded_as_one_zip(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (url, dir) = fresh_database(backend);
    let c2 = clock.clone();
    let t = spawn_custom(&url, dir, |_| {}, |b| b.with_clock(c2 as Arc<dyn Clock>)).await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let op = t.token("op", Role::Operator).await;
    let quality = t.token("quality", Role::Quality).await;
    let info = t.token("info", Role::Informatization).await;
    t.app
        .db
        .write(|c| {
            use baylanys::db::schema::users;
            use diesel::prelude::*;
            diesel::update(users::table.filter(users::login.eq("sup")))
                .set(users::email.eq("sup@goscorp.kz"))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();

    // Today (Almaty): a web appeal from the number and two calls from it with recordings.
    let now_local = Utc::now().with_timezone(&chrono_tz::Asia::Almaty);
    let today = now_local.format("%Y-%m-%d").to_string();
    let r = t
        .post_json(
            "/api/v1/appeals",
            appeal("Прошу проверить статус заявления"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine;
    let recs = [b"first recording bytes".to_vec(), WAV.to_vec()];
    for (i, rec) in recs.iter().enumerate() {
        let body = json!({
            "call_id": format!("rr-{i}"), "event": "ended", "caller": "87012345678", "called": "1414",
            "queue": "general", "arrived_at": format!("{today}T00:0{i}:00+05:00"),
            "answered_at": format!("{today}T00:0{i}:10+05:00"), "ended_at": format!("{today}T00:0{i}:50+05:00"),
            "disposition": "answered",
            "recording": {"content_base64": base64::engine::general_purpose::STANDARD.encode(rec), "content_type": if i == 0 { "audio/mpeg" } else { "audio/wav" }},
        });
        assert_eq!(post(&t, &pbx, body).await.0, 201);
    }
    // Another number's call is not part of it.
    post(&t, &pbx, json!({"call_id": "other", "event": "arrived", "caller": "+77770000000", "called": "1414", "queue": "general", "arrived_at": format!("{today}T00:05:00+05:00")})).await;

    // Hostile and unauthorised requests.
    assert_eq!(
        t.post_auth(
            "/api/v1/record-requests",
            &op,
            json!({"date": today, "phone": "87012345678"})
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        t.post_auth(
            "/api/v1/record-requests",
            &sup,
            json!({"date": today, "phone": "87012345678"})
        )
        .await
        .status(),
        403
    );
    let r = t
        .post_auth(
            "/api/v1/record-requests",
            &info,
            json!({"date": "31.12.2026", "phone": "abc", "time_from": "25:00", "ticket": "nope"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let f = fields(&r.json().await.unwrap());
    for want in ["date", "phone", "time_from", "ticket"] {
        assert!(f.contains(&want.to_string()), "{want}: {f:?}");
    }

    let submitted_at = clock.now();
    let r = t
        .post_auth(
            "/api/v1/record-requests",
            &info,
            json!({"date": today, "phone": "+7 701 234 56 78"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let req: Value = r.json().await.unwrap();
    let id = req["id"].as_str().unwrap().to_string();
    assert_eq!(req["rule"], "R11");
    let due = chrono::DateTime::parse_from_rfc3339(req["due_at"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(req["submitted_at"].as_str().unwrap()).unwrap();
    assert_eq!((due - at).num_seconds(), 4 * 3600, "{req}");
    assert!(
        (at.with_timezone(&Utc) - submitted_at).num_seconds().abs() < 1,
        "{req}"
    );
    let calls: Vec<&str> = req["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["rr-0", "rr-1"]);
    assert_eq!(req["tickets"], json!([number]));
    assert_eq!(req["answered_at"], Value::Null);

    // Before release: no archive; another body does not see it.
    assert_eq!(
        t.get_auth(&format!("/api/v1/record-requests/{id}/archive"), &info)
            .await
            .status(),
        409
    );
    assert_eq!(
        t.get_auth(&format!("/api/v1/record-requests/{id}"), &quality)
            .await
            .status(),
        404
    );
    assert_eq!(
        t.post_auth(
            &format!("/api/v1/record-requests/{id}/release"),
            &info,
            json!({})
        )
        .await
        .status(),
        403
    );
    // The supervisor reviews and releases within the 4 hours.
    let seen: Value = t
        .get_auth(&format!("/api/v1/record-requests/{id}"), &sup)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["status"], "submitted");
    clock.advance(TimeDelta::minutes(90));
    let r = t
        .post_auth(
            &format!("/api/v1/record-requests/{id}/release"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let released: Value = r.json().await.unwrap();
    assert_eq!(released["answered_on_time"], true, "{released}");
    assert_eq!(
        t.post_auth(
            &format!("/api/v1/record-requests/{id}/release"),
            &sup,
            json!({})
        )
        .await
        .status(),
        409
    );

    // The ZIP: each file's sha256 in the manifest matches the file.
    let r = t
        .get_auth(&format!("/api/v1/record-requests/{id}/archive"), &info)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a ZIP");
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "recordings/rr-0.mp3",
            "recordings/rr-1.wav",
            &format!("transcripts/{number}.txt")
        ]
    );
    for f in files {
        let mut content = Vec::new();
        zip.by_name(f["name"].as_str().unwrap())
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        assert_eq!(f["sha256"], sha(&content), "{f}");
        assert_eq!(f["size"], content.len());
    }
    let mut rec = Vec::new();
    zip.by_name("recordings/rr-1.wav")
        .unwrap()
        .read_to_end(&mut rec)
        .unwrap();
    assert_eq!(rec, WAV);
    let mut transcript = String::new();
    zip.by_name(&format!("transcripts/{number}.txt"))
        .unwrap()
        .read_to_string(&mut transcript)
        .unwrap();
    assert!(
        transcript.contains("Прошу проверить статус заявления"),
        "{transcript}"
    );
    let mcalls = manifest["calls"].as_array().unwrap();
    assert_eq!(mcalls.len(), 2);
    assert_eq!(mcalls[0]["call_id"], "rr-0");
    assert_eq!(mcalls[0]["wait_secs"], 10);
    assert_eq!(mcalls[1]["recording"], "recordings/rr-1.wav");
    assert!(mcalls[0]["arrived_at"].is_string() && mcalls[0]["ended_at"].is_string());
    // The download is recorded on each recording.
    let log: Value = t
        .get_auth("/api/v1/calls/rr-0/recording/access", &sup)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["access"][0]["action"], "record_request_download");
    assert_eq!(log["access"][0]["actor"], "informatization:info");

    // A request nobody releases: reminded an hour before, escalated at the deadline.
    let r = t.post_auth("/api/v1/record-requests", &quality, json!({"date": today, "phone": "87012345678", "time_from": "00:00", "time_to": "00:00"})).await;
    let late: Value = r.json().await.unwrap();
    assert_eq!(
        late["calls"].as_array().unwrap().len(),
        1,
        "the range narrows it: {late}"
    );
    let late_id = late["id"].as_str().unwrap().to_string();
    clock.advance(TimeDelta::hours(4) + TimeDelta::minutes(1));
    eventually("the overdue request is escalated", || {
        let (t, quality, id) = (&t, quality.clone(), late_id.clone());
        async move {
            let v: Value = t
                .get_auth(&format!("/api/v1/record-requests/{id}"), &quality)
                .await
                .json()
                .await
                .unwrap();
            v["escalated_at"].is_string()
        }
    })
    .await;
    let kinds: Vec<String> = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::staff_notices as s;
            use diesel::prelude::*;
            Ok(s::table
                .select(s::kind)
                .order(s::kind.asc())
                .load::<String>(c)?)
        })
        .await
        .unwrap();
    assert!(
        kinds.contains(&"record_request_reminder".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"record_request_escalation".to_string()),
        "{kinds:?}"
    );
    clock.advance(TimeDelta::minutes(1));
    let r = t
        .post_auth(
            &format!("/api/v1/record-requests/{late_id}/release"),
            &sup,
            json!({}),
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["answered_on_time"], false);
}
