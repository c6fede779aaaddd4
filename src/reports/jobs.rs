//! The monthly sends (P1, P3). The timer enqueues one [`MonthlyReports`] per report and
//! month (dedupe key), which records the run and one delivery per recipient from the
//! registry, each sent by its own [`ReportMail`] job (dedupe key per month and
//! recipient): N instances send once, a failed send is retried with backoff and stays
//! visible on the run, and `POST /api/v1/reports/runs/{id}/retry` tries again.
//!
//! When: on the last working day on or before the 5th, from the start of working hours,
//! so the send lands "by the 5th" (P1) on a day the recipients read mail, and the whole
//! day remains for retries before the P1 deadline (the end of working hours of the 5th).
//! If none of the 1st-5th is a working day, on the 1st. A server that was down then
//! catches up later in the month.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::monthly::{self, Scope};
use super::{Format, Month};
use crate::AppState;
use crate::calendar::{Calendar, WorkingHours};
use crate::db::schema::{bodies, jobs as jobs_table, report_deliveries, report_runs};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, JobRow, Retry, enqueue_job};

/// The reports sent monthly.
pub const REPORTS: [&str; 2] = ["P1", "P3"];

/// The day the report on `month` is sent (see the module's comment).
pub fn send_day(calendar: &Calendar, month: Month) -> NaiveDate {
    let next = month.next();
    (1..=5)
        .rev()
        .filter_map(|d| NaiveDate::from_ymd_opt(next.year, next.month, d))
        .find(|d| calendar.is_working_day(*d))
        .unwrap_or_else(|| next.first_day())
}

/// When the report on `month` goes out (UTC).
pub fn send_at(calendar: &Calendar, hours: &WorkingHours, month: Month) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = send_day(calendar, month).and_time(hours.start);
    chrono_tz::Asia::Almaty
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

/// The reports due at `now`: those on the previous month, once their send time came.
pub fn due(calendar: &Calendar, hours: &WorkingHours, now: DateTime<Utc>) -> Vec<MonthlyReports> {
    let month = Month::of(now).previous();
    if now < send_at(calendar, hours, month) {
        return Vec::new();
    }
    REPORTS
        .iter()
        .map(|r| MonthlyReports {
            report: r.to_string(),
            month: month.to_string(),
        })
        .collect()
}

text_enum!(
    /// Where one recipient's copy is.
    DeliveryState, "report delivery state" {
        Queued => "queued",
        Sent => "sent",
        Retrying => "retrying",
        Failed => "failed",
    }
);

/// Records the run of one report for one month and queues a mail per recipient.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonthlyReports {
    pub report: String,
    pub month: String,
}

impl Job for MonthlyReports {
    const NAME: &'static str = "monthly_reports";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("monthly_reports:{}:{}", self.report, self.month))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let month = Month::parse(&self.month).map_err(|e| (e, Retry::Never))?;
        let due = app
            .calendar()
            .monthly_report_due(
                month.range().0.and_utc(),
                &self.report,
                &app.config.working_hours,
            )
            .map_err(|e| (e.to_string(), Retry::Never))?
            .due_at;
        let report = self.report.clone();
        app.db
            .write(move |c| start_run(c, &report, month, "timer", due.naive_utc()).map(|_| ()))
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))
    }
}

/// The recipients of a report on a month: (body id, scope, e-mail).
fn recipients(
    conn: &mut DbConn,
    report: &str,
    month: Month,
) -> Result<Vec<(String, String, Option<String>)>, DbError> {
    let kinds: &[&str] = if report == "P3" {
        &["informatization_body", "ici_operator"]
    } else {
        &["quality_body", "central_state_body", "local_executive_body"]
    };
    let mut list: Vec<(String, String, Option<String>)> = bodies::table
        .filter(bodies::active.eq(1))
        .filter(bodies::kind.eq_any(kinds))
        .order((bodies::kind, bodies::id))
        .select((bodies::id, bodies::kind, bodies::email))
        .load::<(String, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, kind, email)| {
            let scope = if report == "P3" || kind == "quality_body" {
                "all"
            } else {
                "own"
            };
            (id, scope.to_string(), email)
        })
        .collect();
    if report == "P3" {
        let extra = super::analytics::ict_recipients(conn, month).map_err(|e| match e {
            super::ReportError::Db(e) => e,
            other => DbError::Unavailable(other.to_string()),
        })?;
        for id in extra {
            if list.iter().any(|(b, _, _)| *b == id) {
                continue;
            }
            let email: Option<Option<String>> = bodies::table
                .find(&id)
                .select(bodies::email)
                .first(conn)
                .optional()?;
            if let Some(email) = email {
                list.push((id, "all".into(), email));
            }
        }
    }
    Ok(list)
}

