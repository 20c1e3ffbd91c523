-- Every statement the module runs, declared once. build/gen-statements.sh compiles this file
-- into the module (names become DPQ_<NAME> macros), and mod_dbd prepares each at startup.
-- Placeholders are apr_dbd's %s (bound, never spliced); a literal percent sign is %%.
-- The pgsql driver declares every %s parameter as varchar, so non-text ones are cast.

-- name: schema_level
SELECT coalesce(max(version), 0) AS level FROM schema_migrations;

-- name: health
SELECT 1 AS ok;

-- name: auth_principal
-- The token's user still exists with that role, the token was not revoked, and it was issued
-- under the user's current session version; with whether the user's email is verified and
-- the seconds since the session's recorded last use (its iat when none is recorded).
-- Parameters: user, role, jti, iat (epoch seconds), session version.
WITH tok (user_id, role, jti, iat, sv) AS (
    VALUES (%s::uuid, %s, %s::uuid, to_timestamp(%s::double precision), %s::integer)
)
SELECT u.id, u.user_type, u.provider_id, u.email_verified,
       floor(extract(epoch FROM now() - coalesce(s.last_used_at, tok.iat)))::bigint
           AS idle_seconds
  FROM tok JOIN users u ON u.id = tok.user_id AND u.user_type = tok.role
                       AND u.session_version = tok.sv
  LEFT JOIN session_activity s ON s.jti = tok.jti
 WHERE NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = tok.jti);

-- name: audit_insert
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id,
                          client_id, ip, outcome, request_id)
VALUES (%s::uuid, %s, %s, %s, %s, %s::uuid, %s, %s, %s);

-- name: audit_insert_batch
-- A batch of read events (modules/dp_audit.c, group commit), written by one of the waiting
-- requests for all of them: audit_insert's nine columns, each as an array of the batch's values
-- in the same order. One statement, so one implicit transaction: every event of the batch
-- commits, or none. seq and at come from the defaults row by row, in the arrays' order, as
-- for single inserts.
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id,
                          client_id, ip, outcome, request_id)
SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::uuid[],
                     %s::text[], %s::text[], %s::text[]);

-- name: audit_refusal_insert
-- A refusal of an anonymous request that names no record (modules/dp_audit.c): audit_insert's
-- nine parameters, then DocPortalAnonymousAuditLimit. The refusal is counted for its address
-- and minute in one upsert, and its event written only while the count is within the limit;
-- past it the refusal stays counted, and audit_refusals_close writes one event for the rest
-- of the minute. One statement, so a refused request costs the round trip it always did.
-- recorded grows exactly when the event is written (refused, after this one, <= the limit),
-- so a server with another limit on the same database keeps the two counts true.
WITH ev (actor_id, actor_type, action, resource_type, resource_id, client_id, ip, outcome,
         request_id, max_n) AS (
    VALUES (%s::uuid, %s, %s, %s, %s, %s::uuid, %s, %s, %s, %s::int)
), arg AS (
    SELECT left(coalesce(ip, ''), 64) AS addr, action || ' ' || outcome AS kind, max_n FROM ev
), hit AS (
    INSERT INTO audit_refusal_counts AS n (ip, window_start, refused, recorded, tally)
    SELECT addr, date_trunc('minute', now()), 1, (max_n >= 1)::int, jsonb_build_object(kind, 1)
      FROM arg
    ON CONFLICT (ip, window_start) DO UPDATE SET
        refused  = n.refused + 1,
        recorded = n.recorded + (n.refused < (SELECT max_n FROM arg))::int,
        tally    = n.tally || (SELECT jsonb_build_object(kind, coalesce((n.tally ->> kind)::int, 0) + 1)
                                 FROM arg)
    RETURNING n.refused
)
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id,
                          client_id, ip, outcome, request_id)
SELECT actor_id, actor_type, action, resource_type, resource_id, client_id, ip, outcome,
       request_id
  FROM ev, hit
 WHERE hit.refused <= ev.max_n;

-- name: zone_exists
SELECT 1 AS ok FROM pg_timezone_names WHERE name = %s;

-- name: provider_exists
SELECT id FROM users WHERE id = %s::uuid AND user_type = 'provider';

-- name: user_insert
INSERT INTO users (email, password_hash, name, user_type, phone, avatar, specialty, license,
                   bio, hourly_rate_cents, time_zone, date_of_birth, address, insurance,
                   provider_id, emergency_contact)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::bigint, coalesce(%s, 'America/New_York'),
        %s::date, %s, %s, %s::uuid, %s::jsonb)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: user_by_id
SELECT a.*, u.session_version FROM users u JOIN users_api a USING (id) WHERE u.id = %s::uuid;

-- name: user_login
SELECT a.*, u.password_hash, u.session_version FROM users u JOIN users_api a USING (id)
 WHERE u.email = %s;

-- name: token_revoke
INSERT INTO revoked_tokens (jti, user_id, expires_at)
VALUES (%s::uuid, %s::uuid, to_timestamp(%s::double precision))
ON CONFLICT (jti) DO NOTHING;

-- name: token_purge
DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour';

-- ---------------------------------------------------------------- profiles (002)

-- name: user_update
-- Each field comes as a pair: a flag (set it?) and the value (NULL clears it).
UPDATE users SET
    name              = CASE WHEN %s::boolean THEN %s ELSE name END,
    phone             = CASE WHEN %s::boolean THEN %s ELSE phone END,
    avatar            = CASE WHEN %s::boolean THEN %s ELSE avatar END,
    specialty         = CASE WHEN %s::boolean THEN %s ELSE specialty END,
    license           = CASE WHEN %s::boolean THEN %s ELSE license END,
    bio               = CASE WHEN %s::boolean THEN %s ELSE bio END,
    hourly_rate_cents = CASE WHEN %s::boolean THEN %s::bigint ELSE hourly_rate_cents END,
    time_zone         = CASE WHEN %s::boolean THEN coalesce(%s, 'America/New_York')
                             ELSE time_zone END,
    date_of_birth     = CASE WHEN %s::boolean THEN %s::date ELSE date_of_birth END,
    address           = CASE WHEN %s::boolean THEN %s ELSE address END,
    insurance         = CASE WHEN %s::boolean THEN %s ELSE insurance END,
    emergency_contact = CASE WHEN %s::boolean THEN %s::jsonb ELSE emergency_contact END,
    updated_at        = now()
 WHERE id = %s::uuid
RETURNING id;

-- name: provider_public
-- What a client may see of its provider.
SELECT id, name, email, phone, avatar, specialty, bio, hourly_rate_cents, time_zone
  FROM users WHERE id = %s::uuid AND user_type = 'provider';

-- ---------------------------------------------------------------- clients and invitations

-- name: clients_of_provider
SELECT a.*, (u.password_hash IS NULL AND u.google_sub IS NULL) AS invited
  FROM users u JOIN users_api a USING (id)
 WHERE u.provider_id = %s::uuid AND u.user_type = 'client'
 ORDER BY a.name, a.id;

