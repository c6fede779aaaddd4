//! Call recordings: uploaded with the event (base64) or fetched from the PBX's URL by a
//! job with retries; a size limit, a content-type check and a SHA-256 for each; deleted
//! by a daily job `recording_retention_days` after they were stored, unless a record
//! request (R11) holds them. Listening and download are for supervisors and the quality
//! and informatization bodies, and each one is recorded ([`listen`]).

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::{CallError, RecordingInput, recording_type};
use crate::db::schema::{
    call_access, call_recordings, calls, record_request_items, record_requests,
};
use crate::db::{Blob, DbConn, DbError, new_id};
use crate::jobs::{Failure, Job, JobContext, JobRow, Retry};

/// How long a released record request keeps its recordings from deletion.
pub const REQUEST_HOLD_DAYS: i64 = 30;

/// What the configuration says about recordings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_bytes: u64,
    /// 0 keeps recordings for ever.
    pub retention_days: u32,
}

impl Settings {
    pub fn of(config: &crate::config::Config) -> Settings {
        Settings {
            max_bytes: config.recording_max_bytes,
            retention_days: config.recording_retention_days,
        }
    }
}

text_enum!(
    /// Where a recording is.
    RecordingStatus, "recording status" {
        /// Waiting to be fetched from the PBX.
        Pending => "pending",
        Stored => "stored",
        /// The fetch gave up (the error says why).
        Failed => "failed",
        /// Removed after the retention period.
        Deleted => "deleted",
    }
);

/// Takes a recording the PBX handed over, in the event's transaction; true when a fetch
/// was queued. A call keeps the first recording it was given: a redelivery changes nothing.
pub fn accept(
    conn: &mut DbConn,
    call_id: &str,
    input: &RecordingInput,
    settings: &Settings,
    now: NaiveDateTime,
) -> Result<bool, CallError> {
    let existing: Option<String> = call_recordings::table
        .filter(call_recordings::call_id.eq(call_id))
        .select(call_recordings::status)
        .first(conn)
        .optional()?;
    if existing.is_some_and(|s| s != RecordingStatus::Failed.as_str()) {
        return Ok(false);
    }
    diesel::delete(call_recordings::table.filter(call_recordings::call_id.eq(call_id)))
        .execute(conn)?;
    match input {
        RecordingInput::Content {
            bytes,
            content_type,
        } => {
            if bytes.len() as u64 > settings.max_bytes {
                return Err(CallError::invalid(
                    "recording.content_base64",
                    format!("the recording is larger than {} bytes", settings.max_bytes),
                ));
            }
            store(conn, call_id, None, content_type, bytes, now)?;
            Ok(false)
        }
        RecordingInput::Url { url, content_type } => {
            let id = new_id();
            diesel::insert_into(call_recordings::table)
                .values((
                    call_recordings::id.eq(&id),
                    call_recordings::call_id.eq(call_id),
                    call_recordings::status.eq(RecordingStatus::Pending.as_str()),
                    call_recordings::source_url.eq(url),
                    call_recordings::content_type.eq(content_type),
                    call_recordings::created_at.eq(now),
                ))
                .execute(conn)?;
            crate::jobs::enqueue_job(
                conn,
                &FetchRecording {
                    recording_id: id,
                    call_id: call_id.to_string(),
                },
                None,
            )?;
            Ok(true)
        }
    }
}

