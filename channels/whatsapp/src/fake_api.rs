//! A local stand-in for the WhatsApp Cloud (Graph) API, for tests (feature `fake-api`).
//!
//! Serves `POST /v21.0/<phone id>/messages`, `POST /v21.0/<phone id>/media`,
//! `GET /v21.0/<media id>` and the media download on 127.0.0.1, checks the bearer
//! token, records every call, and can be told to refuse the next sends with a Graph API
//! error code (130429, 131047, ...). It also builds signed webhook bodies as Meta sends
//! them, so tests and the bench post what the real platform would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use url::Url;

use crate::config::WhatsAppConfig;

/// One send the fake received.
#[derive(Debug, Clone)]
pub struct SentCall {
    /// `text`, `interactive`, `template`, `image`, `document`, or `media` for uploads.
    pub kind: String,
    pub to: Option<String>,
    /// The text body, the interactive body, or the template name.
    pub text: Option<String>,
    pub body: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// The message id it gave (accepted sends only).
    pub wamid: Option<String>,
    pub at: Instant,
}

#[derive(Clone)]
struct Media {
    mime: String,
    content: Vec<u8>,
    declared: Option<u64>,
}

#[derive(Default)]
struct State {
    calls: Vec<SentCall>,
    failures: VecDeque<(u16, i64, String)>,
    media: HashMap<String, Media>,
    downloads: usize,
    next: u64,
}

struct Shared {
    token: String,
    phone_number_id: String,
    base: Mutex<String>,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running stand-in; stopped when dropped.
pub struct FakeGraphApi {
    /// `http://127.0.0.1:<port>/v21.0`: the API base URL to configure.
    pub url: Url,
    pub token: String,
    pub phone_number_id: String,
    pub app_secret: String,
    pub verify_token: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeGraphApi {
    /// Starts on a free port in a thread of its own, so it works from any test runtime.
    pub fn start() -> FakeGraphApi {
        let shared = Arc::new(Shared {
            token: "EAAG-fake-token".into(),
            phone_number_id: "109876543210".into(),
            base: Mutex::new(String::new()),
            state: Mutex::new(State::default()),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let data = web::Data::from(shared.clone());
        std::thread::Builder::new()
            .name("fake-graph-api".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
                            .route("/download/{id}", web::get().to(download))
                            .route("/v21.0/{phone}/messages", web::post().to(messages))
                            .route("/v21.0/{phone}/media", web::post().to(upload))
                            .route("/v21.0/{id}", web::get().to(media_info))
                    })
                    .workers(2)
                    .bind(("127.0.0.1", 0))
                    .expect("bind the fake Graph API on a free local port");
                    let address = server.addrs()[0];
                    let server = server.run();
                    ready_tx
                        .send((address, server.handle()))
                        .expect("the starting test waits for the address");
                    let _ = server.await;
                });
            })
            .expect("spawn the fake Graph API thread");
        let (address, handle) = ready_rx.recv().expect("the fake Graph API started");
        *shared.base.lock().unwrap_or_else(|p| p.into_inner()) = format!("http://{address}");
        FakeGraphApi {
            url: Url::parse(&format!("http://{address}/v21.0")).expect("a valid URL"),
            token: shared.token.clone(),
            phone_number_id: shared.phone_number_id.clone(),
            app_secret: "fake-app-secret".into(),
            verify_token: "fake-verify-token".into(),
            shared,
            handle,
        }
    }

    /// A channel configuration pointing at this stand-in, with the workspace's texts and
    /// short waits.
    pub fn config(&self) -> WhatsAppConfig {
        let mut c = WhatsAppConfig::new(
            self.token.clone(),
            self.phone_number_id.clone(),
            self.app_secret.clone(),
            self.verify_token.clone(),
        );
        c.api_url = self.url.clone();
        c.per_recipient_interval = std::time::Duration::from_millis(50);
        c.throughput_retry = std::time::Duration::from_millis(300);
        c.pair_retry = std::time::Duration::from_millis(300);
        c.texts = crate::texts::from_dir::workspace_texts();
        c
    }

    /// Every call (sends and uploads), in order.
    pub fn sent(&self) -> Vec<SentCall> {
        self.shared.state().calls.clone()
    }

    /// Accepted sends to `to`.
    pub fn delivered_to(&self, to: &str) -> Vec<SentCall> {
        self.sent()
            .into_iter()
            .filter(|c| c.to.as_deref() == Some(to) && c.status == 200)
            .collect()
    }

    /// The next `n` sends answer HTTP `http_status` with this Graph API error code.
    pub fn fail_next(&self, code: i64, http_status: u16, n: usize) {
        let message = match code {
            130429 => "Rate limit hit",
            131056 => "(Business Account, Consumer Account) pair rate limit hit",
            131047 => "Re-engagement message",
            _ => "Message failed to send",
        };
        let mut s = self.shared.state();
        for _ in 0..n {
            s.failures.push_back((http_status, code, message.into()));
        }
    }

    /// A media item the API can describe and serve; `declared` overrides the size it
    /// announces (a lying size, or a large one).
    pub fn add_media(&self, id: &str, mime: &str, content: Vec<u8>, declared: Option<u64>) {
        self.shared.state().media.insert(
            id.to_owned(),
            Media {
                mime: mime.to_owned(),
                content,
                declared,
            },
        );
    }

    /// How many media downloads were served.
    pub fn downloads(&self) -> usize {
        self.shared.state().downloads
    }

    /// A webhook body as Meta sends it: the given messages and statuses of our number.
    pub fn webhook(&self, messages: Vec<Value>, statuses: Vec<Value>, name: &str) -> Value {
        let contacts: Vec<Value> = messages
            .iter()
            .filter_map(|m| m["from"].as_str())
            .map(|wa| json!({"profile": {"name": name}, "wa_id": wa}))
            .collect();
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "77170001414", "phone_number_id": self.phone_number_id},
        });
        if !messages.is_empty() {
            value["contacts"] = Value::Array(contacts);
            value["messages"] = Value::Array(messages);
        }
        if !statuses.is_empty() {
            value["statuses"] = Value::Array(statuses);
        }
        json!({"object": "whatsapp_business_account", "entry": [{
            "id": "1020304050", "changes": [{"field": "messages", "value": value}]
        }]})
    }

    /// `X-Hub-Signature-256` for `body` with this stand-in's app secret.
    pub fn sign(&self, body: &[u8]) -> String {
        crate::signature::sign(&self.app_secret, body)
    }
}

