//! Forwards end to end (F1-F4, F9): to a body by mail through a real SMTP server and by a
//! signed webhook to a real local HTTP receiver; answered by a mail reply read over IMAP
//! from a real Dovecot, or through the API; declined twice (F4); deadlines, reminders and
//! escalation on a manual clock; held replies; and who sees what.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use baylanys::AppState;
use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::email::mail_support::{Dovecot, SmtpSink};
use crate::support::{
    Backend, TestApp, appeal, body_token_for, eventually, free_port, fresh_database, spawn_custom,
};

both_backends!(
    f1_a_forward_goes_by_mail_and_webhook_and_a_mail_reply_over_imap_answers_it,
    f1_answers_by_api_one_wins_and_hostile_input_is_refused,
    f4_a_second_refusal_within_30_days_raises_a_quality_notice,
    f2_f3_deadlines_reminders_escalation_and_webhook_retries_on_the_clock,
    f1_a_reply_failing_sender_checks_is_held_until_an_operator_accepts_it,
    who_sees_what_body_a_gets_nothing_of_body_b,
    f1_a_delivery_waits_through_a_restart_and_goes_once,
);

const SECRET: &str = "receiver-secret-0123456789";

/// What the receiver got: each payload with its signature's verdict.
type Received = Arc<Mutex<Vec<(Value, Result<(), String>)>>>;

/// A local HTTP server that checks each POST's `Baylanys-Signature` and answers 500 to
/// the first `fail_first` requests.
struct Receiver {
    url: String,
    got: Received,
    fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got: Received = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicUsize::new(fail_first));
        let (g, f) = (got.clone(), fail.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (g, f) = (g.clone(), f.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head, body) = loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..p]).to_string();
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            while buf.len() < p + 4 + len {
                                let Ok(n) = s.read(&mut chunk).await else {
                                    return;
                                };
                                if n == 0 {
                                    return;
                                }
                                buf.extend_from_slice(&chunk[..n]);
                            }
                            break (head, buf[p + 4..p + 4 + len].to_vec());
                        }
                    };
                    let sig = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("baylanys-signature")
                                .then(|| v.trim().to_string())
                        })
                        .unwrap_or_default();
                    let verdict =
                        baylanys::webhooks::verify(&sig, SECRET, &body, Utc::now().timestamp());
                    let failing = f
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if verdict.is_err() {
                        "401 Unauthorized"
                    } else if failing {
                        "500 Internal Server Error"
                    } else {
                        "200 OK"
                    };
                    g.lock().expect("lock").push((
                        serde_json::from_slice(&body).unwrap_or(Value::Null),
                        verdict,
                    ));
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .as_bytes(),
                        )
                        .await;
                });
            }
        });
        Receiver {
            url,
            got,
            fail_first: fail,
        }
    }

    fn got(&self) -> Vec<(Value, Result<(), String>)> {
        self.got.lock().expect("lock").clone()
    }
}

/// One server with a manual clock, an SMTP sink and optionally an IMAP mailbox.
struct Rig {
    t: TestApp,
    clock: Arc<ManualClock>,
    sink: SmtpSink,
    admin: String,
    op: String,
}

/// Tuesday 08.12.2026 10:00, Almaty: a working day.
fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-08T10:00:00+05:00")
        .expect("valid")
        .with_timezone(&Utc)
}

async fn rig(
    backend: Backend,
    imap: Option<String>,
    tweak: fn(&mut baylanys::config::Config),
) -> Rig {
    let sink = SmtpSink::start();
    let clock = Arc::new(ManualClock::new(start_time()));
    let (url, dir) = fresh_database(backend);
    let smtp = sink.url();
    let c2 = clock.clone();
    let t = spawn_custom(
        &url,
        dir,
        move |c| {
            c.smtp_url = Some(smtp);
            c.imap_url = imap;
            c.trusted_authserv_id = Some("mx.goscorp.kz".into());
            tweak(c);
        },
        |app| app.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let admin = t.token("admin", Role::Admin).await;
    let op = staff(&t.app, "op", Role::Operator).await;
    Rig {
        t,
        clock,
        sink,
        admin,
        op,
    }
}

async fn staff(app: &AppState, login: &str, role: Role) -> String {
    let token = crate::support::token_for(app, login, role).await;
    let (l, email) = (login.to_string(), format!("{login}@staff.example.kz"));
    app.db
        .write(move |c| baylanys::auth::set_contact(c, &l, Some(Some(&email)), None))
        .await
        .expect("contact set");
    token
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

async fn body(t: &TestApp, admin: &str, v: Value) -> String {
    let (s, b) = json_of(t.post_auth("/api/v1/bodies", admin, v).await).await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().expect("id").to_string()
}

fn ministry(email: &str, webhook: Option<&str>) -> Value {
    let mut v = json!({
        "kind": "central_state_body",
        "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"},
        "email": email,
        "ref_pattern": r"ЮЛ-\d{4}/\d+",
    });
    if let Some(w) = webhook {
        v["webhook_url"] = w.into();
        v["webhook_secret"] = SECRET.into();
    }
    v
}

/// A registered appeal with personal data in it: its number and first message id.
async fn appeal_with_pd(t: &TestApp, op: &str) -> (String, String) {
    let (s, created) = json_of(
        t.post_json(
            "/api/v1/appeals",
            appeal("Мой ИИН 900101300123, телефон 87011234567. Не выдают справку о несудимости."),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_string();
    let d = detail(t, op, &number).await;
    let mid = d["messages"][0]["id"]
        .as_str()
        .expect("message id")
        .to_string();
    (number, mid)
}

async fn detail(t: &TestApp, token: &str, number: &str) -> Value {
    json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), token)
            .await,
    )
    .await
    .1
}

