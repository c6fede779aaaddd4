//! Hostile and broken input on the web routes ("Nothing lost, nothing blocked"): every bad
//! input is a clear 4xx with problem+json (or the form again), never a 503 or a reset, on
//! both backends.

use baylanys::auth::Role;
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, appeal, spawn, spawn_config};

both_backends!(
    close_with_bad_json_is_refused_and_leaves_the_ticket_open,
    too_large_bodies_long_urls_and_calendar_years_get_clear_errors,
    a_search_of_a_thousand_words_is_a_422_naming_q,
    nul_bytes_in_operator_input_are_stored_clean_never_a_503,
    attachment_types_are_checked_and_bad_stored_types_download_safely,
    iin_and_bin_structure_is_checked_naming_the_wrong_part,
    oversize_form_uploads_are_refused_not_truncated,
    idempotency_keys_answer_retries_once_and_refuse_a_changed_appeal,
    rate_limit_behind_a_proxy_takes_the_right_most_untrusted_address,
    slow_bodies_time_out_and_uploads_at_once_are_bounded,
);

/// One GET over a plain socket: the status and the body (read to the end).
async fn raw_get(t: &TestApp, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = t.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .await
        .expect("an answer, not a reset");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no status line in {:?}",
                text.chars().take(200).collect::<String>()
            )
        });
    (status, text)
}

/// A registered appeal's number and an operator's token.
async fn ticket(t: &TestApp) -> (String, String) {
    let r = t
        .post_json("/api/v1/appeals", appeal("Порталға кіре алмаймын"))
        .await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    let op = t.token("op", Role::Operator).await;
    (body["number"].as_str().unwrap().to_string(), op)
}

