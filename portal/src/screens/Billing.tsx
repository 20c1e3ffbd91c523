// Billing: the invoices with their status, amount and due date; a client pays a pending or
// overdue one by card. The card form is Stripe.js Elements (loaded from the URL the API names):
// Stripe(publishableKey), elements().create('card'), createPaymentMethod, then POST
// /api/billing/pay with that payment method's id. A card that needs 3-D Secure goes through
// stripe.handleNextAction; Stripe's webhook then settles the invoice, so the screen asks again
// until it reads paid. A decline is shown with Stripe's words and the invoice stays payable.
import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { ApiError, api, toApiError } from '../api/client';
import type { BillingConfig, Invoice } from '../api/types';
import { Loading } from '../components/forms';
import { usePageTitle } from '../components/Layout';
import { formatMoney } from '../format';
import { useSession } from '../session';
import { loadStripe } from '../stripe';
import type { CardElement, StripeClient } from '../stripe';
import './Billing.css';

/** How often, and how many times, a payment waiting for Stripe's confirmation is looked up. */
const CONFIRM_POLL_MS = 1000;
const CONFIRM_POLLS = 15;

type Screen =
  | { state: 'loading' }
  | { state: 'ready'; invoices: Invoice[]; config: BillingConfig }
  | { state: 'failed'; error: ApiError };

const STATUS_TEXT: Record<Invoice['status'], string> = {
  pending: 'Pending',
  overdue: 'Overdue',
  paid: 'Paid',
};

/** A calendar date (YYYY-MM-DD) in the browser's locale; it names a day, not an instant. */
function formatDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'long', timeZone: 'UTC' }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

const payable = (inv: Invoice) => inv.status === 'pending' || inv.status === 'overdue';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The invoices once the given one reads paid, or null when Stripe has not confirmed it yet. */
async function untilPaid(invoiceId: string): Promise<Invoice[] | null> {
  for (let i = 0; i < CONFIRM_POLLS; i++) {
    await sleep(CONFIRM_POLL_MS);
    const invoices = await api.invoices();
    if (invoices.find((inv) => inv.id === invoiceId)?.status === 'paid') return invoices;
  }
  return null;
}

interface CardFormProps {
  invoice: Invoice;
  config: BillingConfig;
  onPaid: (invoices: Invoice[]) => void;
  onCancel: () => void;
}

type Phase = 'loading' | 'ready' | 'paying' | 'authenticating' | 'confirming' | 'unavailable';

