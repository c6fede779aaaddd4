UPDATE raw_payloads SET status = 'processed' WHERE status = 'unmatched_report';
ALTER TABLE messages DROP COLUMN search_text;
ALTER TABLE tickets DROP COLUMN applicant;
