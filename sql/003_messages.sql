-- 003_messages: secure messages between a client and its provider, encrypted before they
-- reach the database (AES-256-GCM; the key ring lives in httpd's configuration, not here).

CREATE TABLE messages (
    id          uuid PRIMARY KEY,
    sender_id   uuid NOT NULL REFERENCES users (id),
    receiver_id uuid NOT NULL REFERENCES users (id),
    sender_type text NOT NULL CHECK (sender_type IN ('provider', 'client')),
    key_id      text NOT NULL,           -- which DocPortalMessageKey sealed it
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL,          -- AES-256-GCM output with the 16-byte tag appended
    is_read     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (sender_id <> receiver_id)
);
-- one conversation, newest first, and the receiver's unread ones
CREATE INDEX messages_pair_idx ON messages (least(sender_id, receiver_id),
                                            greatest(sender_id, receiver_id),
                                            created_at DESC, id DESC);
CREATE INDEX messages_unread_idx ON messages (receiver_id, sender_id) WHERE NOT is_read;
CREATE INDEX messages_key_idx ON messages (key_id);

GRANT SELECT, INSERT ON messages TO :"app_role";
-- the application may only flip the read flag; re-encryption (dp-rekey) runs as the owner
GRANT UPDATE (is_read) ON messages TO :"app_role";
