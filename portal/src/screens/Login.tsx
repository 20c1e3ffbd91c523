import { useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { User } from '../api/types';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import GoogleSignIn from '../components/GoogleSignIn';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

const FIELDS = ['email', 'password'] as const;

/** Where to go after signing in: the page that asked for it (same site only), else home. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/dashboard';
}

export default function Login() {
  usePageTitle('Log in');
  const { setUser } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signedIn = (user: User) => {
    setUser(user);
    navigate(user.emailVerified ? safeNext(params.get('next')) : '/check-email', { replace: true });
  };
  const { busy, error, onSubmit } = useSubmit(async () => {
    signedIn((await api.login(email, password)).user);
  });

  return (
    <>
      <h1>Log in</h1>
      <ErrorSummary error={error} fields={FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <Field id="email" label="Email" type="email" autoComplete="email" value={email} onChange={setEmail} error={fieldError(error, 'email')} />
        <Field id="password" label="Password" type="password" autoComplete="current-password" value={password} onChange={setPassword} error={fieldError(error, 'password')} />
        <SubmitButton busy={busy}>Log in</SubmitButton>
      </form>
      <GoogleSignIn intro={<p>Sign in with the Google account of your email address.</p>} onSignedIn={signedIn} />
      <p>
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <p>
        New practice? <Link to="/register">Create a practice account</Link>
      </p>
    </>
  );
}
