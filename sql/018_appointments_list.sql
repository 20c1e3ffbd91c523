-- 018_appointments_list: the appointment lists' columns, with the timestamps unformatted.
-- appointments_api formats each of a row's five timestamps with to_char, which was most of a
-- list's work in PostgreSQL; this view gives each as microseconds since 1970 (a bigint, read
-- the same whatever the session's DateStyle or float settings), the local start (local_us)
-- counted as if it were UTC, and the module writes them as appointments_api would
-- (modules/core/dp_epoch.c). local_date is the start's date in the provider's time zone, for
-- the list's date filter.
CREATE VIEW appointments_list AS
SELECT a.id, a.client_id, a.provider_id, c.name AS client_name, p.name AS provider_name,
       a.duration_minutes, a.type, a.status, a.notes, a.video_link, a.amount_cents, p.time_zone,
       (extract(epoch FROM a.starts_at AT TIME ZONE p.time_zone) * 1000000)::bigint AS local_us,
       (extract(epoch FROM a.starts_at) * 1000000)::bigint AS starts_us,
       (extract(epoch FROM a.ends_at) * 1000000)::bigint AS ends_us,
       (extract(epoch FROM a.created_at) * 1000000)::bigint AS created_us,
       (extract(epoch FROM a.updated_at) * 1000000)::bigint AS updated_us,
       (a.starts_at AT TIME ZONE p.time_zone)::date AS local_date,
       a.starts_at AS starts_at_ts
  FROM appointments a
  JOIN users p ON p.id = a.provider_id
  JOIN users c ON c.id = a.client_id;

GRANT SELECT ON appointments_list TO :"app_role";
