// Booking and the client's appointments in Chromium against the real server: the provider is
// set up through the API (working hours, the invitation, confirmations), the client acts in the
// browser, finding everything by role and accessible name.
import type { APIRequestContext, Page } from '@playwright/test';
import { call, expect, expectAccessible, signedInClient, test, type InvitedClient } from './support';

const ZONE = 'America/New_York'; // the providers' zone (the default); the browser is in London

/** The provider's calendar day and clock time of an instant. */
function local(ms: number): { date: string; time: string; weekday: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: ZONE,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'long',
      hourCycle: 'h23',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}`, weekday: parts.weekday };
}

/** A day at least `days` ahead in the provider's zone that is (or is not) a Sunday. */
function dayAhead(days: number, sunday: boolean): string {
  for (let d = days; ; d++) {
    const l = local(Date.now() + d * 86_400_000);
    if ((l.weekday === 'Sunday') === sunday) return l.date;
  }
}

/** Monday to Saturday 09:00-17:00 in hourly slots, Sunday off. */
async function workingHours(request: APIRequestContext, token: string): Promise<void> {
  const open = { enabled: true, startTime: '09:00', endTime: '17:00', breakStart: null, breakEnd: null };
  const res = await request.fetch('/api/provider/working-hours', {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}` },
    data: {
      monday: open,
      tuesday: open,
      wednesday: open,
      thursday: open,
      friday: open,
      saturday: open,
      sunday: { enabled: false },
      slotDuration: 60,
    },
  });
  expect(res.status(), await res.text()).toBe(200);
}

async function clientWithHours(page: Page, request: APIRequestContext, name: string): Promise<InvitedClient> {
  const client = await signedInClient(page, request, name);
  await workingHours(request, client.provider.token);
  return client;
}

/** The slot button of a 24-hour time. */
const slot = (page: Page, time: string) => page.getByRole('button', { name: new RegExp(`^${time}\\b`) });

