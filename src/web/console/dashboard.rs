//! The supervisor's dashboard: the service level of a period (registered, answered,
//! answered on time, overdue now; by queue, operator, channel and day) with the overdue
//! list; the ratings (R10) by operator, queue, channel and month with the 3-level
//! survey; the P4 analytics by month, region, body and channel; the phone channel's R3
//! figures by hour, day, queue and operator. Each figure is drawn as an SVG chart on the
//! server ([`crate::reports::svg`]) and written as a table next to it; the period is a
//! GET form, so every view is a link; each table has a CSV export.
//!
//! The figures come from the domain modules ([`crate::reports::service_level`],
//! [`crate::ratings::figures`], [`crate::reports::analytics`],
//! [`crate::calls::stats::figures`]); the same data is in the JSON API
//! (`/api/v1/reports/service-level`, `/api/v1/ratings/figures`,
//! `/api/v1/reports/analytics`, `/api/v1/calls/stats`, `/api/v1/tickets?overdue=true`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use baylanys_core::Language;
use minijinja::{Value, context};

use super::{ConsoleError, Staff};
use crate::auth::Permission;
use crate::calls::stats;
use crate::ratings;
use crate::reports::analytics::{self, Dimension};
use crate::reports::service_level::{self, GroupBy, Line, Period, PeriodError};
use crate::reports::svg;
use crate::web::AppData;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console/dashboard", web::get().to(index))
        .route("/console/dashboard/ratings", web::get().to(ratings_page))
        .route(
            "/console/dashboard/analytics",
            web::get().to(analytics_page),
        )
        .route("/console/dashboard/calls", web::get().to(calls_page))
        .route("/console/dashboard/export", web::get().to(export));
}

/// The most overdue tickets the page lists (the rest: the queue, or the API).
pub const OVERDUE_SHOWN: i64 = 50;

type Query = web::Query<HashMap<String, String>>;

/// The period asked for, or the page's field errors.
struct Asked {
    period: Option<Period>,
    /// The form's values as given (shown again after an error).
    from: String,
    to: String,
    errors: Vec<Value>,
}

fn asked(app: &AppData, staff: &Staff, q: &HashMap<String, String>) -> Asked {
    let now = app.clock.now();
    let (from, to) = (
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
    );
    match Period::parse(from, to, now) {
        Ok(p) => Asked {
            period: Some(p),
            from: p.from.to_string(),
            to: p.to.to_string(),
            errors: Vec::new(),
        },
        Err(list) => Asked {
            period: None,
            from: from.unwrap_or("").chars().take(20).collect(),
            to: to.unwrap_or("").chars().take(20).collect(),
            errors: list
                .iter()
                .map(|e: &PeriodError| {
                    context! {
                        field => e.field,
                        message => staff.text(app, &format!("dashboard_error_{}", e.code)),
                    }
                })
                .collect(),
        },
    }
}

/// The query string of a period (for links between the views and to the exports).
fn period_query(p: Period) -> String {
    format!("from={}&to={}", p.from, p.to)
}

/// A chart and its table: what every section of the pages is given.
fn section(id: &str, heading: String, svg: String, export: String, lines: Vec<Value>) -> Value {
    context! { id, heading, svg, export, lines }
}

fn page_or_error(
    app: &AppData,
    req: &HttpRequest,
    staff: &Staff,
    name: &str,
    view: &str,
    a: Asked,
    ctx: Value,
) -> Result<HttpResponse, ConsoleError> {
    let status = if a.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let query = a.period.map(period_query).unwrap_or_default();
    let views: Vec<Value> = [
        ("service_level", "/console/dashboard"),
        ("ratings", "/console/dashboard/ratings"),
        ("analytics", "/console/dashboard/analytics"),
        ("calls", "/console/dashboard/calls"),
    ]
    .iter()
    .map(|(key, href)| {
        let href = if query.is_empty() {
            href.to_string()
        } else {
            format!("{href}?{query}")
        };
        context! { key, href, current => *key == view }
    })
    .collect();
    let full = context! {
        ..ctx,
        ..context! {
            view, views, action => req.path(),
            from => a.from, to => a.to, errors => a.errors,
            shown => a.period.is_some(),
        }
    };
    staff.page_with_status(app, req, status, name, full)
}

fn queue_name(l: &Line, lang: Language) -> Option<String> {
    match lang {
        Language::Kk => l.name_kk.clone().or_else(|| l.name_ru.clone()),
        _ => l.name_ru.clone().or_else(|| l.name_kk.clone()),
    }
}

