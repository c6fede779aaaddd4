//! P1: the monthly report in the form of Appendix 2 (seed 000), for the whole contact
//! center (the quality body) or one provider's part (the appeals about its services,
//! forwarded to it, or from its region). Rows are read in keyset pages and written as
//! they come (XLSX in rust_xlsxwriter's constant-memory mode, or CSV), so a month of any
//! size is written in bounded memory.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use chrono::{NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};

use super::{Format, Month, ReportError};
use crate::db::DbConn;
use crate::db::schema::{bodies, forwards, report_choices};

/// Rows read per page.
const PAGE: i64 = 2000;
/// The longest content kept in a cell (characters).
pub const MAX_CONTENT: usize = 1000;

const LABELS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/reports/monthly.json"
));

/// The report's words (headers in Kazakh and Russian, status words) from
/// `templates/reports/monthly.json`.
pub struct Labels {
    pub sheet: String,
    pub headers_kk: Vec<String>,
    pub headers_ru: Vec<String>,
    v: serde_json::Value,
}

impl Labels {
    pub fn load() -> Labels {
        let v: serde_json::Value =
            serde_json::from_str(LABELS).expect("templates/reports/monthly.json is valid JSON");
        let list = |l: &str| -> Vec<String> {
            v["headers"][l]
                .as_array()
                .expect("headers")
                .iter()
                .map(|s| s.as_str().expect("a header").to_string())
                .collect()
        };
        Labels {
            sheet: v["sheet"].as_str().unwrap_or("Report").to_string(),
            headers_kk: list("kk"),
            headers_ru: list("ru"),
            v,
        }
    }
    fn word(&self, group: &str, lang: &str, key: &str) -> String {
        self.v[group][lang][key].as_str().unwrap_or(key).to_string()
    }
    fn plain(&self, group: &str, lang: &str) -> String {
        self.v[group][lang].as_str().unwrap_or(group).to_string()
    }
}

/// Whose part: everything (the quality body), or one body's.
#[derive(Debug, Clone)]
pub enum Scope {
    All,
    Body { id: String, region: Option<String> },
}

impl Scope {
    pub fn of_body(conn: &mut DbConn, id: &str) -> Result<Scope, ReportError> {
        let region: Option<Option<String>> = bodies::table
            .find(id)
            .select(bodies::region)
            .first(conn)
            .optional()?;
        match region {
            Some(region) => Ok(Scope::Body {
                id: id.to_string(),
                // A region named as free text is matched on our region codes only.
                region: region.filter(|r| crate::tickets::domain::region_known(r)),
            }),
            None => Err(ReportError::NotFound(format!("no registry body `{id}`"))),
        }
    }
}

/// One row of Appendix 2, as written.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub cells: [String; 10],
}

#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    number: String,
    #[diesel(sql_type = Timestamp)]
    registered_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Text>)]
    region: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    topic: Option<String>,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    applicant_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    applicant: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    operator: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    bylaw_violation: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    staff_action: Option<String>,
    /// The first inbound message's text, one character past [`MAX_CONTENT`] at most.
    #[diesel(sql_type = Nullable<Text>)]
    content: Option<String>,
    /// The responsible person of a service linked to the ticket.
    #[diesel(sql_type = Nullable<Text>)]
    responsible: Option<String>,
}

/// One statement per page: the ticket, its applicant, operator and classification, and
/// (as subqueries, one index probe each) its first inbound text and a responsible person.
const SELECT: &str = "SELECT t.id, t.number, t.registered_at, t.region, t.topic, t.subject, t.status, \
     c.name AS applicant_name, t.applicant, u.name AS operator, tc.bylaw_violation, tc.staff_action, \
     (SELECT substr(m.body_text, 1, 1001) FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'in' \
      ORDER BY m.created_at LIMIT 1) AS content, \
     (SELECT bp.name FROM ticket_services ts JOIN services s ON s.id = ts.service_id \
      JOIN body_persons bp ON bp.id = s.responsible_person_id WHERE ts.ticket_id = t.id \
      ORDER BY ts.service_id LIMIT 1) AS responsible \
     FROM tickets t JOIN contacts c ON c.id = t.contact_id \
     LEFT JOIN users u ON u.id = t.assignee_id \
     LEFT JOIN ticket_classifications tc ON tc.ticket_id = t.id \
     WHERE t.registered_at >= $1 AND t.registered_at < $2 \
     AND (t.registered_at > $3 OR t.id > $4)";

