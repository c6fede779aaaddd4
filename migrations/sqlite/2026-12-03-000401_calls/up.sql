-- The phone channel (R2, R3, R10, R11): calls reported by the PBX or imported from its
-- CSV records, their recordings, who listened, and record requests.
CREATE TABLE calls (
    id TEXT PRIMARY KEY NOT NULL,
    call_id TEXT NOT NULL UNIQUE,
    caller TEXT NOT NULL,
    called TEXT NOT NULL,
    queue TEXT NOT NULL,
    arrived_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    ended_at TIMESTAMP,
    operator TEXT,
    disposition TEXT,
    wait_secs BIGINT,
    local_day TEXT NOT NULL,
    local_hour INTEGER NOT NULL,
    survey INTEGER,
    ticket_id TEXT REFERENCES tickets (id),
    source TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX calls_day ON calls (local_day);
CREATE INDEX calls_caller ON calls (caller, local_day);

CREATE TABLE call_recordings (
    id TEXT PRIMARY KEY NOT NULL,
    call_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    source_url TEXT,
    content_type TEXT,
    size BIGINT,
    sha256 TEXT,
    content BLOB,
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    stored_at TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE INDEX call_recordings_stored ON call_recordings (stored_at);

CREATE TABLE call_access (
    id TEXT PRIMARY KEY NOT NULL,
    call_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX call_access_call ON call_access (call_id, at);

CREATE TABLE record_requests (
    id TEXT PRIMARY KEY NOT NULL,
    requester TEXT NOT NULL,
    requester_role TEXT NOT NULL,
    day TEXT NOT NULL,
    phone TEXT NOT NULL,
    time_from TEXT,
    time_to TEXT,
    ticket_number TEXT,
    status TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    released_by TEXT,
    downloaded_at TIMESTAMP,
    escalated_at TIMESTAMP
);

CREATE TABLE record_request_items (
    id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL REFERENCES record_requests (id),
    kind TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    UNIQUE (request_id, kind, ref_id)
);
