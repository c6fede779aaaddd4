//! The ticket page: the whole thread across channels with delivery states, files, the
//! deadline and its explanation, the audit log, the applicant's other tickets, presence;
//! and its actions, each the same `tickets::` action the JSON API runs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Attachment;
use minijinja::context;
use serde::Deserialize;

use super::{ConsoleError, Staff, see_other};
use crate::auth::Permission;
use crate::console::work::{self, Presence};
use crate::tickets::{self, ReplyInput};
use crate::web::AppData;
use crate::web::api::ticket_action;
use crate::web::input;

fn number_of(staff: &Staff, raw: &str) -> Result<String, ConsoleError> {
    input::ticket_number(raw).map_err(|e| ConsoleError::from(e).in_language(staff.language()))
}

fn url_of(number: &str) -> String {
    format!("/console/tickets/{number}")
}

/// What the reply box keeps when a reply is refused (409 stale, 422), or when the page
/// comes back from a Knowledge Base search.
#[derive(Default)]
pub struct Draft {
    pub text: String,
    pub problem: Option<String>,
    pub stale: bool,
    pub kb: KbPanel,
    /// Why the forward form was refused, field by field.
    pub forward_problems: Vec<(String, String)>,
}

/// The Knowledge Base panel of the reply box: what was searched, in which language, what
/// was found and which answer was put into the reply.
#[derive(Default)]
pub struct KbPanel {
    pub q: String,
    /// `kk` or `ru`; none: the applicant's language.
    pub language: Option<String>,
    pub searched: bool,
    pub hits: Vec<crate::kb::Hit>,
    pub inserted: Option<String>,
    pub problem: Option<String>,
}

/// How many answers the panel shows for one search.
const KB_HITS: i64 = 8;

pub async fn page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    render(
        &app,
        &req,
        &staff,
        &number,
        StatusCode::OK,
        Draft::default(),
    )
    .await
}

async fn render(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    number: &str,
    status: StatusCode,
    draft: Draft,
) -> Result<HttpResponse, ConsoleError> {
    let now = app.clock.now();
    let (n, uid) = (number.to_string(), staff.user().id.clone());
    let data = app
        .db
        .write(move |c| {
            let Some(v) = crate::web::api::ticket_json(c, &n, now)? else {
                return Ok(None);
            };
            let tid = v["id"].as_str().unwrap_or_default().to_string();
            // Opening the page is being here: the others see it, this page sees them.
            let others = match work::touch(c, &n, &uid, Presence::Viewing, now) {
                Ok(o) => o,
                Err(tickets::ActionError::Db(e)) => return Err(e),
                Err(_) => work::others(c, &tid, &uid, now)?,
            };
            // The transfer list: the queues that take tickets (a closed one refuses).
            let queues: Vec<_> = crate::queues::list(c)?
                .into_iter()
                .filter(|q| q.active)
                .collect();
            let bodies = crate::registry::bodies::list(c, &Default::default())?;
            let staff_logins: Vec<(String, String)> = {
                use crate::db::schema::users;
                use diesel::prelude::*;
                users::table
                    .filter(users::active.eq(1))
                    .filter(users::role.eq_any(["operator", "supervisor", "admin"]))
                    .order(users::login.asc())
                    .limit(500)
                    .select((users::login, users::name))
                    .load(c)?
            };
            Ok(Some((v, others, queues, bodies, staff_logins)))
        })
        .await?;
    let Some((v, others, queues, bodies, staff_logins)) = data else {
        return Err(staff.error(StatusCode::NOT_FOUND, format!("ticket {number} not found")));
    };
    let lang = staff.language();
    let kk = lang == baylanys_core::Language::Kk;
    let applicant_language = match v["language"].as_str() {
        Some("kk") => "kk",
        _ => "ru",
    };
    let kb = &draft.kb;
    let kb_language = kb.language.as_deref().unwrap_or(applicant_language);
    let ict_categories: Vec<String> = app
        .config
        .forwards
        .categories()
        .into_iter()
        .map(str::to_string)
        .collect();
    let explanation = v["deadline"]["explanation"][lang.as_str()]
        .as_str()
        .or_else(|| v["deadline"]["explanation"]["ru"].as_str())
        .map(str::to_string)
        .or_else(|| v["deadline"]["explanation"].as_str().map(str::to_string));
    staff.page_with_status(
        app,
        req,
        status,
        "console/ticket.html",
        context! {
            ticket => minijinja::Value::from_serialize(&v),
            number,
            explanation,
            others,
            queues => queues.iter().map(|x| context!{ code => &x.code, name => if kk { &x.name_kk } else { &x.name_ru } }).collect::<Vec<_>>(),
            bodies => bodies.iter().take(500).map(|b| context!{ id => &b.id, name => if kk { &b.name.kk } else { &b.name.ru } }).collect::<Vec<_>>(),
            staff_logins => staff_logins.iter().map(|(l, n)| context!{ login => l, name => n }).collect::<Vec<_>>(),
            may_work => staff.may(Permission::WorkTickets),
            draft => draft.text, problem => draft.problem, stale => draft.stale,
            kb => context! {
                q => &kb.q, language => kb_language, searched => kb.searched,
                hits => minijinja::Value::from_serialize(&kb.hits),
                inserted => &kb.inserted, problem => &kb.problem,
            },
            applicant_language,
            may_read_kb => staff.may(Permission::ReadKnowledgeBase),
            may_forward => staff.may(Permission::ForwardTickets),
            ict_categories,
            forward_problems => draft.forward_problems.iter().map(|(f, m)| context!{ field => f, message => m }).collect::<Vec<_>>(),
            max_mb => app.config.max_attachment_bytes / (1024 * 1024),
        },
    )
}

