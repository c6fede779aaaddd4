//! The national calendar of working days (C1): built-in data, administrator overrides, precomputed tables.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::CalendarError;
use super::data::{self, Holiday};
use super::text::Names;

/// What an administrator can declare a date to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DayKind {
    /// A public holiday: off, and moves to the next working day when it falls on a weekend.
    Holiday,
    /// A day off that never moves.
    DayOff,
    /// A working day, even on a Saturday or Sunday.
    WorkingDay,
}

impl DayKind {
    pub const ALL: [DayKind; 3] = [DayKind::Holiday, DayKind::DayOff, DayKind::WorkingDay];

    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Holiday => "holiday",
            DayKind::DayOff => "day-off",
            DayKind::WorkingDay => "working-day",
        }
    }

    pub(crate) fn names(self) -> Names {
        let (kk, ru, en) = match self {
            DayKind::Holiday => ("мереке", "праздник", "holiday"),
            DayKind::DayOff => ("демалыс күні", "выходной", "day off"),
            DayKind::WorkingDay => ("жұмыс күні", "рабочий день", "working day"),
        };
        Names { kk, ru, en }
    }
}

impl fmt::Display for DayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DayKind {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        DayKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| CalendarError::UnknownDayKind {
                input: s.to_owned(),
            })
    }
}

/// An administrator's decision about one date; it wins over the built-in data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOverride {
    pub date: NaiveDate,
    pub kind: DayKind,
    /// The act that decided it, e.g. "Government decree No. 123 of 01.12.2026".
    pub note: String,
}

/// Why a day is not what its weekday alone would make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Holiday(Holiday),
    /// The day off owed for a holiday that fell on a weekend; `holiday` is None for an override holiday.
    ShiftedHoliday {
        from: NaiveDate,
        holiday: Option<Holiday>,
    },
    ReligiousDayOff(Holiday),
    TransferOff {
        worked: NaiveDate,
        act: Names,
    },
    TransferWorked {
        off: NaiveDate,
        act: Names,
    },
    Override(DayKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub working: bool,
    pub reason: Reason,
}

/// First and last year kept precomputed; other years are computed on demand (slower, same rules).
const TABLE_FIRST_YEAR: i32 = 2000;
const TABLE_LAST_YEAR: i32 = 2100;

