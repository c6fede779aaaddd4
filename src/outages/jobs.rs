//! The jobs of outage broadcasts: a scheduled notice's fan-out, one delivery, the lead
//! check at start - 24 h and the breach alert. Each is idempotent: a notice is issued
//! once per key, a delivery already accepted is not sent again.

use std::sync::OnceLock;

use baylanys_core::{Attachment, Channel, OutboundKind, OutboundMessage, SendError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{DeliveryStatus, NoticeChannel, NoticeKind, OutageStatus, lead_deadline, store};
use crate::AppState;
use crate::db::schema::{bodies, outage_deliveries, outage_notices, outages, staff_notices, users};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, JobRow, Retry, enqueue_job};
use crate::tickets::DeliveryState;

fn db_failure(e: DbError) -> Failure {
    (e.to_string(), Retry::After(None))
}

/// A notice due later (reminders, the start): issued when its time comes, if the start it
/// was scheduled for still holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageNotice {
    pub outage_id: String,
    pub kind: String,
    /// The notice that announced the start this one belongs to.
    pub lead: String,
}

impl Job for OutageNotice {
    const NAME: &'static str = "outage_notice";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!(
            "outage_notice:{}:{}:{}",
            self.outage_id, self.kind, self.lead
        ))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let now = app.clock.now();
        let kind = NoticeKind::parse(&self.kind).map_err(|e| (e, Retry::Never))?;
        let key = self.dedupe_key().expect("keyed");
        ctx.app
            .db
            .write(move |c| {
                let Some(o) = store::get(c, &self.outage_id)? else {
                    return Ok(());
                };
                // Rescheduled (another notice leads now), cancelled or completed: not due.
                if o.status != OutageStatus::Active
                    || o.lead_notice_id.as_deref() != Some(&self.lead)
                {
                    return Ok(());
                }
                super::notices::issue(c, &app, &o, kind, &key, now).map(|_| ())
            })
            .await
            .map_err(db_failure)?;
        ctx.app.jobs_wakeup.notify_one();
        Ok(())
    }
}

/// Sends one delivery of one notice and keeps the far side's accept as its proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageDelivery {
    pub delivery_id: String,
}

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

struct Loaded {
    channel: String,
    address: String,
    status: String,
    subject: String,
    body_text: String,
    ics: String,
    payload: String,
    kind: String,
    outage_id: String,
    notice_id: String,
    secret: Option<String>,
}

fn load(c: &mut DbConn, id: &str) -> Result<Option<Loaded>, DbError> {
    type R = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let row: Option<R> = outage_deliveries::table
        .inner_join(outage_notices::table)
        .filter(outage_deliveries::id.eq(id))
        .select((
            outage_deliveries::channel,
            outage_deliveries::address,
            outage_deliveries::status,
            outage_notices::subject,
            outage_notices::body_text,
            outage_notices::ics,
            outage_notices::webhook_payload,
            outage_notices::kind,
            outage_deliveries::outage_id,
            outage_deliveries::notice_id,
            outage_deliveries::body_id,
        ))
        .first(c)
        .optional()?;
    let Some(r) = row else { return Ok(None) };
    let secret = if r.0 == NoticeChannel::Webhook.as_str() {
        bodies::table
            .find(&r.10)
            .select(bodies::webhook_secret)
            .first::<Option<String>>(c)
            .optional()?
            .flatten()
    } else {
        None
    };
    Ok(Some(Loaded {
        channel: r.0,
        address: r.1,
        status: r.2,
        subject: r.3,
        body_text: r.4,
        ics: r.5,
        payload: r.6,
        kind: r.7,
        outage_id: r.8,
        notice_id: r.9,
        secret,
    }))
}

fn from_send(e: SendError) -> Failure {
    match e {
        SendError::Temporary {
            message,
            retry_after,
        } => (message, Retry::After(retry_after)),
        SendError::Permanent { message } => (message, Retry::Never),
    }
}

