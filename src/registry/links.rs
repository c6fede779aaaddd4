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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkedService {
    pub service_id: String,
    pub register_number: String,
    pub name: Names,
    pub body_id: String,
    pub source: String,
    pub linked_by: String,
    pub linked_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub register_number: String,
    pub name: Names,
    pub body_id: String,
    pub keywords: Vec<String>,
}

/// Only this much of a ticket's text is read for proposals.
const MAX_TEXT_CHARS: usize = 8_000;

struct Entry {
    c: Candidate,
    /// Distinctive (stem, word) pairs of its names.
    stems: Vec<(String, String)>,
}

/// The services prepared once for matching (stems and their frequencies computed when
/// the registry changes, not per ticket).
pub struct Matcher {
    entries: Vec<Entry>,
}

impl Matcher {
    pub fn new(candidates: Vec<Candidate>) -> Matcher {
        let total = candidates.len();
        // How many services' names carry each stem: common ones say nothing.
        let mut frequency: HashMap<String, usize> = HashMap::new();
        let own_stems: Vec<Vec<(String, String)>> = candidates
            .iter()
            .map(|c| {
                let mut seen = HashSet::new();
                let mut list = Vec::new();
                for w in words(&c.name.kk).chain(words(&c.name.ru)) {
                    if w.chars().count() >= STEM {
                        let s = stem(&w);
                        if seen.insert(s.clone()) {
                            list.push((s, w));
                        }
                    }
                }
                for (s, _) in &list {
                    *frequency.entry(s.clone()).or_default() += 1;
                }
                list
            })
            .collect();
        let common = |s: &str| {
            let f = frequency.get(s).copied().unwrap_or(0);
            f > 1 && f * 3 >= total
        };
        let entries = candidates
            .into_iter()
            .zip(own_stems)
            .map(|(c, list)| Entry {
                c,
                stems: list.into_iter().filter(|(s, _)| !common(s)).collect(),
            })
            .collect();
        Matcher { entries }
    }

    /// The proposals for a text and a topic, best first.
    pub fn propose(&self, topic: Option<&str>, text: &str) -> Vec<Proposal> {
        let mut all = self.propose_all(topic, text);
        all.truncate(MAX_PROPOSALS);
        all
    }

    /// Every service that scores, best first.
    pub fn propose_all(&self, topic: Option<&str>, text: &str) -> Vec<Proposal> {
        let text: String = text
            .chars()
            .take(MAX_TEXT_CHARS)
            .collect::<String>()
            .to_lowercase();
        let text_words: Vec<String> = words(&text).collect();
        let text_stems: HashSet<String> = text_words
            .iter()
            .filter(|w| w.chars().count() >= STEM)
            .map(|w| stem(w))
            .collect();
        // Every prefix of every word: a one-word keyword matches the words it begins.
        let prefixes: HashSet<String> = text_words
            .iter()
            .flat_map(|w| {
                let chars: Vec<char> = w.chars().collect();
                (1..=chars.len().min(40)).map(move |n| chars[..n].iter().collect::<String>())
            })
            .collect();
        let mut out = Vec::new();
        for e in &self.entries {
            let mut score = 0;
            let mut matched = Vec::new();
            for k in &e.c.keywords {
                if k.is_empty() {
                    continue;
                }
                if topic == Some(k.as_str()) {
                    score += 2;
                    matched.push(format!("topic:{k}"));
                } else if if k.contains(char::is_whitespace) {
                    text.contains(k.as_str())
                } else {
                    prefixes.contains(k)
                } {
                    score += 2;
                    matched.push(format!("keyword:{k}"));
                }
            }
            for (s, w) in &e.stems {
                if text_stems.contains(s) {
                    score += 1;
                    matched.push(format!("name:{w}"));
                }
            }
            if score > 0 {
                out.push(Proposal {
                    service_id: e.c.id.clone(),
                    register_number: e.c.register_number.clone(),
                    name: e.c.name.clone(),
                    body_id: e.c.body_id.clone(),
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
        out
    }
}

/// The proposals for a text and a topic among `candidates`, best first.
pub fn propose_among(candidates: &[Candidate], topic: Option<&str>, text: &str) -> Vec<Proposal> {
    Matcher::new(candidates.to_vec()).propose(topic, text)
}

/// The matcher of the registry as it is now: rebuilt when a service was added or
/// changed (its key: count, newest change and newest id of `services`).
fn matcher(conn: &mut DbConn) -> Result<std::sync::Arc<Matcher>, DbError> {
    use std::sync::{Arc, Mutex};
    static CACHE: Mutex<Option<(String, Arc<Matcher>)>> = Mutex::new(None);
    let (count, changed, newest): (i64, Option<chrono::NaiveDateTime>, Option<String>) =
        services::table
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::max(services::updated_at),
                diesel::dsl::max(services::id),
            ))
            .first(conn)?;
    let key = format!("{count}:{changed:?}:{newest:?}");
    if let Some((k, m)) = CACHE.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        && *k == key
    {
        return Ok(m.clone());
    }
    // Only what the matcher reads: no passports to parse.
    let rows: Vec<(String, String, String, String, String, String)> = services::table
        .filter(services::active.eq(1))
        .select((
            services::id,
            services::register_number,
            services::name_kk,
            services::name_ru,
            services::body_id,
            services::keywords,
        ))
        .load(conn)?;
    let candidates: Vec<Candidate> = rows
        .into_iter()
        .map(
            |(id, register_number, kk, ru, body_id, keywords)| Candidate {
                id,
                register_number,
                name: Names { kk, ru },
                body_id,
                keywords: serde_json::from_str(&keywords).unwrap_or_default(),
            },
        )
        .collect();
    let m = Arc::new(Matcher::new(candidates));
    *CACHE.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, m.clone()));
    Ok(m)
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
    let matcher = matcher(conn)?;
    let full = format!("{subject}\n{text}");
    Ok(matcher
        .propose_all(topic.as_deref(), &full)
        .into_iter()
        .filter(|p| !taken.contains(&p.service_id))
        .take(MAX_PROPOSALS)
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
