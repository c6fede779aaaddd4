//! Ratings on every channel (R10) and the monthly reports (P1-P4): e-mail rating links
//! fetched by an HTTP client from the mails a real SMTP server (aiosmtpd) accepted, the
//! status page's form, the phone API; the report read back by a real XLSX reader
//! (calamine) and as CSV, on demand (API and CLI) and by the monthly job on a manual
//! clock with two instances; discrepancy requests. Every scenario on both backends.

use std::io::Cursor;
use std::sync::Arc;

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Duration, DurationRound, Utc};
use mail_parser::MimeHeaders;
use serde_json::{Value, json};

use crate::outages::Smtp;
use crate::support::{Backend, TestApp, appeal, eventually, fresh_database, spawn_custom};

both_backends!(
    r10_email_links_rate_once_expire_and_a_reopened_ticket_is_rated_again,
    r10_the_status_page_form_rates_without_javascript_and_refuses_bad_input,
    r10_the_phone_survey_is_recorded_for_the_operator,
    p1_the_monthly_report_reads_back_as_xlsx_and_csv_with_its_classifications,
    p1_two_instances_send_each_part_once_by_the_5th_and_a_failed_send_is_retried,
    p2_a_discrepancy_is_due_the_next_working_day_reminded_and_answered,
);

struct Rig {
    t: TestApp,
    smtp: Arc<Smtp>,
    clock: Arc<ManualClock>,
}

fn soon() -> DateTime<Utc> {
    (Utc::now() + Duration::minutes(2))
        .duration_trunc(Duration::minutes(1))
        .expect("truncates")
}

async fn instance(
    url: &str,
    dir: Option<tempfile::TempDir>,
    smtp: &Smtp,
    clock: &Arc<ManualClock>,
) -> TestApp {
    let smtp_url = smtp.url();
    let clock = clock.clone();
    spawn_custom(
        url,
        dir,
        |c| c.smtp_url = Some(smtp_url),
        |app| app.with_clock(clock as Arc<dyn Clock>),
    )
    .await
}

async fn rig(backend: Backend, at: DateTime<Utc>) -> Rig {
    let smtp = Arc::new(Smtp::start());
    let clock = Arc::new(ManualClock::new(at));
    let (url, dir) = fresh_database(backend);
    let t = instance(&url, dir, &smtp, &clock).await;
    Rig { t, smtp, clock }
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn register(t: &TestApp, body: Value) -> (String, String) {
    let (status, v) = json_of(t.post_json("/api/v1/appeals", body).await).await;
    assert_eq!(status, 201, "{v}");
    let url = v["status_url"].as_str().expect("status url").to_string();
    let path = url
        .split_once("/appeals/")
        .map(|(_, p)| format!("/appeals/{p}"))
        .expect("a path");
    (v["number"].as_str().expect("number").to_string(), path)
}

async fn answer(t: &TestApp, op: &str, number: &str) {
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            op,
            json!({"text": "Справку можно получить на портале eGov."}),
        )
        .await;
    assert_eq!(r.status(), 202);
}

fn text_of(raw: &str) -> String {
    let m = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a mail");
    m.body_text(0).map(|s| s.to_string()).unwrap_or_default()
}

/// The rating links of the mails to `to` (newest mail last), score 5 first.
fn rating_links(smtp: &Smtp, to: &str) -> Vec<Vec<String>> {
    smtp.to(to)
        .iter()
        .map(|m| text_of(m))
        .filter(|b| b.contains("/rate/"))
        .map(|b| {
            b.split_whitespace()
                .filter(|w| w.contains("/rate/"))
                .map(str::to_string)
                .collect()
        })
        .collect()
}

async fn wait_links(smtp: &Smtp, to: &str, n: usize) -> Vec<String> {
    eventually("the rating mail arrives", || async {
        rating_links(smtp, to).len() >= n
    })
    .await;
    let all = rating_links(smtp, to);
    assert_eq!(all.len(), n, "one rating mail per conversation");
    let links = all[n - 1].clone();
    assert_eq!(links.len(), 5, "{links:?}");
    links
}

async fn get_page(t: &TestApp, url: &str) -> (u16, String) {
    let r = t.client.get(url).send().await.expect("answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn post_form(t: &TestApp, url: &str, form: &[(&str, &str)]) -> (u16, String, Option<String>) {
    let r = t.client.post(url).form(form).send().await.expect("answers");
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or("").to_string());
    (r.status().as_u16(), r.text().await.unwrap_or_default(), loc)
}

fn this_month() -> String {
    baylanys::reports::Month::of(Utc::now()).to_string()
}

