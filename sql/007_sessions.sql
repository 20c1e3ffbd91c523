-- 007_sessions: sign-in throttling (lockout) and the last use of each session (idle timeout).

-- Failed sign-ins counted per key: 'a:' || the lower-cased email (whether or not an account
-- has it) and 'i:' || the client's address. A row counts the attempts of one window; the
-- attempt that reaches the limit sets locked_until. Once expires_at has passed (the window
-- closed and no lock is left) the row is dead weight: sign-ins purge such rows a few at a time.
CREATE TABLE auth_throttle (
    key          text PRIMARY KEY CHECK (length(key) <= 320),
    failures     integer NOT NULL CHECK (failures >= 0),
    window_start timestamptz NOT NULL,
    locked_until timestamptz,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX auth_throttle_expires_at_idx ON auth_throttle (expires_at);

-- When a session (a token, by its jti) was last used, recorded at most once a minute. A token
-- without a row counts from its iat. Rows go when their token has expired.
CREATE TABLE session_activity (
    jti          uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX session_activity_expires_at_idx ON session_activity (expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON auth_throttle TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON session_activity TO :"app_role";
