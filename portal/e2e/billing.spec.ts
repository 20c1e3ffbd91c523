// The client's Billing screen in Chromium against the real server, with the suite's Stripe
// fake behind the API and its Stripe.js stand-in in the page (t/fakes/stripe_js.js: Stripe's
// documented test cards, a 3-D Secure dialog whose outcome the fake announces to the API's
// webhook). Started by t/api/730_portal_billing.t, which creates the practice, the client and
// its invoices and names them in PORTAL_BILLING (JSON: email, password, invoices by role:
// {description, amount, id}).
import type { Locator, Page } from '@playwright/test';
import { expect, expectAccessible, test } from './support';

interface Fixture {
  email: string;
  password: string;
  invoices: Record<
    'visa' | 'declined' | 'threeDS' | 'threeDSFailed' | 'overdue',
    { description: string; amount: string; id: string }
  >;
}

const fixture: Fixture = JSON.parse(process.env.PORTAL_BILLING || '{}');

async function billingAsClient(page: Page): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email').fill(fixture.email);
  await page.getByLabel('Password').fill(fixture.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: /^Welcome/ })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Billing' }).click();
  await expect(page.getByRole('heading', { name: 'Billing', level: 1 })).toBeVisible();
}

/** The list item of an invoice, found by its heading (the description). */
function invoiceItem(page: Page, description: string): Locator {
  return page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: description, exact: true }) });
}

async function fillCard(item: Locator, number: string): Promise<void> {
  await item.getByLabel('Card number').fill(number);
  await item.getByLabel('Expiry date (MM / YY)').fill('12 / 34');
  await item.getByLabel('CVC').fill('123');
}

async function openCardForm(page: Page, role: keyof Fixture['invoices']): Promise<Locator> {
  const inv = fixture.invoices[role];
  const item = invoiceItem(page, inv.description);
  await item.getByRole('button', { name: 'Pay', exact: true }).click();
  await expect(item.getByRole('form', { name: `Pay ${inv.amount} by card` })).toBeVisible();
  await expect(item.getByLabel('Card number')).toBeFocused();
  return item;
}

test.beforeAll(() => {
  expect(fixture.email, 'PORTAL_BILLING names the client and its invoices').toBeTruthy();
});

test('a client sees its invoices and pays one by card', async ({ page }) => {
  await billingAsClient(page);
  for (const role of ['visa', 'declined', 'threeDS'] as const) {
    const item = invoiceItem(page, fixture.invoices[role].description);
    await expect(item).toContainText(fixture.invoices[role].amount);
    await expect(item).toContainText('Pending');
    await expect(item.getByRole('button', { name: 'Pay', exact: true })).toBeVisible();
  }
  await expect(invoiceItem(page, fixture.invoices.overdue.description)).toContainText('Overdue');
  await expectAccessible(page, 'billing');

  const inv = fixture.invoices.visa;
  const item = await openCardForm(page, 'visa');
  // Stripe.js came from its own origin (the one the page's policy lets in), added at run time
  const scripts = await page.evaluate(() => Array.from(document.scripts, (s) => s.src));
  const stripeJs = scripts.find((src) => src.endsWith('/v3/'));
  expect(stripeJs, `a Stripe.js script among ${scripts.join(', ')}`).toBeTruthy();
  expect(new URL(stripeJs as string).origin).not.toBe(new URL(page.url()).origin);
  await expectAccessible(page, 'billing with the card form');
  await fillCard(item, '4242 4242 4242 4242');
  await item.getByRole('button', { name: `Pay ${inv.amount}` }).click();
  const news = page.getByRole('status').filter({ hasText: `${inv.description} (${inv.amount}) is paid` });
  await expect(news).toBeVisible();
  await expect(news).toBeFocused();
  const paid = invoiceItem(page, inv.description);
  await expect(paid).toContainText('Paid');
  await expect(paid.getByRole('button', { name: 'Pay' })).toHaveCount(0);
  await expectAccessible(page, 'billing after paying');
});

