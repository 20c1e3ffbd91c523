// The sign-in screens as people use them, in Chromium against the real server: elements are
// found by their role and accessible name, mailed links are taken from the SMTP sink.
import {
  PASSWORD,
  call,
  expect,
  expectAccessible,
  mailedLink,
  signedInClient,
  test,
  uniqueEmail,
  verifiedProvider,
} from './support';

test('a therapist creates a practice account, confirms the mailed link and logs out', async ({ page }) => {
  const email = uniqueEmail('newprov');
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
  await expectAccessible(page, 'log in');
  await page.getByRole('link', { name: 'Create a practice account' }).click();
  await expect(page.getByRole('heading', { name: 'Create a practice account' })).toBeVisible();
  await expectAccessible(page, 'register');

  // a too short password: the API's detail next to the field it names
  await page.getByLabel('Name').fill('Dr Grace Hopper');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('alert')).toContainText('password must be 8 to 72 bytes long.');
  await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#password-error')).toContainText('password must be 8 to 72 bytes long.');
  await expectAccessible(page, 'register with an error');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();
  await expect(page.getByText(email)).toBeVisible();
  await expectAccessible(page, 'check your inbox');

  // the link of the registration is less than a minute old: the API refuses, the screen says why
  await page.getByRole('button', { name: 'Resend' }).click();
  await expect(page.getByRole('alert')).toContainText('less than a minute ago');

  // the session is the HttpOnly cookie: nothing in the page's storage, no token for scripts
  const storage = await page.evaluate(() => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookies: document.cookie,
  }));
  expect(storage.local).toBe(0);
  expect(storage.session).toBe(0);
  expect(storage.cookies).not.toContain('dp_session');
  expect(storage.cookies).toContain('dp_csrf=');

  // before the address is confirmed, the API serves the account nothing more: the portal says so
  await page.goto('/dashboard');
  await expect(page.getByRole('alert')).toContainText('Confirm your email address first');
  await expectAccessible(page, 'dashboard before the address is confirmed');
  await page.getByRole('link', { name: 'Confirm your email address' }).click();
  await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();

  await page.goto(await mailedLink(email, 'verify-email', 'verify-email'));
  await expect(page.getByRole('heading', { name: 'Email address confirmed' })).toBeVisible();
  await expectAccessible(page, 'email confirmed');
  await page.getByRole('link', { name: 'Continue' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Grace Hopper' })).toBeVisible();
  await expect(page.getByText('Sessions today')).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const name of ['Dashboard', 'Appointments', 'Messages', 'Billing', 'Profile']) {
    await expect(nav.getByRole('link', { name })).toBeVisible();
  }
  await expectAccessible(page, 'provider dashboard');

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  // the session is over on the server too
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).status);
  expect(me).toBe(401);
});

test('a link that does not work, and an unknown page, say so', async ({ page }) => {
  await page.goto(`/verify-email?token=${'0'.repeat(64)}`);
  await expect(page.getByRole('heading', { name: 'This link does not work' })).toBeVisible();
  await expect(page.getByRole('alert')).not.toBeEmpty();
  await expect(page.getByRole('link', { name: 'Log in to get a new link' })).toBeVisible();
  await expectAccessible(page, 'verify-email with a bad token');
  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await expectAccessible(page, 'page not found');
});

test('a wrong password shows the API\'s answer; the right one signs in', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Alan Turing');
  await page.goto('/login');
  await page.getByLabel('Email').fill(provider.email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('The email or password is incorrect.');
  await expect(page.getByRole('alert')).toBeFocused();
  await expectAccessible(page, 'log in with an error');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Alan Turing' })).toBeVisible();

  // the session ends behind the page's back: the next call answers 401, the portal goes to log in
  await page.context().clearCookies();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Profile' }).click();
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
  await expectAccessible(page, 'the profile');
  await nav.getByRole('link', { name: 'Dashboard' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
});

test('an invited client claims the mailed invitation and sees its dashboard', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Ada Byron');
  const clientEmail = uniqueEmail('client');
  const invited = await call(request, 'POST', '/provider/clients', provider.token, {
    email: clientEmail,
    name: 'Charles Babbage',
  });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);

  await page.goto(await mailedLink(clientEmail, 'invite', 'invite'));
  await expect(page.getByRole('heading', { name: 'Set up your account' })).toBeVisible();
  await expectAccessible(page, 'invitation');
  await page.getByLabel('Email').fill(uniqueEmail('someone-else'));
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.locator('#email-error')).toContainText('email does not match the invitation.');

  await page.getByLabel('Email').fill(clientEmail);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Charles Babbage' })).toBeVisible();
  await expect(page.getByText('You have no upcoming sessions.')).toBeVisible();
  await expect(page.getByText('Balance due')).toBeVisible();
  await expect(page.getByText('$0.00')).toBeVisible();
  await expectAccessible(page, 'client dashboard, empty');

  // the provider books a session for the client: the dashboard shows it in the provider's zone
  const day = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
  const booked = await call(request, 'POST', '/provider/appointments', provider.token, {
    clientId: invited.body.id,
    date: day,
    time: '10:00',
  });
  expect(booked.status, JSON.stringify(booked.body)).toBe(201);
  await page.reload();
  const next = page.getByRole('region', { name: 'Next session' });
  await expect(next).toContainText('10:00');
  await expect(next).toContainText('America/New York time');
  await expect(next).toContainText('with Dr Ada Byron');
  await expect(next).toContainText('confirmed');
  await expect(page.getByRole('definition').filter({ hasText: /^1$/ }).first()).toBeVisible();
  await expectAccessible(page, 'client dashboard with a session');
});

