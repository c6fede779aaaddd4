INSERT INTO channel_state (key, value, updated_at)
    SELECT 'tg:update:' || CAST(update_id AS TEXT), 'handled', handled_at FROM telegram_updates;
DROP TABLE telegram_updates;
