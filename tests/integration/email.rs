//! The e-mail channel end to end: raw mail POSTed, piped to `ingest-email` and read by
//! IMAP from a real Dovecot; acknowledgements and replies delivered to a real SMTP server.

#[path = "../../channels/email/tests/support/mod.rs"]
pub(crate) mod mail_support;

mod defects;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use baylanys::auth::Role;
use baylanys_email::{ParseConfig, ParsedEmail};
use diesel::prelude::*;
use mail_support::{Dovecot, SmtpSink};

use crate::support::{Backend, TestApp, eventually, free_port, fresh_database, spawn_config};

both_backends!(
    email_is_registered_acknowledged_threaded_and_answered_by_smtp,
    duplicates_and_auto_replies_make_no_extra_ticket_or_ack,
    a_bounce_for_our_ack_marks_it_failed_and_makes_no_ticket,
    unparseable_mail_is_quarantined_listed_retried_and_released,
    imap_mail_becomes_tickets_and_is_backfilled_after_downtime,
    ingest_email_cli_exits_0_when_stored_and_75_when_the_database_is_down,
    oversize_attachments_are_dropped_and_the_sender_is_told,
    agency_reference_numbers_in_subjects_are_recorded,
    web_form_applicants_with_an_email_get_the_ack_and_replies_by_mail_too,
);

