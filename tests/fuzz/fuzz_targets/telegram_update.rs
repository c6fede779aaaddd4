//! A Telegram update as the Bot API (or someone posting to the webhook) sends it, handled
//! by the real bot against an in-memory backend and the local fake Bot API: handling never
//! panics; every update is either handled or quarantined whole (the bytes kept as they
//! came); the same update again adds nothing.
#![no_main]
use std::sync::{Arc, OnceLock};

use baylanys_telegram::Handled;
use baylanys_telegram::fake_api::FakeBotApi;
use libfuzzer_sys::fuzz_target;

#[path = "../../../channels/telegram/tests/support/mod.rs"]
mod support;

struct World {
    runtime: tokio::runtime::Runtime,
    _fake: FakeBotApi,
    backend: Arc<support::MemoryBackend>,
    bot: Arc<baylanys_telegram::TelegramBot>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (fake, backend, bot) = runtime.block_on(async { support::setup() });
        World {
            runtime,
            _fake: fake,
            backend,
            bot,
        }
    })
}

fuzz_target!(|raw: &[u8]| {
    let w = world();
    let (intakes, quarantined) = {
        let mut m = w.backend.lock();
        // The memory backend keeps everything; forget it now and then, or a long run
        // ends in an out-of-memory of the harness's own making.
        if m.intakes.len() + m.quarantined.len() > 10_000 {
            m.intakes.clear();
            m.quarantined.clear();
            m.tickets.clear();
            m.by_external_id.clear();
            m.asked.clear();
            w._fake.clear_calls();
        }
        (m.intakes.len(), m.quarantined.len())
    };
    let first = w.runtime.block_on(w.bot.handle_update_bytes(raw));
    let first = first.expect("the memory backend is never down");
    {
        let m = w.backend.lock();
        if first == Handled::Quarantined {
            assert_eq!(m.quarantined.len(), quarantined + 1);
            if serde_json::from_slice::<serde_json::Value>(raw).is_err() {
                // Not JSON: kept as the bytes came (lossless for UTF-8).
                if let Ok(text) = std::str::from_utf8(raw) {
                    assert_eq!(m.quarantined.last().map(|q| q.0.as_str()), Some(text));
                }
            }
        }
    }
    // A redelivery of a JSON update adds no appeal.
    if serde_json::from_slice::<serde_json::Value>(raw).is_ok() {
        let after_first = w.backend.lock().intakes.len();
        let again = w.runtime.block_on(w.bot.handle_update_bytes(raw));
        assert!(again.is_ok());
        assert_eq!(w.backend.lock().intakes.len(), after_first, "handled twice");
        assert!(after_first <= intakes + 1);
    }
});
