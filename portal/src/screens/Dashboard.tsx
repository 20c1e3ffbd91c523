import { useCallback, useEffect, useState } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { ApiError, api, toApiError } from '../api/client';
import type { Appointment, ClientDashboard, ClientUser, ProviderDashboard, ProviderUser } from '../api/types';
import { Loading } from '../components/forms';
import { usePageTitle } from '../components/Layout';
import { formatDateTime, formatMoney } from '../format';
import { useSession } from '../session';

export type Load<T> = { state: 'loading' } | { state: 'ready'; data: T } | { state: 'failed'; error: ApiError };

/** Loads once per mount (and again on retry); aborted when the page is left. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>): [Load<T>, () => void] {
  const [result, setResult] = useState<Load<T>>({ state: 'loading' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setResult({ state: 'loading' });
    load(ctl.signal).then(
      (data) => setResult({ state: 'ready', data }),
      (e: unknown) => {
        if (ctl.signal.aborted) return;
        setResult({ state: 'failed', error: toApiError(e) });
      },
    );
    return () => ctl.abort();
  }, [round]); // the loader is the screen's own: a retry, not a new loader, loads again
  return [result, useCallback(() => setRound((r) => r + 1), [])];
}

export function Failed({ error, retry }: { error: ApiError; retry: () => void }) {
  if (error.code === 'email_unverified') {
    // the API's sentence is written for programs; a person gets the way forward
    return (
      <div className="panel" role="alert">
        <p>Confirm your email address first: open the link we mailed you, or ask for a new one.</p>
        <p>
          <Link to="/check-email">Confirm your email address</Link>
        </p>
      </div>
    );
  }
  return (
    <div className="panel" role="alert">
      <p>{error.detail}</p>
      <button className="button button--secondary" type="button" onClick={retry}>
        Try again
      </button>
    </div>
  );
}

function Figure({ label, value }: { label: string; value: string | number }) {
  return (
    <div className="figure">
      <dt className="figure__label">{label}</dt>
      <dd className="figure__value">{value}</dd>
    </div>
  );
}

/** "Join video" shows from 15 minutes before a confirmed session until it ends. */
export function joinable(a: Appointment, now: number): boolean {
  return a.status === 'confirmed' && now >= Date.parse(a.startsAt) - 15 * 60_000 && now < Date.parse(a.endsAt);
}

function NextSession({ appointment }: { appointment: Appointment | null }) {
  const [joinError, setJoinError] = useState<string | null>(null);
  if (!appointment) {
    return (
      <section className="panel" aria-labelledby="next-title">
        <h2 id="next-title">Next session</h2>
        <p>You have no upcoming sessions.</p>
      </section>
    );
  }
  const join = async () => {
    setJoinError(null);
    try {
      const { videoLink } = await api.join(appointment.id);
      window.open(videoLink, '_blank', 'noopener');
    } catch (e) {
      setJoinError(e instanceof ApiError ? e.detail : String(e));
    }
  };
  return (
    <section className="panel" aria-labelledby="next-title">
      <h2 id="next-title">Next session</h2>
      <p className="next__when">{formatDateTime(appointment.startsAt, appointment.timeZone)}</p>
      <p>
        {appointment.type}, {appointment.duration} minutes
        {appointment.providerName ? ` with ${appointment.providerName}` : ''}
      </p>
      <p>
        Status: <strong>{appointment.status === 'pending' ? 'waiting for confirmation' : appointment.status}</strong>
      </p>
      {joinable(appointment, Date.now()) && (
        <button className="button" type="button" onClick={join}>
          Join video
        </button>
      )}
      {joinError && (
        <p className="error-text" role="alert">
          {joinError}
        </p>
      )}
    </section>
  );
}

function ClientHome({ user }: { user: ClientUser }) {
  const [result, retry] = useLoad(async (signal) => {
    const [dash, config] = await Promise.all([api.clientDashboard(signal), api.billingConfig(signal)]);
    return { dash, currency: config.currency } as { dash: ClientDashboard; currency: string };
  });
  return (
    <>
      <h1>Welcome, {user.name ?? user.email}</h1>
      {result.state === 'loading' && <Loading>Loading your dashboard…</Loading>}
      {result.state === 'failed' && <Failed error={result.error} retry={retry} />}
      {result.state === 'ready' && (
        <>
          <NextSession appointment={result.data.dash.nextAppointment} />
          <p>
            <Link to="/appointments/book">Book a session</Link> or <Link to="/appointments">see all your appointments</Link>
          </p>
          <section aria-labelledby="summary-title">
            <h2 id="summary-title">At a glance</h2>
            <dl className="figures">
              <Figure label="Upcoming sessions" value={result.data.dash.upcomingAppointments} />
              <Figure label="Completed sessions" value={result.data.dash.completedSessions} />
              <Figure label="Unread messages" value={result.data.dash.unreadMessages} />
              <Figure label="Balance due" value={formatMoney(result.data.dash.outstandingAmount, result.data.currency)} />
            </dl>
          </section>
        </>
      )}
    </>
  );
}

function ProviderHome({ user }: { user: ProviderUser }) {
  const [result, retry] = useLoad(async (signal) => {
    const [dash, config] = await Promise.all([api.providerDashboard(signal), api.billingConfig(signal)]);
    return { dash, currency: config.currency } as { dash: ProviderDashboard; currency: string };
  });
  return (
    <>
      <h1>Welcome, {user.name ?? user.email}</h1>
      {result.state === 'loading' && <Loading>Loading your practice…</Loading>}
      {result.state === 'failed' && <Failed error={result.error} retry={retry} />}
      {result.state === 'ready' && (
        <section aria-labelledby="summary-title">
          <h2 id="summary-title">Your practice today</h2>
          <dl className="figures">
            <Figure label="Sessions today" value={result.data.dash.todayAppointments} />
            <Figure label="Requests to confirm" value={result.data.dash.pendingAppointments} />
            <Figure label="Clients" value={result.data.dash.totalClients} />
            <Figure label="Unread messages" value={result.data.dash.unreadMessages} />
            <Figure label="Notes to write" value={result.data.dash.pendingNotes} />
            <Figure label="Outstanding" value={formatMoney(result.data.dash.outstandingAmount, result.data.currency)} />
          </dl>
        </section>
      )}
    </>
  );
}

export default function Dashboard() {
  usePageTitle('Dashboard');
  const { user } = useSession();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  if (!user) return null;
  return (
    <>
      {notice && (
        <div className="notice" role="status">
          {notice}
        </div>
      )}
      {user.userType === 'client' ? <ClientHome user={user} /> : <ProviderHome user={user} />}
    </>
  );
}
