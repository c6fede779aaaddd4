//! The Telegram channel end to end: the real server and teloxide client against the
//! local fake Bot API, in long-polling and webhook mode, on both backends.

use std::sync::Arc;

use baylanys::App;
use baylanys::auth::Role;
use baylanys_telegram::fake_api::FakeBotApi;
use serde_json::{Value, json};

use crate::support::{Backend, eventually, fresh_database, test_config, token_for};

struct Server {
    url: String,
    app: Arc<App>,
    client: reqwest::Client,
    running: baylanys::Running,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    async fn stop(self) {
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
    let app = App::build(config).await.unwrap();
    let app = baylanys::channels::attach(app).await.unwrap();
    let (running, server) = baylanys::serve(app, listener).unwrap();
    tokio::spawn(server);
    Server {
        url: format!("http://{}", running.addr),
        app: running.app.clone(),
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

async fn ticket_of_chat(app: &Arc<App>, chat: i64) -> Option<String> {
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
async fn chat_messages(app: &Arc<App>, chat: i64) -> Vec<String> {
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
