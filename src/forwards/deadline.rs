//! A forward's deadline (F2, F3): working days per body kind, and for the ICI operator a
//! term per ICT category in working hours or days. Pure functions of an instant.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Almaty;

use crate::calendar::{Calendar, CalendarError, Deadline, WorkingHours};
use crate::config::ConfigError;
use crate::registry::BodyKind;

/// One ICT category's term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    WorkingHours(u32),
    WorkingDays(u32),
}

impl Term {
    fn parse(s: &str) -> Option<Term> {
        let s = s.trim();
        let (n, unit) = s.split_at(s.len().checked_sub(1)?);
        let n: u32 = n.trim().parse().ok()?;
        match unit {
            "h" if (1..=2000).contains(&n) => Some(Term::WorkingHours(n)),
            "d" if (1..=crate::calendar::MAX_WORKING_DAYS).contains(&n) => {
                Some(Term::WorkingDays(n))
            }
            _ => None,
        }
    }

    pub fn text(self) -> String {
        match self {
            Term::WorkingHours(n) => format!("{n}h"),
            Term::WorkingDays(n) => format!("{n}d"),
        }
    }
}

/// The forward settings: days per kind, the ICT SLA, and whether F4 notices go at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTerms {
    pub default_days: u32,
    pub days: BTreeMap<String, u32>,
    pub ict_sla: BTreeMap<String, Term>,
    pub quality_notice_auto_send: bool,
}

impl Default for ForwardTerms {
    fn default() -> Self {
        ForwardTerms::parse(None, None, false).expect("the defaults are valid")
    }
}

const DEFAULT_DAYS: &[&str] = &["default=5", "ici_operator=3"];
const DEFAULT_SLA: &[&str] = &["incident=4h", "access=8h", "consultation=2d", "other=3d"];

impl ForwardTerms {
    pub fn parse(
        days: Option<&[String]>,
        sla: Option<&[String]>,
        quality_notice_auto_send: bool,
    ) -> Result<ForwardTerms, ConfigError> {
        let owned = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let days = days.map_or_else(|| owned(DEFAULT_DAYS), <[String]>::to_vec);
        let sla = sla.map_or_else(|| owned(DEFAULT_SLA), <[String]>::to_vec);
        let mut out = ForwardTerms {
            default_days: 5,
            days: BTreeMap::new(),
            ict_sla: BTreeMap::new(),
            quality_notice_auto_send,
        };
        for item in days.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let bad = || {
                ConfigError::Invalid(
                    "forward_days",
                    format!(
                        "`{item}` must be KIND=DAYS (1-365), KIND one of default, {}",
                        BodyKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            };
            let (k, n) = item.split_once('=').ok_or_else(bad)?;
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            if !(1..=crate::calendar::MAX_WORKING_DAYS).contains(&n) {
                return Err(bad());
            }
            match k.trim() {
                "default" => out.default_days = n,
                k if BodyKind::parse(k).is_ok() => {
                    out.days.insert(k.to_string(), n);
                }
                _ => return Err(bad()),
            }
        }
        for item in sla.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let bad = || {
                ConfigError::Invalid(
                    "ict_sla",
                    format!("`{item}` must be CATEGORY=Nh or CATEGORY=Nd (working hours or days)"),
                )
            };
            let (k, v) = item.split_once('=').ok_or_else(bad)?;
            let k = k.trim();
            let ok = (1..=64).contains(&k.len())
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                return Err(bad());
            }
            out.ict_sla
                .insert(k.to_string(), Term::parse(v).ok_or_else(bad)?);
        }
        Ok(out)
    }

    pub fn days_for(&self, kind: BodyKind) -> u32 {
        self.days
            .get(kind.as_str())
            .copied()
            .unwrap_or(self.default_days)
    }

    pub fn categories(&self) -> Vec<&str> {
        self.ict_sla.keys().map(String::as_str).collect()
    }
}

