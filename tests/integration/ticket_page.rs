//! The console's ticket page, the parts that reach outside the ticket (issue 12): an
//! answer from the Knowledge Base put into the reply, and a forward to a body; over HTTP
//! and in headless Chromium, on both backends.

use std::time::Duration;

use baylanys::auth::Role;
use serde_json::{Value, json};

use crate::browser::Driver;
use crate::console::{Browser, PASSWORD, axe_source, axe_violations, staff};
use crate::email::mail_support::SmtpSink;
use crate::support::{Backend, TestApp, spawn_config};

both_backends!(
    ticket_page_kb_answer_in_chromium_reaches_the_applicant_by_email,
    ticket_page_kb_panel_keeps_the_draft_and_refuses_bad_input,
    ticket_page_forwards_to_a_body_masked_and_names_each_wrong_field,
    queue_adds_new_tickets_in_place_and_a_reply_goes_out_from_the_keyboard_alone,
);

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// Presses Tab until the focus is on `css`; every control passed on the way must have
/// a name a screen reader reads (its label, aria-label, or text). Returns the stops.
async fn tab_to(d: &Driver, css: &str, most: usize) -> Vec<String> {
    let mut stops = Vec::new();
    for _ in 0..most {
        d.keys(TAB).await;
        let v = d
            .execute(
                "const e = document.activeElement;\
                 const label = (e.labels && e.labels.length) ? e.labels[0].textContent : '';\
                 const byId = e.getAttribute('aria-labelledby');\
                 const named = label || e.getAttribute('aria-label') || \
                   (byId && document.getElementById(byId) ? document.getElementById(byId).textContent : '') || \
                   (e.tagName === 'INPUT' ? '' : e.textContent) || e.getAttribute('title') || '';\
                 return [e.matches(arguments[0]), e.tagName + '#' + e.id, named.trim()];",
                vec![json!(css)],
            )
            .await;
        let at = v[1].as_str().unwrap_or_default().to_string();
        let name = v[2].as_str().unwrap_or_default().to_string();
        assert!(!name.is_empty(), "{at} has no name a screen reader reads");
        stops.push(format!("{at} ({name})"));
        if v[0] == json!(true) {
            return stops;
        }
    }
    panic!("{most} Tabs never reached {css}: {stops:#?}");
}

const ANSWER_RU: &str = "Чтобы войти на портал eGov, используйте ЭЦП или одноразовый пароль.";

async fn register(t: &TestApp, text: &str) -> String {
    let r = t
        .post_json("/api/v1/appeals", crate::support::appeal(text))
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string()
}

