// The client's Messages screen in Chromium against the real server: the client acts in the
// browser, its provider through the API (Bearer token), and the database is read (and, for a
// message that no longer decrypts, changed) through the suite's psql ($DP_PSQL).
import { execFileSync } from 'node:child_process';
import type { Page } from '@playwright/test';
import { call, expect, expectAccessible, signedInClient, test, type Provider } from './support';

/** The API's page of a conversation. */
const PAGE = 50;

/** One value from the suite's database, as the superuser. */
function psql(sql: string): string {
  const prefix = process.env.DP_PSQL;
  if (!prefix) throw new Error('DP_PSQL is not set (the psql command of the test suite)');
  const [cmd, ...args] = prefix.split(/\s+/).filter(Boolean);
  return execFileSync(cmd, [...args, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
}

async function providerSends(request: Parameters<typeof call>[0], provider: Provider, to: string, text: string) {
  const sent = await call(request, 'POST', '/messages', provider.token, { receiverId: to, message: text });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return sent.body as { id: string; createdAt: string };
}

async function conversationOf(request: Parameters<typeof call>[0], provider: Provider, clientId: string) {
  const got = await call(request, 'GET', `/messages?conversationWith=${clientId}`, provider.token);
  expect(got.status, JSON.stringify(got.body)).toBe(200);
  return got.body as { id: string; message: string | null; read: boolean; senderId: string }[];
}

const conversation = (page: Page, provider: Provider) =>
  page.getByRole('list', { name: `Conversation with ${provider.name}` });

async function openMessages(page: Page) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' }).click();
  await expect(page.getByRole('heading', { name: 'Messages', level: 1 })).toBeVisible();
}

const unreadFigure = (page: Page) =>
  page.getByRole('term').filter({ hasText: 'Unread messages' }).locator('xpath=following-sibling::dd[1]');

test('the conversation reads oldest first, Enter sends, and what was seen counts as read', async ({ page, request }) => {
  const client = await signedInClient(page, request, 'Katherine Johnson');
  const { provider } = client;
  const first = await providerSends(request, provider, client.id, 'Welcome to the practice.');
  const broken = await providerSends(request, provider, client.id, 'This one will not open.');
  await providerSends(request, provider, client.id, 'See you on Tuesday.');
  // a row changed behind the module's back: the API answers message null, decryptError tampered
  psql(`UPDATE messages SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE id = '${broken.id}'`);

  await page.reload();
  await expect(unreadFigure(page)).toHaveText('3');

  await openMessages(page);
  const items = conversation(page, provider).getByRole('listitem');
  await expect(items).toHaveCount(3);
  await expect(items.nth(0)).toContainText('Welcome to the practice.');
  await expect(items.nth(1)).toContainText('This message could not be read');
  await expect(items.nth(2)).toContainText('See you on Tuesday.');
  await expect(items.nth(0)).toContainText(provider.name);
  await expect(page.getByText('This is the start of your conversation.')).toBeVisible();

  // times in the provider's zone (America/New_York), named, while the browser is in London
  await expect(page.getByText(/Times are in America\/New York time/)).toBeVisible();
  await expect(items.nth(0).locator('time')).toHaveAttribute('datetime', first.createdAt);
  const ny = new Intl.DateTimeFormat('en-US', { hour: 'numeric', minute: '2-digit', hourCycle: 'h23', timeZone: 'America/New_York' })
    .formatToParts(new Date(first.createdAt));
  const hour = Number(ny.find((p) => p.type === 'hour')?.value);
  const minute = ny.find((p) => p.type === 'minute')?.value;
  await expect(items.nth(0).locator('time')).toContainText(`${((hour + 11) % 12) + 1}:${minute}`);
  await expectAccessible(page, 'messages');

  // what was on the screen is read, on the server too
  await expect.poll(async () => (await conversationOf(request, provider, client.id)).map((m) => m.read), { timeout: 10_000 })
    .toEqual([true, true, true]);

  // Enter sends; Shift+Enter is a new line inside the message
  const field = page.getByLabel('Message');
  await field.fill('Thank you, see you then.');
  await field.press('Enter');
  await expect(items).toHaveCount(4);
  await expect(items.nth(3)).toContainText('Thank you, see you then.');
  await expect(items.nth(3)).toContainText('You');
  await expect(field).toHaveValue('');
  await expect(field).toBeFocused();
  await field.pressSequentially('First line');
  await field.press('Shift+Enter');
  await field.pressSequentially('second line');
  await expect(field).toHaveValue('First line\nsecond line');
  await field.press('Enter');
  await expect(items).toHaveCount(5);
  await expect(field).toHaveValue('');
  await expect(page.getByRole('status', { name: 'Conversation updates' })).toHaveText('Message sent');
  // an empty field: Enter sends nothing
  await field.press('Enter');
  await page.waitForTimeout(300);
  await expect(items).toHaveCount(5);

  // the provider reads both through the API, in order
  const seen = await conversationOf(request, provider, client.id);
  expect(seen.slice(-2).map((m) => [m.message, m.senderId, m.read])).toEqual([
    ['Thank you, see you then.', client.id, false],
    ['First line\nsecond line', client.id, false],
  ]);
  await expectAccessible(page, 'messages after sending');

  // the dashboard's count follows
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await expect(unreadFigure(page)).toHaveText('0');
});

test('a message from the provider appears within seconds, is announced and marked read', async ({ page, request }) => {
  const client = await signedInClient(page, request, 'Annie Easley');
  const { provider } = client;
  await openMessages(page);
  await expect(page.getByText(`No messages yet. Write to ${provider.name} below`)).toBeVisible();
  await expectAccessible(page, 'messages, empty');

  const sent = await providerSends(request, provider, client.id, 'Could we move Thursday to 3 pm?');
  const t0 = Date.now();
  const items = conversation(page, provider).getByRole('listitem');
  await expect(items.filter({ hasText: 'Could we move Thursday to 3 pm?' })).toBeVisible({ timeout: 6_000 });
  expect(Date.now() - t0).toBeLessThan(6_000);
  await expect(items.first()).toContainText('New');
  await expect(page.getByRole('status', { name: 'Conversation updates' })).toHaveText(
    `New message from ${provider.name}: Could we move Thursday to 3 pm?`,
  );
  await expect.poll(async () => (await conversationOf(request, provider, client.id))[0]?.read, { timeout: 10_000 }).toBe(true);
  expect(psql(`SELECT is_read FROM messages WHERE id = '${sent.id}'`)).toBe('t');
  await expectAccessible(page, 'messages with a new message');
});

test('polls one at a time, stop while the page is hidden, and slow down after errors', async ({ page, request }) => {
  test.setTimeout(90_000);
  const client = await signedInClient(page, request, 'Gladys West');
  await openMessages(page);
  await expect(page.getByLabel('Message')).toBeVisible();
  let polls = 0;
  let failing = false;
  await page.route((url) => url.pathname === '/api/messages', (route) => {
    polls += 1;
    return failing
      ? route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ detail: 'Something went wrong.', code: 'internal_error' }) })
      : route.continue();
  });
  await page.waitForTimeout(10_000);
  expect(polls, 'polls in 10 s, one every 3 s after the last answer').toBeGreaterThanOrEqual(2);
  expect(polls).toBeLessThanOrEqual(4);

  const setVisibility = (state: 'hidden' | 'visible') =>
    page.evaluate((s) => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => s });
      document.dispatchEvent(new Event('visibilitychange'));
    }, state);
  await setVisibility('hidden');
  await page.waitForTimeout(500);
  polls = 0;
  await page.waitForTimeout(7_000);
  expect(polls, 'no polls while hidden').toBe(0);
  await setVisibility('visible');
  await expect.poll(() => polls, { timeout: 1_000 }).toBe(1);

  // failures: the waits double (3 s after success, then 6 s, 12 s...), and the screen says so
  failing = true;
  polls = 0;
  await expect(page.getByRole('status').filter({ hasText: 'New messages cannot be fetched just now' })).toBeVisible({ timeout: 5_000 });
  await page.waitForTimeout(8_000);
  expect(polls, 'polls in about 11 s of failures').toBeLessThanOrEqual(2);
  await expectAccessible(page, 'messages, polling fails');
  // the server is back: showing the page again polls at once
  failing = false;
  await providerSends(request, client.provider, client.id, 'Back again.');
  await setVisibility('hidden');
  await setVisibility('visible');
  await expect(conversation(page, client.provider).getByRole('listitem').filter({ hasText: 'Back again.' })).toBeVisible({
    timeout: 5_000,
  });
  await expect(page.getByText('New messages cannot be fetched just now')).toHaveCount(0);
});

