//! What "answered" means for R5, in one place: a ticket is answered once a final reply
//! went out (`answered_at` is set) or it was closed. A holding reply ("we have asked the
//! agency") answers nothing. Lists, details, metrics, reminders and digests all use this.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::db::MultiBackend;
use crate::db::schema::tickets;

/// A filter over `tickets`, usable in boxed and plain queries on either engine.
pub type TicketFilter = Box<dyn BoxableExpression<tickets::table, MultiBackend, SqlType = Bool>>;

pub fn is_answered(answered_at: Option<NaiveDateTime>, status: &str) -> bool {
    answered_at.is_some() || status == super::Status::Closed.as_str()
}

pub fn is_overdue(
    answered_at: Option<NaiveDateTime>,
    status: &str,
    due_at: NaiveDateTime,
    now: DateTime<Utc>,
) -> bool {
    !is_answered(answered_at, status) && due_at < now.naive_utc()
}

/// Not answered yet: the tickets R5 timers still watch.
pub fn unanswered() -> TicketFilter {
    Box::new(
        tickets::answered_at
            .is_null()
            .and(tickets::status.ne(super::Status::Closed.as_str())),
    )
}

/// Past the due instant and not answered.
pub fn overdue(now: DateTime<Utc>) -> TicketFilter {
    Box::new(
        tickets::due_at
            .lt(now.naive_utc())
            .and(tickets::answered_at.is_null())
            .and(tickets::status.ne(super::Status::Closed.as_str())),
    )
}

/// The complement of [`overdue`].
pub fn not_overdue(now: DateTime<Utc>) -> TicketFilter {
    Box::new(
        tickets::due_at
            .ge(now.naive_utc())
            .or(tickets::answered_at.is_not_null())
            .or(tickets::status.eq(super::Status::Closed.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r5_a_final_reply_or_a_close_answers_a_ticket() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("valid");
        let later = t.and_utc() + chrono::TimeDelta::days(5);
        assert!(!is_answered(None, "open"));
        assert!(is_answered(Some(t), "open"));
        assert!(is_answered(None, "closed"));
        assert!(is_overdue(None, "waiting", t, later));
        assert!(!is_overdue(None, "closed", t, later));
        assert!(!is_overdue(Some(t), "open", t, later));
        assert!(!is_overdue(None, "open", t, t.and_utc()));
    }
}
