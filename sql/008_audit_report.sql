-- 008_audit_report: GET /api/audit reads a provider's events as those about its clients
-- (audit_events_client_at_idx) plus those it caused itself without a client. The second
-- half needs the actor indexed too: with both, the report's scope is a BitmapOr of the two
-- indexes, never a scan of every practice's events; (actor_id, at) also serves the
-- report's actorId filter.
CREATE INDEX audit_events_actor_at_idx ON audit_events (actor_id, at);
