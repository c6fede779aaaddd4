//! The tamper-evident audit log: every ticket's events form a hash chain that
//! `baylanys audit verify` checks; personal data lives outside the hash, so erasing it
//! keeps the chain whole; concurrent changes to one ticket still make one chain.

use std::process::Command;

use baylanys::auth::Role;
use diesel::prelude::*;
use serde_json::json;

use crate::support::{Backend, appeal, spawn};

both_backends!(the_audit_chain_finds_changed_and_missing_events_and_survives_erasure);

fn verify(db: &str) -> (bool, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .args(["audit", "verify", "--json", "--database-url", db])
        .output()
        .expect("baylanys runs");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

async fn sql(t: &crate::support::TestApp, statement: String) {
    t.app
        .db
        .write(move |c| Ok(diesel::sql_query(statement).execute(c)?))
        .await
        .unwrap();
}

async fn the_audit_chain_finds_changed_and_missing_events_and_survives_erasure(backend: Backend) {
    let t = spawn(backend).await;
    let op = t.token("op", Role::Operator).await;
    let r = t
        .post_json("/api/v1/appeals", appeal("Аудит тізбегі"))
        .await;
    let number = r.json::<serde_json::Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let path = |a: &str| format!("/api/v1/tickets/{number}/{a}");
    // Concurrent changes to one ticket: each event still gets its own place.
    let changes = (0..12).map(|i| {
        let (t, op, p) = (&t, op.clone(), path("status"));
        async move {
            let status = if i % 2 == 0 { "waiting" } else { "open" };
            t.post_auth(
                &p,
                &op,
                json!({"status": status, "reason": format!("шаг {i}")}),
            )
            .await
            .status()
        }
    });
    let mut changed = 0;
    for s in futures_util::future::join_all(changes).await {
        // A change to the status the ticket already has is a 409: also fine here.
        assert!(s.is_success() || s == 409, "{s}");
        changed += u64::from(s.is_success());
    }
    assert!(changed > 0);
    let r = t
        .post_auth(&path("assign"), &op, json!({"login": "op"}))
        .await;
    assert!(r.status().is_success());

    let (ok, report) = verify(&t.database_url);
    assert!(ok, "{report}");
    assert_eq!(report["broken"], serde_json::Value::Null);
    assert!(
        report["events"].as_u64().unwrap() >= 2 + changed,
        "{report}"
    );

    // The applicant's address is not in the hashed columns, but the ticket shows it.
    let id: String = {
        let n = number.clone();
        t.app
            .db
            .run(move |c| {
                Ok(baylanys::db::schema::tickets::table
                    .filter(baylanys::db::schema::tickets::number.eq(n))
                    .select(baylanys::db::schema::tickets::id)
                    .first(c)?)
            })
            .await
            .unwrap()
    };
    let stored: Vec<(String, String)> = {
        let id = id.clone();
        t.app
            .db
            .run(move |c| {
                use baylanys::db::schema::ticket_events as e;
                Ok(e::table
                    .filter(e::ticket_id.eq(id))
                    .select((e::actor, e::data))
                    .load(c)?)
            })
            .await
            .unwrap()
    };
    assert!(
        stored
            .iter()
            .all(|(a, d)| !a.contains("aigul@example.kz") && !d.contains("aigul@example.kz")),
        "{stored:?}"
    );
    let detail: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    let registered = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "registered")
        .unwrap()
        .clone();
    assert!(
        registered["actor"]
            .as_str()
            .unwrap()
            .contains("aigul@example.kz"),
        "{registered}"
    );

    // Erasing personal data (retention) keeps the chain whole.
    {
        let id = id.clone();
        t.app
            .db
            .write(move |c| baylanys::tickets::audit::erase_personal(c, &id))
            .await
            .unwrap();
    }
    let detail: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    let actor = detail["events"][0]["actor"].as_str().unwrap().to_string();
    assert!(actor.ends_with(":[removed]"), "{actor}");
    assert!(verify(&t.database_url).0);

    // An event changed afterwards breaks its link, and the report names it.
    sql(
        &t,
        format!("UPDATE ticket_events SET data = '{{\"status\":\"closed\"}}' WHERE ticket_id = '{id}' AND seq = 3"),
    )
    .await;
    let (ok, report) = verify(&t.database_url);
    assert!(!ok);
    assert_eq!(report["broken"]["ticket"], number.as_str());
    assert_eq!(report["broken"]["seq"], 3);
    assert!(
        report["broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("content"),
        "{report}"
    );

    // A removed event is missing from the chain.
    sql(
        &t,
        format!("DELETE FROM ticket_events WHERE ticket_id = '{id}' AND seq = 3"),
    )
    .await;
    let (ok, report) = verify(&t.database_url);
    assert!(!ok);
    assert!(
        report["broken"]["reason"]
            .as_str()
            .unwrap()
            .contains("event 3 is missing"),
        "{report}"
    );

    // Events of an older release (no chain yet) are sealed, their personal data moved out.
    let r = t.post_json("/api/v1/appeals", appeal("Ескі оқиға")).await;
    let other = r.json::<serde_json::Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    sql(
        &t,
        format!(
            "INSERT INTO ticket_events (id, ticket_id, at, actor, kind, data) \
             SELECT 'legacy-1', id, registered_at, 'email:old@example.kz', 'note', \
             '{{\"from\": \"old@example.kz\"}}' FROM tickets WHERE number = '{other}'"
        ),
    )
    .await;
    // The server's sealer may get there first; either way it ends sealed.
    t.app
        .db
        .write(|c| baylanys::tickets::audit::seal_pending(c, 100))
        .await
        .unwrap();
    let (actor, personal, seq): (String, Option<String>, Option<i64>) = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::ticket_events as e;
            Ok(e::table
                .find("legacy-1")
                .select((e::actor, e::personal, e::seq))
                .first(c)?)
        })
        .await
        .unwrap();
    assert_eq!(seq, Some(2), "chained after the registration");
    assert_eq!(actor, "email:⟪p0⟫");
    assert!(personal.unwrap().contains("old@example.kz"));
    // The first ticket is still broken; repairing isn't possible, but the other is whole:
    // its chain verifies as far as the report goes (it stops at the first broken link).
    let (_, report) = verify(&t.database_url);
    assert_ne!(report["broken"]["ticket"], other.as_str());
}
