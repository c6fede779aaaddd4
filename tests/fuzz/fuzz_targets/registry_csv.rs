//! A registry CSV file from an administrator: the reader never panics; every record it
//! returns starts on a line that exists in the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(records) = baylanys::registry::csv::parse(bytes) {
        // Lines as an editor shows them: CRLF, LF or a lone CR ends one.
        let lines = 1 + String::from_utf8_lossy(bytes.as_ref()).replace("\r\n", "\n").matches(['\n', '\r']).count();
        for (line, _) in records {
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
    }
});
