//! P4 (seed 003 §18, kept as analytics): totals of appeals and complaints, review
//! deadlines kept and missed, deadline violations by body, complaints about a service
//! standard not kept and about staff actions; by month, region, body or channel. And P3
//! (001 §39): ICT questions and forwards by category with their SLA compliance (F3),
//! and the month's outages with their lead-time compliance (O1).
//!
//! A ticket's deadline is kept or missed as the service level counts it (R5: answered
//! once a final reply went out or it was closed, at that instant; missed when answered
//! after its due instant, or not answered and past it).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;

use super::{Month, ReportError};
use crate::db::DbConn;

text_enum!(
    /// The P4 dimension.
    Dimension, "dimension" {
        Month => "month",
        Region => "region",
        Body => "body",
        Channel => "channel",
    }
);

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct AnalyticsRow {
    pub key: String,
    /// A readable name for the key (the body's or region's name in Russian), if any.
    pub name: Option<String>,
    pub appeals: i64,
    pub complaints: i64,
    pub answered_on_time: i64,
    pub deadline_violations: i64,
    /// Forwards to the body answered late or still open past their due time (body only).
    pub forward_violations: Option<i64>,
    pub service_standard_complaints: i64,
    pub staff_action_complaints: i64,
}

#[derive(QueryableByName)]
struct Agg {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = BigInt)]
    appeals: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    complaints: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    on_time: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    overdue: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    fw_overdue: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    standard: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    staff: Option<i64>,
}

/// The bound parameters, named once at the start of the FROM clause: SQLite numbers
/// `$N` in order of first appearance, so a `$3` in the select list would take the first
/// bound value there.
const PARAMS: &str = "(SELECT $1 AS since, $2 AS until, $3 AS now) p";

/// Answered (R5: a final reply, or closed) by the due instant.
fn on_time() -> String {
    use super::service_level::{ANSWERED, ANSWERED_AT};
    format!("{ANSWERED} AND {ANSWERED_AT} <= t.due_at")
}

/// The deadline missed: answered after the due instant, or not answered and past it.
fn violated() -> String {
    use super::service_level::{ANSWERED, ANSWERED_AT};
    format!("(NOT {ANSWERED} AND t.due_at < p.now) OR ({ANSWERED} AND {ANSWERED_AT} > t.due_at)")
}

fn sum(cond: &str) -> String {
    format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)")
}

fn aggregate(
    conn: &mut DbConn,
    dim: Dimension,
    (from, to): (chrono::NaiveDateTime, chrono::NaiveDateTime),
    now: chrono::NaiveDateTime,
) -> Result<Vec<Agg>, ReportError> {
    let (key, name, join, fw) = match dim {
        Dimension::Month | Dimension::Channel => ("t.channel", "NULL", "", "NULL"),
        Dimension::Region => ("t.region", "NULL", "", "NULL"),
        Dimension::Body => (
            "b.id",
            "MAX(b.name_ru)",
            "JOIN forwards f ON f.ticket_id = t.id JOIN bodies b ON b.id = f.body_id",
            "X",
        ),
    };
    let key = if dim == Dimension::Month {
        "'all'"
    } else {
        key
    };
    let fw = if fw == "X" {
        sum(
            "(f.answered_at IS NULL AND f.declined_at IS NULL AND f.due_at < p.now) OR f.answered_at > f.due_at",
        )
    } else {
        "NULL".to_string()
    };
    // A constant key (one line per month) is not grouped: PostgreSQL refuses that.
    let group = if dim == Dimension::Month {
        String::new()
    } else {
        format!(" GROUP BY {key} ORDER BY {key}")
    };
    let sql = format!(
        "SELECT {key} AS k, {name} AS name, COUNT(*) AS appeals, {} AS complaints, {} AS on_time, \
         {} AS overdue, {fw} AS fw_overdue, {} AS standard, {} AS staff \
         FROM {PARAMS} CROSS JOIN tickets t LEFT JOIN ticket_classifications tc ON tc.ticket_id = t.id {join} \
         WHERE t.registered_at >= p.since AND t.registered_at < p.until{group}",
        sum("t.topic = 'complaint'"),
        sum(&on_time()),
        sum(&violated()),
        sum("tc.bylaw_violation IS NOT NULL"),
        sum("tc.staff_action IS NOT NULL"),
    );
    Ok(diesel::sql_query(sql)
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .bind::<Timestamp, _>(now)
        .load(conn)?)
}

fn to_row(a: Agg, key: Option<String>) -> AnalyticsRow {
    let key = key.or(a.k).unwrap_or_else(|| "-".into());
    let name = a.name.or_else(|| {
        crate::tickets::domain::REGIONS
            .iter()
            .find(|(c, _, _)| *c == key)
            .map(|(_, _, ru)| ru.to_string())
    });
    AnalyticsRow {
        key,
        name,
        appeals: a.appeals,
        complaints: a.complaints.unwrap_or(0),
        answered_on_time: a.on_time.unwrap_or(0),
        deadline_violations: a.overdue.unwrap_or(0),
        forward_violations: a.fw_overdue,
        service_standard_complaints: a.standard.unwrap_or(0),
        staff_action_complaints: a.staff.unwrap_or(0),
    }
}

/// The most months one request may span.
pub const MAX_MONTHS: usize = 36;