impl Drop for FakeGraphApi {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// A message of `from` as the webhook carries it; `content` is the type's object
/// (`{"body": ...}` for text).
pub fn message(from: &str, id: &str, kind: &str, content: Value) -> Value {
    let mut m = json!({"from": from, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": kind});
    m[kind] = content;
    m
}

/// A text message.
pub fn text(from: &str, id: &str, body: &str) -> Value {
    message(from, id, "text", json!({ "body": body }))
}

/// A press of a reply button or a list row with this id.
pub fn choice(from: &str, id: &str, reply_id: &str, list: bool) -> Value {
    let (kind, key) = if list {
        ("list_reply", "list_reply")
    } else {
        ("button_reply", "button_reply")
    };
    let mut i = json!({ "type": kind });
    i[key] = json!({"id": reply_id, "title": "x"});
    message(from, id, "interactive", i)
}

/// A status of one of our messages; `error` makes it `failed` with that code.
pub fn status(wamid: &str, to: &str, state: &str, error: Option<(i64, &str)>) -> Value {
    let mut s = json!({"id": wamid, "status": state, "timestamp": chrono::Utc::now().timestamp().to_string(), "recipient_id": to});
    if let Some((code, title)) = error {
        s["errors"] = json!([{"code": code, "title": title, "message": title, "error_data": {"details": "fake"}}]);
    }
    s
}

fn authorized(shared: &Shared, req: &HttpRequest) -> bool {
    let expected = format!("Bearer {}", shared.token);
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn error(status: u16, code: i64, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).json(
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": "fake"}}),
    )
}

async fn messages(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if !authorized(&shared, &req) {
        return error(401, 190, "Invalid OAuth access token");
    }
    if *path != shared.phone_number_id {
        return error(
            400,
            100,
            "Unsupported post request: unknown phone number id",
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(400, 100, "Invalid JSON");
    };
    let kind = v["type"].as_str().unwrap_or("text").to_owned();
    let text = match kind.as_str() {
        "text" => v["text"]["body"].as_str().map(str::to_owned),
        "interactive" => v["interactive"]["body"]["text"].as_str().map(str::to_owned),
        "template" => v["template"]["name"].as_str().map(str::to_owned),
        _ => None,
    };
    let mut s = shared.state();
    let (status, answer, wamid) = if let Some((status, code, message)) = s.failures.pop_front() {
        (status, error(status, code, &message), None)
    } else if kind == "text" && text.as_ref().is_none_or(|t| t.chars().count() > 4096) {
        (
            400,
            error(
                400,
                100,
                "Param text['body'] must be at most 4096 characters",
            ),
            None,
        )
    } else {
        s.next += 1;
        let wamid = format!("wamid.FAKE{:06}", s.next);
        let answer = HttpResponse::Ok().json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": v["to"], "wa_id": v["to"]}],
            "messages": [{"id": wamid}]
        }));
        (200, answer, Some(wamid))
    };
    s.calls.push(SentCall {
        kind,
        to: v["to"].as_str().map(str::to_owned),
        text,
        body: v,
        status,
        wamid,
        at: Instant::now(),
    });
    answer
}

async fn upload(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !authorized(&shared, &req) {
        return error(401, 190, "Invalid OAuth access token");
    }
    // Enough of multipart for a test: the file's name.
    let text = String::from_utf8_lossy(&body);
    let name = text
        .split("filename=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    let mut s = shared.state();
    s.next += 1;
    let id = format!("media-up-{}", s.next);
    s.calls.push(SentCall {
        kind: "media".into(),
        to: None,
        text: name,
        body: json!({"size": body.len()}),
        status: 200,
        wamid: None,
        at: Instant::now(),
    });
    HttpResponse::Ok().json(json!({ "id": id }))
}

async fn media_info(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if !authorized(&shared, &req) {
        return error(401, 190, "Invalid OAuth access token");
    }
    if *path == shared.phone_number_id {
        return HttpResponse::Ok().json(json!({
            "display_phone_number": "+7 717 000 1414", "verified_name": "1414",
            "id": shared.phone_number_id
        }));
    }
    let media = shared.state().media.get(path.as_str()).cloned();
    let Some(media) = media else {
        return error(404, 100, "Unsupported get request: no such media");
    };
    let base = shared
        .base
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    HttpResponse::Ok().json(json!({
        "url": format!("{base}/download/{}", path.as_str()),
        "mime_type": media.mime,
        "sha256": "fake",
        "file_size": media.declared.unwrap_or(media.content.len() as u64),
        "id": path.as_str(),
        "messaging_product": "whatsapp"
    }))
}

async fn download(
    shared: web::Data<Shared>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    if !authorized(&shared, &req) {
        return HttpResponse::Unauthorized().finish();
    }
    let mut s = shared.state();
    let Some(media) = s.media.get(path.as_str()).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    s.downloads += 1;
    HttpResponse::Ok()
        .content_type(media.mime)
        .body(media.content)
}
