import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { LocalJobQueue } from '../adapters/local-job-queue';
import { S3RunLedger } from '../adapters/run-ledgers';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import { SqsJobQueue } from '../adapters/sqs-job-queue';
import { createLocalPipeline } from '../composition/local-pipeline';
import type { CallvaultConfig, CredentialsLoader } from '../config';
import type { Clock, Log } from '../core/ports';
import type { ProviderName } from '../core/recording';
import type { RetryPolicy } from '../core/retry-policy';
import type { SourceRegistry } from '../core/source-registry';
import type { BackfillTarget } from './backfill';

export interface LocalBackfillTarget extends BackfillTarget {
  sources: SourceRegistry;
  queue: LocalJobQueue;
  /** Stops the queue: in-flight jobs are aborted cleanly and pending ones saved for the next run. */
  close(): Promise<void>;
}

export async function createLocalBackfillTarget(
  config: CallvaultConfig,
  options: {
    log: Log;
    onArchived?: (size: number) => void;
    retryPolicy?: Partial<RetryPolicy>;
    credentials?: CredentialsLoader;
    clock?: Clock;
  },
): Promise<LocalBackfillTarget> {
  const { store, ledger, sources, queue } = await createLocalPipeline(config, {
    log: options.log,
    clock: options.clock,
    credentials: options.credentials,
    retryPolicy: options.retryPolicy,
    onOutcome: (outcome) => {
      if (outcome.status === 'archived') options.onArchived?.(outcome.size);
    },
  });
  queue.start();
  return {
    mode: 'local',
    store,
    queue,
    ledger,
    sources,
    drain: (signal) => untilAborted(queue.idle(), signal),
    close: () => queue.stop(),
  };
}

export function createAwsBackfillTarget(options: {
  config: CallvaultConfig;
  provider: ProviderName;
  bucket: string;
  queueUrl: string;
  s3: S3Client;
  sqs: SQSClient;
  log: Log;
}): BackfillTarget {
  const { config, s3 } = options;
  return {
    mode: 'aws',
    store: new S3ArchiveStore({
      client: s3,
      bucket: options.bucket,
      partSizeBytes: config.worker.partSizeMiB * 1024 * 1024,
      partsInFlight: config.worker.partsInFlight,
      log: options.log,
    }),
    queue: new SqsJobQueue({
      client: options.sqs,
      queueUrls: { [options.provider]: options.queueUrl },
      log: options.log,
    }),
    ledger: new S3RunLedger({ client: s3, bucket: options.bucket }),
  };
}

/** Settles like `work`, or rejects as soon as the signal aborts (the work goes on; the caller stops it). */
function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  // A queue stopped with jobs left rejects idle(); that is the expected end of an interrupted run.
  work.catch(() => {});
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
