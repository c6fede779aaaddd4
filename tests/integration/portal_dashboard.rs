//! The dashboard portal's pages (src/web/console/dashboard.rs), on both backends: the
//! service level, the ratings, the P4 analytics and the R3 call figures of a small seeded
//! data set checked against hand-computed values in the JSON API, on the pages and in the
//! CSV exports; bad periods, other roles; and each page in headless Chromium with axe-core.

use std::sync::Arc;

use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::browser::Driver;
use crate::console::{Browser, axe_source, axe_violations, staff};
use crate::support::{Backend, TestApp, fresh_database, spawn_custom};

both_backends!(
    dashboard_figures_match_hand_counts_in_the_api_the_pages_and_the_csv,
    dashboard_refuses_other_roles_and_bad_periods_with_field_messages,
    dashboard_in_chromium_links_the_period_and_has_no_serious_accessibility_violations,
);

/// 12:00 on 15 December 2026 in Almaty.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-15T12:00:00+05:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// An Almaty wall-clock time as the UTC instant stored.
fn almaty(s: &str) -> NaiveDateTime {
    DateTime::parse_from_rfc3339(&format!("{s}+05:00"))
        .unwrap()
        .naive_utc()
}

async fn app(backend: Backend) -> TestApp {
    let clock = Arc::new(ManualClock::new(now()));
    let (url, dir) = fresh_database(backend);
    spawn_custom(&url, dir, |_| {}, |b| b.with_clock(clock as Arc<dyn Clock>)).await
}

struct Seed<'a> {
    queue: &'a str,
    channel: &'a str,
    operator: Option<&'a str>,
    registered: &'a str,
    due: &'a str,
    answered: Option<&'a str>,
    closed: Option<&'a str>,
    topic: Option<&'a str>,
}

/// A ticket registered through the API, then moved to the seeded times and groups.
async fn ticket(t: &TestApp, s: Seed<'_>) -> (String, String) {
    let r = t
        .post_json(
            "/api/v1/appeals",
            crate::support::appeal("Вопрос для панели"),
        )
        .await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let (n, queue, channel) = (number.clone(), s.queue.to_string(), s.channel.to_string());
    let operator = s.operator.map(str::to_string);
    let (registered, due) = (almaty(s.registered), almaty(s.due));
    let (answered, closed) = (s.answered.map(almaty), s.closed.map(almaty));
    let topic = s.topic.map(str::to_string);
    let id = t
        .app
        .db
        .write(move |c| {
            use baylanys::db::schema::{tickets, users};
            let assignee: Option<String> = match operator {
                Some(l) => Some(
                    users::table
                        .filter(users::login.eq(l))
                        .select(users::id)
                        .first(c)?,
                ),
                None => None,
            };
            let target = tickets::table.filter(tickets::number.eq(&n));
            diesel::update(target)
                .set((
                    tickets::queue.eq(queue),
                    tickets::channel.eq(channel),
                    tickets::assignee_id.eq(assignee),
                    tickets::registered_at.eq(registered),
                    tickets::due_at.eq(due),
                    tickets::answered_at.eq(answered),
                    tickets::closed_at.eq(closed),
                    tickets::status.eq(if closed.is_some() { "closed" } else { "open" }),
                ))
                .execute(c)?;
            if let Some(topic) = topic {
                diesel::update(tickets::table.filter(tickets::number.eq(&n)))
                    .set(tickets::topic.eq(topic))
                    .execute(c)?;
            }
            Ok(tickets::table
                .filter(tickets::number.eq(&n))
                .select(tickets::id)
                .first::<String>(c)?)
        })
        .await
        .unwrap();
    (number, id)
}

