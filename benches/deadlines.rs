//! How long a deadline takes: the fast path (tickets, SLA sweeps) and the explained one (what a ticket stores).

use std::hint::black_box;

use baylanys::calendar::{Calendar, WorkingHours, parse_instant};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

fn instants() -> Vec<DateTime<Utc>> {
    let start = parse_instant("2024-01-01T00:00:00+06:00")
        .expect("valid instant")
        .with_timezone(&Utc);
    // Spread over 2024-2027 at an odd step so that times of day and weekdays vary.
    (0..1024)
        .map(|i| start + TimeDelta::minutes(i * 2011))
        .collect()
}

fn deadlines(c: &mut Criterion) {
    let cal = Calendar::builtin();
    let hours = WorkingHours::default();
    let ats = instants();

    c.bench_function("r5_reply_due_at (fast path)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ats.len();
            cal.reply_due_at(black_box(ats[i]), &hours)
        })
    });
    c.bench_function("working_days_due_at n=10 (fast path)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ats.len();
            cal.working_days_due_at(black_box(ats[i]), black_box(10), &hours)
        })
    });
    c.bench_function("r5_reply_due (explained)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ats.len();
            cal.reply_due(black_box(ats[i]), &hours)
        })
    });
    c.bench_function("calendar_builtin (construction)", |b| {
        b.iter(Calendar::builtin)
    });
}

criterion_group!(benches, deadlines);
criterion_main!(benches);
