-- Every statement the module runs, declared once. build/gen-statements.sh compiles this file
-- into the module (names become DPQ_<NAME> macros), and mod_dbd prepares each at startup.
-- Placeholders are apr_dbd's %s (bound, never spliced); a literal percent sign is %%.
-- The pgsql driver declares every %s parameter as varchar, so non-text ones are cast.

-- name: schema_level
SELECT coalesce(max(version), 0) AS level FROM schema_migrations;

-- name: health
SELECT 1 AS ok;

-- name: auth_principal
-- The token's user still exists with that role, and the token was not revoked.
SELECT id, user_type, provider_id
  FROM users
 WHERE id = %s::uuid AND user_type = %s
   AND NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = %s::uuid);

-- name: audit_insert
INSERT INTO audit_events (actor_id, actor_type, action, resource_type, resource_id,
                          client_id, ip, outcome, request_id)
VALUES (%s::uuid, %s, %s, %s, %s, %s::uuid, %s, %s, %s);

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
SELECT * FROM users_api WHERE id = %s::uuid;

-- name: user_login
SELECT a.*, u.password_hash FROM users u JOIN users_api a USING (id) WHERE u.email = %s;

-- name: token_revoke
INSERT INTO revoked_tokens (jti, user_id, expires_at)
VALUES (%s::uuid, %s::uuid, to_timestamp(%s::double precision))
ON CONFLICT (jti) DO NOTHING;

-- name: token_purge
DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour';
