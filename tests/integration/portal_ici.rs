//! The ici portal's pages (src/web/console/ici.rs), on both backends: outages declared
//! (once per form), rescheduled, cancelled and completed through src/outages, with each
//! recipient's proof and the lead compliance; the ICT forwards on the agency pages;
//! over HTTP and in headless Chromium.

use baylanys::auth::Role;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::browser::Driver;
use crate::console::{Browser, PASSWORD, axe_source, staff};
use crate::email::mail_support::SmtpSink;
use crate::portal_agency::{appeal_with_file, axe_of, body_staff, forward, json_of, new_body};
use crate::support::{Backend, TestApp, eventually, spawn, spawn_config};

both_backends!(
    ici_portal_declares_once_reschedules_cancels_completes_and_names_bad_fields,
    ici_portal_ict_forwards_are_the_agency_pages_for_the_ici_body,
    ici_portal_in_chromium_an_outage_declared_queues_its_notices,
);

/// A time `hours` from now as a `datetime-local` value in Almaty, to the minute.
fn local_in(hours: i64) -> String {
    (Utc::now() + Duration::hours(hours))
        .with_timezone(&chrono_tz::Asia::Almaty)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

struct Rig {
    t: TestApp,
    admin: String,
    ici_body: String,
    recipient: String,
}

async fn rig(t: TestApp) -> Rig {
    let admin = t.token("admin", Role::Admin).await;
    let ici_body = new_body(
        &t,
        &admin,
        json!({"kind": "ici_operator", "name": {"kk": "ЭҮИ операторы", "ru": "Оператор ИЭП"},
               "email": "duty@ici.kz", "systems": ["internal-only"]}),
    )
    .await;
    body_staff(&t, "ici", Role::Ici, &ici_body).await;
    for (code, kk, ru) in [
        ("egov-portal", "eGov порталы", "Портал eGov"),
        ("egov-mobile", "eGov Mobile", "eGov Mobile"),
    ] {
        let (s, v) = json_of(
            t.post_auth(
                "/api/v1/systems",
                &admin,
                json!({"code": code, "name": {"kk": kk, "ru": ru}}),
            )
            .await,
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let recipient = new_body(
        &t,
        &admin,
        json!({"kind": "central_state_body", "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"},
               "email": "duty@adilet.gov.kz", "systems": ["egov-portal"]}),
    )
    .await;
    Rig {
        t,
        admin,
        ici_body,
        recipient,
    }
}

fn declaration<'a>(
    csrf: &'a str,
    key: &'a str,
    starts: &'a str,
    ends: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("form_key", key),
        ("kind", "planned"),
        ("starts_at", starts),
        ("ends_at", ends),
        ("systems", "egov-portal"),
        ("impact", "full"),
        ("title_kk", "Дерекқорды жаңарту"),
        ("title_ru", "Обновление базы данных"),
        ("text_kk", "Портал жұмыс істемейді."),
        ("text_ru", "Портал будет недоступен."),
        ("reason", ""),
    ]
}

