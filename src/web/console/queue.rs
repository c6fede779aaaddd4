//! The queue page: my tickets, my queue, unassigned, all (by role), soonest due first,
//! with filters, search (the ticket search of `tickets::list`), counts, pages, saved
//! filters, bulk actions, and a poll for new tickets.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Channel;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{ConsoleError, Staff, see_other};
use crate::auth::{Permission, Role};
use crate::db::schema::users;
use crate::tickets::{self, ListFilter, Status};
use crate::web::AppData;
use crate::web::input::clean_opt;

pub const PAGE_SIZE: i64 = 50;
/// Counts on the page stop here (shown as `1000+`).
pub const COUNT_CAP: i64 = 1000;
/// The total for the pages stops here (50 pages of 50).
pub const TOTAL_CAP: i64 = 2_500;

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct QueueQuery {
    pub view: Option<String>,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub queue: Option<String>,
    pub region: Option<String>,
    pub topic: Option<String>,
    pub q: Option<String>,
    pub page: Option<i64>,
}

/// The views a role has: operators work their own, their queue's and the unassigned;
/// supervisors, administrators and the oversight bodies see all.
fn views_of(role: Role) -> &'static [&'static str] {
    match role {
        Role::Operator => &["mine", "queue", "unassigned"],
        Role::Supervisor | Role::Admin => &["mine", "queue", "unassigned", "all"],
        _ => &["all"],
    }
}

struct Built {
    filter: ListFilter,
    view: &'static str,
    errors: Vec<String>,
}

/// The filter of a queue query for this staff member (the user's id and queue known).
fn build(
    q: &QueueQuery,
    role: Role,
    user_id: &str,
    my_queue: Option<&str>,
    with_status: bool,
) -> Built {
    let views = views_of(role);
    let view = q
        .view
        .as_deref()
        .and_then(|v| views.iter().find(|x| **x == v))
        .copied()
        .unwrap_or(views[0]);
    let mut errors = Vec::new();
    let mut f = ListFilter {
        limit: PAGE_SIZE,
        due_first: true,
        ..Default::default()
    };
    match view {
        "mine" => f.assignee = Some(user_id.to_string()),
        "queue" => f.queue = Some(my_queue.unwrap_or("general").to_string()),
        "unassigned" => f.unassigned = true,
        _ => {}
    }
    let status = clean_opt(q.status.clone()).filter(|s| !s.is_empty());
    match status.as_deref() {
        None | Some("active") => f.not_closed = true,
        Some("any") => {}
        Some(s) => match Status::parse(s) {
            Ok(s) if with_status => f.status = Some(s),
            Ok(_) => {}
            Err(e) => errors.push(e),
        },
    }
    if let Some(c) = clean_opt(q.channel.clone()).filter(|s| !s.is_empty()) {
        match c.parse::<Channel>() {
            Ok(c) => f.channel = Some(c),
            Err(e) => errors.push(e),
        }
    }
    if let Some(queue) = clean_opt(q.queue.clone()).filter(|s| !s.is_empty()) {
        f.queue = Some(queue.chars().take(64).collect());
    }
    f.region = clean_opt(q.region.clone()).filter(|s| !s.is_empty() && s.len() <= 64);
    f.topic = clean_opt(q.topic.clone()).filter(|s| !s.is_empty() && s.len() <= 64);
    if let Some(text) = clean_opt(q.q.clone()).filter(|s| !s.trim().is_empty()) {
        if text.split_whitespace().count() > 20 || text.chars().count() > 500 {
            errors.push("search with at most 20 words and 500 characters".into());
        } else {
            f.q = Some(text);
        }
    }
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    f.offset = (page - 1) * PAGE_SIZE;
    Built {
        filter: f,
        view,
        errors,
    }
}

fn my_queue(
    c: &mut crate::db::DbConn,
    user_id: &str,
) -> Result<Option<String>, crate::db::DbError> {
    use diesel::prelude::*;
    Ok(users::table
        .find(user_id)
        .select(users::queue)
        .first::<Option<String>>(c)
        .optional()?
        .flatten())
}

/// The query string of a queue query with one field changed.
fn link(q: &QueueQuery, set: &[(&str, Option<String>)]) -> String {
    let mut q = q.clone();
    for (k, v) in set {
        match *k {
            "view" => q.view = v.clone(),
            "status" => q.status = v.clone(),
            "page" => q.page = v.as_deref().and_then(|p| p.parse().ok()),
            _ => {}
        }
    }
    let s = serde_urlencoded::to_string(&q).unwrap_or_default();
    format!("/console/queue?{s}")
}

