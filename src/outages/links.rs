//! Linking a Telegram chat for outage notices (O1): an administrator issues a one-time
//! code for a body (or one of its persons); `/link CODE` sent to the bot from the chat
//! that should receive notices links it. Codes are stored hashed and last 24 hours.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::schema::{bodies, body_persons, telegram_link_codes};
use crate::db::{DbConn, DbError};

pub const CODE_HOURS: i64 = 24;

/// A fresh code for `body_id` (and `person_id`, which must be the body's); `None` when
/// there is no such body or person.
pub fn issue(
    conn: &mut DbConn,
    body_id: &str,
    person_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<(String, DateTime<Utc>), String>, DbError> {
    let body: Option<String> = bodies::table
        .find(body_id)
        .select(bodies::id)
        .first(conn)
        .optional()?;
    if body.is_none() {
        return Ok(Err(format!("no body `{body_id}`")));
    }
    if let Some(p) = person_id {
        let of: Option<String> = body_persons::table
            .find(p)
            .select(body_persons::body_id)
            .first(conn)
            .optional()?;
        if of.as_deref() != Some(body_id) {
            return Ok(Err(format!("no person `{p}` in body `{body_id}`")));
        }
    }
    // Short enough to type, random enough (60 bits) for a code that lives a day.
    let code = crate::auth::random_secret()[..15].to_uppercase();
    let expires = now + Duration::hours(CODE_HOURS);
    diesel::insert_into(telegram_link_codes::table)
        .values((
            telegram_link_codes::code_hash.eq(crate::auth::hash_secret(&code)),
            telegram_link_codes::body_id.eq(body_id),
            telegram_link_codes::person_id.eq(person_id),
            telegram_link_codes::expires_at.eq(expires.naive_utc()),
            telegram_link_codes::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(Ok((code, expires)))
}

/// Links `chat_id` with `code`, once; returns the name of what was linked.
pub fn link(
    conn: &mut DbConn,
    chat_id: i64,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    let hash = crate::auth::hash_secret(code.trim().to_uppercase().as_str());
    let row: Option<(String, Option<String>)> = telegram_link_codes::table
        .find(&hash)
        .filter(telegram_link_codes::used_at.is_null())
        .filter(telegram_link_codes::expires_at.gt(now.naive_utc()))
        .select((telegram_link_codes::body_id, telegram_link_codes::person_id))
        .first(conn)
        .optional()?;
    let Some((body_id, person_id)) = row else {
        return Ok(None);
    };
    let taken = diesel::update(
        telegram_link_codes::table
            .find(&hash)
            .filter(telegram_link_codes::used_at.is_null()),
    )
    .set((
        telegram_link_codes::used_at.eq(now.naive_utc()),
        telegram_link_codes::chat_id.eq(chat_id.to_string()),
    ))
    .execute(conn)?;
    if taken == 0 {
        return Ok(None);
    }
    let chat = chat_id.to_string();
    let name = match &person_id {
        Some(p) => {
            diesel::update(body_persons::table.find(p))
                .set(body_persons::telegram_chat_id.eq(&chat))
                .execute(conn)?;
            body_persons::table
                .find(p)
                .select(body_persons::name)
                .first::<String>(conn)?
        }
        None => {
            diesel::update(bodies::table.find(&body_id))
                .set(bodies::telegram_chat_id.eq(&chat))
                .execute(conn)?;
            let (kk, ru): (String, String) = bodies::table
                .find(&body_id)
                .select((bodies::name_kk, bodies::name_ru))
                .first(conn)?;
            format!("{kk} / {ru}")
        }
    };
    Ok(Some(name))
}
