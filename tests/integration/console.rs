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

    fn cookie_header(&self) -> String {
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
