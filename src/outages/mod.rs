//! Planned-outage broadcasts (O1, seed 001 §38): the ICI operator declares an interruption
//! of e-government systems; every subscribed body (and every central, local, provider and
//! e-service body that subscribed to nothing) is told at least 24 hours before it starts,
//! and each delivery keeps its proof. Declaring and changing: [`store`]; who is told and
//! what: [`notices`]; the jobs that send, remind and check the lead: [`jobs`].

pub mod ics;
pub mod jobs;
pub mod links;
pub mod notices;
pub mod store;

use chrono::{DateTime, Duration, Utc};

use crate::db::DbError;
use crate::registry::Names;

text_enum!(
    /// Planned works need the 24-hour lead; an emergency cannot wait and says why.
    OutageKind, "outage kind" {
        Planned => "planned",
        Emergency => "emergency",
    }
);

text_enum!(
    /// How much of the systems is interrupted.
    Impact, "impact" {
        Full => "full",
        Partial => "partial",
    }
);

text_enum!(
    /// What is stored; whether an active outage is upcoming or under way is read from the clock.
    OutageStatus, "outage status" {
        Active => "active",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// Why a notice went out.
    NoticeKind, "notice kind" {
        Declared => "declared",
        Rescheduled => "rescheduled",
        Edited => "edited",
        Cancelled => "cancelled",
        Reminder24h => "reminder_24h",
        Reminder1h => "reminder_1h",
        Started => "started",
        Completed => "completed",
    }
);

text_enum!(
    /// Where one delivery of one notice is.
    DeliveryStatus, "delivery status" {
        Queued => "queued",
        /// A try failed; another is due.
        Retrying => "retrying",
        /// The far side accepted it (the accept is kept).
        Sent => "sent",
        /// Given up, with the error.
        Failed => "failed",
    }
);

text_enum!(
    /// How a delivery travels.
    NoticeChannel, "notice channel" {
        Email => "email",
        Telegram => "telegram",
        Webhook => "webhook",
        /// The body has no address at all: recorded, failed at once, so it is not missed silently.
        None => "none",
    }
);

/// The lead O1 asks for.
pub fn required_lead() -> Duration {
    Duration::hours(24)
}

/// The earliest start a planned outage declared (or rescheduled) at `now` may have.
pub fn earliest_planned_start(now: DateTime<Utc>, margin: Duration) -> DateTime<Utc> {
    // Whole seconds: the instant we name in a refusal is one the caller can send back.
    let earliest = now + required_lead() + margin;
    match earliest.timestamp_subsec_nanos() {
        0 => earliest,
        n => earliest + Duration::nanoseconds(1_000_000_000 - i64::from(n)),
    }
}

/// When every recipient of the lead notice must have been reached.
pub fn lead_deadline(starts_at: DateTime<Utc>) -> DateTime<Utc> {
    starts_at - required_lead()
}

/// RFC 3339 in Almaty time, as refusals and pages show instants.
pub fn almaty(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Almaty)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// `1 d 2 h 5 min` (negative leads get a minus).
pub fn lead_text(d: Duration) -> String {
    let (sign, d) = if d < Duration::zero() {
        ("-", -d)
    } else {
        ("", d)
    };
    let (days, hours, mins) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    if days > 0 {
        format!("{sign}{days} d {hours} h {mins} min")
    } else {
        format!("{sign}{hours} h {mins} min")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    /// (field, what to fix) pairs.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for OutageError {
    fn from(e: diesel::result::Error) -> Self {
        OutageError::Db(DbError::Query(e))
    }
}

fn bad(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

/// What a declaration or a change says; on a change, `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct OutageInput {
    pub kind: Option<OutageKind>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub systems: Option<Vec<String>>,
    pub impact: Option<Impact>,
    pub title: Option<Names>,
    pub text: Option<Names>,
    pub reason: Option<String>,
}

const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 4000;
const REASON_MAX: usize = 2000;
const SYSTEMS_MAX: usize = 100;

fn instant(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<DateTime<Utc>> {
    let hint = "give an RFC 3339 time with its offset, e.g. 2026-10-10T02:00:00+05:00";
    match v.as_str() {
        Some(s) => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_)
                if chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S").is_ok()
                    || chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M")
                        .is_ok() =>
            {
                errors.push(bad(field, format!("`{}` has no offset: {hint}", shown(s))));
                None
            }
            Err(e) => {
                errors.push(bad(
                    field,
                    format!("`{}` is not a time ({e}): {hint}", shown(s)),
                ));
                None
            }
        },
        None => {
            errors.push(bad(field, format!("must be a string: {hint}")));
            None
        }
    }
}

/// At most 60 characters of what the caller sent, for messages.
fn shown(s: &str) -> String {
    let s: String = baylanys_core::clean_text(s).chars().take(60).collect();
    s
}

fn bilingual(
    field: &str,
    v: &serde_json::Value,
    max: usize,
    errors: &mut Vec<(String, String)>,
) -> Option<Names> {
    let mut names = crate::registry::names_up_to(field, v, max, errors)?;
    if max <= TITLE_MAX {
        // A title becomes a mail subject: one line, whatever was sent.
        for s in [&mut names.kk, &mut names.ru] {
            *s = s.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    Some(names)
}

impl OutageInput {
    /// Reads a declaration (`creating`: every field but `reason` required) or a change.
    pub fn from_json(v: &serde_json::Value, creating: bool) -> Result<OutageInput, OutageError> {
        let Some(obj) = v.as_object() else {
            return Err(OutageError::Invalid(vec![bad(
                "body",
                "send a JSON object: {\"kind\", \"starts_at\", \"ends_at\", \"systems\", \"impact\", \"title\", \"text\"}",
            )]));
        };
        let mut errors = Vec::new();
        let mut input = OutageInput::default();
        for (key, value) in obj {
            match key.as_str() {
                "kind" if creating => match value.as_str().map(OutageKind::parse) {
                    Some(Ok(k)) => input.kind = Some(k),
                    Some(Err(m)) => errors.push(bad("kind", m)),
                    None => errors.push(bad("kind", "must be \"planned\" or \"emergency\"")),
                },
                "kind" => errors.push(bad("kind", "does not change: cancel the outage and declare it again")),
                "starts_at" => input.starts_at = instant("starts_at", value, &mut errors),
                "ends_at" => input.ends_at = instant("ends_at", value, &mut errors),
                "impact" => match value.as_str().map(Impact::parse) {
                    Some(Ok(i)) => input.impact = Some(i),
                    Some(Err(m)) => errors.push(bad("impact", m)),
                    None => errors.push(bad("impact", "must be \"full\" or \"partial\"")),
                },
                "systems" => match value.as_array() {
                    Some(list) if list.is_empty() => {
                        errors.push(bad("systems", "name at least one system (see GET /api/v1/systems)"))
                    }
                    Some(list) if list.len() > SYSTEMS_MAX => {
                        errors.push(bad("systems", format!("at most {SYSTEMS_MAX} systems")))
                    }
                    Some(list) => {
                        let mut codes = Vec::new();
                        for (i, x) in list.iter().enumerate() {
                            match x.as_str().map(str::trim) {
                                Some(c) if !c.is_empty() && c.len() <= 100 => {
                                    if !codes.iter().any(|k| k == c) {
                                        codes.push(c.to_string());
                                    }
                                }
                                _ => errors.push(bad(&format!("systems[{i}]"), "must be a system code (a string)")),
                            }
                        }
                        input.systems = Some(codes);
                    }
                    None => errors.push(bad("systems", "must be a list of system codes")),
                },
                "title" => input.title = bilingual("title", value, TITLE_MAX, &mut errors),
                "text" => input.text = bilingual("text", value, TEXT_MAX, &mut errors),
                "reason" => match value {
                    serde_json::Value::Null => input.reason = None,
                    serde_json::Value::String(s) => {
                        let r = baylanys_core::clean_text(s.trim()).trim().to_string();
                        if r.chars().count() > REASON_MAX {
                            errors.push(bad("reason", format!("is longer than {REASON_MAX} characters")));
                        } else if !r.is_empty() {
                            input.reason = Some(r);
                        }
                    }
                    _ => errors.push(bad("reason", "must be a string")),
                },
                other => errors.push(bad(
                    other,
                    "unknown field: expected kind, starts_at, ends_at, systems, impact, title, text, reason",
                )),
            }
        }
        if creating {
            let required: [(&str, bool); 7] = [
                ("kind", input.kind.is_some()),
                ("starts_at", input.starts_at.is_some()),
                ("ends_at", input.ends_at.is_some()),
                ("systems", input.systems.is_some()),
                ("impact", input.impact.is_some()),
                ("title", input.title.is_some()),
                ("text", input.text.is_some()),
            ];
            for (field, given) in required {
                if !given
                    && !errors
                        .iter()
                        .any(|(f, _)| f == field || f.starts_with(&format!("{field}.")))
                {
                    errors.push(bad(field, "required"));
                }
            }
            match (input.kind, &input.reason) {
                (Some(OutageKind::Emergency), None) => errors.push(bad(
                    "reason",
                    "an emergency outage needs its reason: why it cannot wait 24 hours",
                )),
                (Some(OutageKind::Planned), Some(_)) => errors.push(bad(
                    "reason",
                    "only emergency outages give a reason; leave it out, or declare \"kind\": \"emergency\"",
                )),
                _ => {}
            }
        } else if obj.is_empty() {
            errors.push(bad(
                "body",
                "change at least one of starts_at, ends_at, systems, impact, title, text, reason",
            ));
        }
        if let (Some(s), Some(e)) = (input.starts_at, input.ends_at)
            && e <= s
        {
            errors.push(bad("ends_at", "must be after starts_at"));
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(OutageError::Invalid(errors))
        }
    }
}

/// The lead rule (O1) for a start set at `now`: `Ok(None)` on time, `Ok(Some(why))` an
/// emergency's recorded breach, `Err` a planned start that is too soon (with the earliest
/// start allowed).
pub fn check_lead(
    kind: OutageKind,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
    margin: Duration,
) -> Result<Option<String>, (String, String)> {
    let earliest = earliest_planned_start(now, margin);
    match kind {
        OutageKind::Planned if starts_at < earliest => Err(bad(
            "starts_at",
            format!(
                "a planned outage must start at least 24 h + {} min after it is announced (O1): \
                 the earliest start allowed now is {}; start later, or declare an emergency with its reason",
                margin.num_minutes(),
                almaty(earliest)
            ),
        )),
        OutageKind::Planned => Ok(None),
        OutageKind::Emergency if starts_at - now < required_lead() => Ok(Some(format!(
            "emergency announced {} before its start (O1 asks for 24 h)",
            lead_text(starts_at - now)
        ))),
        OutageKind::Emergency => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time")
            .with_timezone(&Utc)
    }

    #[test]
    fn o1_the_lead_rule_at_its_edges() {
        let now = at("2026-10-01T10:00:00+05:00");
        let m = Duration::minutes(15);
        let exact = at("2026-10-02T10:15:00+05:00");
        assert_eq!(check_lead(OutageKind::Planned, exact, now, m), Ok(None));
        let early =
            check_lead(OutageKind::Planned, exact - Duration::seconds(1), now, m).unwrap_err();
        assert_eq!(early.0, "starts_at");
        assert!(early.1.contains("2026-10-02T10:15:00+05:00"), "{}", early.1);
        let breach = check_lead(OutageKind::Emergency, now + Duration::hours(2), now, m).unwrap();
        assert!(breach.unwrap().contains("2 h 0 min"));
        assert_eq!(
            check_lead(OutageKind::Emergency, now + Duration::hours(24), now, m),
            Ok(None)
        );
    }

    #[test]
    fn the_earliest_start_is_rounded_up_to_the_second() {
        let now = at("2026-10-01T10:00:00.250+05:00");
        assert_eq!(
            earliest_planned_start(now, Duration::minutes(15)),
            at("2026-10-02T10:15:01+05:00")
        );
    }

    #[test]
    fn a_time_without_offset_is_refused_naming_the_field() {
        let v = serde_json::json!({"starts_at": "2026-10-10T02:00:00", "ends_at": "x"});
        let OutageError::Invalid(e) = OutageInput::from_json(&v, false).unwrap_err() else {
            panic!()
        };
        assert!(
            e.iter()
                .any(|(f, m)| f == "starts_at" && m.contains("no offset")),
            "{e:?}"
        );
        assert!(e.iter().any(|(f, _)| f == "ends_at"), "{e:?}");
    }
}

#[cfg(test)]
mod template_tests {
    use super::NoticeKind;
    use baylanys_core::Language;
    use minijinja::context;

    #[test]
    fn every_notice_kind_renders_in_kazakh_and_russian() {
        let t = crate::templates::Templates::new();
        for kind in NoticeKind::ALL {
            for (lang, title) in [(Language::Kk, "Жаңарту"), (Language::Ru, "Обновление")]
            {
                let r = t
                    .message(
                        "outage",
                        lang,
                        context! {
                            notice => kind.as_str(), kind => "planned", impact => "full", title,
                            text => "x", reason => None::<String>, starts => "01.10.2026 02:00",
                            ends => "01.10.2026 06:00", systems => vec!["eGov"], page => "http://x/outages",
                            sequence => 1,
                        },
                    )
                    .unwrap_or_else(|e| panic!("{kind} {lang}: {e}"));
                assert!(
                    r.subject.expect("a subject").contains(title),
                    "{kind} {lang}"
                );
                assert!(r.text.contains("01.10.2026 02:00"), "{kind} {lang}");
            }
        }
    }

    #[test]
    fn the_breach_alert_renders_in_every_staff_language() {
        let t = crate::templates::Templates::new();
        for lang in [Language::Kk, Language::Ru, Language::En] {
            let r = t
                .staff_notice(
                    "outage_breach",
                    lang,
                    context! { title => "T", starts => "s", deadline => "d", missed => vec!["B"], id => "i" },
                )
                .expect("renders");
            assert!(r.text.contains("- B"), "{lang}: {}", r.text);
        }
    }
}
