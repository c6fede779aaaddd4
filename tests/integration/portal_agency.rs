//! The agency portal's pages (src/web/console/agency.rs), on both backends: a body's
//! user sees its own forwards only (another body's id is a 404 page), answers or
//! declines them through the API's functions (the first answer wins, a second is a 409
//! page), and the answer lands in the ticket; over HTTP and in headless Chromium.

use baylanys::auth::Role;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::browser::Driver;
use crate::console::{Browser, PASSWORD, axe_source, axe_violations, staff};
use crate::support::{Backend, TestApp, appeal, spawn};

both_backends!(
    agency_portal_shows_only_its_bodys_forwards_and_answers_each_once,
    agency_portal_forms_refuse_bad_input_beside_the_field_and_forged_csrf,
    agency_portal_in_chromium_a_forward_answered_reaches_the_ticket,
);

/// Adds an agency or ici user of `body_id` who signs in with [`PASSWORD`].
pub(crate) async fn body_staff(t: &TestApp, login: &str, role: Role, body_id: &str) {
    let (login, body_id) = (login.to_string(), body_id.to_string());
    t.app
        .db
        .write(move |c| {
            let pairing = baylanys::auth::check_body_for(c, role, Some(&body_id))?;
            assert_eq!(pairing, Ok(()), "{login} may belong to {body_id}");
            baylanys::auth::add_user_in(
                c,
                &login,
                &format!("{login} name"),
                role,
                Some(PASSWORD),
                Some(&body_id),
            )?;
            Ok(())
        })
        .await
        .expect("user added");
}

pub(crate) async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

pub(crate) async fn new_body(t: &TestApp, admin: &str, v: Value) -> String {
    let (s, b) = json_of(t.post_auth("/api/v1/bodies", admin, v).await).await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().expect("id").to_string()
}

fn ministry(kk: &str, ru: &str, email: &str) -> Value {
    json!({"kind": "central_state_body", "name": {"kk": kk, "ru": ru}, "email": email})
}

