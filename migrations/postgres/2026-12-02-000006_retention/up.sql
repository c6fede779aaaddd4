-- Retention: when a closed ticket's personal data was removed (the personal data law).
ALTER TABLE tickets ADD COLUMN anonymised_at TIMESTAMP;
CREATE INDEX tickets_retention ON tickets (closed_at) WHERE anonymised_at IS NULL;
