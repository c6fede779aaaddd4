//! iCalendar (RFC 5545 / 5546) for outages: the part each e-mail notice carries (a
//! cancellation is METHOD:CANCEL with the same UID and a higher SEQUENCE) and the
//! `/outages.ics` feed.

use chrono::{DateTime, Utc};

use super::store::Outage;
use super::{NoticeKind, OutageStatus};
use crate::calendar::listing::{escape, fold_line};

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The UID an outage keeps through every notice.
pub fn uid(o: &Outage, domain: &str) -> String {
    format!("outage-{}@{}", o.id, domain)
}

fn event(out: &mut String, o: &Outage, domain: &str, organizer: Option<&str>, now: DateTime<Utc>) {
    let mut line = |s: &str| fold_line(out, s);
    line("BEGIN:VEVENT");
    line(&format!("UID:{}", uid(o, domain)));
    line(&format!("SEQUENCE:{}", o.sequence));
    line(&format!("DTSTAMP:{}", stamp(now)));
    line(&format!("DTSTART:{}", stamp(o.starts_at)));
    line(&format!(
        "DTEND:{}",
        stamp(o.completed_at.unwrap_or(o.ends_at).max(o.starts_at))
    ));
    line(&format!(
        "SUMMARY:{}",
        escape(&format!("{} / {}", o.title.kk, o.title.ru))
    ));
    line(&format!(
        "DESCRIPTION:{}",
        escape(&format!("{}\n\n{}", o.text.kk, o.text.ru))
    ));
    line(&format!("CATEGORIES:{}", escape(&o.systems.join(","))));
    if let Some(org) = organizer {
        line(&format!("ORGANIZER:mailto:{org}"));
    }
    line(match o.status {
        OutageStatus::Cancelled => "STATUS:CANCELLED",
        _ => "STATUS:CONFIRMED",
    });
    line("TRANSP:TRANSPARENT");
    line("END:VEVENT");
}

fn head(out: &mut String, method: &str) {
    fold_line(out, "BEGIN:VCALENDAR");
    fold_line(out, "VERSION:2.0");
    fold_line(out, "PRODID:-//Baylanys//Outages//KK");
    fold_line(out, "CALSCALE:GREGORIAN");
    fold_line(out, &format!("METHOD:{method}"));
}

/// The iCalendar part of one notice.
pub fn notice(
    o: &Outage,
    kind: NoticeKind,
    domain: &str,
    organizer: &str,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    head(
        &mut out,
        if kind == NoticeKind::Cancelled {
            "CANCEL"
        } else {
            "REQUEST"
        },
    );
    event(&mut out, o, domain, Some(organizer), now);
    fold_line(&mut out, "END:VCALENDAR");
    out
}

/// The subscription feed.
pub fn feed(list: &[Outage], domain: &str, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    head(&mut out, "PUBLISH");
    fold_line(
        &mut out,
        "X-WR-CALNAME:Baylanys: ICT outages / АКТ қызметтерінің үзілістері",
    );
    fold_line(&mut out, "X-WR-TIMEZONE:Asia/Almaty");
    for o in list {
        event(&mut out, o, domain, None, now);
    }
    fold_line(&mut out, "END:VCALENDAR");
    out
}
