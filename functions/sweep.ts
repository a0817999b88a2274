/** Lambda entry: scheduled sweep → enqueue every recent recording that S3 lacks, per source. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import { sweepAllSources } from './core/sweep-sources';

/** Stop this long before the Lambda deadline so the results are still recorded. */
const DEADLINE_MARGIN_MS = 10_000;

export function createSweepHandler(runtime: () => AwsRuntime) {
  return async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const { env, sources, store, queue, clock, ledger, logger: log } = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    const { results, failed } = await sweepAllSources(
      env.config.sweep.lookbackHours,
      { sources, store, queue, ledger, clock, log },
      signal,
    );
    // A failed source makes the invocation fail, so the function's error alarm sees it.
    if (failed.length > 0) throw new Error(`sweep failed for ${failed.join(', ')}`);
    return { results };
  };
}

export const handler = middy(createSweepHandler(awsRuntime)).use(injectLambdaContext(logger));