async fn problem(r: reqwest::Response) -> Value {
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "status {}",
        r.status()
    );
    r.json().await.unwrap()
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn detail(t: &TestApp, number: &str, op: &str) -> Value {
    let r = t.get_auth(&format!("/api/v1/tickets/{number}"), op).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn close_with_bad_json_is_refused_and_leaves_the_ticket_open(backend: Backend) {
    let t = spawn(backend).await;
    let (number, op) = ticket(&t).await;
    let url = format!("{}/api/v1/tickets/{number}/close", t.url);
    for body in [r#"{"resolution":123}"#, "garbage", r#"{"resolution":"#] {
        let r = t
            .client
            .post(&url)
            .bearer_auth(&op)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let p = problem(r).await;
        assert!(p["detail"].as_str().unwrap().contains("JSON"), "{p}");
    }
    assert_eq!(detail(&t, &number, &op).await["status"], "new");
    // No body at all still closes, as before.
    let r = t.client.post(&url).bearer_auth(&op).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(detail(&t, &number, &op).await["status"], "closed");
    t.stop().await;
}

async fn too_large_bodies_long_urls_and_calendar_years_get_clear_errors(backend: Backend) {
    let t = spawn_config(backend, |c| c.max_message_bytes = 1024 * 1024).await;
    let ingest = t.token("mta", Role::Ingest).await;
    let r = t
        .client
        .post(format!("{}/api/v1/inbound/email", t.url))
        .bearer_auth(&ingest)
        .body(vec![b'a'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let p = problem(r).await;
    assert_eq!(p["status"], 413);
    assert!(p["detail"].as_str().unwrap().contains("1048576"), "{p}");

    // A 200 KB URL (too long for reqwest to build): a 414 the client can read, not a reset.
    let (status, body) =
        raw_get(&t, &format!("/api/v1/tickets?q={}", "x".repeat(200 * 1024))).await;
    assert_eq!(status, 414);
    assert!(body.contains("\"status\":414"), "problem+json body");
    // Past the limit but inside actix's own buffer: refused the same way.
    let (status, _) = raw_get(&t, &format!("/healthz?{}", "y".repeat(20 * 1024))).await;
    assert_eq!(status, 414);
    let r = t
        .client
        .get(format!("{}/healthz?{}", t.url, "y".repeat(20 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 414);
    assert_eq!(problem(r).await["status"], 414);
    assert_eq!(
        t.client
            .get(format!("{}/healthz", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Years outside the calendar's tables (2000-2100) are named, not printed as +10001.
    for from in ["0001-01-01T10:00:00+05:00", "9999-12-31T10:00:00+05:00"] {
        let r = t
            .client
            .get(format!("{}/api/v1/calendar/due", t.url))
            .query(&[("from", from), ("working_days", "2")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{from}");
        let p = problem(r).await;
        assert_eq!(fields(&p), ["from"]);
        assert!(p.to_string().contains("2000-2100"), "{p}");
    }
    let r = t
        .client
        .get(format!("{}/api/v1/calendar/due", t.url))
        .query(&[
            ("from", "2100-12-01T10:00:00+05:00"),
            ("working_days", "365"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&problem(r).await), ["working_days"]);
    let admin = t.token("root", Role::Admin).await;
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/days/9999-05-17", t.url))
        .bearer_auth(&admin)
        .json(&json!({"kind": "day-off", "note": "decree"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&problem(r).await), ["date"]);
    t.stop().await;
}

async fn a_search_of_a_thousand_words_is_a_422_naming_q(backend: Backend) {
    let t = spawn(backend).await;
    let (_, op) = ticket(&t).await;
    let thousand = vec!["a"; 1000].join(" ");
    let r = t
        .client
        .get(format!("{}/api/v1/tickets", t.url))
        .bearer_auth(&op)
        .query(&[("q", thousand.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p = problem(r).await;
    assert_eq!(fields(&p), ["q"]);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1000 words")
    );
    let twenty = vec!["портал"; 20].join(" ");
    let r = t
        .client
        .get(format!("{}/api/v1/tickets", t.url))
        .bearer_auth(&op)
        .query(&[("q", twenty.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    t.stop().await;
}

async fn nul_bytes_in_operator_input_are_stored_clean_never_a_503(backend: Backend) {
    let t = spawn(backend).await;
    // Appeals: validation sees the cleaned text.
    let mut a = appeal("Порт\u{0}ал\u{7} жұмыс істемейді");
    a["name"] = "Айгүл\u{0}".into();
    let r = t.post_json("/api/v1/appeals", a).await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string();
    let mut only_nul = appeal("\u{0}\u{0}");
    only_nul["name"] = "\u{0}".into();
    let p = problem(t.post_json("/api/v1/appeals", only_nul).await).await;
    assert_eq!(p["status"], 422);
    assert!(fields(&p).contains(&"name".to_string()) && fields(&p).contains(&"text".to_string()));

    let op = t.token("op", Role::Operator).await;
    let admin = t.token("root", Role::Admin).await;
    let d = detail(&t, &number, &op).await;
    assert_eq!(d["messages"][0]["body_text"], "Портал жұмыс істемейді");
    assert_eq!(d["contact"]["name"], "Айгүл");

    let r = t
        .post_auth(
            "/api/v1/queues",
            &admin,
            json!({"code": "ict", "name_kk": "АКТ", "name_ru": "ИКТ"}),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let base = format!("/api/v1/tickets/{number}");
    let pdf = base64_of(b"%PDF-1.4 x");
    for (path, body, want) in [
        ("/assign", json!({"login": "op\u{0}"}), 204),
        (
            "/transfer",
            json!({"queue": "ict\u{0}", "note": "n\u{0}ote"}),
            204,
        ),
        (
            "/status",
            json!({"status": "waiting", "reason": "r\u{0}"}),
            204,
        ),
        (
            "/replies",
            json!({"text": "Жауап\u{0}", "html": "<p>\u{0}</p>",
                   "attachments": [{"file_name": "a\u{0}.pdf", "content_base64": pdf}]}),
            202,
        ),
        ("/close", json!({"resolution": "done\u{0}"}), 204),
    ] {
        let r = t.post_auth(&format!("{base}{path}"), &op, body).await;
        assert_eq!(r.status(), want, "{path}: {}", r.text().await.unwrap());
    }
    let d = detail(&t, &number, &op).await;
    assert_eq!(d["queue"], "ict");
    assert_eq!(d["status"], "closed");
    let reply = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "reply")
        .unwrap();
    assert_eq!(reply["attachments"][0]["file_name"], "a.pdf");
    assert!(!d.to_string().contains("\\u0000"), "{d}");

    // Query parameters and path ids: 200, 404 or 422, never 503.
    for (path, want) in [
        ("/api/v1/tickets?q=%00".to_string(), 200),
        ("/api/v1/tickets?queue=%00".to_string(), 200),
        ("/api/v1/tickets?after=%00".to_string(), 422),
        ("/api/v1/tickets?status=%00".to_string(), 422),
        ("/api/v1/tickets/UCC-2026-%00".to_string(), 404),
        ("/api/v1/tickets/%00".to_string(), 404),
        ("/api/v1/attachments/%00".to_string(), 404),
        ("/api/v1/quarantine/%00".to_string(), 404),
        (format!("{base}x%00"), 404),
    ] {
        let r = t.get_auth(&path, &admin).await;
        assert_eq!(r.status(), want, "{path}");
    }
    let r = t
        .client
        .get(format!("{}/appeals/UCC-%00?key=x%00", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/days/2027-05-17", t.url))
        .bearer_auth(&admin)
        .json(&json!({"kind": "day-off", "note": "decree\u{0} 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["note"], "decree 1");
    let r = t
        .client
        .put(format!("{}/api/v1/calendar/2027/movable-days", t.url))
        .bearer_auth(&admin)
        .json(&json!({"note": "\u{0}all set"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    t.stop().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn attachment_types_are_checked_and_bad_stored_types_download_safely(backend: Backend) {
    use baylanys::db::schema::attachments;
    use diesel::prelude::*;
    let t = spawn(backend).await;
    let (number, op) = ticket(&t).await;
    let url = format!("/api/v1/tickets/{number}/replies");
    let r = t
        .post_auth(
            &url,
            &op,
            json!({"text": "x", "attachments": [{"file_name": "a.html",
                "content_type": "text/html\r\nSet-Cookie: x=1", "content_base64": base64_of(b"<b>")}]}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(fields(&problem(r).await), ["attachments[0].content_type"]);
    // No type: sniffed from the bytes; a path in the name is flattened as mail's are.
    let r = t
        .post_auth(
            &url,
            &op,
            json!({"text": "x", "attachments": [{"file_name": "../../etc/passwd",
                "content_base64": base64_of(b"%PDF-1.4 x")}]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let d = detail(&t, &number, &op).await;
    let file = d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["attachments"].as_array().unwrap().clone())
        .next()
        .unwrap();
    assert_eq!(file["file_name"], ".._.._etc_passwd");
    assert_eq!(file["content_type"], "application/pdf");
    let id = file["id"].as_str().unwrap().to_string();
    // A row stored before types were checked is served as a plain download.
    let stored = id.clone();
    t.app
        .db
        .write(move |c| {
            diesel::update(attachments::table.find(&stored))
                .set(attachments::content_type.eq("text/html\r\nSet-Cookie: x=1"))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let r = t.get_auth(&format!("/api/v1/attachments/{id}"), &op).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 x");

    // The form's file names are flattened too.
    let form = crate::form_with("..\\..\\справка.pdf", b"%PDF-1.4 y", "application/pdf");
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let n = location
        .trim_start_matches("/appeals/")
        .split('?')
        .next()
        .unwrap();
    let d = detail(&t, n, &op).await;
    assert_eq!(
        d["messages"][0]["attachments"][0]["file_name"],
        ".._.._справка.pdf"
    );
    t.stop().await;
}

/// 11 digits and the check digit that makes them a valid number, when there is one.
fn with_check_digit(first11: &str) -> Option<String> {
    let d: Vec<u32> = first11.bytes().map(|b| u32::from(b - b'0')).collect();
    let weighted = |offset: u32| -> u32 {
        (0..11)
            .map(|i| d[i] * (((i as u32 + offset) % 11) + 1))
            .sum::<u32>()
            % 11
    };
    let mut check = weighted(0);
    if check == 10 {
        check = weighted(2);
    }
    (check != 10).then(|| format!("{first11}{check}"))
}

async fn iin_and_bin_structure_is_checked_naming_the_wrong_part(backend: Backend) {
    let t = spawn(backend).await;
    let month_75 = (0..10)
        .find_map(|x| with_check_digit(&format!("9075153000{x}")))
        .unwrap();
    let mut a = appeal("ЖСН тексеру");
    a["iin"] = month_75.clone().into();
    let p = problem(t.post_json("/api/v1/appeals", a).await).await;
    assert_eq!(p["status"], 422);
    let e = &p["errors"][0];
    assert_eq!(e["field"], "iin");
    assert!(e["message"].as_str().unwrap().contains("birth date"), "{e}");
    let mut a = appeal("ЖСН тексеру");
    a["iin"] = (0..10)
        .find_map(|x| with_check_digit(&format!("9001010000{x}")))
        .unwrap()
        .into();
    let p = problem(t.post_json("/api/v1/appeals", a).await).await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("7th digit"),
        "{p}"
    );
    // A real IIN and a real BIN still pass.
    for first in ["9001013000", "1405400012"] {
        let mut a = appeal("ЖСН тексеру");
        a["iin"] = (0..10)
            .find_map(|x| with_check_digit(&format!("{first}{x}")))
            .unwrap()
            .into();
        assert_eq!(
            t.post_json("/api/v1/appeals", a).await.status(),
            201,
            "{first}"
        );
    }
    // The form says it in the visitor's language.
    let bin_month_13 = (0..10)
        .find_map(|x| with_check_digit(&format!("1413400012{x}")))
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", "Серік")
        .text("email", "serik@example.kz")
        .text("region", "almaty")
        .text("topic", "other")
        .text("text", "БСН")
        .text("iin", bin_month_13)
        .text("consent", "yes")
        .text("language", "kk");
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("БСН: 3-4-ші цифрлар"));
    t.stop().await;
}

async fn oversize_form_uploads_are_refused_not_truncated(backend: Backend) {
    let max = 100_000u64;
    let t = spawn_config(backend, |c| c.max_attachment_bytes = max).await;
    let op = t.token("op", Role::Operator).await;
    // One byte over, ten over, ten times and a hundred times the limit.
    for size in [
        max as usize + 1,
        max as usize + 10,
        10 * max as usize,
        100 * max as usize,
    ] {
        let form = crate::form_with("scan.pdf", &vec![b'%'; size], "application/pdf");
        let r = t
            .client
            .post(format!("{}/appeals", t.url))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{size} bytes");
        let page = r.text().await.unwrap();
        assert!(page.contains("scan.pdf"), "{size}: the form names the file");
        assert!(
            page.contains("name=\"text\""),
            "{size}: the form is shown again"
        );
    }
    let list: Value = t
        .get_auth("/api/v1/tickets", &op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["tickets"].as_array().unwrap().len(), 0);
    // Exactly the limit is accepted and stored whole.
    let form = crate::form_with("scan.pdf", &vec![b'%'; max as usize], "application/pdf");
    let r = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let list: Value = t
        .get_auth("/api/v1/tickets", &op)
        .await
        .json()
        .await
        .unwrap();
    let number = list["tickets"][0]["number"].as_str().unwrap().to_string();
    let d = detail(&t, &number, &op).await;
    assert_eq!(d["messages"][0]["attachments"][0]["size"], max);
    t.stop().await;
}

async fn ticket_count(t: &TestApp) -> usize {
    use baylanys::db::schema::tickets;
    use diesel::prelude::*;
    t.app
        .db
        .run(|c| Ok(tickets::table.count().get_result::<i64>(c)?))
        .await
        .unwrap() as usize
}

async fn idempotency_keys_answer_retries_once_and_refuse_a_changed_appeal(backend: Backend) {
    use baylanys::db::schema::idempotency_keys;
    use diesel::prelude::*;
    let t = spawn(backend).await;
    let send = |key: &'static str, body: Value| {
        t.client
            .post(format!("{}/api/v1/appeals", t.url))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send("k-1", appeal("Бір рет")).await.unwrap();
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first = first.text().await.unwrap();
    let again = send("k-1", appeal("Бір рет")).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    assert_eq!(again.text().await.unwrap(), first);
    let p = problem(send("k-1", appeal("Басқа мәтін")).await.unwrap()).await;
    assert_eq!(p["status"], 422);
    assert_eq!(fields(&p), ["Idempotency-Key"]);
    assert_eq!(ticket_count(&t).await, 1);
    let bad = t
        .client
        .post(format!("{}/api/v1/appeals", t.url))
        .header("Idempotency-Key", "x".repeat(300))
        .json(&appeal("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    // Concurrent duplicates: the unique key lets one register; all get its answer.
    let answers =
        futures_util::future::join_all((0..8).map(|_| send("k-2", appeal("Бірге")))).await;
    let mut bodies = Vec::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 201);
        bodies.push(a.text().await.unwrap());
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(ticket_count(&t).await, 2);

    // The record is in the database with the registration: another instance answers it.
    let other = crate::support::spawn_on(&t.database_url, None, 0, Vec::new()).await;
    let r = other
        .client
        .post(format!("{}/api/v1/appeals", other.url))
        .header("Idempotency-Key", "k-1")
        .json(&appeal("Бір рет"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.text().await.unwrap(), first);
    other.stop().await;

    // The same form page sent twice registers once.
    let form = || {
        crate::form_with("a.pdf", b"%PDF-1.4", "application/pdf")
            .text("idempotency_key", "form-token-1")
    };
    let one = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form())
        .send()
        .await
        .unwrap();
    let two = t
        .client
        .post(format!("{}/appeals", t.url))
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 303);
    assert_eq!(two.status(), 303);
    assert_eq!(one.headers()["location"], two.headers()["location"]);
    assert_eq!(ticket_count(&t).await, 3);

    // Records are kept 24 hours, then the hourly housekeeping forgets them.
    let old = (chrono::Utc::now() - chrono::Duration::hours(25)).naive_utc();
    t.app
        .db
        .write(move |c| {
            diesel::update(idempotency_keys::table.filter(idempotency_keys::key.eq("api:k-1")))
                .set(idempotency_keys::created_at.eq(old))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    t.app.housekeeping().await;
    let keys: Vec<String> = t
        .app
        .db
        .run(|c| {
            Ok(idempotency_keys::table
                .select(idempotency_keys::key)
                .order(idempotency_keys::key)
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(keys, ["api:k-2", "form:form-token-1"]);
    t.stop().await;
}

async fn rate_limit_behind_a_proxy_takes_the_right_most_untrusted_address(backend: Backend) {
    let t = spawn_config(backend, |c| {
        c.rate_limit_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // The client forges a first line; the proxy (HAProxy `option forwardfor`) adds its own.
    let from = |forged: String, real: &'static str| {
        t.client
            .post(format!("{}/api/v1/appeals", t.url))
            .header("X-Forwarded-For", forged)
            .header("X-Forwarded-For", real)
            .json(&appeal("текст"))
            .send()
    };
    assert_eq!(
        from("203.0.113.1".into(), "198.51.100.7")
            .await
            .unwrap()
            .status(),
        201
    );
    for n in 2..5 {
        let r = from(format!("203.0.113.{n}"), "198.51.100.7")
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "a forged line does not buy a new budget");
    }
    assert_eq!(
        from("203.0.113.1".into(), "198.51.100.8")
            .await
            .unwrap()
            .status(),
        201
    );
    t.stop().await;
}

/// Sends a request head announcing `length` bytes of body and only `partial` of them.
async fn slow_post(t: &TestApp, length: usize, partial: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = t.url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/appeals HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{partial}"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn answer_of(mut s: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .await
        .expect("an answer, not a reset");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn slow_bodies_time_out_and_uploads_at_once_are_bounded(backend: Backend) {
    let t = spawn_config(backend, |c| c.body_timeout_secs = 1).await;
    let answer = answer_of(slow_post(&t, 500, "{\"name\": \"Ай").await).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("application/problem+json")
            && answer.contains("BAYLANYS_BODY_TIMEOUT_SECS")
    );
    assert_eq!(ticket_count(&t).await, 0);
    t.stop().await;

    let t = spawn_config(backend, |c| c.max_concurrent_uploads = 2).await;
    let held = [slow_post(&t, 500, "{").await, slow_post(&t, 500, "{").await];
    // Both slots are taken once the server has read their heads.
    crate::support::eventually("two bodies being read", || async {
        t.post_json("/api/v1/appeals", appeal("x")).await.status() == 503
    })
    .await;
    let r = t.post_json("/api/v1/appeals", appeal("x")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    assert!(
        problem(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("uploads")
    );
    // Bodies without content are not uploads: reads go on.
    assert_eq!(
        t.client
            .get(format!("{}/healthz", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop(held);
    crate::support::eventually("the slots are given back", || async {
        t.post_json("/api/v1/appeals", appeal("x")).await.status() == 201
    })
    .await;
    t.stop().await;
}
