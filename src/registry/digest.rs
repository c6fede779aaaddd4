//! F1: each body that asked for it (`digest`: daily or weekly) receives by e-mail the
//! appeals linked to its services since its previous digest. The timer enqueues one job
//! per working day (at the start of working hours); weekly digests go on the first
//! working day of the ISO week. `body_digests` has one row per body and period, inserted
//! or skipped, so two instances send one digest.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::DigestPeriod;
use crate::AppState;
use crate::calendar::Calendar;
use crate::db::schema::{bodies, body_digests, services, staff_notices, ticket_services, tickets};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, Retry};
use crate::tickets::DeliveryState;

/// At most this many appeals are listed in one digest (the API has them all).
const DIGEST_LIMIT: i64 = 500;
/// How far back a body's first digest looks.
const FIRST_LOOK_BACK_DAYS: i64 = 7;

/// The period key of a body's digest due on `date`, if one is due then.
pub fn period_of(calendar: &Calendar, period: DigestPeriod, date: NaiveDate) -> Option<String> {
    match period {
        DigestPeriod::None => None,
        DigestPeriod::Daily => Some(date.format("%Y-%m-%d").to_string()),
        DigestPeriod::Weekly => {
            let week = date.iso_week();
            let mut d = date;
            // Only the week's first working day.
            while d.weekday() != chrono::Weekday::Mon {
                d = d.pred_opt()?;
                if calendar.is_working_day(d) {
                    return None;
                }
            }
            Some(format!("{}-W{:02}", week.year(), week.week()))
        }
    }
}

/// The digests of one working day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BodyDigests {
    pub date: NaiveDate,
}

impl Job for BodyDigests {
    const NAME: &'static str = "body_digests";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.date))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        let date = self.date;
        let sent = app
            .db
            .write(move |c| send_all(c, &shared, date, now))
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        if sent > 0 {
            app.jobs_wakeup.notify_one();
        }
        Ok(())
    }
}

fn send_all(
    c: &mut DbConn,
    app: &AppState,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let list: Vec<(String, String, String, String, Option<String>)> = bodies::table
        .filter(bodies::active.eq(1))
        .filter(bodies::digest.ne(DigestPeriod::None.as_str()))
        .order(bodies::id.asc())
        .select((
            bodies::id,
            bodies::digest,
            bodies::name_kk,
            bodies::name_ru,
            bodies::email,
        ))
        .load(c)?;
    let calendar = app.calendar();
    let mut sent = 0;
    for (id, digest, kk, ru, email) in list {
        let Ok(period) = DigestPeriod::parse(&digest) else {
            continue;
        };
        let Some(key) = period_of(&calendar, period, date) else {
            continue;
        };
        if send_one(c, app, &id, &key, (&kk, &ru), email.as_deref(), now)? {
            sent += 1;
        }
    }
    Ok(sent)
}

