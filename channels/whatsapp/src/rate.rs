//! Send pacing: the Cloud API allows a number of messages a second per business number
//! (130429 beyond it) and only a few in a row to one recipient (131056, the pair rate
//! limit): a long reply split in parts is spaced, not burst.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    global_interval: Duration,
    recipient_interval: Duration,
    global_next: tokio::sync::Mutex<Instant>,
    recipients: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

const SOFT_LIMIT: usize = 4096;

impl Pacer {
    pub fn new(global_per_sec: u32, recipient_interval: Duration) -> Pacer {
        Pacer {
            global_interval: Duration::from_secs(1).mul_f64(1.03) / global_per_sec.max(1),
            recipient_interval,
            global_next: tokio::sync::Mutex::new(Instant::now()),
            recipients: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a message may go to `to` now, and counts it as sent.
    pub async fn acquire(&self, to: &str) {
        let slot = self.slot(to);
        let mut last = slot.lock().await;
        if let Some(last) = *last {
            tokio::time::sleep_until(last + self.recipient_interval).await;
        }
        {
            let mut next = self.global_next.lock().await;
            tokio::time::sleep_until(*next).await;
            *next = Instant::now() + self.global_interval;
        }
        *last = Some(Instant::now());
    }

    /// The platform said "too many": keep this recipient quiet for `wait`.
    pub async fn penalize(&self, to: &str, wait: Duration) {
        let slot = self.slot(to);
        let mut last = slot.lock().await;
        let until = Instant::now() + wait;
        let as_last = until.checked_sub(self.recipient_interval).unwrap_or(until);
        if last.is_none_or(|l| l < as_last) {
            *last = Some(as_last);
        }
    }

    fn slot(&self, to: &str) -> Arc<tokio::sync::Mutex<Option<Instant>>> {
        let mut map = self
            .recipients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() > SOFT_LIMIT {
            let idle = self.recipient_interval;
            map.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .map(|last| last.is_some_and(|l| l.elapsed() < idle))
                        .unwrap_or(true)
            });
        }
        map.entry(to.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_recipient_is_spaced_and_others_are_not_held_up() {
        let pacer = Arc::new(Pacer::new(1000, Duration::from_millis(100)));
        let start = Instant::now();
        for _ in 0..3 {
            pacer.acquire("77010000001").await;
        }
        assert!(start.elapsed() >= Duration::from_millis(200));
        let other = Instant::now();
        pacer.acquire("77010000002").await;
        assert!(other.elapsed() < Duration::from_millis(80));
        pacer
            .penalize("77010000002", Duration::from_millis(300))
            .await;
        let penalized = Instant::now();
        pacer.acquire("77010000002").await;
        assert!(penalized.elapsed() >= Duration::from_millis(290));
    }
}
