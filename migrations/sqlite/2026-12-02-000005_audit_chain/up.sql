-- A tamper-evident audit log: each event carries its place in its ticket's chain and the
-- hash of the previous event's hash with its own content. Personal data moves to
-- `personal` (outside the hash), so retention can erase it without breaking the chain.
-- New events are written unsealed and chained moments later by the server's sealer
-- (and by `audit verify`); events written before this migration are sealed likewise.
ALTER TABLE ticket_events ADD COLUMN seq BIGINT;
ALTER TABLE ticket_events ADD COLUMN prev_hash TEXT;
ALTER TABLE ticket_events ADD COLUMN hash TEXT;
ALTER TABLE ticket_events ADD COLUMN personal TEXT;
CREATE UNIQUE INDEX ticket_events_chain ON ticket_events (ticket_id, seq);
CREATE INDEX ticket_events_unsealed ON ticket_events (ticket_id) WHERE seq IS NULL;
