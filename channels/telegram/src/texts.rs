//! What the bot says, in Kazakh and Russian (R4). A chat that has not picked a language
//! gets both, Kazakh first, as the state language.
//!
//! The words are not here: they are the server's templates (`templates/telegram/<key>/
//! <lang>.txt.j2`), handed to the bot as a [`TextSource`]; this module only knows which
//! texts exist and what each is given. [`Texts::check`] renders every one, so a missing
//! or broken text is found at start-up (and by the tests), not in a citizen's chat.

use std::sync::Arc;

use baylanys_core::Language;
use serde_json::{Value, json};

/// Renders one text of the catalogue in one language.
pub trait TextSource: Send + Sync {
    /// The text `key` in `language` with `args` filled in, or why it cannot be rendered.
    fn render(&self, key: &str, language: Language, args: &Value) -> Result<String, String>;
}

/// A text in both official languages; `pick` chooses by the chat's language.
pub struct Text {
    pub kk: String,
    pub ru: String,
}

impl Text {
    /// The chat's language, or both when it has none (English falls back to Russian:
    /// applicants write in an official language).
    pub fn pick(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{}\n\n{}", self.kk, self.ru),
        }
    }

    /// For short labels (buttons, callback answers) where two paragraphs do not fit.
    pub fn pick_short(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{} / {}", self.kk, self.ru),
        }
    }
}

/// The bot's catalogue of texts.
#[derive(Clone)]
pub struct Texts {
    source: Arc<dyn TextSource>,
}

impl Default for Texts {
    /// No words at all: every text comes out as its key (and [`Texts::check`] fails).
    /// The server always gives the bot its templates.
    fn default() -> Self {
        Texts::new(Arc::new(Missing))
    }
}

struct Missing;

impl TextSource for Missing {
    fn render(&self, key: &str, _: Language, _: &Value) -> Result<String, String> {
        Err(format!("no text source: `{key}` has no words"))
    }
}

