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
    // The server accepted them; each is recorded as sent just after.
    for n in &numbers {
        let (t, op, n) = (&t, op.clone(), n.clone());
        eventually("the acknowledgement is recorded as sent", || {
            let (op, n) = (op.clone(), n.clone());
            async move {
                let d: serde_json::Value = t
                    .get_auth(&format!("/api/v1/tickets/{n}"), &op)
                    .await
                    .json()
                    .await
                    .unwrap();
                ack_of(&d).is_some_and(|a| a["delivery_status"] == "sent")
            }
        })
        .await;
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

/// PostgreSQL restarted while appeals arrive: a request waits up to 10 s for the
/// database, then gets 503 (never a 500, never a lost 201), and the same server takes
/// appeals again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_no_acknowledged_appeal() {
    let Some(cluster) = crate::support::private_cluster("restart") else {
        eprintln!("BAYLANYS_TEST_POSTGRES_URL is set: this test needs a cluster of its own");
        return;
    };
    let url = cluster.database();
    let t = crate::support::spawn_on(&url, None, 0, Vec::new()).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (client, base, stop) = (t.client.clone(), t.url.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut unavailable, mut other) = (Vec::new(), 0, Vec::new());
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let r = client
                        .post(format!("{base}/api/v1/appeals"))
                        .json(&appeal(&format!("Жүктеме {c}-{i}")))
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let v: serde_json::Value = r.json().await.unwrap();
                            ok.push(v["number"].as_str().unwrap().to_string());
                        }
                        Ok(r) if r.status() == 503 => {
                            unavailable += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Ok(r) => other.push(format!(
                            "{} {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        )),
                        Err(e) => other.push(e.to_string()),
                    }
                }
                (ok, unavailable, other)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::block_in_place(|| cluster.stop());
    // Longer than the pool waits for a connection (10 s): requests then get 503.
    tokio::time::sleep(Duration::from_secs(12)).await;
    tokio::task::block_in_place(|| cluster.start());
    // Load goes on until the server has registered again after the restart.
    let before = t
        .app
        .db
        .run(|c| {
            use diesel::prelude::*;
            Ok(baylanys::db::schema::tickets::table
                .count()
                .get_result::<i64>(c)?)
        })
        .await;
    let base = before.unwrap_or(0);
    eventually("appeals are registered again after the restart", || {
        let app = t.app.clone();
        async move {
            app.db
                .run(|c| {
                    use diesel::prelude::*;
                    Ok(baylanys::db::schema::tickets::table
                        .count()
                        .get_result::<i64>(c)?)
                })
                .await
                .is_ok_and(|n| n > base + 20)
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for c in clients {
        let (ok, u, other) = c.await.unwrap();
        assert!(other.is_empty(), "only 201 and 503: {other:?}");
        acknowledged.extend(ok);
        unavailable += u;
    }
    // Whether a request saw a 503 or waited through the outage depends on the timing
    // (the pool waits 10 s for a connection); either is right, a 500 or a loss is not.
    let op = t.token("auditor", Role::Quality).await;
    for n in &acknowledged {
        let r = t.get_auth(&format!("/api/v1/tickets/{n}"), &op).await;
        assert_eq!(r.status(), 200, "{n} was acknowledged, so it is stored");
    }
    eprintln!(
        "{} appeals acknowledged, {unavailable} answered 503 during the restart",
        acknowledged.len()
    );
}
