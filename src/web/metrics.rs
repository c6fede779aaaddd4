//! Counters for `GET /metrics` (Prometheus text format).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub appeals_registered: AtomicU64,
    pub appeals_rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    pub http_errors: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The process counters plus gauges read from the database at scrape time.
    pub fn render(&self, jobs: &crate::jobs::JobCounts, open_tickets: i64, overdue: i64) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        metric(
            "baylanys_appeals_registered_total",
            "counter",
            "Appeals registered by this instance through the form and API.",
            get(&self.appeals_registered),
        );
        metric(
            "baylanys_appeals_rejected_total",
            "counter",
            "Appeals refused for invalid input.",
            get(&self.appeals_rejected),
        );
        metric(
            "baylanys_rate_limited_total",
            "counter",
            "Requests refused by the per-IP rate limit.",
            get(&self.rate_limited),
        );
        metric(
            "baylanys_http_server_errors_total",
            "counter",
            "Responses with a 5xx status.",
            get(&self.http_errors),
        );
        metric(
            "baylanys_tickets_open",
            "gauge",
            "Tickets not closed.",
            open_tickets.to_string(),
        );
        metric(
            "baylanys_tickets_overdue",
            "gauge",
            "Tickets past their reply deadline without an answer.",
            overdue.to_string(),
        );
        s.push_str("# HELP baylanys_jobs Jobs by status.\n# TYPE baylanys_jobs gauge\n");
        for (status, n) in [
            ("pending", jobs.pending),
            ("running", jobs.running),
            ("done", jobs.done),
            ("failed", jobs.failed),
        ] {
            s.push_str(&format!("baylanys_jobs{{status=\"{status}\"}} {n}\n"));
        }
        s
    }
}