fn store(
    conn: &mut DbConn,
    call_id: &str,
    url: Option<&str>,
    content_type: &str,
    bytes: &[u8],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(call_recordings::table)
        .values((
            call_recordings::id.eq(new_id()),
            call_recordings::call_id.eq(call_id),
            call_recordings::status.eq(RecordingStatus::Stored.as_str()),
            call_recordings::source_url.eq(url),
            call_recordings::content_type.eq(content_type),
            call_recordings::size.eq(bytes.len() as i64),
            call_recordings::sha256.eq(crate::auth::sha256_hex(bytes)),
            call_recordings::content.eq(Some(Blob(bytes.to_vec()))),
            call_recordings::created_at.eq(now),
            call_recordings::stored_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the call's view says about its recording.
pub fn summary(conn: &mut DbConn, call_id: &str) -> Result<serde_json::Value, DbError> {
    type Row = (
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = call_recordings::table
        .filter(call_recordings::call_id.eq(call_id))
        .select((
            call_recordings::status,
            call_recordings::content_type,
            call_recordings::size,
            call_recordings::sha256,
            call_recordings::error,
        ))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((status, ct, size, sha, error)) => serde_json::json!({
            "status": status, "content_type": ct, "size": size, "sha256": sha, "error": error,
        }),
        None => serde_json::Value::Null,
    })
}

/// A stored recording's bytes.
#[derive(Debug, Clone)]
pub struct Stored {
    pub content_type: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

/// The stored recording of a call, if any.
pub fn stored(conn: &mut DbConn, call_id: &str) -> Result<Option<Stored>, DbError> {
    let row: Option<(Option<String>, Option<String>, Option<Blob>)> = call_recordings::table
        .filter(call_recordings::call_id.eq(call_id))
        .filter(call_recordings::status.eq(RecordingStatus::Stored.as_str()))
        .select((
            call_recordings::content_type,
            call_recordings::sha256,
            call_recordings::content,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(ct, sha, content)| {
        Some(Stored {
            content_type: ct.unwrap_or_else(|| "application/octet-stream".into()),
            sha256: sha.unwrap_or_default(),
            content: content?.0,
        })
    }))
}

/// Records that `actor` listened to or downloaded a call's recording: in the calls'
/// access log and, when the call is on a ticket, in the ticket's audit log.
pub fn record_access(
    conn: &mut DbConn,
    call_id: &str,
    actor: &str,
    action: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(call_access::table)
        .values((
            call_access::id.eq(new_id()),
            call_access::call_id.eq(call_id),
            call_access::actor.eq(actor),
            call_access::action.eq(action),
            call_access::at.eq(now),
        ))
        .execute(conn)?;
    let ticket: Option<Option<String>> = calls::table
        .filter(calls::call_id.eq(call_id))
        .select(calls::ticket_id)
        .first(conn)
        .optional()?;
    if let Some(Some(ticket_id)) = ticket {
        crate::tickets::event(
            conn,
            &ticket_id,
            actor,
            "recording_accessed",
            serde_json::json!({"call_id": call_id, "action": action}),
        )?;
    }
    Ok(())
}

/// The access log of a call's recording, oldest first.
pub fn access_log(conn: &mut DbConn, call_id: &str) -> Result<Vec<serde_json::Value>, DbError> {
    let rows: Vec<(String, String, NaiveDateTime)> = call_access::table
        .filter(call_access::call_id.eq(call_id))
        .order(call_access::at.asc())
        .select((call_access::actor, call_access::action, call_access::at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(actor, action, at)| serde_json::json!({"actor": actor, "action": action, "at": at.and_utc()}))
        .collect())
}

/// Fetches a recording from the PBX's URL (retried with backoff; a 4xx, a wrong type or
/// an oversized file is given up at once and stays visible on the call).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchRecording {
    pub recording_id: String,
    pub call_id: String,
}

impl Job for FetchRecording {
    const NAME: &'static str = "fetch_recording";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("recording:{}", self.recording_id))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let app = ctx.app.clone();
        let id = self.recording_id.clone();
        let row: Option<(String, Option<String>, Option<String>)> = app
            .db
            .run(move |c| {
                Ok(call_recordings::table
                    .find(&id)
                    .select((
                        call_recordings::status,
                        call_recordings::source_url,
                        call_recordings::content_type,
                    ))
                    .first(c)
                    .optional()?)
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        let Some((status, Some(url), declared)) = row else {
            return Ok(());
        };
        if status != RecordingStatus::Pending.as_str() {
            return Ok(());
        }
        let settings = Settings::of(&app.config);
        let (ct, bytes) = fetch(&url, declared.as_deref(), settings.max_bytes).await?;
        let sha = crate::auth::sha256_hex(&bytes);
        let size = bytes.len() as i64;
        let id = self.recording_id.clone();
        let now = app.clock.now().naive_utc();
        app.db
            .write(move |c| {
                diesel::update(
                    call_recordings::table
                        .find(&id)
                        .filter(call_recordings::status.eq(RecordingStatus::Pending.as_str())),
                )
                .set((
                    call_recordings::status.eq(RecordingStatus::Stored.as_str()),
                    call_recordings::content_type.eq(&ct),
                    call_recordings::size.eq(size),
                    call_recordings::sha256.eq(&sha),
                    call_recordings::content.eq(Some(Blob(bytes.clone()))),
                    call_recordings::error.eq(None::<String>),
                    call_recordings::stored_at.eq(now),
                ))
                .execute(c)?;
                Ok(())
            })
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        Ok(())
    }

    fn failed(
        &self,
        conn: &mut DbConn,
        _row: &JobRow,
        gave_up: bool,
        error: &str,
    ) -> Result<(), DbError> {
        let status = if gave_up {
            RecordingStatus::Failed
        } else {
            RecordingStatus::Pending
        };
        diesel::update(
            call_recordings::table
                .find(&self.recording_id)
                .filter(call_recordings::status.eq(RecordingStatus::Pending.as_str())),
        )
        .set((
            call_recordings::status.eq(status.as_str()),
            call_recordings::error.eq(error),
        ))
        .execute(conn)?;
        Ok(())
    }
}

/// GETs a recording: 2xx with a recording type within the size limit.
async fn fetch(
    url: &str,
    declared: Option<&str>,
    max_bytes: u64,
) -> Result<(String, Vec<u8>), Failure> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| (e.to_string(), Retry::After(None)))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| (format!("the PBX did not answer: {e}"), Retry::After(None)))?;
    let status = resp.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err((format!("the PBX answered {status}"), Retry::After(None)));
    }
    if !status.is_success() {
        return Err((format!("the PBX answered {status}"), Retry::Never));
    }
    let header = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ct = match header.as_deref().or(declared) {
        Some(c) => recording_type(c).ok_or_else(|| {
            (
                format!("the PBX sent `{c}`, which is not a recording type"),
                Retry::Never,
            )
        })?,
        None => return Err(("the PBX sent no content type".into(), Retry::Never)),
    };
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Err((
            format!("the recording is larger than {max_bytes} bytes"),
            Retry::Never,
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        (
            format!("the recording's transfer broke off: {e}"),
            Retry::After(None),
        )
    })? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_bytes {
            return Err((
                format!("the recording is larger than {max_bytes} bytes"),
                Retry::Never,
            ));
        }
    }
    if bytes.is_empty() {
        return Err(("the PBX sent an empty recording".into(), Retry::After(None)));
    }
    Ok((ct, bytes))
}

