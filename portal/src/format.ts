// Dates, times and money for people: the browser's locale (Intl), appointment times in the
// provider's time zone, with the zone named when it is not the browser's.

const browserZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** "Tuesday, 14 May 2024 at 10:00" in the given zone (plus the zone's name when it differs). */
export function formatDateTime(instant: string, timeZone: string): string {
  const differs = timeZone !== browserZone();
  const text = new Intl.DateTimeFormat(undefined, {
    dateStyle: 'full',
    timeStyle: 'short',
    timeZone,
  }).format(new Date(instant));
  return differs ? `${text} (${timeZone.replace(/_/g, ' ')} time)` : text;
}

/** An amount with its currency, e.g. "$149.99". */
export function formatMoney(amount: number, currency: string): string {
  return new Intl.NumberFormat(undefined, {
    style: 'currency',
    currency: currency.toUpperCase(),
  }).format(amount);
}
