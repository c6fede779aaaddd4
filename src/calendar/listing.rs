//! A year's days off and working weekend days, as a listing and as iCalendar (RFC 5545).

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::days::{Calendar, DayKind, Reason};
use super::deadlines::movable_days_warning;
use super::text::{self, Explanation};

/// Where a day's status comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Builtin,
    Override,
}

/// One day that is not what its weekday alone would make it (or a named holiday on a weekend).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ListedDay {
    pub date: NaiveDate,
    /// `Mon` .. `Sun`.
    #[schema(value_type = String)]
    pub weekday: Weekday,
    pub working: bool,
    pub kind: DayKind,
    pub reason: Explanation,
    pub source: Source,
    /// The act behind it: the override's note, or the decree of a built-in transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct YearListing {
    pub year: i32,
    /// False when the year's movable days (Kurban Ait, transfers) are not all set yet.
    pub movable_days_set: bool,
    pub warnings: Vec<Explanation>,
    pub days: Vec<ListedDay>,
}

/// Why a day is what it is, in the three languages, without its date.
pub(crate) fn reason_text(cal: &Calendar, date: NaiveDate, reason: &Reason) -> Explanation {
    let note_of = |d: NaiveDate| {
        cal.override_for(d)
            .map(|o| o.note.as_str())
            .unwrap_or_default()
    };
    match *reason {
        Reason::Holiday(h) => {
            let n = h.names();
            Explanation {
                kk: format!("мереке: {}", n.kk),
                ru: format!("праздник: {}", n.ru),
                en: format!("public holiday: {}", n.en),
            }
        }
        Reason::ShiftedHoliday { from, holiday } => {
            let f = text::date(from);
            let (kk, ru, en) = match holiday {
                Some(h) => (h.names().kk, h.names().ru, h.names().en),
                None => (note_of(from), note_of(from), note_of(from)),
            };
            Explanation {
                kk: format!("ауыстырылған демалыс: {f} мерекесі ({kk}) демалыс күніне түсті"),
                ru: format!("перенесённый выходной: праздник {f} ({ru}) пришёлся на выходной"),
                en: format!("day off carried over: the holiday on {f} ({en}) fell on a weekend"),
            }
        }
        Reason::ReligiousDayOff(h) => {
            let n = h.names();
            Explanation {
                kk: format!("демалыс күні: {}", n.kk),
                ru: format!("выходной: {}", n.ru),
                en: format!("day off: {}", n.en),
            }
        }
        Reason::TransferOff { worked, .. } => {
            let w = text::date(worked);
            Explanation {
                kk: format!("ауыстырылған демалыс күні (орнына {w} жұмыс күні)"),
                ru: format!("выходной по переносу (вместо него рабочий день {w})"),
                en: format!("day off by transfer (worked instead on {w})"),
            }
        }
        Reason::TransferWorked { off, .. } => {
            let o = text::date(off);
            Explanation {
                kk: format!("ауыстырылған жұмыс күні (демалыс {o} күніне ауыстырылды)"),
                ru: format!("рабочий день по переносу (выходной перенесён на {o})"),
                en: format!("working day by transfer (the day off moved to {o})"),
            }
        }
        Reason::Override(kind) => {
            let (k, note) = (kind.names(), note_of(date));
            Explanation {
                kk: format!("әкімші белгілеген {}: {note}", k.kk),
                ru: format!("{} по решению администратора: {note}", k.ru),
                en: format!("{} set by an administrator: {note}", k.en),
            }
        }
    }
}

fn kind_of(reason: &Reason) -> DayKind {
    match reason {
        Reason::Holiday(_) => DayKind::Holiday,
        Reason::ShiftedHoliday { .. } | Reason::ReligiousDayOff(_) | Reason::TransferOff { .. } => {
            DayKind::DayOff
        }
        Reason::TransferWorked { .. } => DayKind::WorkingDay,
        Reason::Override(k) => *k,
    }
}

