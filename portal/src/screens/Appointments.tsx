// The client's sessions: the list (upcoming, then past and cancelled), one session's page (the
// page that mailed links open), booking from the provider's open slots, rescheduling through
// the slots again and cancelling. The rules are the API's (docs/api.md, "Appointments"): when it
// refuses, its sentence is shown, next to the control it names.
import { useEffect, useRef, useState } from 'react';
import { Link, Route, Routes, useLocation, useNavigate, useParams } from 'react-router-dom';
import { ApiError, api, toApiError } from '../api/client';
import type { Appointment, AppointmentStatus } from '../api/types';
import { ErrorSummary, Loading, SubmitButton, fieldError, useSubmit } from '../components/forms';
import { usePageTitle } from '../components/Layout';
import { SlotPicker, useSlots } from '../components/SlotPicker';
import { formatDateTime } from '../format';
import { useSession } from '../session';
import { Failed, joinable, useLoad } from './Dashboard';
import NotFound from './NotFound';
import './appointments.css';

const STATUS: Record<AppointmentStatus, string> = {
  pending: 'Pending: waiting for your provider to confirm',
  confirmed: 'Confirmed',
  completed: 'Completed',
  cancelled: 'Cancelled',
};

/** Sessions the client may still move or cancel: pending or confirmed, not yet started. */
function changeable(a: Appointment, now: number): boolean {
  return (a.status === 'pending' || a.status === 'confirmed') && Date.parse(a.startsAt) > now;
}

function Notice() {
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  if (!notice) return null;
  return (
    <div className="notice" role="status">
      {notice}
    </div>
  );
}

function AppointmentItem({ a }: { a: Appointment }) {
  return (
    <li className="appt">
      <Link className="appt__when" to={`/appointments/${a.id}`}>
        {formatDateTime(a.startsAt, a.timeZone)}
      </Link>
      <span>
        {a.type}, {a.duration} minutes{a.providerName ? ` with ${a.providerName}` : ''}
      </span>
      <span>
        Status: <strong>{STATUS[a.status]}</strong>
      </span>
    </li>
  );
}

