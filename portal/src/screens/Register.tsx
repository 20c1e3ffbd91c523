import { useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { ErrorSummary, Field, SubmitButton, fieldError, useSubmit } from '../components/forms';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

const FIELDS = ['name', 'email', 'password'] as const;

/** A therapist creates a practice account; a link to verify the address is mailed. */
export default function Register() {
  usePageTitle('Create a practice account');
  const { setUser } = useSession();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, onSubmit } = useSubmit(async () => {
    const { user } = await api.register({ name, email, password, userType: 'provider' });
    setUser(user);
    navigate('/check-email', { replace: true });
  });

  return (
    <>
      <h1>Create a practice account</h1>
      <p>For therapists. Clients join through the invitation their therapist sends them.</p>
      <ErrorSummary error={error} fields={FIELDS} />
      <form onSubmit={onSubmit} noValidate>
        <Field id="name" label="Name" autoComplete="name" value={name} onChange={setName} error={fieldError(error, 'name')} />
        <Field id="email" label="Email" type="email" autoComplete="email" value={email} onChange={setEmail} error={fieldError(error, 'email')} />
        <Field id="password" label="Password" type="password" autoComplete="new-password" hint="8 to 72 characters." value={password} onChange={setPassword} error={fieldError(error, 'password')} />
        <SubmitButton busy={busy}>Create account</SubmitButton>
      </form>
      <p>
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </>
  );
}