/// What a group's key is called on the page.
fn label(app: &AppData, staff: &Staff, by: &str, key: &str, name: Option<String>) -> String {
    match by {
        "channel" => {
            let k = format!("channel_{key}");
            let t = staff.text(app, &k);
            if t == k { key.to_string() } else { t }
        }
        "operator" | "queue" if key == "-" => staff.text(app, "dashboard_nobody"),
        _ => match name {
            Some(n) if n != key => format!("{n} ({key})"),
            _ => key.to_string(),
        },
    }
}

fn percent(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1} %")).unwrap_or_else(|| "—".into())
}

fn line_value(l: &Line, label: String) -> Value {
    context! {
        key => &l.key, label,
        registered => l.registered, answered => l.answered,
        on_time => l.answered_on_time, late => l.answered_late,
        overdue => l.overdue_now, pending => l.pending,
        percent => percent(l.on_time_percent),
    }
}

/// `GET /console/dashboard`: the service level of the period and the overdue list.
async fn index(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: Query,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadReports)?;
    let a = asked(&app, &staff, &q);
    let Some(period) = a.period else {
        return page_or_error(
            &app,
            &req,
            &staff,
            "console/dashboard/index.html",
            "service_level",
            a,
            context! {},
        );
    };
    let now = app.clock.now();
    let (total, groups, overdue) = app
        .db
        .run(move |c| {
            let mut groups = Vec::new();
            let mut total = None;
            for by in GroupBy::ALL {
                let (t, lines) = service_level::service_level(c, period, Some(*by), now)?;
                total = Some(t);
                groups.push((*by, lines));
            }
            let overdue = crate::tickets::list(
                c,
                &crate::tickets::ListFilter {
                    overdue: Some(true),
                    due_first: true,
                    limit: OVERDUE_SHOWN,
                    ..Default::default()
                },
                now,
            )?;
            Ok((total.unwrap_or_default(), groups, overdue))
        })
        .await?;
    let lang = staff.language();
    let desc = format!("{} — {}", period.from, period.to);
    let q = period_query(period);
    let mut sections = Vec::new();
    for (by, lines) in &groups {
        let b = by.as_str();
        let heading = staff.text(&app, &format!("dashboard_by_{b}"));
        let labels: Vec<String> = lines
            .iter()
            .map(|l| label(&app, &staff, b, &l.key, queue_name(l, lang)))
            .collect();
        let chart = if *by == GroupBy::Day {
            let series = vec![
                (
                    staff.text(&app, "dashboard_registered"),
                    lines.iter().map(|l| l.registered as f64).collect(),
                ),
                (
                    staff.text(&app, "dashboard_on_time"),
                    lines.iter().map(|l| l.answered_on_time as f64).collect(),
                ),
                (
                    staff.text(&app, "dashboard_overdue_now"),
                    lines.iter().map(|l| l.overdue_now as f64).collect(),
                ),
            ];
            let x: Vec<String> = lines.iter().map(|l| l.key[5..].to_string()).collect();
            svg::line_chart(&format!("sl-{b}"), &heading, &desc, &x, &series)
        } else {
            let bars: Vec<(String, f64)> = lines
                .iter()
                .zip(&labels)
                .map(|(l, name)| (name.clone(), l.on_time_percent.unwrap_or(0.0)))
                .collect();
            svg::bar_chart(
                &format!("sl-{b}"),
                &format!(
                    "{heading}: {}",
                    staff.text(&app, "dashboard_on_time_percent")
                ),
                &desc,
                &bars,
            )
        };
        let rows = lines
            .iter()
            .zip(labels)
            .map(|(l, name)| line_value(l, name))
            .collect();
        sections.push(section(
            &format!("by-{b}"),
            heading,
            chart,
            format!("/console/dashboard/export?part=service-level&by={b}&{q}"),
            rows,
        ));
    }
    let overdue: Vec<Value> = overdue
        .iter()
        .map(|t| {
            context! {
                number => &t.number, subject => &t.subject, queue => &t.queue,
                channel => label(&app, &staff, "channel", &t.channel, None),
                due => crate::templates::local_time(t.due_at.and_utc()),
                hours => (now.naive_utc() - t.due_at).num_hours(),
            }
        })
        .collect();
    page_or_error(
        &app,
        &req,
        &staff,
        "console/dashboard/index.html",
        "service_level",
        a,
        context! {
            total => line_value(&total, staff.text(&app, "dashboard_total")),
            sections,
            overdue,
            overdue_more => total.overdue_now > overdue.len() as i64,
            overdue_shown => OVERDUE_SHOWN,
            export => format!("/console/dashboard/export?part=service-level&{q}"),
            api => format!("/api/v1/reports/service-level?{q}"),
        },
    )
}

