//! The administrators' calendar decisions, stored: days overridden by an act, and years
//! whose movable days are confirmed. Read at start and re-read every minute.

use diesel::prelude::*;

use super::{Calendar, DayKind, DayOverride};
use crate::db::{Db, DbConn, DbError};

/// The built-in calendar with the administrators' stored overrides and confirmed years.
pub async fn load(db: &Db) -> Result<Calendar, DbError> {
    use crate::db::schema::{calendar_days, calendar_years};
    let (rows, years): (Vec<(String, String, String)>, Vec<i32>) = db
        .run(|c| {
            let days = calendar_days::table
                .select((calendar_days::day, calendar_days::kind, calendar_days::note))
                .load(c)?;
            let years = calendar_years::table.select(calendar_years::year).load(c)?;
            Ok((days, years))
        })
        .await?;
    let overrides = rows.into_iter().filter_map(|(day, kind, note)| {
        let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()?;
        let kind: DayKind = kind.parse().ok()?;
        Some(DayOverride { date, kind, note })
    });
    let mut calendar = Calendar::with_overrides(overrides);
    for year in years {
        calendar.confirm_movable_days(year);
    }
    Ok(calendar)
}

/// Records that a year's movable days (Kurban Ait, transfers) are all set, so its
/// deadlines stop carrying the "not set" warning.
pub fn confirm_year(conn: &mut DbConn, year: i32, note: &str, by: &str) -> Result<(), DbError> {
    use crate::db::schema::calendar_years;
    diesel::delete(calendar_years::table.find(year)).execute(conn)?;
    diesel::insert_into(calendar_years::table)
        .values((
            calendar_years::year.eq(year),
            calendar_years::note.eq(note),
            calendar_years::set_by.eq(by),
            calendar_years::set_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores an administrator's calendar decision (one row per date; the latest wins).
pub fn store_day(conn: &mut DbConn, o: &DayOverride, by: &str) -> Result<(), DbError> {
    use crate::db::schema::calendar_days;
    let day = o.date.format("%Y-%m-%d").to_string();
    diesel::delete(calendar_days::table.find(&day)).execute(conn)?;
    diesel::insert_into(calendar_days::table)
        .values((
            calendar_days::day.eq(&day),
            calendar_days::kind.eq(o.kind.as_str()),
            calendar_days::note.eq(&o.note),
            calendar_days::set_by.eq(by),
            calendar_days::set_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}