async function providerAppointments(request: APIRequestContext, client: InvitedClient, date: string) {
  const res = await call(request, 'GET', `/provider/appointments?date=${date}`, client.provider.token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Array<{ id: string; time: string; status: string; type: string; duration: number; videoLink: string }>;
}

test('a client books from the open slots, sees it confirmed, reschedules and cancels', async ({ page, request }) => {
  const client = await clientWithHours(page, request, 'Ada Lovelace');
  const day = dayAhead(7, false);

  await page.getByRole('link', { name: 'Book a session' }).click();
  await expect(page.getByRole('heading', { name: 'Book a session' })).toBeVisible();
  await expectAccessible(page, 'book, no day chosen');

  // without a day, then without a time: the form says what is missing, next to its control
  await page.getByRole('button', { name: 'Book appointment' }).click();
  await expect(page.getByRole('alert')).toContainText('Choose a day with open times.');
  await expect(page.getByLabel('Date')).toHaveAttribute('aria-invalid', 'true');
  await page.getByLabel('Date').fill(day);
  await expect(slot(page, '09:00')).toBeVisible();
  await expect(slot(page, '16:00')).toBeVisible();
  await expect(page.getByRole('button', { name: /^17:00/ })).toHaveCount(0);
  await expect(page.getByRole('group', { name: /Open times on .*America\/New York time/ })).toBeVisible();
  await page.getByRole('button', { name: 'Book appointment' }).click();
  await expect(page.getByRole('alert')).toContainText('Choose one of the open times.');
  await expect(page.locator('#time-error')).toContainText('Choose one of the open times.');

  await slot(page, '10:00').click();
  await expect(slot(page, '10:00')).toHaveAttribute('aria-pressed', 'true');
  await page.getByLabel('Initial consultation').check();
  await page.getByLabel('Notes for your provider (optional)').fill('First time; mornings suit me.');
  await expectAccessible(page, 'book, a time chosen');
  await page.getByRole('button', { name: 'Book appointment' }).click();

  // the booked session: pending, with its video link
  await expect(page.getByRole('heading', { name: 'Appointment' })).toBeVisible();
  await expect(page.getByRole('status')).toContainText('Your session is booked');
  await expect(page.getByText('Pending: waiting for your provider to confirm')).toBeVisible();
  const video = page.getByRole('link', { name: /^https?:\/\// });
  await expect(video).toBeVisible();
  await expect(page.getByText(/10:00.*America\/New York time/)).toBeVisible();
  await expect(page.getByText('Initial consultation, 60 minutes')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Join video' })).toHaveCount(0);
  await expectAccessible(page, 'appointment, pending');
  const id = new URL(page.url()).pathname.split('/').pop()!;

  const [booked] = await providerAppointments(request, client, day);
  expect(booked).toMatchObject({ id, time: '10:00', status: 'pending', type: 'Initial consultation', duration: 60 });
  await expect(video).toHaveAttribute('href', booked.videoLink);

  // the slot is gone from the day's open times
  await page.goto('/appointments/book');
  await page.getByLabel('Date').fill(day);
  await expect(slot(page, '09:00')).toBeVisible();
  await expect(slot(page, '10:00')).toHaveCount(0);

  // the provider confirms it through the API
  const confirmed = await call(request, 'PATCH', `/appointments/${id}`, client.provider.token, { status: 'confirmed' });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Appointments' }).click();
  await expect(page.getByRole('heading', { name: 'Appointments', level: 1 })).toBeVisible();
  const upcoming = page.getByRole('region', { name: 'Upcoming' });
  await expect(upcoming.getByRole('listitem')).toHaveCount(1);
  await expect(upcoming).toContainText('Confirmed');
  await expect(upcoming).toContainText('with Dr Ada Byron');
  await expect(page.getByRole('region', { name: 'Past and cancelled' })).toContainText('No past sessions yet.');
  await expectAccessible(page, 'appointments');

  // reschedule through the slots again: a confirmed session goes back to pending
  await upcoming.getByRole('link', { name: /10:00/ }).click();
  await expect(page.getByText('Confirmed', { exact: true })).toBeVisible();
  await page.getByRole('link', { name: 'Reschedule' }).click();
  await expect(page.getByRole('heading', { name: 'Reschedule' })).toBeVisible();
  await expect(page.getByLabel('Date')).toHaveValue(day);
  await expect(page.getByText('A new time needs your provider to confirm it again.')).toBeVisible();
  await expect(slot(page, '14:00')).toBeVisible();
  await expectAccessible(page, 'reschedule');
  await slot(page, '14:00').click();
  await page.getByRole('button', { name: 'Move appointment' }).click();
  await expect(page.getByRole('status')).toContainText('waits for your provider to confirm the new time');
  await expect(page.getByText(/\b2:00\sPM.*America\/New York time/)).toBeVisible();
  await expect(page.getByText('Pending: waiting for your provider to confirm')).toBeVisible();
  const [moved] = await providerAppointments(request, client, day);
  expect(moved).toMatchObject({ id, time: '14:00', status: 'pending', videoLink: booked.videoLink });

  // cancel, with a confirmation step that can be backed out of
  await page.getByRole('button', { name: 'Cancel appointment' }).click();
  await expect(page.getByRole('heading', { name: 'Cancel this session?' })).toBeFocused();
  await expectAccessible(page, 'appointment, cancel asked');
  await page.getByRole('button', { name: 'No, keep it' }).click();
  await expect(page.getByRole('heading', { name: 'Cancel this session?' })).toHaveCount(0);
  expect((await providerAppointments(request, client, day))[0].status).toBe('pending');
  await page.getByRole('button', { name: 'Cancel appointment' }).click();
  await page.getByRole('button', { name: 'Yes, cancel the session' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your session has been cancelled.' })).toBeVisible();
  await expect(page.getByText('Cancelled', { exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel appointment' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Reschedule' })).toHaveCount(0);
  expect((await providerAppointments(request, client, day))[0].status).toBe('cancelled');

  await page.getByRole('link', { name: 'All appointments' }).click();
  await expect(page.getByRole('region', { name: 'Upcoming' })).toContainText('You have no upcoming sessions.');
  await expect(page.getByRole('region', { name: 'Past and cancelled' })).toContainText('Cancelled');
  await expectAccessible(page, 'appointments, one cancelled');
});

test('a day without open times, and a time taken while the client chooses', async ({ page, request }) => {
  const client = await clientWithHours(page, request, 'Grace Hopper');
  await page.goto('/appointments');
  await expect(page.getByRole('region', { name: 'Upcoming' })).toContainText('You have no upcoming sessions.');
  await page.getByRole('link', { name: 'Book a session' }).click();

  // Sunday is the provider's day off
  await page.getByLabel('Date').fill(dayAhead(2, true));
  await expect(page.getByRole('status')).toContainText('There are no open times on Sunday');
  await expectAccessible(page, 'book, no open times');

  const day = dayAhead(3, false);
  await page.getByLabel('Date').fill(day);
  await slot(page, '11:00').click();
  // meanwhile the provider books 11:00 for someone (here: this client, confirmed at once)
  const taken = await call(request, 'POST', '/provider/appointments', client.provider.token, {
    clientId: client.id,
    date: day,
    time: '11:00',
    duration: 60,
  });
  expect(taken.status, JSON.stringify(taken.body)).toBe(201);
  await page.getByRole('button', { name: 'Book appointment' }).click();
  await expect(page.getByRole('alert')).toContainText('The provider already has an appointment at that time.');
  await expect(page.getByRole('alert')).toBeFocused();
  // the open times are asked for again: 11:00 is no longer offered
  await expect(slot(page, '12:00')).toBeVisible();
  await expect(slot(page, '11:00')).toHaveCount(0);
  await expectAccessible(page, 'book, slot taken');
  await slot(page, '12:00').click();
  await page.getByRole('button', { name: 'Book appointment' }).click();
  await expect(page.getByText('Pending: waiting for your provider to confirm')).toBeVisible();
  await expect(page.getByText('Video Session, 60 minutes')).toBeVisible();
});

test('one request too many waiting for confirmation: the limit explained', async ({ page, request }) => {
  const limits = process.env.PORTAL_LIMITS_URL;
  test.skip(!limits, 'PORTAL_LIMITS_URL (the server with the production booking limits) is not set');
  await clientWithHours(page, request, 'Hedy Lamarr');
  // the same portal and API with the default limits; the session cookie belongs to the host,
  // whatever the port, so the client is signed in there too
  await page.goto(`${limits}/appointments/book`);
  await expect(page.getByRole('heading', { name: 'Book a session' })).toBeVisible();
  const day = dayAhead(4, false);
  const answers = await page.evaluate(async (date) => {
    const csrf = decodeURIComponent(/(?:^|; )dp_csrf=([^;]*)/.exec(document.cookie)?.[1] ?? '');
    const out: number[] = [];
    for (const time of ['09:00', '10:00', '11:00']) {
      const res = await fetch('/api/client/appointments', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ date, time, duration: 60 }),
      });
      out.push(res.status);
    }
    return out;
  }, day);
  expect(answers).toEqual([201, 201, 201]);

  await page.getByLabel('Date').fill(day);
  await expect(slot(page, '09:00')).toHaveCount(0);
  await slot(page, '13:00').click();
  await page.getByRole('button', { name: 'Book appointment' }).click();
  await expect(page.getByRole('alert')).toContainText("You already have 3 appointments waiting for your provider's confirmation.");
  await expectAccessible(page, 'book, too many pending');
  await expect(slot(page, '13:00')).toHaveAttribute('aria-pressed', 'true');
});

test('"Join video" on a confirmed session that is about to start, from its mailed link', async ({ page, request }) => {
  const client = await clientWithHours(page, request, 'Katherine Johnson');
  // the provider's own booking (no notice needed) a few minutes from now
  const start = local(Date.now() + 5 * 60_000);
  const booked = await call(request, 'POST', '/provider/appointments', client.provider.token, {
    clientId: client.id,
    date: start.date,
    time: start.time,
    duration: 30,
  });
  expect(booked.status, JSON.stringify(booked.body)).toBe(201);
  const link: string = booked.body.videoLink;
  // the video service is not reached from the test machine: a stand-in answers for it
  await page.context().route(`${new URL(link).origin}/**`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<title>Video room</title>' }),
  );

  // the path of the link in the mails (PUBLIC_URL/appointments/<id>)
  await page.goto(`/appointments/${booked.body.id}`);
  await expect(page.getByText('Confirmed', { exact: true })).toBeVisible();
  const join = page.getByRole('button', { name: 'Join video' });
  await expect(join).toBeVisible();
  await expectAccessible(page, 'appointment, about to start');
  const [popup] = await Promise.all([page.waitForEvent('popup'), join.click()]);
  await expect.poll(() => popup.url()).toBe(link);
  await popup.close();

  // a session of another client is not found
  await page.goto('/appointments/00000000-0000-4000-8000-000000000000');
  await expect(page.getByRole('heading', { name: 'Appointment not found' })).toBeVisible();
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });

  test('booking fits the screen', async ({ page, request }) => {
    const client = await clientWithHours(page, request, 'Dorothy Vaughan');
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    const day = dayAhead(5, false);
    await page.getByRole('link', { name: 'Book a session' }).tap();
    await page.getByLabel('Date').fill(day);
    await expect(slot(page, '15:00')).toBeVisible();
    expect(await fits(), 'no sideways scrolling on the book screen').toBe(true);
    await expectAccessible(page, 'book on a phone');
    await slot(page, '15:00').tap();
    await page.getByRole('button', { name: 'Book appointment' }).tap();
    await expect(page.getByText('Pending: waiting for your provider to confirm')).toBeVisible();
    await expect(page.getByRole('link', { name: /^https?:\/\// })).toBeVisible();
    expect(await fits(), 'no sideways scrolling on the appointment (a long video link wraps)').toBe(true);
    await expectAccessible(page, 'appointment on a phone');
    const [booked] = await providerAppointments(request, client, day);
    expect(booked).toMatchObject({ time: '15:00', status: 'pending', type: 'Video Session' });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Appointments' }).tap();
    await expect(page.getByRole('region', { name: 'Upcoming' }).getByRole('listitem')).toHaveCount(1);
    expect(await fits(), 'no sideways scrolling on the appointments').toBe(true);
    await expectAccessible(page, 'appointments on a phone');
  });
});