/// POSTs `body` to `path` and returns the created record's id.
async fn created(t: &TestApp, path: &str, token: &str, body: Value) -> String {
    let r = t.post_auth(path, token, body).await;
    assert_eq!(r.status(), 201, "{path}");
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

/// Signs `login` in to the console in Chromium, in Russian.
async fn chromium_sign_in(d: &Driver, t: &TestApp, login: &str) {
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    d.type_into("#login", login).await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Выйти").await;
}

/// Two published answers, one per language; returns the Russian one's id.
async fn answers(t: &TestApp) -> String {
    let editor = t.token("kb-editor", Role::Editor).await;
    let id = created(
        t,
        "/api/v1/kb/articles",
        &editor,
        json!({"language": "ru", "title": "Вход на портал eGov", "body": ANSWER_RU,
               "tags": ["egov"], "publish": true}),
    )
    .await;
    created(
        t,
        "/api/v1/kb/articles",
        &editor,
        json!({"language": "kk", "title": "Порталға кіру",
               "body": "Порталға ЭЦҚ арқылы кіріңіз.", "publish": true}),
    )
    .await;
    id
}

async fn ticket_page_kb_answer_in_chromium_reaches_the_applicant_by_email(backend: Backend) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| c.smtp_url = Some(url)).await;
    answers(&t).await;
    let number = register(&t, "Не могу войти на портал").await;
    sink.wait_for_messages(1, Duration::from_secs(20));
    staff(&t, "aliya", Role::Operator).await;
    let d = Driver::start().await;
    chromium_sign_in(&d, &t, "aliya").await;
    d.goto(&format!("{}/console/tickets/{number}", t.url)).await;
    d.wait_for_text("Не могу войти на портал").await;
    // The operator starts the reply, then looks for an answer: another inflected form
    // of the words, and the applicant's language by default.
    d.click("#reply-text").await;
    d.keys("Здравствуйте!").await;
    d.type_into("#kb-q", "входа порталы").await;
    d.click("#kb-search").await;
    d.wait_for_text("Вход на портал").await;
    let hits = d.text("#kb-hits").await;
    assert!(!hits.contains("Порталға кіру"), "{hits}");
    let found = axe_violations(&d, &axe_source()).await;
    assert!(found.is_empty(), "serious or critical: {found:?}");
    d.click(".kb-insert").await;
    d.find("#kb-inserted").await;
    let draft = d
        .execute("return document.getElementById('reply-text').value", vec![])
        .await;
    let draft = draft.as_str().unwrap_or_default().to_string();
    assert!(draft.starts_with("Здравствуйте!"), "{draft}");
    assert!(draft.ends_with(ANSWER_RU), "{draft}");
    d.click("#reply-send").await;
    d.wait_for_text("ответ поставлен в очередь").await;
    d.quit().await;
    let sent = sink.wait_for_messages(2, Duration::from_secs(20));
    let parsed = mail_parser::MessageParser::default()
        .parse(&sent[1])
        .expect("the reply parses");
    let body = parsed.body_text(0).unwrap_or_default().to_string();
    assert!(body.contains("Здравствуйте!"), "{body}");
    assert!(body.contains(ANSWER_RU), "{body}");
    t.stop().await;
}