-- name: client_insert
INSERT INTO users (email, name, user_type, phone, avatar, date_of_birth, address, insurance,
                   provider_id, emergency_contact)
VALUES (%s, %s, 'client', %s, %s, %s::date, %s, %s, %s::uuid, %s::jsonb)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: invite_insert
INSERT INTO invites (token_hash, client_id, expires_at)
VALUES (%s, %s::uuid, now() + interval '7 days');

-- name: invite_claim
-- Single use: the first claim wins, an expired or used token matches nothing, and so does the
-- invitation of a client record someone already holds (a password, or a Google account).
UPDATE invites i SET used_at = now()
  FROM users u
 WHERE i.token_hash = %s AND i.used_at IS NULL AND i.expires_at > now()
   AND u.id = i.client_id AND u.password_hash IS NULL AND u.google_sub IS NULL
RETURNING i.client_id;

-- name: invited_client_activate
-- The invitation came by mail to this address: claiming it counts as verified. The provider
-- saw the same link (inviteUrl), so it is recorded as proof by invitation, which a Google
-- sign-in of the address's owner overrides (user_google_takeover).
UPDATE users SET password_hash = %s, name = coalesce(%s, name), email_verified_via = 'invite',
                 updated_at = now()
 WHERE id = %s::uuid AND email = %s AND password_hash IS NULL AND google_sub IS NULL
RETURNING id;

-- ---------------------------------------------------------------- appointments

-- name: appt_instant
-- A provider-local date and time as an instant. exists_local is false inside a DST gap
-- (PostgreSQL would silently move 02:30 to 03:30).
SELECT dp_ts(ts) AS starts_at, dp_ts(ts + %s::integer * interval '1 minute') AS ends_at,
       ts <= now() AS past,
       (ts AT TIME ZONE %s) = (%s::date + %s::time) AS exists_local
  FROM (SELECT (%s::date + %s::time) AT TIME ZONE %s AS ts) x;

-- name: provider_for_booking
SELECT id, email, email_verified, time_zone, hourly_rate_cents
  FROM users WHERE id = %s::uuid AND user_type = 'provider';

-- name: provider_lock
-- Serialises one provider's bookings and reschedules, so the overlap checks below see every
-- committed neighbour (the exclusion constraint stays the last wall).
SELECT id FROM users WHERE id = %s::uuid FOR NO KEY UPDATE;

-- name: slot_taken
SELECT id FROM appointments
 WHERE provider_id = %s::uuid AND status IN ('pending', 'confirmed')
   AND id <> coalesce(%s::uuid, '00000000-0000-0000-0000-000000000000')
   AND tstzrange(starts_at, ends_at) && tstzrange(%s::timestamptz, %s::timestamptz)
 LIMIT 1;

-- name: appt_insert
INSERT INTO appointments (id, provider_id, client_id, starts_at, duration_minutes, ends_at,
                          type, status, notes, video_link, video_provider, google_event_id,
                          amount_cents)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s::timestamptz, %s::integer, %s::timestamptz, %s,
        %s, %s, %s, %s, %s, %s::bigint)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: appt_get
-- One appointment, only if the caller is its provider or its client.
SELECT * FROM appointments_api
 WHERE id = %s::uuid AND (provider_id = %s::uuid OR client_id = %s::uuid);

-- name: appt_lock
SELECT id, provider_id, client_id, status, duration_minutes, notes, starts_at_ts <= now() AS started,
       starts_at, date, time, time_zone
  FROM appointments_api
 WHERE id = %s::uuid AND (provider_id = %s::uuid OR client_id = %s::uuid);

-- name: appt_row_lock
SELECT id FROM appointments WHERE id = %s::uuid FOR UPDATE;

-- name: appt_update
UPDATE appointments
   SET starts_at = %s::timestamptz, duration_minutes = %s::integer,
       ends_at = %s::timestamptz + %s::integer * interval '1 minute',
       status = %s, notes = %s, amount_cents = coalesce(%s::bigint, amount_cents),
       updated_at = now()
 WHERE id = %s::uuid
RETURNING id;

-- name: appts_of_provider
-- results: binary
-- The lists read appointments_list (sql/021_appointments_list_binary.sql): the columns of
-- appointments_api with the timestamps as stored, in binary, which the module renders as
-- microseconds since 1970 (hence the _us names) and modules/dp_appointments.c writes.
-- Parameters: the provider; the date in its time zone (YYYY-MM-DD, already checked) or NULL,
-- twice; the status or NULL, twice.
SELECT id, client_id, provider_id, client_name, provider_name, duration_minutes, type, status,
       notes, video_link, amount_cents, time_zone, local_at AS local_us,
       starts_at_ts AS starts_us, ends_at AS ends_us, created_at AS created_us,
       updated_at AS updated_us
  FROM appointments_list
 WHERE provider_id = %s::uuid
   AND (%s::text IS NULL OR local_date = %s::date)
   AND (%s::text IS NULL OR status = %s)
 ORDER BY starts_at_ts, id;

-- name: appts_of_client
-- results: binary
-- The same columns. Parameters: the client; upcoming, completed or NULL (three times).
SELECT id, client_id, provider_id, client_name, provider_name, duration_minutes, type, status,
       notes, video_link, amount_cents, time_zone, local_at AS local_us,
       starts_at_ts AS starts_us, ends_at AS ends_us, created_at AS created_us,
       updated_at AS updated_us
  FROM appointments_list
 WHERE client_id = %s::uuid
   AND (%s::text IS NULL
        OR (%s = 'upcoming' AND status IN ('pending', 'confirmed') AND starts_at_ts >= now())
        OR (%s = 'completed' AND status = 'completed'))
 ORDER BY starts_at_ts, id;

-- ---------------------------------------------------------------- dashboards: statements-dashboards.sql

-- ---------------------------------------------------------------- messages (003)

-- name: msg_counterpart
-- The other party of a message, with the practice it belongs to (a provider is its own).
SELECT id, user_type, provider_id, coalesce(provider_id, id) AS practice_id
  FROM users WHERE id = %s::uuid;

-- name: msg_insert
INSERT INTO messages (id, sender_id, receiver_id, sender_type, key_id, nonce, ciphertext,
                      aead_version)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s, %s, decode(%s, 'base64'), decode(%s, 'base64'),
        %s::smallint)
RETURNING dp_ts(created_at) AS created_at;

