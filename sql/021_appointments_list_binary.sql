-- 021_appointments_list_binary: appointments_list also gives its timestamps as they are stored.
-- The lists' statements (appts_of_provider, appts_of_client) now have their results in binary
-- format (modules/core/dp_pgbin.h): a timestamp leaves PostgreSQL as its 8 bytes and the module
-- counts it in microseconds since 1970 itself, so the view no longer computes
-- extract(epoch ...) * 1000000 in numeric arithmetic for each of a row's five timestamps (with
-- the uuids and integers sent as bytes, about 0.08 ms of PostgreSQL CPU less per list of 50 on
-- the bench machine). The new columns come after those of 018, which stay for the module of the
-- release before during a rolling upgrade (a column a statement does not select is not
-- computed): local_at is the start as a wall-clock time in the provider's time zone (a
-- timestamp without time zone); the start itself is starts_at_ts.
CREATE OR REPLACE VIEW appointments_list AS
SELECT a.id, a.client_id, a.provider_id, c.name AS client_name, p.name AS provider_name,
       a.duration_minutes, a.type, a.status, a.notes, a.video_link, a.amount_cents, p.time_zone,
       (extract(epoch FROM a.starts_at AT TIME ZONE p.time_zone) * 1000000)::bigint AS local_us,
       (extract(epoch FROM a.starts_at) * 1000000)::bigint AS starts_us,
       (extract(epoch FROM a.ends_at) * 1000000)::bigint AS ends_us,
       (extract(epoch FROM a.created_at) * 1000000)::bigint AS created_us,
       (extract(epoch FROM a.updated_at) * 1000000)::bigint AS updated_us,
       (a.starts_at AT TIME ZONE p.time_zone)::date AS local_date,
       a.starts_at AS starts_at_ts,
       a.starts_at AT TIME ZONE p.time_zone AS local_at, a.ends_at, a.created_at, a.updated_at
  FROM appointments a
  JOIN users p ON p.id = a.provider_id
  JOIN users c ON c.id = a.client_id;
