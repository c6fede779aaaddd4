//! Which services a ticket is about (and through them, which providing bodies): a real
//! relation, set by an operator or proposed from the ticket's topic and text and then
//! accepted by one. The F1 digests and the monthly reports' per-body parts read it.
//!
//! The proposal is deliberately simple and explainable: a service's keyword found in the
//! ticket's text (or equal to its topic code) scores 2, a distinctive word of its name
//! (5 letters or more, compared on its first 5 letters so Kazakh and Russian endings do
//! not matter) scores 1; words found in a third or more of the services' names carry no
//! weight (when in more than one). The matched words are returned with each proposal.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::Serialize;

use super::{Names, RegistryError};
use crate::db::schema::{services, ticket_services, tickets};
use crate::db::{DbConn, DbError, now};

text_enum!(
    /// How a link came about.
    LinkSource, "link source" {
        Operator => "operator",
        /// A proposal of the matcher, accepted by an operator.
        Proposal => "proposal",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct LinkedService {
    pub service_id: String,
    pub register_number: String,
    pub name: Names,
    pub body_id: String,
    pub source: String,
    pub linked_by: String,
    pub linked_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub service_id: String,
    pub register_number: String,
    pub name: Names,
    pub body_id: String,
    pub score: u32,
    /// Why: `keyword:<word>`, `topic:<code>` or `name:<word>`.
    pub matched: Vec<String>,
}

/// At most this many proposals per ticket.
const MAX_PROPOSALS: usize = 3;
/// At most this many services on one ticket.
pub const MAX_LINKS: usize = 20;
const STEM: usize = 5;

pub fn linked(conn: &mut DbConn, ticket_id: &str) -> Result<Vec<LinkedService>, DbError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        chrono::NaiveDateTime,
    );
    let rows: Vec<Row> = ticket_services::table
        .inner_join(services::table)
        .filter(ticket_services::ticket_id.eq(ticket_id))
        .order(services::register_number.asc())
        .select((
            services::id,
            services::register_number,
            services::name_kk,
            services::name_ru,
            services::body_id,
            ticket_services::source,
            ticket_services::linked_by,
            ticket_services::linked_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| LinkedService {
            service_id: r.0,
            register_number: r.1,
            name: Names { kk: r.2, ru: r.3 },
            body_id: r.4,
            source: r.5,
            linked_by: r.6,
            linked_at: crate::tickets::almaty(&r.7),
        })
        .collect())
}

/// Links a service to a ticket (again: nothing changes). Records an event on the ticket.
pub fn link(
    conn: &mut DbConn,
    ticket_id: &str,
    service_id: &str,
    source: LinkSource,
    by: &str,
) -> Result<bool, RegistryError> {
    let active: Option<i32> = services::table
        .find(service_id)
        .select(services::active)
        .first(conn)
        .optional()
        .map_err(DbError::Query)?;
    if active.is_none() {
        return Err(RegistryError::Invalid(vec![super::bad(
            "service",
            format!("no service `{service_id}` in the registry"),
        )]));
    }
    let added = diesel::sql_query(
        "INSERT INTO ticket_services (ticket_id, service_id, source, linked_by, linked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id, service_id) DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(ticket_id)
    .bind::<diesel::sql_types::Text, _>(service_id)
    .bind::<diesel::sql_types::Text, _>(source.as_str())
    .bind::<diesel::sql_types::Text, _>(by)
    .bind::<diesel::sql_types::Timestamp, _>(now())
    .execute(conn)
    .map_err(DbError::Query)?;
    if added == 1 {
        let count: i64 = ticket_services::table
            .filter(ticket_services::ticket_id.eq(ticket_id))
            .count()
            .get_result(conn)
            .map_err(DbError::Query)?;
        if count as usize > MAX_LINKS {
            return Err(RegistryError::Invalid(vec![super::bad(
                "service",
                format!("a ticket is linked to at most {MAX_LINKS} services"),
            )]));
        }
        crate::tickets::event(
            conn,
            ticket_id,
            by,
            "service_linked",
            serde_json::json!({"service_id": service_id, "source": source.as_str()}),
        )?;
    }
    Ok(added == 1)
}

pub fn unlink(
    conn: &mut DbConn,
    ticket_id: &str,
    service_id: &str,
    by: &str,
) -> Result<bool, DbError> {
    let n = diesel::delete(
        ticket_services::table
            .filter(ticket_services::ticket_id.eq(ticket_id))
            .filter(ticket_services::service_id.eq(service_id)),
    )
    .execute(conn)?;
    if n == 1 {
        crate::tickets::event(
            conn,
            ticket_id,
            by,
            "service_unlinked",
            serde_json::json!({"service_id": service_id}),
        )?;
    }
    Ok(n == 1)
}

fn stem(word: &str) -> String {
    word.chars().take(STEM).collect()
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A service as the matcher sees it.
pub struct Candidate {
    pub id: String,
    pub register_number: String,
    pub name: Names,
    pub body_id: String,
    pub keywords: Vec<String>,
}

/// The proposals for a text and a topic among `candidates`, best first.
pub fn propose_among(candidates: &[Candidate], topic: Option<&str>, text: &str) -> Vec<Proposal> {
    let text = text.to_lowercase();
    let text_stems: HashSet<String> = words(&text)
        .filter(|w| w.chars().count() >= STEM)
        .map(|w| stem(&w))
        .collect();
    // How many services' names carry each stem: common ones say nothing.
    let mut frequency: HashMap<String, usize> = HashMap::new();
    for c in candidates {
        let own: HashSet<String> = words(&c.name.kk)
            .chain(words(&c.name.ru))
            .filter(|w| w.chars().count() >= STEM)
            .map(|w| stem(&w))
            .collect();
        for s in own {
            *frequency.entry(s).or_default() += 1;
        }
    }
    let common = |s: &str| {
        let f = frequency.get(s).copied().unwrap_or(0);
        f > 1 && f * 3 >= candidates.len()
    };
    let mut out = Vec::new();
    for c in candidates {
        let mut score = 0;
        let mut matched = Vec::new();
        for k in &c.keywords {
            if k.is_empty() {
                continue;
            }
            if topic == Some(k.as_str()) {
                score += 2;
                matched.push(format!("topic:{k}"));
            } else if text.contains(k.as_str()) {
                score += 2;
                matched.push(format!("keyword:{k}"));
            }
        }
        let mut seen = HashSet::new();
        for w in words(&c.name.kk).chain(words(&c.name.ru)) {
            if w.chars().count() < STEM {
                continue;
            }
            let s = stem(&w);
            if common(&s) || !seen.insert(s.clone()) {
                continue;
            }
            if text_stems.contains(&s) {
                score += 1;
                matched.push(format!("name:{w}"));
            }
        }
        if score > 0 {
            out.push(Proposal {
                service_id: c.id.clone(),
                register_number: c.register_number.clone(),
                name: c.name.clone(),
                body_id: c.body_id.clone(),
                score,
                matched,
            });
        }
    }
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.register_number.cmp(&b.register_number))
    });
    out.truncate(MAX_PROPOSALS);
    out
}

