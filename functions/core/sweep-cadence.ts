/**
 * Which window a scheduled sweep lists. Every sweep listing the whole lookback again is what a busy
 * rate-limited source cannot afford: RingCentral's call log costs one Heavy request per 1,000 records, so
 * 12,000 recordings a day over 48 hours, every 5 minutes, spends 6,912 of a 14,400-request day on listing
 * alone. With `recentLookbackHours` set, most sweeps list only the recent hours and one sweep a
 * `deepEveryHours` period (the first after each boundary, counted in UTC from the epoch, so every
 * process agrees without shared state) lists the whole `lookbackHours`. Webhooks stay the fast path;
 * the recent sweep catches what a lost webhook left out within the hour, and the deep one what was listed
 * late (a recording published hours after its call began).
 */

export interface SweepCadence {
  intervalSeconds: number;
  /** The deep window: how far back a sweep ever looks. */
  lookbackHours: number;
  /** The frequent window; absent: every sweep lists the deep window. */
  recentLookbackHours?: number;
  deepEveryHours: number;
}

/** One kind of sweep run: how often a day, over how many hours. */
export interface SweepPass {
  sweepsPerDay: number;
  lookbackHours: number;
}

const HOUR_MS = 3_600_000;

/**
 * The hours a scheduled sweep at `now` lists. Deep when there is no recent window, on a process's first
 * sweep (it may follow downtime), and on the first sweep at or after each `deepEveryHours` boundary.
 */
export function scheduledLookbackHours(now: Date, cadence: SweepCadence, first: boolean): number {
  const recent = cadence.recentLookbackHours;
  if (recent === undefined || recent >= cadence.lookbackHours || first) return cadence.lookbackHours;
  const periodMs = cadence.deepEveryHours * HOUR_MS;
  const at = now.getTime();
  const crossedBoundary =
    Math.floor(at / periodMs) !== Math.floor((at - cadence.intervalSeconds * 1000) / periodMs);
  return crossedBoundary ? cadence.lookbackHours : recent;
}

/** The sweeps a day of this cadence makes, by window: what the budget forecast charges for listing. */
export function sweepPassesPerDay(cadence: SweepCadence): SweepPass[] {
  const sweepsPerDay = 86_400 / cadence.intervalSeconds;
  const recent = cadence.recentLookbackHours;
  if (recent === undefined || recent >= cadence.lookbackHours) {
    return [{ sweepsPerDay, lookbackHours: cadence.lookbackHours }];
  }
  const deepPerDay = Math.min(sweepsPerDay, 24 / cadence.deepEveryHours);
  return [
    { sweepsPerDay: sweepsPerDay - deepPerDay, lookbackHours: recent },
    { sweepsPerDay: deepPerDay, lookbackHours: cadence.lookbackHours },
  ];
}
