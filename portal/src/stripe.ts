// Stripe.js, loaded when a card form first needs it from the URL the API names
// (GET /api/billing/config: stripeJsUrl), by a script element added at run time: the page has
// no inline script, and its Content-Security-Policy lets in that one origin. Only the part of
// Stripe.js's interface the portal uses is typed here.

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

const loads = new Map<string, Promise<StripeFactory>>();

/** Stripe.js from url, once per page; a failed load may be tried again. */
export function loadStripe(url: string): Promise<StripeFactory> {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  let load = loads.get(url);
  if (!load) {
    load = new Promise<StripeFactory>((resolve, reject) => {
      const script = document.createElement('script');
      script.src = url;
      script.async = true;
      script.onload = () => {
        if (window.Stripe) resolve(window.Stripe);
        else reject(new Error('Stripe.js did not start.'));
      };
      script.onerror = () => {
        script.remove();
        loads.delete(url);
        reject(new Error('The card form could not be loaded. Check your connection and try again.'));
      };
      document.head.appendChild(script);
    });
    loads.set(url, load);
  }
  return load;
}