/// The instant `n` working hours after `at` (the mirror of
/// `Calendar::working_hours_before`): only the working hours of working days count.
pub fn working_hours_after(
    calendar: &Calendar,
    at: DateTime<Utc>,
    n: u32,
    hours: &WorkingHours,
) -> Result<DateTime<Utc>, CalendarError> {
    let mut left = TimeDelta::hours(i64::from(n));
    let mut cursor = at.with_timezone(&Almaty).naive_local();
    for _ in 0..=366 {
        let day = cursor.date();
        if calendar.is_working_day(day) {
            let end = day.and_time(hours.end);
            let from = cursor.max(day.and_time(hours.start));
            if end > from {
                if end - from >= left {
                    let local = from + left;
                    return Ok(Almaty
                        .from_local_datetime(&local)
                        .earliest()
                        .map_or(at, |t| t.with_timezone(&Utc)));
                }
                left -= end - from;
            }
        }
        let Some(next) = day.succ_opt() else { break };
        cursor = next.and_time(hours.start);
    }
    Err(CalendarError::OutOfRange {
        date: at.with_timezone(&Almaty).date_naive(),
    })
}

/// The deadline of a forward sent at `at` to a body of `kind` (ICT `category` for the
/// ICI operator, when it names one of the SLA's).
pub fn forward_due(
    calendar: &Calendar,
    terms: &ForwardTerms,
    hours: &WorkingHours,
    at: DateTime<Utc>,
    kind: BodyKind,
    category: Option<&str>,
) -> Result<Deadline, CalendarError> {
    let sla = category
        .filter(|_| kind == BodyKind::IciOperator)
        .and_then(|c| terms.ict_sla.get(c));
    match sla {
        Some(Term::WorkingHours(n)) => {
            let due_at = working_hours_after(calendar, at, *n, hours)?;
            let local = |t: DateTime<Utc>| crate::calendar::format_almaty(t);
            let text = crate::calendar::Explanation {
                kk: format!(
                    "АКТ санаты бойынша мерзім (F3): {n} жұмыс сағаты, {} бастап; соңғы уақыты {}.",
                    local(at),
                    local(due_at)
                ),
                ru: format!(
                    "Срок по категории ИКТ (F3): {n} рабочих часов с {}; до {}.",
                    local(at),
                    local(due_at)
                ),
                en: format!(
                    "ICT category term (F3): {n} working hours from {}; due by {}.",
                    local(at),
                    local(due_at)
                ),
            };
            Ok(Deadline {
                due_at,
                effective_from: at.with_timezone(&Almaty).date_naive(),
                rule: "F3".into(),
                explanation: text,
                warnings: Vec::new(),
            })
        }
        Some(Term::WorkingDays(n)) => calendar.working_days_due(at, *n, "F3", hours),
        None => calendar.working_days_due(at, terms.days_for(kind), "F2", hours),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn f2_f3_terms_parse_with_defaults_and_errors_name_the_setting() {
        let t = ForwardTerms::default();
        assert_eq!(t.days_for(BodyKind::IciOperator), 3);
        assert_eq!(t.days_for(BodyKind::CentralStateBody), 5);
        assert_eq!(t.ict_sla.get("incident"), Some(&Term::WorkingHours(4)));
        let e = ForwardTerms::parse(Some(&["nobody=3".into()]), None, false).unwrap_err();
        assert!(e.to_string().contains("forward_days"), "{e}");
        let e = ForwardTerms::parse(None, Some(&["x=3w".into()]), false).unwrap_err();
        assert!(e.to_string().contains("ict_sla"), "{e}");
    }

    #[test]
    fn f3_working_hours_skip_nights_and_weekends() {
        let cal = Calendar::builtin();
        let h = WorkingHours::default();
        let cases = [
            // Wednesday 10:00 + 4 h = 14:00.
            ("2025-03-12T10:00:00+05:00", 4, "2025-03-12T14:00:00+05:00"),
            // Wednesday 17:30 + 4 h: 1 h that day, 3 h from 09:00 Thursday.
            ("2025-03-12T17:30:00+05:00", 4, "2025-03-13T12:00:00+05:00"),
            // Friday 18:00 + 1 h: the weekend and Monday 10.03 (a day off) are skipped.
            ("2025-03-07T18:00:00+05:00", 1, "2025-03-11T09:30:00+05:00"),
            // Before opening: counted from 09:00.
            ("2025-03-12T07:00:00+05:00", 1, "2025-03-12T10:00:00+05:00"),
        ];
        for (from, n, want) in cases {
            assert_eq!(
                working_hours_after(&cal, at(from), n, &h).expect("in range"),
                at(want),
                "{from} + {n}h"
            );
        }
    }
}
