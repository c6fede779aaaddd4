//! The Telegram channel end to end: the real server and teloxide client against the
//! local fake Bot API, in long-polling and webhook mode, on both backends.

use std::sync::Arc;

use baylanys::AppState;
use baylanys::auth::Role;
use baylanys_telegram::fake_api::FakeBotApi;
use serde_json::{Value, json};

use crate::support::{Backend, eventually, fresh_database, test_config, token_for};

struct Server {
    url: String,
    app: Arc<AppState>,
    client: reqwest::Client,
    running: baylanys::Application,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    async fn stop(self) {
        // Our keep-alive connections close first, so the graceful stop has none to wait for.
        drop(self.client);
        self.running.stop().await;
    }
}

async fn spawn_bot_server(backend: Backend, fake: &FakeBotApi, mode: &str) -> Server {
    let (db, dir) = fresh_database(backend);
    spawn_bot_server_on(&db, dir, fake, mode).await
}

async fn spawn_bot_server_on(
    db: &str,
    dir: Option<tempfile::TempDir>,
    fake: &FakeBotApi,
    mode: &str,
) -> Server {
    let mut config = test_config(db, 0);
    let tg = fake.config();
    config.telegram_token = Some(tg.token.clone());
    config.telegram_api_url = tg.api_url.as_ref().map(|u| u.to_string());
    config.telegram_webhook_secret = tg.webhook_secret.clone();
    config.telegram_mode = mode.to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = baylanys::Application::build(config)
        .await
        .unwrap()
        .with_listener(listener)
        .start()
        .await
        .unwrap();
    Server {
        url: format!("http://{}", running.addr),
        app: running.state.clone(),
        client: reqwest::Client::new(),
        running,
        _dir: dir,
    }
}

static NEXT_MESSAGE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1000);

fn text_update(chat: i64, text: &str) -> Value {
    json!({"message": {
        "message_id": NEXT_MESSAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        "date": 1_778_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Айгерім"},
        "from": {"id": chat, "is_bot": false, "first_name": "Айгерім"},
        "text": text
    }})
}

fn sent_to(fake: &FakeBotApi, chat: i64) -> Vec<String> {
    fake.sent()
        .into_iter()
        .filter(|c| c.chat_id == Some(chat) && c.method == "sendMessage")
        .filter_map(|c| c.text)
        .collect()
}

async fn ticket_of_chat(app: &Arc<AppState>, chat: i64) -> Option<String> {
    use baylanys::db::schema::{contacts, tickets};
    use diesel::prelude::*;
    app.db
        .run(move |c| {
            Ok(tickets::table
                .inner_join(contacts::table)
                .filter(contacts::telegram_chat_id.eq(chat.to_string()))
                .order(tickets::id.desc())
                .select(tickets::number)
                .first::<String>(c)
                .optional()?)
        })
        .await
        .unwrap()
}