#[allow(clippy::too_many_arguments)]
async fn rating(
    t: &TestApp,
    ticket: &str,
    operator: &str,
    queue: &str,
    channel: &str,
    score: i32,
    satisfied: Option<i32>,
    comment: Option<&str>,
    month: &str,
) {
    let (ticket, operator, queue, channel, month) = (
        ticket.to_string(),
        operator.to_string(),
        queue.to_string(),
        channel.to_string(),
        month.to_string(),
    );
    let comment = comment.map(str::to_string);
    t.app
        .db
        .write(move |c| {
            use baylanys::db::schema::{ratings, users};
            let op: String = users::table
                .filter(users::login.eq(operator))
                .select(users::id)
                .first(c)?;
            diesel::insert_into(ratings::table)
                .values((
                    ratings::id.eq(baylanys::db::new_id()),
                    ratings::ticket_id.eq(ticket),
                    ratings::round.eq(1),
                    ratings::operator_id.eq(op),
                    ratings::queue.eq(queue),
                    ratings::channel.eq(channel),
                    ratings::source.eq("api"),
                    ratings::score.eq(score),
                    ratings::satisfied_process.eq(satisfied),
                    ratings::comment.eq(comment),
                    ratings::month.eq(month),
                    ratings::created_at.eq(baylanys::db::now()),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
}

/// The seeded data set, with the figures worked out by hand in the comments.
///
/// | ticket | registered (Almaty) | queue | channel | operator | due | outcome at 15.12 12:00 |
/// |---|---|---|---|---|---|---|
/// | T1 | 01.12 10:00 | q-a | email | aliya | 03.12 10:00 | answered 02.12: on time |
/// | T2 | 01.12 11:00 | q-a | email | aliya | 03.12 11:00 | answered 04.12: late |
/// | T3 | 02.12 09:00 | q-b | telegram | marat | 04.12 09:00 | unanswered: overdue now |
/// | T4 | 03.12 00:30 (02.12 UTC) | q-b | web_form | - | 20.12 | unanswered: not yet due |
/// | T5 | 03.12 08:00 | q-b | telegram | marat | 05.12 | closed 03.12 09:00: on time |
/// | T6 | 30.11 23:00 | q-a | email | aliya | 02.12 | unanswered: overdue, outside the period |
/// | T8 | 05.12 10:00 | q-b | email | marat | 07.12 | answered 05.12 12:00: on time |
struct Seeded {
    t3: String,
    t6: String,
}

async fn seed(t: &TestApp) -> Seeded {
    staff(t, "aliya", Role::Operator).await;
    staff(t, "marat", Role::Operator).await;
    staff(t, "sup", Role::Supervisor).await;
    let s = |queue, channel, operator, registered, due, answered, closed| Seed {
        queue,
        channel,
        operator,
        registered,
        due,
        answered,
        closed,
        topic: None,
    };
    let (_, t1) = ticket(
        t,
        s(
            "q-a",
            "email",
            Some("aliya"),
            "2026-12-01T10:00:00",
            "2026-12-03T10:00:00",
            Some("2026-12-02T10:00:00"),
            None,
        ),
    )
    .await;
    let (_, t2) = ticket(
        t,
        s(
            "q-a",
            "email",
            Some("aliya"),
            "2026-12-01T11:00:00",
            "2026-12-03T11:00:00",
            Some("2026-12-04T09:00:00"),
            None,
        ),
    )
    .await;
    let (t3, _) = ticket(
        t,
        Seed {
            topic: Some("complaint"),
            ..s(
                "q-b",
                "telegram",
                Some("marat"),
                "2026-12-02T09:00:00",
                "2026-12-04T09:00:00",
                None,
                None,
            )
        },
    )
    .await;
    ticket(
        t,
        s(
            "q-b",
            "web_form",
            None,
            "2026-12-03T00:30:00",
            "2026-12-20T18:00:00",
            None,
            None,
        ),
    )
    .await;
    let (_, t5) = ticket(
        t,
        s(
            "q-b",
            "telegram",
            Some("marat"),
            "2026-12-03T08:00:00",
            "2026-12-05T08:00:00",
            None,
            Some("2026-12-03T09:00:00"),
        ),
    )
    .await;
    let (t6, t6_id) = ticket(
        t,
        s(
            "q-a",
            "email",
            Some("aliya"),
            "2026-11-30T23:00:00",
            "2026-12-02T18:00:00",
            None,
            None,
        ),
    )
    .await;
    let (_, t8) = ticket(
        t,
        s(
            "q-b",
            "email",
            Some("marat"),
            "2026-12-05T10:00:00",
            "2026-12-07T10:00:00",
            Some("2026-12-05T12:00:00"),
            None,
        ),
    )
    .await;
    // Ratings: aliya 5 and 3, marat 4 and 1 in December; one of October left out.
    rating(
        t,
        &t1,
        "aliya",
        "q-a",
        "email",
        5,
        Some(3),
        Some("Рахмет"),
        "2026-12",
    )
    .await;
    rating(t, &t2, "aliya", "q-a", "email", 3, Some(2), None, "2026-12").await;
    rating(t, &t5, "marat", "q-b", "telegram", 4, None, None, "2026-12").await;
    rating(
        t,
        &t8,
        "marat",
        "q-b",
        "email",
        1,
        Some(1),
        Some("Долго"),
        "2026-12",
    )
    .await;
    rating(
        t,
        &t6_id,
        "marat",
        "q-a",
        "email",
        2,
        Some(1),
        None,
        "2026-10",
    )
    .await;
    // Calls on 3 December: waits 20 s and 50 s answered, 90 s abandoned, one busy.
    let pbx = t.token("pbx", Role::Pbx).await;
    for (id, queue, arrived, answered, ended, disposition, op) in [
        (
            "c1",
            "q-a",
            "10:00:00",
            Some("10:00:20"),
            "10:05:00",
            "answered",
            Some("aliya"),
        ),
        (
            "c2",
            "q-a",
            "10:30:00",
            Some("10:30:50"),
            "10:32:00",
            "answered",
            Some("aliya"),
        ),
        ("c3", "q-b", "11:00:00", None, "11:01:30", "abandoned", None),
        ("c4", "q-b", "11:10:00", None, "11:10:05", "busy", None),
    ] {
        let mut body = json!({
            "call_id": id, "event": "ended", "caller": "+77015550001", "called": "1414",
            "queue": queue, "arrived_at": format!("2026-12-03T{arrived}+05:00"),
            "ended_at": format!("2026-12-03T{ended}+05:00"), "disposition": disposition,
        });
        if let Some(a) = answered {
            body["answered_at"] = json!(format!("2026-12-03T{a}+05:00"));
        }
        if let Some(op) = op {
            body["operator"] = json!(op);
        }
        let r = t.post_auth("/api/v1/calls", &pbx, body).await;
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    Seeded { t3, t6 }
}

fn line(v: &Value) -> [i64; 6] {
    [
        "registered",
        "answered",
        "answered_on_time",
        "answered_late",
        "overdue_now",
        "pending",
    ]
    .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn group<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {v}"))
}

/// The cells of a page's table row whose header is `label`, as text.
fn row(page: &str, table: &str, label: &str) -> Vec<String> {
    let start = page
        .find(&format!("<table id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table}"));
    let end = start + page[start..].find("</table>").unwrap();
    let part = &page[start..end];
    let head = format!("<th scope=\"row\">{label}</th>");
    let at = part
        .find(&head)
        .unwrap_or_else(|| panic!("no row {label} in {table}:\n{part}"));
    let rest = &part[at + head.len()..];
    let rest = &rest[..rest.find("</tr>").unwrap()];
    rest.split("<td>")
        .skip(1)
        .map(|c| c.trim_end_matches("</td>").to_string())
        .collect()
}

const PERIOD: &str = "from=2026-12-01&to=2026-12-15";

async fn dashboard_figures_match_hand_counts_in_the_api_the_pages_and_the_csv(backend: Backend) {
    let t = app(backend).await;
    let seeded = seed(&t).await;
    let token = t.token("quality", Role::Quality).await;

    // The API: total and each grouping.
    let get = |path: String| {
        let (t, token) = (&t, &token);
        async move {
            let r = t.get_auth(&path, token).await;
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let v = get(format!("/api/v1/reports/service-level?{PERIOD}&by=queue")).await;
    assert_eq!(line(&v["total"]), [6, 4, 3, 1, 1, 1], "{v}");
    assert_eq!(v["total"]["on_time_percent"], 60.0);
    assert_eq!(line(group(&v, "q-a")), [2, 2, 1, 1, 0, 0]);
    assert_eq!(group(&v, "q-a")["on_time_percent"], 50.0);
    assert_eq!(line(group(&v, "q-b")), [4, 2, 2, 0, 1, 1]);
    assert_eq!(group(&v, "q-b")["on_time_percent"], 66.7);
    let v = get(format!(
        "/api/v1/reports/service-level?{PERIOD}&by=operator"
    ))
    .await;
    assert_eq!(line(group(&v, "aliya")), [2, 2, 1, 1, 0, 0]);
    assert_eq!(group(&v, "aliya")["name_ru"], "aliya name");
    assert_eq!(line(group(&v, "marat")), [3, 2, 2, 0, 1, 0]);
    assert_eq!(line(group(&v, "-")), [1, 0, 0, 0, 0, 1]);
    assert_eq!(group(&v, "-")["on_time_percent"], Value::Null);
    let v = get(format!("/api/v1/reports/service-level?{PERIOD}&by=channel")).await;
    assert_eq!(line(group(&v, "email")), [3, 3, 2, 1, 0, 0]);
    assert_eq!(line(group(&v, "telegram")), [2, 1, 1, 0, 1, 0]);
    assert_eq!(line(group(&v, "web_form")), [1, 0, 0, 0, 0, 1]);
    let v = get(format!("/api/v1/reports/service-level?{PERIOD}&by=day")).await;
    let days = v["groups"].as_array().unwrap();
    assert_eq!(days.len(), 15, "every day of the period: {v}");
    let registered: Vec<i64> = days
        .iter()
        .map(|d| d["registered"].as_i64().unwrap())
        .collect();
    // T4 came at 00:30 on the 3rd in Almaty (still the 2nd in UTC): the 3rd.
    assert_eq!(registered, [2, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(days[2]["key"], "2026-12-03");
    // The default period is this month so far.
    let v = get("/api/v1/reports/service-level".into()).await;
    assert_eq!(
        (v["from"].clone(), v["to"].clone()),
        (json!("2026-12-01"), json!("2026-12-15"))
    );
    assert_eq!(v["total"]["registered"], 6);
    // CSV from the API.
    let r = t
        .get_auth(
            &format!("/api/v1/reports/service-level?{PERIOD}&by=queue&format=csv"),
            &token,
        )
        .await;
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(csv.contains("\"q-b\",\"\",4,2,2,0,1,1,66.7\r\n"), "{csv}");

    // The page shows the same figures, each chart with its table.
    let mut b = Browser::new(&t);
    b.sign_in("sup").await;
    let token_ = csrf(&mut b).await;
    b.post("/console/language", &[("lang", "en"), ("csrf", &token_)])
        .await;
    let r = b.get(&format!("/console/dashboard?{PERIOD}")).await;
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        row(&page, "by-queue-table", "q-b"),
        ["4", "2", "2", "0", "1", "1", "66.7 %"]
    );
    assert_eq!(
        row(&page, "by-operator-table", "aliya name (aliya)"),
        ["2", "2", "1", "1", "0", "0", "50.0 %"]
    );
    assert_eq!(
        row(&page, "by-operator-table", "nobody"),
        ["1", "0", "0", "0", "0", "1", "—"]
    );
    assert_eq!(
        row(&page, "by-channel-table", "Telegram"),
        ["2", "1", "1", "0", "1", "0", "50.0 %"]
    );
    assert_eq!(
        row(&page, "by-day-table", "2026-12-03"),
        ["2", "1", "1", "0", "0", "1", "100.0 %"]
    );
    assert_eq!(page.matches("<svg").count(), 4, "a chart per grouping");
    assert!(page.contains("role=\"img\""));
    // The overdue list: both overdue tickets (T6 from before the period too), the
    // longest overdue first, linked.
    let (a, b6) = (
        page.find(&format!("href=\"/console/tickets/{}\"", seeded.t6))
            .expect("T6 listed"),
        page.find(&format!("href=\"/console/tickets/{}\"", seeded.t3))
            .expect("T3 listed"),
    );
    assert!(a < b6);
    // The CSV export of a table.
    let r = b
        .get(&format!(
            "/console/dashboard/export?part=service-level&by=channel&{PERIOD}"
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(csv.contains("\"email\",\"\",3,3,2,1,0,0,66.7\r\n"), "{csv}");
    assert!(csv.contains("\"total\",\"\",6,4,3,1,1,1,60\r\n"), "{csv}");

    // Ratings: December only (the October one is left out).
    let v = get("/api/v1/ratings/figures?by=operator&from=2026-12&to=2026-12".into()).await;
    let aliya = &v["figures"][0];
    assert_eq!(
        (
            aliya["key"].clone(),
            aliya["ratings"].clone(),
            aliya["average"].clone()
        ),
        (json!("aliya"), json!(2), json!(4.0))
    );
    let page = b
        .get(&format!("/console/dashboard/ratings?{PERIOD}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        row(&page, "ratings-by-operator-table", "aliya"),
        ["2", "4.00", "0", "0", "1", "0", "1", "0", "1", "1", "1"]
    );
    assert_eq!(
        row(&page, "ratings-by-operator-table", "marat"),
        ["2", "2.50", "1", "0", "0", "1", "0", "1", "0", "0", "1"]
    );
    assert_eq!(
        row(&page, "ratings-by-channel-table", "E-mail"),
        ["3", "3.00", "1", "0", "1", "0", "1", "1", "1", "1", "2"]
    );
    assert!(page.contains("Ratings: 4; Average score: 3.25."), "{page}");
    assert_eq!(row(&page, "survey-table", "Not satisfied"), ["1"]);
    assert_eq!(row(&page, "survey-table", "Partly"), ["1"]);
    assert_eq!(row(&page, "survey-table", "Satisfied"), ["1"]);
    assert_eq!(row(&page, "scores-table", "1"), ["1"]);
    assert_eq!(row(&page, "scores-table", "2"), ["0"]);
    let csv = b
        .get(&format!(
            "/console/dashboard/export?part=ratings&by=queue&{PERIOD}"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("\"q-b\",2,2.5,1,0,0,1,0,1,0,0,1\r\n"), "{csv}");

    // P4: December's tickets (T6 is November's).
    let page = b
        .get(&format!("/console/dashboard/analytics?{PERIOD}"))
        .await
        .text()
        .await
        .unwrap();
    let dec = row(&page, "p4-by-month-table", "2026-12");
    assert_eq!(
        (dec[0].as_str(), dec[1].as_str()),
        ("6", "1"),
        "appeals, complaints: {dec:?}"
    );
    let email = row(&page, "p4-by-channel-table", "E-mail");
    assert_eq!(
        (email[0].as_str(), email[2].as_str(), email[3].as_str()),
        ("3", "2", "1"),
        "{email:?}"
    );
    // T5 was closed before its due instant without a reply: answered on time (R5's
    // "answered", as the service level counts it); T3 is past due unanswered.
    let telegram = row(&page, "p4-by-channel-table", "Telegram");
    assert_eq!(
        (
            telegram[0].as_str(),
            telegram[2].as_str(),
            telegram[3].as_str()
        ),
        ("2", "1", "1"),
        "{telegram:?}"
    );
    assert_eq!(page.matches("<svg").count(), 4);
    let csv = b
        .get(&format!(
            "/console/dashboard/export?part=analytics&by=channel&{PERIOD}"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains("web_form,\"\",1,0,0,0,,0,0\r\n"), "{csv}");

    // R3: 4 calls, 3 offered; waits 20, 50 and 90 s: 53.3 s; 1 of 3 within 30 s.
    let v = get("/api/v1/calls/stats?from=2026-12-01&to=2026-12-15".into()).await;
    assert_eq!(v["total"]["average_wait_secs"], 53.3333);
    let page = b
        .get(&format!("/console/dashboard/calls?{PERIOD}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        row(&page, "calls-total", "Total"),
        ["4", "3", "2", "1", "1", "1", "53.3", "33.3 %", "33.3 %"]
    );
    assert_eq!(
        row(&page, "calls-by-queue-table", "q-a"),
        ["2", "2", "2", "0", "0", "1", "35.0", "50.0 %", "0.0 %"]
    );
    assert_eq!(
        row(&page, "calls-by-hour-table", "2026-12-03 11:00"),
        ["2", "1", "0", "1", "1", "0", "90.0", "0.0 %", "100.0 %"]
    );
    assert_eq!(
        row(&page, "calls-by-operator-table", "aliya"),
        ["2", "2", "2", "0", "0", "1", "35.0", "50.0 %", "0.0 %"]
    );
    let csv = b
        .get(&format!(
            "/console/dashboard/export?part=calls&by=day&{PERIOD}"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"2026-12-03\",4,3,2,1,1,1,53.3333,0.3333,0.3333\r\n"),
        "{csv}"
    );
    t.stop().await;
}

async fn csrf(b: &mut Browser<'_>) -> String {
    crate::console::csrf_in(&b.get("/console/").await.text().await.unwrap())
}

async fn dashboard_refuses_other_roles_and_bad_periods_with_field_messages(backend: Backend) {
    let t = app(backend).await;
    staff(&t, "aliya", Role::Operator).await;
    staff(&t, "sup", Role::Supervisor).await;
    // An operator: a 403 page, on every view and the export; and 403 from the API.
    let mut b = Browser::new(&t);
    b.sign_in("aliya").await;
    for path in [
        "/console/dashboard",
        "/console/dashboard/ratings",
        "/console/dashboard/analytics",
        "/console/dashboard/calls",
        "/console/dashboard/export?part=service-level",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    let op = t.token("aliya-api", Role::Operator).await;
    assert_eq!(
        t.get_auth("/api/v1/reports/service-level", &op)
            .await
            .status(),
        403
    );
    // Without a session: to the sign-in.
    let r = Browser::new(&t).get("/console/dashboard").await;
    assert_eq!(r.status(), 303);

    // Bad periods: the form again, each field with its message, nothing computed.
    let mut b = Browser::new(&t);
    b.sign_in("sup").await;
    let token_ = csrf(&mut b).await;
    b.post("/console/language", &[("lang", "ru"), ("csrf", &token_)])
        .await;
    let r = b
        .get("/console/dashboard?from=2026-13-01&to=<script>")
        .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"period-errors\""), "{page}");
    assert!(page.contains("<title>Период указан неверно (2)"), "{page}");
    assert!(
        page.contains("id=\"period-from-error\">это не дата"),
        "{page}"
    );
    assert!(
        page.contains("aria-describedby=\"period-to-error\""),
        "{page}"
    );
    assert!(
        !page.contains("<script>") && page.contains("&lt;script&gt;"),
        "escaped"
    );
    assert!(!page.contains("<svg"), "no figures for a bad period");
    let r = b
        .get("/console/dashboard/calls?from=2026-12-10&to=2026-12-01")
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("раньше начала периода"));
    let r = b
        .get("/console/dashboard/ratings?from=2024-01-01&to=2026-12-01")
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("длиннее 366 дней"));
    for bad in [
        "/console/dashboard/export?part=nothing",
        "/console/dashboard/export?part=ratings&by=planet",
        "/console/dashboard/export?part=calls&from=x",
    ] {
        let r = b.get(bad).await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    // The API: 422 naming each bad field.
    let token = t.token("quality", Role::Quality).await;
    let r = t
        .get_auth(
            "/api/v1/reports/service-level?from=2026-12-40&by=planet&format=pdf",
            &token,
        )
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["from", "by", "format"], "{v}");
    t.stop().await;
}

async fn dashboard_in_chromium_links_the_period_and_has_no_serious_accessibility_violations(
    backend: Backend,
) {
    let axe = axe_source();
    let t = app(backend).await;
    seed(&t).await;
    let d = Driver::start().await;
    d.goto(&format!("{}/console/login", t.url)).await;
    d.type_into("#login", "sup").await;
    d.type_into("#password", crate::console::PASSWORD).await;
    d.click("#sign-in").await;
    d.find("#welcome").await;
    // The navigation leads to the dashboard; the period form makes a link.
    d.click("a[href=\"/console/dashboard\"]").await;
    d.find("#period").await;
    d.execute(
        "document.getElementById('period-from').value = '2026-12-01';\
         document.getElementById('period-to').value = '2026-12-05';",
        vec![],
    )
    .await;
    d.click("#show-period").await;
    // The old page has the same table: wait for the navigation first.
    d.wait_for_url("from=2026-12-01").await;
    d.find("#by-queue-table").await;
    let url = d.url().await;
    assert!(
        url.contains("from=2026-12-01") && url.contains("to=2026-12-05"),
        "{url}"
    );
    let mut found = Vec::new();
    for (name, path) in [
        ("service level", format!("/console/dashboard?{PERIOD}")),
        ("ratings", format!("/console/dashboard/ratings?{PERIOD}")),
        (
            "analytics",
            format!("/console/dashboard/analytics?{PERIOD}"),
        ),
        ("calls", format!("/console/dashboard/calls?{PERIOD}")),
        (
            "bad period",
            "/console/dashboard?from=2026-12-99".to_string(),
        ),
    ] {
        d.goto(&format!("{}{path}", t.url)).await;
        d.wait_for_text("</main>").await;
        found.extend(
            axe_violations(&d, &axe)
                .await
                .into_iter()
                .map(|v| format!("{name}: {v}")),
        );
    }
    // The view links keep the period.
    d.goto(&format!("{}/console/dashboard/ratings?{PERIOD}", t.url))
        .await;
    d.click("#view-calls").await;
    d.find("#calls-total").await;
    assert!(d.url().await.contains(PERIOD));
    d.screenshot(&format!("dashboard-calls-{backend:?}")).await;
    d.quit().await;
    assert!(
        found.is_empty(),
        "serious or critical violations:\n{}",
        found.join("\n")
    );
    t.stop().await;
}
