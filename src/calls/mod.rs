//! The phone channel (R2, R3, R10, R11). The PBX reports each call as it happens
//! (`arrived`, `answered`, `ended`, in any order, any number of times) or in one complete
//! record; events are merged by `call_id` into one row, the first value of each field
//! wins, so a redelivered event changes nothing. Asterisk's `Master.csv` can be imported
//! too ([`import`]). A call from a number with an open ticket joins it; otherwise the
//! operator registers the matter from the call card ([`card`]). [`stats`] gives the R3
//! wait figures, [`recordings`] keeps the recordings, [`requests`] answers the R11
//! record requests.

pub mod card;
pub mod import;
pub mod recordings;
pub mod requests;
pub mod stats;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{calls, contacts, messages, tickets, users};
use crate::db::{DbConn, DbError, new_id};

text_enum!(
    /// What the PBX reports.
    CallEventKind, "call event" {
        Arrived => "arrived",
        Answered => "answered",
        Ended => "ended",
    }
);

text_enum!(
    /// How a call ended.
    Disposition, "disposition" {
        Answered => "answered",
        Abandoned => "abandoned",
        Busy => "busy",
        Failed => "failed",
    }
);

/// Why a call input was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CallError {
    fn from(e: diesel::result::Error) -> Self {
        CallError::Db(DbError::Query(e))
    }
}

impl CallError {
    pub fn invalid(field: &str, message: impl Into<String>) -> CallError {
        CallError::Invalid(vec![(field.to_string(), message.into())])
    }
}

/// A recording as the PBX hands it over: a URL to fetch, or the bytes.
#[derive(Debug, Clone)]
pub enum RecordingInput {
    Url {
        url: String,
        content_type: Option<String>,
    },
    Content {
        bytes: Vec<u8>,
        content_type: String,
    },
}

/// One event from the PBX, checked.
#[derive(Debug, Clone)]
pub struct CallEvent {
    pub call_id: String,
    pub event: CallEventKind,
    pub caller: String,
    pub called: String,
    pub queue: String,
    pub arrived_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub operator: Option<String>,
    pub disposition: Option<Disposition>,
    pub recording: Option<RecordingInput>,
    pub survey: Option<i32>,
}

/// The longest call id, number and queue name taken.
const MAX_ID: usize = 128;

/// A phone number as stored and matched: `+` and digits for a subscriber number
/// (`8 701 ...` and `+7 701 ...` are one number), the trimmed text otherwise (`1414`).
pub fn normalise_number(number: &str) -> String {
    baylanys_sms::SmsAdapter::normalise(number).unwrap_or_else(|| number.trim().to_string())
}

/// The forms one number may be stored in elsewhere (a web form's `+7 701 234 5678`,
/// cleaned of spaces, dashes and brackets, is one of these).
pub fn number_variants(number: &str) -> Vec<String> {
    let n = normalise_number(number);
    match n.strip_prefix("+7") {
        Some(rest) if rest.len() == 10 => vec![
            n.clone(),
            format!("7{rest}"),
            format!("8{rest}"),
            rest.to_string(),
        ],
        _ => vec![n],
    }
}

fn parse_time(
    field: &str,
    v: &serde_json::Value,
    errors: &mut Vec<(String, String)>,
) -> Option<DateTime<Utc>> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                let year = chrono::Datelike::year(&t);
                if !(2000..=2100).contains(&year) {
                    errors.push((
                        field.into(),
                        format!("`{s}` is outside the years 2000-2100"),
                    ));
                    None
                } else {
                    Some(t)
                }
            }
            Err(e) => {
                errors.push((
                    field.into(),
                    format!("`{s}` is not an RFC 3339 time with offset like 2026-12-03T10:15:00+05:00 ({e})"),
                ));
                None
            }
        },
        _ => {
            errors.push((field.into(), "must be an RFC 3339 time string".into()));
            None
        }
    }
}