/// A web-form appeal that gave an e-mail: the acknowledgement (with the status link) and
/// the operator's reply go by mail as well as to the status page.
async fn web_form_applicants_with_an_email_get_the_ack_and_replies_by_mail_too(backend: Backend) {
    let (sink, t, _) = mail_server(backend).await;
    let mut appeal = crate::support::appeal("Не приходит SMS-код для входа");
    appeal["email"] = "erlan@example.kz".into();
    let created: serde_json::Value = t
        .post_json("/api/v1/appeals", appeal)
        .await
        .json()
        .await
        .expect("JSON");
    let number = created["number"].as_str().expect("number").to_string();
    let ack = wait_sent(&sink, 1).remove(0);
    assert!(subject_of(&ack).contains(&number));
    let body = match baylanys_email::parse(&ack, &ParseConfig::default()) {
        Ok(ParsedEmail::Message(m)) => m.inbound.body_text,
        other => panic!("the ack does not parse: {other:?}"),
    };
    let key = created["status_url"]
        .as_str()
        .expect("url")
        .rsplit_once("key=")
        .expect("key")
        .1
        .to_string();
    assert!(body.contains(&key), "the ack carries the status link");
    assert!(header(&ack, "To").expect("To").contains("erlan@example.kz"));

    let op = t.token("op", Role::Operator).await;
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            serde_json::json!({"text": "Проверьте номер в профиле eGov."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let reply = wait_sent(&sink, 2).remove(1);
    match baylanys_email::parse(&reply, &ParseConfig::default()) {
        Ok(ParsedEmail::Message(m)) => assert!(
            m.inbound
                .body_text
                .contains("Проверьте номер в профиле eGov.")
        ),
        other => panic!("the reply does not parse: {other:?}"),
    }
    let page = t
        .client
        .get(created["status_url"].as_str().expect("url"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Проверьте номер в профиле eGov."));
}

/// An agency answering in its own numbering: the configured prefixes find it.
async fn agency_reference_numbers_in_subjects_are_recorded(backend: Backend) {
    let t = spawn_config(backend, |c| c.agency_ref_prefixes = vec!["МЮ-".into()]).await;
    let ingest = t.token("mta", Role::Ingest).await;
    let op = t.token("op", Role::Operator).await;
    let raw = mail(
        "kanc@adilet.gov.kz",
        "agency-1@adilet.gov.kz",
        "Ответ на запрос МЮ-2026/1234",
        "",
        "Сообщаем, что справка выдана.",
    );
    let out = post_raw(&t, &ingest, raw).await;
    assert_eq!(out["outcome"], "registered");
    let d = detail(&t, &op, out["number"].as_str().expect("number")).await;
    let refs: Vec<&serde_json::Value> = d["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "agency_reference")
        .collect();
    assert_eq!(refs.len(), 1, "{d}");
    assert_eq!(refs[0]["data"]["references"][0], "МЮ-2026/1234");
}

/// A plain-text mail with raw UTF-8 headers, as many real clients send.
fn mail(from: &str, message_id: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@goscorp.kz\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 16 Nov 2026 10:00:00 +0500\r\nMIME-Version: 1.0\r\n{headers}\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn post_raw(t: &TestApp, token: &str, raw: Vec<u8>) -> serde_json::Value {
    let resp = t
        .client
        .post(format!("{}/api/v1/inbound/email", t.url))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(resp.status(), 202);
    resp.json().await.expect("JSON")
}

async fn ticket_count(t: &TestApp) -> i64 {
    use baylanys::db::schema::tickets;
    t.app
        .db
        .run(|c| Ok(tickets::table.count().get_result(c)?))
        .await
        .expect("count")
}

async fn detail(t: &TestApp, token: &str, number: &str) -> serde_json::Value {
    t.get_auth(&format!("/api/v1/tickets/{number}"), token)
        .await
        .json()
        .await
        .expect("JSON")
}

/// One header's value from raw mail (unfolded: continuation lines are joined).
fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The decoded subject of a sent mail.
fn subject_of(raw: &[u8]) -> String {
    match baylanys_email::parse(raw, &ParseConfig::default()) {
        Ok(ParsedEmail::Message(m)) => m.inbound.subject.unwrap_or_default(),
        other => panic!("the sent mail does not parse as a message: {other:?}"),
    }
}

async fn mail_server(backend: Backend) -> (SmtpSink, TestApp, String) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| c.smtp_url = Some(url)).await;
    let ingest = t.token("mta", Role::Ingest).await;
    (sink, t, ingest)
}

fn wait_sent(sink: &SmtpSink, count: usize) -> Vec<Vec<u8>> {
    let sent = sink.wait_for_messages(count, Duration::from_secs(20));
    assert_eq!(sent.len(), count, "messages at the SMTP sink");
    sent
}

async fn email_is_registered_acknowledged_threaded_and_answered_by_smtp(backend: Backend) {
    let (sink, t, ingest) = mail_server(backend).await;
    let first = mail(
        "Айгүл <aigul@example.kz>",
        "m1@example.kz",
        "Порталға кіре алмаймын",
        "",
        "Сәлеметсіз бе! Порталға кіре алмаймын, көмектесіңізші.",
    );
    let out = post_raw(&t, &ingest, first).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    let number = out["number"].as_str().expect("number").to_string();

    // The acknowledgement: in Kazakh, tagged with the number, marked automatic.
    let ack = wait_sent(&sink, 1).remove(0);
    let subject = subject_of(&ack);
    assert!(subject.contains(&format!("[{number}]")), "{subject}");
    assert!(subject.contains("Өтініш тіркелді"), "{subject}");
    assert_eq!(
        header(&ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(
        header(&ack, "In-Reply-To").as_deref(),
        Some("<m1@example.kz>")
    );
    let ack_id = header(&ack, "Message-ID").expect("the ack has a Message-ID");

    // A reply to the acknowledgement joins the ticket.
    let reply = mail(
        "aigul@example.kz",
        "m2@example.kz",
        "Re: рахмет",
        &format!("In-Reply-To: {ack_id}\r\n"),
        "Тағы бір сұрақ.",
    );
    let out = post_raw(&t, &ingest, reply).await;
    assert_eq!(out["outcome"], "appended", "{out}");
    assert_eq!(out["number"], number.as_str());

    // A stranger quoting the number gets a ticket of their own (and a Russian ack).
    let stranger = mail(
        "ivan@example.kz",
        "s1@example.kz",
        &format!("[{number}] у меня то же"),
        "",
        "У меня та же проблема с порталом.",
    );
    let out = post_raw(&t, &ingest, stranger).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    assert_ne!(out["number"], number.as_str());
    let second = wait_sent(&sink, 2).remove(1);
    assert!(
        subject_of(&second).contains("Обращение зарегистрировано"),
        "{}",
        subject_of(&second)
    );
    assert_eq!(ticket_count(&t).await, 2);

    // The operator's answer goes out by SMTP, threaded on the applicant's latest mail.
    let operator = t.token("aliya", Role::Operator).await;
    let resp = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &operator,
            serde_json::json!({"text": "Құпиясөзді қалпына келтіріңіз."}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let answer = wait_sent(&sink, 3).remove(2);
    assert_eq!(
        header(&answer, "In-Reply-To").as_deref(),
        Some("<m2@example.kz>")
    );
    assert!(header(&answer, "References").is_some_and(|r| r.contains(&ack_id)));
    assert!(subject_of(&answer).contains(&format!("[{number}]")));
    assert_eq!(header(&answer, "Auto-Submitted"), None);
}

async fn duplicates_and_auto_replies_make_no_extra_ticket_or_ack(backend: Backend) {
    let (sink, t, ingest) = mail_server(backend).await;
    let raw = mail(
        "dana@example.kz",
        "d1@example.kz",
        "Вопрос",
        "",
        "Как получить справку?",
    );
    assert_eq!(
        post_raw(&t, &ingest, raw.clone()).await["outcome"],
        "registered"
    );
    let again = post_raw(&t, &ingest, raw).await;
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(ticket_count(&t).await, 1);

    let robot = mail(
        "robot@example.kz",
        "r1@example.kz",
        "Out of office",
        "Auto-Submitted: auto-replied\r\n",
        "Я в отпуске.",
    );
    let out = post_raw(&t, &ingest, robot).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    let operator = t.token("aliya", Role::Operator).await;
    let d = detail(&t, &operator, out["number"].as_str().expect("number")).await;
    let events: Vec<&str> = d["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(events.contains(&"ack_suppressed"), "{events:?}");
    assert_eq!(
        d["messages"].as_array().expect("messages").len(),
        1,
        "no acknowledgement queued"
    );
    // Only Dana's acknowledgement ever reaches the SMTP server.
    wait_sent(&sink, 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1);
}

fn dsn_for(message_id: &str) -> Vec<u8> {
    format!(
        "From: postmaster@mail.kz\r\nTo: support@goscorp.kz\r\nSubject: Delivery Status Notification (Failure)\r\n\
         Message-ID: <bounce-1@mail.kz>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n\
         --R\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n\
         --R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.kz\r\n\r\n\
         Final-Recipient: rfc822; gone@example.kz\r\nStatus: 5.2.1\r\nDiagnostic-Code: smtp; 550 5.2.1 Mailbox disabled\r\n\
         --R\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@goscorp.kz\r\nTo: gone@example.kz\r\n\
         Message-ID: {message_id}\r\nSubject: Acknowledgement\r\n\r\n--R--\r\n"
    )
    .into_bytes()
}

async fn a_bounce_for_our_ack_marks_it_failed_and_makes_no_ticket(backend: Backend) {
    let (sink, t, ingest) = mail_server(backend).await;
    let out = post_raw(
        &t,
        &ingest,
        mail(
            "gone@example.kz",
            "g1@example.kz",
            "Вопрос",
            "",
            "Текст обращения.",
        ),
    )
    .await;
    let number = out["number"].as_str().expect("number").to_string();
    let ack = wait_sent(&sink, 1).remove(0);
    let ack_id = header(&ack, "Message-ID").expect("Message-ID");
    let operator = t.token("aliya", Role::Operator).await;
    let ack_status = |d: &serde_json::Value| {
        d["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["kind"] == "acknowledgement"))
            .map(|m| m["delivery_status"].clone())
    };
    eventually("the ack is recorded as sent", || async {
        ack_status(&detail(&t, &operator, &number).await) == Some("sent".into())
    })
    .await;

    let out = post_raw(&t, &ingest, dsn_for(&ack_id)).await;
    assert_eq!(out["outcome"], "delivery_status", "{out}");
    assert_eq!(out["number"], number.as_str());
    let d = detail(&t, &operator, &number).await;
    assert_eq!(ack_status(&d), Some("failed".into()));
    let ack_msg = d["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["kind"] == "acknowledgement"))
        .cloned()
        .unwrap_or_default();
    assert!(
        ack_msg["delivery_error"]
            .as_str()
            .unwrap_or("")
            .contains("Mailbox disabled"),
        "{ack_msg}"
    );
    assert!(
        d["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "delivery_failed")
    );
    assert_eq!(ticket_count(&t).await, 1);
}

async fn unparseable_mail_is_quarantined_listed_retried_and_released(backend: Backend) {
    let (_sink, t, ingest) = mail_server(backend).await;
    let raw = b"To: support@goscorp.kz\r\nSubject: who am I\r\n\r\nNo sender at all.\r\n".to_vec();
    let out = post_raw(&t, &ingest, raw.clone()).await;
    assert_eq!(out["outcome"], "quarantined", "{out}");
    assert!(
        out["reason"].as_str().unwrap_or("").contains("no sender"),
        "{out}"
    );
    assert_eq!(ticket_count(&t).await, 0);
    // A structure that makes the MIME parser itself give up (found by fuzzing) is kept the
    // same way, and the next mail goes through.
    let hostile =
        include_bytes!("../../channels/email/tests/hostile/mail_parser_part_id_panic.eml").to_vec();
    let out = post_raw(&t, &ingest, hostile).await;
    assert_eq!(out["outcome"], "quarantined", "{out}");
    assert!(
        out["reason"].as_str().unwrap_or("").contains("malformed"),
        "{out}"
    );

    let operator = t.token("aliya", Role::Operator).await;
    assert_eq!(
        t.get_auth("/api/v1/quarantine", &ingest).await.status(),
        403
    );
    let list: serde_json::Value = t
        .get_auth("/api/v1/quarantine", &operator)
        .await
        .json()
        .await
        .expect("JSON");
    let item = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["reason"].as_str().unwrap_or("").contains("no sender"))
        .expect("the first one is listed")
        .clone();
    let id = item["id"].as_str().expect("id").to_string();
    assert_eq!(item["size"], raw.len());
    assert_eq!(item["sha256"], baylanys_email::sha256(&raw));
    assert!(item["reason"].as_str().unwrap_or("").contains("no sender"));

    let retried: serde_json::Value = t
        .post_auth(
            &format!("/api/v1/quarantine/{id}/retry"),
            &operator,
            serde_json::json!({}),
        )
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(retried["outcome"], "quarantined", "{retried}");

    let released = t
        .post_auth(
            &format!("/api/v1/quarantine/{id}/release"),
            &operator,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(released.status(), 202);
    let released: serde_json::Value = released.json().await.expect("JSON");
    assert_eq!(released["outcome"], "registered", "{released}");
    let d = detail(&t, &operator, released["number"].as_str().expect("number")).await;
    assert_eq!(d["subject"], "(unparsed message)");
    assert!(
        d["messages"][0]["body_text"]
            .as_str()
            .unwrap_or("")
            .contains("No sender at all.")
    );
    let list: serde_json::Value = t
        .get_auth("/api/v1/quarantine", &operator)
        .await
        .json()
        .await
        .expect("JSON");
    // Only the hostile one is left.
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert!(
        list["items"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("malformed")
    );
    let again = t
        .post_auth(
            &format!("/api/v1/quarantine/{id}/release"),
            &operator,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(again.status(), 404);
}

async fn imap_mail_becomes_tickets_and_is_backfilled_after_downtime(backend: Backend) {
    let mut dovecot = Dovecot::start();
    dovecot.deliver(&mail(
        "a1@example.kz",
        "i1@example.kz",
        "Первое",
        "",
        "Первое письмо.",
    ));
    dovecot.deliver(&mail(
        "a2@example.kz",
        "i2@example.kz",
        "Второе",
        "",
        "Второе письмо.",
    ));
    let url = dovecot.url("?idle_timeout=5&backoff_min=1&backoff_max=1&connect_timeout=5");
    let t = spawn_config(backend, |c| c.imap_url = Some(url)).await;
    eventually("two IMAP messages registered", || async {
        ticket_count(&t).await == 2
    })
    .await;

    tokio::task::block_in_place(|| dovecot.stop());
    dovecot.deliver(&mail(
        "a3@example.kz",
        "i3@example.kz",
        "Третье",
        "",
        "Пока сервер лежал.",
    ));
    dovecot.deliver(&mail(
        "a4@example.kz",
        "i4@example.kz",
        "Четвёртое",
        "",
        "И ещё одно.",
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await; // a few failed reconnects
    tokio::task::block_in_place(|| dovecot.start_again());
    eventually(
        "the mail delivered during downtime is backfilled",
        || async { ticket_count(&t).await == 4 },
    )
    .await;

    // The same mail also POSTed is one entry; the checkpoint is stored without the password.
    let ingest = t.token("mta", Role::Ingest).await;
    let dup = post_raw(
        &t,
        &ingest,
        mail(
            "a4@example.kz",
            "i4@example.kz",
            "Четвёртое",
            "",
            "И ещё одно.",
        ),
    )
    .await;
    assert_eq!(dup["outcome"], "duplicate", "{dup}");
    let keys: Vec<(String, String)> = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::channel_state;
            Ok(channel_state::table
                .select((channel_state::key, channel_state::value))
                .load(c)?)
        })
        .await
        .expect("channel state");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].0.starts_with("imap:") && !keys[0].0.contains("secret"),
        "{keys:?}"
    );
    assert!(keys[0].1.contains("last_uid"), "{keys:?}");
}

fn ingest_cli(database_url: &str, input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(["ingest-email", "--database-url", database_url])
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baylanys runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("writing stdin");
    let out = child.wait_with_output().expect("baylanys ends");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ingest_email_cli_exits_0_when_stored_and_75_when_the_database_is_down(backend: Backend) {
    let (url, _dir) = fresh_database(backend);
    defects::migrate(&url);
    let raw = mail(
        "pipe@example.kz",
        "p1@example.kz",
        "Через MTA",
        "",
        "Письмо через pipe.",
    );
    let (code, out, err) = tokio::task::block_in_place(|| ingest_cli(&url, &raw));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("registered UCC-"), "{out}");
    let (code, out, _) = tokio::task::block_in_place(|| ingest_cli(&url, &raw));
    assert_eq!((code, out.trim()), (Some(0), "duplicate"));
    let (code, out, _) =
        tokio::task::block_in_place(|| ingest_cli(&url, b"Subject: nobody\r\n\r\nx\r\n"));
    assert_eq!((code, out.trim()), (Some(0), "quarantined"));

    let down = match backend {
        Backend::Sqlite => "sqlite:///proc/baylanys-no-such-dir/b.db".to_string(),
        Backend::Postgres => format!("postgres://postgres@127.0.0.1:{}/nothing", free_port()),
    };
    let (code, _, err) = tokio::task::block_in_place(|| ingest_cli(&down, &raw));
    assert_eq!(code, Some(75), "{err}");
    assert!(err.contains("try again later"), "{err}");
}

/// One instance at a time holds the mailbox; the lock goes with its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_mailbox_lock_is_held_by_one_instance_and_taken_over_when_released() {
    use baylanys::db::holder::HolderLock;
    let t = crate::support::spawn(Backend::Postgres).await;
    let key = "imap:imap://support@127.0.0.1:1/INBOX";
    let holder = HolderLock::acquire(&t.app.db, &t.database_url, key)
        .await
        .expect("lock query");
    assert!(holder.is_some(), "the first instance takes the mailbox");
    let other = HolderLock::acquire(&t.app.db, &t.database_url, key)
        .await
        .expect("lock query");
    assert!(other.is_none(), "a second instance must wait");
    drop(holder); // the holder's connection closes, as when its process dies
    eventually("the mailbox is taken over", || async {
        HolderLock::acquire(&t.app.db, &t.database_url, key)
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;
}

async fn oversize_attachments_are_dropped_and_the_sender_is_told(backend: Backend) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| {
        c.smtp_url = Some(url);
        c.max_attachment_bytes = 1024;
    })
    .await;
    let ingest = t.token("mta", Role::Ingest).await;
    let big = "QUJD".repeat(1024); // 3 KiB once decoded
    let raw = format!(
        "From: erlan@example.kz\r\nTo: support@goscorp.kz\r\nSubject: Справка\r\n\
         Message-ID: <big-1@example.kz>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nПрошу выдать справку, скан во вложении.\r\n\
         --B\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{big}\r\n--B--\r\n"
    );
    let out = post_raw(&t, &ingest, raw.into_bytes()).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    let operator = t.token("aliya", Role::Operator).await;
    let d = detail(&t, &operator, out["number"].as_str().expect("number")).await;
    let dropped = d["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "attachments_dropped"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(dropped["data"]["files"][0], "scan.pdf", "{d}");
    let sent = wait_sent(&sink, 2);
    let notice = sent
        .iter()
        .map(|m| baylanys_email::parse(m, &ParseConfig::default()))
        .find_map(|p| match p {
            Ok(ParsedEmail::Message(m))
                if m.inbound
                    .subject
                    .as_deref()
                    .is_some_and(|s| s.contains("Вложения не приняты")) =>
            {
                Some(m.inbound.body_text)
            }
            _ => None,
        });
    let notice = notice.expect("the notice about the dropped file reaches the sender");
    assert!(
        notice.contains("scan.pdf") && notice.contains("1 КБ"),
        "{notice}"
    );
}
