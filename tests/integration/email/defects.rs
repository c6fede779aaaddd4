//! Mail that used to be lost or to block intake ("Nothing lost, nothing blocked"), each
//! case on SQLite and PostgreSQL.

use std::process::{Command, Stdio};

use baylanys::auth::Role;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::mail_support::Dovecot;
use super::{detail, ingest_cli, mail, mail_server, post_raw, ticket_count};
use crate::support::{Backend, TestApp, eventually, fresh_database, spawn, spawn_config};

both_backends!(
    i1_parallel_ingest_email_before_the_years_sequence_exists_stores_every_mail,
    i2_nul_and_control_characters_are_removed_before_storing,
    i3_forty_thousand_references_and_a_megabyte_message_id_are_registered,
    i3_a_mail_the_database_refuses_is_quarantined_and_the_mailbox_moves_on,
    i4_follow_ups_never_rewrite_the_ticket_and_a_flood_is_held,
    i5_a_reply_failing_dmarc_at_our_mta_opens_a_new_flagged_ticket,
    i6_ingest_email_refuses_a_message_over_the_size_limit,
    i7_a_later_appeal_does_not_rewrite_the_applicant_of_earlier_tickets,
    i9_ingest_email_never_creates_a_database_and_setting_mistakes_defer,
    i23_the_quarantine_is_paged_and_unmatched_delivery_reports_are_listed,
);

/// `baylanys migrate` on the URL: a database the one-shot commands may use.
pub fn migrate(database_url: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(["migrate", "--database-url", database_url])
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .stderr(Stdio::piped())
        .output()
        .expect("baylanys runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn count_tickets(database_url: &str) -> i64 {
    use baylanys::db::schema::tickets;
    let db = baylanys::db::Db::connect(database_url, 2).expect("database");
    db.run(|c| Ok(tickets::table.count().get_result(c)?))
        .await
        .expect("count")
}

/// Two MTA deliveries at once before the year's number sequence exists: the loser of its
/// creation used to be told "duplicate" (exit 0) and the mail was gone.
async fn i1_parallel_ingest_email_before_the_years_sequence_exists_stores_every_mail(
    backend: Backend,
) {
    let (url, _dir) = fresh_database(backend);
    migrate(&url);
    let outs: Vec<(Option<i32>, String, String)> = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|n| {
                    let url = &url;
                    s.spawn(move || {
                        let raw = mail(
                            &format!("race{n}@example.kz"),
                            &format!("race{n}@example.kz"),
                            "Гонка",
                            "",
                            "Одновременно.",
                        );
                        ingest_cli(url, &raw)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        })
    });
    for (code, out, err) in &outs {
        assert_eq!(*code, Some(0), "{out} {err}");
        assert!(out.starts_with("registered UCC-"), "{out} {err}");
    }
    assert_eq!(count_tickets(&url).await, 12);
}

async fn i2_nul_and_control_characters_are_removed_before_storing(backend: Backend) {
    let (_sink, t, ingest) = mail_server(backend).await;
    let raw = mail(
        "\"Ай\u{0}гүл\" <nul@example.kz>",
        "nul@example.kz",
        "Порт\u{0}ал\u{1b}",
        "",
        "Текст\u{0} с нулём\u{7}.",
    );
    let out = post_raw(&t, &ingest, raw).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    let op = t.token("op", Role::Operator).await;
    let d = detail(&t, &op, out["number"].as_str().expect("number")).await;
    assert_eq!(d["subject"], "Портал", "{d}");
    assert_eq!(d["messages"][0]["body_text"], "Текст с нулём.", "{d}");

    // The form's JSON twin: the same rule, whatever the backend.
    let r = t
        .post_json(
            "/api/v1/appeals",
            crate::support::appeal("Не могу\u{0} войти"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.expect("JSON");
    let d = detail(&t, &op, created["number"].as_str().expect("number")).await;
    assert_eq!(d["messages"][0]["body_text"], "Не могу войти", "{d}");
}

async fn i3_forty_thousand_references_and_a_megabyte_message_id_are_registered(backend: Backend) {
    let (_sink, t, ingest) = mail_server(backend).await;
    let refs: Vec<String> = (0..40_000)
        .map(|n| format!("<ref-{n}@example.kz>"))
        .collect();
    let long_id = format!("{}@example.kz", "m".repeat(1024 * 1024));
    let raw = mail(
        "refs@example.kz",
        &long_id,
        "Много ссылок",
        &format!("References: {}\r\n", refs.join(" ")),
        "Письмо с длинной цепочкой.",
    );
    let out = post_raw(&t, &ingest, raw.clone()).await;
    assert_eq!(out["outcome"], "registered", "{out}");
    // Its dedupe key is bounded too: the same mail again is a duplicate, not an error.
    let again = post_raw(&t, &ingest, raw).await;
    assert_eq!(again["outcome"], "duplicate", "{again}");
}

/// A trigger standing in for any fault of one message (not of the database): it refuses
/// messages whose subject is `poison`.
async fn refuse_poison(t: &TestApp, backend: Backend) {
    let sql = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages WHEN NEW.subject = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW \
             EXECUTE FUNCTION refuse_poison();"
        }
    };
    t.app
        .db
        .run(move |c| Ok(c.batch_execute(sql)?))
        .await
        .expect("trigger created");
}