fn page(
    conn: &mut DbConn,
    scope: &Scope,
    (from, to): (NaiveDateTime, NaiveDateTime),
    after: &(NaiveDateTime, String),
) -> Result<Vec<PageRow>, ReportError> {
    // The page starts at the last row read: a row-value comparison, `(registered_at,
    // id) > ($3, $4)`, is not a range start for SQLite (each page scanned the month
    // from its first row: quadratic), so the lower bound is given as a plain one.
    let from = from.max(after.0);
    let order = format!(" ORDER BY t.registered_at, t.id LIMIT {PAGE}");
    Ok(match scope {
        Scope::All => diesel::sql_query(format!("{SELECT}{order}"))
            .bind::<Timestamp, _>(from)
            .bind::<Timestamp, _>(to)
            .bind::<Timestamp, _>(after.0)
            .bind::<Text, _>(&after.1)
            .load(conn)?,
        Scope::Body { id, region } => diesel::sql_query(format!(
            "{SELECT} AND (t.id IN (SELECT ts.ticket_id FROM ticket_services ts \
             JOIN services s ON s.id = ts.service_id WHERE s.body_id = $5) \
             OR t.id IN (SELECT f.ticket_id FROM forwards f WHERE f.body_id = $5) \
             OR t.region = $6){order}"
        ))
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .bind::<Timestamp, _>(after.0)
        .bind::<Text, _>(&after.1)
        .bind::<Text, _>(id)
        .bind::<Nullable<Text>, _>(region)
        .load(conn)?,
    })
}

/// The bodies each ticket of a page was forwarded to, in order, by name in `lang`.
fn forwarded(
    conn: &mut DbConn,
    ids: &[String],
    lang: &str,
) -> Result<HashMap<String, Vec<String>>, ReportError> {
    let fw: Vec<(String, String, String)> = forwards::table
        .inner_join(bodies::table)
        .filter(forwards::ticket_id.eq_any(ids))
        .order(forwards::created_at)
        .select((forwards::ticket_id, bodies::name_kk, bodies::name_ru))
        .load(conn)?;
    let mut forwarded: HashMap<String, Vec<String>> = HashMap::new();
    for (t, kk, ru) in fw {
        forwarded
            .entry(t)
            .or_default()
            .push(if lang == "kk" { kk } else { ru });
    }
    Ok(forwarded)
}

fn clip(s: &str, n: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `dd.mm.yyyy hh:mm` in Almaty (written by hand: a format string is parsed per call).
fn local(at: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let t = Utc
        .from_utc_datetime(&at)
        .with_timezone(&chrono_tz::Asia::Almaty);
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02}",
        t.day(),
        t.month(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

fn name_in(list: &[(&str, &str, &str)], code: Option<&str>, lang: &str) -> String {
    match code {
        Some(c) => list
            .iter()
            .find(|(k, _, _)| *k == c)
            .map(|(_, kk, ru)| if lang == "kk" { *kk } else { *ru })
            .unwrap_or(c)
            .to_string(),
        None => String::new(),
    }
}

/// Calls `f` with each row of the month's report (or part), in order of arrival;
/// returns how many there were. `lang` (kk or ru) is the language of the values.
///
/// Two threads share the work: this one reads the pages and builds their rows, another
/// runs `f` (writing the file) on the previous page meanwhile; a few pages at most are
/// in between, so memory stays bounded. An error on either side stops both.
pub fn for_each_row(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    mut f: impl FnMut(&Row) -> Result<(), ReportError> + Send,
) -> Result<u64, ReportError> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(4);
        let writer = s.spawn(move || -> Result<(), ReportError> {
            for page in rx {
                for row in &page {
                    f(row)?;
                }
            }
            Ok(())
        });
        // A send fails only when the writer stopped: its error is the one to report.
        let read = build_rows(conn, month, scope, lang, |page| tx.send(page).is_ok());
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        written?;
        read
    })
}

