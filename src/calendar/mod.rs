//! The national working-day calendar (C1) and the deadline rules built on it (R5, R11, F4-F7, O1, P1-P3).
//!
//! Everything here is pure: instants come in as arguments, nothing reads the clock. Instants are stored in
//! UTC and shown in Asia/Almaty. Build one [`Calendar`] at start-up and share it: deadlines are then array
//! look-ups ([`Calendar::working_days_due_at`]); the explained [`Deadline`] is what a ticket stores.

mod data;
mod days;
mod deadlines;
pub(crate) mod listing;
pub mod store;
mod text;

use chrono::{DateTime, FixedOffset, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Asia::Almaty;
use serde::{Deserialize, Serialize};

pub use days::{Calendar, DayKind, DayOverride};
pub use deadlines::{
    Deadline, Due, MAX_WORKING_DAYS, O1_NOTICE_LEAD_HOURS, R5_REPLY_WORKING_DAYS,
    R11_RECORDING_HOURS, outage_notice_due, recording_due,
};
pub use listing::{ListedDay, Source, YearListing};
pub use text::Explanation;

/// Everything that can go wrong in the calendar, each naming the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("time `{input}` is not an RFC 3339 time such as 2025-03-07T10:00:00+05:00 ({reason})")]
    UnparseableTime { input: String, reason: String },
    #[error("time `{input}` has no UTC offset: add +05:00 or Z")]
    MissingOffset { input: String },
    #[error("number of working days {n} is out of range 0..={max}", max = MAX_WORKING_DAYS)]
    WorkingDaysOutOfRange { n: u32 },
    #[error("unknown kind of day `{input}`: expected one of holiday, day-off, working-day")]
    UnknownDayKind { input: String },
    #[error("working hours must start before they end (got {start}-{end})")]
    InvalidWorkingHours { start: NaiveTime, end: NaiveTime },
    #[error("date {date} is outside the range the calendar can compute")]
    OutOfRange { date: chrono::NaiveDate },
    #[error(
        "year {year} is outside the years the calendar covers ({}-{})",
        FIRST_YEAR,
        LAST_YEAR
    )]
    YearNotCovered { year: i32 },
}

/// The years the calendar has tables for, and so the years people may ask about (the
/// rules still hold beyond them, for a count that runs past the end).
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// Refuses an instant outside [`FIRST_YEAR`]..=[`LAST_YEAR`] (Almaty time).
pub fn check_covered(t: DateTime<Utc>) -> Result<(), CalendarError> {
    use chrono::Datelike;
    let year = t.with_timezone(&Almaty).year();
    if (FIRST_YEAR..=LAST_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(CalendarError::YearNotCovered { year })
    }
}

/// Working hours in Almaty local time (C2); deadlines in working days end at `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            start: NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a valid time"),
            end: NaiveTime::from_hms_opt(18, 30, 0).expect("18:30 is a valid time"),
        }
    }
}

impl WorkingHours {
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, CalendarError> {
        if start < end {
            Ok(WorkingHours { start, end })
        } else {
            Err(CalendarError::InvalidWorkingHours { start, end })
        }
    }
}

/// Parses an RFC 3339 time that must carry its UTC offset (seconds may be left out).
pub fn parse_instant(s: &str) -> Result<DateTime<FixedOffset>, CalendarError> {
    let input = s.trim();
    let rfc3339 = match DateTime::parse_from_rfc3339(input) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // People type minutes without seconds; accept that as long as the offset is there.
    for format in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(input, format) {
            return Ok(t);
        }
    }
    if let Some(rest) = input.strip_suffix(['Z', 'z'])
        && let Ok(t) = NaiveDateTime::parse_from_str(rest, "%Y-%m-%dT%H:%M")
    {
        return Ok(t.and_utc().fixed_offset());
    }
    let local_formats = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    if local_formats
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(input, f).is_ok())
    {
        return Err(CalendarError::MissingOffset {
            input: input.to_owned(),
        });
    }
    Err(CalendarError::UnparseableTime {
        input: input.to_owned(),
        reason: rfc3339.to_string(),
    })
}

/// RFC 3339 in the offset Almaty had at that instant (+05:00 since 2024-03-01, +06:00 before).
pub fn format_almaty(t: DateTime<Utc>) -> String {
    t.with_timezone(&Almaty)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The JSON both the CLI `--json` and `GET /api/v1/calendar/due` print.
pub fn due_json(d: &Deadline) -> serde_json::Value {
    serde_json::json!({
        "due_at": format_almaty(d.due_at),
        "effective_from": d.effective_from.format("%Y-%m-%d").to_string(),
        "rule": d.rule,
        "explanation": {"kk": d.explanation.kk, "ru": d.explanation.ru, "en": d.explanation.en},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_instant_requires_an_offset() {
        let err = parse_instant("2025-03-07T10:00").unwrap_err();
        assert_eq!(
            err.to_string(),
            "time `2025-03-07T10:00` has no UTC offset: add +05:00 or Z"
        );
        assert!(matches!(
            parse_instant("2025-03-07T10:00:00"),
            Err(CalendarError::MissingOffset { .. })
        ));
        assert!(matches!(
            parse_instant("yesterday"),
            Err(CalendarError::UnparseableTime { .. })
        ));
        assert_eq!(
            parse_instant("2025-03-07T10:00+05:00").map(|t| t.to_rfc3339()),
            Ok("2025-03-07T10:00:00+05:00".into())
        );
        assert_eq!(
            parse_instant("2025-03-07T05:00Z").map(|t| t.to_rfc3339()),
            Ok("2025-03-07T05:00:00+00:00".into())
        );
        assert!(parse_instant("2025-03-07T10:00:00+05:00").is_ok());
    }
}
