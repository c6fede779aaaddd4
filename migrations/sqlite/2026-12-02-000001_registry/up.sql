-- The registry of bodies (F1-F9, O1): who forwards and outage notices go to, their
-- responsible persons, and the catalogue of e-government systems they subscribe to.
CREATE TABLE bodies (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    region TEXT,
    -- Where forwards and notices are e-mailed.
    email TEXT,
    -- JSON array of phone numbers.
    phones TEXT NOT NULL DEFAULT '[]',
    address TEXT,
    website TEXT,
    working_hours TEXT,
    webhook_url TEXT,
    webhook_secret TEXT,
    -- A regular expression matching the body's own reference numbers in mail.
    ref_pattern TEXT,
    -- The chat a responsible person linked with `/link CODE` for outage notices.
    telegram_chat_id TEXT,
    -- F1: none | daily | weekly.
    digest TEXT NOT NULL DEFAULT 'none',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX bodies_kind ON bodies (kind);

CREATE TABLE body_persons (
    id TEXT PRIMARY KEY NOT NULL,
    body_id TEXT NOT NULL REFERENCES bodies (id),
    name TEXT NOT NULL,
    position TEXT,
    phones TEXT NOT NULL DEFAULT '[]',
    email TEXT,
    telegram_chat_id TEXT,
    -- The ICI operator's group of responsible persons (001 §17.3): default target of ICT forwards.
    ict_group INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX body_persons_body ON body_persons (body_id);

CREATE TABLE systems (
    code TEXT PRIMARY KEY NOT NULL,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Subscriptions to outage notices. A code need not be in `systems` yet: bodies can be
-- registered before the catalogue is complete.
CREATE TABLE body_systems (
    body_id TEXT NOT NULL REFERENCES bodies (id),
    system_code TEXT NOT NULL,
    PRIMARY KEY (body_id, system_code)
);
CREATE INDEX body_systems_code ON body_systems (system_code);

-- Agency and ICI users belong to one body; a contact can be a body's staff member (R12).
ALTER TABLE users ADD COLUMN body_id TEXT;
ALTER TABLE contacts ADD COLUMN body_id TEXT;