fn textarea(page: &str) -> String {
    let re = regex::Regex::new(r#"(?s)<textarea id="reply-text"[^>]*>(.*?)</textarea>"#).unwrap();
    re.captures(page)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no reply box in:\n{page}"))
}

fn kb_form(csrf: &str, text: &str, pairs: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut f = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .text("last_seen", "x")
        .text("text", text.to_string());
    for (k, v) in pairs {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

async fn ticket_page_kb_panel_keeps_the_draft_and_refuses_bad_input(backend: Backend) {
    let t = spawn_config(backend, |_| {}).await;
    let ru = answers(&t).await;
    let number = register(&t, "Не могу войти на портал").await;
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    let csrf = b.sign_in("aliya").await;
    let path = format!("/console/tickets/{number}/kb");
    // A search: the draft comes back with the answers.
    let r = b
        .post_multipart(&path, kb_form(&csrf, "Мой черновик", &[("kb_q", "портал")]))
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert_eq!(textarea(&page), "Мой черновик");
    assert!(page.contains("<mark>"), "highlighted:\n{page}");
    assert!(page.contains(&format!("article:{ru}")), "{page}");
    // Insert: the answer is added after the draft.
    let pick = format!("article:{ru}");
    let r = b
        .post_multipart(
            &path,
            kb_form(
                &csrf,
                "Мой черновик",
                &[("kb_q", "портал"), ("kb_insert", &pick)],
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        textarea(&r.text().await.unwrap()),
        format!("Мой черновик\n\n{ANSWER_RU}")
    );
    // The other language on request.
    let r = b
        .post_multipart(
            &path,
            kb_form(&csrf, "", &[("kb_q", "портал"), ("kb_language", "kk")]),
        )
        .await;
    let page = r.text().await.unwrap();
    assert!(page.contains("Порталға кіру"), "{page}");
    assert!(!page.contains("Вход на портал eGov"), "{page}");
    // Hostile and wrong input: each refused with what to fix, the draft kept.
    let gone = format!("article:{}", uuid::Uuid::new_v4());
    for (pairs, expect) in [
        (
            vec![("kb_q", "портал"), ("kb_insert", gone.as_str())],
            "kb_insert",
        ),
        (
            vec![("kb_q", "портал"), ("kb_language", "en")],
            "kb_language",
        ),
        (vec![("kb_q", &"с".repeat(600) as &str)], "kb_q"),
    ] {
        let r = b
            .post_multipart(&path, kb_form(&csrf, "Сохранить <это>", &pairs))
            .await;
        assert_eq!(r.status(), 422, "{expect}");
        let page = r.text().await.unwrap();
        assert_eq!(textarea(&page), "Сохранить &lt;это&gt;", "{expect}");
        assert!(page.contains("id=\"kb-problem\""), "{expect}:\n{page}");
        if expect != "kb_insert" {
            assert!(page.contains(expect), "{expect}:\n{page}");
        }
    }
    // Query syntax of either engine is only words here.
    for q in [
        "\"портал* OR (вход",
        "NEAR(a b) AND -x",
        "'; DROP TABLE kb;--",
        "",
    ] {
        let r = b
            .post_multipart(&path, kb_form(&csrf, "", &[("kb_q", q)]))
            .await;
        assert_eq!(r.status(), 200, "{q}");
    }
    // No CSRF token: refused before anything runs.
    let r = b
        .post_multipart(
            &path,
            reqwest::multipart::Form::new().text("kb_q", "портал"),
        )
        .await;
    assert_eq!(r.status(), 403);
    // A role that does not answer tickets does not get the panel.
    staff(&t, "qa", Role::Quality).await;
    let mut q = Browser::new(&t);
    let qcsrf = q.sign_in("qa").await;
    let r = q
        .post_multipart(&path, kb_form(&qcsrf, "", &[("kb_q", "портал")]))
        .await;
    assert_eq!(r.status(), 403);
    let page = q.get(&format!("/console/tickets/{number}")).await;
    assert!(!page.text().await.unwrap().contains("id=\"kb-q\""));
    t.stop().await;
}

async fn ticket_page_forwards_to_a_body_masked_and_names_each_wrong_field(backend: Backend) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| c.smtp_url = Some(url)).await;
    let admin = t.token("fw-admin", Role::Admin).await;
    let body = created(
        &t,
        "/api/v1/bodies",
        &admin,
        json!({"kind": "central_state_body",
               "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"},
               "email": "office@minjust.example.kz"}),
    )
    .await;
    let number = register(&t, "Справку о несудимости не выдают, мой ИИН 900101300123").await;
    let other = register(&t, "Другой вопрос").await;
    sink.wait_for_messages(2, Duration::from_secs(20));
    let op = t.token("fw-reader", Role::Operator).await;
    let message_of = |v: Value| v["messages"][0]["id"].as_str().unwrap().to_string();
    let mine = message_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &op)
            .await
            .json()
            .await
            .unwrap(),
    );
    let theirs = message_of(
        t.get_auth(&format!("/api/v1/tickets/{other}"), &op)
            .await
            .json()
            .await
            .unwrap(),
    );
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    let csrf = b.sign_in("aliya").await;
    let page = b
        .get(&format!("/console/tickets/{number}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"forward-form\""), "{page}");
    assert!(
        page.contains(&format!("value=\"{mine}\" checked")),
        "{page}"
    );
    let path = format!("/console/tickets/{number}/forward");
    // Each wrong field is named on the page, and nothing is sent.
    for (form, field) in [
        (
            vec![("body", body.as_str()), ("message", mine.as_str())],
            "write what the body is asked",
        ),
        (
            vec![("body", "nope"), ("question", "Почему?")],
            "is not a body id",
        ),
        (
            vec![
                ("body", body.as_str()),
                ("question", "Почему?"),
                ("message", theirs.as_str()),
            ],
            "is not a message of ticket",
        ),
        (vec![("question", "Почему?")], "the id of the registry body"),
    ] {
        let mut form = form.clone();
        form.push(("csrf", &csrf));
        let r = b.post(&path, &form).await;
        assert_eq!(r.status(), 422, "{field}");
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"forward-problem\""), "{field}:\n{page}");
        assert!(page.contains(field), "{field}:\n{page}");
    }
    let r = b
        .post(&path, &[("body", body.as_str()), ("question", "Почему?")])
        .await;
    assert_eq!(r.status(), 403, "no CSRF token");
    let v: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["forwards"].as_array().unwrap().len(), 0);
    // The forward: masked (no personal data asked for), delivered by mail.
    let r = b
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("body", body.as_str()),
                ("question", "Почему не выдают справку?"),
                ("message", mine.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.contains("notice=forwarded"), "{to}");
    let v: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &op)
        .await
        .json()
        .await
        .unwrap();
    let forwards = v["forwards"].as_array().unwrap();
    assert_eq!(forwards.len(), 1, "{v}");
    let reference = forwards[0]["reference"].as_str().unwrap().to_string();
    let page = b.get(&to).await.text().await.unwrap();
    assert!(page.contains(&reference), "{page}");
    let sent = sink.wait_for_messages(3, Duration::from_secs(20));
    let mail = sent
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_string())
        .find(|m| m.contains("office@minjust.example.kz"))
        .expect("the forward is mailed to the body");
    let parsed = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .unwrap();
    let text = parsed.body_text(0).unwrap_or_default().to_string();
    assert!(text.contains("Почему не выдают справку?"), "{text}");
    assert!(!text.contains("900101300123"), "the IIN is masked:\n{text}");
    assert!(!text.contains("aigul@example.kz"), "{text}");
    t.stop().await;
}

