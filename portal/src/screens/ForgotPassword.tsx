import { useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api/client';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import { usePageTitle } from '../components/Layout';

const FIELDS = ['email'] as const;

/** Asks for a reset link. The answer is the same whether or not the address has an account. */
export default function ForgotPassword() {
  usePageTitle('Reset your password');
  const [email, setEmail] = useState('');
  const [sentTo, setSentTo] = useState<string | null>(null);
  const { busy, error, onSubmit } = useSubmit(async () => {
    await api.requestPasswordReset(email);
    setSentTo(email);
  });

  if (sentTo) {
    return (
      <>
        <h1>Check your inbox</h1>
        <p role="status">
          If <strong>{sentTo}</strong> has an account, we have sent it a link to choose a new password. The link works
          for one hour.
        </p>
        <p>
          <Link to="/login">Back to log in</Link>
        </p>
      </>
    );
  }
  return (
    <>
      <h1>Reset your password</h1>
      <p>Enter the email address of your account and we will send you a link to choose a new password.</p>
      <ErrorSummary error={error} fields={FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <Field id="email" label="Email" type="email" autoComplete="email" value={email} onChange={setEmail} error={fieldError(error, 'email')} />
        <SubmitButton busy={busy}>Send reset link</SubmitButton>
      </form>
      <p>
        <Link to="/login">Back to log in</Link>
      </p>
    </>
  );
}
