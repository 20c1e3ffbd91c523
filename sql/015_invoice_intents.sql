-- 015_invoice_intents: the PaymentIntent a client's Stripe.js flow made for an invoice
-- (GET|POST /api/billing/payment-intent). While it is live it is handed out again instead of
-- a new one being created; only its id is kept (its client secret is read back from Stripe).
ALTER TABLE invoices ADD COLUMN intent_id text;
