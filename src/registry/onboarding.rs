//! The onboarding timeline of a service (F5-F7): each step records its date, and the
//! step it obliges next is expected by a deadline in working days of the national
//! calendar. Overdue steps are listed and escalated once each, by a timer job.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::RegistryError;
use crate::AppState;
use crate::calendar::{Calendar, WorkingHours};
use crate::db::schema::{service_steps, services, users};
use crate::db::{DbConn, DbError, new_id, now};
use crate::jobs::{Failure, Job, JobContext, Retry};
use crate::queues::StaffAddress;

text_enum!(
    /// A step of a service's onboarding (001 §20-23, §26-27).
    Step, "onboarding step" {
        /// The central body approved the by-law on the service.
        BylawApproved => "bylaw_approved",
        /// It named the responsible person and sent the Appendix 1 form (F5: 5 working days).
        PersonNamed => "person_named",
        /// Training of the center's operators (F6: 10 working days after).
        Training => "training",
        /// The acceptance protocol (F6; no deadline of its own).
        AcceptanceProtocol => "acceptance_protocol",
        /// The center informs on the service (F6: 5 working days after the protocol).
        InformingStarted => "informing_started",
        /// A change to the by-law (F7).
        BylawChanged => "bylaw_changed",
        /// The updated information reached the center (F7: 5 working days).
        UpdatedInformation => "updated_information",
        /// The responsible person changed (F7).
        PersonChanged => "person_changed",
        /// The notice of it reached the center (F7: 5 working days).
        ChangeNotice => "change_notice",
    }
);

impl Step {
    /// The step this one obliges next, in how many working days (None: no deadline),
    /// under which rule.
    pub fn obliges(self) -> Option<(Step, Option<u32>, &'static str)> {
        match self {
            Step::BylawApproved => Some((Step::PersonNamed, Some(5), "F5")),
            Step::PersonNamed => Some((Step::Training, Some(10), "F6")),
            Step::Training => Some((Step::AcceptanceProtocol, None, "F6")),
            Step::AcceptanceProtocol => Some((Step::InformingStarted, Some(5), "F6")),
            Step::BylawChanged => Some((Step::UpdatedInformation, Some(5), "F7")),
            Step::PersonChanged => Some((Step::ChangeNotice, Some(5), "F7")),
            _ => None,
        }
    }

    /// Steps that happen once in a service's life.
    fn once(self) -> bool {
        !matches!(
            self,
            Step::BylawChanged
                | Step::UpdatedInformation
                | Step::PersonChanged
                | Step::ChangeNotice
        )
    }

    fn rule(self) -> &'static str {
        match self {
            Step::PersonNamed => "F5",
            Step::Training | Step::AcceptanceProtocol | Step::InformingStarted => "F6",
            Step::UpdatedInformation | Step::ChangeNotice => "F7",
            _ => "F5",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub id: String,
    pub step: String,
    pub rule: &'static str,
    pub after_step: Option<String>,
    pub after_date: Option<String>,
    /// End of working hours on the last working day (Asia/Almaty); null: no deadline.
    pub due_at: Option<String>,
    pub done_on: Option<String>,
    pub overdue: bool,
    /// Recorded after its deadline.
    pub late: bool,
    pub note: Option<String>,
    pub escalated_at: Option<String>,
}

type StepRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
);

const STEP_COLUMNS: (
    service_steps::id,
    service_steps::step,
    service_steps::after_step,
    service_steps::after_date,
    service_steps::due_at,
    service_steps::done_on,
    service_steps::note,
    service_steps::escalated_at,
) = (
    service_steps::id,
    service_steps::step,
    service_steps::after_step,
    service_steps::after_date,
    service_steps::due_at,
    service_steps::done_on,
    service_steps::note,
    service_steps::escalated_at,
);

/// The Almaty date of a stored UTC instant.
fn almaty_date(t: NaiveDateTime) -> String {
    t.and_utc()
        .with_timezone(&chrono_tz::Asia::Almaty)
        .format("%Y-%m-%d")
        .to_string()
}

