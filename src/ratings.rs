//! R10: the applicant rates the operator's work (1-5) right after an operator's answer
//! ends a conversation (a final reply or a close), on every channel: e-mail one-click
//! links (a signed, single-use, expiring token), the status page's small form, the
//! Telegram inline keyboard, and the phone channel's post-call survey ([`record`]).
//! One rating per conversation: `rating_requests.round` counts a ticket's conversations
//! and a reopened ticket (the applicant wrote again, or staff reopened it) starts a new
//! one. The optional 3-level "satisfied?" survey of seed 004 appendix 6 rides along.

use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::db::schema::{
    channel_state, contacts, messages, rating_requests, ratings, ticket_events, tickets, users,
};
use crate::db::{DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, Retry, enqueue_job};

/// How long an e-mail rating link works.
pub const LINK_DAYS: i64 = 14;
/// The longest comment kept (characters).
pub const MAX_COMMENT: usize = 2000;
/// The key of the link-signing secret in `channel_state` (made on first use, shared by
/// every instance on the database).
const KEY_NAME: &str = "rating_link_key";

text_enum!(
    /// Where a rating came from.
    Source, "rating source" {
        EmailLink => "email_link",
        StatusPage => "status_page",
        Telegram => "telegram",
        Phone => "phone",
        Api => "api",
    }
);

/// One rating as a channel reports it. `operator` is a user id or login; when absent,
/// the operator whose answer ended the conversation is used.
#[derive(Debug, Clone, Default)]
pub struct RatingInput {
    pub ticket_id: String,
    pub operator: Option<String>,
    /// The channel the applicant rated on (`email`, `web_form`, `telegram`, `phone`).
    pub channel: String,
    pub score: i32,
    pub source: Option<Source>,
    pub comment: Option<String>,
    /// Seed 004 appendix 6, question 1 (the service's process and result): 1-3.
    pub satisfied_process: Option<i32>,
    /// Question 2 (the information about the procedure): 1-3.
    pub satisfied_info: Option<i32>,
    /// The offer being answered (an e-mail link names it); else the current one.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Recorded {
        rating_id: String,
    },
    /// This conversation was already rated.
    AlreadyRated,
    /// No such ticket.
    Unknown,
    /// A field is wrong: which, and what to send instead.
    Invalid {
        field: String,
        message: String,
    },
}

fn invalid(field: &str, message: &str) -> Outcome {
    Outcome::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a comment: trimmed, at most [`MAX_COMMENT`] characters, no control characters
/// but line breaks; an empty one is none.
pub fn clean_comment(s: Option<&str>) -> Result<Option<String>, String> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > MAX_COMMENT {
        return Err(format!(
            "the comment is longer than {MAX_COMMENT} characters: shorten it"
        ));
    }
    Ok(Some(
        s.chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect(),
    ))
}

fn check_survey(v: Option<i32>, field: &str) -> Result<(), Outcome> {
    match v {
        None | Some(1..=3) => Ok(()),
        Some(_) => Err(invalid(
            field,
            "must be 1 (not satisfied), 2 (partly) or 3 (satisfied)",
        )),
    }
}

/// `YYYY-MM` of a UTC time in Almaty.
pub fn month_of(at: NaiveDateTime) -> String {
    Utc.from_utc_datetime(&at)
        .with_timezone(&chrono_tz::Asia::Almaty)
        .format("%Y-%m")
        .to_string()
}

/// A rating offer as read: id, round, operator, used at, created at.
type RoundRow = (
    String,
    i32,
    Option<String>,
    Option<NaiveDateTime>,
    NaiveDateTime,
);
/// An offer with its ticket: id, ticket, number, channel, language, used at, expires at.
type OfferRow = (
    String,
    String,
    String,
    String,
    String,
    Option<NaiveDateTime>,
    NaiveDateTime,
);

