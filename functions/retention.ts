/** Lambda entry: scheduled retention → verify each old recording's copy, delete at the source, audit. */

import { randomUUID } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import { retentionTargets } from './config';
import { applyRetentionToAllSources } from './core/apply-retention-to-all-sources';
import { runExclusively } from './core/run-lease';
import {
  DUE_BUT_NOT_ARCHIVED_METRIC,
  DUE_BUT_NOT_ARCHIVED_TOTAL_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
} from './observability/names';

export { METRICS_NAMESPACE };

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

/** Stop this long before the Lambda deadline: the audit is flushed and the run recorded. */
const DEADLINE_MARGIN_MS = 30_000;
/** The lease outlives the deadline by this much, so a run that dies frees it a minute after. */
const LEASE_MARGIN_MS = 60_000;

function applyRetentionToSource(rt: AwsRuntime, signal: AbortSignal) {
  return applyRetentionToAllSources(
    {
      targets: retentionTargets(rt.env.config),
      sources: rt.sources,
      store: rt.store,
      queue: rt.queue,
      audit: rt.audit,
      catalogue: rt.outcomes,
      holds: rt.holds,
      killSwitch: rt.killSwitch,
      ledger: rt.ledger,
      clock: rt.clock,
      log: rt.logger,
    },
    signal,
  );
}

export function createRetentionHandler(runtime: () => AwsRuntime, publish: Metrics = metrics) {
  return async (_event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const rt = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? 15 * 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    // Two overlapping runs would pick the same due recordings and both delete them at the source
    // (doubling the platform's rate-limited calls and every cap) with interleaved audit trails. The
    // lease outlives this invocation's deadline, so a run that dies frees it soon after.
    const exclusive = await runExclusively(
      rt.runLeases,
      'retention',
      { holder: randomUUID(), ttlMs: remaining + LEASE_MARGIN_MS, clock: rt.clock },
      () => applyRetentionToSource(rt, signal),
    );
    if (!exclusive.ran) {
      rt.logger.warn('another retention run is still running; this one does nothing', {
        lease: 'state/leases/retention.json',
      });
      return { reports: [], skipped: 'another run holds the retention lease' };
    }
    const { reports, failed } = exclusive.result;
    for (const report of reports) {
      const perSource = publish.singleMetric();
      perSource.addDimension('source', report.sourceId);
      perSource.addMetric(DUE_BUT_NOT_ARCHIVED_METRIC, MetricUnit.Count, report.dueButNotArchived);
      publish.addMetric('RecordingsDeletedAtSource', MetricUnit.Count, report.deleted);
      publish.addMetric('RetentionSkipped', MetricUnit.Count, report.skipped);
      publish.addMetric(DUE_BUT_NOT_ARCHIVED_TOTAL_METRIC, MetricUnit.Count, report.dueButNotArchived);
    }
    if (failed.length > 0) throw new Error(`retention failed for ${failed.join(', ')}`);
    return { reports };
  };
}

export const handler = middy(createRetentionHandler(awsRuntime))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: false }));
