import { useState } from 'react';
import { Link, Navigate } from 'react-router-dom';
import { ApiError, api, toApiError } from '../api/client';
import { Loading } from '../components/forms';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

/** After registering: the link is in the mail; "Resend" asks for a new one. */
export default function CheckEmail() {
  usePageTitle('Check your inbox');
  const { user } = useSession();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<'sent' | ApiError | null>(null);

  if (user === undefined) return <Loading>Loading…</Loading>;
  if (user === null) return <Navigate to="/login?next=/check-email" replace />;

  const resend = async () => {
    setBusy(true);
    setResult(null);
    try {
      await api.resendVerification();
      setResult('sent');
    } catch (e) {
      setResult(toApiError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1>Check your inbox</h1>
      {user.emailVerified ? (
        <>
          <p>Your email address {user.email} is confirmed.</p>
          <p>
            <Link to="/dashboard">Go to your dashboard</Link>
          </p>
        </>
      ) : (
        <>
          <p>
            We sent a link to <strong>{user.email}</strong>. Open it to confirm your email address. The link works for
            48 hours.
          </p>
          <p>No email? Check your spam folder, or ask for a new link.</p>
          <button className="button button--secondary" type="button" onClick={resend} disabled={busy}>
            Resend
          </button>
          <div role="status" className="status">
            {result === 'sent' && <p>A new link is on its way to {user.email}.</p>}
          </div>
          {result instanceof ApiError && (
            <p className="error-text" role="alert">
              {result.detail}
            </p>
          )}
        </>
      )}
    </>
  );
}