/// `GET /console/dashboard/ratings`: the ratings of the period's months.
async fn ratings_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: Query,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadReports)?;
    let a = asked(&app, &staff, &q);
    let Some(period) = a.period else {
        return page_or_error(
            &app,
            &req,
            &staff,
            "console/dashboard/ratings.html",
            "ratings",
            a,
            context! {},
        );
    };
    let (from, to) = period.months();
    let (f, t) = (from.to_string(), to.to_string());
    let groups = app
        .db
        .run(move |c| {
            let mut out = Vec::new();
            for by in ratings::GroupBy::ALL {
                out.push((*by, ratings::figures(c, *by, &f, &t)?));
            }
            Ok(out)
        })
        .await?;
    let desc = format!("{from} — {to}");
    let q = period_query(period);
    let mut sections = Vec::new();
    let mut survey = [0i64; 3];
    let mut scores = [0i64; 5];
    let mut total = (0i64, 0i64);
    for (by, list) in &groups {
        let b = by.as_str();
        if *by == ratings::GroupBy::Month {
            for r in list {
                for (sum, n) in survey.iter_mut().zip(r.satisfied) {
                    *sum += n;
                }
                for (sum, n) in scores.iter_mut().zip(r.scores) {
                    *sum += n;
                }
                total.0 += r.ratings;
                // The exact sum of the scores (the averages are rounded).
                total.1 += (1..=5).zip(r.scores).map(|(s, n)| s * n).sum::<i64>();
            }
        }
        let heading = staff.text(&app, &format!("dashboard_ratings_by_{b}"));
        let labels: Vec<String> = list
            .iter()
            .map(|r| label(&app, &staff, b, &r.key, None))
            .collect();
        let bars: Vec<(String, f64)> = list
            .iter()
            .zip(&labels)
            .map(|(r, l)| (l.clone(), r.average))
            .collect();
        let chart = svg::bar_chart(
            &format!("rt-{b}"),
            &format!("{heading}: {}", staff.text(&app, "dashboard_average")),
            &desc,
            &bars,
        );
        let rows = list
            .iter()
            .zip(labels)
            .map(|(r, label)| {
                context! {
                    label, ratings => r.ratings, average => format!("{:.2}", r.average),
                    scores => r.scores.to_vec(), satisfied => r.satisfied.to_vec(),
                    comments => r.comments,
                }
            })
            .collect();
        sections.push(section(
            &format!("ratings-by-{b}"),
            heading,
            chart,
            format!("/console/dashboard/export?part=ratings&by={b}&{q}"),
            rows,
        ));
    }
    let levels = ["not", "partly", "yes"];
    let survey_bars: Vec<(String, f64)> = levels
        .iter()
        .zip(survey)
        .map(|(l, n)| {
            (
                staff.text(&app, &format!("dashboard_satisfied_{l}")),
                n as f64,
            )
        })
        .collect();
    let survey_heading = staff.text(&app, "dashboard_survey");
    let score_bars: Vec<(String, f64)> = (1..=5)
        .zip(scores)
        .map(|(s, n)| (s.to_string(), n as f64))
        .collect();
    let scores_heading = staff.text(&app, "dashboard_scores");
    page_or_error(
        &app,
        &req,
        &staff,
        "console/dashboard/ratings.html",
        "ratings",
        a,
        context! {
            sections,
            months => desc.clone(),
            ratings => total.0,
            average => if total.0 > 0 { format!("{:.2}", total.1 as f64 / total.0 as f64) } else { "—".into() },
            survey => survey_bars.iter().map(|(l, n)| context! { label => l, count => *n as i64 }).collect::<Vec<_>>(),
            survey_svg => svg::bar_chart("rt-survey", &survey_heading, &desc, &survey_bars),
            scores => score_bars.iter().map(|(l, n)| context! { label => l, count => *n as i64 }).collect::<Vec<_>>(),
            scores_svg => svg::bar_chart("rt-scores", &scores_heading, &desc, &score_bars),
            api => format!("/api/v1/ratings/figures?by=operator&from={from}&to={to}"),
        },
    )
}

