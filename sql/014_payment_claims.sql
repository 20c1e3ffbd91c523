-- 014_payment_claims: a payment claims its invoice while Stripe answers. The claim is taken
-- in a short transaction of its own (a conditional UPDATE) and released or settled in a
-- second one after Stripe's answer, so no transaction and no row lock stays open during the
-- call, and a second payment of the same invoice meanwhile is refused at once (409
-- payment_in_progress). A claim older than the module's stale limit belongs to a request
-- that died (a crashed child) and may be taken over.
ALTER TABLE invoices ADD COLUMN pay_claimed_at timestamptz;
