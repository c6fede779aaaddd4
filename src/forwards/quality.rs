//! F4: a body that refuses again within 30 days: within 3 working days the center tells
//! the quality body, with both refusals and their tickets as evidence. The notice waits
//! for a supervisor's confirmation (or goes at once, `BAYLANYS_QUALITY_NOTICE_AUTO_SEND`).
//!
//! Pairing: a refusal raises a notice when the body has an earlier refusal within 30 days
//! that is not evidence in a notice yet; so refusals 1+2 make one notice, 3+4 the next.

use std::sync::Arc;

use baylanys_core::{Channel, OutboundKind, OutboundMessage};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{ForwardError, ForwardRow, ForwardStatus, json_of, template_error};
use crate::AppState;
use crate::db::schema::{bodies, forwards, quality_notices, tickets};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{self, Failure, Job, JobContext, JobRow, Retry};
use crate::registry::BodyKind;
use crate::registry::bodies::BodyFilter;

/// F4: "again within one month".
pub const REFUSAL_WINDOW_DAYS: i64 = 30;
/// F4: the notice is due within 3 working days.
pub const NOTICE_WORKING_DAYS: u32 = 3;

text_enum!(
    QualityNoticeStatus, "quality notice status" {
        AwaitingConfirmation => "awaiting_confirmation",
        Queued => "queued",
        Retrying => "retrying",
        Sent => "sent",
        Failed => "failed",
    }
);

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = quality_notices)]
pub struct NoticeRow {
    pub id: String,
    pub body_id: String,
    pub quality_body_id: Option<String>,
    #[serde(skip)]
    pub evidence: String,
    pub due_at: NaiveDateTime,
    #[serde(skip)]
    pub deadline: String,
    pub status: String,
    pub confirmed_by: Option<String>,
    pub confirmed_at: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

impl NoticeRow {
    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["evidence"] = json_of(&self.evidence);
        v["deadline"] = json_of(&self.deadline);
        v["due_at"] = crate::tickets::almaty(&self.due_at).into();
        v
    }
}

