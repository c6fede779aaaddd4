//! The Knowledge Base and search (R6, R9), over HTTP on both backends: inflected forms
//! in Kazakh and Russian find each other, a one-letter typo still finds, hits are ranked,
//! filtered by language and service and highlighted; drafts stay with editors until
//! published; every version is kept; import and export round-trip, and a bad row is
//! named by line and field; hostile queries never make a server error. The same
//! normalising now searches tickets.

use std::process::Command;

use baylanys::auth::Role;
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, appeal, spawn};

both_backends!(
    r6_kb_search_finds_inflections_and_typos_ranked_filtered_and_highlighted,
    r6_drafts_stay_with_editors_and_every_version_is_kept,
    r6_import_and_export_round_trip_and_a_bad_row_is_named,
    r6_hostile_queries_never_make_a_server_error,
    r6_ticket_search_finds_inflections_typos_and_follow_ups,
);

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {e}: {text}"))
}

async fn get(t: &TestApp, path: &str, token: &str) -> Value {
    let r = t.get_auth(path, token).await;
    assert_eq!(r.status(), 200, "{path}");
    json_of(r).await
}

async fn search(t: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let r = t
        .client
        .get(format!("{}/api/v1/kb/articles", t.url))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(r.status(), 200, "{query:?}");
    json_of(r).await["hits"].as_array().expect("hits").clone()
}

