-- Forwards (F1, F2, F3, F9): a ticket's question sent to a registry body, with what was
-- sent (masked), its own deadline, its deliveries, and the body's answer or refusal.
CREATE TABLE forwards (
    id TEXT PRIMARY KEY NOT NULL,
    -- Our reference, `UCC-2026-000042-F1`: in the subject of every mail about it.
    reference TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    body_id TEXT NOT NULL REFERENCES bodies (id),
    body_kind TEXT NOT NULL,
    category TEXT,
    -- As the operator wrote it; staff only.
    question TEXT NOT NULL,
    -- JSON: what the body received (the masked question, messages and attachment ids).
    sent TEXT NOT NULL,
    include_personal_data INTEGER NOT NULL DEFAULT 0,
    -- open | answered | declined
    status TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    -- JSON: the deadline with its explanation.
    deadline TEXT NOT NULL,
    -- The body's own reference numbers found in its mail (JSON array).
    body_references TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    answer_message_id TEXT REFERENCES messages (id),
    declined_at TIMESTAMP,
    decline_reason TEXT,
    -- Who answered or declined: a login, or `mail:<address>`.
    closed_by TEXT,
    relayed_at TIMESTAMP,
    -- F4: the quality notice this refusal is evidence in.
    quality_notice_id TEXT
);
CREATE INDEX forwards_status_due ON forwards (status, due_at, id);
CREATE INDEX forwards_due ON forwards (due_at, id);
CREATE INDEX forwards_body_status_due ON forwards (body_id, status, due_at, id);
CREATE INDEX forwards_ticket ON forwards (ticket_id);
CREATE INDEX forwards_body_declined ON forwards (body_id, declined_at);

-- One row per addressee and channel (and per reminder): attempts and errors stay visible.
CREATE TABLE forward_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    forward_id TEXT NOT NULL REFERENCES forwards (id),
    -- forward | reminder
    purpose TEXT NOT NULL,
    -- email | webhook
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    message_id TEXT,
    -- queued | retrying | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    -- JSON array of {at, error} for each failed attempt (the newest 20).
    history TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX forward_deliveries_forward ON forward_deliveries (forward_id);

-- Messages of a ticket that came from a body about a forward: the answer, later
-- replies (kept too), and replies held because they failed the sender checks.
CREATE TABLE forward_messages (
    message_id TEXT PRIMARY KEY NOT NULL REFERENCES messages (id),
    forward_id TEXT NOT NULL REFERENCES forwards (id),
    -- answer | later | held | accepted
    state TEXT NOT NULL,
    reason TEXT,
    decided_by TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX forward_messages_forward ON forward_messages (forward_id);

-- F4: a body's second refusal within 30 days, to the quality body.
CREATE TABLE quality_notices (
    id TEXT PRIMARY KEY NOT NULL,
    body_id TEXT NOT NULL REFERENCES bodies (id),
    quality_body_id TEXT REFERENCES bodies (id),
    -- JSON: the refusals and their tickets.
    evidence TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    deadline TEXT NOT NULL,
    -- awaiting_confirmation | queued | retrying | sent | failed
    status TEXT NOT NULL,
    confirmed_by TEXT,
    confirmed_at TIMESTAMP,
    sent_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX quality_notices_created ON quality_notices (created_at);
