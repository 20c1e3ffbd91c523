// Form parts in the GOV.UK manner: a visible label on every control, the error of a field
// next to it (and its input marked invalid), and a summary at the top that is announced and
// focused, with a link to the field at fault.
import { useEffect, useRef, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { ApiError, toApiError } from '../api/client';

interface FieldProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: 'text' | 'email' | 'password';
  autoComplete?: string;
  hint?: string;
  error?: string;
  required?: boolean;
}

export function Field({ id, label, value, onChange, type = 'text', autoComplete, hint, error, required }: FieldProps) {
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className={error ? 'field field--error' : 'field'}>
      <label className="label" htmlFor={id}>
        {label}
      </label>
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          <span className="visually-hidden">Error: </span>
          {error}
        </p>
      )}
      <input
        className="input"
        id={id}
        name={id}
        type={type}
        value={value}
        autoComplete={autoComplete}
        required={required}
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

/** The summary of a failed request: its detail, linked to the field it names when the form
 * has that field. */
export function ErrorSummary({ error, fields }: { error: ApiError | null; fields: readonly string[] }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error) ref.current?.focus();
  }, [error]);
  if (!error) return null;
  const target = error.field && fields.includes(error.field) ? error.field : null;
  return (
    <div className="error-summary" role="alert" tabIndex={-1} ref={ref} aria-labelledby="error-summary-title">
      <h2 className="error-summary__title" id="error-summary-title">
        There is a problem
      </h2>
      <p>{target ? <a href={`#${target}`}>{error.detail}</a> : error.detail}</p>
    </div>
  );
}

/** The error for one field, when the API named it. */
export function fieldError(error: ApiError | null, field: string): string | undefined {
  return error && error.field === field ? error.detail : undefined;
}

/** Runs a form's request: busy while it runs, the ApiError kept for the form to show. */
export function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(toApiError(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, onSubmit };
}

export function SubmitButton({ busy, children }: { busy: boolean; children: ReactNode }) {
  return (
    <button className="button" type="submit" disabled={busy} aria-busy={busy || undefined}>
      {children}
    </button>
  );
}

/** A polite "working on it" line for screen readers and eyes. */
export function Loading({ children }: { children: ReactNode }) {
  return (
    <p className="loading" role="status">
      {children}
    </p>
  );
}
