//! The public form in headless Chromium, driven through ChromeDriver's WebDriver API:
//! a person fills it in with the keyboard and mouse, without JavaScript of ours.

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Backend, free_port, spawn};

pub(crate) struct Driver {
    base: String,
    session: String,
    client: reqwest::Client,
    _process: ChildGuard,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The browser is chromedriver's child: end it too, so a failed test leaves no
        // browser behind.
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.0.id().to_string()])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    pub(crate) async fn start() -> Driver {
        let port = free_port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver)");
        let process = ChildGuard(process);
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir").keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1024,1400", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v: Value = client
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        let driver = Driver {
            base,
            session,
            client,
            _process: process,
        };
        // Look-ups wait for the next page: a click that submits a form returns before
        // the browser has loaded the answer, more so on a busy machine.
        driver
            .call(
                reqwest::Method::POST,
                "/timeouts",
                Some(json!({"implicit": 15000, "pageLoad": 30000})),
            )
            .await;
        driver
    }

    /// Waits (up to 15 s) until the page's source contains `needle`.
    pub(crate) async fn wait_for_text(&self, needle: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let source = self.source().await;
            if source.contains(needle) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page never showed {needle:?}; it is:\n{source}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut req = self.client.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver answers")
            .json()
            .await
            .expect("webdriver JSON");
        v["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub(crate) async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(b64) = v.as_str()
            && let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64)
        {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    pub(crate) async fn quit(self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

async fn form_in_chromium(backend: Backend) {
    let t = spawn(backend).await;
    let d = Driver::start().await;

    // Kazakh by choice of the visitor; an empty submission lists what to fix.
    d.goto(&format!("{}/?lang=kk", t.url)).await;
    d.wait_for_text("Өтініш беру").await;
    d.click("button[type=submit]").await;
    let errors = d.text("#errors").await;
    assert!(
        errors.contains("Тегіңіз бен атыңызды көрсетіңіз"),
        "{errors}"
    );
    // Screen readers hear which fields are wrong; `find` fails the test if none is marked.
    d.find("#name[aria-invalid=true]").await;
    d.screenshot(&format!("form-errors-{backend:?}")).await;

    // Switch to Russian with the link, fill the form with the keyboard, send it.
    d.click("header a[hreflang=ru]").await;
    d.wait_for_text("Подать обращение").await;
    d.type_into("#name", "Иванов Иван").await;
    d.type_into("#email", "ivanov@example.kz").await;
    d.click("#region option[value=almaty]").await;
    d.click("#topic option[value=digital_signature]").await;
    d.type_into("#text", "Не могу подписать заявление ЭЦП.")
        .await;
    d.click("#consent").await;
    d.click("button[type=submit]").await;

    let number = d.text("#number").await;
    assert!(number.starts_with("UCC-") && number.len() >= 15, "{number}");
    assert_eq!(d.text("#registered").await, "Обращение зарегистрировано");
    assert!(d.text("#due").await.contains("18:30"));
    d.screenshot(&format!("form-registered-{backend:?}")).await;

    // The status link shows the appeal and, later, the reply.
    let link = d.text("#status-link").await;
    let op = t.token("op", baylanys::auth::Role::Operator).await;
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            json!({"text": "Обновите NCALayer."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    d.goto(&link).await;
    d.wait_for_text("Обновите NCALayer.").await;
    // R10: the final reply offers the rating on the status page; a person rates with
    // the mouse and keyboard, without JavaScript.
    d.wait_for_text("Оператордың жұмысын бағалаңыз").await;
    d.click("#rating input[name=score][value='5']").await;
    d.click("#rating input[name=satisfied_process][value='3']")
        .await;
    d.type_into("#rating-comment", "Помогло, спасибо").await;
    d.click("#rating button[type=submit]").await;
    d.wait_for_text("Бағаңызға рахмет").await;
    let thanks = d.text("#rating-thanks").await;
    assert!(thanks.contains("5/5"), "{thanks}");
    d.screenshot(&format!("status-rated-{backend:?}")).await;
    d.quit().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_form_in_headless_chromium_sqlite() {
    form_in_chromium(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_form_in_headless_chromium_postgres() {
    form_in_chromium(Backend::Postgres).await;
}

/// F8: the status page of an appeal that names an application number shows its stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f8_the_status_page_shows_the_stage_in_headless_chromium() {
    let (url, _) = crate::services::monitoring().await;
    let t = crate::support::spawn_config(Backend::Sqlite, move |c| {
        c.registry = crate::services::monitored(Some(url), "secret-token")
    })
    .await;
    let r = t
        .post_json(
            "/api/v1/appeals",
            crate::support::appeal("Өтінімім KZ20261234567 ілініп қалды"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("JSON");
    let link = body["status_url"].as_str().expect("a link").to_string();
    let d = Driver::start().await;
    d.goto(&format!("{link}&lang=kk")).await;
    d.wait_for_text("Мемлекеттік қызметке өтінімнің кезеңі")
        .await;
    let stage = d.text("#stage-1").await;
    assert!(
        stage.contains("KZ20261234567") && stage.contains("Қаралуда"),
        "{stage}"
    );
    d.screenshot("status-stage").await;
    d.quit().await;
    t.stop().await;
}
