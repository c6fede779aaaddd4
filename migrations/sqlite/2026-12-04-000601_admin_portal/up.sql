-- The admin portal: when a staff member last signed in to the console, and queues an
-- administrator has closed to new tickets (kept, with their tickets, for the record).
ALTER TABLE users ADD COLUMN last_sign_in_at TIMESTAMP;
ALTER TABLE queues ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
