import { useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

const FIELDS = ['password'] as const;

/** The mailed reset link: a new password, then the user is signed in with it. */
export default function ResetPassword() {
  usePageTitle('Choose a new password');
  const { setUser } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [password, setPassword] = useState('');
  const { busy, error, onSubmit } = useSubmit(async () => {
    const { user } = await api.confirmPasswordReset(token, password);
    setUser(user);
    navigate('/dashboard', { replace: true, state: { notice: 'Your password has been changed.' } });
  });

  return (
    <>
      <h1>Choose a new password</h1>
      <ErrorSummary error={error} fields={FIELDS} />
      {error?.code === 'invalid_token' && (
        <p>
          <Link to="/forgot-password">Ask for a new link</Link>
        </p>
      )}
      <form onSubmit={onSubmit} noValidate>
        <Field id="password" label="New password" type="password" autoComplete="new-password" hint="8 to 72 characters." value={password} onChange={setPassword} error={fieldError(error, 'password')} />
        <SubmitButton busy={busy}>Set password</SubmitButton>
      </form>
    </>
  );
}
