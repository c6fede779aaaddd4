//! Faults the server lives through (the IMAP server's restart is in email.rs): the SMTP
//! server down and back, and PostgreSQL restarted under load.

use std::sync::Arc;
use std::time::Duration;

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{TimeDelta, Utc};

use crate::email::mail_support::SmtpSink;
use crate::support::{Backend, appeal, eventually, fresh_database, spawn_custom};

both_backends!(smtp_down_then_back_delivers_every_message_once);

fn mail(n: usize) -> Vec<u8> {
    format!(
        "From: applicant{n}@example.kz\r\nTo: support@goscorp.kz\r\nSubject: Өтініш {n}\r\n\
         Message-ID: <fault-{n}@example.kz>\r\nDate: Mon, 16 Nov 2026 10:00:00 +0500\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\nСәлеметсіз бе, {n}\r\n"
    )
    .into_bytes()
}

async fn smtp_down_then_back_delivers_every_message_once(backend: Backend) {
    let mut sink = SmtpSink::start();
    let smtp = sink.url();
    tokio::task::block_in_place(|| sink.stop());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (url, dir) = fresh_database(backend);
    let c2 = clock.clone();
    let t = spawn_custom(
        &url,
        dir,
        |c| c.smtp_url = Some(smtp),
        |b| b.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let ingest = t.token("mta", Role::Ingest).await;
    let op = t.token("op", Role::Operator).await;
    let mut numbers = Vec::new();
    for n in 0..5 {
        let r = t
            .client
            .post(format!("{}/api/v1/inbound/email", t.url))
            .bearer_auth(&ingest)
            .header("content-type", "message/rfc822")
            .body(mail(n))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        numbers.push(v["number"].as_str().unwrap().to_string());
    }
    // The jobs were written at the real time, a moment after the test clock's.
    clock.advance(TimeDelta::seconds(30));
    // Every acknowledgement fails while the server is down, and says why.
    let ack_of = |d: &serde_json::Value| {
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "acknowledgement")
            .cloned()
    };
    for n in &numbers {
        let (t, op, n) = (&t, op.clone(), n.clone());
        eventually("the first try failed", || {
            let (op, n) = (op.clone(), n.clone());
            async move {
                let d: serde_json::Value = t
                    .get_auth(&format!("/api/v1/tickets/{n}"), &op)
                    .await
                    .json()
                    .await
                    .unwrap();
                ack_of(&d).is_some_and(|a| a["delivery_error"].is_string())
            }
        })
        .await;
    }
    assert_eq!(sink.count(), 0);

    // Back up: the retries (due after the backoff on the moved clock) deliver each once.
    tokio::task::block_in_place(|| sink.start_again());
    clock.advance(TimeDelta::minutes(5));
    let got = tokio::task::block_in_place(|| sink.wait_for_messages(5, Duration::from_secs(20)));
    assert_eq!(got.len(), 5);
    for n in &numbers {
        let d: serde_json::Value = t
            .get_auth(&format!("/api/v1/tickets/{n}"), &op)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ack_of(&d).unwrap()["delivery_status"], "sent", "{d}");
    }
    // Later retries find nothing more to send.
    clock.advance(TimeDelta::hours(2));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.count(), 5, "nothing is sent twice");
    for n in &numbers {
        let all = sink.messages();
        assert_eq!(
            all.iter()
                .filter(|m| String::from_utf8_lossy(m).contains(n.as_str()))
                .count(),
            1,
            "{n} acknowledged once"
        );
    }
    let _ = appeal;
}
