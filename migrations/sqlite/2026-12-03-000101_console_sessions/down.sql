ALTER TABLE users DROP COLUMN language;
DROP TABLE sign_in_failures;
DROP TABLE console_sessions;
