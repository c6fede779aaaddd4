//! Jobs and timers (R5 reminders, escalations, the daily digest), queues as data, final
//! and holding replies, and a channel that is not configured. Time is a manual clock the
//! tests move; every wait is for a state, never for a duration.

use std::sync::Arc;

use crate::email::mail_support::SmtpSink;
use baylanys::AppState;
use baylanys::auth::Role;
use baylanys::clock::{Clock, ManualClock};
use baylanys_core::Language;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use diesel::prelude::*;

use crate::support::{Backend, TestApp, appeal, eventually, fresh_database, spawn, spawn_custom};

both_backends!(
    r5_each_timer_fires_once_with_two_instances_on_one_database,
    r5_no_reminder_for_a_ticket_answered_in_time,
    r5_a_holding_reply_leaves_the_ticket_unanswered_and_overdue,
    r5_the_overdue_digest_fires_once_per_working_day,
    r8_a_transfer_to_an_unknown_queue_is_422_naming_the_field,
    queues_are_kept_through_the_api_and_the_cli,
    a_delivery_on_an_unconfigured_channel_fails_at_once_with_the_reason,
    the_queue_values_tickets_carry_become_queues_on_migration,
);

/// Two instances on one database (one PostgreSQL, or one SQLite file), one clock, one
/// SMTP sink; staff notices in English so subjects read plainly.
struct Rig {
    a: TestApp,
    b: TestApp,
    clock: Arc<ManualClock>,
    sink: SmtpSink,
}

