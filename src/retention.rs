//! Personal data kept no longer than needed: `retention_days` after a ticket is closed,
//! a daily job removes what identifies the applicant (the contact's name, addresses,
//! phone, IIN and chat id once none of its tickets still needs them; message texts,
//! subjects, files and raw payloads; the questions forwarded to bodies; the audit log's
//! personal column) and keeps what the
//! reports count (number, channel, dates, status, queue, rating, the audit chain). And an
//! applicant's right to see what is held: [`export`].

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{
    attachments, contacts, forwards, messages, raw_payloads, staff_notices, tickets,
};
use crate::db::{DbConn, DbError};
use crate::jobs::{Failure, Job, JobContext, Retry};

/// What stands where removed text was.
pub const REMOVED: &str = "[removed]";

/// Closed tickets whose personal data is due for removal at `now`.
pub fn due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let cutoff = now - TimeDelta::days(i64::from(days));
    Ok(tickets::table
        .filter(tickets::anonymised_at.is_null())
        .filter(tickets::status.eq(crate::tickets::Status::Closed.as_str()))
        .filter(tickets::closed_at.lt(cutoff))
        .order(tickets::closed_at.asc())
        .select(tickets::id)
        .limit(limit)
        .load(conn)?)
}

/// Removes one ticket's personal data (and its contact's, when no other ticket of the
/// contact still keeps it). Returns false when it was already done.
pub fn anonymise(conn: &mut DbConn, ticket_id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    // Claimed by the update itself: of two runs at once, the second waits for the first's
    // row lock and then finds nothing to do.
    let claimed = diesel::update(
        tickets::table
            .find(ticket_id)
            .filter(tickets::anonymised_at.is_null()),
    )
    .set(tickets::anonymised_at.eq(now))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(false);
    }
    let contact: String = tickets::table
        .find(ticket_id)
        .select(tickets::contact_id)
        .first(conn)?;
    let ids: Vec<String> = messages::table
        .filter(messages::ticket_id.eq(ticket_id))
        .select(messages::id)
        .load(conn)?;
    diesel::delete(attachments::table.filter(attachments::message_id.eq_any(&ids)))
        .execute(conn)?;
    diesel::update(messages::table.filter(messages::ticket_id.eq(ticket_id)))
        .set((
            messages::subject.eq(None::<String>),
            messages::body_text.eq(REMOVED),
            messages::body_html.eq(None::<String>),
            messages::address.eq(REMOVED),
            messages::search_text.eq(None::<String>),
            messages::delivery_error.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::delete(raw_payloads::table.filter(raw_payloads::ticket_id.eq(ticket_id)))
        .execute(conn)?;
    diesel::delete(staff_notices::table.filter(staff_notices::ticket_id.eq(ticket_id)))
        .execute(conn)?;
    // What was asked of bodies about it (the body's own refusal reasons stay: F4 evidence).
    diesel::update(forwards::table.filter(forwards::ticket_id.eq(ticket_id)))
        .set((
            forwards::question.eq(REMOVED),
            forwards::sent.eq(serde_json::json!({ "question": REMOVED }).to_string()),
        ))
        .execute(conn)?;
    // The applicant's rating comments (R10) may name them; the scores stay for the reports.
    diesel::update(
        crate::db::schema::ratings::table
            .filter(crate::db::schema::ratings::ticket_id.eq(ticket_id))
            .filter(crate::db::schema::ratings::comment.is_not_null()),
    )
    .set(crate::db::schema::ratings::comment.eq(REMOVED))
    .execute(conn)?;
    crate::tickets::audit::erase_personal(conn, ticket_id)?;
    diesel::update(tickets::table.find(ticket_id))
        .set((
            tickets::subject.eq(REMOVED),
            tickets::applicant.eq(None::<String>),
            tickets::search_text.eq(""),
            tickets::access_key_hash.eq(None::<String>),
        ))
        .execute(conn)?;
    crate::search::tickets::forget(conn, ticket_id)?;
    let still_kept: i64 = tickets::table
        .filter(tickets::contact_id.eq(&contact))
        .filter(tickets::anonymised_at.is_null())
        .count()
        .get_result(conn)?;
    if still_kept == 0 {
        diesel::update(contacts::table.find(&contact))
            .set((
                contacts::name.eq(None::<String>),
                contacts::email.eq(None::<String>),
                contacts::phone.eq(None::<String>),
                contacts::telegram_chat_id.eq(None::<String>),
                contacts::whatsapp_id.eq(None::<String>),
                contacts::iin_bin.eq(None::<String>),
                contacts::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    crate::tickets::event(
        conn,
        ticket_id,
        "retention",
        "personal_data_removed",
        serde_json::json!({ "contact_cleared": still_kept == 0 }),
    )?;
    Ok(true)
}

/// The daily retention run (one per day, whichever instance claims it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RetentionSweep {
    /// The day (UTC) of the run.
    pub day: String,
}

impl Job for RetentionSweep {
    const NAME: &'static str = "retention_sweep";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("retention:{}", self.day))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let days = ctx.app.config.retention_days;
        if days == 0 {
            return Ok(());
        }
        let mut removed = 0;
        loop {
            let now = ctx.app.clock.now().naive_utc();
            let batch = ctx
                .app
                .db
                .write(move |c| {
                    let ids = due(c, now, days, 100)?;
                    for id in &ids {
                        anonymise(c, id, now)?;
                    }
                    Ok(ids.len())
                })
                .await
                .map_err(|e| (e.to_string(), Retry::After(None)))?;
            removed += batch;
            if batch == 0 || ctx.app.shutdown.is_cancelled() {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(tickets = removed, days, "retention removed personal data");
        }
        Ok(())
    }
}

/// Who the export is about: at least one of these.
#[derive(Debug, Clone, Default)]
pub struct Applicant {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub iin: Option<String>,
    pub telegram_chat_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ContactRecord {
    pub id: String,
    pub kind: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<String>,
    pub iin_bin: Option<String>,
    pub language: Option<String>,
}

/// Everything held about one applicant: their contacts and each ticket in full. Each
/// exported ticket records who exported it.
pub fn export(
    conn: &mut DbConn,
    who: &Applicant,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value, DbError> {
    let mut query = contacts::table.into_boxed();
    let mut any = false;
    if let Some(e) = &who.email {
        query = query.or_filter(contacts::email.eq(e.to_lowercase()));
        any = true;
    }
    if let Some(p) = &who.phone {
        query = query.or_filter(contacts::phone.eq(p.clone()));
        any = true;
    }
    if let Some(i) = &who.iin {
        query = query.or_filter(contacts::iin_bin.eq(i.clone()));
        any = true;
    }
    if let Some(t) = &who.telegram_chat_id {
        query = query.or_filter(contacts::telegram_chat_id.eq(t.clone()));
        any = true;
    }
    if !any {
        return Ok(serde_json::json!({"contacts": [], "tickets": []}));
    }
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = query
        .select((
            contacts::id,
            contacts::kind,
            contacts::name,
            contacts::email,
            contacts::phone,
            contacts::telegram_chat_id,
            contacts::iin_bin,
            contacts::language,
        ))
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let contacts: Vec<ContactRecord> = rows
        .into_iter()
        .map(|r| ContactRecord {
            id: r.0,
            kind: r.1,
            name: r.2,
            email: r.3,
            phone: r.4,
            telegram_chat_id: r.5,
            iin_bin: r.6,
            language: r.7,
        })
        .collect();
    let numbers: Vec<(String, String)> = tickets::table
        .filter(tickets::contact_id.eq_any(&ids))
        .order(tickets::registered_at.asc())
        .select((tickets::id, tickets::number))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, number) in numbers {
        crate::tickets::event(
            conn,
            &id,
            actor,
            "personal_data_exported",
            serde_json::json!({}),
        )?;
        if let Some(d) = crate::tickets::queries::detail(conn, &number, now)? {
            out.push(serde_json::to_value(d).unwrap_or_default());
        }
    }
    Ok(serde_json::json!({ "contacts": contacts, "tickets": out }))
}
