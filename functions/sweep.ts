/** Lambda entry: scheduled sweep → enqueue every recent recording that S3 lacks, per source. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import { rateBudgetOf } from './composition/rate-budgets';
import { forecastBudget } from './core/budget-forecast';
import { sweepAllSources } from './core/sweep-all-sources';
import { scheduledLookbackHours } from './core/sweep-cadence';
import {
  BUDGET_ARRIVALS_PER_DAY_METRIC,
  BUDGET_BACKLOG_GROWING_METRIC,
  BUDGET_CAPACITY_PER_DAY_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  SWEEP_SCOPES_NOT_COVERED_METRIC,
} from './observability/names';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

/** Stop this long before the Lambda deadline so the results are still recorded. */
const DEADLINE_MARGIN_MS = 10_000;

export function createSweepHandler(runtime: () => AwsRuntime, publish: Metrics = metrics) {
  return async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const { env, sources, store, queue, clock, ledger, pending, logger: log } = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    // A scheduled run is never a process's first in any sense that matters: the deep sweep comes by the clock.
    const lookbackHours = scheduledLookbackHours(clock.now(), env.config.sweep, false);
    log.info('sweeping', { lookbackHours });
    const { results, failed, partial, scopesNotCovered } = await sweepAllSources(
      lookbackHours,
      { sources, store, queue, ledger, clock, log, pending },
      signal,
    );
    // Every run publishes, 0 included, so the alarm clears once every user and extension is covered again.
    for (const result of results) {
      const perSource = publish.singleMetric();
      perSource.addDimension('source', result.sourceId);
      perSource.addMetric(SWEEP_SCOPES_NOT_COVERED_METRIC, MetricUnit.Count, result.notCovered.length);
    }
    publish.addMetric(SWEEP_SCOPES_NOT_COVERED_METRIC, MetricUnit.Count, scopesNotCovered);
    // Rate-limited sources: the sweep's window, scaled to a day, is the arrival rate; what it enqueued
    // (listed, not archived) is the backlog within that window.
    for (const result of results) {
      const source = env.config.sources.find((candidate) => candidate.id === result.sourceId);
      const budget = source && rateBudgetOf(env.config, source);
      if (!budget) continue;
      const forecast = forecastBudget({
        ...budget,
        arrivedLast24h: Math.round((result.listed * 24) / lookbackHours),
        backlog: result.enqueued,
        now: clock.now(),
      });
      // A single metric is published, and its dimensions cleared, at each addMetric: one per figure.
      for (const [name, value] of [
        [BUDGET_BACKLOG_GROWING_METRIC, forecast.verdict === 'grows' ? 1 : 0],
        [BUDGET_CAPACITY_PER_DAY_METRIC, forecast.capacityPerDay],
        [BUDGET_ARRIVALS_PER_DAY_METRIC, forecast.arrivedLast24h],
      ] as const) {
        const perSource = publish.singleMetric();
        perSource.addDimension('source', result.sourceId);
        perSource.addMetric(name, MetricUnit.Count, value);
      }
    }
    // A failed source makes the invocation fail, so the function's error alarm sees it. A partial one
    // does not: the other parts were swept, and the parts left out have their own metric and alarm.
    if (failed.length > 0) throw new Error(`sweep failed for ${failed.join(', ')}`);
    return { results, partial };
  };
}

export const handler = middy(createSweepHandler(awsRuntime))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: false }));
