//! Retention and the applicant's right of access: `retention_days` after closing, a
//! ticket's personal data is removed by the daily job (moved clock, both backends); the
//! contact is cleared once none of its tickets keeps it; the audit chain stays whole; an
//! administrator can export everything held about one applicant.

use std::sync::Arc;

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use crate::support::{Backend, TestApp, appeal, eventually, fresh_database, spawn_custom};

both_backends!(closed_tickets_lose_personal_data_after_the_retention_period);

fn appeal_from(email: &str, text: &str) -> serde_json::Value {
    let mut a = appeal(text);
    a["email"] = json!(email);
    a
}

async fn number_of(t: &TestApp, body: serde_json::Value) -> String {
    let r = t.post_json("/api/v1/appeals", body).await;
    assert_eq!(r.status(), 201);
    r.json::<serde_json::Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn detail(t: &TestApp, token: &str, number: &str) -> serde_json::Value {
    t.get_auth(&format!("/api/v1/tickets/{number}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn closed_tickets_lose_personal_data_after_the_retention_period(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (url, dir) = fresh_database(backend);
    let c2 = clock.clone();
    let t = spawn_custom(
        &url,
        dir,
        |c| c.retention_days = 30,
        |b| b.with_clock(c2 as Arc<dyn Clock>),
    )
    .await;
    let admin = t.token("admin", Role::Admin).await;
    let op = t.token("op", Role::Operator).await;
    let first = number_of(
        &t,
        appeal_from("dana@example.kz", "Бірінші өтініш, ЖСН 870412300123"),
    )
    .await;
    let second = number_of(&t, appeal_from("dana@example.kz", "Екінші өтініш")).await;
    let other = number_of(&t, appeal_from("erlan@example.kz", "Басқа өтініш")).await;

    // The export names every ticket of the applicant, and records who asked.
    let r = t
        .get_auth("/api/v1/applicants/export?email=Dana@Example.kz", &admin)
        .await;
    assert_eq!(r.status(), 200);
    let held: serde_json::Value = r.json().await.unwrap();
    assert_eq!(held["contacts"][0]["email"], "dana@example.kz");
    let numbers: Vec<&str> = held["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, [first.as_str(), second.as_str()]);
    assert_eq!(
        t.get_auth("/api/v1/applicants/export?email=dana@example.kz", &op)
            .await
            .status(),
        403
    );
    let r = t.get_auth("/api/v1/applicants/export", &admin).await;
    assert_eq!(r.status(), 422);
    let d = detail(&t, &op, &first).await;
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "personal_data_exported" && e["actor"] == "admin"),
        "{d}"
    );

    // Close the first; 31 days later the daily job removes its personal data.
    let r = t
        .post_auth(&format!("/api/v1/tickets/{first}/close"), &op, json!({}))
        .await;
    assert!(r.status().is_success());
    clock.advance(TimeDelta::days(31));
    eventually("the first ticket is anonymised", || {
        let (t, op, n) = (&t, op.clone(), first.clone());
        async move {
            detail(t, &op, &n).await["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "personal_data_removed"))
        }
    })
    .await;
    let d = detail(&t, &op, &first).await;
    let text = d.to_string();
    assert!(!text.contains("870412300123"), "{text}");
    assert!(!text.contains("Бірінші"), "{text}");
    assert!(!text.contains("dana@example.kz"), "{text}");
    assert_eq!(d["subject"], "[removed]");
    let removals = d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "personal_data_removed")
        .count();
    assert_eq!(removals, 1, "removed once, however many runs overlap: {d}");
    assert_eq!(d["number"], first.as_str());
    assert_eq!(d["status"], "closed");
    // The open second ticket still needs the contact: it is kept.
    let d2 = detail(&t, &op, &second).await;
    assert!(d2.to_string().contains("dana@example.kz"));
    assert!(d2.to_string().contains("Екінші"));

    // Close the second; after the period the contact itself is cleared.
    t.post_auth(&format!("/api/v1/tickets/{second}/close"), &op, json!({}))
        .await;
    clock.advance(TimeDelta::days(31));
    eventually("the second ticket is anonymised", || {
        let (t, op, n) = (&t, op.clone(), second.clone());
        async move {
            detail(t, &op, &n).await["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["kind"] == "personal_data_removed"))
        }
    })
    .await;
    let held: serde_json::Value = t
        .get_auth("/api/v1/applicants/export?email=dana@example.kz", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["contacts"], json!([]));
    // A ticket that was never closed keeps everything.
    let d3 = detail(&t, &op, &other).await;
    assert!(d3.to_string().contains("erlan@example.kz"));

    // The audit chains are whole after the removal.
    let report = t
        .app
        .db
        .write(baylanys::tickets::audit::verify)
        .await
        .unwrap();
    assert_eq!(report.broken, None, "{report:?}");
}