async fn queue_adds_new_tickets_in_place_and_a_reply_goes_out_from_the_keyboard_alone(
    backend: Backend,
) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| {
        c.smtp_url = Some(url);
        c.console_poll_seconds = 2;
    })
    .await;
    let first = register(&t, "Первое обращение").await;
    sink.wait_for_messages(1, Duration::from_secs(20));
    staff(&t, "aliya", Role::Operator).await;
    let d = Driver::start().await;
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    // Sign-in from the keyboard: Tab to each field, type, Enter.
    tab_to(&d, "#login", 30).await;
    d.keys("aliya").await;
    tab_to(&d, "#password", 5).await;
    d.keys(PASSWORD).await;
    d.keys(ENTER).await;
    d.wait_for_text("Выйти").await;
    d.goto(&format!("{}/console/queue?view=unassigned", t.url))
        .await;
    d.wait_for_text(&first).await;
    // A ticket that arrives while the page is open joins the list without a reload.
    let marker = d.execute("window.__same_page = 1; return 1;", vec![]).await;
    assert_eq!(marker, json!(1));
    let second = register(&t, "Второе обращение").await;
    d.wait_for_text(&second).await;
    assert_eq!(
        d.execute("return window.__same_page || 0;", vec![]).await,
        json!(1),
        "the page was not reloaded"
    );
    d.wait_for_text("В список добавлены новые обращения").await;
    // From the queue to the ticket, and the reply, with Tab and Enter only.
    let stops = tab_to(&d, &format!("a.ticket-link[href$='{first}']"), 80).await;
    eprintln!("Tab stops to the first ticket: {}", stops.len());
    d.keys(ENTER).await;
    d.wait_for_text("Первое обращение").await;
    tab_to(&d, "#take", 120).await;
    d.keys(ENTER).await;
    d.wait_for_text("обращение назначено вам").await;
    tab_to(&d, "#reply-text", 120).await;
    d.keys("Ответ с клавиатуры.").await;
    tab_to(&d, "#reply-send", 20).await;
    d.keys(ENTER).await;
    d.wait_for_text("ответ поставлен в очередь").await;
    d.quit().await;
    let sent = sink.wait_for_messages(3, Duration::from_secs(20));
    assert!(
        sent.iter().any(|m| {
            mail_parser::MessageParser::default()
                .parse(m)
                .and_then(|p| p.body_text(0).map(|b| b.contains("Ответ с клавиатуры.")))
                .unwrap_or(false)
        }),
        "the reply typed from the keyboard was mailed"
    );
    t.stop().await;
}
