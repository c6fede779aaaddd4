//! The service level of a period (Almaty days, inclusive) for the supervisor dashboard
//! and `GET /api/v1/reports/service-level`: how many tickets were registered, answered,
//! answered on time, and how many are overdue now; in total and by queue, operator,
//! channel or day. And the dashboard's CSV exports of these, the ratings and the R3
//! call figures.
//!
//! Definitions (R5, as [`crate::tickets::answered`] says them): a ticket is answered
//! once a final reply went out (`answered_at`) or it was closed (then `closed_at` is the
//! answer's instant); it was answered on time when that instant is not after its due
//! instant; it is overdue now when it is not answered and its due instant has passed.
//! `on_time_percent` = answered on time / (answered + overdue now): of the tickets whose
//! outcome is known, the share kept to the deadline (0-100, one decimal). The operator
//! is the ticket's assignee (`-` for none). A ticket counts in the day it was registered.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;

use crate::db::{DbConn, DbError};

/// The longest period one request may span (days).
pub const MAX_DAYS: i64 = 366;

text_enum!(
    /// How the service level is grouped.
    GroupBy, "grouping" {
        Queue => "queue",
        Operator => "operator",
        Channel => "channel",
        Day => "day",
    }
);

/// A period of Almaty days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// What is wrong with a period's parameters: the field and a code (the console words
/// it from its strings, `dashboard_error_<code>`; the API from [`PeriodError::message`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError {
    pub field: &'static str,
    pub code: &'static str,
}

impl PeriodError {
    pub fn message(&self) -> String {
        match self.code {
            "not_a_date" => "is not a date: write YYYY-MM-DD, e.g. 2026-12-01".into(),
            "before_from" => "is before `from`".into(),
            _ => format!("the period is longer than {MAX_DAYS} days: ask for less"),
        }
    }
}

fn almaty_midnight(d: NaiveDate) -> NaiveDateTime {
    chrono_tz::Asia::Almaty
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("Almaty has midnights")
        .naive_utc()
}

/// Today in Almaty.
pub fn today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Asia::Almaty).date_naive()
}

impl Period {
    /// This month so far: the 1st to today (Almaty).
    pub fn this_month(now: DateTime<Utc>) -> Period {
        let to = today(now);
        Period {
            from: to.with_day(1).expect("the 1st"),
            to,
        }
    }

    /// The period `from`..=`to` as given (`YYYY-MM-DD`; an empty or absent one is this
    /// month's first day or today).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, Vec<PeriodError>> {
        let default = Period::this_month(now);
        let mut errors = Vec::new();
        let mut day = |field: &'static str, v: Option<&str>, dflt: NaiveDate| match v
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Some(dflt),
            Some(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) if (2000..=2099).contains(&d.year()) && s.len() == 10 => Some(d),
                _ => {
                    errors.push(PeriodError {
                        field,
                        code: "not_a_date",
                    });
                    None
                }
            },
        };
        let from = day("from", from, default.from);
        let to = day("to", to, default.to);
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                errors.push(PeriodError {
                    field: "to",
                    code: "before_from",
                });
            } else if (t - f).num_days() >= MAX_DAYS {
                errors.push(PeriodError {
                    field: "to",
                    code: "too_long",
                });
            }
        }
        match (from, to, errors.is_empty()) {
            (Some(from), Some(to), true) => Ok(Period { from, to }),
            _ => Err(errors),
        }
    }

    /// `[start, end)` in UTC (naive, as stored).
    pub fn range(self) -> (NaiveDateTime, NaiveDateTime) {
        (
            almaty_midnight(self.from),
            almaty_midnight(self.to.succ_opt().expect("a day after")),
        )
    }

    /// Each day of the period.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }

    /// The months the period touches (for the monthly figures: ratings, P4).
    pub fn months(self) -> (super::Month, super::Month) {
        let m = |d: NaiveDate| super::Month {
            year: d.year(),
            month: d.month(),
        };
        (m(self.from), m(self.to))
    }
}

