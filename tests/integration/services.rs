//! Services of the registry (F5-F8, F1, R7, R12): Appendix 1 and passport fields, the
//! onboarding timeline and its escalation, ticket links and proposals, CSV import and
//! export, contact cards, ICT routing of registry bodies' questions, body digests, and
//! the stage look-up against a local monitoring server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use baylanys_core::Language;
use chrono::{DateTime, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::email::mail_support::SmtpSink;
use crate::support::{
    Backend, TestApp, appeal, eventually, fresh_database, spawn, spawn_config, spawn_custom,
};

both_backends!(
    f5_services_are_created_searched_and_changed_by_administrators,
    bad_service_input_names_each_field,
    f5_f7_onboarding_deadlines_come_from_the_calendar_and_overdue_steps_escalate_once,
    tickets_link_to_services_by_operator_or_accepted_proposal_and_filter_by_service_and_body,
    csv_export_then_import_into_a_fresh_database_gives_the_same_registry,
    csv_a_bad_row_is_reported_with_its_line_and_nothing_is_imported,
    r7_the_contact_card_in_the_applicants_language_and_in_a_reply,
    r12_a_body_staff_members_ict_question_goes_to_the_ict_queue_with_the_f3_deadline,
    f1_each_body_gets_one_digest_per_period_with_two_instances,
    f8_the_stage_is_asked_of_the_monitoring_system_and_its_failures_are_clear,
    f8_the_telegram_bot_answers_stage_in_the_chats_language,
);

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.expect("a JSON body")
}