struct Round {
    id: String,
    round: i32,
    operator_id: Option<String>,
    used: bool,
    created_at: NaiveDateTime,
}

fn latest_round(conn: &mut DbConn, ticket_id: &str) -> Result<Option<Round>, DbError> {
    let row: Option<RoundRow> = rating_requests::table
        .filter(rating_requests::ticket_id.eq(ticket_id))
        .order(rating_requests::round.desc())
        .select((
            rating_requests::id,
            rating_requests::round,
            rating_requests::operator_id,
            rating_requests::used_at,
            rating_requests::created_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, round, operator_id, used, created_at)| Round {
        id,
        round,
        operator_id,
        used: used.is_some(),
        created_at,
    }))
}

/// Whether the conversation went on after `since`: the applicant wrote, or the ticket
/// was reopened.
fn reopened_since(
    conn: &mut DbConn,
    ticket_id: &str,
    since: NaiveDateTime,
) -> Result<bool, DbError> {
    let wrote: i64 = messages::table
        .filter(messages::ticket_id.eq(ticket_id))
        .filter(messages::direction.eq("in"))
        .filter(messages::created_at.gt(since))
        .count()
        .get_result(conn)?;
    if wrote > 0 {
        return Ok(true);
    }
    let reopened: i64 = ticket_events::table
        .filter(ticket_events::ticket_id.eq(ticket_id))
        .filter(ticket_events::kind.eq("reopened"))
        .filter(ticket_events::at.gt(since))
        .count()
        .get_result(conn)?;
    Ok(reopened > 0)
}