fn text_field(
    body: &serde_json::Value,
    field: &str,
    required: bool,
    errors: &mut Vec<(String, String)>,
) -> Option<String> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => {
            if required {
                errors.push((field.into(), "is required".into()));
            }
            None
        }
        Some(serde_json::Value::String(s)) => {
            let s = baylanys_core::clean_text(s.trim()).into_owned();
            if s.is_empty() && required {
                errors.push((field.into(), "must not be empty".into()));
                None
            } else if s.chars().count() > MAX_ID {
                errors.push((field.into(), format!("is longer than {MAX_ID} characters")));
                None
            } else if s.is_empty() {
                None
            } else {
                Some(s)
            }
        }
        Some(_) => {
            errors.push((field.into(), "must be a string".into()));
            None
        }
    }
}

impl CallEvent {
    /// Reads and checks a `POST /api/v1/calls` body; every problem is named.
    pub fn from_json(
        body: &serde_json::Value,
        max_recording_bytes: u64,
    ) -> Result<CallEvent, CallError> {
        let mut errors = Vec::new();
        if !body.is_object() {
            return Err(CallError::invalid("body", "must be a JSON object"));
        }
        let call_id = text_field(body, "call_id", true, &mut errors);
        let event = match text_field(body, "event", true, &mut errors) {
            Some(e) => match CallEventKind::parse(&e) {
                Ok(k) => Some(k),
                Err(m) => {
                    errors.push(("event".into(), m));
                    None
                }
            },
            None => None,
        };
        let caller = text_field(body, "caller", true, &mut errors);
        let called = text_field(body, "called", true, &mut errors);
        let queue = text_field(body, "queue", true, &mut errors);
        let get = |k: &str| body.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let arrived_at = parse_time("arrived_at", &get("arrived_at"), &mut errors);
        if get("arrived_at").is_null() {
            errors.push(("arrived_at".into(), "is required".into()));
        }
        let answered_at = parse_time("answered_at", &get("answered_at"), &mut errors);
        let ended_at = parse_time("ended_at", &get("ended_at"), &mut errors);
        let operator = text_field(body, "operator", false, &mut errors);
        let disposition = match text_field(body, "disposition", false, &mut errors) {
            Some(d) => match Disposition::parse(&d) {
                Ok(d) => Some(d),
                Err(m) => {
                    errors.push(("disposition".into(), m));
                    None
                }
            },
            None => None,
        };
        let survey = match get("survey") {
            serde_json::Value::Null => None,
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(v @ 1..=5) => Some(v as i32),
                _ => {
                    errors.push(("survey".into(), format!("`{n}` is not a score from 1 to 5")));
                    None
                }
            },
            _ => {
                errors.push(("survey".into(), "must be a whole number from 1 to 5".into()));
                None
            }
        };
        let recording = match get("recording") {
            serde_json::Value::Null => None,
            r @ serde_json::Value::Object(_) => recording_of(&r, max_recording_bytes, &mut errors),
            _ => {
                errors.push((
                    "recording".into(),
                    "must be an object with `url` or `content_base64`".into(),
                ));
                None
            }
        };
        match event {
            Some(CallEventKind::Answered) if get("answered_at").is_null() => errors.push((
                "answered_at".into(),
                "is required with event `answered`".into(),
            )),
            Some(CallEventKind::Ended) => {
                if get("ended_at").is_null() {
                    errors.push(("ended_at".into(), "is required with event `ended`".into()));
                }
                if get("disposition").is_null() {
                    errors.push((
                        "disposition".into(),
                        "is required with event `ended`".into(),
                    ));
                }
            }
            _ => {}
        }
        if let (Some(a), Some(b)) = (arrived_at, answered_at)
            && b < a
        {
            errors.push(("answered_at".into(), "is before arrived_at".into()));
        }
        if let (Some(a), Some(e)) = (arrived_at, ended_at)
            && e < a
        {
            errors.push(("ended_at".into(), "is before arrived_at".into()));
        }
        if let (Some(b), Some(e)) = (answered_at, ended_at)
            && e < b
        {
            errors.push(("ended_at".into(), "is before answered_at".into()));
        }
        if let (Some(d), Some(_)) = (disposition, answered_at)
            && d != Disposition::Answered
        {
            errors.push((
                "disposition".into(),
                format!("`{d}` but the call has answered_at: an answered call's disposition is `answered`"),
            ));
        }
        if survey.is_some() && operator.is_none() && event != Some(CallEventKind::Arrived) {
            // The score is the operator's (R10); the operator may come in another event.
        }
        if !errors.is_empty() {
            return Err(CallError::Invalid(errors));
        }
        let (Some(call_id), Some(event), Some(caller), Some(called), Some(queue), Some(arrived_at)) =
            (call_id, event, caller, called, queue, arrived_at)
        else {
            return Err(CallError::invalid("body", "required fields are missing"));
        };
        Ok(CallEvent {
            call_id,
            event,
            caller: normalise_number(&caller),
            called: normalise_number(&called),
            queue,
            arrived_at,
            answered_at,
            ended_at,
            operator,
            disposition,
            recording,
            survey,
        })
    }
}