-- name: msg_conversation
-- results: binary
-- The newest page of one conversation at the default page size (50, PAGE_DEFAULT in
-- modules/dp_messages.c), newest first: what a conversation view asks for. The pair is compared
-- as scalar subqueries, not joined: then messages_pair_idx is read in order and the LIMIT stops
-- it after one page (joined, every message of the pair was read and sorted: 40 ms at 30,000).
-- The page size is written here, not bound, and there is no optional cursor: with either,
-- PostgreSQL found the generic plan dearer than a plan for the given values (it assumes a
-- bound LIMIT takes a tenth of the rows) and planned the statement anew on every execution,
-- about 0.2 ms of its CPU per read; this one is planned once per connection.
-- Its results are in binary (as the other two pages'): the nonce and the ciphertext leave as
-- bytes and the time as stored, which the module renders (base64, microseconds since 1970:
-- created_us) instead of PostgreSQL's encode() and to_char (dp_ts), about 0.08 ms of its CPU
-- per page of 50 on the bench machine.
-- Parameters: the caller, the counterpart (twice).
WITH pair AS (SELECT least(%s::uuid, %s::uuid) AS lo, greatest(%s::uuid, %s::uuid) AS hi)
SELECT m.id, m.sender_id, m.receiver_id, m.sender_type, m.key_id, m.nonce, m.ciphertext,
       m.aead_version, m.is_read, m.created_at AS created_us
  FROM messages m
 WHERE least(m.sender_id, m.receiver_id) = (SELECT lo FROM pair)
   AND greatest(m.sender_id, m.receiver_id) = (SELECT hi FROM pair)
 ORDER BY m.created_at DESC, m.id DESC
 LIMIT 50;

-- name: msg_conversation_sized
-- results: binary
-- The same at a page size the caller chose (?limit=, 1 to 200). Parameters: the caller, the
-- counterpart (twice), the page size.
WITH pair AS (SELECT least(%s::uuid, %s::uuid) AS lo, greatest(%s::uuid, %s::uuid) AS hi)
SELECT m.id, m.sender_id, m.receiver_id, m.sender_type, m.key_id, m.nonce, m.ciphertext,
       m.aead_version, m.is_read, m.created_at AS created_us
  FROM messages m
 WHERE least(m.sender_id, m.receiver_id) = (SELECT lo FROM pair)
   AND greatest(m.sender_id, m.receiver_id) = (SELECT hi FROM pair)
 ORDER BY m.created_at DESC, m.id DESC
 LIMIT %s::integer;

-- name: msg_conversation_before
-- results: binary
-- The page of one conversation before a message id of that same conversation (any other id
-- matches nothing), newest first. Parameters: the caller, the counterpart (twice), the
-- message id, the page size.
WITH pair AS (SELECT least(%s::uuid, %s::uuid) AS lo, greatest(%s::uuid, %s::uuid) AS hi),
     mark AS (SELECT b.created_at, b.id FROM messages b, pair
               WHERE b.id = %s::uuid AND least(b.sender_id, b.receiver_id) = pair.lo
                 AND greatest(b.sender_id, b.receiver_id) = pair.hi)
SELECT m.id, m.sender_id, m.receiver_id, m.sender_type, m.key_id, m.nonce, m.ciphertext,
       m.aead_version, m.is_read, m.created_at AS created_us
  FROM messages m
 WHERE least(m.sender_id, m.receiver_id) = (SELECT lo FROM pair)
   AND greatest(m.sender_id, m.receiver_id) = (SELECT hi FROM pair)
   AND (m.created_at, m.id) < (SELECT created_at, id FROM mark)
 ORDER BY m.created_at DESC, m.id DESC
 LIMIT %s::integer;

-- name: msg_latest
-- The latest message of each of the caller's conversations, newest first, with the
-- counterpart's name and how many of its messages the caller has not read.
SELECT l.*, u.name AS counterpart_name,
       (SELECT count(*) FROM messages n
         WHERE n.receiver_id = %s::uuid AND n.sender_id = l.counterpart_id AND NOT n.is_read)
           AS unread_count
  FROM (SELECT DISTINCT ON (counterpart_id) *
          FROM (SELECT m.id, m.sender_id, m.receiver_id, m.sender_type, m.key_id,
                       encode(m.nonce, 'base64') AS nonce,
                       encode(m.ciphertext, 'base64') AS ciphertext, m.aead_version,
                       m.is_read,
                       dp_ts(m.created_at) AS created_at, m.created_at AS created_ts,
                       CASE WHEN m.sender_id = %s::uuid THEN m.receiver_id ELSE m.sender_id END
                           AS counterpart_id
                  FROM messages m
                 WHERE m.sender_id = %s::uuid OR m.receiver_id = %s::uuid) x
         ORDER BY counterpart_id, created_ts DESC, id DESC) l
  JOIN users u ON u.id = l.counterpart_id
 ORDER BY l.created_ts DESC, l.id DESC;

-- name: msg_mark_read
UPDATE messages SET is_read = true
 WHERE id = %s::uuid AND receiver_id = %s::uuid
RETURNING id, sender_id, receiver_id, sender_type, key_id, encode(nonce, 'base64') AS nonce,
          encode(ciphertext, 'base64') AS ciphertext, aead_version, is_read,
          dp_ts(created_at) AS created_at;

-- name: msg_visible
-- Does the caller take part in this message at all (to tell 403 from 404)?
SELECT sender_id, receiver_id FROM messages
 WHERE id = %s::uuid AND (sender_id = %s::uuid OR receiver_id = %s::uuid);

-- ---------------------------------------------------------------- clinical notes (005)

-- name: note_appointment
-- The caller's own appointment a note may be written for.
SELECT id, client_id, status, date FROM appointments_api
 WHERE id = %s::uuid AND provider_id = %s::uuid;

-- name: note_insert
INSERT INTO clinical_notes (id, appointment_id, provider_id, client_id, type, key_id, nonce,
                            ciphertext, aead_version)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s::uuid, %s, %s, decode(%s, 'base64'),
        decode(%s, 'base64'), %s::smallint)
ON CONFLICT (appointment_id) DO NOTHING
RETURNING id;

-- name: note_get
SELECT n.id, n.appointment_id, n.provider_id, n.client_id, n.type, n.key_id,
       encode(n.nonce, 'base64') AS nonce, encode(n.ciphertext, 'base64') AS ciphertext,
       n.aead_version, dp_ts(n.signed_at) AS signed_at, n.signed_by, n.content_hash, a.date,
       dp_ts(n.created_at) AS created_at, dp_ts(n.updated_at) AS updated_at
  FROM clinical_notes n JOIN appointments_api a ON a.id = n.appointment_id
 WHERE n.appointment_id = %s::uuid AND n.provider_id = %s::uuid;

-- name: note_lock
SELECT id, client_id, type, signed_at IS NOT NULL AS signed FROM clinical_notes
 WHERE appointment_id = %s::uuid AND provider_id = %s::uuid
   FOR UPDATE;

-- name: note_update
UPDATE clinical_notes
   SET type = %s, key_id = %s, nonce = decode(%s, 'base64'),
       ciphertext = decode(%s, 'base64'), aead_version = %s::smallint, updated_at = now()
 WHERE id = %s::uuid AND signed_at IS NULL;

-- name: note_sign
UPDATE clinical_notes
   SET signed_at = now(), signed_by = %s::uuid, content_hash = %s, updated_at = now()
 WHERE id = %s::uuid AND signed_at IS NULL;

-- name: addendum_insert
INSERT INTO note_addenda (id, note_id, author_id, key_id, nonce, ciphertext, content_hash,
                         aead_version)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s, decode(%s, 'base64'), decode(%s, 'base64'), %s,
        %s::smallint);

