//! The WhatsApp channel end to end: the real server against the local stand-in for the
//! Graph API, over real sockets, webhooks signed as Meta signs them, on both backends.

use std::sync::Arc;

use baylanys::AppState;
use baylanys::auth::Role;
use baylanys_whatsapp::fake_api::{self, FakeGraphApi};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, eventually, fresh_database, spawn_custom};

async fn spawn_wa(
    db: &str,
    dir: Option<tempfile::TempDir>,
    fake: &FakeGraphApi,
    templates: Option<&str>,
) -> TestApp {
    let (token, phone, secret, verify, url) = (
        fake.token.clone(),
        fake.phone_number_id.clone(),
        fake.app_secret.clone(),
        fake.verify_token.clone(),
        fake.url.to_string(),
    );
    let templates = templates.map(str::to_string);
    spawn_custom(
        db,
        dir,
        move |c| {
            c.whatsapp_token = Some(token);
            c.whatsapp_phone_number_id = Some(phone);
            c.whatsapp_app_secret = Some(secret);
            c.whatsapp_verify_token = Some(verify);
            c.whatsapp_api_url = Some(url);
            c.whatsapp_templates = templates;
            c.whatsapp_per_recipient_interval_ms = 50;
        },
        |b| b,
    )
    .await
}

async fn spawn_fresh(backend: Backend, fake: &FakeGraphApi, templates: Option<&str>) -> TestApp {
    let (db, dir) = fresh_database(backend);
    spawn_wa(&db, dir, fake, templates).await
}

