//! The applicant's status page over HTTP: the conversation with its files, additions
//! (text and files) that join the appeal once, and nothing for anyone without the key.

use baylanys::auth::Role;
use serde_json::Value;

use crate::support::{Backend, TestApp, spawn};

both_backends!(
    forms_cut_short_are_refused_at_once,
    additions_join_the_appeal_once_and_show_with_their_files,
    status_page_files_and_additions_need_the_key_of_their_own_ticket,
    bad_additions_are_refused_with_what_to_fix,
);

/// Registers a web-form appeal; (number, key).
async fn registered(t: &TestApp, text: &str) -> (String, String) {
    let form = reqwest::multipart::Form::new()
        .text("name", "Иванов Иван")
        .text("email", "ivanov@example.kz")
        .text("region", "almaty")
        .text("topic", "public_service")
        .text("text", text.to_string())
        .text("consent", "yes")
        .text("language", "ru");
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form)
        .send()
        .await
        .expect("form posts");
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().expect("ascii").to_string();
    let (number, query) = location
        .trim_start_matches("/appeals/")
        .split_once('?')
        .expect("a query");
    let key = query
        .split('&')
        .find_map(|p| p.strip_prefix("key="))
        .expect("a key");
    (number.to_string(), key.to_string())
}

fn addition(
    text: &str,
    token: &str,
    file: Option<(&str, &[u8], &str)>,
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("idempotency_key", token.to_string())
        .text("text", text.to_string());
    if let Some((name, bytes, mime)) = file {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name.to_string())
            .mime_str(mime)
            .expect("mime");
        form = form.part("attachments", part);
    }
    form
}

async fn post_addition(
    t: &TestApp,
    number: &str,
    key: &str,
    form: reqwest::multipart::Form,
) -> reqwest::Response {
    t.client
        .post(format!(
            "{}/appeals/{number}/follow-up?key={key}&lang=ru",
            t.url
        ))
        .multipart(form)
        .send()
        .await
        .expect("follow-up posts")
}

async fn page(t: &TestApp, number: &str, key: &str) -> (u16, String) {
    let r = t
        .client
        .get(format!("{}/appeals/{number}?key={key}&lang=ru", t.url))
        .send()
        .await
        .expect("page");
    let status = r.status().as_u16();
    (status, r.text().await.expect("text"))
}

