// The Profile screen as people use it, in Chromium against the real server: a client and a
// provider change their details and mail preferences (checked through the API too), see the
// API's refusal next to the field, and change their password.
import type { APIRequestContext, Page } from '@playwright/test';
import { PASSWORD, call, expect, expectAccessible, signedInClient, test, verifiedProvider } from './support';

const exact = { exact: true } as const;

async function openProfile(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Profile' }).click();
  await expect(page.getByRole('heading', { name: 'Profile', level: 1 })).toBeVisible();
}

async function save(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Save changes' }).click();
}

/** The user as the API has it, read with a session of its own (not the browser's cookies). */
async function userViaApi(request: APIRequestContext, email: string, password = PASSWORD): Promise<any> {
  const login = await call(request, 'POST', '/auth/login', undefined, { email, password });
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  const me = await call(request, 'GET', '/auth/me', login.body.token);
  expect(me.status).toBe(200);
  return me.body.user;
}

async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

test('a client saves its details and mail preferences; a reload shows them', async ({ page, request }) => {
  const client = await signedInClient(page, request, 'Katherine Johnson');
  await openProfile(page);
  await expect(page.getByLabel('Name', exact)).toHaveValue('Katherine Johnson');
  await expect(page.getByText(client.email)).toBeVisible();
  for (const name of ['Session reminders', 'New messages', 'Changes to appointments']) {
    await expect(page.getByRole('checkbox', { name })).toBeChecked();
  }
  await expectAccessible(page, 'client profile');

  // what the API refuses is shown next to the field it names
  await page.getByLabel('Phone', exact).fill('call me maybe');
  await save(page);
  await expect(page.getByRole('alert')).toContainText('phone is not a valid phone number.');
  await expect(page.getByRole('alert')).toBeFocused();
  await expect(page.locator('#phone-error')).toContainText('phone is not a valid phone number.');
  await expect(page.getByLabel('Phone', exact)).toHaveAttribute('aria-invalid', 'true');
  await expectAccessible(page, 'client profile with an error');

  await page.getByLabel('Phone', exact).fill('+1 555 010 0142');
  await page.getByLabel('Name', exact).fill('K'.repeat(201));
  await save(page);
  await expect(page.locator('#name-error')).toContainText('name is longer than 200 characters.');
  await expect(page.locator('#phone-error')).toHaveCount(0);

  await page.getByLabel('Name', exact).fill('Katherine G. Johnson');
  await page.getByLabel('Address').fill('12 Example Street\nHampton, VA 23669');
  await page.getByLabel('Contact name').fill('Joylette Example');
  await page.getByLabel('Contact phone').fill('555 010 0143');
  await page.getByLabel('Relationship').fill('Daughter');
  await page.getByRole('checkbox', { name: 'New messages' }).uncheck();
  await save(page);
  await expect(page.getByRole('status').filter({ hasText: 'Your profile has been saved.' })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByRole('banner')).toContainText('Katherine G. Johnson');

  await page.reload();
  await expect(page.getByLabel('Name', exact)).toHaveValue('Katherine G. Johnson');
  await expect(page.getByLabel('Phone', exact)).toHaveValue('+1 555 010 0142');
  await expect(page.getByLabel('Address')).toHaveValue('12 Example Street\nHampton, VA 23669');
  await expect(page.getByLabel('Contact name')).toHaveValue('Joylette Example');
  await expect(page.getByLabel('Relationship')).toHaveValue('Daughter');
  await expect(page.getByRole('checkbox', { name: 'New messages' })).not.toBeChecked();
  await expect(page.getByRole('checkbox', { name: 'Session reminders' })).toBeChecked();

  let saved = await userViaApi(request, client.email);
  expect(saved.name).toBe('Katherine G. Johnson');
  expect(saved.phone).toBe('+1 555 010 0142');
  expect(saved.emergencyContact).toEqual({ name: 'Joylette Example', phone: '555 010 0143', relationship: 'Daughter' });
  expect(saved.notificationPrefs).toEqual({ reminders: true, messages: false, appointments: true });

  // the other way round, by keyboard; an emptied optional field is cleared
  await page.getByRole('checkbox', { name: 'New messages' }).focus();
  await page.keyboard.press('Space');
  await page.getByRole('checkbox', { name: 'Session reminders' }).focus();
  await page.keyboard.press('Space');
  await page.getByLabel('Address').fill('');
  await page.getByRole('button', { name: 'Save changes' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status').filter({ hasText: 'Your profile has been saved.' })).toBeVisible();
  saved = await userViaApi(request, client.email);
  expect(saved.notificationPrefs).toEqual({ reminders: false, messages: true, appointments: true });
  expect(saved.address).toBeNull();
});

test('a password change: a wrong current password says so; the right one ends the other sessions', async ({ page, request }) => {
  const client = await signedInClient(page, request, 'Annie Easley');
  const newPassword = 'N3w-and-l0nger-pw';
  const elsewhere = await call(request, 'POST', '/auth/login', undefined, { email: client.email, password: PASSWORD });
  expect(elsewhere.status).toBe(200);
  await openProfile(page);

  await page.getByLabel('Current password').fill('not-my-password');
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('The current password is incorrect.');
  await expect(page.locator('#currentPassword-error')).toContainText('The current password is incorrect.');
  await expect(page.getByLabel('Current password')).toHaveAttribute('aria-invalid', 'true');
  await expectAccessible(page, 'change password with an error');

  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByLabel('New password').fill('short');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.locator('#newPassword-error')).toContainText('newPassword must be 8 to 72 bytes long.');

  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your password has been changed.' })).toBeVisible();
  await expect(page.getByLabel('Current password')).toHaveValue('');

  // this session goes on under its new cookies; the one elsewhere has ended
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Annie Easley' })).toBeVisible();
  await expect(page.getByText('Balance due')).toBeVisible();
  expect((await call(request, 'GET', '/auth/me', elsewhere.body.token)).status).toBe(401);

  await page.getByRole('button', { name: 'Log out' }).click();
  await logIn(page, client.email, PASSWORD);
  await expect(page.getByRole('alert')).toContainText('The email or password is incorrect.');
  await page.getByLabel('Password').fill(newPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Welcome, Annie Easley' })).toBeVisible();
});

test('a provider saves its practice details; an unknown time zone is refused', async ({ page, request }) => {
  const provider = await verifiedProvider(request, 'Dr Mae Jemison');
  await logIn(page, provider.email, PASSWORD);
  await expect(page.getByRole('heading', { name: 'Welcome, Dr Mae Jemison' })).toBeVisible();
  await openProfile(page);
  await expect(page.getByLabel('Time zone')).toHaveValue('America/New_York');
  await expect(page.getByLabel('Address')).toHaveCount(0);
  await expectAccessible(page, 'provider profile');

  await page.getByLabel('Time zone').fill('Mars/Olympus_Mons');
  await page.getByLabel('Specialty').fill('Anxiety and trauma');
  await save(page);
  await expect(page.locator('#timeZone-error')).toContainText('timeZone is not a known IANA time zone.');
  await expectAccessible(page, 'provider profile with an error');

  await page.getByLabel('Time zone').fill('America/Chicago');
  await page.getByLabel('About you').fill('Cognitive behavioural therapy for adults.');
  await page.getByRole('checkbox', { name: 'Changes to appointments' }).uncheck();
  await save(page);
  await expect(page.getByRole('status').filter({ hasText: 'Your profile has been saved.' })).toBeVisible();

  await page.reload();
  await expect(page.getByLabel('Time zone')).toHaveValue('America/Chicago');
  await expect(page.getByLabel('Specialty')).toHaveValue('Anxiety and trauma');
  await expect(page.getByLabel('About you')).toHaveValue('Cognitive behavioural therapy for adults.');
  const me = await call(request, 'GET', '/auth/me', provider.token);
  expect(me.body.user.timeZone).toBe('America/Chicago');
  expect(me.body.user.notificationPrefs).toEqual({ reminders: true, messages: true, appointments: false });
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test('the profile fits the screen and saves', async ({ page, request }) => {
    await signedInClient(page, request, 'Christine Darden');
    await openProfile(page);
    // a phone widens its layout viewport to content that overflows: measure against the screen
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= 375);
    expect(await fits(), 'no sideways scrolling on the profile').toBe(true);
    await expectAccessible(page, 'profile on a phone');
    await page.getByLabel('Phone', exact).fill('555 010 0177');
    await page.getByRole('checkbox', { name: 'Session reminders' }).tap();
    await page.getByRole('button', { name: 'Save changes' }).tap();
    await expect(page.getByRole('status').filter({ hasText: 'Your profile has been saved.' })).toBeVisible();
    await expect(page.getByRole('checkbox', { name: 'Session reminders' })).not.toBeChecked();
    expect(await fits(), 'no sideways scrolling after saving').toBe(true);
  });
});
