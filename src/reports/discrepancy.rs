//! P2: a provider's own report disagrees with ours. A supervisor records the request
//! (which report, which month, which figures); our explanation is due by the next
//! working day (the P2 rule), a timer reminds the supervisor two hours before, and the
//! answer is e-mailed to the provider and kept with the report run.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::Month;
use crate::AppState;
use crate::db::schema::{bodies, discrepancies, report_runs, users};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, JobRow, Retry, enqueue_job};

/// The longest figures or details text, and answer (characters).
pub const MAX_TEXT: usize = 10_000;
/// How long before the deadline the reminder goes out.
pub const REMIND_BEFORE_HOURS: i64 = 2;

pub type Invalid = Vec<(String, String)>;
/// report, month, figures, answer, the body's e-mail.
type AnswerRow = (String, String, String, Option<String>, Option<String>);
/// status, report, month, figures, due, created by, the body's name.
type ReminderRow = (
    String,
    String,
    String,
    String,
    NaiveDateTime,
    String,
    String,
);

fn text_field(
    v: &serde_json::Value,
    key: &str,
    required: bool,
    errors: &mut Invalid,
) -> Option<String> {
    match v.get(key) {
        None | Some(serde_json::Value::Null) if !required => None,
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_TEXT {
                errors.push((key.into(), format!("at most {MAX_TEXT} characters")));
                None
            } else {
                Some(s.trim().to_string())
            }
        }
        Some(f @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)))
            if key == "figures" =>
        {
            let s = f.to_string();
            if s.chars().count() > MAX_TEXT {
                errors.push((key.into(), format!("at most {MAX_TEXT} characters")));
                None
            } else {
                Some(s)
            }
        }
        _ => {
            errors.push((key.into(), "required: a non-empty text".into()));
            None
        }
    }
}

/// `{"report": "P1"|"P3", "month": "YYYY-MM", "body_id", "figures": text or JSON, "details"}`.
pub fn create(
    conn: &mut DbConn,
    app: &AppState,
    v: &serde_json::Value,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Result<serde_json::Value, Invalid>, DbError> {
    let mut errors = Invalid::new();
    let report = match v.get("report").and_then(|r| r.as_str()) {
        Some(r @ ("P1" | "P3")) => Some(r.to_string()),
        _ => {
            errors.push(("report".into(), "must be P1 or P3".into()));
            None
        }
    };
    let month = match v.get("month").and_then(|m| m.as_str()).map(Month::parse) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            errors.push(("month".into(), e));
            None
        }
        None => {
            errors.push(("month".into(), "required: YYYY-MM".into()));
            None
        }
    };
    let body_id = match v.get("body_id").and_then(|b| b.as_str()) {
        Some(b) if b.len() <= 64 => {
            let found: i64 = bodies::table.find(b).count().get_result(conn)?;
            if found == 0 {
                errors.push((
                    "body_id".into(),
                    "no such registry body: see GET /api/v1/bodies".into(),
                ));
                None
            } else {
                Some(b.to_string())
            }
        }
        _ => {
            errors.push((
                "body_id".into(),
                "required: the id of the provider's registry body".into(),
            ));
            None
        }
    };
    let figures = text_field(v, "figures", true, &mut errors);
    let details = text_field(v, "details", false, &mut errors).unwrap_or_default();
    let (Some(report), Some(month), Some(body_id), Some(figures), true) =
        (report, month, body_id, figures, errors.is_empty())
    else {
        return Ok(Err(errors));
    };
    let deadline = app
        .calendar()
        .next_working_day_due(now, &app.config.working_hours)
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    let run_id: Option<String> = report_runs::table
        .filter(report_runs::report.eq(&report))
        .filter(report_runs::month.eq(month.to_string()))
        .select(report_runs::id)
        .first(conn)
        .optional()?;
    let id = new_id();
    let due_at = deadline.due_at.naive_utc();
    diesel::insert_into(discrepancies::table)
        .values((
            discrepancies::id.eq(&id),
            discrepancies::run_id.eq(&run_id),
            discrepancies::report.eq(&report),
            discrepancies::month.eq(month.to_string()),
            discrepancies::body_id.eq(&body_id),
            discrepancies::figures.eq(&figures),
            discrepancies::details.eq(&details),
            discrepancies::status.eq("open"),
            discrepancies::due_at.eq(due_at),
            discrepancies::deadline.eq(serde_json::to_string(&deadline).unwrap_or_default()),
            discrepancies::created_by.eq(actor),
            discrepancies::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    enqueue_job(
        conn,
        &DiscrepancyReminder { id: id.clone() },
        Some(due_at - Duration::hours(REMIND_BEFORE_HOURS)),
    )?;
    Ok(Ok(get(conn, &id)?.expect("just added")))
}

type Row = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    String,
    String,
    NaiveDateTime,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
);