async fn put_auth(t: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    t.client
        .put(format!("{}{}", t.url, path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

async fn delete_auth(t: &TestApp, path: &str, token: &str) -> reqwest::Response {
    t.client
        .delete(format!("{}{}", t.url, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

async fn post_csv(t: &TestApp, path: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    t.client
        .post(format!("{}{}", t.url, path))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("the server answers")
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A providing body with one responsible person; returns (body id, person id).
async fn provider(t: &TestApp, admin: &str, ru: &str) -> (String, String) {
    let r = t
        .post_auth(
            "/api/v1/bodies",
            admin,
            json!({"kind": "central_state_body",
                   "name": {"kk": format!("{ru} (kk)"), "ru": ru},
                   "email": "kense@adilet.gov.kz",
                   "phones": ["+7 7172 00 00 00"],
                   "address": "Астана, пр. Мәңгілік Ел, 8, \"Дом министерств\"",
                   "persons": [{"name": "Асқар Нұрланұлы", "position": "бас маман",
                                "phones": ["+7 701 000 0000"], "email": "askar@adilet.gov.kz"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let b = json_of(r).await;
    (
        b["id"].as_str().expect("an id").to_string(),
        b["persons"][0]["id"]
            .as_str()
            .expect("a person")
            .to_string(),
    )
}

fn service_json(number: &str, body: &str, person: &str) -> Value {
    json!({
        "register_number": number,
        "name": {"kk": "Соттылығы туралы анықтама беру", "ru": "Выдача справки о наличии либо отсутствии судимости"},
        "body": body,
        "responsible_person": person,
        "bylaws": "Приказ Министра юстиции РК от 28.05.2020 № 62,\nизменения от 01.02.2024 № 14",
        "web_page": "https://egov.kz/cms/ru/services/pass_onlineservices/p_sudimost",
        "keywords": ["несудимост", "справка о судимости"],
        "passport": {
            "term": {"kk": "20 минут", "ru": "20 минут"},
            "forms": ["electronic_full"],
            "result": {"kk": "Анықтама", "ru": "Справка"},
            "fee": {"kk": "Тегін", "ru": "Бесплатно"},
            "schedule": {"kk": "Тәулік бойы", "ru": "Круглосуточно"},
            "documents": {"kk": "Жеке куәлік", "ru": "Удостоверение личности"},
            "refusal_grounds": {"kk": "Дұрыс емес деректер", "ru": "Недостоверные сведения"},
            "complaints": {"kk": "Сапа органына", "ru": "В уполномоченный орган по оценке качества"},
            "other_requirements": {"kk": "ЭЦҚ", "ru": "ЭЦП"}
        }
    })
}

async fn create_service(t: &TestApp, admin: &str, number: &str, body: &str, person: &str) -> Value {
    let r = t
        .post_auth(
            "/api/v1/services",
            admin,
            service_json(number, body, person),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    json_of(r).await
}

async fn f5_services_are_created_searched_and_changed_by_administrators(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let operator = t.token("op", Role::Operator).await;
    let (body, person) = provider(&t, &admin, "Министерство юстиции").await;

    // Operators read, never write.
    let r = t
        .post_auth(
            "/api/v1/services",
            &operator,
            service_json("00101001", &body, &person),
        )
        .await;
    assert_eq!(r.status(), 403);
    let s = create_service(&t, &admin, "00101001", &body, &person).await;
    let id = s["id"].as_str().expect("an id").to_string();
    assert_eq!(s["passport"]["ucc_number"], "1414");
    assert_eq!(s["passport"]["fee"]["ru"], "Бесплатно");
    assert_eq!(s["passport"]["forms"], json!(["electronic_full"]));
    assert_eq!(s["responsible_person"]["name"], "Асқар Нұрланұлы");
    assert_eq!(s["body_name"]["ru"], "Министерство юстиции");

    let again = t
        .post_auth(
            "/api/v1/services",
            &admin,
            service_json("00101001", &body, &person),
        )
        .await;
    assert_eq!(again.status(), 409);

    // Search by name in both languages, case-insensitive; and by body.
    for q in ["СПРАВКИ%20судимости", "анықтама", "00101001"] {
        let list = json_of(
            t.get_auth(&format!("/api/v1/services?q={q}"), &operator)
                .await,
        )
        .await;
        assert_eq!(list["services"].as_array().expect("a list").len(), 1, "{q}");
    }
    let none = json_of(t.get_auth("/api/v1/services?q=%25", &operator).await).await;
    assert_eq!(none["services"].as_array().expect("a list").len(), 0);
    let by_body = json_of(
        t.get_auth(&format!("/api/v1/services?body={body}"), &operator)
            .await,
    )
    .await;
    assert_eq!(by_body["services"][0]["id"], id.as_str());

    // Administrators change fields; the passport key given replaces only that key.
    let r = t
        .patch_auth(
            &format!("/api/v1/services/{id}"),
            &admin,
            json!({"passport": {"fee": {"kk": "0 теңге", "ru": "0 тенге"}}, "bylaw_changes": "№ 15 от 2025"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s = json_of(r).await;
    assert_eq!(s["passport"]["fee"]["ru"], "0 тенге");
    assert_eq!(s["passport"]["term"]["ru"], "20 минут");
    assert_eq!(s["bylaw_changes"], "№ 15 от 2025");
    let r = t
        .patch_auth(
            &format!("/api/v1/services/{id}"),
            &operator,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let read = json_of(
        t.get_auth(&format!("/api/v1/services/{id}"), &operator)
            .await,
    )
    .await;
    assert_eq!(read["onboarding"], json!([]));
    assert_eq!(
        t.get_auth("/api/v1/services/nope", &operator)
            .await
            .status(),
        404
    );
    assert_eq!(
        t.get_auth(
            "/api/v1/services/0190f000-0000-7000-8000-000000000000",
            &operator
        )
        .await
        .status(),
        404
    );
}

async fn bad_service_input_names_each_field(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let (body, person) = provider(&t, &admin, "Министерство юстиции").await;
    let (other_body, other_person) = provider(&t, &admin, "Министерство финансов").await;

    let cases = [
        (json!([]), vec!["body"]),
        (
            json!({"register_number": 5, "name": "x", "body": "x"}),
            vec!["register_number", "name", "body"],
        ),
        (
            json!({"register_number": "a\u{0}", "name": {"kk": "", "ru": "x"}, "body": body, "colour": 1}),
            vec!["name.kk", "colour"],
        ),
        (
            json!({"register_number": "1".repeat(65), "name": {"kk": "x", "ru": "x"}, "body": body}),
            vec!["register_number"],
        ),
        (
            json!({"register_number": "1", "name": {"kk": "x".repeat(50_000), "ru": "x"}, "body": body,
                   "web_page": "javascript:alert(1)", "keywords": "x",
                   "passport": {"forms": ["fax"], "fee": "free", "ucc_number": 1414, "colour": 1}}),
            vec![
                "name.kk",
                "web_page",
                "keywords",
                "passport.forms[0]",
                "passport.fee",
                "passport.ucc_number",
                "passport.colour",
            ],
        ),
        // The responsible person must be one of the providing body's.
        (
            json!({"register_number": "2", "name": {"kk": "x", "ru": "x"}, "body": body, "responsible_person": other_person}),
            vec!["responsible_person"],
        ),
        (
            json!({"register_number": "3", "name": {"kk": "x", "ru": "x"}, "body": "0190f000-0000-7000-8000-000000000000",
                   "standard_body": other_body, "responsible_person": person}),
            vec!["body", "responsible_person"],
        ),
        (
            json!({"name": {"kk": "x", "ru": "x"}}),
            vec!["register_number", "body"],
        ),
    ];
    for (input, expected) in cases {
        let r = t.post_auth("/api/v1/services", &admin, input.clone()).await;
        assert_eq!(r.status(), 422, "{input}");
        let p = json_of(r).await;
        let got = fields(&p);
        for f in &expected {
            assert!(
                got.contains(&f.to_string()),
                "{f} not in {got:?} for {input}"
            );
        }
    }
    // Not JSON at all: a 400, never a 5xx.
    let r = t
        .client
        .post(format!("{}/api/v1/services", t.url))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"register_number\": ")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 400);
    let list = json_of(
        t.get_auth(
            "/api/v1/services?q=a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q+r+s+t+u",
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(fields(&list), vec!["q"]);
    let r = t.get_auth("/api/v1/services?body=x&limit=0", &admin).await;
    assert_eq!(fields(&json_of(r).await), vec!["body", "limit"]);
}

/// Two instances on one database and one manual clock; staff notices in English.
struct Rig {
    a: TestApp,
    b: TestApp,
    clock: Arc<ManualClock>,
    sink: SmtpSink,
}

async fn rig(backend: Backend, start: DateTime<Utc>) -> Rig {
    let sink = SmtpSink::start();
    let clock = Arc::new(ManualClock::new(start));
    let (url, dir) = fresh_database(backend);
    let instance = |dir| {
        let smtp = sink.url();
        let clock = clock.clone();
        let url = url.clone();
        async move {
            spawn_custom(
                &url,
                dir,
                |c| {
                    c.smtp_url = Some(smtp);
                    c.staff_language = Language::En;
                },
                |app| app.with_clock(clock as Arc<dyn Clock>),
            )
            .await
        }
    };
    let a = instance(dir).await;
    let b = instance(None).await;
    Rig { a, b, clock, sink }
}

impl Rig {
    /// Both instances tick at the same moment (as their loops do on their own).
    async fn move_to(&self, at: DateTime<Utc>) {
        self.clock.set(at);
        let (a, b) = tokio::join!(
            baylanys::jobs::timers::tick(&self.a.app),
            baylanys::jobs::timers::tick(&self.b.app)
        );
        a.expect("timer tick");
        b.expect("timer tick");
        self.settle().await;
    }

    async fn settle(&self) {
        crate::support::settle_jobs(&self.a.app, self.clock.now().naive_utc()).await;
    }
}

async fn staff(app: &baylanys::AppState, login: &str, role: Role) -> String {
    let token = crate::support::token_for(app, login, role).await;
    let (l, email) = (login.to_string(), format!("{login}@staff.example.kz"));
    app.db
        .write(move |c| baylanys::auth::set_contact(c, &l, Some(Some(&email)), None))
        .await
        .expect("contact set");
    token
}

async fn notices(app: &baylanys::AppState, kind: &str) -> Vec<(String, String)> {
    let kind = kind.to_string();
    app.db
        .run(move |c| {
            use baylanys::db::schema::staff_notices;
            Ok(staff_notices::table
                .filter(staff_notices::kind.eq(kind))
                .order(staff_notices::created_at.asc())
                .select((staff_notices::address, staff_notices::body_text))
                .load(c)?)
        })
        .await
        .expect("notices")
}

fn almaty(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a test instant")
        .with_timezone(&Utc)
}

async fn f5_f7_onboarding_deadlines_come_from_the_calendar_and_overdue_steps_escalate_once(
    backend: Backend,
) {
    // Wednesday 02.12.2026, 10:00 Almaty.
    let r = rig(backend, almaty("2026-12-02T10:00:00+05:00")).await;
    let admin = staff(&r.a.app, "admin", Role::Admin).await;
    staff(&r.a.app, "dana", Role::Supervisor).await;
    let operator = r.a.token("op", Role::Operator).await;
    let (body, person) = provider(&r.a, &admin, "Министерство юстиции").await;
    let s = create_service(&r.a, &admin, "00101001", &body, &person).await;
    let id = s["id"].as_str().expect("an id").to_string();
    let path = format!("/api/v1/services/{id}/onboarding");

    // F5: the by-law approved on Monday 02.11.2026 -> a person named by the 5th working
    // day after, Monday 09.11.2026 at the close.
    let rec =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "bylaw_approved", "date": "2026-11-02", "note": "Приказ № 62"}),
        )
        .await;
    assert_eq!(rec.status(), 201);
    let steps = json_of(rec).await["onboarding"].clone();
    assert_eq!(steps[0]["step"], "bylaw_approved");
    assert_eq!(steps[0]["done_on"], "2026-11-02");
    assert_eq!(steps[1]["step"], "person_named");
    assert_eq!(steps[1]["rule"], "F5");
    assert_eq!(steps[1]["due_at"], "2026-11-09T18:30:00+05:00");
    assert_eq!(steps[1]["overdue"], true);

    // Once-only steps refuse a second date; the future is refused; bad input names the field.
    let twice =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "bylaw_approved", "date": "2026-11-03"}),
        )
        .await;
    assert_eq!(twice.status(), 409);
    let future =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "training", "date": "2026-12-03"}),
        )
        .await;
    assert_eq!(fields(&json_of(future).await), vec!["date"]);
    let bad =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "party", "date": "02.11.2026"}),
        )
        .await;
    assert_eq!(fields(&json_of(bad).await), vec!["step", "date"]);
    let ancient =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "training", "date": "0001-01-01"}),
        )
        .await;
    assert_eq!(fields(&json_of(ancient).await), vec!["date"]);
    let nul =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "training\u{0}", "date": 20261102, "note": 5}),
        )
        .await;
    assert_eq!(fields(&json_of(nul).await), vec!["step", "date", "note"]);
    let by_operator =
        r.a.post_auth(
            &path,
            &operator,
            json!({"step": "training", "date": "2026-11-02"}),
        )
        .await;
    assert_eq!(by_operator.status(), 403);

    // F7: a by-law change today -> updated information due Wednesday 09.12.2026 18:30.
    let rec =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "bylaw_changed", "date": "2026-12-02"}),
        )
        .await;
    let steps = json_of(rec).await["onboarding"].clone();
    let updated = steps
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "updated_information")
        .expect("expected")
        .clone();
    assert_eq!(updated["due_at"], "2026-12-09T18:30:00+05:00");
    assert_eq!(updated["overdue"], false);

    // Overdue: only the person not named yet.
    let list = json_of(
        r.a.get_auth("/api/v1/services/onboarding/overdue", &operator)
            .await,
    )
    .await;
    assert_eq!(list["overdue"].as_array().expect("a list").len(), 1);
    assert_eq!(list["overdue"][0]["step"], "person_named");
    assert_eq!(list["overdue"][0]["register_number"], "00101001");

    // Both instances tick: one notice per supervisor and administrator, once.
    r.move_to(almaty("2026-12-02T10:01:00+05:00")).await;
    r.move_to(almaty("2026-12-02T10:02:00+05:00")).await;
    let sent = notices(&r.a.app, "onboarding_overdue").await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].1.contains("person_named") && sent[0].1.contains("00101001"),
        "{}",
        sent[0].1
    );
    eventually("two mails at the sink", || async { r.sink.count() >= 2 }).await;

    // Exactly at the deadline it is not overdue; a second later it is, and escalates once.
    r.move_to(almaty("2026-12-09T18:30:00+05:00")).await;
    assert_eq!(notices(&r.a.app, "onboarding_overdue").await.len(), 2);
    r.move_to(almaty("2026-12-09T18:30:01+05:00")).await;
    r.move_to(almaty("2026-12-09T18:31:01+05:00")).await;
    assert_eq!(notices(&r.a.app, "onboarding_overdue").await.len(), 4);

    // Recording the step closes it (late) and takes it off the list.
    let rec =
        r.a.post_auth(
            &path,
            &admin,
            json!({"step": "person_named", "date": "2026-11-20"}),
        )
        .await;
    let steps = json_of(rec).await["onboarding"].clone();
    let named = steps
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "person_named")
        .expect("named")
        .clone();
    assert_eq!(named["late"], true);
    let training = steps
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == "training")
        .expect("training")
        .clone();
    // 10 working days after Friday 20.11.2026: Friday 04.12.2026.
    assert_eq!(training["due_at"], "2026-12-04T18:30:00+05:00");
}

