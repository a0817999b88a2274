/**
 * Which window a scheduled sweep lists (core/sweep-cadence.ts): recent most of the time, the whole
 * lookback on a process's first sweep and on the first sweep after each deep boundary (UTC, from the
 * epoch). Instants are pinned at calendar edges: the answer depends on the clock and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { forecastBudget } from '../../../functions/core/budget-forecast';
import {
  type SweepCadence,
  scheduledLookbackHours,
  sweepPassesPerDay,
} from '../../../functions/core/sweep-cadence';

const split: SweepCadence = {
  intervalSeconds: 300,
  lookbackHours: 48,
  recentLookbackHours: 6,
  deepEveryHours: 24,
};
const at = (iso: string) => new Date(iso);

describe('the window of a scheduled sweep', () => {
  it('is the whole lookback when no recent window is set, whatever the instant', () => {
    const { recentLookbackHours: _, ...every } = split;
    for (const instant of ['2028-02-29T00:01:00Z', '2026-12-31T23:59:59Z', '2027-06-15T12:34:56Z']) {
      expect(scheduledLookbackHours(at(instant), every, false)).toBe(48);
    }
  });

  it('is deep for the first sweep after each UTC day boundary and recent for the rest of the day', () => {
    // A leap day, a month end and a year end: the boundary is midnight UTC, whatever the local zone.
    for (const day of ['2028-02-29', '2026-11-30', '2026-12-31']) {
      expect(scheduledLookbackHours(at(`${day}T00:00:00Z`), split, false)).toBe(48);
      expect(scheduledLookbackHours(at(`${day}T00:04:59.999Z`), split, false)).toBe(48);
      expect(scheduledLookbackHours(at(`${day}T00:05:00Z`), split, false)).toBe(6);
      expect(scheduledLookbackHours(at(`${day}T23:59:59.999Z`), split, false)).toBe(6);
    }
  });

  it('makes exactly one deep sweep a day on a regular schedule, at any offset within the interval', () => {
    for (const offsetMs of [0, 1, 61_000, 299_999]) {
      let deep = 0;
      const start = Date.parse('2026-12-04T00:00:00Z') + offsetMs;
      for (let run = 0; run < 288 * 3; run += 1) {
        if (scheduledLookbackHours(new Date(start + run * 300_000), split, false) === 48) deep += 1;
      }
      expect(deep).toBe(3);
    }
  });

  it("is deep for a process's first sweep, which may follow downtime", () => {
    expect(scheduledLookbackHours(at('2026-12-04T13:00:00Z'), split, true)).toBe(48);
    expect(scheduledLookbackHours(at('2026-12-04T13:05:00Z'), split, false)).toBe(6);
  });

  it('follows a deep period longer than a day', () => {
    const weekly = { ...split, lookbackHours: 24 * 14, deepEveryHours: 24 * 7 };
    // Weeks counted from the epoch start on Thursdays, 00:00 UTC.
    expect(scheduledLookbackHours(at('2026-12-03T00:02:00Z'), weekly, false)).toBe(24 * 14);
    expect(scheduledLookbackHours(at('2026-12-04T00:02:00Z'), weekly, false)).toBe(6);
  });
});

describe('the sweeps a day the budget forecast charges for listing', () => {
  it('are one pass without a recent window, and recent plus deep with one', () => {
    const { recentLookbackHours: _, ...every } = split;
    expect(sweepPassesPerDay(every)).toEqual([{ sweepsPerDay: 288, lookbackHours: 48 }]);
    expect(sweepPassesPerDay(split)).toEqual([
      { sweepsPerDay: 287, lookbackHours: 6 },
      { sweepsPerDay: 1, lookbackHours: 48 },
    ]);
  });

  it('cut the listing of a busy RingCentral source from 6,912 to 885 Heavy requests a day', () => {
    // 12,000 a day: a 6-hour window holds 3,000 records (3 pages of 1,000), 287 times a day; the daily
    // 48-hour sweep lists 24,000 (24 pages). 861 + 24 = 885, against 24 pages 288 times a day.
    const heavy = { requestsPerMinute: 10, requestsPerRecording: 1, arrivedLast24h: 12_000, backlog: 0 };
    const listing = (cadence: SweepCadence) => ({
      recordsPerRequest: 1_000,
      scopes: 1,
      passes: sweepPassesPerDay(cadence),
    });
    const { recentLookbackHours: _, ...every } = split;
    const before = forecastBudget({ ...heavy, listing: listing(every), now: at('2026-12-04T00:00:00Z') });
    const after = forecastBudget({ ...heavy, listing: listing(split), now: at('2026-12-04T00:00:00Z') });
    expect(before).toMatchObject({ listingRequestsPerDay: 6_912, capacityPerDay: 7_488, verdict: 'grows' });
    expect(after).toMatchObject({ listingRequestsPerDay: 885, capacityPerDay: 13_515, verdict: 'keeps-up' });
  });
});