/// The file links of a page, in order (the template escapes `/` and `&`).
fn file_links(html: &str) -> Vec<String> {
    let html = &html.replace("&#x2f;", "/").replace("&amp;", "&");
    html.match_indices("href=\"/appeals/")
        .map(|(i, _)| {
            let rest = &html[i + 6..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .filter(|h| h.contains("/files/"))
        .collect()
}

async fn additions_join_the_appeal_once_and_show_with_their_files(backend: Backend) {
    let t = spawn(backend).await;
    let (number, key) = registered(&t, "Не приходит СМС с кодом.").await;
    let png = b"\x89PNG\r\n\x1a\n a screenshot".to_vec();
    // The same form page sent twice (a double click) adds once.
    for _ in 0..2 {
        let r = post_addition(
            &t,
            &number,
            &key,
            addition(
                "Вот снимок экрана с ошибкой.",
                "token-1",
                Some(("ошибка.png", &png, "image/png")),
            ),
        )
        .await;
        assert_eq!(r.status(), 303);
        let to = r.headers()["location"].to_str().expect("ascii");
        assert!(to.contains("added=1"), "{to}");
    }
    let op = t.token("op", Role::Operator).await;
    let detail: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .expect("JSON");
    let inbound: Vec<&Value> = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "in")
        .collect();
    assert_eq!(inbound.len(), 2, "{detail}");
    assert_eq!(inbound[1]["body_text"], "Вот снимок экрана с ошибкой.");
    assert_eq!(inbound[1]["channel"], "web_form");

    // An answer published on the page says to use the form below, not "reply to this".
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            serde_json::json!({"text": "Проверьте номер телефона в профиле."}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let (status, html) = page(&t, &number, &key).await;
    assert_eq!(status, 200);
    let first = html.find("Не приходит СМС с кодом.").expect("the appeal");
    let added = html
        .find("Вот снимок экрана с ошибкой.")
        .expect("the addition");
    let answer = html
        .find("Проверьте номер телефона в профиле.")
        .expect("the answer");
    assert!(first < added && added < answer, "oldest first");
    assert!(
        html.contains("воспользуйтесь формой внизу этой страницы"),
        "{html}"
    );
    assert!(!html.contains("ответьте на это сообщение"), "{html}");
    assert!(html.contains("ошибка.png"));
    // The file the applicant sent downloads from the page, as it was sent.
    let links = file_links(&html);
    assert_eq!(links.len(), 1, "{links:?}");
    let r = t
        .client
        .get(format!("{}{}", t.url, links[0]))
        .send()
        .await
        .expect("file");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .starts_with("attachment")
    );
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), png);

    // An addition to an answered appeal reopens it for the operators.
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/close"),
            &op,
            serde_json::json!({"resolution": "resolved"}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = post_addition(&t, &number, &key, addition("Не помогло.", "token-2", None)).await;
    assert_eq!(r.status(), 303);
    let detail: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(detail["status"], "open", "{detail}");
    t.stop().await;
}

async fn status_page_files_and_additions_need_the_key_of_their_own_ticket(backend: Backend) {
    let t = spawn(backend).await;
    let (a, key_a) = registered(&t, "Обращение А").await;
    let (b, key_b) = registered(&t, "Обращение Б").await;
    let r = post_addition(
        &t,
        &b,
        &key_b,
        addition(
            "Файл Б",
            "t-b",
            Some(("b.txt", b"secret of B", "text/plain")),
        ),
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html_b) = page(&t, &b, &key_b).await;
    let link_b = file_links(&html_b)
        .pop()
        .expect("B's file link")
        .replace("&amp;", "&");
    let file_b = link_b
        .split("/files/")
        .nth(1)
        .and_then(|s| s.split('?').next())
        .expect("file id")
        .to_string();
    let get = |url: String| {
        let c = t.client.clone();
        async move { c.get(url).send().await.expect("answers").status().as_u16() }
    };
    // A's key opens neither B's file nor B's page; a wrong key opens nothing.
    assert_eq!(
        get(format!("{}/appeals/{a}/files/{file_b}?key={key_a}", t.url)).await,
        404
    );
    assert_eq!(
        get(format!("{}/appeals/{b}/files/{file_b}?key={key_a}", t.url)).await,
        404
    );
    assert_eq!(
        get(format!("{}/appeals/{b}/files/{file_b}?key=wrong", t.url)).await,
        404
    );
    assert_eq!(
        get(format!("{}/appeals/{b}/files/{file_b}", t.url)).await,
        404
    );
    assert_eq!(
        get(format!(
            "{}/appeals/{b}/files/..%2F..%2Fetc?key={key_b}",
            t.url
        ))
        .await,
        404
    );
    assert_eq!(get(format!("{}{link_b}", t.url)).await, 200);
    assert_eq!(page(&t, &b, &key_a).await.0, 404);
    // An addition with another ticket's key, or none, adds nothing anywhere.
    for (number, key) in [(&b, key_a.as_str()), (&b, ""), (&a, "x")] {
        let r = post_addition(&t, number, key, addition("чужое", "t-x", None)).await;
        assert_eq!(r.status(), 404, "{number} {key}");
    }
    let op = t.token("op", Role::Operator).await;
    for (number, expected) in [(&a, 1), (&b, 2)] {
        let detail: Value = t
            .get_auth(&format!("/api/v1/tickets/{number}"), &op)
            .await
            .json()
            .await
            .expect("JSON");
        let inbound = detail["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter(|m| m["direction"] == "in")
            .count();
        assert_eq!(inbound, expected, "{number}");
    }
    t.stop().await;
}

async fn bad_additions_are_refused_with_what_to_fix(backend: Backend) {
    let t = spawn(backend).await;
    let (number, key) = registered(&t, "Обращение").await;
    // Empty: 422, the page again with the error linked to the field and in the title.
    let r = post_addition(&t, &number, &key, addition("   ", "t-1", None)).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("text");
    assert!(html.contains("<title>(ошибок: 1)"), "{html}");
    assert!(html.contains("Напишите текст дополнения или приложите файл."));
    assert!(html.contains("aria-describedby=\"follow-up-hint follow-up-text-error\""));
    // A file type the form does not take, and one over the size limit.
    let r = post_addition(
        &t,
        &number,
        &key,
        addition(
            "exe",
            "t-2",
            Some(("a.exe", b"MZ", "application/octet-stream")),
        ),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("text").contains("a.exe"));
    let big = vec![b'a'; (t.app.config.max_attachment_bytes + 1) as usize];
    let r = post_addition(
        &t,
        &number,
        &key,
        addition("big", "t-3", Some(("big.txt", &big, "text/plain"))),
    )
    .await;
    assert_eq!(r.status(), 413);
    // Too long a text: refused, not cut.
    let long = "я".repeat(20_001);
    let r = post_addition(&t, &number, &key, addition(&long, "t-4", None)).await;
    assert_eq!(r.status(), 422);
    // Not multipart at all: a clear 400.
    let r = t
        .client
        .post(format!("{}/appeals/{number}/follow-up?key={key}", t.url))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 400);
    let op = t.token("op", Role::Operator).await;
    let detail: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .expect("JSON");
    let inbound = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["direction"] == "in")
        .count();
    assert_eq!(inbound, 1, "nothing refused was added");
    t.stop().await;
}

/// Found by the fuzzer: a form whose closing boundary is mangled, so the body ends inside
/// its last part. The multipart reader would wait forever for more; the server answers
/// 400 at once instead (the client waits at most 30 s before the test fails).
async fn forms_cut_short_are_refused_at_once(backend: Backend) {
    let t = spawn(backend).await;
    let (number, key) = registered(&t, "Обращение").await;
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz/seeds/form_multipart/mangled_closing_boundary"
    ))
    .expect("the fuzzer's input");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    let cut = body.len() - 30;
    for (path, body) in [
        ("/appeals".to_string(), body.clone()),
        (
            format!("/appeals/{number}/follow-up?key={key}"),
            body.clone(),
        ),
        ("/appeals".to_string(), body[..cut].to_vec()),
    ] {
        let r = client
            .post(format!("{}{path}", t.url))
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        assert_eq!(r.status(), 400, "{path}");
        let page = r.text().await.expect("text");
        assert!(
            page.contains("Форма оқылмады"),
            "the page says the form could not be read: {page}"
        );
    }
    t.stop().await;
}
