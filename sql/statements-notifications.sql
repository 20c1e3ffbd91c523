-- ---------------------------------------------------------------- notifications (013)
-- Mail about appointments and messages, each only to a user who did not turn its kind off.

-- name: user_prefs_update
-- Parameters: the keys given (a JSON object of booleans), user.
UPDATE users SET notification_prefs = notification_prefs || %s::jsonb, updated_at = now()
 WHERE id = %s::uuid;

-- name: appt_notice
-- Who is told about a change of an appointment, and its start in the provider's zone (the
-- zone of both until clients have one of their own). Parameter: appointment.
SELECT a.id, p.email AS provider_email, c.email AS client_email, p.time_zone,
       to_char(a.starts_at AT TIME ZONE p.time_zone, 'FMDay FMDD FMMonth YYYY "at" HH24:MI')
           AS starts_local,
       coalesce((p.notification_prefs ->> 'appointments')::boolean, true) AS provider_wants,
       coalesce((c.notification_prefs ->> 'appointments')::boolean, true) AS client_wants
  FROM appointments a
  JOIN users p ON p.id = a.provider_id
  JOIN users c ON c.id = a.client_id
 WHERE a.id = %s::uuid;

-- name: message_notice_queue
-- The receiver of a message is told at most once per conversation every 15 minutes, and only
-- if it wants message mail: the claim and the mail in one statement. Parameters: receiver,
-- sender, outbox id, subject, sealed body (key id, nonce, ciphertext), Message-ID.
WITH r AS (
    SELECT id, email FROM users
     WHERE id = %s::uuid AND coalesce((notification_prefs ->> 'messages')::boolean, true)
), claim AS (
    INSERT INTO message_notices AS n (receiver_id, sender_id, notified_at)
    SELECT r.id, %s::uuid, now() FROM r
    ON CONFLICT (receiver_id, sender_id) DO UPDATE SET notified_at = now()
     WHERE n.notified_at <= now() - interval '15 minutes'
    RETURNING receiver_id
)
INSERT INTO outbox (id, kind, recipient, subject, body_key_id, body_nonce, body_ct, message_id)
SELECT %s::uuid, 'new-message', r.email, %s, %s, %s, %s, %s
  FROM r JOIN claim ON claim.receiver_id = r.id
RETURNING id;

-- name: reminders_due
-- Confirmed appointments starting within the lead time that have no reminder for their
-- start yet, of clients who want reminders. Parameter: lead time in hours.
SELECT a.id, a.client_id, a.starts_at::text AS starts_key, c.email, p.time_zone,
       to_char(a.starts_at AT TIME ZONE p.time_zone, 'FMDay FMDD FMMonth YYYY "at" HH24:MI')
           AS starts_local
  FROM appointments a
  JOIN users c ON c.id = a.client_id
  JOIN users p ON p.id = a.provider_id
 WHERE a.status = 'confirmed' AND a.starts_at > now()
   AND a.starts_at <= now() + %s::integer * interval '1 hour'
   AND coalesce((c.notification_prefs ->> 'reminders')::boolean, true)
   AND NOT EXISTS (SELECT 1 FROM appointment_reminders r
                    WHERE r.appointment_id = a.id AND r.starts_at = a.starts_at)
 ORDER BY a.starts_at
 LIMIT 100;

-- name: reminder_claim
-- The one reminder of this appointment and start, if it still starts then and is still
-- confirmed. Parameters: appointment, start (as reminders_due gave it).
INSERT INTO appointment_reminders (appointment_id, starts_at)
SELECT id, starts_at FROM appointments
 WHERE id = %s::uuid AND starts_at = %s::timestamptz AND status = 'confirmed'
ON CONFLICT DO NOTHING
RETURNING appointment_id;
