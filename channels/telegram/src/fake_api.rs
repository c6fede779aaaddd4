//! A fake Telegram Bot API server for tests (feature `fake-api`).
//!
//! Serves `/bot<token>/<method>` and `/file/bot<token>/<path>` on 127.0.0.1 with the
//! methods Baylanys uses, records every call, and can be told to fail: 429 with
//! `retry_after`, 403 for a blocked chat, any status for the next N calls of a method.
//! It also keeps send timestamps, so a test or bench can check the rates it was sent at,
//! and can enforce Telegram's limits itself by answering 429.
//!
//! Unlike Telegram it keeps every update after it was confirmed by a higher offset, so a
//! client that restarts from a stale offset sees old updates again: harsher than the real
//! API, which is what the dedupe tests want.
//!
//! ```no_run
//! # use baylanys_telegram::fake_api::FakeBotApi;
//! let fake = FakeBotApi::start();
//! let config = fake.config(); // TelegramConfig pointing at the fake
//! fake.push_update(serde_json::json!({"message": {"message_id": 1}}));
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use url::Url;

use crate::config::TelegramConfig;

/// Methods that deliver a message to a chat: the ones Telegram rate-limits.
const SEND_METHODS: [&str; 3] = ["sendMessage", "sendPhoto", "sendDocument"];
/// A test wants its answer soon; real Telegram would hold up to `timeout` seconds.
const LONG_POLL_CAP: Duration = Duration::from_millis(500);

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct SentCall {
    pub method: String,
    pub chat_id: Option<i64>,
    pub text: Option<String>,
    pub caption: Option<String>,
    /// Parsed from JSON (it arrives as a JSON string inside multipart forms).
    pub reply_markup: Option<Value>,
    /// Names of uploaded files (multipart parts with a filename).
    pub file_names: Vec<String>,
    /// Every non-file parameter.
    pub params: Map<String, Value>,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at: Instant,
}

/// Rates seen by the fake over accepted sends, in sliding one-second windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStats {
    pub sends: usize,
    pub max_global_per_sec: usize,
    pub max_per_chat_per_sec: usize,
    pub too_many_requests: usize,
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    status: u16,
    retry_after: u64,
}

#[derive(Default)]
struct State {
    updates: Vec<Value>,
    next_update_id: i64,
    calls: Vec<SentCall>,
    failures: HashMap<String, VecDeque<Failure>>,
    blocked: HashSet<i64>,
    /// file_id -> (file_path, content)
    files: HashMap<String, (String, Vec<u8>)>,
    limits: Option<(usize, usize)>,
    next_message_id: i64,
    webhook: Option<(String, Option<String>)>,
}

