-- ---------------------------------------------------------------- Google Calendar
-- An appointment with a Google Meet room has an event in its provider's calendar; the event
-- follows the appointment's moves and goes when it is cancelled.

-- name: appt_google_event
-- The Google event of an appointment as this transaction leaves it: the address Google acts
-- as (the provider's), the event, the status and the instants. No row when the appointment
-- has no Google event. Parameter: appointment.
SELECT a.google_event_id, p.email AS provider_email, a.status,
       dp_ts(a.starts_at) AS starts_at, dp_ts(a.ends_at) AS ends_at
  FROM appointments a
  JOIN users p ON p.id = a.provider_id
 WHERE a.id = %s::uuid AND a.video_provider = 'google' AND a.google_event_id IS NOT NULL;
