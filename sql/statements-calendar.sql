-- The providers' calendar feed (sql/012_calendar_feed.sql; modules/dp_calendar.c). Same rules
-- as sql/statements.sql: %s placeholders are apr_dbd's (bound, every one declared varchar by
-- the pgsql driver, so non-text ones are cast).

-- name: calendar_feed_set
-- The provider's one feed, with this token hash: a new one, or a new link for the old one
-- (the old hash is gone with the update, so the old link stops working at the commit).
-- Parameters: token hash, provider.
INSERT INTO calendar_feeds (provider_id, token_hash)
SELECT u.id, %s FROM users u WHERE u.id = %s::uuid AND u.user_type = 'provider'
ON CONFLICT (provider_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()
RETURNING provider_id;

-- name: calendar_feed_delete
DELETE FROM calendar_feeds WHERE provider_id = %s::uuid
RETURNING provider_id;

-- name: calendar_feed_events
-- A feed by its token hash: no row when there is no such feed; else its provider, and its
-- pending and confirmed appointments from 30 days back to 365 days ahead (one row with a NULL
-- id when there are none), by start. Times as epoch seconds; of the client only its initials.
SELECT f.provider_id,
       a.id, extract(epoch FROM a.starts_at)::bigint AS starts,
       extract(epoch FROM a.ends_at)::bigint AS ends,
       extract(epoch FROM a.created_at)::bigint AS created,
       extract(epoch FROM a.updated_at)::bigint AS modified,
       a.status, a.calendar_sequence, a.video_link, dp_initials(c.name) AS initials
  FROM calendar_feeds f
  LEFT JOIN appointments a
         ON a.provider_id = f.provider_id AND a.status IN ('pending', 'confirmed')
        AND a.starts_at >= now() - interval '30 days'
        AND a.starts_at < now() + interval '365 days'
  LEFT JOIN users c ON c.id = a.client_id
 WHERE f.token_hash = %s
 ORDER BY a.starts_at, a.id;
