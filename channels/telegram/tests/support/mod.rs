//! An in-memory backend and update builders shared by the tests and the bench.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use baylanys_core::{InboundMessage, Language};
use baylanys_telegram::fake_api::FakeBotApi;
use baylanys_telegram::{
    AppealStatus, BackendError, BackendFuture, RatingOutcome, Registered, TelegramBackend,
    TelegramBot, TelegramConfig,
};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Ticket {
    pub number: String,
    pub chat_id: String,
    pub messages: Vec<InboundMessage>,
    pub rating: Option<u8>,
}

#[derive(Default)]
pub struct Memory {
    pub handled: HashSet<i64>,
    /// Every update id the bot asked about, in order (to see repeats).
    pub asked: Vec<i64>,
    pub languages: HashMap<i64, Language>,
    pub phones: HashMap<i64, String>,
    pub new_appeal: HashSet<i64>,
    pub tickets: Vec<Ticket>,
    /// Registrations by external id: intake is idempotent on it.
    pub by_external_id: HashMap<String, Registered>,
    pub intakes: Vec<InboundMessage>,
    pub quarantined: Vec<(String, String)>,
    pub offset: i64,
    pub offset_saves: usize,
    /// Simulates a database outage: every call answers Unavailable.
    pub down: bool,
    /// Simulates a crash before the offset reached the database.
    pub lose_offset_saves: bool,
}

/// The server's side, in memory, with the same contract as the real one.
#[derive(Default)]
pub struct MemoryBackend {
    pub memory: Mutex<Memory>,
}

impl MemoryBackend {
    pub fn lock(&self) -> MutexGuard<'_, Memory> {
        self.memory
            .lock()
            .expect("no test panicked while holding the lock")
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> Result<T, BackendError>,
    ) -> BackendFuture<'_, T> {
        let result = {
            let mut memory = self.lock();
            if memory.down {
                Err(BackendError::Unavailable("database is down".into()))
            } else {
                f(&mut memory)
            }
        };
        Box::pin(async move { result })
    }
}

impl TelegramBackend for MemoryBackend {
    fn update_is_new(&self, update_id: i64) -> BackendFuture<'_, bool> {
        self.run(move |m| {
            m.asked.push(update_id);
            Ok(!m.handled.contains(&update_id))
        })
    }

    fn claim_update(&self, update_id: i64) -> BackendFuture<'_, bool> {
        self.run(move |m| Ok(m.handled.insert(update_id)))
    }

    fn chat_language(&self, chat_id: i64) -> BackendFuture<'_, Option<Language>> {
        self.run(move |m| Ok(m.languages.get(&chat_id).copied()))
    }

    fn set_chat_language(&self, chat_id: i64, language: Language) -> BackendFuture<'_, ()> {
        self.run(move |m| {
            m.languages.insert(chat_id, language);
            Ok(())
        })
    }

    fn set_chat_phone(&self, chat_id: i64, phone: String) -> BackendFuture<'_, ()> {
        self.run(move |m| {
            m.phones.insert(chat_id, phone);
            Ok(())
        })
    }

    fn request_new_appeal(&self, chat_id: i64) -> BackendFuture<'_, ()> {
        self.run(move |m| {
            m.new_appeal.insert(chat_id);
            Ok(())
        })
    }

    fn take_new_appeal_request(&self, chat_id: i64) -> BackendFuture<'_, bool> {
        self.run(move |m| Ok(m.new_appeal.remove(&chat_id)))
    }

    fn intake(&self, message: InboundMessage) -> BackendFuture<'_, Option<Registered>> {
        self.run(move |m| {
            m.intakes.push(message.clone());
            if let Some(id) = &message.external_id {
                // The update id is claimed with the registration, as the server does.
                let claimed = id.parse().map(|id| m.handled.insert(id)).unwrap_or(true);
                if !claimed || m.by_external_id.contains_key(id) {
                    return Ok(None);
                }
            }
            let conversation = message.thread.conversation.clone().unwrap_or_default();
            let open = m
                .tickets
                .iter()
                .rposition(|t| t.chat_id == conversation && t.rating.is_none());
            let registered = match open {
                Some(index) if !message.thread.force_new => {
                    let ticket = &mut m.tickets[index];
                    ticket.messages.push(message.clone());
                    Registered {
                        number: ticket.number.clone(),
                        due_at_local: "15.05.2026 18:30".into(),
                        new_ticket: false,
                    }
                }
                _ => {
                    let number = format!("UCC-2026-{:06}", m.tickets.len() + 1);
                    m.tickets.push(Ticket {
                        number: number.clone(),
                        chat_id: conversation,
                        messages: vec![message.clone()],
                        rating: None,
                    });
                    Registered {
                        number,
                        due_at_local: "15.05.2026 18:30".into(),
                        new_ticket: true,
                    }
                }
            };
            if let Some(id) = message.external_id {
                m.by_external_id.insert(id, registered.clone());
            }
            Ok(Some(registered))
        })
    }

    fn statuses(&self, chat_id: i64) -> BackendFuture<'_, Vec<AppealStatus>> {
        self.run(move |m| {
            Ok(m.tickets
                .iter()
                .rev()
                .filter(|t| t.chat_id == chat_id.to_string())
                .map(|t| AppealStatus {
                    number: t.number.clone(),
                    status: if t.rating.is_some() {
                        "closed"
                    } else {
                        "registered"
                    }
                    .into(),
                    due_at_local: "15.05.2026 18:30".into(),
                })
                .collect())
        })
    }

    fn record_rating(
        &self,
        ticket_number: String,
        from_user: i64,
        rating: u8,
    ) -> BackendFuture<'_, RatingOutcome> {
        self.run(move |m| {
            let ticket = m
                .tickets
                .iter_mut()
                .find(|t| t.number == ticket_number && t.chat_id == from_user.to_string());
            Ok(match ticket {
                None => RatingOutcome::Unknown,
                Some(t) if t.rating.is_some() => RatingOutcome::AlreadyRated,
                Some(t) => {
                    t.rating = Some(rating);
                    RatingOutcome::Recorded
                }
            })
        })
    }

    fn quarantine(&self, raw_update: String, reason: String) -> BackendFuture<'_, ()> {
        self.run(move |m| {
            m.quarantined.push((raw_update, reason));
            Ok(())
        })
    }

    fn load_offset(&self) -> BackendFuture<'_, i64> {
        self.run(|m| Ok(m.offset))
    }

    fn save_offset(&self, offset: i64) -> BackendFuture<'_, ()> {
        self.run(move |m| {
            m.offset_saves += 1;
            if !m.lose_offset_saves {
                m.offset = offset;
            }
            Ok(())
        })
    }
}

