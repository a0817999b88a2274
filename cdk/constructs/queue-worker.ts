import { type Duration, Validations } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { WorkerEventSourceSettings } from '../worker-sizing';
import type { Monitoring } from './monitoring';
import { NodeFunction } from './node-function';
import type { ProviderQueue } from './provider-queue';
import type { RecordingBucket } from './recording-bucket';
import type { SharedStateTable } from './shared-state-table';
import type { SourceSecrets } from './source-secrets';

/** One provider queue a worker consumes, and how (worker-sizing.ts). */
export interface ConsumedQueue extends WorkerEventSourceSettings {
  readonly providerQueue: ProviderQueue;
  /**
   * Its jobs carry a grant that expires: the oldest may wait at most this long, and an alarm says when one
   * has.
   * @default - no such limit: the stalled-queue alarm only
   */
  readonly fetchWithinSeconds?: number;
}

export interface QueueWorkerProps {
  readonly description: string;
  /** Powertools service name; also tags logs, traces and metrics. */
  readonly serviceName: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly logRetention: RetentionDays;
  readonly environment: Record<string, string>;
  /** Where it writes the copies (and their records). */
  readonly recordings: RecordingBucket;
  /** The queues it consumes: each gets an event source mapping and the worker's alarms. */
  readonly queues: readonly ConsumedQueue[];
  /** Its alarms: the queues' dead letters and age, its own errors and throttles. */
  readonly monitoring: Monitoring;
  /**
   * The sources' credentials.
   * @default - none: its jobs carry their own download grant
   */
  readonly secrets?: SourceSecrets;
  /**
   * Sessions and rate gates shared with every other container of a source.
   * @default - none
   */
  readonly sharedState?: SharedStateTable;
  /**
   * It records admin errors (a metered-API refusal keeps jobs waiting) for `npm run status`
   * (core/admin-errors.ts).
   * @default false
   */
  readonly recordsAdminErrors?: boolean;
}

/**
 * An archive worker and the provider queues it consumes: the function (functions/archive-worker.ts), one
 * SQS event source mapping per queue with that provider's batch and concurrency, the rights to re-enqueue
 * and dead-letter on those queues, and the alarms of the queues and the function.
 *
 * The queues themselves (ProviderQueue) are built before any function, since every function's environment
 * names all of them. The function keeps the construct id it is given, in the scope it is given, so its
 * resources keep their logical ids.
 */
export class QueueWorker extends NodeFunction {
  public readonly queues: readonly ProviderQueue[];

  constructor(scope: Construct, id: string, props: QueueWorkerProps) {
    super(scope, id, {
      entry: 'functions/archive-worker.ts',
      description: props.description,
      serviceName: props.serviceName,
      timeout: props.timeout,
      memorySize: props.memorySize,
      logRetention: props.logRetention,
      environment: props.environment,
    });
    Validations.of(this).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked only by SQS event source mappings, never asynchronously; failed jobs are dead-lettered by the queue redrive policy (and by the worker itself for permanent failures).',
      },
      {
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason:
          "Lambda does not support on-failure destinations for SQS event sources; the provider queue's redrive policy to its dead-letter queue plays that role.",
      },
    );
    props.recordings.grantArchive(this);
    props.secrets?.grantRead(this);
    props.sharedState?.grantReadWrite(this);
    if (props.recordsAdminErrors) props.recordings.grantRecordRuns(this, 'admin');

    for (const { providerQueue, batchSize, maxConcurrency } of props.queues) {
      // Consume (incl. ChangeMessageVisibility for its own backoff) and kms:Decrypt are granted by the source.
      this.addEventSource(
        new SqsEventSource(providerQueue.queue, { batchSize, maxConcurrency, reportBatchItemFailures: true }),
      );
      // Resolving a webhook hint enqueues one job per recording found; permanent failures are dead-lettered
      // by the worker itself, with the reason.
      providerQueue.grantSendJobs(this);
      providerQueue.grantSendDeadLetters(this);
    }
    this.queues = props.queues.map((consumed) => consumed.providerQueue);

    for (const { providerQueue, fetchWithinSeconds } of props.queues) {
      props.monitoring.watchQueue(providerQueue);
      if (fetchWithinSeconds !== undefined) props.monitoring.watchJobAge(providerQueue, fetchWithinSeconds);
    }
    props.monitoring.watchFunction(id, this, { throttles: true });
  }
}
