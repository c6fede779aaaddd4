//! Planned-outage broadcasts (O1): the lead rule at its edges, every notice kind with its
//! delivery proof through a real SMTP server process (per-recipient answers: 250, 451 then
//! 250, 550), a signed webhook, reschedule and cancel (iCalendar parsed by a real parser),
//! two instances, a restart in the middle of a fan-out, and the public page in Chromium.
//! Time is a manual clock the tests move; waits are for states, never for durations.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{DateTime, Duration, DurationRound, Utc};
use mail_parser::MimeHeaders;
use serde_json::{Value, json};

use crate::support::{
    Backend, TestApp, body_token_for, eventually, free_port, fresh_database, spawn_custom,
};

both_backends!(
    o1_the_lead_rule_holds_at_its_edges_and_bad_input_names_the_field,
    o1_each_recipient_has_its_delivery_proof_and_a_missed_one_raises_the_breach,
    o1_every_notice_kind_goes_out_on_time_and_reschedule_and_cancel_keep_the_uid,
    o1_two_instances_and_a_restart_mid_fan_out_send_each_notice_once,
    o1_a_recipient_still_unreached_at_start_minus_24_hours_raises_the_breach_then,
);

/// The SMTP server process of these tests (aiosmtpd with `outage_smtp.py`).
pub struct Smtp {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Smtp {
    pub fn start() -> Smtp {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/integration/outages");
        let child = Command::new(
            std::env::var("BAYLANYS_TEST_PYTHON").unwrap_or_else(|_| "python3".into()),
        )
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "outage_smtp.Handler",
        ])
        .arg(dir.path().join("messages"))
        .env("PYTHONPATH", &here)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd runs (pip install aiosmtpd)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Smtp { dir, port, child }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Accepted messages, each starting with `X-Envelope-To:`.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("messages"))
            .map(|e| {
                e.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    pub fn to(&self, address: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.lines().next().is_some_and(|l| l.contains(address)))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook receiver: answers 200 and keeps each request's signature header and body.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<(String, String)>>>,
    url: String,
}

impl Hook {
    fn start() -> Hook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let hook = Hook {
            got: Arc::default(),
            url,
        };
        let got = hook.got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let got = got.clone();
                std::thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk) else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                let sig = head
                                    .lines()
                                    .find_map(|l| {
                                        l.split_once(':')
                                            .filter(|(k, _)| {
                                                k.eq_ignore_ascii_case("baylanys-signature")
                                            })
                                            .map(|(_, v)| v.trim().to_string())
                                    })
                                    .unwrap_or_default();
                                got.lock()
                                    .expect("lock")
                                    .push((sig, body[..len].to_string()));
                                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                                return;
                            }
                        }
                    }
                });
            }
        });
        hook
    }
    fn requests(&self) -> Vec<(String, String)> {
        self.got.lock().expect("lock").clone()
    }
}

struct Rig {
    t: TestApp,
    clock: Arc<ManualClock>,
    smtp: Arc<Smtp>,
    admin: String,
    ici: String,
}

/// A round instant a little ahead of wall time, so jobs queued at wall time are due.
fn start_time() -> DateTime<Utc> {
    (Utc::now() + Duration::minutes(2))
        .duration_trunc(Duration::minutes(1))
        .expect("truncates")
}

async fn instance(
    url: &str,
    dir: Option<tempfile::TempDir>,
    smtp: &Smtp,
    clock: &Arc<ManualClock>,
) -> TestApp {
    let smtp_url = smtp.url();
    let clock = clock.clone();
    spawn_custom(
        url,
        dir,
        |c| c.smtp_url = Some(smtp_url),
        |app| app.with_clock(clock as Arc<dyn Clock>),
    )
    .await
}

async fn rig(backend: Backend) -> Rig {
    let smtp = Arc::new(Smtp::start());
    let clock = Arc::new(ManualClock::new(start_time()));
    let (url, dir) = fresh_database(backend);
    let t = instance(&url, dir, &smtp, &clock).await;
    let admin = t.token("admin", Role::Admin).await;
    let ici_body = create(
        &t,
        &admin,
        "/api/v1/bodies",
        json!({"kind": "ici_operator",
        "name": {"kk": "АКИ операторы", "ru": "Оператор ИКИ"}, "email": "duty@ici.kz",
        "systems": ["internal-only"]}),
    )
    .await;
    let ici = body_token_for(
        &t.app,
        "ici",
        Role::Ici,
        ici_body["id"].as_str().expect("id"),
    )
    .await;
    for (code, kk, ru) in [
        ("egov-portal", "eGov порталы", "Портал eGov"),
        ("egov-mobile", "eGov Mobile", "eGov Mobile"),
    ] {
        create(
            &t,
            &admin,
            "/api/v1/systems",
            json!({"code": code, "name": {"kk": kk, "ru": ru}}),
        )
        .await;
    }
    Rig {
        t,
        clock,
        smtp,
        admin,
        ici,
    }
}