async fn forward(t: &TestApp, op: &str, number: &str, v: Value) -> Value {
    let (s, f) = json_of(
        t.post_auth(&format!("/api/v1/tickets/{number}/forwards"), op, v)
            .await,
    )
    .await;
    assert_eq!(s, 201, "{f}");
    f
}

async fn get_forward(t: &TestApp, token: &str, id: &str) -> Value {
    json_of(t.get_auth(&format!("/api/v1/forwards/{id}"), token).await)
        .await
        .1
}

/// Mails at the sink to `to`, as text.
fn mails_to(sink: &SmtpSink, to: &str) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_string())
        .filter(|m| {
            m.lines()
                .next()
                .is_some_and(|l| l.starts_with("X-Envelope-To:") && l.contains(to))
        })
        .collect()
}

async fn wait_mails_to(sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    eventually(&format!("{n} mail(s) to {to}"), || async {
        mails_to(sink, to).len() >= n
    })
    .await;
    mails_to(sink, to)
}

/// Mails at the sink to `to` whose subject names `needle` (R5 timers mail staff too).
fn mails_about(sink: &SmtpSink, to: &str, needle: &str) -> Vec<String> {
    mails_to(sink, to)
        .into_iter()
        .filter(|m| {
            parsed(m)
                .inbound
                .subject
                .is_some_and(|s| s.contains(needle))
        })
        .collect()
}

async fn wait_mails_about(sink: &SmtpSink, to: &str, needle: &str, n: usize) -> Vec<String> {
    eventually(&format!("{n} mail(s) to {to} about {needle}"), || async {
        mails_about(sink, to, needle).len() >= n
    })
    .await;
    mails_about(sink, to, needle)
}

fn parsed(raw: &str) -> baylanys_email::EmailMessage {
    match baylanys_email::parse(raw.as_bytes(), &baylanys_email::ParseConfig::default()) {
        Ok(baylanys_email::ParsedEmail::Message(m)) => *m,
        other => panic!("not a message: {other:?}"),
    }
}

fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn reply_mail(from: &str, in_reply_to: &str, subject: &str, extra: &str, text: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@goscorp.kz\r\nSubject: {subject}\r\n\
         Message-ID: <{}@body.example.kz>\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n\
         Date: Tue, 08 Dec 2026 11:00:00 +0500\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

async fn post_raw(t: &TestApp, token: &str, raw: Vec<u8>) -> Value {
    let r = t
        .client
        .post(format!("{}/api/v1/inbound/email", t.url))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 202);
    r.json().await.expect("JSON")
}