pub async fn page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = q.into_inner();
    let (role, uid) = (staff.role(), staff.user().id.clone());
    let now = app.clock.now();
    let qq = q.clone();
    let data = app
        .db
        .run(move |c| {
            let mine = my_queue(c, &uid)?;
            let built = build(&qq, role, &uid, mine.as_deref(), true);
            if !built.errors.is_empty() {
                return Ok(Err(built.errors));
            }
            let rows = tickets::list(c, &built.filter, now)?;
            let total = tickets::count_up_to(c, &built.filter, now, TOTAL_CAP)?;
            // Counts: each view (open tickets), each status within this view.
            let mut views = Vec::new();
            for v in views_of(role) {
                let mut vq = qq.clone();
                vq.view = Some(v.to_string());
                vq.status = None;
                let b = build(&vq, role, &uid, mine.as_deref(), true);
                views.push((
                    v.to_string(),
                    tickets::count_up_to(c, &b.filter, now, COUNT_CAP)?,
                ));
            }
            let mut statuses = Vec::new();
            for s in Status::ALL {
                let mut sq = qq.clone();
                sq.status = Some(s.as_str().to_string());
                let b = build(&sq, role, &uid, mine.as_deref(), true);
                statuses.push((
                    s.as_str().to_string(),
                    tickets::count_up_to(c, &b.filter, now, COUNT_CAP)?,
                ));
            }
            let queues = crate::queues::list(c)?;
            let saved = crate::console::work::saved_filters_of(c, &uid)?;
            let newest = newest_id(c, &built.filter, now)?;
            Ok(Ok((
                built.view, rows, total, views, statuses, queues, saved, newest,
            )))
        })
        .await?;
    let (view, rows, total, views, statuses, queues, saved, newest) = match data {
        Ok(d) => d,
        Err(errors) => {
            return Err(staff.error(StatusCode::UNPROCESSABLE_ENTITY, errors.join("; ")));
        }
    };
    let today = crate::calendar::format_almaty(now)[..10].to_string();
    let lang = staff.language();
    let rows: Vec<minijinja::Value> = rows
        .iter()
        .map(|r| {
            let overdue =
                crate::tickets::answered::is_overdue(r.answered_at, &r.status, r.due_at, now);
            let due = crate::tickets::almaty(&r.due_at);
            let due_today = !overdue
                && due.starts_with(&today)
                && r.answered_at.is_none()
                && r.status != "closed";
            context! {
                number => &r.number, subject => &r.subject, status => &r.status,
                channel => &r.channel, queue => &r.queue, region => &r.region, topic => &r.topic,
                due => crate::templates::local_time(r.due_at.and_utc()),
                overdue, due_today, assigned => r.assignee_id.is_some(),
            }
        })
        .collect();
    let page = q.page.unwrap_or(1).clamp(1, 10_000);
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let options = |list: &[(&str, &str, &str)]| -> Vec<minijinja::Value> {
        list.iter()
            .map(|(code, kk, ru)| {
                context! { code, name => if lang == baylanys_core::Language::Kk { kk } else { ru } }
            })
            .collect()
    };
    let query_string = serde_urlencoded::to_string(&q).unwrap_or_default();
    let view_links: Vec<minijinja::Value> = views
        .iter()
        .map(|(v, n)| context! { key => v, count => shown_count(*n, COUNT_CAP), href => link(&q, &[("view", Some(v.clone())), ("page", None)]), current => v == view })
        .collect();
    let status_links: Vec<minijinja::Value> = statuses
        .iter()
        .map(|(s, n)| context! { key => s, count => shown_count(*n, COUNT_CAP), href => link(&q, &[("status", Some(s.clone())), ("page", None)]) })
        .collect();
    staff.page(
        &app,
        &req,
        "console/queue.html",
        context! {
            rows, total => shown_count(total, TOTAL_CAP), view, page, pages,
            views => view_links, statuses => status_links,
            prev => (page > 1).then(|| link(&q, &[("page", Some((page - 1).to_string()))])),
            next => (page < pages).then(|| link(&q, &[("page", Some((page + 1).to_string()))])),
            q => &q, query_string,
            channels => Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            all_statuses => Status::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            queues => queues.iter().map(|x| context!{ code => &x.code, name => if lang == baylanys_core::Language::Kk { &x.name_kk } else { &x.name_ru } }).collect::<Vec<_>>(),
            regions => options(crate::tickets::domain::REGIONS),
            topics => options(crate::tickets::domain::TOPICS),
            saved => saved,
            newest => newest.unwrap_or_default(),
            poll_seconds => app.config.console_poll_seconds,
            may_work => staff.may(Permission::WorkTickets),
        },
    )
}

/// A count as shown: `1000+` past the cap.
fn shown_count(n: i64, cap: i64) -> String {
    if n > cap {
        format!("{cap}+")
    } else {
        n.to_string()
    }
}

