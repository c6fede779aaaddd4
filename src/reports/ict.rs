//! P3, the ICT report, as files its recipients read: a workbook of three sheets (ICT
//! questions by topic, ICT forwards by category, with their SLA compliance, and the
//! month's outages with their lead-time compliance), or the same as CSV, with Kazakh and
//! Russian header rows. Both are written from the figures of
//! [`super::analytics::ict_report`], so the API's JSON, the files and the mails agree.

use chrono::DateTime;
use serde_json::Value;

use super::ReportError;

const LABELS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/reports/ict.json"
));

/// The words of the report, from `templates/reports/ict.json`.
struct Labels(Value);

impl Labels {
    fn load() -> Labels {
        Labels(serde_json::from_str(LABELS).expect("templates/reports/ict.json is valid JSON"))
    }
    fn list(&self, group: &str, lang: &str) -> Vec<String> {
        self.0[group][lang]
            .as_array()
            .expect("a header list")
            .iter()
            .map(|s| s.as_str().expect("a header").to_string())
            .collect()
    }
    fn text(&self, path: &[&str]) -> String {
        let mut v = &self.0;
        for p in path {
            v = &v[*p];
        }
        v.as_str().unwrap_or(path[path.len() - 1]).to_string()
    }
}

/// One table of the report: its sheet name, the two header rows and the rows.
struct Table {
    sheet: String,
    headers: [Vec<String>; 2],
    rows: Vec<Vec<Cell>>,
}

enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }
}

fn number(v: &Value) -> Cell {
    v.as_f64().map_or(Cell::Empty, Cell::Number)
}

fn local(v: &Value) -> Cell {
    match v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    {
        Some(t) => Cell::Text(
            t.with_timezone(&chrono_tz::Asia::Almaty)
                .format("%d.%m.%Y %H:%M")
                .to_string(),
        ),
        None => Cell::Empty,
    }
}

fn hours(seconds: &Value) -> Cell {
    match seconds.as_i64() {
        Some(s) => Cell::Number((s as f64 / 360.0).round() / 10.0),
        None => Cell::Empty,
    }
}

/// The report's three tables, values in `lang` (kk or ru).
fn tables(v: &Value, lang: &str) -> Vec<Table> {
    let l = Labels::load();
    let lang = if lang == "kk" { "kk" } else { "ru" };
    let headers = |group: &str| [l.list(group, "kk"), l.list(group, "ru")];
    let lines = |section: &str, name: &dyn Fn(&str) -> String| -> Vec<Vec<Cell>> {
        v[section]
            .as_array()
            .into_iter()
            .flatten()
            .map(|line| {
                vec![
                    Cell::Text(name(line["key"].as_str().unwrap_or(""))),
                    number(&line["total"]),
                    number(&line["answered_on_time"]),
                    number(&line["late_or_overdue"]),
                    number(&line["sla_percent"]),
                ]
            })
            .collect()
    };
    let topic = |code: &str| {
        crate::tickets::domain::TOPICS
            .iter()
            .find(|(k, _, _)| *k == code)
            .map(|(_, kk, ru)| if lang == "kk" { *kk } else { *ru })
            .unwrap_or(code)
            .to_string()
    };
    let category = |code: &str| l.text(&["categories", lang, code]);
    let (yes, no) = (l.text(&["yes", lang]), l.text(&["no", lang]));
    let outages = v["outages"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let unreached: Vec<&str> = o["unreached"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["name"].as_str())
                .collect();
            vec![
                Cell::Text(o["title"].as_str().unwrap_or("").to_string()),
                Cell::Text(l.text(&["kinds", lang, o["kind"].as_str().unwrap_or("")])),
                local(&o["starts_at"]),
                local(&o["ends_at"]),
                local(&o["declared_at"]),
                hours(&o["lead"]["announced_seconds"]),
                hours(&o["lead"]["min_achieved_seconds"]),
                Cell::Text(if o["lead_breach"].as_bool() == Some(true) {
                    no.clone()
                } else {
                    yes.clone()
                }),
                o["breach_reason"]
                    .as_str()
                    .map_or(Cell::Empty, |s| Cell::Text(s.to_string())),
                Cell::Text(unreached.join(", ")),
            ]
        })
        .collect();
    vec![
        Table {
            sheet: l.text(&["sheets", "questions"]),
            headers: headers("lines"),
            rows: lines("ict_questions", &topic),
        },
        Table {
            sheet: l.text(&["sheets", "forwards"]),
            headers: headers("lines"),
            rows: lines("ict_forwards", &category),
        },
        Table {
            sheet: l.text(&["sheets", "outages"]),
            headers: headers("outages"),
            rows: outages,
        },
    ]
}