/// Reads the month's rows page by page and hands each page to `send`, until the end or
/// until `send` says stop.
fn build_rows(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    mut send: impl FnMut(Vec<Row>) -> bool,
) -> Result<u64, ReportError> {
    let labels = Labels::load();
    // A few dozen choices: a list (a lookup allocates nothing).
    let choices: Vec<((String, String), (String, String))> = report_choices::table
        .select((
            report_choices::kind,
            report_choices::code,
            report_choices::name_kk,
            report_choices::name_ru,
        ))
        .load::<(String, String, String, String)>(conn)?
        .into_iter()
        .map(|(k, c, kk, ru)| ((k, c), (kk, ru)))
        .collect();
    let choice = |kind: &str, code: &Option<String>| -> String {
        match code {
            None => String::new(),
            Some(c) => choices
                .iter()
                .find(|((k, code), _)| k == kind && code == c)
                .map(|(_, (kk, ru))| if lang == "kk" { kk.clone() } else { ru.clone() })
                .unwrap_or_else(|| c.clone()),
        }
    };
    let status_words: HashMap<&str, String> = ["new", "open", "waiting", "answered", "closed"]
        .into_iter()
        .map(|k| (k, labels.word("status", lang, k)))
        .collect();
    let range = month.range();
    let mut after = (range.0 - chrono::Duration::seconds(1), String::new());
    let mut n: u64 = 0;
    let (forwarded_word, request_word) = (
        labels.plain("forwarded", lang),
        labels.plain("request", lang),
    );
    loop {
        let rows = page(conn, scope, range, &after)?;
        let Some(last) = rows.last() else {
            break;
        };
        after = (last.registered_at, last.id.clone());
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut forwards = forwarded(conn, &ids, lang)?;
        let full = rows.len() as i64 == PAGE;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            n += 1;
            // The name as given with this appeal, else the contact's.
            let applicant = r
                .applicant
                .as_deref()
                .and_then(applicant_name)
                .or_else(|| r.applicant_name.clone())
                .unwrap_or_default();
            let mut measures = match status_words.get(r.status.as_str()) {
                Some(w) => w.clone(),
                None => labels.word("status", lang, &r.status),
            };
            // (Most pages have no forwards: no hashing then.)
            if let Some(list) = (!forwards.is_empty())
                .then(|| forwards.remove(&r.id))
                .flatten()
            {
                measures.push_str(&format!("; {forwarded_word}: {}", list.join(", ")));
            }
            measures.push_str(&format!("; {request_word} {}", r.number));
            let content = clip(r.content.as_deref().unwrap_or(&r.subject), MAX_CONTENT);
            out.push(Row {
                cells: [
                    n.to_string(),
                    local(r.registered_at),
                    r.responsible.or(r.operator).unwrap_or_default(),
                    name_in(crate::tickets::domain::REGIONS, r.region.as_deref(), lang),
                    applicant,
                    name_in(crate::tickets::domain::TOPICS, r.topic.as_deref(), lang),
                    content,
                    measures,
                    choice("bylaw_violation", &r.bylaw_violation),
                    choice("staff_action", &r.staff_action),
                ],
            });
        }
        if !send(out) || !full {
            break;
        }
    }
    Ok(n)
}

/// The applicant's name in the JSON kept with an appeal, if it has a non-blank one.
fn applicant_name(json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Given<'a> {
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Given>(json)
        .ok()?
        .name
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.into_owned())
}

