//! The Telegram channel against the fake Bot API, with the real teloxide client.

mod support;

use std::sync::Arc;
use std::time::Duration;

use baylanys_core::{
    Attachment, Channel, ChannelAdapter, Language, OutboundKind, OutboundMessage, SendError,
};
use baylanys_telegram::fake_api::{FakeBotApi, SentCall};
use baylanys_telegram::{
    Handled, MESSAGE_LIMIT, PollingError, TelegramBot, WebhookOutcome, delete_webhook, set_webhook,
};
use serde_json::{Value, json};
use support::{MemoryBackend, setup, wait_until};
use tokio::sync::oneshot;

const CHAT: i64 = 5_550_001;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Polling,
    Webhook,
}

/// Delivers updates the way the chosen mode does and waits until each is handled.
struct Harness {
    mode: Mode,
    fake: FakeBotApi,
    backend: Arc<MemoryBackend>,
    bot: Arc<TelegramBot>,
    next_update_id: i64,
    stop: Option<oneshot::Sender<()>>,
    polling: Option<tokio::task::JoinHandle<Result<(), PollingError>>>,
}

impl Harness {
    fn new(mode: Mode) -> Self {
        let (fake, backend, bot) = setup();
        let mut harness = Harness {
            mode,
            fake,
            backend,
            bot,
            next_update_id: 1,
            stop: None,
            polling: None,
        };
        if mode == Mode::Polling {
            let (stop, stopped) = oneshot::channel::<()>();
            let bot = harness.bot.clone();
            harness.polling = Some(tokio::spawn(async move {
                bot.run_polling(async {
                    let _ = stopped.await;
                })
                .await
            }));
            harness.stop = Some(stop);
        }
        harness
    }

    /// Sends one update and returns the calls the bot made while handling it.
    async fn send(&mut self, mut update: Value) -> Vec<SentCall> {
        let id = self.next_update_id;
        self.next_update_id += 1;
        update["update_id"] = json!(id);
        self.fake.clear_calls();
        match self.mode {
            Mode::Webhook => {
                let body = serde_json::to_vec(&update).expect("serializable");
                let outcome = self.bot.handle_webhook(Some("fake-secret"), &body).await;
                assert_eq!(outcome.http_status(), 200, "{outcome:?}");
            }
            Mode::Polling => {
                self.fake.push_update(update);
                let backend = self.backend.clone();
                // The offset moves once the update is handled through (claimed, then answered).
                wait_until("the update to be handled", || backend.lock().offset > id).await;
            }
        }
        self.fake.sent()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(polling) = self.polling.take() {
            let result = tokio::time::timeout(Duration::from_secs(5), polling)
                .await
                .expect("polling stops on shutdown")
                .expect("polling task did not panic");
            assert_eq!(result, Ok(()));
        }
    }
}

fn messages(calls: &[SentCall]) -> Vec<&SentCall> {
    calls.iter().filter(|c| c.method == "sendMessage").collect()
}

fn only_message(calls: &[SentCall]) -> String {
    let sent = messages(calls);
    assert_eq!(sent.len(), 1, "expected one message, got {calls:#?}");
    sent[0].text.clone().unwrap_or_default()
}

#[tokio::test]
async fn r4_whole_conversation_by_long_polling() {
    whole_conversation(Mode::Polling).await;
}

#[tokio::test]
async fn r4_whole_conversation_by_webhook() {
    whole_conversation(Mode::Webhook).await;
}