/// `GET /console/dashboard/analytics`: P4 over the period's months.
async fn analytics_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: Query,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadReports)?;
    let a = asked(&app, &staff, &q);
    let Some(period) = a.period else {
        return page_or_error(
            &app,
            &req,
            &staff,
            "console/dashboard/analytics.html",
            "analytics",
            a,
            context! {},
        );
    };
    let (from, to) = period.months();
    let now = app.clock.now();
    let groups = app
        .db
        .run(move |c| {
            let mut out = Vec::new();
            for by in Dimension::ALL {
                let rows = analytics::analytics(c, *by, from, to, now).map_err(|e| match e {
                    crate::reports::ReportError::Db(d) => d,
                    other => crate::db::DbError::Unavailable(other.to_string()),
                })?;
                out.push((*by, rows));
            }
            Ok(out)
        })
        .await?;
    let desc = format!("{from} — {to}");
    let q = period_query(period);
    let mut sections = Vec::new();
    for (by, rows) in &groups {
        let b = by.as_str();
        let heading = staff.text(&app, &format!("dashboard_p4_by_{b}"));
        let labels: Vec<String> = rows
            .iter()
            .map(|r| label(&app, &staff, b, &r.key, r.name.clone()))
            .collect();
        let chart = if *by == Dimension::Month {
            let series = vec![
                (
                    staff.text(&app, "dashboard_appeals"),
                    rows.iter().map(|r| r.appeals as f64).collect(),
                ),
                (
                    staff.text(&app, "dashboard_complaints"),
                    rows.iter().map(|r| r.complaints as f64).collect(),
                ),
                (
                    staff.text(&app, "dashboard_violations"),
                    rows.iter().map(|r| r.deadline_violations as f64).collect(),
                ),
            ];
            svg::line_chart(&format!("p4-{b}"), &heading, &desc, &labels, &series)
        } else {
            let bars: Vec<(String, f64)> = rows
                .iter()
                .zip(&labels)
                .map(|(r, l)| (l.clone(), r.appeals as f64))
                .collect();
            svg::bar_chart(
                &format!("p4-{b}"),
                &format!("{heading}: {}", staff.text(&app, "dashboard_appeals")),
                &desc,
                &bars,
            )
        };
        let lines = rows
            .iter()
            .zip(labels)
            .map(|(r, label)| {
                context! {
                    label, appeals => r.appeals, complaints => r.complaints,
                    on_time => r.answered_on_time, violations => r.deadline_violations,
                    forward_violations => r.forward_violations,
                    standard => r.service_standard_complaints, staff => r.staff_action_complaints,
                }
            })
            .collect();
        sections.push(section(
            &format!("p4-by-{b}"),
            heading,
            chart,
            format!("/console/dashboard/export?part=analytics&by={b}&{q}"),
            lines,
        ));
    }
    page_or_error(
        &app,
        &req,
        &staff,
        "console/dashboard/analytics.html",
        "analytics",
        a,
        context! {
            sections,
            months => desc,
            api => format!("/api/v1/reports/analytics?by=month&from={from}&to={to}"),
        },
    )
}

