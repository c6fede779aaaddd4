//! The jobs table: outbox and timers. Rows are written in the same transaction as the
//! state change that implies them; workers claim due rows under an expiring lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so N instances run each job once, and
//! failures retry with exponential backoff, staying visible with their last error.
//!
//! Each kind of job is a type implementing [`Job`] (the shape of crates.io's worker: a
//! name, an optional dedupe key, a typed serde payload, `run`); the worker dispatches
//! through a [`Registry`] of those types.

text_enum!(
    /// Where a job is in its life.
    JobStatus, "job status" {
        /// Waiting for its `run_at`.
        Pending => "pending",
        /// Claimed by an instance, under a lease.
        Running => "running",
        Done => "done",
        /// Given up after its last try, with its error: someone's to-do.
        Failed => "failed",
    }
);

pub mod deadlines;
pub mod staff;
pub mod timers;
pub mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::db::schema::jobs;
use crate::db::{DbConn, DbError, new_id};

pub const DELIVER: &str = worker::Deliver::NAME;

/// Why a run failed and whether to try again.
pub type Failure = (String, Retry);

/// A channel's refusal as a job failure: a temporary one is tried again (when the
/// channel says), a permanent one is given up.
pub fn send_failure(e: baylanys_core::SendError) -> Failure {
    match e {
        baylanys_core::SendError::Temporary {
            message,
            retry_after,
        } => (message, Retry::After(retry_after)),
        baylanys_core::SendError::Permanent { message } => (message, Retry::Never),
    }
}

/// A write a job leaves to the transaction that marks it done; it may run more than
/// once (the worker retries a failed batch item by item).
pub type DoneWrite = Box<dyn Fn(&mut DbConn) -> Result<(), DbError> + Send + Sync>;

/// What a job runs with: the application and its own row (attempts, id).
pub struct JobContext {
    pub app: Arc<AppState>,
    pub row: JobRow,
    done: Arc<std::sync::Mutex<Option<DoneWrite>>>,
}

impl JobContext {
    /// Records `write` in the same transaction as this job's completion, which the
    /// worker commits together with other jobs' completions: one commit for many sends.
    /// Call it just before returning `Ok`. If that transaction fails, the failure is
    /// recorded as the job's (retried with backoff, as any failed run).
    pub fn when_done(
        &self,
        write: impl Fn(&mut DbConn) -> Result<(), DbError> + Send + Sync + 'static,
    ) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(write));
    }
}

/// One kind of job: its payload is the type itself, stored as JSON.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The `kind` column; never rename one that rows may still carry.
    const NAME: &'static str;
    /// A job whose key is already in the table is not added again.
    fn dedupe_key(&self) -> Option<String> {
        None
    }
    fn ticket_id(&self) -> Option<&str> {
        None
    }
    fn max_attempts(&self) -> i32 {
        DEFAULT_MAX_ATTEMPTS
    }
    fn run(self, ctx: JobContext) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Called in the transaction that records a failure (`gave_up`: no more tries).
    fn failed(
        &self,
        _conn: &mut DbConn,
        _row: &JobRow,
        _gave_up: bool,
        _error: &str,
    ) -> Result<(), DbError> {
        Ok(())
    }
}

/// A run's outcome and, when it succeeded, the write it left for its completion.
pub type RunOutcome = Result<Option<DoneWrite>, Failure>;

type RunFn =
    fn(Arc<AppState>, JobRow) -> std::pin::Pin<Box<dyn Future<Output = RunOutcome> + Send>>;
type FailedFn = fn(&mut DbConn, &JobRow, bool, &str) -> Result<(), DbError>;

/// The job types this server runs, by name.
#[derive(Default)]
pub struct Registry {
    entries: HashMap<&'static str, (RunFn, FailedFn)>,
}

impl Registry {
    pub fn register<J: Job>(mut self) -> Registry {
        self.entries
            .insert(J::NAME, (run_erased::<J>, failed_erased::<J>));
        self
    }