fn view(r: StepRow, now: DateTime<Utc>) -> StepView {
    let step = Step::parse(&r.1).unwrap_or(Step::BylawApproved);
    let overdue = r.5.is_none() && r.4.is_some_and(|d| d < now.naive_utc());
    let late = match (&r.5, r.4) {
        (Some(done), Some(due)) => *done > almaty_date(due),
        _ => false,
    };
    StepView {
        id: r.0,
        step: r.1,
        rule: step.rule(),
        after_step: r.2,
        after_date: r.3,
        due_at: r.4.as_ref().map(crate::tickets::almaty),
        done_on: r.5,
        overdue,
        late,
        note: r.6,
        escalated_at: r.7.as_ref().map(crate::tickets::almaty),
    }
}

pub fn timeline(
    conn: &mut DbConn,
    service_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<StepView>, DbError> {
    let rows: Vec<StepRow> = service_steps::table
        .filter(service_steps::service_id.eq(service_id))
        .order((service_steps::created_at.asc(), service_steps::id.asc()))
        .select(STEP_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| view(r, now)).collect())
}

/// The deadline of a step obliged `n` working days after `date` (its effective day is
/// `date` when that is a working day, else the next one).
pub fn due_after(
    calendar: &Calendar,
    hours: &WorkingHours,
    date: NaiveDate,
    n: u32,
) -> Result<DateTime<Utc>, String> {
    let start = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(chrono_tz::Asia::Almaty)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{date} has no midnight in Asia/Almaty"))?;
    calendar
        .working_days_due_at(start, n, hours)
        .map(|d| d.due_at)
        .map_err(|e| e.to_string())
}

pub struct Record<'a> {
    pub step: Step,
    pub date: NaiveDate,
    pub note: Option<String>,
    pub by: &'a str,
}