async fn whole_conversation(mode: Mode) {
    let mut h = Harness::new(mode);
    h.fake
        .add_file("photo-big", b"\xFF\xD8\xFFjpeg bytes".to_vec());
    h.fake.add_file("doc-1", b"%PDF-1.7 certificate".to_vec());

    // /start: greeting in both languages with the phone button, then the language choice.
    let calls = h.send(support::text(CHAT, "/start")).await;
    let sent = messages(&calls);
    assert_eq!(sent.len(), 2, "{calls:#?}");
    let greeting = sent[0].text.as_deref().unwrap_or_default();
    assert!(greeting.contains("Сәлеметсіз бе") && greeting.contains("Здравствуйте"));
    let keyboard = sent[0].reply_markup.as_ref().expect("reply keyboard");
    assert_eq!(keyboard["keyboard"][0][0]["request_contact"], true);
    let choice = sent[1].reply_markup.as_ref().expect("inline keyboard");
    assert_eq!(choice["inline_keyboard"][0][0]["callback_data"], "lang:kk");
    assert_eq!(choice["inline_keyboard"][0][1]["callback_data"], "lang:ru");

    // Picking Kazakh: kept per chat, the button answered, its keyboard removed.
    let calls = h.send(support::callback(CHAT, "lang:kk")).await;
    assert_eq!(h.backend.lock().languages.get(&CHAT), Some(&Language::Kk));
    let answered = calls.iter().find(|c| c.method == "answerCallbackQuery");
    assert_eq!(
        answered.and_then(|c| c.params["text"].as_str()),
        Some("Қазақша")
    );
    assert!(calls.iter().any(|c| c.method == "editMessageReplyMarkup"));
    assert!(only_message(&calls).contains("Қазақ тілі таңдалды"));

    // Sharing one's own phone number is stored, not registered as an appeal.
    let calls = h.send(support::own_contact(CHAT, "+77011234567")).await;
    assert_eq!(
        h.backend.lock().phones.get(&CHAT).map(String::as_str),
        Some("+77011234567")
    );
    assert!(only_message(&calls).contains("телефон нөміріңіз сақталды"));
    assert!(h.backend.lock().intakes.is_empty());

    // A text registers an appeal; the server's acknowledgement job answers, not the bot.
    let calls = h
        .send(support::text(CHAT, "Порталда анықтама берілмейді"))
        .await;
    assert!(
        messages(&calls).is_empty(),
        "the bot must not acknowledge: {calls:#?}"
    );
    {
        let memory = h.backend.lock();
        let inbound = memory.intakes.last().expect("intake called");
        assert_eq!(inbound.channel, Channel::Telegram);
        assert_eq!(inbound.sender.address, CHAT.to_string());
        assert_eq!(inbound.thread.conversation, Some(CHAT.to_string()));
        assert!(!inbound.thread.force_new);
        assert_eq!(inbound.language, Some(Language::Kk));
        assert_eq!(inbound.body_text, "Порталда анықтама берілмейді");
        assert!(inbound.external_id.is_some());
        assert_eq!(memory.tickets.len(), 1);
    }

    // A photo joins the open appeal, fetched through getFile.
    let calls = h
        .send(support::photo(CHAT, "photo-big", 15, "Экран қатесі"))
        .await;
    let get_file = calls
        .iter()
        .find(|c| c.method == "getFile")
        .expect("getFile called");
    assert_eq!(get_file.params["file_id"], "photo-big");
    // "Added to your appeal" is the server's job too: the bot does not wait on pacing.
    assert!(
        messages(&calls).is_empty(),
        "the bot must not answer a follow-up inline: {calls:#?}"
    );
    {
        let memory = h.backend.lock();
        let inbound = memory.intakes.last().expect("intake called");
        assert_eq!(inbound.body_text, "Экран қатесі");
        assert_eq!(inbound.attachments.len(), 1);
        assert_eq!(inbound.attachments[0].content, b"\xFF\xD8\xFFjpeg bytes");
        assert_eq!(inbound.attachments[0].content_type, "image/jpeg");
    }

    // A document keeps its name and type.
    let calls = h
        .send(support::document(
            CHAT,
            "doc-1",
            "анықтама.pdf",
            "application/pdf",
            20,
        ))
        .await;
    assert!(calls.iter().any(|c| c.method == "getFile"));
    {
        let memory = h.backend.lock();
        let file = &memory.intakes.last().expect("intake called").attachments[0];
        assert_eq!(file.file_name, "анықтама.pdf");
        assert_eq!(file.content_type, "application/pdf");
        assert_eq!(file.content, b"%PDF-1.7 certificate");
        assert_eq!(memory.tickets[0].messages.len(), 3);
    }

    // A file over the limit is not downloaded; the applicant is told in their language,
    // and the message is still registered.
    let huge = 30 * 1024 * 1024;
    let calls = h
        .send(support::document(
            CHAT,
            "doc-huge",
            "video.zip",
            "application/zip",
            huge,
        ))
        .await;
    assert!(!calls.iter().any(|c| c.method == "getFile"));
    // The note goes to the server with the message, which queues it as a job.
    assert!(messages(&calls).is_empty(), "{calls:#?}");
    {
        let memory = h.backend.lock();
        let inbound = memory.intakes.last().expect("intake called");
        assert!(inbound.attachments.is_empty());
        let skipped = &inbound.fields["telegram_files_skipped"][0];
        assert_eq!(skipped["name"], "video.zip");
        let notice = skipped["notice"].as_str().unwrap_or_default();
        assert!(
            notice.contains("«video.zip» файлы тым үлкен (30.0 МБ, шегі 20.0 МБ)"),
            "{notice}"
        );
    }

    // A location is appeal content too.
    h.send(support::location(CHAT, 51.128_207, 71.430_411))
        .await;
    assert!(
        h.backend
            .lock()
            .intakes
            .last()
            .expect("intake")
            .body_text
            .contains("51.128207, 71.430411")
    );

    // /status lists the appeals with state and deadline.
    let calls = h.send(support::text(CHAT, "/status")).await;
    let status = only_message(&calls);
    assert!(
        status.contains("№ UCC-2026-000001 — тіркелді, мерзімі: 15.05.2026 18:30"),
        "{status}"
    );

    // /help says what the bot does and gives 1414.
    let calls = h.send(support::text(CHAT, "/help")).await;
    let help = only_message(&calls);
    assert!(help.contains("1414") && help.contains("support@goscorp.kz"));
    assert!(
        !help.contains("Этот бот"),
        "chat language is Kazakh only: {help}"
    );

    // "Жаңа өтініш" makes the next message a separate appeal.
    let calls = h.send(support::text(CHAT, "Жаңа өтініш")).await;
    assert!(only_message(&calls).contains("Жаңа өтінішіңізді жазыңыз"));
    let calls = h.send(support::text(CHAT, "Басқа мәселе: ЭЦҚ")).await;
    assert!(messages(&calls).is_empty());
    {
        let memory = h.backend.lock();
        assert!(memory.intakes.last().expect("intake").thread.force_new);
        assert_eq!(memory.tickets.len(), 2);
    }

    // A rating is recorded once; a second tap says so and changes nothing (R10).
    let calls = h
        .send(support::callback(CHAT, "rate:UCC-2026-000001:5"))
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "answerCallbackQuery")
        .expect("answered");
    assert_eq!(answer.params["text"], "Бағаңыз үшін рақмет!");
    assert!(calls.iter().any(|c| c.method == "editMessageReplyMarkup"));
    let calls = h
        .send(support::callback(CHAT, "rate:UCC-2026-000001:1"))
        .await;
    let answer = calls
        .iter()
        .find(|c| c.method == "answerCallbackQuery")
        .expect("answered");
    assert_eq!(answer.params["text"], "Бағаңыз бұрын тіркелген.");
    assert_eq!(h.backend.lock().tickets[0].rating, Some(5));

    // An update teloxide cannot read is quarantined whole, with the reason.
    let intakes_before = h.backend.lock().intakes.len();
    h.send(json!({"message": {"text": "no chat, no date"}}))
        .await;
    {
        let memory = h.backend.lock();
        let (raw, reason) = memory.quarantined.last().expect("quarantined");
        assert!(raw.contains("no chat, no date"));
        assert!(!reason.is_empty());
        assert_eq!(memory.intakes.len(), intakes_before);
    }
    // Every update was asked about exactly once: nothing repeated.
    {
        let memory = h.backend.lock();
        let mut asked = memory.asked.clone();
        asked.dedup();
        assert_eq!(asked.len(), memory.asked.len(), "{:?}", memory.asked);
    }
    h.stop().await;
}