/// Starts (or finds) the run of `report` on `month` and queues its deliveries; returns
/// the run's id. Idempotent: the run and each delivery exist once.
pub fn start_run(
    conn: &mut DbConn,
    report: &str,
    month: Month,
    started_by: &str,
    due_at: NaiveDateTime,
) -> Result<String, DbError> {
    let now = crate::db::now();
    let existing: Option<String> = report_runs::table
        .filter(report_runs::report.eq(report))
        .filter(report_runs::month.eq(month.to_string()))
        .select(report_runs::id)
        .first(conn)
        .optional()?;
    let run_id = match existing {
        Some(id) => id,
        None => {
            let id = new_id();
            diesel::sql_query(
                "INSERT INTO report_runs (id, report, month, status, started_by, rows_total, due_at, created_at) \
                 VALUES ($1, $2, $3, 'running', $4, 0, $5, $6) ON CONFLICT (report, month) DO NOTHING",
            )
            .bind::<diesel::sql_types::Text, _>(&id)
            .bind::<diesel::sql_types::Text, _>(report)
            .bind::<diesel::sql_types::Text, _>(month.to_string())
            .bind::<diesel::sql_types::Text, _>(started_by)
            .bind::<diesel::sql_types::Timestamp, _>(due_at)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .execute(conn)?;
            report_runs::table
                .filter(report_runs::report.eq(report))
                .filter(report_runs::month.eq(month.to_string()))
                .select(report_runs::id)
                .first(conn)?
        }
    };
    for (body_id, scope, email) in recipients(conn, report, month)? {
        let have: i64 = report_deliveries::table
            .filter(report_deliveries::run_id.eq(&run_id))
            .filter(report_deliveries::body_id.eq(&body_id))
            .count()
            .get_result(conn)?;
        if have > 0 {
            continue;
        }
        let id = new_id();
        let (status, error) = match &email {
            Some(_) => (DeliveryState::Queued, None),
            None => (
                DeliveryState::Failed,
                Some("the body has no e-mail address in the registry: add one, then retry the run"),
            ),
        };
        diesel::insert_into(report_deliveries::table)
            .values((
                report_deliveries::id.eq(&id),
                report_deliveries::run_id.eq(&run_id),
                report_deliveries::body_id.eq(&body_id),
                report_deliveries::scope.eq(&scope),
                report_deliveries::address.eq(&email),
                report_deliveries::status.eq(status.as_str()),
                report_deliveries::last_error.eq(error),
                report_deliveries::created_at.eq(now),
            ))
            .execute(conn)?;
        if email.is_some() {
            enqueue_job(
                conn,
                &ReportMail {
                    delivery_id: id,
                    report: report.to_string(),
                    month: month.to_string(),
                    body_id,
                },
                None,
            )?;
        }
    }
    refresh_run(conn, &run_id)?;
    Ok(run_id)
}

/// Sets the run's status from its deliveries.
pub fn refresh_run(conn: &mut DbConn, run_id: &str) -> Result<(), DbError> {
    let states: Vec<String> = report_deliveries::table
        .filter(report_deliveries::run_id.eq(run_id))
        .select(report_deliveries::status)
        .load(conn)?;
    let count = |s: DeliveryState| states.iter().filter(|x| x.as_str() == s.as_str()).count();
    let (sent, failed) = (count(DeliveryState::Sent), count(DeliveryState::Failed));
    let pending = states.len() - sent - failed;
    let status = if pending > 0 {
        "running"
    } else if failed == 0 {
        "sent"
    } else if sent == 0 {
        "failed"
    } else {
        "partial"
    };
    let finished = (pending == 0).then(crate::db::now);
    diesel::update(report_runs::table.find(run_id))
        .set((
            report_runs::status.eq(status),
            report_runs::finished_at.eq(finished),
        ))
        .execute(conn)?;
    Ok(())
}

