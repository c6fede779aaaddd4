//! Search at scale (R6): loads BENCH_TICKETS (1,000,000) tickets and BENCH_ARTICLES
//! (10,000) Knowledge Base articles into a fresh database of each engine, then times the
//! library's search functions (what the API and the console call) with a mix of queries:
//! common and rare words, Russian and Kazakh inflections, two and three words, typos, a
//! status filter; prints p50/p95/max per kind and overall.
//!
//! cargo run --release --example search_bench -- sqlite
//! cargo run --release --example search_bench -- postgres [postgres://URL]
//!
//! Tickets and their index rows are written with multi-row INSERTs (the same
//! normalising as intake, memoised per word); articles go through `kb::create`.

#![allow(clippy::type_complexity)]

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use baylanys::db::prepared::Value as Bind;
use baylanys::db::{Db, DbConn};
use baylanys::search::vocab;
use baylanys::search::{self, tickets as index};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::env_or;

const TOPICS_RU: &[&str] = &[
    "справка о несудимости",
    "замена удостоверения личности",
    "регистрация по месту жительства",
    "пенсионные отчисления",
    "электронная цифровая подпись не работает",
    "получение паспорта",
    "адресная справка",
    "регистрация брака",
    "свидетельство о рождении",
    "пособие по уходу за ребенком",
    "налоговая задолженность",
    "водительское удостоверение",
    "постановка на учет в очередь на жилье",
    "выписка из домовой книги",
    "справка о пенсионных взносах",
    "медицинское страхование",
    "оплата госпошлины",
    "запись в детский сад",
    "портал электронного правительства",
    "технический паспорт автомобиля",
];
const TOPICS_KK: &[&str] = &[
    "соттылығы туралы анықтамасын алу",
    "жеке куәлікті ауыстыру",
    "тұрғылықты жері бойынша тіркеу",
    "зейнетақы жарналары туралы анықтама",
    "электрондық цифрлық қолтаңба жұмыс істемейді",
    "төлқұжат алу",
    "мекенжай анықтамасы",
    "неке қию тіркеу",
    "туу туралы куәлік",
    "балаға күтім жасау жәрдемақысы",
    "салық берешегі",
    "жүргізуші куәлігі",
    "тұрғын үй кезегіне қою",
    "құжаттарды қабылдау",
    "мемлекеттік баж төлеу",
    "балабақшаға кезекке тұру",
    "электрондық үкімет порталы",
    "көлік құралының техникалық төлқұжаты",
];
const FILLER: &[&str] = &[
    "здравствуйте",
    "прошу",
    "помочь",
    "подскажите",
    "пожалуйста",
    "вопрос",
    "срочно",
    "спасибо",
    "не",
    "могу",
    "получить",
    "услугу",
    "через",
    "портал",
    "ошибка",
    "система",
    "выдает",
    "заявление",
    "отправил",
    "неделю",
    "назад",
    "ответа",
    "нет",
    "статус",
    "заявки",
    "отклонено",
    "причина",
    "непонятна",
    "документы",
    "приложены",
    "копия",
    "сканер",
    "личный",
    "кабинет",
    "пароль",
    "смс",
    "код",
    "приходит",
    "телефон",
    "номер",
    "изменился",
    "акимат",
    "центр",
    "обслуживания",
    "населения",
    "очередь",
    "оператор",
    "звонил",
    "дозвониться",
    "сайт",
    "работает",
    "медленно",
    "жалоба",
    "сотрудник",
    "отказал",
    "приеме",
    "сроки",
    "нарушены",
    "дней",
    "прошло",
    "сәлеметсіз",
    "бе",
    "көмектесіңіз",
    "өтініш",
    "жібердім",
    "жауап",
    "жоқ",
    "қате",
    "шығады",
    "жүйе",
    "жұмыс",
    "істемейді",
    "құжат",
    "тапсырдым",
    "мәртебе",
    "қабылданбады",
    "себебі",
    "түсініксіз",
    "құпиясөз",
    "келмейді",
    "телефон",
    "нөмірі",
    "өзгерді",
    "халыққа",
    "қызмет",
    "көрсету",
    "орталығы",
    "кезек",
    "операторға",
    "хабарластым",
    "мерзімі",
    "өтті",
    "рахмет",
    "тезірек",
    "шешіңіз",
];
const NAMES: &[&str] = &[
    "Айгүл",
    "Асқар",
    "Данияр",
    "Жанар",
    "Ерлан",
    "Гүлнар",
    "Нұрлан",
    "Сауле",
    "Тимур",
    "Мадина",
    "Бауыржан",
    "Алия",
    "Руслан",
    "Динара",
    "Серік",
    "Ольга",
    "Иван",
    "Марат",
];
const SURNAMES: &[&str] = &[
    "Жумабеков",
    "Серикбаева",
    "Нурланов",
    "Ахметова",
    "Касымов",
    "Иванова",
    "Петров",
    "Омарова",
    "Сулейменов",
    "Бекова",
    "Токаев",
    "Абенова",
    "Искаков",
    "Мухамеджанова",
];

