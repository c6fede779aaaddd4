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
        Some(Key::TelegramChat)
    } else if whatsapp.is_some() {
        Some(Key::WhatsApp)
    } else if email.is_some() {
        Some(Key::Email)
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
    // Keep what the applicant told us most recently; never blank out what we knew. One
    // fixed text per identity, so each connection prepares it once.
    macro_rules! upsert {
        ($key:literal) => {
            concat!(
                "INSERT INTO contacts (id, kind, name, email, phone, telegram_chat_id, iin_bin, \
                 language, created_at, updated_at, whatsapp_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (",
                $key,
                ") WHERE ",
                $key,
                " IS NOT NULL DO UPDATE SET \
                 name = COALESCE(excluded.name, contacts.name), \
                 phone = COALESCE(excluded.phone, contacts.phone), \
                 iin_bin = COALESCE(excluded.iin_bin, contacts.iin_bin), \
                 updated_at = excluded.updated_at RETURNING id"
            )
        };
    }
    let sql = match key {
        Key::TelegramChat => upsert!("telegram_chat_id"),
        Key::WhatsApp => upsert!("whatsapp_id"),
        Key::Email => upsert!("email"),
    };
    use crate::db::prepared::{self, Value};
    let rows: Vec<ContactId> = prepared::load(
        conn,
        sql,
        &[
            Value::Text(&id),
            Value::Text(kind),
            Value::OptText(s.display_name.as_deref()),
            Value::OptText(email.as_deref()),
            Value::OptText(s.phone.as_deref()),
            Value::OptText(chat.as_deref()),
            Value::OptText(iin.as_deref()),
            Value::OptText(msg.language.map(|l| l.as_str())),
            Value::Time(now),
            Value::Time(now),
            Value::OptText(whatsapp.as_deref()),
        ],
    )?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| DbError::Unavailable("the contact upsert returned no row".into()))?;
    Ok(row.id)
}

/// The channel identity a contact is found by.
enum Key {
    TelegramChat,
    WhatsApp,
    Email,
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