/// An appeal with personal data and a file: its number, first message and file ids.
pub(crate) async fn appeal_with_file(t: &TestApp, op: &str) -> (String, String, String) {
    let (s, created) = json_of(
        t.post_json(
            "/api/v1/appeals",
            appeal("Мой ИИН 900101300123. Не выдают справку о несудимости."),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_string();
    let (_, d) = json_of(t.get_auth(&format!("/api/v1/tickets/{number}"), op).await).await;
    let mid = d["messages"][0]["id"]
        .as_str()
        .expect("message")
        .to_string();
    let m2 = mid.clone();
    let att = t
        .app
        .db
        .write(move |c| {
            baylanys::tickets::store_attachment(
                c,
                &m2,
                &baylanys_core::Attachment {
                    file_name: "scan.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: b"%PDF-1.4\nportal\n".to_vec(),
                },
            )
        })
        .await
        .expect("stored");
    (number, mid, att)
}

pub(crate) async fn forward(t: &TestApp, op: &str, number: &str, v: Value) -> (String, String) {
    let (s, f) = json_of(
        t.post_auth(&format!("/api/v1/tickets/{number}/forwards"), op, v)
            .await,
    )
    .await;
    assert_eq!(s, 201, "{f}");
    (
        f["id"].as_str().expect("id").to_string(),
        f["reference"].as_str().expect("reference").to_string(),
    )
}

async fn set_due(t: &TestApp, id: &str, hours_from_now: i64) {
    let (id, at) = (
        id.to_string(),
        (chrono::Utc::now() + chrono::Duration::hours(hours_from_now)).naive_utc(),
    );
    t.app
        .db
        .write(move |c| {
            use baylanys::db::schema::forwards;
            diesel::update(forwards::table.find(&id))
                .set(forwards::due_at.eq(at))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("due set");
}

fn row_of<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"f-{id}\""))
        .unwrap_or_else(|| panic!("no row of {id} in:\n{page}"));
    let end = page[start..].find("</tr>").expect("the row ends") + start;
    &page[start..end]
}

struct Rig {
    t: TestApp,
    op: String,
    number: String,
    own: String,
    own_ref: String,
    other: String,
    other_ref: String,
    att: String,
}

async fn rig(backend: Backend) -> Rig {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let op = t.token("op", Role::Operator).await;
    let a = new_body(
        &t,
        &admin,
        ministry(
            "Әділет министрлігі",
            "Министерство юстиции",
            "a@adilet.gov.kz",
        ),
    )
    .await;
    let b = new_body(
        &t,
        &admin,
        ministry(
            "Қаржы министрлігі",
            "Министерство финансов",
            "b@minfin.gov.kz",
        ),
    )
    .await;
    body_staff(&t, "adilet", Role::Agency, &a).await;
    let (number, mid, att) = appeal_with_file(&t, &op).await;
    let (own, own_ref) = forward(
        &t,
        &op,
        &number,
        json!({"body": a, "question": "Вопрос для юстиции", "messages": [mid], "attachments": [att]}),
    )
    .await;
    let (other, other_ref) = forward(
        &t,
        &op,
        &number,
        json!({"body": b, "question": "Секрет для финансов", "messages": [mid], "attachments": [att]}),
    )
    .await;
    Rig {
        t,
        op,
        number,
        own,
        own_ref,
        other,
        other_ref,
        att,
    }
}

async fn agency_portal_shows_only_its_bodys_forwards_and_answers_each_once(backend: Backend) {
    let r = rig(backend).await;
    let t = &r.t;
    let mut b = Browser::new(t);
    let csrf = b.sign_in("adilet").await;
    let res = b
        .post(
            "/console/language",
            &[("csrf", &csrf), ("lang", "en"), ("back", "/console/agency")],
        )
        .await;
    assert_eq!(res.status(), 303);

    // The list: its own forward, never the other body's.
    let page = b.get("/console/agency").await.text().await.unwrap();
    assert!(page.contains(&r.own_ref), "{page}");
    assert!(!page.contains(&r.other_ref), "{page}");
    assert!(!page.contains("Секрет для финансов"), "{page}");
    assert!(!page.contains("900101300123"), "masked: {page}");
    // Deadlines are marked in words: overdue, then due today.
    set_due(t, &r.own, -2).await;
    let page = b.get("/console/agency").await.text().await.unwrap();
    let row = row_of(&page, &r.own);
    assert!(
        row.contains("due-overdue") && row.contains(">overdue<"),
        "{row}"
    );
    let (id, at) = (r.own.clone(), {
        let tz = chrono_tz::Asia::Almaty;
        let now = chrono::Utc::now().with_timezone(&tz);
        // The last minute of today in Almaty, unless that has passed.
        let end = now
            .date_naive()
            .and_hms_opt(23, 59, 0)
            .expect("a time")
            .and_local_timezone(tz)
            .single()
            .expect("no shift in Almaty");
        end.with_timezone(&chrono::Utc).naive_utc()
    });
    t.app
        .db
        .write(move |c| {
            use baylanys::db::schema::forwards;
            diesel::update(forwards::table.find(&id))
                .set(forwards::due_at.eq(at))
                .execute(c)?;
            Ok(())
        })
        .await
        .expect("due set");
    let page = b.get("/console/agency").await.text().await.unwrap();
    let row = row_of(&page, &r.own);
    assert!(
        row.contains("due-today") && row.contains(">due today<"),
        "{row}"
    );
    // The status filter.
    let page = b
        .get("/console/agency?status=answered")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"no-forwards\""), "{page}");
    let page = b
        .get("/console/agency?status=open")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&r.own_ref), "{page}");
    let res = b.get("/console/agency?status=lost").await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("status"));

    // Another body's forward, its file, its forms: 404 pages that say nothing of it.
    for path in [
        format!("/console/agency/forwards/{}", r.other),
        format!("/console/agency/forwards/{}/attachments/{}", r.other, r.att),
    ] {
        let res = b.get(&path).await;
        assert_eq!(res.status(), 404, "{path}");
        let page = res.text().await.unwrap();
        assert!(!page.contains("Секрет для финансов") && !page.contains(&r.other_ref));
    }
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Чужой ответ");
    let res = b
        .post_multipart(
            &format!("/console/agency/forwards/{}/answer", r.other),
            form,
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = b
        .post(
            &format!("/console/agency/forwards/{}/decline", r.other),
            &[("csrf", &csrf), ("reason", "Не наше")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = b.get("/console/agency/forwards/not-an-id").await;
    assert_eq!(res.status(), 404);

    // Its own forward: what was sent, masked, with the file to download, and the history.
    let url = format!("/console/agency/forwards/{}", r.own);
    let page = b.get(&url).await.text().await.unwrap();
    assert!(page.contains("Вопрос для юстиции"), "{page}");
    assert!(!page.contains("900101300123"), "masked: {page}");
    assert!(
        page.contains("scan.pdf") && page.contains("id=\"history\""),
        "{page}"
    );
    let res = b.get(&format!("{url}/attachments/{}", r.att)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF-1.4\nportal\n");

    // The answer with a file: the first one wins.
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Справка выдаётся через ЦОН.")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(b"%PDF-1.4\nanswer\n".to_vec())
                .file_name("otvet.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        res.headers()["location"],
        format!("{url}?notice=agency_answered").as_str()
    );
    let page = b
        .get(&format!("{url}?notice=agency_answered"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("the answer is sent"), "{page}");
    assert!(
        page.contains("Справка выдаётся через ЦОН.") && !page.contains("id=\"answer-form\""),
        "the history shows the answer, the forms are gone: {page}"
    );
    // A second submit of the same answer, and a refusal after it: the 409 page.
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Справка выдаётся через ЦОН.");
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"conflict\"") && page.contains("already answered"),
        "{page}"
    );
    let res = b
        .post(
            &format!("{url}/decline"),
            &[("csrf", &csrf), ("reason", "Поздно")],
        )
        .await;
    assert_eq!(res.status(), 409);

    // The answer landed in the ticket as the API's does: one message, its file, the event.
    let (_, d) = json_of(
        t.get_auth(&format!("/api/v1/tickets/{}", r.number), &r.op)
            .await,
    )
    .await;
    let answers: Vec<&Value> = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body_text"] == "Справка выдаётся через ЦОН.")
        .collect();
    assert_eq!(answers.len(), 1, "{d}");
    assert!(
        answers[0].to_string().contains("otvet.pdf"),
        "{}",
        answers[0]
    );
    assert!(
        d["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "forward_answered"),
        "{d}"
    );
    let (_, f) = json_of(
        t.get_auth(&format!("/api/v1/forwards/{}", r.own), &r.op)
            .await,
    )
    .await;
    assert_eq!(f["status"], "answered");
    assert_eq!(f["closed_by"], "adilet");
    // The other body's forward is untouched.
    let (_, f) = json_of(
        t.get_auth(&format!("/api/v1/forwards/{}", r.other), &r.op)
            .await,
    )
    .await;
    assert_eq!(f["status"], "open");
    // The JSON twin of the page: the body's view with its history.
    let token = t
        .app
        .db
        .write(|c| Ok(baylanys::auth::create_token(c, "adilet", None)?.expect("a user")))
        .await
        .unwrap();
    let (_, v) = json_of(
        t.get_auth(&format!("/api/v1/forwards/{}", r.own), &token)
            .await,
    )
    .await;
    let kinds: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sent", "answered"], "{v}");

    // Staff of the contact center have no agency portal.
    staff(t, "aliya", Role::Operator).await;
    let mut o = Browser::new(t);
    o.sign_in("aliya").await;
    assert_eq!(o.get("/console/agency").await.status(), 403);
    assert_eq!(o.get(&url).await.status(), 403);
    r.t.stop().await;
}

async fn agency_portal_forms_refuse_bad_input_beside_the_field_and_forged_csrf(backend: Backend) {
    let r = rig(backend).await;
    let t = &r.t;
    let mut b = Browser::new(t);
    let csrf = b.sign_in("adilet").await;
    let url = format!("/console/agency/forwards/{}", r.own);
    // Without the session's token: 403, nothing changes.
    let form = reqwest::multipart::Form::new().text("text", "Без токена");
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 403);
    let res = b
        .post(
            &format!("{url}/decline"),
            &[("csrf", "0".repeat(64).as_str()), ("reason", "Подделка")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("CSRF"));
    // An empty answer: the form again, the message beside the field, the text kept.
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "   ");
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"answer-text-error\"")
            && page.contains("answer-text-hint answer-text-error")
            && page.contains("aria-invalid=\"true\"")
            && page.contains("href=\"#answer-text\""),
        "{page}"
    );
    // Too long, and a file over the limit (the text is kept).
    let long = "я".repeat(20_001);
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", long);
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 422);
    let too_big = vec![b'x'; t.app.config.max_attachment_bytes as usize + 1];
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "С файлом")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(too_big).file_name("big.bin"),
        );
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"answer-attachments-error\"") && page.contains("big.bin"),
        "{page}"
    );
    assert!(
        page.contains(">С файлом</textarea>"),
        "the text is kept: {page}"
    );
    // A refusal without a reason.
    let res = b
        .post(
            &format!("{url}/decline"),
            &[("csrf", &csrf), ("reason", "")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"decline-reason-error\""), "{page}");
    // A reason over the limit (far beyond 16 KB of form) is named beside its field too.
    let long = "я".repeat(20_001);
    let res = b
        .post(
            &format!("{url}/decline"),
            &[("csrf", csrf.as_str()), ("reason", &long)],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"decline-reason-error\""), "{page}");
    // Nothing of it reached the forward.
    let (_, f) = json_of(
        t.get_auth(&format!("/api/v1/forwards/{}", r.own), &r.op)
            .await,
    )
    .await;
    assert_eq!(f["status"], "open", "{f}");
    // An answer and a refusal sent at once (two tabs): one closes the forward, the other
    // gets the 409 page.
    let mut b2 = Browser {
        t,
        cookies: b.cookies.clone(),
    };
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Ответ из второй вкладки");
    let answer_url = format!("{url}/answer");
    let decline_url = format!("{url}/decline");
    let decline_form = [
        ("csrf", csrf.as_str()),
        ("reason", "Не в нашей компетенции"),
    ];
    let (x, y) = tokio::join!(
        b2.post_multipart(&answer_url, form),
        b.post(&decline_url, &decline_form)
    );
    let mut statuses = [x.status().as_u16(), y.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 409], "one wins, the other is told");
    let answered = x.status() == 303;
    // A second refusal is the 409 page too.
    let res = b
        .post(
            &format!("{url}/decline"),
            &[("csrf", &csrf), ("reason", "Не в нашей компетенции")],
        )
        .await;
    assert_eq!(res.status(), 409);
    let (_, f) = json_of(
        t.get_auth(&format!("/api/v1/forwards/{}", r.own), &r.op)
            .await,
    )
    .await;
    if answered {
        assert_eq!(f["status"], "answered", "{f}");
    } else {
        assert_eq!(f["status"], "declined", "{f}");
        assert_eq!(f["decline_reason"], "Не в нашей компетенции");
    }
    // Exactly one of them reached the ticket.
    let (_, d) = json_of(
        t.get_auth(&format!("/api/v1/tickets/{}", r.number), &r.op)
            .await,
    )
    .await;
    let answers = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["body_text"] == "Ответ из второй вкладки")
        .count();
    assert_eq!(answers, usize::from(answered), "{d}");
    r.t.stop().await;
}

