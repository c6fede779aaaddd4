//! How forwards reach bodies: one `forward_deliveries` row per addressee and channel
//! (e-mail, signed webhook), sent by a `forward_delivery` job with retries and backoff;
//! each failed attempt is kept on the row. Timers: a reminder before the deadline (to the
//! body and the operator) and an escalation to the supervisors after it, as jobs with a
//! `run_at`, so a restart neither loses nor repeats them.

use std::sync::{Arc, OnceLock};

use baylanys_core::{Attachment, Channel, Language, OutboundKind, OutboundMessage};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{ForwardStatus, get, json_of, template_error};
use crate::AppState;
use crate::db::schema::{forward_deliveries, tickets};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{self, Failure, Job, JobContext, JobRow, Retry};
use crate::templates::local_time;
use crate::tickets::DeliveryState;

text_enum!(
    /// Why a delivery is sent.
    Purpose, "delivery purpose" {
        Forward => "forward",
        Reminder => "reminder",
    }
);

text_enum!(
    /// Through what.
    Via, "delivery channel" {
        Email => "email",
        Webhook => "webhook",
    }
);

/// Failed attempts kept on a delivery row.
const HISTORY: usize = 20;

/// Our Message-ID of a forward's mail to its `seq`-th addressee: replies quote it.
pub fn message_id(forward_id: &str, seq: usize, domain: &str) -> String {
    format!("fwd.{forward_id}.{seq}@{domain}")
}

/// The forward a Message-ID of ours names, if it is one.
pub fn forward_of_message_id(id: &str) -> Option<String> {
    let rest = id
        .trim_matches(|c| c == '<' || c == '>')
        .strip_prefix("fwd.")?;
    let (local, _) = rest.split_once('@')?;
    let fid = local.split('.').next()?;
    uuid::Uuid::parse_str(fid)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = forward_deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub forward_id: String,
    pub purpose: String,
    pub channel: String,
    pub address: String,
    pub message_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub history: String,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

impl DeliveryRow {
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "purpose": self.purpose, "channel": self.channel,
            "address": self.address, "status": self.status, "attempts": self.attempts,
            "last_error": self.last_error, "failed_attempts": json_of(&self.history),
            "delivered_at": self.delivered_at.as_ref().map(crate::tickets::almaty),
        })
    }
}

/// Records a delivery and queues its job, in the caller's transaction.
pub fn queue(
    c: &mut DbConn,
    forward_id: &str,
    purpose: Purpose,
    via: Via,
    address: &str,
    message_id: Option<String>,
) -> Result<String, DbError> {
    let id = new_id();
    diesel::insert_into(forward_deliveries::table)
        .values((
            forward_deliveries::id.eq(&id),
            forward_deliveries::forward_id.eq(forward_id),
            forward_deliveries::purpose.eq(purpose.as_str()),
            forward_deliveries::channel.eq(via.as_str()),
            forward_deliveries::address.eq(address),
            forward_deliveries::message_id.eq(message_id),
            forward_deliveries::status.eq(DeliveryState::Queued.as_str()),
            forward_deliveries::created_at.eq(crate::db::now()),
        ))
        .execute(c)?;
    jobs::enqueue_job(
        c,
        &ForwardDelivery {
            delivery_id: id.clone(),
        },
        None,
    )?;
    Ok(id)
}

/// The reminder (the configured working hours before the deadline, when that is still
/// ahead) and the escalation (at the deadline).
pub fn schedule_timers(
    c: &mut DbConn,
    app: &AppState,
    forward_id: &str,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if app.config.reminders_enabled
        && let Ok(at) = app.calendar().working_hours_before(
            due,
            app.config.reminder_hours,
            &app.config.working_hours,
        )
        && at > now
    {
        jobs::enqueue_job(
            c,
            &ForwardReminder {
                forward_id: forward_id.into(),
            },
            Some(at.naive_utc()),
        )?;
    }
    jobs::enqueue_job(
        c,
        &ForwardEscalation {
            forward_id: forward_id.into(),
        },
        Some(due.naive_utc()),
    )?;
    Ok(())
}

fn db_failure(e: DbError) -> Failure {
    (e.to_string(), Retry::After(None))
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client builds")
    })
}