-- name: addenda_of_note
SELECT id, author_id, key_id, encode(nonce, 'base64') AS nonce,
       encode(ciphertext, 'base64') AS ciphertext, aead_version, content_hash,
       dp_ts(signed_at) AS signed_at
  FROM note_addenda WHERE note_id = %s::uuid
 ORDER BY signed_at, id;

-- ---------------------------------------------------------------- Google sign-in (005)

-- name: user_by_google_sub
SELECT a.* FROM users u JOIN users_api a USING (id) WHERE u.google_sub = %s;

-- name: user_by_email_google
SELECT a.*, u.google_sub, u.email_verified_via FROM users u JOIN users_api a USING (id)
 WHERE u.email = %s
   FOR UPDATE OF u;

-- name: user_link_google
-- First Google sign-in of a known email whose holder proved it by a link only the address's
-- owner received (verification or reset).
UPDATE users SET google_sub = %s, updated_at = now()
 WHERE id = %s::uuid AND google_sub IS NULL AND email_verified_via = 'link'
RETURNING id;

-- name: user_google_takeover
-- First Google sign-in of a known email that no mailed link proved (unverified, or claimed
-- through an invitation, whose link the provider saw too): Google vouches for the address, so
-- its owner gets the account. Whoever held it loses the way in: no password, and every token
-- issued so far stops working. (An invited client that never claimed its record lands here.)
UPDATE users SET google_sub = %s, password_hash = NULL, email_verified_via = 'google',
                 session_version = session_version + 1, updated_at = now()
 WHERE id = %s::uuid AND google_sub IS NULL AND email_verified_via IS DISTINCT FROM 'link'
RETURNING id;

-- name: user_insert_google
INSERT INTO users (email, name, user_type, google_sub, avatar, email_verified_via)
VALUES (%s, %s, %s, %s, %s, 'google')
ON CONFLICT DO NOTHING
RETURNING id;
-- ---------------------------------------------------------------- billing (004)

-- name: invoices_of_provider
SELECT * FROM invoices_api
 WHERE provider_id = %s::uuid AND (%s::text IS NULL OR status = %s)
 ORDER BY created_ts DESC, id;

-- name: invoices_of_client
SELECT * FROM invoices_api
 WHERE client_id = %s::uuid AND (%s::text IS NULL OR status = %s)
 ORDER BY created_ts DESC, id;

-- name: invoice_client_check
-- The client must be the provider's; the appointment, when given, that client's with it.
SELECT u.id AS client_id, p.time_zone,
       (now() AT TIME ZONE p.time_zone)::date::text AS today,
       ((now() AT TIME ZONE p.time_zone)::date + 30)::text AS default_due,
       (%s::uuid IS NULL OR EXISTS (SELECT 1 FROM appointments a
                                     WHERE a.id = %s::uuid AND a.client_id = u.id
                                       AND a.provider_id = p.id)) AS appointment_ok
  FROM users u JOIN users p ON p.id = u.provider_id
 WHERE u.id = %s::uuid AND u.user_type = 'client' AND p.id = %s::uuid;

-- name: invoice_insert
INSERT INTO invoices (provider_id, client_id, appointment_id, amount_cents, currency,
                      description, issued_on, due_date)
VALUES (%s::uuid, %s::uuid, %s::uuid, %s::bigint, %s, %s, %s::date, %s::date)
RETURNING id;

-- name: invoice_get
SELECT * FROM invoices_api
 WHERE id = %s::uuid AND (provider_id = %s::uuid OR client_id = %s::uuid);

-- name: invoice_pay_claim
-- A payment claims the client's unpaid invoice for the Stripe call (014): one at a time,
-- unless the last claim is older than the stale limit in seconds (its request died). Of two
-- concurrent claims the second waits for the first's commit, re-checks the row and finds it
-- claimed: no row. The claim's time (exact text) identifies it for its release.
UPDATE invoices SET pay_claimed_at = clock_timestamp()
 WHERE status <> 'paid'
   AND (pay_claimed_at IS NULL
        OR pay_claimed_at < clock_timestamp() - make_interval(secs => %s::int))
   AND id = %s::uuid AND client_id = %s::uuid
RETURNING amount_cents, currency, pay_claimed_at::text AS claim;

-- name: invoice_pay_state
-- Why a claim found no row: no such invoice of this client, paid, or claimed.
SELECT status FROM invoices WHERE id = %s::uuid AND client_id = %s::uuid;

-- name: invoice_pay_release
-- Stripe answered without settling (declined, pending, failed): the claim ends, if it is
-- still this request's.
UPDATE invoices SET pay_claimed_at = NULL
 WHERE id = %s::uuid AND pay_claimed_at = %s::timestamptz;

-- name: invoice_intent_candidates
-- What a client's PaymentIntent may be for (015): the invoice named (any status, checked by
-- the caller), else the client's unpaid invoices of that amount in cents (two at most: one
-- is an answer, two an ambiguity).
SELECT id, amount_cents, currency, status, intent_id
  FROM invoices
 WHERE client_id = %s::uuid
   AND CASE WHEN %s::uuid IS NULL THEN status <> 'paid' AND amount_cents = %s::bigint
            ELSE id = %s::uuid END
 ORDER BY created_at, id
 LIMIT 2;

-- name: invoice_intent_record
-- The invoice's new PaymentIntent, unless another request recorded one meanwhile (the
-- previous value must be the one the caller saw).
UPDATE invoices SET intent_id = %s
 WHERE id = %s::uuid AND status <> 'paid' AND intent_id IS NOT DISTINCT FROM %s
RETURNING id;

-- name: invoice_mark_paid
UPDATE invoices SET status = 'paid', payment_method = %s, transaction_id = %s,
                    paid_at = now(), updated_at = now(), pay_claimed_at = NULL
 WHERE id = %s::uuid AND status <> 'paid'
RETURNING id, client_id;

-- name: stripe_event_record
INSERT INTO stripe_events (id, type) VALUES (%s, %s)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: invoice_settle_webhook
-- Stripe says this PaymentIntent succeeded: settle the invoice it names, if the amount and
-- currency are the invoice's (a mismatch is logged, never settled).
UPDATE invoices SET status = 'paid', payment_method = %s, transaction_id = %s,
                    paid_at = now(), updated_at = now()
 WHERE id = %s::uuid AND status <> 'paid' AND amount_cents = %s::bigint AND currency = %s
RETURNING id, client_id;

-- ---------------------------------------------------------------- sessions and lockout (007)

