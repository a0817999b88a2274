/**
 * The request budget a source's platform enforces, where one limits how fast recordings can be archived
 * (issue 16's budget forecast). RingCentral: `rateLimits.heavyPerMinute` of the Heavy group, which each
 * recording's content download spends once (the call-log listing pages are Heavy too, but one page holds
 * up to a thousand records). The other platforms throttle with 429s but publish no fixed budget.
 */
import type { CallvaultConfig } from '../config';

export interface RateBudget {
  requestsPerMinute: number;
  requestsPerRecording: number;
}

export const RINGCENTRAL_HEAVY_REQUESTS_PER_RECORDING = 1;

export function rateBudgetOf(source: CallvaultConfig['sources'][number]): RateBudget | undefined {
  if (source.provider !== 'ringcentral') return undefined;
  return {
    requestsPerMinute: source.rateLimits.heavyPerMinute,
    requestsPerRecording: RINGCENTRAL_HEAVY_REQUESTS_PER_RECORDING,
  };
}
