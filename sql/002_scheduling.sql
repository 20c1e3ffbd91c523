-- 002_scheduling: appointments (never overlapping per provider), client invitations.

-- equality on uuid inside a GiST exclusion constraint (a trusted extension: the database
-- owner may create it)
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE appointments (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id      uuid NOT NULL REFERENCES users (id),
    client_id        uuid NOT NULL REFERENCES users (id),
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 15 AND 240),
    ends_at          timestamptz NOT NULL,
    type             text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'confirmed', 'completed', 'cancelled')),
    notes            text,
    video_link       text NOT NULL,
    video_provider   text NOT NULL CHECK (video_provider IN ('google', 'jitsi')),
    google_event_id  text,
    amount_cents     bigint NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at = starts_at + duration_minutes * interval '1 minute'),
    -- the rule "a provider is never double-booked" lives here, so no race can break it
    CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
        provider_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status IN ('pending', 'confirmed'))
);
CREATE INDEX appointments_provider_starts_idx ON appointments (provider_id, starts_at);
CREATE INDEX appointments_client_starts_idx ON appointments (client_id, starts_at);

-- The API's view of an appointment: local date and time in the provider's zone.
CREATE VIEW appointments_api AS
SELECT a.id, a.client_id, a.provider_id, c.name AS client_name, p.name AS provider_name,
       to_char(a.starts_at AT TIME ZONE p.time_zone, 'YYYY-MM-DD') AS date,
       to_char(a.starts_at AT TIME ZONE p.time_zone, 'HH24:MI') AS time,
       a.duration_minutes, a.type, a.status, a.notes, a.video_link, a.amount_cents,
       p.time_zone, dp_ts(a.starts_at) AS starts_at, dp_ts(a.ends_at) AS ends_at,
       dp_ts(a.created_at) AS created_at, dp_ts(a.updated_at) AS updated_at,
       a.starts_at AS starts_at_ts
  FROM appointments a
  JOIN users p ON p.id = a.provider_id
  JOIN users c ON c.id = a.client_id;

-- A provider invites a client: the client record exists at once (password_hash NULL); the
-- invitation carries only a hash of its token, used once, within 7 days.
CREATE TABLE invites (
    token_hash text PRIMARY KEY,
    client_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invites_client_idx ON invites (client_id);

GRANT SELECT, INSERT, UPDATE ON appointments TO :"app_role";
GRANT SELECT ON appointments_api TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON invites TO :"app_role";