/// Working-day ranks for a span of whole years, so that "the n-th working day after" is two array reads.
#[derive(Clone)]
pub(crate) struct Table {
    first_ce: i32,
    first_year: i32,
    last_year: i32,
    /// `rank[i]`: working days among day indexes `0..i` (one longer than the span).
    rank: Vec<u32>,
    /// Day indexes of the working days, in order.
    working: Vec<u32>,
    /// Days that differ from their weekday rule, and holidays on weekends.
    entries: BTreeMap<NaiveDate, Entry>,
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Table {
    /// None when the years fall outside what chrono can represent.
    pub(crate) fn build(
        first_year: i32,
        last_year: i32,
        overrides: &BTreeMap<NaiveDate, DayOverride>,
    ) -> Option<Table> {
        let first = NaiveDate::from_ymd_opt(first_year, 1, 1)?;
        let last = NaiveDate::from_ymd_opt(last_year, 12, 31)?;
        let len = usize::try_from((last - first).num_days() + 1).ok()?;
        let first_ce = first.num_days_from_ce();
        let w0 = first.weekday().num_days_from_monday() as usize;
        let mut working: Vec<bool> = (0..len).map(|i| (w0 + i) % 7 < 5).collect();
        let mut entries = BTreeMap::new();
        let put = |entries: &mut BTreeMap<NaiveDate, Entry>,
                   date: Option<NaiveDate>,
                   working: bool,
                   reason| {
            if let Some(date) = date {
                entries.insert(date, Entry { working, reason });
            }
        };

        for y in first_year..=last_year {
            for h in data::FIXED_HOLIDAYS
                .iter()
                .filter(|h| (h.from..=h.to).contains(&y))
            {
                put(
                    &mut entries,
                    NaiveDate::from_ymd_opt(y, h.month, h.day),
                    false,
                    Reason::Holiday(h.holiday),
                );
            }
            for &(m, d, h) in data::FIXED_RELIGIOUS_DAYS_OFF {
                put(
                    &mut entries,
                    NaiveDate::from_ymd_opt(y, m, d),
                    false,
                    Reason::ReligiousDayOff(h),
                );
            }
            for &(_, m, d, h) in data::MOVABLE_RELIGIOUS_DAYS_OFF.iter().filter(|r| r.0 == y) {
                put(
                    &mut entries,
                    NaiveDate::from_ymd_opt(y, m, d),
                    false,
                    Reason::ReligiousDayOff(h),
                );
            }
            for t in data::TRANSFERS.iter().filter(|t| t.year == y) {
                let (Some(worked), Some(off)) = (
                    NaiveDate::from_ymd_opt(y, t.worked.0, t.worked.1),
                    NaiveDate::from_ymd_opt(y, t.off.0, t.off.1),
                ) else {
                    continue;
                };
                put(
                    &mut entries,
                    Some(worked),
                    true,
                    Reason::TransferWorked { off, act: t.act },
                );
                put(
                    &mut entries,
                    Some(off),
                    false,
                    Reason::TransferOff { worked, act: t.act },
                );
            }
        }
        for o in overrides.range(first..=last).map(|(_, o)| o) {
            put(
                &mut entries,
                Some(o.date),
                o.kind == DayKind::WorkingDay,
                Reason::Override(o.kind),
            );
        }
        let index = |d: NaiveDate| (d.num_days_from_ce() - first_ce) as usize;
        for (date, entry) in &entries {
            working[index(*date)] = entry.working;
        }

        // A holiday on a weekend gives the next free working day off; taken in date order so each lands on its own day.
        let weekend_holidays: Vec<(NaiveDate, Option<Holiday>)> = entries
            .iter()
            .filter(|(d, _)| is_weekend(**d))
            .filter_map(|(d, e)| match e.reason {
                Reason::Holiday(h) => Some((*d, Some(h))),
                Reason::Override(DayKind::Holiday) => Some((*d, None)),
                _ => None,
            })
            .collect();
        for (from, holiday) in weekend_holidays {
            let mut i = index(from) + 1;
            // Days set explicitly (decree transfers, overrides, other holidays) are not free to take the shift.
            while i < len {
                let date = first + chrono::Days::new(i as u64);
                if working[i] && !entries.contains_key(&date) {
                    working[i] = false;
                    entries.insert(
                        date,
                        Entry {
                            working: false,
                            reason: Reason::ShiftedHoliday { from, holiday },
                        },
                    );
                    break;
                }
                i += 1;
            }
        }

        let mut rank = Vec::with_capacity(len + 1);
        let mut days = Vec::with_capacity(len * 5 / 7 + 7);
        rank.push(0u32);
        for (i, w) in working.iter().enumerate() {
            if *w {
                days.push(i as u32);
            }
            rank.push(days.len() as u32);
        }
        Some(Table {
            first_ce,
            first_year,
            last_year,
            rank,
            working: days,
            entries,
        })
    }

    fn index(&self, d: NaiveDate) -> Option<usize> {
        let i = usize::try_from(d.num_days_from_ce() - self.first_ce).ok()?;
        (i + 1 < self.rank.len()).then_some(i)
    }

    fn date(&self, i: usize) -> NaiveDate {
        // Indexes come from this table, whose span chrono represents (checked in build).
        NaiveDate::from_num_days_from_ce_opt(self.first_ce + i as i32)
            .expect("index within the table's span")
    }

    pub(crate) fn covers(&self, d: NaiveDate) -> bool {
        (self.first_year..=self.last_year).contains(&d.year())
    }

    pub(crate) fn is_working(&self, d: NaiveDate) -> Option<bool> {
        let i = self.index(d)?;
        Some(self.rank[i + 1] > self.rank[i])
    }

    pub(crate) fn entries_in(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = (&NaiveDate, &Entry)> {
        // An empty range when reversed, rather than the panic BTreeMap::range gives.
        (from <= to)
            .then(|| self.entries.range(from..=to))
            .into_iter()
            .flatten()
    }

    /// The effective date (`date` itself if `counts_today`, else the next working day) and the n-th working day after it.
    /// None when the answer runs off the table.
    #[inline]
    pub(crate) fn count(
        &self,
        date: NaiveDate,
        counts_today: bool,
        n: u32,
    ) -> Option<(NaiveDate, NaiveDate)> {
        let i = self.index(date)?;
        let today_works = self.rank[i + 1] > self.rank[i];
        // Position of the effective date in `working`: today's own slot, or the first working day after today.
        let pos = if counts_today && today_works {
            self.rank[i]
        } else {
            self.rank[i + 1]
        } as usize;
        let effective = *self.working.get(pos)? as usize;
        let due = *self.working.get(pos + n as usize)? as usize;
        Some((self.date(effective), self.date(due)))
    }
}

/// The national working-day calendar: built-in data for 2024-2027 and the rules for any year, plus overrides.
#[derive(Clone)]
pub struct Calendar {
    overrides: BTreeMap<NaiveDate, DayOverride>,
    confirmed: BTreeSet<i32>,
    table: Table,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("overrides", &self.overrides)
            .field("movable_days_confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::builtin()
    }
}

impl Calendar {
    /// The built-in calendar. Builds tables for 2000-2100 (about a millisecond): build once and share it.
    pub fn builtin() -> Calendar {
        Calendar::with_overrides(std::iter::empty())
    }

    /// The built-in calendar with an administrator's overrides; a later override of the same date wins.
    pub fn with_overrides(overrides: impl IntoIterator<Item = DayOverride>) -> Calendar {
        let overrides: BTreeMap<NaiveDate, DayOverride> =
            overrides.into_iter().map(|o| (o.date, o)).collect();
        let table = Table::build(TABLE_FIRST_YEAR, TABLE_LAST_YEAR, &overrides)
            .expect("fixed table years are valid dates");
        Calendar {
            overrides,
            confirmed: data::MOVABLE_DAYS_CONFIRMED.iter().copied().collect(),
            table,
        }
    }

    /// Adds or replaces the override of one date.
    pub fn set(&mut self, o: DayOverride) {
        self.overrides.insert(o.date, o);
        self.rebuild();
    }

    /// Removes the override of a date, returning it; the built-in data applies again.
    pub fn remove(&mut self, date: NaiveDate) -> Option<DayOverride> {
        let removed = self.overrides.remove(&date);
        if removed.is_some() {
            self.rebuild();
        }
        removed
    }

    pub fn overrides(&self) -> impl Iterator<Item = &DayOverride> {
        self.overrides.values()
    }

    pub fn override_for(&self, date: NaiveDate) -> Option<&DayOverride> {
        self.overrides.get(&date)
    }

    /// Marks a year's movable days (religious days off, transfers) as all set, which silences its warning.
    pub fn confirm_movable_days(&mut self, year: i32) {
        self.confirmed.insert(year);
    }

    pub fn movable_days_confirmed(&self, year: i32) -> bool {
        self.confirmed.contains(&year)
    }

    fn rebuild(&mut self) {
        self.table = Table::build(TABLE_FIRST_YEAR, TABLE_LAST_YEAR, &self.overrides)
            .expect("fixed table years are valid dates");
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.table_covering(date, date) {
            Ok(t) => t.is_working(date).unwrap_or(!is_weekend(date)),
            // Beyond what chrono represents around this date: only the weekday rule is left.
            Err(_) => !is_weekend(date),
        }
    }

    /// The table holding `from..=to`: the precomputed one, or one built for these years.
    pub(crate) fn table_covering(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Cow<'_, Table>, CalendarError> {
        if self.table.covers(from) && self.table.covers(to) {
            return Ok(Cow::Borrowed(&self.table));
        }
        // One year either side so that shifts across New Year are seen.
        Table::build(
            from.year().saturating_sub(1),
            to.year().saturating_add(1),
            &self.overrides,
        )
        .map(Cow::Owned)
        .ok_or(CalendarError::OutOfRange { date: from })
    }

    /// Effective date and due date of a count of `n` working days; the hot path of every working-day rule.
    #[inline]
    pub(crate) fn count(
        &self,
        date: NaiveDate,
        counts_today: bool,
        n: u32,
    ) -> Result<(NaiveDate, NaiveDate), CalendarError> {
        if let Some(found) = self.table.count(date, counts_today, n) {
            return Ok(found);
        }
        self.count_slow(date, counts_today, n)
    }

    #[cold]
    fn count_slow(
        &self,
        date: NaiveDate,
        counts_today: bool,
        n: u32,
    ) -> Result<(NaiveDate, NaiveDate), CalendarError> {
        // 365 working days span less than two years, so three years ahead always hold the answer.
        let y = date.year();
        Table::build(y.saturating_sub(1), y.saturating_add(3), &self.overrides)
            .and_then(|t| t.count(date, counts_today, n))
            .ok_or(CalendarError::OutOfRange { date })
    }
}