function AppointmentList() {
  usePageTitle('Appointments');
  const [result, retry] = useLoad(async (signal) => {
    const [upcoming, all] = await Promise.all([
      api.clientAppointments('upcoming', signal),
      api.clientAppointments(undefined, signal),
    ]);
    const ahead = new Set(upcoming.map((a) => a.id));
    const past = all.filter((a) => !ahead.has(a.id)).reverse();
    return { upcoming, past };
  });
  return (
    <>
      <Notice />
      <h1>Appointments</h1>
      <p>
        <Link className="button" to="/appointments/book">
          Book a session
        </Link>
      </p>
      {result.state === 'loading' && <Loading>Loading your appointments…</Loading>}
      {result.state === 'failed' && <Failed error={result.error} retry={retry} />}
      {result.state === 'ready' && (
        <>
          <section aria-labelledby="upcoming-title">
            <h2 id="upcoming-title">Upcoming</h2>
            {result.data.upcoming.length === 0 ? (
              <p>You have no upcoming sessions.</p>
            ) : (
              <ul className="appts">
                {result.data.upcoming.map((a) => (
                  <AppointmentItem key={a.id} a={a} />
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="past-title">
            <h2 id="past-title">Past and cancelled</h2>
            {result.data.past.length === 0 ? (
              <p>No past sessions yet.</p>
            ) : (
              <ul className="appts">
                {result.data.past.map((a) => (
                  <AppointmentItem key={a.id} a={a} />
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </>
  );
}

const SESSION_TYPES = ['Video Session', 'Initial consultation', 'Follow-up session'] as const;
const BOOK_FIELDS = ['date', 'time', 'type', 'notes'] as const;

/** What the form lacks before it can be sent: a day, then one of its open times. */
function choose(dayChosen: boolean): ApiError {
  return dayChosen
    ? new ApiError(0, { detail: 'Choose one of the open times.', code: 'client_error', field: 'time' })
    : new ApiError(0, { detail: 'Choose a day with open times.', code: 'client_error', field: 'date' });
}

/** The slots again after a refusal that means they changed (taken, or no longer open). */
function staleSlots(e: unknown): boolean {
  return e instanceof ApiError && (e.code === 'slot_taken' || e.code === 'outside_availability');
}

function Book() {
  usePageTitle('Book a session');
  const navigate = useNavigate();
  const [date, setDate] = useState('');
  const [time, setTime] = useState<string | null>(null);
  const [type, setType] = useState<string>(SESSION_TYPES[0]);
  const [notes, setNotes] = useState('');
  const [round, setRound] = useState(0);
  const [slots, retry] = useSlots(date, round);
  const { busy, error, onSubmit } = useSubmit(async () => {
    if (!time || slots.state !== 'ready') throw choose(slots.state === 'ready' && slots.data.slots.length > 0);
    try {
      const booked = await api.bookAppointment({
        date,
        time,
        type,
        duration: slots.data.slotDuration,
        ...(notes.trim() ? { notes: notes.trim() } : {}),
      });
      navigate(`/appointments/${booked.id}`, {
        state: { notice: 'Your session is booked. Your provider will confirm it; we will email you when they do.' },
      });
    } catch (e) {
      if (staleSlots(e)) {
        setTime(null);
        setRound((r) => r + 1);
      }
      throw e;
    }
  });
  const onDate = (d: string) => {
    setDate(d);
    setTime(null);
  };
  return (
    <>
      <h1>Book a session</h1>
      <ErrorSummary error={error} fields={BOOK_FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <SlotPicker
          date={date}
          onDate={onDate}
          slots={slots}
          retry={retry}
          selected={time}
          onSelect={setTime}
          dateError={fieldError(error, 'date')}
          timeError={fieldError(error, 'time')}
        />
        <fieldset className="field">
          <legend className="label">Session type</legend>
          <p className="hint">Every session takes place by video.</p>
          {SESSION_TYPES.map((t) => (
            <div className="choice" key={t}>
              <input
                className="choice__input"
                type="radio"
                id={`type-${t}`}
                name="type"
                value={t}
                checked={type === t}
                onChange={() => setType(t)}
              />
              <label className="choice__label" htmlFor={`type-${t}`}>
                {t}
              </label>
            </div>
          ))}
        </fieldset>
        <div className="field">
          <label className="label" htmlFor="notes">
            Notes for your provider (optional)
          </label>
          <textarea
            className="input textarea"
            id="notes"
            name="notes"
            rows={3}
            maxLength={2000}
            value={notes}
            onChange={(e) => setNotes(e.target.value)}
          />
        </div>
        <SubmitButton busy={busy}>Book appointment</SubmitButton>
      </form>
      <p>
        <Link to="/appointments">Back to your appointments</Link>
      </p>
    </>
  );
}

function useAppointment(id: string) {
  return useLoad((signal) => api.appointment(id, signal));
}

function NoSuchAppointment() {
  return (
    <>
      <h1>Appointment not found</h1>
      <p>This appointment does not exist, or it is not one of yours.</p>
      <p>
        <Link to="/appointments">See your appointments</Link>
      </p>
    </>
  );
}

/** A page of one appointment, loaded afresh for each id. */
function ForId({ view: View }: { view: (p: { id: string }) => JSX.Element }) {
  const { id = '' } = useParams();
  return <View key={id} id={id} />;
}

function Reschedule({ id }: { id: string }) {
  usePageTitle('Reschedule');
  const [result, retryLoad] = useAppointment(id);
  if (result.state === 'loading') return <Loading>Loading the appointment…</Loading>;
  if (result.state === 'failed') {
    return result.error.status === 404 ? <NoSuchAppointment /> : <Failed error={result.error} retry={retryLoad} />;
  }
  return <RescheduleForm appointment={result.data} />;
}

function RescheduleForm({ appointment: a }: { appointment: Appointment }) {
  const navigate = useNavigate();
  const [date, setDate] = useState(a.date);
  const [time, setTime] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  const [slots, retry] = useSlots(date, round);
  const { busy, error, onSubmit } = useSubmit(async () => {
    if (!time) throw choose(slots.state === 'ready' && slots.data.slots.length > 0);
    try {
      await api.changeAppointment(a.id, { date, time });
      navigate(`/appointments/${a.id}`, {
        state: {
          notice:
            a.status === 'confirmed'
              ? 'Your session has been moved. It now waits for your provider to confirm the new time.'
              : 'Your session has been moved.',
        },
      });
    } catch (e) {
      if (staleSlots(e)) {
        setTime(null);
        setRound((r) => r + 1);
      }
      throw e;
    }
  });
  if (!changeable(a, Date.now())) {
    return (
      <>
        <h1>Reschedule</h1>
        <p>This session can no longer be moved: only a pending or confirmed session that has not started can be.</p>
        <p>
          <Link to={`/appointments/${a.id}`}>Back to the appointment</Link>
        </p>
      </>
    );
  }
  return (
    <>
      <h1>Reschedule</h1>
      <p>
        Now: <strong>{formatDateTime(a.startsAt, a.timeZone)}</strong>.
        {a.status === 'confirmed' && ' A new time needs your provider to confirm it again.'}
      </p>
      <ErrorSummary error={error} fields={BOOK_FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <SlotPicker
          date={date}
          onDate={(d) => {
            setDate(d);
            setTime(null);
          }}
          slots={slots}
          retry={retry}
          selected={time}
          onSelect={setTime}
          dateError={fieldError(error, 'date')}
          timeError={fieldError(error, 'time')}
        />
        <SubmitButton busy={busy}>Move appointment</SubmitButton>
      </form>
      <p>
        <Link to={`/appointments/${a.id}`}>Keep the current time</Link>
      </p>
    </>
  );
}

function AppointmentPage({ id }: { id: string }) {
  usePageTitle('Appointment');
  const [result, retry] = useAppointment(id);
  const [current, setCurrent] = useState<Appointment | null>(null);
  useEffect(() => setCurrent(result.state === 'ready' ? result.data : null), [result]);
  if (result.state === 'loading') return <Loading>Loading the appointment…</Loading>;
  if (result.state === 'failed') {
    return result.error.status === 404 ? <NoSuchAppointment /> : <Failed error={result.error} retry={retry} />;
  }
  return <AppointmentDetails appointment={current ?? result.data} onChange={setCurrent} />;
}

function AppointmentDetails({ appointment: a, onChange }: { appointment: Appointment; onChange: (a: Appointment) => void }) {
  const { user } = useSession();
  const navigate = useNavigate();
  const isClient = user?.userType === 'client';
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const confirmRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (asking) confirmRef.current?.focus();
  }, [asking]);
  const now = Date.now();
  const counterpart = isClient ? a.providerName : a.clientName;

  const join = async () => {
    setProblem(null);
    try {
      const { videoLink } = await api.join(a.id);
      window.open(videoLink, '_blank', 'noopener');
    } catch (e) {
      setProblem(toApiError(e).detail);
    }
  };
  const cancel = async () => {
    setBusy(true);
    setProblem(null);
    try {
      onChange(await api.cancelAppointment(a.id));
      setAsking(false);
      navigate('.', { replace: true, state: { notice: 'Your session has been cancelled.' } });
    } catch (e) {
      setProblem(toApiError(e).detail);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <Notice />
      <h1>Appointment</h1>
      <dl className="details">
        <div>
          <dt>When</dt>
          <dd>{formatDateTime(a.startsAt, a.timeZone)}</dd>
        </div>
        <div>
          <dt>{isClient ? 'Provider' : 'Client'}</dt>
          <dd>{counterpart}</dd>
        </div>
        <div>
          <dt>Session type</dt>
          <dd>
            {a.type}, {a.duration} minutes
          </dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <strong>{STATUS[a.status]}</strong>
          </dd>
        </div>
        {a.status !== 'cancelled' && (
          <div>
            <dt>Video link</dt>
            <dd className="details__link">
              <a href={a.videoLink} target="_blank" rel="noopener noreferrer">
                {a.videoLink}
              </a>
            </dd>
          </div>
        )}
        {a.notes && (
          <div>
            <dt>Notes</dt>
            <dd>{a.notes}</dd>
          </div>
        )}
      </dl>
      {joinable(a, now) && (
        <button className="button" type="button" onClick={join}>
          Join video
        </button>
      )}
      {problem && (
        <p className="error-text" role="alert">
          {problem}
        </p>
      )}
      {changeable(a, now) && !asking && (
        <>
          <p className="hint">
            You can move or cancel a session until it starts. A moved session waits for {isClient ? 'your provider' : 'you'} to confirm
            the new time.
          </p>
          <div className="actions">
            {isClient && (
              <Link className="button button--secondary" to={`/appointments/${a.id}/reschedule`}>
                Reschedule
              </Link>
            )}
            <button className="button button--warning" type="button" onClick={() => setAsking(true)}>
              Cancel appointment
            </button>
          </div>
        </>
      )}
      {asking && (
        <section className="panel panel--warning" aria-labelledby="cancel-title">
          <h2 id="cancel-title" tabIndex={-1} ref={confirmRef}>
            Cancel this session?
          </h2>
          <p>
            The session on {formatDateTime(a.startsAt, a.timeZone)} will be cancelled and {counterpart ?? 'the other party'} will be
            told. This cannot be undone; you can book a new session afterwards.
          </p>
          <div className="actions">
            <button className="button button--warning" type="button" disabled={busy} onClick={cancel}>
              Yes, cancel the session
            </button>
            <button className="button button--secondary" type="button" onClick={() => setAsking(false)}>
              No, keep it
            </button>
          </div>
        </section>
      )}
      <p>
        <Link to="/appointments">All appointments</Link>
      </p>
    </>
  );
}

function ProviderList() {
  usePageTitle('Appointments');
  return (
    <>
      <h1>Appointments</h1>
      <p>Your calendar is not available here yet; a session's own page opens from its link.</p>
    </>
  );
}

/** /appointments and below. */
export default function Appointments() {
  const { user } = useSession();
  const isClient = user?.userType === 'client';
  return (
    <Routes>
      <Route index element={isClient ? <AppointmentList /> : <ProviderList />} />
      <Route path="book" element={isClient ? <Book /> : <ProviderList />} />
      <Route path=":id" element={<ForId view={AppointmentPage} />} />
      <Route path=":id/reschedule" element={isClient ? <ForId view={Reschedule} /> : <ProviderList />} />
      <Route path="*" element={<NotFound />} />
    </Routes>
  );
}
