-- A tamper-evident audit log: each event carries its place in its ticket's chain and the
-- hash of the previous event's hash with its own content. Personal data moves to
-- `personal` (outside the hash), so retention can erase it without breaking the chain.
-- Events written before this migration are sealed into chains on the next start.
ALTER TABLE ticket_events ADD COLUMN seq BIGINT;
ALTER TABLE ticket_events ADD COLUMN prev_hash TEXT;
ALTER TABLE ticket_events ADD COLUMN hash TEXT;
ALTER TABLE ticket_events ADD COLUMN personal TEXT;
CREATE UNIQUE INDEX ticket_events_chain ON ticket_events (ticket_id, seq);
