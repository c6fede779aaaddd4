//! Asterisk's standard CSV call records (`Master.csv`): accountcode, src, dst, dcontext,
//! clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
//! disposition, amaflags, uniqueid, userfield. One file is imported in one transaction:
//! a bad line is reported by its number and nothing of the file is kept. Times are
//! Almaty local time (`2026-12-03 10:15:00`, as Asterisk writes them); ANSWERED ->
//! answered, NO ANSWER -> abandoned, BUSY -> busy, FAILED and CONGESTION -> failed;
//! wait = answer - start. `uniqueid` is the call id (a call already known is left as
//! it is, so importing a file twice changes nothing); `dcontext` is the queue;
//! `userfield`, when set, is the operator's login.

use std::collections::HashSet;
use std::io::BufRead;

use chrono::{NaiveDateTime, TimeZone};
use diesel::prelude::*;
use serde::Serialize;

use super::{CallRow, local_slot, normalise_number, wait_of};
use crate::db::schema::{calls, users};
use crate::db::{DbConn, DbError, new_id};

/// The longest line taken (Asterisk's lines are a few hundred bytes).
pub const MAX_LINE: usize = 4096;
/// Bad lines named in one refusal.
const MAX_REPORTED: usize = 20;
/// Rows per INSERT (19 columns: under both engines' parameter limits).
const CHUNK: usize = 1000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} bad line(s); nothing was imported", .0.len())]
    BadLines(Vec<BadLine>),
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        ImportError::Db(DbError::Query(e))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = CallsImported)]
pub struct Imported {
    pub lines: usize,
    pub imported: usize,
    pub already_known: usize,
}

/// Splits one CSV line (quoted fields, `""` inside quotes).
pub fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::with_capacity(18);
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut cur));
            at_start = true;
        } else if c == '"' {
            return Err(format!(
                "a quote inside an unquoted field (field {})",
                fields.len() + 1
            ));
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    fields.push(cur);
    Ok(fields)
}

fn local_time(s: &str) -> Result<Option<NaiveDateTime>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| format!("`{s}` is not a time like 2026-12-03 10:15:00"))?;
    let year = chrono::Datelike::year(&naive);
    if !(2000..=2100).contains(&year) {
        return Err(format!("`{s}` is outside the years 2000-2100"));
    }
    let utc = chrono_tz::Asia::Almaty
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| format!("`{s}` does not exist in Almaty time"))?
        .naive_utc();
    Ok(Some(utc))
}

fn disposition(s: &str) -> Result<&'static str, String> {
    match s.trim() {
        "ANSWERED" => Ok("answered"),
        "NO ANSWER" => Ok("abandoned"),
        "BUSY" => Ok("busy"),
        "FAILED" | "CONGESTION" => Ok("failed"),
        other => Err(format!(
            "disposition `{other}` is not ANSWERED, NO ANSWER, BUSY, FAILED or CONGESTION"
        )),
    }
}

/// One line as a call (or why not).
fn call_of(
    fields: &[String],
    operators: &HashSet<String>,
    now: NaiveDateTime,
) -> Result<CallRow, String> {
    if fields.len() != 18 {
        return Err(format!("{} fields, Master.csv has 18", fields.len()));
    }
    let f = |i: usize| baylanys_core::clean_text(fields[i].trim()).into_owned();
    let call_id = f(16);
    if call_id.is_empty() || call_id.len() > 128 {
        return Err("uniqueid (field 17) must be 1-128 characters".into());
    }
    let caller = f(1);
    if caller.is_empty() || caller.len() > 128 {
        return Err("src (field 2) must be 1-128 characters".into());
    }
    let start = local_time(&fields[9])?.ok_or("start (field 10) is empty")?;
    let answer = local_time(&fields[10])?;
    let end = local_time(&fields[11])?.ok_or("end (field 12) is empty")?;
    let disposition = disposition(&fields[14])?;
    // Asterisk leaves `answer` empty or equal to `start`... for unanswered calls; only an
    // answered call has an answer time.
    let answer = if disposition == "answered" {
        Some(answer.ok_or("an ANSWERED call has an empty answer (field 11)")?)
    } else {
        None
    };
    if end < start || answer.is_some_and(|a| a < start || end < a) {
        return Err("the times are out of order: start <= answer <= end".into());
    }
    let operator = Some(f(17)).filter(|s| !s.is_empty());
    if let Some(op) = &operator
        && !operators.contains(op)
    {
        return Err(format!(
            "userfield (field 18) `{op}` is not a Baylanys login"
        ));
    }
    let queue = Some(f(3))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "general".into());
    let (local_day, local_hour) = local_slot(start);
    Ok(CallRow {
        id: new_id(),
        call_id,
        caller: normalise_number(&caller),
        called: normalise_number(&f(2)),
        queue: queue.chars().take(128).collect(),
        arrived_at: start,
        answered_at: answer,
        ended_at: Some(end),
        operator,
        disposition: Some(disposition.into()),
        wait_secs: wait_of(start, answer, Some(end), Some(disposition)),
        local_day,
        local_hour,
        survey: None,
        ticket_id: None,
        source: "csv".into(),
        events: "ended".into(),
        created_at: now,
        updated_at: now,
    })
}

