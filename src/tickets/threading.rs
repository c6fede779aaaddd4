//! Which ticket a message continues: a reply to one of our messages, the number in the
//! subject, or the open conversation of a chat; only for the applicant or a participant.

use baylanys_core::{Channel, InboundMessage};
use diesel::prelude::*;

use super::intake::Registered;
use super::{Direction, Status};
use crate::db::schema::{messages, tickets};
use crate::db::{DbConn, DbError};

#[derive(Queryable, Selectable)]
#[diesel(table_name = tickets)]
pub struct ThreadTarget {
    #[diesel(column_name = id)]
    pub ticket_id: String,
    pub number: String,
    pub status: String,
    pub registered_at: chrono::NaiveDateTime,
    pub due_at: chrono::NaiveDateTime,
    pub effective_from: String,
    pub language: String,
    pub contact_id: String,
}

/// Which ticket a message continues, if any. A reference to one of our Message-IDs wins,
/// then the number in the subject; either only when the sender is the ticket's applicant
/// or has written on it before, so a stranger quoting a number opens a new ticket.
pub fn find_thread(
    conn: &mut DbConn,
    msg: &InboundMessage,
    contact_id: &str,
) -> Result<Option<ThreadTarget>, DbError> {
    // A web form is a new appeal; the status page's addition names its ticket (the page
    // proved the access key before it got here).
    let web_addition = msg.channel == Channel::WebForm && msg.thread.number_in_subject.is_some();
    if msg.thread.force_new || (msg.channel == Channel::WebForm && !web_addition) {
        return Ok(None);
    }
    let mut candidates: Vec<String> = Vec::new();
    if !msg.thread.references.is_empty() {
        let ids: Vec<String> = messages::table
            .filter(messages::external_id.eq_any(&msg.thread.references))
            .select(messages::ticket_id)
            .load(conn)?;
        candidates.extend(ids);
    }
    if let Some(number) = &msg.thread.number_in_subject {
        let ids: Vec<String> = tickets::table
            .filter(tickets::number.eq(number.to_ascii_uppercase()))
            .select(tickets::id)
            .load(conn)?;
        candidates.extend(ids);
    }
    if let Some(conversation) = &msg.thread.conversation {
        // Chat channels: the contact's latest ticket on this conversation that is not closed.
        let id: Option<String> = tickets::table
            .filter(tickets::contact_id.eq(contact_id))
            .filter(tickets::conversation.eq(conversation))
            .filter(tickets::status.ne(Status::Closed.as_str()))
            .order(tickets::registered_at.desc())
            .select(tickets::id)
            .first(conn)
            .optional()?;
        candidates.extend(id);
    }
    for id in candidates {
        let Some(t) = tickets::table
            .find(&id)
            .select(ThreadTarget::as_select())
            .first(conn)
            .optional()?
        else {
            continue;
        };
        let participant = t.contact_id == contact_id
            || messages::table
                .filter(messages::ticket_id.eq(&t.ticket_id))
                .filter(messages::direction.eq(Direction::In.as_str()))
                .filter(messages::address.eq(&msg.sender.address))
                .count()
                .get_result::<i64>(conn)?
                > 0;
        if participant {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

impl ThreadTarget {
    pub fn registered(self, message_id: String) -> Registered {
        Registered {
            ticket_id: self.ticket_id,
            number: self.number,
            new_ticket: false,
            registered_at: self.registered_at.and_utc(),
            due_at: self.due_at.and_utc(),
            effective_from: self.effective_from,
            language: self.language.parse().unwrap_or_default(),
            access_key: None,
            message_id,
            added: true,
        }
    }
}