struct Shared {
    token: String,
    state: Mutex<State>,
    new_update: Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the calls from the others.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake Bot API; stopped when dropped.
pub struct FakeBotApi {
    /// Base URL, e.g. `http://127.0.0.1:41234/`: give it to `Bot::set_api_url`.
    pub url: Url,
    /// The token the fake accepts; others get 401 like from Telegram.
    pub token: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeBotApi {
    /// Starts on a free port in a thread of its own, so it works from any test runtime.
    pub fn start() -> FakeBotApi {
        let token = "123456:fake-token".to_owned();
        let shared = Arc::new(Shared {
            token: token.clone(),
            state: Mutex::new(State {
                next_update_id: 1,
                next_message_id: 1,
                ..State::default()
            }),
            new_update: Notify::new(),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let data = web::Data::from(shared.clone());
        std::thread::Builder::new()
            .name("fake-bot-api".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .route("/file/{bot}/{path:.*}", web::get().to(file))
                            .route("/{bot}/{method}", web::to(method))
                    })
                    .workers(2)
                    .bind(("127.0.0.1", 0))
                    .expect("bind the fake Bot API on a free local port");
                    let address = server.addrs()[0];
                    let server = server.run();
                    ready_tx
                        .send((address, server.handle()))
                        .expect("the starting test waits for the address");
                    let _ = server.await;
                });
            })
            .expect("spawn the fake Bot API thread");
        let (address, handle) = ready_rx.recv().expect("the fake Bot API started");
        FakeBotApi {
            url: Url::parse(&format!("http://{address}/")).expect("a socket address makes a URL"),
            token,
            shared,
            handle,
        }
    }

    /// A channel configuration pointing at this fake, with a webhook secret.
    pub fn config(&self) -> TelegramConfig {
        let mut config = TelegramConfig::new(self.token.clone());
        config.api_url = Some(self.url.clone());
        config.webhook_secret = Some("fake-secret".to_owned());
        config.poll_timeout_secs = 1;
        config.texts = crate::texts::from_dir::workspace_texts();
        config
    }

    /// Queues an update for getUpdates; `update_id` is assigned when missing. Returns it.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut state = self.shared.state();
            let id = match update.get("update_id").and_then(Value::as_i64) {
                Some(id) => id,
                None => {
                    let id = state.next_update_id;
                    if let Value::Object(map) = &mut update {
                        map.insert("update_id".into(), json!(id));
                    }
                    id
                }
            };
            state.next_update_id = state.next_update_id.max(id + 1);
            state.updates.push(update);
            id
        };
        self.shared.new_update.notify_waiters();
        id
    }

    /// Every call except getUpdates (which a polling client makes all the time).
    pub fn sent(&self) -> Vec<SentCall> {
        let state = self.shared.state();
        state
            .calls
            .iter()
            .filter(|c| c.method != "getUpdates")
            .cloned()
            .collect()
    }

    /// Every call, getUpdates included.
    pub fn calls(&self) -> Vec<SentCall> {
        self.shared.state().calls.clone()
    }

    /// Forgets the recorded calls (not the updates, files or failures).
    pub fn clear_calls(&self) {
        self.shared.state().calls.clear();
    }

    /// The next `n` calls of `method` answer `status` (429 with `retry_after` 1 s).
    pub fn fail_next(&self, method: &str, status: u16, n: usize) {
        self.fail_next_with(method, status, 1, n);
    }

    /// The next `n` calls of `method` answer 429 with this `retry_after`.
    pub fn fail_next_retry_after(&self, method: &str, retry_after_secs: u64, n: usize) {
        self.fail_next_with(method, 429, retry_after_secs, n);
    }

    fn fail_next_with(&self, method: &str, status: u16, retry_after: u64, n: usize) {
        let mut state = self.shared.state();
        let queue = state.failures.entry(canonical(method)).or_default();
        queue.extend(std::iter::repeat_n(
            Failure {
                status,
                retry_after,
            },
            n,
        ));
    }

    /// Everything sent to this chat answers 403 "bot was blocked by the user".
    pub fn block_chat(&self, chat_id: i64) {
        self.shared.state().blocked.insert(chat_id);
    }

    /// A file getFile can describe and `/file/...` can serve.
    pub fn add_file(&self, file_id: &str, content: Vec<u8>) {
        let mut state = self.shared.state();
        let path = format!("documents/file_{}", state.files.len() + 1);
        state.files.insert(file_id.to_owned(), (path, content));
    }

    /// Answer 429 (retry_after 1) to sends beyond these rates, like Telegram does.
    pub fn enforce_limits(&self, global_per_sec: usize, per_chat_per_sec: usize) {
        self.shared.state().limits = Some((global_per_sec, per_chat_per_sec));
    }

    /// The webhook URL and secret last set, if any.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.shared.state().webhook.clone()
    }

    pub fn rate_stats(&self) -> RateStats {
        let state = self.shared.state();
        let sends: Vec<&SentCall> = state
            .calls
            .iter()
            .filter(|c| SEND_METHODS.contains(&c.method.as_str()))
            .collect();
        let accepted: Vec<Instant> = sends
            .iter()
            .filter(|c| c.status == 200)
            .map(|c| c.at)
            .collect();
        let mut per_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
        for call in sends.iter().filter(|c| c.status == 200) {
            if let Some(chat) = call.chat_id {
                per_chat.entry(chat).or_default().push(call.at);
            }
        }
        RateStats {
            sends: accepted.len(),
            max_global_per_sec: max_in_window(&accepted, Duration::from_secs(1)),
            max_per_chat_per_sec: per_chat
                .values()
                .map(|times| max_in_window(times, Duration::from_secs(1)))
                .max()
                .unwrap_or(0),
            too_many_requests: sends.iter().filter(|c| c.status == 429).count(),
        }
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion need not be awaited.
        drop(self.handle.stop(false));
    }
}

/// The most events inside any half-open window of length `window`.
fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

