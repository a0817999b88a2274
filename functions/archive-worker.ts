/** Lambda entry: SQS batch of archive jobs → stream each recording into S3; partial batch failures. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from './adapters/logger';
import { processSqsBatch, queueRoutesFromUrls } from './adapters/sqs-batch-processor';
import { type WorkerRuntime, workerRuntime } from './composition/aws-worker-runtime';
import { continuationPlan } from './composition/continuation-plan';
import { noteAdminError } from './core/admin-errors';
import { handleArchiveJob, type JobOutcome } from './core/handle-job';
import { jobTarget } from './core/jobs';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './core/retry-policy';
import {
  DOWNLOADS_CONTINUED_METRIC,
  DOWNLOADS_RESTARTED_METRIC,
  EXPIRED_BEFORE_FETCH_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  PROVIDER_DIMENSION,
  RECORDINGS_ARCHIVED_METRIC,
  RECORDINGS_GONE_AT_SOURCE_METRIC,
} from './observability/names';

/**
 * Time kept in reserve before the Lambda deadline: enough to abort multipart uploads, change message
 * visibility and return the batch response.
 */
export const DEADLINE_MARGIN_MS = 20_000;
/** Time for the parts in flight to finish and the continuation to be queued (core/continuation.ts). */
export const CHECKPOINT_MARGIN_MS = 30_000;

const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });

/**
 * Granted recordings (Graph) dead-lettered because the platform no longer served them: each is a lost
 * recording, so the stack alarms on any data point above zero.
 */
export { EXPIRED_BEFORE_FETCH_METRIC };

/** `retryPolicy` shortens delays in tests; production uses the defaults. */
export function createArchiveWorkerHandler(
  runtime: () => WorkerRuntime,
  overrides: { retryPolicy?: Partial<RetryPolicy> } = {},
  publish: Metrics = metrics,
) {
  return async (
    event: SQSEvent,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<SQSBatchResponse> => {
    const {
      env,
      sqs,
      sources,
      store,
      queue,
      goneAtSource,
      expiredBeforeFetch,
      outcomes: catalogue,
      clock,
      ledger,
      logger: log,
    } = runtime();
    const remaining = context?.getRemainingTimeInMillis() ?? env.config.worker.timeoutSeconds * 1000;
    const deadline = AbortSignal.timeout(Math.max(1_000, remaining - DEADLINE_MARGIN_MS));
    // Downloads stop at a part boundary this long before the deadline and continue in the next invocation.
    const untilCheckpoint = Math.max(1_000, remaining - DEADLINE_MARGIN_MS - CHECKPOINT_MARGIN_MS);
    const continuation = continuationPlan(
      untilCheckpoint,
      env.config.lifecycle.abortIncompleteMultipartUploadsAfterDays,
    );
    return processSqsBatch(event.Records, {
      client: sqs,
      // Each queue's own redrive count (set by the stack); the config's for a queue it does not name.
      routeFor: queueRoutesFromUrls(env.queueUrls, env.deadLetterQueueUrls, env.maxReceiveCounts),
      maxReceiveCount: env.config.worker.maxReceiveCount,
      deadline,
      log,
      retryPolicy: { ...DEFAULT_RETRY_POLICY, ...overrides.retryPolicy },
      onDeadLettered: (code) => {
        if (code === 'EXPIRED_BEFORE_FETCH') {
          publish.addMetric(EXPIRED_BEFORE_FETCH_METRIC, MetricUnit.Count, 1);
        }
      },
      handleJob: async (job, signal) => {
        try {
          const outcome = await handleArchiveJob(
            job,
            { sources, store, queue, goneAtSource, expiredBeforeFetch, catalogue, clock, log, continuation },
            signal,
          );
          if (outcome.status !== 'hint-resolved') log.info(`recording ${outcome.status}`, { ...outcome });
          for (const counted of outcomeMetrics(outcome)) {
            const perProvider = publish.singleMetric();
            perProvider.addDimension(PROVIDER_DIMENSION, jobTarget(job).provider);
            perProvider.addMetric(counted, MetricUnit.Count, 1);
          }
        } catch (error) {
          // A job waiting on an administrator leaves no dead letter: status reads this record instead.
          await noteAdminError(job, error, { ledger, clock, log });
          throw error;
        }
      },
    });
  };
}

/** The per-provider counts a job's outcome adds to (observability/names.ts). */
export function outcomeMetrics(outcome: JobOutcome): string[] {
  const counted: string[] = [];
  if (outcome.status === 'archived') counted.push(RECORDINGS_ARCHIVED_METRIC);
  if (outcome.status === 'gone-at-source') counted.push(RECORDINGS_GONE_AT_SOURCE_METRIC);
  if (outcome.status === 'continued') counted.push(DOWNLOADS_CONTINUED_METRIC);
  if ('restarted' in outcome && outcome.restarted) counted.push(DOWNLOADS_RESTARTED_METRIC);
  return counted;
}

export const handler = middy(createArchiveWorkerHandler(workerRuntime))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: false }));
