import { useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { ApiError, api, toApiError } from '../api/client';
import { Loading } from '../components/forms';
import { useSession } from '../session';
import { usePageTitle } from '../components/Layout';

/** The mailed link: posts its token once, then says what happened and where to go on. */
export default function VerifyEmail() {
  usePageTitle('Confirm your email address');
  const { user, setUser } = useSession();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [state, setState] = useState<'working' | 'done' | ApiError>('working');
  const sent = useRef(false);

  useEffect(() => {
    if (sent.current) return;
    sent.current = true;
    if (!token) {
      setState(new ApiError(400, { detail: 'The link has no token.', code: 'invalid_token' }));
      return;
    }
    api.verifyEmail(token).then(
      async () => {
        // the link works with or without a session here: ask who is signed in now
        setUser(await api.me().catch(() => null));
        setState('done');
      },
      (e: unknown) => setState(toApiError(e)),
    );
  }, [token, setUser]);

  if (state === 'working') return <Loading>Confirming your email address…</Loading>;
  if (state === 'done') {
    return (
      <>
        <h1>Email address confirmed</h1>
        <p>Thank you. Your account is ready to use.</p>
        <p>
          <Link className="button" to="/dashboard">
            Continue
          </Link>
        </p>
      </>
    );
  }
  return (
    <>
      <h1>This link does not work</h1>
      <p role="alert">{state.detail}</p>
      <p>{user ? <Link to="/check-email">Send a new link</Link> : <Link to="/login">Log in to get a new link</Link>}</p>
    </>
  );
}
