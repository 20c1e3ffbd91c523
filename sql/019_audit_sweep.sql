-- 019_audit_sweep: when the audit sealer last searched the whole ten-minute window for rows
-- without a seal (statement audit_unsealed), its safety net beside the search from the
-- frontier (009). The time is kept here, one row for every sealer of every child and server
-- on the database, so that the search runs once per period (DocPortalAuditSweepInterval)
-- whatever the number of children: a period counted in each child's own wakes ran it once
-- per child, and dropped it whenever that wake found another child's sealer holding the lock.
-- The sealer reads the row under its lock (audit_seal_head) and sets it in the transaction
-- of the search (audit_sweep_done): one small write per period, on an idle server too. The
-- row only times the search: the chain is checked by the verifier, not by it.
CREATE TABLE audit_sweep (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    swept_at timestamptz NOT NULL
);
INSERT INTO audit_sweep (only_row, swept_at) VALUES (true, '-infinity');

GRANT SELECT, UPDATE ON audit_sweep TO :"app_role";