fn insert_chunk(conn: &mut DbConn, rows: &[CallRow]) -> Result<usize, DbError> {
    Ok(match conn {
        DbConn::Pg(c) => diesel::insert_into(calls::table)
            .values(rows)
            .on_conflict(calls::call_id)
            .do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(calls::table)
            .values(rows)
            .on_conflict(calls::call_id)
            .do_nothing()
            .execute(c)?,
    })
}

/// Imports a Master.csv in the caller's write transaction; the caller rolls back on
/// `Err`. A first line naming the columns (`accountcode,src,...`) is skipped.
pub fn import(
    conn: &mut DbConn,
    input: impl BufRead,
    now: NaiveDateTime,
) -> Result<Imported, ImportError> {
    let operators: HashSet<String> = users::table
        .select(users::login)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut bad = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut seen_in_file = HashSet::new();
    let (mut lines, mut imported, mut offered) = (0usize, 0usize, 0usize);
    let mut reader = input;
    use std::io::Read as _;
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        // Read at most one line past the limit: an oversized line is not held whole.
        let got = std::io::Read::by_ref(&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| ImportError::Read(e.to_string()))?;
        if got == 0 {
            break;
        }
        n += 1;
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            bad.push(BadLine {
                line: n,
                message: format!("longer than {MAX_LINE} bytes"),
            });
            // Skip the rest of the line.
            loop {
                buf.clear();
                let more = std::io::Read::by_ref(&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| ImportError::Read(e.to_string()))?;
                if more == 0 || buf.last() == Some(&b'\n') {
                    break;
                }
            }
            if bad.len() >= MAX_REPORTED {
                break;
            }
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            bad.push(BadLine {
                line: n,
                message: "not UTF-8 text".into(),
            });
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if n == 1
            && text
                .trim_start_matches('\u{feff}')
                .starts_with("accountcode")
        {
            continue;
        }
        lines += 1;
        let row = split_line(text).and_then(|f| call_of(&f, &operators, now));
        match row {
            Ok(row) => {
                if !seen_in_file.insert(row.call_id.clone()) {
                    bad.push(BadLine {
                        line: n,
                        message: format!("uniqueid `{}` appears twice in the file", row.call_id),
                    });
                } else if bad.is_empty() {
                    chunk.push(row);
                }
            }
            Err(message) => bad.push(BadLine { line: n, message }),
        }
        if bad.len() >= MAX_REPORTED {
            break;
        }
        if chunk.len() == CHUNK {
            offered += chunk.len();
            imported += insert_chunk(conn, &chunk)?;
            chunk.clear();
        }
    }
    if !bad.is_empty() {
        return Err(ImportError::BadLines(bad));
    }
    if !chunk.is_empty() {
        offered += chunk.len();
        imported += insert_chunk(conn, &chunk)?;
    }
    Ok(Imported {
        lines,
        imported,
        already_known: offered - imported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_split() {
        assert_eq!(
            split_line(r#""","+77012345678","1414","general","""Aigul"" <+7701>",x,,"Queue","","2026-12-03 10:00:00""#)
                .unwrap(),
            vec!["", "+77012345678", "1414", "general", "\"Aigul\" <+7701>", "x", "", "Queue", "", "2026-12-03 10:00:00"]
        );
        assert!(split_line(r#""open"#).is_err());
    }

    #[test]
    fn a_line_becomes_a_call_with_the_mapped_disposition_and_wait() {
        let line = r#""","87012345678","1414","general","","SIP/t-1","SIP/op-2","Queue","q","2026-12-03 10:00:00","2026-12-03 10:00:25","2026-12-03 10:05:00","300","275","ANSWERED","DOCUMENTATION","1700000000.1","aliya""#;
        let ops: HashSet<String> = ["aliya".to_string()].into();
        let c = call_of(&split_line(line).unwrap(), &ops, crate::db::now()).unwrap();
        assert_eq!(c.caller, "+77012345678");
        assert_eq!(c.wait_secs, Some(25));
        assert_eq!(c.disposition.as_deref(), Some("answered"));
        assert_eq!(c.local_day, "2026-12-03");
        assert_eq!(c.local_hour, 10);
        let no = line
            .replace("ANSWERED", "NO ANSWER")
            .replace("\"2026-12-03 10:00:25\"", "\"\"")
            .replace("\"aliya\"", "\"\"");
        let c = call_of(&split_line(&no).unwrap(), &ops, crate::db::now()).unwrap();
        assert_eq!(c.disposition.as_deref(), Some("abandoned"));
        assert_eq!(c.wait_secs, Some(300));
        let cong = no.replace("NO ANSWER", "CONGESTION");
        assert_eq!(
            call_of(&split_line(&cong).unwrap(), &ops, crate::db::now())
                .unwrap()
                .disposition
                .as_deref(),
            Some("failed")
        );
        let unknown = line.replace("\"aliya\"", "\"ghost\"");
        assert!(
            call_of(&split_line(&unknown).unwrap(), &ops, crate::db::now())
                .unwrap_err()
                .contains("ghost")
        );
    }
}
