-- Telegram update ids, claimed with insert-or-skip: the primary key decides which of
-- several overlapping copies of one update is handled (the others are skipped).
CREATE TABLE telegram_updates (
    update_id BIGINT PRIMARY KEY NOT NULL,
    handled_at TIMESTAMP NOT NULL
);
CREATE INDEX telegram_updates_handled ON telegram_updates (handled_at);
-- The ids handled so far were kept as `tg:update:N` keys of channel_state.
INSERT OR IGNORE INTO telegram_updates (update_id, handled_at)
    SELECT CAST(substr(key, 11) AS INTEGER), updated_at FROM channel_state
    WHERE key LIKE 'tg:update:%';
DELETE FROM channel_state WHERE key LIKE 'tg:update:%';