-- name: login_throttle
-- One sign-in attempt, counted before the password is checked against the account (email)
-- and the client address, in one statement: the two rows are locked in key order, so
-- concurrent attempts on a key queue up and a burst cannot get more than the limit through.
-- Per key: a closed window or a lock that ran out starts over at 1; a live lock counts the
-- attempt past the limit; the attempt that reaches the limit sets the lock (a success lifts
-- it: login_throttle_success). Parameters: email, its limit, window and lock seconds; the
-- address and its three. Answers retry_after: 0 when the attempt may go on, else the seconds
-- until the later lock ends. A few dead rows of other keys go on the way (never these two:
-- one statement must not both delete and update a row).
WITH lim (key, max_failures, window_s, lock_s) AS (
    VALUES ('a:' || %s, %s::int, %s::int, %s::int), ('i:' || %s, %s::int, %s::int, %s::int)
), purge AS (
    DELETE FROM auth_throttle
     WHERE key IN (SELECT key FROM auth_throttle
                    WHERE expires_at < now() AND key NOT IN (SELECT key FROM lim)
                    ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
), hit AS (
    INSERT INTO auth_throttle AS t (key, failures, window_start, locked_until, expires_at)
    SELECT key, 1, now(), CASE WHEN max_failures <= 1 THEN now() + lock_s * interval '1 s' END,
           now() + greatest(window_s, CASE WHEN max_failures <= 1 THEN lock_s ELSE 0 END)
                   * interval '1 s'
      FROM lim ORDER BY key
    ON CONFLICT (key) DO UPDATE SET (failures, window_start, locked_until, expires_at) = (
        SELECT n.failures, n.window_start, n.locked_until,
               greatest(n.window_start + l.window_s * interval '1 s', n.locked_until)
          FROM lim l,
               LATERAL (SELECT coalesce(t.locked_until > now(), false) AS locked,
                               coalesce(t.locked_until <= now(), false)
                               OR t.window_start <= now() - l.window_s * interval '1 s' AS fresh) s,
               LATERAL (SELECT CASE WHEN s.locked THEN greatest(t.failures, l.max_failures) + 1
                                    WHEN s.fresh THEN 1
                                    ELSE t.failures + 1 END AS failures,
                               CASE WHEN s.fresh AND NOT s.locked THEN now()
                                    ELSE t.window_start END AS window_start) c,
               LATERAL (SELECT c.failures, c.window_start,
                               CASE WHEN s.locked THEN t.locked_until
                                    WHEN c.failures >= l.max_failures
                                        THEN now() + l.lock_s * interval '1 s'
                               END AS locked_until) n
         WHERE l.key = excluded.key)
    RETURNING t.key, t.failures, t.locked_until
)
SELECT coalesce(max(ceil(extract(epoch FROM h.locked_until - now())))
                    FILTER (WHERE h.failures > l.max_failures), 0)::bigint AS retry_after
  FROM hit h JOIN lim l USING (key);

-- name: login_throttle_success
-- A successful sign-in: the account's count starts over, and the address gets back the
-- attempt login_throttle counted (its lock lifted if that attempt set it). Rows in key
-- order, like login_throttle. Parameters: email, address, the address's limit.
INSERT INTO auth_throttle AS t (key, failures, window_start, expires_at)
SELECT key, 0, now(), now()
  FROM (VALUES ('a:' || %s), ('i:' || %s)) k (key) ORDER BY key
ON CONFLICT (key) DO UPDATE SET
    failures     = CASE WHEN left(t.key, 2) = 'a:' THEN 0 ELSE greatest(t.failures - 1, 0) END,
    locked_until = CASE WHEN left(t.key, 2) = 'a:' OR t.failures - 1 < %s::int THEN NULL
                        ELSE t.locked_until END,
    expires_at   = CASE WHEN left(t.key, 2) = 'a:' THEN now() ELSE t.expires_at END;

-- name: session_touch
-- The session was used now: recorded when the last record is a minute old or more (the
-- caller only asks then; the WHERE keeps two concurrent requests to one write). A few rows of
-- expired tokens (never this one) go on the way. Parameters: jti, user, the token's exp
-- (epoch seconds).
WITH tok (jti, user_id, expires_at) AS (
    VALUES (%s::uuid, %s::uuid, to_timestamp(%s::double precision))
), purge AS (
    DELETE FROM session_activity
     WHERE jti IN (SELECT jti FROM session_activity
                    WHERE expires_at < now() AND jti <> (SELECT jti FROM tok)
                    ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)
)
INSERT INTO session_activity AS s (jti, user_id, last_used_at, expires_at)
SELECT jti, user_id, now(), expires_at FROM tok
ON CONFLICT (jti) DO UPDATE SET last_used_at = now()
 WHERE s.last_used_at < now() - interval '60 s';
-- ---------------------------------------------------------------- audit chain (006)
-- Used by the sealer thread (modules/dp_auditseal.c), one transaction per batch.

-- name: audit_refusals_close
-- Run by the sealer thread before its batches, outside their transactions: every count of
-- anonymous refusals whose minute has ended (with two seconds' margin for a statement that
-- began inside it) is deleted, and each that went past the limit becomes one audit event:
-- actor anonymous, action audit.refusals, resource type refusals, the address, the outcome
-- of the most frequent kind of refusal, and as resource id the minute, the counts and that
-- kind's action: "minute=2026-05-14T10:31Z refused=250 recorded=20 action=user.read".
-- The DELETE claims each row once, so sealers of several children or servers that run this
-- at the same moment write each event once, with no lock; a refusal counted after its row
-- went starts a new row, closed at the next run. Answers one row per event written.
WITH closed AS (
    DELETE FROM audit_refusal_counts
     WHERE window_start < now() - interval '62 seconds'
    RETURNING ip, window_start, refused, recorded, tally
), over AS (
    SELECT c.ip, c.window_start, c.refused, c.recorded, k.kind
      FROM closed c
     CROSS JOIN LATERAL (SELECT key AS kind FROM jsonb_each_text(c.tally)
                          ORDER BY value::int DESC, key LIMIT 1) k
     WHERE c.refused > c.recorded
)
INSERT INTO audit_events (actor_type, action, resource_type, resource_id, ip, outcome)
SELECT 'anonymous', 'audit.refusals', 'refusals',
       'minute=' || to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')
           || ' refused=' || refused || ' recorded=' || recorded
           || ' action=' || split_part(kind, ' ', 1),
       nullif(ip, ''), split_part(kind, ' ', 2)
  FROM over
 ORDER BY window_start, ip
RETURNING ip;

-- name: audit_seal_lock
-- One sealer at a time across every child and server on this database (key: the bytes
-- 'DPAU'); the lock ends with the transaction, and the others skip instead of waiting.
-- And, for this transaction only, a plan for each execution's values: a generic plan of
-- audit_unsealed_after cannot know that its seq_hi is near the end of the table, and walked
-- the whole primary key (93 ms for 188,000 rows, where the plan made for the values takes
-- 2 ms). And no bitmap scans: with them, the search above the
-- frontier could combine audit_events_at_idx over the whole ten-minute window with the seqs
-- above the frontier and sort every unsealed row to take the first 1,000 (150 to 250 ms a
-- batch on a busy server, whose window holds a million rows, and a backlog sealed in
-- quadratic time); without, it walks the primary key from the frontier and stops after the
-- batch (2 ms). And no hash or merge joins: the search of the whole window (audit_unsealed)
-- would hash, or walk from its start, every seal ever written to find the window's (its cost
-- growing with the whole trail, years of it on a long-lived server, where the window is ten
-- minutes); with neither, each row of the window looks its seal up in audit_seals_event_seq_key,
-- and the search costs what the window holds. The other NOT EXISTS of the transaction look
-- their seqs up the same way: above the frontier, a batch's worth; the checkpoint's
-- candidates, the seqs between the two frontiers (the window's, when the batch had none). The requests' statements on the same pooled connection keep their cached plans and
-- settings, as every setting ends with the transaction.
SELECT pg_try_advisory_xact_lock(1146110293) AS locked,
       set_config('plan_cache_mode', 'force_custom_plan', true) AS plans,
       set_config('enable_bitmapscan', 'off', true) AS scans,
       set_config('enable_hashjoin', 'off', true) AS hashes,
       set_config('enable_mergejoin', 'off', true) AS merges;

-- name: audit_seal_head
-- The chain's last link (position 0 and no mac before the first), the transaction's time
-- in microseconds, which the batch's checkpoint is signed with and stored as (now()), and
-- the frontier the checkpoint of that last link recorded (009), if it is that link's: NULLs
-- make the batch search the whole window (audit_unsealed). sweep_due: the last search of the
-- whole window (019) was at least the period ago (parameter: seconds), or its time is missing
-- or in the future (a clock set back).
SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now_us,
       coalesce(h.position, 0) AS position, encode(h.mac, 'hex') AS mac,
       c.seq_hi, c.open_seqs, c.open_since,
       coalesce((SELECT w.swept_at <= now() - make_interval(secs => %s::int)
                        OR w.swept_at > now()
                   FROM audit_sweep w), true) AS sweep_due
  FROM (SELECT 1) AS one
  LEFT JOIN (SELECT position, mac FROM audit_seals ORDER BY position DESC LIMIT 1) AS h ON true
  LEFT JOIN LATERAL (SELECT k.seq_hi, k.open_seqs, k.open_since FROM audit_checkpoints k
                      WHERE k.position = h.position AND k.mac = h.mac
                      ORDER BY k.id DESC LIMIT 1) AS c ON true;

-- name: audit_unsealed
-- Committed rows without a seal, lowest seq first, every column as the chain's canonical
-- form takes it (at in exact microseconds). Bounded to recent rows: from ten minutes before
-- the newest sealed row on (audit_unsealed_from, 009). A row still unsealed is one that
-- committed after the last batch, or whose transaction is still open; no transaction that
-- writes an audit row stays open for minutes (the longest, a payment waiting for Stripe,
-- gives up after 20 s), so the margin leaves nothing behind. The bound follows the newest
-- sealed row, not the clock, so a backlog (the sealer or the database was down for a day) is
-- still sealed in full, batch after batch. With no seal yet, every row qualifies (existing
-- rows are chained on the first runs). This searches every row of the window for a seal: the
-- sealer's whole-window search, for when it has no frontier (audit_unsealed_after) and once
-- per period across all sealers (019).
SELECT e.seq, e.id, (extract(epoch FROM e.at) * 1000000)::bigint AS at_us, e.actor_id,
       e.actor_type, e.action, e.resource_type, e.resource_id, e.client_id, e.ip, e.outcome,
       e.request_id
  FROM audit_events e
 WHERE e.at >= (SELECT audit_unsealed_from())
   AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)
 ORDER BY e.seq
 LIMIT %s::int;

