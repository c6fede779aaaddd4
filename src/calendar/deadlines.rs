//! Deadline rules: each a pure function of an instant, the calendar and the working hours.

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::Asia::Almaty;
use serde::{Deserialize, Serialize};

use super::days::{Calendar, Table};
use super::listing::reason_text;
use super::text::{self, Explanation};
use super::{CalendarError, WorkingHours};

/// R5: the reply is given within two working days.
pub const R5_REPLY_WORKING_DAYS: u32 = 2;
/// Counts of working days beyond a year are certainly a mistake.
pub const MAX_WORKING_DAYS: u32 = 365;
/// R11: a recording is handed over within 4 hours.
pub const R11_RECORDING_HOURS: i64 = 4;
/// O1: notices go out at least one day before a planned outage.
pub const O1_NOTICE_LEAD_HOURS: i64 = 24;

/// At most this many calendar notes in one explanation, to keep it short.
const MAX_NOTES: usize = 6;

/// The bare result of a working-day rule, computed without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Due {
    pub due_at: DateTime<Utc>,
    /// The first day counted: the registration date, or the next working day after it.
    pub effective_from: NaiveDate,
}

/// A deadline with how it was computed; a ticket stores it as JSON so later calendar edits don't rewrite history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub due_at: DateTime<Utc>,
    pub effective_from: NaiveDate,
    /// Rule id from RULES.md, e.g. "R5".
    pub rule: String,
    /// Includes the warnings, so that a reader of the text alone sees them.
    pub explanation: Explanation,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Explanation>,
}

#[inline]
fn almaty_local(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&Almaty).naive_local()
}

#[inline]
fn almaty_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    match Almaty.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        // A repeated hour (clocks set back): the first occurrence is the stricter deadline.
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        // A skipped hour (clocks set forward): read the wall time with the offset in force around it.
        LocalResult::None => {
            let offset = Almaty.offset_from_utc_datetime(&local).fix();
            Utc.from_utc_datetime(&(local - offset))
        }
    }
}

impl Calendar {
    /// The instant `n` working hours before `at`, counting only the working hours of
    /// working days (R5 reminders: "4 working hours before the due instant"). Time
    /// outside working hours does not count; `n == 0` is `at` itself.
    pub fn working_hours_before(
        &self,
        at: DateTime<Utc>,
        n: u32,
        hours: &WorkingHours,
    ) -> Result<DateTime<Utc>, CalendarError> {
        if n == 0 {
            return Ok(at);
        }
        let mut left = TimeDelta::hours(i64::from(n));
        let mut cursor = almaty_local(at);
        // A year of days without a single working hour is a broken calendar, not a case.
        for _ in 0..=366 {
            let day = cursor.date();
            if self.is_working_day(day) {
                let start = day.and_time(hours.start);
                let top = cursor.min(day.and_time(hours.end));
                if top > start {
                    if top - start >= left {
                        return Ok(almaty_to_utc(top - left));
                    }
                    left -= top - start;
                }
            }
            let Some(previous) = day.pred_opt() else {
                break;
            };
            cursor = previous.and_time(hours.end);
        }
        Err(CalendarError::OutOfRange {
            date: almaty_local(at).date(),
        })
    }

    /// Fast path of a working-day rule: due at the end of working hours on the `n`-th working day after the
    /// effective date, which is the registration date if that is a working day and `at` is before the end of
    /// working hours, else the next working day. `n == 0` means the end of the effective date.
    #[inline]
    pub fn working_days_due_at(
        &self,
        at: DateTime<Utc>,
        n: u32,
        hours: &WorkingHours,
    ) -> Result<Due, CalendarError> {
        if n > MAX_WORKING_DAYS {
            return Err(CalendarError::WorkingDaysOutOfRange { n });
        }
        let local = almaty_local(at);
        let (effective_from, due) = self.count(local.date(), local.time() < hours.end, n)?;
        Ok(Due {
            due_at: almaty_to_utc(due.and_time(hours.end)),
            effective_from,
        })
    }

