-- The applicant's details as submitted with this ticket (JSON: name, email, phone, iin);
-- the contact record may learn newer ones without rewriting the ticket's history.
ALTER TABLE tickets ADD COLUMN applicant TEXT;
-- Lower-cased text of a follow-up for the `q` search, so a follow-up never rewrites the
-- ticket's own search text (a ticket's history must not make the next message dearer).
ALTER TABLE messages ADD COLUMN search_text TEXT;
-- Delivery reports matching none of our messages get their own status, listed for staff.
UPDATE raw_payloads SET status = 'unmatched_report'
 WHERE status = 'processed' AND reason = 'delivery report for a message we do not know';