async fn i3_a_mail_the_database_refuses_is_quarantined_and_the_mailbox_moves_on(backend: Backend) {
    let dovecot = Dovecot::start();
    let url = dovecot.url("?idle_timeout=5&backoff_min=1&backoff_max=1&connect_timeout=5");
    let t = spawn_config(backend, |c| c.imap_url = Some(url)).await;
    refuse_poison(&t, backend).await;
    dovecot.deliver(&mail(
        "p@example.kz",
        "poison@example.kz",
        "poison",
        "",
        "Яд.",
    ));
    for n in 0..3 {
        dovecot.deliver(&mail(
            &format!("after{n}@example.kz"),
            &format!("after{n}@example.kz"),
            "После",
            "",
            "Письмо после плохого.",
        ));
    }
    eventually("the mail after the refused one is registered", || async {
        ticket_count(&t).await == 3
    })
    .await;
    let op = t.token("op", Role::Operator).await;
    let list: serde_json::Value = t
        .get_auth("/api/v1/quarantine", &op)
        .await
        .json()
        .await
        .expect("JSON");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert!(
        items[0]["reason"]
            .as_str()
            .unwrap_or("")
            .contains("refused by the test trigger"),
        "{list}"
    );
    // The raw bytes are kept whole for the operator.
    let id = items[0]["id"].as_str().expect("id");
    let raw = t
        .get_auth(&format!("/api/v1/quarantine/{id}"), &op)
        .await
        .bytes()
        .await
        .expect("body");
    assert!(String::from_utf8_lossy(&raw).contains("Subject: poison"));
}

