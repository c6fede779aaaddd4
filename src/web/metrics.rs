//! Counters for `GET /metrics` (Prometheus text format).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::jobs::JobStatus;

/// Upper bounds (seconds) of the request-duration histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    pub appeals_registered: AtomicU64,
    pub appeals_rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    pub http_errors: AtomicU64,
    /// Requests per bucket of [`BUCKETS`] (not cumulative; the last is +Inf).
    request_buckets: [AtomicU64; BUCKETS.len() + 1],
    request_micros: AtomicU64,
    requests: AtomicU64,
}

/// What `/metrics` reads from the database at scrape time.
pub struct Snapshot {
    pub jobs: crate::jobs::JobCounts,
    pub job_depth: Vec<(String, String, i64)>,
    pub tickets: crate::tickets::queries::TicketCounts,
}

/// A label value as Prometheus wants it: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request's duration.
    pub fn observe_request(&self, took: std::time::Duration) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.request_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.request_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The process counters plus gauges read from the database at scrape time.
    pub fn render(&self, snap: &Snapshot) -> String {
        let (jobs, open_tickets, overdue) = (&snap.jobs, snap.tickets.open, snap.tickets.overdue);
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
            (JobStatus::Pending, jobs.pending),
            (JobStatus::Running, jobs.running),
            (JobStatus::Done, jobs.done),
            (JobStatus::Failed, jobs.failed),
        ] {
            s.push_str(&format!("baylanys_jobs{{status=\"{status}\"}} {n}\n"));
        }
        s.push_str("# HELP baylanys_jobs_waiting Jobs not done, by kind and status (queue depth).\n# TYPE baylanys_jobs_waiting gauge\n");
        for (kind, status, n) in &snap.job_depth {
            s.push_str(&format!(
                "baylanys_jobs_waiting{{kind=\"{}\",status=\"{}\"}} {n}\n",
                label(kind),
                label(status)
            ));
        }
        s.push_str("# HELP baylanys_registrations Tickets registered, by channel (all instances).\n# TYPE baylanys_registrations gauge\n");
        for (channel, n) in &snap.tickets.registered_by_channel {
            s.push_str(&format!(
                "baylanys_registrations{{channel=\"{}\"}} {n}\n",
                label(channel)
            ));
        }
        s.push_str("# HELP baylanys_deliveries Outgoing messages by channel and delivery state.\n# TYPE baylanys_deliveries gauge\n");
        for (channel, state, n) in &snap.tickets.deliveries {
            s.push_str(&format!(
                "baylanys_deliveries{{channel=\"{}\",state=\"{}\"}} {n}\n",
                label(channel),
                label(state)
            ));
        }
        s.push_str("# HELP baylanys_http_request_duration_seconds Time to answer a request.\n# TYPE baylanys_http_request_duration_seconds histogram\n");
        let mut cumulative = 0u64;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.request_buckets[i].load(Ordering::Relaxed);
            s.push_str(&format!(
                "baylanys_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}\n"
            ));
        }
        cumulative += self.request_buckets[BUCKETS.len()].load(Ordering::Relaxed);
        s.push_str(&format!(
            "baylanys_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n"
        ));
        s.push_str(&format!(
            "baylanys_http_request_duration_seconds_sum {}\nbaylanys_http_request_duration_seconds_count {}\n",
            self.request_micros.load(Ordering::Relaxed) as f64 / 1e6,
            self.requests.load(Ordering::Relaxed)
        ));
        s
    }
}
