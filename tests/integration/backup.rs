//! `baylanys backup` while the server takes appeals, and `baylanys restore` into a fresh
//! database: every appeal acknowledged before the backup started is there.

use std::process::Command;

use baylanys::auth::Role;

use crate::support::{Backend, appeal, fresh_database, spawn_on};

both_backends!(a_backup_taken_while_serving_restores_every_ticket);

fn baylanys(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .args(args)
        .output()
        .expect("baylanys runs")
}

async fn a_backup_taken_while_serving_restores_every_ticket(backend: Backend) {
    let (url, dir) = fresh_database(backend);
    let t = spawn_on(&url, dir, 0, Vec::new()).await;
    let mut before = Vec::new();
    for i in 0..40 {
        let r = t
            .post_json("/api/v1/appeals", appeal(&format!("Өтініш {i}")))
            .await;
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        before.push(v["number"].as_str().unwrap().to_string());
    }
    // Appeals keep coming while the backup runs.
    let writer = {
        let (client, base) = (t.client.clone(), t.url.clone());
        tokio::spawn(async move {
            let mut n = 0;
            for i in 0..60 {
                let r = client
                    .post(format!("{base}/api/v1/appeals"))
                    .json(&appeal(&format!("Кейінгі {i}")))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 201 {
                    n += 1;
                }
            }
            n
        })
    };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("baylanys.backup");
    let file_s = file.display().to_string();
    let (u2, f2) = (url.clone(), file_s.clone());
    let out = tokio::task::spawn_blocking(move || {
        baylanys(&["backup", "--to", &f2, "--database-url", &u2])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("tickets"));
    assert_eq!(writer.await.unwrap(), 60, "the server served throughout");

    // A second backup to the same file is refused; so is a restore over the open database.
    let again = baylanys(&["backup", "--to", &file_s, "--database-url", &url]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    if backend == Backend::Sqlite {
        let busy = baylanys(&["restore", "--from", &file_s, "--database-url", &url]);
        assert!(!busy.status.success());
        assert!(
            String::from_utf8_lossy(&busy.stderr).contains("stop `serve` first"),
            "{}",
            String::from_utf8_lossy(&busy.stderr)
        );
    }
    drop(t);

    // Restore into a fresh database and find every ticket acknowledged before.
    let (restored_url, restored_dir) = match backend {
        Backend::Sqlite => {
            let d = tempfile::tempdir().unwrap();
            (
                format!("sqlite://{}", d.path().join("restored.db").display()),
                Some(d),
            )
        }
        Backend::Postgres => (crate::support::postgres_database(), None),
    };
    let (u3, f3) = (restored_url.clone(), file_s.clone());
    let out = tokio::task::spawn_blocking(move || {
        baylanys(&["restore", "--from", &f3, "--database-url", &u3])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = spawn_on(&restored_url, restored_dir, 0, Vec::new()).await;
    let token = r.token("auditor", Role::Quality).await;
    for n in &before {
        let got = r.get_auth(&format!("/api/v1/tickets/{n}"), &token).await;
        assert_eq!(got.status(), 200, "{n} is in the restored database");
    }
    // Numbering goes on after the restored ones.
    let next = r
        .post_json("/api/v1/appeals", appeal("Қалпына келтірілгеннен кейін"))
        .await;
    assert_eq!(next.status(), 201);
    let v: serde_json::Value = next.json().await.unwrap();
    assert!(!before.contains(&v["number"].as_str().unwrap().to_string()));

    // A file that is not a backup is refused with the reason.
    let junk = work.path().join("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    if backend == Backend::Sqlite {
        let d = tempfile::tempdir().unwrap();
        let target = format!("sqlite://{}", d.path().join("x.db").display());
        let out = baylanys(&[
            "restore",
            "--from",
            &junk.display().to_string(),
            "--database-url",
            &target,
        ]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not an SQLite database"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
