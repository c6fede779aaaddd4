//! The time as the application sees it. Only the edge reads it (the job worker's claim,
//! the timers, request handlers that need "now"); deadline code takes instants as
//! arguments. Tests inject a [`ManualClock`] and move it instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves when the clock is moved by hand; never for the system clock.
    fn moved(&self) -> Option<&tokio::sync::Notify> {
        None
    }
}

/// Waits until the clock is moved by hand (never, for the system clock): a loop that
/// sleeps between looks wakes at once when a test moves time.
pub async fn moved(clock: &dyn Clock) {
    match clock.moved() {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced (tests).
#[derive(Debug)]
pub struct ManualClock {
    at: Mutex<DateTime<Utc>>,
    moved: tokio::sync::Notify,
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock {
            at: Mutex::new(at),
            moved: tokio::sync::Notify::new(),
        }
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = at;
        self.moved.notify_waiters();
    }
    pub fn advance(&self, by: chrono::TimeDelta) {
        let now = self.now();
        self.set(now + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn moved(&self) -> Option<&tokio::sync::Notify> {
        Some(&self.moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T10:00:00+05:00")
            .expect("valid")
            .with_timezone(&Utc);
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(chrono::TimeDelta::minutes(5));
        assert_eq!(c.now(), t0 + chrono::TimeDelta::minutes(5));
    }
}
