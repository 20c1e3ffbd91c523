-- 016_audit_refusal_counts: refusals of anonymous requests counted per client address and
-- minute (DocPortalAnonymousAuditLimit). While an address is within the limit each refusal is
-- its own audit row, as ever; past it the refusal is only counted here, and once the minute
-- has closed the audit sealer turns the row into one audit event for the whole minute and
-- deletes it (statements audit_refusal_insert, audit_refusals_close). A row lives about a
-- minute: the table holds the addresses refused in the last minute or two, nothing older.
CREATE TABLE audit_refusal_counts (
    ip           text NOT NULL CHECK (length(ip) <= 64), -- '' when httpd knew no address
    window_start timestamptz NOT NULL,                    -- the minute, truncated
    refused      integer NOT NULL CHECK (refused > 0),
    recorded     integer NOT NULL CHECK (recorded >= 0 AND recorded <= refused),
    -- refusals by "action outcome" (e.g. "user.read denied"): a few keys, one per kind of
    -- refusal the API has
    tally        jsonb NOT NULL CHECK (jsonb_typeof(tally) = 'object'),
    PRIMARY KEY (ip, window_start)
);
CREATE INDEX audit_refusal_counts_window_idx ON audit_refusal_counts (window_start);

GRANT SELECT, INSERT, UPDATE, DELETE ON audit_refusal_counts TO :"app_role";