async fn r4_telegram_appeal_by_long_polling_is_registered_acknowledged_and_rated(backend: Backend) {
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "polling").await;
    let chat = 880_001;
    fake.push_update(text_update(
        chat,
        "Здравствуйте, не могу войти в eGov Mobile",
    ));
    eventually("the appeal is registered", || async {
        ticket_of_chat(&s.app, chat).await.is_some()
    })
    .await;
    let number = ticket_of_chat(&s.app, chat).await.unwrap();
    // R4: the acknowledgement through the server's job, with number and deadline.
    eventually("the acknowledgement reaches the chat", || async {
        sent_to(&fake, chat)
            .iter()
            .any(|t| t.contains(&number) && t.contains("18:30"))
    })
    .await;
    // A follow-up joins the open ticket.
    fake.push_update(text_update(chat, "Дополнение: ошибка 500"));
    eventually("the follow-up is stored", || async {
        let n = number.clone();
        let d = baylanys::tickets::detail;
        s.app
            .db
            .run(move |c| {
                Ok(d(c, &n, chrono::Utc::now())?
                    .map(|t| t.messages.iter().filter(|m| m.direction == "in").count()))
            })
            .await
            .unwrap()
            == Some(2)
    })
    .await;
    // Operator reply and close: the reply and a 1-5 rating keyboard arrive in the chat.
    let token = token_for(&s.app, "op", Role::Operator).await;
    let r = s
        .client
        .post(format!("{}/api/v1/tickets/{number}/replies", s.url))
        .bearer_auth(&token)
        .json(&json!({"text": "Переустановите приложение."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = s
        .client
        .post(format!("{}/api/v1/tickets/{number}/close", s.url))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    eventually("reply and rating keyboard delivered", || async {
        let calls = fake.sent();
        let reply = calls.iter().any(|c| {
            c.chat_id == Some(chat)
                && c.text
                    .as_deref()
                    .is_some_and(|t| t.contains("Переустановите"))
        });
        let keyboard = calls.iter().any(|c| {
            c.chat_id == Some(chat)
                && c.reply_markup
                    .as_ref()
                    .is_some_and(|m| m.to_string().contains(&format!("rate:{number}:5")))
        });
        reply && keyboard
    })
    .await;
    // R10: the applicant taps 5; the rating is recorded once.
    fake.push_update(json!({"callback_query": {
        "id": "cb1", "from": {"id": chat, "is_bot": false, "first_name": "Айгерім"}, "chat_instance": "ci",
        "message": {"message_id": 1, "date": 1_778_000_000, "chat": {"id": chat, "type": "private"}, "text": "оцените"},
        "data": format!("rate:{number}:5")
    }}));
    let n = number.clone();
    eventually("the rating is stored", || async {
        let n = n.clone();
        s.app
            .db
            .run(move |c| {
                Ok(baylanys::tickets::detail(c, &n, chrono::Utc::now())?
                    .and_then(|t| t.ticket.rating))
            })
            .await
            .unwrap()
            == Some(5)
    })
    .await;
    s.stop().await;
}

async fn telegram_webhook_checks_the_secret_and_registers(backend: Backend) {
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "webhook").await;
    let chat = 880_002;
    let mut update = text_update(chat, "Сәлеметсіз бе, анықтама керек");
    update["update_id"] = json!(5001);
    let post = |secret: &'static str, body: Value| {
        s.client
            .post(format!("{}/telegram/webhook", s.url))
            .header("X-Telegram-Bot-Api-Secret-Token", secret)
            .json(&body)
            .send()
    };
    let r = post("wrong", update.clone()).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(ticket_of_chat(&s.app, chat).await.is_none());
    let r = post("fake-secret", update.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let number = ticket_of_chat(&s.app, chat).await.expect("registered");
    // The same update again (Telegram redelivers) changes nothing.
    let r = post("fake-secret", update).await.unwrap();
    assert_eq!(r.status(), 200);
    let d = s
        .app
        .db
        .run(move |c| baylanys::tickets::detail(c, &number, chrono::Utc::now()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.messages.iter().filter(|m| m.direction == "in").count(), 1);
    assert_eq!(d.ticket.language, "kk");
    // A malformed update is kept in quarantine, not dropped, and answered 200.
    let r = s
        .client
        .post(format!("{}/telegram/webhook", s.url))
        .header("X-Telegram-Bot-Api-Secret-Token", "fake-secret")
        .body("{this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let quarantined = s
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::raw_payloads;
            use diesel::prelude::*;
            Ok(raw_payloads::table
                .filter(raw_payloads::channel.eq("telegram"))
                .filter(raw_payloads::status.eq("quarantined"))
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .unwrap();
    assert_eq!(quarantined, 1);
    // Operators see it in the quarantine and can read it whole.
    let token = token_for(&s.app, "op", Role::Operator).await;
    let list: Value = s
        .client
        .get(format!("{}/api/v1/quarantine?channel=telegram", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["channel"], "telegram");
    assert!(
        items[0]["reason"].as_str().unwrap().contains("not JSON"),
        "{list}"
    );
    let raw = s
        .client
        .get(format!(
            "{}/api/v1/quarantine/{}",
            s.url,
            items[0]["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["x-baylanys-channel"], "telegram");
    assert_eq!(raw.text().await.unwrap(), "{this is not json");
    s.stop().await;
}

/// Inbound messages of the chat's tickets, oldest first.
async fn chat_messages(app: &Arc<AppState>, chat: i64) -> Vec<String> {
    use baylanys::db::schema::{contacts, messages, tickets};
    use diesel::prelude::*;
    app.db
        .run(move |c| {
            Ok(messages::table
                .inner_join(tickets::table.inner_join(contacts::table))
                .filter(contacts::telegram_chat_id.eq(chat.to_string()))
                .filter(messages::direction.eq("in"))
                .order(messages::created_at.asc())
                .select(messages::body_text)
                .load(c)?)
        })
        .await
        .unwrap()
}

/// A restart mid-stream: updates sent while the server is down arrive once it is back,
/// and none is registered twice.
async fn telegram_restart_neither_loses_nor_repeats_updates(backend: Backend) {
    let fake = FakeBotApi::start();
    let (db, dir) = fresh_database(backend);
    let chat = 880_003;
    let first = spawn_bot_server_on(&db, None, &fake, "polling").await;
    fake.push_update(text_update(chat, "один"));
    fake.push_update(text_update(chat, "два"));
    eventually("two messages stored", || async {
        chat_messages(&first.app, chat).await.len() == 2
    })
    .await;
    first.stop().await;
    fake.push_update(text_update(chat, "три"));
    fake.push_update(text_update(chat, "четыре"));
    let second = spawn_bot_server_on(&db, dir, &fake, "polling").await;
    eventually("the updates sent while down arrive", || async {
        chat_messages(&second.app, chat).await.len() >= 4
    })
    .await;
    // Give a repeat, if any, time to show up.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        chat_messages(&second.app, chat).await,
        ["один", "два", "три", "четыре"]
    );
    second.stop().await;
}

/// Posts one update to the webhook with the right secret; the HTTP status.
async fn post_update(s: &Server, update: &Value) -> u16 {
    s.client
        .post(format!("{}/telegram/webhook", s.url))
        .header("X-Telegram-Bot-Api-Secret-Token", "fake-secret")
        .json(update)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn with_id(mut update: Value, update_id: i64) -> Value {
    update["update_id"] = json!(update_id);
    update
}

/// Texts the fake Bot API accepted (200) for the chat.
fn delivered_to(fake: &FakeBotApi, chat: i64) -> Vec<String> {
    fake.sent()
        .into_iter()
        .filter(|c| c.chat_id == Some(chat) && c.method == "sendMessage" && c.status == 200)
        .filter_map(|c| c.text)
        .collect()
}

/// Outgoing messages of the chat's tickets by kind (acknowledgement, notice, ...), with
/// their delivery jobs.
async fn outbound_of_chat(app: &Arc<AppState>, chat: i64, kind: &'static str) -> (i64, i64) {
    use baylanys::db::schema::{contacts, jobs, messages, tickets};
    use diesel::prelude::*;
    app.db
        .run(move |c| {
            let ids: Vec<String> = messages::table
                .inner_join(tickets::table.inner_join(contacts::table))
                .filter(contacts::telegram_chat_id.eq(chat.to_string()))
                .filter(messages::direction.eq("out"))
                .filter(messages::kind.eq(kind))
                .select(messages::id)
                .load(c)?;
            let mut queued = 0;
            for id in &ids {
                let payload = json!({ "message_id": id }).to_string();
                queued += jobs::table
                    .filter(jobs::kind.eq("deliver"))
                    .filter(jobs::payload.eq(payload))
                    .count()
                    .get_result::<i64>(c)?;
            }
            Ok((ids.len() as i64, queued))
        })
        .await
        .unwrap()
}

/// Overlapping copies of one update (Telegram retries a slow webhook): the database
/// decides, so each update is stored once and "added" is said once per addition.
async fn telegram_overlapping_copies_of_an_update_are_stored_once(backend: Backend) {
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "webhook").await;
    let chat = 880_011;
    // 50 copies of a first message: one ticket, one acknowledgement.
    let first = with_id(text_update(chat, "Не приходит справка о несудимости"), 7001);
    let statuses = futures_util::future::join_all((0..50).map(|_| post_update(&s, &first))).await;
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    assert_eq!(chat_messages(&s.app, chat).await.len(), 1);
    // 50 copies of a follow-up: stored once, one "added".
    let follow_up = with_id(text_update(chat, "Дополнение: номер заявки 123"), 7002);
    let statuses =
        futures_util::future::join_all((0..50).map(|_| post_update(&s, &follow_up))).await;
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    assert_eq!(chat_messages(&s.app, chat).await.len(), 2);
    // 20 updates, each sent twice at the same moment.
    let updates: Vec<Value> = (0..20)
        .map(|i| with_id(text_update(chat, &format!("Часть {i}")), 7100 + i))
        .collect();
    let statuses = futures_util::future::join_all(
        updates
            .iter()
            .flat_map(|u| [post_update(&s, u), post_update(&s, u)]),
    )
    .await;
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    let mut stored = chat_messages(&s.app, chat).await;
    assert_eq!(stored.len(), 22, "{stored:?}");
    stored.sort();
    stored.dedup();
    assert_eq!(stored.len(), 22, "a text stored twice");
    assert_eq!(ticket_count_of_chat(&s.app, chat).await, 1);
    assert_eq!(
        outbound_of_chat(&s.app, chat, "acknowledgement").await,
        (1, 1)
    );
    // "Added to your appeal": once per message added, each with its delivery job.
    assert_eq!(outbound_of_chat(&s.app, chat, "notice").await, (21, 21));
    s.stop().await;
}

async fn ticket_count_of_chat(app: &Arc<AppState>, chat: i64) -> i64 {
    use baylanys::db::schema::{contacts, tickets};
    use diesel::prelude::*;
    app.db
        .run(move |c| {
            Ok(tickets::table
                .inner_join(contacts::table)
                .filter(contacts::telegram_chat_id.eq(chat.to_string()))
                .count()
                .get_result::<i64>(c)?)
        })
        .await
        .unwrap()
}

/// The webhook only stores and answers: the "added to your appeal" reply goes through
/// the jobs table, so a Bot API that refuses it at first does not lose it, and the
/// webhook call never waits for the chat's pacing.
async fn telegram_follow_up_reply_goes_through_the_job_queue(backend: Backend) {
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "webhook").await;
    let chat = 880_012;
    let first = with_id(text_update(chat, "Не могу войти в личный кабинет"), 7201);
    assert_eq!(post_update(&s, &first).await, 200);
    let number = ticket_of_chat(&s.app, chat).await.expect("registered");
    eventually("the acknowledgement is delivered", || async {
        delivered_to(&fake, chat)
            .iter()
            .any(|t| t.contains(&number))
    })
    .await;
    // The Bot API answers the next sendMessage with 429: an inline reply would be lost.
    fake.fail_next_retry_after("sendMessage", 1, 1);
    let follow_up = with_id(text_update(chat, "Скриншот ошибки пришлю позже"), 7202);
    assert_eq!(post_update(&s, &follow_up).await, 200);
    // Committed with the message itself, before the webhook answered.
    assert_eq!(outbound_of_chat(&s.app, chat, "notice").await, (1, 1));
    let added = format!("Сообщение добавлено к вашему обращению № {number}.");
    eventually("the retried reply reaches the chat", || async {
        delivered_to(&fake, chat).contains(&added)
    })
    .await;
    assert_eq!(
        delivered_to(&fake, chat)
            .iter()
            .filter(|t| **t == added)
            .count(),
        1
    );
    // A file too large to take: the note on it is a job too, next to "added".
    let mut document = text_update(chat, "");
    let message = document["message"].as_object_mut().unwrap();
    message.remove("text");
    message.insert(
        "document".into(),
        json!({"file_id": "big-1", "file_unique_id": "b1", "file_name": "архив.zip",
               "mime_type": "application/zip", "file_size": 300 * 1024 * 1024}),
    );
    assert_eq!(post_update(&s, &with_id(document, 7203)).await, 200);
    assert_eq!(outbound_of_chat(&s.app, chat, "notice").await, (3, 3));
    eventually("the note on the file reaches the chat", || async {
        delivered_to(&fake, chat)
            .iter()
            .any(|t| t.contains("«архив.zip»"))
    })
    .await;
    s.stop().await;
}

/// The webhook reads no body before the secret is right, reads at most what an update
/// can be, and quarantines (whole, with the reason) texts and captions over Telegram's
/// limits instead of registering them.
async fn telegram_oversized_updates_are_quarantined_whole_not_registered(backend: Backend) {
    use baylanys::db::schema::raw_payloads;
    use diesel::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "webhook").await;

    // A stranger announcing 24 MB is refused before the body is read.
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /telegram/webhook HTTP/1.1\r\nHost: {addr}\r\n\
         X-Telegram-Bot-Api-Secret-Token: wrong\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{{\"update_id\": 1,",
        24 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("answered without waiting for the 24 MB")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    drop(stream);

    let quarantined = |app: Arc<AppState>| async move {
        app.db
            .run(|c| {
                Ok(raw_payloads::table
                    .filter(raw_payloads::channel.eq("telegram"))
                    .filter(raw_payloads::status.eq("quarantined"))
                    .order(raw_payloads::received_at.asc())
                    .select((raw_payloads::content, raw_payloads::reason))
                    .load::<(baylanys::db::Blob, Option<String>)>(c)?)
            })
            .await
            .unwrap()
    };

    // A 2 MiB text with the secret: over the body cap, kept whole, not registered.
    let big_chat = 880_013;
    let big = with_id(text_update(big_chat, &"ы".repeat(1024 * 1024)), 7301);
    let big_body = serde_json::to_vec(&big).unwrap();
    let r = s
        .client
        .post(format!("{}/telegram/webhook", s.url))
        .header("X-Telegram-Bot-Api-Secret-Token", "fake-secret")
        .header("content-type", "application/json")
        .body(big_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let q = quarantined(s.app.clone()).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0.0, big_body, "the raw body is kept whole");
    assert!(
        q[0].1.as_deref().unwrap_or_default().contains("limit"),
        "{:?}",
        q[0].1
    );
    assert!(ticket_of_chat(&s.app, big_chat).await.is_none());

    // 4,097 characters: one over Telegram's text limit.
    let long_chat = 880_014;
    let long = with_id(text_update(long_chat, &"а".repeat(4097)), 7302);
    assert_eq!(post_update(&s, &long).await, 200);
    let q = quarantined(s.app.clone()).await;
    assert_eq!(q.len(), 2);
    assert_eq!(
        serde_json::from_slice::<Value>(&q[1].0.0).unwrap(),
        long,
        "kept whole"
    );
    assert!(
        q[1].1.as_deref().unwrap_or_default().contains("4096"),
        "{:?}",
        q[1].1
    );
    assert!(ticket_of_chat(&s.app, long_chat).await.is_none());
    // Redelivered, it is neither kept twice nor registered.
    assert_eq!(post_update(&s, &long).await, 200);
    assert_eq!(quarantined(s.app.clone()).await.len(), 2);
    assert!(ticket_of_chat(&s.app, long_chat).await.is_none());
    eventually("the applicant is told why", || async {
        delivered_to(&fake, long_chat)
            .iter()
            .any(|t| t.contains("4097"))
    })
    .await;

    // A caption of 1,025 characters: one over the caption limit.
    let caption_chat = 880_015;
    fake.add_file("photo-1", b"\xFF\xD8\xFFjpeg".to_vec());
    let mut photo = text_update(caption_chat, "");
    let message = photo["message"].as_object_mut().unwrap();
    message.remove("text");
    message.insert(
        "photo".into(),
        json!([{"file_id": "photo-1", "file_unique_id": "u1", "width": 10, "height": 10, "file_size": 7}]),
    );
    message.insert("caption".into(), json!("б".repeat(1025)));
    let photo = with_id(photo, 7303);
    assert_eq!(post_update(&s, &photo).await, 200);
    let q = quarantined(s.app.clone()).await;
    assert_eq!(q.len(), 3);
    assert!(
        q[2].1.as_deref().unwrap_or_default().contains("1024"),
        "{:?}",
        q[2].1
    );
    assert!(ticket_of_chat(&s.app, caption_chat).await.is_none());

    // Exactly at the limit (4,096 units, here 2,048 two-unit emoji) is an appeal.
    let edge_chat = 880_016;
    let edge = with_id(text_update(edge_chat, &"😀".repeat(2048)), 7304);
    assert_eq!(post_update(&s, &edge).await, 200);
    assert!(ticket_of_chat(&s.app, edge_chat).await.is_some());
    assert_eq!(quarantined(s.app.clone()).await.len(), 3);
    s.stop().await;
}

fn rating_press(update_id: i64, chat: i64, from: i64, number: &str, rating: u8) -> Value {
    json!({"update_id": update_id, "callback_query": {
        "id": format!("cb{update_id}"),
        "from": {"id": from, "is_bot": false, "first_name": "Нажавший"},
        "chat_instance": "ci",
        "message": {"message_id": 1, "date": 1_778_000_000,
                    "chat": {"id": chat, "type": "private"}, "text": "оцените"},
        "data": format!("rate:{number}:{rating}")
    }})
}

async fn rating_of(app: &Arc<AppState>, number: &str) -> Option<i32> {
    let n = number.to_string();
    app.db
        .run(move |c| {
            Ok(baylanys::tickets::detail(c, &n, chrono::Utc::now())?.and_then(|t| t.ticket.rating))
        })
        .await
        .unwrap()
}

/// R10: a rating is taken only once one was asked for (the conversation ended with a
/// rating request), and only from the applicant who was asked.
async fn r10_rating_only_when_asked_and_from_the_applicant(backend: Backend) {
    let fake = FakeBotApi::start();
    let s = spawn_bot_server(backend, &fake, "webhook").await;
    let chat = 880_017;
    let appeal = with_id(text_update(chat, "Прошу помочь с записью к врачу"), 7401);
    assert_eq!(post_update(&s, &appeal).await, 200);
    let number = ticket_of_chat(&s.app, chat).await.expect("registered");
    // A new, never answered ticket: nobody asked for a rating.
    assert_eq!(
        post_update(&s, &rating_press(7402, chat, chat, &number, 1)).await,
        200
    );
    assert_eq!(rating_of(&s.app, &number).await, None);
    // The operator answers and closes: the rating request goes out.
    let token = token_for(&s.app, "op", Role::Operator).await;
    let r = s
        .client
        .post(format!("{}/api/v1/tickets/{number}/replies", s.url))
        .bearer_auth(&token)
        .json(&json!({"text": "Запишитесь через портал."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = s
        .client
        .post(format!("{}/api/v1/tickets/{number}/close", s.url))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    eventually("the rating keyboard is delivered", || async {
        fake.sent().iter().any(|c| {
            c.chat_id == Some(chat)
                && c.status == 200
                && c.reply_markup
                    .as_ref()
                    .is_some_and(|m| m.to_string().contains(&format!("rate:{number}:5")))
        })
    })
    .await;
    // Someone else pressing the button in that chat is not the applicant.
    let stranger = 990_001;
    assert_eq!(
        post_update(&s, &rating_press(7403, chat, stranger, &number, 1)).await,
        200
    );
    assert_eq!(rating_of(&s.app, &number).await, None);
    // The applicant: recorded, once.
    assert_eq!(
        post_update(&s, &rating_press(7404, chat, chat, &number, 5)).await,
        200
    );
    assert_eq!(rating_of(&s.app, &number).await, Some(5));
    assert_eq!(
        post_update(&s, &rating_press(7405, chat, chat, &number, 2)).await,
        200
    );
    assert_eq!(rating_of(&s.app, &number).await, Some(5));
    // The rating counts for the operator who answered, on the Telegram channel.
    let month = baylanys::reports::Month::of(chrono::Utc::now()).to_string();
    let sup = token_for(&s.app, "sup", Role::Supervisor).await;
    for (by, key) in [("channel", "telegram"), ("operator", "op")] {
        let v: Value = s
            .client
            .get(format!(
                "{}/api/v1/ratings/figures?by={by}&from={month}&to={month}",
                s.url
            ))
            .bearer_auth(&sup)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["figures"][0]["key"], key, "{v}");
        assert_eq!(v["figures"][0]["ratings"], 1, "{v}");
        assert_eq!(v["figures"][0]["scores"][4], 1, "{v}");
    }
    s.stop().await;
}

both_backends!(
    telegram_overlapping_copies_of_an_update_are_stored_once,
    telegram_follow_up_reply_goes_through_the_job_queue,
    telegram_oversized_updates_are_quarantined_whole_not_registered,
    r10_rating_only_when_asked_and_from_the_applicant,
);

mod restart {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::telegram_restart_neither_loses_nor_repeats_updates(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::telegram_restart_neither_loses_nor_repeats_updates(super::Backend::Postgres).await
    }
}

mod polling {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::r4_telegram_appeal_by_long_polling_is_registered_acknowledged_and_rated(
            super::Backend::Sqlite,
        )
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::r4_telegram_appeal_by_long_polling_is_registered_acknowledged_and_rated(
            super::Backend::Postgres,
        )
        .await
    }
}

mod webhook {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::telegram_webhook_checks_the_secret_and_registers(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::telegram_webhook_checks_the_secret_and_registers(super::Backend::Postgres).await
    }
}