    /// Every job type of Baylanys.
    pub fn standard() -> Registry {
        Registry::default()
            .register::<worker::Deliver>()
            .register::<crate::whatsapp::WhatsAppWebhook>()
            .register::<staff::StaffMail>()
            .register::<deadlines::DeadlineSweep>()
            .register::<deadlines::DeadlineReminder>()
            .register::<deadlines::DeadlineEscalation>()
            .register::<deadlines::OverdueDigest>()
            .register::<crate::retention::RetentionSweep>()
            .register::<crate::forwards::delivery::ForwardDelivery>()
            .register::<crate::forwards::delivery::ForwardReminder>()
            .register::<crate::forwards::delivery::ForwardEscalation>()
            .register::<crate::forwards::quality::QualityNoticeMail>()
            .register::<crate::registry::onboarding::OnboardingSweep>()
            .register::<crate::registry::digest::BodyDigests>()
            .register::<crate::outages::jobs::OutageNotice>()
            .register::<crate::outages::jobs::OutageDelivery>()
            .register::<crate::outages::jobs::OutageLeadCheck>()
            .register::<crate::outages::jobs::OutageBreachAlert>()
            .register::<crate::calls::recordings::FetchRecording>()
            .register::<crate::calls::recordings::RecordingRetention>()
            .register::<crate::calls::requests::RecordRequestTimer>()
            .register::<crate::ratings::RatingInvite>()
            .register::<crate::reports::jobs::MonthlyReports>()
            .register::<crate::reports::jobs::ReportMail>()
            .register::<crate::reports::discrepancy::DiscrepancyAnswer>()
            .register::<crate::reports::discrepancy::DiscrepancyReminder>()
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.entries.keys().copied().collect();
        names.sort_unstable();
        names
    }

    pub async fn run(&self, app: Arc<AppState>, row: JobRow) -> RunOutcome {
        match self.entries.get(row.kind.as_str()) {
            Some((run, _)) => run(app, row).await,
            None => Err((format!("unknown job kind `{}`", row.kind), Retry::Never)),
        }
    }

    pub fn failed(
        &self,
        conn: &mut DbConn,
        row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        match self.entries.get(row.kind.as_str()) {
            Some((_, failed)) => failed(conn, row, gave_up, error),
            None => Ok(()),
        }
    }
}

fn run_erased<J: Job>(
    app: Arc<AppState>,
    row: JobRow,
) -> std::pin::Pin<Box<dyn Future<Output = RunOutcome> + Send>> {
    Box::pin(async move {
        let job: J = serde_json::from_str(&row.payload).map_err(|e| {
            (
                format!("the payload of a `{}` job is not valid: {e}", J::NAME),
                Retry::Never,
            )
        })?;
        let done = Arc::new(std::sync::Mutex::new(None));
        job.run(JobContext {
            app,
            row,
            done: done.clone(),
        })
        .await?;
        let write = done.lock().unwrap_or_else(|p| p.into_inner()).take();
        Ok(write)
    })
}

fn failed_erased<J: Job>(
    conn: &mut DbConn,
    row: &JobRow,
    gave_up: bool,
    error: &str,
) -> Result<(), DbError> {
    match serde_json::from_str::<J>(&row.payload) {
        Ok(job) => job.failed(conn, row, gave_up, error),
        // A payload that does not parse has nothing to mark.
        Err(_) => Ok(()),
    }
}

/// Adds a typed job (at `run_at`, or now); returns its id, or the id of the job that
/// already holds its dedupe key.
pub fn enqueue_job<J: Job>(
    conn: &mut DbConn,
    job: &J,
    run_at: Option<NaiveDateTime>,
) -> Result<String, DbError> {
    let payload =
        serde_json::to_value(job).map_err(|e| DbError::Unavailable(format!("job payload: {e}")))?;
    let key = job.dedupe_key();
    enqueue(
        conn,
        NewJob {
            kind: J::NAME,
            payload,
            ticket_id: job.ticket_id(),
            dedupe_key: key.as_deref(),
            run_at,
            max_attempts: Some(job.max_attempts()),
        },
    )
}

pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;
/// How long a claimed job is ours before another instance may take it over, unless
/// `BAYLANYS_JOB_LEASE_SECS` says otherwise.
pub const LEASE_SECONDS: i64 = 120;

pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub ticket_id: Option<&'a str>,
    /// A job with a key already present is not added again (cron ticks, redeliveries).
    pub dedupe_key: Option<&'a str>,
    pub run_at: Option<NaiveDateTime>,
    pub max_attempts: Option<i32>,
}

