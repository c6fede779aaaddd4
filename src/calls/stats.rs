//! R3 wait figures over the calls that arrived between two dates (Almaty days,
//! inclusive): average wait, the share answered within 30 s, the abandoned share; in
//! total and by hour, day, queue or operator.
//!
//! Definitions (the law measures the wait "from the call's arrival"): a call's wait is
//! answered - arrived; an abandoned call waited until it ended, and counts in the
//! average. Busy and failed calls never reached a queue: they are counted apart and left
//! out of the shares. `offered` = calls that reached a queue; `answered_within_30s_share`
//! = answered calls with a wait of at most 30 s / offered; `abandoned_share` =
//! abandoned / offered.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;

use crate::db::{DbConn, DbError};

/// The law's target: 30 seconds.
pub const TARGET_SECS: i64 = 30;

text_enum!(
    /// How the figures are grouped.
    GroupBy, "grouping" {
        Hour => "hour",
        Day => "day",
        Queue => "queue",
        Operator => "operator",
    }
);

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = WaitFigures)]
pub struct Figures {
    /// The group (`2026-12-03 10:00`, a date, a queue, an operator login); absent in the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
    pub calls: i64,
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub busy_or_failed: i64,
    pub answered_within_30s: i64,
    /// Seconds, over the calls with a wait; null when none has one.
    pub average_wait_secs: Option<f64>,
    pub answered_within_30s_share: Option<f64>,
    pub abandoned_share: Option<f64>,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Text>)]
    k: Option<String>,
    #[diesel(sql_type = BigInt)]
    calls: i64,
    #[diesel(sql_type = BigInt)]
    busy_or_failed: i64,
    #[diesel(sql_type = BigInt)]
    answered: i64,
    #[diesel(sql_type = BigInt)]
    abandoned: i64,
    #[diesel(sql_type = BigInt)]
    within: i64,
    #[diesel(sql_type = BigInt)]
    waits: i64,
    #[diesel(sql_type = BigInt)]
    wait_sum: i64,
}

fn round(x: f64) -> f64 {
    (x * 10000.0).round() / 10000.0
}

impl From<Row> for Figures {
    fn from(r: Row) -> Figures {
        let offered = r.calls - r.busy_or_failed;
        let share = |n: i64| (offered > 0).then(|| round(n as f64 / offered as f64));
        Figures {
            key: r.k,
            calls: r.calls,
            offered,
            answered: r.answered,
            abandoned: r.abandoned,
            busy_or_failed: r.busy_or_failed,
            answered_within_30s: r.within,
            average_wait_secs: (r.waits > 0).then(|| round(r.wait_sum as f64 / r.waits as f64)),
            answered_within_30s_share: share(r.within),
            abandoned_share: share(r.abandoned),
        }
    }
}

/// The figures from `from` to `to` (inclusive): the total and, with `by`, each group.
pub fn figures(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
    by: Option<GroupBy>,
) -> Result<(Figures, Vec<Figures>), DbError> {
    let aggregates = format!(
        "CAST(COUNT(*) AS BIGINT) AS calls, \
         CAST(COALESCE(SUM(CASE WHEN disposition IN ('busy', 'failed') THEN 1 ELSE 0 END), 0) AS BIGINT) AS busy_or_failed, \
         CAST(COALESCE(SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS answered, \
         CAST(COALESCE(SUM(CASE WHEN disposition = 'abandoned' THEN 1 ELSE 0 END), 0) AS BIGINT) AS abandoned, \
         CAST(COALESCE(SUM(CASE WHEN answered_at IS NOT NULL AND wait_secs <= {TARGET_SECS} THEN 1 ELSE 0 END), 0) AS BIGINT) AS within, \
         CAST(COUNT(wait_secs) AS BIGINT) AS waits, \
         CAST(COALESCE(SUM(wait_secs), 0) AS BIGINT) AS wait_sum"
    );
    let range = "FROM calls WHERE local_day >= $1 AND local_day <= $2";
    let (from, to) = (
        from.format("%Y-%m-%d").to_string(),
        to.format("%Y-%m-%d").to_string(),
    );
    let total: Row = diesel::sql_query(format!(
        "SELECT CAST(NULL AS TEXT) AS k, {aggregates} {range}"
    ))
    .bind::<Text, _>(&from)
    .bind::<Text, _>(&to)
    .get_result(conn)?;
    let groups = match by {
        None => Vec::new(),
        Some(by) => {
            let key = match by {
                GroupBy::Hour => "local_day || ' ' || CAST(local_hour AS TEXT)",
                GroupBy::Day => "local_day",
                GroupBy::Queue => "queue",
                GroupBy::Operator => "operator",
            };
            let rows: Vec<Row> = diesel::sql_query(format!(
                "SELECT {key} AS k, {aggregates} {range} GROUP BY {key} ORDER BY {key}"
            ))
            .bind::<Text, _>(&from)
            .bind::<Text, _>(&to)
            .load(conn)?;
            rows.into_iter()
                .map(|r| {
                    let mut f = Figures::from(r);
                    if f.key.is_none() {
                        // Calls nobody answered have no operator.
                        f.key = Some("-".into());
                    }
                    if by == GroupBy::Hour {
                        f.key = f.key.map(|k| match k.rsplit_once(' ') {
                            Some((d, h)) => format!("{d} {:0>2}:00", h),
                            None => k,
                        });
                    }
                    f
                })
                .collect()
        }
    };
    let mut groups = groups;
    if by == Some(GroupBy::Hour) {
        groups.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok((Figures::from(total), groups))
}