/// Every text with sample arguments: what [`Texts::check`] renders.
const SAMPLES: &[(&str, &str)] = &[
    ("greeting", "{}"),
    ("choose_language", "{}"),
    ("share_phone_button", "{}"),
    ("new_appeal_button", "{}"),
    ("language_chosen", "{}"),
    ("phone_saved", "{}"),
    ("new_appeal_prompt", "{}"),
    ("joined", r#"{"number": "UCC-2026-000001"}"#),
    (
        "acknowledgement",
        r#"{"number": "UCC-2026-000001", "due": "04.12.2026 18:30"}"#,
    ),
    ("no_appeals", "{}"),
    ("appeals_header", "{}"),
    (
        "appeal_line",
        r#"{"number": "UCC-2026-000001", "status": "-", "due": "04.12.2026 18:30"}"#,
    ),
    ("status_registered", "{}"),
    ("status_in_progress", "{}"),
    ("status_forwarded", "{}"),
    ("status_answered", "{}"),
    ("status_closed", "{}"),
    ("help", "{}"),
    (
        "file_too_large",
        r#"{"name": "scan.pdf", "size": "21.0", "limit": "20.0"}"#,
    ),
    ("file_failed", r#"{"name": "scan.pdf"}"#),
    ("message_too_long", r#"{"length": 5000, "limit": 4096}"#),
    ("intake_failed", "{}"),
    ("unsupported_message", "{}"),
    ("rating_recorded", "{}"),
    ("rating_already_recorded", "{}"),
    ("rating_unknown", "{}"),
    (
        "link_done",
        r#"{"name": "Әділет министрлігі / Министерство юстиции"}"#,
    ),
    ("link_unknown", "{}"),
    ("link_usage", "{}"),
];

impl Texts {
    pub fn new(source: Arc<dyn TextSource>) -> Texts {
        Texts { source }
    }

    /// Renders every text in Kazakh and Russian with sample arguments; names each one
    /// that is missing or fails.
    pub fn check(&self) -> Result<(), String> {
        let mut faults = Vec::new();
        for (key, args) in SAMPLES {
            let args: Value = serde_json::from_str(args).expect("the samples are valid JSON");
            for language in [Language::Kk, Language::Ru] {
                match self.source.render(key, language, &args) {
                    Ok(t) if !t.trim().is_empty() => {}
                    Ok(_) => faults.push(format!("{key} ({language}): empty")),
                    Err(e) => faults.push(format!("{key} ({language}): {e}")),
                }
            }
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(format!("Telegram texts: {}", faults.join("; ")))
        }
    }

    fn one(&self, key: &str, language: Language, args: &Value) -> String {
        match self.source.render(key, language, args) {
            Ok(t) => t.trim().to_string(),
            Err(e) => {
                // `check` at start-up makes this a bug, never input: say so, show the key.
                tracing::error!(key, %language, error = %e, "Telegram text failed");
                key.to_string()
            }
        }
    }

    fn text(&self, key: &str, args: Value) -> Text {
        Text {
            kk: self.one(key, Language::Kk, &args),
            ru: self.one(key, Language::Ru, &args),
        }
    }

    /// Pressing a reply-keyboard button sends its label as text: this recognises any
    /// label the bot ever showed, the bilingual one given before a language is chosen too.
    pub fn is_new_appeal_label(&self, text: &str) -> bool {
        let Text { kk, ru } = self.new_appeal_button();
        text == kk || text == ru || text == format!("{kk} / {ru}")
    }

    pub fn greeting(&self) -> Text {
        self.text("greeting", json!({}))
    }

    /// One bilingual line: the chat has no language yet.
    pub fn choose_language(&self) -> String {
        self.one("choose_language", Language::Kk, &json!({}))
    }

    pub fn share_phone_button(&self) -> Text {
        self.text("share_phone_button", json!({}))
    }

    pub fn new_appeal_button(&self) -> Text {
        self.text("new_appeal_button", json!({}))
    }

    pub fn language_chosen(&self) -> Text {
        self.text("language_chosen", json!({}))
    }

    pub fn phone_saved(&self) -> Text {
        self.text("phone_saved", json!({}))
    }

    pub fn new_appeal_prompt(&self) -> Text {
        self.text("new_appeal_prompt", json!({}))
    }

    pub fn joined(&self, number: &str) -> Text {
        self.text("joined", json!({ "number": number }))
    }

    pub fn acknowledgement(&self, number: &str, due_at_local: &str) -> Text {
        self.text(
            "acknowledgement",
            json!({ "number": number, "due": due_at_local }),
        )
    }

    pub fn no_appeals(&self) -> Text {
        self.text("no_appeals", json!({}))
    }

    pub fn appeals_header(&self) -> Text {
        self.text("appeals_header", json!({}))
    }

    pub fn appeal_line(&self, number: &str, status: &str, due_at_local: &str) -> Text {
        let name = self.status_name(status);
        let line = |language, status: &str| {
            self.one(
                "appeal_line",
                language,
                &json!({ "number": number, "status": status, "due": due_at_local }),
            )
        };
        Text {
            kk: line(Language::Kk, &name.kk),
            ru: line(Language::Ru, &name.ru),
        }
    }

    /// Known status codes get words; anything else the server sends is shown as is.
    pub fn status_name(&self, code: &str) -> Text {
        let key = match code {
            "registered" | "new" => "status_registered",
            "in_progress" | "assigned" => "status_in_progress",
            "forwarded" => "status_forwarded",
            "answered" => "status_answered",
            "closed" => "status_closed",
            other => {
                return Text {
                    kk: other.to_string(),
                    ru: other.to_string(),
                };
            }
        };
        self.text(key, json!({}))
    }

    pub fn help(&self) -> Text {
        self.text("help", json!({}))
    }

    pub fn file_too_large(&self, name: &str, size_bytes: u64, limit_bytes: u64) -> Text {
        self.text(
            "file_too_large",
            json!({ "name": name, "size": megabytes(size_bytes), "limit": megabytes(limit_bytes) }),
        )
    }

    pub fn file_failed(&self, name: &str) -> Text {
        self.text("file_failed", json!({ "name": name }))
    }

    /// A text or caption longer than Telegram allows (only a forged or broken client sends
    /// one): kept for an operator, not registered.
    pub fn message_too_long(&self, length: usize, limit: usize) -> Text {
        self.text(
            "message_too_long",
            json!({ "length": length, "limit": limit }),
        )
    }

    pub fn intake_failed(&self) -> Text {
        self.text("intake_failed", json!({}))
    }

    pub fn unsupported_message(&self) -> Text {
        self.text("unsupported_message", json!({}))
    }

    pub fn rating_recorded(&self) -> Text {
        self.text("rating_recorded", json!({}))
    }

    pub fn rating_already_recorded(&self) -> Text {
        self.text("rating_already_recorded", json!({}))
    }

    pub fn rating_unknown(&self) -> Text {
        self.text("rating_unknown", json!({}))
    }

    pub fn link_done(&self, name: &str) -> Text {
        self.text("link_done", json!({ "name": name }))
    }

    pub fn link_unknown(&self) -> Text {
        self.text("link_unknown", json!({}))
    }

    pub fn link_usage(&self) -> Text {
        self.text("link_usage", json!({}))
    }
}

fn megabytes(bytes: u64) -> String {
    // One decimal is enough to see how far over the limit a file is.
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The templates of the source tree, read from disk: for this crate's tests and the
/// fake Bot API, which run without the server.
#[cfg(feature = "fake-api")]
pub mod from_dir {
    use super::*;

    pub struct DirSource {
        env: minijinja::Environment<'static>,
    }

    impl DirSource {
        /// `templates/telegram` of the workspace.
        pub fn workspace() -> DirSource {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
            let mut env = minijinja::Environment::new();
            env.set_loader(minijinja::path_loader(dir));
            DirSource { env }
        }
    }

    impl TextSource for DirSource {
        fn render(&self, key: &str, language: Language, args: &Value) -> Result<String, String> {
            let name = format!("telegram/{key}/{language}.txt.j2");
            self.env
                .get_template(&name)
                .and_then(|t| t.render(args))
                .map_err(|e| e.to_string())
        }
    }

    /// The workspace's texts, checked.
    pub fn workspace_texts() -> Texts {
        let texts = Texts::new(Arc::new(DirSource::workspace()));
        if let Err(e) = texts.check() {
            panic!("{e}");
        }
        texts
    }
}