test('older messages come a page at a time with "Load earlier messages"', async ({ page, request }) => {
  const client = await signedInClient(page, request, 'Evelyn Boyd');
  const { provider } = client;
  const total = PAGE + 10;
  for (let i = 1; i <= total; i++) {
    await providerSends(request, provider, client.id, `Note ${String(i).padStart(2, '0')}`);
  }
  // the API's page, which the portal follows
  expect(await conversationOf(request, provider, client.id)).toHaveLength(PAGE);

  await openMessages(page);
  const items = conversation(page, provider).getByRole('listitem');
  await expect(items).toHaveCount(PAGE);
  await expect(items.first()).toContainText('Note 11');
  await expect(items.last()).toContainText(`Note ${total}`);
  await expect(page.getByText('This is the start of your conversation.')).toHaveCount(0);
  await page.getByRole('button', { name: 'Load earlier messages' }).click();
  await expect(items).toHaveCount(total);
  await expect(items.first()).toContainText('Note 01');
  await expect(items.nth(9)).toContainText('Note 10');
  await expect(items.nth(10)).toContainText('Note 11');
  await expect(page.getByRole('button', { name: 'Load earlier messages' })).toHaveCount(0);
  await expect(page.getByText('This is the start of your conversation.')).toBeFocused();
  await expect(page.getByRole('status', { name: 'Conversation updates' })).toHaveText('10 earlier messages shown');
  await expectAccessible(page, 'messages, all pages');
});