async fn create(t: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let r = t.post_auth(path, token, body.clone()).await;
    let status = r.status();
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(status, 201, "{path} {body}: {v}");
    v
}

async fn body(t: &TestApp, admin: &str, kind: &str, email: &str, systems: &[&str]) -> String {
    let v = create(
        t,
        admin,
        "/api/v1/bodies",
        json!({"kind": kind,
        "name": {"kk": format!("{email} kk"), "ru": format!("{email} ru")},
        "email": email, "systems": systems}),
    )
    .await;
    v["id"].as_str().expect("id").to_string()
}

fn declaration(kind: &str, starts: DateTime<Utc>, hours: i64) -> Value {
    json!({"kind": kind, "starts_at": starts.to_rfc3339(), "ends_at": (starts + Duration::hours(hours)).to_rfc3339(),
           "systems": ["egov-portal"], "impact": "full",
           "title": {"kk": "Дерекқорды жаңарту", "ru": "Обновление базы данных"},
           "text": {"kk": "Портал жұмыс істемейді.", "ru": "Портал будет недоступен."}})
}

async fn detail(t: &TestApp, token: &str, id: &str) -> Value {
    t.get_auth(&format!("/api/v1/outages/{id}"), token)
        .await
        .json()
        .await
        .expect("JSON")
}