impl Job for OutageDelivery {
    const NAME: &'static str = "outage_delivery";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("outage_delivery:{}", self.delivery_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let id = self.delivery_id.clone();
        let Some(d) = app
            .db
            .run(move |c| load(c, &id))
            .await
            .map_err(db_failure)?
        else {
            return Err(("the delivery no longer exists".into(), Retry::Never));
        };
        if d.status == DeliveryStatus::Sent.as_str() {
            return Ok(());
        }
        let accepted = match NoticeChannel::parse(&d.channel).map_err(|e| (e, Retry::Never))? {
            NoticeChannel::Email | NoticeChannel::Telegram => {
                let channel = if d.channel == "email" {
                    Channel::Email
                } else {
                    Channel::Telegram
                };
                let Some(adapter) = app.adapters.get(&channel) else {
                    return Err((crate::jobs::worker::unconfigured(channel), Retry::Never));
                };
                let method = if d.kind == NoticeKind::Cancelled.as_str() {
                    "CANCEL"
                } else {
                    "REQUEST"
                };
                let out = OutboundMessage {
                    channel,
                    kind: OutboundKind::Broadcast,
                    recipient: d.address.clone(),
                    ticket_number: None,
                    language: baylanys_core::Language::Kk,
                    subject: Some(d.subject.clone()),
                    body_text: d.body_text.clone(),
                    body_html: None,
                    attachments: if channel == Channel::Email {
                        vec![Attachment {
                            file_name: "outage.ics".into(),
                            content_type: format!("text/calendar; charset=utf-8; method={method}"),
                            content: d.ics.clone().into_bytes(),
                        }]
                    } else {
                        Vec::new()
                    },
                    message_id: Some(format!("{}@{}", self.delivery_id, app.mail_domain)),
                    references: Vec::new(),
                    last_inbound_at: None,
                };
                let receipt = adapter.send(&out).await.map_err(from_send)?;
                receipt.remote_id.unwrap_or_else(|| "accepted".into())
            }
            NoticeChannel::Webhook => {
                let Some(secret) = d.secret.as_deref() else {
                    return Err((
                        "the body's webhook has no secret any more: set one and resend".into(),
                        Retry::Never,
                    ));
                };
                let mut payload: serde_json::Value =
                    serde_json::from_str(&d.payload).map_err(|e| (e.to_string(), Retry::Never))?;
                payload["delivery_id"] = self.delivery_id.clone().into();
                let body = payload.to_string();
                // Receivers check the signature's time against their own clock: wall time.
                match crate::webhooks::post(
                    http(),
                    &d.address,
                    secret,
                    body.as_bytes(),
                    Utc::now().timestamp(),
                )
                .await
                {
                    Ok(done) => format!("HTTP {} {}", done.status, done.answer)
                        .trim()
                        .to_string(),
                    Err((message, true)) => return Err((message, Retry::After(None))),
                    Err((message, false)) => return Err((message, Retry::Never)),
                }
            }
            NoticeChannel::None => return Err(("the body has no address".into(), Retry::Never)),
        };
        // The accept's time and the server's words are the proof: committed with the
        // job's completion (many deliveries in one transaction).
        let now = app.clock.now().naive_utc();
        let attempts = ctx.row.attempts;
        let id = self.delivery_id.clone();
        ctx.when_done(move |c| {
            diesel::update(outage_deliveries::table.find(&id))
                .set((
                    outage_deliveries::status.eq(DeliveryStatus::Sent.as_str()),
                    outage_deliveries::sent_at.eq(now),
                    outage_deliveries::accepted_reply.eq(&accepted),
                    outage_deliveries::attempts.eq(attempts),
                    outage_deliveries::last_attempt_at.eq(now),
                ))
                .execute(c)?;
            Ok(())
        });
        let _ = (d.outage_id, d.notice_id);
        Ok(())
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        let now = crate::db::now();
        diesel::update(
            outage_deliveries::table
                .find(&self.delivery_id)
                .filter(outage_deliveries::status.ne(DeliveryStatus::Sent.as_str())),
        )
        .set((
            outage_deliveries::status.eq(if gave_up {
                DeliveryStatus::Failed
            } else {
                DeliveryStatus::Retrying
            }
            .as_str()),
            outage_deliveries::attempts.eq(row.attempts),
            outage_deliveries::last_error.eq(error),
            outage_deliveries::last_attempt_at.eq(now),
            outage_deliveries::failed_at.eq(gave_up.then_some(now)),
        ))
        .execute(conn)?;
        if !gave_up {
            return Ok(());
        }
        // A recipient of the lead notice that can no longer be reached: alert at once.
        let lead: Option<(String, Option<String>, String)> = outage_deliveries::table
            .inner_join(outages::table.on(outages::id.eq(outage_deliveries::outage_id)))
            .filter(outage_deliveries::id.eq(&self.delivery_id))
            .select((
                outages::id,
                outages::lead_notice_id,
                outage_deliveries::notice_id,
            ))
            .first(conn)
            .optional()?;
        if let Some((outage_id, Some(lead), notice)) = lead
            && lead == notice
        {
            enqueue_job(conn, &OutageBreachAlert { outage_id, lead }, None)?;
        }
        Ok(())
    }
}

/// At start - 24 h: was every recipient of the lead notice reached?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageLeadCheck {
    pub outage_id: String,
    pub lead: String,
}