async fn deliveries_settled(t: &TestApp, token: &str, id: &str, n: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        last = get_forward(t, token, id).await;
        let d = last["deliveries"].as_array().cloned().unwrap_or_default();
        if d.len() >= n && d.iter().all(|x| x["status"] == "sent") {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("deliveries did not all go out: {last}");
}

async fn f1_a_forward_goes_by_mail_and_webhook_and_a_mail_reply_over_imap_answers_it(
    backend: Backend,
) {
    let dovecot = Dovecot::start();
    let imap = dovecot.url("?idle_timeout=5&backoff_min=1&backoff_max=1&connect_timeout=5");
    let hook = Receiver::start(0).await;
    let r = rig(backend, Some(imap), |_| {}).await;
    let (t, op) = (&r.t, r.op.as_str());
    let b = body(
        t,
        &r.admin,
        ministry("kense@adilet.gov.kz", Some(&hook.url)),
    )
    .await;
    let (number, mid) = appeal_with_pd(t, op).await;

    let f = forward(
        t,
        op,
        &number,
        json!({"body": b, "question": "Выдана ли справка Айгүл Серікқызы, тел. +7 701 234 5678?",
               "messages": [mid]}),
    )
    .await;
    let id = f["id"].as_str().expect("id").to_string();
    let reference = f["reference"].as_str().expect("reference").to_string();
    assert_eq!(reference, format!("{number}-F1"));
    assert_eq!(f["status"], "open");
    let sent_q = f["sent"]["question"].as_str().expect("sent question");
    assert!(
        !sent_q.contains("Айгүл") && !sent_q.contains("701 234"),
        "{sent_q}"
    );
    let sent_m = f["sent"]["messages"][0]["text"].as_str().expect("text");
    assert!(
        !sent_m.contains("900101300123") && !sent_m.contains("87011234567"),
        "{sent_m}"
    );
    // F2: five working days by default, at the end of working hours.
    assert_eq!(f["due_at"], "2026-12-15T18:30:00+05:00", "{f}");
    let d = detail(t, op, &number).await;
    assert_eq!(d["status"], "waiting", "a forwarded ticket waits");
    // The ticket lists its forwards, as staff see them.
    assert_eq!(d["forwards"][0]["id"], f["id"], "{d}");
    assert!(d["forwards"][0]["question"].is_string());

    // The mail: our reference in the subject, a Message-ID that threads the reply back.
    let mail = wait_mails_to(&r.sink, "kense@adilet.gov.kz", 1)
        .await
        .remove(0);
    let m = parsed(&mail);
    assert!(
        m.inbound
            .subject
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("[{reference}]"))
    );
    assert!(
        !m.inbound.body_text.contains("900101300123"),
        "{}",
        m.inbound.body_text
    );
    assert!(m.inbound.body_text.contains("Не выдают справку"));
    let message_id = header(&mail, "Message-ID").expect("Message-ID");
    assert_eq!(message_id, format!("<fwd.{id}.1@goscorp.kz>"));

    // The webhook: signed, with the documented payload.
    eventually("the webhook arrived", || async { !hook.got().is_empty() }).await;
    let (payload, verdict) = hook.got().remove(0);
    assert_eq!(verdict, Ok(()), "the signature verifies");
    assert_eq!(payload["event"], "forward.forward");
    assert_eq!(payload["forward"]["reference"], reference.as_str());
    assert!(!payload.to_string().contains("900101300123"));
    let view = deliveries_settled(t, op, &id, 2).await;
    assert_eq!(
        view["deliveries"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );

    // The body replies by mail; the server reads it from the mailbox.
    dovecot.deliver(&reply_mail(
        "Канцелярия <kense@adilet.gov.kz>",
        &message_id,
        &format!("Re: [{reference}] Запрос, наш исх. ЮЛ-2026/77"),
        "",
        "Справка выдана 07.12.2026.",
    ));
    eventually("the mail reply answered the forward", || async {
        get_forward(t, op, &id).await["status"] == "answered"
    })
    .await;
    let view = get_forward(t, op, &id).await;
    assert_eq!(view["body_references"], json!(["ЮЛ-2026/77"]), "{view}");
    assert_eq!(view["closed_by"], "mail:kense@adilet.gov.kz");
    let d = detail(t, op, &number).await;
    assert_eq!(d["status"], "open", "the answer wakes the ticket");
    let answers: Vec<&Value> = d["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "forward_answer")
        .collect();
    assert_eq!(answers.len(), 1, "{d}");
    assert!(
        answers[0]["body_text"]
            .as_str()
            .unwrap_or_default()
            .contains("Справка выдана")
    );
    // The operator who forwarded it is told (no assignee).
    wait_mails_about(&r.sink, "op@staff.example.kz", &reference, 1).await;

    // The operator relays it, edited.
    let (s, relayed) = json_of(
        t.post_auth(
            &format!("/api/v1/forwards/{id}/relay"),
            op,
            json!({"text": "Министерство сообщает: справка выдана 07.12.2026."}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 202, "{relayed}");
    eventually("the applicant got the relayed answer", || async {
        mails_to(&r.sink, "aigul@example.kz").iter().any(|m| {
            parsed(m)
                .inbound
                .body_text
                .contains("Министерство сообщает")
        })
    })
    .await;
    assert!(get_forward(t, op, &id).await["relayed_at"].is_string());
    drop(dovecot);
}

async fn f1_answers_by_api_one_wins_and_hostile_input_is_refused(backend: Backend) {
    let hook = Receiver::start(0).await;
    let r = rig(backend, None, |_| {}).await;
    let (t, op) = (&r.t, r.op.as_str());
    let b = body(
        t,
        &r.admin,
        ministry("kense@adilet.gov.kz", Some(&hook.url)),
    )
    .await;
    let agency = body_token_for(&t.app, "adilet", Role::Agency, &b).await;
    let (number, mid) = appeal_with_pd(t, op).await;
    let (other, other_mid) = appeal_with_pd(t, op).await;

    // Hostile and malformed input: each a 4xx naming the field.
    let bad = |v: Value| {
        let t = &r.t;
        let number = number.clone();
        async move {
            json_of(
                t.post_auth(&format!("/api/v1/tickets/{number}/forwards"), op, v)
                    .await,
            )
            .await
        }
    };
    let field_of = |v: &Value| {
        v["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (s, e) = bad(json!({"question": "?"})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "body"), "{e}");
    let (s, e) = bad(json!({"body": b, "question": 5})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "question"), "{e}");
    let (s, e) = bad(json!({"body": b, "question": "x".repeat(20_001)})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "question"), "{e}");
    let (s, e) = bad(json!({"body": b, "question": "?", "messages": ["nope\u{0}"]})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "messages[0]"), "{e}");
    let (s, e) = bad(json!({"body": b, "question": "?", "messages": [other_mid]})).await;
    assert_eq!(
        (s, field_of(&e).as_str()),
        (422, "messages[0]"),
        "another ticket's message: {e}"
    );
    let (s, e) = bad(json!({"body": b, "question": "?", "messages": vec![mid.clone(); 101]})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "messages"), "{e}");
    let (s, e) = bad(json!({"body": b, "question": "?", "bodyy": 1})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "bodyy"), "{e}");
    let (s, e) =
        bad(json!({"body": "00000000-0000-7000-8000-000000000000", "question": "?"})).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "body"), "{e}");
    let (s, _) = bad(json!(["not", "an", "object"])).await;
    assert_eq!(s, 400);
    let (s, _) = json_of(
        t.post_auth(
            "/api/v1/tickets/UCC-2026-99999x/forwards",
            op,
            json!({"body": b, "question": "?"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
    // A NUL and control characters are dropped, never a 500 (PostgreSQL refuses U+0000).
    let f = forward(
        t,
        op,
        &number,
        json!({"body": b, "question": "Вопрос\u{0}\u{7} с NUL", "include_personal_data": true,
               "messages": [mid]}),
    )
    .await;
    assert_eq!(f["question"], "Вопрос с NUL");
    assert!(
        f["sent"]["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("900101300123"),
        "included on purpose: {f}"
    );
    let id = f["id"].as_str().expect("id").to_string();
    // Several forwards may be open on one ticket.
    let second = forward(t, op, &number, json!({"body": b, "question": "И ещё?"})).await;
    assert_eq!(second["reference"], format!("{number}-F2"));

    // Answers: a bad one names its field; of two at once exactly one wins.
    let path = format!("/api/v1/forwards/{id}/answer");
    let (s, e) = json_of(t.post_auth(&path, &agency, json!({"text": ""})).await).await;
    assert_eq!((s, field_of(&e).as_str()), (422, "text"), "{e}");
    let (s, e) = json_of(
        t.post_auth(
            &path,
            &agency,
            json!({"text": "x", "attachments": [{"file_name": "a.pdf", "content_base64": "***"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, field_of(&e).as_str()),
        (422, "attachments[0].content_base64"),
        "{e}"
    );
    let (s, _) = json_of(
        t.post_auth(
            "/api/v1/forwards/nope/answer",
            &agency,
            json!({"text": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = json_of(t.post_auth(&path, op, json!({"text": "x"})).await).await;
    assert_eq!(s, 403, "staff do not answer for a body");
    let one = json!({"text": "Справка выдана.", "attachments": [
        {"file_name": "spravka.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}]});
    let two = json!({"text": "Другой ответ."});
    let (a, b2) = tokio::join!(
        t.post_auth(&path, &agency, one),
        t.post_auth(&path, &agency, two)
    );
    let mut codes = [a.status().as_u16(), b2.status().as_u16()];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "exactly one answer wins");
    let (s, _) = json_of(
        t.post_auth(
            &format!("/api/v1/forwards/{id}/decline"),
            &agency,
            json!({"reason": "поздно"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 409, "an answered forward cannot be declined");
    let d = detail(t, op, &number).await;
    let answers: Vec<&Value> = d["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["kind"] == "forward_answer")
        .collect();
    assert_eq!(answers.len(), 1, "{d}");
    assert_eq!(d["status"], "open");
    let view = get_forward(t, &agency, &id).await;
    assert_eq!(view["status"], "answered");
    assert!(
        view.get("question").is_none() && view.get("ticket").is_none(),
        "{view}"
    );
    // Relayed as is, with the body's file.
    let (s, relayed) = json_of(
        t.post_auth(&format!("/api/v1/forwards/{id}/relay"), op, json!({}))
            .await,
    )
    .await;
    assert_eq!(s, 202, "{relayed}");
    let d = detail(t, op, &number).await;
    // (The relayed answer ends the conversation: a rating request (R10) may follow it.)
    let last = d["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["kind"] != "rating_request"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["kind"], "reply", "{d}");
    let relayed_text = last["body_text"].as_str().unwrap_or_default();
    assert!(
        relayed_text.starts_with("Справка выдана.") || relayed_text.starts_with("Другой ответ."),
        "{last}"
    );
    // The second forward is still open and can be relayed only once answered.
    let sid = second["id"].as_str().expect("id");
    let (s, _) = json_of(
        t.post_auth(&format!("/api/v1/forwards/{sid}/relay"), op, json!({}))
            .await,
    )
    .await;
    assert_eq!(s, 409);
    let _ = other;
}

async fn f4_a_second_refusal_within_30_days_raises_a_quality_notice(backend: Backend) {
    let r = rig(backend, None, |_| {}).await;
    let (t, op) = (&r.t, r.op.as_str());
    let b = body(t, &r.admin, ministry("kense@adilet.gov.kz", None)).await;
    body(
        t,
        &r.admin,
        json!({"kind": "quality_body", "name": {"kk": "Сапа органы", "ru": "Орган по качеству"},
               "email": "quality@gov.kz"}),
    )
    .await;
    let agency = body_token_for(&t.app, "adilet", Role::Agency, &b).await;
    let supervisor = t.token("sup", Role::Supervisor).await;
    let mut numbers = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (number, _) = appeal_with_pd(t, op).await;
        let f = forward(
            t,
            op,
            &number,
            json!({"body": b, "question": "Нужны сведения"}),
        )
        .await;
        ids.push(f["id"].as_str().expect("id").to_string());
        numbers.push(number);
    }
    let decline = |id: String| {
        let t = &r.t;
        let agency = agency.clone();
        async move {
            json_of(
                t.post_auth(
                    &format!("/api/v1/forwards/{id}/decline"),
                    &agency,
                    json!({"reason": "Сведения составляют тайну"}),
                )
                .await,
            )
            .await
        }
    };
    let (s, e) = json_of(
        t.post_auth(
            &format!("/api/v1/forwards/{}/decline", ids[0]),
            &agency,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("reason")),
        "{e}"
    );
    let (s, first) = decline(ids[0].clone()).await;
    assert_eq!(s, 200, "{first}");
    assert!(
        first["quality_notice_id"].is_null(),
        "one refusal is no notice"
    );
    r.clock.advance(TimeDelta::days(10));
    let (s2, second) = decline(ids[1].clone()).await;
    assert_eq!(s2, 200, "the second refusal is taken: {second}");
    let notice = second["quality_notice_id"]
        .as_str()
        .expect("the second raises a notice")
        .to_string();
    let (_, n) = json_of(
        t.get_auth(&format!("/api/v1/quality-notices/{notice}"), op)
            .await,
    )
    .await;
    assert_eq!(n["status"], "awaiting_confirmation", "{n}");
    let evidence = n["evidence"].as_array().expect("evidence");
    assert_eq!(evidence.len(), 2);
    assert_eq!(evidence[0]["ticket"], numbers[0].as_str());
    assert_eq!(evidence[1]["ticket"], numbers[1].as_str());
    assert_eq!(n["deadline"]["rule"], "F4");
    // 18.12.2026 10:00 (Friday) + 3 working days = Wednesday 23.12.
    assert_eq!(n["due_at"], "2026-12-23T18:30:00+05:00", "{n}");
    assert!(
        mails_to(&r.sink, "quality@gov.kz").is_empty(),
        "not before confirmation"
    );
    let confirm = format!("/api/v1/quality-notices/{notice}/confirm");
    let (s, _) = json_of(t.post_auth(&confirm, op, json!({})).await).await;
    assert_eq!(s, 403, "operators do not confirm");
    let (s, c) = json_of(t.post_auth(&confirm, &supervisor, json!({})).await).await;
    assert_eq!(s, 200, "{c}");
    let mail = wait_mails_to(&r.sink, "quality@gov.kz", 1).await.remove(0);
    let m = parsed(&mail);
    assert!(m.inbound.body_text.contains(&numbers[0]) && m.inbound.body_text.contains(&numbers[1]));
    assert_eq!(m.inbound.attachments.len(), 1, "the evidence is attached");
    let (s, _) = json_of(t.post_auth(&confirm, &supervisor, json!({})).await).await;
    assert_eq!(s, 409, "confirmed once");
    // The third refusal has no unpaired earlier one: no notice (the 4th would make one).
    let (_, third) = decline(ids[2].clone()).await;
    assert!(third["quality_notice_id"].is_null(), "{third}");
    let (_, list) = json_of(t.get_auth("/api/v1/quality-notices", op).await).await;
    assert_eq!(list["notices"].as_array().map(Vec::len), Some(1));
    let (s, _) = json_of(t.get_auth("/api/v1/quality-notices", &agency).await).await;
    assert_eq!(s, 403);

    // Two refusals of one body at the same moment: they still pair, once.
    let mut other = ministry("kanc@minfin.gov.kz", None);
    other["name"] = json!({"kk": "Қаржы министрлігі", "ru": "Министерство финансов"});
    let b2 = body(t, &r.admin, other).await;
    let agency2 = body_token_for(&t.app, "minfin", Role::Agency, &b2).await;
    let mut pair = Vec::new();
    for _ in 0..2 {
        let (number, _) = appeal_with_pd(t, op).await;
        let f = forward(
            t,
            op,
            &number,
            json!({"body": b2, "question": "Нужны сведения"}),
        )
        .await;
        pair.push(f["id"].as_str().expect("id").to_string());
    }
    let (p0, p1) = (
        format!("/api/v1/forwards/{}/decline", pair[0]),
        format!("/api/v1/forwards/{}/decline", pair[1]),
    );
    let reason = json!({"reason": "Нет сведений"});
    let (x, y) = tokio::join!(
        t.post_auth(&p0, &agency2, reason.clone()),
        t.post_auth(&p1, &agency2, reason.clone())
    );
    let (x, y) = (json_of(x).await, json_of(y).await);
    assert_eq!((x.0, y.0), (200, 200));
    let notices = [&x.1, &y.1]
        .iter()
        .filter(|v| v["quality_notice_id"].is_string())
        .count();
    assert_eq!(notices, 1, "{x:?} {y:?}");
}

async fn f2_f3_deadlines_reminders_escalation_and_webhook_retries_on_the_clock(backend: Backend) {
    let hook = Receiver::start(1).await;
    let r = rig(backend, None, |c| c.reminder_hours = 1).await;
    let (t, op) = (&r.t, r.op.as_str());
    staff(&t.app, "sup", Role::Supervisor).await;
    let input = baylanys::queues::QueueInput {
        supervisors: Some(vec!["sup".into()]),
        ..Default::default()
    };
    t.app
        .db
        .write(move |c| Ok(baylanys::queues::update(c, "general", &input)))
        .await
        .expect("db")
        .expect("queue updated");
    let ici = body(
        t,
        &r.admin,
        json!({"kind": "ici_operator", "name": {"kk": "АКИ операторы", "ru": "Оператор ИКИ"},
               "email": "info@ici.kz", "webhook_url": hook.url, "webhook_secret": SECRET,
               "persons": [{"name": "Асқар", "email": "askar@ici.kz", "ict_group": true},
                           {"name": "Бақыт", "email": "bakyt@ici.kz", "ict_group": false}]}),
    )
    .await;
    let (number, _) = appeal_with_pd(t, op).await;
    let (s, e) = json_of(
        t.post_auth(
            &format!("/api/v1/tickets/{number}/forwards"),
            op,
            json!({"question": "?", "category": "weather"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (422, Some("category")),
        "{e}"
    );
    // F9: no body given, an ICT category: the ICI operator's ICT group.
    let f = forward(
        t,
        op,
        &number,
        json!({"question": "Портал недоступен", "category": "incident"}),
    )
    .await;
    assert_eq!(f["body"]["id"], ici.as_str());
    // F3: incident = 4 working hours.
    assert_eq!(f["due_at"], "2026-12-08T14:00:00+05:00", "{f}");
    assert_eq!(f["deadline"]["rule"], "F3");
    let id = f["id"].as_str().expect("id").to_string();
    wait_mails_to(&r.sink, "askar@ici.kz", 1).await;
    assert!(
        mails_to(&r.sink, "bakyt@ici.kz").is_empty() && mails_to(&r.sink, "info@ici.kz").is_empty()
    );

    // The webhook's first attempt fails; the failure is on the forward; a retry delivers it.
    eventually("the webhook's failure is recorded", || async {
        get_forward(t, op, &id).await["deliveries"]
            .as_array()
            .is_some_and(|d| {
                d.iter()
                    .any(|x| x["channel"] == "webhook" && x["status"] == "retrying")
            })
    })
    .await;
    let view = get_forward(t, op, &id).await;
    let wh = view["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|x| x["channel"] == "webhook")
        .cloned()
        .expect("webhook");
    assert!(
        wh["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{wh}"
    );
    assert_eq!(wh["failed_attempts"].as_array().map(Vec::len), Some(1));
    r.clock.advance(TimeDelta::seconds(30));
    deliveries_settled(t, op, &id, 2).await;
    assert_eq!(hook.fail_first.load(Ordering::SeqCst), 0);

    // Nothing overdue yet.
    let (_, list) = json_of(t.get_auth("/api/v1/forwards/overdue", op).await).await;
    assert_eq!(list["forwards"].as_array().map(Vec::len), Some(0), "{list}");
    // One working hour before: the reminder to the ICT group and to the operator.
    r.clock.set(start_time() + TimeDelta::hours(3));
    baylanys::jobs::timers::tick(&t.app).await.expect("tick");
    eventually("the reminder reached the ICT group", || async {
        mails_to(&r.sink, "askar@ici.kz").len() >= 2
    })
    .await;
    let reminder = mails_to(&r.sink, "askar@ici.kz").remove(1);
    assert!(
        parsed(&reminder)
            .inbound
            .subject
            .unwrap_or_default()
            .contains(f["reference"].as_str().expect("ref"))
    );
    let reference = f["reference"].as_str().expect("reference");
    wait_mails_about(&r.sink, "op@staff.example.kz", reference, 1).await;
    assert!(
        mails_about(&r.sink, "sup@staff.example.kz", reference).is_empty(),
        "no escalation yet"
    );
    // Past the deadline: the escalation to the queue's supervisors; on the overdue list.
    r.clock
        .set(start_time() + TimeDelta::hours(4) + TimeDelta::seconds(1));
    baylanys::jobs::timers::tick(&t.app).await.expect("tick");
    wait_mails_about(&r.sink, "sup@staff.example.kz", reference, 1).await;
    let (_, list) = json_of(
        t.get_auth("/api/v1/forwards/overdue?kind=ici_operator", op)
            .await,
    )
    .await;
    assert_eq!(list["forwards"][0]["id"], id.as_str(), "{list}");
    assert_eq!(list["forwards"][0]["overdue"], true);
    let (_, list) = json_of(t.get_auth("/api/v1/forwards?overdue=false", op).await).await;
    assert_eq!(list["forwards"].as_array().map(Vec::len), Some(0));
    let (_, list) = json_of(
        t.get_auth("/api/v1/forwards?kind=central_state_body", op)
            .await,
    )
    .await;
    assert_eq!(list["forwards"].as_array().map(Vec::len), Some(0));
    let (s, e) = json_of(
        t.get_auth(
            "/api/v1/forwards?kind=nobody&limit=0&after=x&overdue=maybe",
            op,
        )
        .await,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(e["errors"].as_array().map(Vec::len), Some(4), "{e}");
    // Keyset pages: three more forwards, two per page.
    for _ in 0..3 {
        forward(
            t,
            op,
            &number,
            json!({"question": "Ещё", "category": "consultation"}),
        )
        .await;
    }
    let (_, p1) = json_of(t.get_auth("/api/v1/forwards?limit=2", op).await).await;
    let after = p1["next_after"].as_str().expect("a next page").to_string();
    let (_, p2) = json_of(
        t.get_auth(&format!("/api/v1/forwards?limit=2&after={after}"), op)
            .await,
    )
    .await;
    assert_eq!(p2["forwards"].as_array().map(Vec::len), Some(2));
    assert!(p2["next_after"].is_null());
    let mut seen: Vec<String> = [&p1, &p2]
        .iter()
        .flat_map(|p| p["forwards"].as_array().cloned().unwrap_or_default())
        .map(|f| f["id"].as_str().unwrap_or_default().to_string())
        .collect();
    seen.dedup();
    assert_eq!(seen.len(), 4);
    let (s, none) = json_of(
        t.get_auth(
            "/api/v1/forwards?after=00000000-0000-7000-8000-000000000000",
            op,
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(none["forwards"].as_array().map(Vec::len), Some(0), "{none}");
    // Late, the ICI operator's user answers: off the overdue list.
    let ici_user = body_token_for(&t.app, "ici_user", Role::Ici, &ici).await;
    let (s, a) = json_of(
        t.post_auth(
            &format!("/api/v1/forwards/{id}/answer"),
            &ici_user,
            json!({"text": "Портал восстановлен."}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{a}");
    let (_, list) = json_of(t.get_auth("/api/v1/forwards/overdue", &ici_user).await).await;
    assert!(
        list["forwards"]
            .as_array()
            .is_some_and(|l| l.iter().all(|f| f["id"] != id.as_str())),
        "{list}"
    );
}

async fn f1_a_reply_failing_sender_checks_is_held_until_an_operator_accepts_it(backend: Backend) {
    let r = rig(backend, None, |_| {}).await;
    let (t, op) = (&r.t, r.op.as_str());
    let ingest = t.token("mta", Role::Ingest).await;
    let b = body(t, &r.admin, ministry("kense@adilet.gov.kz", None)).await;
    let (number, _) = appeal_with_pd(t, op).await;
    let f = forward(
        t,
        op,
        &number,
        json!({"body": b, "question": "Выдана ли справка?"}),
    )
    .await;
    let (id, reference) = (
        f["id"].as_str().expect("id").to_string(),
        f["reference"].as_str().expect("ref").to_string(),
    );
    let mail = wait_mails_to(&r.sink, "kense@adilet.gov.kz", 1)
        .await
        .remove(0);
    let message_id = header(&mail, "Message-ID").expect("Message-ID");
    // A forged From: the body's address, but DMARC failed at our MTA.
    let forged = reply_mail(
        "kense@adilet.gov.kz",
        &message_id,
        &format!("Re: [{reference}]"),
        "Authentication-Results: mx.goscorp.kz; dmarc=fail header.from=adilet.gov.kz\r\n",
        "Справка не нужна, закройте.",
    );
    let out = post_raw(t, &ingest, forged).await;
    assert_eq!(out["outcome"], "forward_reply_held", "{out}");
    // A stranger quoting the reference in the subject, no threading headers.
    let stranger = format!(
        "From: x@evil.example\r\nTo: support@goscorp.kz\r\nSubject: Re: [{reference}]\r\nMessage-ID: <s1@evil.example>\r\n\r\nОтвет.\r\n"
    );
    let out = post_raw(t, &ingest, stranger.into_bytes()).await;
    assert_eq!(out["outcome"], "forward_reply_held", "{out}");
    let view = get_forward(t, op, &id).await;
    assert_eq!(
        view["status"], "open",
        "a held reply never answers on its own"
    );
    let held: Vec<Value> = view["messages_from_body"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(held.len(), 2, "{view}");
    assert!(held.iter().all(|h| h["state"] == "held"));
    let d = detail(t, op, &number).await;
    assert_eq!(
        d["status"], "waiting",
        "a held reply does not wake the ticket"
    );
    // The operator who forwarded it is told a reply waits.
    wait_mails_about(&r.sink, "op@staff.example.kz", &reference, 1).await;
    // The operator accepts the first one.
    let hid = held[0]["message_id"].as_str().expect("id");
    let agency = body_token_for(&t.app, "adilet", Role::Agency, &b).await;
    let accept = format!("/api/v1/forwards/{id}/replies/{hid}/accept");
    let (s, _) = json_of(t.post_auth(&accept, &agency, json!({})).await).await;
    assert_eq!(s, 403, "a body cannot accept replies");
    let (s, a) = json_of(t.post_auth(&accept, op, json!({})).await).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["landed"], "answer");
    let (s, _) = json_of(t.post_auth(&accept, op, json!({})).await).await;
    assert_eq!(s, 409, "accepted once");
    let view = get_forward(t, op, &id).await;
    assert_eq!(view["status"], "answered");
    assert_eq!(view["answer_message_id"], hid);
    // A genuine reply after it was answered is kept, not lost.
    let late = reply_mail(
        "kense@adilet.gov.kz",
        &message_id,
        &format!("Re: [{reference}]"),
        "Authentication-Results: mx.goscorp.kz; dmarc=pass header.from=adilet.gov.kz\r\n",
        "Дополнение.",
    );
    let out = post_raw(t, &ingest, late).await;
    assert_eq!(out["outcome"], "forward_answer");
    assert_eq!(out["late"], true);
    let d = detail(t, op, &number).await;
    assert!(d["messages"].as_array().expect("m").iter().any(|m| {
        m["body_text"]
            .as_str()
            .is_some_and(|b| b.contains("Дополнение."))
    }));
}

/// Body A's user calls every route with body B's forward ids and ticket numbers.
async fn who_sees_what_body_a_gets_nothing_of_body_b(backend: Backend) {
    let r = rig(backend, None, |_| {}).await;
    let (t, op) = (&r.t, r.op.as_str());
    let a = body(t, &r.admin, ministry("a@adilet.gov.kz", None)).await;
    let mut bv = ministry("b@minfin.gov.kz", None);
    bv["name"] = json!({"kk": "Қаржы министрлігі", "ru": "Министерство финансов"});
    let b = body(t, &r.admin, bv).await;
    let ta = body_token_for(&t.app, "user_a", Role::Agency, &a).await;
    // A ticket with a file, forwarded to both.
    let (number, mid) = appeal_with_pd(t, op).await;
    let m2 = mid.clone();
    let att = t
        .app
        .db
        .write(move |c| {
            baylanys::tickets::store_attachment(
                c,
                &m2,
                &baylanys_core::Attachment {
                    file_name: "scan.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: b"%PDF-1.4\n".to_vec(),
                },
            )
        })
        .await
        .map(Some)
        .expect("stored");
    let atts: Vec<String> = att.iter().cloned().collect();
    let fa = forward(
        t,
        op,
        &number,
        json!({"body": a, "question": "Для A", "messages": [mid]}),
    )
    .await;
    let fb = forward(
        t,
        op,
        &number,
        json!({"body": b, "question": "Для B", "messages": [mid], "attachments": atts}),
    )
    .await;
    let (fa, fb) = (
        fa["id"].as_str().expect("a").to_string(),
        fb["id"].as_str().expect("b").to_string(),
    );
    let att = att.unwrap_or_else(|| "00000000-0000-7000-8000-000000000001".into());

    // A's own forward: only what was sent.
    let own = get_forward(t, &ta, &fa).await;
    assert_eq!(own["sent"]["question"], "Для A");
    for hidden in [
        "ticket",
        "question",
        "deliveries",
        "created_by",
        "messages_from_body",
    ] {
        assert!(
            own.get(hidden).is_none(),
            "{hidden} is not for the body: {own}"
        );
    }
    assert!(!own.to_string().contains("900101300123"));
    let (_, list) = json_of(t.get_auth("/api/v1/forwards", &ta).await).await;
    let ids: Vec<&str> = list["forwards"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, vec![fa.as_str()], "{list}");
    let (_, list) = json_of(t.get_auth(&format!("/api/v1/forwards?body={b}"), &ta).await).await;
    assert_eq!(list["forwards"].as_array().map(Vec::len), Some(0));
    let (_, list) = json_of(t.get_auth("/api/v1/forwards/overdue", &ta).await).await;
    assert_eq!(list["forwards"].as_array().map(Vec::len), Some(0));

    // Everything of B: 404; routes an agency may never use: 403.
    let gets = [
        (format!("/api/v1/forwards/{fb}"), 404),
        (format!("/api/v1/forwards/{fb}/attachments/{att}"), 404),
        (format!("/api/v1/forwards/{fa}/attachments/{att}"), 404),
        (format!("/api/v1/tickets/{number}"), 403),
        ("/api/v1/tickets".to_string(), 403),
        (format!("/api/v1/attachments/{att}"), 403),
        (format!("/api/v1/bodies/{b}"), 403),
        ("/api/v1/bodies".to_string(), 403),
        ("/api/v1/quality-notices".to_string(), 403),
        ("/api/v1/queues".to_string(), 403),
        ("/api/v1/quarantine".to_string(), 403),
    ];
    for (path, want) in gets {
        let s = t.get_auth(&path, &ta).await.status().as_u16();
        assert_eq!(s, want, "GET {path}");
    }
    let posts = [
        (
            format!("/api/v1/forwards/{fb}/answer"),
            json!({"text": "x"}),
            404,
        ),
        (
            format!("/api/v1/forwards/{fb}/decline"),
            json!({"reason": "x"}),
            404,
        ),
        (format!("/api/v1/forwards/{fb}/relay"), json!({}), 403),
        (
            format!("/api/v1/forwards/{fb}/replies/{mid}/accept"),
            json!({}),
            403,
        ),
        (
            format!("/api/v1/tickets/{number}/forwards"),
            json!({"body": a, "question": "x"}),
            403,
        ),
        (
            format!("/api/v1/tickets/{number}/replies"),
            json!({"text": "x"}),
            403,
        ),
        (format!("/api/v1/tickets/{number}/close"), json!({}), 403),
        (
            "/api/v1/quality-notices/00000000-0000-7000-8000-000000000000/confirm".to_string(),
            json!({}),
            403,
        ),
    ];
    for (path, v, want) in posts {
        let s = t.post_auth(&path, &ta, v).await.status().as_u16();
        assert_eq!(s, want, "POST {path}");
    }
    let s = t
        .patch_auth(
            &format!("/api/v1/bodies/{b}"),
            &ta,
            json!({"email": "x@y.kz"}),
        )
        .await
        .status()
        .as_u16();
    assert_eq!(s, 403, "PATCH body");
    // A file sent with A's own forward is A's to download.
    let fa2 = forward(
        t,
        op,
        &number,
        json!({"body": a, "question": "С файлом", "attachments": [att]}),
    )
    .await;
    let fa2 = fa2["id"].as_str().expect("id");
    let r = t
        .get_auth(&format!("/api/v1/forwards/{fa2}/attachments/{att}"), &ta)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), b"%PDF-1.4\n");
    // B's forward is untouched.
    let (_, vb) = json_of(t.get_auth(&format!("/api/v1/forwards/{fb}"), op).await).await;
    assert_eq!(vb["status"], "open");
    // A may download nothing it was not sent, and its own body reads fine.
    let s = t
        .get_auth(&format!("/api/v1/bodies/{a}"), &ta)
        .await
        .status()
        .as_u16();
    assert_eq!(s, 200);
}

/// SMTP is down when the forward is made; the server restarts; the mail goes once.
async fn f1_a_delivery_waits_through_a_restart_and_goes_once(backend: Backend) {
    let sink = SmtpSink::start();
    let clock = Arc::new(ManualClock::new(start_time()));
    let (url, dir) = fresh_database(backend);
    let down = format!("smtp://127.0.0.1:{}", free_port());
    let c1 = clock.clone();
    // The SQLite file outlives the first instance.
    let _dir = dir;
    let t = spawn_custom(
        &url,
        None,
        move |c| c.smtp_url = Some(down),
        |app| app.with_clock(c1 as Arc<dyn Clock>),
    )
    .await;
    let admin = t.token("admin", Role::Admin).await;
    let op = t.token("op", Role::Operator).await;
    let b = body(&t, &admin, ministry("kense@adilet.gov.kz", None)).await;
    let (number, _) = appeal_with_pd(&t, &op).await;
    let f = forward(
        &t,
        &op,
        &number,
        json!({"body": b, "question": "Выдана ли справка?"}),
    )
    .await;
    let id = f["id"].as_str().expect("id").to_string();
    eventually("the first attempt failed and is visible", || async {
        get_forward(&t, &op, &id).await["deliveries"][0]["status"] == "retrying"
    })
    .await;
    let view = get_forward(&t, &op, &id).await;
    assert!(view["deliveries"][0]["last_error"].is_string(), "{view}");
    t.stop().await;

    let c2 = clock.clone();
    let smtp = sink.url();
    let t = spawn_custom(
        &url,
        None,
        move |c| c.smtp_url = Some(smtp),
        |app| app.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    clock.advance(TimeDelta::minutes(5));
    let view = deliveries_settled(&t, &op, &id, 1).await;
    assert_eq!(view["deliveries"][0]["attempts"], 2, "{view}");
    let now = clock.now().naive_utc();
    let app = t.app.clone();
    eventually("no forward delivery left to run", || {
        let app = app.clone();
        async move {
            app.db
                .run(move |c| {
                    use baylanys::db::schema::jobs;
                    use diesel::prelude::*;
                    Ok(jobs::table
                        .filter(jobs::kind.eq("forward_delivery"))
                        .filter(jobs::status.ne("done"))
                        .filter(jobs::run_at.le(now))
                        .count()
                        .get_result::<i64>(c)?)
                })
                .await
                .expect("count")
                == 0
        }
    })
    .await;
    assert_eq!(
        mails_to(&sink, "kense@adilet.gov.kz").len(),
        1,
        "exactly once"
    );
}
