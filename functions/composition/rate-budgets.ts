/**
 * The request budget a source's platform enforces, where one limits how fast recordings can be archived
 * (its descriptor's `worker.rateBudget`). Platforms that throttle with 429s but publish no fixed budget
 * have none.
 */
import type { CallvaultConfig } from '../config';
import { descriptorOf } from '../providers';

export interface RateBudget {
  requestsPerMinute: number;
  requestsPerRecording: number;
}

export function rateBudgetOf(source: CallvaultConfig['sources'][number]): RateBudget | undefined {
  const budget = descriptorOf(source.provider).worker.rateBudget;
  return budget ? { ...budget(source as never) } : undefined;
}