/// The language bodies are written in: the staff language, Russian for English.
pub fn body_language(app: &AppState) -> Language {
    match app.config.staff_language {
        Language::Kk => Language::Kk,
        _ => Language::Ru,
    }
}

/// Everything one delivery needs, read in one go.
struct Prepared {
    row: DeliveryRow,
    forward: super::Forward,
    body: crate::registry::Body,
    files: Vec<Attachment>,
}

fn prepare(c: &mut DbConn, id: &str) -> Result<Option<Prepared>, DbError> {
    let Some(row) = forward_deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(None);
    };
    let Some(forward) = get(c, &row.forward_id)? else {
        return Ok(None);
    };
    let Some(body) = crate::registry::bodies::get(c, &forward.row.body_id)? else {
        return Ok(None);
    };
    let mut files = Vec::new();
    if row.purpose == Purpose::Forward.as_str() && row.channel == Via::Email.as_str() {
        for a in json_of(&forward.row.sent)["attachments"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(id) = a["id"].as_str()
                && let Some(file) = crate::tickets::attachment(c, id)?
            {
                files.push(file);
            }
        }
    }
    Ok(Some(Prepared {
        row,
        forward,
        body,
        files,
    }))
}

/// The JSON a body's webhook receives (documented in README, "Forwards").
fn webhook_payload(app: &AppState, p: &Prepared) -> serde_json::Value {
    let f = &p.forward;
    let base = &app.config.public_url;
    let mut sent = json_of(&f.row.sent);
    if let Some(list) = sent["attachments"].as_array_mut() {
        for a in list {
            let url = format!(
                "{base}/api/v1/forwards/{}/attachments/{}",
                f.row.id,
                a["id"].as_str().unwrap_or_default()
            );
            a["url"] = url.into();
        }
    }
    serde_json::json!({
        "event": format!("forward.{}", p.row.purpose),
        "delivery_id": p.row.id,
        "forward": {
            "id": f.row.id,
            "reference": f.row.reference,
            "category": f.row.category,
            "question": sent["question"],
            "messages": sent["messages"],
            "attachments": sent["attachments"],
            "due_at": crate::tickets::almaty(&f.row.due_at),
            "body_references": json_of(&f.row.body_references),
            "answer_url": format!("{base}/api/v1/forwards/{}/answer", f.row.id),
            "decline_url": format!("{base}/api/v1/forwards/{}/decline", f.row.id),
        },
    })
}

fn mail_of(app: &AppState, p: &Prepared) -> Result<OutboundMessage, DbError> {
    let f = &p.forward;
    let lang = body_language(app);
    let sent = json_of(&f.row.sent);
    let refs: Vec<String> = serde_json::from_str(&f.row.body_references).unwrap_or_default();
    let template = match p.row.purpose.as_str() {
        "reminder" => "forward_reminder",
        _ => "forward",
    };
    let rendered = app
        .templates
        .message(
            template,
            lang,
            context! {
                reference => &f.row.reference,
                body => p.body.name.get(lang),
                question => sent["question"].as_str().unwrap_or_default(),
                messages => sent["messages"].as_array().cloned().unwrap_or_default()
                    .iter().map(|m| context! {
                        at => m["at"].as_str().unwrap_or_default(),
                        text => m["text"].as_str().unwrap_or_default(),
                    }).collect::<Vec<_>>(),
                files => p.files.iter().map(|a| a.file_name.clone()).collect::<Vec<_>>(),
                due => local_time(f.row.due_at.and_utc()),
                body_reference => refs.first(),
                answer_url => format!("{}/api/v1/forwards/{}/answer", app.config.public_url, f.row.id),
            },
        )
        .map_err(template_error)?;
    // A reminder threads under the first mail, so the body's reply to either comes back.
    let references = match p.row.purpose.as_str() {
        "reminder" => vec![message_id(&f.row.id, 1, &app.mail_domain)],
        _ => Vec::new(),
    };
    Ok(OutboundMessage {
        channel: Channel::Email,
        kind: OutboundKind::Reply,
        recipient: p.row.address.clone(),
        ticket_number: None,
        language: lang,
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: None,
        attachments: p.files.clone(),
        message_id: p.row.message_id.clone(),
        references,
        last_inbound_at: None,
    })
}

