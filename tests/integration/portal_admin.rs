//! The admin portal's pages (src/web/console/admin.rs), on both backends: staff accounts
//! (add, role, body, deactivate, password, unlock) with their JSON twin
//! `/api/v1/users`, queues, the calendar's days, the registry's files and the templates
//! preview; `baylanys user change` on a served database; refusals (another role, a forged CSRF token, bad input beside its field, an
//! administrator acting on themself); over HTTP and in headless Chromium with axe-core.

use baylanys::auth::Role;
use serde_json::{Value, json};

use crate::browser::Driver;
use crate::console::{Browser, PASSWORD, axe_source, staff};
use crate::portal_agency::{axe_of, json_of, new_body};
use crate::support::{Backend, TestApp, appeal, spawn};

both_backends!(
    admin_portal_keeps_staff_accounts_as_the_api_does,
    admin_portal_refuses_other_roles_forged_csrf_and_bad_input_beside_the_field,
    admin_portal_queues_calendar_registry_and_templates,
    admin_portal_in_chromium_a_new_user_signs_in,
    the_user_change_command_sets_role_and_password_and_deactivates,
);

const NEW_PASSWORD: &str = "another horse battery";

/// An administrator who signs in with [`PASSWORD`] and holds an API token too.
async fn admin(t: &TestApp, login: &str) -> String {
    staff(t, login, Role::Admin).await;
    let l = login.to_string();
    t.app
        .db
        .write(move |c| Ok(baylanys::auth::create_token(c, &l, None)?.expect("a user")))
        .await
        .expect("token")
}