/// One line of the service level: the total, or one queue, operator, channel or day.
#[derive(Debug, Clone, Serialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Line {
    /// The group (a queue code, an operator's login, a channel, a date); `total` for the total.
    pub key: String,
    /// The queue's or operator's name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_kk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_ru: Option<String>,
    pub registered: i64,
    pub answered: i64,
    pub answered_on_time: i64,
    pub answered_late: i64,
    pub overdue_now: i64,
    /// Not answered, due instant not passed yet.
    pub pending: i64,
    /// answered_on_time / (answered + overdue_now), 0-100; null when both are 0.
    pub on_time_percent: Option<f64>,
}

#[derive(QueryableByName)]
struct Agg {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name_kk: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name_ru: Option<String>,
    #[diesel(sql_type = BigInt)]
    registered: i64,
    #[diesel(sql_type = BigInt)]
    answered: i64,
    #[diesel(sql_type = BigInt)]
    on_time: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
}

impl Line {
    fn of(key: String, name_kk: Option<String>, name_ru: Option<String>, a: &Agg) -> Line {
        let decided = a.answered + a.overdue;
        Line {
            key,
            name_kk,
            name_ru,
            registered: a.registered,
            answered: a.answered,
            answered_on_time: a.on_time,
            answered_late: a.answered - a.on_time,
            overdue_now: a.overdue,
            pending: a.registered - a.answered - a.overdue,
            on_time_percent: (decided > 0)
                .then(|| (a.on_time as f64 * 1000.0 / decided as f64).round() / 10.0),
        }
    }
}

/// The bound parameters, named once at the start of the FROM clause (SQLite numbers
/// `$N` in order of first appearance).
const PARAMS: &str = "(SELECT $1 AS since, $2 AS until, $3 AS now) p";
/// R5's "answered" over a ticket `t`, in SQL: a final reply went out, or it was closed.
pub(crate) const ANSWERED: &str = "(t.answered_at IS NOT NULL OR t.status = 'closed')";
/// The instant of that answer.
pub(crate) const ANSWERED_AT: &str = "COALESCE(t.answered_at, t.closed_at)";

fn count(cond: &str) -> String {
    format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)")
}

/// The SQL of a ticket's registration day in Almaty: a fixed shift when the period has
/// one UTC offset (Almaty keeps no summer time), else a CASE over the days' starts.
fn day_key(conn: &DbConn, period: Period) -> String {
    let offset = |d: NaiveDate| {
        let start = almaty_midnight(d);
        (chrono_tz::Asia::Almaty
            .from_utc_datetime(&start)
            .naive_local()
            - start)
            .num_seconds()
    };
    let first = offset(period.from);
    if period.days().all(|d| offset(d) == first) {
        return match conn {
            DbConn::Pg(_) => {
                format!("to_char(t.registered_at + interval '{first} seconds', 'YYYY-MM-DD')")
            }
            DbConn::Sqlite(_) => {
                format!("strftime('%Y-%m-%d', t.registered_at, '{first:+} seconds')")
            }
        };
    }
    // Instants we formatted ourselves, inlined (no user text).
    let mut case = String::from("CASE");
    for d in period.days().collect::<Vec<_>>().into_iter().rev() {
        case.push_str(&format!(
            " WHEN t.registered_at >= '{}' THEN '{}'",
            almaty_midnight(d).format("%Y-%m-%d %H:%M:%S"),
            d.format("%Y-%m-%d")
        ));
    }
    case.push_str(" END");
    case
}