/// Sends one row of `forward_deliveries`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardDelivery {
    pub delivery_id: String,
}

impl Job for ForwardDelivery {
    const NAME: &'static str = "forward_delivery";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.delivery_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let id = self.delivery_id.clone();
        let prepared = app
            .db
            .run(move |c| prepare(c, &id))
            .await
            .map_err(db_failure)?;
        let Some(p) = prepared else {
            return Err((
                "the delivery or its forward no longer exists".into(),
                Retry::Never,
            ));
        };
        if p.row.purpose == Purpose::Reminder.as_str()
            && p.forward.row.status != ForwardStatus::Open.as_str()
        {
            // Answered between the reminder and its delivery: nothing to remind of.
            return mark(&app, &p.row.id, "cancelled").await;
        }
        if p.row.channel == Via::Webhook.as_str() {
            let Some(secret) = p.body.webhook_secret.clone() else {
                return Err((
                    "the body has no webhook secret any more".into(),
                    Retry::Never,
                ));
            };
            let body = webhook_payload(&app, &p).to_string();
            let sent = crate::webhooks::post(
                client(),
                &p.row.address,
                &secret,
                body.as_bytes(),
                Utc::now().timestamp(),
            )
            .await;
            return match sent {
                Ok(_) => mark(&app, &p.row.id, DeliveryState::Sent.as_str()).await,
                Err((e, true)) => Err((e, Retry::After(None))),
                Err((e, false)) => Err((e, Retry::Never)),
            };
        }
        let Some(adapter) = app.adapters.get(&Channel::Email) else {
            return Err((
                crate::jobs::worker::unconfigured(Channel::Email),
                Retry::Never,
            ));
        };
        let out = mail_of(&app, &p).map_err(|e| (e.to_string(), Retry::Never))?;
        match adapter.send(&out).await {
            Ok(_) => mark(&app, &p.row.id, DeliveryState::Sent.as_str()).await,
            Err(e) => Err(crate::jobs::send_failure(e)),
        }
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        let history: Option<String> = forward_deliveries::table
            .find(&self.delivery_id)
            .select(forward_deliveries::history)
            .first(conn)
            .optional()?;
        let Some(history) = history else {
            return Ok(());
        };
        let mut list: Vec<serde_json::Value> = serde_json::from_str(&history).unwrap_or_default();
        list.push(serde_json::json!({
            "attempt": row.attempts, "at": crate::tickets::almaty(&crate::db::now()), "error": error,
        }));
        let skip = list.len().saturating_sub(HISTORY);
        let list: Vec<_> = list.into_iter().skip(skip).collect();
        diesel::update(forward_deliveries::table.find(&self.delivery_id))
            .set((
                forward_deliveries::status.eq(if gave_up {
                    DeliveryState::Failed.as_str()
                } else {
                    DeliveryState::Retrying.as_str()
                }),
                forward_deliveries::attempts.eq(row.attempts),
                forward_deliveries::last_error.eq(error),
                forward_deliveries::history.eq(serde_json::to_string(&list).unwrap_or_default()),
            ))
            .execute(conn)?;
        Ok(())
    }
}

