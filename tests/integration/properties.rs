//! Property tests of the inputs the fuzz targets (tests/fuzz) hammer for longer: raw
//! mail, registry CSV files and typed instants never panic, and what they accept holds.

use baylanys_email::{ParseConfig, ParsedEmail, parse};
use proptest::prelude::*;

/// Mail-shaped bytes: header lines, a blank line, a body; with random noise mixed in.
fn mail_like() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        "From: [a-z]{1,8}@[a-z]{1,8}\\.kz".prop_map(String::from),
        "Subject: .{0,40}".prop_map(String::from),
        "Content-Type: (text/plain|text/html|multipart/mixed); charset=(utf-8|windows-1251|koi8-r)"
            .prop_map(String::from),
        "Content-Transfer-Encoding: (base64|quoted-printable|8bit)".prop_map(String::from),
        "(In-Reply-To|References): <[a-z0-9.@]{1,30}>( <[a-z0-9.@]{1,30}>){0,5}"
            .prop_map(String::from),
        ".{0,60}".prop_map(String::from),
    ];
    (
        proptest::collection::vec(header, 0..8),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(headers, body)| {
            let mut raw = headers.join("\r\n").into_bytes();
            raw.extend_from_slice(b"\r\n\r\n");
            raw.extend(body);
            raw
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn mail_parsing_never_panics_and_keeps_text_clean(raw in mail_like()) {
        if let Ok(ParsedEmail::Message(m)) = parse(&raw, &ParseConfig::default()) {
            let m = m.inbound.cleaned();
            prop_assert!(!m.body_text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')));
            prop_assert!(m.thread.references.len() <= 33);
        }
    }

    #[test]
    fn registry_csv_reader_never_panics_and_names_real_lines(
        cells in proptest::collection::vec("[a-zа-я0-9 ,\"\\n\\r;=+-]{0,12}", 0..40),
    ) {
        let bytes = cells.join(",").into_bytes();
        if let Ok(records) = baylanys::registry::csv::parse(&bytes) {
            // Lines as an editor shows them: CRLF, LF or a lone CR ends one.
        let lines = 1 + String::from_utf8_lossy(bytes.as_ref()).replace("\r\n", "\n").matches(['\n', '\r']).count();
            for (line, _) in records {
                prop_assert!(line >= 1 && line <= lines);
            }
        }
    }

    #[test]
    fn typed_instants_never_panic(text in "[0-9T:+\\- Z.]{0,32}") {
        if let Ok(t) = baylanys::calendar::parse_instant(&text) {
            let t = t.with_timezone(&chrono::Utc);
            let calendar = baylanys::calendar::Calendar::builtin();
            if let Ok(due) = calendar.reply_due_at(t, &baylanys::calendar::WorkingHours::default()) {
                prop_assert!(due.due_at >= t);
            }
        }
    }
}
