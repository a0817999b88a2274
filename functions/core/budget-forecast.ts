/**
 * Budget forecast for a rate-limited source (RingCentral's Heavy group): how many recordings a day the
 * configured budget can archive, against how many arrived in the last 24 hours and how many wait, and so
 * when the backlog clears or that it grows. Plain arithmetic: the caller supplies the counts.
 *
 * The sweep's own listing spends the same budget, and it grows with the arrivals: every sweep lists its
 * window again, one request per page. That share comes off the top before recordings are counted, so a
 * busy source is told that it falls behind instead of being promised the raw budget.
 */
import type { SweepPass } from './sweep-cadence';

/** How the sweep lists a source: the requests it spends come from the same budget. */
export interface SweepListingLoad {
  /** Records one listing request returns at most (RingCentral: a call-log page of 1,000). */
  recordsPerRequest: number;
  /** Listings each sweep makes (one per scope: the account, or each configured extension). */
  scopes: number;
  /** The sweeps a day by window (core/sweep-cadence.ts: recent sweeps and the deep ones). */
  passes: readonly SweepPass[];
}

export interface BudgetForecastInput {
  /**
   * Platform requests a minute the source's pacing actually lets through (RingCentral: `heavyPerMinute`
   * spaced a little wider by the rate gate), not the plan's nominal figure.
   */
  requestsPerMinute: number;
  /** Budgeted requests each archived recording spends (RingCentral: download, plus lookups and deletes). */
  requestsPerRecording: number;
  /** The sweep's listing, when the sweep runs; absent: nothing else spends the budget. */
  listing?: SweepListingLoad;
  /** Recordings the source received in the 24 hours before `now`. */
  arrivedLast24h: number;
  /** Recordings the source holds that the archive lacks. */
  backlog: number;
  now: Date;
}

export type BudgetForecast = {
  /** Recordings a day the budget can archive once the listing took its share: whole recordings. */
  capacityPerDay: number;
  /** Requests a day the sweep's listing spends at the current arrival rate (0 without a sweep). */
  listingRequestsPerDay: number;
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
  const listingRequestsPerDay = input.listing
    ? listingRequestsPerDayOf(input.listing, input.arrivedLast24h)
    : 0;
  const forRecordings = Math.max(0, input.requestsPerMinute * MINUTES_PER_DAY - listingRequestsPerDay);
  const capacityPerDay = Math.floor(forRecordings / input.requestsPerRecording);
  const base = {
    capacityPerDay,
    listingRequestsPerDay,
    arrivedLast24h: input.arrivedLast24h,
    backlog: input.backlog,
  };
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

/**
 * Each sweep lists its window per scope, at least one request each even when empty; arrivals are taken
 * as spread evenly over the window and the scopes.
 */
function listingRequestsPerDayOf(listing: SweepListingLoad, arrivedPerDay: number): number {
  let requests = 0;
  for (const pass of listing.passes) {
    const perScopeInWindow = (arrivedPerDay * pass.lookbackHours) / 24 / Math.max(1, listing.scopes);
    const requestsPerSweep =
      listing.scopes * Math.max(1, Math.ceil(perScopeInWindow / listing.recordsPerRequest));
    requests += requestsPerSweep * pass.sweepsPerDay;
  }
  return Math.ceil(requests);
}

/** One line for `npm run status`. */
export function describeForecast(forecast: BudgetForecast): string {
  const count = (value: number) => value.toLocaleString('en-US');
  const listing =
    forecast.listingRequestsPerDay > 0
      ? ` (after the sweep's ${count(forecast.listingRequestsPerDay)} listing requests a day)`
      : '';
  const head = `budget: ${count(forecast.capacityPerDay)} recordings a day${listing}; ${count(forecast.arrivedLast24h)} arrived in the last 24 h; ${count(forecast.backlog)} waiting`;
  switch (forecast.verdict) {
    case 'keeps-up':
      return `${head}: keeps up`;
    case 'clears':
      return `${head}: clears in about ${forecast.hoursToClear} h (by ${forecast.clearsAt.slice(0, 16).replace('T', ' ')} UTC)`;
    case 'grows':
      return `${head}: the backlog GROWS by about ${count(forecast.growthPerDay)} a day; raise the budget (the platform's plan and rateLimits), sweep less often or set sweep.recentLookbackHours, or expect it never to clear`;
  }
}
