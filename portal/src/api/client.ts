// The one way the portal talks to the API. Same origin, cookie session: the token lives in the
// HttpOnly cookie dp_session that scripts never see; the readable dp_csrf cookie is repeated in
// X-CSRF-Token on every unsafe request. Nothing is kept in localStorage or sessionStorage.
// Errors come back as ApiError (the API's {detail, code, field?}); a 401 on a signed-in call
// hands over to the unauthorized handler (the app sends the user to /login); a 503 (the
// database unreachable) is retried with back-off.
import type {
  Appointment,
  AppointmentPatch,
  AuthConfig,
  BillingConfig,
  ClientBookingInput,
  ClientDashboard,
  Message,
  ErrorBody,
  Invoice,
  MeUpdate,
  PaymentResult,
  ProviderDashboard,
  PublicProvider,
  RegisterRequest,
  SessionAnswer,
  Slots,
  User,
  UserAnswer,
  VideoLink,
} from './types';

/** The API's error codes, and the portal's own for an answer that never came
 * (network_error), one that is not the API's JSON (http_error) and a fault in the page
 * (client_error). */
export type ErrorCode = ErrorBody['code'] | 'network_error' | 'http_error' | 'client_error';

interface ErrorFields {
  detail: string;
  code: ErrorCode;
  field?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail: string;
  readonly field?: string;
  readonly retryAfter?: number;

  constructor(status: number, body: ErrorFields, retryAfter?: number) {
    super(body.detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.detail = body.detail;
    this.field = body.field;
    this.retryAfter = retryAfter;
  }
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

interface RequestOptions {
  body?: unknown;
  /** A 401 is the caller's to handle (sign-in forms, the session probe). */
  noAuthRedirect?: boolean;
  signal?: AbortSignal;
}

const SAFE: ReadonlySet<Method> = new Set<Method>(['GET']);
const RETRY_DELAYS_MS = [400, 1200, 3000];

let onUnauthorized: (() => void) | null = null;

/** Registers what happens when the session is gone (the app navigates to /login). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

function csrfToken(): string | null {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === 'dp_csrf') {
      return decodeURIComponent(part.slice(eq + 1).trim()) || null;
    }
  }
  return null;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    });
  });
}

/** Whatever a call threw, as an ApiError for the screen to show. */
export function toApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, { detail: String(e), code: 'client_error' });
}

const UNREACHABLE: ErrorFields = {
  detail: 'The portal cannot reach the server. Check your connection and try again.',
  code: 'network_error',
};

