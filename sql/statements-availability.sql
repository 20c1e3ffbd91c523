-- ---------------------------------------------------------------- availability (011)
-- Working hours, time off, open slots and the rules a client's booking must meet. Times are
-- the provider's local wall-clock times; instants are computed here, in the provider's zone.

-- name: working_hours_get
-- The saved template, one row per ISO weekday (none: never saved).
SELECT h.slot_minutes, d.weekday, d.enabled,
       to_char(d.start_time, 'HH24:MI') AS start_time, to_char(d.end_time, 'HH24:MI') AS end_time,
       to_char(d.break_start, 'HH24:MI') AS break_start, to_char(d.break_end, 'HH24:MI') AS break_end
  FROM working_hours h JOIN working_days d USING (provider_id)
 WHERE h.provider_id = %s::uuid
 ORDER BY d.weekday;

-- name: working_hours_save
-- Parameters: provider, slot minutes.
INSERT INTO working_hours (provider_id, slot_minutes) VALUES (%s::uuid, %s::integer)
ON CONFLICT (provider_id) DO UPDATE SET slot_minutes = EXCLUDED.slot_minutes, updated_at = now();

-- name: working_days_save
-- All seven days at once, Monday first, as array literals: enabled, start, end, break start,
-- break end (NULL for no break). Parameters: provider and the five arrays.
INSERT INTO working_days AS w (provider_id, weekday, enabled, start_time, end_time, break_start,
                               break_end)
SELECT %s::uuid, d.weekday, d.enabled, d.s, d.e, d.bs, d.be
  FROM unnest(%s::boolean[], %s::time[], %s::time[], %s::time[], %s::time[])
       WITH ORDINALITY AS d (enabled, s, e, bs, be, weekday)
ON CONFLICT (provider_id, weekday) DO UPDATE SET
    enabled = EXCLUDED.enabled, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
    break_start = EXCLUDED.break_start, break_end = EXCLUDED.break_end;

-- name: time_off_list
SELECT id, first_day::text AS first_day, last_day::text AS last_day, reason,
       dp_ts(created_at) AS created_at
  FROM time_off WHERE provider_id = %s::uuid
 ORDER BY first_day, created_at;

-- name: time_off_insert
-- Parameters: provider, first day, last day, reason.
INSERT INTO time_off (provider_id, first_day, last_day, reason)
VALUES (%s::uuid, %s::date, %s::date, %s)
RETURNING id, first_day::text AS first_day, last_day::text AS last_day, reason,
          dp_ts(created_at) AS created_at;

-- name: time_off_delete
DELETE FROM time_off WHERE id = %s::uuid AND provider_id = %s::uuid
RETURNING id;

-- name: slot_settings
-- The provider's zone, slot length and whether it saved its hours. Parameter: provider.
SELECT u.time_zone, coalesce(h.slot_minutes, 60) AS slot_minutes,
       h.provider_id IS NOT NULL AS configured
  FROM users u LEFT JOIN working_hours h ON h.provider_id = u.id
 WHERE u.id = %s::uuid AND u.user_type = 'provider';