#[allow(clippy::too_many_arguments)]
fn send_one(
    c: &mut DbConn,
    app: &AppState,
    body_id: &str,
    key: &str,
    name: (&str, &str),
    email: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let to = now.naive_utc();
    let previous: Option<NaiveDateTime> = body_digests::table
        .filter(body_digests::body_id.eq(body_id))
        .select(diesel::dsl::max(body_digests::window_to))
        .first(c)?;
    // The first digest looks back a week (daily ones too: it may follow a weekend).
    let from = previous.unwrap_or(to - TimeDelta::days(FIRST_LOOK_BACK_DAYS));
    let claimed = diesel::sql_query(
        "INSERT INTO body_digests (body_id, period, window_from, window_to, tickets, notice_id, \
         created_at) VALUES ($1, $2, $3, $4, 0, NULL, $5) ON CONFLICT (body_id, period) DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(body_id)
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Timestamp, _>(from)
    .bind::<diesel::sql_types::Timestamp, _>(to)
    .bind::<diesel::sql_types::Timestamp, _>(to)
    .execute(c)?;
    if claimed != 1 {
        return Ok(false);
    }
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        NaiveDateTime,
    );
    let rows: Vec<Row> = ticket_services::table
        .inner_join(services::table)
        .inner_join(tickets::table)
        .filter(services::body_id.eq(body_id))
        .filter(ticket_services::linked_at.ge(from))
        .filter(ticket_services::linked_at.lt(to))
        .order((
            services::register_number.asc(),
            tickets::registered_at.asc(),
        ))
        .limit(DIGEST_LIMIT)
        .select((
            services::register_number,
            services::name_kk,
            services::name_ru,
            tickets::number,
            tickets::subject,
            tickets::status,
            tickets::registered_at,
        ))
        .load(c)?;
    let count = rows.len();
    let Some(address) = email.filter(|_| count > 0) else {
        return Ok(false);
    };
    let mut per_service: BTreeMap<String, (String, String, Vec<minijinja::Value>)> =
        BTreeMap::new();
    for (number, skk, sru, t, subject, status, registered) in rows {
        per_service
            .entry(number)
            .or_insert_with(|| (skk, sru, Vec::new()))
            .2
            .push(context! {
                number => t, subject, status, registered => crate::templates::local_time(registered.and_utc()),
            });
    }
    let services: Vec<minijinja::Value> = per_service
        .into_iter()
        .map(|(number, (kk, ru, tickets))| {
            context! { register_number => number, name_kk => kk, name_ru => ru, tickets }
        })
        .collect();
    let ctx = context! {
        name => context! { kk => name.0, ru => name.1 },
        period => key, count, services,
        from => crate::templates::local_time(from.and_utc()),
        to => crate::templates::local_time(to.and_utc()),
    };
    // State bodies read both languages: one message, Kazakh first.
    let render = |l| {
        app.templates
            .message("body_digest", l, ctx.clone())
            .map_err(|e| DbError::Unavailable(e.to_string()))
    };
    let kk = render(baylanys_core::Language::Kk)?;
    let ru = render(baylanys_core::Language::Ru)?;
    let subject = format!(
        "{} / {}",
        kk.subject.unwrap_or_default(),
        ru.subject.unwrap_or_default()
    );
    let text = format!("{}\n\n---\n\n{}", kk.text, ru.text);
    let notice = new_id();
    diesel::insert_into(staff_notices::table)
        .values((
            staff_notices::id.eq(&notice),
            staff_notices::kind.eq("body_digest"),
            staff_notices::address.eq(address),
            staff_notices::subject.eq(&subject),
            staff_notices::body_text.eq(&text),
            staff_notices::delivery_status.eq(DeliveryState::Queued.as_str()),
            staff_notices::created_at.eq(to),
        ))
        .execute(c)?;
    crate::jobs::enqueue_job(
        c,
        &crate::jobs::staff::StaffMail {
            notice_id: notice.clone(),
        },
        None,
    )?;
    diesel::update(
        body_digests::table
            .filter(body_digests::body_id.eq(body_id))
            .filter(body_digests::period.eq(key)),
    )
    .set((
        body_digests::tickets.eq(count as i32),
        body_digests::notice_id.eq(&notice),
    ))
    .execute(c)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_weekly_digests_go_on_the_first_working_day_of_the_week() {
        let cal = Calendar::builtin();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
        assert_eq!(
            period_of(&cal, DigestPeriod::Weekly, d("2026-11-30")).as_deref(),
            Some("2026-W49")
        );
        assert_eq!(period_of(&cal, DigestPeriod::Weekly, d("2026-12-01")), None);
        assert_eq!(
            period_of(&cal, DigestPeriod::Daily, d("2026-12-01")).as_deref(),
            Some("2026-12-01")
        );
        assert_eq!(period_of(&cal, DigestPeriod::None, d("2026-12-01")), None);
        // Monday 10.03.2025 was a day off (8 March on a Saturday): Tuesday opens the week.
        assert_eq!(
            period_of(&cal, DigestPeriod::Weekly, d("2025-03-11")).as_deref(),
            Some("2025-W11")
        );
    }
}
