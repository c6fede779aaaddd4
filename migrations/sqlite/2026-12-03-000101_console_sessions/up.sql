-- The operator console (issue 12): staff sign in with a password into a session kept
-- here, so any instance serves it. The cookie holds a random token; only its SHA-256 is
-- stored (`id`). A session ends at sign-out, after `idle` without a request, or at
-- `expires_at` whatever the activity.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    user_agent TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Failed sign-ins per login: after too many in a window the login is locked for a while
-- (whichever instance is asked).
CREATE TABLE sign_in_failures (
    login TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    first_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);

-- The console's language of each staff member (kk, ru or en); none: the staff default.
ALTER TABLE users ADD COLUMN language TEXT;