async fn figures(t: &TestApp, token: &str, by: &str) -> Value {
    let m = this_month();
    let (s, v) = json_of(
        t.get_auth(
            &format!("/api/v1/ratings/figures?by={by}&from={m}&to={m}"),
            token,
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn r10_email_links_rate_once_expire_and_a_reopened_ticket_is_rated_again(backend: Backend) {
    let r = rig(backend, soon()).await;
    let t = &r.t;
    let op = t.token("op", Role::Operator).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let mut a = appeal("Анықтаманы қалай алуға болады?");
    a["email"] = json!("rate-kk@example.kz");
    a["language"] = json!("kk");
    let (number, _) = register(t, a).await;
    answer(t, &op, &number).await;
    let links = wait_links(&r.smtp, "rate-kk@example.kz", 1).await;
    let four = links
        .iter()
        .find(|l| l.ends_with("/4"))
        .expect("a link for 4")
        .clone();
    // One click, no sign-in: thanked in the applicant's language.
    let (s, page) = get_page(t, &four).await;
    assert_eq!(s, 200, "{page}");
    assert!(
        page.contains("Бағаңызға рахмет") && page.contains("4/5"),
        "{page}"
    );
    // The same link again, or another score of it: refused.
    let (s, page) = get_page(t, &four).await;
    assert_eq!(s, 409);
    assert!(page.contains("Баға бұрын қойылған"), "{page}");
    assert_eq!(get_page(t, &links[0]).await.0, 409);
    // Forged tokens.
    let token = four
        .split("/rate/")
        .nth(1)
        .unwrap()
        .trim_end_matches("/4")
        .to_string();
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    for bad in [
        format!("{}/rate/{forged}/4", t.url),
        format!("{}/rate/abc/4", t.url),
        format!("{}/rate/{}/4", t.url, "f".repeat(300)),
        format!("{}/rate/..%2F..%2Fetc/4", t.url),
    ] {
        let (s, page) = get_page(t, &bad).await;
        assert_eq!(s, 404, "{bad}: {page}");
    }
    assert_eq!(
        get_page(t, &format!("{}/rate/{token}/9", t.url)).await.0,
        422
    );
    // The comment and the survey: a huge one and a bad answer are refused, then once.
    let comment_url = format!("{}/rate/{token}/comment", t.url);
    let huge = "ж".repeat(2001);
    assert_eq!(
        post_form(t, &comment_url, &[("comment", &huge)]).await.0,
        422
    );
    assert_eq!(
        post_form(t, &comment_url, &[("satisfied_process", "7")])
            .await
            .0,
        422
    );
    let (s, page, _) = post_form(
        t,
        &comment_url,
        &[
            ("comment", "Рахмет, бәрі түсінікті"),
            ("satisfied_process", "3"),
            ("satisfied_info", "2"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("Пікіріңіз сақталды"), "{page}");
    assert_eq!(
        post_form(t, &comment_url, &[("comment", "ещё раз")])
            .await
            .0,
        409
    );
    let v = figures(t, &sup, "operator").await;
    assert_eq!(v["figures"][0]["key"], "op", "{v}");
    assert_eq!(v["figures"][0]["ratings"], 1);
    assert_eq!(v["figures"][0]["scores"], json!([0, 0, 0, 1, 0]));
    assert_eq!(v["figures"][0]["satisfied"], json!([0, 0, 1]));
    assert_eq!(v["figures"][0]["comments"], 1);

    // Closing ends the same conversation: no second invitation. Reopened and answered
    // again: a new conversation, rated again.
    assert_eq!(
        t.post_auth(&format!("/api/v1/tickets/{number}/close"), &op, json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(
        t.post_auth(
            &format!("/api/v1/tickets/{number}/status"),
            &op,
            json!({"status": "open"})
        )
        .await
        .status(),
        204
    );
    answer(t, &op, &number).await;
    let again = wait_links(&r.smtp, "rate-kk@example.kz", 2).await;
    assert_ne!(again, links);
    assert_eq!(get_page(t, &again[0]).await.0, 200);
    let v = figures(t, &sup, "channel").await;
    assert_eq!(v["figures"][0]["key"], "email", "{v}");
    assert_eq!(v["figures"][0]["ratings"], 2, "{v}");

    // A link past its 14 days: expired, said in the applicant's language.
    let mut b = appeal("Вопрос о справке");
    b["email"] = json!("rate-ru@example.kz");
    let (late, _) = register(t, b).await;
    answer(t, &op, &late).await;
    let links = wait_links(&r.smtp, "rate-ru@example.kz", 1).await;
    // Clicked six times at once: one rating.
    let clicks = (0..6).map(|_| get_page(t, &links[1]));
    let mut codes: Vec<u16> = futures_util::future::join_all(clicks)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409]);
    r.clock.advance(Duration::days(15));
    let (s, page) = get_page(t, &links[0]).await;
    assert_eq!(s, 410, "{page}");
    assert!(page.contains("Срок ссылки истёк"), "{page}");
}

async fn r10_the_status_page_form_rates_without_javascript_and_refuses_bad_input(backend: Backend) {
    let r = rig(backend, soon()).await;
    let t = &r.t;
    let op = t.token("op", Role::Operator).await;
    let mut a = appeal("Статус заявки на пособие");
    a.as_object_mut().unwrap().remove("email");
    let (number, status_path) = register(t, a).await;
    let status_url = format!("{}{status_path}", t.url);
    let (_, page) = get_page(t, &status_url).await;
    assert!(!page.contains("/rating\""), "no form before an answer");
    answer(t, &op, &number).await;
    let (s, page) = get_page(t, &status_url).await;
    assert_eq!(s, 200);
    let action = format!("action=\"/appeals/{number}/rating\"");
    assert!(page.contains(&action), "{page}");
    assert!(!page.contains("<script"), "no JavaScript");
    let key = status_path
        .split("key=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let form_url = format!("{}/appeals/{number}/rating", t.url);
    // Hostile input first: nothing is recorded.
    assert_eq!(
        post_form(t, &form_url, &[("key", &key), ("score", "9")])
            .await
            .0,
        422
    );
    assert_eq!(
        post_form(t, &form_url, &[("key", &key), ("score", "five")])
            .await
            .0,
        422
    );
    let huge = "я".repeat(2001);
    assert_eq!(
        post_form(
            t,
            &form_url,
            &[("key", &key), ("score", "5"), ("comment", &huge)]
        )
        .await
        .0,
        422
    );
    assert_eq!(
        post_form(t, &form_url, &[("key", "not-the-key"), ("score", "5")])
            .await
            .0,
        404
    );
    assert_eq!(
        post_form(
            t,
            &format!("{}/appeals/UCC-1999-999999/rating", t.url),
            &[("key", &key), ("score", "5")]
        )
        .await
        .0,
        404
    );
    let big = "x".repeat(70 * 1024);
    let s = post_form(
        t,
        &form_url,
        &[("key", &key), ("score", "5"), ("pad", &big)],
    )
    .await
    .0;
    assert!(s == 422 || s == 413, "{s}");
    // The applicant rates: back to the status page, which thanks.
    let (s, _, location) = post_form(
        t,
        &form_url,
        &[
            ("key", &key),
            ("score", "5"),
            ("satisfied_process", "3"),
            ("comment", "Спасибо, всё понятно"),
            ("lang", "ru"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let location = location.expect("a redirect");
    let (_, page) = get_page(t, &format!("{}{location}", t.url)).await;
    assert!(
        page.contains("id=\"rating-thanks\"") && page.contains("5/5"),
        "{page}"
    );
    assert!(!page.contains(&action));
    assert_eq!(
        post_form(t, &form_url, &[("key", &key), ("score", "1")])
            .await
            .0,
        409
    );
    let sup = t.token("sup", Role::Supervisor).await;
    let v = figures(t, &sup, "channel").await;
    assert_eq!(v["figures"][0]["key"], "web_form", "{v}");
    assert_eq!(v["figures"][0]["ratings"], 1, "{v}");
    assert_eq!(v["figures"][0]["average"], 5.0, "{v}");
    // The figures refuse bad ranges and roles.
    let (s, v) = json_of(
        t.get_auth("/api/v1/ratings/figures?by=who&from=2026-13&to=x", &sup)
            .await,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&v), ["by", "from", "to"]);
    assert_eq!(
        t.get_auth(
            "/api/v1/ratings/figures?by=month&from=2026-01&to=2026-02",
            &op
        )
        .await
        .status(),
        403
    );
    let svg = t
        .get_auth(
            &format!(
                "/api/v1/ratings/figures?by=queue&from={0}&to={0}&format=svg",
                this_month()
            ),
            &sup,
        )
        .await;
    assert_eq!(
        svg.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    let svg = svg.text().await.unwrap();
    assert!(
        svg.contains("role=\"img\"") && svg.contains("<title") && svg.contains("<desc"),
        "{svg}"
    );
}

async fn r10_the_phone_survey_is_recorded_for_the_operator(backend: Backend) {
    let r = rig(backend, soon()).await;
    let t = &r.t;
    let op = t.token("op", Role::Operator).await;
    let pbx = t.token("pbx", Role::Pbx).await;
    let (number, _) = register(t, appeal("Звонок: вопрос о пособии")).await;
    let url = format!("/api/v1/tickets/{number}/ratings");
    for (bad, field) in [
        (json!({"score": 0}), "score"),
        (json!({"score": "5"}), "score"),
        (json!({"score": 5, "satisfied_info": 4}), "satisfied_info"),
        (json!({"score": 5, "comment": "ш".repeat(2001)}), "comment"),
        (json!({"score": 5, "channel": "pigeon"}), "channel"),
    ] {
        let (s, v) = json_of(t.post_auth(&url, &pbx, bad.clone()).await).await;
        assert_eq!(s, 422, "{bad}: {v}");
        assert_eq!(fields(&v), [field], "{v}");
    }
    let (s, v) = json_of(
        t.post_auth(
            &url,
            &pbx,
            json!({"score": 4, "operator": "op", "satisfied_process": 2}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["outcome"], "recorded");
    assert_eq!(
        t.post_auth(&url, &pbx, json!({"score": 1})).await.status(),
        409
    );
    assert_eq!(
        t.post_auth(
            "/api/v1/tickets/UCC-2026-999999/ratings",
            &pbx,
            json!({"score": 1})
        )
        .await
        .status(),
        404
    );
    let quality = t.token("qa", Role::Quality).await;
    assert_eq!(
        t.post_auth(&url, &quality, json!({"score": 1}))
            .await
            .status(),
        403
    );
    let v = figures(t, &quality, "operator").await;
    assert_eq!(v["figures"][0]["key"], "op");
    assert_eq!(v["figures"][0]["satisfied"], json!([0, 1, 0]));
    let v = figures(t, &quality, "channel").await;
    assert_eq!(v["figures"][0]["key"], "phone");
    let _ = op;
}

fn cell(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).expect("a valid XLSX");
    let name = book.sheet_names()[0].clone();
    assert_eq!(name, "Есеп-Отчёт");
    let range = book.worksheet_range(&name).expect("the sheet");
    range.rows().map(|r| r.iter().map(cell).collect()).collect()
}

async fn choice(t: &TestApp, admin: &str, kind: &str, code: &str, kk: &str, ru: &str) {
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/reports/choices",
            admin,
            json!({"kind": kind, "code": code, "name": {"kk": kk, "ru": ru}}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{v}");
}

async fn p1_the_monthly_report_reads_back_as_xlsx_and_csv_with_its_classifications(
    backend: Backend,
) {
    let r = rig(backend, soon()).await;
    let t = &r.t;
    let admin = t.token("admin", Role::Admin).await;
    let op = t.token("op", Role::Operator).await;
    let quality = t.token("qa", Role::Quality).await;
    choice(
        t,
        &admin,
        "bylaw_violation",
        "term",
        "Мерзімі бұзылды",
        "Нарушен срок оказания услуги",
    )
    .await;
    choice(
        t,
        &admin,
        "staff_action",
        "rude",
        "Қызметкердің әдепсіздігі",
        "Некорректное поведение сотрудника",
    )
    .await;
    // Hostile choices: named fields.
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/reports/choices",
            &admin,
            json!({"kind": "x", "code": "a b", "name": {"kk": ""}}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&v), ["kind", "code", "name.kk", "name.ru"]);
    assert_eq!(
        t.post_auth("/api/v1/reports/choices", &op, json!({}))
            .await
            .status(),
        403
    );
    let (n1, _) = register(
        t,
        appeal("Жалоба: справку не выдали в срок, сотрудник грубил"),
    )
    .await;
    // The second appeal's text is longer than a cell keeps.
    let long = format!("Вопрос, не жалоба. {}", "Очень длинный текст. ".repeat(60));
    let mut b = appeal(&long);
    b["region"] = json!("almaty");
    b["name"] = json!("Иванов Иван Иванович");
    b["email"] = json!("ivanov@example.kz");
    b["phone"] = json!("+7 702 111 2233");
    let (n2, _) = register(t, b).await;
    let url = format!("/api/v1/tickets/{n1}/classification");
    let (s, v) = json_of(
        t.client
            .put(format!("{}{url}", t.url))
            .bearer_auth(&op)
            .json(&json!({"bylaw_violation": "nope", "staff_action": 5}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&v), ["bylaw_violation", "staff_action"]);
    let (s, v) = json_of(
        t.client
            .put(format!("{}{url}", t.url))
            .bearer_auth(&op)
            .json(&json!({"bylaw_violation": "term", "staff_action": "rude"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The first is about a service whose responsible person is named in column 3.
    let (s, body) = json_of(
        t.post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "central_state_body", "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"},
                   "persons": [{"name": "Асқар Нұрланұлы", "position": "бас маман"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let (s, service) = json_of(
        t.post_auth(
            "/api/v1/services",
            &admin,
            json!({"register_number": "701", "name": {"kk": "Анықтама", "ru": "Справка"},
                   "body": body["id"], "responsible_person": body["persons"][0]["id"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{service}");
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{n1}/services"),
            &op,
            json!({"service": service["id"]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    answer(t, &op, &n1).await;
    let month = this_month();
    let get = |q: String| {
        let (t, quality) = (t, quality.clone());
        async move {
            t.get_auth(&format!("/api/v1/reports/monthly?{q}"), &quality)
                .await
        }
    };
    let resp = get(format!("month={month}&format=xlsx")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let rows = xlsx_rows(&resp.bytes().await.unwrap());
    assert_eq!(rows.len(), 4, "two header rows and two appeals: {rows:?}");
    assert_eq!(rows[0][0], "№ р/с");
    assert!(rows[0][8].contains("заңға тәуелді нормативтік құқықтық актінің бұзылуы"));
    assert_eq!(rows[1][1], "Дата и время поступления жалобы и обращения");
    assert_eq!(rows[1][9], "Действия (бездействие) сотрудников");
    let first = &rows[2];
    assert_eq!(first[0], "1");
    assert_eq!(first[3], "Астана");
    assert_eq!(first[4], "Айгүл Серікқызы");
    assert!(first[6].contains("сотрудник грубил"), "{first:?}");
    assert!(
        first[7].contains("Дан ответ") && first[7].contains(&n1),
        "{first:?}"
    );
    assert_eq!(first[8], "Нарушен срок оказания услуги");
    assert_eq!(first[9], "Некорректное поведение сотрудника");
    assert_eq!(first[2], "Асқар Нұрланұлы", "{first:?}");
    assert_eq!(rows[3][4], "Иванов Иван Иванович");
    assert_eq!(rows[3][3], "Алматы");
    let clipped = &rows[3][6];
    assert_eq!(
        clipped.chars().count(),
        1001,
        "1,000 characters and an ellipsis"
    );
    assert!(clipped.starts_with("Вопрос, не жалоба.") && clipped.ends_with('…'));
    assert!(rows[3][7].contains(&n2) && rows[3][8].is_empty());
    // The whole center's copy carries the month's R3 call figures on a second sheet:
    // one call answered after 20 s, one abandoned after 50 s.
    let pbx = t.token("pbx", Role::Pbx).await;
    let at = |secs: i64| {
        (Utc::now().duration_trunc(Duration::seconds(1)).unwrap() + Duration::seconds(secs))
            .to_rfc3339()
    };
    for call in [
        json!({"call_id": "r3-1", "event": "ended", "caller": "+77011234567", "called": "1414",
               "queue": "1414", "arrived_at": at(-200), "answered_at": at(-180), "ended_at": at(-100),
               "operator": "op", "disposition": "answered"}),
        json!({"call_id": "r3-2", "event": "ended", "caller": "+77017654321", "called": "1414",
               "queue": "1414", "arrived_at": at(-200), "ended_at": at(-150), "disposition": "abandoned"}),
    ] {
        let (s, v) = json_of(t.post_auth("/api/v1/calls", &pbx, call).await).await;
        assert!(s == 200 || s == 201, "{s} {v}");
    }
    let bytes = get(format!("month={month}&format=xlsx"))
        .await
        .bytes()
        .await
        .unwrap();
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(book.sheet_names(), ["Есеп-Отчёт", "Қоңыраулар - Звонки"]);
    let calls: Vec<Vec<String>> = book
        .worksheet_range("Қоңыраулар - Звонки")
        .unwrap()
        .rows()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    assert_eq!(calls[1][7], "Среднее ожидание, с");
    assert!(calls[2][0].starts_with("Итого"), "{calls:?}");
    // calls, offered, answered, abandoned, busy/failed, within 30 s, average wait, shares.
    assert_eq!(
        calls[2][1..],
        ["2", "2", "1", "1", "0", "1", "35", "50", "50"],
        "{calls:?}"
    );
    let queue = calls.iter().position(|r| r[0] == "По очередям").unwrap();
    assert_eq!(calls[queue + 1][..2], ["1414", "2"], "{calls:?}");
    // The values in Kazakh.
    let rows = xlsx_rows(
        &get(format!("month={month}&format=xlsx&lang=kk"))
            .await
            .bytes()
            .await
            .unwrap(),
    );
    assert_eq!(rows[2][8], "Мерзімі бұзылды");
    assert!(rows[2][7].contains("Жауап берілді"));
    // CSV: a BOM, both header rows, the same rows.
    let csv = get(format!("month={month}&format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert!(
        lines[1].starts_with("№ п/п,Дата и время поступления"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("Айгүл Серікқызы") && lines[2].contains("Нарушен срок"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("Иванов Иван Иванович"));
    // Another month: headers only.
    assert_eq!(
        xlsx_rows(
            &get("month=2001-01&format=xlsx".into())
                .await
                .bytes()
                .await
                .unwrap()
        )
        .len(),
        2
    );
    // Hostile queries: a problem naming each field.
    for (q, want) in [
        ("month=2026-13&format=xlsx", vec!["month"]),
        ("month=..%2F..%2Fetc&format=pdf", vec!["month", "format"]),
        ("format=csv", vec!["month"]),
        ("month=2026-11&format=csv&lang=en", vec!["lang"]),
        (
            "month=2026-11&format=csv&body=%27%20OR%201%3D1",
            vec!["body"],
        ),
    ] {
        let (s, v) = json_of(get(q.to_string()).await).await;
        assert_eq!(s, 422, "{q}: {v}");
        assert_eq!(fields(&v), want, "{q}");
    }
    let (s, _) = json_of(
        get(format!(
            "month={month}&format=csv&body=0190aaaa-0000-7000-8000-000000000000"
        ))
        .await,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(
        t.get_auth(
            &format!("/api/v1/reports/monthly?month={month}&format=csv"),
            &op
        )
        .await
        .status(),
        403
    );
    // The same report from the command line.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.xlsx");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .args(["report", "monthly", "--month", &month, "--out"])
        .arg(&out)
        .args(["--database-url", &t.database_url])
        .output()
        .expect("baylanys runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "2");
    let rows = xlsx_rows(&std::fs::read(&out).unwrap());
    assert_eq!(rows[2][4], "Айгүл Серікқызы");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .args(["report", "monthly", "--month", "2026-1", "--out"])
        .arg(&out)
        .args(["--database-url", &t.database_url])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM"));
    // P4 and P3 answer for the month, and export.
    let (s, v) = json_of(
        t.get_auth(
            &format!("/api/v1/reports/analytics?by=region&from={month}&to={month}"),
            &quality,
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let astana = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "astana")
        .expect("astana")
        .clone();
    assert_eq!(astana["appeals"], 1);
    assert_eq!(astana["service_standard_complaints"], 1);
    assert_eq!(astana["staff_action_complaints"], 1);
    let (_, v) = json_of(
        t.get_auth(
            &format!("/api/v1/reports/analytics?by=month&from={month}&to={month}"),
            &quality,
        )
        .await,
    )
    .await;
    assert_eq!(v["rows"][0]["appeals"], 2, "{v}");
    let svg = t
        .get_auth(
            &format!("/api/v1/reports/analytics?by=month&from=2026-01&to={month}&format=svg"),
            &quality,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains("<polyline") && svg.contains("<title"), "{svg}");
    let csv = t
        .get_auth(
            &format!("/api/v1/reports/analytics?by=channel&from={month}&to={month}&format=csv"),
            &quality,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("web_form"), "{csv}");
    let (s, v) = json_of(
        t.get_auth(
            "/api/v1/reports/analytics?by=month&from=2020-01&to=2026-01",
            &quality,
        )
        .await,
    )
    .await;
    assert_eq!((s, fields(&v)), (422, vec!["to".to_string()]));
    let (s, v) = json_of(
        t.get_auth(&format!("/api/v1/reports/ict?month={month}"), &quality)
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["report"], "P3");
    assert!(v["outages"]["items"].is_array(), "{v}");
    // P3 as the workbook its recipients get: three sheets, Kazakh and Russian headers.
    let resp = t
        .get_auth(
            &format!("/api/v1/reports/ict?month={month}&format=xlsx"),
            &quality,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("report-P3-{month}.xlsx"))
    );
    let mut book: Xlsx<_> =
        Xlsx::new(Cursor::new(resp.bytes().await.unwrap().to_vec())).expect("a valid XLSX");
    assert_eq!(
        book.sheet_names(),
        [
            "Сұрақтар - Вопросы",
            "Жолдамалар - Направления",
            "Ажыратулар - Отключения"
        ]
    );
    let outages = book.worksheet_range("Ажыратулар - Отключения").unwrap();
    let rows: Vec<Vec<String>> = outages
        .rows()
        .map(|r| r.iter().map(cell).collect())
        .collect();
    assert_eq!(rows[0][0], "Ажырату");
    assert_eq!(rows[1][7], "24 часа соблюдены");
    let csv = t
        .get_auth(
            &format!("/api/v1/reports/ict?month={month}&format=csv&lang=kk"),
            &quality,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\r\nКатегория,Всего,"), "{csv}");
    let (s, v) = json_of(
        t.get_auth(
            &format!("/api/v1/reports/ict?month={month}&format=pdf&lang=en"),
            &quality,
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, fields(&v)),
        (422, vec!["format".to_string(), "lang".to_string()])
    );
}

async fn mails_with_attachment(smtp: &Smtp, to: &str) -> Vec<(String, Vec<u8>)> {
    smtp.to(to)
        .iter()
        .map(|raw| {
            let m = mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .expect("a mail");
            let subject = m.subject().unwrap_or("").to_string();
            let file = m
                .attachments()
                .next()
                .map(|a| {
                    assert!(
                        a.attachment_name()
                            .is_some_and(|n| n.starts_with("report-"))
                    );
                    a.contents().to_vec()
                })
                .unwrap_or_default();
            (subject, file)
        })
        .collect()
}

async fn sql(t: &TestApp, statement: String) {
    t.app
        .db
        .write(move |c| {
            use diesel::RunQueryDsl;
            Ok(diesel::sql_query(statement).execute(c)?)
        })
        .await
        .unwrap();
}

async fn p1_two_instances_send_each_part_once_by_the_5th_and_a_failed_send_is_retried(
    backend: Backend,
) {
    // Thursday 3 December 2026, evening: the November report is not due yet; the 5th is
    // a Saturday, so it goes out on Friday the 4th.
    let start = DateTime::parse_from_rfc3339("2026-12-03T20:00:00+05:00")
        .unwrap()
        .with_timezone(&Utc);
    let r = rig(backend, start).await;
    let b = instance(&r.t.database_url, None, &r.smtp, &r.clock).await;
    let t = &r.t;
    let admin = t.token("admin", Role::Admin).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let mut ids = Vec::new();
    for (kind, email, region) in [
        ("quality_body", "qa@quality.kz", None),
        ("local_executive_body", "akimat@astana.kz", Some("astana")),
        ("central_state_body", "flaky-ministry@gov.kz", None),
        (
            "local_executive_body",
            "reject-akimat@almaty.kz",
            Some("almaty"),
        ),
        ("informatization_body", "it@mcriap.gov.kz", None),
    ] {
        let mut body = json!({"kind": kind, "name": {"kk": format!("{email} kk"), "ru": format!("{email} ru")}, "email": email});
        if let Some(r) = region {
            body["region"] = json!(r);
        }
        let (s, v) = json_of(t.post_auth("/api/v1/bodies", &admin, body).await).await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let (n1, _) = register(t, appeal("Ноябрьское обращение из Астаны")).await;
    let mut other = appeal("Ноябрьское обращение из Алматы");
    other["region"] = json!("almaty");
    let (n2, _) = register(t, other).await;
    // Registered in November (Almaty time).
    sql(t, format!("UPDATE tickets SET registered_at = '2026-11-20 05:00:00' WHERE number IN ('{n1}', '{n2}')")).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        r.smtp.to("qa@quality.kz").is_empty(),
        "not before the send day"
    );
    // Friday the 4th, 09:00 Almaty: both instances' timers see it.
    r.clock.set(
        DateTime::parse_from_rfc3339("2026-12-04T09:00:00+05:00")
            .unwrap()
            .with_timezone(&Utc),
    );
    eventually(
        "the quality body and the Astana akimat get their copies",
        || async {
            !r.smtp.to("qa@quality.kz").is_empty() && !r.smtp.to("akimat@astana.kz").is_empty()
        },
    )
    .await;
    // The flaky server's first answer (451) is retried after the backoff.
    eventually("the flaky recipient gets it on a retry", || async {
        r.clock.advance(Duration::seconds(30));
        !r.smtp.to("flaky-ministry@gov.kz").is_empty()
    })
    .await;
    let run_of = || async {
        let (_, v) = json_of(t.get_auth("/api/v1/reports/runs?month=2026-11", &sup).await).await;
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["report"] == "P1")
            .cloned()
            .expect("a P1 run")
    };
    eventually("the rejected recipient is given up and visible", || async {
        r.clock.advance(Duration::minutes(30));
        let run = run_of().await;
        run["status"] == "partial"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for to in ["qa@quality.kz", "akimat@astana.kz", "flaky-ministry@gov.kz"] {
        assert_eq!(r.smtp.to(to).len(), 1, "{to} got its copy exactly once");
    }
    let runs: Value = json_of(t.get_auth("/api/v1/reports/runs?month=2026-11", &sup).await)
        .await
        .1;
    assert_eq!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["report"] == "P1")
            .count(),
        1
    );
    let run = run_of().await;
    let deliveries = run["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 4, "{run}");
    let failed = deliveries
        .iter()
        .find(|d| d["status"] == "failed")
        .expect("one failed");
    assert_eq!(failed["address"], "reject-akimat@almaty.kz");
    assert!(
        failed["last_error"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    assert_eq!(
        run["due_at"], "2026-12-05T13:30:00Z",
        "P1: by the 5th, end of working hours"
    );
    // The quality body's copy has both rows; the akimat's only its region's.
    let all = mails_with_attachment(&r.smtp, "qa@quality.kz").await;
    assert!(all[0].0.contains("2026-11"), "{}", all[0].0);
    let rows = xlsx_rows(&all[0].1);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let mine = xlsx_rows(&mails_with_attachment(&r.smtp, "akimat@astana.kz").await[0].1);
    assert_eq!(mine.len(), 3, "{mine:?}");
    assert!(mine[2][6].contains("Астаны") && mine[2][7].contains(&n1));
    // The registry is fixed; the run is retried and completes.
    let (s, _) = json_of(
        t.patch_auth(
            &format!("/api/v1/bodies/{}", ids[3]),
            &admin,
            json!({"email": "akimat@almaty.kz"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200);
    let run_id = run["id"].as_str().unwrap().to_string();
    let (s, v) = json_of(
        t.post_auth(
            &format!("/api/v1/reports/runs/{run_id}/retry"),
            &sup,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["retried"], 1);
    eventually(
        "the retried copy is delivered and the run is sent",
        || async {
            r.clock.advance(Duration::seconds(5));
            !r.smtp.to("akimat@almaty.kz").is_empty() && run_of().await["status"] == "sent"
        },
    )
    .await;
    let almaty = xlsx_rows(&mails_with_attachment(&r.smtp, "akimat@almaty.kz").await[0].1);
    assert!(almaty[2][6].contains("Алматы"));
    // Asking again by hand is the same run: nobody gets a second copy.
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/reports/runs",
            &sup,
            json!({"report": "P1", "month": "2026-11"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["id"], run_id);
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/reports/runs",
            &sup,
            json!({"report": "P9", "month": "2026-12"}),
        )
        .await,
    )
    .await;
    assert_eq!((s, fields(&v)), (422, vec!["report".to_string()]));
    let (s, _) = json_of(
        t.post_auth(
            "/api/v1/reports/runs",
            &sup,
            json!({"report": "P1", "month": "2026-12"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 422, "a month not over yet");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(r.smtp.to("qa@quality.kz").len(), 1);
    // P3 went to the informatization body, once, as a workbook of three sheets.
    eventually("P3 reaches the informatization body", || async {
        !r.smtp.to("it@mcriap.gov.kz").is_empty()
    })
    .await;
    let (_, v) = json_of(t.get_auth("/api/v1/reports/runs?month=2026-11", &sup).await).await;
    let p3 = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["report"] == "P3")
        .expect("a P3 run")
        .clone();
    assert_eq!(p3["deliveries"].as_array().unwrap().len(), 1, "{p3}");
    let ict = mails_with_attachment(&r.smtp, "it@mcriap.gov.kz").await;
    assert_eq!(ict.len(), 1, "P3 is sent once");
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(ict[0].1.clone())).expect("a valid XLSX");
    assert_eq!(book.sheet_names().len(), 3);
    let first = book.worksheet_range("Сұрақтар - Вопросы").unwrap();
    let head: Vec<String> = first.rows().nth(1).unwrap().iter().map(cell).collect();
    assert_eq!(head[..2], ["Категория", "Всего"]);
    b.stop().await;
}

async fn p2_a_discrepancy_is_due_the_next_working_day_reminded_and_answered(backend: Backend) {
    // Friday 4 December 2026, 10:00 Almaty: due Monday the 7th at the end of working hours.
    let start = DateTime::parse_from_rfc3339("2026-12-04T10:00:00+05:00")
        .unwrap()
        .with_timezone(&Utc);
    let r = rig(backend, start).await;
    let t = &r.t;
    let admin = t.token("admin", Role::Admin).await;
    let sup = t.token("sup", Role::Supervisor).await;
    let r2 = t
        .client
        .put(format!("{}/api/v1/users/sup/contact", t.url))
        .bearer_auth(&admin)
        .json(&json!({"email": "sup@1414.kz"}))
        .send()
        .await
        .unwrap();
    assert!(r2.status().is_success(), "{}", r2.text().await.unwrap());
    let (_, body) = json_of(
        t.post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "central_state_body", "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"}, "email": "stats@adilet.kz"}),
        )
        .await,
    )
    .await;
    let body_id = body["id"].as_str().unwrap().to_string();
    let url = "/api/v1/reports/discrepancies";
    for (bad, want) in [
        (json!({}), vec!["report", "month", "body_id", "figures"]),
        (
            json!({"report": "P1", "month": "2026-11", "body_id": "nope", "figures": ""}),
            vec!["body_id", "figures"],
        ),
        (
            json!({"report": "P1", "month": "2026-11", "body_id": body_id, "figures": "ж".repeat(10_001)}),
            vec!["figures"],
        ),
    ] {
        let (s, v) = json_of(t.post_auth(url, &sup, bad).await).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(fields(&v), want, "{v}");
    }
    let (s, d) = json_of(
        t.post_auth(
            url,
            &sup,
            json!({"report": "P1", "month": "2026-11", "body_id": body_id,
                   "figures": {"ours": 120, "theirs": 118}, "details": "Расхождение в числе жалоб"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["due_at"], "2026-12-07T13:30:00Z", "{d}");
    assert_eq!(d["deadline"]["rule"], "P2");
    assert_eq!(d["status"], "open");
    let id = d["id"].as_str().unwrap().to_string();
    // Two hours before the deadline: the supervisor is reminded.
    r.clock.set(
        DateTime::parse_from_rfc3339("2026-12-07T16:31:00+05:00")
            .unwrap()
            .with_timezone(&Utc),
    );
    let reminders = || {
        r.smtp
            .to("sup@1414.kz")
            .iter()
            .map(|m| text_of(m))
            .filter(|m| m.contains("P2"))
            .collect::<Vec<_>>()
    };
    eventually("the reminder reaches the supervisor", || async {
        !reminders().is_empty()
    })
    .await;
    let reminder = reminders().remove(0);
    assert!(
        reminder.contains("P2") && reminder.contains(&id),
        "{reminder}"
    );
    let answer_url = format!("{url}/{id}/answer");
    let (s, v) = json_of(t.post_auth(&answer_url, &sup, json!({"answer": ""})).await).await;
    assert_eq!((s, fields(&v)), (422, vec!["answer".to_string()]));
    let (s, v) = json_of(
        t.post_auth(
            &answer_url,
            &sup,
            json!({"answer": "Два обращения поступили 30.11 после 19:00 и учтены в декабре."}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        t.post_auth(&answer_url, &sup, json!({"answer": "ещё"}))
            .await
            .status(),
        409
    );
    // (The provider also gets the November report: the timer is past its send time.)
    let explanations = || {
        r.smtp
            .to("stats@adilet.kz")
            .iter()
            .map(|m| text_of(m))
            .filter(|m| m.contains("Пояснение"))
            .collect::<Vec<_>>()
    };
    eventually("the provider gets the explanation", || async {
        !explanations().is_empty()
    })
    .await;
    let mail = explanations().remove(0);
    assert!(
        mail.contains("учтены в декабре") && mail.contains("Пояснение"),
        "{mail}"
    );
    eventually("the answer's delivery is recorded", || async {
        json_of(t.get_auth(&format!("{url}/{id}"), &sup).await)
            .await
            .1["answer_status"]
            == "sent"
    })
    .await;
    let op = t.token("op", Role::Operator).await;
    assert_eq!(t.get_auth(url, &op).await.status(), 403);
    assert_eq!(
        t.get_auth(&format!("{url}/not-an-id"), &sup).await.status(),
        404
    );
}
