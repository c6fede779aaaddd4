//! The integration suite: real servers on port 0, driven over HTTP, each scenario run
//! against SQLite and against PostgreSQL.

mod browser;
mod calendar_rules;
mod process;
mod properties;
mod support;

use std::sync::Arc;

use baylanys::auth::Role;
use baylanys_core::{Channel, ChannelAdapter, InboundMessage, OutboundKind, Sender};
use support::{Backend, RecordingAdapter, appeal, eventually, spawn, spawn_with};

/// Runs a scenario once per backend, as two tests.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

mod email;
mod forwards;
mod hosts;
mod kb;
mod mta;
// After the macro, which they use.
mod access;
mod audit;
mod backup;
mod calls;
mod console;
mod doctor;
mod faults;
mod openapi;
mod outages;
mod portal_admin;
mod portal_agency;
mod portal_dashboard;
mod portal_ici;
mod registry;
mod reports;
mod retention;
mod services;
mod status_page;
mod telegram;
mod ticket_page;
mod timers;
mod web_input;
mod whatsapp;

both_backends!(
    r4_r5_appeal_is_registered_with_number_and_two_working_day_deadline,
    bad_input_gets_problem_json_naming_each_field,
    r8_ticket_lifecycle_assign_reply_transfer_close,
    rate_limit_answers_429_with_retry_after,
    r4_chat_follow_up_joins_the_open_ticket_and_reopens_it,
    failed_sends_retry_and_a_permanent_failure_stays_visible,
    tickets_are_listed_with_filters_search_and_keyset_pages,
    c1_calendar_api_answers_due_dates_years_and_admin_overrides,
    operator_api_requires_a_token_and_the_right_role,
    housekeeping_forgets_old_finished_work_and_keeps_failures,
    web_form_attachments_are_checked_stored_and_downloadable,
    shutdown_joins_every_thread_and_task,
    readyz_reports_the_database_migrations_loops_and_channels,
    metrics_can_require_a_bearer_token,
);

/// With BAYLANYS_METRICS_TOKEN set, /metrics answers only the scraper that has it.
async fn metrics_can_require_a_bearer_token(backend: Backend) {
    let t =
        support::spawn_config(backend, |c| c.metrics_token = Some("scrape-me-1234".into())).await;
    let url = format!("{}/metrics", t.url);
    let r = t.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .client
        .get(&url)
        .bearer_auth("scrape-me-1234")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("baylanys_"));
}

/// `/readyz`: ready once the database answers with every migration and the background
/// loops go round; channels say how they are configured. Stopped loops make it 503.
async fn readyz_reports_the_database_migrations_loops_and_channels(backend: Backend) {
    let t = spawn(backend).await;
    let url = format!("{}/readyz", t.url);
    eventually("the server is ready", || {
        let (c, url) = (t.client.clone(), url.clone());
        async move { c.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let v: serde_json::Value = t
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["migrations"], "applied");
    assert_eq!(v["checks"]["job_worker"], "running");
    assert_eq!(v["checks"]["timers"], "running");
    assert_eq!(v["channels"]["email_out"], "not configured");
    assert_eq!(v["channels"]["telegram"], "not configured");
    // Loops that stopped going round: not ready, and it says which.
    t.app.shutdown.cancel();
    t.app
        .beats
        .worker
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let r = t.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "not ready");
    assert!(
        v["checks"]["job_worker"]
            .as_str()
            .unwrap()
            .starts_with("stuck"),
        "{v}"
    );
}

/// Stopping ends the HTTP server, the registrar's writer threads and every background
/// task; afterwards nothing but the caller holds the shared state.
async fn shutdown_joins_every_thread_and_task(backend: Backend) {
    let (url, _dir) = support::fresh_database(backend);
    let config = support::test_config(&url, 0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = baylanys::Application::build(config)
        .await
        .expect("builds")
        .with_listener(listener)
        .start()
        .await
        .expect("starts");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{}/api/v1/appeals", app.addr))
        .json(&appeal("Перед остановкой"))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 201);
    drop(client);
    let state = app.state.clone();
    let stopped = app.stop().await;
    let writers = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    };
    assert_eq!(stopped.registrar_threads, writers);
    assert_eq!(
        stopped.tasks, 5,
        "worker, timers, housekeeping, audit sealing, search indexing"
    );
    // The HTTP workers let go of their copy as their threads wind down, just after.
    eventually("no thread or task still holds the state", || {
        let n = Arc::strong_count(&state);
        async move { n == 1 }
    })
    .await;
}