fn field_of(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn o1_the_lead_rule_holds_at_its_edges_and_bad_input_names_the_field(backend: Backend) {
    let r = rig(backend).await;
    let (t, now) = (&r.t, r.clock.now());
    let edge = now + Duration::hours(24) + Duration::minutes(15);

    // One second too soon: 422 naming starts_at and the earliest start allowed.
    let early = t
        .post_auth(
            "/api/v1/outages",
            &r.ici,
            declaration("planned", edge - Duration::seconds(1), 2),
        )
        .await;
    assert_eq!(early.status(), 422);
    let v: Value = early.json().await.expect("JSON");
    assert_eq!(field_of(&v), ["starts_at"], "{v}");
    let earliest = edge
        .with_timezone(&chrono_tz::Asia::Almaty)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains(&earliest),
        "{v}"
    );
    // Exactly 24 h + the margin: accepted.
    let ok = t
        .post_auth("/api/v1/outages", &r.ici, declaration("planned", edge, 2))
        .await;
    assert_eq!(ok.status(), 201);
    let planned: Value = ok.json().await.expect("JSON");
    assert_eq!(planned["lead_breach"], false);
    let id = planned["id"].as_str().expect("id").to_string();

    // A reschedule that would break the lead is refused; one that keeps it is taken.
    let moved = t
        .patch_auth(
            &format!("/api/v1/outages/{id}"),
            &r.ici,
            json!({"starts_at": (edge - Duration::seconds(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!(moved.status(), 422);
    let v: Value = moved.json().await.expect("JSON");
    assert_eq!(field_of(&v), ["starts_at"], "{v}");
    let later = t.patch_auth(&format!("/api/v1/outages/{id}"), &r.ici,
        json!({"starts_at": (edge + Duration::hours(1)).to_rfc3339(), "ends_at": (edge + Duration::hours(3)).to_rfc3339()})).await;
    assert_eq!(later.status(), 200);
    // Adding a system tells new bodies: inside the lead window that is refused too.
    r.clock.advance(Duration::hours(2));
    let added = t
        .patch_auth(
            &format!("/api/v1/outages/{id}"),
            &r.ici,
            json!({"systems": ["egov-portal", "egov-mobile"]}),
        )
        .await;
    assert_eq!(added.status(), 422);
    assert_eq!(field_of(&added.json().await.expect("JSON")), ["systems"]);
    let text_only = t
        .patch_auth(
            &format!("/api/v1/outages/{id}"),
            &r.ici,
            json!({"text": {"kk": "Түзету", "ru": "Уточнение"}}),
        )
        .await;
    assert_eq!(
        text_only.status(),
        200,
        "an edit that tells nobody new keeps the lead"
    );
    r.clock.advance(Duration::hours(-2));

    // An emergency needs its reason, and under 24 h it is recorded as a breach.
    let mut e = declaration("emergency", now + Duration::hours(2), 1);
    let no_reason = t.post_auth("/api/v1/outages", &r.ici, e.clone()).await;
    assert_eq!(no_reason.status(), 422);
    assert_eq!(field_of(&no_reason.json().await.expect("JSON")), ["reason"]);
    e["reason"] = "Серверлік бөлмеде су тасқыны / Затопление серверной".into();
    let em: Value = create(t, &r.ici, "/api/v1/outages", e).await;
    assert_eq!(em["lead_breach"], true, "{em}");
    assert!(
        em["breach_reason"]
            .as_str()
            .expect("reason")
            .contains("2 h 0 min"),
        "{em}"
    );

    // Bad input, each naming its field.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"starts_at": "2026-10-10T02:00:00"}), "starts_at"),
        (json!({"systems": ["no-such-system"]}), "systems"),
        (
            json!({"ends_at": (edge - Duration::hours(1)).to_rfc3339()}),
            "ends_at",
        ),
        (json!({"impact": "total"}), "impact"),
        (json!({"kind": "sometimes"}), "kind"),
        (json!({"title": {"kk": "", "ru": "x"}}), "title.kk"),
        (json!({"colour": "red"}), "colour"),
        (json!({"reason": "not an emergency"}), "reason"),
    ];
    for (change, field) in cases {
        let mut d = declaration("planned", edge + Duration::hours(5), 2);
        for (k, v) in change.as_object().expect("object") {
            d[k] = v.clone();
        }
        let resp = t.post_auth("/api/v1/outages", &r.ici, d).await;
        assert_eq!(resp.status(), 422, "{field}");
        let v: Value = resp.json().await.expect("JSON");
        assert!(field_of(&v).iter().any(|f| f == field), "{field}: {v}");
    }
    let missing = t.post_auth("/api/v1/outages", &r.ici, json!({})).await;
    assert_eq!(missing.status(), 422);
    let fields = field_of(&missing.json().await.expect("JSON"));
    for f in [
        "kind",
        "starts_at",
        "ends_at",
        "systems",
        "impact",
        "title",
        "text",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    let nul = t
        .post_auth("/api/v1/outages", &r.ici, {
            let mut d = declaration("planned", edge + Duration::hours(5), 2);
            d["text"]["ru"] = "Портал\u{0} <script>alert(1)</script>".into();
            d
        })
        .await;
    assert_eq!(nul.status(), 201, "NUL is cleaned, not a 5xx");
    let injected: Value = create(t, &r.ici, "/api/v1/outages", {
        let mut d = declaration("planned", edge + Duration::hours(6), 2);
        d["title"]["ru"] = "Работы\r\nBcc: all@example.kz".into();
        d
    })
    .await;
    assert_eq!(
        injected["title"]["ru"], "Работы Bcc: all@example.kz",
        "one line"
    );

    // A retried declaration with the same Idempotency-Key declares once.
    let retried = declaration("planned", edge + Duration::hours(7), 2);
    let send = |body: Value| {
        t.client
            .post(format!("{}/api/v1/outages", t.url))
            .bearer_auth(&r.ici)
            .header("Idempotency-Key", "0b7e-retry")
            .json(&body)
            .send()
    };
    let first: Value = send(retried.clone())
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let again = send(retried.clone()).await.expect("answers");
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("JSON");
    assert_eq!(again["id"], first["id"]);
    let other = send(declaration("planned", edge + Duration::hours(8), 2))
        .await
        .expect("answers");
    assert_eq!(other.status(), 422);
    assert_eq!(
        field_of(&other.json().await.expect("JSON")),
        ["Idempotency-Key"]
    );

    // Who may: an operator reads but does not declare; nobody without a token.
    let op = t.token("op", Role::Operator).await;
    assert_eq!(
        t.post_auth(
            "/api/v1/outages",
            &op,
            declaration("planned", edge + Duration::hours(9), 1)
        )
        .await
        .status(),
        403
    );
    assert_eq!(
        t.get_auth(&format!("/api/v1/outages/{id}"), &op)
            .await
            .status(),
        200
    );
    assert_eq!(
        t.client
            .get(format!("{}/api/v1/outages/{id}", t.url))
            .send()
            .await
            .expect("answers")
            .status(),
        401
    );
    assert_eq!(
        t.get_auth("/api/v1/outages/compliance?month=2026-13", &op)
            .await
            .status(),
        422
    );
    assert_eq!(
        t.get_auth("/api/v1/outages/not-an-id", &op).await.status(),
        404
    );
    let _ = &r.admin;
}

/// Waits until every delivery of the outage is in a final state (sent or failed).
async fn wait_final(t: &TestApp, token: &str, id: &str, clock: &ManualClock) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let d = detail(t, token, id).await;
        let open = d["notices"].as_array().expect("notices").iter().any(|n| {
            n["deliveries"]
                .as_object()
                .is_some_and(|m| m.contains_key("queued") || m.contains_key("retrying"))
        });
        if !open {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries still open: {}",
            d["notices"]
        );
        // Retries wait for their backoff on the manual clock: move it a little.
        clock.advance(Duration::seconds(11));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// The iCalendar part of a mail, decoded, parsed by python's `icalendar`.
fn ics_of(mail: &str) -> Value {
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("the mail parses");
    let part = parsed
        .attachments()
        .find(|a| {
            a.content_type()
                .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
        })
        .expect("an iCalendar attachment");
    parse_ics(part.contents())
}

fn parse_ics(bytes: &[u8]) -> Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/integration/outages/parse_ics.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("runs");
    assert!(
        out.status.success(),
        "icalendar refused it (pip install icalendar): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

async fn o1_each_recipient_has_its_delivery_proof_and_a_missed_one_raises_the_breach(
    backend: Backend,
) {
    let r = rig(backend).await;
    let t = &r.t;
    let hook = Hook::start();
    let subscribed = create(t, &r.admin, "/api/v1/bodies", json!({"kind": "central_state_body",
        "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"}, "email": "kense@adilet.kz",
        "systems": ["egov-portal"], "webhook_url": hook.url,
        "persons": [{"name": "Асқар", "email": "askar@adilet.kz"}]})).await;
    let secret = subscribed["webhook_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let unsubscribed = body(t, &r.admin, "local_executive_body", "akimat@astana.kz", &[]).await;
    let other = body(
        t,
        &r.admin,
        "service_provider",
        "other@provider.kz",
        &["egov-mobile"],
    )
    .await;
    let flaky = body(
        t,
        &r.admin,
        "e_service_subject",
        "flaky@esub.kz",
        &["egov-portal"],
    )
    .await;
    let rejecting = body(
        t,
        &r.admin,
        "service_provider",
        "reject@provider.kz",
        &["egov-portal"],
    )
    .await;
    let sup = t.token("dana", Role::Supervisor).await;
    t.app
        .db
        .write(|c| baylanys::auth::set_contact(c, "dana", Some(Some("dana@goscorp.kz")), None))
        .await
        .expect("contact");

    let starts = r.clock.now() + Duration::days(3);
    let o = create(
        t,
        &r.ici,
        "/api/v1/outages",
        declaration("planned", starts, 4),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    wait_final(t, &r.ici, &id, &r.clock).await;
    let d = detail(t, &sup, &id).await;
    let recipients = d["recipients"].as_array().expect("recipients");
    let of = |body: &str| recipients.iter().find(|x| x["body_id"] == body).cloned();
    assert!(
        of(&other).is_none(),
        "a body subscribed to other systems only is not told"
    );
    let ok = of(subscribed["id"].as_str().expect("id")).expect("the subscribed body");
    assert_eq!(ok["state"], "reached", "{ok}");
    assert!(
        ok["lead_seconds"].as_i64().expect("lead") >= 3 * 86_400 - 120,
        "{ok}"
    );
    let channels: Vec<&str> = ok["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .map(|x| x["channel"].as_str().expect("c"))
        .collect();
    assert_eq!(
        channels.iter().filter(|c| **c == "email").count(),
        2,
        "the body and its person: {channels:?}"
    );
    assert!(channels.contains(&"webhook"));
    for dl in ok["deliveries"].as_array().expect("d") {
        assert_eq!(dl["status"], "sent", "{dl}");
        if dl["channel"] == "email" {
            assert!(
                dl["accepted_reply"]
                    .as_str()
                    .expect("reply")
                    .starts_with("250 2.0.0 Ok: queued as"),
                "{dl}"
            );
        }
    }
    assert_eq!(
        of(&unsubscribed).expect("told: subscribed to nothing")["state"],
        "reached"
    );
    let f = of(&flaky).expect("flaky");
    assert_eq!(f["state"], "reached");
    assert_eq!(f["deliveries"][0]["attempts"], 2, "451 then 250: {f}");
    assert!(f["deliveries"][0]["last_error"].is_null() || f["deliveries"][0]["status"] == "sent");
    let rj = of(&rejecting).expect("rejecting");
    assert_eq!(rj["state"], "unreached", "{rj}");
    assert_eq!(rj["deliveries"][0]["status"], "failed");
    assert!(
        rj["deliveries"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("550"),
        "{rj}"
    );

    // The 550 cannot be reached by start - 24 h: the breach shows, supervisors and the ICI operator are told.
    eventually(
        "the breach alert to the supervisor and the ICI operator",
        || async {
            !r.smtp.to("dana@goscorp.kz").is_empty() && !r.smtp.to("duty@ici.kz").is_empty()
        },
    )
    .await;
    let d = detail(t, &sup, &id).await;
    assert_eq!(d["lead_breach"], true);
    assert!(
        d["breach_reason"]
            .as_str()
            .expect("reason")
            .contains("reject@provider.kz"),
        "{d}"
    );
    assert_eq!(d["lead"]["unreached"], 1);

    // The mail: Auto-Submitted, both languages, an iCalendar REQUEST.
    let mail = r.smtp.to("kense@adilet.kz").remove(0);
    assert_eq!(header(&mail, "Auto-Submitted"), Some("auto-generated"));
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("parses");
    let text = parsed.body_text(0).expect("text").to_string();
    assert!(
        text.contains("Дерекқорды жаңарту") && text.contains("Обновление базы данных"),
        "{text}"
    );
    let ics = ics_of(&mail);
    assert_eq!(ics["method"], "REQUEST");
    assert_eq!(ics["events"][0]["sequence"], 0);
    assert!(ics["events"][0]["uid"].as_str().expect("uid").contains(&id));

    // The webhook: signed, verifiable with the body's secret.
    let reqs = hook.requests();
    assert_eq!(reqs.len(), 1);
    baylanys::webhooks::verify(
        &reqs[0].0,
        &secret,
        reqs[0].1.as_bytes(),
        Utc::now().timestamp(),
    )
    .expect("signature verifies");
    let payload: Value = serde_json::from_str(&reqs[0].1).expect("JSON");
    assert_eq!(payload["event"], "outage.declared");
    assert_eq!(payload["outage"]["id"], id.as_str());

    // Compliance for the month shows the breach.
    let month = starts
        .with_timezone(&chrono_tz::Asia::Almaty)
        .format("%Y-%m")
        .to_string();
    let c: Value = t
        .get_auth(&format!("/api/v1/outages/compliance?month={month}"), &sup)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(c["breaches"], 1, "{c}");
    assert_eq!(c["items"][0]["lead_breach"], true);
}

/// Notices of `kind` at the sink for `to`.
fn notices_to(smtp: &Smtp, to: &str, subject_part: &str) -> usize {
    smtp.to(to)
        .iter()
        .filter(|m| {
            let p = mail_parser::MessageParser::default().parse(m.as_bytes());
            p.and_then(|p| p.subject().map(|s| s.contains(subject_part)))
                .unwrap_or(false)
        })
        .count()
}

async fn o1_every_notice_kind_goes_out_on_time_and_reschedule_and_cancel_keep_the_uid(
    backend: Backend,
) {
    let r = rig(backend).await;
    let t = &r.t;
    body(
        t,
        &r.admin,
        "central_state_body",
        "minfin@gov.kz",
        &["egov-portal"],
    )
    .await;
    let to = "minfin@gov.kz";
    let starts = r.clock.now() + Duration::days(3);
    let o = create(
        t,
        &r.ici,
        "/api/v1/outages",
        declaration("planned", starts, 4),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    let wait = |subject: &'static str, n: usize| {
        let smtp = r.smtp.clone();
        async move {
            eventually(&format!("{n} `{subject}` notice(s)"), || {
                let smtp = smtp.clone();
                async move { notices_to(&smtp, to, subject) >= n }
            })
            .await;
        }
    };
    wait("Плановое отключение", 1).await;

    // An edit goes at once, with a higher SEQUENCE.
    let edited = t
        .patch_auth(
            &format!("/api/v1/outages/{id}"),
            &r.ici,
            json!({"text": {"kk": "Жаңа мәтін", "ru": "Новый текст"}}),
        )
        .await;
    assert_eq!(edited.status(), 200);
    wait("Изменено уведомление", 1).await;

    // 24 h before, 1 h before, at the start.
    r.clock.set(starts - Duration::hours(24));
    wait("Напоминание", 1).await;
    r.clock.set(starts - Duration::hours(1));
    wait("Напоминание", 2).await;
    r.clock.set(starts);
    wait("Отключение началось", 1).await;
    let done = t
        .post_auth(&format!("/api/v1/outages/{id}/complete"), &r.ici, json!({}))
        .await;
    assert_eq!(done.status(), 200);
    wait("Работы завершены", 1).await;
    let d = detail(t, &r.ici, &id).await;
    assert_eq!(d["phase"], "completed");
    assert_eq!(d["lead_breach"], false, "{}", d["breach_reason"]);
    let kinds: Vec<&str> = d["notices"]
        .as_array()
        .expect("n")
        .iter()
        .map(|n| n["kind"].as_str().expect("k"))
        .collect();
    assert_eq!(
        kinds,
        [
            "declared",
            "edited",
            "reminder_24h",
            "reminder_1h",
            "started",
            "completed"
        ]
    );
    assert_eq!(
        t.post_auth(&format!("/api/v1/outages/{id}/cancel"), &r.ici, json!({}))
            .await
            .status(),
        409
    );

    // Another one, rescheduled then cancelled: same UID, SEQUENCE up, METHOD:CANCEL;
    // the reminders of the old start never go.
    let starts2 = r.clock.now() + Duration::days(2) + Duration::hours(1);
    let o2 = create(
        t,
        &r.ici,
        "/api/v1/outages",
        declaration("planned", starts2, 2),
    )
    .await;
    let id2 = o2["id"].as_str().expect("id").to_string();
    let new_start = starts2 + Duration::days(1);
    let moved = t.patch_auth(&format!("/api/v1/outages/{id2}"), &r.ici,
        json!({"starts_at": new_start.to_rfc3339(), "ends_at": (new_start + Duration::hours(2)).to_rfc3339()})).await;
    assert_eq!(moved.status(), 200);
    wait("Отключение перенесено", 1).await;
    r.clock.set(starts2 - Duration::minutes(30));
    let cancel = t
        .post_auth(&format!("/api/v1/outages/{id2}/cancel"), &r.ici, json!({}))
        .await;
    assert_eq!(cancel.status(), 200);
    wait("Отключение отменено", 1).await;
    r.clock.set(new_start + Duration::minutes(1));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let all: Vec<Value> = r
        .smtp
        .to(to)
        .iter()
        // Only the outage notices: the monthly report of the 5th goes to bodies too.
        .filter(|m| m.contains("text/calendar"))
        .map(|m| ics_of(m))
        .filter(|c| {
            c["events"][0]["uid"]
                .as_str()
                .is_some_and(|u| u.contains(&id2))
        })
        .collect();
    assert_eq!(
        all.len(),
        3,
        "declared, rescheduled, cancelled: nothing for the old or cancelled start"
    );
    assert_eq!(all[0]["method"], "REQUEST");
    assert_eq!(all[2]["method"], "CANCEL");
    assert_eq!(all[0]["events"][0]["uid"], all[2]["events"][0]["uid"]);
    assert!(all[2]["events"][0]["sequence"].as_i64() > all[1]["events"][0]["sequence"].as_i64());
    assert!(all[1]["events"][0]["sequence"].as_i64() > all[0]["events"][0]["sequence"].as_i64());
    assert_eq!(all[2]["events"][0]["status"], "CANCELLED");
    let d2 = detail(t, &r.ici, &id2).await;
    assert_eq!(d2["phase"], "cancelled");
}

async fn o1_two_instances_and_a_restart_mid_fan_out_send_each_notice_once(backend: Backend) {
    let smtp = Arc::new(Smtp::start());
    let clock = Arc::new(ManualClock::new(start_time()));
    // The database outlives the instance that is stopped and started again.
    let (url, _dir) = fresh_database(backend);
    let a = instance(&url, None, &smtp, &clock).await;
    let b = instance(&url, None, &smtp, &clock).await;
    let admin = a.token("admin", Role::Admin).await;
    let ici_body = create(
        &a,
        &admin,
        "/api/v1/bodies",
        json!({"kind": "ici_operator",
        "name": {"kk": "АКИ", "ru": "ИКИ"}, "systems": ["x"]}),
    )
    .await;
    let ici = body_token_for(
        &a.app,
        "ici",
        Role::Ici,
        ici_body["id"].as_str().expect("id"),
    )
    .await;
    create(
        &a,
        &admin,
        "/api/v1/systems",
        json!({"code": "egov-portal", "name": {"kk": "eGov", "ru": "eGov"}}),
    )
    .await;
    let n = 120;
    for i in 0..n {
        body(
            &a,
            &admin,
            "local_executive_body",
            &format!("akimat{i}@region.kz"),
            &["egov-portal"],
        )
        .await;
    }
    let o = create(
        &a,
        &ici,
        "/api/v1/outages",
        declaration("planned", clock.now() + Duration::days(2), 2),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    // Stop one instance in the middle of the fan-out, then start it again.
    eventually("the fan-out has begun", || async {
        !smtp.messages().is_empty()
    })
    .await;
    a.stop().await;
    let a2 = instance(&url, None, &smtp, &clock).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while smtp.messages().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} notices: {}",
            smtp.messages().len(),
            detail(&b, &ici, &id).await
        );
        clock.advance(Duration::seconds(11));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait_final(&b, &ici, &id, &clock).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for i in 0..n {
        assert_eq!(
            smtp.to(&format!("akimat{i}@region.kz")).len(),
            1,
            "akimat{i} once"
        );
    }
    let d = detail(&a2, &ici, &id).await;
    assert_eq!(d["lead"]["reached"], n, "{}", d["lead"]);
    a2.stop().await;
    b.stop().await;
}

/// The public page in headless Chromium (no JavaScript needed), in both languages, and the feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn o1_the_public_page_and_the_feed_show_upcoming_outages() {
    let r = rig(Backend::Sqlite).await;
    let t = &r.t;
    let starts = r.clock.now() + Duration::days(2);
    let o = create(
        t,
        &r.ici,
        "/api/v1/outages",
        declaration("planned", starts, 3),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    let browser = crate::browser::Driver::start().await;
    browser.goto(&format!("{}/outages?lang=kk", t.url)).await;
    browser.wait_for_text("АКТ қызметтерінің үзілістері").await;
    let kk = browser.text(&format!("#outage-{id}")).await;
    assert!(
        kk.contains("Дерекқорды жаңарту") && kk.contains("Жоспарланған"),
        "{kk}"
    );
    browser.goto(&format!("{}/outages?lang=ru", t.url)).await;
    browser.wait_for_text("Отключения сервисов ИКТ").await;
    let ru = browser.text(&format!("#outage-{id}")).await;
    assert!(
        ru.contains("Обновление базы данных") && ru.contains("Запланировано"),
        "{ru}"
    );
    browser.quit().await;

    let feed = t
        .client
        .get(format!("{}/outages.ics", t.url))
        .send()
        .await
        .expect("answers");
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/calendar")
    );
    let cal = parse_ics(&feed.bytes().await.expect("body"));
    assert_eq!(cal["method"], "PUBLISH");
    assert_eq!(cal["events"].as_array().expect("events").len(), 1);
    assert_eq!(
        cal["events"][0]["dtstart"],
        starts.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    );
}

async fn o1_a_recipient_still_unreached_at_start_minus_24_hours_raises_the_breach_then(
    backend: Backend,
) {
    let r = rig(backend).await;
    let t = &r.t;
    body(
        t,
        &r.admin,
        "central_state_body",
        "ok@gov.kz",
        &["egov-portal"],
    )
    .await;
    let down = body(
        t,
        &r.admin,
        "local_executive_body",
        "down@akimat.kz",
        &["egov-portal"],
    )
    .await;
    let sup = t.token("dana", Role::Supervisor).await;
    t.app
        .db
        .write(|c| baylanys::auth::set_contact(c, "dana", Some(Some("dana@goscorp.kz")), None))
        .await
        .expect("contact");
    let starts = r.clock.now() + Duration::hours(24) + Duration::minutes(40);
    let o = create(
        t,
        &r.ici,
        "/api/v1/outages",
        declaration("planned", starts, 2),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    eventually("the first try at the unreachable server", || async {
        let d = detail(t, &sup, &id).await;
        d["recipients"].as_array().is_some_and(|l| {
            l.iter().any(|x| {
                x["body_id"] == down.as_str() && x["deliveries"][0]["status"] == "retrying"
            })
        })
    })
    .await;
    let d = detail(t, &sup, &id).await;
    assert_eq!(d["lead_breach"], false, "not yet: it may still get through");
    let pending = d["recipients"]
        .as_array()
        .expect("r")
        .iter()
        .find(|x| x["body_id"] == down.as_str())
        .cloned()
        .expect("down");
    assert_eq!(pending["state"], "pending");
    assert!(
        pending["deliveries"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("451"),
        "{pending}"
    );
    assert!(r.smtp.to("dana@goscorp.kz").is_empty());

    // Start - 24 h comes and it is still not reached: the breach, at once.
    r.clock.set(starts - Duration::hours(24));
    eventually("the breach alert at start - 24 h", || async {
        !r.smtp.to("dana@goscorp.kz").is_empty()
    })
    .await;
    let d = detail(t, &sup, &id).await;
    assert_eq!(d["lead_breach"], true);
    assert!(
        d["breach_reason"]
            .as_str()
            .expect("why")
            .contains("down@akimat.kz"),
        "{d}"
    );
    assert_eq!(d["lead"]["reached"], 1);
    assert!(
        d["lead"]["min_achieved_seconds"].is_null(),
        "no minimum while one is unreached"
    );
}

both_backends!(o1_a_chat_linked_with_a_one_time_code_receives_the_notices);

async fn o1_a_chat_linked_with_a_one_time_code_receives_the_notices(backend: Backend) {
    use baylanys_telegram::fake_api::FakeBotApi;
    let fake = FakeBotApi::start();
    let smtp = Smtp::start();
    let clock = Arc::new(ManualClock::new(start_time()));
    let (url, dir) = fresh_database(backend);
    let tg = fake.config();
    let smtp_url = smtp.url();
    let c2 = clock.clone();
    let t = spawn_custom(
        &url,
        dir,
        |c| {
            c.smtp_url = Some(smtp_url);
            c.telegram_token = Some(tg.token.clone());
            c.telegram_api_url = tg.api_url.as_ref().map(|u| u.to_string());
            c.telegram_mode = "polling".into();
        },
        |app| app.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let admin = t.token("admin", Role::Admin).await;
    let ici_body = create(
        &t,
        &admin,
        "/api/v1/bodies",
        json!({"kind": "ici_operator",
        "name": {"kk": "АКИ", "ru": "ИКИ"}, "systems": ["x"]}),
    )
    .await;
    let ici = body_token_for(
        &t.app,
        "ici",
        Role::Ici,
        ici_body["id"].as_str().expect("id"),
    )
    .await;
    create(
        &t,
        &admin,
        "/api/v1/systems",
        json!({"code": "egov-portal", "name": {"kk": "eGov", "ru": "eGov"}}),
    )
    .await;
    let ministry = create(&t, &admin, "/api/v1/bodies", json!({"kind": "central_state_body",
        "name": {"kk": "Қаржы министрлігі", "ru": "Министерство финансов"}, "systems": ["egov-portal"]})).await;
    let mid = ministry["id"].as_str().expect("id").to_string();

    // Only administrators issue codes; bad input names its field.
    assert_eq!(
        t.post_auth(
            &format!("/api/v1/bodies/{mid}/telegram-link"),
            &ici,
            json!({})
        )
        .await
        .status(),
        403
    );
    let bad = t
        .post_auth(
            &format!("/api/v1/bodies/{mid}/telegram-link"),
            &admin,
            json!({"person_id": 5}),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(field_of(&bad.json().await.expect("JSON")), ["person_id"]);
    let issued = create(
        &t,
        &admin,
        &format!("/api/v1/bodies/{mid}/telegram-link"),
        json!({}),
    )
    .await;
    let code = issued["code"].as_str().expect("code").to_string();

    let chat = 770_001;
    let update = |text: String| {
        json!({"message": {"message_id": 1, "date": 1_778_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Дана"},
        "from": {"id": chat, "is_bot": false, "first_name": "Дана"}, "text": text}})
    };
    let said = |needle: &'static str| {
        let fake = &fake;
        move || async move {
            fake.sent().iter().any(|c| {
                c.chat_id == Some(chat) && c.text.as_deref().is_some_and(|t| t.contains(needle))
            })
        }
    };
    fake.push_update(update(format!("/link {code}")));
    eventually("the bot confirms the link", said("Министерство финансов")).await;
    fake.push_update(update(format!("/link {code}")));
    eventually("a used code is refused", said("уже использован")).await;

    let starts = clock.now() + Duration::days(2);
    let o = create(
        &t,
        &ici,
        "/api/v1/outages",
        declaration("planned", starts, 2),
    )
    .await;
    let id = o["id"].as_str().expect("id").to_string();
    eventually(
        "the linked chat gets the notice",
        said("Обновление базы данных"),
    )
    .await;
    wait_final(&t, &ici, &id, &clock).await;
    let d = detail(&t, &ici, &id).await;
    let r = d["recipients"]
        .as_array()
        .expect("r")
        .iter()
        .find(|x| x["body_id"] == mid.as_str())
        .cloned()
        .expect("ministry");
    assert_eq!(r["state"], "reached", "{r}");
    assert_eq!(r["deliveries"][0]["channel"], "telegram");
    assert!(r["deliveries"][0]["accepted_reply"].is_string(), "{r}");
}
