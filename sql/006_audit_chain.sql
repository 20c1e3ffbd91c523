-- 006_audit_chain: tamper evidence for audit_events. The sealer inside httpd
-- (modules/dp_auditseal.c) gives every committed audit row a position in a chain and a MAC,
--   mac_n = HMAC-SHA256(key, mac_{n-1} || canonical(row_n))
-- keyed by DocPortalAuditKeyFile, a secret that is not in the database, and after each batch
-- records a signed checkpoint (also written to httpd's error log). build/audit-verify.c
-- recomputes the chain and names the first broken link. See modules/core/dp_auditchain.h for
-- the exact bytes.
--
-- Only one sealer works at a time, across every child and every server on this database:
-- each batch runs in a transaction that holds pg_try_advisory_xact_lock(1146110293) (the
-- bytes 'DPAU'); anything else that must not race the sealer can take the same lock.

-- One row per sealed audit row. position is the chain order, assigned by the sealer in the
-- order it saw the rows; it is not seq order, because rows commit out of seq order.
-- No foreign key: the verifier, not a constraint, judges a seal whose row is gone.
CREATE TABLE audit_seals (
    position  bigint PRIMARY KEY CHECK (position > 0),
    event_seq bigint NOT NULL UNIQUE,   -- audit_events.seq; the unique index finds unsealed rows
    mac       bytea NOT NULL CHECK (length(mac) = 32),
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- A signed statement "the chain had this MAC at this position at this time", one per batch.
CREATE TABLE audit_checkpoints (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position   bigint NOT NULL CHECK (position > 0),
    mac        bytea NOT NULL CHECK (length(mac) = 32),
    signature  bytea NOT NULL CHECK (length(signature) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_checkpoints_position_idx ON audit_checkpoints (position);

-- Append-only like audit_events, for every role (the grants below add a second wall).
CREATE FUNCTION audit_chain_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_seals_no_update_delete BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_chain_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_refuse_change();

GRANT SELECT, INSERT ON audit_seals, audit_checkpoints TO :"app_role";
