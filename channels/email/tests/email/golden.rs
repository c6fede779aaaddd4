//! Each `tests/fixtures/NAME.eml` must parse to `NAME.json`. After a deliberate change,
//! `BAYLANYS_UPDATE_GOLDEN=1 cargo test -p baylanys-email golden` rewrites the `.json`
//! files; review the diff like code.

use std::fs;
use std::path::{Path, PathBuf};

use baylanys_email::{ParseConfig, ParsedEmail, parse_at, sha256};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Limits small enough that a fixture can exceed them.
pub fn test_config() -> ParseConfig {
    ParseConfig {
        max_attachment_size: 2048,
        max_message_size: 64 * 1024,
        agency_ref_prefixes: vec!["МЮ-".into()],
        ..ParseConfig::default()
    }
}

fn received_at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T09:00:00+05:00")
        .expect("a valid literal")
        .with_timezone(&Utc)
}

/// What a fixture is judged on: everything intake uses, attachments by size and hash.
pub fn summary(raw: &[u8]) -> Value {
    match parse_at(raw, &test_config(), received_at()) {
        Err(failure) => json!({ "kind": "failure", "reason": failure.reason }),
        Ok(ParsedEmail::DeliveryStatus(dsn)) => json!({ "kind": "delivery_status", "dsn": dsn }),
        Ok(ParsedEmail::Message(m)) => {
            assert_eq!(m.content_hash, sha256(raw));
            assert_eq!(m.inbound.external_id, m.message_id);
            assert_eq!(m.inbound.suppress_ack, m.suppress_ack);
            assert_eq!(m.inbound.received_at, received_at());
            let i = &m.inbound;
            json!({
                "kind": "message",
                "message_id": m.message_id,
                "date": m.date,
                "sender": { "address": i.sender.address, "display_name": i.sender.display_name },
                "subject": i.subject,
                "language": i.language,
                "body_text": i.body_text,
                "body_html": i.body_html,
                "attachments": i.attachments.iter().map(|a| json!({
                    "file_name": a.file_name,
                    "content_type": a.content_type,
                    "size": a.content.len(),
                    "sha256": sha256(&a.content),
                })).collect::<Vec<_>>(),
                "oversize": m.oversize,
                "references": i.thread.references,
                "number_in_subject": i.thread.number_in_subject,
                "agency_refs": m.agency_refs,
                "suppress_ack": m.suppress_ack,
                "fields": i.fields,
            })
        }
    }
}

#[test]
fn every_fixture_parses_to_its_golden_json() {
    let update = std::env::var_os("BAYLANYS_UPDATE_GOLDEN").is_some();
    let mut names: Vec<PathBuf> = fs::read_dir(fixtures())
        .expect("tests/fixtures exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "fixtures went missing: {}", names.len());

    let mut failures = Vec::new();
    for eml in &names {
        let raw = fs::read(eml).expect("reading fixture");
        let got = summary(&raw);
        let golden = eml.with_extension("json");
        if update {
            let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
            fs::write(&golden, text).expect("writing golden");
            continue;
        }
        let expected: Value = match fs::read_to_string(&golden) {
            Ok(text) => serde_json::from_str(&text).expect("golden is valid JSON"),
            Err(_) => {
                failures.push(format!("{}: no golden .json beside it", eml.display()));
                continue;
            }
        };
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                eml.display(),
                expected,
                got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