async fn rig(backend: Backend) -> Rig {
    let sink = SmtpSink::start();
    let clock = Arc::new(ManualClock::new(Utc::now()));
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
    /// Both instances' timers see the moved clock (as their loops do on their own).
    async fn move_to(&self, at: DateTime<Utc>) {
        self.clock.set(at);
        for t in [&self.a, &self.b] {
            baylanys::jobs::timers::tick(&t.app)
                .await
                .expect("timer tick");
        }
    }

    /// Waits until no job is due or running, as of the manual clock.
    async fn settle(&self) {
        crate::support::settle_jobs(&self.a.app, self.clock.now().naive_utc()).await;
    }

    /// Waits for `n` mails to `to` whose subject starts with `subject`. The clock stands
    /// still here, so an attempt that failed under load (a busy database or SMTP server)
    /// would wait for its retry forever: the wait lets time pass for it as it would in
    /// service (to the retry, or to the next minute's sweep when a sweep was given up),
    /// and on timeout shows every job.
    async fn wait_mails(&self, to: &str, subject: &str, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // A job failing for good must not carry the clock past the next step's instant.
        let mut moves = 3;
        while mails(&self.sink, to, subject) < n {
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {n} `{subject}` mail(s) to {to}; jobs at {}: {:#?}",
                    self.clock.now(),
                    self.jobs().await
                );
            }
            if moves > 0
                && let Some(at) = self.stalled().await
            {
                moves -= 1;
                eprintln!(
                    "a job failed; letting the clock pass to {at}: {:#?}",
                    self.jobs().await
                );
                self.move_to(at).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// When time must pass for a failed job to run again: its retry, or the next minute
    /// when this minute's deadline sweep (one attempt) was given up.
    async fn stalled(&self) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        let (at, sweep) = (
            now.naive_utc(),
            format!("deadline_sweep:{}", baylanys::jobs::timers::sweep_tick(now)),
        );
        let (retry, given_up) = self
            .a
            .app
            .db
            .run(move |c| {
                use baylanys::db::schema::jobs;
                let retry: Option<NaiveDateTime> = jobs::table
                    .filter(jobs::status.eq("pending"))
                    .filter(jobs::attempts.gt(0))
                    .filter(jobs::run_at.gt(at))
                    .select(diesel::dsl::min(jobs::run_at))
                    .first(c)?;
                let given_up: i64 = jobs::table
                    .filter(jobs::status.eq("failed"))
                    .filter(jobs::dedupe_key.eq(sweep))
                    .count()
                    .get_result(c)?;
                Ok((retry, given_up > 0))
            })
            .await
            .expect("jobs");
        retry
            .map(|r| r.and_utc() + TimeDelta::seconds(1))
            .or_else(|| given_up.then(|| now + TimeDelta::seconds(60)))
    }

    /// Every job: kind, status, attempts, run_at, last error.
    async fn jobs(&self) -> Vec<(String, String, i32, NaiveDateTime, Option<String>)> {
        self.a
            .app
            .db
            .run(|c| {
                use baylanys::db::schema::jobs;
                Ok(jobs::table
                    .order(jobs::created_at.asc())
                    .select((
                        jobs::kind,
                        jobs::status,
                        jobs::attempts,
                        jobs::run_at,
                        jobs::last_error,
                    ))
                    .load(c)?)
            })
            .await
            .expect("jobs")
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

/// Messages at the sink to `to` whose subject starts with `subject`.
fn mails(sink: &SmtpSink, to: &str, subject: &str) -> usize {
    sink.messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_string())
        .filter(|m| {
            m.lines()
                .next()
                .is_some_and(|l| l.starts_with("X-Envelope-To:") && l.contains(to))
                && m.lines()
                    .any(|l| l.starts_with(&format!("Subject: {subject}")))
        })
        .count()
}

/// Adds a user with an e-mail address for staff notices; returns an API token.
async fn staff(app: &AppState, login: &str, role: Role) -> String {
    let token = crate::support::token_for(app, login, role).await;
    let (l, email) = (login.to_string(), format!("{login}@staff.example.kz"));
    app.db
        .write(move |c| baylanys::auth::set_contact(c, &l, Some(Some(&email)), None))
        .await
        .expect("contact set");
    token
}

async fn set_supervisors(app: &AppState, queue: &str, logins: &[&str]) {
    let (q, input) = (
        queue.to_string(),
        baylanys::queues::QueueInput {
            supervisors: Some(logins.iter().map(|l| l.to_string()).collect()),
            ..Default::default()
        },
    );
    app.db
        .write(move |c| Ok(baylanys::queues::update(c, &q, &input)))
        .await
        .expect("db")
        .expect("queue updated");
}

/// Registers a web-form appeal; returns its number, ticket id and due instant.
async fn register(t: &TestApp) -> (String, String, DateTime<Utc>) {
    let body: serde_json::Value = t
        .post_json("/api/v1/appeals", appeal("Не приходит SMS-код"))
        .await
        .json()
        .await
        .expect("JSON");
    let number = body["number"].as_str().expect("a number").to_string();
    let n = number.clone();
    let (id, due): (String, NaiveDateTime) = t
        .app
        .db
        .run(move |c| {
            use baylanys::db::schema::tickets;
            Ok(tickets::table
                .filter(tickets::number.eq(n))
                .select((tickets::id, tickets::due_at))
                .first(c)?)
        })
        .await
        .expect("the ticket");
    (number, id, due.and_utc())
}

fn remind_at(app: &AppState, due: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
    app.calendar()
        .working_hours_before(due, hours, &app.config.working_hours)
        .expect("in range")
}

async fn events(app: &AppState, ticket_id: &str, kind: &str) -> Vec<serde_json::Value> {
    let (id, kind) = (ticket_id.to_string(), kind.to_string());
    app.db
        .run(move |c| {
            use baylanys::db::schema::ticket_events;
            let rows: Vec<String> = ticket_events::table
                .filter(ticket_events::ticket_id.eq(id))
                .filter(ticket_events::kind.eq(kind))
                .select(ticket_events::data)
                .load(c)?;
            Ok(rows
                .iter()
                .map(|d| serde_json::from_str(d).unwrap_or_default())
                .collect())
        })
        .await
        .expect("events")
}

async fn jobs_of_kind(app: &AppState, kind: &str) -> Vec<(String, String)> {
    let kind = kind.to_string();
    app.db
        .run(move |c| {
            use baylanys::db::schema::jobs;
            Ok(jobs::table
                .filter(jobs::kind.eq(kind))
                .select((jobs::status, jobs::dedupe_key.assume_not_null()))
                .load(c)?)
        })
        .await
        .expect("jobs")
}

async fn notices(app: &AppState, kind: &str) -> Vec<(String, String)> {
    let kind = kind.to_string();
    app.db
        .run(move |c| {
            use baylanys::db::schema::staff_notices;
            Ok(staff_notices::table
                .filter(staff_notices::kind.eq(kind))
                .select((staff_notices::address, staff_notices::delivery_status))
                .load(c)?)
        })
        .await
        .expect("notices")
}

async fn r5_each_timer_fires_once_with_two_instances_on_one_database(backend: Backend) {
    let r = rig(backend).await;
    let op = staff(&r.a.app, "op1", Role::Operator).await;
    staff(&r.a.app, "sup1", Role::Supervisor).await;
    staff(&r.a.app, "sup2", Role::Supervisor).await;
    set_supervisors(&r.a.app, "general", &["sup1", "sup2"]).await;
    let (number, id, due) = register(&r.a).await;
    let resp =
        r.b.post_auth(
            &format!("/api/v1/tickets/{number}/assign"),
            &op,
            serde_json::json!({"login": "op1"}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    // Four working hours before the due instant, the assignee is reminded, once.
    let at = remind_at(&r.a.app, due, 4);
    r.move_to(at - TimeDelta::minutes(1)).await;
    r.settle().await;
    assert!(events(&r.a.app, &id, "deadline_reminder").await.is_empty());
    r.move_to(at + TimeDelta::seconds(30)).await;
    r.wait_mails("op1@", "Reminder: appeal", 1).await;
    r.move_to(at + TimeDelta::minutes(2)).await;
    r.settle().await;
    assert_eq!(mails(&r.sink, "op1@", "Reminder: appeal"), 1);
    assert_eq!(mails(&r.sink, "sup1@", "Reminder: appeal"), 0);
    let reminded = events(&r.a.app, &id, "deadline_reminder").await;
    assert_eq!(reminded.len(), 1, "{reminded:?}");
    assert_eq!(reminded[0]["to"], serde_json::json!(["op1"]));
    assert_eq!(jobs_of_kind(&r.a.app, "deadline_reminder").await.len(), 1);

    // Overdue: both supervisors of the queue get one escalation each.
    r.move_to(due + TimeDelta::seconds(30)).await;
    r.wait_mails("sup1@", "Overdue: appeal", 1).await;
    r.wait_mails("sup2@", "Overdue: appeal", 1).await;
    r.move_to(due + TimeDelta::minutes(3)).await;
    r.settle().await;
    for sup in ["sup1@", "sup2@"] {
        assert_eq!(mails(&r.sink, sup, "Overdue: appeal"), 1, "{sup}");
    }
    assert_eq!(mails(&r.sink, "op1@", "Overdue: appeal"), 0);
    let escalated = events(&r.a.app, &id, "deadline_escalated").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0]["to"], serde_json::json!(["sup1", "sup2"]));
    assert!(
        notices(&r.a.app, "deadline_escalated")
            .await
            .iter()
            .all(|(_, status)| status == "sent")
    );
    // Staff mail stays out of the applicant's thread.
    let detail: serde_json::Value =
        r.a.get_auth(&format!("/api/v1/tickets/{number}"), &op)
            .await
            .json()
            .await
            .expect("JSON");
    let messages = detail["messages"].as_array().expect("messages");
    assert!(
        messages.iter().all(|m| !m["address"]
            .as_str()
            .unwrap_or("")
            .contains("staff.example.kz")),
        "{messages:?}"
    );
    r.stop().await;
}

async fn r5_no_reminder_for_a_ticket_answered_in_time(backend: Backend) {
    let r = rig(backend).await;
    let op = staff(&r.a.app, "op1", Role::Operator).await;
    staff(&r.a.app, "sup1", Role::Supervisor).await;
    set_supervisors(&r.a.app, "general", &["sup1"]).await;
    let (number, id, due) = register(&r.a).await;
    let resp =
        r.a.post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            serde_json::json!({"text": "Проверьте номер телефона в профиле."}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["status"], "answered");
    // A second ticket, closed unanswered: closing answers it too.
    let (closed, closed_id, _) = register(&r.a).await;
    let resp =
        r.a.post_auth(
            &format!("/api/v1/tickets/{closed}/close"),
            &op,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(resp.status(), 204);
    // A third, unanswered, in a queue whose reminders are off: escalated, not reminded.
    let input = baylanys::queues::QueueInput {
        code: Some("quiet".into()),
        name_kk: Some("Тыныш".into()),
        name_ru: Some("Тихая".into()),
        supervisors: Some(vec!["sup1".into()]),
        reminders_enabled: Some(false),
        reminder_hours: None,
        active: None,
    };
    r.a.app
        .db
        .write(move |c| Ok(baylanys::queues::create(c, &input)))
        .await
        .expect("db")
        .expect("queue created");
    let (quiet, quiet_id, _) = register(&r.a).await;
    let resp =
        r.a.post_auth(
            &format!("/api/v1/tickets/{quiet}/transfer"),
            &op,
            serde_json::json!({"queue": "quiet"}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    let at = remind_at(&r.a.app, due, 4) + TimeDelta::seconds(30);
    r.move_to(at).await;
    r.settle().await;
    let tick = format!("deadline_sweep:{}", baylanys::jobs::timers::sweep_tick(at));
    assert!(
        jobs_of_kind(&r.a.app, "deadline_sweep")
            .await
            .contains(&("done".to_string(), tick)),
        "the sweep of that minute ran"
    );
    r.move_to(due + TimeDelta::minutes(1)).await;
    r.settle().await;
    for ticket in [&id, &closed_id] {
        assert!(
            events(&r.a.app, ticket, "deadline_reminder")
                .await
                .is_empty()
        );
        assert!(
            events(&r.a.app, ticket, "deadline_escalated")
                .await
                .is_empty()
        );
    }
    assert!(notices(&r.a.app, "deadline_reminder").await.is_empty());
    assert!(
        events(&r.a.app, &quiet_id, "deadline_reminder")
            .await
            .is_empty()
    );
    assert_eq!(
        events(&r.a.app, &quiet_id, "deadline_escalated")
            .await
            .len(),
        1,
        "reminders off is not escalations off"
    );
    r.stop().await;
}

async fn r5_a_holding_reply_leaves_the_ticket_unanswered_and_overdue(backend: Backend) {
    let r = rig(backend).await;
    let op = staff(&r.a.app, "op1", Role::Operator).await;
    staff(&r.a.app, "sup1", Role::Supervisor).await;
    set_supervisors(&r.a.app, "general", &["sup1"]).await;
    let (number, id, due) = register(&r.a).await;
    let resp =
        r.a.post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            serde_json::json!({"text": "Мы запросили ведомство, ответим позже.", "final": false}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["status"], "open");
    let replied = events(&r.a.app, &id, "replied").await;
    assert_eq!(replied[0]["final"], false);

    // Still unanswered, and unassigned: the reminder goes to the queue's supervisors.
    r.move_to(remind_at(&r.a.app, due, 4) + TimeDelta::seconds(30))
        .await;
    r.wait_mails("sup1@", "Reminder: appeal", 1).await;
    r.move_to(due + TimeDelta::seconds(30)).await;
    r.wait_mails("sup1@", "Overdue: appeal", 1).await;
    let now = r.clock.now();
    let n = number.clone();
    let detail =
        r.a.app
            .db
            .run(move |c| baylanys::tickets::detail(c, &n, now))
            .await
            .expect("db")
            .expect("the ticket");
    assert!(detail.overdue, "a holding reply does not answer (R5)");
    assert!(detail.ticket.answered_at.is_none());
    assert_ne!(detail.ticket.status, "answered");
    // The holding reply itself went out to the applicant.
    assert!(
        detail
            .messages
            .iter()
            .any(|m| m.kind == "reply" && m.body_text.contains("запросили ведомство"))
    );
    let filter = baylanys::tickets::ListFilter {
        overdue: Some(true),
        limit: 50,
        ..Default::default()
    };
    let listed =
        r.a.app
            .db
            .run(move |c| baylanys::tickets::list(c, &filter, now))
            .await
            .expect("list");
    assert!(listed.iter().any(|t| t.number == number));

    // The first final reply answers it.
    let resp =
        r.a.post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &op,
            serde_json::json!({"text": "Ведомство ответило: услуга доступна.", "final": true}),
        )
        .await;
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["status"], "answered");
    r.stop().await;
}

/// The first working day after `date` (exclusive), and the first non-working one.
fn next_day(app: &AppState, date: NaiveDate, working: bool) -> NaiveDate {
    let cal = app.calendar();
    let mut d = date;
    loop {
        d = d.succ_opt().expect("a next day");
        if cal.is_working_day(d) == working {
            return d;
        }
    }
}

fn almaty(date: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Almaty
        .from_local_datetime(&date.and_hms_opt(h, m, 0).expect("valid time"))
        .single()
        .expect("one instant")
        .with_timezone(&Utc)
}

async fn r5_the_overdue_digest_fires_once_per_working_day(backend: Backend) {
    let r = rig(backend).await;
    staff(&r.a.app, "sup1", Role::Supervisor).await;
    set_supervisors(&r.a.app, "general", &["sup1"]).await;
    let (number, _, due) = register(&r.a).await;
    let due_day = due.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
    let first = next_day(&r.a.app, due_day, true);
    let digest = "Overdue digest for";

    r.move_to(almaty(first, 8, 59)).await;
    r.settle().await;
    assert_eq!(
        mails(&r.sink, "sup1@", digest),
        0,
        "not before working hours"
    );
    r.move_to(almaty(first, 9, 0)).await;
    r.wait_mails("sup1@", digest, 1).await;
    r.move_to(almaty(first, 11, 0)).await;
    r.settle().await;
    let off = next_day(&r.a.app, first, false);
    r.move_to(almaty(off, 10, 0)).await;
    r.settle().await;
    assert_eq!(
        mails(&r.sink, "sup1@", digest),
        1,
        "once a day, none on {off}: {:?} {:?}",
        jobs_of_kind(&r.a.app, "overdue_digest").await,
        notices(&r.a.app, "overdue_digest").await
    );
    let body = r
        .sink
        .messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_string())
        .find(|m| m.contains(digest))
        .expect("the digest");
    assert!(body.contains(&number), "the digest lists {number}");

    let next = next_day(&r.a.app, off, true);
    r.move_to(almaty(next, 9, 5)).await;
    r.wait_mails("sup1@", digest, 2).await;
    r.settle().await;
    assert_eq!(mails(&r.sink, "sup1@", digest), 2);
    // Days before `first` may have had a digest with nothing in it, when the suite runs
    // in working hours: count from `first`.
    let since = format!("overdue_digest:{first}");
    let mut days: Vec<String> = jobs_of_kind(&r.a.app, "overdue_digest")
        .await
        .into_iter()
        .filter(|(_, key)| *key >= since)
        .map(|(status, key)| {
            assert_eq!(status, "done");
            key
        })
        .collect();
    days.sort();
    assert_eq!(
        days,
        [
            format!("overdue_digest:{first}"),
            format!("overdue_digest:{next}")
        ]
    );
    r.stop().await;
}

async fn r8_a_transfer_to_an_unknown_queue_is_422_naming_the_field(backend: Backend) {
    let t = spawn(backend).await;
    let op = t.token("op1", Role::Operator).await;
    let (number, _, _) = register(&t).await;
    let resp = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/transfer"),
            &op,
            serde_json::json!({"queue": "no-such-queue"}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["field"], "queue", "{body}");
    t.stop().await;
}

fn cli(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .args(args)
        .env("BAYLANYS_DATABASE_URL", database_url)
        .env("BAYLANYS_LOG", "warn")
        .output()
        .expect("the CLI runs")
}

async fn queues_are_kept_through_the_api_and_the_cli(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin1", Role::Admin).await;
    let op = t.token("op1", Role::Operator).await;
    t.token("sup1", Role::Supervisor).await;

    // The migrated default queue is there for every member of staff to read.
    let list: serde_json::Value = t
        .get_auth("/api/v1/queues", &op)
        .await
        .json()
        .await
        .expect("JSON");
    assert!(
        list["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .any(|q| q["code"] == "general"),
        "{list}"
    );
    let ict = serde_json::json!({"code": "ict", "name_kk": "АКТ", "name_ru": "ИКТ",
        "supervisors": ["sup1"], "reminder_hours": 6});
    let resp = t.post_auth("/api/v1/queues", &op, ict.clone()).await;
    assert_eq!(resp.status(), 403, "only administrators manage queues");
    let resp = t.post_auth("/api/v1/queues", &admin, ict.clone()).await;
    assert_eq!(resp.status(), 201);
    let q: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(q["supervisors"], serde_json::json!(["sup1"]));
    assert_eq!(q["reminder_hours"], 6);
    assert_eq!(q["reminders_enabled"], true);
    assert_eq!(
        t.post_auth("/api/v1/queues", &admin, ict).await.status(),
        409
    );
    let resp = t
        .post_auth(
            "/api/v1/queues",
            &admin,
            serde_json::json!({"code": "Bad Code", "supervisors": ["ghost"], "reminder_hours": 0}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["field"], "reminder_hours", "{body}");
    let resp = t
        .post_auth(
            "/api/v1/queues",
            &admin,
            serde_json::json!({"code": "Bad Code", "supervisors": ["ghost"]}),
        )
        .await;
    let body: serde_json::Value = resp.json().await.expect("JSON");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in ["code", "name_kk", "name_ru", "supervisors[0]"] {
        assert!(fields.contains(&f), "{f}: {body}");
    }
    let resp = t
        .client
        .put(format!("{}/api/v1/queues/ict", t.url))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reminders_enabled": false}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    let q: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(q["reminders_enabled"], false);
    assert_eq!(q["name_ru"], "ИКТ");
    let resp = t
        .client
        .put(format!("{}/api/v1/queues/nope", t.url))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reminders_enabled": false}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 404);

    // Staff e-mail for notices, set by an administrator.
    let contact = |body: serde_json::Value| {
        t.client
            .put(format!("{}/api/v1/users/sup1/contact", t.url))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let resp = contact(serde_json::json!({"email": "not an address"}))
        .await
        .expect("answer");
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["field"], "email");
    let resp =
        contact(serde_json::json!({"email": "sup1@staff.example.kz", "telegram_chat_id": 42}))
            .await
            .expect("answer");
    assert_eq!(resp.status(), 204);

    // A transfer into the new queue works.
    let (number, _, _) = register(&t).await;
    let resp = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/transfer"),
            &op,
            serde_json::json!({"queue": "ict"}),
        )
        .await;
    assert_eq!(resp.status(), 204);

    // The CLI: add, list, set; a duplicate and bad input are refused with the reason.
    let db = t.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let add = cli(
            &db,
            &[
                "queue",
                "add",
                "--code",
                "ecp",
                "--name-kk",
                "ЭЦҚ",
                "--name-ru",
                "ЭЦП",
                "--supervisors",
                "sup1",
                "--reminders",
                "off",
            ],
        );
        let again = cli(
            &db,
            &[
                "queue",
                "add",
                "--code",
                "ecp",
                "--name-kk",
                "x",
                "--name-ru",
                "y",
            ],
        );
        let set = cli(
            &db,
            &[
                "queue",
                "set",
                "ecp",
                "--reminders",
                "on",
                "--reminder-hours",
                "2",
            ],
        );
        let bad = cli(&db, &["queue", "set", "ecp", "--reminders", "maybe"]);
        let list = cli(&db, &["queue", "list", "--json"]);
        let user = cli(
            &db,
            &[
                "user",
                "add",
                "--login",
                "op9",
                "--role",
                "operator",
                "--email",
                "op9@staff.example.kz",
                "--no-password",
            ],
        );
        let bad_user = cli(
            &db,
            &[
                "user", "add", "--login", "op10", "--role", "operator", "--email", "nope",
            ],
        );
        (add, again, set, bad, list, user, bad_user)
    })
    .await
    .expect("CLI thread");
    let (add, again, set, bad, list, user, bad_user) = out;
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(add.status.success(), "{}", text(&add));
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert!(set.status.success(), "{}", text(&set));
    assert!(!bad.status.success());
    assert!(text(&bad).contains("--reminders"), "{}", text(&bad));
    assert!(user.status.success(), "{}", text(&user));
    assert!(!bad_user.status.success());
    assert!(text(&bad_user).contains("--email"), "{}", text(&bad_user));
    let listed: serde_json::Value =
        serde_json::from_slice(&list.stdout).expect("queue list --json is JSON");
    let ecp = listed
        .as_array()
        .expect("a list")
        .iter()
        .find(|q| q["code"] == "ecp")
        .expect("ecp listed")
        .clone();
    assert_eq!(ecp["reminders_enabled"], true);
    assert_eq!(ecp["reminder_hours"], 2);
    assert_eq!(ecp["supervisors"], serde_json::json!(["sup1"]));
    let email: Option<String> = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::users;
            Ok(users::table
                .filter(users::login.eq("op9"))
                .select(users::email)
                .first(c)?)
        })
        .await
        .expect("op9");
    assert_eq!(email.as_deref(), Some("op9@staff.example.kz"));
    t.stop().await;
}

