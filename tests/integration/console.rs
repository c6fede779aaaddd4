//! The operator console (issue 12): sign-in into a database-kept session, its cookie,
//! idle and absolute expiry, sign-out, the lock after failed sign-ins, CSRF on every
//! form, the language switch; over HTTP and in headless Chromium, on both backends.

use baylanys::auth::Role;
use diesel::prelude::*;

use crate::browser::Driver;
use crate::support::{Backend, TestApp, spawn, spawn_config, spawn_on};

both_backends!(
    console_sessions_live_in_the_database_expire_and_end_at_sign_out,
    console_sign_in_locks_after_repeated_failures_with_a_clear_message,
    console_forms_without_the_session_csrf_token_are_refused,
    console_forms_cut_short_are_refused_at_once,
    console_in_chromium_sign_in_lockout_csrf_and_sign_out,
);

pub(crate) const PASSWORD: &str = "correct horse battery";

/// Adds a staff member who signs in with [`PASSWORD`].
pub(crate) async fn staff(t: &TestApp, login: &str, role: Role) {
    let login = login.to_string();
    t.app
        .db
        .write(move |c| {
            baylanys::auth::add_user(c, &login, &format!("{login} name"), role, Some(PASSWORD))?;
            Ok(())
        })
        .await
        .expect("user added");
}

/// A browser without a browser: keeps the console's cookies between requests.
pub(crate) struct Browser<'a> {
    pub t: &'a TestApp,
    pub cookies: std::collections::BTreeMap<String, String>,
}

pub(crate) fn csrf_in(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no csrf field in:\n{html}"))[1]
        .to_string()
}