#[tokio::test]
async fn r4_chat_without_language_gets_both_and_russian_choice_sticks() {
    let mut h = Harness::new(Mode::Webhook);
    let calls = h.send(support::text(CHAT, "/help")).await;
    let help = only_message(&calls);
    assert!(help.contains("Бұл бот") && help.contains("Этот бот"));
    let calls = h.send(support::callback(CHAT, "lang:ru")).await;
    assert!(only_message(&calls).contains("Выбран русский язык"));
    h.send(support::text(CHAT, "Первое обращение")).await;
    let calls = h.send(support::text(CHAT, "Дополнение")).await;
    // The server's job says "added"; the bot answers nothing inline.
    assert!(messages(&calls).is_empty(), "{calls:#?}");
    assert_eq!(h.backend.lock().tickets[0].messages.len(), 2);
}

#[tokio::test]
async fn webhook_redelivery_is_handled_once() {
    let (_fake, backend, bot) = setup();
    let update = json!({"update_id": 77, "message": {
        "message_id": 1, "date": 1_778_000_000,
        "chat": {"id": CHAT, "type": "private", "first_name": "A"},
        "from": {"id": CHAT, "is_bot": false, "first_name": "A"},
        "text": "Обращение"}});
    let body = serde_json::to_vec(&update).expect("serializable");
    let first = bot.handle_webhook(Some("fake-secret"), &body).await;
    let again = bot.handle_webhook(Some("fake-secret"), &body).await;
    assert_eq!(
        first,
        WebhookOutcome::Handled(Handled::Processed),
        "{:?}",
        backend.lock().quarantined
    );
    assert_eq!(again, WebhookOutcome::Handled(Handled::Duplicate));
    assert_eq!(backend.lock().intakes.len(), 1);
}