/// The content types a recording may have.
pub const RECORDING_TYPES: &[&str] = &[
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/mpeg",
    "audio/ogg",
    "audio/opus",
    "audio/mp4",
    "audio/webm",
    "audio/flac",
];

/// The content type without parameters, lower-cased, if it is one a recording may have.
pub fn recording_type(ct: &str) -> Option<String> {
    let t = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    RECORDING_TYPES.contains(&t.as_str()).then_some(t)
}

fn recording_of(
    r: &serde_json::Value,
    max_bytes: u64,
    errors: &mut Vec<(String, String)>,
) -> Option<RecordingInput> {
    let ct = r.get("content_type").and_then(|v| v.as_str());
    let checked_ct = match ct {
        Some(c) => match recording_type(c) {
            Some(t) => Some(t),
            None => {
                errors.push((
                    "recording.content_type".into(),
                    format!(
                        "`{c}` is not a recording type: expected one of {}",
                        RECORDING_TYPES.join(", ")
                    ),
                ));
                return None;
            }
        },
        None => None,
    };
    match (
        r.get("url").and_then(|v| v.as_str()),
        r.get("content_base64"),
    ) {
        (Some(_), Some(_)) => {
            errors.push((
                "recording".into(),
                "give `url` or `content_base64`, not both".into(),
            ));
            None
        }
        (Some(url), None) => {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok || url.len() > 2048 {
                errors.push((
                    "recording.url".into(),
                    format!(
                        "`{}` is not an http(s) URL",
                        url.chars().take(100).collect::<String>()
                    ),
                ));
                return None;
            }
            Some(RecordingInput::Url {
                url: url.to_string(),
                content_type: checked_ct,
            })
        }
        (None, Some(b)) => {
            let Some(b) = b.as_str() else {
                errors.push((
                    "recording.content_base64".into(),
                    "must be a base64 string".into(),
                ));
                return None;
            };
            let Some(ct) = checked_ct else {
                errors.push((
                    "recording.content_type".into(),
                    "is required with content_base64".into(),
                ));
                return None;
            };
            // Base64 is 4/3 of the bytes: a string this long cannot fit the limit.
            if (b.len() as u64) / 4 * 3 > max_bytes + 3 {
                errors.push((
                    "recording.content_base64".into(),
                    format!("the recording is larger than {max_bytes} bytes (BAYLANYS_RECORDING_MAX_BYTES)"),
                ));
                return None;
            }
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(b.trim()) {
                Ok(bytes) if bytes.is_empty() => {
                    errors.push(("recording.content_base64".into(), "is empty".into()));
                    None
                }
                Ok(bytes) if bytes.len() as u64 > max_bytes => {
                    errors.push((
                        "recording.content_base64".into(),
                        format!("the recording is larger than {max_bytes} bytes (BAYLANYS_RECORDING_MAX_BYTES)"),
                    ));
                    None
                }
                Ok(bytes) => Some(RecordingInput::Content {
                    bytes,
                    content_type: ct,
                }),
                Err(e) => {
                    errors.push((
                        "recording.content_base64".into(),
                        format!("is not valid base64: {e}"),
                    ));
                    None
                }
            }
        }
        (None, None) => {
            errors.push(("recording".into(), "needs `url` or `content_base64`".into()));
            None
        }
    }
}

