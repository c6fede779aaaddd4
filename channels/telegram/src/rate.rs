//! Send pacing: Telegram allows about 30 messages a second per bot and about one a
//! second per chat; going faster earns 429s and, repeated, a longer ban.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Spaces sends evenly instead of allowing bursts: a burst followed by a refill can put
/// twice the limit into one second as Telegram measures it.
#[derive(Debug)]
pub struct RateLimiter {
    global_interval: Duration,
    chat_interval: Duration,
    /// FIFO (tokio's mutex is fair), so a waiting sender is never overtaken forever.
    global_next: tokio::sync::Mutex<Instant>,
    chats: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

/// Entries kept before idle chats are pruned from the per-chat table.
const CHAT_TABLE_SOFT_LIMIT: usize = 4096;

impl RateLimiter {
    /// `global_per_sec` and `per_chat_per_sec` are ceilings; we pace about 3% below them
    /// so that network jitter between our clock and Telegram's does not cross them.
    pub fn new(global_per_sec: u32, per_chat_per_sec: u32) -> Self {
        RateLimiter {
            global_interval: interval_for(global_per_sec),
            chat_interval: interval_for(per_chat_per_sec),
            global_next: tokio::sync::Mutex::new(Instant::now()),
            chats: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a message may go to `chat_id` now, and counts it as sent.
    pub async fn acquire(&self, chat_id: i64) {
        let chat = self.chat_slot(chat_id);
        // Held until the send is counted, so two sends to one chat cannot interleave.
        let mut last = chat.lock().await;
        if let Some(last) = *last {
            tokio::time::sleep_until(last + self.chat_interval).await;
        }
        {
            // Only the global wait happens under this lock: a chat that must wait its
            // own second never holds up the others.
            let mut next = self.global_next.lock().await;
            tokio::time::sleep_until(*next).await;
            *next = Instant::now() + self.global_interval;
        }
        *last = Some(Instant::now());
    }

    /// Telegram said "retry after": keep this chat quiet for that long.
    pub async fn penalize(&self, chat_id: i64, retry_after: Duration) {
        let chat = self.chat_slot(chat_id);
        let mut last = chat.lock().await;
        let until = Instant::now() + retry_after;
        // Stored as the last send time so that the next one waits `retry_after`.
        let as_last = until.checked_sub(self.chat_interval).unwrap_or(until);
        if last.is_none_or(|l| l < as_last) {
            *last = Some(as_last);
        }
    }

    fn chat_slot(&self, chat_id: i64) -> Arc<tokio::sync::Mutex<Option<Instant>>> {
        let mut chats = self
            .chats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if chats.len() > CHAT_TABLE_SOFT_LIMIT {
            let idle_after = self.chat_interval;
            // A chat nobody waits on and whose interval has passed carries no state.
            chats.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .map(|last| last.is_some_and(|l| l.elapsed() < idle_after))
                        .unwrap_or(true)
            });
        }
        chats.entry(chat_id).or_default().clone()
    }
}

fn interval_for(per_sec: u32) -> Duration {
    let per_sec = per_sec.max(1);
    Duration::from_secs(1).mul_f64(1.03) / per_sec
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time with fast rates: tokio's paused clock needs a feature the workspace does
    // not build.

    #[tokio::test]
    async fn one_chat_is_spaced_by_its_interval() {
        let limiter = RateLimiter::new(1000, 10);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(7).await;
        }
        // Two intervals of 1.03/10 s between three sends.
        assert!(start.elapsed() >= Duration::from_millis(206));
    }

    #[tokio::test]
    async fn many_chats_share_the_global_pace() {
        let limiter = Arc::new(RateLimiter::new(100, 1));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for chat in 0..21 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move { limiter.acquire(chat).await }));
        }
        for task in tasks {
            task.await.expect("acquire does not panic");
        }
        // 21 sends to distinct chats need 20 global intervals of 1.03/100 s, no more.
        assert!(start.elapsed() >= Duration::from_millis(206));
        assert!(start.elapsed() < Duration::from_millis(900));
    }

    #[tokio::test]
    async fn penalty_delays_the_next_send_to_that_chat_only() {
        let limiter = RateLimiter::new(1000, 10);
        limiter.penalize(5, Duration::from_millis(300)).await;
        let start = Instant::now();
        limiter.acquire(5).await;
        assert!(start.elapsed() >= Duration::from_millis(300));
        limiter.penalize(5, Duration::from_millis(300)).await;
        let other = Instant::now();
        limiter.acquire(6).await;
        assert!(other.elapsed() < Duration::from_millis(100));
    }
}
