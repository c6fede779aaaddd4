//! The API as a contract: the OpenAPI document generated from the handlers covers every
//! API route of the access table, says who may call each, and is what the server does:
//! schemathesis (from PyPI) generates inputs for every operation, on both backends, and
//! checks that none gets a 5xx and every answer (status, content type, body) is one the
//! document promises.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use baylanys::auth::Role;
use baylanys::web::access::{ROUTES, of};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, spawn};

both_backends!(
    o1_declarations_of_the_same_works_at_the_same_time_are_each_recorded,
    schemathesis_finds_no_server_error_and_every_answer_matches_the_document,
    the_answers_of_real_records_match_their_documented_schemas,
);

/// The routes the document describes: the JSON API, the probes and the WhatsApp webhook
/// (an integration contract with Meta), not the pages, the calendar files or the
/// Telegram webhook.
fn documented(route: &str) -> bool {
    (route.starts_with("/api/v1/")
        || matches!(
            route,
            "/healthz" | "/readyz" | "/metrics" | "/whatsapp/webhook"
        ))
        && route != "/api/docs"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_every_api_route_and_says_who_may_call_it() {
    let t = spawn(Backend::Sqlite).await;
    let r = t
        .client
        .get(format!("{}{}", t.url, "/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let access = of(&method, path)
                .unwrap_or_else(|| panic!("{method} {path} is documented but not served"));
            // Who may call it comes from the access table, and so does its security.
            let description = op["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("**Who may:** {}.", access.who())),
                "{method} {path}: {description}"
            );
            assert_eq!(
                op["security"].is_array(),
                access.needs_token(),
                "{method} {path}: security"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("503"), "{method} {path}: no 503");
            if access.needs_token() {
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success answer"
            );
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
            in_doc.insert((method, path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|(_, route, _)| documented(route))
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(in_doc, served, "the document and the API routes differ");

    // The page renders every operation and every schema, from the same document, with
    // nothing to fetch.
    let r = t
        .client
        .get(format!("{}{}", t.url, "/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    for (method, path) in &in_doc {
        let anchor = format!(
            "id=\"{}-{}\"",
            method.to_lowercase(),
            path.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        );
        assert!(page.contains(&anchor), "the page lacks {method} {path}");
    }
    for schema in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(
            page.contains(&format!("id=\"schema-{schema}\"")),
            "{schema}"
        );
    }
    assert!(!page.contains("<script"), "the page needs no script");
    assert!(!page.contains("https://"), "the page fetches nothing");
}

/// Whether schemathesis can be run here (`python3 -m pip install schemathesis`).
fn schemathesis_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import schemathesis.cli"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Records for the generated requests to reach: a ticket, a registry body with a person,
/// a system, a service, a forward and an outage. Returns the path parameters naming them.
async fn seed(t: &TestApp, token: &str) -> Value {
    let post = |path: &str, body: Value| {
        let req = t
            .client
            .post(format!("{}{}", t.url, path))
            .bearer_auth(token)
            .json(&body)
            .send();
        async move {
            let r = req.await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert!(status.is_success(), "seeding {status}: {v}");
            v
        }
    };
    let ticket = post(
        "/api/v1/appeals",
        json!({"name": "Айгүл Серікқызы", "email": "aigul@mail.kz", "region": "astana",
               "topic": "egov_portal", "text": "Порталға кіре алмаймын", "consent": true}),
    )
    .await;
    post(
        "/api/v1/systems",
        json!({"code": "st-egov-portal", "name": {"kk": "Портал", "ru": "Портал"}}),
    )
    .await;
    let body = post(
        "/api/v1/bodies",
        json!({"kind": "central_state_body", "name": {"kk": "Министрлік", "ru": "Министерство"},
               "email": "min@gov.kz", "systems": ["st-egov-portal"], "persons": [{"name": "Асқар"}]}),
    )
    .await;
    let body_id = body["id"].as_str().unwrap().to_string();
    let service = post(
        "/api/v1/services",
        json!({"register_number": "00101001", "name": {"kk": "Анықтама", "ru": "Справка"},
               "body": body_id}),
    )
    .await;
    let number = ticket["number"].as_str().unwrap();
    let forward = post(
        &format!("/api/v1/tickets/{number}/forwards"),
        json!({"body": body_id, "question": "Өтінішке жауап беріңізші"}),
    )
    .await;
    // A staff account the generated changes go to (not the caller's own).
    post(
        "/api/v1/users",
        json!({"login": "st-fuzz", "role": "operator", "password": "correct horse battery"}),
    )
    .await;
    let starts = chrono::Utc::now() + chrono::Duration::days(10);
    let outage = post(
        "/api/v1/outages",
        json!({"kind": "planned", "starts_at": starts.to_rfc3339(),
               "ends_at": (starts + chrono::Duration::hours(2)).to_rfc3339(),
               "systems": ["st-egov-portal"], "impact": "partial",
               "title": {"kk": "Жұмыстар", "ru": "Работы"}, "text": {"kk": "Мәтін", "ru": "Текст"}}),
    )
    .await;
    // The records of the later routes, made with the roles that may make them.
    let as_role = |login: &'static str, role: Role, path: &'static str, body: Value| async move {
        let token = t.token(login, role).await;
        let r = t.post_auth(path, &token, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "seeding {path}: {status}: {v}");
        v
    };
    let article = as_role(
        "st-editor",
        Role::Editor,
        "/api/v1/kb/articles",
        json!({"language": "ru", "title": "Вход на портал", "body": "Войдите с ЭЦП.",
               "publish": true}),
    )
    .await;
    let call = as_role(
        "st-pbx",
        Role::Pbx,
        "/api/v1/calls",
        json!({"call_id": "st-call-1", "event": "ended", "caller": "+77015550001",
               "called": "1414", "queue": "general", "arrived_at": "2026-12-03T10:00:00+05:00",
               "answered_at": "2026-12-03T10:00:20+05:00", "ended_at": "2026-12-03T10:03:00+05:00",
               "disposition": "answered",
               "recording": {"content_base64": "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=",
                             "content_type": "audio/wav"}}),
    )
    .await;
    let request = as_role(
        "st-quality",
        Role::Quality,
        "/api/v1/record-requests",
        json!({"date": "2026-12-03", "phone": "+77015550001"}),
    )
    .await;
    let run = post(
        "/api/v1/reports/runs",
        json!({"report": "P1", "month": "2026-11"}),
    )
    .await;
    let discrepancy = as_role(
        "st-supervisor",
        Role::Supervisor,
        "/api/v1/reports/discrepancies",
        json!({"report": "P1", "month": "2026-11", "body_id": body_id,
               "figures": {"ours": 120, "theirs": 118}}),
    )
    .await;
    let choice = post(
        "/api/v1/reports/choices",
        json!({"kind": "staff_action", "code": "rude",
               "name": {"kk": "Әдепсіздік", "ru": "Некорректное поведение"}}),
    )
    .await;
    // A second appeal of the same applicant (to merge), a later message of theirs (to
    // split off), a file on the ticket (a staff reply's), a forward that sends it, a mail
    // reply to a forward from a stranger (held), two refusals of the body within a month
    // (the F4 quality notice), a mail that cannot be read (quarantined), a service on the
    // ticket (to unlink).
    let duplicate = post(
        "/api/v1/appeals",
        json!({"name": "Айгүл Серікқызы", "email": "aigul@mail.kz", "region": "astana",
               "topic": "egov_portal", "text": "Тағы да кіре алмаймын", "consent": true}),
    )
    .await;
    let raw_mail = |raw: String| {
        let req = t
            .client
            .post(format!("{}/api/v1/inbound/email", t.url))
            .bearer_auth(token)
            .header("content-type", "message/rfc822")
            .body(raw)
            .send();
        async move {
            let r = req.await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            assert!(status.is_success(), "seeding a mail {status}: {v}");
            v
        }
    };
    raw_mail(format!(
        "From: Айгүл <aigul@mail.kz>\r\nTo: 1414@ucc.kz\r\nSubject: Re: [{number}] Порталға кіру\r\n\
         Message-ID: <st-later@mail.kz>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Және тағы бір сұрақ.\r\n"
    ))
    .await;
    post(
        &format!("/api/v1/tickets/{number}/replies"),
        json!({"text": "Файлды қараңыз", "final": false,
               "attachments": [{"file_name": "a.txt", "content_type": "text/plain", "content_base64": "0KTQsNC50Ls="}]}),
    )
    .await;
    let view: Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), token)
        .await
        .json()
        .await
        .unwrap();
    let messages = view["messages"].as_array().expect("the ticket's messages");
    let later = messages
        .iter()
        .skip(1)
        .find(|m| m["direction"] == "in")
        .unwrap_or_else(|| panic!("the applicant's later message is on the ticket: {view}"));
    let attachment = messages
        .iter()
        .find_map(|m| m["attachments"][0]["id"].as_str())
        .unwrap_or_else(|| panic!("the reply's file is on the ticket: {view}"))
        .to_string();
    let sending = post(
        &format!("/api/v1/tickets/{number}/forwards"),
        json!({"body": body_id, "question": "Файлды қараңыз", "attachments": [attachment]}),
    )
    .await;
    let held = raw_mail(format!(
        "From: stranger@evil.kz\r\nTo: 1414@ucc.kz\r\nSubject: Re: [{}]\r\n\
         Message-ID: <st-held@evil.kz>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nЖауап.\r\n",
        sending["reference"].as_str().unwrap()
    ))
    .await;
    assert_eq!(held["outcome"], "forward_reply_held", "{held}");
    let quarantined =
        raw_mail("To: 1414@ucc.kz\r\nSubject: who\r\n\r\nNo sender.\r\n".into()).await;
    // Its own item for retries: a release makes a ticket of the other, which is then gone.
    let retried = raw_mail("To: 1414@ucc.kz\r\nSubject: again\r\n\r\nNo sender.\r\n".into()).await;
    let refuser = {
        let body_id = body_id.clone();
        t.app
            .db
            .write(move |c| {
                baylanys::auth::add_user_in(
                    c,
                    "st-refuser",
                    "st-refuser",
                    Role::Agency,
                    None,
                    Some(&body_id),
                )?;
                Ok(baylanys::auth::create_token(c, "st-refuser", None)?.expect("user just added"))
            })
            .await
            .unwrap()
    };
    let mut notice = Value::Null;
    for question in ["Бірінші сұрақ", "Екінші сұрақ"] {
        let f = post(
            &format!("/api/v1/tickets/{number}/forwards"),
            json!({"body": body_id, "question": question}),
        )
        .await;
        let r = t
            .post_auth(
                &format!("/api/v1/forwards/{}/decline", f["id"].as_str().unwrap()),
                &refuser,
                json!({"reason": "Бізге қатысы жоқ"}),
            )
            .await;
        assert!(r.status().is_success(), "seeding a refusal");
        notice = r.json::<Value>().await.unwrap()["quality_notice_id"].clone();
    }
    assert!(
        notice.is_string(),
        "the second refusal raises the F4 notice"
    );
    post(
        &format!("/api/v1/tickets/{number}/services"),
        json!({"service": service["id"]}),
    )
    .await;
    json!({
        "duplicate": duplicate["number"],
        "later": later["id"],
        "attachment": attachment,
        "sending": sending["id"],
        "held": held["message_id"],
        "notice": notice,
        "quarantined": quarantined["id"],
        "retried": retried["id"],
        "number": number,
        "body": body_id,
        "person": body["persons"][0]["id"],
        "service": service["id"],
        "forward": forward["id"],
        "outage": outage["id"],
        "article": article["id"],
        "call": call["call_id"],
        "request": request["id"],
        "run": run["id"],
        "discrepancy": discrepancy["id"],
        "choice": choice["id"],
    })
}

/// A schemathesis configuration that fixes the path parameters to the seeded records,
/// and the body fields that must name one (a body's id, a queue, a login), so the
/// generated bodies and queries reach the handlers' logic rather than a 404 or a 422.
fn config_naming(ids: &Value) -> String {
    let s = |k: &str| ids[k].as_str().unwrap().to_string();
    let mut out = format!(
        "[parameters]\n\"path.number\" = \"{}\"\n\"path.code\" = \"general\"\n\
         \"path.login\" = \"st-admin\"\n\"path.year\" = \"2026\"\n\"path.date\" = \"2026-12-25\"\n\
         \"path.file\" = \"bodies.csv\"\n\"path.person\" = \"{}\"\n\"path.service\" = \"{}\"\n\
         \"path.attachment\" = \"{}\"\n\"path.message\" = \"{}\"\n",
        s("number"),
        s("person"),
        s("service"),
        s("attachment"),
        s("held"),
    );
    let (body, service) = (s("body"), s("service"));
    let starts = chrono::Utc::now() + chrono::Duration::days(3);
    let ends = starts + chrono::Duration::hours(2);
    let operations: Vec<(&str, String)> = vec![
        ("^/api/v1/bodies/", format!("\"path.id\" = \"{body}\"")),
        (
            "^/api/v1/bodies$",
            "\"body.systems\" = [\"st-egov-portal\"]".into(),
        ),
        ("^/api/v1/services/", format!("\"path.id\" = \"{service}\"")),
        ("^/api/v1/services$", format!("\"body.body\" = \"{body}\"")),
        (
            "^/api/v1/forwards/[^/]+(/(answer|decline|relay))?$",
            format!("\"path.id\" = \"{}\"", s("forward")),
        ),
        (
            "^/api/v1/forwards/[^/]+/(attachments|replies)/",
            format!("\"path.id\" = \"{}\"", s("sending")),
        ),
        (
            "^/api/v1/quality-notices/",
            format!("\"path.id\" = \"{}\"", s("notice")),
        ),
        (
            "^/api/v1/quarantine/[^/]+(/release)?$",
            format!("\"path.id\" = \"{}\"", s("quarantined")),
        ),
        (
            "^/api/v1/quarantine/[^/]+/retry$",
            format!("\"path.id\" = \"{}\"", s("retried")),
        ),
        (
            "^/api/v1/attachments/",
            format!("\"path.id\" = \"{}\"", s("attachment")),
        ),
        (
            "^/api/v1/outages$",
            format!(
                "\"body.systems\" = [\"st-egov-portal\"], \"body.starts_at\" = \"{}\", \"body.ends_at\" = \"{}\"",
                starts.to_rfc3339(),
                ends.to_rfc3339()
            ),
        ),
        (
            "^/api/v1/outages/",
            format!(
                "\"path.id\" = \"{}\", \"body.systems\" = [\"st-egov-portal\"]",
                s("outage")
            ),
        ),
        (
            "^/api/v1/systems/",
            "\"path.code\" = \"st-egov-portal\"".into(),
        ),
        (
            "^/api/v1/kb/articles$",
            format!("\"body.service\" = \"{service}\", \"body.linked_body\" = \"{body}\""),
        ),
        (
            "^/api/v1/kb/articles/",
            format!("\"path.id\" = \"{}\"", s("article")),
        ),
        ("^/api/v1/calls$", "\"body.queue\" = \"general\"".into()),
        (
            "^/api/v1/calls/",
            format!("\"path.call_id\" = \"{}\"", s("call")),
        ),
        (
            "^/api/v1/record-requests$",
            format!("\"body.ticket\" = \"{}\"", s("number")),
        ),
        (
            "^/api/v1/record-requests/",
            format!("\"path.id\" = \"{}\"", s("request")),
        ),
        (
            "^/api/v1/reports/runs/",
            format!("\"path.id\" = \"{}\"", s("run")),
        ),
        (
            "^/api/v1/reports/discrepancies$",
            format!("\"body.body_id\" = \"{body}\""),
        ),
        (
            "^/api/v1/reports/discrepancies/",
            format!("\"path.id\" = \"{}\"", s("discrepancy")),
        ),
        (
            "^/api/v1/reports/choices/",
            format!("\"path.id\" = \"{}\"", s("choice")),
        ),
        (
            "^/api/v1/queues$",
            "\"body.supervisors\" = [\"st-admin\"]".into(),
        ),
        (
            "^/api/v1/queues/",
            "\"body.supervisors\" = [\"st-admin\"]".into(),
        ),
        (
            "/merge$",
            format!("\"body.duplicate\" = \"{}\"", s("duplicate")),
        ),
        (
            "/split$",
            format!("\"body.message_id\" = \"{}\"", s("later")),
        ),
        (
            "^/api/v1/users/[^/]+$",
            "\"path.login\" = \"st-fuzz\"".into(),
        ),
        ("/assign$", "\"body.login\" = \"st-admin\"".into()),
        ("/transfer$", "\"body.queue\" = \"general\"".into()),
        ("/replies$", format!("\"body.cards\" = [\"{body}\"]")),
        (
            "^/api/v1/tickets/[^/]+/services$",
            format!("\"body.service\" = \"{service}\", \"body.services\" = [\"{service}\"]"),
        ),
        ("/contact/body$", format!("\"body.body\" = \"{body}\"")),
        ("/forwards$", format!("\"body.body\" = \"{body}\"")),
        (
            "^/whatsapp/webhook$",
            format!(
                "\"query.hub.mode\" = \"subscribe\", \"query.hub.verify_token\" = \"{WHATSAPP_VERIFY}\""
            ),
        ),
    ];
    for (regex, parameters) in operations {
        out.push_str(&format!(
            "\n[[operations]]\ninclude-path-regex = \"{regex}\"\nparameters = {{ {parameters} }}\n"
        ));
    }
    out
}

/// The WhatsApp channel of the server schemathesis tests: its webhook's verify token and
/// app secret (the hook below signs each generated webhook body with it).
const WHATSAPP_VERIFY: &str = "st-verify-token";
const WHATSAPP_SECRET: &str = "st-app-secret";

/// A schemathesis hook (`SCHEMATHESIS_HOOKS`): signs the WhatsApp webhook's bodies as
/// Meta does, so they get past the signature to the store (requests sends `json.dumps`).
const SIGNING_HOOK: &str = r#"
import hashlib, hmac, json, os
import schemathesis

@schemathesis.hook
def before_call(context, case, kwargs):
    if case.path != "/whatsapp/webhook" or case.method.upper() != "POST":
        return
    body = case.body
    if type(body).__name__ == "NotSet":
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    elif body is None:
        raw = b"null"
    else:
        raw = json.dumps(body, allow_nan=False).encode("utf-8")
    digest = hmac.new(os.environ["ST_WHATSAPP_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
    case.headers = dict(case.headers or {})
    case.headers["X-Hub-Signature-256"] = "sha256=" + digest
"#;

static REPORTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One schemathesis run; panics with its report unless it passed.
async fn schemathesis(
    t: &TestApp,
    token: &str,
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    examples: u32,
    extra: &[&str],
) {
    let mut cmd = tokio::process::Command::new("python3");
    // Its cache (.schemathesis/) goes to the test's directory, not the clone.
    cmd.current_dir(dir).args(["-m", "schemathesis.cli"]);
    if let Some(config) = config {
        cmd.arg("--config-file").arg(config);
    }
    cmd.arg("run")
        .arg(format!("{}{}", t.url, "/api/v1/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", "1414", "--generation-database", "none"])
        .args(["--request-timeout", "20", "--no-color"])
        .args(extra)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("SCHEMATHESIS_HOOKS", "st_hooks")
        .env("PYTHONPATH", dir)
        .env("ST_WHATSAPP_SECRET", WHATSAPP_SECRET)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    // The whole report where asked (which operations met only 404 or 403, say).
    if let Ok(dir) = std::env::var("BAYLANYS_SCHEMATHESIS_REPORTS") {
        let name = format!(
            "{dir}/schemathesis-{}-{}.txt",
            std::process::id(),
            REPORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let _ = std::fs::write(name, report.as_bytes());
    }
    let summary = report
        .rfind("SUMMARY")
        .map_or(&report[..0], |at| &report[at..]);
    eprintln!(
        "schemathesis{}: {summary}",
        if config.is_some() {
            " (on seeded records)"
        } else {
            ""
        }
    );
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not promise:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn schemathesis_finds_no_server_error_and_every_answer_matches_the_document(
    backend: Backend,
) {
    if !schemathesis_available() {
        eprintln!(
            "SKIPPED: schemathesis is not installed (`python3 -m pip install schemathesis`; .ci/run does it)"
        );
        return;
    }
    let started = Instant::now();
    // WhatsApp on (its Graph API nowhere: nothing is sent in this test), so its webhook is
    // exercised too.
    let t = crate::support::spawn_config(backend, |c| {
        c.whatsapp_token = Some("st-token".into());
        c.whatsapp_phone_number_id = Some("100000000000001".into());
        c.whatsapp_app_secret = Some(WHATSAPP_SECRET.into());
        c.whatsapp_verify_token = Some(WHATSAPP_VERIFY.into());
        c.whatsapp_api_url = Some("http://127.0.0.1:9".into());
    })
    .await;
    let token = t.token("st-admin", Role::Admin).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("st_hooks.py"), SIGNING_HOOK).unwrap();
    // Everything generated, path parameters too (mostly names of nothing: 404, 422).
    schemathesis(&t, &token, dir.path(), None, 10, &[]).await;
    // The same operations on records that exist.
    let ids = seed(&t, &token).await;
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, config_naming(&ids)).unwrap();
    schemathesis(&t, &token, dir.path(), Some(&config), 20, &[]).await;
    // The operations only a body's own users may call (answer, decline), as one of them.
    let body_id = ids["body"].as_str().unwrap().to_string();
    let agency = t
        .app
        .db
        .write(move |c| {
            baylanys::auth::add_user_in(
                c,
                "st-agency",
                "st-agency",
                Role::Agency,
                None,
                Some(&body_id),
            )?;
            Ok(baylanys::auth::create_token(c, "st-agency", None)?.expect("user just added"))
        })
        .await
        .unwrap();
    schemathesis(
        &t,
        &agency,
        dir.path(),
        Some(&config),
        20,
        &[
            "--include-path-regex",
            "^/api/v1/forwards/[^/]+/(answer|decline)$",
        ],
    )
    .await;
    // The operations of the roles an administrator is not: the Knowledge Base's editors,
    // and the oversight bodies that ask for recordings.
    for (login, role, paths) in [
        ("st-editor-2", Role::Editor, "^/api/v1/kb/"),
        (
            "st-quality-2",
            Role::Quality,
            "^/api/v1/(record-requests|calls/[^/]+/recording)",
        ),
    ] {
        let token = t.token(login, role).await;
        schemathesis(
            &t,
            &token,
            dir.path(),
            Some(&config),
            20,
            &["--include-path-regex", paths],
        )
        .await;
    }
    eprintln!(
        "schemathesis on {backend:?}: {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// Whether the JSON Schema validator schemathesis brings can be run here.
fn jsonschema_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Validates each answer against the schema the document gives its operation and status
/// (with the document's components, formats checked); returns the mismatches.
const VALIDATE: &str = r#"
import json, sys
import jsonschema
doc, answers = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = []
for a in answers:
    op = doc["paths"][a["path"]][a["method"].lower()]
    response = op["responses"].get(str(a["status"]))
    if response is None:
        bad.append(f'{a["method"]} {a["path"]}: status {a["status"]} is not documented')
        continue
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        bad.append(f'{a["method"]} {a["path"]} {a["status"]}: no JSON schema documented')
        continue
    root = dict(schema, components=doc["components"])
    v = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
    for e in v.iter_errors(a["body"]):
        where = "/".join(str(p) for p in e.absolute_path)
        bad.append(f'{a["method"]} {a["path"]} {a["status"]}: at /{where}: {e.message[:300]}')
print("\n".join(bad))
"#;

/// Answers to record: (method, documented path, status, body).
#[derive(Default)]
struct Answers(Vec<Value>);

impl Answers {
    async fn take(&mut self, method: &str, template: &str, r: reqwest::Response) -> Value {
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("a JSON answer");
        assert!(
            (200..300).contains(&status),
            "{method} {template}: {status} {body}"
        );
        self.0
            .push(json!({"method": method, "path": template, "status": status, "body": body}));
        body
    }
}

/// Schemathesis's generated requests rarely get past validation to a success answer, so
/// the answers of real records are checked here against the document: each operation's
/// success answer, with the records it names made first.
async fn the_answers_of_real_records_match_their_documented_schemas(backend: Backend) {
    if !jsonschema_available() {
        eprintln!(
            "SKIPPED: python3's jsonschema is not installed (it comes with schemathesis: `python3 -m pip install schemathesis`)"
        );
        return;
    }
    let t = spawn(backend).await;
    let admin = t.token("st-admin", Role::Admin).await;
    let ids = seed(&t, &admin).await;
    let s = |k: &str| ids[k].as_str().unwrap().to_string();
    let (number, body, forward, outage) = (s("number"), s("body"), s("forward"), s("outage"));
    let (service, article, call, request) = (s("service"), s("article"), s("call"), s("request"));
    let (run, discrepancy, choice) = (s("run"), s("discrepancy"), s("choice"));
    let mut a = Answers::default();

    a.take(
        "POST",
        "/api/v1/appeals",
        t.post_json("/api/v1/appeals", crate::support::appeal("Анықтама керек"))
            .await,
    )
    .await;
    a.take(
        "GET",
        "/healthz",
        t.client
            .get(format!("{}/healthz", t.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.take(
        "GET",
        "/readyz",
        t.client
            .get(format!("{}/readyz", t.url))
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Tickets and their actions.
    let gets: Vec<(&str, String)> = vec![
        ("/api/v1/tickets", "/api/v1/tickets".into()),
        (
            "/api/v1/tickets/{number}",
            format!("/api/v1/tickets/{number}"),
        ),
        (
            "/api/v1/tickets/{number}/services",
            format!("/api/v1/tickets/{number}/services"),
        ),
        (
            "/api/v1/applicants/export",
            "/api/v1/applicants/export?email=aigul@mail.kz".into(),
        ),
        (
            "/api/v1/calendar/due",
            "/api/v1/calendar/due?from=2026-12-03T10:00:00%2B05:00".into(),
        ),
        ("/api/v1/calendar/{year}", "/api/v1/calendar/2026".into()),
        ("/api/v1/forwards", "/api/v1/forwards".into()),
        (
            "/api/v1/forwards/overdue",
            "/api/v1/forwards/overdue".into(),
        ),
        (
            "/api/v1/forwards/{id}",
            format!("/api/v1/forwards/{forward}"),
        ),
        ("/api/v1/quality-notices", "/api/v1/quality-notices".into()),
        ("/api/v1/quarantine", "/api/v1/quarantine".into()),
        (
            "/api/v1/delivery-reports/unmatched",
            "/api/v1/delivery-reports/unmatched".into(),
        ),
        ("/api/v1/queues", "/api/v1/queues".into()),
        ("/api/v1/queues/{code}", "/api/v1/queues/general".into()),
        ("/api/v1/users", "/api/v1/users".into()),
        (
            "/api/v1/templates/preview",
            "/api/v1/templates/preview".into(),
        ),
        ("/api/v1/bodies", "/api/v1/bodies".into()),
        ("/api/v1/bodies/{id}", format!("/api/v1/bodies/{body}")),
        (
            "/api/v1/bodies/{id}/card",
            format!("/api/v1/bodies/{body}/card"),
        ),
        ("/api/v1/systems", "/api/v1/systems".into()),
        (
            "/api/v1/systems/{code}",
            "/api/v1/systems/st-egov-portal".into(),
        ),
        ("/api/v1/services", "/api/v1/services".into()),
        (
            "/api/v1/services/{id}",
            format!("/api/v1/services/{service}"),
        ),
        (
            "/api/v1/services/{id}/onboarding",
            format!("/api/v1/services/{service}/onboarding"),
        ),
        (
            "/api/v1/services/onboarding/overdue",
            "/api/v1/services/onboarding/overdue".into(),
        ),
        (
            "/api/v1/services/stage",
            "/api/v1/services/stage?application=KZ-1".into(),
        ),
        ("/api/v1/outages", "/api/v1/outages".into()),
        ("/api/v1/outages/{id}", format!("/api/v1/outages/{outage}")),
        (
            "/api/v1/outages/compliance",
            "/api/v1/outages/compliance?month=2026-12".into(),
        ),
        (
            "/api/v1/calls/stats",
            "/api/v1/calls/stats?from=2026-12-01&to=2026-12-31&by=queue".into(),
        ),
        ("/api/v1/calls/{call_id}", format!("/api/v1/calls/{call}")),
        (
            "/api/v1/ratings/figures",
            "/api/v1/ratings/figures?by=queue&from=2026-11&to=2026-12".into(),
        ),
        (
            "/api/v1/reports/ict",
            "/api/v1/reports/ict?month=2026-11".into(),
        ),
        (
            "/api/v1/reports/analytics",
            "/api/v1/reports/analytics?by=body&from=2026-11&to=2026-12".into(),
        ),
        ("/api/v1/reports/runs", "/api/v1/reports/runs".into()),
        (
            "/api/v1/reports/runs/{id}",
            format!("/api/v1/reports/runs/{run}"),
        ),
        ("/api/v1/reports/choices", "/api/v1/reports/choices".into()),
        (
            "/api/v1/reports/discrepancies",
            "/api/v1/reports/discrepancies".into(),
        ),
        (
            "/api/v1/reports/discrepancies/{id}",
            format!("/api/v1/reports/discrepancies/{discrepancy}"),
        ),
    ];
    for (template, path) in gets {
        a.take("GET", template, t.get_auth(&path, &admin).await)
            .await;
    }
    let post = |path: String, body: Value| {
        let (t, admin) = (&t, admin.clone());
        async move { t.post_auth(&path, &admin, body).await }
    };
    a.take(
        "POST",
        "/api/v1/tickets/{number}/notes",
        post(
            format!("/api/v1/tickets/{number}/notes"),
            json!({"text": "Ішкі жазба"}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/tickets/{number}/replies",
        post(
            format!("/api/v1/tickets/{number}/replies"),
            json!({"text": "Жауап", "cards": [body]}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/tickets/{number}/services",
        post(
            format!("/api/v1/tickets/{number}/services"),
            json!({"service": service}),
        )
        .await,
    )
    .await;
    let put = t
        .client
        .put(format!("{}/api/v1/tickets/{number}/classification", t.url))
        .bearer_auth(&admin)
        .json(&json!({"staff_action": "rude"}));
    a.take(
        "PUT",
        "/api/v1/tickets/{number}/classification",
        put.send().await.unwrap(),
    )
    .await;
    a.take(
        "POST",
        "/api/v1/reports/runs/{id}/retry",
        post(format!("/api/v1/reports/runs/{run}/retry"), json!({})).await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/bodies/{id}/telegram-link",
        post(format!("/api/v1/bodies/{body}/telegram-link"), json!({})).await,
    )
    .await;
    a.take("POST", "/api/v1/calls", t.post_auth("/api/v1/calls", &t.token("st-pbx-2", Role::Pbx).await,
        json!({"call_id": "st-call-2", "event": "arrived", "caller": "+77015550002", "called": "1414",
               "queue": "general", "arrived_at": "2026-12-03T11:00:00+05:00"})).await).await;
    a.take("POST", "/api/v1/calls/{call_id}/ticket", post(format!("/api/v1/calls/{call}/ticket"),
        json!({"name": "Асқар", "text": "Қоңырау бойынша өтініш", "topic": "egov_portal", "region": "astana", "language": "kk"})).await).await;
    let editor = t.token("st-editor-3", Role::Editor).await;
    a.take(
        "GET",
        "/api/v1/kb/articles",
        t.get_auth("/api/v1/kb/articles?q=портал&language=ru", &editor)
            .await,
    )
    .await;
    a.take(
        "GET",
        "/api/v1/kb/articles/{id}",
        t.get_auth(&format!("/api/v1/kb/articles/{article}"), &editor)
            .await,
    )
    .await;
    a.take(
        "GET",
        "/api/v1/kb/articles/{id}/versions",
        t.get_auth(&format!("/api/v1/kb/articles/{article}/versions"), &editor)
            .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/kb/articles/{id}",
        t.patch_auth(
            &format!("/api/v1/kb/articles/{article}"),
            &editor,
            json!({"title": "Порталға кіру"}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/kb/articles/{id}/publish",
        t.post_auth(
            &format!("/api/v1/kb/articles/{article}/publish"),
            &editor,
            json!({}),
        )
        .await,
    )
    .await;
    a.take(
        "GET",
        "/api/v1/kb/export",
        t.get_auth("/api/v1/kb/export", &editor).await,
    )
    .await;
    let quality = t.token("st-quality-3", Role::Quality).await;
    a.take(
        "GET",
        "/api/v1/record-requests/{id}",
        t.get_auth(&format!("/api/v1/record-requests/{request}"), &quality)
            .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/record-requests",
        t.post_auth(
            "/api/v1/record-requests",
            &quality,
            json!({"date": "2026-12-03", "phone": "+77015550002"}),
        )
        .await,
    )
    .await;
    let supervisor = t.token("st-supervisor-3", Role::Supervisor).await;
    a.take(
        "POST",
        "/api/v1/record-requests/{id}/release",
        t.post_auth(
            &format!("/api/v1/record-requests/{request}/release"),
            &supervisor,
            json!({}),
        )
        .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/reports/choices/{id}",
        t.patch_auth(
            &format!("/api/v1/reports/choices/{choice}"),
            &admin,
            json!({"active": false}),
        )
        .await,
    )
    .await;

    // Changes to the records, each answering the record as it now is.
    let patch = |path: String, body: Value| {
        let (t, admin) = (&t, admin.clone());
        async move { t.patch_auth(&path, &admin, body).await }
    };
    let put = |path: String, body: Value| {
        let (t, admin) = (&t, admin.clone());
        async move {
            t.client
                .put(format!("{}{}", t.url, path))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let names = json!({"kk": "Атауы", "ru": "Название"});
    a.take(
        "PATCH",
        "/api/v1/outages/{id}",
        patch(format!("/api/v1/outages/{outage}"), json!({"title": names})).await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/queues",
        post(
            "/api/v1/queues".into(),
            json!({"code": "st-queue", "name_kk": "Кезек", "name_ru": "Очередь"}),
        )
        .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/queues/{code}",
        patch(
            "/api/v1/queues/st-queue".into(),
            json!({"reminder_hours": 2}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/users",
        post(
            "/api/v1/users".into(),
            json!({"login": "st-user", "role": "agency", "body_id": body, "password": "correct horse battery", "email": "st@goscorp.kz"}),
        )
        .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/users/{login}",
        patch(
            "/api/v1/users/st-user".into(),
            json!({"role": "operator", "active": false, "unlock": true}),
        )
        .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/bodies/{id}",
        patch(
            format!("/api/v1/bodies/{body}"),
            json!({"website": "https://min.gov.kz"}),
        )
        .await,
    )
    .await;
    let person = a
        .take(
            "POST",
            "/api/v1/bodies/{id}/persons",
            post(
                format!("/api/v1/bodies/{body}/persons"),
                json!({"name": "Бақыт"}),
            )
            .await,
        )
        .await;
    let person = person["id"].as_str().unwrap().to_string();
    a.take(
        "PATCH",
        "/api/v1/bodies/{id}/persons/{person}",
        patch(
            format!("/api/v1/bodies/{body}/persons/{person}"),
            json!({"position": "Маман"}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/systems",
        post(
            "/api/v1/systems".into(),
            json!({"code": "st-system", "name": names}),
        )
        .await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/systems/{code}",
        patch("/api/v1/systems/st-system".into(), json!({"name": names})).await,
    )
    .await;
    a.take(
        "PATCH",
        "/api/v1/services/{id}",
        patch(
            format!("/api/v1/services/{service}"),
            json!({"keywords": ["анықтама"]}),
        )
        .await,
    )
    .await;
    a.take(
        "PUT",
        "/api/v1/tickets/{number}/contact/body",
        put(
            format!("/api/v1/tickets/{number}/contact/body"),
            json!({"body": body}),
        )
        .await,
    )
    .await;
    a.take(
        "PUT",
        "/api/v1/calendar/days/{date}",
        put(
            "/api/v1/calendar/days/2026-12-25".into(),
            json!({"kind": "day-off", "note": "Decree No. 1 of 01.12.2026"}),
        )
        .await,
    )
    .await;
    a.take(
        "PUT",
        "/api/v1/calendar/{year}/movable-days",
        put(
            "/api/v1/calendar/2026/movable-days".into(),
            json!({"note": "Decree No. 2 of 01.12.2026"}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/reports/discrepancies/{id}/answer",
        post(
            format!("/api/v1/reports/discrepancies/{discrepancy}/answer"),
            json!({"answer": "Сандар тексерілді"}),
        )
        .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/kb/articles",
        t.post_auth(
            "/api/v1/kb/articles",
            &editor,
            json!({"language": "kk", "title": "Анықтама", "body": "Порталдан алыңыз."}),
        )
        .await,
    )
    .await;
    let raw = "From: Асқар <asqar@mail.kz>\r\nTo: 1414@ucc.kz\r\nSubject: =?UTF-8?B?0KHQv9GA0LDQstC60LA=?=\r\nMessage-ID: <st-1@mail.kz>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nАнықтама керек.\r\n";
    let mail = t
        .client
        .post(format!("{}/api/v1/inbound/email", t.url))
        .bearer_auth(&admin)
        .header("content-type", "message/rfc822")
        .body(raw);
    a.take("POST", "/api/v1/inbound/email", mail.send().await.unwrap())
        .await;
    // The body answers the forward; staff relay the answer to the applicant.
    let agency = t
        .app
        .db
        .write({
            let body = body.clone();
            move |c| {
                baylanys::auth::add_user_in(
                    c,
                    "st-agency-3",
                    "st-agency-3",
                    Role::Agency,
                    None,
                    Some(&body),
                )?;
                Ok(baylanys::auth::create_token(c, "st-agency-3", None)?.expect("user just added"))
            }
        })
        .await
        .unwrap();
    a.take(
        "POST",
        "/api/v1/forwards/{id}/answer",
        t.post_auth(
            &format!("/api/v1/forwards/{forward}/answer"),
            &agency,
            json!({"text": "Жауап беріледі"}),
        )
        .await,
    )
    .await;
    a.take(
        "GET",
        "/api/v1/forwards/{id}",
        t.get_auth(&format!("/api/v1/forwards/{forward}"), &agency)
            .await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/forwards/{id}/relay",
        post(format!("/api/v1/forwards/{forward}/relay"), json!({})).await,
    )
    .await;
    a.take(
        "POST",
        "/api/v1/outages/{id}/cancel",
        post(
            format!("/api/v1/outages/{outage}/cancel"),
            json!({"reason": "Жұмыстар кейінге қалдырылды"}),
        )
        .await,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let doc: Value = t
        .client
        .get(format!("{}/api/v1/openapi.json", t.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (doc_file, answers_file) = (dir.path().join("doc.json"), dir.path().join("answers.json"));
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    // One answer that breaks its schema, to show the check would see one.
    let mut answers = a.0.clone();
    answers
        .push(json!({"method": "GET", "path": "/healthz", "status": 200, "body": {"status": 1}}));
    std::fs::write(&answers_file, Value::Array(answers).to_string()).unwrap();
    let out = tokio::process::Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(&doc_file)
        .arg(&answers_file)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mismatches = String::from_utf8_lossy(&out.stdout);
    let mismatches: Vec<&str> = mismatches
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(
        mismatches.len() == 1 && mismatches[0].starts_with("GET /healthz 200: at /status"),
        "answers the document does not describe ({} answers checked):\n{}",
        a.0.len(),
        mismatches.join("\n")
    );
}

/// Found by schemathesis: two declarations of the same systems at the same instants (a
/// planned one, then an emergency) must each be answered, never with "database
/// unavailable, retry".
async fn o1_declarations_of_the_same_works_at_the_same_time_are_each_recorded(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("st-admin", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/systems",
            &admin,
            json!({"code": "egov", "name": {"kk": "Портал", "ru": "Портал"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // Bodies subscribed to it as schemathesis makes them: one address twice (the body's
    // and its person's), persons without any address, a bare body.
    for body in [
        json!({"kind": "central_state_body", "name": {"kk": "0", "ru": "0"}, "email": "a@b.kz",
               "systems": ["egov"], "persons": [{"name": "0", "email": "a@b.kz"}, {"name": "1", "email": "A@B.KZ"}]}),
        json!({"kind": "local_executive_body", "name": {"kk": "0", "ru": "0"}, "systems": ["egov"],
               "persons": [{"name": "0"}, {"name": "0", "phones": ["1"]}]}),
        json!({"kind": "service_provider", "name": {"kk": "0", "ru": "0"}, "systems": ["egov", "egov"],
               "webhook_url": "http://a.kz", "digest": "daily"}),
        json!({"kind": "e_service_subject", "name": {"kk": "0", "ru": "0"}}),
    ] {
        let r = t.post_auth("/api/v1/bodies", &admin, body).await;
        assert_eq!(r.status(), 201);
    }
    let starts = chrono::Utc::now() + chrono::Duration::days(3);
    let declaration = |kind: &str| {
        let mut d = json!({"kind": kind, "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + chrono::Duration::hours(2)).to_rfc3339(), "systems": ["egov"],
            "impact": "full", "title": {"kk": "0", "ru": "0"}, "text": {"kk": "0", "ru": "0"}});
        if kind == "emergency" {
            d["reason"] = json!("0");
        }
        d
    };
    for kind in ["planned", "planned", "emergency", "emergency"] {
        let r = t
            .post_auth("/api/v1/outages", &admin, declaration(kind))
            .await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{kind}: {body}");
    }
}