/// Runs axe-core on the page open in `d`; returns the serious or critical findings.
pub(crate) async fn axe_of(d: &Driver, axe: &str, name: &str) -> Vec<String> {
    axe_violations(d, axe)
        .await
        .into_iter()
        .map(|v| format!("{name}: {v}"))
        .collect()
}

async fn agency_portal_in_chromium_a_forward_answered_reaches_the_ticket(backend: Backend) {
    let axe = axe_source();
    let r = rig(backend).await;
    let t = &r.t;
    let d = Driver::start().await;
    let mut found = Vec::new();
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    d.type_into("#login", "adilet").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Выйти").await;
    d.goto(&format!("{}/console/agency", t.url)).await;
    d.wait_for_text(&r.own_ref).await;
    assert!(!d.source().await.contains(&r.other_ref));
    found.extend(axe_of(&d, &axe, "list").await);
    d.click(".forward-link").await;
    d.wait_for_text("Вопрос для юстиции").await;
    found.extend(axe_of(&d, &axe, "forward").await);
    // An empty answer (past the browser's own check): the error summary has the focus.
    d.execute(
        "document.querySelector('#answer-text').removeAttribute('required');",
        vec![],
    )
    .await;
    d.click("#answer-send").await;
    d.find("#answer-text-error").await;
    let focused = d.execute("return document.activeElement.id;", vec![]).await;
    assert_eq!(focused, "form-errors");
    assert!(
        d.execute("return document.title;", vec![])
            .await
            .as_str()
            .unwrap()
            .starts_with("Ошибка"),
        "the title says so"
    );
    found.extend(axe_of(&d, &axe, "answer error").await);
    // The answer from the keyboard.
    d.click("#answer-text").await;
    d.keys("Справку выдаёт ЦОН по месту жительства.").await;
    d.click("#answer-send").await;
    d.wait_for_text("ответ отправлен").await;
    assert!(d.text("#forward-status").await.contains("отвечен"));
    found.extend(axe_of(&d, &axe, "answered").await);
    // A narrow phone screen: the page still renders its parts.
    d.resize(320, 640).await;
    d.goto(&format!("{}/console/agency?status=answered", t.url))
        .await;
    d.wait_for_text(&r.own_ref).await;
    found.extend(axe_of(&d, &axe, "list, narrow").await);
    // WCAG 1.4.10: nothing scrolls sideways on a 320 px screen (a wide table scrolls
    // inside its own focusable region).
    let wide = d
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await;
    assert!(wide.as_u64().unwrap() <= 320, "{wide} px wide at 320 px");
    d.goto(&format!("{}/console/agency/forwards/{}", t.url, r.own))
        .await;
    d.wait_for_text("Вопрос для юстиции").await;
    let wide = d
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await;
    assert!(
        wide.as_u64().unwrap() <= 320,
        "forward: {wide} px wide at 320 px"
    );
    found.extend(axe_of(&d, &axe, "forward, narrow").await);
    d.screenshot(&format!("agency-answered-{backend:?}")).await;
    d.quit().await;
    // The answer reached the ticket.
    let (_, v) = json_of(
        t.get_auth(&format!("/api/v1/tickets/{}", r.number), &r.op)
            .await,
    )
    .await;
    assert!(
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body_text"] == "Справку выдаёт ЦОН по месту жительства."),
        "{v}"
    );
    assert_eq!(v["status"], "open", "the answer wakes the ticket: {v}");
    assert!(
        found.is_empty(),
        "serious or critical violations:\n{}",
        found.join("\n")
    );
    r.t.stop().await;
}
