// Choosing a time with the provider: a day (field "Date"), then one of that day's open slots,
// each a toggle button named by its 24-hour time in the provider's zone. Used to book and to
// reschedule. The slots come from the API, which already leaves out what the rules forbid
// (working hours, breaks, time off, notice, horizon, other sessions).
import { useEffect, useState } from 'react';
import { ApiError, api, toApiError } from '../api/client';
import type { Slots } from '../api/types';
import { Loading } from './forms';

type SlotsLoad =
  | { state: 'idle' }
  | { state: 'loading' }
  | { state: 'ready'; data: Slots }
  | { state: 'failed'; error: ApiError };

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Today in the browser's calendar, as YYYY-MM-DD (the earliest day the date field offers). */
function todayISO(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** "Sunday, 13 December 2026" for a calendar day (no time zone shifts it). */
function formatDay(day: string): string {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeZone: 'UTC' }).format(
    new Date(`${day}T12:00:00Z`),
  );
}

/** " (America/New York time)" when the zone is not the browser's, else nothing. */
export function zoneNote(timeZone: string): string {
  return timeZone === Intl.DateTimeFormat().resolvedOptions().timeZone ? '' : ` (${timeZone.replace(/_/g, ' ')} time)`;
}

/** The open slots of a day, loaded whenever the day (or `round`) changes. */
export function useSlots(date: string, round: number): [SlotsLoad, () => void] {
  const [result, setResult] = useState<SlotsLoad>({ state: 'idle' });
  const [again, setAgain] = useState(0);
  useEffect(() => {
    if (!DAY.test(date)) {
      setResult({ state: 'idle' });
      return undefined;
    }
    const ctl = new AbortController();
    setResult({ state: 'loading' });
    api.clientSlots(date, ctl.signal).then(
      (data) => setResult({ state: 'ready', data }),
      (e: unknown) => {
        if (!ctl.signal.aborted) setResult({ state: 'failed', error: toApiError(e) });
      },
    );
    return () => ctl.abort();
  }, [date, round, again]);
  return [result, () => setAgain((n) => n + 1)];
}

interface PickerProps {
  date: string;
  onDate: (date: string) => void;
  slots: SlotsLoad;
  retry: () => void;
  selected: string | null;
  onSelect: (time24h: string) => void;
  /** the API's word on the day or the time, shown next to the control */
  dateError?: string;
  timeError?: string;
}

export function SlotPicker({ date, onDate, slots, retry, selected, onSelect, dateError, timeError }: PickerProps) {
  const dayError = dateError ?? (slots.state === 'failed' && slots.error.field === 'date' ? slots.error.detail : undefined);
  const described = ['date-hint', dayError ? 'date-error' : ''].filter(Boolean).join(' ');
  return (
    <>
      <div className={dayError ? 'field field--error' : 'field'}>
        <label className="label" htmlFor="date">
          Date
        </label>
        <p className="hint" id="date-hint">
          Choose a day to see your provider's open times.
        </p>
        {dayError && (
          <p className="field-error" id="date-error">
            <span className="visually-hidden">Error: </span>
            {dayError}
          </p>
        )}
        <input
          className="input input--date"
          id="date"
          name="date"
          type="date"
          min={todayISO()}
          value={date}
          aria-invalid={dayError ? true : undefined}
          aria-describedby={described}
          onChange={(e) => onDate(e.target.value)}
        />
      </div>
      {slots.state === 'loading' && <Loading>Looking for open times…</Loading>}
      {slots.state === 'failed' && slots.error.field !== 'date' && (
        <div className="panel" role="alert">
          <p>{slots.error.detail}</p>
          <button className="button button--secondary" type="button" onClick={retry}>
            Try again
          </button>
        </div>
      )}
      {slots.state === 'ready' && slots.data.slots.length === 0 && (
        <p className="panel" role="status" id="time">
          There are no open times on {formatDay(slots.data.date)}. Please choose another day.
        </p>
      )}
      {slots.state === 'ready' && slots.data.slots.length > 0 && (
        <fieldset
          className={timeError ? 'field field--error slots' : 'field slots'}
          aria-describedby={timeError ? 'time-error' : undefined}
        >
          <legend className="label">
            Open times on {formatDay(slots.data.date)}
            {zoneNote(slots.data.timeZone)}
          </legend>
          <p className="hint">
            Each session lasts {slots.data.slotDuration} minutes. Choose a start time.
          </p>
          {timeError && (
            <p className="field-error" id="time-error">
              <span className="visually-hidden">Error: </span>
              {timeError}
            </p>
          )}
          <ul className="slots__list">
            {slots.data.slots.map((s, i) => (
              <li key={s.time24h}>
                <button
                  id={i === 0 ? 'time' : undefined}
                  className={selected === s.time24h ? 'slot slot--selected' : 'slot'}
                  type="button"
                  aria-pressed={selected === s.time24h}
                  onClick={() => onSelect(s.time24h)}
                >
                  {s.time24h}
                  {selected === s.time24h && <span className="slot__mark"> (chosen)</span>}
                </button>
              </li>
            ))}
          </ul>
        </fieldset>
      )}
    </>
  );
}
