//! The reports: the monthly report of Appendix 2 (P1) to the quality body and each
//! provider its own part, the ICT report (P3), the analytics (P4), discrepancy requests
//! (P2), the two classifications operators record for Appendix 2, and server-side SVG
//! charts for the dashboard.

pub mod analytics;
pub mod choices;
pub mod discrepancy;
pub mod ict;
pub mod jobs;
pub mod monthly;
pub mod service_level;
pub mod svg;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// A calendar month, `YYYY-MM` (Almaty time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// Strict `YYYY-MM`, years 2000-2099.
    pub fn parse(s: &str) -> Result<Month, String> {
        let bad = || {
            format!(
                "`{}` is not a month: write YYYY-MM, e.g. 2026-11",
                s.chars().take(20).collect::<String>()
            )
        };
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = s[..4].parse().map_err(|_| bad())?;
        let month: u32 = s[5..].parse().map_err(|_| bad())?;
        if !(2000..=2099).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a checked month")
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month a UTC instant falls in, in Almaty.
    pub fn of(at: DateTime<Utc>) -> Month {
        let d = at.with_timezone(&chrono_tz::Asia::Almaty).date_naive();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    /// `[start, end)` in UTC (naive, as stored).
    pub fn range(self) -> (NaiveDateTime, NaiveDateTime) {
        let start = |m: Month| {
            chrono_tz::Asia::Almaty
                .from_local_datetime(&m.first_day().and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .expect("Almaty has midnights")
                .naive_utc()
        };
        (start(self), start(self.next()))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A stored UTC time as RFC 3339.
pub fn utc(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The file formats of the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "xlsx" => Ok(Format::Xlsx),
            "csv" => Ok(Format::Csv),
            _ => Err("must be xlsx or csv".into()),
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("writing the report failed: {0}")]
    Write(String),
    #[error("{0}")]
    NotFound(String),
}

impl From<diesel::result::Error> for ReportError {
    fn from(e: diesel::result::Error) -> Self {
        ReportError::Db(e.into())
    }
}

impl From<std::io::Error> for ReportError {
    fn from(e: std::io::Error) -> Self {
        ReportError::Write(e.to_string())
    }
}

impl From<rust_xlsxwriter::XlsxError> for ReportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        ReportError::Write(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(
            Month::parse("2026-11"),
            Ok(Month {
                year: 2026,
                month: 11
            })
        );
        for bad in [
            "2026-13",
            "2026-00",
            "26-11",
            "2026-1",
            "2026/11",
            "2026-11-01",
            "１２３４-11",
            "",
            "1999-12",
            "2026-1a",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Month::parse("2026-01").unwrap().previous().to_string(),
            "2025-12"
        );
    }

    #[test]
    fn a_month_is_almaty_midnight_to_midnight() {
        let (a, b) = Month::parse("2026-11").unwrap().range();
        assert_eq!(a.to_string(), "2026-10-31 19:00:00");
        assert_eq!(b.to_string(), "2026-11-30 19:00:00");
    }
}
