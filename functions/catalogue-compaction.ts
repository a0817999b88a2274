/**
 * Lambda entry: daily → merge each closed day of the catalogue into its one compacted file
 * (core/catalogue-compaction.ts), the same work as `npm run catalog -- --compact --aws`.
 */
import { randomUUID } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import {
  type CatalogueCompactionRuntime,
  catalogueCompactionRuntime,
} from './composition/catalogue-compaction-runtime';
import { type CompactionReport, compactClosedDays, firstOpenDay } from './core/catalogue-compaction';
import { runExclusively } from './core/run-lease';

/** Stop starting new days this long before the Lambda deadline; the next run takes the rest. */
const DEADLINE_MARGIN_MS = 60_000;
/** The lease outlives the deadline by this much, so a run that dies frees it a minute after. */
const LEASE_MARGIN_MS = 60_000;

export type CatalogueCompactionResult =
  | ({ beforeDay: string } & CompactionReport)
  | { beforeDay: string; skipped: string };

export function createCatalogueCompactionHandler(runtime: () => CatalogueCompactionRuntime) {
  return async (
    _event: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<CatalogueCompactionResult> => {
    const { storage, leases, clock, log } = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    const beforeDay = firstOpenDay(clock.now());
    // Two runs on one day would race: one could replace the compacted file with a copy that lacks the
    // records the other has just merged and removed. One run at a time, whatever Lambda's retries do.
    const exclusive = await runExclusively(
      leases,
      'catalogue-compaction',
      { holder: randomUUID(), ttlMs: remaining + LEASE_MARGIN_MS, clock },
      () => compactClosedDays(storage, { beforeDay, log, signal }),
    );
    if (!exclusive.ran) {
      log.warn('another catalogue compaction is still running; this one does nothing', { beforeDay });
      return { beforeDay, skipped: 'another run holds the catalogue-compaction lease' };
    }
    const report = exclusive.result;
    log.info('catalogue compaction done', { beforeDay, ...report });
    return { beforeDay, ...report };
  };
}

export const handler = middy(createCatalogueCompactionHandler(catalogueCompactionRuntime)).use(
  injectLambdaContext(logger),
);
