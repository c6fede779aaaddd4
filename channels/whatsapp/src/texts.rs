//! What the WhatsApp bot says, in Kazakh and Russian (R4). A sender who has not picked a
//! language gets both, Kazakh first.
//!
//! The words are the server's templates (`templates/whatsapp/<key>/<lang>.txt.j2`),
//! handed to the bot as a [`TextSource`]; [`Texts::check`] renders every one at start-up.

use std::sync::Arc;

use baylanys_core::Language;
use serde_json::{Value, json};

/// Renders one text of the catalogue in one language.
pub trait TextSource: Send + Sync {
    fn render(&self, key: &str, language: Language, args: &Value) -> Result<String, String>;
}

/// A text in both official languages.
pub struct Text {
    pub kk: String,
    pub ru: String,
}

impl Text {
    pub fn pick(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{}\n\n{}", self.kk, self.ru),
        }
    }

    /// For button titles and list rows, where two paragraphs do not fit.
    pub fn pick_short(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{} / {}", self.kk, self.ru),
        }
    }
}

#[derive(Clone)]
pub struct Texts {
    source: Arc<dyn TextSource>,
}

impl Default for Texts {
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
pub const SAMPLES: &[(&str, &str)] = &[
    ("greeting", "{}"),
    ("choose_language", "{}"),
    ("language_chosen", "{}"),
    ("menu", "{}"),
    ("button_status", "{}"),
    ("button_new_appeal", "{}"),
    ("button_help", "{}"),
    ("new_appeal_prompt", "{}"),
    ("joined", r#"{"number": "UCC-2026-000001"}"#),
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
    ("rating_button", "{}"),
    ("rating_row", r#"{"rating": 5}"#),
    ("rating_recorded", "{}"),
    ("rating_already_recorded", "{}"),
    ("rating_unknown", "{}"),
];

impl Texts {
    pub fn new(source: Arc<dyn TextSource>) -> Texts {
        Texts { source }
    }

    /// Renders every text in Kazakh and Russian; names each one that is missing or fails.
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
            Err(format!("WhatsApp texts: {}", faults.join("; ")))
        }
    }

    fn one(&self, key: &str, language: Language, args: &Value) -> String {
        match self.source.render(key, language, args) {
            Ok(t) => t.trim().to_string(),
            Err(e) => {
                tracing::error!(key, %language, error = %e, "WhatsApp text failed");
                key.to_string()
            }
        }
    }

    /// The text `key` in both languages.
    pub fn text(&self, key: &str, args: Value) -> Text {
        Text {
            kk: self.one(key, Language::Kk, &args),
            ru: self.one(key, Language::Ru, &args),
        }
    }

    /// One bilingual text (the language choice, before there is one).
    pub fn bilingual(&self, key: &str) -> String {
        self.one(key, Language::Kk, &json!({}))
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

    pub fn file_too_large(&self, name: &str, size_bytes: u64, limit_bytes: u64) -> Text {
        let mb = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
        self.text(
            "file_too_large",
            json!({ "name": name, "size": mb(size_bytes), "limit": mb(limit_bytes) }),
        )
    }
}

/// The templates of the source tree, read from disk: for tests and the bench.
#[cfg(feature = "fake-api")]
pub mod from_dir {
    use super::*;

    /// Reads `templates/whatsapp/<key>/<lang>.txt.j2` of the workspace with plain
    /// `{{ name }}` substitution (the texts use nothing else).
    pub struct DirSource {
        dir: std::path::PathBuf,
    }

    impl TextSource for DirSource {
        fn render(&self, key: &str, language: Language, args: &Value) -> Result<String, String> {
            let path = self.dir.join(key).join(format!("{language}.txt.j2"));
            let mut text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if let Value::Object(map) = args {
                for (k, v) in map {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    text = text.replace(&format!("{{{{ {k} }}}}"), &v);
                }
            }
            Ok(text)
        }
    }

    pub fn workspace_texts() -> Texts {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/whatsapp");
        let texts = Texts::new(Arc::new(DirSource { dir }));
        if let Err(e) = texts.check() {
            panic!("{e}");
        }
        texts
    }
}
