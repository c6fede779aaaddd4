DROP INDEX tickets_retention;
ALTER TABLE tickets DROP COLUMN anonymised_at;
