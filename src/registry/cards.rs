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
