//! Registration numbers (R4): `UCC-2026-000042`. On SQLite a counter row per prefix and
//! year, incremented in the registering transaction (one writer: no gaps); on PostgreSQL
//! a sequence per prefix and year, so writers and instances register in parallel.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::domain::RegistrationNumber;
use super::intake::IntakeContext;
use crate::db::schema::counters;
use crate::db::{DbConn, DbError};

/// Registration numbers of one year, taken from the database ahead of use.
#[derive(Debug, Default)]
pub struct NumberPool {
    year: i32,
    values: std::collections::VecDeque<i64>,
}

impl IntakeContext<'_> {
    /// Takes `count` numbers of `year` in one statement, for a batch about to register.
    pub fn reserve_numbers(
        &self,
        conn: &mut DbConn,
        year: i32,
        count: usize,
    ) -> Result<(), DbError> {
        if count == 0 {
            return Ok(());
        }
        let values: Vec<i64> = match conn {
            DbConn::Pg(c) => {
                let seq = sequence_name(self.prefix, year);
                ensure_sequence(c, &seq, self.sequences)?;
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                    "nextval('{seq}') FROM generate_series(1, {count})"
                )))
                .load(c)?
            }
            DbConn::Sqlite(_) => {
                let name = format!("{}-{year}", self.prefix);
                let last = next_counter(conn, &name, count as i64)?;
                ((last - count as i64 + 1)..=last).collect()
            }
        };
        *self.numbers.borrow_mut() = NumberPool {
            year,
            values: values.into(),
        };
        Ok(())
    }

    pub(crate) fn take_number(
        &self,
        conn: &mut DbConn,
        year: i32,
    ) -> Result<RegistrationNumber, DbError> {
        let reserved = {
            let mut pool = self.numbers.borrow_mut();
            if pool.year == year {
                pool.values.pop_front()
            } else {
                None
            }
        };
        match reserved {
            Some(v) => Ok(RegistrationNumber::new(self.prefix, year, v)),
            None => next_number(conn, self.prefix, year, self.sequences),
        }
    }
}

/// The next registration number of the year. On SQLite a counter row, incremented in
/// the registering transaction (one writer: no gaps). On PostgreSQL a sequence per prefix
/// and year, which never blocks, so several registrars and instances work in parallel;
/// a rolled-back registration leaves a gap in the numbers, never a duplicate.
pub fn next_number(
    conn: &mut DbConn,
    prefix: &str,
    year: i32,
    known: &std::sync::Mutex<Vec<String>>,
) -> Result<RegistrationNumber, DbError> {
    let value = match conn {
        DbConn::Pg(c) => {
            let seq = sequence_name(prefix, year);
            ensure_sequence(c, &seq, known)?;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                "nextval('{seq}')"
            )))
            .get_result::<i64>(c)?
        }
        DbConn::Sqlite(_) => next_counter(conn, &format!("{prefix}-{year}"), 1)?,
    };
    Ok(RegistrationNumber::new(prefix, year, value))
}

/// `ucc_2026_seq`: the prefix is ASCII letters and digits (checked in the config).
fn sequence_name(prefix: &str, year: i32) -> String {
    let clean: String = prefix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("reg_{clean}_{year}_seq")
}

/// Makes sure the year's sequence exists. Sequences made ahead of time (see
/// [`prepare_sequences`]) are known and cost nothing; any other year (a back-dated mail)
/// creates its sequence inside this transaction. Two transactions creating the same one
/// at once: the loser waits for the winner's commit and then fails on `pg_class`'s unique
/// index; inside a savepoint that failure is undone and the winner's sequence is used.
fn ensure_sequence(
    c: &mut diesel::PgConnection,
    seq: &str,
    known: &std::sync::Mutex<Vec<String>>,
) -> Result<(), DbError> {
    let is_known = known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|k| k == seq);
    if is_known {
        return Ok(());
    }
    c.batch_execute("SAVEPOINT create_sequence")?;
    match c.batch_execute(&format!("CREATE SEQUENCE IF NOT EXISTS {seq}")) {
        Ok(()) => c.batch_execute("RELEASE SAVEPOINT create_sequence")?,
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => c.batch_execute(
            "ROLLBACK TO SAVEPOINT create_sequence; RELEASE SAVEPOINT create_sequence",
        )?,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Creates, outside any registration, the number sequences of `years` (PostgreSQL only).
pub fn prepare_sequences(
    conn: &mut DbConn,
    prefix: &str,
    years: &[i32],
    known: &std::sync::Mutex<Vec<String>>,
) -> Result<(), DbError> {
    let DbConn::Pg(c) = conn else {
        return Ok(());
    };
    for year in years {
        let seq = sequence_name(prefix, *year);
        match c.batch_execute(&format!("CREATE SEQUENCE IF NOT EXISTS {seq}")) {
            // Another process created it at the same moment: it exists, which is all we need.
            Ok(())
            | Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
        let mut k = known.lock().unwrap_or_else(|p| p.into_inner());
        if !k.contains(&seq) {
            k.push(seq);
        }
    }
    Ok(())
}

/// Adds `n` to the counter row (created at 0 when missing) and returns the new value.
fn next_counter(conn: &mut DbConn, name: &str, n: i64) -> Result<i64, DbError> {
    let bump = |conn: &mut DbConn| {
        diesel::update(counters::table.find(name))
            .set(counters::value.eq(counters::value + n))
            .returning(counters::value)
            .get_result::<i64>(conn)
            .optional()
    };
    if let Some(v) = bump(conn)? {
        return Ok(v);
    }
    diesel::insert_into(counters::table)
        .values((counters::name.eq(name), counters::value.eq(0i64)))
        .execute(conn)?;
    Ok(bump(conn)?.unwrap_or(n))
}