async fn signed_in_admin<'a>(t: &'a TestApp, login: &str) -> (Browser<'a>, String, String) {
    let token = admin(t, login).await;
    let mut b = Browser::new(t);
    let csrf = b.sign_in(login).await;
    let res = b
        .post(
            "/console/language",
            &[("csrf", &csrf), ("lang", "en"), ("back", "/console/admin")],
        )
        .await;
    assert_eq!(res.status(), 303);
    (b, csrf, token)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The fields a problem+json 422 names, in order.
fn fields_of(v: &Value) -> Vec<&str> {
    v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field"))
        .collect()
}

async fn account(t: &TestApp, token: &str, login: &str) -> Value {
    let (s, v) = json_of(t.get_auth("/api/v1/users", token).await).await;
    assert_eq!(s, 200, "{v}");
    v["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["login"] == login)
        .cloned()
        .unwrap_or_else(|| panic!("no {login} in {v}"))
}

async fn admin_portal_keeps_staff_accounts_as_the_api_does(backend: Backend) {
    let t = spawn(backend).await;
    let (mut b, csrf, token) = signed_in_admin(&t, "root").await;
    let page = b.get("/console/admin/users").await.text().await.unwrap();
    assert!(page.contains("id=\"u-root\""), "{page}");

    // A new supervisor, from the form: the page of the account follows.
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "dana"),
                ("name", "Дана Әбілқызы"),
                ("role", "supervisor"),
                ("body_id", ""),
                ("password", PASSWORD),
                ("email", "dana@goscorp.kz"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        location(&res),
        "/console/admin/users/dana?notice=admin_user_created"
    );
    let page = b
        .get("/console/admin/users/dana?notice=admin_user_created")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("the user is added"), "{page}");
    assert!(page.contains("Дана Әбілқызы"), "{page}");
    let a = account(&t, &token, "dana").await;
    assert_eq!(a["role"], "supervisor");
    assert_eq!(a["email"], "dana@goscorp.kz");
    assert_eq!(a["active"], true);
    assert_eq!(a["last_sign_in_at"], Value::Null);
    // The same login again: beside the login field.
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "dana"),
                ("role", "operator"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"f-login-error\"") && page.contains("already exists"),
        "{page}"
    );

    // Dana signs in; the sign-in is recorded.
    let mut d = Browser::new(&t);
    d.sign_in("dana").await;
    assert!(account(&t, &token, "dana").await["last_sign_in_at"].is_string());
    let dana_token = t
        .app
        .db
        .write(|c| Ok(baylanys::auth::create_token(c, "dana", None)?.expect("a user")))
        .await
        .unwrap();
    assert_eq!(
        t.get_auth("/api/v1/queues", &dana_token).await.status(),
        200
    );

    // A new role and name: the session sees the role at once.
    let res = b
        .post(
            "/console/admin/users/dana",
            &[
                ("csrf", &csrf),
                ("name", "Дана Әбілқызы"),
                ("role", "operator"),
                ("body_id", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(account(&t, &token, "dana").await["role"], "operator");
    assert_eq!(d.get("/console/dashboard").await.status(), 403);

    // Deactivated: the session ends, the token is revoked, the password no longer works.
    let res = b
        .post(
            "/console/admin/users/dana/active",
            &[("csrf", &csrf), ("active", "0")],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(d.get("/console/").await.status(), 303, "the session ended");
    assert_eq!(
        t.get_auth("/api/v1/queues", &dana_token).await.status(),
        401
    );
    let res = Browser::new(&t).sign_in_as("dana", PASSWORD).await;
    assert_eq!(res.status(), 401, "a deactivated user cannot sign in");
    let a = account(&t, &token, "dana").await;
    assert_eq!(a["active"], false);
    let page = b.get("/console/admin/users").await.text().await.unwrap();
    assert!(page.contains(">deactivated<"), "{page}");
    // Reactivated: the password works again, the old token stays revoked.
    let res = b
        .post(
            "/console/admin/users/dana/active",
            &[("csrf", &csrf), ("active", "1")],
        )
        .await;
    assert_eq!(res.status(), 303);
    Browser::new(&t).sign_in("dana").await;
    assert_eq!(
        t.get_auth("/api/v1/queues", &dana_token).await.status(),
        401
    );

    // Locked after failed sign-ins; the administrator lifts the lock (the CLI's code).
    let mut f = Browser::new(&t);
    let mut last = 0;
    for _ in 0..5 {
        last = f
            .sign_in_as("dana", "wrong password!")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429, "locked");
    assert!(account(&t, &token, "dana").await["locked_until"].is_string());
    let page = b
        .get("/console/admin/users/dana")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("locked until") && page.contains("id=\"unlock\""),
        "{page}"
    );
    let res = b
        .post("/console/admin/users/dana/unlock", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 303);
    let a = account(&t, &token, "dana").await;
    assert_eq!(a["locked_until"], Value::Null);
    assert_eq!(a["failed_sign_ins"], 0);
    let mut d = Browser::new(&t);
    d.sign_in("dana").await;

    // A new password ends the sessions; the new one signs in, the old one does not.
    let res = b
        .post(
            "/console/admin/users/dana/password",
            &[("csrf", &csrf), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(d.get("/console/").await.status(), 303);
    assert_eq!(
        Browser::new(&t).sign_in_as("dana", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        Browser::new(&t)
            .sign_in_as("dana", NEW_PASSWORD)
            .await
            .status(),
        303
    );
    let res = b
        .post(
            "/console/admin/users/dana/password",
            &[("csrf", &csrf), ("password", "short")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"f-password-error\"") && page.contains("href=\"#f-password\""),
        "{page}"
    );

    // An administrator cannot deactivate or demote themself.
    let res = b
        .post(
            "/console/admin/users/root/active",
            &[("csrf", &csrf), ("active", "0")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"f-active-error\"") && page.contains("cannot deactivate yourself"),
        "{page}"
    );
    let res = b
        .post(
            "/console/admin/users/root",
            &[
                ("csrf", &csrf),
                ("name", "Root"),
                ("role", "operator"),
                ("body_id", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"f-role-error\"") && page.contains("f-role-error"),
        "{page}"
    );
    let a = account(&t, &token, "root").await;
    assert_eq!(
        (a["role"].as_str(), a["active"].as_bool()),
        (Some("admin"), Some(true))
    );

    // The API: the same functions, the same refusals, as problem+json naming the field.
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/users",
            &token,
            json!({"login": "bot-1", "role": "ingest"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["has_password"], false, "a token-only account");
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/users",
            &token,
            json!({"login": "bot-1", "role": "ingest"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 409, "{v}");
    let r = t
        .post_auth(
            "/api/v1/users",
            &token,
            json!({"login": "Bad Login", "role": "agency", "password": "x", "extra": 1}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let v: Value = r.json().await.unwrap();
    let fields = fields_of(&v);
    assert_eq!(fields, ["extra"], "unknown fields first: {v}");
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/users",
            &token,
            json!({"login": "Bad Login", "role": "agency", "password": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 422);
    let fields = fields_of(&v);
    assert_eq!(fields, ["login", "password", "body_id"], "{v}");
    let (s, v) = json_of(
        t.patch_auth("/api/v1/users/root", &token, json!({"active": false}))
            .await,
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(v["errors"][0]["field"], "active", "{v}");
    let (s, _) = json_of(
        t.patch_auth("/api/v1/users/nobody", &token, json!({"name": "X"}))
            .await,
    )
    .await;
    assert_eq!(s, 404);
    let (s, v) = json_of(
        t.patch_auth("/api/v1/users/dana", &token, json!({"active": false}))
            .await,
    )
    .await;
    assert_eq!((s, &v["active"]), (200, &json!(false)), "{v}");
    let op = t.token("op", Role::Operator).await;
    assert_eq!(t.get_auth("/api/v1/users", &op).await.status(), 403);
    assert_eq!(
        t.post_auth("/api/v1/users", &op, json!({"login": "x", "role": "admin"}))
            .await
            .status(),
        403
    );
    t.stop().await;
}

async fn admin_portal_refuses_other_roles_forged_csrf_and_bad_input_beside_the_field(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let (mut b, csrf, _token) = signed_in_admin(&t, "root").await;

    // Another role: a 403 page on every admin page and form.
    staff(&t, "sup", Role::Supervisor).await;
    let mut s = Browser::new(&t);
    let s_csrf = s.sign_in("sup").await;
    for path in [
        "/console/admin",
        "/console/admin/users",
        "/console/admin/users/root",
        "/console/admin/queues",
        "/console/admin/queues/general",
        "/console/admin/calendar",
        "/console/admin/registry",
        "/console/admin/registry/bodies.csv",
        "/console/admin/templates",
    ] {
        assert_eq!(s.get(path).await.status(), 403, "{path}");
    }
    let res = s
        .post(
            "/console/admin/users/root/active",
            &[("csrf", &s_csrf), ("active", "0")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let home = s.get("/console/").await.text().await.unwrap();
    assert!(
        !home.contains("href=\"/console/admin\""),
        "no admin link for a supervisor"
    );

    // No CSRF token, or another session's: refused, nothing changes.
    let res = b
        .post(
            "/console/admin/users",
            &[("login", "eve"), ("role", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("CSRF"));
    let res = b
        .post(
            "/console/admin/queues",
            &[
                ("csrf", &s_csrf),
                ("code", "eve"),
                ("name_kk", "Е"),
                ("name_ru", "Е"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    let page = b.get("/console/admin/users").await.text().await.unwrap();
    assert!(!page.contains("id=\"u-eve\""), "{page}");

    // Bad input: 422, the summary links each field, the message beside it.
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "Bad Login"),
                ("name", "Ержан"),
                ("role", "agency"),
                ("body_id", ""),
                ("password", "short"),
                ("email", "not-an-address"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for field in ["login", "password", "body_id", "email"] {
        assert!(
            page.contains(&format!("id=\"f-{field}-error\""))
                && page.contains(&format!("href=\"#f-{field}\"")),
            "{field}: {page}"
        );
    }
    assert!(
        page.contains("aria-describedby=\"f-login-hint f-login-error\""),
        "{page}"
    );
    assert!(page.contains("value=\"Ержан\""), "the name is kept: {page}");
    assert!(!page.contains("value=\"short\""), "never the password");
    // An agency user with a body that is no ICI operator as an ici user.
    let body = new_body(
        &t,
        &_token,
        json!({"kind": "central_state_body", "name": {"kk": "Министрлік", "ru": "Министерство"}}),
    )
    .await;
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "ici1"),
                ("role", "ici"),
                ("body_id", &body),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"f-body_id-error\""));
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "agency1"),
                ("role", "agency"),
                ("body_id", &body),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    // A NUL byte and control characters are no login.
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "a\u{0}b"),
                ("role", "operator"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(b.get("/console/admin/users/nobody").await.status(), 404);
    // One character over each limit; markup in a name is shown as text, never run.
    let long_login = "a".repeat(65);
    let long_name = "я".repeat(201);
    for (login, name, field) in [
        (long_login.as_str(), "Ержан", "login"),
        ("erzhan", long_name.as_str(), "name"),
    ] {
        let res = b
            .post(
                "/console/admin/users",
                &[
                    ("csrf", &csrf),
                    ("login", login),
                    ("name", name),
                    ("role", "operator"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(res.status(), 422, "{field}");
        let page = res.text().await.unwrap();
        assert!(page.contains(&format!("id=\"f-{field}-error\"")), "{page}");
    }
    let res = b
        .post(
            "/console/admin/users",
            &[
                ("csrf", &csrf),
                ("login", "mallory"),
                ("name", "<script>alert(1)</script>"),
                ("role", "operator"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = b.get("/console/admin/users").await.text().await.unwrap();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;") && !page.contains("<script>alert(1)"),
        "{page}"
    );

    // Queues: hours out of range (read as the API reads its JSON), then a bad code, no
    // Kazakh name, an unknown supervisor; `general` stays open.
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("code", "ICT Queue"),
        ("name_kk", ""),
        ("name_ru", "ИКТ"),
        ("supervisors", "ghost"),
        ("reminders_enabled", "0"),
        ("reminder_hours", "99"),
    ];
    let res = b.post("/console/admin/queues", &form).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"f-reminder_hours-error\""), "{page}");
    form.pop();
    let res = b.post("/console/admin/queues", &form).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for field in ["code", "name_kk", "supervisors"] {
        assert!(
            page.contains(&format!("id=\"f-{field}-error\"")),
            "{field}: {page}"
        );
    }
    assert!(page.contains("value=\"ИКТ\""), "{page}");
    let res = b
        .post(
            "/console/admin/queues/general",
            &[
                ("csrf", &csrf),
                ("name_kk", "Жалпы"),
                ("name_ru", "Общая"),
                ("supervisors", ""),
                ("reminders_enabled", "1"),
                ("active", "0"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"f-active-error\""));

    // The calendar: a date that is none, a kind that is none, no note.
    let res = b
        .post(
            "/console/admin/calendar/days",
            &[
                ("csrf", &csrf),
                ("date", "2026-02-30"),
                ("kind", "party"),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    for field in ["date", "kind", "note"] {
        assert!(
            page.contains(&format!("id=\"f-{field}-error\"")),
            "{field}: {page}"
        );
    }
    assert_eq!(
        b.get("/console/admin/calendar?year=1999").await.status(),
        422
    );

    // The registry: a bad file is refused whole, each problem with its line.
    let csv = "id,kind,name_kk,name_ru\n,central_state_body,Бір,Один\n,no_such_kind,Екі,\n";
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("kind", "bodies")
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                .file_name("bodies.csv")
                .mime_str("text/csv")
                .unwrap(),
        );
    let res = b
        .post_multipart("/console/admin/registry/import", form)
        .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("id=\"import-problems\"") && page.contains("line 3"),
        "{page}"
    );
    assert!(!page.contains(">Один<"), "nothing was imported: {page}");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("kind", "bodies");
    let res = b
        .post_multipart("/console/admin/registry/import", form)
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("choose a CSV file"));
    assert_eq!(
        b.get("/console/admin/registry/secrets.csv").await.status(),
        404
    );
    t.stop().await;
}

async fn admin_portal_queues_calendar_registry_and_templates(backend: Backend) {
    let t = spawn(backend).await;
    let (mut b, csrf, token) = signed_in_admin(&t, "root").await;
    staff(&t, "sup", Role::Supervisor).await;

    // A queue: created, changed, closed; the API sees what the page did.
    let res = b
        .post(
            "/console/admin/queues",
            &[
                ("csrf", &csrf),
                ("code", "ict"),
                ("name_kk", "АКТ сұрақтары"),
                ("name_ru", "Вопросы ИКТ"),
                ("supervisors", "sup"),
                ("reminders_enabled", "0"),
                ("reminders_enabled", "1"),
                ("reminder_hours", "3"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        location(&res),
        "/console/admin/queues/ict?notice=admin_queue_created"
    );
    let (_, q) = json_of(t.get_auth("/api/v1/queues/ict", &token).await).await;
    assert_eq!(
        q,
        json!({"code": "ict", "name_kk": "АКТ сұрақтары", "name_ru": "Вопросы ИКТ",
               "supervisors": ["sup"], "reminders_enabled": true, "reminder_hours": 3,
               "active": true})
    );
    let res = b
        .post(
            "/console/admin/queues/ict",
            &[
                ("csrf", &csrf),
                ("name_kk", "АКТ сұрақтары"),
                ("name_ru", "ИКТ"),
                ("supervisors", ""),
                ("reminders_enabled", "0"),
                ("reminder_hours", ""),
                ("active", "0"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let (_, q) = json_of(t.get_auth("/api/v1/queues/ict", &token).await).await;
    assert_eq!(
        (
            &q["name_ru"],
            &q["supervisors"],
            &q["reminders_enabled"],
            &q["active"]
        ),
        (&json!("ИКТ"), &json!([]), &json!(false), &json!(false)),
        "{q}"
    );
    let page = b.get("/console/admin/queues").await.text().await.unwrap();
    assert!(
        page.contains("id=\"q-ict\"") && page.contains(">closed<"),
        "{page}"
    );
    // A closed queue takes no transfers.
    let (s, created) = json_of(
        t.post_json("/api/v1/appeals", appeal("Вопрос про ЭЦП"))
            .await,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let number = created["number"].as_str().unwrap().to_string();
    let (s, v) = json_of(
        t.post_auth(
            &format!("/api/v1/tickets/{number}/transfer"),
            &token,
            json!({"queue": "ict"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["errors"][0]["field"], "queue", "{v}");
    // Nor does the ticket page offer it.
    let transfer_to_ict = "<option value=\"ict\"";
    let ticket = b.get(&format!("/console/tickets/{number}")).await;
    assert_eq!(ticket.status(), 200);
    assert!(!ticket.text().await.unwrap().contains(transfer_to_ict));
    // And open again through the API's PATCH.
    let r = t
        .patch_auth("/api/v1/queues/ict", &token, json!({"active": true}))
        .await;
    assert_eq!(r.status(), 200);
    let ticket = b.get(&format!("/console/tickets/{number}")).await;
    assert!(ticket.text().await.unwrap().contains(transfer_to_ict));
    let (s, v) = json_of(
        t.post_auth(
            &format!("/api/v1/tickets/{number}/transfer"),
            &token,
            json!({"queue": "ict"}),
        )
        .await,
    )
    .await;
    assert!(s < 300, "{s} {v}");

    // The calendar: the year's exceptions, one day set, and its effect on a deadline.
    let page = b.get("/console/admin/calendar").await.text().await.unwrap();
    let due_of = |page: &str| -> String {
        let start = page.find("id=\"due-now\">").expect("the due instant") + 13;
        page[start..start + 16].to_string()
    };
    let before = due_of(&page);
    let year = chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Asia::Almaty));
    assert!(
        page.contains(&format!("id=\"d-{year}-01-01\"")),
        "New Year is listed"
    );
    // The day the deadline falls on becomes a day off: the deadline moves past it.
    let (day, month, y) = (&before[0..2], &before[3..5], &before[6..10]);
    let date = format!("{y}-{month}-{day}");
    let res = b
        .post(
            "/console/admin/calendar/days",
            &[
                ("csrf", &csrf),
                ("date", &date),
                ("kind", "day-off"),
                ("note", "Постановление № 1 (тест)"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert!(location(&res).contains("notice=admin_day_set"));
    let page = b
        .get(&format!("/console/admin/calendar?year={y}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("id=\"d-{date}\"")) && page.contains("Постановление № 1 (тест)"),
        "{page}"
    );
    let after = due_of(&page);
    assert_ne!(before, after, "the deadline moved");
    let (_, listing) = json_of(t.get_auth(&format!("/api/v1/calendar/{y}"), &token).await).await;
    let listed = listing["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == date.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{date} in {listing}"));
    assert_eq!(
        (&listed["working"], &listed["source"]),
        (&json!(false), &json!("override"))
    );

    // The registry: lists with links, export, and an import from the page.
    let body = new_body(
        &t,
        &token,
        json!({"kind": "central_state_body", "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"}, "website": "https://adilet.gov.kz"}),
    )
    .await;
    let res = b.get("/console/admin/registry/bodies.csv").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.contains(&body) && csv.contains("Министерство юстиции"),
        "{csv}"
    );
    let file = "id,kind,name_kk,name_ru\n,local_executive_body,Алматы әкімдігі,Акимат Алматы\n";
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("kind", "bodies")
        .part(
            "file",
            reqwest::multipart::Part::bytes(file.as_bytes().to_vec()).file_name("b.csv"),
        );
    let res = b
        .post_multipart("/console/admin/registry/import", form)
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let to = location(&res);
    assert!(to.contains("created=1") && to.contains("updated=0"), "{to}");
    let page = b.get(&to).await.text().await.unwrap();
    assert!(page.contains("id=\"import-done\""), "{page}");
    assert!(
        page.contains("Министерство юстиции") && page.contains("Акимат Алматы"),
        "{page}"
    );
    assert!(page.contains(&format!("id=\"body-{body}\"")), "{page}");
    // A service links to its provider's row.
    let (s, v) = json_of(
        t.post_auth(
            "/api/v1/services",
            &token,
            json!({"register_number": "701001", "name": {"kk": "Соттылығы жоқ анықтама", "ru": "Справка о несудимости"}, "body": body}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let page = b.get("/console/admin/registry").await.text().await.unwrap();
    assert!(
        page.contains("Справка о несудимости") && page.contains(&format!("href=\"#body-{body}\"")),
        "{page}"
    );

    // The templates: what applicants get, in Kazakh and Russian, with the sample number.
    let page = b
        .get("/console/admin/templates")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"tpl-kk-ack_email\"") && page.contains("id=\"tpl-ru-ack_email\""),
        "{page}"
    );
    assert!(
        page.contains("Тіркеу нөмірі") && page.contains("Регистрационный номер"),
        "{page}"
    );
    assert!(page.contains(&format!("UCC-{year}-000123")), "{page}");
    assert!(
        !page.contains("class=\"error\""),
        "every template renders: {page}"
    );
    // Its JSON twin: the same messages, administrators only.
    let (s, v) = json_of(t.get_auth("/api/v1/templates/preview", &token).await).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["number"], format!("UCC-{year}-000123"));
    let languages: Vec<&str> = v["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["kk", "ru"]);
    for l in v["languages"].as_array().unwrap() {
        for m in l["messages"].as_array().unwrap() {
            assert!(
                m["error"].is_null() && !m["text"].as_str().unwrap().is_empty(),
                "{m}"
            );
        }
    }
    let ack = &v["languages"][1]["messages"][0];
    assert_eq!(ack["name"], "ack_email");
    assert!(
        ack["html"]
            .as_str()
            .unwrap()
            .contains(&format!("UCC-{year}-000123")),
        "{ack}"
    );
    let sup = t.token("sup-token", Role::Supervisor).await;
    assert_eq!(
        t.get_auth("/api/v1/templates/preview", &sup).await.status(),
        403
    );
    for m in [
        "ack_telegram",
        "ack_web_form",
        "reply",
        "transfer",
        "rating",
        "rating_email",
        "oversize",
    ] {
        assert!(page.contains(&format!("id=\"tpl-ru-{m}\"")), "{m}");
    }
    t.stop().await;
}

async fn admin_portal_in_chromium_a_new_user_signs_in(backend: Backend) {
    let axe = axe_source();
    let t = spawn(backend).await;
    admin(&t, "root").await;
    let d = Driver::start().await;
    let mut found = Vec::new();
    d.goto(&format!("{}/console/login?lang=en", t.url)).await;
    d.type_into("#login", "root").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Sign out").await;
    d.goto(&format!("{}/console/admin", t.url)).await;
    d.find("#admin-index").await;
    found.extend(axe_of(&d, &axe, "index").await);
    d.goto(&format!("{}/console/admin/users", t.url)).await;
    d.find("#new-user").await;
    found.extend(axe_of(&d, &axe, "users").await);
    // A bad login first (past the browser's own checks): the summary takes the focus.
    d.type_into("#f-login", "Bad Login").await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#create-user").await;
    d.find("#f-login-error").await;
    let focused = d.execute("return document.activeElement.id;", vec![]).await;
    assert_eq!(focused, "form-errors");
    found.extend(axe_of(&d, &axe, "users, refused").await);
    // Then a good one, from the keyboard.
    d.execute(
        "document.querySelector('#f-login').value = '';\
         document.querySelector('#f-role').value = 'operator';",
        vec![],
    )
    .await;
    d.type_into("#f-login", "aliya").await;
    d.type_into("#f-name", "Әлия Сейтқали").await;
    d.type_into("#f-password", PASSWORD).await;
    d.click("#create-user").await;
    d.wait_for_text("the user is added").await;
    assert!(d.text("#user-role").await.contains("perator"));
    found.extend(axe_of(&d, &axe, "user").await);
    for (path, wait) in [
        ("/console/admin/queues", "#new-queue"),
        ("/console/admin/queues/general", "#edit-queue"),
        ("/console/admin/calendar", "#set-day"),
        ("/console/admin/registry", "#import-form"),
        ("/console/admin/templates", "#tpl-kk-ack_email"),
    ] {
        d.goto(&format!("{}{path}", t.url)).await;
        d.find(wait).await;
        found.extend(axe_of(&d, &axe, path).await);
    }
    // WCAG 1.4.10: nothing scrolls sideways on a 320 px screen.
    d.resize(320, 640).await;
    for path in ["/console/admin/users", "/console/admin/templates"] {
        d.goto(&format!("{}{path}", t.url)).await;
        d.find("#admin-sections").await;
        let wide = d
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await;
        assert!(
            wide.as_u64().unwrap() <= 320,
            "{path}: {wide} px wide at 320 px"
        );
        found.extend(axe_of(&d, &axe, &format!("{path}, narrow")).await);
    }
    d.resize(1280, 900).await;
    // A Saturday made a working day from the form lands in the year's table.
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let mut saturday = chrono::NaiveDate::from_ymd_opt(year, 12, 31).expect("a date");
    while chrono::Datelike::weekday(&saturday) != chrono::Weekday::Sat {
        saturday = saturday.pred_opt().expect("a date");
    }
    d.goto(&format!("{}/console/admin/calendar", t.url)).await;
    d.execute(
        &format!(
            "document.querySelector('#f-date').value = '{saturday}';\
             document.querySelector('#f-kind').value = 'working-day';"
        ),
        vec![],
    )
    .await;
    d.type_into("#f-note", "Decree No 7").await;
    d.click("#save-day").await;
    d.wait_for_text("the day is set").await;
    d.find(&format!("#d-{saturday}")).await;
    found.extend(axe_of(&d, &axe, "calendar, set").await);
    d.screenshot(&format!("admin-calendar-{backend:?}")).await;
    // The new user signs in with the password the administrator set.
    d.click("#sign-out").await;
    d.find("#login").await;
    d.type_into("#login", "aliya").await;
    d.type_into("#password", PASSWORD).await;
    d.click("#sign-in").await;
    d.wait_for_text("Sign out").await;
    assert!(d.text("#me").await.contains("Әлия Сейтқали"));
    d.goto(&format!("{}/console/admin", t.url)).await;
    d.wait_for_text("403").await;
    d.quit().await;
    assert!(
        found.is_empty(),
        "serious or critical violations:\n{}",
        found.join("\n")
    );
    t.stop().await;
}

/// `baylanys user change` on the database a server is using: what the flags alone show
/// is refused before anything is opened, a refusal names the flag, and a deactivated
/// account's token stops working at once.
async fn the_user_change_command_sets_role_and_password_and_deactivates(backend: Backend) {
    let t = spawn(backend).await;
    let token = t.token("dana", Role::Operator).await;
    let db = t.app.config.database_url.clone();
    let cli = move |args: &[&str], password: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_baylanys"));
        c.env_remove("BAYLANYS_DATABASE_URL")
            .env_remove("BAYLANYS_PASSWORD")
            .env("BAYLANYS_LOG", "warn")
            .args(["user", "change"])
            .args(args)
            .args(["--database-url", &db])
            .stdin(std::process::Stdio::null());
        if let Some(p) = password {
            c.env("BAYLANYS_PASSWORD", p);
        }
        let out = c.output().expect("baylanys runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let run = |args: Vec<&'static str>, password: Option<&'static str>| {
        let cli = cli.clone();
        async move {
            tokio::task::spawn_blocking(move || cli(&args, password))
                .await
                .expect("the command ran")
        }
    };
    let supervisors_only = "/api/v1/ratings/figures?by=queue&from=2026-11&to=2026-12";
    assert_eq!(t.get_auth(supervisors_only, &token).await.status(), 403);

    let (ok, _, err) = run(vec!["--login", "dana"], None).await;
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, _, err) = run(vec!["--login", "dana", "--role", "boss"], None).await;
    assert!(!ok && err.contains("--role"), "{err}");
    let (ok, _, err) = run(vec!["--login", "nobody", "--role", "operator"], None).await;
    assert!(!ok && err.contains("no user `nobody`"), "{err}");
    let (ok, _, err) = run(vec!["--login", "dana", "--role", "agency"], None).await;
    assert!(!ok && err.contains("--body"), "{err}");
    let (ok, _, err) = run(vec!["--login", "dana", "--password"], Some("short")).await;
    assert!(!ok && err.contains("BAYLANYS_PASSWORD"), "{err}");
    let (ok, _, err) = run(vec!["--login", "dana", "--password"], None).await;
    assert!(!ok && err.contains("no password"), "{err}");

    let (ok, out, err) = run(vec!["--login", "dana", "--role", "supervisor"], None).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "changed user dana (supervisor, active)");
    assert_eq!(t.get_auth(supervisors_only, &token).await.status(), 200);
    let (ok, out, err) = run(vec!["--login", "dana", "--password"], Some(NEW_PASSWORD)).await;
    assert!(ok, "{err}");
    assert!(out.contains("changed user dana"), "{out}");

    let (ok, out, err) = run(vec!["--login", "dana", "--deactivate"], None).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "changed user dana (supervisor, deactivated)");
    assert_eq!(t.get_auth(supervisors_only, &token).await.status(), 401);
    let (ok, out, err) = run(vec!["--login", "dana", "--activate"], None).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "changed user dana (supervisor, active)");
    // Its tokens stay revoked: reactivating does not bring old credentials back.
    assert_eq!(t.get_auth(supervisors_only, &token).await.status(), 401);
}