fn view(r: Row) -> serde_json::Value {
    let deadline: serde_json::Value = serde_json::from_str(&r.9).unwrap_or_default();
    serde_json::json!({
        "id": r.0, "run_id": r.1, "report": r.2, "month": r.3, "body_id": r.4,
        "figures": r.5, "details": r.6, "status": r.7, "due_at": super::utc(r.8),
        "deadline": deadline, "created_by": r.10, "created_at": super::utc(r.11),
        "answer": r.12, "answered_by": r.13, "answered_at": r.14.map(super::utc),
        "answer_status": r.15, "answer_error": r.16, "answer_sent_at": r.17.map(super::utc),
    })
}

macro_rules! cols {
    () => {
        (
            discrepancies::id,
            discrepancies::run_id,
            discrepancies::report,
            discrepancies::month,
            discrepancies::body_id,
            discrepancies::figures,
            discrepancies::details,
            discrepancies::status,
            discrepancies::due_at,
            discrepancies::deadline,
            discrepancies::created_by,
            discrepancies::created_at,
            discrepancies::answer,
            discrepancies::answered_by,
            discrepancies::answered_at,
            discrepancies::answer_status,
            discrepancies::answer_error,
            discrepancies::answer_sent_at,
        )
    };
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<serde_json::Value>, DbError> {
    let r: Option<Row> = discrepancies::table
        .find(id)
        .select(cols!())
        .first(conn)
        .optional()?;
    Ok(r.map(view))
}

/// Every request (newest first), or those kept with one run.
pub fn list(conn: &mut DbConn, run_id: Option<&str>) -> Result<Vec<serde_json::Value>, DbError> {
    let mut q = discrepancies::table.select(cols!()).into_boxed();
    if let Some(r) = run_id {
        q = q.filter(discrepancies::run_id.eq(r.to_string()));
    }
    let rows: Vec<Row> = q
        .order(discrepancies::created_at.desc())
        .limit(500)
        .load(conn)?;
    Ok(rows.into_iter().map(view).collect())
}

pub enum AnswerError {
    NotFound,
    Answered,
    Invalid(Invalid),
}

/// Records the explanation and queues its e-mail to the provider.
pub fn answer(
    conn: &mut DbConn,
    id: &str,
    v: &serde_json::Value,
    actor: &str,
) -> Result<Result<serde_json::Value, AnswerError>, DbError> {
    let mut errors = Invalid::new();
    let text = text_field(v, "answer", true, &mut errors);
    let status: Option<String> = discrepancies::table
        .find(id)
        .select(discrepancies::status)
        .first(conn)
        .optional()?;
    match status.as_deref() {
        None => return Ok(Err(AnswerError::NotFound)),
        Some("answered") => return Ok(Err(AnswerError::Answered)),
        _ => {}
    }
    let Some(text) = text else {
        return Ok(Err(AnswerError::Invalid(errors)));
    };
    let n = diesel::update(
        discrepancies::table
            .find(id)
            .filter(discrepancies::status.eq("open")),
    )
    .set((
        discrepancies::status.eq("answered"),
        discrepancies::answer.eq(&text),
        discrepancies::answered_by.eq(actor),
        discrepancies::answered_at.eq(crate::db::now()),
        discrepancies::answer_status.eq("queued"),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(Err(AnswerError::Answered));
    }
    enqueue_job(conn, &DiscrepancyAnswer { id: id.to_string() }, None)?;
    Ok(Ok(get(conn, id)?.expect("exists")))
}

/// E-mails the explanation to the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscrepancyAnswer {
    pub id: String,
}

impl Job for DiscrepancyAnswer {
    const NAME: &'static str = "discrepancy_answer";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("discrepancy_answer:{}", self.id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        use baylanys_core::{Channel, Language, OutboundKind, OutboundMessage};
        let app = ctx.app.clone();
        let id = self.id.clone();
        let row: Option<AnswerRow> = app
            .db
            .run(move |c| {
                Ok(discrepancies::table
                    .inner_join(bodies::table.on(bodies::id.eq(discrepancies::body_id)))
                    .filter(discrepancies::id.eq(&id))
                    .select((
                        discrepancies::report,
                        discrepancies::month,
                        discrepancies::figures,
                        discrepancies::answer,
                        bodies::email,
                    ))
                    .first(c)
                    .optional()?)
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let Some((report, month, figures, Some(answer), email)) = row else {
            return Err((
                "the request or its answer no longer exists".into(),
                Retry::Never,
            ));
        };
        let Some(email) = email else {
            return Err((
                "the provider has no e-mail address in the registry".into(),
                Retry::Never,
            ));
        };
        let Some(adapter) = app.adapters.get(&Channel::Email).cloned() else {
            return Err((
                crate::jobs::worker::unconfigured(Channel::Email),
                Retry::After(None),
            ));
        };
        let vars = minijinja::context! { report, month, figures, answer };
        let render = |l: Language| app.templates.message("discrepancy_answer", l, vars.clone());
        let (kk, ru) = match (render(Language::Kk), render(Language::Ru)) {
            (Ok(kk), Ok(ru)) => (kk, ru),
            (Err(e), _) | (_, Err(e)) => return Err((e.to_string(), Retry::Never)),
        };
        let out = OutboundMessage {
            channel: Channel::Email,
            kind: OutboundKind::Notice,
            recipient: email,
            ticket_number: None,
            language: Language::Kk,
            subject: Some(format!(
                "{} / {}",
                kk.subject.unwrap_or_default(),
                ru.subject.unwrap_or_default()
            )),
            body_text: format!("{}\n\n---\n\n{}", kk.text, ru.text),
            body_html: None,
            attachments: Vec::new(),
            message_id: Some(format!("{}@{}", self.id, app.mail_domain)),
            references: Vec::new(),
            last_inbound_at: None,
        };
        adapter
            .send(&out)
            .await
            .map_err(crate::jobs::send_failure)?;
        let id = self.id.clone();
        ctx.when_done(move |c| {
            diesel::update(discrepancies::table.find(&id))
                .set((
                    discrepancies::answer_status.eq("sent"),
                    discrepancies::answer_sent_at.eq(crate::db::now()),
                    discrepancies::answer_error.eq(None::<String>),
                ))
                .execute(c)?;
            Ok(())
        });
        Ok(())
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        _row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        diesel::update(discrepancies::table.find(&self.id))
            .set((
                discrepancies::answer_status.eq(if gave_up { "failed" } else { "retrying" }),
                discrepancies::answer_error.eq(error),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Two hours before the deadline: reminds the supervisor who recorded the request, if
/// it is still unanswered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscrepancyReminder {
    pub id: String,
}

impl Job for DiscrepancyReminder {
    const NAME: &'static str = "discrepancy_reminder";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("discrepancy_reminder:{}", self.id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let id = self.id.clone();
        let templates = app.templates.clone();
        let language = app.config.staff_language;
        app.db
            .write(move |c| {
                let row: Option<ReminderRow> = discrepancies::table
                    .inner_join(bodies::table.on(bodies::id.eq(discrepancies::body_id)))
                    .filter(discrepancies::id.eq(&id))
                    .select((
                        discrepancies::status,
                        discrepancies::report,
                        discrepancies::month,
                        discrepancies::figures,
                        discrepancies::due_at,
                        discrepancies::created_by,
                        bodies::name_ru,
                    ))
                    .first(c)
                    .optional()?;
                let Some((status, report, month, figures, due, by, body)) = row else {
                    return Ok(());
                };
                if status != "open" {
                    return Ok(());
                }
                let user: Option<String> = users::table
                    .filter(users::login.eq(&by))
                    .select(users::id)
                    .first(c)
                    .optional()?;
                let Some(to) = user
                    .map(|u| crate::queues::staff_by_id(c, &u))
                    .transpose()?
                    .flatten()
                else {
                    return Ok(());
                };
                let due = crate::templates::local_time(due.and_utc());
                let rendered = templates
                    .staff_notice(
                        "discrepancy_reminder",
                        language,
                        minijinja::context! { id, report, month, figures, due, body },
                    )
                    .map_err(|e| DbError::Unavailable(e.to_string()))?;
                crate::jobs::staff::queue_notice(c, "discrepancy_reminder", None, &to, &rendered)?;
                Ok(())
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))
    }
}
