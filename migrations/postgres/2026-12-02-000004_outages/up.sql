-- Planned-outage broadcasts (O1): what the ICI operator declared, every notice sent about
-- it with its frozen recipient list, and one delivery record per recipient and channel.
CREATE TABLE outages (
    id TEXT PRIMARY KEY NOT NULL,
    -- planned | emergency
    kind TEXT NOT NULL,
    -- active | completed | cancelled (upcoming or in progress is read from the clock)
    status TEXT NOT NULL,
    -- full | partial
    impact TEXT NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    -- JSON array of system codes.
    systems TEXT NOT NULL,
    title_kk TEXT NOT NULL,
    title_ru TEXT NOT NULL,
    text_kk TEXT NOT NULL,
    text_ru TEXT NOT NULL,
    -- Why an emergency could not wait (required for emergencies).
    reason TEXT,
    declared_by TEXT NOT NULL,
    declared_at TIMESTAMP NOT NULL,
    -- iCalendar SEQUENCE: raised by every reschedule, edit and cancellation.
    sequence INTEGER NOT NULL DEFAULT 0,
    -- The notice that announced the current start: the 24-hour lead is measured on it.
    lead_notice_id TEXT,
    lead_breach INTEGER NOT NULL DEFAULT 0,
    breach_reason TEXT,
    breached_at TIMESTAMP,
    completed_at TIMESTAMP,
    cancelled_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX outages_starts_at ON outages (starts_at);

CREATE TABLE outage_notices (
    id TEXT PRIMARY KEY NOT NULL,
    outage_id TEXT NOT NULL REFERENCES outages (id),
    -- declared | rescheduled | edited | cancelled | reminder_24h | reminder_1h | started | completed
    kind TEXT NOT NULL,
    -- One notice per key, however often its job runs.
    dedupe_key TEXT NOT NULL UNIQUE,
    sequence INTEGER NOT NULL,
    -- What it announced.
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    ics TEXT NOT NULL,
    webhook_payload TEXT NOT NULL,
    recipients INTEGER NOT NULL,
    -- When its recipient list was frozen and its deliveries queued.
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outage_notices_outage ON outage_notices (outage_id);

CREATE TABLE outage_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    notice_id TEXT NOT NULL REFERENCES outage_notices (id),
    outage_id TEXT NOT NULL,
    body_id TEXT NOT NULL,
    person_id TEXT,
    -- email | telegram | webhook | none (the body has no address at all)
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    -- queued | retrying | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    -- The far side's accept: the SMTP reply text, the webhook's HTTP answer, Telegram's message id.
    accepted_reply TEXT,
    last_error TEXT,
    last_attempt_at TIMESTAMP,
    failed_at TIMESTAMP,
    UNIQUE (notice_id, channel, address)
);
CREATE INDEX outage_deliveries_outage ON outage_deliveries (outage_id, body_id);

-- One-time codes an administrator issues; `/link CODE` sent to the bot links that chat.
CREATE TABLE telegram_link_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    body_id TEXT NOT NULL REFERENCES bodies (id),
    person_id TEXT,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    chat_id TEXT,
    created_at TIMESTAMP NOT NULL
);
