//! The ticket's audit log: every change, who made it and when, append-only.

use diesel::prelude::*;

use crate::db::schema::ticket_events;
use crate::db::{DbConn, DbError, new_id};

/// Appends to the audit log.
pub fn event(
    conn: &mut DbConn,
    ticket_id: &str,
    actor: &str,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), DbError> {
    diesel::insert_into(ticket_events::table)
        .values((
            ticket_events::id.eq(new_id()),
            ticket_events::ticket_id.eq(ticket_id),
            ticket_events::at.eq(crate::db::now()),
            ticket_events::actor.eq(actor),
            ticket_events::kind.eq(kind),
            ticket_events::data.eq(data.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}