fn insert_round(
    conn: &mut DbConn,
    ticket_id: &str,
    round: i32,
    operator_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<String, DbError> {
    let id = new_id();
    diesel::insert_into(rating_requests::table)
        .values((
            rating_requests::id.eq(&id),
            rating_requests::ticket_id.eq(ticket_id),
            rating_requests::round.eq(round),
            rating_requests::operator_id.eq(operator_id),
            rating_requests::expires_at.eq(now + Duration::days(LINK_DAYS)),
            rating_requests::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// An operator's answer ended a conversation: offers a rating unless this conversation
/// already has an offer. Returns the new offer, whose invitation is queued
/// ([`RatingInvite`]) in the caller's transaction.
pub fn offer(
    conn: &mut DbConn,
    ticket_id: &str,
    operator_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let round = match latest_round(conn, ticket_id)? {
        None => 1,
        Some(r) if reopened_since(conn, ticket_id, r.created_at)? => r.round + 1,
        Some(r) => {
            // The same conversation (a close after the final reply): the operator who
            // answered keeps it; no second invitation.
            if !r.used && r.operator_id.is_none() && operator_id.is_some() {
                diesel::update(rating_requests::table.find(&r.id))
                    .set(rating_requests::operator_id.eq(operator_id))
                    .execute(conn)?;
            }
            return Ok(None);
        }
    };
    let id = insert_round(conn, ticket_id, round, operator_id, now)?;
    enqueue_job(
        conn,
        &RatingInvite {
            request_id: id.clone(),
        },
        None,
    )?;
    Ok(Some(id))
}

fn resolve_operator(conn: &mut DbConn, who: &str) -> Result<Option<String>, DbError> {
    users::table
        .filter(users::id.eq(who).or(users::login.eq(who)))
        .select(users::id)
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// Records a rating, once per conversation. Call it in a transaction (`Db::write`).
/// The phone channel calls this with `source: Some(Source::Phone)` and
/// `channel: "phone"` for the post-call survey result.
pub fn record(conn: &mut DbConn, input: RatingInput) -> Result<Outcome, DbError> {
    if !(1..=5).contains(&input.score) {
        return Ok(invalid("score", "must be a whole number from 1 to 5"));
    }
    if let Err(o) = check_survey(input.satisfied_process, "satisfied_process")
        .and_then(|_| check_survey(input.satisfied_info, "satisfied_info"))
    {
        return Ok(o);
    }
    let comment = match clean_comment(input.comment.as_deref()) {
        Ok(c) => c,
        Err(m) => return Ok(invalid("comment", &m)),
    };
    if input.channel.parse::<baylanys_core::Channel>().is_err() {
        return Ok(invalid(
            "channel",
            "must be email, telegram, web_form or phone",
        ));
    }
    let ticket: Option<(String, Option<String>)> = tickets::table
        .find(&input.ticket_id)
        .select((tickets::queue, tickets::assignee_id))
        .first(conn)
        .optional()?;
    let Some((queue, assignee)) = ticket else {
        return Ok(Outcome::Unknown);
    };
    let now = crate::db::now();
    // The conversation: the offer named, else the current one, else a new one (a
    // survey that came without an offer, e.g. after a call).
    let round = match &input.request_id {
        Some(id) => {
            let r: Option<RoundRow> = rating_requests::table
                .find(id)
                .filter(rating_requests::ticket_id.eq(&input.ticket_id))
                .select((
                    rating_requests::id,
                    rating_requests::round,
                    rating_requests::operator_id,
                    rating_requests::used_at,
                    rating_requests::created_at,
                ))
                .first(conn)
                .optional()?;
            match r {
                Some((id, round, operator_id, used, created_at)) => Round {
                    id,
                    round,
                    operator_id,
                    used: used.is_some(),
                    created_at,
                },
                None => return Ok(Outcome::Unknown),
            }
        }
        None => match latest_round(conn, &input.ticket_id)? {
            Some(r) if !r.used => r,
            Some(r) if reopened_since(conn, &input.ticket_id, r.created_at)? => {
                let id = insert_round(conn, &input.ticket_id, r.round + 1, None, now)?;
                Round {
                    id,
                    round: r.round + 1,
                    operator_id: None,
                    used: false,
                    created_at: now,
                }
            }
            Some(_) => return Ok(Outcome::AlreadyRated),
            None => {
                let id = insert_round(conn, &input.ticket_id, 1, None, now)?;
                Round {
                    id,
                    round: 1,
                    operator_id: None,
                    used: false,
                    created_at: now,
                }
            }
        },
    };
    if round.used {
        return Ok(Outcome::AlreadyRated);
    }
    let operator = match &input.operator {
        Some(who) => resolve_operator(conn, who)?,
        None => None,
    }
    .or(round.operator_id.clone())
    .or(assignee);
    // Single use, also against a concurrent click: only one update finds it unused.
    let claimed = diesel::update(
        rating_requests::table
            .find(&round.id)
            .filter(rating_requests::used_at.is_null()),
    )
    .set(rating_requests::used_at.eq(now))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(Outcome::AlreadyRated);
    }
    let id = new_id();
    let source = input.source.unwrap_or(Source::Api);
    let inserted = diesel::insert_into(ratings::table)
        .values((
            ratings::id.eq(&id),
            ratings::ticket_id.eq(&input.ticket_id),
            ratings::round.eq(round.round),
            ratings::request_id.eq(&round.id),
            ratings::operator_id.eq(&operator),
            ratings::queue.eq(&queue),
            ratings::channel.eq(&input.channel),
            ratings::source.eq(source.as_str()),
            ratings::score.eq(input.score),
            ratings::satisfied_process.eq(input.satisfied_process),
            ratings::satisfied_info.eq(input.satisfied_info),
            ratings::comment.eq(&comment),
            ratings::month.eq(month_of(now)),
            ratings::created_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => {}
        Err(e) => {
            let e = DbError::from(e);
            if e.is_unique_violation() {
                return Ok(Outcome::AlreadyRated);
            }
            return Err(e);
        }
    }
    diesel::update(tickets::table.find(&input.ticket_id))
        .set(tickets::rating.eq(input.score))
        .execute(conn)?;
    crate::tickets::event(
        conn,
        &input.ticket_id,
        &format!("applicant:{}", source.as_str()),
        "rated",
        serde_json::json!({"rating": input.score, "round": round.round,
            "channel": input.channel, "source": source.as_str(),
            "survey": [input.satisfied_process, input.satisfied_info]}),
    )?;
    Ok(Outcome::Recorded { rating_id: id })
}

/// Adds the comment and the survey to a rating given by link or form, once.
pub fn add_comment(
    conn: &mut DbConn,
    request_id: &str,
    comment: Option<&str>,
    satisfied_process: Option<i32>,
    satisfied_info: Option<i32>,
) -> Result<Outcome, DbError> {
    if let Err(o) = check_survey(satisfied_process, "satisfied_process")
        .and_then(|_| check_survey(satisfied_info, "satisfied_info"))
    {
        return Ok(o);
    }
    let comment = match clean_comment(comment) {
        Ok(c) => c,
        Err(m) => return Ok(invalid("comment", &m)),
    };
    let n = diesel::update(
        ratings::table
            .filter(ratings::request_id.eq(request_id))
            .filter(ratings::comment.is_null())
            .filter(ratings::satisfied_process.is_null())
            .filter(ratings::satisfied_info.is_null()),
    )
    .set((
        ratings::comment.eq(&comment),
        ratings::satisfied_process.eq(satisfied_process),
        ratings::satisfied_info.eq(satisfied_info),
    ))
    .execute(conn)?;
    Ok(if n == 1 {
        Outcome::Recorded {
            rating_id: request_id.to_string(),
        }
    } else {
        Outcome::AlreadyRated
    })
}

// ---- signed links ----

type HmacSha256 = Hmac<Sha256>;

/// The link-signing key, made once per database.
pub fn link_key(conn: &mut DbConn) -> Result<Vec<u8>, DbError> {
    let found: Option<String> = channel_state::table
        .find(KEY_NAME)
        .select(channel_state::value)
        .first(conn)
        .optional()?;
    if let Some(k) = found {
        return Ok(k.into_bytes());
    }
    diesel::sql_query(
        "INSERT INTO channel_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind::<Text, _>(KEY_NAME)
    .bind::<Text, _>(crate::auth::random_secret())
    .bind::<diesel::sql_types::Timestamp, _>(crate::db::now())
    .execute(conn)?;
    let k: String = channel_state::table
        .find(KEY_NAME)
        .select(channel_state::value)
        .first(conn)?;
    Ok(k.into_bytes())
}

fn mac(key: &[u8], body: &str) -> String {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(body.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// `{request id}.{expiry, unix seconds}.{HMAC-SHA256}`.
pub fn sign(key: &[u8], request_id: &str, expires: NaiveDateTime) -> String {
    let body = format!("{request_id}.{}", expires.and_utc().timestamp());
    let sig = mac(key, &body);
    format!("{body}.{sig}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours (malformed or a bad signature).
    Forged,
    Expired,
}

/// The offer a token names, if it is ours and has not expired at `now`.
pub fn verify(key: &[u8], token: &str, now: NaiveDateTime) -> Result<String, TokenError> {
    if token.len() > 200 {
        return Err(TokenError::Forged);
    }
    let mut parts = token.rsplitn(2, '.');
    let (Some(sig), Some(body)) = (parts.next(), parts.next()) else {
        return Err(TokenError::Forged);
    };
    if !baylanys_core::constant_time_eq(mac(key, body).as_bytes(), sig.as_bytes()) {
        return Err(TokenError::Forged);
    }
    let Some((id, exp)) = body.split_once('.') else {
        return Err(TokenError::Forged);
    };
    let exp: i64 = exp.parse().map_err(|_| TokenError::Forged)?;
    if now.and_utc().timestamp() >= exp {
        return Err(TokenError::Expired);
    }
    Ok(id.to_string())
}

/// What a link or the status page needs of an offer.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    pub request_id: String,
    pub ticket_id: String,
    pub number: String,
    pub channel: String,
    pub language: String,
    pub used: bool,
    pub expires_at: NaiveDateTime,
}

pub fn load_offer(conn: &mut DbConn, request_id: &str) -> Result<Option<Offer>, DbError> {
    let row: Option<OfferRow> = rating_requests::table
        .inner_join(tickets::table.on(tickets::id.eq(rating_requests::ticket_id)))
        .filter(rating_requests::id.eq(request_id))
        .select((
            rating_requests::id,
            tickets::id,
            tickets::number,
            tickets::channel,
            tickets::language,
            rating_requests::used_at,
            rating_requests::expires_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|r| Offer {
        request_id: r.0,
        ticket_id: r.1,
        number: r.2,
        channel: r.3,
        language: r.4,
        used: r.5.is_some(),
        expires_at: r.6,
    }))
}

/// The status page's view: the open offer (a form to show) or the rating given.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StatusRating {
    /// An offer is open: show the form.
    pub open: bool,
    /// The latest conversation was rated: its score.
    pub score: Option<i32>,
    pub commented: bool,
}

pub fn status_rating(
    conn: &mut DbConn,
    ticket_id: &str,
    now: NaiveDateTime,
) -> Result<StatusRating, DbError> {
    let Some(r) = latest_round(conn, ticket_id)? else {
        return Ok(StatusRating::default());
    };
    if !r.used {
        let expires: NaiveDateTime = rating_requests::table
            .find(&r.id)
            .select(rating_requests::expires_at)
            .first(conn)?;
        return Ok(StatusRating {
            open: expires > now,
            ..Default::default()
        });
    }
    let given: Option<(i32, Option<String>)> = ratings::table
        .filter(ratings::request_id.eq(&r.id))
        .select((ratings::score, ratings::comment))
        .first(conn)
        .optional()?;
    Ok(StatusRating {
        open: false,
        score: given.as_ref().map(|g| g.0),
        commented: given.is_some_and(|g| g.1.is_some()),
    })
}

/// The open offer of a ticket (the status page form answers it).
pub fn open_offer(
    conn: &mut DbConn,
    ticket_id: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    Ok(rating_requests::table
        .filter(rating_requests::ticket_id.eq(ticket_id))
        .filter(rating_requests::used_at.is_null())
        .filter(rating_requests::expires_at.gt(now))
        .order(rating_requests::round.desc())
        .select(rating_requests::id)
        .first(conn)
        .optional()?)
}

// ---- the invitation ----

/// Sends the invitation to rate on the ticket's channel: e-mail links, the Telegram
/// keyboard; a web-form ticket shows the form on its status page (and gets the links
/// by e-mail when it gave an address); a phone ticket is surveyed by the phone system.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatingInvite {
    pub request_id: String,
}

impl Job for RatingInvite {
    const NAME: &'static str = "rating_invite";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("rating_invite:{}", self.request_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let public_url = app.config.public_url.clone();
        let templates = app.templates.clone();
        let mail_domain = app.mail_domain.clone();
        let email_on = app.adapters.contains_key(&baylanys_core::Channel::Email);
        let id = self.request_id.clone();
        app.db
            .write(move |c| invite(c, &id, &public_url, &templates, &mail_domain, email_on))
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))
    }
}

fn invite(
    c: &mut DbConn,
    request_id: &str,
    public_url: &str,
    templates: &crate::templates::Templates,
    mail_domain: &str,
    email_on: bool,
) -> Result<(), DbError> {
    use baylanys_core::{Channel, OutboundKind};
    let Some(offer) = load_offer(c, request_id)? else {
        return Ok(());
    };
    if offer.used {
        return Ok(());
    }
    type Addresses = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (email, chat, conversation, whatsapp): Addresses = tickets::table
        .inner_join(contacts::table)
        .filter(tickets::id.eq(&offer.ticket_id))
        .select((
            contacts::email,
            contacts::telegram_chat_id,
            tickets::conversation,
            contacts::whatsapp_id,
        ))
        .first(c)?;
    let whatsapp_of = conversation.clone().or(whatsapp);
    let language = offer.language.parse().unwrap_or_default();
    let render_err = |e: crate::templates::TemplateError| DbError::Unavailable(e.to_string());
    let channel = offer.channel.parse::<Channel>().ok();
    let mut routes: Vec<(Channel, String, crate::tickets::Rendered)> = Vec::new();
    let links = |key: &[u8]| -> Vec<serde_json::Value> {
        let token = sign(key, &offer.request_id, offer.expires_at);
        (1..=5)
            .rev()
            .map(|n| serde_json::json!({"score": n, "url": format!("{public_url}/rate/{token}/{n}")}))
            .collect()
    };
    match channel {
        Some(Channel::Telegram) => {
            if let Some(to) = conversation.or(chat) {
                let r = templates
                    .rating_request(language, &offer.number)
                    .map_err(render_err)?;
                routes.push((Channel::Telegram, to, r));
            }
        }
        // WhatsApp asks with the 1-5 list the adapter builds for a rating request; the
        // chat is the ticket's conversation (the applicant's WhatsApp id).
        Some(Channel::WhatsApp) => {
            if let Some(to) = whatsapp_of.clone() {
                let r = templates
                    .rating_request(language, &offer.number)
                    .map_err(render_err)?;
                routes.push((Channel::WhatsApp, to, r));
            }
        }
        Some(Channel::Email) | Some(Channel::WebForm) => {
            if let Some(to) = email.filter(|_| email_on || channel == Some(Channel::Email)) {
                let key = link_key(c)?;
                let r = templates
                    .message(
                        "rating_email",
                        language,
                        minijinja::context! { number => offer.number, links => links(&key),
                        days => LINK_DAYS },
                    )
                    .map_err(render_err)?;
                routes.push((Channel::Email, to, r));
            }
        }
        _ => {}
    }
    for (channel, address, rendered) in routes {
        crate::tickets::queue_outbound(
            c,
            mail_domain,
            &offer.ticket_id,
            crate::tickets::Recipient {
                channel,
                address: &address,
            },
            OutboundKind::RatingRequest,
            None,
            &rendered,
        )?;
    }
    Ok(())
}

// ---- figures ----

text_enum!(
    /// How the figures are grouped.
    GroupBy, "grouping" {
        Operator => "operator",
        Queue => "queue",
        Channel => "channel",
        Month => "month",
    }
);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Figures {
    pub key: String,
    pub ratings: i64,
    pub average: f64,
    /// How many gave 1, 2, 3, 4 and 5.
    pub scores: [i64; 5],
    /// Survey answers (1 not, 2 partly, 3 satisfied) of question 1.
    pub satisfied: [i64; 3],
    pub comments: i64,
}

#[derive(QueryableByName)]
struct FigureRow {
    #[diesel(sql_type = Text)]
    k: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    total: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s1: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s2: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s3: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s4: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    s5: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    q1: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    q2: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    q3: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    nc: Option<i64>,
}

/// Ratings of the months `from..=to` (`YYYY-MM`), grouped.
pub fn figures(
    conn: &mut DbConn,
    by: GroupBy,
    from: &str,
    to: &str,
) -> Result<Vec<Figures>, DbError> {
    let key = match by {
        GroupBy::Operator => "COALESCE(u.login, '-')",
        GroupBy::Queue => "r.queue",
        GroupBy::Channel => "r.channel",
        GroupBy::Month => "r.month",
    };
    let count = |cond: &str| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let sql = format!(
        "SELECT {key} AS k, COUNT(*) AS n, SUM(r.score) AS total, {}, {}, {}, {}, {}, {}, {}, {}, {} \
         FROM ratings r LEFT JOIN users u ON u.id = r.operator_id \
         WHERE r.month >= $1 AND r.month <= $2 GROUP BY {key} ORDER BY {key}",
        count("r.score = 1") + " AS s1",
        count("r.score = 2") + " AS s2",
        count("r.score = 3") + " AS s3",
        count("r.score = 4") + " AS s4",
        count("r.score = 5") + " AS s5",
        count("r.satisfied_process = 1") + " AS q1",
        count("r.satisfied_process = 2") + " AS q2",
        count("r.satisfied_process = 3") + " AS q3",
        count("r.comment IS NOT NULL") + " AS nc",
    );
    let rows: Vec<FigureRow> = diesel::sql_query(sql)
        .bind::<Text, _>(from)
        .bind::<Text, _>(to)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Figures {
            average: if r.n > 0 {
                (r.total.unwrap_or(0) as f64 / r.n as f64 * 100.0).round() / 100.0
            } else {
                0.0
            },
            key: r.k,
            ratings: r.n,
            scores: [
                r.s1.unwrap_or(0),
                r.s2.unwrap_or(0),
                r.s3.unwrap_or(0),
                r.s4.unwrap_or(0),
                r.s5.unwrap_or(0),
            ],
            satisfied: [r.q1.unwrap_or(0), r.q2.unwrap_or(0), r.q3.unwrap_or(0)],
            comments: r.nc.unwrap_or(0),
        })
        .collect())
}

/// The status page's rating state, when `key` opens the ticket's status page.
pub fn status_for(
    conn: &mut DbConn,
    number: &str,
    key: &str,
    now: NaiveDateTime,
) -> Result<Option<(String, StatusRating)>, DbError> {
    let row: Option<(String, Option<String>)> = tickets::table
        .filter(tickets::number.eq(number.to_ascii_uppercase()))
        .select((tickets::id, tickets::access_key_hash))
        .first(conn)
        .optional()?;
    let Some((id, Some(hash))) = row else {
        return Ok(None);
    };
    if key.is_empty()
        || !baylanys_core::constant_time_eq(
            hash.as_bytes(),
            crate::auth::hash_secret(key).as_bytes(),
        )
    {
        return Ok(None);
    }
    let state = status_rating(conn, &id, now)?;
    Ok(Some((id, state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn a_token_is_checked_for_signature_shape_and_expiry() {
        let key = b"k".to_vec();
        let exp = at("2026-12-10 00:00:00");
        let t = sign(&key, "abc", exp);
        assert_eq!(
            verify(&key, &t, at("2026-12-09 23:59:59")),
            Ok("abc".into())
        );
        assert_eq!(verify(&key, &t, exp), Err(TokenError::Expired));
        assert_eq!(verify(b"other", &t, exp), Err(TokenError::Forged));
        // A changed expiry or id breaks the signature.
        let forged = t.replacen("abc", "abd", 1);
        assert_eq!(verify(&key, &forged, exp), Err(TokenError::Forged));
        for junk in ["", ".", "a.b", "a.b.c", &"x".repeat(500)] {
            assert_eq!(verify(&key, junk, exp), Err(TokenError::Forged), "{junk}");
        }
    }

    #[test]
    fn comments_are_trimmed_bounded_and_cleaned() {
        assert_eq!(clean_comment(Some("  ")), Ok(None));
        assert_eq!(
            clean_comment(Some(" рахмет\u{7} ")),
            Ok(Some("рахмет".into()))
        );
        assert!(clean_comment(Some(&"я".repeat(MAX_COMMENT + 1))).is_err());
        assert!(clean_comment(Some(&"я".repeat(MAX_COMMENT))).is_ok());
    }

    #[test]
    fn months_are_in_almaty_time() {
        assert_eq!(month_of(at("2026-11-30 20:30:00")), "2026-12");
        assert_eq!(month_of(at("2026-11-30 17:00:00")), "2026-11");
    }
}
