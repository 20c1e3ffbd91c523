-- Dashboards (docs/api.md, "Dashboards"): each dashboard is one statement, so
-- the figures agree with each other (one snapshot) and go with their audit event in one round
-- trip (dp_audited). Scoped by the caller's id in every subquery: another practice's rows
-- cannot be counted. Calendar words (today, this week, this month) are the provider's, in its
-- users.time_zone; now() is the statement's one instant.

-- name: dashboard_provider_stats
-- Parameter: the provider. One row (none when the id is not a provider).
--   upcoming        pending or confirmed, starting now or later (docs/api.md's "upcoming",
--                   as GET /api/client/appointments?status=upcoming)
--   pending         pending and not yet started: the requests still to confirm
--   today           not cancelled, starting on the provider's local date
--   week            not cancelled, starting in the provider's ISO week (Monday 00:00 to the
--                   next Monday 00:00, local; date_trunc('week') is ISO), past days included
--   pending_notes   sessions that happened and still need a signed note: completed ones, and
--                   confirmed ones whose start has passed (the provider has not marked them
--                   completed yet), with no note or an unsigned draft. Pending and cancelled
--                   ones never took place.
--   active_clients  distinct clients with a non-cancelled appointment that started in the
--                   last 90 days (90 x 24 h before now) or is still to come: the caseload a
--                   therapist would call active
--   income_*        paid invoices, integer cents: all time, and paid in the local month
WITH p AS (
    SELECT id, time_zone, now() AT TIME ZONE time_zone AS local_now
      FROM users WHERE id = %s::uuid AND user_type = 'provider'
)
SELECT (SELECT count(*) FROM users c WHERE c.provider_id = p.id AND c.user_type = 'client')
           AS total_clients,
       a.upcoming, a.pending, a.today, a.week, a.pending_notes, a.active_clients,
       (SELECT count(*) FROM messages m WHERE m.receiver_id = p.id AND NOT m.is_read)
           AS unread,
       i.pending_invoices, i.outstanding, i.income_total, i.income_month
  FROM p
 CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE a.status IN ('pending', 'confirmed')
                              AND a.starts_at >= now()) AS upcoming,
           count(*) FILTER (WHERE a.status = 'pending' AND a.starts_at >= now()) AS pending,
           count(*) FILTER (WHERE a.status <> 'cancelled'
                              AND (a.starts_at AT TIME ZONE p.time_zone)::date
                                = p.local_now::date) AS today,
           count(*) FILTER (WHERE a.status <> 'cancelled'
                              AND date_trunc('week', a.starts_at AT TIME ZONE p.time_zone)
                                = date_trunc('week', p.local_now)) AS week,
           count(*) FILTER (WHERE (a.status = 'completed'
                                   OR (a.status = 'confirmed' AND a.starts_at <= now()))
                              AND n.signed_at IS NULL) AS pending_notes,
           count(DISTINCT a.client_id) FILTER (WHERE a.status <> 'cancelled'
                              AND a.starts_at >= now() - interval '90 days') AS active_clients
      FROM appointments a
      -- at most one note per appointment (unique), so the join adds no rows
      LEFT JOIN clinical_notes n ON n.appointment_id = a.id
     WHERE a.provider_id = p.id
 ) a
 CROSS JOIN LATERAL (
    -- status is pending or paid; overdue is pending past its due date, so "not paid" is
    -- pending plus overdue
    SELECT count(*) FILTER (WHERE i.status <> 'paid') AS pending_invoices,
           coalesce(sum(i.amount_cents) FILTER (WHERE i.status <> 'paid'), 0) AS outstanding,
           coalesce(sum(i.amount_cents) FILTER (WHERE i.status = 'paid'), 0) AS income_total,
           coalesce(sum(i.amount_cents) FILTER (
               WHERE i.status = 'paid'
                 AND date_trunc('month', i.paid_at AT TIME ZONE p.time_zone)
                   = date_trunc('month', p.local_now)), 0) AS income_month
      FROM invoices i
     WHERE i.provider_id = p.id
 ) i;

-- name: dashboard_client_stats
-- Parameter: the client. One row (none when the id is not a client): its figures, then the
-- columns of appointments_api for its next appointment (all NULL when there is none).
-- Nothing here depends on a calendar: upcoming is an instant, and an overdue invoice (pending
-- past its due date in the provider's zone) is still a pending payment.
--   upcoming          pending or confirmed, starting now or later
--   completed         completed sessions
--   unread            messages to the client not yet read
--   outstanding       cents of pending and overdue invoices
--   pending_payments  how many invoices those are
WITH u AS (
    SELECT id FROM users WHERE id = %s::uuid AND user_type = 'client'
)
SELECT s.upcoming, s.completed, s.unread, s.outstanding, s.pending_payments, nx.*
  FROM u
 CROSS JOIN LATERAL (
    SELECT (SELECT count(*) FROM appointments a WHERE a.client_id = u.id
               AND a.status IN ('pending', 'confirmed') AND a.starts_at >= now()) AS upcoming,
           (SELECT count(*) FROM appointments a WHERE a.client_id = u.id
               AND a.status = 'completed') AS completed,
           (SELECT count(*) FROM messages m WHERE m.receiver_id = u.id AND NOT m.is_read)
               AS unread,
           (SELECT coalesce(sum(i.amount_cents), 0) FROM invoices i
             WHERE i.client_id = u.id AND i.status <> 'paid') AS outstanding,
           (SELECT count(*) FROM invoices i WHERE i.client_id = u.id AND i.status <> 'paid')
               AS pending_payments
 ) s
  LEFT JOIN LATERAL (
    SELECT * FROM appointments_api n
     WHERE n.client_id = u.id AND n.status IN ('pending', 'confirmed')
       AND n.starts_at_ts >= now()
     ORDER BY n.starts_at_ts, n.id
     LIMIT 1
 ) nx ON true;
