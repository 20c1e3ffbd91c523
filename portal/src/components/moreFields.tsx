// Form parts beyond the text inputs of forms.tsx, in the same manner: a visible label, the hint
// and the API's error next to the control, the control marked invalid.
import type { ReactNode } from 'react';
import './moreFields.css';

interface Described {
  id: string;
  hint?: string;
  error?: string;
}

function describedBy({ id, hint, error }: Described): string | undefined {
  return [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
}

function HintAndError({ id, hint, error }: Described) {
  return (
    <>
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
    </>
  );
}

interface TextAreaProps extends Described {
  label: string;
  value: string;
  onChange: (value: string) => void;
  autoComplete?: string;
  rows?: number;
}

export function TextArea({ id, label, value, onChange, autoComplete, rows = 3, hint, error }: TextAreaProps) {
  return (
    <div className={error ? 'field field--error' : 'field'}>
      <label className="label" htmlFor={id}>
        {label}
      </label>
      <HintAndError id={id} hint={hint} error={error} />
      <textarea
        className="input textarea"
        id={id}
        name={id}
        rows={rows}
        value={value}
        autoComplete={autoComplete}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy({ id, hint, error })}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}

interface CheckboxProps extends Described {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}

/** A checkbox with its label beside it (the label is part of the click target). */
export function Checkbox({ id, label, checked, onChange, hint, error }: CheckboxProps) {
  return (
    <div className={error ? 'checkbox field--error' : 'checkbox'}>
      <input
        className="checkbox__input"
        type="checkbox"
        id={id}
        name={id}
        checked={checked}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy({ id, hint, error })}
        onChange={(e) => onChange(e.target.checked)}
      />
      <label className="checkbox__label" htmlFor={id}>
        {label}
      </label>
      <div className="checkbox__text">
        <HintAndError id={id} hint={hint} error={error} />
      </div>
    </div>
  );
}

/** A group of controls under one visible legend. */
export function Fieldset({ legend, hint, children }: { legend: string; hint?: string; children: ReactNode }) {
  return (
    <fieldset className="fieldset">
      <legend className="fieldset__legend">{legend}</legend>
      {hint && <p className="hint">{hint}</p>}
      {children}
    </fieldset>
  );
}
