//! Every sentence a citizen, operator or agency reads, from minijinja templates in
//! `templates/`, embedded in the binary at build time (see `build.rs`).
//!
//! Messages are laid out by message, then language, then part:
//! `templates/<message>/<lang>/subject.txt.j2`, `.../body.txt.j2`, and a shared
//! `templates/<message>/body.html.j2` where the message also goes out as HTML. The
//! Telegram bot's texts are `templates/telegram/<key>/<lang>.txt.j2`, given to the bot as
//! its [`baylanys_telegram::texts::TextSource`]. Web pages are `templates/web/*.html`
//! with their UI strings in `templates/web/<lang>.json`. A template that fails to render
//! is an error ([`TemplateError`]), and a test renders every one in every language.

use baylanys_core::{Channel, Language};
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};

use crate::calendar::Deadline;
use crate::tickets::Rendered;

const STRINGS_KK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/web/kk.json"
));
const STRINGS_RU: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/web/ru.json"
));
/// The operator console's UI strings (`templates/console/<lang>.json`): staff read
/// Kazakh, Russian or English. Each portal keeps its own strings beside them
/// (`templates/console/<portal>/<lang>.json`); all are one map per language, so their
/// keys are prefixed with the portal's name.
macro_rules! console_strings {
    ($($section:literal),*) => {
        [
            ("kk", &[include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/kk.json")),
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/", $section, "/kk.json")),)*]),
            ("ru", &[include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/ru.json")),
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/", $section, "/ru.json")),)*]),
            ("en", &[include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/en.json")),
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/console/", $section, "/en.json")),)*]),
        ]
    };
}
const CONSOLE_STRINGS: [(&str, &[&str]); 3] =
    console_strings!("agency", "ici", "dashboard", "admin");

/// Short messages of the form and the appeal API (field errors and the like), one
/// catalogue per language; each value is a template.
const FORM_MESSAGES: [(&str, &str); 3] = [
    (
        "kk",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/form/kk.json"
        )),
    ),
    (
        "ru",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/form/ru.json"
        )),
    ),
    (
        "en",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/templates/form/en.json"
        )),
    ),
];

/// A template that is missing or failed: a fault of ours, never of the input.
#[derive(Debug, Clone, thiserror::Error)]
#[error("template {name}: {detail}")]
pub struct TemplateError {
    pub name: String,
    pub detail: String,
}

pub struct Templates {
    env: Environment<'static>,
    strings_kk: Value,
    strings_ru: Value,
    /// The console's strings: kk, ru, en.
    console_strings: [Value; 3],
}

/// `12.03.2025 18:30` in Asia/Almaty.
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Almaty)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

