/** The budget forecast's arithmetic (core/budget-forecast.ts), at a pinned instant. */
import { describe, expect, it } from 'vitest';
import { describeForecast, forecastBudget } from '../../../functions/core/budget-forecast';

const NOW = new Date('2026-03-15T22:30:00Z');
const HEAVY = { requestsPerMinute: 10, requestsPerRecording: 1, now: NOW };

describe('the budget forecast', () => {
  it("turns RingCentral's default Heavy budget into 14,400 recordings a day", () => {
    expect(forecastBudget({ ...HEAVY, arrivedLast24h: 0, backlog: 0 })).toEqual({
      capacityPerDay: 14_400,
      listingRequestsPerDay: 0,
      arrivedLast24h: 0,
      backlog: 0,
      verdict: 'keeps-up',
    });
    expect(
      forecastBudget({
        requestsPerMinute: 10,
        requestsPerRecording: 3,
        now: NOW,
        arrivedLast24h: 0,
        backlog: 0,
      }).capacityPerDay,
    ).toBe(4_800);
  });

  it('says when a backlog clears with the spare capacity, across midnight', () => {
    // 14,400 − 12,000 = 2,400 spare a day = 100 an hour: 300 waiting clear in 3 h.
    const forecast = forecastBudget({ ...HEAVY, arrivedLast24h: 12_000, backlog: 300 });
    expect(forecast).toMatchObject({
      verdict: 'clears',
      hoursToClear: 3,
      clearsAt: '2026-03-16T01:30:00.000Z',
    });
    expect(describeForecast(forecast)).toBe(
      'budget: 14,400 recordings a day; 12,000 arrived in the last 24 h; 300 waiting: clears in about 3 h (by 2026-03-16 01:30 UTC)',
    );
  });

  it('says the backlog grows when more arrive than the budget archives', () => {
    const forecast = forecastBudget({ ...HEAVY, arrivedLast24h: 20_000, backlog: 5 });
    expect(forecast).toMatchObject({ verdict: 'grows', growthPerDay: 5_600 });
    expect(describeForecast(forecast)).toContain('GROWS by about 5,600 a day');
    // Exactly at capacity: an empty backlog stays empty, a waiting one never shrinks.
    expect(forecastBudget({ ...HEAVY, arrivedLast24h: 14_400, backlog: 0 }).verdict).toBe('keeps-up');
    expect(forecastBudget({ ...HEAVY, arrivedLast24h: 14_400, backlog: 1 })).toMatchObject({
      verdict: 'grows',
      growthPerDay: 0,
    });
  });

  it("takes the sweep's listing off the top, growing with the arrivals", () => {
    // The defaults: a sweep every 5 min (288 a day) lists 48 h again. 12,000 a day put 24,000 records in
    // the window: 24 pages of 1,000 each sweep, 6,912 Heavy requests a day before any download.
    const listing = {
      recordsPerRequest: 1_000,
      scopes: 1,
      passes: [{ sweepsPerDay: 288, lookbackHours: 48 }],
    };
    const busy = forecastBudget({ ...HEAVY, listing, arrivedLast24h: 12_000, backlog: 0 });
    expect(busy).toMatchObject({ listingRequestsPerDay: 6_912, capacityPerDay: 7_488, verdict: 'grows' });
    expect(describeForecast(busy)).toContain(
      "budget: 7,488 recordings a day (after the sweep's 6,912 listing requests a day); 12,000 arrived",
    );
    // A quiet source still pays one page per sweep and scope, even for an empty window.
    const quiet = forecastBudget({
      ...HEAVY,
      listing: { ...listing, scopes: 3 },
      arrivedLast24h: 0,
      backlog: 0,
    });
    expect(quiet).toMatchObject({ listingRequestsPerDay: 864, capacityPerDay: 13_536, verdict: 'keeps-up' });
    // Listing that needs more than the whole budget leaves nothing for recordings.
    const starved = forecastBudget({ ...HEAVY, listing, arrivedLast24h: 60_000, backlog: 0 });
    expect(starved).toMatchObject({ capacityPerDay: 0, verdict: 'grows', growthPerDay: 60_000 });
  });

  it('refuses a budget of nothing', () => {
    expect(() => forecastBudget({ ...HEAVY, requestsPerMinute: 0, arrivedLast24h: 0, backlog: 0 })).toThrow(
      RangeError,
    );
  });
});
