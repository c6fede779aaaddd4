-- Idempotency-Key records of appeal submissions: written in the registering transaction,
-- kept 24 hours, so a retried request gets the first answer instead of a second ticket.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