/// Adds a job; returns its id, or the id of the job that already holds the dedupe key.
/// Keyed jobs are inserted-or-skipped, so instances racing for one tick add it once.
pub fn enqueue(conn: &mut DbConn, job: NewJob<'_>) -> Result<String, DbError> {
    let id = new_id();
    let now = crate::db::now();
    if let Some(key) = job.dedupe_key {
        let added = diesel::sql_query(
            "INSERT INTO jobs (id, kind, payload, ticket_id, status, run_at, attempts, \
             max_attempts, dedupe_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $7, $8, $9) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind::<Text, _>(&id)
        .bind::<Text, _>(job.kind)
        .bind::<Text, _>(job.payload.to_string())
        .bind::<Nullable<Text>, _>(job.ticket_id)
        .bind::<Timestamp, _>(job.run_at.unwrap_or(now))
        .bind::<Integer, _>(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
        .bind::<Text, _>(key)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .execute(conn)?;
        // SQLite numbers `$N` parameters in order of appearance, so one text fits both.
        if added == 1 {
            return Ok(id);
        }
        return Ok(jobs::table
            .filter(jobs::dedupe_key.eq(key))
            .select(jobs::id)
            .first(conn)?);
    }
    diesel::insert_into(jobs::table)
        .values((
            jobs::id.eq(&id),
            jobs::kind.eq(job.kind),
            jobs::payload.eq(job.payload.to_string()),
            jobs::ticket_id.eq(job.ticket_id),
            jobs::status.eq(JobStatus::Pending.as_str()),
            jobs::run_at.eq(job.run_at.unwrap_or(now)),
            jobs::attempts.eq(0),
            jobs::max_attempts.eq(job.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS)),
            jobs::dedupe_key.eq(job.dedupe_key),
            jobs::created_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

#[derive(Debug, Clone, Queryable, Serialize)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub ticket_id: Option<String>,
    pub status: String,
    pub run_at: NaiveDateTime,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_until: Option<NaiveDateTime>,
    pub leased_by: Option<String>,
    pub dedupe_key: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Claims up to `limit` jobs due at `now` for `instance`. Pending jobs and running jobs
/// whose lease expired (their instance died) are both due.
pub fn claim(
    conn: &mut DbConn,
    instance: &str,
    limit: i64,
    now: chrono::DateTime<Utc>,
    lease_secs: i64,
) -> Result<Vec<JobRow>, DbError> {
    let now = now.naive_utc();
    // Leases measure how long an instance has been silent: elapsed real time, not the
    // (possibly moved) clock that decides what is due.
    let wall = Utc::now().naive_utc();
    let lease = wall + Duration::seconds(lease_secs);
    // Due: its time has come on the (injectable) clock; or it was made to run at once
    // (`run_at` no later than its creation, both wall time), whatever that clock says.
    let due = jobs::run_at
        .le(now)
        .or(jobs::run_at.le(jobs::created_at))
        .and(
            jobs::status.eq(JobStatus::Pending.as_str()).or(jobs::status
                .eq(JobStatus::Running.as_str())
                .and(jobs::lease_until.lt(wall))),
        );
    let ids: Vec<String> = match conn {
        DbConn::Pg(c) => jobs::table
            .filter(due)
            .order(jobs::run_at.asc())
            .limit(limit)
            .select(jobs::id)
            .for_update()
            .skip_locked()
            .load(c)?,
        // SQLite has one writer at a time: the write transaction is the lock.
        DbConn::Sqlite(c) => jobs::table
            .filter(due)
            .order(jobs::run_at.asc())
            .limit(limit)
            .select(jobs::id)
            .load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)))
        .set((
            jobs::status.eq(JobStatus::Running.as_str()),
            jobs::lease_until.eq(lease),
            jobs::leased_by.eq(instance),
            jobs::attempts.eq(jobs::attempts + 1),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(jobs::table.filter(jobs::id.eq_any(&ids)).load(conn)?)
}

/// Extends the leases `instance` holds on the running jobs `ids` by `lease_secs` from
/// now: a live instance keeps what it runs however long it takes; one cut off stops
/// renewing and loses its jobs when the lease lapses. Returns how many were renewed.
pub fn renew(
    conn: &mut DbConn,
    instance: &str,
    ids: &[String],
    lease_secs: i64,
) -> Result<usize, DbError> {
    let until = Utc::now().naive_utc() + Duration::seconds(lease_secs);
    let mut n = 0;
    for chunk in ids.chunks(500) {
        n += diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(chunk))
                .filter(jobs::leased_by.eq(instance))
                .filter(jobs::status.eq(JobStatus::Running.as_str())),
        )
        .set(jobs::lease_until.eq(until))
        .execute(conn)?;
    }
    Ok(n)
}

pub fn complete(conn: &mut DbConn, id: &str, instance: &str) -> Result<(), DbError> {
    diesel::update(jobs::table.find(id).filter(jobs::leased_by.eq(instance)))
        .set((
            jobs::status.eq(JobStatus::Done.as_str()),
            jobs::lease_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(None::<String>),
            jobs::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// [`complete`] for many jobs in one statement.
pub fn complete_many(conn: &mut DbConn, ids: &[&str], instance: &str) -> Result<(), DbError> {
    for chunk in ids.chunks(500) {
        diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(chunk))
                .filter(jobs::leased_by.eq(instance)),
        )
        .set((
            jobs::status.eq(JobStatus::Done.as_str()),
            jobs::lease_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(None::<String>),
            jobs::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// How a failed run ends: again later, or given up for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    After(Option<std::time::Duration>),
    Never,
}

/// Exponential backoff: 10 s, 20 s, 40 s ... capped at one hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds((10i64 << exp).min(3600))
}

/// Records a failure of the run `job` describes. `Some(true)` when the job was given up
/// (the caller marks what it was delivering as failed), `None` when that run no longer
/// holds the job (its lease lapsed and another run took it): nothing is written.
pub fn fail(
    conn: &mut DbConn,
    job: &JobRow,
    error: &str,
    retry: Retry,
    now: chrono::DateTime<Utc>,
) -> Result<Option<bool>, DbError> {
    let now = now.naive_utc();
    let give_up = retry == Retry::Never || job.attempts >= job.max_attempts;
    let run_at = match retry {
        Retry::After(Some(d)) => now + Duration::from_std(d).unwrap_or(Duration::seconds(60)),
        _ => now + backoff(job.attempts),
    };
    // Only the run that still holds the job records its failure: an instance whose lease
    // lapsed (cut off, then back) must not put back a job another instance took over.
    // (A claimed job always names its holder.)
    let holder = job.leased_by.as_deref().unwrap_or_default();
    let updated = diesel::update(
        jobs::table
            .find(&job.id)
            .filter(jobs::status.eq(JobStatus::Running.as_str()))
            .filter(jobs::attempts.eq(job.attempts))
            .filter(jobs::leased_by.eq(holder)),
    )
    .set((
        jobs::status.eq(if give_up {
            JobStatus::Failed
        } else {
            JobStatus::Pending
        }
        .as_str()),
        jobs::run_at.eq(if give_up { job.run_at } else { run_at }),
        jobs::lease_until.eq(None::<NaiveDateTime>),
        jobs::last_error.eq(error),
        jobs::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok((updated > 0).then_some(give_up))
}

/// Forgets finished jobs older than `days` (failed ones stay: they are someone's to-do).
pub fn prune_done(conn: &mut DbConn, days: i64) -> Result<usize, DbError> {
    let before = Utc::now().naive_utc() - Duration::days(days);
    Ok(diesel::delete(
        jobs::table
            .filter(jobs::status.eq(JobStatus::Done.as_str()))
            .filter(jobs::updated_at.lt(before)),
    )
    .execute(conn)?)
}

#[derive(Debug, Serialize)]
pub struct JobCounts {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

pub fn counts(conn: &mut DbConn) -> Result<JobCounts, DbError> {
    let rows: Vec<(String, i64)> = jobs::table
        .group_by(jobs::status)
        .select((jobs::status, diesel::dsl::count_star()))
        .load(conn)?;
    let get = |s: &str| rows.iter().find(|r| r.0 == s).map_or(0, |r| r.1);
    Ok(JobCounts {
        pending: get(JobStatus::Pending.as_str()),
        running: get(JobStatus::Running.as_str()),
        done: get(JobStatus::Done.as_str()),
        failed: get(JobStatus::Failed.as_str()),
    })
}

/// Jobs not done, by kind and status: the queue depth per kind of work.
pub fn depth_by_kind(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>, DbError> {
    Ok(jobs::table
        .filter(jobs::status.ne(JobStatus::Done.as_str()))
        .group_by((jobs::kind, jobs::status))
        .select((jobs::kind, jobs::status, diesel::dsl::count_star()))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(2), Duration::seconds(20));
        assert_eq!(backoff(4), Duration::seconds(80));
        assert_eq!(backoff(12), Duration::seconds(3600));
    }
}