/// Applicants get Kazakh or Russian (R4); English falls back to Russian for them.
fn applicant_language(l: Language) -> &'static str {
    match l {
        Language::Kk => "kk",
        _ => "ru",
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        // A name the template uses but the caller did not give is an error, not a blank.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        minijinja_embed::load_templates!(&mut env);
        let mut keys: Option<Vec<String>> = None;
        for (lang, source) in FORM_MESSAGES {
            let map: std::collections::BTreeMap<String, String> = serde_json::from_str(source)
                .unwrap_or_else(|e| panic!("templates/form/{lang}.json is invalid: {e}"));
            let these: Vec<String> = map.keys().cloned().collect();
            match &keys {
                Some(k) if *k != these => {
                    panic!("templates/form/{lang}.json does not have the same keys as kk.json")
                }
                _ => keys = Some(these),
            }
            for (key, text) in map {
                env.add_template_owned(format!("form/{lang}/{key}"), text)
                    .unwrap_or_else(|e| panic!("templates/form/{lang}.json `{key}`: {e}"));
            }
        }
        let parse = |s: &str, which: &str| -> Value {
            let v: serde_json::Value = serde_json::from_str(s)
                .unwrap_or_else(|e| panic!("templates/web/{which}.json is invalid: {e}"));
            Value::from_serialize(&v)
        };
        let mut console_keys: Option<Vec<String>> = None;
        let console_strings = CONSOLE_STRINGS.map(|(lang, sources)| {
            let mut map = std::collections::BTreeMap::<String, serde_json::Value>::new();
            for source in sources {
                let part: std::collections::BTreeMap<String, serde_json::Value> =
                    serde_json::from_str(source).unwrap_or_else(|e| {
                        panic!("templates/console: a {lang}.json is invalid: {e}")
                    });
                for (key, value) in part {
                    if map.insert(key.clone(), value).is_some() {
                        panic!("templates/console: `{key}` is in two {lang}.json files")
                    }
                }
            }
            let these: Vec<String> = map.keys().cloned().collect();
            match &console_keys {
                Some(k) if *k != these => {
                    panic!(
                        "templates/console: the {lang}.json files do not have the same keys as kk"
                    )
                }
                _ => console_keys = Some(these),
            }
            Value::from_serialize(&map)
        });
        Templates {
            env,
            strings_kk: parse(STRINGS_KK, "kk"),
            strings_ru: parse(STRINGS_RU, "ru"),
            console_strings,
        }
    }

    /// The names of every embedded template.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .env
            .templates()
            .map(|(name, _)| name.to_string())
            .collect();
        names.sort();
        names
    }

    fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    fn render(&self, name: &str, ctx: &Value) -> Result<String, TemplateError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map(|s| s.trim().to_string())
            .map_err(|e| TemplateError {
                name: name.to_string(),
                detail: e.to_string(),
            })
    }

    /// One message in one language: its subject (when it has one), text and HTML.
    pub fn message(
        &self,
        message: &str,
        language: Language,
        ctx: Value,
    ) -> Result<Rendered, TemplateError> {
        let l = applicant_language(language);
        let subject_name = format!("{message}/{l}/subject.txt.j2");
        let subject = if self.has(&subject_name) {
            Some(self.render(&subject_name, &ctx)?)
        } else {
            None
        };
        let text = self.render(&format!("{message}/{l}/body.txt.j2"), &ctx)?;
        Ok(Rendered {
            subject,
            text,
            html: None,
        })
    }

    pub fn acknowledgement(
        &self,
        language: Language,
        number: &str,
        registered_at: DateTime<Utc>,
        deadline: &Deadline,
        channel: Channel,
        status_url: Option<&str>,
    ) -> Result<Rendered, TemplateError> {
        let lang = applicant_language(language);
        let ctx = context! {
            number, lang, channel => channel.as_str(), status_url,
            registered => local_time(registered_at),
            due => local_time(deadline.due_at),
        };
        let mut rendered = self.message("ack", language, ctx)?;
        if channel == Channel::Email {
            rendered.html = Some(self.html_of(lang, &rendered, status_url)?);
        }
        Ok(rendered)
    }

    /// The acknowledgement's text as HTML paragraphs, the status link as a link.
    fn html_of(
        &self,
        lang: &str,
        rendered: &Rendered,
        status_url: Option<&str>,
    ) -> Result<String, TemplateError> {
        let paragraphs: Vec<Vec<&str>> = rendered
            .text
            .split("\n\n")
            .map(|p| {
                p.lines()
                    .filter(|l| {
                        !l.trim().is_empty() && Some(l.trim()) != status_url.map(|u| u.trim())
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|p| !p.is_empty())
            .collect();
        self.render(
            "ack/body.html.j2",
            &context! { lang, subject => rendered.subject, paragraphs, status_url },
        )
    }

    /// An operator's answer as it goes out on `channel`: the footer says what the
    /// applicant can do there (reply to the mail, or use the form on the status page).
    pub fn reply(
        &self,
        language: Language,
        number: &str,
        text: &str,
        html: Option<&str>,
        channel: Channel,
    ) -> Result<Rendered, TemplateError> {
        let channel = channel.as_str();
        let mut rendered = self.message("reply", language, context! { number, text, channel })?;
        rendered.html = html.map(str::to_string);
        Ok(rendered)
    }

    pub fn transfer_notice(
        &self,
        language: Language,
        number: &str,
        queue: &str,
    ) -> Result<Rendered, TemplateError> {
        self.message("transfer", language, context! { number, queue })
    }

    pub fn rating_request(
        &self,
        language: Language,
        number: &str,
    ) -> Result<Rendered, TemplateError> {
        self.message("rating", language, context! { number })
    }

    /// An internal notice to staff (`staff/<kind>/<lang>/{subject,body}.txt.j2`); staff
    /// read Kazakh, Russian or English, as configured.
    pub fn staff_notice(
        &self,
        kind: &str,
        language: Language,
        ctx: Value,
    ) -> Result<Rendered, TemplateError> {
        let l = language.as_str();
        Ok(Rendered {
            subject: Some(self.render(&format!("staff/{kind}/{l}/subject.txt.j2"), &ctx)?),
            text: self.render(&format!("staff/{kind}/{l}/body.txt.j2"), &ctx)?,
            html: None,
        })
    }

    /// A web page in the visitor's language; `t` in the template holds the UI strings.
    pub fn page(
        &self,
        name: &str,
        language: Language,
        ctx: Value,
    ) -> Result<String, minijinja::Error> {
        let t = if language == Language::Kk {
            &self.strings_kk
        } else {
            &self.strings_ru
        };
        let full = context! { t => t, lang => applicant_language(language), ..ctx };
        self.env.get_template(name)?.render(full)
    }

    /// A page of the operator console (`templates/console/*.html`) in the staff member's
    /// language: `t` holds the console's strings, `lang` the language code.
    pub fn console_page(
        &self,
        name: &str,
        language: Language,
        ctx: Value,
    ) -> Result<String, minijinja::Error> {
        let t = self.console_strings(language);
        let full = context! { t => t, lang => language.as_str(), ..ctx };
        self.env.get_template(name)?.render(full)
    }

    /// The console's strings in one language.
    pub fn console_strings(&self, language: Language) -> &Value {
        match language {
            Language::Kk => &self.console_strings[0],
            Language::Ru => &self.console_strings[1],
            Language::En => &self.console_strings[2],
        }
    }

    /// One console string, for text built outside a template (a flash message).
    pub fn console_text(&self, language: Language, key: &str) -> String {
        self.console_strings(language)
            .get_attr(key)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| key.to_string())
    }

    /// A console string that is a template itself (`{{ remaining }} tries left`),
    /// rendered with `ctx`.
    pub fn console_format(&self, language: Language, key: &str, ctx: Value) -> String {
        let text = self.console_text(language, key);
        self.env.render_str(&text, ctx).unwrap_or_else(|e| {
            tracing::error!(error = %e, key, "console string failed");
            text
        })
    }

    /// A short message of the form or the appeal API (`templates/form/<lang>.json`).
    pub fn form_message(&self, language: Language, key: &str, ctx: Value) -> String {
        let name = format!("form/{}/{key}", language.as_str());
        match self.render(&name, &ctx) {
            Ok(s) => s,
            Err(e) => {
                // Every key is rendered in every language by a test: a bug, not input.
                tracing::error!(error = %e, "form message failed");
                key.to_string()
            }
        }
    }

    /// One of the Telegram bot's texts (`templates/telegram/<key>/<lang>.txt.j2`).
    pub fn telegram_text(
        &self,
        key: &str,
        language: Language,
        args: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let name = format!("telegram/{key}/{}.txt.j2", applicant_language(language));
        self.render(&name, &Value::from_serialize(args))
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// One text of a chat channel's catalogue (`templates/<channel>/<key>/<lang>.txt.j2`).
    pub fn channel_text(
        &self,
        channel: &str,
        key: &str,
        language: Language,
        args: &serde_json::Value,
    ) -> Result<String, TemplateError> {
        let name = format!("{channel}/{key}/{}.txt.j2", applicant_language(language));
        self.render(&name, &Value::from_serialize(args))
    }
}

/// The WhatsApp bot's catalogue over the embedded templates.
pub struct WhatsAppTexts(pub std::sync::Arc<Templates>);

impl baylanys_whatsapp::texts::TextSource for WhatsAppTexts {
    fn render(
        &self,
        key: &str,
        language: Language,
        args: &serde_json::Value,
    ) -> Result<String, String> {
        self.0
            .channel_text("whatsapp", key, language, args)
            .map_err(|e| e.to_string())
    }
}

/// The bot's catalogue over the embedded templates.
pub struct TelegramTexts(pub std::sync::Arc<Templates>);

impl baylanys_telegram::texts::TextSource for TelegramTexts {
    fn render(
        &self,
        key: &str,
        language: Language,
        args: &serde_json::Value,
    ) -> Result<String, String> {
        self.0
            .telegram_text(key, language, args)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline() -> Deadline {
        let cal = crate::calendar::Calendar::builtin();
        let hours = crate::config::parse_working_hours("09:00-18:30").expect("valid hours");
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+05:00")
            .expect("a valid literal")
            .with_timezone(&Utc);
        cal.reply_due(at, &hours).expect("a deadline")
    }

    /// Every message in every language, with sample data: none fails, none is empty.
    #[test]
    fn every_message_renders_in_kazakh_and_russian() {
        let t = Templates::new();
        let d = deadline();
        for l in [Language::Kk, Language::Ru] {
            for channel in [Channel::Email, Channel::Telegram, Channel::WebForm] {
                let ack = t
                    .acknowledgement(
                        l,
                        "UCC-2026-000001",
                        d.due_at,
                        &d,
                        channel,
                        Some("http://x/s"),
                    )
                    .expect("ack renders");
                assert!(ack.text.contains("UCC-2026-000001"), "{l} {channel}");
                assert_eq!(ack.html.is_some(), channel == Channel::Email);
            }
            let reply = t
                .reply(l, "UCC-2026-000001", "Ответ", None, Channel::Email)
                .expect("reply");
            assert!(reply.text.contains("Ответ") && reply.subject.is_some());
            // On the status page there is nothing to "reply to": the footer points at its form.
            let web = t
                .reply(l, "UCC-2026-000001", "Ответ", None, Channel::WebForm)
                .expect("reply");
            let footer = |r: &Rendered| r.text.lines().last().unwrap_or("").to_string();
            assert_ne!(footer(&web), footer(&reply), "{l}");
            assert!(footer(&web).contains(if l == Language::Kk {
                "форманы"
            } else {
                "форм"
            }));
            let transfer = t
                .transfer_notice(l, "UCC-2026-000001", "ict")
                .expect("transfer");
            assert!(transfer.text.contains("ict"));
            let rating = t.rating_request(l, "UCC-2026-000001").expect("rating");
            assert!(rating.text.contains("UCC-2026-000001"));
            let oversize = t
                .message(
                    "oversize",
                    l,
                    context! { number => "UCC-2026-000001", files => vec!["a.pdf", "b.pdf"], limit => "10.0 МБ" },
                )
                .expect("oversize");
            assert!(oversize.text.contains("a.pdf, b.pdf"));
        }
    }

    /// Each message template has both languages: nothing is written in one only.
    #[test]
    fn every_message_template_exists_in_both_languages() {
        let t = Templates::new();
        for name in t.names() {
            let parts: Vec<&str> = name.split('/').collect();
            let other = match parts.as_slice() {
                [m, "kk", part] => format!("{m}/ru/{part}"),
                [m, "ru", part] => format!("{m}/kk/{part}"),
                ["telegram", key, "kk.txt.j2"] => format!("telegram/{key}/ru.txt.j2"),
                ["telegram", key, "ru.txt.j2"] => format!("telegram/{key}/kk.txt.j2"),
                _ => continue,
            };
            assert!(t.has(&other), "{name} has no twin {other}");
        }
    }

    #[test]
    fn every_form_message_renders_in_every_language() {
        let t = Templates::new();
        let ctx = context! {
            digit => 7, value => "751301", mb => 10, max_files => 5, max_bytes => 65536,
            file => "scan.exe", secs => 30, detail => "x", reference => "01a2-ref",
        };
        let keys: Vec<String> = t
            .names()
            .into_iter()
            .filter_map(|n| n.strip_prefix("form/kk/").map(str::to_string))
            .collect();
        assert!(keys.len() > 20, "{keys:?}");
        for key in &keys {
            for l in [Language::Kk, Language::Ru, Language::En] {
                let name = format!("form/{}/{key}", l.as_str());
                let text = t.render(&name, &ctx).expect("renders");
                assert!(!text.is_empty() && !text.contains("{{"), "{name}");
            }
        }
    }

    #[test]
    fn the_telegram_catalogue_is_complete() {
        let texts = baylanys_telegram::texts::Texts::new(std::sync::Arc::new(TelegramTexts(
            std::sync::Arc::new(Templates::new()),
        )));
        texts.check().expect("every Telegram text renders");
        assert!(
            texts
                .joined("UCC-2026-000001")
                .kk
                .contains("UCC-2026-000001")
        );
    }

    #[test]
    fn staff_notices_render_in_kazakh_russian_and_english() {
        let t = Templates::new();
        for l in [Language::Kk, Language::Ru, Language::En] {
            for kind in ["reminder", "escalation"] {
                let r = t.staff_notice(
                    kind,
                    l,
                    context! { number => "UCC-2026-000001", subject => "S", queue => "general", due => "03.12.2026 18:30", hours => 4, assignee => "aliya" },
                )
                .expect("renders");
                assert!(r.text.contains("UCC-2026-000001"), "{kind} {l}: {}", r.text);
                assert!(r.subject.unwrap_or_default().contains("UCC-2026-000001"));
            }
            let tickets = vec![
                context! { number => "UCC-2026-000007", queue => "general", due => "x", subject => "S" },
            ];
            let r = t
                .staff_notice("digest", l, context! { date => "04.12.2026", tickets })
                .expect("renders");
            assert!(r.text.contains("UCC-2026-000007"), "digest {l}: {}", r.text);
        }
    }

    #[test]
    fn every_page_renders_in_both_languages() {
        let t = Templates::new();
        let option = |code: &str| serde_json::json!({"code": code, "name": code});
        let form = context! {
            values => serde_json::json!({"name": "", "email": "", "phone": "", "iin": "",
                "region": "", "topic": "", "text": "", "consent": false, "language": "",
                "website": ""}),
            errors => vec![serde_json::json!({"field": "name", "message": "required"})],
            error_fields => vec!["name"],
            regions => vec![option("astana")],
            topics => vec![option("other")],
            max_mb => "10",
            idempotency_key => "k",
        };
        let status = context! {
            number => "UCC-2026-000001", status => "new", registered => "01.12.2026 10:00",
            due => "03.12.2026 18:30", appeal => "Текст",
            replies => vec![serde_json::json!({"text": "Ответ", "at": "02.12.2026 11:00"})],
            just_registered => true, switch_url => "/appeals/x?key=k&lang=",
            status_url => "/appeals/x?key=k", notice => "added", stages => Vec::<String>::new(),
            thread => vec![
                serde_json::json!({"from": "applicant", "at": "01.12.2026 10:00", "text": "Текст",
                    "files": [{"id": "f1", "name": "a.pdf", "size": 2048}]}),
                serde_json::json!({"from": "center", "at": "02.12.2026 11:00", "text": "Ответ", "files": []}),
            ],
            files_base => "/appeals/x/files/", key_q => "k",
            follow_up => context! {
                action => "/appeals/x/follow-up?key=k", text => "", token => "t", max_mb => "10",
                errors => vec![serde_json::json!({"field": "text", "message": "empty"})],
                error_fields => vec!["text"],
            },
        };
        for (page, ctx) in [
            ("web/form.html", form),
            ("web/error.html", context! { message => "x" }),
            ("web/status.html", status),
        ] {
            for l in [Language::Kk, Language::Ru] {
                let html = t
                    .page(page, l, ctx.clone())
                    .unwrap_or_else(|e| panic!("{page} {l}: {e:#}"));
                assert!(html.contains("<html"), "{page} {l}");
            }
        }
    }

    #[test]
    fn a_missing_template_is_an_error_not_an_empty_text() {
        let t = Templates::new();
        let e = t
            .message("no-such-message", Language::Kk, context! {})
            .unwrap_err();
        assert!(e.name.contains("no-such-message"), "{e}");
    }
}
