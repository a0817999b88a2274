/** UTC calendar days: how backfill walks a range and how status groups what it counts. */
import { InvalidInputError } from '../core/errors';
import type { TimeWindow } from '../core/recording';

const DAY_MS = 86_400_000;

/** Parses `YYYY-MM-DD` as the start of that UTC day; `what` names the option in the error. */
export function parseUtcDate(text: string | undefined, what: string): Date {
  if (!text) throw new InvalidInputError(`${what} is required (a UTC date, YYYY-MM-DD)`);
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])))
    : undefined;
  // Date.UTC rolls 2024-02-30 over to March; a round trip catches it.
  if (!date || Number.isNaN(date.getTime()) || dayKey(date) !== text) {
    throw new InvalidInputError(
      `${what} "${text}" is not a valid date; expected YYYY-MM-DD (UTC), e.g. 2024-03-01`,
    );
  }
  return date;
}

/** `YYYY-MM-DD` of the UTC day a moment falls in. */
export function dayKey(moment: Date): string {
  return moment.toISOString().slice(0, 10);
}

export function startOfUtcDay(moment: Date): Date {
  return new Date(Math.floor(moment.getTime() / DAY_MS) * DAY_MS);
}

/** The window of one UTC day, `[00:00, next 00:00)`. */
export function dayWindow(day: Date): TimeWindow {
  const from = startOfUtcDay(day);
  return { from, to: new Date(from.getTime() + DAY_MS) };
}

/** Every UTC day from `first` through `last`, both included, oldest first. */
export function daysBetween(first: Date, last: Date): Date[] {
  const days: Date[] = [];
  for (let t = startOfUtcDay(first).getTime(); t <= startOfUtcDay(last).getTime(); t += DAY_MS)
    days.push(new Date(t));
  return days;
}

/** The last `count` UTC days up to and including the one `now` falls in, oldest first. */
export function lastDays(now: Date, count: number): Date[] {
  const today = startOfUtcDay(now).getTime();
  return Array.from({ length: count }, (_, index) => new Date(today - (count - 1 - index) * DAY_MS));
}

/** Splits a window at UTC month boundaries (stats are asked per month for the dry run's breakdown). */
export function utcMonths(window: TimeWindow): { label: string; window: TimeWindow }[] {
  const months: { label: string; window: TimeWindow }[] = [];
  let from = window.from;
  while (from < window.to) {
    const next = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + 1, 1));
    const to = next < window.to ? next : window.to;
    months.push({ label: from.toISOString().slice(0, 7), window: { from, to } });
    from = to;
  }
  return months;
}

/** `recordings/.../{yyyy}/{mm}/{dd}/` and `audit/.../{yyyy}/{mm}/{dd}/` segments of a day. */
export function datePath(day: Date): string {
  return dayKey(day).replaceAll('-', '/');
}
