-- 020_audit_event_id_unindexed: audit_events.id loses its unique index. The id is a random
-- UUID (gen_random_uuid, 122 random bits) that names an event in the report; no statement
-- looks an event up by it (the chain, the sealer and the verifier work by seq, the report by
-- client, actor and time), and the report sorts by it after filtering. The index was the
-- dearest part of writing an event: each insert landed on a random leaf of a tree as large
-- as the trail, so every audited request read and dirtied a page nothing else touches (about
-- 0.07 ms of PostgreSQL CPU per event on the bench machine, a third of the event's cost,
-- measured with pgbench inserting batches of four into a copy of the table with and without
-- it). seq stays the primary key; an event's id stays as unique as gen_random_uuid makes it.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_id_key;