fn aggregate(
    conn: &mut DbConn,
    period: Period,
    by: Option<GroupBy>,
    now: NaiveDateTime,
) -> Result<Vec<Agg>, DbError> {
    let (key, names) = match by {
        None => ("'total'".to_string(), "NULL, NULL"),
        Some(GroupBy::Queue) => ("t.queue".into(), "MAX(q.name_kk), MAX(q.name_ru)"),
        Some(GroupBy::Operator) => ("COALESCE(u.login, '-')".into(), "MAX(u.name), MAX(u.name)"),
        Some(GroupBy::Channel) => ("t.channel".into(), "NULL, NULL"),
        Some(GroupBy::Day) => (day_key(conn, period), "NULL, NULL"),
    };
    let (name_kk, name_ru) = names.split_once(", ").expect("two names");
    // The total has a constant key: not grouped (PostgreSQL refuses that).
    let group = match by {
        None => String::new(),
        Some(_) => format!(" GROUP BY {key} ORDER BY {key}"),
    };
    let sql = format!(
        "SELECT CAST({key} AS TEXT) AS k, CAST({name_kk} AS TEXT) AS name_kk, CAST({name_ru} AS TEXT) AS name_ru, \
         CAST(COUNT(*) AS BIGINT) AS registered, {} AS answered, {} AS on_time, {} AS overdue \
         FROM {PARAMS} CROSS JOIN tickets t \
         LEFT JOIN users u ON u.id = t.assignee_id LEFT JOIN queues q ON q.code = t.queue \
         WHERE t.registered_at >= p.since AND t.registered_at < p.until{group}",
        count(ANSWERED),
        count(&format!("{ANSWERED} AND {ANSWERED_AT} <= t.due_at")),
        count(&format!("NOT {ANSWERED} AND t.due_at < p.now")),
    );
    let (since, until) = period.range();
    Ok(diesel::sql_query(sql)
        .bind::<Timestamp, _>(since)
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .load(conn)?)
}

/// The service level of `period` at `now`: the total and, with `by`, each group (by
/// day: every day of the period up to today, empty days too).
pub fn service_level(
    conn: &mut DbConn,
    period: Period,
    by: Option<GroupBy>,
    now: DateTime<Utc>,
) -> Result<(Line, Vec<Line>), DbError> {
    let n = now.naive_utc();
    let total = aggregate(conn, period, None, n)?
        .first()
        .map(|a| Line::of("total".into(), None, None, a))
        .unwrap_or_else(|| Line {
            key: "total".into(),
            ..Default::default()
        });
    let Some(by) = by else {
        return Ok((total, Vec::new()));
    };
    let rows = aggregate(conn, period, Some(by), n)?;
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|a| {
            Line::of(
                a.k.clone().unwrap_or_else(|| "-".into()),
                a.name_kk.clone(),
                a.name_ru.clone(),
                a,
            )
        })
        .collect();
    if by == GroupBy::Day {
        let last = period.to.min(today(now).max(period.from));
        let mut all = Vec::new();
        for d in period.days().take_while(|d| *d <= last) {
            let key = d.format("%Y-%m-%d").to_string();
            all.push(
                lines
                    .iter()
                    .find(|l| l.key == key)
                    .cloned()
                    .unwrap_or(Line {
                        key,
                        ..Default::default()
                    }),
            );
        }
        // Days after today have no tickets yet; a future one with tickets (a clock
        // moved back) is kept.
        for l in lines {
            if !all.iter().any(|a| a.key == l.key) {
                all.push(l);
            }
        }
        lines = all;
    }
    Ok((total, lines))
}

fn csv_text(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    // A leading formula character is neutralised (CSV injection).
    let s = if s.starts_with(['=', '+', '-', '@']) && s != "-" {
        format!("'{s}")
    } else {
        s
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The service level as CSV (UTF-8 with a BOM, for spreadsheet programs).
pub fn csv(by: Option<GroupBy>, total: &Line, lines: &[Line]) -> String {
    let mut s = format!(
        "\u{feff}{},name,registered,answered,answered_on_time,answered_late,overdue_now,pending,on_time_percent\r\n",
        by.map_or("key", |b| b.as_str())
    );
    for l in std::iter::once(total).chain(lines) {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            csv_text(&l.key),
            csv_text(l.name_ru.as_deref().unwrap_or("")),
            l.registered,
            l.answered,
            l.answered_on_time,
            l.answered_late,
            l.overdue_now,
            l.pending,
            opt(l.on_time_percent)
        ));
    }
    s
}