/// P4 over the months `from..=to`.
pub fn analytics(
    conn: &mut DbConn,
    dim: Dimension,
    from: Month,
    to: Month,
    now: DateTime<Utc>,
) -> Result<Vec<AnalyticsRow>, ReportError> {
    let now = now.naive_utc();
    let mut out = Vec::new();
    if dim == Dimension::Month {
        let mut m = from;
        while m <= to {
            let a = aggregate(conn, dim, m.range(), now)?;
            let row = a
                .into_iter()
                .next()
                .map(|a| to_row(a, Some(m.to_string())))
                .unwrap_or(AnalyticsRow {
                    key: m.to_string(),
                    ..Default::default()
                });
            out.push(row);
            m = m.next();
        }
        return Ok(out);
    }
    let range = (from.range().0, to.range().1);
    Ok(aggregate(conn, dim, range, now)?
        .into_iter()
        .map(|a| to_row(a, None))
        .collect())
}

/// The analytics as CSV (the dashboard's export).
pub fn analytics_csv(rows: &[AnalyticsRow]) -> String {
    let mut s = String::from(
        "\u{feff}key,name,appeals,complaints,answered_on_time,deadline_violations,forward_violations,service_standard_complaints,staff_action_complaints\r\n",
    );
    for r in rows {
        let name = r.name.clone().unwrap_or_default().replace('"', "\"\"");
        s.push_str(&format!(
            "{},\"{}\",{},{},{},{},{},{},{}\r\n",
            r.key.replace([',', '"', '\n'], " "),
            name,
            r.appeals,
            r.complaints,
            r.answered_on_time,
            r.deadline_violations,
            r.forward_violations
                .map(|v| v.to_string())
                .unwrap_or_default(),
            r.service_standard_complaints,
            r.staff_action_complaints
        ));
    }
    s
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IctLine {
    /// The ICT topic or forward category.
    pub key: String,
    pub total: i64,
    pub answered_on_time: i64,
    pub late_or_overdue: i64,
    /// Share answered within the SLA, 0-100 (one decimal); `null` when there were none.
    pub sla_percent: Option<f64>,
}

#[derive(QueryableByName)]
struct IctAgg {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    on_time: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    late: Option<i64>,
}

fn ict_lines(rows: Vec<IctAgg>) -> Vec<IctLine> {
    rows.into_iter()
        .map(|r| {
            let on_time = r.on_time.unwrap_or(0);
            IctLine {
                key: r.k.unwrap_or_else(|| "-".into()),
                total: r.total,
                answered_on_time: on_time,
                late_or_overdue: r.late.unwrap_or(0),
                sla_percent: (r.total > 0)
                    .then(|| (on_time as f64 * 1000.0 / r.total as f64).round() / 10.0),
            }
        })
        .collect()
}

/// P3 for one month.
pub fn ict_report(
    conn: &mut DbConn,
    month: Month,
    ict_topics: &[String],
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ReportError> {
    let (from, to) = month.range();
    let n = now.naive_utc();
    // Topics are codes we know (ASCII, checked at configuration): quoted inline.
    let topics: Vec<String> = ict_topics
        .iter()
        .filter(|t| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .map(|t| format!("'{t}'"))
        .collect();
    let questions = if topics.is_empty() {
        Vec::new()
    } else {
        let sql = format!(
            "SELECT t.topic AS k, COUNT(*) AS total, {} AS on_time, {} AS late FROM {PARAMS} CROSS JOIN tickets t \
             WHERE t.registered_at >= p.since AND t.registered_at < p.until AND t.topic IN ({}) \
             GROUP BY t.topic ORDER BY t.topic",
            sum(&on_time()),
            sum(&violated()),
            topics.join(", ")
        );
        ict_lines(
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .bind::<Timestamp, _>(n)
                .load(conn)?,
        )
    };
    let sql = format!(
        "SELECT f.category AS k, COUNT(*) AS total, {} AS on_time, {} AS late FROM {PARAMS} CROSS JOIN forwards f \
         WHERE f.created_at >= p.since AND f.created_at < p.until AND f.category IS NOT NULL \
         GROUP BY f.category ORDER BY f.category",
        sum("f.answered_at IS NOT NULL AND f.answered_at <= f.due_at"),
        sum(
            "(f.answered_at IS NULL AND f.declined_at IS NULL AND f.due_at < p.now) OR f.answered_at > f.due_at"
        ),
    );
    let forwards = ict_lines(
        diesel::sql_query(sql)
            .bind::<Timestamp, _>(from)
            .bind::<Timestamp, _>(to)
            .bind::<Timestamp, _>(n)
            .load(conn)?,
    );
    let outages = crate::outages::store::compliance(conn, from.and_utc(), to.and_utc(), now)?;
    Ok(serde_json::json!({
        "report": "P3",
        "month": month.to_string(),
        "ict_questions": questions,
        "ict_forwards": forwards,
        "outages": outages,
    }))
}

/// The bodies that received ICT forwards in the month (P3 recipients besides the
/// informatization body and the ICI operator).
pub fn ict_recipients(conn: &mut DbConn, month: Month) -> Result<Vec<String>, ReportError> {
    use crate::db::schema::forwards;
    let (from, to) = month.range();
    Ok(forwards::table
        .filter(forwards::created_at.ge(from))
        .filter(forwards::created_at.lt(to))
        .filter(forwards::category.is_not_null())
        .select(forwards::body_id)
        .distinct()
        .load(conn)?)
}
