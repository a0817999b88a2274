/**
 * Lambda entry: after every deploy (a CDK trigger) and on a schedule → create, renew and repair the
 * webhook subscriptions of every source that has them, pointing at the webhook API.
 */

import { randomUUID } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import { parseWebhookFollowUp, runWebhookFollowUp } from './composition/webhook-follow-up';
import { ConfigError, ENV } from './config';
import { ensureSubscriptionsForAllSources } from './core/ensure-subscriptions-for-all-sources';
import { runExclusively } from './core/run-lease';
import { reportSetupProblems } from './core/source-setup';
import {
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  SUBSCRIPTION_FAILURES_METRIC,
  SUBSCRIPTIONS_NOT_ACTIVE_METRIC,
} from './observability/names';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

const DEADLINE_MARGIN_MS = 5_000;
/** The lease outlives the deadline by this much, so a run that dies frees it soon after. */
const LEASE_MARGIN_MS = 30_000;
/** A scheduled run waits this long for another one (a check takes seconds) before leaving it the work. */
const SCHEDULED_LEASE_WAIT_MS = 20_000;
/** What a lifecycle follow-up keeps for its own work after waiting for the lease. */
const FOLLOW_UP_WORK_MS = 40_000;

/** Sources without an active subscription after a run; the stack alarms when it is above 0. */
export { SUBSCRIPTIONS_NOT_ACTIVE_METRIC };

export function createSubscriptionsHandler(runtime: () => AwsRuntime, publish: Metrics = metrics) {
  return async (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const {
      env,
      sources,
      subscriptionRecords,
      store,
      queue,
      ledger,
      clock,
      runLeases,
      pending,
      logger: log,
    } = runtime();
    if (!env.webhookBaseUrl) throw new ConfigError(`environment variable ${ENV.webhookBaseUrl} is not set`);
    if (!subscriptionRecords) {
      throw new ConfigError(
        `the subscriptions function records what it created in the shared-state table; ${ENV.sharedStateTable} is not set`,
      );
    }
    const remaining = context?.getRemainingTimeInMillis() ?? 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    // From the webhook function: one source's follow-up (Teams lifecycle events, or a sweep for events it
    // could not interpret), acted on for that source only.
    const followUp = parseWebhookFollowUp(event);
    // One run at a time (two could both create a missing subscription), whatever Lambda's concurrency:
    // the deploy trigger, the schedule and follow-ups may all start together.
    const lease = (waitMs: number) => ({
      holder: randomUUID(),
      ttlMs: remaining + LEASE_MARGIN_MS,
      clock,
      waitMs,
      signal,
    });
    if (followUp) {
      const exclusive = await runExclusively(
        runLeases,
        'subscriptions',
        lease(Math.max(0, remaining - FOLLOW_UP_WORK_MS)),
        () =>
          runWebhookFollowUp(
            followUp,
            {
              webhookBaseUrl: env.webhookBaseUrl,
              lookbackHours: env.config.sweep.lookbackHours,
              sources,
              records: subscriptionRecords,
              store,
              queue,
              ledger,
              clock,
              log,
              pending,
            },
            signal,
          ),
      );
      // Thrown, not dropped: Lambda retries the asynchronous event (retryAttempts 2), by which time the
      // other run has ended.
      if (!exclusive.ran) {
        throw new Error(
          `another subscriptions run held the lease throughout; Lambda retries this ${followUp.sourceId} follow-up`,
        );
      }
      // The run's reports are in its log lines; the scheduled run after it publishes the metrics.
      const { lifecycle, swept } = exclusive.result;
      return { reports: [], failed: [], unmanaged: [], lifecycle, swept };
    }
    // After every deploy and on the schedule: set-up faults (a permission an app lacks) are logged with
    // their errorCode, so an app missing one is named before the first delivery goes missing.
    await reportSetupProblems(sources, log, signal);
    const webhookBaseUrl = env.webhookBaseUrl;
    const exclusive = await runExclusively(runLeases, 'subscriptions', lease(SCHEDULED_LEASE_WAIT_MS), () =>
      ensureSubscriptionsForAllSources(
        webhookBaseUrl,
        { sources, records: subscriptionRecords, clock, log, ledger },
        signal,
      ),
    );
    if (!exclusive.ran) {
      // The run holding the lease does the same work; its metrics stand.
      log.info('another subscriptions run is still running; this one leaves it the work');
      return { reports: [], failed: [], unmanaged: [], skipped: 'another run holds the subscriptions lease' };
    }
    const result = exclusive.result;
    for (const report of result.reports) {
      const perSource = publish.singleMetric();
      perSource.addDimension('source', report.sourceId);
      perSource.addMetric('SubscriptionsActive', MetricUnit.Count, report.active.length);
      publish.addMetric('SubscriptionsCreated', MetricUnit.Count, report.created.length);
    }
    for (const failure of result.failed) {
      const perSource = publish.singleMetric();
      perSource.addDimension('source', failure.sourceId);
      perSource.addMetric('SubscriptionsActive', MetricUnit.Count, 0);
    }
    // Not thrown: the deploy trigger would fail the deploy (the first one runs before any secret is
    // set). A failure is a metric and an `errorCode` log line, both alarmed; the sweep covers meanwhile.
    publish.addMetric(SUBSCRIPTION_FAILURES_METRIC, MetricUnit.Count, result.failed.length);
    // What the alarm watches: sources left without an active subscription (failed, or none active).
    // A part of a source (one Telphin extension's hook) that could not be put right counts too.
    const notActive =
      result.failed.length +
      result.reports.filter((report) => report.active.length === 0).length +
      result.reports.reduce((sum, report) => sum + (report.active.length > 0 ? report.failed.length : 0), 0);
    publish.addMetric(SUBSCRIPTIONS_NOT_ACTIVE_METRIC, MetricUnit.Count, notActive);
    return {
      reports: result.reports,
      failed: result.failed.map(({ provider, sourceId }) => ({ provider, sourceId })),
      unmanaged: result.unmanaged,
    };
  };
}

export const handler = middy(createSubscriptionsHandler(awsRuntime))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: false }));