impl Calendar {
    /// Every non-working weekday, working weekend day and weekend holiday of `year`, with reasons.
    pub fn year(&self, year: i32) -> YearListing {
        let movable_days_set = self.movable_days_confirmed(year);
        let warnings = if movable_days_set {
            Vec::new()
        } else {
            vec![movable_days_warning(year)]
        };
        let mut listing = YearListing {
            year,
            movable_days_set,
            warnings,
            days: Vec::new(),
        };
        let (Some(from), Some(to)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) else {
            return listing;
        };
        let Ok(table) = self.table_covering(from, to) else {
            return listing;
        };
        for (date, entry) in table.entries_in(from, to) {
            let (source, note) = match entry.reason {
                Reason::Override(_) => (
                    Source::Override,
                    self.override_for(*date).map(|o| o.note.clone()),
                ),
                Reason::ShiftedHoliday {
                    from,
                    holiday: None,
                } => (
                    Source::Override,
                    self.override_for(from).map(|o| o.note.clone()),
                ),
                Reason::TransferOff { act, .. } | Reason::TransferWorked { act, .. } => {
                    (Source::Builtin, Some(act.en.to_owned()))
                }
                _ => (Source::Builtin, None),
            };
            listing.days.push(ListedDay {
                date: *date,
                weekday: date.weekday(),
                working: entry.working,
                kind: kind_of(&entry.reason),
                reason: reason_text(self, *date, &entry.reason),
                source,
                note,
            });
        }
        listing
    }

    /// The year's days off (and working weekend days) as an RFC 5545 calendar; the same input gives the same bytes.
    pub fn ics(&self, year: i32) -> String {
        let listing = self.year(year);
        let mut out = String::new();
        let mut line = |s: &str| fold_line(&mut out, s);
        line("BEGIN:VCALENDAR");
        line("VERSION:2.0");
        line("PRODID:-//Baylanys//National working-day calendar//RU");
        line("CALSCALE:GREGORIAN");
        line("METHOD:PUBLISH");
        line(&format!(
            "X-WR-CALNAME:{}",
            escape(&format!(
                "Производственный календарь {year} / {year} жылғы өндірістік күнтізбе"
            ))
        ));
        line("X-WR-TIMEZONE:Asia/Almaty");
        // A fixed stamp keeps the output deterministic; the year's first instant is as honest as any.
        let stamp = format!("DTSTAMP:{year:04}0101T000000Z");
        for day in &listing.days {
            let start = day.date.format("%Y%m%d").to_string();
            let end = day
                .date
                .succ_opt()
                .unwrap_or(day.date)
                .format("%Y%m%d")
                .to_string();
            line("BEGIN:VEVENT");
            line(&format!("UID:{start}-{}@calendar.baylanys", day.kind));
            line(&stamp);
            line(&format!("DTSTART;VALUE=DATE:{start}"));
            line(&format!("DTEND;VALUE=DATE:{end}"));
            line(&format!(
                "SUMMARY:{}",
                escape(&format!(
                    "{} / {}",
                    capitalize(&day.reason.ru),
                    capitalize(&day.reason.kk)
                ))
            ));
            let mut description = capitalize(&day.reason.en);
            if let Some(note) = &day.note {
                let _ = write!(description, ". {note}");
            }
            line(&format!("DESCRIPTION:{}", escape(&description)));
            line(&format!("CATEGORIES:{}", day.kind.as_str().to_uppercase()));
            line(if day.working {
                "TRANSP:OPAQUE"
            } else {
                "TRANSP:TRANSPARENT"
            });
            line("END:VEVENT");
        }
        line("END:VCALENDAR");
        out
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// RFC 5545 §3.3.11: backslash, semicolon, comma and newline are escaped in TEXT values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 5545 §3.1: lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character.
pub(crate) fn fold_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ics_lines_fold_at_75_octets_on_character_boundaries() {
        let mut out = String::new();
        fold_line(&mut out, &format!("SUMMARY:{}", "Ж".repeat(100)));
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{l}");
        }
        assert_eq!(
            out.replace("\r\n ", ""),
            format!("SUMMARY:{}\r\n", "Ж".repeat(100))
        );
    }

    #[test]
    fn ics_text_is_escaped() {
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