async fn register_appeal(t: &TestApp, body: Value) -> Value {
    let r = t.post_json("/api/v1/appeals", body).await;
    assert_eq!(r.status(), 201);
    json_of(r).await
}

async fn tickets_link_to_services_by_operator_or_accepted_proposal_and_filter_by_service_and_body(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let operator = t.token("op", Role::Operator).await;
    let (body, person) = provider(&t, &admin, "Министерство юстиции").await;
    let (other, other_person) = provider(&t, &admin, "Министерство внутренних дел").await;
    let s1 = create_service(&t, &admin, "00101001", &body, &person).await;
    let mut passport_service = service_json("00201002", &other, &other_person);
    passport_service["name"] =
        json!({"kk": "Жеке куәлік беру", "ru": "Выдача удостоверения личности"});
    passport_service["keywords"] = json!(["удостоверение"]);
    let r = t
        .post_auth("/api/v1/services", &admin, passport_service)
        .await;
    let s2 = json_of(r).await;
    let (s1, s2) = (
        s1["id"].as_str().expect("id").to_string(),
        s2["id"].as_str().expect("id").to_string(),
    );

    let a = register_appeal(
        &t,
        appeal("Не могу получить справку о несудимости на портале"),
    )
    .await;
    let number = a["number"].as_str().expect("a number").to_string();
    let b = register_appeal(&t, appeal("Где получить удостоверение?")).await;
    let number_b = b["number"].as_str().expect("a number").to_string();

    // The proposal is on the ticket detail, with the words that matched.
    let detail = json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &operator)
            .await,
    )
    .await;
    assert_eq!(detail["services"], json!([]));
    assert_eq!(detail["service_proposals"][0]["service_id"], s1.as_str());
    let matched = detail["service_proposals"][0]["matched"].to_string();
    assert!(matched.contains("keyword:несудимост"), "{matched}");

    // The operator accepts it; a second POST changes nothing.
    let path = format!("/api/v1/tickets/{number}/services");
    for _ in 0..2 {
        let r = t
            .post_auth(
                &path,
                &operator,
                json!({"service": s1, "accept_proposal": true}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let detail = json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &operator)
            .await,
    )
    .await;
    assert_eq!(detail["services"][0]["service_id"], s1.as_str());
    assert_eq!(detail["services"][0]["source"], "proposal");
    assert_eq!(detail["service_proposals"], json!([]));
    let linked_events = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "service_linked")
        .count();
    assert_eq!(linked_events, 1);
    let r = put_auth(
        &t,
        &format!("/api/v1/tickets/{number_b}/services"),
        &operator,
        json!({"services": [s2]}),
    )
    .await;
    assert_eq!(r.status(), 200);

    // Filters by service and by providing body.
    let by_service = json_of(
        t.get_auth(&format!("/api/v1/tickets?service={s1}"), &operator)
            .await,
    )
    .await;
    let numbers: Vec<&str> = by_service["tickets"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x["number"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(numbers, vec![number.as_str()]);
    let by_body = json_of(
        t.get_auth(&format!("/api/v1/tickets?body={other}"), &operator)
            .await,
    )
    .await;
    assert_eq!(by_body["tickets"][0]["number"], number_b.as_str());
    assert_eq!(by_body["tickets"].as_array().expect("list").len(), 1);
    let bad = t
        .get_auth("/api/v1/tickets?service=x&body=%00", &operator)
        .await;
    assert_eq!(fields(&json_of(bad).await), vec!["service", "body"]);

    // Hostile and wrong input.
    let r = t
        .post_auth(
            &path,
            &operator,
            json!({"service": "0190f000-0000-7000-8000-000000000000"}),
        )
        .await;
    assert_eq!(fields(&json_of(r).await), vec!["service"]);
    let r = t.post_auth(&path, &operator, json!({"service": 7})).await;
    assert_eq!(fields(&json_of(r).await), vec!["service"]);
    let r = put_auth(
        &t,
        &path,
        &operator,
        json!({"services": vec![s1.clone(); 21]}),
    )
    .await;
    assert_eq!(fields(&json_of(r).await), vec!["services"]);
    let r = t
        .post_auth(
            "/api/v1/tickets/UCC-2026-999999/services",
            &operator,
            json!({"service": s1}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let quality = t.token("q", Role::Quality).await;
    assert_eq!(
        t.post_auth(&path, &quality, json!({"service": s1}))
            .await
            .status(),
        403
    );

    // Unlinked again: the list forgets it.
    assert_eq!(
        delete_auth(&t, &format!("{path}/{s1}"), &operator)
            .await
            .status(),
        204
    );
    assert_eq!(
        delete_auth(&t, &format!("{path}/{s1}"), &operator)
            .await
            .status(),
        404
    );
    let by_service = json_of(
        t.get_auth(&format!("/api/v1/tickets?service={s1}"), &operator)
            .await,
    )
    .await;
    assert_eq!(by_service["tickets"], json!([]));
}

/// A registry with text that needs quoting and defusing.
async fn sample_registry(t: &TestApp, admin: &str) {
    let (body, person) = provider(t, admin, "Министерство юстиции, \"Адилет\"").await;
    let r = t
        .patch_auth(
            &format!("/api/v1/bodies/{body}"),
            admin,
            json!({"working_hours": "=1+1 пн-пт\n09:00-18:30", "digest": "weekly", "systems": ["egov-portal", "eotinish"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .post_auth(
            &format!("/api/v1/bodies/{body}/persons"),
            admin,
            json!({"name": "@Айгүл", "position": "-", "ict_group": true, "active": false}),
        )
        .await;
    assert_eq!(r.status(), 201);
    create_service(t, admin, "00101001", &body, &person).await;
    let mut second = service_json("00101002", &body, &person);
    second["passport"] = json!({"term": {"kk": "1", "ru": "1"}});
    second["active"] = json!(false);
    t.post_auth("/api/v1/services", admin, second).await;
}

fn without_times(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("created_at");
            o.remove("updated_at");
            for (_, x) in o.iter_mut() {
                *x = without_times(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = without_times(x.take());
            }
        }
        _ => {}
    }
    v
}

async fn registry_state(t: &TestApp, token: &str) -> (Value, Value) {
    let bodies = json_of(
        t.get_auth("/api/v1/bodies?include_inactive=true", token)
            .await,
    )
    .await;
    let services = json_of(
        t.get_auth("/api/v1/services?include_inactive=true&limit=500", token)
            .await,
    )
    .await;
    (
        without_times(bodies),
        without_times(services["services"].clone()),
    )
}

async fn csv_export_then_import_into_a_fresh_database_gives_the_same_registry(backend: Backend) {
    let a = spawn(backend).await;
    let admin_a = a.token("admin", Role::Admin).await;
    sample_registry(&a, &admin_a).await;
    let mut files = Vec::new();
    for kind in ["bodies", "persons", "services"] {
        let r = a
            .get_auth(&format!("/api/v1/registry/{kind}.csv"), &admin_a)
            .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/csv")
        );
        let bytes = r.bytes().await.expect("a file").to_vec();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for spreadsheets");
        let text = String::from_utf8_lossy(&bytes).to_string();
        // No cell starts a formula.
        for line in text.lines() {
            for cell in line.split(',') {
                assert!(
                    !cell.trim_start_matches('"').starts_with(['=', '+', '@']),
                    "{kind}: {line}"
                );
            }
        }
        files.push((kind, bytes));
    }
    let b = spawn(backend).await;
    let admin_b = b.token("admin", Role::Admin).await;
    for (kind, bytes) in &files {
        let r = post_csv(
            &b,
            &format!("/api/v1/registry/{kind}.csv"),
            &admin_b,
            bytes.clone(),
        )
        .await;
        assert_eq!(
            r.status(),
            200,
            "{kind}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    assert_eq!(
        registry_state(&a, &admin_a).await,
        registry_state(&b, &admin_b).await
    );
    // Importing the same files again updates, and still the same registry.
    for (kind, bytes) in &files {
        let r = post_csv(
            &b,
            &format!("/api/v1/registry/{kind}.csv"),
            &admin_b,
            bytes.clone(),
        )
        .await;
        let done = json_of(r).await;
        assert_eq!(done["created"], 0, "{kind}: {done}");
    }
    assert_eq!(
        registry_state(&a, &admin_a).await,
        registry_state(&b, &admin_b).await
    );

    // The CLI does the same through files.
    let dir = tempfile::tempdir().expect("a temp dir");
    for (kind, bytes) in &files {
        std::fs::write(dir.path().join(format!("{kind}.csv")), bytes).expect("written");
    }
    let c = spawn(backend).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(["registry", "import", "--dir"])
        .arg(dir.path())
        .env("BAYLANYS_DATABASE_URL", &c.database_url)
        .output()
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let admin_c = c.token("admin", Role::Admin).await;
    assert_eq!(
        registry_state(&a, &admin_a).await,
        registry_state(&c, &admin_c).await
    );
    let export_dir = tempfile::tempdir().expect("a temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(["registry", "export", "--dir"])
        .arg(export_dir.path())
        .env("BAYLANYS_DATABASE_URL", &c.database_url)
        .output()
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services = std::fs::read(export_dir.path().join("services.csv")).expect("exported");
    assert_eq!(services, files[2].1);
}

async fn count_services(t: &TestApp) -> i64 {
    t.app
        .db
        .run(|c| {
            use baylanys::db::schema::services;
            Ok(services::table.count().get_result::<i64>(c)?)
        })
        .await
        .expect("count")
}

async fn csv_a_bad_row_is_reported_with_its_line_and_nothing_is_imported(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let (body, _) = provider(&t, &admin, "Министерство юстиции").await;
    let path = "/api/v1/registry/services.csv";

    // Line 2 is good and spans two lines; line 4 names a body that does not exist, line 5
    // has a bad web page: neither the good row nor any other is imported.
    let file = format!(
        "\u{feff}register_number,name_kk,name_ru,body_id,bylaws,web_page\r\n\
         00101001,Анықтама,\"Справка, \"\"о несудимости\"\"\",{body},\"Приказ № 62\nизменения\",\r\n\
         00101002,Анықтама 2,Справка 2,0190f000-0000-7000-8000-000000000000,,\r\n\
         00101003,Анықтама 3,Справка 3,{body},,ftp://x\r\n"
    );
    let r = post_csv(&t, path, &admin, file.into_bytes()).await;
    assert_eq!(r.status(), 422);
    let p = json_of(r).await;
    assert_eq!(
        fields(&p),
        vec!["line 4: body_id", "line 5: web_page"],
        "{p}"
    );
    assert_eq!(count_services(&t).await, 0);

    // The same file without the bad rows imports.
    let good = format!(
        "register_number,name_kk,name_ru,body_id,bylaws\n00101001,Анықтама,\"Справка, \"\"о несудимости\"\"\",{body},\"Приказ № 62\nизменения\"\n"
    );
    let r = post_csv(&t, path, &admin, good.into_bytes()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["created"], 1);
    // A duplicate register number in a later row rolls back the whole file.
    let dup = format!(
        "register_number,name_kk,name_ru,body_id\n00109999,a,b,{body}\n00101001,a,b,{body}\n"
    );
    let p = json_of(post_csv(&t, path, &admin, dup.into_bytes()).await).await;
    assert_eq!(fields(&p), vec!["line 3"], "{p}");
    assert_eq!(count_services(&t).await, 1);

    // Hostile files: each a clear 4xx naming where.
    let many = {
        let mut s = String::from("register_number,name_kk,name_ru,body_id\n");
        for i in 0..100_001 {
            s.push_str(&format!("{i},a,b,{body}\n"));
        }
        s
    };
    let hostile: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "line 1"),
        (b"register_number,name_kk\n\xff\xfe,x\n".to_vec(), "line 2"),
        (
            b"register_number,name_kk,name_ru,body_id,colour\n".to_vec(),
            "line 1: colour",
        ),
        (b"name_kk\n".to_vec(), "line 1: register_number"),
        (
            format!("register_number,name_kk,name_ru,body_id\n1,\"open,b,{body}\n").into_bytes(),
            "line 2",
        ),
        (
            b"register_number,name_kk,name_ru,body_id\n1,a\n".to_vec(),
            "line 2",
        ),
        (
            format!(
                "register_number,name_kk,name_ru,body_id\n1,{},b,{body}\n",
                "я".repeat(20_001)
            )
            .into_bytes(),
            "line 2: name_kk",
        ),
        (
            format!("id,register_number,name_kk,name_ru,body_id\n../../etc,1,a,b,{body}\n")
                .into_bytes(),
            "line 2: id",
        ),
        (many.into_bytes(), "line 100002"),
        (
            format!("{}\n", vec!["x"; 10_000].join(",")).into_bytes(),
            "line 1",
        ),
    ];
    for (bytes, want) in hostile {
        let r = post_csv(&t, path, &admin, bytes).await;
        assert_eq!(r.status(), 422, "{want}");
        let got = fields(&json_of(r).await);
        assert!(got.iter().any(|f| f == want), "{want} not in {got:?}");
    }
    assert_eq!(count_services(&t).await, 1);
    let r = t
        .client
        .post(format!("{}{path}", t.url))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status(), 400);
    let operator = t.token("op", Role::Operator).await;
    assert_eq!(
        post_csv(&t, path, &operator, b"x\n".to_vec())
            .await
            .status(),
        403
    );
    assert_eq!(
        t.get_auth("/api/v1/registry/users.csv", &operator)
            .await
            .status(),
        404
    );
    assert_eq!(
        t.get_auth("/api/v1/registry/services.csv", &operator)
            .await
            .status(),
        200
    );
}

async fn r7_the_contact_card_in_the_applicants_language_and_in_a_reply(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let operator = t.token("op", Role::Operator).await;
    let (body, _) = provider(&t, &admin, "Министерство юстиции").await;
    let kk = json_of(
        t.get_auth(&format!("/api/v1/bodies/{body}/card?lang=kk"), &operator)
            .await,
    )
    .await;
    let text = kk["text"].as_str().expect("a card");
    assert!(
        text.contains("құзыретіне") && text.contains("Министерство юстиции (kk)"),
        "{text}"
    );
    assert!(
        text.contains("+7 7172 00 00 00") && text.contains("Асқар Нұрланұлы"),
        "{text}"
    );
    let ru = json_of(
        t.get_auth(&format!("/api/v1/bodies/{body}/card?lang=ru"), &operator)
            .await,
    )
    .await;
    assert!(ru["text"].as_str().expect("a card").contains("компетенции"));
    assert_eq!(
        fields(
            &json_of(
                t.get_auth(&format!("/api/v1/bodies/{body}/card?lang=de"), &operator)
                    .await
            )
            .await
        ),
        vec!["lang"]
    );
    assert_eq!(
        t.get_auth(
            "/api/v1/bodies/0190f000-0000-7000-8000-000000000000/card",
            &operator
        )
        .await
        .status(),
        404
    );

    // A reply to a Kazakh appeal carries the card in Kazakh.
    let mut a = appeal("Бұл сұрақ министрлікке қатысты");
    a["language"] = json!("kk");
    let number = register_appeal(&t, a).await["number"]
        .as_str()
        .expect("a number")
        .to_string();
    let path = format!("/api/v1/tickets/{number}/replies");
    let bad = t.post_auth(&path, &operator, json!({"text": "Құзыретті орган:", "cards": ["nope", "0190f000-0000-7000-8000-000000000000"]})).await;
    assert_eq!(fields(&json_of(bad).await), vec!["cards[0]"]);
    let unknown = t
        .post_auth(
            &path,
            &operator,
            json!({"text": "Құзыретті орган:", "cards": ["0190f000-0000-7000-8000-000000000000"]}),
        )
        .await;
    assert_eq!(fields(&json_of(unknown).await), vec!["cards[0]"]);
    let too_many = t
        .post_auth(
            &path,
            &operator,
            json!({"text": "x", "cards": vec![body.clone(); 6]}),
        )
        .await;
    assert_eq!(fields(&json_of(too_many).await), vec!["cards"]);
    let r = t
        .post_auth(
            &path,
            &operator,
            json!({"text": "Құзыретті орган:", "cards": [body]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let detail = json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &operator)
            .await,
    )
    .await;
    let out = detail["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["direction"] == "out" && m["kind"] == "reply")
        .expect("the reply")
        .clone();
    let body_text = out["body_text"].as_str().expect("text");
    assert!(
        body_text.contains("Құзыретті орган:") && body_text.contains("құзыретіне жатады"),
        "{body_text}"
    );
}

async fn r12_a_body_staff_members_ict_question_goes_to_the_ict_queue_with_the_f3_deadline(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let operator = t.token("op", Role::Operator).await;
    let (body, _) = provider(&t, &admin, "Акимат города Астаны").await;
    let mut a = appeal("Не работает вход в ИС «Е-өтініш» для сотрудников акимата");
    a["email"] = json!("it@akimat.astana.kz");
    let first = register_appeal(&t, a.clone()).await;
    let number = first["number"].as_str().expect("a number").to_string();
    let ticket = json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &operator)
            .await,
    )
    .await;
    assert_eq!(ticket["queue"], "general");

    let path = format!("/api/v1/tickets/{number}/contact/body");
    let bad = put_auth(&t, &path, &operator, json!({"body": "x"})).await;
    assert_eq!(fields(&json_of(bad).await), vec!["body"]);
    let unknown = put_auth(
        &t,
        &path,
        &operator,
        json!({"body": "0190f000-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_eq!(fields(&json_of(unknown).await), vec!["body"]);
    let r = put_auth(&t, &path, &operator, json!({"body": body})).await;
    assert_eq!(r.status(), 200);
    let set = json_of(r).await;
    assert_eq!(set["routed_to_ict"], true);
    assert_eq!(set["queue"], "ict");
    let ticket = json_of(
        t.get_auth(&format!("/api/v1/tickets/{number}"), &operator)
            .await,
    )
    .await;
    assert_eq!(ticket["queue"], "ict");
    assert_eq!(ticket["contact"]["body_id"], body.as_str());
    assert_eq!(ticket["deadline"]["rule"], "F3", "{}", ticket["deadline"]);
    // One working day instead of R5's two: due before the R5 deadline.
    assert!(
        ticket["due_at"].as_str() < first["due_at"].as_str(),
        "{} vs {}",
        ticket["due_at"],
        first["due_at"]
    );
    assert_eq!(
        t.get_auth("/api/v1/queues/ict", &operator).await.status(),
        200
    );

    // The next ICT question of theirs goes there at registration; other topics do not.
    let second = register_appeal(&t, a.clone()).await;
    let n2 = second["number"].as_str().expect("a number");
    let ticket = json_of(
        t.get_auth(&format!("/api/v1/tickets/{n2}"), &operator)
            .await,
    )
    .await;
    assert_eq!(ticket["queue"], "ict");
    assert_eq!(
        ticket["due_at"], second["due_at"],
        "the acknowledgement gives the F3 deadline"
    );
    let mut other = a.clone();
    other["topic"] = json!("complaint");
    let third = register_appeal(&t, other).await;
    let ticket = json_of(
        t.get_auth(
            &format!("/api/v1/tickets/{}", third["number"].as_str().expect("n")),
            &operator,
        )
        .await,
    )
    .await;
    assert_eq!(ticket["queue"], "general");
    // An administrator closes the ICT queue: the next ICT question keeps F3's deadline in
    // the general queue instead of being filed where no one works.
    let closed = t
        .patch_auth("/api/v1/queues/ict", &admin, json!({"active": false}))
        .await;
    assert_eq!(closed.status(), 200);
    let fourth = register_appeal(&t, a.clone()).await;
    let ticket = json_of(
        t.get_auth(
            &format!("/api/v1/tickets/{}", fourth["number"].as_str().expect("n")),
            &operator,
        )
        .await,
    )
    .await;
    assert_eq!(ticket["queue"], "general");
    assert_eq!(ticket["deadline"]["rule"], "F3", "{}", ticket["deadline"]);
    assert_eq!(ticket["due_at"], fourth["due_at"]);
    // Cleared: no longer a body's staff member.
    let r = put_auth(&t, &path, &operator, json!({"body": null})).await;
    assert_eq!(json_of(r).await["body_id"], Value::Null);
}

/// The next working day's 10:00 in Almaty after `from`.
fn next_working_morning(app: &baylanys::AppState, from: DateTime<Utc>) -> DateTime<Utc> {
    let cal = app.calendar();
    let mut day = from.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    loop {
        day = day.succ_opt().expect("a next day");
        if cal.is_working_day(day) {
            break;
        }
    }
    chrono_tz::Asia::Almaty
        .from_local_datetime(&day.and_hms_opt(10, 0, 0).expect("10:00"))
        .single()
        .expect("one instant")
        .with_timezone(&Utc)
}

async fn f1_each_body_gets_one_digest_per_period_with_two_instances(backend: Backend) {
    let r = rig(backend, Utc::now()).await;
    let admin = r.a.token("admin", Role::Admin).await;
    let operator = r.a.token("op", Role::Operator).await;
    let (body, person) = provider(&r.a, &admin, "Министерство юстиции").await;
    let (quiet, _) = provider(&r.a, &admin, "Министерство финансов").await;
    for (id, digest, email) in [
        (&body, "daily", "digest@adilet.gov.kz"),
        (&quiet, "daily", "digest@minfin.gov.kz"),
    ] {
        let p =
            r.a.patch_auth(
                &format!("/api/v1/bodies/{id}"),
                &admin,
                json!({"digest": digest, "email": email}),
            )
            .await;
        assert_eq!(p.status(), 200);
    }
    let s = create_service(&r.a, &admin, "00101001", &body, &person).await;
    let number = register_appeal(&r.a, appeal("Справка о несудимости не приходит")).await["number"]
        .as_str()
        .expect("n")
        .to_string();
    let link =
        r.a.post_auth(
            &format!("/api/v1/tickets/{number}/services"),
            &operator,
            json!({"service": s["id"]}),
        )
        .await;
    assert_eq!(link.status(), 200);

    let morning = next_working_morning(&r.a.app, Utc::now());
    r.move_to(morning).await;
    r.move_to(morning + chrono::TimeDelta::minutes(1)).await;
    let digests = notices(&r.a.app, "body_digest").await;
    assert_eq!(
        digests.len(),
        1,
        "one digest, to the body with appeals: {digests:?}"
    );
    assert_eq!(digests[0].0, "digest@adilet.gov.kz");
    assert!(
        digests[0].1.contains(&number) && digests[0].1.contains("00101001"),
        "{}",
        digests[0].1
    );
    assert!(
        digests[0].1.contains("өтініштер") && digests[0].1.contains("обращений"),
        "both languages"
    );
    eventually("the digest mail", || async {
        r.sink
            .messages()
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains("digest@adilet.gov.kz"))
    })
    .await;
    // The next day's digest has nothing new for it: no mail.
    let next = next_working_morning(&r.a.app, morning);
    r.move_to(next).await;
    assert_eq!(notices(&r.a.app, "body_digest").await.len(), 1);
}

/// A local monitoring system: `/stage/<number>` with the bearer token `secret-token`.
pub(crate) async fn monitoring() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let authorized = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("authorization: bearer secret-token"));
                let (status, body) = if !authorized {
                    ("401 Unauthorized", String::new())
                } else if path == "/stage/KZ20261234567" {
                    (
                        "200 OK",
                        json!({"application": "KZ20261234567", "service": "00101001",
                        "stage": {"kk": "Қаралуда", "ru": "На рассмотрении у услугодателя"},
                        "updated_at": "2026-12-01T12:00:00+05:00"})
                        .to_string(),
                    )
                } else if path == "/stage/KZ20260000005" {
                    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
                    ("200 OK", "{}".into())
                } else if path == "/stage/KZ20260000666" {
                    ("200 OK", "<html>maintenance</html>".into())
                } else if path == "/stage/KZ20260000500" {
                    ("500 Internal Server Error", "oops".into())
                } else {
                    ("404 Not Found", String::new())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/stage/{{application}}"), hits)
}

pub(crate) fn monitored(url: Option<String>, token: &str) -> baylanys::registry::RegistryConfig {
    baylanys::registry::RegistryConfig::resolve(url, Some(token.into()), None, None, None, None)
        .expect("valid settings")
}

async fn f8_the_stage_is_asked_of_the_monitoring_system_and_its_failures_are_clear(
    backend: Backend,
) {
    let (url, hits) = monitoring().await;
    let u = url.clone();
    let t = spawn_config(backend, move |c| {
        c.registry = monitored(Some(u), "secret-token")
    })
    .await;
    let operator = t.token("op", Role::Operator).await;
    let ask = |number: &str, lang: &str| {
        format!("/api/v1/services/stage?application={number}&lang={lang}")
    };

    let found = json_of(t.get_auth(&ask("KZ20261234567", "ru"), &operator).await).await;
    assert_eq!(found["outcome"], "found", "{found}");
    assert_eq!(found["stage"]["ru"], "На рассмотрении у услугодателя");
    assert!(
        found["message"]
            .as_str()
            .expect("a message")
            .contains("На рассмотрении"),
        "{found}"
    );
    let kk = json_of(t.get_auth(&ask("KZ20261234567", "kk"), &operator).await).await;
    assert!(
        kk["message"]
            .as_str()
            .expect("a message")
            .contains("Қаралуда"),
        "{kk}"
    );
    let unknown = json_of(t.get_auth(&ask("KZ20269999999", "ru"), &operator).await).await;
    assert_eq!(unknown["outcome"], "not_found");
    assert!(
        unknown["message"]
            .as_str()
            .expect("m")
            .contains("не найдена")
    );

    // Garbage, an error status and a slow answer: "does not answer", never a 5xx.
    for number in ["KZ20260000666", "KZ20260000500", "KZ20260000005"] {
        let started = std::time::Instant::now();
        let r = t.get_auth(&ask(number, "kk"), &operator).await;
        assert_eq!(r.status(), 200, "{number}");
        let v = json_of(r).await;
        assert_eq!(v["outcome"], "unavailable", "{number}: {v}");
        assert!(
            v["message"].as_str().expect("m").contains("жауап бермейді"),
            "{v}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(7),
            "{number} took {:?}",
            started.elapsed()
        );
    }
    // Bad numbers never reach it.
    let before = hits.load(Ordering::SeqCst);
    for bad in ["", "a%20b", "%00", &"1".repeat(65)] {
        let r = t
            .get_auth(
                &format!("/api/v1/services/stage?application={bad}"),
                &operator,
            )
            .await;
        assert_eq!(fields(&json_of(r).await), vec!["application"], "{bad}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), before);
    let r = t
        .get_auth("/api/v1/services/stage?application=KZ1&lang=en", &operator)
        .await;
    assert_eq!(fields(&json_of(r).await), vec!["lang"]);

    // The Telegram bot's /stage and the status page use the same look-up.
    use baylanys_telegram::TelegramBackend;
    let bot = baylanys::telegram::DbBackend::new(t.app.clone());
    let said = bot
        .stage_text("KZ20261234567".into(), Some(Language::Kk))
        .await
        .expect("answers");
    assert!(said.expect("a text").contains("Қаралуда"));
    let usage = bot
        .stage_text("".into(), Some(Language::Ru))
        .await
        .expect("answers");
    assert!(usage.expect("a text").contains("/stage"));
    let a = register_appeal(
        &t,
        appeal("Моя заявка KZ20261234567 на справку о несудимости зависла"),
    )
    .await;
    let page = t
        .client
        .get(a["status_url"].as_str().expect("a link"))
        .send()
        .await
        .expect("answers");
    let html = page.text().await.expect("a page");
    assert!(html.contains("На рассмотрении у услугодателя"), "{html}");

    // A wrong token, an unreachable system and none configured: each said plainly.
    let wrong = spawn_config(backend, {
        let u = url.clone();
        move |c| c.registry = monitored(Some(u), "wrong")
    })
    .await;
    let op = wrong.token("op", Role::Operator).await;
    assert_eq!(
        json_of(wrong.get_auth(&ask("KZ20261234567", "ru"), &op).await).await["outcome"],
        "unavailable"
    );
    let port = crate::support::free_port();
    let down = spawn_config(backend, move |c| {
        c.registry = monitored(
            Some(format!("http://127.0.0.1:{port}/s/{{application}}")),
            "t",
        )
    })
    .await;
    let op = down.token("op", Role::Operator).await;
    let v = json_of(down.get_auth(&ask("KZ20261234567", "ru"), &op).await).await;
    assert_eq!(v["outcome"], "unavailable");
    assert!(
        v["message"].as_str().expect("m").contains("не отвечает"),
        "{v}"
    );
    let none = spawn(backend).await;
    let op = none.token("op", Role::Operator).await;
    assert_eq!(
        json_of(none.get_auth(&ask("KZ20261234567", "ru"), &op).await).await["outcome"],
        "not_configured"
    );
}

async fn f8_the_telegram_bot_answers_stage_in_the_chats_language(backend: Backend) {
    use baylanys_telegram::fake_api::FakeBotApi;
    let (url, _hits) = monitoring().await;
    let fake = FakeBotApi::start();
    let tg = fake.config();
    let t = spawn_config(backend, move |c| {
        c.registry = monitored(Some(url), "secret-token");
        c.telegram_token = Some(tg.token.clone());
        c.telegram_api_url = tg.api_url.as_ref().map(|u| u.to_string());
        c.telegram_webhook_secret = tg.webhook_secret.clone();
        c.telegram_mode = "webhook".into();
    })
    .await;
    let chat = 880_777;
    let update = |id: i64, text: &str| {
        json!({"update_id": id, "message": {
            "message_id": id, "date": 1_778_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Айгерім"},
            "from": {"id": chat, "is_bot": false, "first_name": "Айгерім"},
            "text": text}})
    };
    let post = |body: Value| {
        t.client
            .post(format!("{}/telegram/webhook", t.url))
            .header("X-Telegram-Bot-Api-Secret-Token", "fake-secret")
            .json(&body)
            .send()
    };
    let said = || {
        fake.sent()
            .into_iter()
            .filter(|c| c.chat_id == Some(chat) && c.method == "sendMessage")
            .filter_map(|c| c.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        post(update(7001, "/stage KZ20261234567"))
            .await
            .expect("answers")
            .status(),
        200
    );
    eventually("the stage in the chat", || async {
        said()
            .iter()
            .any(|m| m.contains("На рассмотрении у услугодателя"))
    })
    .await;
    assert_eq!(
        post(update(7002, "/stage"))
            .await
            .expect("answers")
            .status(),
        200
    );
    eventually("how to ask", || async {
        said().iter().any(|m| m.contains("/stage KZ"))
    })
    .await;
    assert_eq!(
        post(update(7003, "/stage KZ20260000666"))
            .await
            .expect("answers")
            .status(),
        200
    );
    eventually("does not answer", || async {
        said().iter().any(|m| m.contains("не отвечает"))
    })
    .await;
    // Commands register no appeal.
    let tickets = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::tickets;
            Ok(tickets::table.count().get_result::<i64>(c)?)
        })
        .await
        .expect("count");
    assert_eq!(tickets, 0);
}