test('a refused message shows the API\'s reason and keeps what was typed', async ({ page, request }) => {
  await signedInClient(page, request, 'Mary Winston');
  await openMessages(page);
  const field = page.getByLabel('Message');
  const long = 'x'.repeat(10_001);
  await field.fill(long);
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('alert')).toContainText('message is longer than 10000 characters.');
  await expect(field).toHaveValue(long);
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expectAccessible(page, 'messages, a refused message');

  // blank: the API's answer too
  await field.fill('   ');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('alert')).toContainText('message must not be empty.');
  await field.fill('Now a proper one.');
  await field.press('Enter');
  await expect(page.getByRole('listitem').filter({ hasText: 'Now a proper one.' })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(field).not.toHaveAttribute('aria-invalid', 'true');
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test('the conversation and the message field fit the screen', async ({ page, request }) => {
    const client = await signedInClient(page, request, 'Christine Darden');
    const { provider } = client;
    await providerSends(request, provider, client.id, `A long link: https://example.com/${'a'.repeat(120)}`);
    await providerSends(request, provider, client.id, 'And a short line.');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Messages' }).tap();
    const items = conversation(page, provider).getByRole('listitem');
    await expect(items).toHaveCount(2);
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    expect(await fits(), 'no sideways scrolling').toBe(true);
    await page.getByLabel('Message').fill('Sent from my phone.');
    await page.getByRole('button', { name: 'Send' }).tap();
    await expect(items).toHaveCount(3);
    await expect(items.last()).toContainText('Sent from my phone.');
    await expect(page.getByRole('button', { name: 'Send' })).toBeInViewport();
    expect(await fits(), 'no sideways scrolling after sending').toBe(true);
    await expectAccessible(page, 'messages on a phone');
  });
});
