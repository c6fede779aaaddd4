//! Mail to staff (reminders, escalations, digests). Staff mail is not an applicant
//! message: it lives in `staff_notices`, never in the ticket's `messages` thread, carries
//! no `[NUMBER]` subject tag (so a staff reply never threads into the ticket), and goes
//! out through the same job queue and e-mail adapter as everything else.

use baylanys_core::{Channel, OutboundKind, OutboundMessage};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::staff_notices;
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{self, Failure, Job, JobContext, JobRow, Retry};
use crate::queues::StaffAddress;
use crate::tickets::DeliveryState;
use crate::tickets::Rendered;

/// Records a notice to one member of staff and queues its delivery, in the caller's
/// transaction. Staff without an e-mail address get none (`None`).
pub fn queue_notice(
    conn: &mut DbConn,
    kind: &str,
    ticket_id: Option<&str>,
    to: &StaffAddress,
    rendered: &Rendered,
) -> Result<Option<String>, DbError> {
    let Some(address) = to.email.as_deref() else {
        return Ok(None);
    };
    let id = new_id();
    diesel::insert_into(staff_notices::table)
        .values((
            staff_notices::id.eq(&id),
            staff_notices::kind.eq(kind),
            staff_notices::ticket_id.eq(ticket_id),
            staff_notices::user_id.eq(&to.user_id),
            staff_notices::address.eq(address),
            staff_notices::subject.eq(rendered.subject.clone().unwrap_or_default()),
            staff_notices::body_text.eq(&rendered.text),
            staff_notices::delivery_status.eq(DeliveryState::Queued.as_str()),
            staff_notices::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    jobs::enqueue_job(
        conn,
        &StaffMail {
            notice_id: id.clone(),
        },
        None,
    )?;
    Ok(Some(id))
}

/// Sends one row of `staff_notices` by e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffMail {
    pub notice_id: String,
}

impl Job for StaffMail {
    const NAME: &'static str = "staff_mail";

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let id = self.notice_id.clone();
        let row: Option<(String, String, String)> = app
            .db
            .run(move |c| {
                Ok(staff_notices::table
                    .find(&id)
                    .select((
                        staff_notices::address,
                        staff_notices::subject,
                        staff_notices::body_text,
                    ))
                    .first(c)
                    .optional()?)
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let Some((address, subject, body)) = row else {
            return Err(("the notice to send no longer exists".into(), Retry::Never));
        };
        let Some(adapter) = app.adapters.get(&Channel::Email) else {
            return Err((
                crate::jobs::worker::unconfigured(Channel::Email),
                Retry::Never,
            ));
        };
        let out = OutboundMessage {
            channel: Channel::Email,
            kind: OutboundKind::Notice,
            recipient: address,
            ticket_number: None,
            language: app.config.staff_language,
            subject: Some(subject),
            body_text: body,
            body_html: None,
            attachments: Vec::new(),
            message_id: Some(format!("{}@{}", self.notice_id, app.mail_domain)),
            references: Vec::new(),
            last_inbound_at: None,
        };
        match adapter.send(&out).await {
            Ok(_) => {
                let id = self.notice_id.clone();
                app.db
                    .write(move |c| mark(c, &id, DeliveryState::Sent, None))
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
        mark(
            conn,
            &self.notice_id,
            if gave_up {
                DeliveryState::Failed
            } else {
                DeliveryState::Retrying
            },
            Some(error),
        )
    }
}

fn mark(
    conn: &mut DbConn,
    id: &str,
    status: DeliveryState,
    error: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(staff_notices::table.find(id))
        .set((
            staff_notices::delivery_status.eq(status.as_str()),
            staff_notices::delivery_error.eq(error),
            (status == DeliveryState::Sent)
                .then(|| staff_notices::delivered_at.eq(crate::db::now())),
        ))
        .execute(conn)?;
    Ok(())
}