fn form_with(file_name: &str, content: &[u8], mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(content.to_vec())
        .file_name(file_name.to_string())
        .mime_str(mime)
        .expect("mime");
    reqwest::multipart::Form::new()
        .text("name", "Иванов Иван")
        .text("email", "ivanov@example.kz")
        .text("region", "almaty")
        .text("topic", "public_service")
        .text("text", "Прилагаю справку.")
        .text("consent", "yes")
        .text("language", "ru")
        .part("attachments", part)
}

async fn web_form_attachments_are_checked_stored_and_downloadable(backend: Backend) {
    let t = spawn(backend).await;
    let pdf = b"%PDF-1.4 a certificate".to_vec();
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form_with("справка.pdf", &pdf, "application/pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let number = location
        .trim_start_matches("/appeals/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let op = t.token("op", Role::Operator).await;
    let d: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    let file = &d["messages"][0]["attachments"][0];
    assert_eq!(file["file_name"], "справка.pdf");
    assert_eq!(file["size"], pdf.len());
    let r = t
        .get_auth(
            &format!("/api/v1/attachments/{}", file["id"].as_str().unwrap()),
            &op,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
    assert_eq!(
        t.get_auth("/api/v1/attachments/nope", &op).await.status(),
        404
    );

    // A program is refused, with the file named, and nothing is registered.
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form_with("setup.exe", b"MZ", "application/octet-stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("setup.exe"));
    let list: serde_json::Value = t
        .get_auth("/api/v1/tickets", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    t.stop().await;
}

async fn housekeeping_forgets_old_finished_work_and_keeps_failures(backend: Backend) {
    use baylanys::db::schema::{channel_state, jobs, telegram_updates};
    use diesel::prelude::*;
    let t = spawn(backend).await;
    let old = (chrono::Utc::now() - chrono::Duration::days(45)).naive_utc();
    let fresh = chrono::Utc::now().naive_utc();
    t.app
        .db
        .write(move |c| {
            for (id, status, at) in [
                ("old-done", "done", old),
                ("old-failed", "failed", old),
                ("new-done", "done", fresh),
            ] {
                diesel::insert_into(jobs::table)
                    .values((
                        jobs::id.eq(id),
                        jobs::kind.eq("deliver"),
                        jobs::payload.eq("{}"),
                        jobs::status.eq(status),
                        jobs::run_at.eq(at),
                        jobs::attempts.eq(1),
                        jobs::max_attempts.eq(8),
                        jobs::created_at.eq(at),
                        jobs::updated_at.eq(at),
                    ))
                    .execute(c)?;
            }
            for (update_id, at) in [(1i64, old), (2, fresh)] {
                diesel::insert_into(telegram_updates::table)
                    .values((
                        telegram_updates::update_id.eq(update_id),
                        telegram_updates::handled_at.eq(at),
                    ))
                    .execute(c)?;
            }
            diesel::insert_into(channel_state::table)
                .values((
                    channel_state::key.eq("tg:offset"),
                    channel_state::value.eq("x"),
                    channel_state::updated_at.eq(old),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    t.app.housekeeping().await;
    let (job_ids, keys, updates) = t
        .app
        .db
        .run(|c| {
            // Timer ticks add jobs of their own; this test is about the deliveries.
            let mut j: Vec<String> = jobs::table
                .filter(jobs::kind.eq("deliver"))
                .select(jobs::id)
                .load(c)?;
            let mut k: Vec<String> = channel_state::table.select(channel_state::key).load(c)?;
            let u: Vec<i64> = telegram_updates::table
                .select(telegram_updates::update_id)
                .load(c)?;
            j.sort();
            k.sort();
            Ok((j, k, u))
        })
        .await
        .unwrap();
    assert_eq!(job_ids, ["new-done", "old-failed"]);
    assert_eq!(keys, ["tg:offset"]);
    assert_eq!(updates, [2]);
    t.stop().await;
}

async fn r4_r5_appeal_is_registered_with_number_and_two_working_day_deadline(backend: Backend) {
    let t = spawn(backend).await;
    let resp = t
        .post_json(
            "/api/v1/appeals",
            appeal("Порталға кіре алмаймын, көмектесіңіз"),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: serde_json::Value = resp.json().await.unwrap();
    let number = body["number"].as_str().unwrap();
    let year = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Almaty)
        .format("%Y")
        .to_string();
    assert_eq!(number, format!("UCC-{year}-000001"));
    assert_eq!(location, body["status_url"].as_str().unwrap());
    // The link opens the status page in the appeal's language (Kazakh here).
    assert!(location.ends_with("&lang=kk"), "{location}");

    // R5: the deadline is the calendar's, from the registration instant.
    let registered =
        chrono::DateTime::parse_from_rfc3339(body["registered_at"].as_str().unwrap()).unwrap();
    let expected = t
        .app
        .calendar()
        .reply_due(
            registered.with_timezone(&chrono::Utc),
            &t.app.config.working_hours,
        )
        .unwrap();
    assert_eq!(
        body["due_at"],
        baylanys::calendar::format_almaty(expected.due_at)
    );
    assert!(
        body["due_at"]
            .as_str()
            .unwrap()
            .ends_with("T18:30:00+05:00")
    );

    // Numbers follow each other.
    let second: serde_json::Value = t
        .post_json("/api/v1/appeals", appeal("Второе обращение"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["number"], format!("UCC-{year}-000002"));

    // The operator sees the ticket, its language, its deadline explanation and its audit log.
    let token = t.token("aliya", Role::Operator).await;
    let detail: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "new");
    assert_eq!(detail["language"], "kk");
    assert_eq!(detail["channel"], "web_form");
    assert_eq!(detail["region"], "astana");
    assert_eq!(detail["deadline"]["rule"], "R5");
    assert!(
        detail["deadline"]["explanation"]["ru"]
            .as_str()
            .unwrap()
            .contains("R5")
    );
    assert_eq!(detail["events"][0]["kind"], "registered");
    assert_eq!(
        detail["messages"][0]["body_text"],
        "Порталға кіре алмаймын, көмектесіңіз"
    );

    // The status link works only with its key.
    let page = t.client.get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(number));
    let wrong = t
        .client
        .get(format!("{}/appeals/{number}?key=nope", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    t.stop().await;
}

async fn bad_input_gets_problem_json_naming_each_field(backend: Backend) {
    let t = spawn(backend).await;
    let resp = t
        .post_json(
            "/api/v1/appeals",
            serde_json::json!({"name": "", "email": "not-an-email", "iin": "123456789012", "region": "mars", "text": "", "consent": false}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = resp.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["name", "email", "iin", "region", "topic", "text", "consent"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    // The honeypot catches bots.
    let mut bot = appeal("spam");
    bot["website"] = "http://spam.example".into();
    let resp = t.post_json("/api/v1/appeals", bot).await;
    assert_eq!(resp.status(), 422);
    // Broken JSON is a 400 that says so.
    let resp = t
        .client
        .post(format!("{}/api/v1/appeals", t.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let p: serde_json::Value = resp.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("JSON"));
    // Nothing was registered.
    let token = t.token("op", Role::Operator).await;
    let list: serde_json::Value = t
        .get_auth("/api/v1/tickets", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 0);
    t.stop().await;
}

async fn r8_ticket_lifecycle_assign_reply_transfer_close(backend: Backend) {
    let t = spawn(backend).await;
    let body: serde_json::Value = t
        .post_json("/api/v1/appeals", appeal("Не приходит SMS-код"))
        .await
        .json()
        .await
        .unwrap();
    let number = body["number"].as_str().unwrap().to_string();
    let status_url = body["status_url"].as_str().unwrap().to_string();
    let op = t.token("operator1", Role::Operator).await;
    let path = |action: &str| format!("/api/v1/tickets/{number}/{action}");

    let r = t
        .post_auth(
            &path("assign"),
            &op,
            serde_json::json!({"login": "operator1"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .post_auth(&path("assign"), &op, serde_json::json!({"login": "ghost"}))
        .await;
    assert_eq!(r.status(), 422);

    // Queues are kept by administrators: the target must exist.
    let admin = t.token("admin1", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/queues",
            &admin,
            serde_json::json!({"code": "ecp", "name_kk": "ЭЦҚ", "name_ru": "ЭЦП"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = t
        .post_auth(
            &path("transfer"),
            &op,
            serde_json::json!({"queue": "ecp", "note": "вопрос по ЭЦП"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .post_auth(
            &path("replies"),
            &op,
            serde_json::json!({"text": "Проверьте номер телефона в профиле."}),
        )
        .await;
    assert_eq!(r.status(), 202);

    let detail: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "answered");
    assert_eq!(detail["queue"], "ecp");
    assert!(detail["answered_at"].is_string());
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["registered", "assigned", "transferred", "replied"]);
    // R8: the applicant is told of the transfer; the reply is published on the status page.
    let notices: Vec<&serde_json::Value> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "notice")
        .collect();
    assert_eq!(notices.len(), 1);
    let page = t
        .client
        .get(&status_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Проверьте номер телефона в профиле."),
        "{page}"
    );

    let r = t
        .post_auth(
            &path("close"),
            &op,
            serde_json::json!({"resolution": "resolved"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .post_auth(&path("close"), &op, serde_json::json!({}))
        .await;
    assert_eq!(r.status(), 409);
    let r = t
        .post_auth(&path("replies"), &op, serde_json::json!({"text": "ещё"}))
        .await;
    assert_eq!(r.status(), 409);
    let r = t
        .post_auth(
            "/api/v1/tickets/UCC-2026-999999/close",
            &op,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 404);

    // An operator reopens the closed ticket, sets it waiting on the applicant, and the
    // states that send messages are refused here.
    let status = |s: &'static str| serde_json::json!({"status": s, "reason": "asked for the IIN"});
    assert_eq!(
        t.post_auth(&path("status"), &op, status("open"))
            .await
            .status(),
        204
    );
    assert_eq!(
        t.post_auth(&path("status"), &op, status("waiting"))
            .await
            .status(),
        204
    );
    assert_eq!(
        t.post_auth(&path("status"), &op, status("waiting"))
            .await
            .status(),
        409
    );
    assert_eq!(
        t.post_auth(&path("status"), &op, status("closed"))
            .await
            .status(),
        422
    );
    assert_eq!(
        t.post_auth(&path("status"), &op, status("lost"))
            .await
            .status(),
        422
    );
    let detail: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "waiting");
    assert!(detail["closed_at"].is_null());
    assert!(has_event(&detail, "reopened") && has_event(&detail, "status_changed"));
    t.stop().await;
}

async fn rate_limit_answers_429_with_retry_after(backend: Backend) {
    let t = spawn_with(backend, 2, Vec::new()).await;
    for _ in 0..2 {
        assert_eq!(
            t.post_json("/api/v1/appeals", appeal("текст"))
                .await
                .status(),
            201
        );
    }
    let r = t.post_json("/api/v1/appeals", appeal("текст")).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    // X-Forwarded-For from an untrusted peer changes nothing.
    let r = t
        .client
        .post(format!("{}/api/v1/appeals", t.url))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&appeal("текст"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    t.stop().await;

    // Behind a trusted reverse proxy, each client has its own budget.
    let t = support::spawn_config(backend, |c| {
        c.rate_limit_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |ip: &'static str| {
        t.client
            .post(format!("{}/api/v1/appeals", t.url))
            .header("X-Forwarded-For", format!("198.51.100.7, {ip}"))
            .json(&appeal("текст"))
            .send()
    };
    assert_eq!(from("203.0.113.1").await.unwrap().status(), 201);
    assert_eq!(from("203.0.113.2").await.unwrap().status(), 201);
    assert_eq!(from("203.0.113.1").await.unwrap().status(), 429);
    t.stop().await;
}

fn telegram_message(chat: &str, text: &str) -> InboundMessage {
    let mut m = InboundMessage::new(
        Channel::Telegram,
        Sender {
            address: chat.into(),
            display_name: Some("Ерлан".into()),
            ..Default::default()
        },
        text,
    );
    m.thread.conversation = Some(chat.into());
    m
}

async fn r4_chat_follow_up_joins_the_open_ticket_and_reopens_it(backend: Backend) {
    let bot = RecordingAdapter::new(Channel::Telegram);
    let t = spawn_with(backend, 0, vec![bot.clone() as Arc<dyn ChannelAdapter>]).await;
    let first = t
        .app
        .registrar()
        .register(telegram_message("5001", "Здравствуйте, вопрос по пособию"))
        .await
        .unwrap();
    assert!(first.new_ticket);
    assert_eq!(first.language, baylanys_core::Language::Ru);
    let again = t
        .app
        .registrar()
        .register(telegram_message("5001", "Дополнение: номер заявки 123"))
        .await
        .unwrap();
    assert!(!again.new_ticket);
    assert_eq!(again.number, first.number);
    // The acknowledgement goes back through Telegram, once, with the number and deadline;
    // the follow-up gets its "added to your appeal" notice through the same job queue.
    let of_kind = |kind: OutboundKind| {
        bot.sent()
            .into_iter()
            .filter(|m| m.kind == kind)
            .collect::<Vec<_>>()
    };
    eventually(
        "the acknowledgement and the notice are delivered",
        || async {
            !of_kind(OutboundKind::Acknowledgement).is_empty()
                && !of_kind(OutboundKind::Notice).is_empty()
        },
    )
    .await;
    let acks = of_kind(OutboundKind::Acknowledgement);
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    let notices = of_kind(OutboundKind::Notice);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].body_text.contains(&first.number));
    assert_eq!(ack.recipient, "5001");
    assert!(ack.body_text.contains(&first.number));
    assert!(
        ack.body_text
            .contains(&baylanys::templates::local_time(first.due_at))
    );

    let op = t.token("op", Role::Operator).await;
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{}/replies", first.number),
            &op,
            serde_json::json!({"text": "Ответ оператора"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{}/close", first.number),
            &op,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    // R10: closing a chat ticket asks for a rating.
    eventually("reply and rating request delivered", || async {
        !of_kind(OutboundKind::Reply).is_empty() && !of_kind(OutboundKind::RatingRequest).is_empty()
    })
    .await;

    // A closed ticket is not continued by the chat: a new message opens a new ticket.
    let after = t
        .app
        .registrar()
        .register(telegram_message("5001", "Новый вопрос"))
        .await
        .unwrap();
    assert!(after.new_ticket);
    assert_ne!(after.number, first.number);

    // Ratings are recorded once.
    let n = first.number.clone();
    let outcomes = t
        .app
        .db
        .write(move |c| {
            Ok((
                baylanys::tickets::rate(c, &n, 5, "telegram:5001")?,
                baylanys::tickets::rate(c, &n, 1, "telegram:5001")?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        (
            baylanys::tickets::RatingOutcome::Recorded,
            baylanys::tickets::RatingOutcome::AlreadyRated
        )
    );

    // Reopen: an answered ticket goes back to open when the applicant writes again.
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{}/replies", after.number),
            &op,
            serde_json::json!({"text": "Ответ"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    t.app
        .registrar()
        .register(telegram_message("5001", "Не помогло"))
        .await
        .unwrap();
    let d: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{}", after.number), &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["status"], "open");
    assert!(has_event(&d, "reopened"));
    t.stop().await;
}

async fn failed_sends_retry_and_a_permanent_failure_stays_visible(backend: Backend) {
    let flaky = RecordingAdapter::new(Channel::Telegram);
    *flaky.fail_first.lock().unwrap() = 2;
    let t = spawn_with(backend, 0, vec![flaky.clone() as Arc<dyn ChannelAdapter>]).await;
    let reg = t
        .app
        .registrar()
        .register(telegram_message("6001", "Вопрос"))
        .await
        .unwrap();
    eventually("delivered after two temporary failures", || async {
        flaky.sent().len() == 1
    })
    .await;
    let op = t.token("op", Role::Operator).await;
    let d: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{}", reg.number), &op)
        .await
        .json()
        .await
        .unwrap();
    let ack = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "acknowledgement")
        .unwrap()
        .clone();
    assert_eq!(ack["delivery_status"], "sent");
    t.stop().await;

    let blocked = Arc::new(RecordingAdapter {
        channel: Some(Channel::Telegram),
        permanent_failure: true,
        ..Default::default()
    });
    let t = spawn_with(backend, 0, vec![blocked as Arc<dyn ChannelAdapter>]).await;
    let reg = t
        .app
        .registrar()
        .register(telegram_message("6002", "Вопрос"))
        .await
        .unwrap();
    let op = t.token("op", Role::Operator).await;
    let url = format!("/api/v1/tickets/{}", reg.number);
    eventually("the failed delivery is visible on the ticket", || async {
        let d: serde_json::Value = t.get_auth(&url, &op).await.json().await.unwrap();
        d["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["delivery_status"] == "failed")
    })
    .await;
    let d: serde_json::Value = t.get_auth(&url, &op).await.json().await.unwrap();
    let failed = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["delivery_status"] == "failed")
        .unwrap()
        .clone();
    assert!(
        failed["delivery_error"]
            .as_str()
            .unwrap()
            .contains("blocked")
    );
    assert!(has_event(&d, "delivery_failed"));
    t.stop().await;
}

async fn tickets_are_listed_with_filters_search_and_keyset_pages(backend: Backend) {
    let t = spawn(backend).await;
    for text in [
        "Жеке куәлік туралы сұрақ",
        "Вопрос о справке о несудимости",
        "Вопрос об ЭЦП",
        "Справка о прописке",
    ] {
        assert_eq!(
            t.post_json("/api/v1/appeals", appeal(text)).await.status(),
            201
        );
    }
    let op = t.token("op", Role::Operator).await;
    let get = |q: &str| {
        let q = q.to_string();
        let t = &t;
        let op = op.clone();
        async move {
            let r = t.get_auth(&format!("/api/v1/tickets{q}"), &op).await;
            assert_eq!(r.status(), 200, "{q}");
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let all = get("").await;
    assert_eq!(all["tickets"].as_array().unwrap().len(), 4);
    // Full-text in Russian (case-insensitive beyond ASCII) and Kazakh.
    assert_eq!(
        get("?q=%D0%A1%D0%9F%D0%A0%D0%90%D0%92%D0%9A").await["tickets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get("?q=%D0%BA%D1%83%D3%99%D0%BB%D1%96%D0%BA").await["tickets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get("?status=new&channel=web_form&overdue=false").await["tickets"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        get("?overdue=true").await["tickets"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Keyset pages: two, then two more, then none; no ticket twice.
    let p1 = get("?limit=2").await;
    let after = p1["next_after"].as_str().unwrap().to_string();
    let p2 = get(&format!("?limit=2&after={after}")).await;
    let mut numbers: Vec<String> = p1["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["tickets"].as_array().unwrap())
        .map(|t| t["number"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 4);
    let bad = t.get_auth("/api/v1/tickets?status=lost", &op).await;
    assert_eq!(bad.status(), 422);
    t.stop().await;
}

async fn c1_calendar_api_answers_due_dates_years_and_admin_overrides(backend: Backend) {
    let t = spawn(backend).await;
    let due: serde_json::Value = t
        .client
        .get(format!(
            "{}/api/v1/calendar/due?from=2025-03-07T10:00:00%2B05:00&working_days=2",
            t.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(due["due_at"], "2025-03-12T18:30:00+05:00");
    assert_eq!(due["effective_from"], "2025-03-07");
    let r = t
        .client
        .get(format!(
            "{}/api/v1/calendar/due?from=2025-03-07T10:00&working_days=2",
            t.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("offset"));
    let r = t
        .client
        .get(format!(
            "{}/api/v1/calendar/due?from=2025-03-07T10:00:00Z&working_days=400",
            t.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let year: serde_json::Value = t
        .client
        .get(format!("{}/api/v1/calendar/2026", t.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let days = year["days"].as_array().unwrap();
    assert!(
        days.iter()
            .any(|d| d["date"] == "2026-03-24" && d["working"] == false)
    );
    let ics = t
        .client
        .get(format!("{}/calendar/2026.ics", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ics.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let ics = ics.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.contains("DTSTART;VALUE=DATE:20260324"));

    // Kurban Ait 2027 set by an administrator; an operator may not.
    let admin = t.token("admin", Role::Admin).await;
    let op = t.token("op", Role::Operator).await;
    let body = serde_json::json!({"kind": "day-off", "note": "Kurban Ait 2027, Government decree"});
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/days/2027-05-17", t.url))
        .bearer_auth(&op)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/days/2027-05-17", t.url))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: serde_json::Value = t
        .client
        .get(format!(
            "{}/api/v1/calendar/due?from=2027-05-14T10:00:00%2B05:00&working_days=2",
            t.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Fri 14 May: Mon 17 is now off, so the 2nd working day is Wed 19 May.
    assert_eq!(after["due_at"], "2027-05-19T18:30:00+05:00");
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/days/2027-05-18", t.url))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"kind": "party", "note": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["kind", "note"]);

    // 2027's deadlines warn that its movable days are not set, until an administrator
    // confirms them.
    let due_2027 = || async {
        t.client
            .get(format!(
                "{}/api/v1/calendar/due?from=2027-05-14T10:00:00%2B05:00",
                t.url
            ))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = due_2027().await;
    assert!(
        before["explanation"]["en"]
            .as_str()
            .unwrap()
            .contains("not set"),
        "{before}"
    );
    let body = serde_json::json!({"note": "Kurban Ait 2027 by decree; no transfers"});
    let url = format!("{}/api/v1/calendar/2027/movable-days", t.url);
    let r = t
        .client
        .put(&url)
        .bearer_auth(&op)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = t
        .client
        .put(&url)
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let year: serde_json::Value = r.json().await.unwrap();
    assert_eq!(year["movable_days_set"], true);
    let after = due_2027().await;
    assert!(
        !after["explanation"]["en"]
            .as_str()
            .unwrap()
            .contains("not set"),
        "{after}"
    );
    t.stop().await;
}

async fn operator_api_requires_a_token_and_the_right_role(backend: Backend) {
    let t = spawn(backend).await;
    let r = t
        .client
        .get(format!("{}/api/v1/tickets", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = t.get_auth("/api/v1/tickets", "bay_wrong").await;
    assert_eq!(r.status(), 401);
    let quality = t.token("qa", Role::Quality).await;
    assert_eq!(t.get_auth("/api/v1/tickets", &quality).await.status(), 200);
    let body: serde_json::Value = t
        .post_json("/api/v1/appeals", appeal("текст"))
        .await
        .json()
        .await
        .unwrap();
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{}/close", body["number"].as_str().unwrap()),
            &quality,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        t.client
            .get(format!("{}/healthz", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = t
        .client
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("baylanys_appeals_registered_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("baylanys_tickets_open 1"));
    // Registrations by channel, the queue depth by kind, and request latency.
    assert!(
        metrics.contains("baylanys_registrations{channel=\"web_form\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE baylanys_jobs_waiting gauge"));
    assert!(metrics.contains("# TYPE baylanys_http_request_duration_seconds histogram"));
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("baylanys_http_request_duration_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok())
        .expect("a request count");
    assert!(count >= 3, "{metrics}");
    t.stop().await;
}

/// Two instances on one PostgreSQL database: every job runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_run_each_job_once() {
    let bot = RecordingAdapter::new(Channel::Telegram);
    let a = spawn_with(
        Backend::Postgres,
        0,
        vec![bot.clone() as Arc<dyn ChannelAdapter>],
    )
    .await;
    let b = support::spawn_on(
        &a.database_url,
        None,
        0,
        vec![bot.clone() as Arc<dyn ChannelAdapter>],
    )
    .await;
    let mut numbers = Vec::new();
    for i in 0..60 {
        let inst = if i % 2 == 0 { &a } else { &b };
        let reg = inst
            .app
            .registrar()
            .register(telegram_message(&format!("70{i:02}"), "Вопрос"))
            .await
            .unwrap();
        numbers.push(reg.number);
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(
        numbers.len(),
        60,
        "registration numbers are unique across instances"
    );
    eventually("all 60 acknowledgements delivered", || async {
        bot.sent().len() >= 60
    })
    .await;
    // Give a duplicate run, if any, time to show up.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let sent = bot.sent();
    let mut recipients: Vec<&str> = sent.iter().map(|m| m.recipient.as_str()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(sent.len(), 60, "each acknowledgement was sent exactly once");
    assert_eq!(recipients.len(), 60);
    let counts = a
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::jobs;
            use diesel::prelude::*;
            // Deliveries only: timer ticks add jobs of their own.
            Ok(jobs::table
                .filter(jobs::kind.eq("deliver"))
                .group_by(jobs::status)
                .select((jobs::status, diesel::dsl::count_star()))
                .load::<(String, i64)>(c)?)
        })
        .await
        .unwrap();
    assert_eq!(counts, [("done".to_string(), 60)]);
    a.stop().await;
    b.stop().await;
}

/// Whether a ticket's audit log has an event of this kind.
fn has_event(ticket: &serde_json::Value, kind: &str) -> bool {
    ticket["events"]
        .as_array()
        .is_some_and(|events| events.iter().any(|e| e["kind"] == kind))
}
