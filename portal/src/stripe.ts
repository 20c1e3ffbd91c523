// Stripe.js, loaded when a card form first needs it from the URL the API names
// (GET /api/billing/config: stripeJsUrl), by a script element added at run time (script.ts).
// Only the part of Stripe.js's interface the portal uses is typed here.
import { loadScript } from './script';

export interface StripeError {
  type: string;
  code?: string;
  message?: string;
}

export interface CardChange {
  complete: boolean;
  empty: boolean;
  error?: StripeError;
}

export interface CardElement {
  mount(target: HTMLElement | string): void;
  on(event: 'change', handler: (e: CardChange) => void): CardElement;
  focus(): void;
  destroy(): void;
}

export interface StripeClient {
  elements(): { create(type: 'card'): CardElement };
  createPaymentMethod(opts: {
    type: 'card';
    card: CardElement;
  }): Promise<{ paymentMethod?: { id: string }; error?: StripeError }>;
  handleNextAction(opts: {
    clientSecret: string;
  }): Promise<{ paymentIntent?: { id: string; status: string }; error?: StripeError }>;
}

type StripeFactory = (publishableKey: string) => StripeClient;

declare global {
  interface Window {
    Stripe?: StripeFactory;
  }
}

/** Stripe.js from url, once per page; a failed load may be tried again. */
export function loadStripe(url: string): Promise<StripeFactory> {
  return loadScript(
    url,
    () => window.Stripe,
    'The card form could not be loaded. Check your connection and try again.',
    'Stripe.js',
  );
}
