// "Sign in with Google" on the sign-in pages, when the instance has a Google client id: Google
// Identity Services renders its button here, and the ID token it hands back is exchanged for
// a cookie session by the API. Without a client id (or while the config loads) nothing shows
// and no Google script is loaded; the password form beside it always works.
import { useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, api, toApiError } from '../api/client';
import type { User } from '../api/types';
import { loadGoogle } from '../google';
import { Loading } from './forms';
import './GoogleSignIn.css';

interface Props {
  /** What the Google option is for, above its button. */
  intro: ReactNode;
  /** The signed-in user, once the API took the ID token. */
  onSignedIn: (user: User) => void;
}

export default function GoogleSignIn({ intro, onSignedIn }: Props) {
  const [clientId, setClientId] = useState<string | null>(null);
  const [gsiUrl, setGsiUrl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const buttonRef = useRef<HTMLDivElement>(null);
  const signedIn = useRef(onSignedIn);
  signedIn.current = onSignedIn;

  useEffect(() => {
    const ctl = new AbortController();
    api
      .authConfig(ctl.signal)
      .then((cfg) => {
        setGsiUrl(cfg.googleGsiUrl);
        setClientId(cfg.googleClientId);
      })
      .catch(() => setClientId(null)); // no config: the password form alone
    return () => ctl.abort();
  }, []);

  useEffect(() => {
    if (!clientId) return;
    let live = true;
    const exchange = async (credential: string) => {
      setBusy(true);
      setError(null);
      try {
        const { user } = await api.googleSignIn(credential);
        if (live) signedIn.current(user);
      } catch (e) {
        if (live) setError(toApiError(e));
      } finally {
        if (live) setBusy(false);
      }
    };
    loadGoogle(gsiUrl)
      .then((gis) => {
        if (!live || !buttonRef.current) return;
        gis.initialize({ client_id: clientId, callback: ({ credential }) => void exchange(credential) });
        gis.renderButton(buttonRef.current, { type: 'standard', theme: 'outline', size: 'large', text: 'signin_with' });
      })
      .catch((e: unknown) => live && setLoadError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [clientId, gsiUrl]);

  if (!clientId) return null;
  return (
    <section className="google-signin" aria-labelledby="google-signin-title">
      <h2 id="google-signin-title">Or use Google</h2>
      {intro}
      <div ref={buttonRef} />
      {busy && <Loading>Signing in with Google…</Loading>}
      {loadError && <p className="error-text">{loadError}</p>}
      {error && (
        <p className="error-text" role="alert">
          <span className="visually-hidden">Error: </span>
          {error.detail}
        </p>
      )}
    </section>
  );
}
