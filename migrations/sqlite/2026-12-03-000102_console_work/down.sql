DROP INDEX tickets_due;
DROP INDEX tickets_queue_due;
DROP INDEX tickets_assignee_due;
DROP TABLE saved_filters;
DROP TABLE ticket_presence;