/// Posts a body signed with the app secret; the HTTP status.
async fn post_signed(t: &TestApp, fake: &FakeGraphApi, body: &[u8]) -> u16 {
    t.client
        .post(format!("{}/whatsapp/webhook", t.url))
        .header("X-Hub-Signature-256", fake.sign(body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn post_messages(t: &TestApp, fake: &FakeGraphApi, messages: Vec<Value>) -> u16 {
    let body = serde_json::to_vec(&fake.webhook(messages, Vec::new(), "Айгерім")).unwrap();
    post_signed(t, fake, &body).await
}

async fn post_statuses(t: &TestApp, fake: &FakeGraphApi, statuses: Vec<Value>) -> u16 {
    let body = serde_json::to_vec(&fake.webhook(Vec::new(), statuses, "")).unwrap();
    post_signed(t, fake, &body).await
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn wamid() -> String {
    format!(
        "wamid.IN{:08}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

async fn tickets_of(app: &Arc<AppState>, wa: &str) -> Vec<String> {
    use baylanys::db::schema::{contacts, tickets};
    use diesel::prelude::*;
    let wa = wa.to_string();
    app.db
        .run(move |c| {
            Ok(tickets::table
                .inner_join(contacts::table)
                .filter(contacts::whatsapp_id.eq(wa))
                .order(tickets::id.asc())
                .select(tickets::number)
                .load::<String>(c)?)
        })
        .await
        .unwrap()
}

/// Inbound message texts of the sender's tickets, oldest first.
async fn inbound_of(app: &Arc<AppState>, wa: &str) -> Vec<String> {
    use baylanys::db::schema::messages;
    use diesel::prelude::*;
    let wa = wa.to_string();
    app.db
        .run(move |c| {
            Ok(messages::table
                .filter(messages::address.eq(wa))
                .filter(messages::channel.eq("whatsapp"))
                .filter(messages::direction.eq("in"))
                .order((messages::created_at.asc(), messages::id.asc()))
                .select(messages::body_text)
                .load::<String>(c)?)
        })
        .await
        .unwrap()
}

fn texts_to(fake: &FakeGraphApi, wa: &str) -> Vec<String> {
    fake.delivered_to(wa)
        .into_iter()
        .filter_map(|c| c.text)
        .collect()
}

async fn raw_of(app: &Arc<AppState>, status: &'static str) -> Vec<(Vec<u8>, Option<String>)> {
    use baylanys::db::schema::raw_payloads;
    use diesel::prelude::*;
    app.db
        .run(move |c| {
            Ok(raw_payloads::table
                .filter(raw_payloads::channel.eq("whatsapp"))
                .filter(raw_payloads::status.eq(status))
                .order(raw_payloads::id.asc())
                .select((raw_payloads::content, raw_payloads::reason))
                .load::<(baylanys::db::Blob, Option<String>)>(c)?
                .into_iter()
                .map(|(b, r)| (b.0, r))
                .collect())
        })
        .await
        .unwrap()
}

async fn detail(t: &TestApp, token: &str, number: &str) -> Value {
    t.get_auth(&format!("/api/v1/tickets/{number}"), token)
        .await
        .json()
        .await
        .unwrap()
}

/// The GET handshake answers the challenge only to the right verify token; a POST with
/// a forged or missing signature is refused and never stored.
async fn whatsapp_handshake_and_signatures(backend: Backend) {
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    let get = |q: String| {
        let c = t.client.clone();
        let url = format!("{}/whatsapp/webhook?{q}", t.url);
        async move { c.get(url).send().await.unwrap() }
    };
    let ok = get(format!(
        "hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
        fake.verify_token
    ))
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1".into()).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(wrong.headers()["content-type"], "application/problem+json");
    let no_mode = get(format!(
        "hub.verify_token={}&hub.challenge=1",
        fake.verify_token
    ))
    .await;
    assert_eq!(no_mode.status(), 403);

    let wa = "77010000001";
    let body = serde_json::to_vec(&fake.webhook(
        vec![fake_api::text(wa, &wamid(), "Поддельное обращение")],
        Vec::new(),
        "x",
    ))
    .unwrap();
    let forged = baylanys_whatsapp::signature::sign("not-the-secret", &body);
    for header in [Some(forged.as_str()), None, Some("sha256=zz"), Some("")] {
        let mut req = t
            .client
            .post(format!("{}/whatsapp/webhook", t.url))
            .body(body.clone());
        if let Some(h) = header {
            req = req.header("X-Hub-Signature-256", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{header:?}");
        let problem: Value = r.json().await.unwrap();
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("X-Hub-Signature-256")
                || problem["title"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("X-Hub-Signature-256"),
            "{problem}"
        );
    }
    // A signature over other bytes does not cover these.
    let other = fake.sign(b"{}");
    let r = t
        .client
        .post(format!("{}/whatsapp/webhook", t.url))
        .header("X-Hub-Signature-256", other)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(raw_of(&t.app, "stored").await.is_empty());
    assert!(raw_of(&t.app, "processed").await.is_empty());
    assert!(tickets_of(&t.app, wa).await.is_empty());
    assert!(fake.sent().is_empty(), "nothing was said to a forger");
    // The signed body is taken.
    assert_eq!(post_signed(&t, &fake, &body).await, 200);
    eventually("the signed appeal is registered", || async {
        tickets_of(&t.app, wa).await.len() == 1
    })
    .await;
    t.stop().await;
}

/// The whole conversation: appeal, acknowledgement, language buttons, follow-ups of
/// every kind, status, the operator's long reply split and paced, the 1-5 list, the
/// rating, a new appeal.
async fn whatsapp_whole_conversation(backend: Backend) {
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    let wa = "77010000002";
    assert_eq!(
        post_messages(
            &t,
            &fake,
            vec![fake_api::text(
                wa,
                &wamid(),
                "Здравствуйте, не могу войти в eGov Mobile"
            )]
        )
        .await,
        200
    );
    eventually("the appeal is registered", || async {
        tickets_of(&t.app, wa).await.len() == 1
    })
    .await;
    let number = tickets_of(&t.app, wa).await.remove(0);
    eventually("acknowledgement and language choice", || async {
        let texts = texts_to(&fake, wa);
        texts
            .iter()
            .any(|x| x.contains(&number) && x.contains("18:30"))
            && texts.iter().any(|x| x.contains("Выберите язык"))
    })
    .await;
    let choice = fake
        .delivered_to(wa)
        .into_iter()
        .find(|c| c.kind == "interactive")
        .expect("buttons");
    assert_eq!(choice.body["interactive"]["type"], "button");
    assert_eq!(
        choice.body["interactive"]["action"]["buttons"][1]["reply"]["id"],
        "lang:ru"
    );
    // Russian, by button.
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(wa, &wamid(), "lang:ru", false)],
    )
    .await;
    eventually("language confirmed with the menu", || async {
        fake.delivered_to(wa).iter().any(|c| {
            c.kind == "interactive"
                && c.body["interactive"]["action"]["buttons"][0]["reply"]["id"] == "menu:status"
        })
    })
    .await;
    // Follow-ups: a photo with a caption, a document, a voice note, a location, a contact.
    fake.add_media(
        "img-1",
        "image/jpeg",
        b"\xFF\xD8\xFFjpeg-bytes".to_vec(),
        None,
    );
    fake.add_media(
        "doc-1",
        "application/pdf",
        b"%PDF-1.4 spravka".to_vec(),
        None,
    );
    fake.add_media("aud-1", "audio/ogg", b"OggS-voice".to_vec(), None);
    let image = fake_api::message(
        wa,
        &wamid(),
        "image",
        json!({"id": "img-1", "mime_type": "image/jpeg", "caption": "Скриншот ошибки"}),
    );
    let document = fake_api::message(
        wa,
        &wamid(),
        "document",
        json!({"id": "doc-1", "mime_type": "application/pdf", "filename": "справка.pdf"}),
    );
    let audio = fake_api::message(
        wa,
        &wamid(),
        "audio",
        json!({"id": "aud-1", "mime_type": "audio/ogg", "voice": true}),
    );
    let location = fake_api::message(
        wa,
        &wamid(),
        "location",
        json!({"latitude": 51.128207, "longitude": 71.430411, "name": "ЦОН", "address": "Астана"}),
    );
    let contact = fake_api::message(
        wa,
        &wamid(),
        "contacts",
        json!([{"name": {"formatted_name": "Ержан Ахметов"}, "phones": [{"phone": "+7 701 111 2233"}]}]),
    );
    assert_eq!(
        post_messages(&t, &fake, vec![image, document, audio, location, contact]).await,
        200
    );
    eventually("five follow-ups joined the appeal", || async {
        inbound_of(&t.app, wa).await.len() == 6
    })
    .await;
    assert_eq!(tickets_of(&t.app, wa).await.len(), 1);
    let inbound = inbound_of(&t.app, wa).await;
    assert!(
        inbound.iter().any(|b| b == "Скриншот ошибки"),
        "{inbound:?}"
    );
    assert!(inbound.iter().any(|b| b == "📎 справка.pdf"), "{inbound:?}");
    assert!(
        inbound
            .iter()
            .any(|b| b.contains("51.128207, 71.430411, ЦОН, Астана"))
    );
    assert!(
        inbound
            .iter()
            .any(|b| b.contains("Ержан Ахметов: +7 701 111 2233"))
    );
    let op = t.token("op", Role::Operator).await;
    let d = detail(&t, &op, &number).await;
    let files: Vec<(String, String)> = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["file_name"].as_str().unwrap().to_string(),
                a["content_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.contains(&("справка.pdf".into(), "application/pdf".into())));
    assert_eq!(fake.downloads(), 3);
    eventually("each follow-up is acknowledged as added", || async {
        texts_to(&fake, wa)
            .iter()
            .filter(|x| x.contains(&format!("добавлено к вашему обращению № {number}")))
            .count()
            == 5
    })
    .await;
    // Status, by the menu button.
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(wa, &wamid(), "menu:status", false)],
    )
    .await;
    eventually("the status answer", || async {
        texts_to(&fake, wa)
            .iter()
            .any(|x| x.starts_with("Ваши обращения:") && x.contains(&number))
    })
    .await;
    // The operator's long reply: split at 4,096 characters, paced, in order.
    let paragraph = "Переустановите приложение и войдите по ЭЦП. ".repeat(50);
    let long = [paragraph.trim(); 4].join("\n\n");
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": long}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let r = t
        .post_auth(&format!("/api/v1/tickets/{number}/close"), &op, json!({}))
        .await;
    assert_eq!(r.status(), 204);
    // Two jobs (the reply, the rating request) share the recipient's pacing.
    eventually("the reply in parts and the rating list", || async {
        let calls = fake.delivered_to(wa);
        calls
            .iter()
            .any(|c| c.kind == "interactive" && c.body["interactive"]["type"] == "list")
            && calls.iter().any(|c| {
                c.text
                    .as_deref()
                    .is_some_and(|x| x.contains("Переустановите") && x.contains("Обращение №"))
            })
    })
    .await;
    let calls = fake.delivered_to(wa);
    let parts: Vec<&baylanys_whatsapp::fake_api::SentCall> = calls
        .iter()
        .filter(|c| {
            c.text
                .as_deref()
                .is_some_and(|x| x.contains("Переустановите"))
        })
        .collect();
    assert!(parts.len() >= 2, "split: {}", parts.len());
    assert!(
        parts
            .iter()
            .all(|c| c.text.as_ref().unwrap().chars().count() <= 4096)
    );
    // In order and whole (the spacing itself is the pacer's unit test: wall-clock gaps
    // seen by the stand-in shrink whenever the first request is slow to arrive).
    let joined: Vec<&str> = parts.iter().map(|c| c.text.as_deref().unwrap()).collect();
    assert!(
        joined.join("\n\n").starts_with(&long),
        "the parts are the reply, in order: {:?}",
        joined
            .iter()
            .map(|p| (p.chars().count(), p.chars().take(30).collect::<String>()))
            .collect::<Vec<_>>()
    );
    let list = calls
        .iter()
        .find(|c| c.body["interactive"]["type"] == "list")
        .unwrap();
    let rows = list.body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["id"], format!("rate:{number}:5"));
    // R10: a stranger's press is not the applicant's; the applicant's is taken once.
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(
            "77019999999",
            &wamid(),
            &format!("rate:{number}:1"),
            true,
        )],
    )
    .await;
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(
            wa,
            &wamid(),
            &format!("rate:{number}:5"),
            true,
        )],
    )
    .await;
    eventually("the rating is recorded", || async {
        detail(&t, &op, &number).await["rating"] == 5
    })
    .await;
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(
            wa,
            &wamid(),
            &format!("rate:{number}:2"),
            true,
        )],
    )
    .await;
    eventually("told it was rated already", || async {
        texts_to(&fake, wa)
            .iter()
            .any(|x| x.contains("уже оценено"))
    })
    .await;
    assert_eq!(detail(&t, &op, &number).await["rating"], 5);
    // "New appeal", then a message: a second ticket while the first is reopened or not.
    post_messages(
        &t,
        &fake,
        vec![fake_api::choice(wa, &wamid(), "menu:new", false)],
    )
    .await;
    eventually("asked for the new appeal", || async {
        texts_to(&fake, wa)
            .iter()
            .any(|x| x.contains("следующее сообщение"))
    })
    .await;
    post_messages(
        &t,
        &fake,
        vec![fake_api::text(wa, &wamid(), "Другой вопрос: справка")],
    )
    .await;
    eventually("a second ticket", || async {
        tickets_of(&t.app, wa).await.len() == 2
    })
    .await;
    t.stop().await;
}