    /// A working-day rule with its explanation: forwards (F4: 3), registry updates (F5, F7: 5), training (F6: 10).
    pub fn working_days_due(
        &self,
        at: DateTime<Utc>,
        n: u32,
        rule: &str,
        hours: &WorkingHours,
    ) -> Result<Deadline, CalendarError> {
        let due = self.working_days_due_at(at, n, hours)?;
        self.explain_working_days(at, n, rule, hours, due)
    }

    /// R5 fast path: the reply is due at the end of the 2nd working day after the effective registration date.
    #[inline]
    pub fn reply_due_at(
        &self,
        at: DateTime<Utc>,
        hours: &WorkingHours,
    ) -> Result<Due, CalendarError> {
        self.working_days_due_at(at, R5_REPLY_WORKING_DAYS, hours)
    }

    /// R5 with its explanation, as the ticket stores it.
    pub fn reply_due(
        &self,
        at: DateTime<Utc>,
        hours: &WorkingHours,
    ) -> Result<Deadline, CalendarError> {
        self.working_days_due(at, R5_REPLY_WORKING_DAYS, "R5", hours)
    }

    /// P2: the end of working hours of the next working day after the date of `at`.
    pub fn next_working_day_due(
        &self,
        at: DateTime<Utc>,
        hours: &WorkingHours,
    ) -> Result<Deadline, CalendarError> {
        let local = almaty_local(at);
        let (_, due_date) = self.count(local.date(), false, 0)?;
        let due_at = almaty_to_utc(due_date.and_time(hours.end));
        let (reg, due) = (text::dated(local.date()), text::dated(due_date));
        let (t, end) = (text::time(local.time()), text::time(hours.end));
        let mut explanation = Explanation {
            kk: format!(
                "Алынды: {}, {t}. Мерзімі — келесі жұмыс күні (P2), соңғы уақыты: {}, {end} (Алматы уақыты).",
                reg.kk, due.kk
            ),
            ru: format!(
                "Получено {} в {t}; срок — следующий рабочий день (P2): до {end} {}, время Алматы.",
                reg.ru, due.ru
            ),
            en: format!(
                "Received {} at {t}; due by the next working day (P2): by {end} {}, Almaty time.",
                reg.en, due.en
            ),
        };
        let warnings = self.annotate(&mut explanation, local.date(), due_date)?;
        Ok(Deadline {
            due_at,
            effective_from: local.date(),
            rule: "P2".to_owned(),
            explanation,
            warnings,
        })
    }

    /// P1, P3: by the 5th of the month after `at`'s month (Almaty), at the end of working hours, even if the
    /// 5th is not a working day: the law says "by the 5th".
    pub fn monthly_report_due(
        &self,
        at: DateTime<Utc>,
        rule: &str,
        hours: &WorkingHours,
    ) -> Result<Deadline, CalendarError> {
        let local = almaty_local(at).date();
        let (year, month) = if local.month() == 12 {
            (local.year() + 1, 1)
        } else {
            (local.year(), local.month() + 1)
        };
        let out_of_range = CalendarError::OutOfRange { date: local };
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or(out_of_range.clone())?;
        let fifth = NaiveDate::from_ymd_opt(year, month, 5).ok_or(out_of_range)?;
        let due_at = almaty_to_utc(fifth.and_time(hours.end));
        let (m, due, end) = (
            text::month(local.month()),
            text::dated(fifth),
            text::time(hours.end),
        );
        let y = local.year();
        let mut explanation = Explanation {
            kk: format!(
                "{y} жылғы {} айының есебі ({rule}) келесі айдың 5-іне дейін беріледі; соңғы уақыты: {}, {end} (Алматы уақыты).",
                m.kk, due.kk
            ),
            ru: format!(
                "Отчёт за {} {y} г. ({rule}) — до 5-го числа следующего месяца: до {end} {}, время Алматы.",
                m.ru, due.ru
            ),
            en: format!(
                "The report for {} {y} ({rule}) is due by the 5th of the next month: by {end} {}, Almaty time.",
                m.en, due.en
            ),
        };
        if !self.is_working_day(fifth) {
            let d = text::date(fifth);
            explanation.push(&Explanation {
                kk: format!(
                    "{d} — жұмыс емес күн, бірақ «5-іне дейін» деген мерзім ауыстырылмайды."
                ),
                ru: format!("{d} — нерабочий день, но срок «до 5-го числа» не переносится."),
                en: format!(
                    "{d} is not a working day, but a deadline \"by the 5th\" does not move."
                ),
            });
        }
        Ok(Deadline {
            due_at,
            effective_from: first,
            rule: rule.to_owned(),
            explanation,
            warnings: Vec::new(),
        })
    }