/// Records that a step happened on a date; opens the step it obliges, with its deadline.
pub fn record(
    conn: &mut DbConn,
    calendar: &Calendar,
    hours: &WorkingHours,
    service_id: &str,
    r: &Record<'_>,
    today: NaiveDate,
) -> Result<(), RegistryError> {
    let exists: Option<String> = services::table
        .find(service_id)
        .select(services::id)
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    if exists.is_none() {
        return Err(RegistryError::NotFound(format!(
            "no service `{service_id}`"
        )));
    }
    let earliest = NaiveDate::from_ymd_opt(1991, 1, 1).expect("a valid date");
    if r.date < earliest {
        return Err(RegistryError::Invalid(vec![super::bad(
            "date",
            format!("{} is before 1991: give the date the step happened", r.date),
        )]));
    }
    if r.date > today {
        return Err(RegistryError::Invalid(vec![super::bad(
            "date",
            format!(
                "{} is in the future: record a step once it has happened",
                r.date
            ),
        )]));
    }
    let date = r.date.format("%Y-%m-%d").to_string();
    let at = now();
    if r.step.once() {
        let done: Option<Option<String>> = service_steps::table
            .filter(service_steps::service_id.eq(service_id))
            .filter(service_steps::step.eq(r.step.as_str()))
            .filter(service_steps::done_on.is_not_null())
            .select(service_steps::done_on)
            .first(conn)
            .optional()
            .map_err(DbError::Query)?;
        if let Some(Some(on)) = done {
            return Err(RegistryError::Conflict(format!(
                "step `{}` was already recorded on {on}",
                r.step
            )));
        }
    }
    let open: Option<String> = service_steps::table
        .filter(service_steps::service_id.eq(service_id))
        .filter(service_steps::step.eq(r.step.as_str()))
        .filter(service_steps::done_on.is_null())
        .order((service_steps::created_at.asc(), service_steps::id.asc()))
        .select(service_steps::id)
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    match open {
        Some(id) => {
            diesel::update(service_steps::table.find(&id))
                .set((
                    service_steps::done_on.eq(&date),
                    service_steps::note.eq(&r.note),
                    service_steps::recorded_by.eq(r.by),
                    service_steps::updated_at.eq(at),
                ))
                .execute(conn)
                .map_err(DbError::Query)?;
        }
        None => {
            diesel::insert_into(service_steps::table)
                .values((
                    service_steps::id.eq(new_id()),
                    service_steps::service_id.eq(service_id),
                    service_steps::step.eq(r.step.as_str()),
                    service_steps::done_on.eq(&date),
                    service_steps::note.eq(&r.note),
                    service_steps::recorded_by.eq(r.by),
                    service_steps::created_at.eq(at),
                    service_steps::updated_at.eq(at),
                ))
                .execute(conn)
                .map_err(DbError::Query)?;
        }
    }
    if let Some((next, days, _rule)) = r.step.obliges() {
        let due = match days {
            Some(n) => Some(
                due_after(calendar, hours, r.date, n)
                    .map_err(|m| RegistryError::Invalid(vec![super::bad("date", m)]))?
                    .naive_utc(),
            ),
            None => None,
        };
        diesel::insert_into(service_steps::table)
            .values((
                service_steps::id.eq(new_id()),
                service_steps::service_id.eq(service_id),
                service_steps::step.eq(next.as_str()),
                service_steps::after_step.eq(r.step.as_str()),
                service_steps::after_date.eq(&date),
                service_steps::due_at.eq(due),
                service_steps::created_at.eq(at),
                service_steps::updated_at.eq(at),
            ))
            .execute(conn)
            .map_err(DbError::Query)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverdueStep {
    pub service_id: String,
    pub register_number: String,
    pub service_name: super::Names,
    pub body_id: String,
    #[serde(flatten)]
    pub step: StepView,
}

/// Expected steps past their deadline, the oldest deadline first.
pub fn overdue(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    body: Option<&str>,
    limit: i64,
) -> Result<Vec<OverdueStep>, DbError> {
    let mut q = service_steps::table
        .inner_join(services::table)
        .filter(service_steps::done_on.is_null())
        .filter(service_steps::due_at.lt(now.naive_utc()))
        .select((
            STEP_COLUMNS,
            services::id,
            services::register_number,
            services::name_kk,
            services::name_ru,
            services::body_id,
        ))
        .into_boxed();
    if let Some(b) = body {
        q = q.filter(services::body_id.eq(b.to_string()));
    }
    let rows: Vec<(StepRow, String, String, String, String, String)> = q
        .order((service_steps::due_at.asc(), service_steps::id.asc()))
        .limit(limit.clamp(1, 500))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(r, sid, number, kk, ru, body_id)| OverdueStep {
            service_id: sid,
            register_number: number,
            service_name: super::Names { kk, ru },
            body_id,
            step: view(r, now),
        })
        .collect())
}

/// Supervisors and administrators: whom an overdue step is escalated to.
fn escalation_staff(conn: &mut DbConn) -> Result<Vec<StaffAddress>, DbError> {
    let rows: Vec<(String, String, Option<String>)> = users::table
        .filter(users::active.eq(1))
        .filter(users::role.eq_any(["supervisor", "admin"]))
        .order(users::login.asc())
        .select((users::id, users::login, users::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, login, email)| StaffAddress {
            user_id,
            login,
            email,
        })
        .collect())
}

/// One tick of the onboarding timer: each overdue step not yet escalated is marked
/// and noticed to supervisors and administrators, in one transaction; the conditional
/// mark makes it once per step whatever the number of instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnboardingSweep {
    /// The tick, `2026-12-01T10:15` (UTC minute).
    pub tick: String,
}

const ESCALATE_PER_SWEEP: i64 = 200;

impl Job for OnboardingSweep {
    const NAME: &'static str = "onboarding_sweep";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", Self::NAME, self.tick))
    }

    fn max_attempts(&self) -> i32 {
        // The next tick does the same work.
        1
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app;
        let now = app.clock.now();
        let shared = app.clone();
        let sent = app
            .db
            .write(move |c| escalate(c, &shared, now))
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        if sent > 0 {
            app.jobs_wakeup.notify_one();
        }
        Ok(())
    }
}