#[tokio::test]
async fn webhook_refuses_a_wrong_or_missing_secret() {
    let (fake, backend, bot) = setup();
    let body = serde_json::to_vec(&support::text(CHAT, "hi")).expect("serializable");
    for header in [
        None,
        Some(""),
        Some("fake-secreT"),
        Some("fake-secret-and-more"),
    ] {
        let outcome = bot.handle_webhook(header, &body).await;
        assert_eq!(outcome, WebhookOutcome::Unauthorized);
        assert_eq!(outcome.http_status(), 401);
    }
    // Without a configured secret the webhook is closed rather than open to forgeries.
    let mut config = support::fast_config(&fake);
    config.webhook_secret = None;
    let open = TelegramBot::new(config, backend.clone());
    assert_eq!(
        open.handle_webhook(None, &body).await,
        WebhookOutcome::Unauthorized
    );
    let memory = backend.lock();
    assert!(memory.asked.is_empty() && memory.quarantined.is_empty());
}

#[tokio::test]
async fn webhook_body_that_is_not_json_is_quarantined() {
    let (_fake, backend, bot) = setup();
    let outcome = bot
        .handle_webhook(Some("fake-secret"), b"{\"update_id\": 3, oops")
        .await;
    assert_eq!(outcome, WebhookOutcome::Handled(Handled::Quarantined));
    assert_eq!(outcome.http_status(), 200);
    let memory = backend.lock();
    assert_eq!(memory.quarantined[0].0, "{\"update_id\": 3, oops");
    assert!(memory.quarantined[0].1.contains("not JSON"));
}

#[tokio::test]
async fn webhook_asks_telegram_to_retry_while_the_backend_is_down() {
    let (_fake, backend, bot) = setup();
    let mut update = support::text(CHAT, "Обращение во время сбоя");
    update["update_id"] = json!(900);
    let body = serde_json::to_vec(&update).expect("serializable");
    backend.lock().down = true;
    let outcome = bot.handle_webhook(Some("fake-secret"), &body).await;
    assert_eq!(outcome.http_status(), 503, "{outcome:?}");
    backend.lock().down = false;
    let outcome = bot.handle_webhook(Some("fake-secret"), &body).await;
    assert_eq!(outcome, WebhookOutcome::Handled(Handled::Processed));
    assert_eq!(backend.lock().tickets.len(), 1);
}