async fn method(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let bot = req.match_info().get("bot").unwrap_or_default();
    let name = canonical(req.match_info().get("method").unwrap_or_default());
    let (params, file_names) = parse_params(&req, &body);
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return error(401, "Unauthorized", None);
    }
    if name == "getUpdates" {
        if shared.state().webhook.is_some() {
            let description = "Conflict: can't use getUpdates method while webhook is active; \
                               use deleteWebhook to delete the webhook first";
            return error(409, description, None);
        }
        return get_updates(&shared, &params).await;
    }

    let chat_id = params.get("chat_id").and_then(as_i64);
    let mut state = shared.state();
    let (status, answer) = answer(&mut state, &name, &params, chat_id);
    let reply_markup = params.get("reply_markup").map(|m| match m {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| m.clone()),
        other => other.clone(),
    });
    state.calls.push(SentCall {
        method: name,
        chat_id,
        text: params
            .get("text")
            .and_then(Value::as_str)
            .map(str::to_owned),
        caption: params
            .get("caption")
            .and_then(Value::as_str)
            .map(str::to_owned),
        reply_markup,
        file_names,
        params,
        status,
        at: Instant::now(),
    });
    answer
}

/// Decides the answer to one call (everything but getUpdates).
fn answer(
    state: &mut State,
    name: &str,
    params: &Map<String, Value>,
    chat_id: Option<i64>,
) -> (u16, HttpResponse) {
    if let Some(failure) = state.failures.get_mut(name).and_then(VecDeque::pop_front) {
        return (failure.status, failure_response(failure));
    }
    let to_chat = SEND_METHODS.contains(&name) || name == "editMessageReplyMarkup";
    if chat_id.is_some_and(|c| to_chat && state.blocked.contains(&c)) {
        return (
            403,
            error(403, "Forbidden: bot was blocked by the user", None),
        );
    }
    if let (true, Some((global, per_chat)), Some(chat)) =
        (SEND_METHODS.contains(&name), state.limits, chat_id)
        && over_limit(state, chat, global, per_chat)
    {
        let failure = Failure {
            status: 429,
            retry_after: 1,
        };
        return (429, failure_response(failure));
    }
    let result = match name {
        "getMe" => json!({
            "id": 1, "is_bot": true, "first_name": "Baylanys", "username": "baylanys_test_bot",
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        }),
        "sendMessage" | "sendPhoto" | "sendDocument" | "editMessageReplyMarkup" => {
            let Some(chat) = chat_id else {
                return (400, error(400, "Bad Request: chat_id is empty", None));
            };
            let text = params
                .get("text")
                .or_else(|| params.get("caption"))
                .and_then(Value::as_str)
                .unwrap_or("file");
            let id = match params.get("message_id").and_then(as_i64) {
                Some(id) => id,
                None => {
                    state.next_message_id += 1;
                    state.next_message_id
                }
            };
            message_json(chat, id, text)
        }
        "answerCallbackQuery" => json!(true),
        "deleteWebhook" => {
            state.webhook = None;
            json!(true)
        }
        "setWebhook" => {
            let url = params
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let secret = params.get("secret_token").and_then(Value::as_str);
            state.webhook = Some((url.to_owned(), secret.map(str::to_owned)));
            json!(true)
        }
        "getFile" => {
            let id = params
                .get("file_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match state.files.get(id) {
                Some((path, content)) => json!({
                    "file_id": id, "file_unique_id": format!("u{id}"),
                    "file_size": content.len(), "file_path": path
                }),
                None => return (400, error(400, "Bad Request: invalid file id", None)),
            }
        }
        _ => return (404, error(404, "Not Found: method not found", None)),
    };
    (
        200,
        HttpResponse::Ok().json(json!({"ok": true, "result": result})),
    )
}

