DROP INDEX ticket_events_unsealed;
DROP INDEX ticket_events_chain;
ALTER TABLE ticket_events DROP COLUMN personal;
ALTER TABLE ticket_events DROP COLUMN hash;
ALTER TABLE ticket_events DROP COLUMN prev_hash;
ALTER TABLE ticket_events DROP COLUMN seq;