/// A fake Bot API, a memory backend and a bot wired to both; per-chat pacing is raised
/// so a scripted conversation does not wait a second between replies.
pub fn setup() -> (FakeBotApi, Arc<MemoryBackend>, Arc<TelegramBot>) {
    let fake = FakeBotApi::start();
    let backend = Arc::new(MemoryBackend::default());
    let bot = Arc::new(TelegramBot::new(fast_config(&fake), backend.clone()));
    (fake, backend, bot)
}

pub fn fast_config(fake: &FakeBotApi) -> TelegramConfig {
    let mut config = fake.config();
    config.rate_per_chat_per_sec = 50;
    config.rate_global_per_sec = 200;
    config
}

static NEXT_MESSAGE_ID: AtomicI64 = AtomicI64::new(100);

fn user(chat_id: i64) -> Value {
    json!({"id": chat_id, "is_bot": false, "first_name": "Айгерім", "last_name": "Сапарова",
           "username": "aigerim"})
}

fn message(chat_id: i64, content: Value) -> Value {
    let mut message = json!({
        "message_id": NEXT_MESSAGE_ID.fetch_add(1, Ordering::Relaxed),
        "date": 1_778_000_000,
        "chat": {"id": chat_id, "type": "private", "first_name": "Айгерім"},
        "from": user(chat_id),
    });
    if let (Value::Object(m), Value::Object(c)) = (&mut message, content) {
        m.extend(c);
    }
    json!({ "message": message })
}

pub fn text(chat_id: i64, text: &str) -> Value {
    message(chat_id, json!({ "text": text }))
}

pub fn photo(chat_id: i64, file_id: &str, size: u64, caption: &str) -> Value {
    message(
        chat_id,
        json!({
            "photo": [
                {"file_id": "thumb", "file_unique_id": "t1", "width": 90, "height": 60, "file_size": 100},
                {"file_id": file_id, "file_unique_id": "p1", "width": 1280, "height": 960, "file_size": size}
            ],
            "caption": caption
        }),
    )
}

pub fn document(chat_id: i64, file_id: &str, name: &str, mime: &str, size: u64) -> Value {
    message(
        chat_id,
        json!({"document": {"file_id": file_id, "file_unique_id": format!("d{file_id}"),
                            "file_name": name, "mime_type": mime, "file_size": size}}),
    )
}

pub fn own_contact(chat_id: i64, phone: &str) -> Value {
    message(
        chat_id,
        json!({"contact": {"phone_number": phone, "first_name": "Айгерім", "user_id": chat_id}}),
    )
}

pub fn location(chat_id: i64, latitude: f64, longitude: f64) -> Value {
    message(
        chat_id,
        json!({"location": {"latitude": latitude, "longitude": longitude}}),
    )
}

pub fn callback(chat_id: i64, data: &str) -> Value {
    json!({"callback_query": {
        "id": format!("cb{}", NEXT_MESSAGE_ID.fetch_add(1, Ordering::Relaxed)),
        "from": user(chat_id),
        "message": {
            "message_id": 7, "date": 1_778_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Айгерім"},
            "from": {"id": 1, "is_bot": true, "first_name": "Baylanys"},
            "text": "…"
        },
        "chat_instance": "ci",
        "data": data
    }})
}

/// Polls `done` until it holds, failing the test after ten seconds.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
