/**
 * Budget forecast for a rate-limited source (RingCentral's Heavy group, issue 16): how many recordings a
 * day the configured budget can archive, against how many arrived in the last 24 hours and how many wait,
 * and so when the backlog clears or that it grows. Plain arithmetic: the caller supplies the counts.
 */

export interface BudgetForecastInput {
  /** The budget, in platform requests a minute (RingCentral: `rateLimits.heavyPerMinute`). */
  requestsPerMinute: number;
  /** Budgeted requests each archived recording spends (RingCentral: its one content download). */
  requestsPerRecording: number;
  /** Recordings the source received in the 24 hours before `now`. */
  arrivedLast24h: number;
  /** Recordings the source holds that the archive lacks. */
  backlog: number;
  now: Date;
}

export type BudgetForecast = {
  /** Recordings a day the budget can archive: whole requests, whole recordings. */
  capacityPerDay: number;
  arrivedLast24h: number;
  backlog: number;
} & (
  | { verdict: 'keeps-up' }
  | { verdict: 'clears'; hoursToClear: number; clearsAt: string }
  | { verdict: 'grows'; growthPerDay: number }
);

const MINUTES_PER_DAY = 24 * 60;

export function forecastBudget(input: BudgetForecastInput): BudgetForecast {
  if (!(input.requestsPerMinute > 0) || !(input.requestsPerRecording > 0)) {
    throw new RangeError('a budget needs requestsPerMinute and requestsPerRecording above 0');
  }
  const capacityPerDay = Math.floor((input.requestsPerMinute * MINUTES_PER_DAY) / input.requestsPerRecording);
  const base = { capacityPerDay, arrivedLast24h: input.arrivedLast24h, backlog: input.backlog };
  const spare = capacityPerDay - input.arrivedLast24h;
  // Arrivals at or above capacity: nothing is left for the backlog, which can only grow (or, at exactly
  // capacity with none waiting, stay empty).
  if (spare <= 0) {
    if (spare === 0 && input.backlog === 0) return { ...base, verdict: 'keeps-up' };
    return { ...base, verdict: 'grows', growthPerDay: input.arrivedLast24h - capacityPerDay };
  }
  if (input.backlog === 0) return { ...base, verdict: 'keeps-up' };
  const hoursToClear = (input.backlog / spare) * 24;
  return {
    ...base,
    verdict: 'clears',
    hoursToClear: Math.round(hoursToClear * 10) / 10,
    clearsAt: new Date(input.now.getTime() + hoursToClear * 3_600_000).toISOString(),
  };
}

/** One line for `npm run status`. */
export function describeForecast(forecast: BudgetForecast): string {
  const head = `budget: ${forecast.capacityPerDay.toLocaleString('en-US')} recordings a day; ${forecast.arrivedLast24h.toLocaleString('en-US')} arrived in the last 24 h; ${forecast.backlog.toLocaleString('en-US')} waiting`;
  switch (forecast.verdict) {
    case 'keeps-up':
      return `${head}: keeps up`;
    case 'clears':
      return `${head}: clears in about ${forecast.hoursToClear} h (by ${forecast.clearsAt.slice(0, 16).replace('T', ' ')} UTC)`;
    case 'grows':
      return `${head}: the backlog GROWS by about ${forecast.growthPerDay.toLocaleString('en-US')} a day; raise the budget (the platform's plan and rateLimits) or expect it never to clear`;
  }
}
