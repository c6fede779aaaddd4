//! The public form's multipart body, as a browser or an attacker sends it: the reader
//! never panics; what it keeps is within the form's limits (at most five files, each
//! under the size limit, of an allowed type, with a clean name), and a file over the
//! limit is refused with an error, never cut to size.
#![no_main]
use std::sync::OnceLock;

use baylanys::templates::Templates;
use baylanys::web::public::parse_form;
use baylanys_core::Language;
use libfuzzer_sys::fuzz_target;

/// Small, so that the fuzzer reaches the size checks.
const MAX_FILE: u64 = 2048;
const TYPES: &[&str] = &[
    "application/pdf",
    "image/jpeg",
    "image/png",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
];

fn texts() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(Templates::new)
}

fuzz_target!(|body: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let read = runtime.block_on(parse_form(
        texts(),
        "multipart/form-data; boundary=b0undary",
        body.to_vec(),
        MAX_FILE,
        Language::Ru,
    ));
    let Ok(form) = read else { return };
    assert!(form.files.len() <= 5, "{} files", form.files.len());
    for f in &form.files {
        assert!(!f.content.is_empty() && f.content.len() as u64 <= MAX_FILE);
        assert!(TYPES.contains(&f.content_type.as_str()), "{}", f.content_type);
        assert!(!f.file_name.is_empty());
        assert!(
            !f.file_name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\'),
            "{:?}",
            f.file_name
        );
    }
    if form.oversize {
        assert!(!form.errors.is_empty(), "an oversize file without an error");
    }
    for field in [&form.input.name, &form.input.text, &form.input.email] {
        assert!(field.as_ref().is_none_or(|v| v.len() <= 64 * 1024));
    }
});