impl<'a> Browser<'a> {
    pub fn new(t: &'a TestApp) -> Browser<'a> {
        Browser {
            t,
            cookies: Default::default(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0") {
                self.cookies.remove(k.trim());
            } else {
                self.cookies.insert(k.trim().into(), val.trim().into());
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let r = self
            .t
            .client
            .get(format!("{}{path}", self.t.url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("the server answers");
        self.keep(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let r = self
            .t
            .client
            .post(format!("{}{path}", self.t.url))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("the server answers");
        self.keep(&r);
        r
    }

    pub async fn post_multipart(
        &mut self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        let r = self
            .t
            .client
            .post(format!("{}{path}", self.t.url))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .expect("the server answers");
        self.keep(&r);
        r
    }

    /// Tries to sign in; returns the answer to the form.
    pub async fn sign_in_as(&mut self, login: &str, password: &str) -> reqwest::Response {
        let page = self.get("/console/login").await.text().await.unwrap();
        let csrf = csrf_in(&page);
        self.post(
            "/console/login",
            &[("login", login), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// Signs in and returns the session's CSRF token.
    pub async fn sign_in(&mut self, login: &str) -> String {
        let r = self.sign_in_as(login, PASSWORD).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let page = self.get("/console/").await;
        assert_eq!(page.status(), 200);
        csrf_in(&page.text().await.unwrap())
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn console_sessions_live_in_the_database_expire_and_end_at_sign_out(backend: Backend) {
    let t = spawn(backend).await;
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    // Not signed in: to the sign-in, and back here after.
    let r = b.get("/console/").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console/login?next=%2Fconsole%2F");
    let r = b.get("/console/login?next=%2Fconsole%2F").await;
    assert_eq!(r.status(), 200);
    let login_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"),
        "{login_cookie}"
    );
    let csrf = csrf_in(&r.text().await.unwrap());
    let r = b
        .post(
            "/console/login",
            &[
                ("login", "aliya"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "/console/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console/");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("baylanys_console="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/console")
            && !cookie.contains("Secure"),
        "plain HTTP: no Secure; {cookie}"
    );
    let page = b.get("/console/").await.text().await.unwrap();
    assert!(page.contains("aliya name"), "{page}");
    assert!(page.contains("lang=\"kk\""), "Kazakh by default");
    // Only the token's hash is stored.
    let token = b.cookies["baylanys_console"].clone();
    let stored: Vec<String> = t
        .app
        .db
        .run(|c| {
            use baylanys::db::schema::console_sessions;
            Ok(console_sessions::table
                .select(console_sessions::id)
                .load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(stored, [baylanys::auth::hash_secret(&token)]);

    // Any instance serves the session: a second server on the same database.
    let other = spawn_on(&t.database_url, None, 0, Vec::new()).await;
    let mut b2 = Browser::new(&other);
    b2.cookies = b.cookies.clone();
    let r = b2.get("/console/").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("aliya name"));
    drop(b2);
    other.stop().await;

    // A redirect target is a console path, never another site.
    let r = b.get("/console/login").await;
    let csrf = csrf_in(&r.text().await.unwrap());
    let mut evil = Browser::new(&t);
    evil.cookies = b.cookies.clone();
    evil.cookies.remove("baylanys_console");
    let r = evil
        .post(
            "/console/login",
            &[
                ("login", "aliya"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("next", "//evil.example/console/"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/console/");

    // Idle for longer than allowed: the session is over.
    let evil_token = evil.cookies["baylanys_console"].clone();
    let age = |token: String, column: &'static str| {
        let t = &t;
        async move {
            t.app
                .db
                .write(move |c| {
                    use baylanys::db::schema::console_sessions as s;
                    let id = baylanys::auth::hash_secret(&token);
                    let old = baylanys::db::now() - chrono::Duration::hours(13);
                    match column {
                        "idle" => diesel::update(s::table.find(id))
                            .set(s::last_seen_at.eq(old))
                            .execute(c)?,
                        _ => diesel::update(s::table.find(id))
                            .set(s::expires_at.eq(old))
                            .execute(c)?,
                    };
                    Ok(())
                })
                .await
                .unwrap()
        }
    };
    age(evil_token, "idle").await;
    let r = evil.get("/console/").await;
    assert_eq!(r.status(), 303, "idle expiry");
    assert!(
        !evil.cookies.contains_key("baylanys_console"),
        "the dead cookie is removed"
    );
    // Past its absolute expiry, however active.
    let r = evil.sign_in_as("aliya", PASSWORD).await;
    assert_eq!(r.status(), 303);
    age(evil.cookies["baylanys_console"].clone(), "absolute").await;
    assert_eq!(evil.get("/console/").await.status(), 303, "absolute expiry");

    // Sign-out ends the session in the database: the old cookie is worth nothing.
    let page = b.get("/console/").await.text().await.unwrap();
    let csrf = csrf_in(&page);
    let old = b.cookies.clone();
    let r = b.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/console/login?signed_out=1"));
    let mut replay = Browser::new(&t);
    replay.cookies = old;
    assert_eq!(replay.get("/console/").await.status(), 303);

    // Machines have tokens, never console sessions.
    staff(&t, "mta", Role::Ingest).await;
    let r = Browser::new(&t).sign_in_as("mta", PASSWORD).await;
    assert_eq!(r.status(), 401);
    // A bearer token does not open the console.
    let token = t.token("api-op", Role::Operator).await;
    assert_eq!(t.get_auth("/console/", &token).await.status(), 303);
    t.stop().await;

    // Behind TLS (an https public URL) the cookie is Secure.
    let t = spawn_config(backend, |c| {
        c.public_url = "https://console.example.kz".into()
    })
    .await;
    staff(&t, "aliya", Role::Operator).await;
    let r = Browser::new(&t).sign_in_as("aliya", PASSWORD).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("baylanys_console="))
        .expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    t.stop().await;
}

async fn console_sign_in_locks_after_repeated_failures_with_a_clear_message(backend: Backend) {
    let t = spawn(backend).await;
    staff(&t, "bauyrzhan", Role::Operator).await;
    let mut b = Browser::new(&t);
    b.get("/console/login?lang=ru").await;
    for left in (1..5).rev() {
        let r = b.sign_in_as("bauyrzhan", "wrong").await;
        assert_eq!(r.status(), 401);
        let page = r.text().await.unwrap();
        assert!(
            page.contains(&format!("осталось попыток: {left}"))
                || page.contains(&format!("{left}")),
            "{page}"
        );
    }
    let r = b.sign_in_as("bauyrzhan", "wrong").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let page = r.text().await.unwrap();
    assert!(
        page.contains("бұғатталды") || page.contains("заблокирован"),
        "{page}"
    );
    // Locked: even the right password is refused, on every instance.
    let r = b.sign_in_as("bauyrzhan", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(!b.cookies.contains_key("baylanys_console"));
    // Another login is not affected.
    staff(&t, "dana", Role::Supervisor).await;
    assert_eq!(
        Browser::new(&t).sign_in_as("dana", PASSWORD).await.status(),
        303
    );
    // An administrator lifts the lock.
    t.app
        .db
        .write(|c| baylanys::console::sessions::unlock(c, "bauyrzhan"))
        .await
        .unwrap();
    assert_eq!(b.sign_in_as("bauyrzhan", PASSWORD).await.status(), 303);
    // Hostile input: an enormous login, control characters, an empty form.
    let long = "x".repeat(100_000);
    let r = Browser::new(&t).sign_in_as(&long, "p").await;
    assert!(r.status() == 401 || r.status() == 413, "{}", r.status());
    let r = Browser::new(&t).sign_in_as("a\u{0}b\r\n", "p").await;
    assert_eq!(r.status(), 401);
    let mut empty = Browser::new(&t);
    let page = empty.get("/console/login").await.text().await.unwrap();
    let r = empty
        .post("/console/login", &[("csrf", &csrf_in(&page))])
        .await;
    assert_eq!(r.status(), 422);
    t.stop().await;
}

async fn console_forms_without_the_session_csrf_token_are_refused(backend: Backend) {
    let t = spawn(backend).await;
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    // The sign-in form itself: without its double-submit cookie, refused.
    let page = b.get("/console/login").await.text().await.unwrap();
    let csrf = csrf_in(&page);
    let mut stranger = Browser::new(&t);
    let r = stranger
        .post(
            "/console/login",
            &[("login", "aliya"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 403);
    let csrf = b.sign_in("aliya").await;
    // Without the token, or with another's: 403 and nothing changes.
    for form in [
        vec![("lang", "en")],
        vec![("lang", "en"), ("csrf", "0".repeat(64).as_str())],
        vec![("lang", "en"), ("csrf", "")],
    ] {
        let r = b.post("/console/language", &form).await;
        assert_eq!(r.status(), 403);
        let page = r.text().await.unwrap();
        assert!(page.contains("CSRF"), "{page}");
    }
    assert!(
        b.get("/console/")
            .await
            .text()
            .await
            .unwrap()
            .contains("lang=\"kk\"")
    );
    // In a multipart form too.
    let form = reqwest::multipart::Form::new().text("lang", "en");
    assert_eq!(
        b.post_multipart("/console/language", form).await.status(),
        403
    );
    let form = reqwest::multipart::Form::new()
        .text("lang", "ru")
        .text("csrf", csrf.clone());
    // Past the CSRF check; this form itself takes only urlencoded bodies.
    assert_eq!(
        b.post_multipart("/console/language", form).await.status(),
        415
    );
    // With it: the language is the user's from now on (English too).
    let r = b
        .post(
            "/console/language",
            &[("lang", "en"), ("csrf", &csrf), ("back", "/console/")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.get("/console/").await.text().await.unwrap();
    assert!(
        page.contains("lang=\"en\"") && page.contains("Sign out"),
        "{page}"
    );
    // An unknown language is named.
    let r = b
        .post("/console/language", &[("lang", "fr"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 422);
    // Sign-out needs the token as well.
    assert_eq!(b.post("/console/logout", &[]).await.status(), 403);
    assert_eq!(b.get("/console/").await.status(), 200, "still signed in");
    t.stop().await;
}

/// A multipart form whose closing boundary is mangled (the body ends inside its last
/// part) gets its answer at once, from the CSRF check and from the reply form's reader
/// both, and sends nothing: actix-multipart alone would wait for ever.
async fn console_forms_cut_short_are_refused_at_once(backend: Backend) {
    let t = spawn(backend).await;
    let number = register(&t, "Вопрос о справке").await;
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    let csrf = b.sign_in("aliya").await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let part = |name: &str, value: &str| {
        format!("--b0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let mangled = b"--\xb4b0undary--\r\n".to_vec();
    let with_token = [
        part("csrf", &csrf).into_bytes(),
        part("final", "yes").into_bytes(),
        b"--b0undary\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"a.pdf\"\r\n\
          Content-Type: application/pdf\r\n\r\n%PDF-1.4 x\r\n"
            .to_vec(),
        mangled.clone(),
    ]
    .concat();
    // The token's own part cut short.
    let cut_token = [
        format!("--b0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}")
            .into_bytes(),
        mangled,
    ]
    .concat();
    for (path, body, status) in [
        (
            format!("/console/tickets/{number}/reply"),
            with_token.clone(),
            422,
        ),
        (format!("/console/tickets/{number}/kb"), with_token, 422),
        (format!("/console/tickets/{number}/reply"), cut_token, 403),
    ] {
        let r = client
            .post(format!("{}{path}", t.url))
            .header("cookie", b.cookie_header())
            .header("content-type", "multipart/form-data; boundary=b0undary")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        assert_eq!(r.status(), status, "{path}");
    }
    let ticket = b
        .get(&format!("/console/tickets/{number}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!ticket.contains("a.pdf"), "nothing was sent");
    t.stop().await;
}

async fn console_in_chromium_sign_in_lockout_csrf_and_sign_out(backend: Backend) {
    let t = spawn(backend).await;
    staff(&t, "aliya", Role::Operator).await;
    staff(&t, "marat", Role::Operator).await;
    let d = Driver::start().await;

    // Lockout: five wrong passwords, then even the right one is refused, and it says why.
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    for i in 0..5 {
        if i == 0 {
            // The page keeps the login after a failure.
            d.type_into("#login", "marat").await;
        }
        d.type_into("#password", "wrong").await;
        d.click("#sign-in").await;
        if i < 4 {
            // Each answer says how many tries are left (and is a new page, not the last).
            d.wait_for_text(&format!("осталось попыток: {}", 4 - i))
                .await;
        }
    }
    d.wait_for_text("заблокирован до").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("заблокирован до").await;
    d.screenshot(&format!("console-locked-{backend:?}")).await;

    // Sign-in from the keyboard alone, back to the page asked for.
    d.goto(&format!("{}/console/", t.url)).await;
    d.find("#login").await;
    assert!(d.url().await.contains("/console/login?next="));
    d.click("#login").await;
    d.keys("aliya\t").await;
    d.keys(PASSWORD).await;
    d.keys("\u{E007}").await;
    d.wait_for_text("aliya name").await;
    assert!(d.url().await.ends_with("/console/"), "{}", d.url().await);

    // CSRF: a form whose token was tampered with is refused, nothing changes.
    d.execute(
        "document.querySelector('form[action=\"/console/language\"] input[name=csrf]').value = 'forged';",
        vec![],
    )
    .await;
    d.click("#language-switch option[value=en]").await;
    d.click("form[action=\"/console/language\"] button").await;
    d.wait_for_text("CSRF").await;
    d.screenshot(&format!("console-csrf-{backend:?}")).await;
    d.goto(&format!("{}/console/", t.url)).await;
    d.wait_for_text("Шығу").await;

    // Sign-out.
    d.click("#sign-out").await;
    d.wait_for_text("Сеанс аяқталды").await;
    d.goto(&format!("{}/console/", t.url)).await;
    d.find("#login").await;
    d.quit().await;
    t.stop().await;
}

// ---------------------------------------------------------------------------------------
// The operator's day: the queue, the ticket, working together.

both_backends!(
    console_queue_sorts_by_due_marks_overdue_in_words_filters_counts_and_refuses_other_roles,
    console_reply_in_chromium_reaches_the_applicant_by_email_and_a_transfer_moves_the_ticket,
    console_a_reply_after_a_newer_answer_is_refused_with_409_and_shows_it,
    console_notes_are_never_sent_and_presence_names_the_other_operator,
    console_pages_have_no_serious_accessibility_violations,
);

async fn register(t: &TestApp, text: &str) -> String {
    let r = t
        .post_json("/api/v1/appeals", crate::support::appeal(text))
        .await;
    assert_eq!(r.status(), 201);
    r.json::<serde_json::Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn set_due(t: &TestApp, number: &str, hours_from_now: i64) {
    let number = number.to_string();
    t.app
        .db
        .write(move |c| {
            use baylanys::db::schema::tickets;
            diesel::update(tickets::table.filter(tickets::number.eq(number)))
                .set(
                    tickets::due_at
                        .eq(baylanys::db::now() + chrono::Duration::hours(hours_from_now)),
                )
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn console_queue_sorts_by_due_marks_overdue_in_words_filters_counts_and_refuses_other_roles(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let late = register(&t, "Справка о несудимости не пришла").await;
    let soon = register(&t, "Вопрос об ЭЦП").await;
    let later = register(&t, "Жеке куәлік туралы сұрақ").await;
    set_due(&t, &late, -3).await;
    set_due(&t, &soon, 1).await;
    set_due(&t, &later, 100).await;
    staff(&t, "aliya", Role::Supervisor).await;
    let mut b = Browser::new(&t);
    let csrf = b.sign_in("aliya").await;
    b.post("/console/language", &[("lang", "ru"), ("csrf", &csrf)])
        .await;
    let r = b.get("/console/queue?view=all").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    // Soonest due first; overdue said in words, not only in colour.
    let (a, s, l) = (
        page.find(&late).unwrap(),
        page.find(&soon).unwrap(),
        page.find(&later).unwrap(),
    );
    assert!(a < s && s < l, "sorted by due");
    assert!(page.contains("просрочено"), "{page}");
    // Counts per view and per status.
    assert!(page.contains("id=\"view-all\""));
    // Search through the ticket search, filters by channel.
    let page = b
        .get("/console/queue?view=all&q=%D1%81%D0%BF%D1%80%D0%B0%D0%B2%D0%BA")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&late) && !page.contains(&soon), "search");
    let page = b
        .get("/console/queue?view=all&channel=telegram")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"empty\""));
    let r = b.get("/console/queue?view=all&status=lost").await;
    assert_eq!(r.status(), 422);
    // The poll says what the newest ticket is.
    let v: serde_json::Value = b
        .get("/console/queue/poll?view=all")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 3);
    // Bulk: take two at once; then they are in "mine".
    let page = b.get("/console/queue?view=all").await.text().await.unwrap();
    let csrf = csrf_in(&page);
    let r = b
        .post(
            "/console/queue/bulk",
            &[
                ("csrf", &csrf),
                ("action", "take"),
                ("ticket", &late),
                ("ticket", &soon),
                ("back", "/console/queue?view=mine"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let mine = b
        .get("/console/queue?view=mine")
        .await
        .text()
        .await
        .unwrap();
    assert!(mine.contains(&late) && mine.contains(&soon) && !mine.contains(&later));
    // Saved filters.
    let r = b
        .post(
            "/console/filters",
            &[
                ("csrf", &csrf),
                ("name", "ЭЦП"),
                ("query", "view=all&q=ЭЦП"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.get("/console/queue").await.text().await.unwrap();
    assert!(page.contains("ЭЦП"));
    // The same list through the JSON API, soonest due first.
    let token = t.token("api-reader", Role::Operator).await;
    let v: serde_json::Value = t
        .get_auth("/api/v1/tickets?sort=due&open=true", &token)
        .await
        .json()
        .await
        .unwrap();
    let numbers: Vec<&str> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, [late.as_str(), soon.as_str(), later.as_str()]);
    // A role without the tickets: a 403 page, not the queue.
    staff(&t, "editor", Role::Editor).await;
    let mut e = Browser::new(&t);
    e.sign_in("editor").await;
    let r = e.get("/console/queue").await;
    assert_eq!(r.status(), 403);
    t.stop().await;
}

async fn console_reply_in_chromium_reaches_the_applicant_by_email_and_a_transfer_moves_the_ticket(
    backend: Backend,
) {
    let sink = crate::email::mail_support::SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| c.smtp_url = Some(url)).await;
    let number = register(&t, "Не могу войти на портал").await;
    // The acknowledgement goes first.
    sink.wait_for_messages(1, std::time::Duration::from_secs(20));
    let admin = t.token("setup-admin", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/queues",
            &admin,
            serde_json::json!({"code": "egov", "name_kk": "eGov", "name_ru": "eGov"}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    staff(&t, "aliya", Role::Operator).await;
    let d = Driver::start().await;
    d.goto(&format!("{}/console/login?lang=ru", t.url)).await;
    d.type_into("#login", "aliya").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Выйти").await;
    // From the queue to the ticket with the keyboard: the link, Enter.
    d.goto(&format!("{}/console/queue?view=unassigned", t.url))
        .await;
    d.wait_for_text(&number).await;
    d.click(".ticket-link").await;
    d.wait_for_text("Не могу войти на портал").await;
    d.click("#take").await;
    d.wait_for_text("обращение назначено вам").await;
    // The reply box from the keyboard alone.
    d.click("#reply-text").await;
    d.keys("Зайдите через ЭЦП.").await;
    d.click("#reply-send").await;
    d.wait_for_text("ответ поставлен в очередь").await;
    d.screenshot(&format!("console-replied-{backend:?}")).await;
    let sent = sink.wait_for_messages(2, std::time::Duration::from_secs(20));
    let reply = String::from_utf8_lossy(&sent[1]).to_string();
    assert!(reply.contains("aigul@example.kz"), "{reply}");
    let parsed = mail_parser::MessageParser::default()
        .parse(&sent[1])
        .expect("the reply parses");
    assert!(
        parsed
            .body_text(0)
            .unwrap_or_default()
            .contains("Зайдите через ЭЦП."),
        "{reply}"
    );
    d.wait_for_text("Наше сообщение").await;
    // A transfer to a queue from the administrator's list.
    d.click("#transfer-queue option[value=egov]").await;
    d.click("#transfer").await;
    d.wait_for_text("передано в другую очередь").await;
    assert_eq!(d.text("#ticket-queue").await, "egov");
    d.quit().await;
    let token = t.token("api-reader", Role::Operator).await;
    let v: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["queue"], "egov");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "transferred")
    );
    t.stop().await;
}

fn latest_of(page: &str) -> String {
    regex::Regex::new(r#"name="last_seen" value="([^"]+)""#)
        .unwrap()
        .captures(page)
        .unwrap()[1]
        .to_string()
}

async fn console_a_reply_after_a_newer_answer_is_refused_with_409_and_shows_it(backend: Backend) {
    let t = spawn(backend).await;
    let number = register(&t, "Вопрос о справке").await;
    staff(&t, "aliya", Role::Operator).await;
    staff(&t, "marat", Role::Operator).await;
    let (mut a, mut m) = (Browser::new(&t), Browser::new(&t));
    a.sign_in("aliya").await;
    m.sign_in("marat").await;
    let url = format!("/console/tickets/{number}");
    let seen_re = regex::Regex::new(r#"name="last_seen" value="([^"]+)""#).unwrap();
    let page_a = a.get(&url).await.text().await.unwrap();
    let page_m = m.get(&url).await.text().await.unwrap();
    let (seen_a, seen_m) = (
        seen_re.captures(&page_a).unwrap()[1].to_string(),
        seen_re.captures(&page_m).unwrap()[1].to_string(),
    );
    let reply = |csrf: String, seen: String, text: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf)
            .text("last_seen", seen)
            .text("final", "yes")
            .text("text", text.to_string())
            .part(
                "attachments",
                reqwest::multipart::Part::bytes(b"%PDF-1.4 answer".to_vec())
                    .file_name("answer.pdf"),
            )
    };
    let r = a
        .post_multipart(
            &format!("{url}/reply"),
            reply(csrf_in(&page_a), seen_a, "Ответ Алии"),
        )
        .await;
    assert_eq!(r.status(), 303);
    // Marat's form saw the thread before Aliya's answer: refused, her answer shown, his
    // text kept.
    let r = m
        .post_multipart(
            &format!("{url}/reply"),
            reply(csrf_in(&page_m), seen_m.clone(), "Ответ Марата"),
        )
        .await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Ответ Алии") && page.contains("Ответ Марата"),
        "{page}"
    );
    // Aliya's file is there to download.
    let file_re = regex::Regex::new(r#"href="(/console/attachments/[^"]+)""#).unwrap();
    let file = file_re.captures(&page).expect("a file link")[1].to_string();
    let r = m.get(&file).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 answer");
    // Only one answer went out.
    let token = t.token("api-op", Role::Operator).await;
    let v: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let replies = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "reply")
        .count();
    assert_eq!(replies, 1);
    // Hostile or broken forms: named, nothing sent.
    let page = m.get(&url).await.text().await.unwrap();
    let csrf = csrf_in(&page);
    for (field, value, status) in [
        ("last_seen", "0190a1a2-0000-7000-8000-000000000001", 422),
        ("card", "not-a-body", 422),
        ("text", "   ", 422),
    ] {
        let mut form = reqwest::multipart::Form::new().text("csrf", csrf.clone());
        if field != "last_seen" {
            form = form.text("last_seen", latest_of(&page));
        }
        if field != "text" {
            form = form.text("text", "Текст");
        }
        let form = form.text(field, value);
        let r = m.post_multipart(&format!("{url}/reply"), form).await;
        assert_eq!(r.status(), status, "{field}={value}");
    }
    // The JSON API refuses the same way.
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &token,
            serde_json::json!({"text": "Ещё один", "last_seen_message_id": seen_m}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let latest = v["last_message_id"].as_str().unwrap().to_string();
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/replies"),
            &token,
            serde_json::json!({"text": "Дополнение", "last_seen_message_id": latest}),
        )
        .await;
    assert_eq!(r.status(), 202);
    t.stop().await;
}

async fn console_notes_are_never_sent_and_presence_names_the_other_operator(backend: Backend) {
    let sink = crate::email::mail_support::SmtpSink::start();
    let url = sink.url();
    let t = spawn_config(backend, |c| c.smtp_url = Some(url)).await;
    let number = register(&t, "Вопрос").await;
    sink.wait_for_messages(1, std::time::Duration::from_secs(20));
    staff(&t, "aliya", Role::Operator).await;
    staff(&t, "marat", Role::Operator).await;
    let (mut a, mut m) = (Browser::new(&t), Browser::new(&t));
    a.sign_in("aliya").await;
    m.sign_in("marat").await;
    let url = format!("/console/tickets/{number}");
    let page = a.get(&url).await.text().await.unwrap();
    let r = a
        .post(
            &format!("{url}/note"),
            &[
                ("csrf", &csrf_in(&page)),
                ("text", "Заявитель звонил, ждёт до пятницы"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    // Marat opens the ticket: he sees the note, marked, and that Aliya has it open.
    let page = m.get(&url).await.text().await.unwrap();
    assert!(page.contains("Заявитель звонил") && page.contains("class=\"message note\""));
    let presence = regex::Regex::new(r#"(?s)<div id="presence"[^>]*>(.*?)</div>"#).unwrap();
    let shown = presence.captures(&page).unwrap()[1].to_string();
    assert!(shown.contains("aliya"), "{shown}");
    assert!(!page.contains("id=\"presence\" class=\"presence\" role=\"status\" hidden"));
    // Aliya starts writing: Marat's page script hears it.
    let csrf_a = csrf_in(&a.get(&url).await.text().await.unwrap());
    a.post(
        &format!("{url}/presence"),
        &[("csrf", &csrf_a), ("state", "writing")],
    )
    .await;
    let csrf_m = csrf_in(&page);
    let v: serde_json::Value = m
        .post(
            &format!("{url}/presence"),
            &[("csrf", &csrf_m), ("state", "viewing")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["others"][0]["login"], "aliya");
    assert_eq!(v["others"][0]["state"], "writing");
    assert!(v["message"].as_str().unwrap().contains("aliya"), "{v}");
    // The note is a staff-only message with no delivery, and nothing more reached the
    // applicant than the acknowledgement.
    let token = t.token("api-op", Role::Operator).await;
    let v: serde_json::Value = t
        .get_auth(&format!("/api/v1/tickets/{number}"), &token)
        .await
        .json()
        .await
        .unwrap();
    let note = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "note")
        .unwrap()
        .clone();
    assert_eq!(note["direction"], "internal");
    assert!(note["delivery_status"].is_null());
    // A note through the JSON API is the same.
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{number}/notes"),
            &token,
            serde_json::json!({"text": "и ещё одна"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(sink.count(), 1, "only the acknowledgement was sent");
    t.stop().await;
}

/// axe-core (from the npm registry: `.ci/run` installs it) inside each console page.
pub(crate) fn axe_source() -> String {
    let dir = std::env::var("BAYLANYS_AXE_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/baylanys-npm",
            std::env::var("HOME").unwrap_or_else(|_| "/root".into())
        )
    });
    let path = format!("{dir}/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}: install it with `npm install --prefix {dir} axe-core` (.ci/run does)")
    })
}

/// Runs axe in the page; returns the serious and critical violations.
pub(crate) async fn axe_violations(d: &Driver, axe: &str) -> Vec<String> {
    d.execute(axe, vec![]).await;
    let v = d
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})\
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html).slice(0, 3)}))))\
               .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));",
        )
        .await;
    // axe answered with its list (an error or no answer fails here, never passes).
    let list = v
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("axe did not run in the page: {v}"));
    eprintln!("axe: {} violation(s) of any impact", list.len());
    list.into_iter()
        .filter(|x| x["impact"] == "serious" || x["impact"] == "critical")
        .map(|x| x.to_string())
        .collect()
}

async fn console_pages_have_no_serious_accessibility_violations(backend: Backend) {
    let axe = axe_source();
    let t = spawn(backend).await;
    let number = register(&t, "Вопрос о доступности").await;
    staff(&t, "aliya", Role::Operator).await;
    let d = Driver::start().await;
    let mut found = Vec::new();
    d.goto(&format!("{}/console/login", t.url)).await;
    d.find("#login").await;
    found.extend(
        axe_violations(&d, &axe)
            .await
            .into_iter()
            .map(|v| format!("login: {v}")),
    );
    d.type_into("#login", "aliya").await;
    d.type_into("#password", "wrong").await;
    d.click("#sign-in").await;
    d.find("#login-error").await;
    found.extend(
        axe_violations(&d, &axe)
            .await
            .into_iter()
            .map(|v| format!("login error: {v}")),
    );
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.find("#welcome").await;
    found.extend(
        axe_violations(&d, &axe)
            .await
            .into_iter()
            .map(|v| format!("home: {v}")),
    );
    for (name, path) in [
        ("queue", "/console/queue?view=unassigned".to_string()),
        ("ticket", format!("/console/tickets/{number}")),
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
    // The check can fail: an input without a label is a critical violation.
    d.execute(
        "const i = document.createElement('input'); document.querySelector('main').appendChild(i);",
        vec![],
    )
    .await;
    let probe = axe_violations(&d, &axe).await;
    assert!(probe.iter().any(|v| v.contains("label")), "{probe:?}");
    d.quit().await;
    assert!(
        found.is_empty(),
        "serious or critical violations:\n{}",
        found.join("\n")
    );
    t.stop().await;
}

both_backends!(console_merges_duplicates_keeping_the_earliest_deadline_and_splits_a_message_off);

async fn console_merges_duplicates_keeping_the_earliest_deadline_and_splits_a_message_off(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let first = register(&t, "Первый вопрос про справку").await;
    let second = register(&t, "Второй вопрос про справку").await;
    set_due(&t, &first, 50).await;
    set_due(&t, &second, 2).await;
    staff(&t, "aliya", Role::Operator).await;
    let mut b = Browser::new(&t);
    b.sign_in("aliya").await;
    let url = format!("/console/tickets/{first}");
    let page = b.get(&url).await.text().await.unwrap();
    // The applicant's other ticket is listed, and offered for the merge.
    assert!(
        page.contains(&format!("/console/tickets/{second}")),
        "{page}"
    );
    let token = t.token("api-op", Role::Operator).await;
    let json = |n: String| {
        let (t, token) = (&t, token.clone());
        async move {
            t.get_auth(&format!("/api/v1/tickets/{n}"), &token)
                .await
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let due_second = json(second.clone()).await["due_at"].clone();
    let r = b
        .post(
            &format!("{url}/merge"),
            &[("csrf", &csrf_in(&page)), ("duplicate", &second)],
        )
        .await;
    let status = r.status();
    assert_eq!(status, 303, "{}", r.text().await.unwrap());
    let merged = json(first.clone()).await;
    let texts: Vec<&str> = merged["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .map(|m| m["body_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{merged}");
    assert_eq!(
        merged["due_at"], due_second,
        "the earliest deadline is kept"
    );
    assert!(
        merged["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "merged")
    );
    let dup = json(second.clone()).await;
    assert_eq!(dup["status"], "closed");
    assert!(
        dup["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "merged_into")
    );
    // Merging into itself or from another applicant is refused with the reason.
    let page = b.get(&url).await.text().await.unwrap();
    let r = b
        .post(
            &format!("{url}/merge"),
            &[("csrf", &csrf_in(&page)), ("duplicate", &first)],
        )
        .await;
    assert_eq!(r.status(), 422);

    // Split the second question off again: a new number, the message moves.
    let moved = merged["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .nth(1)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = b.get(&url).await.text().await.unwrap();
    let r = b
        .post(
            &format!("{url}/split"),
            &[("csrf", &csrf_in(&page)), ("message", &moved)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    let new_number = to
        .trim_start_matches("/console/tickets/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    assert!(new_number.starts_with("UCC-") && new_number != first && new_number != second);
    let new = json(new_number.clone()).await;
    assert_eq!(new["messages"][0]["id"], moved.as_str());
    assert_eq!(new["status"], "open");
    let after = json(first.clone()).await;
    assert!(
        after["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "split")
    );
    // The first message is the ticket itself: not split off.
    let own = after["messages"][0]["id"].as_str().unwrap().to_string();
    let r = t
        .post_auth(
            &format!("/api/v1/tickets/{first}/split"),
            &token,
            serde_json::json!({"message_id": own}),
        )
        .await;
    assert_eq!(r.status(), 422);
    // The audit chains of all three tickets still verify.
    let verified = t
        .app
        .db
        .write(baylanys::tickets::audit::verify)
        .await
        .unwrap();
    assert!(verified.broken.is_none(), "{:?}", verified.broken);
    t.stop().await;
}
