-- 010_accounts_mail: verified email addresses, single-use links mailed to a user (verify the
-- address, reset the password), revoking every session of a user at once, and the mail
-- outbox the module delivers from.

-- email_verified_via: how the address was proven, NULL while it is not: 'link' (a mailed
-- verification or reset link, which only the address's owner receives), 'invite' (a claimed
-- invitation: the provider saw that link too, so a Google sign-in of the address's owner
-- still takes the account over), 'google' (Google vouched for it). email_verified follows.
-- session_version: the sessions a user may hold; a token carries the version it was issued
-- under and stops working when it is bumped (password reset or change, an account taken over
-- by its Google owner).
ALTER TABLE users
    ADD COLUMN email_verified_via text CHECK (email_verified_via IN ('link', 'invite', 'google')),
    ADD COLUMN email_verified boolean GENERATED ALWAYS AS (email_verified_via IS NOT NULL) STORED,
    ADD COLUMN session_version integer NOT NULL DEFAULT 0 CHECK (session_version >= 0);

-- Accounts that exist already: a Google-linked account and an invited client that claimed
-- its invitation proved their address; the others verify through a link they ask for.
UPDATE users u SET email_verified_via = CASE WHEN u.google_sub IS NOT NULL THEN 'google'
                                             ELSE 'invite' END
 WHERE u.google_sub IS NOT NULL
    OR EXISTS (SELECT 1 FROM invites i WHERE i.client_id = u.id AND i.used_at IS NOT NULL);

CREATE OR REPLACE VIEW users_api AS
SELECT id, email, name, user_type, phone, avatar, specialty, license, bio,
       hourly_rate_cents, time_zone, date_of_birth::text AS date_of_birth, address,
       insurance, provider_id, emergency_contact::text AS emergency_contact,
       dp_ts(created_at) AS created_at, dp_ts(updated_at) AS updated_at, email_verified
  FROM users;

-- A link mailed to a user. Only the SHA-256 of the token is kept: whoever reads this table
-- cannot use a link. Single use (used_at), and it expires.
CREATE TABLE email_tokens (
    token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify-email', 'password-reset')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose, created_at);

-- Mail waiting to be delivered, and what became of it. A row is written in the transaction
-- of the change that causes the mail, so a mail exists exactly when its change committed.
-- The body (it holds a link with a token) is sealed under the module's message key and
-- erased once the mail is sent or given up; what stays is who was sent which kind, when.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z-]{0,39}$'),
    recipient       text NOT NULL CHECK (length(recipient) <= 254
                                         AND recipient !~ '[[:cntrl:]]'),
    subject         text NOT NULL CHECK (length(subject) <= 200
                                         AND subject !~ '[[:cntrl:]]'),
    body_key_id     text,
    body_nonce      text,
    body_ct         text,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text,
    message_id      text NOT NULL,
    CHECK (status <> 'pending' OR body_ct IS NOT NULL)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';

CREATE INDEX outbox_done_idx ON outbox (created_at) WHERE status <> 'pending';
CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);

-- The delivery thread prunes what is no longer needed (see mail_prune in statements.sql).
GRANT SELECT, INSERT, UPDATE, DELETE ON email_tokens TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO :"app_role";
