//! Timers. A tick only enqueues a job whose dedupe key names the tick, so N instances on
//! one database fire each tick once; the jobs table is the truth, not the scheduler.
//! tokio-cron-scheduler is the trigger (every 5 s); what is due at each wake-up is
//! computed from the injected clock and the national calendar (the digest runs at the
//! start of working hours on working days, which cron cannot say), so tests move the
//! clock instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::AppState;
use crate::calendar::{Calendar, WorkingHours};
use crate::db::DbError;
use crate::jobs::deadlines::{DeadlineSweep, OverdueDigest};
use crate::jobs::enqueue_job;

/// How often an instance looks at the clock (a moved test clock wakes it at once).
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// The same, as the scheduler's cron expression (seconds first).
const CHECK_CRON: &str = "*/5 * * * * *";

/// A cron scheduler that wakes `wake` every [`CHECK_EVERY`]; `None` if it cannot start
/// (the loop then wakes on its own timer).
async fn trigger(wake: Arc<tokio::sync::Notify>) -> Option<tokio_cron_scheduler::JobScheduler> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let started = async {
        let scheduler = JobScheduler::new().await?;
        let job = Job::new_async(CHECK_CRON, move |_, _| {
            let wake = wake.clone();
            Box::pin(async move { wake.notify_one() })
        })?;
        scheduler.add(job).await?;
        scheduler.start().await?;
        Ok::<_, tokio_cron_scheduler::JobSchedulerError>(scheduler)
    };
    match started.await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "the timer scheduler did not start; timers poll instead");
            None
        }
    }
}

/// Runs until shutdown.
pub async fn run(app: Arc<AppState>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut scheduler = trigger(wake.clone()).await;
    // Without the scheduler the loop's own timer wakes it; with it, that is a backstop.
    let backstop = if scheduler.is_some() {
        CHECK_EVERY * 3
    } else {
        CHECK_EVERY
    };
    while !app.shutdown.is_cancelled() {
        crate::state::Beats::beat(&app.beats.timers);
        if let Err(e) = tick(&app).await {
            tracing::warn!(error = %e, "enqueuing timer ticks failed");
        }
        tokio::select! {
            _ = app.shutdown.cancelled() => {}
            _ = crate::clock::moved(app.clock.as_ref()) => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(backstop) => {}
        }
    }
    if let Some(s) = scheduler.as_mut()
        && let Err(e) = s.shutdown().await
    {
        tracing::warn!(error = %e, "the timer scheduler did not shut down cleanly");
    }
}

/// The deadline sweep's tick: the current UTC minute.
pub fn sweep_tick(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M").to_string()
}

/// The working day whose digest is due at `now`: today (Almaty), once working hours
/// have started, on a working day. A day the server was down for is not caught up.
pub fn digest_day(
    calendar: &Calendar,
    hours: &WorkingHours,
    now: DateTime<Utc>,
) -> Option<NaiveDate> {
    let local = now.with_timezone(&chrono_tz::Asia::Almaty).naive_local();
    (calendar.is_working_day(local.date()) && local.time() >= hours.start).then_some(local.date())
}

/// Enqueues the jobs of the ticks due now (each at most once, whoever asks).
pub async fn tick(app: &Arc<AppState>) -> Result<(), DbError> {
    let now = app.clock.now();
    let sweep = DeadlineSweep {
        tick: sweep_tick(now),
    };
    let day = digest_day(&app.calendar(), &app.config.working_hours, now);
    let digest = day.map(|date| OverdueDigest { date });
    let onboarding = crate::registry::onboarding::OnboardingSweep {
        tick: sweep.tick.clone(),
    };
    let body_digests = day.map(|date| crate::registry::digest::BodyDigests { date });
    let retention = (app.config.retention_days > 0).then(|| crate::retention::RetentionSweep {
        day: now.format("%Y-%m-%d").to_string(),
    });
    let recordings = (app.config.recording_retention_days > 0).then(|| {
        crate::calls::recordings::RecordingRetention {
            day: now.format("%Y-%m-%d").to_string(),
        }
    });
    // P1, P3: the monthly reports on the previous month, once their send time came.
    let reports = crate::reports::jobs::due(&app.calendar(), &app.config.working_hours, now);
    app.db
        .write(move |c| {
            for r in &reports {
                enqueue_job(c, r, None)?;
            }
            enqueue_job(c, &sweep, None)?;
            if let Some(r) = &recordings {
                enqueue_job(c, r, None)?;
            }
            if let Some(r) = &retention {
                enqueue_job(c, r, None)?;
            }
            if let Some(d) = &digest {
                enqueue_job(c, d, None)?;
            }
            enqueue_job(c, &onboarding, None)?;
            if let Some(d) = &body_digests {
                enqueue_job(c, d, None)?;
            }
            Ok(())
        })
        .await?;
    app.jobs_wakeup.notify_one();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_digest_is_due_from_the_start_of_working_hours_on_working_days() {
        let cal = Calendar::builtin();
        let hours = WorkingHours::default();
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let cases = [
            ("2025-03-12T08:59:59+05:00", None),
            ("2025-03-12T09:00:00+05:00", day("2025-03-12")),
            ("2025-03-12T23:00:00+05:00", day("2025-03-12")),
            // Saturday, and the day off carried over from 8 March.
            ("2025-03-08T10:00:00+05:00", None),
            ("2025-03-10T10:00:00+05:00", None),
            // Sunday 05.01.2025 was a working day by decree.
            ("2025-01-05T09:30:00+05:00", day("2025-01-05")),
        ];
        for (now, want) in cases {
            assert_eq!(digest_day(&cal, &hours, at(now)), want, "{now}");
        }
    }

    #[test]
    fn one_sweep_tick_per_minute() {
        assert_eq!(sweep_tick(at("2026-12-01T10:15:59Z")), "2026-12-01T10:15");
        assert_eq!(
            sweep_tick(at("2026-12-01T10:15:00Z")),
            sweep_tick(at("2026-12-01T10:15:30Z"))
        );
    }
}
