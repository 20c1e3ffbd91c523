// What the browser tests share: the mails the SMTP sink received, the API as a provider's
// program uses it (Bearer token), the axe check, and a page that fails on CSP violations and
// script errors.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

export const PASSWORD = 'Sup3r-secret-pw';

let counter = 0;
/** An address no other test uses. */
export function uniqueEmail(tag: string): string {
  counter += 1;
  return `${tag}.${Date.now()}.${process.pid}.${counter}@example.com`;
}

interface Mail {
  to: string[];
  kind: string;
  body: string;
}

function decodeQuotedPrintable(s: string): string {
  const bytes: number[] = [];
  const soft = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseMail(raw: string): Mail {
  const to: string[] = [];
  let rest = raw;
  for (;;) {
    const m = /^X-Envelope-(From|To|Auth): ?([^\r\n]*)\r?\n/.exec(rest);
    if (!m) break;
    if (m[1] === 'To') to.push(m[2].toLowerCase());
    rest = rest.slice(m[0].length);
  }
  const split = rest.search(/\r?\n\r?\n/);
  const head = (split < 0 ? rest : rest.slice(0, split)).replace(/\r?\n(?=[ \t])/g, '');
  let body = split < 0 ? '' : rest.slice(split).replace(/^\r?\n\r?\n/, '');
  const header = (name: string) =>
    new RegExp(`^${name}:[ \\t]*(.*?)\\s*$`, 'im').exec(head)?.[1] ?? '';
  const cte = header('Content-Transfer-Encoding').toLowerCase();
  if (cte === 'quoted-printable') body = decodeQuotedPrintable(body);
  if (cte === 'base64') body = Buffer.from(body, 'base64').toString('utf8');
  return { to, kind: header('X-DocPortal-Kind'), body: body.replace(/\r\n/g, '\n') };
}

function mailsTo(address: string, kind: string): Mail[] {
  const dir = process.env.DP_SMTP_DIR;
  if (!dir) throw new Error('DP_SMTP_DIR is not set (the SMTP sink of the test suite)');
  return readdirSync(dir)
    .filter((n) => /^\d+-\d+-\d+\.eml$/.test(n))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
    .map((n) => parseMail(readFileSync(join(dir, n), 'utf8')))
    .filter((m) => m.kind === kind && m.to.includes(address.toLowerCase()));
}

/** The path and query of the link in the newest mail of that kind to that address ("/invite?
 * token=..."), once there are at least `count` of them. The mail's links name the instance's
 * public URL; the test opens the same path on the server under test. */
export async function mailedLink(address: string, kind: string, path: string, count = 1): Promise<string> {
  const until = Date.now() + 20_000;
  for (;;) {
    const mails = mailsTo(address, kind);
    if (mails.length >= count) {
      const m = new RegExp(`/${path}\\?token=([0-9a-f]{64})(?![0-9A-Za-z])`).exec(mails[mails.length - 1].body);
      if (!m) throw new Error(`no /${path} link in the ${kind} mail to ${address}`);
      return `/${path}?token=${m[1]}`;
    }
    if (Date.now() > until) throw new Error(`no ${kind} mail to ${address} within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The API as a program uses it: a Bearer token, JSON both ways. */
export async function call(
  request: APIRequestContext,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await request.fetch(`/api${path}`, {
    method,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    data: body,
  });
  const text = await res.text();
  return { status: res.status(), body: text ? JSON.parse(text) : null };
}

export interface Provider {
  email: string;
  name: string;
  token: string;
  id: string;
}

/** A provider with a verified email (through the mailed link), ready to invite clients. */
export async function verifiedProvider(
  request: APIRequestContext,
  name = 'Dr Ada Byron',
  email = uniqueEmail('prov'),
): Promise<Provider> {
  const reg = await call(request, 'POST', '/auth/register', undefined, {
    email,
    password: PASSWORD,
    name,
    userType: 'provider',
  });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const link = await mailedLink(email, 'verify-email', 'verify-email');
  const token = new URL(link, 'http://x').searchParams.get('token');
  const ver = await call(request, 'POST', '/auth/verify-email', undefined, { token });
  expect(ver.status, JSON.stringify(ver.body)).toBe(200);
  return { email, name, token: reg.body.token, id: reg.body.user.id };
}

/** No serious or critical accessibility violation on the page as it is now. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const text = bad.map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(text, `axe on ${what}`).toEqual([]);
}

/** The page of every test: a Content-Security-Policy violation or an uncaught script error
 * fails the test. */
export const test = base.extend<{ problems: string[] }>({
  problems: [
    async ({ page }, use) => {
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
    await use(problems);
    expect(problems, 'CSP violations or script errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

export interface InvitedClient {
  provider: Provider;
  email: string;
  id: string;
}

/** A client invited by a new provider through the API, which claims the mailed invitation in
 * the browser and lands on its dashboard. */
export async function signedInClient(page: Page, request: APIRequestContext, name: string): Promise<InvitedClient> {
  const provider = await verifiedProvider(request);
  const email = uniqueEmail('client');
  const invited = await call(request, 'POST', '/provider/clients', provider.token, { email, name });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);
  await page.goto(await mailedLink(email, 'invite', 'invite'));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: `Welcome, ${name}` })).toBeVisible();
  return { provider, email, id: invited.body.id };
}
