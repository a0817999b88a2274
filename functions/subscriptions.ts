/**
 * Lambda entry: after every deploy (a CDK trigger) and on a schedule → create, renew and repair the
 * webhook subscriptions of every source that has them, pointing at the webhook API.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './adapters/logger';
import { type AwsRuntime, awsRuntime } from './composition/aws-runtime';
import {
  parseMsTeamsLifecycleFollowUp,
  runMsTeamsLifecycleFollowUp,
} from './composition/msteams-lifecycle-follow-up';
import { ConfigError, ENV } from './config';
import { manageSubscriptions } from './core/manage-subscriptions';
import { METRICS_NAMESPACE } from './retention';

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'callvault' });

const DEADLINE_MARGIN_MS = 5_000;

/** Sources without an active subscription after a run; the stack alarms when it is above 0. */
export const SUBSCRIPTIONS_NOT_ACTIVE_METRIC = 'SubscriptionsNotActive';

export function createSubscriptionsHandler(runtime: () => AwsRuntime, publish: Metrics = metrics) {
  return async (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>) => {
    const { env, sources, subscriptionRecords, store, queue, ledger, clock, logger: log } = runtime();
    if (!env.webhookBaseUrl) throw new ConfigError(`environment variable ${ENV.webhookBaseUrl} is not set`);
    if (!subscriptionRecords) {
      throw new ConfigError(
        `the subscriptions function records what it created in the shared-state table; ${ENV.sharedStateTable} is not set`,
      );
    }
    const remaining = context?.getRemainingTimeInMillis() ?? 60_000;
    const signal = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    // From the webhook function: one Teams source's lifecycle events, acted on for that source only.
    const followUp = parseMsTeamsLifecycleFollowUp(event);
    if (followUp) {
      const lifecycle = await runMsTeamsLifecycleFollowUp(
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
        },
        signal,
      );
      // The run's reports are in its log lines; the scheduled run after it publishes the metrics.
      return { reports: [], failed: [], unmanaged: [], lifecycle };
    }
    const result = await manageSubscriptions(
      env.webhookBaseUrl,
      { sources, records: subscriptionRecords, clock, log, ledger },
      signal,
    );
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
    publish.addMetric('SubscriptionFailures', MetricUnit.Count, result.failed.length);
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
