//! The access matrix: every route × every caller (anonymous, each role, a revoked token)
//! gets the status the server's one table (`baylanys::web::access::ROUTES`) says, on both
//! backends. The same table writes docs/ACCESS.md (`BAYLANYS_WRITE_ACCESS_DOC=1 cargo test
//! --test integration access`), and a route the server has but the table lacks fails the
//! test, so neither the enforcement nor the document can drift from the code.

use std::collections::BTreeSet;

use baylanys::auth::Role;
use baylanys::web::access::{Access, ROUTES, document};
use diesel::prelude::*;

use crate::support::{Backend, body_token_for, spawn};

both_backends!(every_route_answers_every_caller_as_the_access_table_says);

const TICKET: &str = "UCC-2026-999999";
const ID: &str = "0190a1a2-0000-7000-8000-000000000001";

/// The route with each `{...}` filled by a value of the right form that names nothing.
fn sample(route: &str) -> String {
    route
        .replace("{number}", TICKET)
        .replace("{year}", "2026")
        .replace("{date}", "2026-12-25")
        .replace(
            "{file}",
            if route.starts_with("/calendar") {
                "2026.ics"
            } else {
                "bodies.csv"
            },
        )
        .replace("{code}", "no-such-code")
        .replace("{login}", "nobody")
        .replace("{id}", ID)
        .replace("{call_id}", "no-such-call")
        .replace("{attachment}", ID)
        .replace("{message}", ID)
        .replace("{service}", ID)
        .replace("{person}", ID)
}

/// Every `.route("PATH", web::METHOD()...)` in src/web and below.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
    let re = regex::Regex::new(r#"\.route\(\s*"([^"]+)",\s*web::(get|post|put|patch|delete)\(\)"#)
        .unwrap();
    let mut found = BTreeSet::new();
    // src/web and its folders (src/web/console).
    let mut dirs = vec![std::path::PathBuf::from(dir)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            for c in re.captures_iter(&text) {
                found.insert((c[2].to_uppercase(), c[1].to_string()));
            }
        }
    }
    found
}

async fn every_route_answers_every_caller_as_the_access_table_says(backend: Backend) {
    // The table covers every route the server has, and nothing else.
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, r, _)| (m.to_string(), r.to_string()))
        .collect();
    let source = routes_in_source();
    assert_eq!(
        source.difference(&table).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the access table"
    );
    assert_eq!(
        table.difference(&source).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "table rows for routes the server does not have"
    );
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ACCESS.md");
    if std::env::var("BAYLANYS_WRITE_ACCESS_DOC").is_ok() {
        std::fs::write(doc_path, document()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(doc_path).unwrap_or_default(),
        document(),
        "docs/ACCESS.md is stale: regenerate it (see its first lines)"
    );

    let t = spawn(backend).await;
    let admin = t.token("matrix-setup", Role::Admin).await;
    let body_of = |kind: &str| {
        let (t, admin, kind) = (&t, admin.clone(), kind.to_string());
        async move {
            let r = t
                .post_auth(
                    "/api/v1/bodies",
                    &admin,
                    serde_json::json!({"kind": kind, "name": {"kk": "Орган", "ru": "Орган"}}),
                )
                .await;
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let agency_body = body_of("local_executive_body").await;
    let ici_body = body_of("ici_operator").await;
    let mut callers: Vec<(String, Option<Role>, Option<String>)> =
        vec![("anonymous".into(), None, None)];
    for role in Role::ALL {
        let login = format!("access-{}", role.as_str());
        let token = match role {
            Role::Agency => body_token_for(&t.app, &login, role, &agency_body).await,
            Role::Ici => body_token_for(&t.app, &login, role, &ici_body).await,
            _ => t.token(&login, role).await,
        };
        callers.push((role.as_str().into(), Some(role), Some(token)));
    }
    let revoked = t.token("access-revoked", Role::Admin).await;
    t.app
        .db
        .write(|c| {
            use baylanys::db::schema::{api_tokens, users};
            let uid: String = users::table
                .filter(users::login.eq("access-revoked"))
                .select(users::id)
                .first(c)?;
            diesel::update(api_tokens::table.filter(api_tokens::user_id.eq(uid)))
                .set(api_tokens::revoked_at.eq(Some(baylanys::db::now())))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    callers.push(("revoked token".into(), None, Some(revoked)));

    let mut wrong = Vec::new();
    for (method, route, access) in ROUTES {
        let path = sample(route);
        for (name, role, token) in &callers {
            let mut req = t.client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", t.url),
            );
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            if *method != "GET" && *method != "DELETE" {
                req = req.json(&serde_json::json!({}));
            }
            let status = req.send().await.unwrap().status().as_u16();
            let expect_ok = match (access, role) {
                (Access::Anyone, _) => true,
                // The sample body is nobody's own: members are refused by the handler.
                (Access::MayOrMember(_), Some(Role::Agency | Role::Ici)) => false,
                (_, Some(role)) => access.allows(*role),
                (_, None) => false,
            };
            let fine = if let Access::Console(_) = access {
                // Console pages take the session cookie, never a bearer token: without a
                // session every caller is sent to the sign-in (tests/integration/console.rs
                // checks roles and CSRF with real sessions).
                status == 303
            } else if expect_ok {
                status != 401 && status != 403 && status < 500
            } else if matches!(access, Access::Secret | Access::Signed) {
                status == 401 || status == 403 || status == 404
            } else if role.is_some() {
                status == 403
            } else {
                status == 401
            };
            if !fine {
                wrong.push(format!(
                    "{method} {path} as {name}: {status} (expected {})",
                    if expect_ok {
                        "past authorisation"
                    } else if role.is_some() {
                        "403"
                    } else {
                        "401"
                    }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
