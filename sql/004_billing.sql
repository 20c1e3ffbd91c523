-- 004_billing: invoices (integer cents, never floats) and the Stripe events already settled.

CREATE TABLE invoices (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id    uuid NOT NULL REFERENCES users (id),
    client_id      uuid NOT NULL REFERENCES users (id),
    appointment_id uuid REFERENCES appointments (id),
    amount_cents   bigint NOT NULL CHECK (amount_cents > 0 AND amount_cents <= 100000000),
    currency       text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    description    text NOT NULL CHECK (length(description) <= 1000),
    issued_on      date NOT NULL,                  -- "date", in the provider's time zone
    due_date       date NOT NULL CHECK (due_date >= issued_on),
    -- overdue is not stored: it is pending past due_date, computed when read
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
    payment_method text,
    transaction_id text,                           -- the Stripe PaymentIntent id
    paid_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX invoices_provider_idx ON invoices (provider_id, issued_on);
CREATE INDEX invoices_client_idx ON invoices (client_id, issued_on);
CREATE UNIQUE INDEX invoices_transaction_idx ON invoices (transaction_id)
    WHERE transaction_id IS NOT NULL;

-- The API's view: status with overdue computed in the provider's time zone.
CREATE VIEW invoices_api AS
SELECT i.id, i.client_id, i.provider_id, i.appointment_id, c.name AS client_name,
       i.amount_cents, i.currency, i.description,
       i.issued_on::text AS date, i.due_date::text AS due_date,
       CASE WHEN i.status = 'paid' THEN 'paid'
            WHEN i.due_date < (now() AT TIME ZONE p.time_zone)::date THEN 'overdue'
            ELSE 'pending' END AS status,
       i.payment_method, i.transaction_id, dp_ts(i.paid_at) AS paid_at,
       dp_ts(i.created_at) AS created_at, dp_ts(i.updated_at) AS updated_at,
       i.created_at AS created_ts
  FROM invoices i
  JOIN users p ON p.id = i.provider_id
  JOIN users c ON c.id = i.client_id;

-- Webhook events settle once: a replayed event id finds its row and changes nothing.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON invoices TO :"app_role";
GRANT SELECT ON invoices_api TO :"app_role";
GRANT SELECT, INSERT ON stripe_events TO :"app_role";
