// Sign in with Google as people use it, in Chromium against the real server: the test host
// has a Google client id, and Google Identity Services is the suite's stand-in
// (t/fakes/google_gsi.js), whose "Sign in with Google" button opens a small account chooser
// and hands the page an ID token signed with a key the API trusts. Started by
// t/api/750_portal_google.t, which adds to the environment:
//   PORTAL_GOOGLE  {"fake": the Google fake's origin, "plainBaseUrl": a portal host without
//                  a Google client id, "clientId": the test host's}
import type { Page, Request } from '@playwright/test';
import { PASSWORD, call, expect, expectAccessible, mailedLink, test, uniqueEmail, verifiedProvider } from './support';

interface GoogleEnv {
  fake: string;
  plainBaseUrl: string;
  clientId: string;
}

const env: GoogleEnv = JSON.parse(process.env.PORTAL_GOOGLE || '{}');

/** Every request the page makes to the Google fake's origin. */
function googleRequests(page: Page): Request[] {
  const seen: Request[] = [];
  page.on('request', (r) => {
    if (r.url().startsWith(env.fake)) seen.push(r);
  });
  return seen;
}

/** The stand-in's chooser: the Google account, then Continue. */
async function chooseGoogleAccount(page: Page, email: string): Promise<void> {
  await page.getByRole('button', { name: 'Sign in with Google' }).click();
  await page.getByLabel('Google account').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
}

test.beforeEach(async ({ request }) => {
  expect(env.fake, 'PORTAL_GOOGLE names the Google fake').toMatch(/^http:\/\//);
  expect((await request.post(`${env.fake}/__reset`)).status()).toBe(200);
});

test('a therapist signs in with Google from the login page and lands on the dashboard', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Grace Google');
  const fromGoogle = googleRequests(page);
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  const button = page.getByRole('button', { name: 'Sign in with Google' });
  await expect(button).toBeVisible();
  // the script came from the URL the API names, by a script element (no inline script)
  const script = fromGoogle.find((r) => r.url() === `${env.fake}/gsi/client`);
  expect(script?.resourceType()).toBe('script');
  // the password form is still there beside it
  await expect(page.getByLabel('Email')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Log in' })).toBeVisible();
  await expectAccessible(page, 'log in with the Google button');

  await chooseGoogleAccount(page, provider.email);
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Grace Google' })).toBeVisible();
  await expect(page).toHaveURL(/\/dashboard$/);
  // a cookie session, nothing in the page's storage
  const storage = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookies: document.cookie }));
  expect(storage).toMatchObject({ local: 0, session: 0 });
  expect(storage.cookies).not.toContain('dp_session');
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
  expect(me.user.email).toBe(provider.email);

  // it returns to the page that asked for sign-in
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await page.goto('/messages');
  await expect(page).toHaveURL(/\/login\?next=%2Fmessages$/);
  await chooseGoogleAccount(page, provider.email);
  await expect(page).toHaveURL(/\/messages$/);
});

test('an invited client continues with Google from the mailed invitation', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Ada Invite');
  const email = uniqueEmail('gclient');
  const invited = await call(request, 'POST', '/provider/clients', provider.token, { email, name: 'Gus Google' });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);

  await page.goto(await mailedLink(email, 'invite', 'invite'));
  await expect(page.getByRole('heading', { name: 'Set up your account' })).toBeVisible();
  await expect(page.getByText('continue with Google')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign in with Google' })).toBeVisible();
  await expectAccessible(page, 'invitation with the Google button');

  // a Google account of another address has no account here: the API says what is missing
  await chooseGoogleAccount(page, uniqueEmail('stranger'));
  await expect(page.getByRole('alert')).toContainText('userType');
  await expect(page).toHaveURL(/\/invite\?token=/);

  await chooseGoogleAccount(page, email);
  await expect(page.getByRole('heading', { name: 'Welcome, Gus Google' })).toBeVisible();
  await expect(page.getByText('You have no upcoming sessions.')).toBeVisible();
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
  expect(me.user).toMatchObject({ id: invited.body.id, email, emailVerified: true });

  // the client's record is now held by the Google account: the invitation's password way is closed
  const claim = await call(request, 'POST', '/auth/register', undefined, {
    email,
    password: PASSWORD,
    inviteToken: new URL(await mailedLink(email, 'invite', 'invite'), 'http://x').searchParams.get('token'),
  });
  expect(claim.status, JSON.stringify(claim.body)).toBe(422);
});

test("a Google sign-in the API refuses shows the API's detail", async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Rita Refused');
  for (const claims of [{ email_verified: false }, { aud: 'another-client.apps.googleusercontent.com' }]) {
    expect((await request.post(`${env.fake}/__claims`, { data: claims })).status()).toBe(200);
    await page.goto('/login');
    await chooseGoogleAccount(page, provider.email);
    const alert = page.getByRole('alert');
    await expect(alert, JSON.stringify(claims)).toContainText('The Google sign-in could not be verified.');
    await expect(page).toHaveURL(/\/login$/);
    await expectAccessible(page, `log in after a refused Google sign-in (${JSON.stringify(claims)})`);
  }
  // with a good token again, the same page signs in
  expect((await request.post(`${env.fake}/__reset`)).status()).toBe(200);
  await chooseGoogleAccount(page, provider.email);
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Rita Refused' })).toBeVisible();
});

test('without a Google client id there is no Google button and no request to Google', async ({ page }) => {
  expect(env.plainBaseUrl).toMatch(/^http:\/\//);
  const fromGoogle = googleRequests(page);
  for (const path of ['/login', '/invite?token=abc']) {
    const config = page.waitForResponse((r) => r.url().endsWith('/api/auth/config'));
    await page.goto(`${env.plainBaseUrl}${path}`);
    const answer = await config;
    expect(await answer.json()).toMatchObject({ googleClientId: null });
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Sign in with Google' })).toHaveCount(0);
    await expect(page.getByRole('heading', { name: 'Or use Google' })).toHaveCount(0);
    const foreign = await page.evaluate(() =>
      Array.from(document.scripts)
        .map((s) => s.src)
        .filter((src) => !src.startsWith(location.origin)),
    );
    expect(foreign).toEqual([]);
  }
  await page.waitForTimeout(300);
  expect(fromGoogle.map((r) => r.url())).toEqual([]);
});