impl Job for OutageLeadCheck {
    const NAME: &'static str = "outage_lead_check";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("outage_lead_check:{}", self.lead))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        ctx.app
            .db
            .write(move |c| {
                enqueue_job(
                    c,
                    &OutageBreachAlert {
                        outage_id: self.outage_id,
                        lead: self.lead,
                    },
                    None,
                )?;
                Ok(())
            })
            .await
            .map_err(db_failure)?;
        ctx.app.jobs_wakeup.notify_one();
        Ok(())
    }
}

/// Marks the breach and alerts supervisors and the ICI operator, once per lead notice,
/// when a recipient of it is not (or can no longer be) reached by start - 24 h.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutageBreachAlert {
    pub outage_id: String,
    pub lead: String,
}

impl Job for OutageBreachAlert {
    const NAME: &'static str = "outage_breach_alert";

    fn dedupe_key(&self) -> Option<String> {
        // Once when a delivery gives up early, once more at the deadline if still needed.
        None
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let now = app.clock.now();
        ctx.app
            .db
            .write(move |c| alert(c, &app, &self.outage_id, &self.lead, now))
            .await
            .map_err(db_failure)?;
        ctx.app.jobs_wakeup.notify_one();
        Ok(())
    }
}

fn alert(
    c: &mut DbConn,
    app: &AppState,
    outage_id: &str,
    lead: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let Some(o) = store::get(c, outage_id)? else {
        return Ok(());
    };
    if o.status == OutageStatus::Cancelled || o.lead_notice_id.as_deref() != Some(lead) {
        return Ok(());
    }
    let list = store::recipients(c, lead, o.starts_at, now)?;
    let missed: Vec<&store::RecipientView> = list
        .iter()
        .filter(|r| {
            matches!(r.state, "unreached" | "late")
                || (r.state == "pending" && now >= lead_deadline(o.starts_at))
        })
        .collect();
    if missed.is_empty() {
        return Ok(());
    }
    // One alert per lead notice and set of missed recipients.
    let key = format!("outage_breach:{lead}:{}", missed.len());
    let seen: i64 = staff_notices::table
        .filter(staff_notices::kind.eq(&key))
        .count()
        .get_result(c)?;
    if seen > 0 {
        return Ok(());
    }
    let names: Vec<String> = missed
        .iter()
        .map(|r| format!("{} / {}", r.name.kk, r.name.ru))
        .collect();
    store::record_breach(
        c,
        outage_id,
        &format!(
            "{} recipient(s) not reached by {} (start - 24 h): {}",
            missed.len(),
            super::almaty(lead_deadline(o.starts_at)),
            names.join(", ")
        ),
        now,
    )?;
    let rendered = app
        .templates
        .staff_notice(
            "outage_breach",
            app.config.staff_language,
            context! {
                title => format!("{} / {}", o.title.kk, o.title.ru),
                starts => crate::templates::local_time(o.starts_at),
                deadline => crate::templates::local_time(lead_deadline(o.starts_at)),
                missed => names,
                id => o.id.clone(),
            },
        )
        .map_err(|e| DbError::Unavailable(e.to_string()))?;
    // Supervisors and the ICI operator's staff, and the ICI operator's own address.
    let mut to: Vec<(Option<String>, String)> = users::table
        .filter(users::active.eq(1))
        .filter(users::role.eq_any(["supervisor", "ici"]))
        .filter(users::email.is_not_null())
        .select((users::id, users::email.assume_not_null()))
        .load::<(String, String)>(c)?
        .into_iter()
        .map(|(u, e)| (Some(u), e))
        .collect();
    let ici: Vec<String> = bodies::table
        .filter(bodies::kind.eq(crate::registry::BodyKind::IciOperator.as_str()))
        .filter(bodies::active.eq(1))
        .filter(bodies::email.is_not_null())
        .select(bodies::email.assume_not_null())
        .load(c)?;
    to.extend(ici.into_iter().map(|e| (None, e)));
    to.sort_by(|a, b| a.1.cmp(&b.1));
    to.dedup_by(|a, b| a.1.eq_ignore_ascii_case(&b.1));
    for (user, address) in to {
        let id = new_id();
        diesel::insert_into(staff_notices::table)
            .values((
                staff_notices::id.eq(&id),
                staff_notices::kind.eq(&key),
                staff_notices::user_id.eq(user),
                staff_notices::address.eq(address),
                staff_notices::subject.eq(rendered.subject.clone().unwrap_or_default()),
                staff_notices::body_text.eq(&rendered.text),
                staff_notices::delivery_status.eq(DeliveryState::Queued.as_str()),
                staff_notices::created_at.eq(crate::db::now()),
            ))
            .execute(c)?;
        enqueue_job(c, &crate::jobs::staff::StaffMail { notice_id: id }, None)?;
    }
    Ok(())
}