fn form_key_in(page: &str) -> String {
    regex::Regex::new(r#"name="form_key" value="([0-9a-f]{64})""#)
        .unwrap()
        .captures(page)
        .unwrap_or_else(|| panic!("no form key in:\n{page}"))[1]
        .to_string()
}

fn outage_of(location: &str) -> String {
    location
        .trim_start_matches("/console/ici/outages/")
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

async fn outages(t: &TestApp, token: &str) -> Vec<Value> {
    let (s, v) = json_of(t.get_auth("/api/v1/outages", token).await).await;
    assert_eq!(s, 200, "{v}");
    v["outages"].as_array().unwrap().clone()
}

async fn ici_portal_declares_once_reschedules_cancels_completes_and_names_bad_fields(
    backend: Backend,
) {
    let r = rig(spawn(backend).await).await;
    let t = &r.t;
    let mut b = Browser::new(t);
    let csrf = b.sign_in("ici").await;
    b.post(
        "/console/language",
        &[("csrf", &csrf), ("lang", "en"), ("back", "/console/ici")],
    )
    .await;
    let page = b
        .get("/console/ici/outages/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"egov-portal\""), "{page}");
    let key = form_key_in(&page);
    let (starts, ends) = (local_in(72), local_in(76));

    // Without the session's token: 403, nothing declared.
    let mut forged = declaration("", &key, &starts, &ends);
    forged.remove(0);
    let res = b.post("/console/ici/outages", &forged).await;
    assert_eq!(res.status(), 403);
    assert!(outages(t, &r.admin).await.is_empty());

    // Bad input: each message beside its field, the values kept, the count in the title.
    let mut bad = declaration(&csrf, &key, "", "31.12.2026");
    bad.retain(|(k, _)| *k != "title_kk" && *k != "systems");
    bad.push(("title_kk", ""));
    let res = b.post("/console/ici/outages", &bad).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for field in ["starts_at", "ends_at", "systems", "title_kk"] {
        assert!(
            page.contains(&format!("id=\"e-{field}\"")),
            "{field}: {page}"
        );
        assert!(
            page.contains(&format!("href=\"#f-{field}\"")),
            "{field}: {page}"
        );
    }
    assert!(
        page.contains("aria-describedby=\"h-starts_at e-starts_at\""),
        "{page}"
    );
    assert!(page.contains("<title>Error (4)"), "{page}");
    assert!(
        page.contains("value=\"Обновление базы данных\""),
        "kept: {page}"
    );
    assert!(page.contains("31.12.2026"), "{page}");
    // A planned outage too soon: the lead rule's words at the start field.
    let (soon, soon_end) = (local_in(2), local_in(3));
    let res = b
        .post(
            "/console/ici/outages",
            &declaration(&csrf, &key, &soon, &soon_end),
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"e-starts_at\"") && page.contains("24 h"),
        "{page}"
    );
    // An unknown system is named, too.
    let mut unknown = declaration(&csrf, &key, &starts, &ends);
    unknown.push(("systems", "no-such-system"));
    let res = b.post("/console/ici/outages", &unknown).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("no-such-system"));
    assert!(outages(t, &r.admin).await.is_empty());

    // Declared; the same form sent twice declares once.
    let form = declaration(&csrf, &key, &starts, &ends);
    let res = b.post("/console/ici/outages", &form).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("?notice=ici_declared"), "{location}");
    let id = outage_of(&location);
    let res = b.post("/console/ici/outages", &form).await;
    assert_eq!(res.status(), 303);
    let again = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(outage_of(&again), id);
    assert!(again.ends_with("?notice=ici_declared_once"), "{again}");
    assert_eq!(outages(t, &r.admin).await.len(), 1);
    // The same key with other content is refused, not a second declaration.
    let mut other = declaration(&csrf, &key, &starts, &ends);
    other[7] = ("title_kk", "Басқа");
    let res = b.post("/console/ici/outages", &other).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"f-form\""));
    assert_eq!(outages(t, &r.admin).await.len(), 1);

    // The outage page: each recipient with its deliveries, as the API gives them.
    let page = b.get(&location).await.text().await.unwrap();
    assert!(page.contains("the outage is declared"), "{page}");
    assert!(
        page.contains("id=\"recipients\"") && page.contains("Министерство юстиции"),
        "{page}"
    );
    assert!(page.contains("duty@adilet.gov.kz"), "{page}");
    let (_, v) = json_of(t.get_auth(&format!("/api/v1/outages/{id}"), &r.admin).await).await;
    let names: Vec<&str> = v["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["body_id"].as_str().unwrap())
        .collect();
    assert!(names.contains(&r.recipient.as_str()), "{v}");
    // The list with its lead.
    let page = b.get("/console/ici").await.text().await.unwrap();
    assert!(
        page.contains(&format!("id=\"o-{id}\"")) && page.contains("Reached in time"),
        "{page}"
    );
    let list = outages(t, &r.admin).await;
    assert!(
        list[0]["lead"]["recipients"].as_u64().unwrap() >= 1,
        "{list:?}"
    );

    // Reschedule: unchanged times change nothing; a new start sends a notice.
    let url = format!("/console/ici/outages/{id}");
    let res = b
        .post(
            &format!("{url}/reschedule"),
            &[("csrf", &csrf), ("starts_at", &starts), ("ends_at", &ends)],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"e-starts_at\""));
    let (later, later_end) = (local_in(96), local_in(100));
    let res = b
        .post(
            &format!("{url}/reschedule"),
            &[
                ("csrf", &csrf),
                ("starts_at", &later),
                ("ends_at", &later_end),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, v) = json_of(t.get_auth(&format!("/api/v1/outages/{id}"), &r.admin).await).await;
    assert!(
        v["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "rescheduled"),
        "{v}"
    );
    // Ends before it starts: the field says so.
    let res = b
        .post(
            &format!("{url}/reschedule"),
            &[
                ("csrf", &csrf),
                ("starts_at", &later),
                ("ends_at", &local_in(90)),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"e-ends_at\""));
    // Completing before the start is refused with the reason; cancelling twice is a 409.
    let res = b.post(&format!("{url}/complete"), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("has not started"));
    let res = b.post(&format!("{url}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let res = b.post(&format!("{url}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"conflict\"") && page.contains("cancelled"),
        "{page}"
    );
    let (_, v) = json_of(t.get_auth(&format!("/api/v1/outages/{id}"), &r.admin).await).await;
    assert_eq!(v["status"], "cancelled");

    // An emergency under way (with its reason) is completed from the portal.
    let page = b
        .get("/console/ici/outages/new")
        .await
        .text()
        .await
        .unwrap();
    let key = form_key_in(&page);
    let (now, end) = (local_in(0), local_in(2));
    let mut emergency = declaration(&csrf, &key, &now, &end);
    emergency[2] = ("kind", "emergency");
    let res = b.post("/console/ici/outages", &emergency).await;
    assert_eq!(res.status(), 422, "an emergency gives its reason");
    assert!(res.text().await.unwrap().contains("id=\"e-reason\""));
    emergency.retain(|(k, _)| *k != "reason");
    emergency.push(("reason", "Авария на линии связи"));
    // Texts at their longest (4,000 characters each, far beyond 16 KB of form).
    let (long_kk, long_ru) = ("ә".repeat(4000), "д".repeat(4000));
    emergency.retain(|(k, _)| *k != "text_kk" && *k != "text_ru");
    emergency.push(("text_kk", long_kk.as_str()));
    emergency.push(("text_ru", long_ru.as_str()));
    let res = b.post("/console/ici/outages", &emergency).await;
    assert_eq!(res.status(), 303);
    let url = format!(
        "/console/ici/outages/{}",
        outage_of(res.headers()["location"].to_str().unwrap())
    );
    let page = b.get(&url).await.text().await.unwrap();
    assert!(
        page.contains("O1 breach") && page.contains("id=\"complete\""),
        "{page}"
    );
    let res = b.post(&format!("{url}/complete"), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let done = res.headers()["location"].to_str().unwrap().to_string();
    assert!(done.ends_with("?notice=ici_completed"), "{done}");
    let page = b.get(&done).await.text().await.unwrap();
    assert!(page.contains("the outage is completed"), "{page}");
    assert!(page.contains("id=\"outage-phase\">completed<"), "{page}");

    // Unknown ids are 404 pages; roles without outages get 403.
    assert_eq!(
        b.get("/console/ici/outages/01900000-0000-7000-8000-000000000000")
            .await
            .status(),
        404
    );
    staff(t, "aliya", Role::Operator).await;
    let mut o = Browser::new(t);
    let ocsrf = o.sign_in("aliya").await;
    assert_eq!(o.get("/console/ici").await.status(), 403);
    let res = o
        .post(
            "/console/ici/outages",
            &declaration(&ocsrf, "k", &starts, &ends),
        )
        .await;
    assert_eq!(res.status(), 403);
    r.t.stop().await;
}

async fn ici_portal_ict_forwards_are_the_agency_pages_for_the_ici_body(backend: Backend) {
    let r = rig(spawn(backend).await).await;
    let t = &r.t;
    let op = t.token("op", Role::Operator).await;
    let (number, mid, _) = appeal_with_file(t, &op).await;
    // No body, an ICT category: the ICI operator (F9).
    let (id, reference) = forward(
        t,
        &op,
        &number,
        json!({"question": "Не работает вход через ЭЦП", "category": "incident", "messages": [mid]}),
    )
    .await;
    let (_, f) = json_of(t.get_auth(&format!("/api/v1/forwards/{id}"), &op).await).await;
    assert_eq!(f["body"]["id"], r.ici_body.as_str(), "{f}");
    let mut b = Browser::new(t);
    let csrf = b.sign_in("ici").await;
    let page = b.get("/console/ici").await.text().await.unwrap();
    assert!(page.contains("href=\"/console/ici/forwards\""), "{page}");
    assert!(
        !page.contains("Мекеме порталы"),
        "no agency portal in the ICI user's navigation: {page}"
    );
    let page = b.get("/console/ici/forwards").await.text().await.unwrap();
    assert!(
        page.contains(&reference) && page.contains("incident"),
        "{page}"
    );
    let url = format!("/console/ici/forwards/{id}");
    let page = b.get(&url).await.text().await.unwrap();
    assert!(page.contains("Не работает вход через ЭЦП"), "{page}");
    assert!(page.contains("id=\"answer-form\""), "{page}");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Сертификат обновлён, вход работает.");
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 303);
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("text", "Второй раз");
    let res = b.post_multipart(&format!("{url}/answer"), form).await;
    assert_eq!(res.status(), 409);
    let (_, v) = json_of(t.get_auth(&format!("/api/v1/tickets/{number}"), &op).await).await;
    assert!(
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body_text"] == "Сертификат обновлён, вход работает."),
        "{v}"
    );
    // An agency user reaches neither the ICT forwards nor the ICI body's forward.
    let other = new_body(
        t,
        &r.admin,
        json!({"kind": "central_state_body", "name": {"kk": "А", "ru": "А"}, "email": "x@a.kz"}),
    )
    .await;
    body_staff(t, "agency", Role::Agency, &other).await;
    let mut a = Browser::new(t);
    a.sign_in("agency").await;
    assert_eq!(a.get("/console/ici/forwards").await.status(), 403);
    assert_eq!(
        a.get(&format!("/console/agency/forwards/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(a.get("/console/ici").await.status(), 403);
    r.t.stop().await;
}

async fn ici_portal_in_chromium_an_outage_declared_queues_its_notices(backend: Backend) {
    let axe = axe_source();
    let sink = SmtpSink::start();
    let smtp = sink.url();
    let r = rig(spawn_config(backend, |c| c.smtp_url = Some(smtp)).await).await;
    let t = &r.t;
    let d = Driver::start().await;
    let mut found = Vec::new();
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    d.type_into("#login", "ici").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Выйти").await;
    d.goto(&format!("{}/console/ici", t.url)).await;
    d.wait_for_text("Объявить перерыв").await;
    found.extend(axe_of(&d, &axe, "list, empty").await);
    d.click("#declare-new").await;
    d.find("#declare-form").await;
    found.extend(axe_of(&d, &axe, "form").await);
    // Sent empty (past the browser's own checks): the summary has the focus.
    d.execute(
        "document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'));",
        vec![],
    )
    .await;
    d.click("#declare").await;
    d.find("#form-errors").await;
    assert_eq!(
        d.execute("return document.activeElement.id;", vec![]).await,
        "form-errors"
    );
    found.extend(axe_of(&d, &axe, "form errors").await);
    // Filled in from the page.
    let (starts, ends) = (local_in(72), local_in(75));
    d.execute(
        "document.querySelector('#f-starts_at').value = arguments[0];\
         document.querySelector('#f-ends_at').value = arguments[1];",
        vec![starts.clone().into(), ends.into()],
    )
    .await;
    d.click("input[name=systems][value=egov-portal]").await;
    d.type_into("#f-title_kk", "Дерекқорды жаңарту").await;
    d.type_into("#f-title_ru", "Обновление базы данных").await;
    d.type_into("#f-text_kk", "Портал жұмыс істемейді.").await;
    d.type_into("#f-text_ru", "Портал будет недоступен.").await;
    d.click("#declare").await;
    d.wait_for_text("оповещения поставлены в очередь").await;
    found.extend(axe_of(&d, &axe, "outage").await);
    let id = d
        .url()
        .await
        .split("/console/ici/outages/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    d.goto(&format!("{}/console/ici", t.url)).await;
    d.wait_for_text("Обновление базы данных").await;
    found.extend(axe_of(&d, &axe, "list").await);
    d.resize(320, 640).await;
    d.goto(&format!("{}/console/ici/outages/{id}", t.url)).await;
    d.wait_for_text("Министерство юстиции").await;
    found.extend(axe_of(&d, &axe, "outage, narrow").await);
    for path in [
        format!("/console/ici/outages/{id}"),
        "/console/ici/outages/new".to_string(),
        "/console/ici".to_string(),
    ] {
        d.goto(&format!("{}{path}", t.url)).await;
        d.wait_for_text("</main>").await;
        let wide = d
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await;
        assert!(
            wide.as_u64().unwrap() <= 320,
            "{path}: {wide} px wide at 320 px"
        );
    }
    d.screenshot(&format!("ici-declared-{backend:?}")).await;
    d.quit().await;
    // Its notice went to the recipient, and the proof says so.
    eventually("the notice is accepted for the recipient", || async {
        let (_, v) = json_of(t.get_auth(&format!("/api/v1/outages/{id}"), &r.admin).await).await;
        v["recipients"].as_array().is_some_and(|l| {
            l.iter().any(|x| {
                x["body_id"] == r.recipient.as_str()
                    && x["deliveries"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|d| d["status"] == "sent"))
            })
        })
    })
    .await;
    let mails = sink.messages();
    assert!(
        mails.iter().any(|m| {
            let m = String::from_utf8_lossy(m);
            m.contains("duty@adilet.gov.kz")
        }),
        "a notice mail to the recipient"
    );
    assert!(
        found.is_empty(),
        "serious or critical violations:\n{}",
        found.join("\n")
    );
    r.t.stop().await;
}