fn share(v: Option<f64>) -> String {
    v.map(|s| format!("{:.1} %", s * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn call_value(f: &stats::Figures, label: String) -> Value {
    context! {
        label, calls => f.calls, offered => f.offered, answered => f.answered,
        abandoned => f.abandoned, busy_or_failed => f.busy_or_failed,
        within => f.answered_within_30s,
        wait => f.average_wait_secs.map(|w| format!("{w:.1}")).unwrap_or_else(|| "—".into()),
        within_share => share(f.answered_within_30s_share),
        abandoned_share => share(f.abandoned_share),
    }
}

/// `GET /console/dashboard/calls`: the R3 figures of the period.
async fn calls_page(
    app: AppData,
    req: HttpRequest,
    staff: Staff,
    q: Query,
) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadCallStats)?;
    let a = asked(&app, &staff, &q);
    let Some(period) = a.period else {
        return page_or_error(
            &app,
            &req,
            &staff,
            "console/dashboard/calls.html",
            "calls",
            a,
            context! {},
        );
    };
    let (from, to) = (period.from, period.to);
    let (total, groups) = app
        .db
        .run(move |c| {
            let mut out = Vec::new();
            let mut total = None;
            for by in stats::GroupBy::ALL {
                let (t, g) = stats::figures(c, from, to, Some(*by))?;
                total = Some(t);
                out.push((*by, g));
            }
            Ok((total.expect("four groupings"), out))
        })
        .await?;
    let desc = format!("{from} — {to}");
    let q = period_query(period);
    let mut sections = Vec::new();
    for (by, list) in &groups {
        let b = by.as_str();
        let heading = staff.text(&app, &format!("dashboard_calls_by_{b}"));
        let labels: Vec<String> = list
            .iter()
            .map(|f| {
                let k = f.key.clone().unwrap_or_else(|| "-".into());
                label(&app, &staff, b, &k, None)
            })
            .collect();
        let bars: Vec<(String, f64)> = list
            .iter()
            .zip(&labels)
            .map(|(f, l)| (l.clone(), f.average_wait_secs.unwrap_or(0.0)))
            .collect();
        let chart = svg::bar_chart(
            &format!("calls-{b}"),
            &format!("{heading}: {}", staff.text(&app, "dashboard_average_wait")),
            &desc,
            &bars,
        );
        let lines = list
            .iter()
            .zip(labels)
            .map(|(f, l)| call_value(f, l))
            .collect();
        sections.push(section(
            &format!("calls-by-{b}"),
            heading,
            chart,
            format!("/console/dashboard/export?part=calls&by={b}&{q}"),
            lines,
        ));
    }
    page_or_error(
        &app,
        &req,
        &staff,
        "console/dashboard/calls.html",
        "calls",
        a,
        context! {
            sections,
            total => call_value(&total, staff.text(&app, "dashboard_total")),
            target => stats::TARGET_SECS,
            api => format!("/api/v1/calls/stats?from={from}&to={to}&by=day"),
        },
    )
}

/// `GET /console/dashboard/export?part=service-level|ratings|analytics|calls&by=..&from=..&to=..`:
/// one table of the dashboard as CSV (the API's figures, with the session's rights).
async fn export(app: AppData, staff: Staff, q: Query) -> Result<HttpResponse, ConsoleError> {
    staff.require(Permission::ReadReports)?;
    let bad = |key: &str| staff.error(StatusCode::BAD_REQUEST, staff.text(&app, key));
    let now = app.clock.now();
    let period = Period::parse(
        q.get("from").map(String::as_str),
        q.get("to").map(String::as_str),
        now,
    )
    .map_err(|e| {
        staff.error(
            StatusCode::BAD_REQUEST,
            format!(
                "{}: {}",
                e[0].field,
                staff.text(&app, &format!("dashboard_error_{}", e[0].code))
            ),
        )
    })?;
    let by = q.get("by").map(String::as_str).unwrap_or("");
    let part = q.get("part").map(String::as_str).unwrap_or("");
    let (from_m, to_m) = period.months();
    let (name, body) = match part {
        "service-level" => {
            let by = match by {
                "" => None,
                b => Some(GroupBy::parse(b).map_err(|_| bad("dashboard_error_by"))?),
            };
            let (total, lines) = app
                .db
                .run(move |c| service_level::service_level(c, period, by, now))
                .await?;
            (
                format!("service-level-{}", by.map_or("total", |b| b.as_str())),
                service_level::csv(by, &total, &lines),
            )
        }
        "ratings" => {
            let by = ratings::GroupBy::parse(by).map_err(|_| bad("dashboard_error_by"))?;
            let (f, t) = (from_m.to_string(), to_m.to_string());
            let rows = app.db.run(move |c| ratings::figures(c, by, &f, &t)).await?;
            (
                format!("ratings-{}", by.as_str()),
                service_level::ratings_csv(by, &rows),
            )
        }
        "analytics" => {
            let by = Dimension::parse(by).map_err(|_| bad("dashboard_error_by"))?;
            let rows = app
                .db
                .run(move |c| {
                    analytics::analytics(c, by, from_m, to_m, now).map_err(|e| match e {
                        crate::reports::ReportError::Db(d) => d,
                        other => crate::db::DbError::Unavailable(other.to_string()),
                    })
                })
                .await?;
            (
                format!("analytics-{}", by.as_str()),
                analytics::analytics_csv(&rows),
            )
        }
        "calls" => {
            staff.require(Permission::ReadCallStats)?;
            let by = stats::GroupBy::parse(by).map_err(|_| bad("dashboard_error_by"))?;
            let (total, groups) = app
                .db
                .run(move |c| stats::figures(c, period.from, period.to, Some(by)))
                .await?;
            (
                format!("calls-{}", by.as_str()),
                service_level::calls_csv(by, &total, &groups),
            )
        }
        _ => return Err(bad("dashboard_error_part")),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{name}-{}-{}.csv\"",
                period.from, period.to
            ),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}