fn ids(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn article(t: &TestApp, editor: &str, body: Value) -> String {
    let r = t.post_auth("/api/v1/kb/articles", editor, body).await;
    assert_eq!(r.status(), 201);
    json_of(r).await["id"].as_str().expect("an id").to_string()
}

/// A body and a service of the registry, with a passport; returns the service id.
async fn service(t: &TestApp) -> (String, String) {
    let admin = t.token("kb-admin", Role::Admin).await;
    let r = t
        .post_auth(
            "/api/v1/bodies",
            &admin,
            json!({"kind": "central_state_body",
                   "name": {"kk": "Әділет министрлігі", "ru": "Министерство юстиции"}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let body = json_of(r).await["id"].as_str().unwrap().to_string();
    let r = t
        .post_auth(
            "/api/v1/services",
            &admin,
            json!({
                "register_number": "00701001",
                "name": {"kk": "Соттылығы туралы анықтама беру", "ru": "Выдача справки о судимости"},
                "body": body,
                "passport": {
                    "term": {"kk": "20 минут", "ru": "20 минут"},
                    "documents": {"kk": "Жеке куәлік", "ru": "Удостоверение личности и заявление на апостилирование"},
                    "fee": {"kk": "Тегін", "ru": "Бесплатно"}
                }
            }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let service = json_of(r).await["id"].as_str().unwrap().to_string();
    (service, body)
}

async fn r6_kb_search_finds_inflections_and_typos_ranked_filtered_and_highlighted(
    backend: Backend,
) {
    let t = spawn(backend).await;
    let (service, body) = service(&t).await;
    let editor = t.token("editor", Role::Editor).await;
    let op = t.token("op", Role::Operator).await;
    let exact = article(
        &t,
        &editor,
        json!({"language": "ru", "title": "Справка о несудимости",
               "body": "Справку о несудимости выдают на портале электронного правительства за 20 минут.",
               "tags": ["справки", "egov"], "service": service, "publish": true}),
    )
    .await;
    let mention = article(
        &t,
        &editor,
        json!({"language": "ru", "title": "Адресная справка",
               "body": "Адресную справку получают онлайн. Для визы иногда просят и сведения о несудимости.",
               "linked_body": body, "publish": true}),
    )
    .await;
    let kazakh = article(
        &t,
        &editor,
        json!({"language": "kk", "title": "Анықтама алу",
               "body": "Анықтамасын алу үшін порталға кіріңіз.", "publish": true}),
    )
    .await;
    let draft = article(
        &t,
        &editor,
        json!({"language": "ru", "title": "Черновик: несудимость иностранцев",
               "body": "Справки о несудимости для иностранцев."}),
    )
    .await;

    // Russian endings: both articles, the one with the words in its title first.
    let hits = search(&t, &op, &[("q", "справки несудимость")]).await;
    assert_eq!(
        ids(&hits)[..2],
        [exact.clone(), mention.clone()],
        "{hits:?}"
    );
    assert!(hits[0]["score"].as_f64().unwrap() > hits[1]["score"].as_f64().unwrap());
    assert_eq!(hits[0]["kind"], "article");
    assert_eq!(
        hits[0]["title_html"],
        "<mark>Справка</mark> о <mark>несудимости</mark>"
    );
    assert!(
        hits[1]["snippet_html"]
            .as_str()
            .unwrap()
            .contains("<mark>несудимости</mark>"),
        "{}",
        hits[1]
    );
    // The draft is not an operator's.
    assert!(!ids(&hits).contains(&draft));
    // Kazakh endings.
    let hits = search(&t, &op, &[("q", "анықтамалары"), ("language", "kk")]).await;
    assert!(ids(&hits).contains(&kazakh), "{hits:?}");
    assert!(hits.iter().all(|h| h["language"] == "kk"));
    assert!(
        hits.iter().find(|h| h["id"] == kazakh.as_str()).unwrap()["snippet_html"]
            .as_str()
            .unwrap()
            .contains("<mark>Анықтамасын</mark>")
    );
    // A one-letter typo in a long word: missing, wrong, swapped.
    for typo in ["несудимсти", "несудимозти", "несудимотси"] {
        let hits = search(&t, &op, &[("q", typo)]).await;
        assert!(ids(&hits).contains(&exact), "{typo}: {hits:?}");
    }
    // Language filter.
    let hits = search(&t, &op, &[("q", "справки"), ("language", "kk")]).await;
    assert!(!ids(&hits).contains(&exact), "{hits:?}");
    // Service filter: the linked article and the service's passport.
    let hits = search(&t, &op, &[("q", "справки"), ("service", &service)]).await;
    let kinds: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (h["kind"].as_str().unwrap(), h["id"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("article", exact.as_str())), "{kinds:?}");
    assert!(kinds.contains(&("passport", service.as_str())), "{kinds:?}");
    assert!(!ids(&hits).contains(&mention));
    // The passport's own words find it, in the asked language.
    let hits = search(&t, &op, &[("q", "апостилирования"), ("language", "ru")]).await;
    assert_eq!(ids(&hits), std::slice::from_ref(&service), "{hits:?}");
    assert!(hits[0]["text"].as_str().unwrap().contains("Удостоверение"));
    // Body filter.
    let hits = search(&t, &op, &[("q", "справка"), ("body", &body)]).await;
    assert!(
        ids(&hits).contains(&mention) && !ids(&hits).contains(&exact),
        "{hits:?}"
    );
    // Editors see the draft, marked as one.
    let hits = search(&t, &editor, &[("q", "несудимость иностранцы")]).await;
    assert_eq!(ids(&hits), std::slice::from_ref(&draft));
    assert_eq!(hits[0]["state"], "draft");
    // An empty q lists what the caller may see.
    let listed = search(&t, &op, &[]).await;
    assert!(ids(&listed).contains(&exact) && !ids(&listed).contains(&draft));
    // Bad filters name themselves.
    let r = t
        .get_auth("/api/v1/kb/articles?language=en&service=x&limit=0", &op)
        .await;
    assert_eq!(r.status(), 422);
    let p = json_of(r).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["language", "service", "limit"]);
    // Only editors write.
    let r = t
        .post_auth(
            "/api/v1/kb/articles",
            &op,
            json!({"language": "ru", "title": "x", "body": "y"}),
        )
        .await;
    assert_eq!(r.status(), 403);
    t.stop().await;
}

async fn r6_drafts_stay_with_editors_and_every_version_is_kept(backend: Backend) {
    let t = spawn(backend).await;
    let editor = t.token("aigerim", Role::Editor).await;
    let second = t.token("dauren", Role::Editor).await;
    let op = t.token("op", Role::Operator).await;
    let id = article(
        &t,
        &editor,
        json!({"language": "kk", "title": "Мекенжай анықтамасы",
               "body": "Мекенжай анықтамасы eGov порталында беріледі.", "tags": ["мекенжай"]}),
    )
    .await;
    let path = format!("/api/v1/kb/articles/{id}");
    // A draft: not for operators, neither by id nor by search.
    assert_eq!(t.get_auth(&path, &op).await.status(), 404);
    assert!(search(&t, &op, &[("q", "мекенжайлары")]).await.is_empty());
    let a = get(&t, &path, &editor).await;
    assert_eq!(
        (a["version"].as_i64(), a["draft"].as_bool()),
        (Some(1), Some(true))
    );
    // Published: operators see it.
    let r = t
        .post_auth(&format!("{path}/publish"), &editor, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["published_by"], "aigerim");
    assert_eq!(get(&t, &path, &op).await["version"], 1);
    assert_eq!(
        ids(&search(&t, &op, &[("q", "мекенжайлары")]).await),
        std::slice::from_ref(&id)
    );
    // A change is a new version, a draft: operators keep the published text.
    let r = t
        .patch_auth(
            &path,
            &second,
            json!({"body": "Мекенжай анықтамасын Азаматтарға арналған үкімет береді.",
                   "note": "ХҚКО туралы"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-new-version"], "true");
    let head = json_of(r).await;
    assert_eq!(
        (head["version"].as_i64(), head["draft"].as_bool()),
        (Some(2), Some(true))
    );
    let seen = get(&t, &path, &op).await;
    assert_eq!(seen["version"], 1);
    assert!(seen["body"].as_str().unwrap().contains("eGov"));
    assert!(search(&t, &op, &[("q", "үкімет")]).await.is_empty());
    // The same fields again change nothing.
    let r = t
        .patch_auth(&path, &second, json!({"body": head["body"]}))
        .await;
    assert_eq!(r.headers()["x-new-version"], "false");
    // Who changed what, when.
    let v = get(&t, &format!("{path}/versions"), &editor).await;
    let v = v["versions"].as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["version"], 2);
    assert_eq!(v[0]["author"], "dauren");
    assert_eq!(v[0]["changed"], json!(["body"]));
    assert_eq!(v[0]["note"], "ХҚКО туралы");
    assert_eq!(v[0]["published"], false);
    assert_eq!(v[1]["author"], "aigerim");
    assert_eq!(v[1]["published"], true);
    assert!(v[1]["at"].as_str().unwrap().ends_with("+05:00"));
    // Operators may not read versions (drafts are in them).
    assert_eq!(
        t.get_auth(&format!("{path}/versions"), &op).await.status(),
        403
    );
    // Publishing version 2: operators see it; an unknown version is refused.
    let r = t
        .post_auth(&format!("{path}/publish"), &editor, json!({"version": 9}))
        .await;
    assert_eq!(r.status(), 422);
    let r = t
        .post_auth(&format!("{path}/publish"), &editor, json!({"version": 2}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(get(&t, &path, &op).await["version"], 2);
    assert_eq!(
        ids(&search(&t, &op, &[("q", "үкімет")]).await),
        std::slice::from_ref(&id)
    );
    // Bad input names each field.
    let r = t
        .post_auth(
            "/api/v1/kb/articles",
            &editor,
            json!({"language": "en", "title": "", "tags": "x", "service": "nope", "colour": 1}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let p = json_of(r).await;
    let mut fields: Vec<String> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["body", "colour", "language", "service", "tags", "title"]
    );
    let r = t
        .post_auth(
            "/api/v1/kb/articles",
            &editor,
            json!({"language": "ru", "title": "x", "body": "y",
                   "service": "0190a1a2-0000-7000-8000-000000000001"}),
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(json_of(r).await.to_string().contains("no service"));
    t.stop().await;
}

fn cli(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baylanys"))
        .env_remove("BAYLANYS_DATABASE_URL")
        .env("BAYLANYS_LOG", "warn")
        .args(args)
        .args(["--database-url", db])
        .output()
        .expect("baylanys runs")
}

async fn export(t: &TestApp, token: &str, format: &str) -> String {
    let r = t
        .get_auth(&format!("/api/v1/kb/export?format={format}"), token)
        .await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn r6_import_and_export_round_trip_and_a_bad_row_is_named(backend: Backend) {
    let t = spawn(backend).await;
    let editor = t.token("editor", Role::Editor).await;
    article(
        &t,
        &editor,
        json!({"language": "ru", "title": "Справка, \"с кавычками\"",
               "body": "=1+2 строка\nвторая строка, с запятой", "tags": ["a", "b c"], "publish": true}),
    )
    .await;
    article(
        &t,
        &editor,
        json!({"language": "kk", "title": "Жоба", "body": "Әлі жарияланбаған мәтін."}),
    )
    .await;
    let json_file = export(&t, &editor, "json").await;
    let csv_file = export(&t, &editor, "csv").await;
    assert!(
        csv_file.contains("'=1+2"),
        "a formula is defused: {csv_file}"
    );

    for (format, file) in [("json", &json_file), ("csv", &csv_file)] {
        let fresh = spawn(backend).await;
        let ed = fresh.token("editor2", Role::Editor).await;
        let r = fresh
            .client
            .post(format!("{}/api/v1/kb/import?format={format}", fresh.url))
            .bearer_auth(&ed)
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(json_of(r).await["created"], 2);
        assert_eq!(
            &export(&fresh, &ed, format).await,
            file,
            "{format} round trip"
        );
        // The imported articles are searchable, and drafts stayed drafts.
        let op = fresh.token("op", Role::Operator).await;
        assert_eq!(search(&fresh, &op, &[("q", "кавычки")]).await.len(), 1);
        assert!(
            search(&fresh, &op, &[("q", "жарияланбаған")])
                .await
                .is_empty()
        );
        // Importing the same file again changes nothing.
        let r = fresh
            .client
            .post(format!("{}/api/v1/kb/import?format={format}", fresh.url))
            .bearer_auth(&ed)
            .body(file.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(json_of(r).await["unchanged"], 2);
        fresh.stop().await;
    }

    // A bad CSV row: named by line and field, and nothing is imported.
    let bad = "id,language,title,body,tags,service,linked_body,published\r\n\
               ,ru,Хорошая,Текст,,,,true\r\n\
               ,en,Плохая,Текст,,,,true\r\n\
               ,kk,,Мәтін,,,,maybe\r\n";
    let r = t
        .client
        .post(format!("{}/api/v1/kb/import", t.url))
        .bearer_auth(&editor)
        .header("content-type", "text/csv")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p = json_of(r).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["line 3: language", "line 4: title", "line 4: publish"],
        "{p}"
    );
    assert_eq!(export(&t, &editor, "json").await, json_file);

    // The same through the command line.
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("kb.csv");
    let out = cli(
        &t.database_url,
        &[
            "kb",
            "export",
            "--format",
            "csv",
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), csv_file);
    let bad_path = dir.path().join("bad.csv");
    std::fs::write(&bad_path, bad).unwrap();
    let out = cli(
        &t.database_url,
        &["kb", "import", bad_path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 3, language"), "{stderr}");
    let good_path = dir.path().join("good.json");
    std::fs::write(
        &good_path,
        json!([{"language": "ru", "title": "Из файла", "body": "Импорт из командной строки", "published": true}])
            .to_string(),
    )
    .unwrap();
    let out = cli(
        &t.database_url,
        &[
            "kb",
            "import",
            good_path.to_str().unwrap(),
            "--as",
            "importer",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let op = t.token("op", Role::Operator).await;
    let hits = search(&t, &op, &[("q", "командная строка")]).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    let id = hits[0]["id"].as_str().unwrap();
    let v = get(&t, &format!("/api/v1/kb/articles/{id}/versions"), &editor).await;
    assert_eq!(v["versions"][0]["author"], "importer");
    t.stop().await;
}

/// Queries that break naive full-text code: FTS5 and tsquery syntax, SQL, huge, empty,
/// punctuation only, NUL and control characters.
fn hostile_queries() -> Vec<String> {
    let mut q: Vec<String> = [
        "",
        " ",
        "!!!",
        "...",
        "\"",
        "\"\"\"",
        "*",
        "справк*",
        "NEAR(справка несудимость)",
        "справка NEAR несудимость",
        "title:справка",
        ":",
        "a & b | !c",
        "&",
        "|",
        "!",
        "!справка",
        "'",
        "''''",
        "(",
        ")",
        "(()",
        "-справка",
        "AND OR NOT",
        "справка AND",
        "'; DROP TABLE kb_articles; --",
        "\\",
        "%_%",
        "\u{0}",
        "\u{7}\u{1b}[31m",
        "\u{202e}справка",
        "<script>alert(1)</script>",
        "^",
        "$",
        "{}[]",
        "1:2:3",
        "справка:*",
        "несудимость <-> справка",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    q.push("несудимость ".repeat(100));
    q.push("я".repeat(1000));
    q.push(
        (0..300)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    q
}

async fn r6_hostile_queries_never_make_a_server_error(backend: Backend) {
    let t = spawn(backend).await;
    let editor = t.token("editor", Role::Editor).await;
    let op = t.token("op", Role::Operator).await;
    article(
        &t,
        &editor,
        json!({"language": "ru", "title": "Справка о несудимости",
               "body": "Текст <b>с разметкой</b> & символами.", "publish": true}),
    )
    .await;
    assert_eq!(
        t.post_json("/api/v1/appeals", appeal("Справка о несудимости"))
            .await
            .status(),
        201
    );
    for q in hostile_queries() {
        let r = t
            .client
            .get(format!("{}/api/v1/kb/articles", t.url))
            .bearer_auth(&op)
            .query(&[("q", q.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "KB q={q:?}");
        let hits = json_of(r).await;
        for h in hits["hits"].as_array().unwrap() {
            assert!(!h["snippet_html"].as_str().unwrap().contains("<b>"), "{h}");
        }
        let r = t
            .client
            .get(format!("{}/api/v1/tickets", t.url))
            .bearer_auth(&op)
            .query(&[("q", q.as_str())])
            .send()
            .await
            .unwrap();
        // Long ones are a 422 naming q (the ticket API's limits), never a 5xx.
        assert!(
            r.status() == 200 || r.status() == 422,
            "tickets q={q:?}: {}",
            r.status()
        );
    }
    // Syntax characters around real words still find by the words.
    let hits = search(&t, &op, &[("q", "\"справки\" * несудимость:")]).await;
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0]["snippet_html"]
            .as_str()
            .unwrap()
            .contains("&lt;b&gt;")
    );
    t.stop().await;
}

async fn tickets(t: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    let r = t
        .client
        .get(format!("{}/api/v1/tickets", t.url))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query:?}");
    json_of(r).await
}

fn numbers(list: &Value) -> Vec<String> {
    list["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["number"].as_str().unwrap().to_string())
        .collect()
}

async fn r6_ticket_search_finds_inflections_typos_and_follow_ups(backend: Backend) {
    let t = spawn(backend).await;
    let op = t.token("op", Role::Operator).await;
    let mut registered = Vec::new();
    for text in [
        "Прошу выдать справку о несудимости",
        "Анықтамасын қалай алуға болады?",
        "Справки о несудимости для визы",
        "Вопрос об ЭЦП",
    ] {
        let r = t.post_json("/api/v1/appeals", appeal(text)).await;
        assert_eq!(r.status(), 201);
        registered.push(json_of(r).await["number"].as_str().unwrap().to_string());
    }
    // Other forms, newest first.
    let found = tickets(&t, &op, &[("q", "справки несудимость")]).await;
    assert_eq!(
        numbers(&found),
        [registered[2].clone(), registered[0].clone()]
    );
    assert_eq!(
        numbers(&tickets(&t, &op, &[("q", "анықтамалары")]).await),
        [registered[1].clone()]
    );
    // A typo.
    assert_eq!(
        numbers(&tickets(&t, &op, &[("q", "несудимасти")]).await).len(),
        2
    );
    // The number itself.
    assert_eq!(
        numbers(&tickets(&t, &op, &[("q", &registered[3])]).await),
        [registered[3].clone()]
    );
    // Pages of a search.
    let first = tickets(&t, &op, &[("q", "несудимость"), ("limit", "1")]).await;
    assert_eq!(numbers(&first), [registered[2].clone()]);
    let after = first["next_after"].as_str().unwrap().to_string();
    let second = tickets(
        &t,
        &op,
        &[("q", "несудимость"), ("limit", "1"), ("after", &after)],
    )
    .await;
    assert_eq!(numbers(&second), [registered[0].clone()]);
    // With another filter.
    assert!(
        numbers(&tickets(&t, &op, &[("q", "несудимость"), ("status", "closed")]).await).is_empty()
    );
    // Rows without an index row (an older release's) are indexed at start.
    let forget_index = || {
        t.app.db.write(|c| {
            use diesel::prelude::*;
            diesel::sql_query("DELETE FROM ticket_search").execute(c)?;
            Ok(())
        })
    };
    forget_index().await.unwrap();
    assert!(numbers(&tickets(&t, &op, &[("q", "несудимость")]).await).is_empty());
    let n = t
        .app
        .db
        .write(|c| baylanys::search::tickets::backfill(c, "", 100))
        .await
        .unwrap();
    assert_eq!(n, (4, None));
    // A batch that may not be the last names where the next starts.
    forget_index().await.unwrap();
    let (first, next) = t
        .app
        .db
        .write(|c| baylanys::search::tickets::backfill(c, "", 3))
        .await
        .unwrap();
    assert_eq!(first, 3);
    let next = next.expect("more after the first three");
    let rest = t
        .app
        .db
        .write(move |c| baylanys::search::tickets::backfill(c, &next, 3))
        .await
        .unwrap();
    assert_eq!(rest, (1, None));
    assert_eq!(
        numbers(&tickets(&t, &op, &[("q", "справки несудимость")]).await).len(),
        2
    );
    t.stop().await;
}
