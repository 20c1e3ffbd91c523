-- 009_audit_seal_frontier: where the sealer's search for unsealed audit rows starts.
--
-- Before: every batch looked for a missing seal among all the rows of the last ten minutes
-- (an anti-join over each of them), so a busy server paid for the whole window again on every
-- batch of 1,000 rows: PostgreSQL CPU per sealed row grew with the traffic of the last ten
-- minutes. Now each checkpoint also records the sealer's frontier, and the next batch looks
-- only above it and at the few rows the frontier left open:
--   seq_hi      the highest audit_events.seq sealed when the checkpoint was written;
--   open_seqs   the seqs at or below seq_hi without a seal (rows whose transaction was still
--               open then, or that rolled back), in order;
--   open_since  for each of them, when a batch first found it missing (microseconds since
--               the epoch). A seq still missing ten minutes later is given up, as before.
-- These are hints for the search, not part of the signed chain: the verifier ignores them,
-- a checkpoint without them (written before this migration, or with too many open seqs)
-- makes the next batch search the whole window as before, and the sealer still does that
-- now and then on its own (see modules/dp_auditseal.c).
ALTER TABLE audit_checkpoints
    ADD COLUMN seq_hi bigint,
    ADD COLUMN open_seqs bigint[],
    ADD COLUMN open_since bigint[],
    ADD CONSTRAINT audit_checkpoints_frontier_check
        CHECK ((seq_hi IS NULL) = (open_seqs IS NULL) AND (open_seqs IS NULL) = (open_since IS NULL)
               AND coalesce(cardinality(open_seqs) = cardinality(open_since), true));

-- Where the search for unsealed rows starts in time: ten minutes before the newest sealed
-- row (not before the clock, so that a backlog is still sealed in full), or the beginning
-- when nothing is sealed yet. One definition for both of the sealer's searches.
CREATE FUNCTION audit_unsealed_from() RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT a.at FROM audit_events a
                      WHERE a.seq = (SELECT max(event_seq) FROM audit_seals)),
                    '-infinity') - interval '10 minutes'
$$;