-- name: available_slots
-- The open slots of one local day. A slot is offered when the whole of it lies inside the
-- day's hours and outside the break (its end taken in real time, then read on the local
-- clock: across a daylight-saving change the two differ), the day is not time off, its start is
-- at least min_notice minutes away and the day within the horizon, the local time exists
-- (not in a daylight-saving gap), and it overlaps no pending or confirmed appointment of any
-- length (real time, the exclusion constraint's rule). Without saved hours: the default
-- template, Monday to Friday 09:00-17:00, 60-minute slots.
-- Parameters: provider, day, minimum notice in minutes, horizon in days.
WITH prov AS (
    SELECT id, time_zone FROM users WHERE id = %s::uuid AND user_type = 'provider'
), d AS (
    SELECT %s::date AS day
), hours AS (
    SELECT h.slot_minutes, w.enabled, w.start_time, w.end_time, w.break_start, w.break_end
      FROM prov JOIN working_hours h ON h.provider_id = prov.id
      JOIN working_days w ON w.provider_id = h.provider_id, d
     WHERE w.weekday = extract(isodow FROM d.day)
    UNION ALL
    SELECT 60, extract(isodow FROM d.day) <= 5, time '09:00', time '17:00', NULL, NULL
      FROM prov, d
     WHERE NOT EXISTS (SELECT 1 FROM working_hours h WHERE h.provider_id = prov.id)
), cand AS (
    SELECT s.local_start, s.local_start AT TIME ZONE prov.time_zone AS utc_start,
           hours.slot_minutes * interval '1 minute' AS len, hours.*, prov.id AS provider_id,
           prov.time_zone, d.day
      FROM prov, d, hours,
           generate_series(d.day + hours.start_time,
                           d.day + hours.end_time - hours.slot_minutes * interval '1 minute',
                           hours.slot_minutes * interval '1 minute') AS s (local_start)
     WHERE hours.enabled
)
SELECT to_char(c.local_start, 'HH24:MI') AS time24, dp_ts(c.utc_start) AS starts_at
  FROM cand c
 WHERE (c.utc_start AT TIME ZONE c.time_zone) = c.local_start
   AND ((c.utc_start + c.len) AT TIME ZONE c.time_zone) <= c.day + c.end_time
   AND (c.break_start IS NULL
        OR NOT (c.local_start < c.day + c.break_end
                AND ((c.utc_start + c.len) AT TIME ZONE c.time_zone) > c.day + c.break_start))
   AND NOT EXISTS (SELECT 1 FROM time_off t
                    WHERE t.provider_id = c.provider_id AND c.day BETWEEN t.first_day AND t.last_day)
   AND c.utc_start >= now() + %s::integer * interval '1 minute'
   AND c.day <= (now() AT TIME ZONE c.time_zone)::date + %s::integer
   AND NOT EXISTS (SELECT 1 FROM appointments a
                    WHERE a.provider_id = c.provider_id AND a.status IN ('pending', 'confirmed')
                      AND tstzrange(a.starts_at, a.ends_at) && tstzrange(c.utc_start, c.utc_start + c.len))
 ORDER BY c.local_start;

-- name: booking_rules
-- What a client's booking must meet besides a free slot: once the provider saved its hours,
-- the session lies inside one day's hours, outside its break and outside time off
-- (fits_hours); it starts at least the minimum notice from now (soon_enough); its day is
-- within the horizon (within_horizon). Parameters: provider, day, time, minutes, minimum
-- notice in minutes, horizon in days.
WITH prov AS (
    SELECT id, time_zone FROM users WHERE id = %s::uuid AND user_type = 'provider'
), b AS (
    SELECT %s::date AS day, %s::time AS t, %s::integer * interval '1 minute' AS len
)
SELECT h.provider_id IS NOT NULL AS configured,
       coalesce(w.enabled AND b.t >= w.start_time
                AND ((b.day + b.t) AT TIME ZONE prov.time_zone + b.len) AT TIME ZONE prov.time_zone
                    <= b.day + w.end_time
                AND (w.break_start IS NULL
                     OR NOT (b.day + b.t < b.day + w.break_end
                             AND ((b.day + b.t) AT TIME ZONE prov.time_zone + b.len)
                                 AT TIME ZONE prov.time_zone > b.day + w.break_start))
                AND NOT EXISTS (SELECT 1 FROM time_off o
                                 WHERE o.provider_id = prov.id
                                   AND b.day BETWEEN o.first_day AND o.last_day),
                false) AS fits_hours,
       (b.day + b.t) AT TIME ZONE prov.time_zone >= now() + %s::integer * interval '1 minute'
           AS soon_enough,
       b.day <= (now() AT TIME ZONE prov.time_zone)::date + %s::integer AS within_horizon
  FROM prov CROSS JOIN b
  LEFT JOIN working_hours h ON h.provider_id = prov.id
  LEFT JOIN working_days w ON w.provider_id = h.provider_id AND w.weekday = extract(isodow FROM b.day);

-- name: client_pending_count
-- A client's pending appointments still ahead (under the provider's lock). Parameter: client.
SELECT count(*) AS pending FROM appointments
 WHERE client_id = %s::uuid AND status = 'pending' AND ends_at > now();

-- name: provider_client
-- One of the provider's own clients. Parameters: client, provider.
SELECT id FROM users WHERE id = %s::uuid AND provider_id = %s::uuid AND user_type = 'client';