/// Telegram's method names are case-insensitive and teloxide sends `SendMessage`;
/// calls are recorded as the documentation spells them (`sendMessage`).
fn canonical(method: &str) -> String {
    let mut chars = method.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn over_limit(state: &State, chat: i64, global: usize, per_chat: usize) -> bool {
    let now = Instant::now();
    let recent = state.calls.iter().filter(|c| {
        c.status == 200
            && SEND_METHODS.contains(&c.method.as_str())
            && now.duration_since(c.at) < Duration::from_secs(1)
    });
    let (mut all, mut this_chat) = (0, 0);
    for call in recent {
        all += 1;
        if call.chat_id == Some(chat) {
            this_chat += 1;
        }
    }
    all >= global || this_chat >= per_chat
}

async fn get_updates(shared: &Shared, params: &Map<String, Value>) -> HttpResponse {
    let offset = params.get("offset").and_then(as_i64).unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(as_i64)
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(100);
    let timeout = params.get("timeout").and_then(as_i64).unwrap_or(0);
    let wait = Duration::from_secs(u64::try_from(timeout).unwrap_or(0)).min(LONG_POLL_CAP);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = shared.new_update.notified();
        tokio::pin!(notified);
        // Registered before looking, so an update pushed in between still wakes us.
        notified.as_mut().enable();
        let batch: Vec<Value> = {
            let mut state = shared.state();
            let batch: Vec<Value> = state
                .updates
                .iter()
                .filter(|u| u.get("update_id").and_then(Value::as_i64).unwrap_or(0) >= offset)
                .take(limit)
                .cloned()
                .collect();
            state.calls.push(SentCall {
                method: "getUpdates".into(),
                chat_id: None,
                text: None,
                caption: None,
                reply_markup: None,
                file_names: Vec::new(),
                params: params.clone(),
                status: 200,
                at: Instant::now(),
            });
            batch
        };
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return HttpResponse::Ok().json(json!({"ok": true, "result": batch}));
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

async fn file(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let bot = req.match_info().get("bot").unwrap_or_default();
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return HttpResponse::Unauthorized().finish();
    }
    let path = req.match_info().get("path").unwrap_or_default();
    let state = shared.state();
    match state.files.values().find(|(p, _)| p == path) {
        Some((_, content)) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(content.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

fn message_json(chat_id: i64, message_id: i64, text: &str) -> Value {
    let chat = if chat_id > 0 {
        json!({"id": chat_id, "type": "private", "first_name": "Applicant"})
    } else {
        json!({"id": chat_id, "type": "supergroup", "title": "Group"})
    };
    json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": chat,
        "from": {"id": 1, "is_bot": true, "first_name": "Baylanys"},
        "text": text,
    })
}

fn failure_response(failure: Failure) -> HttpResponse {
    match failure.status {
        429 => error(
            429,
            &format!("Too Many Requests: retry after {}", failure.retry_after),
            Some(json!({"retry_after": failure.retry_after})),
        ),
        403 => error(403, "Forbidden: bot was blocked by the user", None),
        400 => error(400, "Bad Request: chat not found", None),
        401 => error(401, "Unauthorized", None),
        500 => error(500, "Internal Server Error", None),
        other => error(other, &format!("Error {other}"), None),
    }
}

fn error(status: u16, description: &str, parameters: Option<Value>) -> HttpResponse {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(code).json(body)
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parameters from the query string and a JSON, urlencoded or multipart body, as
/// Telegram accepts all of them; multipart file parts are reported by file name.
fn parse_params(req: &HttpRequest, body: &[u8]) -> (Map<String, Value>, Vec<String>) {
    let mut params = Map::new();
    let mut files = Vec::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
            params.extend(map);
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    } else if content_type.starts_with("multipart/form-data") {
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()
            .map(|b| b.trim_matches('"').to_owned())
            .unwrap_or_default();
        for part in multipart_parts(body, &boundary) {
            match part.file_name {
                Some(name) => files.push(name),
                None => {
                    let value = String::from_utf8_lossy(part.content).into_owned();
                    params.insert(part.name, Value::String(value));
                }
            }
        }
    }
    (params, files)
}

struct Part<'a> {
    name: String,
    file_name: Option<String>,
    content: &'a [u8],
}

fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<Part<'a>> {
    let mut parts = Vec::new();
    if boundary.is_empty() {
        return parts;
    }
    let delimiter = format!("--{boundary}");
    let pieces = split_bytes(body, delimiter.as_bytes());
    for piece in pieces.into_iter().skip(1) {
        if piece.starts_with(b"--") {
            break;
        }
        let piece = piece.strip_prefix(b"\r\n").unwrap_or(piece);
        let Some(split) = find_bytes(piece, b"\r\n\r\n") else {
            continue;
        };
        let headers = String::from_utf8_lossy(&piece[..split]);
        let content = &piece[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or_default();
        let Some(name) = header_param(disposition, "name") else {
            continue;
        };
        parts.push(Part {
            name,
            file_name: header_param(disposition, "filename"),
            content,
        });
    }
    parts
}

fn header_param(header: &str, key: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn split_bytes<'a>(haystack: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = haystack;
    while let Some(at) = find_bytes(rest, needle) {
        out.push(&rest[..at]);
        rest = &rest[at + needle.len()..];
    }
    out.push(rest);
    out
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_counts_half_open_seconds() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(
            max_in_window(&[at(0), at(500), at(999), at(1000)], Duration::from_secs(1)),
            3
        );
        assert_eq!(max_in_window(&[], Duration::from_secs(1)), 0);
    }

    #[test]
    fn multipart_fields_and_files() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n\
--XX\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n%PDF\r\n--XX--\r\n";
        let parts = multipart_parts(body, "XX");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "chat_id");
        assert_eq!(parts[0].content, b"42");
        assert_eq!(parts[1].file_name.as_deref(), Some("a.pdf"));
        assert_eq!(parts[1].content, b"%PDF");
    }
}