fn ticket_text(rng: &mut StdRng, n: usize) -> (String, String) {
    let kk = rng.gen_bool(0.4);
    let topic = if kk {
        TOPICS_KK[rng.gen_range(0..TOPICS_KK.len())]
    } else {
        TOPICS_RU[rng.gen_range(0..TOPICS_RU.len())]
    };
    let mut words: Vec<String> = Vec::new();
    for _ in 0..rng.gen_range(6..18) {
        words.push(FILLER[rng.gen_range(0..FILLER.len())].to_string());
    }
    let name = format!(
        "{} {}",
        NAMES[rng.gen_range(0..NAMES.len())],
        SURNAMES[rng.gen_range(0..SURNAMES.len())]
    );
    // Rare words per ticket (a surname made of syllables, an application number): the
    // vocabulary grows with the base as real names and misspellings make it grow.
    const SYL: &[&str] = &[
        "ах", "мет", "бек", "сул", "тан", "нур", "ер", "жан", "кул", "бай", "сер", "ик", "ас",
        "кар", "дос", "мур", "ат", "тим", "ура", "зар", "ман", "гал", "ым", "ра", "жол", "тай",
        "шал", "қож", "ұл", "бол",
    ];
    const END: &[&str] = &["ов", "ова", "ев", "ева", "ұлы", "қызы", "ин", "ина"];
    let mut rare = String::new();
    for _ in 0..3 {
        rare.push_str(SYL[rng.gen_range(0..SYL.len())]);
    }
    rare.push_str(END[rng.gen_range(0..END.len())]);
    let code = format!("{:07}", rng.gen_range(0..3_000_000u32));
    let text = format!(
        "{topic}. {}. {name} {rare}, заявка {code}, UCC-2026-{n:07}",
        words.join(" ")
    );
    (text, if kk { "kk".into() } else { "ru".into() })
}

/// The distinct terms of a text and its vocabulary words, memoised per word.
struct Normaliser {
    cache: HashMap<String, Vec<String>>,
    vocab: BTreeMap<String, String>,
}

impl Normaliser {
    fn terms(&mut self, text: &str) -> String {
        let mut out: Vec<String> = Vec::new();
        for w in search::words(text) {
            let terms = self
                .cache
                .entry(w.surface.clone())
                .or_insert_with(|| search::word_terms(&w.surface));
            if w.surface.chars().count() >= vocab::MIN_WORD && !terms.is_empty() {
                self.vocab
                    .entry(w.surface.clone())
                    .or_insert_with(|| terms.join(" "));
            }
            for t in terms.iter() {
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
        }
        out.join(" ")
    }
}

fn placeholders(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(", "));
    vec![row; rows].join(", ")
}