/// Rating figures (R10) as CSV.
pub fn ratings_csv(by: crate::ratings::GroupBy, rows: &[crate::ratings::Figures]) -> String {
    let mut s = format!(
        "\u{feff}{},ratings,average,score_1,score_2,score_3,score_4,score_5,not_satisfied,partly_satisfied,satisfied,comments\r\n",
        by.as_str()
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_text(&r.key),
            r.ratings,
            r.average,
            r.scores[0],
            r.scores[1],
            r.scores[2],
            r.scores[3],
            r.scores[4],
            r.satisfied[0],
            r.satisfied[1],
            r.satisfied[2],
            r.comments
        ));
    }
    s
}

/// R3 call figures as CSV: the total first, then the groups.
pub fn calls_csv(
    by: crate::calls::stats::GroupBy,
    total: &crate::calls::stats::Figures,
    groups: &[crate::calls::stats::Figures],
) -> String {
    let mut s = format!(
        "\u{feff}{},calls,offered,answered,abandoned,busy_or_failed,answered_within_30s,average_wait_secs,answered_within_30s_share,abandoned_share\r\n",
        by.as_str()
    );
    for f in std::iter::once(total).chain(groups) {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            csv_text(f.key.as_deref().unwrap_or("total")),
            f.calls,
            f.offered,
            f.answered,
            f.abandoned,
            f.busy_or_failed,
            f.answered_within_30s,
            opt(f.average_wait_secs),
            opt(f.answered_within_30s_share),
            opt(f.abandoned_share)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_period_is_this_month_so_far_in_almaty() {
        // 20:30 UTC on 30 November is 1 December in Almaty.
        let p = Period::parse(None, Some(""), at("2026-11-30T20:30:00Z")).unwrap();
        assert_eq!(p.from.to_string(), "2026-12-01");
        assert_eq!(p.to.to_string(), "2026-12-01");
        let (a, b) = p.range();
        assert_eq!(a.to_string(), "2026-11-30 19:00:00");
        assert_eq!(b.to_string(), "2026-12-01 19:00:00");
    }

    #[test]
    fn periods_are_checked() {
        let now = at("2026-12-15T10:00:00Z");
        let err = |f: Option<&str>, t: Option<&str>| {
            Period::parse(f, t, now)
                .unwrap_err()
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            err(Some("2026-12-40"), Some("x")),
            [("from", "not_a_date"), ("to", "not_a_date")]
        );
        assert_eq!(
            err(Some("2026-12-10"), Some("2026-12-09")),
            [("to", "before_from")]
        );
        assert_eq!(
            err(Some("2025-01-01"), Some("2026-01-02")),
            [("to", "too_long")]
        );
        assert_eq!(err(Some("2026-1-01"), None), [("from", "not_a_date")]);
        let p = Period::parse(Some("2025-01-02"), Some("2026-01-02"), now).unwrap();
        assert_eq!(p.days().count(), 366);
        assert_eq!(p.months().0.to_string(), "2025-01");
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        let total = Line {
            key: "total".into(),
            registered: 3,
            answered: 2,
            answered_on_time: 1,
            answered_late: 1,
            overdue_now: 1,
            on_time_percent: Some(33.3),
            ..Default::default()
        };
        let line = Line {
            key: "=cmd".into(),
            name_ru: Some("Очередь \"А\"".into()),
            ..Default::default()
        };
        let s = csv(Some(GroupBy::Queue), &total, &[line]);
        let rows: Vec<&str> = s.trim_start_matches('\u{feff}').split("\r\n").collect();
        assert!(rows[0].starts_with("queue,name,registered"));
        assert_eq!(rows[1], "\"total\",\"\",3,2,1,1,1,0,33.3");
        assert_eq!(rows[2], "\"'=cmd\",\"Очередь \"\"А\"\"\",0,0,0,0,0,0,");
    }
}
