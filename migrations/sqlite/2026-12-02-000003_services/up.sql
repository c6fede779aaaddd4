-- Services of the registry (F5-F7, 001 Appendix 1; the passport of 002 §10-11), their
-- onboarding timeline, the tickets linked to them (F1 digests, monthly reports), and the
-- record of each body's digests.
CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    -- The service's number in the register of public services.
    register_number TEXT NOT NULL,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    -- The providing body.
    body_id TEXT NOT NULL REFERENCES bodies (id),
    -- The body that wrote the service standard (002 §10), when another.
    standard_body_id TEXT REFERENCES bodies (id),
    -- A person of the providing body (Appendix 1).
    responsible_person_id TEXT REFERENCES body_persons (id),
    -- The by-laws that define the procedure, with their details, and their changes.
    bylaws TEXT NOT NULL DEFAULT '',
    bylaw_changes TEXT NOT NULL DEFAULT '',
    web_page TEXT,
    -- JSON: the passport (term, forms, result, fee, schedule, documents, refusal grounds,
    -- complaints, other requirements: {"kk","ru"} each; ucc_number).
    passport TEXT NOT NULL DEFAULT '{}',
    -- JSON array of words that propose the service for a ticket.
    keywords TEXT NOT NULL DEFAULT '[]',
    -- Lower-cased names, number and keywords: the `q` search.
    search_text TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX services_register_number ON services (register_number);
CREATE INDEX services_body ON services (body_id);

-- The onboarding timeline (F5-F7): a row per step, recorded (done_on) or expected with
-- its deadline (due_at, from the national calendar).
CREATE TABLE service_steps (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id),
    step TEXT NOT NULL,
    -- The step whose date started this one's deadline, and that date (YYYY-MM-DD).
    after_step TEXT,
    after_date TEXT,
    due_at TIMESTAMP,
    -- The date it happened (YYYY-MM-DD); NULL while expected.
    done_on TEXT,
    note TEXT,
    recorded_by TEXT,
    -- When the overdue escalation went (once per step).
    escalated_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX service_steps_service ON service_steps (service_id);
CREATE INDEX service_steps_open ON service_steps (done_on, due_at);

-- Which services a ticket is about: set by an operator, or a proposal accepted by one.
CREATE TABLE ticket_services (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    service_id TEXT NOT NULL REFERENCES services (id),
    -- operator | proposal
    source TEXT NOT NULL,
    linked_by TEXT NOT NULL,
    linked_at TIMESTAMP NOT NULL,
    PRIMARY KEY (ticket_id, service_id)
);
CREATE INDEX ticket_services_service ON ticket_services (service_id);

-- F1: one digest per body and period; the primary key makes it once with any number of
-- instances.
CREATE TABLE body_digests (
    body_id TEXT NOT NULL REFERENCES bodies (id),
    -- 2026-12-02 (daily) or 2026-W49 (weekly).
    period TEXT NOT NULL,
    window_from TIMESTAMP NOT NULL,
    window_to TIMESTAMP NOT NULL,
    tickets INTEGER NOT NULL,
    notice_id TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (body_id, period)
);

CREATE INDEX contacts_body ON contacts (body_id);