/// Proposals for a ticket, leaving out services already linked.
pub fn propose(conn: &mut DbConn, ticket_id: &str) -> Result<Vec<Proposal>, DbError> {
    let (topic, subject, text): (Option<String>, String, String) = tickets::table
        .find(ticket_id)
        .select((tickets::topic, tickets::subject, tickets::search_text))
        .first(conn)?;
    let taken: HashSet<String> = ticket_services::table
        .filter(ticket_services::ticket_id.eq(ticket_id))
        .select(ticket_services::service_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let candidates: Vec<Candidate> = super::services::all(conn)?
        .into_iter()
        .filter(|s| s.active)
        .map(|s| Candidate {
            id: s.id,
            register_number: s.register_number,
            name: s.name,
            body_id: s.body_id,
            keywords: s.keywords,
        })
        .collect();
    let full = format!("{subject}\n{text}");
    Ok(propose_among(&candidates, topic.as_deref(), &full)
        .into_iter()
        .filter(|p| !taken.contains(&p.service_id))
        .collect())
}

/// What the ticket detail shows of the registry: the linked services, the proposals
/// (to accept with `POST /api/v1/tickets/{number}/services`), and the registry body of
/// the applicant when they are a body's staff member (R12).
pub fn decorate(
    conn: &mut DbConn,
    ticket_id: &str,
    detail: &mut serde_json::Value,
) -> Result<(), DbError> {
    use crate::db::schema::contacts;
    let linked = linked(conn, ticket_id)?;
    let proposals = propose(conn, ticket_id)?;
    let body: Option<String> = tickets::table
        .inner_join(contacts::table)
        .filter(tickets::id.eq(ticket_id))
        .select(contacts::body_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    detail["services"] = serde_json::to_value(linked).unwrap_or_default();
    detail["service_proposals"] = serde_json::to_value(proposals).unwrap_or_default();
    detail["contact"]["body_id"] = serde_json::to_value(body).unwrap_or_default();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, kk: &str, ru: &str, keywords: &[&str]) -> Candidate {
        Candidate {
            id: id.into(),
            register_number: id.into(),
            name: Names {
                kk: kk.into(),
                ru: ru.into(),
            },
            body_id: "b".into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn proposals_name_the_words_that_matched() {
        let all = [
            cand(
                "1",
                "Соттылығы туралы анықтама беру",
                "Выдача справки о судимости",
                &["несудимост"],
            ),
            cand(
                "2",
                "Жеке куәлік беру",
                "Выдача удостоверения личности",
                &["удостоверение"],
            ),
            cand(
                "3",
                "ЭЦҚ беру",
                "Выдача электронной цифровой подписи",
                &["digital_signature", "эцп"],
            ),
        ];
        let p = propose_among(
            &all,
            None,
            "Не могу получить справку о несудимости на портале",
        );
        assert_eq!(p[0].service_id, "1");
        assert!(
            p[0].matched.contains(&"keyword:несудимост".to_string()),
            "{:?}",
            p[0]
        );
        assert!(
            p[0].matched.iter().any(|m| m == "name:справки"),
            "{:?}",
            p[0]
        );
        // "Выдача" is in every name: it proposes nothing.
        assert!(p.iter().all(|x| x.service_id != "2"), "{p:?}");
        let by_topic = propose_among(&all, Some("digital_signature"), "ключ не работает");
        assert_eq!(by_topic[0].service_id, "3");
        assert_eq!(
            by_topic[0].matched,
            vec!["topic:digital_signature".to_string()]
        );
        assert!(propose_among(&all, None, "").is_empty());
    }
}
