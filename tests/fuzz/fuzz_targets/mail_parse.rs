//! Raw mail as the MTA hands it over: parsing never panics, whatever the bytes; what it
//! accepts has clean text (no control characters but tab, LF, CR) and bounded references.
#![no_main]
use baylanys_email::{ParseConfig, ParsedEmail, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    if let Ok(ParsedEmail::Message(m)) = parse(raw, &ParseConfig::default()) {
        let m = m.inbound.cleaned();
        assert!(
            !m.body_text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        );
        assert!(m.thread.references.len() <= 33);
    }
});
