/** Lambda entry: scheduled sweep → enqueue every recent recording that S3 lacks, per source. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type AwsRuntime, awsRuntime } from './adapters/aws-runtime';
import { logger } from './adapters/logger';
import { lookbackWindow, type SweepResult, sweepSource } from './core/sweep';

/** Stop this long before the Lambda deadline so the results are still reported. */
const DEADLINE_MARGIN_MS = 10_000;

export function createSweepHandler(runtime: () => AwsRuntime) {
  return async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const { env, sources, store, queue, clock, ledger, logger: log } = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    const window = lookbackWindow(clock.now(), env.config.sweep.lookbackHours);
    // One source failing (its API down, its secret unreadable) must not stop the others.
    const settled = await Promise.allSettled(
      sources.list().map(async ({ provider, id }) => {
        const startedAt = clock.now().toISOString();
        try {
          const result = await sweepSource(
            await sources.get(provider, id),
            window,
            { store, queue, log },
            signal,
          );
          await ledger.record({
            kind: 'sweep',
            sourceId: id,
            startedAt,
            endedAt: clock.now().toISOString(),
            outcome: 'ok',
            summary: { ...result },
          });
          return result;
        } catch (error) {
          await ledger.record({
            kind: 'sweep',
            sourceId: id,
            startedAt,
            endedAt: clock.now().toISOString(),
            outcome: 'failed',
            summary: { error: String(error) },
          });
          throw error;
        }
      }),
    );
    const results: SweepResult[] = [];
    const failures: string[] = [];
    settled.forEach((outcome, index) => {
      const source = sources.list()[index];
      if (outcome.status === 'fulfilled') results.push(outcome.value);
      else {
        failures.push(`${source?.provider}/${source?.id}`);
        log.error('sweep of a source failed', { source: source?.id, error: String(outcome.reason) });
      }
    });
    if (failures.length > 0) throw new Error(`sweep failed for ${failures.join(', ')}`);
    return { results };
  };
}

export const handler = middy(createSweepHandler(awsRuntime)).use(injectLambdaContext(logger));