/// Recordings due for deletion at `now`: stored longer than the retention period and
/// held by no record request (one not yet released, or released in the last
/// [`REQUEST_HOLD_DAYS`] days).
pub fn expired(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let cutoff = now - TimeDelta::days(i64::from(days));
    let hold_from = now - TimeDelta::days(REQUEST_HOLD_DAYS);
    let held = record_request_items::table
        .inner_join(record_requests::table)
        .filter(record_request_items::kind.eq("call"))
        .filter(
            record_requests::released_at
                .is_null()
                .or(record_requests::released_at.gt(hold_from)),
        )
        .select(record_request_items::ref_id);
    Ok(call_recordings::table
        .filter(call_recordings::status.eq(RecordingStatus::Stored.as_str()))
        .filter(call_recordings::stored_at.lt(cutoff))
        .filter(call_recordings::call_id.ne_all(held))
        .select(call_recordings::id)
        .limit(limit)
        .load(conn)?)
}

/// The daily deletion of expired recordings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordingRetention {
    pub day: String,
}

impl Job for RecordingRetention {
    const NAME: &'static str = "recording_retention";

    fn dedupe_key(&self) -> Option<String> {
        Some(format!("recording-retention:{}", self.day))
    }

    async fn run(self, ctx: JobContext) -> Result<(), Failure> {
        let days = ctx.app.config.recording_retention_days;
        if days == 0 {
            return Ok(());
        }
        let now = ctx.app.clock.now().naive_utc();
        let removed = ctx
            .app
            .db
            .write(move |c| delete_expired(c, now, days))
            .await
            .map_err(|e| (e.to_string(), Retry::After(None)))?;
        if removed > 0 {
            tracing::info!(
                recordings = removed,
                days,
                "recordings past their retention deleted"
            );
        }
        Ok(())
    }
}

/// Deletes every expired recording's content (the row stays, marked deleted, with its
/// sha256 as evidence of what was held). Returns how many.
pub fn delete_expired(conn: &mut DbConn, now: NaiveDateTime, days: u32) -> Result<usize, DbError> {
    let mut removed = 0;
    loop {
        let ids = expired(conn, now, days, 500)?;
        if ids.is_empty() {
            return Ok(removed);
        }
        removed += diesel::update(call_recordings::table.filter(call_recordings::id.eq_any(&ids)))
            .set((
                call_recordings::status.eq(RecordingStatus::Deleted.as_str()),
                call_recordings::content.eq(None::<Blob>),
                call_recordings::deleted_at.eq(now),
            ))
            .execute(conn)?;
    }
}