#[tokio::test]
async fn polling_restart_neither_loses_nor_repeats_updates() {
    let (fake, backend, _) = setup();
    let start = |backend: Arc<MemoryBackend>| {
        let bot = Arc::new(TelegramBot::new(support::fast_config(&fake), backend));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            bot.run_polling(async {
                let _ = stopped.await;
            })
            .await
        });
        (stop, task)
    };
    let stop_and_wait = |stop: oneshot::Sender<()>, task: tokio::task::JoinHandle<_>| async move {
        let _ = stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops on shutdown")
            .expect("no panic");
        assert_eq!(result, Ok(()));
    };

    for i in 1..=3 {
        fake.push_update(support::text(CHAT + i, &format!("Обращение {i}")));
    }
    let (stop, task) = start(backend.clone());
    let b = backend.clone();
    wait_until("three updates", || b.lock().handled.len() == 3).await;
    wait_until("offset saved", || b.lock().offset == 4).await;
    stop_and_wait(stop, task).await;

    // Updates arriving while the bot is down are taken after the restart.
    for i in 4..=6 {
        fake.push_update(support::text(CHAT + i, &format!("Обращение {i}")));
    }
    let (stop, task) = start(backend.clone());
    wait_until("six updates", || b.lock().handled.len() == 6).await;
    wait_until("offset saved", || b.lock().offset == 7).await;
    stop_and_wait(stop, task).await;

    // A crash before the offset reached the database: Telegram serves everything
    // again, and the dedupe keeps each update to one registration.
    backend.lock().offset = 0;
    let (stop, task) = start(backend.clone());
    wait_until("the old updates to be seen again", || {
        let memory = b.lock();
        memory.asked.len() >= 12 && memory.offset == 7
    })
    .await;
    stop_and_wait(stop, task).await;

    let memory = backend.lock();
    assert_eq!(memory.intakes.len(), 6, "each update registered once");
    assert_eq!(memory.tickets.len(), 6);
    let mut bodies: Vec<&str> = memory
        .intakes
        .iter()
        .map(|m| m.body_text.as_str())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        (1..=6)
            .map(|i| format!("Обращение {i}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn polling_keeps_an_update_the_backend_cannot_take_yet() {
    let (fake, backend, bot) = setup();
    backend.lock().down = true;
    fake.push_update(support::text(CHAT, "Обращение во время сбоя"));
    let (stop, stopped) = oneshot::channel::<()>();
    let polling = {
        let bot = bot.clone();
        tokio::spawn(async move {
            bot.run_polling(async {
                let _ = stopped.await;
            })
            .await
        })
    };
    // While the database is down nothing moves (the offset cannot even be loaded).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(backend.lock().intakes.is_empty());
    backend.lock().down = false;
    let b = backend.clone();
    wait_until("the update after recovery", || b.lock().intakes.len() == 1).await;
    let _ = stop.send(());
    let _ = polling.await;
    assert_eq!(backend.lock().offset, 2);
}

#[tokio::test]
async fn polling_with_a_wrong_token_stops_with_an_error() {
    let fake = FakeBotApi::start();
    let mut config = fake.config();
    config.token = "999:wrong".into();
    let bot = TelegramBot::new(config, Arc::new(MemoryBackend::default()));
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        bot.run_polling(std::future::pending()),
    )
    .await
    .expect("returns instead of retrying forever");
    assert!(
        matches!(result, Err(PollingError::InvalidToken(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn set_webhook_registers_url_and_secret() {
    let (fake, _, bot) = setup();
    let url = "https://baylanys.example.kz/telegram/webhook"
        .parse()
        .expect("valid url");
    set_webhook(bot.bot(), url, "s3cret_Token-1")
        .await
        .expect("accepted");
    assert_eq!(
        fake.webhook(),
        Some((
            "https://baylanys.example.kz/telegram/webhook".into(),
            Some("s3cret_Token-1".into())
        ))
    );
    let url = "https://baylanys.example.kz/x".parse().expect("valid url");
    assert!(set_webhook(bot.bot(), url, "bad secret").await.is_err());

    // Polling does not take the bot away from a webhook on its own...
    let polling = bot.run_polling(std::future::pending());
    let result = tokio::time::timeout(Duration::from_secs(5), polling)
        .await
        .expect("returns instead of retrying forever");
    assert!(
        matches!(result, Err(PollingError::WebhookActive(_))),
        "{result:?}"
    );
    // ...only after a deliberate delete_webhook.
    delete_webhook(bot.bot()).await.expect("deleted");
    assert_eq!(fake.webhook(), None);
}

fn outbound(kind: OutboundKind, chat: i64, text: &str) -> OutboundMessage {
    OutboundMessage {
        channel: Channel::Telegram,
        kind,
        recipient: chat.to_string(),
        ticket_number: Some("UCC-2026-000042".into()),
        language: Language::Ru,
        subject: None,
        body_text: text.into(),
        body_html: None,
        attachments: Vec::new(),
        message_id: None,
        references: Vec::new(),
        last_inbound_at: None,
    }
}

#[tokio::test]
async fn adapter_maps_429_to_temporary_with_retry_after() {
    let (fake, _, bot) = setup();
    let adapter = bot.adapter();
    assert_eq!(adapter.channel(), Channel::Telegram);
    fake.fail_next_retry_after("sendMessage", 7, 1);
    let error = adapter
        .send(&outbound(OutboundKind::Reply, CHAT, "Ответ"))
        .await
        .expect_err("flood control");
    assert_eq!(
        error,
        SendError::Temporary {
            message: "Telegram flood control: retry after 7 s".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    // Another chat is not held back by that chat's penalty.
    let receipt = adapter
        .send(&outbound(OutboundKind::Reply, CHAT + 1, "Ответ"))
        .await
        .expect("delivered");
    assert!(receipt.remote_id.is_some());
}

#[tokio::test]
async fn adapter_treats_a_blocked_bot_as_permanent_and_bad_input_too() {
    let (fake, _, bot) = setup();
    let adapter = bot.adapter();
    fake.block_chat(CHAT);
    let error = adapter
        .send(&outbound(OutboundKind::Reply, CHAT, "Ответ"))
        .await;
    assert!(
        matches!(&error, Err(SendError::Permanent { message }) if message.contains("blocked")),
        "{error:?}"
    );
    fake.fail_next("sendMessage", 400, 1);
    let error = adapter
        .send(&outbound(OutboundKind::Reply, CHAT + 1, "Ответ"))
        .await;
    assert!(
        matches!(error, Err(SendError::Permanent { .. })),
        "{error:?}"
    );
    // A 500 is Temporary too (unit tests): teloxide itself waits 10 s after one.
    let mut bad = outbound(OutboundKind::Reply, CHAT, "x");
    bad.recipient = "someone@example.kz".into();
    assert!(matches!(
        adapter.send(&bad).await,
        Err(SendError::Permanent { .. })
    ));
}

#[tokio::test]
async fn adapter_network_failure_is_temporary() {
    let fake = FakeBotApi::start();
    let mut config = fake.config();
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let port = listener.local_addr().expect("bound").port();
    drop(listener);
    config.api_url = Some(
        format!("http://127.0.0.1:{port}/")
            .parse()
            .expect("valid url"),
    );
    let adapter = baylanys_telegram::TelegramAdapter::from_config(&config);
    let error = adapter
        .send(&outbound(OutboundKind::Reply, CHAT, "Ответ"))
        .await;
    assert!(
        matches!(&error, Err(SendError::Temporary { message, .. }) if !message.contains(&config.token)),
        "{error:?}"
    );
}

#[tokio::test]
async fn adapter_splits_long_text_and_puts_rating_buttons_on_the_last_part() {
    let (fake, _, bot) = setup();
    let paragraph = "Ответ на ваше обращение, абзац с пояснениями. ".repeat(30);
    let text = [paragraph.trim(); 8].join("\n\n");
    assert!(text.encode_utf16().count() > 2 * MESSAGE_LIMIT);
    let receipt = bot
        .adapter()
        .send(&outbound(OutboundKind::RatingRequest, CHAT, &text))
        .await
        .expect("delivered");
    let sent = fake.sent();
    // Two 1.4k-char paragraphs fit a part, three do not: eight make four parts.
    assert_eq!(sent.len(), 4, "{sent:#?}");
    assert_eq!(receipt.remote_id.map(|ids| ids.split(',').count()), Some(4));
    for (i, call) in sent.iter().enumerate() {
        let part = call.text.as_deref().unwrap_or_default();
        assert!(part.encode_utf16().count() <= MESSAGE_LIMIT);
        assert!(part.ends_with("пояснениями."), "cut inside a paragraph");
        assert_eq!(call.reply_markup.is_some(), i == 3);
    }
    let buttons = &sent[3].reply_markup.as_ref().expect("keyboard")["inline_keyboard"][0];
    let data: Vec<&str> = (0..5)
        .filter_map(|i| buttons[i]["callback_data"].as_str())
        .collect();
    assert_eq!(
        data,
        (1..=5)
            .map(|n| format!("rate:UCC-2026-000042:{n}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn adapter_sends_images_as_photos_and_other_files_as_documents() {
    let (fake, _, bot) = setup();
    let mut message = outbound(OutboundKind::Reply, CHAT, "Ответ с файлами");
    message.attachments = vec![
        Attachment {
            file_name: "скриншот.png".into(),
            content_type: "image/png".into(),
            content: b"\x89PNG....".to_vec(),
        },
        Attachment {
            file_name: "ответ.pdf".into(),
            content_type: "application/pdf".into(),
            content: b"%PDF-1.7".to_vec(),
        },
    ];
    bot.adapter().send(&message).await.expect("delivered");
    let sent = fake.sent();
    let methods: Vec<&str> = sent.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["sendMessage", "sendPhoto", "sendDocument"]);
    assert_eq!(sent[1].file_names, ["скриншот.png"]);
    assert_eq!(sent[2].file_names, ["ответ.pdf"]);
    assert!(sent.iter().all(|c| c.chat_id == Some(CHAT)));
}