/// The page's script says the operator is here or writing; the answer names the others.
pub async fn presence(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let state = match form.get("state").map(String::as_str) {
        Some("writing") => Presence::Writing,
        _ => Presence::Viewing,
    };
    let (uid, now) = (staff.user().id.clone(), app.clock.now());
    let n = number.clone();
    let others = app
        .db
        .write(move |c| Ok(work::touch(c, &n, &uid, state, now)))
        .await?
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    let message = presence_message(&app, &staff, &others);
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "others": others, "message": message })))
}

fn presence_message(app: &AppData, staff: &Staff, others: &[work::Other]) -> String {
    others
        .iter()
        .map(|o| {
            let key = if o.state == "writing" {
                "presence_writing"
            } else {
                "presence_viewing"
            };
            app.templates.console_format(
                staff.language(),
                key,
                context! { name => &o.name, login => &o.login },
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn act<T, F>(
    app: &AppData,
    staff: &Staff,
    number: &str,
    action: F,
    notice: &str,
) -> Result<HttpResponse, ConsoleError>
where
    F: FnOnce(
            &mut crate::db::DbConn,
            &crate::auth::User,
            &crate::AppState,
        ) -> Result<T, tickets::ActionError>
        + Send
        + 'static,
    T: Send + 'static,
{
    ticket_action(app, staff.user().clone(), action)
        .await
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    Ok(see_other(&url_of(number), Some(notice)))
}

pub async fn take(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let n = number.clone();
    act(
        &app,
        &staff,
        &number,
        move |c, user, _| tickets::assign(c, &n, user, &user.login),
        "taken",
    )
    .await
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    login: String,
}

pub async fn assign(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<AssignForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let (n, login) = (number.clone(), form.into_inner().login.trim().to_string());
    act(
        &app,
        &staff,
        &number,
        move |c, user, _| tickets::assign(c, &n, user, &login),
        "assigned",
    )
    .await
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    queue: String,
    note: Option<String>,
}

pub async fn transfer(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<TransferForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let form = form.into_inner();
    let (n, queue) = (number.clone(), form.queue.trim().to_string());
    let note = input::clean_opt(form.note).filter(|n| !n.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 4000) {
        return Err(staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "note: at most 4000 characters",
        ));
    }
    act(
        &app,
        &staff,
        &number,
        move |c, user, app| tickets::transfer(c, &n, user, &queue, note.as_deref(), app.outbox()),
        "transferred",
    )
    .await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
    reason: Option<String>,
}

pub async fn set_status(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<StatusForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let form = form.into_inner();
    let n = number.clone();
    let reason = input::clean_opt(form.reason).filter(|n| !n.trim().is_empty());
    if reason.as_ref().is_some_and(|n| n.chars().count() > 4000) {
        return Err(staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason: at most 4000 characters",
        ));
    }
    act(
        &app,
        &staff,
        &number,
        move |c, user, _| tickets::set_status(c, &n, user, form.status.trim(), reason.as_deref()),
        "status_changed",
    )
    .await
}

#[derive(Deserialize)]
pub struct CloseForm {
    resolution: Option<String>,
}

pub async fn close(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<CloseForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let n = number.clone();
    let resolution =
        input::clean_opt(form.into_inner().resolution).filter(|n| !n.trim().is_empty());
    if resolution
        .as_ref()
        .is_some_and(|n| n.chars().count() > 4000)
    {
        return Err(staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "resolution: at most 4000 characters",
        ));
    }
    act(
        &app,
        &staff,
        &number,
        move |c, user, app| tickets::close(c, &n, user, resolution.as_deref(), app.outbox()),
        "closed",
    )
    .await
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

pub async fn note(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<NoteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let (n, text) = (number.clone(), input::clean(form.into_inner().text));
    act(
        &app,
        &staff,
        &number,
        move |c, user, _| work::add_note(c, &n, user, &text),
        "note_added",
    )
    .await
}

/// The reply: multipart (text, final, last_seen, cards, files), the same checks and the
/// same action as `POST /api/v1/tickets/{number}/replies`. A reply after someone else's
/// newer answer is refused with 409 and the page shows that answer, the text kept.
pub async fn reply(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let lang = staff.language();
    let form = read_reply(&req, payload, app.config.max_attachment_bytes)
        .await
        .map_err(|m| staff.error(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    let text = input::clean(form.text.clone());
    let problem = if text.trim().is_empty() {
        Some(staff.text(&app, "reply_empty"))
    } else if text.chars().count() > 100_000 {
        Some("text: at most 100000 characters".to_string())
    } else if form.too_large.is_some() {
        form.too_large.clone()
    } else if form.cards.len() > crate::registry::cards::MAX_CARDS {
        Some(format!(
            "at most {} cards in one reply",
            crate::registry::cards::MAX_CARDS
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        let draft = Draft {
            text,
            problem: Some(problem),
            stale: false,
            ..Draft::default()
        };
        return render(
            &app,
            &req,
            &staff,
            &number,
            StatusCode::UNPROCESSABLE_ENTITY,
            draft,
        )
        .await;
    }
    let mut body_text = text.clone();
    if !form.cards.is_empty() {
        let (n, t, templates, cards) = (
            number.clone(),
            text.clone(),
            app.templates.clone(),
            form.cards.clone(),
        );
        body_text = app
            .db
            .run(move |c| {
                Ok(crate::registry::cards::append(
                    c, &templates, &n, &t, &cards,
                ))
            })
            .await?
            .map_err(|e| staff.error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    }
    let input = ReplyInput {
        text: body_text,
        html: None,
        attachments: form.files,
        final_reply: form.final_reply,
    };
    let (n, seen, uid) = (
        number.clone(),
        form.last_seen.clone(),
        staff.user().id.clone(),
    );
    let r = ticket_action(&app, staff.user().clone(), move |c, user, app| {
        match &seen {
            Some(seen) => work::check_current(c, &n, seen)?,
            None => {
                return Err(tickets::ActionError::invalid(
                    "last_seen",
                    "the form does not say which message it answers: reload the ticket",
                ));
            }
        }
        let out = tickets::reply(c, &n, user, &input, app.outbox())?;
        if let Some(tid) = tickets::find_id(c, &n)? {
            work::leave(c, &tid, &uid)?;
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(_) => Ok(see_other(&url_of(&number), Some("replied"))),
        Err(crate::web::ApiError::Conflict(m)) => {
            let draft = Draft {
                text,
                problem: Some(m),
                stale: true,
                ..Draft::default()
            };
            render(&app, &req, &staff, &number, StatusCode::CONFLICT, draft).await
        }
        Err(e) => Err(ConsoleError::from(e).in_language(lang)),
    }
}

/// The Knowledge Base panel: the reply box's own form, sent here by its search and
/// insert buttons (`formaction`), so the draft the operator has written comes back with
/// the answers found, or with the chosen answer added to it. Works without JavaScript;
/// chosen files are not kept (a browser cannot give them back), so files come last.
pub async fn kb(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    staff.require(Permission::ReadKnowledgeBase)?;
    let form = read_reply(&req, payload, app.config.max_attachment_bytes)
        .await
        .map_err(|m| staff.error(StatusCode::UNPROCESSABLE_ENTITY, m))?;
    let q = input::clean(form.kb_q.clone()).trim().to_string();
    let mut panel = KbPanel {
        q: q.clone(),
        searched: true,
        ..KbPanel::default()
    };
    match form.kb_language.as_deref() {
        None => {}
        Some(l @ ("kk" | "ru")) => panel.language = Some(l.to_string()),
        Some(other) => {
            panel.problem = Some(format!(
                "kb_language: `{}` is not kk or ru",
                input::shown(other)
            ))
        }
    }
    if q.chars().count() > 500 {
        panel.problem = Some("kb_q: at most 500 characters".into());
    }
    let mut text = input::clean(form.text.clone());
    let mut status = StatusCode::OK;
    if panel.problem.is_some() {
        status = StatusCode::UNPROCESSABLE_ENTITY;
    } else {
        let n = number.clone();
        let language = panel.language.clone();
        let hits = app
            .db
            .run(move |c| {
                // The applicant's language unless the operator chose the other one.
                let language = match language {
                    Some(l) => l,
                    None => {
                        use crate::db::schema::tickets;
                        use diesel::prelude::*;
                        let l: Option<String> = tickets::table
                            .filter(tickets::number.eq(&n))
                            .select(tickets::language)
                            .first(c)
                            .optional()?;
                        match l.as_deref() {
                            Some("kk") => "kk".to_string(),
                            _ => "ru".to_string(),
                        }
                    }
                };
                let params = crate::kb::SearchParams {
                    q,
                    language: Some(language),
                    service: None,
                    body: None,
                    drafts: false,
                    limit: KB_HITS,
                    offset: 0,
                };
                crate::kb::search(c, &params)
            })
            .await?;
        panel.hits = hits;
        if let Some(pick) = &form.kb_insert {
            match panel
                .hits
                .iter()
                .find(|h| &format!("{}:{}", h.kind, h.id) == pick)
            {
                Some(h) => {
                    if !text.trim().is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(h.text.trim());
                    panel.inserted = Some(h.title.clone());
                }
                None => {
                    status = StatusCode::UNPROCESSABLE_ENTITY;
                    panel.problem = Some(staff.text(&app, "kb_gone"));
                }
            }
        }
    }
    let draft = Draft {
        text,
        kb: panel,
        ..Draft::default()
    };
    render(&app, &req, &staff, &number, status, draft).await
}

/// Forward to a body: the same `forwards::create` as `POST /api/v1/tickets/{n}/forwards`.
/// The form names the body (or an ICT category, for the ICI operator), the question, the
/// messages and files to send, and whether personal data goes too (masked otherwise).
/// A refusal shows the page again with each field's message next to the form.
pub async fn forward(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    staff.require(Permission::ForwardTickets)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| {
        staff.error(
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {e}"),
        )
    })?;
    let one = |k: &str| {
        pairs
            .iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let mut problems: Vec<(String, String)> = Vec::new();
    let body_id = match one("body") {
        None => None,
        Some(b) => match input::record_id(&b, "body") {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push((
                    "body".into(),
                    format!("`{}` is not a body id", input::shown(&b)),
                ));
                None
            }
        },
    };
    let question = input::clean(one("question").unwrap_or_default());
    if question.trim().is_empty() {
        problems.push((
            "question".into(),
            "required: write what the body is asked".into(),
        ));
    } else if question.chars().count() > crate::forwards::MAX_TEXT_CHARS {
        problems.push((
            "question".into(),
            format!("at most {} characters", crate::forwards::MAX_TEXT_CHARS),
        ));
    }
    let (messages, attachments) = (all("message"), all("attachment"));
    if messages.len() > 200 || attachments.len() > 200 {
        problems.push((
            "message".into(),
            "at most 200 messages and 200 files in one forward".into(),
        ));
    }
    let input = crate::forwards::NewForward {
        body: body_id,
        question,
        messages,
        attachments,
        include_personal_data: matches!(
            one("personal_data").as_deref(),
            Some("yes" | "on" | "true" | "1")
        ),
        category: one("category").filter(|c| c.chars().count() <= 64),
    };
    if problems.is_empty() {
        let now = app.clock.now();
        let (a, n, user) = (app.clone(), number.clone(), staff.user().clone());
        let made = app
            .db
            .write(move |c| Ok(crate::forwards::create(c, &a, &n, &user, &input, now)))
            .await?;
        match made {
            Ok(_) => {
                app.jobs_wakeup.notify_one();
                return Ok(see_other(&url_of(&number), Some("forwarded")));
            }
            Err(crate::forwards::ForwardError::Invalid(list)) => problems = list,
            Err(e) => {
                return Err(
                    ConsoleError::from(crate::web::ApiError::from(e)).in_language(staff.language())
                );
            }
        }
    }
    let draft = Draft {
        forward_problems: problems,
        ..Draft::default()
    };
    render(
        &app,
        &req,
        &staff,
        &number,
        StatusCode::UNPROCESSABLE_ENTITY,
        draft,
    )
    .await
}

struct ReplyForm {
    text: String,
    final_reply: bool,
    last_seen: Option<String>,
    cards: Vec<String>,
    files: Vec<Attachment>,
    too_large: Option<String>,
    /// The Knowledge Base panel's fields, sent with the reply box.
    kb_q: String,
    kb_language: Option<String>,
    kb_insert: Option<String>,
}

async fn read_reply(
    req: &HttpRequest,
    payload: web::Payload,
    max_file: u64,
) -> Result<ReplyForm, String> {
    let parts = super::read_parts(req, payload, "attachments", max_file, 10).await?;
    if parts.too_many.is_some() {
        return Err("at most 10 files in one reply".into());
    }
    let mut f = ReplyForm {
        text: String::new(),
        final_reply: false,
        last_seen: None,
        cards: Vec::new(),
        too_large: parts.too_large.as_ref().map(|name| {
            format!(
                "{name} is larger than {} MB: send a smaller file",
                max_file / (1024 * 1024)
            )
        }),
        files: parts.files,
        kb_q: String::new(),
        kb_language: None,
        kb_insert: None,
    };
    for (name, value) in parts.fields {
        match name.as_str() {
            "text" => f.text = value,
            "final" => f.final_reply = matches!(value.as_str(), "yes" | "on" | "true" | "1"),
            "kb_q" => f.kb_q = value,
            "kb_language" => {
                f.kb_language = Some(value.trim().to_string()).filter(|l| !l.is_empty())
            }
            "kb_insert" => f.kb_insert = Some(value.trim().to_string()).filter(|v| !v.is_empty()),
            "last_seen" => {
                f.last_seen =
                    Some(value.trim().to_string()).filter(|v| !v.is_empty() && v.len() <= 64)
            }
            "card" => {
                let v = value.trim();
                if !v.is_empty() {
                    let id = input::record_id(v, "body")
                        .map_err(|_| format!("card: `{}` is not a body id", input::shown(v)))?;
                    f.cards.push(id);
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

/// A file of the thread, as a download (never shown inline).
pub async fn attachment(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let id = input::record_id(&path.into_inner(), "attachment")
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    let wanted = id.clone();
    let file = app.db.run(move |c| tickets::attachment(c, &id)).await?;
    let Some(file) = file else {
        return Err(staff.error(StatusCode::NOT_FOUND, format!("no attachment {wanted}")));
    };
    Ok(crate::web::api::download(file, &wanted))
}

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    duplicate: String,
}

/// Merges a duplicate ticket of the same applicant into this one.
pub async fn merge(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<MergeForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let duplicate = number_of(&staff, form.into_inner().duplicate.trim())?;
    let n = number.clone();
    act(
        &app,
        &staff,
        &number,
        move |c, user, _| work::merge(c, &n, &duplicate, user),
        "merged",
    )
    .await
}

#[derive(Deserialize)]
pub struct SplitForm {
    #[serde(default)]
    message: String,
}

/// Splits one of the applicant's later messages off into a ticket of its own; the page
/// of the new ticket follows.
pub async fn split(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
    form: web::Form<SplitForm>,
) -> Result<HttpResponse, ConsoleError> {
    let number = number_of(&staff, &path.into_inner())?;
    let message = input::record_id(form.into_inner().message.trim(), "message")
        .map_err(|e| ConsoleError::from(e).in_language(staff.language()))?;
    let lang = staff.language();
    let new = ticket_action(&app, staff.user().clone(), move |c, user, app| {
        let n = work::allocate_number(c, app)?;
        work::split(c, &number, &message, user, &n)
    })
    .await
    .map_err(|e| ConsoleError::from(e).in_language(lang))?;
    Ok(see_other(&url_of(&new), Some("split")))
}
