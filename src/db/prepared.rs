//! Raw SQL that each connection prepares once and keeps.
//!
//! Diesel never caches a `sql_query` (it marks every one unsafe to cache), so a raw
//! statement on the intake path was parsed and planned again for every appeal: the
//! 2026-12-03 profile of the SQLite writer spent 14 % of its time in `sqlite3Prepare`,
//! nearly all of it on three raw statements. A [`Prepared`] statement is keyed in the
//! connection's statement cache by its text, and its text is `&'static str`, so the cache
//! holds at most one entry per statement in the source: statements whose shape changes
//! at run time (an `IN` list, a multi-row insert) stay with `sql_query`.
//!
//! The text uses `?` for each parameter on both backends (PostgreSQL gets `$1`, `$2`, ...
//! from diesel); a `?` must not appear anywhere else in it.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp, Untyped};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl};

use super::{DbConn, DbError};

/// A value bound to a [`Prepared`] statement.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Time(chrono::NaiveDateTime),
}

/// A statement of fixed text with its values, kept prepared by the connection.
#[derive(Debug, Clone)]
pub struct Prepared<'a> {
    sql: &'static str,
    values: &'a [Value<'a>],
}

impl<'a> Prepared<'a> {
    /// `sql` with one `?` per value, in order.
    pub fn new(sql: &'static str, values: &'a [Value<'a>]) -> Prepared<'a> {
        debug_assert_eq!(
            sql.matches('?').count(),
            values.len(),
            "one value per `?` in {sql}"
        );
        Prepared { sql, values }
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // No type of its own: the cache keys it by its text and the values' types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<C> RunQueryDsl<C> for Prepared<'_> {}

macro_rules! walk_for {
    ($backend:ty) => {
        impl QueryFragment<$backend> for Prepared<'_> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $backend>) -> QueryResult<()> {
                let mut parts = self.sql.split('?');
                out.push_sql(parts.next().unwrap_or_default());
                for (value, part) in self.values.iter().zip(parts) {
                    match value {
                        Value::Text(t) => out.push_bind_param::<Text, str>(t)?,
                        Value::OptText(t) => out.push_bind_param::<Nullable<Text>, _>(t)?,
                        Value::Int(i) => out.push_bind_param::<BigInt, _>(i)?,
                        Value::Time(t) => out.push_bind_param::<Timestamp, _>(t)?,
                    }
                    out.push_sql(part);
                }
                Ok(())
            }
        }
    };
}
walk_for!(Sqlite);
walk_for!(Pg);

/// Runs a [`Prepared`] statement; returns the rows it changed.
pub fn execute(
    conn: &mut DbConn,
    sql: &'static str,
    values: &[Value<'_>],
) -> Result<usize, DbError> {
    let q = Prepared::new(sql, values);
    Ok(match conn {
        DbConn::Sqlite(c) => q.execute(c)?,
        DbConn::Pg(c) => q.execute(c)?,
    })
}

/// Loads the rows of a [`Prepared`] statement.
pub fn load<R>(
    conn: &mut DbConn,
    sql: &'static str,
    values: &[Value<'_>],
) -> Result<Vec<R>, DbError>
where
    R: diesel::QueryableByName<Sqlite> + diesel::QueryableByName<Pg> + 'static,
{
    let q = Prepared::new(sql, values);
    Ok(match conn {
        DbConn::Sqlite(c) => q.load::<R>(c)?,
        DbConn::Pg(c) => q.load::<R>(c)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{Connection, SimpleConnection};

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Nullable<Text>)]
        note: Option<String>,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[test]
    fn binds_each_kind_of_value_and_reads_the_rows_back() {
        let mut c = diesel::SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute("CREATE TABLE t (name TEXT NOT NULL, note TEXT, n INTEGER, at TIMESTAMP)")
            .unwrap();
        let cached = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = cached.clone();
        c.set_instrumentation(move |e: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::CacheQuery { sql, .. } = e {
                seen.lock().unwrap().push(sql.to_string());
            }
        });
        let mut conn = DbConn::Sqlite(c);
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(23, 0, 0)
            .unwrap();
        for (name, note, n) in [("Әсел", Some("ескерту"), 1), ("Иван", None, 2)] {
            let changed = execute(
                &mut conn,
                "INSERT INTO t (name, note, n, at) VALUES (?, ?, ?, ?)",
                &[
                    Value::Text(name),
                    Value::OptText(note),
                    Value::Int(n),
                    Value::Time(at),
                ],
            )
            .unwrap();
            assert_eq!(changed, 1);
        }
        let rows: Vec<Row> = load(
            &mut conn,
            "SELECT name, note, n FROM t WHERE at = ? AND n >= ? ORDER BY n",
            &[Value::Time(at), Value::Int(1)],
        )
        .unwrap();
        assert_eq!(
            rows,
            [
                Row {
                    name: "Әсел".into(),
                    note: Some("ескерту".into()),
                    n: 1
                },
                Row {
                    name: "Иван".into(),
                    note: None,
                    n: 2
                },
            ]
        );
        // Two inserts and one select: each text was prepared once and kept.
        assert_eq!(
            *cached.lock().unwrap(),
            [
                "INSERT INTO t (name, note, n, at) VALUES (?, ?, ?, ?)",
                "SELECT name, note, n FROM t WHERE at = ? AND n >= ? ORDER BY n",
            ]
        );
        // What it replaces: diesel keeps no `sql_query`.
        if let DbConn::Sqlite(c) = &mut conn {
            for _ in 0..2 {
                diesel::sql_query("SELECT 1").execute(c).unwrap();
            }
        }
        assert_eq!(cached.lock().unwrap().len(), 2);
    }
}
