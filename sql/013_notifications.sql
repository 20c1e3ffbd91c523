-- 013_notifications: which optional mail each user wants, and the bookkeeping that keeps
-- reminders to one per appointment and start time and message notices to one per
-- conversation every 15 minutes.

-- {reminders, messages, appointments}: booleans, a missing key counts as true.
ALTER TABLE users
    ADD COLUMN notification_prefs jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(notification_prefs) = 'object');

CREATE OR REPLACE VIEW users_api AS
SELECT id, email, name, user_type, phone, avatar, specialty, license, bio,
       hourly_rate_cents, time_zone, date_of_birth::text AS date_of_birth, address,
       insurance, provider_id, emergency_contact::text AS emergency_contact,
       dp_ts(created_at) AS created_at, dp_ts(updated_at) AS updated_at, email_verified,
       coalesce((notification_prefs ->> 'reminders')::boolean, true) AS pref_reminders,
       coalesce((notification_prefs ->> 'messages')::boolean, true) AS pref_messages,
       coalesce((notification_prefs ->> 'appointments')::boolean, true) AS pref_appointments
  FROM users;

-- A reminder was queued for this appointment starting at this instant. The key is the rule:
-- one reminder per appointment and start time; a reschedule (a new start) arms a new one.
CREATE TABLE appointment_reminders (
    appointment_id uuid NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    starts_at      timestamptz NOT NULL,
    queued_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (appointment_id, starts_at)
);

-- When the receiver of a conversation was last told a new message is waiting.
CREATE TABLE message_notices (
    receiver_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notified_at timestamptz NOT NULL,
    PRIMARY KEY (receiver_id, sender_id)
);

-- The delivery thread asks for confirmed sessions starting soon on every pass.
CREATE INDEX appointments_confirmed_starts_idx ON appointments (starts_at)
    WHERE status = 'confirmed';

GRANT SELECT, INSERT ON appointment_reminders TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON message_notices TO :"app_role";

-- Reminders are queued by the module itself (the mail delivery thread), not by a person: its
-- audit events name the actor 'system'.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_type_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_type_check
    CHECK (actor_type IN ('provider', 'client', 'anonymous', 'system'));