/// A cell a spreadsheet would run as a formula gets a leading apostrophe (CSV only:
/// XLSX cells are written as text).
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(crate) fn csv_line(out: &mut dyn Write, cells: &[String]) -> std::io::Result<()> {
    let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
    out.write_all(line.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

/// Writes the report as CSV (UTF-8 with a BOM, so spreadsheets read the Cyrillic; the
/// Kazakh then the Russian header row).
pub fn write_csv(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    out: &mut (dyn Write + Send),
) -> Result<u64, ReportError> {
    let labels = Labels::load();
    out.write_all("\u{feff}".as_bytes())?;
    csv_line(out, &labels.headers_kk)?;
    csv_line(out, &labels.headers_ru)?;
    for_each_row(conn, month, scope, lang, |row| {
        Ok(csv_line(out, &row.cells)?)
    })
}

/// Writes the report as XLSX to `path` (constant-memory mode: rows go to a temporary
/// file as they come, strings inline).
pub fn write_xlsx(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    path: &Path,
) -> Result<u64, ReportError> {
    use rust_xlsxwriter::{Format as Style, FormatAlign, Workbook};
    let labels = Labels::load();
    let mut book = Workbook::new();
    // Most of the time goes to deflating the sheet's XML: the fastest level (files
    // about 1.5 times larger), and ZIP64 so a month of any size fits.
    book.set_zip_compression_level(1);
    book.use_zip_large_file(true);
    let head = Style::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let wrap = Style::new().set_text_wrap().set_align(FormatAlign::Top);
    let n;
    {
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name(&labels.sheet)?;
        for (col, width) in [6.0, 18.0, 24.0, 20.0, 26.0, 18.0, 60.0, 36.0, 30.0, 30.0]
            .into_iter()
            .enumerate()
        {
            sheet.set_column_width(col as u16, width)?;
        }
        for (r, headers) in [&labels.headers_kk, &labels.headers_ru]
            .into_iter()
            .enumerate()
        {
            for (c, h) in headers.iter().enumerate() {
                sheet.write_string_with_format(r as u32, c as u16, h, &head)?;
            }
        }
        let mut r: u32 = 2;
        n = for_each_row(conn, month, scope, lang, |row| {
            for (c, v) in row.cells.iter().enumerate() {
                if c == 0 {
                    sheet.write_number(r, 0, v.parse::<f64>().unwrap_or(0.0))?;
                } else if !v.is_empty() {
                    if c == 6 || c == 7 {
                        sheet.write_string_with_format(r, c as u16, v, &wrap)?;
                    } else {
                        sheet.write_string(r, c as u16, v)?;
                    }
                }
            }
            r += 1;
            Ok(())
        })?;
    }
    if matches!(scope, Scope::All) {
        calls_sheet(conn, &mut book, month, lang, &head)?;
    }
    book.save(path)?;
    Ok(n)
}

/// The whole center's copy also carries the month's R3 call figures (seed 001 §7: the
/// average wait within 30 seconds): the total, then by day and by queue.
fn calls_sheet(
    conn: &mut DbConn,
    book: &mut rust_xlsxwriter::Workbook,
    month: Month,
    lang: &str,
    head: &rust_xlsxwriter::Format,
) -> Result<(), ReportError> {
    use crate::calls::stats::{Figures, GroupBy, figures};
    let labels = Labels::load();
    let words = &labels.v["calls"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let (first, last) = (
        month.first_day(),
        month.next().first_day() - chrono::Duration::days(1),
    );
    let (total, days) = figures(conn, first, last, Some(GroupBy::Day))?;
    let (_, queues) = figures(conn, first, last, Some(GroupBy::Queue))?;
    let sheet = book.add_worksheet();
    sheet.set_name(text(&words["sheet"]))?;
    sheet.set_column_width(0, 40.0)?;
    for c in 1..10 {
        sheet.set_column_width(c, 16.0)?;
    }
    for (r, l) in ["kk", "ru"].into_iter().enumerate() {
        for (c, h) in words["headers"][l]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            sheet.write_string_with_format(r as u32, c as u16, text(h), head)?;
        }
    }
    fn line(
        sheet: &mut rust_xlsxwriter::Worksheet,
        r: &mut u32,
        key: &str,
        f: &Figures,
    ) -> Result<(), ReportError> {
        sheet.write_string(*r, 0, key)?;
        let counts = [
            f.calls,
            f.offered,
            f.answered,
            f.abandoned,
            f.busy_or_failed,
            f.answered_within_30s,
        ];
        for (c, v) in counts.into_iter().enumerate() {
            sheet.write_number(*r, c as u16 + 1, v as f64)?;
        }
        let percent = |x: Option<f64>| x.map(|x| (x * 1000.0).round() / 10.0);
        for (c, v) in [
            f.average_wait_secs.map(|w| (w * 10.0).round() / 10.0),
            percent(f.answered_within_30s_share),
            percent(f.abandoned_share),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(v) = v {
                sheet.write_number(*r, c as u16 + 7, v)?;
            }
        }
        *r += 1;
        Ok(())
    }
    let mut r: u32 = 2;
    line(sheet, &mut r, &text(&words["total"][lang]), &total)?;
    for (title, groups) in [("by_day", &days), ("by_queue", &queues)] {
        r += 1;
        sheet.write_string_with_format(r, 0, text(&words[title][lang]), head)?;
        r += 1;
        for g in groups {
            line(sheet, &mut r, g.key.as_deref().unwrap_or("-"), g)?;
        }
    }
    Ok(())
}

/// Writes the report in `format` to `path`; returns the number of rows.
pub fn write_file(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    format: Format,
    path: &Path,
) -> Result<u64, ReportError> {
    match format {
        Format::Xlsx => write_xlsx(conn, month, scope, lang, path),
        Format::Csv => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
            let n = write_csv(conn, month, scope, lang, &mut f)?;
            f.flush()?;
            Ok(n)
        }
    }
}

/// The report as bytes (e-mail attachments and API downloads), through a temporary file.
pub fn to_bytes(
    conn: &mut DbConn,
    month: Month,
    scope: &Scope,
    lang: &str,
    format: Format,
) -> Result<(Vec<u8>, u64), ReportError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(format!("report.{}", format.extension()));
    let n = write_file(conn, month, scope, lang, format, &path)?;
    Ok((std::fs::read(&path)?, n))
}

/// The attachment's file name: `report-2026-11.xlsx`, or with the body's id.
pub fn file_name(month: Month, scope: &Scope, format: Format) -> String {
    match scope {
        Scope::All => format!("report-P1-{month}.{}", format.extension()),
        Scope::Body { id, .. } => format!(
            "report-P1-{month}-{}.{}",
            &id[..id.len().min(8)],
            format.extension()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("Астана"), "Астана");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+7 701"), "'+7 701");
    }

    #[test]
    fn the_labels_have_ten_headers_in_each_language() {
        let l = Labels::load();
        assert_eq!(l.headers_kk.len(), 10);
        assert_eq!(l.headers_ru.len(), 10);
        assert!(l.headers_kk[8].contains("бұзылуы"));
    }

    #[test]
    fn long_content_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("қазақ", 3), "қаз…");
        assert_eq!(clip(" ab ", 3), "ab");
    }
}