/// Queues again every delivery of the run that failed (its job goes back to pending with
/// fresh attempts); returns how many.
pub fn retry_run(conn: &mut DbConn, run_id: &str) -> Result<Option<usize>, DbError> {
    let run: Option<(String, String)> = report_runs::table
        .find(run_id)
        .select((report_runs::report, report_runs::month))
        .first(conn)
        .optional()?;
    let Some((report, month)) = run else {
        return Ok(None);
    };
    let failed: Vec<(String, String, Option<String>)> = report_deliveries::table
        .filter(report_deliveries::run_id.eq(run_id))
        .filter(report_deliveries::status.eq(DeliveryState::Failed.as_str()))
        .select((
            report_deliveries::id,
            report_deliveries::body_id,
            report_deliveries::address,
        ))
        .load(conn)?;
    let mut n = 0;
    let now = crate::db::now();
    for (id, body_id, address) in failed {
        // The registry may have been fixed since: take its address now.
        let email: Option<String> = bodies::table
            .find(&body_id)
            .select(bodies::email)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten()
            .or(address);
        if email.is_none() {
            continue;
        }
        diesel::update(report_deliveries::table.find(&id))
            .set((
                report_deliveries::status.eq(DeliveryState::Queued.as_str()),
                report_deliveries::address.eq(&email),
            ))
            .execute(conn)?;
        let job = ReportMail {
            delivery_id: id,
            report: report.clone(),
            month: month.clone(),
            body_id,
        };
        let key = job.dedupe_key().expect("keyed");
        let revived = diesel::update(
            jobs_table::table
                .filter(jobs_table::dedupe_key.eq(&key))
                .filter(jobs_table::status.eq("failed")),
        )
        .set((
            jobs_table::status.eq("pending"),
            jobs_table::attempts.eq(0),
            jobs_table::run_at.eq(now),
            jobs_table::updated_at.eq(now),
        ))
        .execute(conn)?;
        if revived == 0 {
            enqueue_job(conn, &job, None)?;
        }
        n += 1;
    }
    refresh_run(conn, run_id)?;
    Ok(Some(n))
}

/// Sends one recipient its copy of a report, the file attached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportMail {
    pub delivery_id: String,
    pub report: String,
    pub month: String,
    pub body_id: String,
}

/// Builds the attachment of one delivery: (file name, content type, bytes, rows).
pub fn attachment(
    conn: &mut DbConn,
    app: &AppState,
    report: &str,
    month: Month,
    body_id: &str,
    scope: &str,
) -> Result<(String, String, Vec<u8>, u64), super::ReportError> {
    if report == "P3" {
        let v = super::analytics::ict_report(
            conn,
            month,
            &app.config.registry.ict.topics,
            app.clock.now(),
        )?;
        let rows = v["ict_questions"].as_array().map_or(0, |a| a.len())
            + v["ict_forwards"].as_array().map_or(0, |a| a.len());
        return Ok((
            super::ict::file_name(month, Format::Xlsx),
            Format::Xlsx.content_type().to_string(),
            super::ict::xlsx(&v, "ru")?,
            rows as u64,
        ));
    }
    let scope = if scope == "all" {
        Scope::All
    } else {
        Scope::of_body(conn, body_id)?
    };
    let (bytes, rows) = monthly::to_bytes(conn, month, &scope, "ru", Format::Xlsx)?;
    Ok((
        monthly::file_name(month, &scope, Format::Xlsx),
        Format::Xlsx.content_type().to_string(),
        bytes,
        rows,
    ))
}