-- name: audit_sweep_done
-- The whole window was searched, in this transaction (019).
UPDATE audit_sweep SET swept_at = now();

-- name: audit_unsealed_after
-- The same rows, found from the last checkpoint's frontier (009): above its seq_hi, or one
-- of the seqs it left open. Two parts, so that each is an index lookup on seq whatever the
-- planner believes of the table: the rows above seq_hi in seq order, stopping once the batch
-- is full (its cost follows the batch, not the backlog or the window), and the open seqs; then
-- the first of both in seq order. (The window's bound is a subquery so that it is computed
-- once per execution, not once per row.) Parameters: seq_hi, the batch size, the open seqs,
-- the batch size.
SELECT u.* FROM (
    (SELECT e.seq, e.id, (extract(epoch FROM e.at) * 1000000)::bigint AS at_us, e.actor_id,
            e.actor_type, e.action, e.resource_type, e.resource_id, e.client_id, e.ip,
            e.outcome, e.request_id
       FROM audit_events e
      WHERE e.seq > %s::bigint
        AND e.at >= (SELECT audit_unsealed_from())
        AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)
      ORDER BY e.seq
      LIMIT %s::int)
    UNION ALL
    SELECT e.seq, e.id, (extract(epoch FROM e.at) * 1000000)::bigint AS at_us, e.actor_id,
           e.actor_type, e.action, e.resource_type, e.resource_id, e.client_id, e.ip,
           e.outcome, e.request_id
      FROM audit_events e
     WHERE e.seq = ANY (%s::bigint[])
       AND e.at >= (SELECT audit_unsealed_from())
       AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_seq = e.seq)
) AS u
 ORDER BY u.seq
 LIMIT %s::int;

-- name: audit_seal_insert
-- A batch of seals in one statement: positions, event seqs and hex macs as three arrays.
INSERT INTO audit_seals (position, event_seq, mac)
SELECT u.position, u.event_seq, decode(u.mac, 'hex')
  FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS u (position, event_seq, mac);

-- name: audit_checkpoint_insert
-- After the batch's seals: its signed checkpoint, with the frontier the next batch starts
-- from (009). created_at is now(), the time audit_seal_head gave in the same transaction
-- (and signed). Arguments: position, mac and signature (hex), then the frontier this batch
-- started from (seq_hi, open_seqs, open_since), the head checkpoint's, whichever search the
-- batch made; with none (NULLs), the frontier starts just below the window's first row. The new frontier: seq_hi is the
-- highest sealed seq; open are the seqs that were open or lie between the two seq_hi and
-- still have no seal (first found missing now, unless they were open already), less those
-- open for ten minutes. More than 10,000 open, or a jump of more than a million seqs, and
-- the checkpoint records no frontier: the next batch searches the whole window.
WITH top AS (SELECT max(event_seq) AS hi, (extract(epoch FROM now()) * 1000000)::bigint AS now_us
               FROM audit_seals),
     prev AS (SELECT coalesce(%s::bigint,
                              (SELECT min(e.seq) - 1 FROM audit_events e
                                WHERE e.at >= (SELECT audit_unsealed_from())),
                              top.hi) AS hi
                FROM top),
     cand AS (SELECT o.seq, o.since FROM unnest(%s::bigint[], %s::bigint[]) AS o (seq, since)
              UNION ALL
              SELECT g.seq, top.now_us
                FROM top, prev, generate_series(prev.hi + 1, top.hi) AS g (seq)
               WHERE top.hi - prev.hi <= 1000000),
     open AS (SELECT DISTINCT ON (c.seq) c.seq, c.since FROM cand c, top
               WHERE c.since > top.now_us - 600000000
                 AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_seq = c.seq)
               ORDER BY c.seq, c.since),
     f AS (SELECT count(*) <= 10000 AND (SELECT top.hi - prev.hi <= 1000000 FROM top, prev) AS kept,
                  coalesce(array_agg(seq ORDER BY seq), '{}') AS seqs,
                  coalesce(array_agg(since ORDER BY seq), '{}') AS since
             FROM open)