async fn a_delivery_on_an_unconfigured_channel_fails_at_once_with_the_reason(backend: Backend) {
    // No SMTP is configured: the acknowledgement of an e-mail cannot go anywhere.
    let t = spawn(backend).await;
    let ingest = t.token("mta", Role::Ingest).await;
    let op = t.token("op1", Role::Operator).await;
    let raw = "From: Aigul <aigul@example.kz>\r\nTo: support@goscorp.kz\r\nSubject: Portal\r\n\
               Message-ID: <unconfigured-1@example.kz>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0500\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\r\nCannot log in to the portal.\r\n";
    let resp = t
        .client
        .post(format!("{}/api/v1/inbound/email", t.url))
        .bearer_auth(&ingest)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 202);
    let out: serde_json::Value = resp.json().await.expect("JSON");
    let number = out["number"].as_str().expect("number").to_string();
    let path = format!("/api/v1/tickets/{number}");
    eventually("the acknowledgement is marked failed", || async {
        let d: serde_json::Value = t.get_auth(&path, &op).await.json().await.expect("JSON");
        d["messages"].as_array().is_some_and(|m| {
            m.iter()
                .any(|m| m["kind"] == "acknowledgement" && m["delivery_status"] == "failed")
        })
    })
    .await;
    let d: serde_json::Value = t.get_auth(&path, &op).await.json().await.expect("JSON");
    let ack = d["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["kind"] == "acknowledgement")
        .expect("the ack")
        .clone();
    let error = ack["delivery_error"].as_str().unwrap_or_default();
    assert!(error.contains("no email channel is configured"), "{error}");
    assert!(
        d["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "delivery_failed")
    );
    let attempts: Vec<(String, i32)> = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::jobs;
            Ok(jobs::table
                .filter(jobs::kind.eq("deliver"))
                .select((jobs::status, jobs::attempts))
                .load(c)?)
        })
        .await
        .expect("jobs");
    assert_eq!(attempts, [("failed".to_string(), 1)], "one try, no retries");
    t.stop().await;
}

