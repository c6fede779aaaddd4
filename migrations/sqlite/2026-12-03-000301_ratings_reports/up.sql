-- Ratings on every channel (R10), the monthly reports (P1, P3) with their runs and
-- deliveries, the two classifications of Appendix 2, and discrepancy requests (P2).

-- One offer of a rating per conversation: `round` counts the ticket's conversations (a
-- reopened ticket starts a new one). E-mail links carry a signed token naming this row.
CREATE TABLE rating_requests (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    round INTEGER NOT NULL,
    -- The operator whose answer ended the conversation.
    operator_id TEXT,
    expires_at TIMESTAMP NOT NULL,
    -- When the offer was answered (a link is then refused).
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (ticket_id, round)
);

CREATE TABLE ratings (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    round INTEGER NOT NULL,
    request_id TEXT,
    operator_id TEXT,
    queue TEXT NOT NULL,
    -- The channel the ticket came in on.
    channel TEXT NOT NULL,
    -- email_link | status_page | telegram | phone | api
    source TEXT NOT NULL,
    score INTEGER NOT NULL,
    -- The 3-level survey of seed 004 appendix 6 (1 not, 2 partly, 3 satisfied).
    satisfied_process INTEGER,
    satisfied_info INTEGER,
    comment TEXT,
    -- YYYY-MM in Almaty time, for the monthly figures.
    month TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (ticket_id, round)
);
CREATE INDEX ratings_month ON ratings (month);

-- The choices an administrator keeps for the last two columns of Appendix 2.
CREATE TABLE report_choices (
    id TEXT PRIMARY KEY NOT NULL,
    -- bylaw_violation | staff_action
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (kind, code)
);

CREATE TABLE ticket_classifications (
    ticket_id TEXT PRIMARY KEY NOT NULL REFERENCES tickets (id),
    bylaw_violation TEXT,
    staff_action TEXT,
    set_by TEXT NOT NULL,
    set_at TIMESTAMP NOT NULL
);

-- One run of a monthly report (P1 or P3) for one month.
CREATE TABLE report_runs (
    id TEXT PRIMARY KEY NOT NULL,
    -- P1 | P3
    report TEXT NOT NULL,
    month TEXT NOT NULL,
    -- running | sent | partial | failed
    status TEXT NOT NULL,
    -- timer, or the login that asked
    started_by TEXT NOT NULL,
    rows_total INTEGER NOT NULL DEFAULT 0,
    due_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    UNIQUE (report, month)
);

-- Each recipient of a run: its part, and whether it was delivered.
CREATE TABLE report_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES report_runs (id),
    -- The registry body; its part is its services or its region (the quality body: all).
    body_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    address TEXT,
    -- queued | sent | retrying | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rows_sent INTEGER,
    file_name TEXT,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, body_id)
);

-- P2: a provider's own figures disagree with our report; our explanation is due by the
-- next working day.
CREATE TABLE discrepancies (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT REFERENCES report_runs (id),
    report TEXT NOT NULL,
    month TEXT NOT NULL,
    body_id TEXT NOT NULL,
    figures TEXT NOT NULL,
    details TEXT NOT NULL,
    -- open | answered
    status TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    deadline TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    answer TEXT,
    answered_by TEXT,
    answered_at TIMESTAMP,
    -- queued | sent | retrying | failed (the answer's e-mail to the provider)
    answer_status TEXT,
    answer_error TEXT,
    answer_sent_at TIMESTAMP
);