fn load_tickets(db: &Db, n: usize) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(1414);
    let contact = baylanys::db::new_id();
    db.write_blocking(|c| {
        vocab::execute(
            c,
            "INSERT INTO contacts (id, kind, created_at, updated_at) VALUES (?, 'person', '2026-11-01 10:00:00', '2026-11-01 10:00:00')",
            &[Bind::Text(&contact)],
        )?;
        Ok(())
    })
    .expect("contact");
    let mut norm = Normaliser {
        cache: HashMap::new(),
        vocab: BTreeMap::new(),
    };
    let per_statement = 400;
    let per_tx = 20_000;
    let mut last_doc = 0i64;
    let mut done = 0;
    while done < n {
        let batch = per_tx.min(n - done);
        let mut rows: Vec<(String, String, String, String, String, i64, String)> =
            Vec::with_capacity(batch);
        for i in 0..batch {
            let k = done + i;
            let id = baylanys::db::new_id();
            let (text, lang) = ticket_text(&mut rng, k);
            let lower = text.to_lowercase();
            let terms = norm.terms(&lower);
            let mut doc = index::doc_base(&id);
            if doc <= last_doc {
                doc = last_doc + 1;
            }
            last_doc = doc;
            let status = ["new", "open", "answered", "closed"][k % 4].to_string();
            rows.push((
                id,
                format!("UCC-2026-{k:07}"),
                lower,
                lang,
                status,
                doc,
                terms,
            ));
        }
        db.write_blocking(|c| {
            for part in rows.chunks(per_statement) {
                let sql = format!(
                    "INSERT INTO tickets (id, number, contact_id, channel, status, queue, subject, language, \
                     registered_at, effective_from, due_at, deadline, search_text, updated_at) VALUES {}",
                    vec![
                        "(?, ?, ?, 'web_form', ?, 'general', ?, ?, '2026-11-01 10:00:00', '2026-11-01', \
                         '2026-11-03 13:30:00', '{}', ?, '2026-11-01 10:00:00')";
                        part.len()
                    ]
                    .join(", ")
                );
                let mut binds = Vec::new();
                for r in part {
                    let subject: &str = &r.2[..r.2.char_indices().nth(60).map_or(r.2.len(), |(i, _)| i)];
                    binds.extend([
                        Bind::Text(&r.0),
                        Bind::Text(&r.1),
                        Bind::Text(&contact),
                        Bind::Text(&r.4),
                        Bind::Text(subject),
                        Bind::Text(&r.3),
                        Bind::Text(&r.2),
                    ]);
                }
                vocab::execute(c, &sql, &binds)?;
                let sql = format!(
                    "INSERT INTO ticket_search (doc, ticket_id, terms) VALUES {}",
                    placeholders(part.len(), 3)
                );
                let mut binds = Vec::new();
                for r in part {
                    binds.extend([Bind::Int(r.5), Bind::Text(&r.0), Bind::Text(&r.6)]);
                }
                vocab::execute(c, &sql, &binds)?;
            }
            Ok(())
        })
        .expect("tickets load");
        done += batch;
        if done % 100_000 == 0 {
            eprintln!("  {done} tickets, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    let words = std::mem::take(&mut norm.vocab);
    db.write_blocking(|c| vocab::add(c, index::SCOPE, &words))
        .expect("vocabulary");
    eprintln!(
        "  {n} tickets and {} vocabulary words loaded in {:.0} s",
        words.len(),
        started.elapsed().as_secs_f64()
    );
}

fn article_text(rng: &mut StdRng) -> (String, String, String) {
    let kk = rng.gen_bool(0.5);
    let topics = if kk { TOPICS_KK } else { TOPICS_RU };
    let topic = topics[rng.gen_range(0..topics.len())];
    let other = topics[rng.gen_range(0..topics.len())];
    let mut sentences = Vec::new();
    for _ in 0..rng.gen_range(8..20) {
        let mut words: Vec<&str> = Vec::new();
        for _ in 0..rng.gen_range(6..14) {
            words.push(FILLER[rng.gen_range(0..FILLER.len())]);
        }
        sentences.push(words.join(" "));
    }
    sentences.insert(
        rng.gen_range(0..sentences.len()),
        format!("{other} {topic}"),
    );
    let title = format!(
        "{topic} {}",
        SURNAMES[rng.gen_range(0..SURNAMES.len())].to_lowercase()
    );
    (
        title,
        sentences.join(". "),
        if kk { "kk".into() } else { "ru".into() },
    )
}

fn load_articles(db: &Db, n: usize) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(9);
    let mut done = 0;
    while done < n {
        let batch = 500.min(n - done);
        let items: Vec<_> = (0..batch).map(|_| article_text(&mut rng)).collect();
        db.write_blocking_as(|c| {
            for (title, body, lang) in &items {
                let input = baylanys::kb::ArticleInput {
                    language: Some(lang.clone()),
                    title: Some(title.clone()),
                    body: Some(body.clone()),
                    tags: Some(vec!["bench".into()]),
                    publish: true,
                    ..Default::default()
                };
                baylanys::kb::create(c, None, &input, "bench", baylanys::db::now())?;
            }
            Ok::<_, baylanys::kb::KbError>(())
        })
        .expect("articles load");
        done += batch;
    }
    eprintln!(
        "  {n} articles loaded in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(what: &str, mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
    println!(
        "  {what:<44} n={:<4} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
        times.len(),
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
    (p50, p95)
}

fn time_queries(
    conn: &mut DbConn,
    rounds: usize,
    kinds: &[(&str, Vec<String>)],
    run: &mut dyn FnMut(&mut DbConn, &str, &str) -> usize,
) -> Vec<Duration> {
    let mut all = Vec::new();
    for (kind, queries) in kinds {
        let mut times = Vec::new();
        let mut found = 0;
        for r in 0..rounds {
            let q = &queries[r % queries.len()];
            let t = Instant::now();
            found += run(conn, kind, q);
            times.push(t.elapsed());
        }
        report(
            &format!("{kind} ({} hits/query)", found / rounds),
            times.clone(),
        );
        all.extend(times);
    }
    all
}

fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".into());
    let given_url = args.next();
    let tickets: usize = env_or("BENCH_TICKETS", 1_000_000usize);
    let articles: usize = env_or("BENCH_ARTICLES", 10_000usize);
    let rounds: usize = env_or("BENCH_ROUNDS", 60usize);
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cluster = None;
    let url = match (backend.as_str(), given_url) {
        ("sqlite", _) => format!("sqlite://{}", tmp.path().join("bench.db").display()),
        ("postgres", Some(url)) => url,
        ("postgres", None) => {
            let (url, stop) = support::postgres::start_postgres(tmp.path());
            cluster = Some(stop);
            url
        }
        (other, _) => panic!("backend `{other}`: use sqlite or postgres"),
    };
    let db = Db::connect(&url, 4).expect("database");
    db.migrate().expect("migrations");
    eprintln!("{backend}: loading");
    load_tickets(&db, tickets);
    load_articles(&db, articles);
    if backend == "postgres" {
        db.write_blocking(|c| {
            vocab::execute(c, "ANALYZE", &[])?;
            Ok(())
        })
        .expect("analyze");
    }
    let mut conn = db.get().expect("a connection");
    let conn: &mut DbConn = &mut conn;

    println!("{backend}: ticket search over {tickets} tickets (page of 50, newest first)");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let ticket_kinds: Vec<(&str, Vec<String>)> = vec![
        (
            "common word",
            s(&["прошу", "портал", "өтініш", "документы"]),
        ),
        (
            "inflected Russian, two words",
            s(&[
                "справки несудимость",
                "удостоверений личности",
                "паспорта получения",
            ]),
        ),
        (
            "inflected Kazakh",
            s(&["анықтамалары", "куәлігін", "төлқұжатын"]),
        ),
        (
            "three words",
            s(&[
                "прошу справку несудимости",
                "жеке куәлік ауыстыру",
                "пенсионных отчислений ошибка",
            ]),
        ),
        ("rare word", s(&["0001234", "ахметнурова", "жумабековым"])),
        (
            "typo (one letter)",
            s(&["несудимасти", "удостоверния", "анықтамасынн"]),
        ),
        ("no match", s(&["абракадабра", "несуществующее слово"])),
        ("word + status filter", s(&["справки"])),
    ];
    let now = chrono::Utc::now();
    let mut run_ticket = |c: &mut DbConn, kind: &str, q: &str| {
        let f = baylanys::tickets::ListFilter {
            q: Some(q.to_string()),
            limit: 50,
            status: (kind == "word + status filter").then_some(baylanys::tickets::Status::Closed),
            ..Default::default()
        };
        baylanys::tickets::list(c, &f, now)
            .expect("ticket search")
            .len()
    };
    // One warm-up pass, as a server that has been running a while.
    time_queries(conn, 3, &ticket_kinds[..1], &mut run_ticket);
    let all = time_queries(conn, rounds, &ticket_kinds, &mut run_ticket);
    let (_, t95) = report("ALL ticket searches", all);

    println!(
        "{backend}: Knowledge Base search over {articles} articles (page of 20, ranked, highlighted)"
    );
    let kb_kinds: Vec<(&str, Vec<String>)> = vec![
        ("common word", s(&["прошу", "жүйе", "документы"])),
        (
            "inflected Russian, two words",
            s(&["справки несудимость", "удостоверений личности"]),
        ),
        ("inflected Kazakh", s(&["анықтамалары", "куәлігін"])),
        (
            "three words + language",
            s(&["справка о пенсионных взносах", "жеке куәлікті ауыстыру"]),
        ),
        ("typo (one letter)", s(&["несудимасти", "удостоверния"])),
        ("no match", s(&["абракадабра"])),
    ];
    let mut run_kb = |c: &mut DbConn, kind: &str, q: &str| {
        let p = baylanys::kb::SearchParams {
            q: q.to_string(),
            language: kind.ends_with("language").then(|| {
                if search::kazakh::has_kazakh_letter(q) {
                    "kk"
                } else {
                    "ru"
                }
                .to_string()
            }),
            limit: 20,
            ..Default::default()
        };
        baylanys::kb::search(c, &p).expect("kb search").len()
    };
    time_queries(conn, 3, &kb_kinds[..1], &mut run_kb);
    let all = time_queries(conn, rounds, &kb_kinds, &mut run_kb);
    let (_, k95) = report("ALL Knowledge Base searches", all);
    println!(
        "{backend}: ticket search p95 {:.1} ms (aim < 50), KB search p95 {:.1} ms (aim < 20)",
        t95.as_secs_f64() * 1e3,
        k95.as_secs_f64() * 1e3
    );
    drop(db);
    if let Some(stop) = cluster {
        let _ = std::process::Command::new("sh")
            .args(["-c", &stop])
            .status();
    }
}