/// A call as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = calls, treat_none_as_default_value = false)]
pub struct CallRow {
    #[serde(skip)]
    pub id: String,
    pub call_id: String,
    pub caller: String,
    pub called: String,
    pub queue: String,
    pub arrived_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub operator: Option<String>,
    pub disposition: Option<String>,
    pub wait_secs: Option<i64>,
    pub local_day: String,
    pub local_hour: i32,
    pub survey: Option<i32>,
    #[serde(skip)]
    pub ticket_id: Option<String>,
    pub source: String,
    pub events: String,
    #[serde(skip)]
    pub created_at: NaiveDateTime,
    #[serde(skip)]
    pub updated_at: NaiveDateTime,
}

/// R3: wait = answered - arrived; an abandoned call waited until it ended.
pub fn wait_of(
    arrived: NaiveDateTime,
    answered: Option<NaiveDateTime>,
    ended: Option<NaiveDateTime>,
    disposition: Option<&str>,
) -> Option<i64> {
    match (answered, ended, disposition) {
        (Some(a), _, _) => Some((a - arrived).num_seconds().max(0)),
        (None, Some(e), Some("abandoned")) => Some((e - arrived).num_seconds().max(0)),
        _ => None,
    }
}

/// The Almaty day and hour a call arrived in (the reports' grouping).
pub fn local_slot(arrived: NaiveDateTime) -> (String, i32) {
    let local = arrived.and_utc().with_timezone(&chrono_tz::Asia::Almaty);
    (local.format("%Y-%m-%d").to_string(), local.hour() as i32)
}

/// What recording an event left to do after its transaction.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub call: CallRow,
    /// The row was created by this event.
    pub created: bool,
    /// Anything at all changed (false: a redelivery).
    pub changed: bool,
    /// Fields this event gave differently from what was stored first (kept as stored).
    pub ignored: Vec<String>,
    /// The ticket the call joined (an open ticket of the caller's number).
    pub ticket_number: Option<String>,
    /// A recording fetch was queued.
    pub recording_queued: bool,
}

/// Checks that `login` is a member of staff (the call's operator).
pub fn check_operator(conn: &mut DbConn, login: &str) -> Result<(), CallError> {
    let found: i64 = users::table
        .filter(users::login.eq(login))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(CallError::invalid(
            "operator",
            format!("no user has the login `{login}`: send the operator's Baylanys login"),
        ));
    }
    Ok(())
}