async fn i4_follow_ups_never_rewrite_the_ticket_and_a_flood_is_held(backend: Backend) {
    use baylanys::db::schema::{messages, tickets};
    let t = spawn_config(backend, |c| c.follow_ups_per_sender_per_hour = 3).await;
    let ingest = t.token("mta", Role::Ingest).await;
    let op = t.token("op", Role::Operator).await;
    let first = post_raw(
        &t,
        &ingest,
        mail("flood@example.kz", "f0@example.kz", "Вопрос", "", "Начало."),
    )
    .await;
    let number = first["number"].as_str().expect("number").to_string();
    let n = number.clone();
    let search_text = || {
        let n = n.clone();
        t.app.db.run(move |c| {
            Ok(tickets::table
                .filter(tickets::number.eq(n))
                .select(tickets::search_text)
                .first::<String>(c)?)
        })
    };
    let before = search_text().await.expect("search text");
    for k in 1..=5 {
        let out = post_raw(
            &t,
            &ingest,
            mail(
                "flood@example.kz",
                &format!("f{k}@example.kz"),
                &format!("Re: [{number}] Вопрос"),
                "",
                &format!("Дополнение слово{k}."),
            ),
        )
        .await;
        assert_eq!(out["outcome"], "appended", "{out}");
    }
    assert_eq!(search_text().await.expect("search text"), before);
    // A word of a follow-up still finds the ticket.
    let found: serde_json::Value = t
        .get_auth("/api/v1/tickets?q=слово2", &op)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(found["tickets"][0]["number"], number.as_str(), "{found}");
    let kinds: Vec<String> = t
        .app
        .db
        .run(|c| {
            Ok(messages::table
                .filter(messages::direction.eq("in"))
                .order(messages::created_at.asc())
                .select(messages::kind)
                .load(c)?)
        })
        .await
        .expect("kinds");
    assert_eq!(
        kinds,
        ["appeal", "appeal", "appeal", "appeal", "held", "held"],
        "three follow-ups an hour, the rest held"
    );
    let d = detail(&t, &op, &number).await;
    let held = d["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "follow_up_held")
        .count();
    assert_eq!(held, 2, "{d}");
}

async fn i5_a_reply_failing_dmarc_at_our_mta_opens_a_new_flagged_ticket(backend: Backend) {
    let t = spawn_config(backend, |c| {
        c.trusted_authserv_id = Some("mx.goscorp.kz".into())
    })
    .await;
    let ingest = t.token("mta", Role::Ingest).await;
    let op = t.token("op", Role::Operator).await;
    let first = post_raw(
        &t,
        &ingest,
        mail("aigul@example.kz", "a0@example.kz", "Портал", "", "Вопрос."),
    )
    .await;
    let number = first["number"].as_str().expect("number").to_string();
    // A forger quotes the number from Aigul's address and adds a "pass" header of ours
    // below the one our MTA put on top.
    let forged = post_raw(
        &t,
        &ingest,
        mail(
            "aigul@example.kz",
            "forged@evil.example",
            &format!("Re: [{number}] Портал"),
            "Authentication-Results: mx.goscorp.kz; spf=fail smtp.mailfrom=evil.example; \
             dmarc=fail header.from=example.kz\r\n\
             Authentication-Results: mx.goscorp.kz; dmarc=pass header.from=example.kz\r\n",
            "Переведите деньги.",
        ),
    )
    .await;
    assert_eq!(forged["outcome"], "registered", "{forged}");
    assert_ne!(forged["number"], number.as_str());
    let d = detail(&t, &op, forged["number"].as_str().expect("number")).await;
    assert!(
        super::super::has_event(&d, "sender_not_authenticated"),
        "{d}"
    );
    assert_eq!(
        detail(&t, &op, &number).await["messages"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "only the ack joined the first ticket"
    );
    // Authenticated mail from the applicant still joins.
    let genuine = post_raw(
        &t,
        &ingest,
        mail(
            "aigul@example.kz",
            "a1@example.kz",
            &format!("Re: [{number}] Портал"),
            "Authentication-Results: mx.goscorp.kz; dkim=pass; dmarc=pass header.from=example.kz\r\n",
            "Уточнение.",
        ),
    )
    .await;
    assert_eq!(genuine["outcome"], "appended", "{genuine}");
}

async fn i6_ingest_email_refuses_a_message_over_the_size_limit(backend: Backend) {
    let (url, _dir) = fresh_database(backend);
    migrate(&url);
    let raw = mail(
        "big@example.kz",
        "big@example.kz",
        "Большое",
        "",
        &"x".repeat(40_000),
    );
    let out = tokio::task::block_in_place(|| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baylanys"))
            .args([
                "ingest-email",
                "--database-url",
                &url,
                "--max-message-bytes",
                "20000",
            ])
            .env_remove("BAYLANYS_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baylanys runs");
        use std::io::Write;
        // The command may stop reading at the limit: a broken pipe here is its answer.
        let _ = child.stdin.take().expect("stdin").write_all(&raw);
        child.wait_with_output().expect("baylanys ends")
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("larger than 20000 bytes"), "{err}");
    assert_eq!(count_tickets(&url).await, 0);
}

async fn i7_a_later_appeal_does_not_rewrite_the_applicant_of_earlier_tickets(backend: Backend) {
    let t = spawn(backend).await;
    let op = t.token("op", Role::Operator).await;
    let mut first = crate::support::appeal("Первое обращение");
    first["name"] = "Айгүл Серікқызы".into();
    first["phone"] = "+7 701 234 5678".into();
    let mut second = crate::support::appeal("Второе обращение");
    second["name"] = "Кто-то Другой".into();
    second["phone"] = "+7 777 000 1122".into();
    let a: serde_json::Value = t
        .post_json("/api/v1/appeals", first)
        .await
        .json()
        .await
        .expect("JSON");
    let b: serde_json::Value = t
        .post_json("/api/v1/appeals", second)
        .await
        .json()
        .await
        .expect("JSON");
    let da = detail(&t, &op, a["number"].as_str().expect("number")).await;
    let db = detail(&t, &op, b["number"].as_str().expect("number")).await;
    assert_eq!(da["contact"]["name"], "Айгүл Серікқызы", "{da}");
    assert_eq!(da["contact"]["phone"], "+77012345678", "{da}");
    assert_eq!(db["contact"]["name"], "Кто-то Другой", "{db}");
    assert_eq!(db["contact"]["phone"], "+77770001122", "{db}");
}

async fn i9_ingest_email_never_creates_a_database_and_setting_mistakes_defer(backend: Backend) {
    let raw = mail("x@example.kz", "x@example.kz", "Тест", "", "Текст.");
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}",
            dir.path().join("moved/baylanys.db").display()
        ),
        Backend::Postgres => {
            let (url, _) = fresh_database(backend);
            format!("{}_missing", url)
        }
    };
    let (code, out, err) = tokio::task::block_in_place(|| ingest_cli(&missing, &raw));
    assert_eq!(code, Some(75), "{out} {err}");
    assert!(err.contains("try again later"), "{err}");
    assert!(
        !dir.path().join("moved").exists(),
        "no folder or database was created"
    );

    let (url, _dir) = fresh_database(backend);
    migrate(&url);
    for args in [
        &["--config", "/nonexistent/baylanys.toml"][..],
        &["--working-hours", "nine to five"][..],
        &["--no-such-flag"][..],
    ] {
        let out = tokio::task::block_in_place(|| {
            Command::new(env!("CARGO_BIN_EXE_baylanys"))
                .arg("ingest-email")
                .args(["--database-url", &url])
                .args(args)
                .env_remove("BAYLANYS_DATABASE_URL")
                .stdin(Stdio::null())
                .output()
                .expect("baylanys runs")
        });
        assert_eq!(
            out.status.code(),
            Some(75),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(count_tickets(&url).await, 0);
}

async fn i23_the_quarantine_is_paged_and_unmatched_delivery_reports_are_listed(backend: Backend) {
    let (_sink, t, ingest) = mail_server(backend).await;
    let op = t.token("op", Role::Operator).await;
    for n in 0..5 {
        let raw = format!("To: support@goscorp.kz\r\nSubject: nobody {n}\r\n\r\nx\r\n");
        let out = post_raw(&t, &ingest, raw.into_bytes()).await;
        assert_eq!(out["outcome"], "quarantined", "{out}");
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/quarantine?limit=2&after={a}"),
            None => "/api/v1/quarantine?limit=2".to_string(),
        };
        let page: serde_json::Value = t.get_auth(&path, &op).await.json().await.expect("JSON");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["id"].as_str().expect("id").to_string());
        }
        match page["next_after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 5, "every quarantined mail on some page, once");
    assert_eq!(
        t.get_auth("/api/v1/quarantine?limit=500", &op)
            .await
            .status(),
        422
    );

    let report = super::dsn_for("never-sent-by-us@goscorp.kz");
    let out = post_raw(&t, &ingest, report).await;
    assert_eq!(out["outcome"], "delivery_status", "{out}");
    let list: serde_json::Value = t
        .get_auth("/api/v1/delivery-reports/unmatched", &op)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        t.get_auth("/api/v1/delivery-reports/unmatched", &ingest)
            .await
            .status(),
        403
    );
}

/// SQLite syncs every commit by default (a 201 survives a power cut); NORMAL on request.
/// PostgreSQL's durability is its server's setting (`synchronous_commit`), not ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i10_sqlite_commits_are_synchronous_full_by_default() {
    use baylanys::db::{Db, OpenOptions, Synchronous};
    let (url, _dir) = fresh_database(Backend::Sqlite);
    let level = |synchronous| {
        let db = Db::open(
            &url,
            OpenOptions {
                pool_size: 2,
                create: true,
                synchronous,
                background_checkpoint: true,
            },
        )
        .expect("database");
        async move {
            db.run(|c| {
                #[derive(QueryableByName)]
                struct Level {
                    #[diesel(sql_type = diesel::sql_types::Integer)]
                    synchronous: i32,
                }
                let l: Level = diesel::sql_query("PRAGMA synchronous").get_result(c)?;
                Ok(l.synchronous)
            })
            .await
            .expect("pragma")
        }
    };
    assert_eq!(level(Synchronous::Full).await, 2, "FULL");
    assert_eq!(level(Synchronous::Normal).await, 1, "NORMAL");
    let config = crate::support::test_config(&url, 0);
    assert_eq!(config.sqlite_synchronous, Synchronous::Full);
}
