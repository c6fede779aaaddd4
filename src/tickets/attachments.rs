//! Files that came with or go out with a message.

use baylanys_core::Attachment;
use diesel::prelude::*;

use crate::db::schema::attachments;
use crate::db::{Blob, DbConn, DbError, new_id};

pub fn store_attachment(
    conn: &mut DbConn,
    message_id: &str,
    a: &Attachment,
) -> Result<String, DbError> {
    let id = new_id();
    // Every channel's files are stored with a safe name and a type that can be served.
    let file_name =
        baylanys_core::safe_file_name(&a.file_name).unwrap_or_else(|| "attachment".into());
    let content_type = baylanys_core::media_type(&a.content_type)
        .unwrap_or_else(|| baylanys_core::sniff_media_type(&a.content).to_string());
    diesel::insert_into(attachments::table)
        .values((
            attachments::id.eq(&id),
            attachments::message_id.eq(message_id),
            attachments::file_name.eq(&file_name),
            attachments::content_type.eq(&content_type),
            attachments::size.eq(a.content.len() as i64),
            attachments::sha256.eq(crate::auth::sha256_hex(&a.content)),
            attachments::content.eq(Blob(a.content.clone())),
            attachments::created_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// One stored file: its name, type and bytes.
pub fn attachment(conn: &mut DbConn, id: &str) -> Result<Option<Attachment>, DbError> {
    let row: Option<(String, String, Blob)> = attachments::table
        .find(id)
        .select((
            attachments::file_name,
            attachments::content_type,
            attachments::content,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map(|(file_name, content_type, Blob(content))| Attachment {
            file_name,
            content_type,
            content,
        }),
    )
}
