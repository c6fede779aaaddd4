//! What one rate-limit check costs with 1,000 and with 100,000 clients on record: the
//! keyed GCRA should cost the same for both.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use baylanys::web::ratelimit::RateLimiter;
use criterion::{Criterion, criterion_group, criterion_main};

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn checks(c: &mut Criterion) {
    for clients in [1_000u32, 100_000] {
        let rl = RateLimiter::new(30);
        for n in 0..clients {
            let _ = rl.check(ip(n));
        }
        c.bench_function(&format!("check with {clients} clients on record"), |b| {
            let mut n = 0;
            b.iter(|| {
                n = (n + 7919) % clients;
                black_box(rl.check(black_box(ip(n)))).ok()
            })
        });
    }
}

criterion_group!(benches, checks);
criterion_main!(benches);
