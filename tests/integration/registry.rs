//! The registry of bodies, responsible persons and systems (F1-F9, O1): kept by
//! administrators, read by staff, and by an agency or ici user only for its own body.

use baylanys::auth::Role;
use serde_json::json;

use crate::support::{Backend, body_token_for, spawn};

both_backends!(
    bodies_are_created_read_filtered_and_changed_by_administrators,
    bad_registry_input_names_each_field,
    an_agency_user_belongs_to_one_body_and_reads_only_it,
);

async fn bodies_are_created_read_filtered_and_changed_by_administrators(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let operator = t.token("op", Role::Operator).await;

    let r = t
        .post_auth(
            "/api/v1/systems",
            &admin,
            json!({"code": "egov-portal", "name": {"kk": "eGov порталы", "ru": "Портал eGov"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let again = t
        .post_auth(
            "/api/v1/systems",
            &admin,
            json!({"code": "egov-portal", "name": {"kk": "x", "ru": "x"}}),
        )
        .await;
    assert_eq!(again.status(), 409);

    // The minimal create of the issue.
    let r = t
        .post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "central_state_body",
                   "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"},
                   "email": "kense@adilet.gov.kz", "systems": ["egov-portal"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body: serde_json::Value = r.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["kind"], "central_state_body");
    assert_eq!(body["name"]["kk"], "Әділет министрлігі");
    assert_eq!(body["systems"], json!(["egov-portal"]));
    assert_eq!(body["webhook_secret_set"], false);

    // A webhook without a secret gets one, shown once.
    let r = t
        .post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "ici_operator", "name": {"kk": "АКИ операторы", "ru": "Оператор ИКИ"},
                   "webhook_url": "http://127.0.0.1:9/hook",
                   "persons": [{"name": "Асқар Нұрланұлы", "position": "инженер",
                                "email": "askar@ici.kz", "ict_group": true}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let ici: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ici["webhook_secret"].as_str().unwrap().len(), 64);
    assert_eq!(ici["persons"][0]["ict_group"], true);
    let ici_id = ici["id"].as_str().unwrap();
    let read: serde_json::Value = t
        .get_auth(&format!("/api/v1/bodies/{ici_id}"), &operator)
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("webhook_secret").is_none(), "{read}");
    assert_eq!(read["webhook_secret_set"], true);

    // Staff read and filter.
    let all: serde_json::Value = t
        .get_auth("/api/v1/bodies", &operator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["bodies"].as_array().unwrap().len(), 2);
    let by_system: serde_json::Value = t
        .get_auth("/api/v1/bodies?system=egov-portal", &operator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_system["bodies"].as_array().unwrap().len(), 1);
    assert_eq!(by_system["bodies"][0]["id"], id.as_str());
    let by_name: serde_json::Value = t
        .get_auth("/api/v1/bodies?q=%D1%8E%D1%81%D1%82%D0%B8%D1%86", &operator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["bodies"].as_array().unwrap().len(), 1);
    let by_kind: serde_json::Value = t
        .get_auth("/api/v1/bodies?kind=ici_operator", &operator)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_kind["bodies"][0]["id"], ici_id);

    // Operators may not change it; administrators may.
    let r = t
        .patch_auth(
            &format!("/api/v1/bodies/{id}"),
            &operator,
            json!({"region": "Астана"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = t
        .patch_auth(
            &format!("/api/v1/bodies/{id}"),
            &admin,
            json!({"region": "Астана", "systems": [], "ref_pattern": "^МЮ-\\d{4}/\\d+$", "email": null}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["region"], "Астана");
    assert_eq!(b["systems"], json!([]));
    assert_eq!(b["email"], serde_json::Value::Null);
    assert_eq!(b["name"]["ru"], "Министерство юстиции");

    let r = t
        .post_auth(
            &format!("/api/v1/bodies/{id}/persons"),
            &admin,
            json!({"name": "Гүлнар Серікқызы", "phones": ["+7 7172 00 00 00"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let p: serde_json::Value = r.json().await.unwrap();
    let pid = p["id"].as_str().unwrap();
    let r = t
        .patch_auth(
            &format!("/api/v1/bodies/{id}/persons/{pid}"),
            &admin,
            json!({"position": "бас маман", "active": false}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["position"], "бас маман");
    assert_eq!(p["active"], false);
    // A person is changed only through its own body.
    let r = t
        .patch_auth(
            &format!("/api/v1/bodies/{ici_id}/persons/{pid}"),
            &admin,
            json!({"position": "x"}),
        )
        .await;
    assert_eq!(r.status(), 404);
}

async fn bad_registry_input_names_each_field(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "ministry", "name": {"kk": ""}, "email": "not an address",
                   "webhook_url": "ftp://x", "ref_pattern": "([", "systems": ["Bad Code"],
                   "colour": "red"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "kind",
        "name.kk",
        "name.ru",
        "email",
        "webhook_url",
        "ref_pattern",
        "systems[0]",
        "colour",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let r = t
        .post_auth("/api/v1/bodies", &admin, json!({"email": "a@b.kz"}))
        .await;
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("\"kind\"") && text.contains("\"name\""),
        "{text}"
    );
    let r = t.get_auth("/api/v1/bodies/not-an-id", &admin).await;
    assert_eq!(r.status(), 404);
    let r = t
        .get_auth(
            "/api/v1/bodies/0190a1a2-0000-7000-8000-000000000000",
            &admin,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = t.get_auth("/api/v1/bodies?kind=x", &admin).await;
    assert_eq!(r.status(), 422);
}

async fn an_agency_user_belongs_to_one_body_and_reads_only_it(backend: Backend) {
    let t = spawn(backend).await;
    let admin = t.token("admin", Role::Admin).await;
    let mut ids = Vec::new();
    for name in ["А", "Б"] {
        let r = t
            .post_auth(
                "/api/v1/bodies",
                &admin,
                json!({"kind": "local_executive_body", "name": {"kk": name, "ru": name}}),
            )
            .await;
        let b: serde_json::Value = r.json().await.unwrap();
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    let agency = body_token_for(&t.app, "akimat-a", Role::Agency, &ids[0]).await;
    assert_eq!(
        t.get_auth(&format!("/api/v1/bodies/{}", ids[0]), &agency)
            .await
            .status(),
        200
    );
    assert_eq!(
        t.get_auth(&format!("/api/v1/bodies/{}", ids[1]), &agency)
            .await
            .status(),
        403
    );
    assert_eq!(t.get_auth("/api/v1/bodies", &agency).await.status(), 403);
    // An ici user belongs to the ICI operator only; other roles to no body.
    let ids2 = ids.clone();
    let refused = t
        .app
        .db
        .run(move |c| {
            Ok((
                baylanys::auth::check_body_for(c, Role::Ici, Some(&ids2[0]))?,
                baylanys::auth::check_body_for(c, Role::Agency, None)?,
                baylanys::auth::check_body_for(c, Role::Operator, Some(&ids2[0]))?,
            ))
        })
        .await
        .unwrap();
    assert!(refused.0.unwrap_err().contains("ICI operator"));
    assert!(refused.1.unwrap_err().contains("--body"));
    assert!(refused.2.unwrap_err().contains("only agency and ici"));
}
