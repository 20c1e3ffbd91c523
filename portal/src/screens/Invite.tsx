import { useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { User } from '../api/types';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import GoogleSignIn from '../components/GoogleSignIn';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

const FIELDS = ['email', 'password'] as const;

/** A client claims the invitation its therapist sent: the invited address and a password. */
export default function Invite() {
  usePageTitle('Set up your account');
  const { setUser } = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signedIn = (user: User) => {
    setUser(user);
    navigate('/dashboard', { replace: true });
  };
  const { busy, error, onSubmit } = useSubmit(async () => {
    signedIn((await api.register({ email, password, inviteToken: token })).user);
  });

  if (!token) {
    return (
      <>
        <h1>This invitation link is incomplete</h1>
        <p>Open the link from your invitation email again, or ask your therapist for a new invitation.</p>
      </>
    );
  }
  return (
    <>
      <h1>Set up your account</h1>
      <p>Your therapist invited you to DocPortal. Enter the email address the invitation was sent to and choose a password.</p>
      <ErrorSummary error={error} fields={FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <Field id="email" label="Email" type="email" autoComplete="email" value={email} onChange={setEmail} error={fieldError(error, 'email')} />
        <Field id="password" label="Password" type="password" autoComplete="new-password" hint="8 to 72 characters." value={password} onChange={setPassword} error={fieldError(error, 'password')} />
        <SubmitButton busy={busy}>Create account</SubmitButton>
      </form>
      <GoogleSignIn
        intro={<p>Instead of a password, continue with Google: sign in with the Google account of the address the invitation was sent to.</p>}
        onSignedIn={signedIn}
      />
      <p>
        Already set up? <Link to="/login">Log in</Link>
      </p>
    </>
  );
}