/// The acknowledgement's wamid as the stand-in gave it.
async fn acknowledged(fake: &FakeGraphApi, wa: &str, number: &str) -> String {
    eventually("the acknowledgement is sent", || async {
        fake.delivered_to(wa)
            .iter()
            .any(|c| c.text.as_deref().is_some_and(|x| x.contains(number)))
    })
    .await;
    fake.delivered_to(wa)
        .into_iter()
        .find(|c| c.text.as_deref().is_some_and(|x| x.contains(number)))
        .and_then(|c| c.wamid)
        .unwrap()
}

async fn first_ticket(t: &TestApp, fake: &FakeGraphApi, wa: &str, text: &str) -> String {
    assert_eq!(
        post_messages(t, fake, vec![fake_api::text(wa, &wamid(), text)]).await,
        200
    );
    eventually("registered", || async {
        !tickets_of(&t.app, wa).await.is_empty()
    })
    .await;
    tickets_of(&t.app, wa).await.remove(0)
}

fn message_of_kind(d: &Value, kind: &str) -> Value {
    d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Statuses move our message to delivered and read; a failure with its code is visible
/// on the ticket, and a late "delivered" does not undo it.
async fn whatsapp_statuses_show_on_the_ticket(backend: Backend) {
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    let op = t.token("op", Role::Operator).await;
    let wa = "77010000003";
    let number = first_ticket(&t, &fake, wa, "Вопрос о пособии").await;
    let ack = acknowledged(&fake, wa, &number).await;
    eventually("recorded as sent", || async {
        message_of_kind(&detail(&t, &op, &number).await, "acknowledgement")["delivery_status"]
            == "sent"
    })
    .await;
    post_statuses(
        &t,
        &fake,
        vec![fake_api::status(&ack, wa, "delivered", None)],
    )
    .await;
    eventually("delivered", || async {
        message_of_kind(&detail(&t, &op, &number).await, "acknowledgement")["delivery_status"]
            == "delivered"
    })
    .await;
    post_statuses(&t, &fake, vec![fake_api::status(&ack, wa, "read", None)]).await;
    eventually("read", || async {
        message_of_kind(&detail(&t, &op, &number).await, "acknowledgement")["delivery_status"]
            == "read"
    })
    .await;
    // A late "delivered" after "read" changes nothing.
    post_statuses(
        &t,
        &fake,
        vec![fake_api::status(&ack, wa, "delivered", None)],
    )
    .await;
    // The operator's reply fails on the recipient's side.
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": "Пособие назначено."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("the reply is sent", || async {
        texts_to(&fake, wa)
            .iter()
            .any(|x| x.contains("Пособие назначено"))
    })
    .await;
    let reply = fake
        .delivered_to(wa)
        .into_iter()
        .find(|c| {
            c.text
                .as_deref()
                .is_some_and(|x| x.contains("Пособие назначено"))
        })
        .and_then(|c| c.wamid)
        .unwrap();
    post_statuses(
        &t,
        &fake,
        vec![fake_api::status(
            &reply,
            wa,
            "failed",
            Some((131026, "Message undeliverable")),
        )],
    )
    .await;
    eventually("the failure is visible on the ticket", || async {
        let d = detail(&t, &op, &number).await;
        message_of_kind(&d, "reply")["delivery_status"] == "failed"
    })
    .await;
    let d = detail(&t, &op, &number).await;
    let failed = message_of_kind(&d, "reply");
    assert!(
        failed["delivery_error"]
            .as_str()
            .unwrap()
            .contains("131026"),
        "{failed}"
    );
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "delivery_failed"),
        "{d}"
    );
    assert_eq!(
        message_of_kind(&d, "acknowledgement")["delivery_status"],
        "read"
    );
    // A status that comes before the send is recorded is kept and applied then; one for
    // a message we never sent is kept and harms nothing.
    post_statuses(
        &t,
        &fake,
        vec![fake_api::status("wamid.unknown", wa, "read", None)],
    )
    .await;
    assert_eq!(raw_of(&t.app, "quarantined").await.len(), 0);
    t.stop().await;
}