/// P3 as an XLSX workbook (a small report: written in memory).
pub fn xlsx(v: &Value, lang: &str) -> Result<Vec<u8>, ReportError> {
    use rust_xlsxwriter::{Format as Style, FormatAlign, Workbook};
    let mut book = Workbook::new();
    let head = Style::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let wrap = Style::new().set_text_wrap().set_align(FormatAlign::Top);
    for table in tables(v, lang) {
        let sheet = book.add_worksheet();
        sheet.set_name(&table.sheet)?;
        for c in 0..table.headers[0].len() {
            sheet.set_column_width(c as u16, if c == 0 { 40.0 } else { 18.0 })?;
        }
        for (r, row) in table.headers.iter().enumerate() {
            for (c, h) in row.iter().enumerate() {
                sheet.write_string_with_format(r as u32, c as u16, h, &head)?;
            }
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = r as u32 + 2;
            for (c, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Text(s) if !s.is_empty() => {
                        sheet.write_string_with_format(r, c as u16, s, &wrap)?;
                    }
                    Cell::Number(n) => {
                        sheet.write_number(r, c as u16, *n)?;
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

/// P3 as CSV (UTF-8 with a BOM): each table after a line with its sheet's name, then its
/// Kazakh and Russian header rows.
pub fn csv(v: &Value, lang: &str) -> String {
    let mut out = Vec::new();
    out.extend_from_slice("\u{feff}".as_bytes());
    for (i, table) in tables(v, lang).into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let mut line = |cells: &[String]| {
            super::monthly::csv_line(&mut out, cells).expect("writing to memory");
        };
        line(std::slice::from_ref(&table.sheet));
        for h in &table.headers {
            line(h);
        }
        for row in &table.rows {
            line(&row.iter().map(Cell::text).collect::<Vec<_>>());
        }
    }
    String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
}

/// The attachment's file name.
pub fn file_name(month: super::Month, format: super::Format) -> String {
    format!("report-P3-{month}.{}", format.extension())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "report": "P3", "month": "2026-11",
            "ict_questions": [{"key": "egov_portal", "total": 4, "answered_on_time": 3, "late_or_overdue": 1, "sla_percent": 75.0}],
            "ict_forwards": [{"key": "incident", "total": 2, "answered_on_time": 2, "late_or_overdue": 0, "sla_percent": 100.0},
                             {"key": "custom_cat", "total": 1, "answered_on_time": 0, "late_or_overdue": 0, "sla_percent": null}],
            "outages": {"outages": 1, "breaches": 1, "items": [{
                "id": "o1", "kind": "planned", "status": "active", "title": "=SUM(A1) eGov, works",
                "starts_at": "2026-11-10T04:00:00Z", "ends_at": "2026-11-10T06:00:00Z",
                "declared_at": "2026-11-09T10:00:00Z",
                "lead": {"announced_seconds": 64800, "min_achieved_seconds": 63000},
                "lead_breach": true, "breach_reason": "declared late",
                "unreached": [{"body_id": "b1", "name": "Акимат", "state": "late"}]
            }]}
        })
    }

    #[test]
    fn the_csv_has_three_tables_with_both_header_rows_and_named_values() {
        let csv = csv(&sample(), "ru");
        assert!(csv.starts_with('\u{feff}'));
        assert!(csv.contains("Сұрақтар - Вопросы\r\nСанат,"), "{csv}");
        assert!(csv.contains("\r\nКатегория,Всего,"), "{csv}");
        assert!(csv.contains("Портал eGov,4,3,1,75\r\n"), "{csv}");
        assert!(csv.contains("Инцидент,2,2,0,100\r\n"), "{csv}");
        // A category without a name keeps its code; a missing share stays empty.
        assert!(csv.contains("custom_cat,1,0,0,\r\n"), "{csv}");
        // 18 h announced, 17.5 h achieved, Almaty times (UTC+5), the breach, a formula defused.
        assert!(
            csv.contains(
                "\"'=SUM(A1) eGov, works\",Плановое,10.11.2026 09:00,10.11.2026 11:00,09.11.2026 15:00,18,17.5,Нет,declared late,Акимат\r\n"
            ),
            "{csv}"
        );
    }

    #[test]
    fn the_kazakh_values_are_kazakh() {
        let csv = csv(&sample(), "kk");
        assert!(csv.contains("eGov порталы,4"), "{csv}");
        assert!(csv.contains(",Жоспарлы,"), "{csv}");
        assert!(csv.contains(",Жоқ,"), "{csv}");
    }

    #[test]
    fn the_workbook_is_written() {
        let bytes = xlsx(&sample(), "ru").unwrap();
        assert!(bytes.starts_with(b"PK"));
    }
}