test('a forgotten password is reset through the mailed link', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Barbara Liskov');
  const newPassword = 'An0ther-secret-pw';
  await page.goto('/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(page.getByRole('heading', { name: 'Reset your password' })).toBeVisible();
  await expectAccessible(page, 'forgot password');
  await page.getByLabel('Email').fill(provider.email);
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await expect(page.getByRole('status')).toContainText(provider.email);
  await expectAccessible(page, 'reset link sent');

  await page.goto(await mailedLink(provider.email, 'password-reset', 'reset-password'));
  await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  await expectAccessible(page, 'reset password');
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your password has been changed.' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Barbara Liskov' })).toBeVisible();
  await page.getByRole('button', { name: 'Log out' }).click();

  await page.getByLabel('Email').fill(provider.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('The email or password is incorrect.');
  await page.getByLabel('Password').fill(newPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Barbara Liskov' })).toBeVisible();

  // a used link does not work twice
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.goto(await mailedLink(provider.email, 'password-reset', 'reset-password'));
  await page.getByLabel('New password').fill('Yet-an0ther-pw');
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page.getByRole('alert')).toContainText(/link|token/i);
  await expect(page.getByRole('link', { name: 'Ask for a new link' })).toBeVisible();
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test('log in and the dashboard fit the screen', async ({ page, request }) => {
    const client = await signedInClient(page, request, 'Dorothy Vaughan');
    const clientEmail = client.email;
    await page.getByRole('button', { name: 'Log out' }).click();

    await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(await fits(), 'no sideways scrolling on the log in screen').toBe(true);
    await expectAccessible(page, 'log in on a phone');
    await page.getByLabel('Email').fill(clientEmail);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).tap();
    await expect(page.getByRole('heading', { name: 'Welcome, Dorothy Vaughan' })).toBeVisible();
    await expect(page.getByText('Balance due')).toBeVisible();
    expect(await fits(), 'no sideways scrolling on the dashboard').toBe(true);
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' })).toBeInViewport();
    await expectAccessible(page, 'client dashboard on a phone');
  });
});

test('the dashboard rides out a database outage and says so when it lasts', async ({ page, request }) => {
  await signedInClient(page, request, 'Mary Jackson');
  const unavailable = { status: 503, contentType: 'application/json', body: JSON.stringify({ detail: 'The database is unavailable.', code: 'unavailable' }) };

  // one 503, then the real answer: retried, the person sees nothing of it
  let calls = 0;
  await page.route('**/api/client/dashboard', (route) => {
    calls += 1;
    return calls === 1 ? route.fulfill(unavailable) : route.continue();
  });
  await page.reload();
  await expect(page.getByText('Balance due')).toBeVisible();
  expect(calls).toBe(2);
  await page.unroute('**/api/client/dashboard');

  // 503 on every try: after the retries, the API's detail and a way to try again
  calls = 0;
  await page.route('**/api/client/dashboard', (route) => {
    calls += 1;
    return route.fulfill(unavailable);
  });
  await page.reload();
  await expect(page.getByRole('status')).toContainText('Loading your dashboard');
  await expect(page.getByRole('alert')).toContainText('The database is unavailable.');
  expect(calls).toBe(4);
  await expectAccessible(page, 'dashboard, API unavailable');
  await page.unroute('**/api/client/dashboard');
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByText('Balance due')).toBeVisible();
});