test('a declined card is shown with Stripe\'s message and the invoice stays payable', async ({ page }) => {
  await billingAsClient(page);
  const inv = fixture.invoices.declined;
  let item = await openCardForm(page, 'declined');

  // a number that is no test card: Stripe.js refuses it before anything is sent
  await fillCard(item, '4111 1111 1111 1112');
  await item.getByRole('button', { name: `Pay ${inv.amount}` }).click();
  await expect(item.getByRole('alert')).toContainText('Your card was declined.');

  await fillCard(item, '4000 0000 0000 0002');
  await item.getByRole('button', { name: `Pay ${inv.amount}` }).click();
  await expect(item.getByRole('alert')).toHaveText('Your card was declined.');
  await expect(item).toContainText('Pending');
  await expect(item.getByRole('button', { name: `Pay ${inv.amount}` })).toBeEnabled();
  await expectAccessible(page, 'billing with a declined card');

  // still payable after a reload, and "Cancel" closes the form back onto "Pay"
  await page.reload();
  item = invoiceItem(page, inv.description);
  await expect(item).toContainText('Pending');
  await item.getByRole('button', { name: 'Pay', exact: true }).click();
  await item.getByRole('button', { name: 'Cancel' }).click();
  await expect(item.getByRole('button', { name: 'Pay', exact: true })).toBeFocused();
});

test('a card that needs 3-D Secure is confirmed in the bank\'s dialog, then reads paid', async ({ page }) => {
  await billingAsClient(page);
  const inv = fixture.invoices.threeDS;
  const item = await openCardForm(page, 'threeDS');
  await fillCard(item, '4000 0025 0000 3155');
  await item.getByRole('button', { name: `Pay ${inv.amount}` }).click();
  const dialog = page.getByRole('dialog', { name: '3D Secure test payment' });
  await expect(dialog).toBeVisible();
  await expect(item).toContainText('Waiting for your bank');
  await dialog.getByRole('button', { name: 'Complete authentication' }).click();
  await expect(page.getByRole('status').filter({ hasText: `${inv.description} (${inv.amount}) is paid` })).toBeVisible();
  await expect(invoiceItem(page, inv.description)).toContainText('Paid');
});

test('a 3-D Secure step the card holder fails leaves the invoice payable', async ({ page }) => {
  await billingAsClient(page);
  const inv = fixture.invoices.threeDSFailed;
  const item = await openCardForm(page, 'threeDSFailed');
  await fillCard(item, '4000 0025 0000 3155');
  await item.getByRole('button', { name: `Pay ${inv.amount}` }).click();
  const dialog = page.getByRole('dialog', { name: '3D Secure test payment' });
  await dialog.getByRole('button', { name: 'Fail authentication' }).click();
  await expect(item.getByRole('alert')).toContainText('We are unable to authenticate your payment method.');
  await expect(item).toContainText('Pending');
  await expect(item.getByRole('button', { name: `Pay ${inv.amount}` })).toBeEnabled();
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test('an overdue invoice is paid on a phone-sized screen', async ({ page }) => {
    await billingAsClient(page);
    const inv = fixture.invoices.overdue;
    const item = await openCardForm(page, 'overdue');
    const fits = () =>
      page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
    expect(await fits(), 'nothing wider than the screen').toBe(true);
    await expectAccessible(page, 'billing with the card form on a phone');
    await fillCard(item, '4242 4242 4242 4242');
    await item.getByRole('button', { name: `Pay ${inv.amount}` }).tap();
    await expect(page.getByRole('status').filter({ hasText: `${inv.description} (${inv.amount}) is paid` })).toBeVisible();
    await expect(invoiceItem(page, inv.description)).toContainText('Paid');
    expect(await fits(), 'nothing wider than the screen after paying').toBe(true);
  });
});

test('without a publishable key the invoices show and card payment is said to be off', async ({ page }) => {
  // the instance's answer as it is when DocPortalStripePublishableKey is not set
  await page.route('**/api/billing/config', async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, json: { ...(await res.json()), publishableKey: null } });
  });
  await billingAsClient(page);
  await expect(page.getByText('Card payment is not set up')).toBeVisible();
  await expect(invoiceItem(page, fixture.invoices.declined.description)).toContainText('Pending');
  await expect(page.getByRole('button', { name: 'Pay' })).toHaveCount(0);
  await expectAccessible(page, 'billing without card payment');
});