/// Outside the 24-hour window the configured template goes instead of free text; a
/// 131047 refusal falls back to it too; without a template the failure says what to set.
async fn whatsapp_window_falls_back_to_templates(backend: Backend) {
    use baylanys::db::schema::messages;
    use diesel::prelude::*;
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(
        backend,
        &fake,
        Some("reply=ucc_reply:number,text;rating_request=ucc_rate:number,rate_buttons"),
    )
    .await;
    let op = t.token("op", Role::Operator).await;
    let wa = "77010000004";
    let number = first_ticket(&t, &fake, wa, "Вопрос про ЭЦП").await;
    acknowledged(&fake, wa, &number).await;
    // The applicant last wrote two days ago.
    let two_days = (chrono::Utc::now() - chrono::Duration::days(2)).naive_utc();
    let w = wa.to_string();
    t.app
        .db
        .write(move |c| {
            diesel::update(messages::table.filter(messages::address.eq(w)))
                .filter(messages::direction.eq("in"))
                .set(messages::created_at.eq(two_days))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": "Ключ ЭЦП\nперевыпущен."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("the reply template", || async {
        fake.delivered_to(wa)
            .iter()
            .any(|c| c.kind == "template" && c.text.as_deref() == Some("ucc_reply"))
    })
    .await;
    let template = fake
        .delivered_to(wa)
        .into_iter()
        .find(|c| c.kind == "template")
        .unwrap();
    let params = &template.body["template"]["components"][0]["parameters"];
    assert_eq!(params[0]["text"], number);
    // The rendered reply on one line (template parameters carry no line breaks).
    let text = params[1]["text"].as_str().unwrap();
    assert!(text.starts_with("Ключ ЭЦП перевыпущен. --"), "{text}");
    assert!(!text.contains('\n'));
    assert_eq!(template.body["template"]["language"]["code"], "ru");
    assert!(
        !texts_to(&fake, wa)
            .iter()
            .any(|x| x.contains("перевыпущен")),
        "no free text outside the window"
    );
    // Close: the rating request is the template with five quick-reply payloads.
    let r = t
        .post_auth(&format!("/api/v1/tickets/{number}/close"), &op, json!({}))
        .await;
    assert_eq!(r.status(), 204);
    eventually("the rating template", || async {
        fake.delivered_to(wa)
            .iter()
            .any(|c| c.text.as_deref() == Some("ucc_rate"))
    })
    .await;
    let rate = fake
        .delivered_to(wa)
        .into_iter()
        .find(|c| c.text.as_deref() == Some("ucc_rate"))
        .unwrap();
    assert_eq!(
        rate.body["template"]["components"][5]["parameters"][0]["payload"],
        format!("rate:{number}:5")
    );
    // The applicant taps the template's quick reply: the rating is recorded.
    let mut press = fake_api::message(
        wa,
        &wamid(),
        "button",
        json!({"payload": format!("rate:{number}:4"), "text": "4"}),
    );
    press["type"] = json!("button");
    post_messages(&t, &fake, vec![press]).await;
    eventually("the rating from the template", || async {
        detail(&t, &op, &number).await["rating"] == 4
    })
    .await;

    // Inside the window by our clock, but WhatsApp says 131047: the template after all.
    let wa2 = "77010000005";
    let number2 = first_ticket(&t, &fake, wa2, "Вопрос о налогах").await;
    acknowledged(&fake, wa2, &number2).await;
    fake.fail_next(131047, 400, 1);
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number2}/replies"),
            &op,
            json!({"text": "Налог уплачен."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("the template after 131047", || async {
        fake.delivered_to(wa2)
            .iter()
            .any(|c| c.text.as_deref() == Some("ucc_reply"))
    })
    .await;
    eventually("recorded as sent", || async {
        message_of_kind(&detail(&t, &op, &number2).await, "reply")["delivery_status"] == "sent"
    })
    .await;
    t.stop().await;

    // No template for notices: a notice outside the window fails visibly, saying what to set.
    let t = spawn_fresh(backend, &fake, None).await;
    let op = t.token("op", Role::Operator).await;
    let wa3 = "77010000006";
    let number3 = first_ticket(&t, &fake, wa3, "Вопрос о пенсии").await;
    acknowledged(&fake, wa3, &number3).await;
    fake.fail_next(131047, 400, 1);
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number3}/replies"),
            &op,
            json!({"text": "Пенсия назначена."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("the failure names the setting", || async {
        let d = detail(&t, &op, &number3).await;
        message_of_kind(&d, "reply")["delivery_error"]
            .as_str()
            .is_some_and(|e| e.contains("BAYLANYS_WHATSAPP_TEMPLATES"))
    })
    .await;
    assert_eq!(
        message_of_kind(&detail(&t, &op, &number3).await, "reply")["delivery_status"],
        "failed"
    );
    t.stop().await;
}

/// 130429 (throughput) is a temporary refusal: the job tries again after the wait and
/// the message goes once.
async fn whatsapp_rate_limit_is_retried(backend: Backend) {
    use baylanys::db::schema::jobs;
    use diesel::prelude::*;
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    let op = t.token("op", Role::Operator).await;
    let wa = "77010000007";
    let number = first_ticket(&t, &fake, wa, "Вопрос о субсидии").await;
    acknowledged(&fake, wa, &number).await;
    fake.fail_next(130429, 400, 1);
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": "Субсидия одобрена."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("delivered after the retry", || async {
        texts_to(&fake, wa)
            .iter()
            .any(|x| x.contains("Субсидия одобрена"))
    })
    .await;
    let refused = fake
        .sent()
        .into_iter()
        .filter(|c| c.to.as_deref() == Some(wa) && c.status != 200)
        .count();
    assert_eq!(refused, 1);
    let attempts: Vec<i32> = t
        .app
        .db
        .run(|c| {
            Ok(jobs::table
                .filter(jobs::kind.eq("deliver"))
                .filter(jobs::attempts.gt(1))
                .select(jobs::attempts)
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(attempts, [2], "one job needed a second try");
    assert_eq!(
        texts_to(&fake, wa)
            .iter()
            .filter(|x| x.contains("Субсидия одобрена"))
            .count(),
        1
    );
    // A reply with a file: uploaded to the Graph API, then sent as a document by its id.
    use base64::Engine;
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 decision");
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": "Решение во вложении.", "attachments": [
                {"file_name": "решение.pdf", "content_type": "application/pdf", "content_base64": pdf}
            ]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually("the document is sent", || async {
        fake.delivered_to(wa)
            .iter()
            .any(|c| c.kind == "document" && c.body["document"]["filename"] == "решение.pdf")
    })
    .await;
    let upload = fake
        .sent()
        .into_iter()
        .find(|c| c.kind == "media")
        .expect("uploaded first");
    let document = fake
        .delivered_to(wa)
        .into_iter()
        .find(|c| c.kind == "document")
        .unwrap();
    assert!(
        document.body["document"]["id"]
            .as_str()
            .unwrap()
            .starts_with("media-up-")
    );
    assert_eq!(upload.text.as_deref(), Some("решение.pdf"));
    t.stop().await;
}

/// Meta redelivers: the same body again, and copies at once, are handled once.
async fn whatsapp_redelivered_webhooks_are_handled_once(backend: Backend) {
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    let wa = "77010000008";
    let body = serde_json::to_vec(&fake.webhook(
        vec![fake_api::text(
            wa,
            &wamid(),
            "Справка о несудимости не приходит",
        )],
        Vec::new(),
        "Айгерім",
    ))
    .unwrap();
    let statuses =
        futures_util::future::join_all((0..20).map(|_| post_signed(&t, &fake, &body))).await;
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    eventually("registered", || async {
        inbound_of(&t.app, wa).await.len() == 1
    })
    .await;
    assert_eq!(post_signed(&t, &fake, &body).await, 200);
    // The same message in a differently built body (Meta's retries may batch anew).
    let id = body_message_id(&body);
    let again = fake.webhook(
        vec![
            fake_api::text(wa, &id, "Справка о несудимости не приходит"),
            fake_api::text(wa, &wamid(), "Дополнение"),
        ],
        Vec::new(),
        "Айгерім",
    );
    for _ in 0..3 {
        assert_eq!(
            post_signed(&t, &fake, &serde_json::to_vec(&again).unwrap()).await,
            200
        );
    }
    eventually("the new one joins", || async {
        inbound_of(&t.app, wa).await.len() == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        inbound_of(&t.app, wa).await,
        ["Справка о несудимости не приходит", "Дополнение"]
    );
    assert_eq!(tickets_of(&t.app, wa).await.len(), 1);
    let acks = texts_to(&fake, wa)
        .iter()
        .filter(|x| x.contains("зарегистрировано"))
        .count();
    assert_eq!(acks, 1, "one acknowledgement");
    t.stop().await;
}

fn body_message_id(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Hostile bodies: not JSON, not a webhook, nested beyond reason, oversized, unknown
/// message types, a text over the limit, media over the size limit.
async fn whatsapp_hostile_input_is_quarantined_or_refused(backend: Backend) {
    let fake = FakeGraphApi::start();
    let t = spawn_fresh(backend, &fake, None).await;
    // Not JSON: kept whole, with the reason.
    assert_eq!(post_signed(&t, &fake, b"{this is not json").await, 200);
    eventually("quarantined", || async {
        raw_of(&t.app, "quarantined").await.len() == 1
    })
    .await;
    let q = raw_of(&t.app, "quarantined").await;
    assert_eq!(q[0].0, b"{this is not json");
    assert!(
        q[0].1.as_deref().unwrap().contains("not JSON"),
        "{:?}",
        q[0].1
    );
    // JSON, but not a webhook of ours.
    assert_eq!(
        post_signed(&t, &fake, br#"{"object":"page","entry":[]}"#).await,
        200
    );
    // Nested 10,000 deep.
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(post_signed(&t, &fake, nested.as_bytes()).await, 200);
    eventually("three quarantined", || async {
        raw_of(&t.app, "quarantined").await.len() == 3
    })
    .await;
    let q = raw_of(&t.app, "quarantined").await;
    assert!(
        q[1].1.as_deref().unwrap().contains("object"),
        "{:?}",
        q[1].1
    );
    assert_eq!(q[2].0, nested.as_bytes(), "kept whole");
    // Operators see them, and read them whole.
    let op = t.token("op", Role::Operator).await;
    let list: Value = t
        .get_auth("/api/v1/quarantine?channel=whatsapp", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    // Over 1 MiB: refused unread, nothing stored.
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = t
        .client
        .post(format!("{}/whatsapp/webhook", t.url))
        .header("X-Hub-Signature-256", fake.sign(&big))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A sticker and a message type yet to come: answered, not registered, nothing lost.
    let wa = "77010000009";
    let sticker = fake_api::message(
        wa,
        &wamid(),
        "sticker",
        json!({"id": "st-1", "mime_type": "image/webp"}),
    );
    let future = fake_api::message(wa, &wamid(), "hologram", json!({"id": "h-1"}));
    assert_eq!(post_messages(&t, &fake, vec![sticker, future]).await, 200);
    eventually("told twice what is accepted", || async {
        texts_to(&fake, wa)
            .iter()
            .filter(|x| x.contains("не могу принять как обращение"))
            .count()
            == 2
    })
    .await;
    assert!(tickets_of(&t.app, wa).await.is_empty());
    // A text over 4,096 characters: kept whole for staff, the sender told.
    let wa2 = "77010000010";
    let long = fake_api::text(wa2, &wamid(), &"ы".repeat(4097));
    assert_eq!(post_messages(&t, &fake, vec![long]).await, 200);
    eventually("quarantined with the length", || async {
        raw_of(&t.app, "quarantined")
            .await
            .iter()
            .any(|(_, r)| r.as_deref().is_some_and(|r| r.contains("4097")))
    })
    .await;
    eventually("told why", || async {
        texts_to(&fake, wa2).iter().any(|x| x.contains("4097"))
    })
    .await;
    assert!(tickets_of(&t.app, wa2).await.is_empty());
    // A message with no sender and a bad one among good ones: the good one is taken.
    let wa3 = "77010000011";
    let bad = json!({"id": wamid(), "type": "text", "text": {"body": "без отправителя"}});
    let good = fake_api::text(wa3, &wamid(), "Нормальное обращение");
    assert_eq!(post_messages(&t, &fake, vec![bad, good]).await, 200);
    eventually("the good message is registered", || async {
        tickets_of(&t.app, wa3).await.len() == 1
    })
    .await;
    // Media over the size limit (25 MiB by default): the appeal is registered, the file
    // is not downloaded, and the sender is told.
    let wa4 = "77010000012";
    fake.add_media(
        "huge-1",
        "video/mp4",
        b"small really".to_vec(),
        Some(300 * 1024 * 1024),
    );
    let before = fake.downloads();
    let video = fake_api::message(
        wa4,
        &wamid(),
        "video",
        json!({"id": "huge-1", "mime_type": "video/mp4", "caption": "Видео с ошибкой"}),
    );
    assert_eq!(post_messages(&t, &fake, vec![video]).await, 200);
    eventually("registered without the file", || async {
        tickets_of(&t.app, wa4).await.len() == 1
    })
    .await;
    eventually("told the file is too large", || async {
        texts_to(&fake, wa4)
            .iter()
            .any(|x| x.contains("слишком большой"))
    })
    .await;
    assert_eq!(fake.downloads(), before);
    // A size that lies: declared small, served large.
    fake.add_media(
        "liar-1",
        "image/jpeg",
        vec![0u8; 26 * 1024 * 1024],
        Some(10),
    );
    let wa5 = "77010000013";
    let image = fake_api::message(
        wa5,
        &wamid(),
        "image",
        json!({"id": "liar-1", "mime_type": "image/jpeg"}),
    );
    assert_eq!(post_messages(&t, &fake, vec![image]).await, 200);
    eventually("registered, the file refused while reading", || async {
        tickets_of(&t.app, wa5).await.len() == 1
            && texts_to(&fake, wa5)
                .iter()
                .any(|x| x.contains("слишком большой"))
    })
    .await;
    let number = tickets_of(&t.app, wa5).await.remove(0);
    let d = detail(&t, &op, &number).await;
    assert!(
        d["messages"][0]["attachments"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{d}"
    );
    t.stop().await;
}

/// Bodies stored by one instance that stops before handling them are handled by the
/// next; redeliveries to it repeat nothing; with two instances on PostgreSQL each body
/// is handled once.
async fn whatsapp_restart_neither_loses_nor_repeats(backend: Backend) {
    let fake = FakeGraphApi::start();
    let (db, dir) = fresh_database(backend);
    let wa = "77010000014";
    let bodies: Vec<Vec<u8>> = (0..6)
        .map(|i| {
            serde_json::to_vec(&fake.webhook(
                vec![fake_api::text(wa, &wamid(), &format!("Часть {i}"))],
                Vec::new(),
                "Айгерім",
            ))
            .unwrap()
        })
        .collect();
    let first = spawn_wa(&db, None, &fake, None).await;
    for b in &bodies[..3] {
        assert_eq!(post_signed(&first, &fake, b).await, 200);
    }
    // Stopped at once: some bodies may be stored and not handled yet.
    first.stop().await;
    let second = spawn_wa(&db, dir, &fake, None).await;
    for b in &bodies {
        assert_eq!(post_signed(&second, &fake, b).await, 200);
    }
    let third = if backend == Backend::Postgres {
        let other = spawn_wa(&db, None, &fake, None).await;
        for b in bodies.iter().rev() {
            assert_eq!(post_signed(&other, &fake, b).await, 200);
        }
        Some(other)
    } else {
        None
    };
    eventually("all six stored once", || async {
        inbound_of(&second.app, wa).await.len() >= 6
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut stored = inbound_of(&second.app, wa).await;
    stored.sort();
    assert_eq!(
        stored,
        (0..6).map(|i| format!("Часть {i}")).collect::<Vec<_>>()
    );
    assert_eq!(tickets_of(&second.app, wa).await.len(), 1);
    assert!(
        raw_of(&second.app, "stored").await.is_empty(),
        "every body handled"
    );
    if let Some(other) = third {
        other.stop().await;
    }
    second.stop().await;
}

/// `baylanys doctor` says whether the channel is set up, and how to fix it.
async fn whatsapp_doctor_reports_the_channel(backend: Backend) {
    let fake = FakeGraphApi::start();
    let (db, _dir) = fresh_database(backend);
    let mut config = crate::support::test_config(&db, 0);
    config.whatsapp_token = Some(fake.token.clone());
    config.whatsapp_phone_number_id = Some(fake.phone_number_id.clone());
    config.whatsapp_api_url = Some(fake.url.to_string());
    let findings = baylanys::doctor::run(&config).await;
    let wa = findings.iter().find(|f| f.check == "whatsapp").unwrap();
    assert!(
        !wa.ok && wa.detail.contains("BAYLANYS_WHATSAPP_APP_SECRET"),
        "{wa:?}"
    );
    config.whatsapp_app_secret = Some(fake.app_secret.clone());
    config.whatsapp_verify_token = Some(fake.verify_token.clone());
    let findings = baylanys::doctor::run(&config).await;
    let wa = findings.iter().find(|f| f.check == "whatsapp").unwrap();
    assert!(wa.ok && wa.detail.contains("/whatsapp/webhook"), "{wa:?}");
    config.whatsapp_token = Some("wrong".into());
    let findings = baylanys::doctor::run(&config).await;
    let wa = findings.iter().find(|f| f.check == "whatsapp").unwrap();
    assert!(
        !wa.ok && wa.detail.contains("BAYLANYS_WHATSAPP_TOKEN"),
        "{wa:?}"
    );
}

both_backends!(
    whatsapp_handshake_and_signatures,
    whatsapp_whole_conversation,
    whatsapp_statuses_show_on_the_ticket,
    whatsapp_window_falls_back_to_templates,
    whatsapp_rate_limit_is_retried,
    whatsapp_redelivered_webhooks_are_handled_once,
    whatsapp_hostile_input_is_quarantined_or_refused,
    whatsapp_restart_neither_loses_nor_repeats,
    whatsapp_doctor_reports_the_channel,
);
