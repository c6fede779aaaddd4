//! Messages and pages from minijinja templates in `templates/`, embedded in the binary so
//! a release runs from any directory (and in the container) without the source tree.

use baylanys_core::{Channel, Language};
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};

use crate::calendar::Deadline;
use crate::tickets::Rendered;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)))),*]
    };
}

const FILES: &[(&str, &str)] = embedded!(
    "mail/ack.ru.subject.j2",
    "mail/ack.kk.subject.j2",
    "mail/ack.ru.txt.j2",
    "mail/ack.kk.txt.j2",
    "mail/ack.html.j2",
    "mail/reply.ru.subject.j2",
    "mail/reply.kk.subject.j2",
    "mail/reply.ru.txt.j2",
    "mail/reply.kk.txt.j2",
    "mail/transfer.ru.subject.j2",
    "mail/transfer.kk.subject.j2",
    "mail/transfer.ru.txt.j2",
    "mail/transfer.kk.txt.j2",
    "mail/rating.ru.txt.j2",
    "mail/rating.kk.txt.j2",
    "web/base.html",
    "web/form.html",
    "web/status.html",
    "web/error.html",
);

const STRINGS_KK: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/web/kk.json"
));
const STRINGS_RU: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/templates/web/ru.json"
));

pub struct Templates {
    env: Environment<'static>,
    strings_kk: Value,
    strings_ru: Value,
}

/// `12.03.2025 18:30` in Asia/Almaty.
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Almaty)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

fn lang_code(l: Language) -> &'static str {
    // Applicants get Kazakh or Russian (R4); English staff text falls back to Russian here.
    match l {
        Language::Kk => "kk",
        _ => "ru",
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        for (name, source) in FILES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("embedded template {name} is invalid: {e}"));
        }
        let parse = |s: &str, which: &str| -> Value {
            let v: serde_json::Value = serde_json::from_str(s)
                .unwrap_or_else(|e| panic!("templates/web/{which}.json is invalid: {e}"));
            Value::from_serialize(&v)
        };
        Templates {
            env,
            strings_kk: parse(STRINGS_KK, "kk"),
            strings_ru: parse(STRINGS_RU, "ru"),
        }
    }

    fn render(&self, name: &str, ctx: Value) -> String {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(s) => s.trim().to_string(),
            Err(e) => {
                // Templates are embedded and tested; a failure here is a bug, not input.
                tracing::error!(template = name, error = %e, "template failed");
                String::new()
            }
        }
    }

    pub fn acknowledgement(
        &self,
        language: Language,
        number: &str,
        registered_at: DateTime<Utc>,
        deadline: &Deadline,
        channel: Channel,
        status_url: Option<&str>,
    ) -> Rendered {
        let l = lang_code(language);
        let ctx = context! {
            number, lang => l, channel => channel.as_str(), status_url,
            registered => local_time(registered_at),
            due => local_time(deadline.due_at),
        };
        let subject = self.render(&format!("mail/ack.{l}.subject.j2"), ctx.clone());
        let text = self.render(&format!("mail/ack.{l}.txt.j2"), ctx);
        let html =
            (channel == Channel::Email).then(|| self.html_of(l, &subject, &text, status_url));
        Rendered {
            subject: Some(subject),
            text,
            html,
        }
    }

    fn html_of(&self, lang: &str, subject: &str, text: &str, status_url: Option<&str>) -> String {
        let paragraphs: Vec<Vec<&str>> = text
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
            "mail/ack.html.j2",
            context! { lang, subject, paragraphs, status_url },
        )
    }

    pub fn reply(
        &self,
        language: Language,
        number: &str,
        text: &str,
        html: Option<&str>,
    ) -> Rendered {
        let l = lang_code(language);
        let ctx = context! { number, text };
        Rendered {
            subject: Some(self.render(&format!("mail/reply.{l}.subject.j2"), ctx.clone())),
            text: self.render(&format!("mail/reply.{l}.txt.j2"), ctx),
            html: html.map(str::to_string),
        }
    }

    pub fn transfer_notice(&self, language: Language, number: &str, queue: &str) -> Rendered {
        let l = lang_code(language);
        let ctx = context! { number, queue };
        Rendered {
            subject: Some(self.render(&format!("mail/transfer.{l}.subject.j2"), ctx.clone())),
            text: self.render(&format!("mail/transfer.{l}.txt.j2"), ctx),
            html: None,
        }
    }

    pub fn rating_request(&self, language: Language, number: &str) -> Rendered {
        let l = lang_code(language);
        Rendered {
            subject: None,
            text: self.render(&format!("mail/rating.{l}.txt.j2"), context! { number }),
            html: None,
        }
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
        let full = context! { t => t, lang => lang_code(language), ..ctx };
        self.env.get_template(name)?.render(full)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_in_both_languages() {
        let t = Templates::new();
        for page in ["web/form.html", "web/error.html"] {
            for l in [Language::Kk, Language::Ru] {
                let html = t.page(page, l, context! { message => "x", errors => Value::from(()), error_fields => Vec::<String>::new(), values => Value::from(()) }).unwrap();
                assert!(html.contains("<html"), "{page} {l}");
            }
        }
    }
}
