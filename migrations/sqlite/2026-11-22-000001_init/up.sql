-- Portable schema: ids are UUIDv7 text, instants are UTC TIMESTAMP, booleans INTEGER 0/1,
-- JSON is TEXT. The PostgreSQL migration of the same name creates the same tables.
CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL DEFAULT 'person',
    name TEXT,
    email TEXT,
    phone TEXT,
    telegram_chat_id TEXT,
    iin_bin TEXT,
    language TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX contacts_email ON contacts (email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_telegram ON contacts (telegram_chat_id) WHERE telegram_chat_id IS NOT NULL;

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    queue TEXT,
    password_hash TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    number TEXT NOT NULL UNIQUE,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    channel TEXT NOT NULL,
    conversation TEXT,
    status TEXT NOT NULL,
    queue TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    subject TEXT NOT NULL,
    language TEXT NOT NULL,
    region TEXT,
    topic TEXT,
    access_key_hash TEXT,
    registered_at TIMESTAMP NOT NULL,
    effective_from TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    deadline TEXT NOT NULL,
    answered_at TIMESTAMP,
    closed_at TIMESTAMP,
    rating INTEGER,
    search_text TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tickets_status_due ON tickets (status, due_at);
CREATE INDEX tickets_contact ON tickets (contact_id, status);
CREATE INDEX tickets_registered ON tickets (registered_at, id);

CREATE TABLE raw_payloads (
    id TEXT PRIMARY KEY NOT NULL,
    channel TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    content BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    ticket_id TEXT REFERENCES tickets (id),
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX raw_payloads_status ON raw_payloads (status, received_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    author_id TEXT REFERENCES users (id),
    address TEXT NOT NULL,
    subject TEXT,
    body_text TEXT NOT NULL,
    body_html TEXT,
    external_id TEXT,
    raw_payload_id TEXT REFERENCES raw_payloads (id),
    delivery_status TEXT,
    delivery_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX messages_ticket ON messages (ticket_id, created_at);
CREATE INDEX messages_external ON messages (external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_address ON messages (address, created_at);

CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages (id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

CREATE TABLE ticket_events (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    ticket_id TEXT REFERENCES tickets (id),
    status TEXT NOT NULL,
    run_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_until TIMESTAMP,
    leased_by TEXT,
    dedupe_key TEXT UNIQUE,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);

CREATE TABLE calendar_days (
    day TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TIMESTAMP NOT NULL
);

CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);

CREATE TABLE channel_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
