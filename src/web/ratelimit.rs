//! Per-client-IP limit on appeal submissions (spam and abuse guard): a keyed GCRA
//! limiter (`governor`), whose cost per check does not grow with the number of clients.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// How often clients whose budget is full again are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

type Keyed<C> = Gcra<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Option<Keyed<C>>,
    clock: C,
    last_sweep: Mutex<Instant>,
}

impl RateLimiter<DefaultClock> {
    /// `per_minute == 0` turns the limit off.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter::with_clock(per_minute, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    /// A burst of `per_minute`, then one more every `60 / per_minute` seconds.
    pub fn with_clock(per_minute: u32, clock: C) -> RateLimiter<C> {
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| Gcra::dashmap_with_clock(Quota::per_minute(n), clock.clone()));
        RateLimiter {
            limiter,
            clock,
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Counts one request; `Err(seconds)` says how long until the client may try again.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        self.sweep(limiter);
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_millis().div_ceil(1000).max(1) as u64
        })
    }

    /// Clients tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }

    /// Once a minute, one caller forgets the clients that are back to a full budget.
    fn sweep(&self, limiter: &Keyed<C>) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.elapsed() < SWEEP_EVERY {
            return;
        }
        *last = Instant::now();
        drop(last);
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

/// The client's address: the peer, or, when the peer is one of our trusted reverse
/// proxies, the right-most `X-Forwarded-For` address (over every header line: a proxy
/// may add its own line) that is not a trusted proxy. A client can forge what is on
/// the left, not what our proxies appended.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // Something our proxies did not write: stop at the last address they vouch for.
        let Some(ip) = parse_hop(hop.trim()) else {
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

/// `203.0.113.7`, `203.0.113.7:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn the_limit_applies_per_ip_and_refills_within_a_minute() {
        let clock = FakeRelativeClock::default();
        let rl = RateLimiter::with_clock(2, clock.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(rl.check(a).is_ok());
        assert!(rl.check(a).is_ok());
        let wait = rl.check(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(rl.check(b).is_ok());
        clock.advance(Duration::from_secs(61));
        assert!(rl.check(a).is_ok());
        assert!(rl.check(a).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let rl = RateLimiter::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(rl.check(a).is_ok());
        }
    }

    #[test]
    fn the_right_most_untrusted_address_over_all_lines_is_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted = [proxy, inner];
        let ip = |lines: &[&str]| client_ip(proxy, lines.iter().copied(), &trusted).to_string();
        // HAProxy `option forwardfor` adds its own line after the client's forged one.
        assert_eq!(ip(&["203.0.113.9", "198.51.100.7"]), "198.51.100.7");
        assert_eq!(ip(&["203.0.113.9, 198.51.100.7"]), "198.51.100.7");
        // Chained trusted proxies are skipped; ports and brackets are understood.
        assert_eq!(
            ip(&["1.1.1.1, 198.51.100.7:5555", "10.0.0.5"]),
            "198.51.100.7"
        );
        assert_eq!(ip(&["[2001:db8::1]:443"]), "2001:db8::1");
        // Garbage our proxies did not write stops the walk at the last trusted hop.
        assert_eq!(ip(&["nonsense, 10.0.0.5"]), "10.0.0.5");
        assert_eq!(ip(&[]), "127.0.0.1");
        // An untrusted peer's header means nothing.
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            client_ip(peer, ["198.51.100.7"].into_iter(), &trusted),
            peer
        );
    }
}
