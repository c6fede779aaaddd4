//! Who writes: one contact per channel identity (an e-mail address, a Telegram chat),
//! found again by one upsert, whichever channel the message came by.

use baylanys_core::{Channel, InboundMessage};
use diesel::prelude::*;

use crate::db::schema::contacts;
use crate::db::{DbConn, DbError, new_id};

pub fn find_or_create_contact(conn: &mut DbConn, msg: &InboundMessage) -> Result<String, DbError> {
    let s = &msg.sender;
    let email = s
        .email
        .clone()
        .or_else(|| (msg.channel == Channel::Email).then(|| s.address.to_lowercase()));
    let chat = (msg.channel == Channel::Telegram).then(|| s.address.clone());
    let whatsapp = (msg.channel == Channel::WhatsApp).then(|| s.address.clone());
    let iin = msg
        .fields
        .get("iin")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let kind = if iin.as_deref().is_some_and(is_bin) {
        "organisation"
    } else {
        "person"
    };
    let now = crate::db::now();
    let id = new_id();
    // The channel identity that finds the contact again: one upsert, one round trip.
    let key = if chat.is_some() {
        Some("telegram_chat_id")
    } else if whatsapp.is_some() {
        Some("whatsapp_id")
    } else if email.is_some() {
        Some("email")
    } else {
        None
    };
    let Some(key) = key else {
        diesel::insert_into(contacts::table)
            .values((
                contacts::id.eq(&id),
                contacts::kind.eq(kind),
                contacts::name.eq(&s.display_name),
                contacts::phone.eq(&s.phone),
                contacts::iin_bin.eq(&iin),
                contacts::language.eq(msg.language.map(|l| l.as_str())),
                contacts::created_at.eq(now),
                contacts::updated_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(id);
    };
    // Keep what the applicant told us most recently; never blank out what we knew.
    let upsert = |p: fn(usize) -> String| {
        format!(
            "INSERT INTO contacts (id, kind, name, email, phone, telegram_chat_id, iin_bin, language, \
             created_at, updated_at, whatsapp_id) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) \
             ON CONFLICT ({key}) WHERE {key} IS NOT NULL DO UPDATE SET \
             name = COALESCE(excluded.name, contacts.name), \
             phone = COALESCE(excluded.phone, contacts.phone), \
             iin_bin = COALESCE(excluded.iin_bin, contacts.iin_bin), \
             updated_at = excluded.updated_at RETURNING id",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            p(8),
            p(9),
            p(10),
            p(11)
        )
    };
    use diesel::sql_types::{Nullable, Text, Timestamp};
    let bind = |sql: String| {
        diesel::sql_query(sql)
            .bind::<Text, _>(id.clone())
            .bind::<Text, _>(kind)
            .bind::<Nullable<Text>, _>(s.display_name.clone())
            .bind::<Nullable<Text>, _>(email.clone())
            .bind::<Nullable<Text>, _>(s.phone.clone())
            .bind::<Nullable<Text>, _>(chat.clone())
            .bind::<Nullable<Text>, _>(iin.clone())
            .bind::<Nullable<Text>, _>(msg.language.map(|l| l.as_str()))
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now)
            .bind::<Nullable<Text>, _>(whatsapp.clone())
    };
    let row: ContactId = match conn {
        DbConn::Pg(c) => bind(upsert(|n| format!("${n}"))).get_result(c)?,
        DbConn::Sqlite(c) => bind(upsert(|_| "?".to_string())).get_result(c)?,
    };
    Ok(row.id)
}

#[derive(QueryableByName)]
struct ContactId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// A BIN has 4, 5 or 6 as its fifth digit (the kind of legal entity); an IIN's fifth
/// digit is a month digit, 0 or 1.
fn is_bin(code: &str) -> bool {
    matches!(code.as_bytes().get(4), Some(b'4' | b'5' | b'6'))
}

/// The contact of a WhatsApp user (`wa_id`), created on first contact, like
/// [`telegram_chat`].
pub fn whatsapp_user(conn: &mut DbConn, wa_id: &str) -> Result<String, DbError> {
    let sender = baylanys_core::Sender {
        address: wa_id.to_string(),
        ..Default::default()
    };
    find_or_create_contact(conn, &InboundMessage::new(Channel::WhatsApp, sender, ""))
}

/// The contact of a Telegram chat, created on first contact: the same upsert as intake's,
/// so a chat is one contact however it first wrote (a command, an appeal).
pub fn telegram_chat(conn: &mut DbConn, chat: &str) -> Result<String, DbError> {
    let sender = baylanys_core::Sender {
        address: chat.to_string(),
        ..Default::default()
    };
    find_or_create_contact(conn, &InboundMessage::new(Channel::Telegram, sender, ""))
}
