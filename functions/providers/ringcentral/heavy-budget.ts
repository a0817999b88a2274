/**
 * RingCentral's Heavy group as callvault spends it: the call log, recording content and delete all
 * count against it (API reference, "Rate Limits"). Kept free of I/O so that the descriptor, and so the
 * config and the CDK app, can read it.
 */

/**
 * Slots are spaced a little wider than window / limit: evenly paced requests sit on the edge of a fixed
 * window, and a few milliseconds of network jitter would otherwise put one request too many in it.
 */
export const PACING_MARGIN = 1.05;

/** The spacing the gate keeps between Heavy slots for a budget of `perMinute`. */
export function pacedIntervalMs(perMinute: number): number {
  return Math.ceil((60_000 / perMinute) * PACING_MARGIN);
}

/** RingCentral's largest call-log page (`perPage`), which the adapter asks for: one Heavy request each. */
export const CALL_LOG_PAGE_SIZE = 1000;