function CardForm({ invoice, config, onPaid, onCancel }: CardFormProps) {
  const mountRef = useRef<HTMLDivElement>(null);
  const stripeRef = useRef<StripeClient | null>(null);
  const cardRef = useRef<CardElement | null>(null);
  const alive = useRef(true);
  const [phase, setPhase] = useState<Phase>('loading');
  const [cardError, setCardError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const amount = formatMoney(invoice.amount, invoice.currency);
  const titleId = `pay-title-${invoice.id}`;

  useEffect(() => {
    let active = true; // this mount's, so that a remount never gets a second card element
    alive.current = true;
    loadStripe(config.stripeJsUrl).then(
      (Stripe) => {
        if (!active || !mountRef.current || !config.publishableKey) return;
        const stripe = Stripe(config.publishableKey);
        const card = stripe.elements().create('card');
        card.mount(mountRef.current);
        card.on('change', (e) => setCardError(e.error?.message ?? null));
        stripeRef.current = stripe;
        cardRef.current = card;
        setPhase('ready');
        card.focus();
      },
      (e: unknown) => {
        if (!active) return;
        setError(e instanceof Error ? e.message : String(e));
        setPhase('unavailable');
      },
    );
    return () => {
      active = false;
      alive.current = false;
      cardRef.current?.destroy();
      cardRef.current = null;
    };
  }, [config.stripeJsUrl, config.publishableKey]);

  // Stripe's confirmation comes through its webhook: ask until the invoice reads paid.
  const confirm = async () => {
    setPhase('confirming');
    const invoices = await untilPaid(invoice.id);
    if (!alive.current) return;
    if (invoices) {
      onPaid(invoices);
      return;
    }
    setNote('Your payment is being confirmed by your bank. This page shows the invoice as paid once it is; look again in a few minutes.');
    setPhase('ready');
  };

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const stripe = stripeRef.current;
    const card = cardRef.current;
    if (!stripe || !card || phase !== 'ready') return;
    setError(null);
    setCardError(null);
    setNote(null);
    setPhase('paying');
    try {
      const { paymentMethod, error: cardProblem } = await stripe.createPaymentMethod({ type: 'card', card });
      if (!paymentMethod) {
        setCardError(cardProblem?.message ?? 'Check the card details.');
        setPhase('ready');
        return;
      }
      const result = await api.pay(invoice.id, paymentMethod.id);
      if (result.success) {
        onPaid(await api.invoices());
        return;
      }
      if (result.requiresAction && result.clientSecret) {
        setPhase('authenticating');
        const { error: authProblem } = await stripe.handleNextAction({ clientSecret: result.clientSecret });
        if (authProblem) {
          setError(authProblem.message ?? 'Your bank did not confirm the payment.');
          setPhase('ready');
          return;
        }
      }
      await confirm();
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.code === 'already_paid') {
        onPaid(await api.invoices().catch(() => []));
        return;
      }
      if (alive.current) {
        setError(apiError.detail);
        setPhase('ready');
      }
    }
  };

  const busy = phase === 'paying' || phase === 'authenticating' || phase === 'confirming';
  return (
    <form className="pay-form" onSubmit={onSubmit} aria-labelledby={titleId} noValidate>
      <h3 id={titleId}>Pay {amount} by card</h3>
      {error && (
        <div className="error-summary" role="alert">
          <p>{error}</p>
        </div>
      )}
      {phase === 'loading' && <Loading>Loading the card form…</Loading>}
      <fieldset className={cardError ? 'field field--error' : 'field'} hidden={phase === 'unavailable'}>
        <legend className="label">Card details</legend>
        {cardError && (
          <p className="field-error" role="alert">
            <span className="visually-hidden">Error: </span>
            {cardError}
          </p>
        )}
        <div ref={mountRef} />
      </fieldset>
      {phase === 'paying' && <Loading>Paying…</Loading>}
      {phase === 'authenticating' && <Loading>Waiting for your bank to confirm the payment…</Loading>}
      {phase === 'confirming' && <Loading>Confirming your payment…</Loading>}
      {note && (
        <p className="notice" role="status">
          {note}
        </p>
      )}
      <div className="pay-form__actions">
        {phase !== 'unavailable' && (
          <button className="button" type="submit" disabled={phase !== 'ready'} aria-busy={busy || undefined}>
            Pay {amount}
          </button>
        )}
        <button className="button button--secondary" type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

interface InvoiceItemProps {
  invoice: Invoice;
  config: BillingConfig;
  showClient: boolean;
  canPay: boolean;
  open: boolean;
  onOpen: () => void;
  onClose: () => void;
  onPaid: (invoices: Invoice[]) => void;
}

function InvoiceItem({ invoice, config, showClient, canPay, open, onOpen, onClose, onPaid }: InvoiceItemProps) {
  const headingId = `invoice-${invoice.id}`;
  const payButton = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(open);
  // back on "Pay" when the card form closes without paying
  useEffect(() => {
    if (wasOpen.current && !open) payButton.current?.focus();
    wasOpen.current = open;
  }, [open]);
  return (
    <li className="panel invoice">
      <h2 id={headingId}>{invoice.description}</h2>
      <dl className="invoice__facts">
        {showClient && (
          <div>
            <dt>Client</dt>
            <dd>{invoice.clientName}</dd>
          </div>
        )}
        <div>
          <dt>Amount</dt>
          <dd>{formatMoney(invoice.amount, invoice.currency)}</dd>
        </div>
        <div>
          <dt>Due</dt>
          <dd>{formatDay(invoice.dueDate)}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <strong className={`invoice__status invoice__status--${invoice.status}`}>{STATUS_TEXT[invoice.status]}</strong>
          </dd>
        </div>
      </dl>
      {canPay && payable(invoice) && !open && (
        <button className="button" type="button" onClick={onOpen} aria-describedby={headingId} ref={payButton}>
          Pay
        </button>
      )}
      {canPay && open && <CardForm invoice={invoice} config={config} onPaid={onPaid} onCancel={onClose} />}
    </li>
  );
}

export default function Billing() {
  usePageTitle('Billing');
  const { user } = useSession();
  const [screen, setScreen] = useState<Screen>({ state: 'loading' });
  const [round, setRound] = useState(0);
  const [openId, setOpenId] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const noticeRef = useRef<HTMLDivElement>(null);

  // the card form is gone once paid: the focus goes to the news
  useEffect(() => {
    if (notice) noticeRef.current?.focus();
  }, [notice]);

  useEffect(() => {
    const ctl = new AbortController();
    setScreen({ state: 'loading' });
    Promise.all([api.invoices(ctl.signal), api.billingConfig(ctl.signal)]).then(
      ([invoices, config]) => setScreen({ state: 'ready', invoices, config }),
      (e: unknown) => {
        if (!ctl.signal.aborted) setScreen({ state: 'failed', error: toApiError(e) });
      },
    );
    return () => ctl.abort();
  }, [round]);

  if (!user) return null;
  const isClient = user.userType === 'client';

  const paid = (config: BillingConfig, invoice: Invoice) => (invoices: Invoice[]) => {
    setOpenId(null);
    setNotice(`Thank you: ${invoice.description} (${formatMoney(invoice.amount, invoice.currency)}) is paid.`);
    if (invoices.length) setScreen({ state: 'ready', invoices, config });
    else setRound((r) => r + 1);
  };

  return (
    <>
      <h1>Billing</h1>
      {notice && (
        <div className="notice" role="status" tabIndex={-1} ref={noticeRef}>
          {notice}
        </div>
      )}
      {screen.state === 'loading' && <Loading>Loading your invoices…</Loading>}
      {screen.state === 'failed' && (
        <div className="panel" role="alert">
          <p>{screen.error.detail}</p>
          <button className="button button--secondary" type="button" onClick={() => setRound((r) => r + 1)}>
            Try again
          </button>
        </div>
      )}
      {screen.state === 'ready' && (
        <>
          {isClient && !screen.config.publishableKey && (
            <p className="notice">
              Card payment is not set up for this practice yet, so invoices cannot be paid here. Ask your therapist how
              to pay.
            </p>
          )}
          {screen.invoices.length === 0 ? (
            <p>{isClient ? 'You have no invoices.' : 'Your practice has no invoices yet.'}</p>
          ) : (
            <ul className="invoices" aria-label="Invoices">
              {screen.invoices.map((inv) => (
                <InvoiceItem
                  key={inv.id}
                  invoice={inv}
                  config={screen.config}
                  showClient={!isClient}
                  canPay={isClient && !!screen.config.publishableKey}
                  open={openId === inv.id}
                  onOpen={() => {
                    setNotice(null);
                    setOpenId(inv.id);
                  }}
                  onClose={() => setOpenId(null)}
                  onPaid={paid(screen.config, inv)}
                />
              ))}
            </ul>
          )}
        </>
      )}
    </>
  );
}