INSERT INTO audit_checkpoints (position, mac, signature, created_at, seq_hi, open_seqs, open_since)
SELECT %s::bigint, decode(%s, 'hex'), decode(%s, 'hex'), now(),
       CASE WHEN f.kept THEN top.hi END, CASE WHEN f.kept THEN f.seqs END,
       CASE WHEN f.kept THEN f.since END
  FROM top, f;
-- ---------------------------------------------------------------- audit report
-- GET /api/audit. A provider's report holds the events about its clients (client_id one of
-- theirs) and, of the events without a client, those the provider or one of its clients
-- caused (its logins and lists, a client's refused calls); never another practice's.
-- Each statement binds its parameters once, in the one-row subquery q: PostgreSQL folds them
-- into each execution's plan, so an absent filter (NULL) costs nothing and the ORDER BY
-- reduces to the one chosen field (the default, -at, walks audit_events_at_idx backwards).

-- name: audit_report_period
-- Whether clientId (when given) is one of the provider's clients, and from/to as UTC
-- instants: an instant as given, a day in the provider's time zone (from: its start; to: the
-- start of the next day, so the day is included). One fixed text form, compared in C; the
-- report's statements get '-infinity'/'infinity' for an open end (a range the index serves).
SELECT (q.client IS NULL
        OR EXISTS (SELECT 1 FROM users c WHERE c.id = q.client AND c.provider_id = p.id))
           AS client_ok,
       to_char(coalesce(q.from_at, q.from_day::timestamp AT TIME ZONE p.time_zone)
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS from_at,
       to_char(coalesce(q.to_at, (q.to_day + 1)::timestamp AT TIME ZONE p.time_zone)
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS to_at
  FROM (SELECT %s::uuid AS me, %s::uuid AS client, %s::timestamptz AS from_at,
               %s::date AS from_day, %s::timestamptz AS to_at, %s::date AS to_day) q
  JOIN users p ON p.id = q.me AND p.user_type = 'provider';

-- name: audit_report
-- One page of the report and the count of all its rows, from one snapshot: always one row at
-- least, whose event columns are NULL when the page is empty. The page is ordered by q.sort
-- (a field name, '-' first for descending; checked against the list in modules/dp_auditlog.c),
-- ties in event order (seq) in the same direction, so '-f' is exactly the reverse of 'f' and
-- pages never overlap. Both CTEs are inlined where they are used (NOT MATERIALIZED): the
-- count is a bitmap scan of the two indexes, the page stops after limit + offset rows.
WITH q AS NOT MATERIALIZED (
         SELECT %s::uuid AS me, %s::uuid AS client, %s::timestamptz AS from_at,
                %s::timestamptz AS to_at, %s AS action, %s::uuid AS actor, %s AS actor_type,
                %s AS resource_type, %s AS resource_id, %s AS outcome, %s AS sort),
     hits AS NOT MATERIALIZED (
         SELECT e.*
           FROM audit_events e, q
          WHERE (e.client_id = ANY (ARRAY(SELECT u.id FROM users u WHERE u.provider_id = q.me))
                 OR (e.client_id IS NULL
                     AND e.actor_id = ANY (ARRAY(SELECT u.id FROM users u
                                                  WHERE u.id = q.me OR u.provider_id = q.me))))
            AND (q.client IS NULL OR e.client_id = q.client)
            AND e.at >= q.from_at AND e.at < q.to_at
            AND (q.action IS NULL OR e.action = q.action)
            AND (q.actor IS NULL OR e.actor_id = q.actor)
            AND (q.actor_type IS NULL OR e.actor_type = q.actor_type)
            AND (q.resource_type IS NULL OR e.resource_type = q.resource_type)
            AND (q.resource_id IS NULL OR e.resource_id = q.resource_id)
            AND (q.outcome IS NULL OR e.outcome = q.outcome))
SELECT (SELECT count(*) FROM hits) AS total, p.id, dp_ts(p.at) AS at, p.actor_id, p.actor_type,
       p.action, p.resource_type, p.resource_id, p.client_id, p.ip, p.outcome
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (
       SELECT h.*
         FROM hits h, q
        ORDER BY CASE q.sort WHEN 'id' THEN h.id END,
                 CASE q.sort WHEN '-id' THEN h.id END DESC,
                 CASE q.sort WHEN 'at' THEN h.at END,
                 CASE q.sort WHEN '-at' THEN h.at END DESC,
                 CASE q.sort WHEN 'actorId' THEN h.actor_id END,
                 CASE q.sort WHEN '-actorId' THEN h.actor_id END DESC,
                 CASE q.sort WHEN 'actorType' THEN h.actor_type END,
                 CASE q.sort WHEN '-actorType' THEN h.actor_type END DESC,
                 CASE q.sort WHEN 'action' THEN h.action END,
                 CASE q.sort WHEN '-action' THEN h.action END DESC,
                 CASE q.sort WHEN 'resourceType' THEN h.resource_type END,
                 CASE q.sort WHEN '-resourceType' THEN h.resource_type END DESC,
                 CASE q.sort WHEN 'resourceId' THEN h.resource_id END,
                 CASE q.sort WHEN '-resourceId' THEN h.resource_id END DESC,
                 CASE q.sort WHEN 'clientId' THEN h.client_id END,
                 CASE q.sort WHEN '-clientId' THEN h.client_id END DESC,
                 CASE q.sort WHEN 'ip' THEN h.ip END,
                 CASE q.sort WHEN '-ip' THEN h.ip END DESC,
                 CASE q.sort WHEN 'outcome' THEN h.outcome END,
                 CASE q.sort WHEN '-outcome' THEN h.outcome END DESC,
                 CASE WHEN left(q.sort, 1) = '-' THEN h.seq END DESC,
                 h.seq
        LIMIT %s::bigint OFFSET %s::bigint) p ON true;

-- ---------------------------------------------------------------- accounts and mail (010)

-- name: rate_hit
-- One request counted against a per-key limit over a fixed window (account creation and
-- password reset requests per client address). Parameters: key, limit, window seconds.
-- Answers retry_after: 0 while within the limit, else the seconds until the window ends.
WITH lim (key, max_n, window_s) AS (VALUES (%s, %s::int, %s::int))
INSERT INTO auth_throttle AS t (key, failures, window_start, expires_at)
SELECT key, 1, now(), now() + window_s * interval '1 s' FROM lim
ON CONFLICT (key) DO UPDATE SET
    failures     = CASE WHEN t.window_start <= now() - (SELECT window_s FROM lim) * interval '1 s'
                        THEN 1 ELSE t.failures + 1 END,
    window_start = CASE WHEN t.window_start <= now() - (SELECT window_s FROM lim) * interval '1 s'
                        THEN now() ELSE t.window_start END,
    expires_at   = CASE WHEN t.window_start <= now() - (SELECT window_s FROM lim) * interval '1 s'
                        THEN now() ELSE t.window_start END
                   + (SELECT window_s FROM lim) * interval '1 s'
RETURNING (SELECT CASE WHEN t.failures > max_n
                       THEN greatest(1, ceil(extract(epoch FROM t.expires_at - now())))::int
                       ELSE 0 END
             FROM lim) AS retry_after;

-- name: outbox_insert
-- A mail, in the transaction of the change that causes it. Parameters: id, kind, recipient,
-- subject, sealed body (key id, nonce, ciphertext), Message-ID.
INSERT INTO outbox (id, kind, recipient, subject, body_key_id, body_nonce, body_ct, message_id)
VALUES (%s::uuid, %s, %s, %s, %s, %s, %s, %s);

-- name: email_token_insert
-- Parameters: token hash, user, purpose, lifetime in seconds.
INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at)
VALUES (%s, %s::uuid, %s, now() + %s::int * interval '1 s');

-- name: email_token_valid
-- Whether a link is still good, without using it (a reset is checked before the new
-- password is hashed). Parameters: token hash, purpose.
SELECT user_id FROM email_tokens
 WHERE token_hash = %s AND purpose = %s AND used_at IS NULL AND expires_at > now();

-- name: email_token_use
-- Single use: the first use wins. Parameters: token hash, purpose.
UPDATE email_tokens SET used_at = now()
 WHERE token_hash = %s AND purpose = %s AND used_at IS NULL AND expires_at > now()
RETURNING user_id;

-- name: email_tokens_retire
-- The user's other open links of a purpose die (NULL: every purpose). Parameters: user,
-- purpose.
UPDATE email_tokens SET used_at = now()
 WHERE user_id = %s::uuid AND (%s::text IS NULL OR purpose = %s) AND used_at IS NULL;

-- name: user_verify_email
UPDATE users SET email_verified_via = 'link', updated_at = now()
 WHERE id = %s::uuid
RETURNING id;

-- name: verify_resend_lock
-- The account, locked so that two resends queue up, with the seconds to wait before another
-- verification mail: at most one a minute and five an hour (an account squatting on an
-- address cannot flood it). Parameter: user.
SELECT u.email, u.email_verified,
       coalesce((SELECT greatest(1, ceil(extract(epoch FROM
                    CASE WHEN count(*) >= 5 THEN min(t.created_at) + interval '1 hour'
                         ELSE max(t.created_at) + interval '60 s' END - now())))::int
                   FROM email_tokens t
                  WHERE t.user_id = u.id AND t.purpose = 'verify-email'
                    AND t.created_at > now() - interval '1 hour'
                 HAVING count(*) >= 5 OR max(t.created_at) > now() - interval '60 s'), 0)
           AS wait_s
  FROM users u WHERE u.id = %s::uuid
   FOR UPDATE OF u;

-- name: reset_request
-- A password reset link for the account with this email, unless it had three in the last
-- hour; the token and its mail in one statement, which costs the same whether or not there
-- is such an account. Parameters: email, token hash, outbox id, subject, sealed body (key
-- id, nonce, ciphertext), Message-ID. Answers a row when a mail was queued.
WITH u AS (
    SELECT x.id, x.email FROM users x
     WHERE x.email = %s
       AND (SELECT count(*) FROM email_tokens t
             WHERE t.user_id = x.id AND t.purpose = 'password-reset'
               AND t.created_at > now() - interval '1 hour') < 3
), tok AS (
    INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at)
    SELECT %s, id, 'password-reset', now() + interval '1 hour' FROM u
)
INSERT INTO outbox (id, kind, recipient, subject, body_key_id, body_nonce, body_ct, message_id)
SELECT %s::uuid, 'password-reset', u.email, %s, %s, %s, %s, %s FROM u
RETURNING (SELECT id FROM u) AS user_id;