impl Job for ReportMail {
    const NAME: &'static str = "report_mail";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!(
            "report_mail:{}:{}:{}",
            self.report, self.month, self.body_id
        ))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        use baylanys_core::{Attachment, Channel, Language, OutboundKind, OutboundMessage};
        let app = ctx.app.clone();
        let month = Month::parse(&self.month).map_err(|e| (e, Retry::Never))?;
        let id = self.delivery_id.clone();
        let d: Option<(String, Option<String>, String)> = app
            .db
            .run(move |c| {
                Ok(report_deliveries::table
                    .find(&id)
                    .select((
                        report_deliveries::scope,
                        report_deliveries::address,
                        report_deliveries::status,
                    ))
                    .first(c)
                    .optional()?)
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let Some((scope, Some(address), status)) = d else {
            return Err((
                "the delivery or its address no longer exists".into(),
                Retry::Never,
            ));
        };
        if status == DeliveryState::Sent.as_str() {
            return Ok(());
        }
        let Some(adapter) = app.adapters.get(&Channel::Email).cloned() else {
            return Err((
                crate::jobs::worker::unconfigured(Channel::Email),
                Retry::After(None),
            ));
        };
        let (a2, report, body_id) = (app.clone(), self.report.clone(), self.body_id.clone());
        let (file_name, content_type, bytes, rows) = app
            .db
            .run(move |c| {
                attachment(c, &a2, &report, month, &body_id, &scope).map_err(|e| match e {
                    super::ReportError::Db(e) => e,
                    other => DbError::Unavailable(other.to_string()),
                })
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let ctx_vars =
            minijinja::context! { report => self.report, month => self.month, rows, file_name };
        let render = |l: Language| app.templates.message("report_mail", l, ctx_vars.clone());
        let (kk, ru) = match (render(Language::Kk), render(Language::Ru)) {
            (Ok(kk), Ok(ru)) => (kk, ru),
            (Err(e), _) | (_, Err(e)) => return Err((e.to_string(), Retry::Never)),
        };
        let out = OutboundMessage {
            channel: Channel::Email,
            kind: OutboundKind::Broadcast,
            recipient: address,
            ticket_number: None,
            language: Language::Kk,
            subject: Some(format!(
                "{} / {}",
                kk.subject.unwrap_or_default(),
                ru.subject.unwrap_or_default()
            )),
            body_text: format!("{}\n\n---\n\n{}", kk.text, ru.text),
            body_html: None,
            attachments: vec![Attachment {
                file_name: file_name.clone(),
                content_type,
                content: bytes,
            }],
            message_id: Some(format!("{}@{}", self.delivery_id, app.mail_domain)),
            references: Vec::new(),
            last_inbound_at: None,
        };
        adapter
            .send(&out)
            .await
            .map_err(crate::jobs::send_failure)?;
        let (id, attempts) = (self.delivery_id.clone(), ctx.row.attempts);
        ctx.when_done(move |c| {
            diesel::update(report_deliveries::table.find(&id))
                .set((
                    report_deliveries::status.eq(DeliveryState::Sent.as_str()),
                    report_deliveries::attempts.eq(attempts),
                    report_deliveries::rows_sent.eq(rows as i32),
                    report_deliveries::file_name.eq(&file_name),
                    report_deliveries::sent_at.eq(crate::db::now()),
                    report_deliveries::last_error.eq(None::<String>),
                ))
                .execute(c)?;
            let run: String = report_deliveries::table
                .find(&id)
                .select(report_deliveries::run_id)
                .first(c)?;
            refresh_run(c, &run)
        });
        Ok(())
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        let state = if gave_up {
            DeliveryState::Failed
        } else {
            DeliveryState::Retrying
        };
        diesel::update(
            report_deliveries::table
                .find(&self.delivery_id)
                .filter(report_deliveries::status.ne(DeliveryState::Sent.as_str())),
        )
        .set((
            report_deliveries::status.eq(state.as_str()),
            report_deliveries::attempts.eq(row.attempts),
            report_deliveries::last_error.eq(error),
        ))
        .execute(conn)?;
        let run: Option<String> = report_deliveries::table
            .find(&self.delivery_id)
            .select(report_deliveries::run_id)
            .first(conn)
            .optional()?;
        if let Some(run) = run {
            diesel::update(report_runs::table.find(&run))
                .set(report_runs::last_error.eq(error))
                .execute(conn)?;
            refresh_run(conn, &run)?;
        }
        Ok(())
    }
}

/// A run with its deliveries, for the API.
pub fn run_view(conn: &mut DbConn, run_id: &str) -> Result<Option<serde_json::Value>, DbError> {
    type RunRow = (
        String,
        String,
        String,
        String,
        String,
        i32,
        NaiveDateTime,
        Option<String>,
        NaiveDateTime,
        Option<NaiveDateTime>,
    );
    let run: Option<RunRow> = report_runs::table
        .find(run_id)
        .select((
            report_runs::id,
            report_runs::report,
            report_runs::month,
            report_runs::status,
            report_runs::started_by,
            report_runs::rows_total,
            report_runs::due_at,
            report_runs::last_error,
            report_runs::created_at,
            report_runs::finished_at,
        ))
        .first(conn)
        .optional()?;
    let Some(r) = run else {
        return Ok(None);
    };
    type DeliveryRow = (
        String,
        String,
        String,
        Option<String>,
        String,
        i32,
        Option<i32>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let deliveries: Vec<DeliveryRow> = report_deliveries::table
        .filter(report_deliveries::run_id.eq(run_id))
        .order(report_deliveries::created_at)
        .select((
            report_deliveries::id,
            report_deliveries::body_id,
            report_deliveries::scope,
            report_deliveries::address,
            report_deliveries::status,
            report_deliveries::attempts,
            report_deliveries::rows_sent,
            report_deliveries::file_name,
            report_deliveries::last_error,
            report_deliveries::sent_at,
        ))
        .load(conn)?;
    let discrepancies = super::discrepancy::list(conn, Some(run_id))?;
    Ok(Some(serde_json::json!({
        "id": r.0, "report": r.1, "month": r.2, "status": r.3, "started_by": r.4,
        "due_at": super::utc(r.6), "last_error": r.7, "created_at": super::utc(r.8),
        "finished_at": r.9.map(super::utc),
        "deliveries": deliveries.into_iter().map(|d| serde_json::json!({
            "id": d.0, "body_id": d.1, "scope": d.2, "address": d.3, "status": d.4,
            "attempts": d.5, "rows": d.6, "file_name": d.7, "last_error": d.8,
            "sent_at": d.9.map(super::utc),
        })).collect::<Vec<_>>(),
        "discrepancies": discrepancies,
    })))
}

pub fn list_runs(
    conn: &mut DbConn,
    month: Option<&str>,
) -> Result<Vec<serde_json::Value>, DbError> {
    let mut q = report_runs::table.select(report_runs::id).into_boxed();
    if let Some(m) = month {
        q = q.filter(report_runs::month.eq(m.to_string()));
    }
    let ids: Vec<String> = q
        .order(report_runs::created_at.desc())
        .limit(100)
        .load(conn)?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(v) = run_view(conn, &id)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The weekday of a date, for tests and messages.
pub fn weekday(d: NaiveDate) -> chrono::Weekday {
    d.weekday()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_send_day_is_the_last_working_day_by_the_fifth() {
        let cal = Calendar::builtin();
        // 5 Dec 2026 is a Saturday: Friday the 4th.
        assert_eq!(
            send_day(&cal, Month::parse("2026-11").unwrap()),
            d("2026-12-04")
        );
        // 5 Nov 2026 is a Thursday: the 5th itself.
        assert_eq!(
            send_day(&cal, Month::parse("2026-10").unwrap()),
            d("2026-11-05")
        );
        // 5 Apr 2026 is a Sunday: Friday the 3rd.
        assert_eq!(
            send_day(&cal, Month::parse("2026-03").unwrap()),
            d("2026-04-03")
        );
    }

    #[test]
    fn nothing_is_due_before_the_send_time_and_both_reports_after() {
        let cal = Calendar::builtin();
        let hours = WorkingHours::default();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(due(&cal, &hours, at("2026-12-04T08:59:00+05:00")).is_empty());
        let due_now = due(&cal, &hours, at("2026-12-04T09:00:00+05:00"));
        assert_eq!(due_now.len(), 2);
        assert_eq!(due_now[0].month, "2026-11");
        assert_eq!(
            due_now[0].dedupe_key().unwrap(),
            "monthly_reports:P1:2026-11"
        );
        // Caught up later in the month.
        assert_eq!(due(&cal, &hours, at("2026-12-20T12:00:00+05:00")).len(), 2);
    }
}