async function errorOf(res: Response): Promise<ApiError> {
  let body: ErrorFields | null = null;
  try {
    const parsed: unknown = await res.json();
    if (parsed && typeof parsed === 'object' && typeof (parsed as ErrorBody).detail === 'string') {
      body = parsed as ErrorBody;
    }
  } catch {
    body = null;
  }
  const retry = Number(res.headers.get('Retry-After'));
  return new ApiError(
    res.status,
    body ?? { detail: `The server answered ${res.status}. Please try again.`, code: 'http_error' },
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

async function request<T>(method: Method, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (!SAFE.has(method)) {
    const csrf = csrfToken();
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(`/api${path}`, {
        method,
        headers,
        body,
        credentials: 'same-origin',
        cache: 'no-store',
        signal: opts.signal,
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      // a request that never got an answer is repeated only when it changes nothing
      if (SAFE.has(method) && attempt < RETRY_DELAYS_MS.length) {
        await sleep(RETRY_DELAYS_MS[attempt], opts.signal);
        continue;
      }
      throw new ApiError(0, UNREACHABLE);
    }
    if (res.ok) {
      if (res.status === 204 || res.status === 202) return undefined as T;
      return (await res.json()) as T;
    }
    const err = await errorOf(res);
    // 503: the database was unreachable and nothing was done; wait and ask again
    if (res.status === 503 && attempt < RETRY_DELAYS_MS.length) {
      await sleep(RETRY_DELAYS_MS[attempt], opts.signal);
      continue;
    }
    if (res.status === 401 && err.code === 'unauthorized' && !opts.noAuthRedirect) {
      onUnauthorized?.();
    }
    throw err;
  }
}

const cookieSession = { session: 'cookie' } as const;

/** Every call the portal makes, one function each. */
export const api = {
  /** The signed-in user, or null without a session. */
  async me(): Promise<User | null> {
    try {
      return (await request<UserAnswer>('GET', '/auth/me', { noAuthRedirect: true })).user;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return null;
      throw e;
    }
  },
  /** Saves the caller's own profile fields and mail preferences; the user as saved. */
  async updateMe(fields: MeUpdate): Promise<User> {
    return (await request<UserAnswer>('PATCH', '/auth/me', { body: fields })).user;
  },
  /** A new password: every other session ends, this one continues under new cookies. */
  async changePassword(currentPassword: string, newPassword: string): Promise<User> {
    const body = { currentPassword, newPassword, ...cookieSession };
    return (await request<UserAnswer>('POST', '/auth/change-password', { body })).user;
  },
  login(email: string, password: string): Promise<SessionAnswer> {
    return request('POST', '/auth/login', {
      body: { email, password, ...cookieSession },
      noAuthRedirect: true,
    });
  },
  /** What the sign-in pages need before anyone is signed in: Google sign-in's client id (null:
   * off) and where Google Identity Services is loaded from. */
  authConfig(signal?: AbortSignal): Promise<AuthConfig> {
    return request('GET', '/auth/config', { noAuthRedirect: true, signal });
  },
  /** Signs in with a Google ID token (from Google Identity Services): a known account, a
   * linked email or an invited client's record. */
  googleSignIn(googleToken: string): Promise<SessionAnswer> {
    return request('POST', '/auth/google', {
      body: { googleToken, ...cookieSession },
      noAuthRedirect: true,
    });
  },
  register(fields: RegisterRequest): Promise<SessionAnswer> {
    return request('POST', '/auth/register', {
      body: { ...fields, ...cookieSession },
      noAuthRedirect: true,
    });
  },
  logout(): Promise<void> {
    return request('POST', '/auth/logout', { noAuthRedirect: true });
  },
  verifyEmail(token: string): Promise<UserAnswer> {
    return request('POST', '/auth/verify-email', { body: { token }, noAuthRedirect: true });
  },
  resendVerification(): Promise<void> {
    return request('POST', '/auth/verify-email/resend');
  },
  requestPasswordReset(email: string): Promise<void> {
    return request('POST', '/auth/password-reset', { body: { email }, noAuthRedirect: true });
  },
  confirmPasswordReset(token: string, password: string): Promise<SessionAnswer> {
    return request('POST', '/auth/password-reset/confirm', {
      body: { token, password, ...cookieSession },
      noAuthRedirect: true,
    });
  },
  clientDashboard(signal?: AbortSignal): Promise<ClientDashboard> {
    return request('GET', '/client/dashboard', { signal });
  },
  providerDashboard(signal?: AbortSignal): Promise<ProviderDashboard> {
    return request('GET', '/provider/dashboard', { signal });
  },
  /** The client's provider (its public profile). */
  clientProvider(signal?: AbortSignal): Promise<PublicProvider> {
    return request('GET', '/client/provider', { signal });
  },
  /** One page of the conversation with `withId`, oldest first: the newest page, or the page
   * just before the message `before`. */
  conversation(withId: string, page: { before?: string; limit: number }, signal?: AbortSignal): Promise<Message[]> {
    const q = new URLSearchParams({ conversationWith: withId, limit: String(page.limit) });
    if (page.before) q.set('before', page.before);
    return request('GET', `/messages?${q.toString()}`, { signal });
  },
  sendMessage(receiverId: string, message: string): Promise<Message> {
    return request('POST', '/messages', { body: { receiverId, message } });
  },
  markMessageRead(id: string): Promise<Message> {
    return request('PATCH', `/messages/${encodeURIComponent(id)}/read`);
  },
  join(appointmentId: string): Promise<VideoLink> {
    return request('POST', `/appointments/${encodeURIComponent(appointmentId)}/join`);
  },
  /** The client's appointments by start: all of them, or only the upcoming (pending or
   * confirmed, not started) or the completed ones. */
  clientAppointments(status?: 'upcoming' | 'completed', signal?: AbortSignal): Promise<Appointment[]> {
    return request('GET', `/client/appointments${status ? `?status=${status}` : ''}`, { signal });
  },
  appointment(id: string, signal?: AbortSignal): Promise<Appointment> {
    return request('GET', `/appointments/${encodeURIComponent(id)}`, { signal });
  },
  /** The open slots of the client's provider on a day (YYYY-MM-DD, the provider's zone). */
  clientSlots(date: string, signal?: AbortSignal): Promise<Slots> {
    return request('GET', `/client/provider/available-slots/${encodeURIComponent(date)}`, { signal });
  },
  bookAppointment(fields: ClientBookingInput): Promise<Appointment> {
    return request('POST', '/client/appointments', { body: fields });
  },
  changeAppointment(id: string, fields: AppointmentPatch): Promise<Appointment> {
    return request('PATCH', `/appointments/${encodeURIComponent(id)}`, { body: fields });
  },
  /** Cancels; the appointment stays, as cancelled. */
  cancelAppointment(id: string): Promise<Appointment> {
    return request('DELETE', `/appointments/${encodeURIComponent(id)}`);
  },
  billingConfig(signal?: AbortSignal): Promise<BillingConfig> {
    return request('GET', '/billing/config', { signal });
  },
  /** A client's own invoices, or a provider's clients' ones. */
  invoices(signal?: AbortSignal): Promise<Invoice[]> {
    return request('GET', '/billing/invoices', { signal });
  },
  /** Pays an invoice with a Stripe PaymentMethod id (from Stripe.js). */
  pay(invoiceId: string, cardToken: string): Promise<PaymentResult> {
    return request('POST', '/billing/pay', { body: { invoiceId, paymentMethod: { cardToken } } });
  },
};
