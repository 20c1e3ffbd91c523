-- 001_init: users, token revocation and the append-only audit trail.
-- Run by build/migrate.sh as the owner role, in one transaction, with :app_role set to the
-- role the module connects as (DBDParams). The app role gets data rights only.

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- stored lower-case, so a plain unique constraint is case-insensitive uniqueness
    email             text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    password_hash     text,            -- NULL for invited or Google-only accounts
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    user_type         text NOT NULL CHECK (user_type IN ('provider', 'client')),
    phone             text,
    avatar            text,
    specialty         text,
    license           text,
    bio               text,
    hourly_rate_cents bigint CHECK (hourly_rate_cents >= 0),
    time_zone         text NOT NULL DEFAULT 'America/New_York',
    date_of_birth     date,
    address           text,
    insurance         text,
    provider_id       uuid REFERENCES users (id),
    emergency_contact jsonb,
    google_sub        text UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (user_type = 'client' OR provider_id IS NULL)
);
CREATE INDEX users_provider_id_idx ON users (provider_id) WHERE provider_id IS NOT NULL;

-- RFC 3339 UTC with milliseconds, the one timestamp format of the API.
CREATE FUNCTION dp_ts(t timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

-- The API's view of a user: formatted columns, never the password hash.
CREATE VIEW users_api AS
SELECT id, email, name, user_type, phone, avatar, specialty, license, bio,
       hourly_rate_cents, time_zone, date_of_birth::text AS date_of_birth, address,
       insurance, provider_id, emergency_contact::text AS emergency_contact,
       dp_ts(created_at) AS created_at, dp_ts(updated_at) AS updated_at
  FROM users;

CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);

-- Who did what to which record, when, from where, and how it ended. No foreign keys: the
-- trail outlives the rows it speaks of.
CREATE TABLE audit_events (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id      uuid,
    actor_type    text NOT NULL CHECK (actor_type IN ('provider', 'client', 'anonymous')),
    action        text NOT NULL,
    resource_type text,
    resource_id   text,
    client_id     uuid,
    ip            text,
    outcome       text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    request_id    text
);
CREATE INDEX audit_events_client_at_idx ON audit_events (client_id, at);
CREATE INDEX audit_events_at_idx ON audit_events (at);

-- Append-only, enforced by the database for every role (the grants below add a second wall).
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT ON schema_migrations TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON users TO :"app_role";
GRANT SELECT ON users_api TO :"app_role";
GRANT SELECT, INSERT, DELETE ON revoked_tokens TO :"app_role";
GRANT SELECT, INSERT ON audit_events TO :"app_role";