-- name: user_password_set
-- A new password; every session of the user ends (the version the tokens carry moves on).
-- Parameters: hash, whether the change proves the email (a mailed reset link), user.
UPDATE users SET password_hash = %s, session_version = session_version + 1,
                 email_verified_via = CASE WHEN %s::boolean THEN 'link'
                                           ELSE email_verified_via END,
                 updated_at = now()
 WHERE id = %s::uuid
RETURNING id;

-- name: user_password_hash
-- The account's password hash and email, for a change of password. Parameter: user.
SELECT email, password_hash FROM users WHERE id = %s::uuid;

-- ---------------------------------------------------------------- mail delivery
-- Used by the delivery thread (modules/dp_mailer.c).

-- name: mail_lock
-- One delivery thread at a time across children and servers (a session lock, held for one
-- pass, released by mail_unlock).
SELECT pg_try_advisory_lock(7125401320001) AS locked;

-- name: mail_unlock
SELECT pg_advisory_unlock(7125401320001) AS unlocked;

-- name: mail_claim
-- The next mail due, claimed for lease seconds: its next attempt moves past the lease before
-- it is sent, so no other sender takes it meanwhile, even one without the lock.
-- Parameters: lease seconds, the age in seconds after which a mail is given up.
UPDATE outbox o SET attempts = o.attempts + 1,
                    next_attempt_at = now() + %s::int * interval '1 s'
 WHERE o.id = (SELECT id FROM outbox
                WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at, created_at
                LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING o.id, o.kind, o.recipient, o.subject, o.body_key_id, o.body_nonce, o.body_ct,
          o.attempts, o.message_id, floor(extract(epoch FROM o.created_at))::bigint AS created_s,
          o.created_at < now() - %s::int * interval '1 s' AS too_old;

-- name: mail_sent
UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL,
                  body_key_id = NULL, body_nonce = NULL, body_ct = NULL
 WHERE id = %s::uuid;

-- name: mail_retry
-- Parameters: seconds until the next attempt, the error, id.
UPDATE outbox SET next_attempt_at = now() + %s::int * interval '1 s', last_error = %s
 WHERE id = %s::uuid;

-- name: mail_prune
-- Housekeeping after a pass, a few hundred rows at a time: mail sent or given up 30 days ago
-- (who was sent what kind, when, is of no use after that), and mailed links a week past
-- their expiry (the hourly count of reset links looks back one hour).
WITH old_mail AS (
    DELETE FROM outbox
     WHERE id IN (SELECT id FROM outbox
                   WHERE status <> 'pending' AND created_at < now() - interval '30 days'
                   ORDER BY created_at LIMIT 500)
    RETURNING 1
), old_links AS (
    DELETE FROM email_tokens
     WHERE token_hash IN (SELECT token_hash FROM email_tokens
                           WHERE expires_at < now() - interval '7 days'
                           ORDER BY expires_at LIMIT 500)
    RETURNING 1
)
SELECT (SELECT count(*) FROM old_mail) AS mails, (SELECT count(*) FROM old_links) AS links;

-- name: mail_give_up
-- Parameters: the error, id.
UPDATE outbox SET status = 'failed', last_error = %s,
                  body_key_id = NULL, body_nonce = NULL, body_ct = NULL
 WHERE id = %s::uuid;