/// After a refusal: raises the F4 notice when this is the body's second within 30 days.
/// Returns the notice's id.
pub fn on_refusal(
    c: &mut DbConn,
    app: &AppState,
    f: &ForwardRow,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    // One body's refusals are paired one at a time: concurrent declines on PostgreSQL
    // wait here for each other, so neither misses the other.
    diesel::update(bodies::table.find(&f.body_id))
        .set(bodies::active.eq(bodies::active))
        .execute(c)?;
    let since = now.naive_utc() - TimeDelta::days(REFUSAL_WINDOW_DAYS);
    let earlier: Option<ForwardRow> = forwards::table
        .filter(forwards::body_id.eq(&f.body_id))
        .filter(forwards::status.eq(ForwardStatus::Declined.as_str()))
        .filter(forwards::id.ne(&f.id))
        .filter(forwards::declined_at.ge(since))
        .filter(forwards::quality_notice_id.is_null())
        .order(forwards::declined_at.desc())
        .select(ForwardRow::as_select())
        .first(c)
        .optional()?;
    let Some(earlier) = earlier else {
        return Ok(None);
    };
    let this: ForwardRow = forwards::table
        .find(&f.id)
        .select(ForwardRow::as_select())
        .first(c)?;
    let mut evidence = Vec::new();
    for r in [&earlier, &this] {
        let (number, subject): (String, String) = tickets::table
            .find(&r.ticket_id)
            .select((tickets::number, tickets::subject))
            .first(c)?;
        evidence.push(serde_json::json!({
            "forward_id": r.id, "reference": r.reference, "ticket": number,
            "ticket_subject": subject, "question": json_of(&r.sent)["question"],
            "sent_at": crate::tickets::almaty(&r.created_at),
            "declined_at": r.declined_at.as_ref().map(crate::tickets::almaty),
            "reason": r.decline_reason,
        }));
    }
    let deadline = app
        .calendar()
        .working_days_due(now, NOTICE_WORKING_DAYS, "F4", &app.config.working_hours)
        .map_err(|e| DbError::Unavailable(format!("F4 deadline: {e}")))?;
    let quality = crate::registry::bodies::list(
        c,
        &BodyFilter {
            kind: Some(BodyKind::QualityBody),
            ..BodyFilter::default()
        },
    )?
    .into_iter()
    .find(|b| b.active && b.email.is_some());
    let id = new_id();
    let auto = app.config.forwards.quality_notice_auto_send;
    diesel::insert_into(quality_notices::table)
        .values((
            quality_notices::id.eq(&id),
            quality_notices::body_id.eq(&f.body_id),
            quality_notices::quality_body_id.eq(quality.as_ref().map(|b| b.id.clone())),
            quality_notices::evidence.eq(serde_json::Value::Array(evidence).to_string()),
            quality_notices::due_at.eq(deadline.due_at.naive_utc()),
            quality_notices::deadline.eq(serde_json::to_string(&deadline).unwrap_or_default()),
            quality_notices::status.eq(if auto && quality.is_some() {
                QualityNoticeStatus::Queued
            } else {
                QualityNoticeStatus::AwaitingConfirmation
            }
            .as_str()),
            quality_notices::created_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    diesel::update(forwards::table.filter(forwards::id.eq_any([&earlier.id, &f.id])))
        .set(forwards::quality_notice_id.eq(&id))
        .execute(c)?;
    for r in [&earlier, &this] {
        crate::tickets::event(
            c,
            &r.ticket_id,
            "system",
            "quality_notice_raised",
            serde_json::json!({"notice_id": id, "body_id": f.body_id, "forward_id": r.id}),
        )?;
    }
    if auto && quality.is_some() {
        jobs::enqueue_job(
            c,
            &QualityNoticeMail {
                notice_id: id.clone(),
            },
            None,
        )?;
    }
    Ok(Some(id))
}

pub fn get(c: &mut DbConn, id: &str) -> Result<Option<NoticeRow>, DbError> {
    Ok(quality_notices::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(c)
        .optional()?)
}

/// Newest first, a page at a time (`after` = the last id of the previous page).
pub fn list(
    c: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<NoticeRow>, Option<String>), DbError> {
    let mut q = quality_notices::table
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(quality_notices::id.lt(a.to_string()));
    }
    let rows: Vec<NoticeRow> = q
        .order(quality_notices::id.desc())
        .limit(limit + 1)
        .load(c)?;
    let more = rows.len() as i64 > limit;
    let rows: Vec<NoticeRow> = rows.into_iter().take(limit as usize).collect();
    let next = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    Ok((rows, next))
}

/// A supervisor confirms: the notice is sent.
pub fn confirm(
    c: &mut DbConn,
    id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<NoticeRow, ForwardError> {
    let Some(n) = get(c, id)? else {
        return Err(ForwardError::NotFound(format!("no quality notice `{id}`")));
    };
    if n.status != QualityNoticeStatus::AwaitingConfirmation.as_str() {
        return Err(ForwardError::Conflict(format!(
            "the notice is already {}",
            n.status
        )));
    }
    let quality = match &n.quality_body_id {
        Some(q) => Some(q.clone()),
        None => crate::registry::bodies::list(
            c,
            &BodyFilter {
                kind: Some(BodyKind::QualityBody),
                ..BodyFilter::default()
            },
        )?
        .into_iter()
        .find(|b| b.active && b.email.is_some())
        .map(|b| b.id),
    };
    let Some(quality) = quality else {
        return Err(ForwardError::Conflict(
            "the registry has no active quality body with an e-mail address: add one (kind quality_body), then confirm again".into(),
        ));
    };
    diesel::update(quality_notices::table.find(id))
        .set((
            quality_notices::status.eq(QualityNoticeStatus::Queued.as_str()),
            quality_notices::quality_body_id.eq(&quality),
            quality_notices::confirmed_by.eq(by),
            quality_notices::confirmed_at.eq(now.naive_utc()),
        ))
        .execute(c)?;
    jobs::enqueue_job(
        c,
        &QualityNoticeMail {
            notice_id: id.to_string(),
        },
        None,
    )?;
    Ok(get(c, id)?.expect("it exists"))
}

/// Mails one F4 notice to the quality body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualityNoticeMail {
    pub notice_id: String,
}

impl Job for QualityNoticeMail {
    const NAME: &'static str = "quality_notice_mail";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.notice_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app: Arc<AppState> = ctx.app;
        let id = self.notice_id.clone();
        let shared = app.clone();
        let out = app
            .db
            .run(move |c| {
                let Some(n) = get(c, &id)? else {
                    return Ok(None);
                };
                let Some(q) = n.quality_body_id.as_deref() else {
                    return Ok(None);
                };
                let quality = crate::registry::bodies::get(c, q)?;
                let refusing = crate::registry::bodies::get(c, &n.body_id)?;
                let (Some(quality), Some(refusing)) = (quality, refusing) else {
                    return Ok(None);
                };
                let Some(to) = quality.email.clone() else {
                    return Ok(None);
                };
                let lang = super::delivery::body_language(&shared);
                let evidence = json_of(&n.evidence);
                let rendered = shared
                    .templates
                    .message(
                        "quality_notice",
                        lang,
                        context! {
                            body => refusing.name.get(lang),
                            quality_body => quality.name.get(lang),
                            refusals => evidence.as_array().cloned().unwrap_or_default()
                                .iter().map(|e| context! {
                                    ticket => e["ticket"].as_str().unwrap_or_default(),
                                    reference => e["reference"].as_str().unwrap_or_default(),
                                    question => e["question"].as_str().unwrap_or_default(),
                                    declined_at => e["declined_at"].as_str().unwrap_or_default(),
                                    reason => e["reason"].as_str().unwrap_or_default(),
                                }).collect::<Vec<_>>(),
                            due => crate::templates::local_time(n.due_at.and_utc()),
                        },
                    )
                    .map_err(template_error)?;
                Ok(Some(OutboundMessage {
                    channel: Channel::Email,
                    kind: OutboundKind::Notice,
                    recipient: to,
                    ticket_number: None,
                    language: lang,
                    subject: rendered.subject,
                    body_text: rendered.text,
                    body_html: None,
                    attachments: vec![baylanys_core::Attachment {
                        file_name: "evidence.json".into(),
                        content_type: "application/json".into(),
                        content: serde_json::to_vec_pretty(&evidence).unwrap_or_default(),
                    }],
                    message_id: Some(format!("quality.{}@{}", n.id, shared.mail_domain)),
                    references: Vec::new(),
                    last_inbound_at: None,
                }))
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let Some(out) = out else {
            return Err((
                "the notice, its bodies or the quality body's address are gone".into(),
                Retry::Never,
            ));
        };
        let Some(adapter) = app.adapters.get(&Channel::Email) else {
            return Err((
                crate::jobs::worker::unconfigured(Channel::Email),
                Retry::Never,
            ));
        };
        match adapter.send(&out).await {
            Ok(_) => {
                let id = self.notice_id.clone();
                app.db
                    .write(move |c| {
                        diesel::update(quality_notices::table.find(&id))
                            .set((
                                quality_notices::status.eq(QualityNoticeStatus::Sent.as_str()),
                                quality_notices::sent_at.eq(crate::db::now()),
                                quality_notices::last_error.eq(None::<String>),
                            ))
                            .execute(c)?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| (e.to_string(), Retry::After(None)))
            }
            Err(e) => Err(crate::jobs::send_failure(e)),
        }
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        _row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        diesel::update(quality_notices::table.find(&self.notice_id))
            .set((
                quality_notices::status.eq(if gave_up {
                    QualityNoticeStatus::Failed
                } else {
                    QualityNoticeStatus::Retrying
                }
                .as_str()),
                quality_notices::last_error.eq(error),
            ))
            .execute(conn)?;
        Ok(())
    }
}
