/**
 * The request budget a source's platform enforces, where one limits how fast recordings can be archived
 * (its descriptor's `worker.rateBudget`), with what this installation spends of it: deletes at the
 * source, and the sweep's listing at its configured cadence. Platforms that throttle with 429s but
 * publish no fixed budget have none.
 */
import { type CallvaultConfig, retentionFor } from '../config';
import type { SweepListingLoad } from '../core/budget-forecast';
import { sweepPassesPerDay } from '../core/sweep-cadence';
import { descriptorOf } from '../providers';

export interface RateBudget {
  requestsPerMinute: number;
  requestsPerRecording: number;
  /** Absent when the sweep is off: then only the recordings spend the budget. */
  listing?: SweepListingLoad;
}

export function rateBudgetOf(
  config: CallvaultConfig,
  source: CallvaultConfig['sources'][number],
): RateBudget | undefined {
  const budget = descriptorOf(source.provider).worker.rateBudget;
  if (!budget) return undefined;
  const { listing, ...spend } = budget(source as never, {
    deletesAtSource: retentionFor(config, source)?.dryRun === false,
  });
  if (!listing || !config.sweep.enabled) return spend;
  return { ...spend, listing: { ...listing, passes: sweepPassesPerDay(config.sweep) } };
}