async fn mark(app: &Arc<AppState>, id: &str, status: &'static str) -> Result<(), Failure> {
    let id = id.to_string();
    app.db
        .write(move |c| {
            diesel::update(forward_deliveries::table.find(&id))
                .set((
                    forward_deliveries::status.eq(status),
                    forward_deliveries::attempts.eq(forward_deliveries::attempts + 1),
                    forward_deliveries::delivered_at.eq(crate::db::now()),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .map_err(db_failure)
}

/// Staff a forward's timers tell: the operator who sent it (reminder), and the
/// supervisors of the ticket's queue with the operator (escalation).
fn staff_for(
    c: &mut DbConn,
    f: &super::ForwardRow,
    supervisors: bool,
) -> Result<Vec<crate::queues::StaffAddress>, DbError> {
    let mut to = Vec::new();
    if let Some(s) = crate::queues::staff_by_id(c, &f.created_by)? {
        to.push(s);
    }
    if supervisors {
        let queue: String = tickets::table
            .find(&f.ticket_id)
            .select(tickets::queue)
            .first(c)?;
        if let Some(q) = crate::queues::get(c, &queue)? {
            for s in crate::queues::supervisors_of(c, &q)? {
                if !to.iter().any(|t| t.user_id == s.user_id) {
                    to.push(s);
                }
            }
        }
    }
    Ok(to)
}

fn notify_staff(
    c: &mut DbConn,
    app: &AppState,
    f: &super::Forward,
    kind: &str,
    supervisors: bool,
) -> Result<(), DbError> {
    let rendered = app
        .templates
        .staff_notice(
            kind,
            app.config.staff_language,
            context! {
                number => &f.ticket_number, reference => &f.row.reference,
                body => f.body_name.get(app.config.staff_language),
                due => local_time(f.row.due_at.and_utc()),
            },
        )
        .map_err(template_error)?;
    let mut sent = Vec::new();
    for s in staff_for(c, &f.row, supervisors)? {
        if crate::jobs::staff::queue_notice(c, kind, Some(&f.row.ticket_id), &s, &rendered)?
            .is_some()
        {
            sent.push(s.login);
        }
    }
    crate::tickets::event(
        c,
        &f.row.ticket_id,
        "system",
        kind,
        serde_json::json!({
            "forward_id": f.row.id, "reference": f.row.reference, "to": sent, "internal": true,
            "due_at": crate::tickets::almaty(&f.row.due_at),
        }),
    )
}

/// F2: before a forward's deadline, the body and the operator are reminded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardReminder {
    pub forward_id: String,
}

impl Job for ForwardReminder {
    const NAME: &'static str = "forward_reminder";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.forward_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let shared = app.clone();
        app.db
            .write(move |c| {
                let Some(f) = get(c, &self.forward_id)? else {
                    return Ok(());
                };
                if f.row.status != ForwardStatus::Open.as_str() {
                    return Ok(());
                }
                let Some(body) = crate::registry::bodies::get(c, &f.row.body_id)? else {
                    return Ok(());
                };
                for (seq, address) in super::addressees(c, &body)?.iter().enumerate() {
                    queue(
                        c,
                        &f.row.id,
                        Purpose::Reminder,
                        Via::Email,
                        address,
                        Some(format!(
                            "fwd.{}.r{}@{}",
                            f.row.id,
                            seq + 1,
                            shared.mail_domain
                        )),
                    )?;
                }
                if let Some(url) = &body.webhook_url
                    && body.webhook_secret.is_some()
                {
                    queue(c, &f.row.id, Purpose::Reminder, Via::Webhook, url, None)?;
                }
                notify_staff(c, &shared, &f, "forward_reminder", false)
            })
            .await
            .map_err(db_failure)?;
        app.jobs_wakeup.notify_one();
        Ok(())
    }
}

/// F2: a forward past its deadline goes to the supervisors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardEscalation {
    pub forward_id: String,
}

impl Job for ForwardEscalation {
    const NAME: &'static str = "forward_escalation";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.forward_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let shared = app.clone();
        let now = app.clock.now();
        app.db
            .write(move |c| {
                let Some(f) = get(c, &self.forward_id)? else {
                    return Ok(());
                };
                // Due at the deadline itself: the job runs at that instant.
                if f.row.status != ForwardStatus::Open.as_str() || f.row.due_at > now.naive_utc() {
                    return Ok(());
                }
                notify_staff(c, &shared, &f, "forward_escalation", true)
            })
            .await
            .map_err(db_failure)?;
        app.jobs_wakeup.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_forward_message_ids_name_their_forward() {
        let id = "0190f0a4-3c2b-7d1e-9a6b-1234567890ab";
        assert_eq!(
            forward_of_message_id(&format!("<{}>", message_id(id, 2, "goscorp.kz"))),
            Some(id.to_string())
        );
        assert_eq!(
            forward_of_message_id(&format!("fwd.{id}.r1@goscorp.kz")),
            Some(id.to_string())
        );
        assert_eq!(forward_of_message_id("fwd.nope@goscorp.kz"), None);
        assert_eq!(forward_of_message_id("m1@example.kz"), None);
    }
}
