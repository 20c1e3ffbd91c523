// Google Identity Services, loaded on the sign-in pages of an instance with Google sign-in from
// the URL the API names (GET /api/auth/config: googleGsiUrl), by a script element added at run
// time (script.ts). Only the part of its interface the portal uses is typed here.
import { loadScript } from './script';

export interface GoogleCredential {
  /** The ID token, for POST /api/auth/google. */
  credential: string;
}

export interface GoogleIdentity {
  initialize(options: { client_id: string; callback: (answer: GoogleCredential) => void }): void;
  renderButton(
    parent: HTMLElement,
    options: { type?: 'standard'; theme?: 'outline'; size?: 'large'; text?: 'signin_with' | 'continue_with' },
  ): void;
}

declare global {
  interface Window {
    google?: { accounts?: { id?: GoogleIdentity } };
  }
}

/** Google Identity Services from url, once per page. */
export function loadGoogle(url: string): Promise<GoogleIdentity> {
  return loadScript(
    url,
    () => window.google?.accounts?.id,
    'Sign in with Google could not be loaded. Check your connection, or use your email and password.',
    'Google sign-in',
  );
}