/// Applies the migrations before `2026-12-01-000004_queues_timers`.
fn migrate_up_to_queues<B, C, S>(c: &mut C, source: fn() -> S)
where
    B: diesel::backend::Backend,
    C: diesel_migrations::MigrationHarness<B>,
    S: diesel::migration::MigrationSource<B>,
{
    loop {
        let pending = c.pending_migrations(source()).expect("pending migrations");
        let next = pending.first().expect("the queues migration is pending");
        if next.name().to_string().starts_with("2026-12-01-000004") {
            return;
        }
        c.run_next_migration(source()).expect("a migration applies");
    }
}

async fn the_queue_values_tickets_carry_become_queues_on_migration(backend: Backend) {
    use baylanys::db::{DbConn, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    use diesel::connection::SimpleConnection;
    let (url, dir) = fresh_database(backend);
    let db = baylanys::db::Db::connect(&url, 1).expect("database");
    let setup = tokio::task::spawn_blocking(move || -> Result<(), baylanys::db::DbError> {
        let mut conn = db.get()?;
        match &mut *conn {
            DbConn::Sqlite(c) => migrate_up_to_queues(c, || SQLITE_MIGRATIONS),
            DbConn::Pg(c) => migrate_up_to_queues(c, || POSTGRES_MIGRATIONS),
        }
        // Two tickets filed by hand in a free-text queue, one in the default.
        conn.batch_execute(
            "INSERT INTO contacts (id, kind, created_at, updated_at) \
             VALUES ('c1', 'person', '2026-11-30 10:00:00', '2026-11-30 10:00:00');
             INSERT INTO tickets (id, number, contact_id, channel, status, queue, subject, \
             language, registered_at, effective_from, due_at, deadline, search_text, updated_at) VALUES \
             ('t1', 'UCC-2026-900001', 'c1', 'email', 'new', 'legacy-ecp', 's', 'ru', \
              '2026-11-30 10:00:00', '2026-11-30', '2026-12-02 13:30:00', '{}', 's', '2026-11-30 10:00:00'), \
             ('t2', 'UCC-2026-900002', 'c1', 'email', 'new', 'general', 's', 'ru', \
              '2026-11-30 10:00:00', '2026-11-30', '2026-12-02 13:30:00', '{}', 's', '2026-11-30 10:00:00');",
        )?;
        Ok(())
    })
    .await
    .expect("setup thread");
    setup.expect("an old database with tickets");
    let t = crate::support::spawn_on(&url, dir, 0, Vec::new()).await;
    let codes: Vec<String> = t
        .app
        .db
        .run(|c| {
            Ok(baylanys::queues::list(c)?
                .into_iter()
                .map(|q| q.code)
                .collect())
        })
        .await
        .expect("queues");
    assert_eq!(codes, ["general", "legacy-ecp"]);
    t.stop().await;
}
