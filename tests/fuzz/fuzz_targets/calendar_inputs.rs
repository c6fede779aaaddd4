//! Instants typed by people and deadlines computed from them: parsing never panics, and
//! a reply deadline (R5) is never before the instant it counts from.
#![no_main]
use baylanys::calendar::{Calendar, WorkingHours, parse_instant};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = parse_instant(text) {
        let t = t.with_timezone(&chrono::Utc);
        let calendar = Calendar::builtin();
        if let Ok(due) = calendar.reply_due_at(t, &WorkingHours::default()) {
            assert!(due.due_at >= t);
        }
    }
});
