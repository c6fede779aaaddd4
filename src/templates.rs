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
    "staff/digest/en/body.txt.j2",
    "staff/digest/en/subject.txt.j2",
    "staff/digest/kk/body.txt.j2",
    "staff/digest/kk/subject.txt.j2",
    "staff/digest/ru/body.txt.j2",
    "staff/digest/ru/subject.txt.j2",
    "staff/escalation/en/body.txt.j2",
    "staff/escalation/en/subject.txt.j2",
    "staff/escalation/kk/body.txt.j2",
    "staff/escalation/kk/subject.txt.j2",
    "staff/escalation/ru/body.txt.j2",
    "staff/escalation/ru/subject.txt.j2",
    "staff/reminder/en/body.txt.j2",
    "staff/reminder/en/subject.txt.j2",
    "staff/reminder/kk/body.txt.j2",
    "staff/reminder/kk/subject.txt.j2",
    "staff/reminder/ru/body.txt.j2",
    "staff/reminder/ru/subject.txt.j2",
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

    /// An internal notice to staff (`staff/<kind>/<lang>/{subject,body}.txt.j2`); staff
    /// read Kazakh, Russian or English, as configured.
    pub fn staff_notice(&self, kind: &str, language: Language, ctx: Value) -> Rendered {
        let l = match language {
            Language::Kk => "kk",
            Language::Ru => "ru",
            Language::En => "en",
        };
        Rendered {
            subject: Some(self.render(&format!("staff/{kind}/{l}/subject.txt.j2"), ctx.clone())),
            text: self.render(&format!("staff/{kind}/{l}/body.txt.j2"), ctx),
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
    fn staff_notices_render_in_kazakh_russian_and_english() {
        let t = Templates::new();
        for l in [Language::Kk, Language::Ru, Language::En] {
            for kind in ["reminder", "escalation"] {
                let r = t.staff_notice(
                    kind,
                    l,
                    context! { number => "UCC-2026-000001", subject => "S", queue => "general", due => "03.12.2026 18:30", hours => 4 },
                );
                assert!(r.text.contains("UCC-2026-000001"), "{kind} {l}: {}", r.text);
                assert!(r.subject.unwrap_or_default().contains("UCC-2026-000001"));
            }
            let tickets = vec![
                context! { number => "UCC-2026-000007", queue => "general", due => "x", subject => "S" },
            ];
            let r = t.staff_notice("digest", l, context! { date => "04.12.2026", tickets });
            assert!(r.text.contains("UCC-2026-000007"), "digest {l}: {}", r.text);
        }
    }

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