fn escalate(c: &mut DbConn, app: &Arc<AppState>, now: DateTime<Utc>) -> Result<usize, DbError> {
    let ids: Vec<String> = service_steps::table
        .filter(service_steps::done_on.is_null())
        .filter(service_steps::escalated_at.is_null())
        .filter(service_steps::due_at.lt(now.naive_utc()))
        .order(service_steps::due_at.asc())
        .limit(ESCALATE_PER_SWEEP)
        .select(service_steps::id)
        .load(c)?;
    if ids.is_empty() {
        return Ok(0);
    }
    let staff = escalation_staff(c)?;
    let mut sent = 0;
    for id in ids {
        let marked = diesel::update(
            service_steps::table
                .find(&id)
                .filter(service_steps::escalated_at.is_null()),
        )
        .set(service_steps::escalated_at.eq(now.naive_utc()))
        .execute(c)?;
        if marked != 1 {
            continue;
        }
        let (step, due, number, kk, ru): (String, Option<NaiveDateTime>, String, String, String) =
            service_steps::table
                .inner_join(services::table)
                .filter(service_steps::id.eq(&id))
                .select((
                    service_steps::step,
                    service_steps::due_at,
                    services::register_number,
                    services::name_kk,
                    services::name_ru,
                ))
                .first(c)?;
        let name = match app.config.staff_language {
            baylanys_core::Language::Kk => kk,
            _ => ru,
        };
        let rule = Step::parse(&step).map(Step::rule).unwrap_or("F5");
        let rendered = app
            .templates
            .staff_notice(
                "onboarding_overdue",
                app.config.staff_language,
                context! {
                    step => &step, rule, number => &number, service => &name,
                    due => due.map(|d| crate::templates::local_time(d.and_utc())),
                },
            )
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        for s in &staff {
            if crate::jobs::staff::queue_notice(c, "onboarding_overdue", None, s, &rendered)?
                .is_some()
            {
                sent += 1;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f5_f7_deadlines_count_working_days_of_the_national_calendar() {
        let cal = Calendar::builtin();
        let hours = WorkingHours::default();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date");
        let cases = [
            ("2026-11-02", 5, "2026-11-09T18:30:00+05:00"),
            // Saturday: the effective day is Monday 09.11.
            ("2026-11-07", 5, "2026-11-16T18:30:00+05:00"),
            // Independence Day, Wednesday 16.12.2026.
            ("2026-12-14", 5, "2026-12-22T18:30:00+05:00"),
            // The year boundary: 01.01, 04.01 (02.01 carried over) and 07.01 are off.
            ("2026-12-30", 5, "2027-01-11T18:30:00+05:00"),
            ("2026-11-02", 10, "2026-11-16T18:30:00+05:00"),
        ];
        for (from, n, want) in cases {
            let due = due_after(&cal, &hours, d(from), n).expect("in range");
            assert_eq!(crate::calendar::format_almaty(due), want, "{from} + {n}");
        }
        // Far dates never panic (the API records or refuses them naming `date`).
        for far in ["0001-01-01", "1900-02-28", "2262-01-01"] {
            let _ = due_after(&cal, &hours, d(far), 10);
        }
    }

    #[test]
    fn each_step_obliges_the_next_under_its_rule() {
        assert_eq!(
            Step::BylawApproved.obliges(),
            Some((Step::PersonNamed, Some(5), "F5"))
        );
        assert_eq!(
            Step::PersonNamed.obliges(),
            Some((Step::Training, Some(10), "F6"))
        );
        assert_eq!(Step::Training.obliges().map(|o| o.1), Some(None));
        assert_eq!(
            Step::PersonChanged.obliges(),
            Some((Step::ChangeNotice, Some(5), "F7"))
        );
        assert_eq!(Step::InformingStarted.obliges(), None);
    }
}