/// Merges one event into its call, in the caller's write transaction. Two events of one
/// call at once: the row is created by whichever inserts first (`ON CONFLICT DO
/// NOTHING`), then each merges under the row's lock (PostgreSQL `FOR UPDATE`; SQLite
/// transactions are serial).
pub fn record_event(
    conn: &mut DbConn,
    ev: &CallEvent,
    recordings: &recordings::Settings,
    now: NaiveDateTime,
) -> Result<Recorded, CallError> {
    if let Some(op) = &ev.operator {
        check_operator(conn, op)?;
    }
    let arrived = ev.arrived_at.naive_utc();
    let answered = ev.answered_at.map(|t| t.naive_utc());
    let ended = ev.ended_at.map(|t| t.naive_utc());
    let (day, hour) = local_slot(arrived);
    let fresh = CallRow {
        id: new_id(),
        call_id: ev.call_id.clone(),
        caller: ev.caller.clone(),
        called: ev.called.clone(),
        queue: ev.queue.clone(),
        arrived_at: arrived,
        answered_at: answered,
        ended_at: ended,
        operator: ev.operator.clone(),
        disposition: ev.disposition.map(|d| d.as_str().to_string()),
        wait_secs: wait_of(arrived, answered, ended, ev.disposition.map(|d| d.as_str())),
        local_day: day,
        local_hour: hour,
        survey: ev.survey,
        ticket_id: None,
        source: "api".into(),
        events: ev.event.as_str().into(),
        created_at: now,
        updated_at: now,
    };
    let inserted = match conn {
        DbConn::Pg(c) => diesel::insert_into(calls::table)
            .values(&fresh)
            .on_conflict(calls::call_id)
            .do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(calls::table)
            .values(&fresh)
            .on_conflict(calls::call_id)
            .do_nothing()
            .execute(c)?,
    };
    let (call, created, changed, ignored) = if inserted == 1 {
        (fresh, true, true, Vec::new())
    } else {
        let stored: CallRow = match conn {
            DbConn::Pg(c) => calls::table
                .filter(calls::call_id.eq(&ev.call_id))
                .select(CallRow::as_select())
                .for_update()
                .first(c)?,
            DbConn::Sqlite(c) => calls::table
                .filter(calls::call_id.eq(&ev.call_id))
                .select(CallRow::as_select())
                .first(c)?,
        };
        let (merged, ignored) = merge(&stored, &fresh)?;
        let changed = !same(&merged, &stored);
        if changed {
            diesel::update(calls::table.find(&stored.id))
                .set((
                    calls::answered_at.eq(merged.answered_at),
                    calls::ended_at.eq(merged.ended_at),
                    calls::operator.eq(&merged.operator),
                    calls::disposition.eq(&merged.disposition),
                    calls::wait_secs.eq(merged.wait_secs),
                    calls::survey.eq(merged.survey),
                    calls::events.eq(&merged.events),
                    calls::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        (merged, false, changed, ignored)
    };
    let mut call = call;
    let mut ticket_number = None;
    if created {
        if let Some((ticket_id, number)) = open_ticket_of(conn, &call.caller)? {
            join_ticket(conn, &call, &ticket_id)?;
            diesel::update(calls::table.find(&call.id))
                .set(calls::ticket_id.eq(&ticket_id))
                .execute(conn)?;
            call.ticket_id = Some(ticket_id);
            ticket_number = Some(number);
        }
    } else if let Some(t) = &call.ticket_id {
        ticket_number = tickets::table
            .find(t)
            .select(tickets::number)
            .first(conn)
            .optional()?;
    }
    rate_from_survey(conn, &call)?;
    let recording_queued = match &ev.recording {
        Some(r) => recordings::accept(conn, &call.call_id, r, recordings, now)?,
        None => false,
    };
    Ok(Recorded {
        call,
        created,
        changed: changed || recording_queued,
        ignored,
        ticket_number,
        recording_queued,
    })
}

/// R10 on the phone: the post-call survey score is the conversation's rating, given to
/// the operator who took the call, once the call is on a ticket (when the score lands on
/// a call that has one, or when the call card makes its ticket). A second score for the
/// same conversation is not recorded again (the ratings keep one per conversation).
pub fn rate_from_survey(conn: &mut DbConn, call: &CallRow) -> Result<(), DbError> {
    let (Some(score), Some(ticket_id)) = (call.survey, &call.ticket_id) else {
        return Ok(());
    };
    let outcome = crate::ratings::record(
        conn,
        crate::ratings::RatingInput {
            ticket_id: ticket_id.clone(),
            operator: call.operator.clone(),
            channel: baylanys_core::Channel::Phone.as_str().into(),
            score,
            source: Some(crate::ratings::Source::Phone),
            comment: None,
            satisfied_process: None,
            satisfied_info: None,
            request_id: None,
        },
    )?;
    if let crate::ratings::Outcome::Invalid { field, message } = outcome {
        tracing::warn!(call = %call.call_id, %field, %message, "the survey score was not recorded as a rating");
    }
    Ok(())
}

fn same(a: &CallRow, b: &CallRow) -> bool {
    a.answered_at == b.answered_at
        && a.ended_at == b.ended_at
        && a.operator == b.operator
        && a.disposition == b.disposition
        && a.survey == b.survey
        && a.events == b.events
}

/// The stored call with what the new event adds; the first value of a field wins and a
/// different later one is listed as ignored. Refused when the result is impossible
/// (answered before it arrived, an answered call reported abandoned).
fn merge(stored: &CallRow, new: &CallRow) -> Result<(CallRow, Vec<String>), CallError> {
    let mut m = stored.clone();
    let mut ignored = Vec::new();
    let mut differs = |name: &str, same: bool| {
        if !same {
            ignored.push(name.to_string());
        }
    };
    differs("caller", stored.caller == new.caller);
    differs("called", stored.called == new.called);
    differs("queue", stored.queue == new.queue);
    differs("arrived_at", stored.arrived_at == new.arrived_at);
    fn first<T: Clone + PartialEq>(old: &mut Option<T>, new: &Option<T>) -> bool {
        match (old.as_ref(), new) {
            (None, Some(v)) => {
                *old = Some(v.clone());
                true
            }
            (Some(o), Some(v)) => o == v,
            _ => true,
        }
    }
    let s = first(&mut m.answered_at, &new.answered_at);
    differs("answered_at", s);
    let s = first(&mut m.ended_at, &new.ended_at);
    differs("ended_at", s);
    let s = first(&mut m.operator, &new.operator);
    differs("operator", s);
    let s = first(&mut m.disposition, &new.disposition);
    differs("disposition", s);
    let s = first(&mut m.survey, &new.survey);
    differs("survey", s);
    let mut kinds: Vec<&str> = stored.events.split(',').filter(|s| !s.is_empty()).collect();
    for k in new.events.split(',') {
        if !k.is_empty() && !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.sort_by_key(|k| CallEventKind::parse(k).map_or(9, |e| e as u8));
    m.events = kinds.join(",");
    if let Some(a) = m.answered_at
        && a < m.arrived_at
    {
        return Err(CallError::invalid(
            "answered_at",
            "is before the call's arrived_at",
        ));
    }
    if let Some(e) = m.ended_at
        && (e < m.arrived_at || m.answered_at.is_some_and(|a| e < a))
    {
        return Err(CallError::invalid(
            "ended_at",
            "is before the call's arrival or answer",
        ));
    }
    if m.answered_at.is_some() && m.disposition.as_deref().is_some_and(|d| d != "answered") {
        return Err(CallError::invalid(
            "disposition",
            format!(
                "the call was answered, so it cannot end `{}`",
                m.disposition.as_deref().unwrap_or("")
            ),
        ));
    }
    m.wait_secs = wait_of(
        m.arrived_at,
        m.answered_at,
        m.ended_at,
        m.disposition.as_deref(),
    );
    Ok((m, ignored))
}

/// The caller's latest ticket that is not closed: registered from the same number, or
/// whose applicant gave that number.
pub fn open_ticket_of(
    conn: &mut DbConn,
    caller: &str,
) -> Result<Option<(String, String)>, DbError> {
    let variants = number_variants(caller);
    if !variants[0].starts_with('+') {
        // An internal or withheld number names nobody.
        return Ok(None);
    }
    let by_message = messages::table
        .filter(messages::channel.eq("phone"))
        .filter(messages::direction.eq("in"))
        .filter(messages::address.eq_any(&variants))
        .select(messages::ticket_id);
    let cleaned = diesel::dsl::sql::<diesel::sql_types::Text>(
        "replace(replace(replace(replace(contacts.phone, ' ', ''), '-', ''), '(', ''), ')', '')",
    );
    let by_contact = contacts::table
        .filter(contacts::phone.is_not_null())
        .filter(cleaned.eq_any(variants.clone()))
        .select(contacts::id);
    let found: Option<(String, String)> = tickets::table
        .filter(tickets::status.ne(crate::tickets::Status::Closed.as_str()))
        .filter(
            tickets::id
                .eq_any(by_message)
                .or(tickets::contact_id.eq_any(by_contact)),
        )
        .order(tickets::registered_at.desc())
        .select((tickets::id, tickets::number))
        .first(conn)
        .optional()?;
    Ok(found)
}

/// Puts the call on the ticket: a phone message and an event in its audit log.
fn join_ticket(conn: &mut DbConn, call: &CallRow, ticket_id: &str) -> Result<(), DbError> {
    let message_id = new_id();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(&message_id),
            messages::ticket_id.eq(ticket_id),
            messages::direction.eq("in"),
            messages::kind.eq(crate::tickets::MessageKind::Appeal.as_str()),
            messages::channel.eq("phone"),
            messages::address.eq(&call.caller),
            messages::subject.eq(None::<String>),
            messages::body_text.eq(""),
            messages::external_id.eq(format!("call:{}", call.call_id)),
            messages::created_at.eq(call.arrived_at),
        ))
        .execute(conn)?;
    diesel::update(tickets::table.find(ticket_id))
        .set(tickets::updated_at.eq(crate::db::now()))
        .execute(conn)?;
    crate::tickets::event(
        conn,
        ticket_id,
        &format!("phone:{}", call.caller),
        "call_joined",
        serde_json::json!({
            "call_id": call.call_id, "message_id": message_id, "queue": call.queue,
            "arrived_at": call.arrived_at.and_utc(),
        }),
    )
}

/// One call by its PBX id.
pub fn find(conn: &mut DbConn, call_id: &str) -> Result<Option<CallRow>, DbError> {
    Ok(calls::table
        .filter(calls::call_id.eq(call_id))
        .select(CallRow::as_select())
        .first(conn)
        .optional()?)
}

/// The call as the API shows it, with its ticket and recording.
pub fn view(conn: &mut DbConn, call: &CallRow) -> Result<serde_json::Value, DbError> {
    let ticket: Option<(String, NaiveDateTime)> = match &call.ticket_id {
        Some(t) => tickets::table
            .find(t)
            .select((tickets::number, tickets::due_at))
            .first(conn)
            .optional()?,
        None => None,
    };
    let rec = recordings::summary(conn, &call.call_id)?;
    let mut v = serde_json::to_value(call).unwrap_or_default();
    let t = |x: Option<NaiveDateTime>| x.map(|t| t.and_utc());
    v["arrived_at"] = serde_json::json!(call.arrived_at.and_utc());
    v["answered_at"] = serde_json::json!(t(call.answered_at));
    v["ended_at"] = serde_json::json!(t(call.ended_at));
    v["events"] = serde_json::json!(call.events.split(',').collect::<Vec<_>>());
    v["ticket"] = match ticket {
        Some((number, due)) => serde_json::json!({
            "number": number,
            "due_at": crate::calendar::format_almaty(due.and_utc()),
        }),
        None => serde_json::Value::Null,
    };
    v["recording"] = rec;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_every_form_are_one() {
        assert_eq!(normalise_number("8 701 234 56 78"), "+77012345678");
        assert_eq!(normalise_number("+7 (701) 234-56-78"), "+77012345678");
        assert_eq!(normalise_number(" 1414 "), "1414");
        assert!(number_variants("87012345678").contains(&"7012345678".to_string()));
    }

    #[test]
    fn r3_wait_is_answer_minus_arrival_and_abandoned_calls_waited_until_the_end() {
        let t = |s: i64| {
            chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
                .unwrap()
                .naive_utc()
        };
        assert_eq!(
            wait_of(t(0), Some(t(25)), Some(t(300)), Some("answered")),
            Some(25)
        );
        assert_eq!(
            wait_of(t(0), None, Some(t(47)), Some("abandoned")),
            Some(47)
        );
        assert_eq!(wait_of(t(0), None, Some(t(5)), Some("busy")), None);
        assert_eq!(wait_of(t(0), None, None, None), None);
    }

    #[test]
    fn events_are_checked_field_by_field() {
        let e = CallEvent::from_json(
            &serde_json::json!({"call_id": "1", "event": "ended", "caller": "+77012345678",
                "called": "1414", "queue": "general", "arrived_at": "yesterday"}),
            1000,
        )
        .unwrap_err();
        let CallError::Invalid(list) = e else {
            panic!()
        };
        let fields: Vec<&str> = list.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"arrived_at"), "{list:?}");
        assert!(fields.contains(&"ended_at"), "{list:?}");
        assert!(fields.contains(&"disposition"), "{list:?}");
    }
}
