-- The operator console's working state (issue 12).
-- Who has a ticket open or is writing a reply: a row per ticket and staff member, kept
-- alive by the page and forgotten after `expires_at` (any instance sees it).
CREATE TABLE ticket_presence (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    state TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (ticket_id, user_id)
);

-- A staff member's saved queue filters: a name and the query string of the queue page.
CREATE TABLE saved_filters (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX saved_filters_name ON saved_filters (user_id, name);

-- The queue page: an operator's tickets, a queue's, the unassigned, soonest due first.
CREATE INDEX tickets_assignee_due ON tickets (assignee_id, status, due_at);
CREATE INDEX tickets_queue_due ON tickets (queue, status, due_at);
CREATE INDEX tickets_due ON tickets (due_at, id);
