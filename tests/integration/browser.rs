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

    /// Waits (up to 15 s) until the page's URL contains `needle`: a click that submits a
    /// form has navigated, not just found the old page's elements.
    pub(crate) async fn wait_for_url(&self, needle: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let url = self.url().await;
            if url.contains(needle) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page never went to a URL with {needle:?}; it is at {url}"
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

    pub(crate) async fn find(&self, css: &str) -> String {
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

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub(crate) async fn click(&self, css: &str) {
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

    /// Resizes the browser window (the viewport, headless).
    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    pub(crate) async fn screenshot(&self, name: &str) {
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

    /// Runs `script` in the page (WebDriver execute/sync) and returns its value.
    pub(crate) async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script` asynchronously (WebDriver execute/async: it calls its last argument
    /// when done) and returns what it gave.
    pub(crate) async fn execute_async(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The page's current URL.
    pub(crate) async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Sends keys to whatever has the focus (Tab, Enter, text), as a keyboard would.
    pub(crate) async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let k = c.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
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

/// The hand-found WCAG shortfalls of the public pages, fixed: focus moves to the error
/// summary after a failed submit and the title counts the errors; each invalid field is
/// described by its own message next to it; the status page fits a 320 px phone (1.4.10);
/// and the applicant adds text and a file from the status page and sees them there.
async fn public_pages_meet_wcag_by_hand(backend: Backend) {
    let t = spawn(backend).await;
    let d = Driver::start().await;
    d.goto(&format!("{}/?lang=ru", t.url)).await;
    d.wait_for_text("Подать обращение").await;
    d.type_into("#email", "not-an-address").await;
    d.click("button[type=submit]").await;
    d.wait_for_text("id=\"errors\"").await;
    assert_eq!(
        d.execute("return document.activeElement.id", vec![]).await,
        "errors"
    );
    let title = d.execute("return document.title", vec![]).await;
    assert!(
        title.as_str().unwrap_or("").starts_with("(ошибок: "),
        "{title}"
    );
    for field in ["name", "email", "region", "topic", "text", "consent"] {
        let described = d.execute(&format!(
                "const f = document.getElementById('{field}');
                 const ids = (f.getAttribute('aria-describedby') || '').split(' ');
                 const own = document.getElementById('{field}-error');
                 return [f.getAttribute('aria-invalid'), ids.includes('{field}-error'),
                         own ? own.textContent.trim().length : 0,
                         own ? own.previousElementSibling === f || own.previousElementSibling.contains(f) : false];"
            ), vec![])
            .await;
        assert_eq!(described[0], "true", "{field}: {described}");
        assert_eq!(described[1], true, "{field}: {described}");
        assert!(
            described[2].as_u64().unwrap_or(0) > 0,
            "{field}: {described}"
        );
        assert_eq!(
            described[3], true,
            "{field}'s message is right after it: {described}"
        );
    }
    // The e-mail field keeps its hint and adds its own message.
    let email = d
        .execute(
            "return document.getElementById('email').getAttribute('aria-describedby')",
            vec![],
        )
        .await;
    assert_eq!(email, "contact-hint email-error");

    // Registered; on a 320 px phone nothing scrolls sideways.
    d.type_into("#name", "Иванов Иван").await;
    d.execute(
        "document.getElementById('email').value = ''; return 0",
        vec![],
    )
    .await;
    d.type_into("#email", "ivanov@example.kz").await;
    d.click("#region option[value=almaty]").await;
    d.click("#topic option[value=digital_signature]").await;
    d.type_into("#text", "Не могу подписать заявление ЭЦП.")
        .await;
    d.click("#consent").await;
    d.click("button[type=submit]").await;
    let number = d.text("#number").await;
    assert!(number.starts_with("UCC-"), "{number}");
    d.resize(320, 900).await;
    let widths = d
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await;
    assert!(
        widths[0].as_u64() <= widths[1].as_u64() && widths[1].as_u64() <= Some(320),
        "the page is wider than the phone: {widths}"
    );
    d.screenshot(&format!("status-320px-{backend:?}")).await;
    d.resize(1024, 1400).await;

    // An empty addition: focus on its error summary.
    d.click("form[aria-labelledby=follow-up-title] button[type=submit]")
        .await;
    d.wait_for_text("Напишите текст дополнения").await;
    assert_eq!(
        d.execute("return document.activeElement.id", vec![]).await,
        "errors"
    );
    // Text and a file, from the keyboard and the file chooser.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("снимок.png");
    std::fs::write(&file, b"\x89PNG\r\n\x1a\n screen").expect("file");
    d.type_into("#follow-up-text", "Прилагаю снимок экрана.")
        .await;
    d.type_into("#follow-up-files", &file.display().to_string())
        .await;
    d.click("form[aria-labelledby=follow-up-title] button[type=submit]")
        .await;
    d.wait_for_text("Дополнение получено").await;
    let thread = d.text(".thread").await;
    assert!(
        thread.contains("Прилагаю снимок экрана.") && thread.contains("снимок.png"),
        "{thread}"
    );
    let href = d
        .execute(
            "return document.querySelector('.thread .files a').href",
            vec![],
        )
        .await;
    let bytes = reqwest::get(href.as_str().expect("a link"))
        .await
        .expect("file")
        .bytes()
        .await
        .expect("bytes");
    assert!(bytes.starts_with(b"\x89PNG"));
    d.quit().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_meet_wcag_by_hand_sqlite() {
    public_pages_meet_wcag_by_hand(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_meet_wcag_by_hand_postgres() {
    public_pages_meet_wcag_by_hand(Backend::Postgres).await;
}