/// The newest ticket (by id) the filter selects: what the poll compares.
fn newest_id(
    c: &mut crate::db::DbConn,
    f: &ListFilter,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, crate::db::DbError> {
    tickets::newest_id(c, f, now)
}

/// For the page's script: the newest ticket of the view and how many there are, so it
/// can say that new tickets arrived without a reload.
pub async fn poll(
    app: AppData,
    staff: Staff,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let q = q.into_inner();
    let (role, uid) = (staff.role(), staff.user().id.clone());
    let now = app.clock.now();
    let (newest, total) = app
        .db
        .run(move |c| {
            let mine = my_queue(c, &uid)?;
            let built = build(&q, role, &uid, mine.as_deref(), true);
            Ok((
                newest_id(c, &built.filter, now)?,
                tickets::count_up_to(c, &built.filter, now, TOTAL_CAP)?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "stamp": newest.unwrap_or_default(),
            "total": total,
            "message": staff.text(&app, "queue_new_tickets"),
        })))
}

struct BulkForm {
    action: String,
    queue: String,
    login: String,
    back: String,
}

/// Bulk assign, transfer or close of the tickets ticked on the queue page, each through
/// the same action as one at a time; one that cannot (already closed, already in that
/// queue) is named and the others go through.
pub async fn bulk(
    app: AppData,
    staff: Staff,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| {
        staff.error(
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {e}"),
        )
    })?;
    let numbers: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "ticket")
        .map(|(_, v)| v.trim().to_ascii_uppercase())
        .collect();
    let form: BulkForm = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .map(|p| {
            let get = |k: &str| {
                p.iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            BulkForm {
                action: get("action"),
                queue: get("queue"),
                login: get("login"),
                back: get("back"),
            }
        })
        .unwrap_or(BulkForm {
            action: String::new(),
            queue: String::new(),
            login: String::new(),
            back: String::new(),
        });
    if numbers.is_empty() {
        return Err(staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            staff.text(&app, "bulk_none"),
        ));
    }
    if numbers.len() > 200 {
        return Err(staff.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 200 tickets at once",
        ));
    }
    let user = staff.user().clone();
    let action = form.action.clone();
    let (queue, login) = (form.queue.trim().to_string(), form.login.trim().to_string());
    let app2 = app.clone();
    let mut refused = Vec::new();
    for n in numbers {
        let (u, a, q, l, n2) = (
            user.clone(),
            action.clone(),
            queue.clone(),
            login.clone(),
            n.clone(),
        );
        let r = crate::web::api::ticket_action(&app2, u, move |c, user, app| match a.as_str() {
            "take" => tickets::assign(c, &n2, user, &user.login),
            "assign" => tickets::assign(c, &n2, user, &l),
            "transfer" => tickets::transfer(c, &n2, user, &q, None, app.outbox()),
            "close" => tickets::close(c, &n2, user, None, app.outbox()),
            other => Err(tickets::ActionError::invalid(
                "action",
                format!(
                    "`{}` is not a bulk action: take, assign, transfer or close",
                    crate::web::input::shown(other)
                ),
            )),
        })
        .await;
        if let Err(e) = r {
            refused.push(format!("{n}: {e}"));
        }
    }
    if refused.is_empty() {
        Ok(see_other(&back_or_queue(&form.back), Some("bulk_done")))
    } else {
        Err(staff.error(StatusCode::CONFLICT, refused.join("; ")))
    }
}

fn back_or_queue(back: &str) -> String {
    super::safe_next(Some(back)).unwrap_or_else(|| "/console/queue".into())
}

#[derive(Deserialize)]
pub struct SaveFilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    query: String,
}

pub async fn save_filter(
    app: AppData,
    staff: Staff,
    form: web::Form<SaveFilterForm>,
) -> Result<HttpResponse, ConsoleError> {
    let form = form.into_inner();
    let uid = staff.user().id.clone();
    let query = form.query.trim_start_matches('?').to_string();
    let q2 = query.clone();
    let lang = staff.language();
    app.db
        .write(move |c| Ok(crate::console::work::save_filter(c, &uid, &form.name, &q2)))
        .await?
        .map_err(|e| ConsoleError::from(e).in_language(lang))?;
    Ok(see_other(
        &format!("/console/queue?{query}"),
        Some("filter_saved"),
    ))
}

pub async fn delete_filter(
    app: AppData,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let uid = staff.user().id.clone();
    let id = path.into_inner();
    app.db
        .write(move |c| crate::console::work::delete_filter(c, &uid, &id))
        .await?;
    Ok(see_other("/console/queue", Some("filter_deleted")))
}
