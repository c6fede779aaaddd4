//! R7: an appeal outside the center's remit gets what is known about the competent
//! body: its contact card, in the applicant's language (`templates/card/<lang>/`).

use baylanys_core::Language;
use diesel::prelude::*;
use minijinja::context;

use super::{Body, RegistryError};
use crate::db::DbConn;
use crate::db::schema::tickets;
use crate::templates::Templates;

/// At most this many cards in one reply.
pub const MAX_CARDS: usize = 5;

pub fn render(
    templates: &Templates,
    body: &Body,
    language: Language,
) -> Result<String, RegistryError> {
    let persons: Vec<minijinja::Value> = body
        .persons
        .iter()
        .filter(|p| p.active)
        .map(|p| {
            context! {
                name => &p.name, position => &p.position, phones => &p.phones, email => &p.email,
            }
        })
        .collect();
    let ctx = context! {
        name => body.name.get(language), kind => body.kind.as_str(), region => &body.region,
        address => &body.address, phones => &body.phones, email => &body.email,
        website => &body.website, working_hours => &body.working_hours, persons,
    };
    templates
        .message("card", language, ctx)
        .map(|r| r.text)
        .map_err(|e| RegistryError::Db(crate::db::DbError::Unavailable(e.to_string())))
}

/// The reply's text with the cards of `body_ids` appended, in the ticket's language.
pub fn append(
    conn: &mut DbConn,
    templates: &Templates,
    number: &str,
    text: &str,
    body_ids: &[String],
) -> Result<String, RegistryError> {
    if body_ids.is_empty() {
        return Ok(text.to_string());
    }
    if body_ids.len() > MAX_CARDS {
        return Err(RegistryError::Invalid(vec![super::bad(
            "cards",
            format!("at most {MAX_CARDS} cards in one reply"),
        )]));
    }
    let language: Option<String> = tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select(tickets::language)
        .first(conn)
        .optional()
        .map_err(crate::db::DbError::Query)?;
    let Some(language) = language else {
        return Err(RegistryError::NotFound(format!(
            "ticket {number} not found"
        )));
    };
    let language: Language = language.parse().unwrap_or_default();
    let mut out = text.trim_end().to_string();
    let mut errors = Vec::new();
    for (i, id) in body_ids.iter().enumerate() {
        match super::bodies::get(conn, id)? {
            Some(b) => {
                out.push_str("\n\n");
                out.push_str(&render(templates, &b, language)?);
            }
            None => errors.push(super::bad(
                &format!("cards[{i}]"),
                format!("no body `{}` in the registry", crate::web::input::shown(id)),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RegistryError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::stage::{self, Stage};

    /// Every text of the services part renders in Kazakh and Russian (staff: and English).
    #[test]
    fn cards_digests_stages_and_notices_render_in_every_language() {
        let t = Templates::new();
        for l in [Language::Kk, Language::Ru] {
            let card = t
                .message(
                    "card",
                    l,
                    context! { name => "Әділет", address => "Астана", phones => vec!["+7"], email => "a@b.kz",
                               website => "https://x", working_hours => "9-18",
                               persons => vec![context! { name => "Асқар", position => "маман", phones => vec!["1"], email => "c@d.kz" }] },
                )
                .expect("card");
            assert!(
                card.text.contains("Әділет") && card.text.contains("Асқар"),
                "{}",
                card.text
            );
            let ticket = context! { number => "UCC-2026-000001", subject => "S", status => "new", registered => "01.12.2026 10:00" };
            let digest = t
                .message(
                    "body_digest",
                    l,
                    context! { name => context! { kk => "К", ru => "Р" }, period => "2026-12-02", count => 1,
                               from => "a", to => "b",
                               services => vec![context! { register_number => "001", name_kk => "к", name_ru => "р", tickets => vec![ticket] }] },
                )
                .expect("digest");
            assert!(digest.text.contains("UCC-2026-000001") && digest.subject.is_some());
            for s in [
                Stage::Found {
                    application: "KZ1".into(),
                    service: Some("001".into()),
                    stage: crate::registry::services::NamesOwned {
                        kk: "кк".into(),
                        ru: "рр".into(),
                    },
                    updated_at: "2026-12-01T10:00:00+05:00".into(),
                },
                Stage::NotFound,
                Stage::Unavailable { reason: "x".into() },
                Stage::NotConfigured,
            ] {
                let text = stage::message(&t, &s, "KZ1", l);
                assert!(text.len() > 20 && !text.contains("{{"), "{s:?} {l}: {text}");
            }
        }
        for l in [Language::Kk, Language::Ru, Language::En] {
            let r = t
                .staff_notice(
                    "onboarding_overdue",
                    l,
                    context! { step => "person_named", rule => "F5", number => "00101001", service => "S", due => "09.11.2026 18:30" },
                )
                .expect("notice");
            assert!(
                r.text.contains("00101001") && r.subject.unwrap_or_default().contains("00101001")
            );
        }
    }
}
