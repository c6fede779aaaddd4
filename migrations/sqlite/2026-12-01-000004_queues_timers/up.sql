-- Queues become data an administrator keeps: names, supervisors, deadline reminders.
CREATE TABLE queues (
    code TEXT PRIMARY KEY NOT NULL,
    name_kk TEXT NOT NULL,
    name_ru TEXT NOT NULL,
    -- JSON array of user logins.
    supervisors TEXT NOT NULL DEFAULT '[]',
    reminders_enabled INTEGER NOT NULL DEFAULT 1,
    -- Working hours before the due instant; NULL: the server's default.
    reminder_hours INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO queues (code, name_kk, name_ru, created_at, updated_at)
    VALUES ('general', 'Жалпы', 'Общая', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT OR IGNORE INTO queues (code, name_kk, name_ru, created_at, updated_at)
    SELECT DISTINCT queue, queue, queue, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM tickets;

-- Where staff notices go.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN telegram_chat_id TEXT;

-- Mail to staff (reminders, escalations, digests): kept apart from the applicant thread.
CREATE TABLE staff_notices (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    ticket_id TEXT REFERENCES tickets (id),
    user_id TEXT REFERENCES users (id),
    address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    delivery_status TEXT NOT NULL,
    delivery_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX staff_notices_ticket ON staff_notices (ticket_id);
