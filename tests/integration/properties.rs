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

/// One multipart part: a field or a file, with names an attacker might send.
fn form_part() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just("name".to_string()),
        Just("text".to_string()),
        Just("email".to_string()),
        Just("attachments".to_string()),
        Just("idempotency_key".to_string()),
        "[a-z\"; ]{0,10}".prop_map(String::from),
    ];
    let file_name = proptest::option::of(prop_oneof![
        "[a-zа-я0-9]{1,8}\\.(pdf|png|jpg|txt|docx|exe|PDF)".prop_map(String::from),
        "(\\.\\./|/etc/|C:\\\\)[a-z]{1,6}(\\x00)?\\.(txt|pdf)".prop_map(String::from),
        ".{0,20}".prop_map(String::from),
    ]);
    let size = prop_oneof![0usize..64, 2000usize..2100, 3000usize..3100];
    (name, file_name, size, any::<u8>()).prop_map(|(name, file_name, size, byte)| {
        let mut part = b"--b0undary\r\n".to_vec();
        match &file_name {
            Some(f) => part.extend(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .into_bytes(),
            ),
            None => part.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").into_bytes(),
            ),
        }
        part.extend(std::iter::repeat_n(byte, size));
        part.extend(b"\r\n");
        part
    })
}

/// Forms of random parts, sometimes unterminated or with noise.
fn form_like() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(form_part(), 0..9),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(parts, closed, noise)| {
            let mut body = parts.concat();
            if closed {
                body.extend(b"--b0undary--\r\n");
            } else {
                body.extend(noise);
            }
            body
        })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The fuzz target `form_multipart`, in the normal suite.
    #[test]
    fn form_reading_never_panics_and_keeps_only_what_the_form_allows(body in form_like()) {
        let texts = baylanys::templates::Templates::new();
        let read = runtime().block_on(baylanys::web::public::parse_form(
            &texts,
            "multipart/form-data; boundary=b0undary",
            body,
            2048,
            baylanys_core::Language::Ru,
        ));
        if let Ok(form) = read {
            prop_assert!(form.files.len() <= 5);
            for f in &form.files {
                prop_assert!(!f.content.is_empty() && f.content.len() <= 2048);
                prop_assert!(!f.file_name.is_empty());
                prop_assert!(!f.file_name.chars().any(|c| c.is_control() || c == '/' || c == '\\'), "{:?}", f.file_name);
                prop_assert!(f.content_type != "application/octet-stream");
            }
            if form.oversize {
                prop_assert!(!form.errors.is_empty());
            }
        }
    }
}

#[path = "../../channels/telegram/tests/support/mod.rs"]
#[allow(clippy::all)]
mod telegram_support;

/// Update-shaped JSON: messages and callbacks with odd chats, texts and fields, or noise.
fn update_like() -> impl Strategy<Value = Vec<u8>> {
    let text = prop_oneof![
        ".{0,40}".prop_map(String::from),
        Just("/start".to_string()),
        Just("/status".to_string()),
        Just("/link 123456".to_string()),
        (4090usize..4200).prop_map(|n| "я".repeat(n)),
    ];
    let chat = prop_oneof![Just("private"), Just("group"), Just("channel"), Just("")];
    (1i64..50, text, chat, 0u8..6, proptest::collection::vec(any::<u8>(), 0..30)).prop_map(
        |(id, text, chat, shape, noise)| {
            let message = serde_json::json!({
                "message_id": id, "date": 1_778_000_000,
                "chat": {"id": 40 + id % 3, "type": chat, "first_name": "A"},
                "from": {"id": 40 + id % 3, "is_bot": false, "first_name": "A"},
                "text": text,
            });
            let update = match shape {
                0 => serde_json::json!({"update_id": id, "message": message}),
                1 => serde_json::json!({"update_id": id, "edited_message": message}),
                2 => serde_json::json!({"update_id": id, "callback_query": {
                    "id": "c", "chat_instance": "x", "data": text,
                    "from": {"id": 40 + id % 3, "is_bot": false, "first_name": "A"}}}),
                3 => serde_json::json!({"update_id": id, "message": {"message_id": id, "chat": chat}}),
                4 => serde_json::json!({"update_id": text, "message": message}),
                _ => return noise,
            };
            update.to_string().into_bytes()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The fuzz target `telegram_update`, in the normal suite: every update is handled or
    /// quarantined, and a redelivery adds nothing.
    #[test]
    fn telegram_updates_are_handled_or_quarantined_once(raws in proptest::collection::vec(update_like(), 1..6)) {
        let rt = runtime();
        let (_fake, backend, bot) = rt.block_on(async { telegram_support::setup() });
        for raw in &raws {
            let quarantined = backend.lock().quarantined.len();
            let first = rt.block_on(bot.handle_update_bytes(raw));
            prop_assert!(first.is_ok(), "{first:?}");
            if first == Ok(baylanys_telegram::Handled::Quarantined) {
                prop_assert_eq!(backend.lock().quarantined.len(), quarantined + 1);
            }
            let intakes = backend.lock().intakes.len();
            let again = rt.block_on(bot.handle_update_bytes(raw));
            prop_assert!(again.is_ok());
            prop_assert_eq!(backend.lock().intakes.len(), intakes, "a redelivery added an appeal");
        }
    }
}