    fn explain_working_days(
        &self,
        at: DateTime<Utc>,
        n: u32,
        rule: &str,
        hours: &WorkingHours,
        due: Due,
    ) -> Result<Deadline, CalendarError> {
        let reg = almaty_local(at);
        let due_date = almaty_local(due.due_at).date();
        let (r, e, d) = (
            text::dated(reg.date()),
            text::dated(due.effective_from),
            text::dated(due_date),
        );
        let (t, end) = (text::time(reg.time()), text::time(hours.end));
        let mut explanation = if due.effective_from == reg.date() {
            Explanation {
                kk: format!("Тіркелді: {}, {t}.", r.kk),
                ru: format!("Зарегистрировано {} в {t}.", r.ru),
                en: format!("Registered {} at {t}.", r.en),
            }
        } else if self.is_working_day(reg.date()) {
            Explanation {
                kk: format!(
                    "Тіркелді: {}, {t}, жұмыс уақыты аяқталғаннан кейін ({end}); мерзім {} күнінен бастап есептеледі.",
                    r.kk, e.kk
                ),
                ru: format!(
                    "Зарегистрировано {} в {t}, после окончания рабочего времени ({end}); срок считается с {}.",
                    r.ru, e.ru
                ),
                en: format!(
                    "Registered {} at {t}, after working hours (end {end}); counted from {}.",
                    r.en, e.en
                ),
            }
        } else {
            Explanation {
                kk: format!(
                    "Тіркелді: {}, {t}, жұмыс емес күні; мерзім {} күнінен бастап есептеледі.",
                    r.kk, e.kk
                ),
                ru: format!(
                    "Зарегистрировано {} в {t}, в нерабочий день; срок считается с {}.",
                    r.ru, e.ru
                ),
                en: format!(
                    "Registered {} at {t}, a non-working day; counted from {}.",
                    r.en, e.en
                ),
            }
        };
        let (kk_n, ru_n, en_n) = (
            text::kk_working_days(n),
            text::ru_working_days(n),
            text::en_working_days(n),
        );
        let reply = rule == "R5";
        explanation.push(&Explanation {
            kk: format!(
                "{} — {kk_n} ({rule}), соңғы уақыты: {}, {end} (Алматы уақыты).",
                if reply {
                    "Жауап беру мерзімі"
                } else {
                    "Мерзімі"
                },
                d.kk
            ),
            ru: format!(
                "{} — {ru_n} ({rule}): до {end} {}, время Алматы.",
                if reply {
                    "Срок ответа"
                } else {
                    "Срок"
                },
                d.ru
            ),
            en: format!(
                "{} in {en_n} ({rule}): by {end} {}, Almaty time.",
                if reply { "Reply due" } else { "Due" },
                d.en
            ),
        });
        let warnings = self.annotate(&mut explanation, reg.date(), due_date)?;
        Ok(Deadline {
            due_at: due.due_at,
            effective_from: due.effective_from,
            rule: rule.to_owned(),
            explanation,
            warnings,
        })
    }

    /// Appends the non-working weekdays and working weekend days of `from..=to` with their reasons, and a
    /// warning for each year whose movable days are not set; returns the warnings.
    fn annotate(
        &self,
        explanation: &mut Explanation,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Explanation>, CalendarError> {
        let table = self.table_covering(from, to)?;
        let notes = self.calendar_notes(&table, from, to);
        if !notes.is_empty() {
            let join =
                |f: fn(&Explanation) -> &str| notes.iter().map(f).collect::<Vec<_>>().join("; ");
            explanation.push(&Explanation {
                kk: format!("Ескерілді: {}.", join(|x| &x.kk)),
                ru: format!("Учтено: {}.", join(|x| &x.ru)),
                en: format!("Taken into account: {}.", join(|x| &x.en)),
            });
        }
        let warnings: Vec<Explanation> = (from.year()..=to.year())
            .filter(|y| !self.movable_days_confirmed(*y))
            .map(movable_days_warning)
            .collect();
        for w in &warnings {
            explanation.push(w);
        }
        Ok(warnings)
    }

    fn calendar_notes(&self, table: &Table, from: NaiveDate, to: NaiveDate) -> Vec<Explanation> {
        let mut notes = Vec::new();
        let mut more = 0usize;
        for (date, entry) in table.entries_in(from, to) {
            let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
            // A weekend stays a weekend; only days that break the weekday rule need a word.
            if entry.working != weekend {
                continue;
            }
            if notes.len() == MAX_NOTES {
                more += 1;
                continue;
            }
            let d = text::dated(*date);
            let why = reason_text(self, *date, &entry.reason);
            notes.push(Explanation {
                kk: format!("{} — {}", d.kk, why.kk),
                ru: format!("{} — {}", d.ru, why.ru),
                en: format!("{} — {}", d.en, why.en),
            });
        }
        if more > 0 {
            notes.push(Explanation {
                kk: format!("тағы {more} күн"),
                ru: format!("и ещё дней: {more}"),
                en: format!("and {more} more"),
            });
        }
        notes
    }
}

pub(crate) fn movable_days_warning(year: i32) -> Explanation {
    Explanation {
        kk: format!(
            "Ескерту: {year} жылғы ауыспалы демалыс күндері (Құрбан айт, ауыстырулар) әлі белгіленбеген, мерзім өзгеруі мүмкін."
        ),
        ru: format!(
            "Внимание: переносимые дни {year} года (Курбан айт, переносы выходных) ещё не установлены, срок может измениться."
        ),
        en: format!(
            "Warning: the movable days of {year} (Kurban Ait, day-off transfers) are not set yet; the due date may change."
        ),
    }
}

/// R11: a recording requested at `at` is due 4 calendar hours later, weekends and nights included.
pub fn recording_due(at: DateTime<Utc>) -> Result<Deadline, CalendarError> {
    let local = almaty_local(at);
    let due_at = at
        .checked_add_signed(TimeDelta::hours(R11_RECORDING_HOURS))
        .ok_or(CalendarError::OutOfRange { date: local.date() })?;
    let due = almaty_local(due_at);
    let (r, d) = (text::dated(local.date()), text::dated(due.date()));
    let (t, dt) = (text::time(local.time()), text::time(due.time()));
    let explanation = Explanation {
        kk: format!(
            "Сұрау алынды: {}, {t}. Жазба 4 сағат ішінде беріледі (R11), демалыс күндері де есептеледі; соңғы уақыты: {}, {dt} (Алматы уақыты).",
            r.kk, d.kk
        ),
        ru: format!(
            "Запрос получен {} в {t}; запись передаётся в течение 4 часов (R11), выходные не исключаются: до {dt} {}, время Алматы.",
            r.ru, d.ru
        ),
        en: format!(
            "Request received {} at {t}; the recording is due within 4 calendar hours (R11), weekends included: by {dt} {}, Almaty time.",
            r.en, d.en
        ),
    };
    Ok(Deadline {
        due_at,
        effective_from: local.date(),
        rule: "R11".to_owned(),
        explanation,
        warnings: Vec::new(),
    })
}

/// O1: the latest instant a notice of an outage starting at `start` may go out, 24 hours before it.
pub fn outage_notice_due(start: DateTime<Utc>) -> Result<Deadline, CalendarError> {
    let local = almaty_local(start);
    let due_at = start
        .checked_sub_signed(TimeDelta::hours(O1_NOTICE_LEAD_HOURS))
        .ok_or(CalendarError::OutOfRange { date: local.date() })?;
    let due = almaty_local(due_at);
    let (s, d) = (text::dated(local.date()), text::dated(due.date()));
    let (t, dt) = (text::time(local.time()), text::time(due.time()));
    let explanation = Explanation {
        kk: format!(
            "Ажырату басталады: {}, {t}. Хабарлама кемінде 24 сағат бұрын жіберілуі тиіс (O1); соңғы уақыты: {}, {dt} (Алматы уақыты).",
            s.kk, d.kk
        ),
        ru: format!(
            "Отключение начинается {} в {t}; уведомления уходят не позднее чем за 24 часа (O1): до {dt} {}, время Алматы.",
            s.ru, d.ru
        ),
        en: format!(
            "The outage starts {} at {t}; notices must go out at least 24 hours before (O1): by {dt} {}, Almaty time.",
            s.en, d.en
        ),
    };
    Ok(Deadline {
        due_at,
        effective_from: local.date(),
        rule: "O1".to_owned(),
        explanation,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod working_hours_before_tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn r5_reminder_goes_back_over_working_hours_only() {
        let cal = Calendar::builtin();
        let hours = WorkingHours::default();
        // (due instant, working hours back, expected), Almaty time; 09:00-18:30.
        let cases = [
            // Same day, well inside working hours.
            ("2025-03-12T18:30:00+05:00", 4, "2025-03-12T14:30:00+05:00"),
            // Exactly the whole morning: lands on the start of the day.
            ("2025-03-12T13:00:00+05:00", 4, "2025-03-12T09:00:00+05:00"),
            // One minute more crosses to the previous working day's end.
            ("2025-03-12T12:59:00+05:00", 4, "2025-03-11T18:29:00+05:00"),
            // Due at the very start of a day: all four hours are the day before.
            ("2025-03-12T09:00:00+05:00", 4, "2025-03-11T14:30:00+05:00"),
            // Due after hours counts from the close.
            ("2025-03-12T21:00:00+05:00", 4, "2025-03-12T14:30:00+05:00"),
            // Monday morning: back over the weekend to Friday.
            ("2025-03-03T10:00:00+05:00", 4, "2025-02-28T15:30:00+05:00"),
            // Tuesday 11.03.2025 after the day off on Monday 10.03 (8 March on a Saturday).
            ("2025-03-11T10:00:00+05:00", 4, "2025-03-07T15:30:00+05:00"),
            // Sunday 05.01.2025 was a working day by decree (Friday 03.01 off instead).
            ("2025-01-06T09:30:00+05:00", 1, "2025-01-05T18:00:00+05:00"),
            // Back over the new year holidays to Tuesday 31.12.2024.
            ("2025-01-05T09:30:00+05:00", 1, "2024-12-31T18:00:00+05:00"),
            // More than a working day (9.5 h) back.
            ("2025-03-13T18:30:00+05:00", 12, "2025-03-12T16:00:00+05:00"),
            // Zero hours is the instant itself, even outside working hours.
            ("2025-03-08T03:00:00+05:00", 0, "2025-03-08T03:00:00+05:00"),
        ];
        for (due, n, want) in cases {
            let got = cal
                .working_hours_before(t(due), n, &hours)
                .expect("in range");
            assert_eq!(got, t(want), "{n} working hours before {due}");
        }
    }
}
