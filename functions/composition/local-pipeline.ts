/**
 * The local composition root: storage (a folder, or a bucket when `storage.s3` is set), sources with
 * inline credentials, and the in-process queue whose jobs run the archive use case. `npm start`, local
 * backfill and local status all build their pipeline here.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { FsCatalogueStorage, S3CatalogueStorage } from '../adapters/catalogue-storage';
import { FsArchiveStore } from '../adapters/fs-archive-store';
import { FsAuditLog } from '../adapters/fs-audit-log';
import { FsHoldStore } from '../adapters/fs-legal-hold';
import {
  FsExpiredBeforeFetchLog,
  FsGoneAtSourceLog,
  S3ExpiredBeforeFetchLog,
  S3GoneAtSourceLog,
} from '../adapters/gone-at-source-logs';
import { fileKillSwitch } from '../adapters/kill-switch';
import { LocalJobQueue } from '../adapters/local-job-queue';
import { FsRunLedger, S3RunLedger } from '../adapters/run-ledgers';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import { S3AuditLog } from '../adapters/s3-audit-log';
import { S3HoldStore } from '../adapters/s3-legal-hold';
import type { CallvaultConfig, CredentialsLoader, ProviderDescriptors } from '../config';
import { noteAdminError } from '../core/admin-errors';
import type { CatalogueWriter } from '../core/catalogue';
import type { CatalogueStorage } from '../core/catalogue-compaction';
import type { ContinuationPlan } from '../core/continuation';
import { handleArchiveJob, type JobOutcome } from '../core/handle-job';
import type { ArchiveJob } from '../core/jobs';
import type { HoldRegistry } from '../core/legal-hold';
import type {
  ArchiveStore,
  AuditLog,
  Clock,
  ExpiredBeforeFetchLog,
  GoneAtSourceLog,
  KillSwitch,
  Log,
  RunLedger,
} from '../core/ports';
import { systemClock } from '../core/ports';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry-policy';
import type { SourceRegistry } from '../core/source-registry';
import { continuationPlan } from './continuation-plan';
import { localOutcomeEvents, withOutcomeEvents } from './outcome-events';
import { buildSourceRegistry, inlineCredentials } from './sources';

export interface LocalStorage {
  store: ArchiveStore;
  audit: AuditLog;
  ledger: RunLedger;
  goneAtSource: GoneAtSourceLog;
  expiredBeforeFetch: ExpiredBeforeFetchLog;
  /** The catalogue under `catalog/`, beside the recordings. */
  catalogue: CatalogueStorage;
  /** callvault's own hold records (`npm run hold`), which retention honours. */
  holds: HoldRegistry;
}

/** The archive folder by default; the configured bucket when `storage.s3` is set. Audit and ledger live beside it. */
export function createStorage(config: CallvaultConfig, log: Log): LocalStorage {
  const target = config.storage.s3;
  const partSizeBytes = config.worker.partSizeMiB * 1024 * 1024;
  if (!target) {
    const root = config.local.archiveDir;
    return {
      store: new FsArchiveStore({ root, log }),
      audit: new FsAuditLog({ root }),
      ledger: new FsRunLedger({ root }),
      goneAtSource: new FsGoneAtSourceLog({ root }),
      expiredBeforeFetch: new FsExpiredBeforeFetchLog({ root }),
      catalogue: new FsCatalogueStorage({ root }),
      holds: new FsHoldStore({ root }),
    };
  }
  const client = new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    forcePathStyle: target.forcePathStyle,
  });
  return {
    store: new S3ArchiveStore({
      client,
      bucket: target.bucket,
      partSizeBytes,
      partsInFlight: config.worker.partsInFlight,
      log,
    }),
    audit: new S3AuditLog({ client, bucket: target.bucket }),
    ledger: new S3RunLedger({ client, bucket: target.bucket }),
    goneAtSource: new S3GoneAtSourceLog({ client, bucket: target.bucket }),
    expiredBeforeFetch: new S3ExpiredBeforeFetchLog({ client, bucket: target.bucket }),
    catalogue: new S3CatalogueStorage({ client, bucket: target.bucket }),
    holds: new S3HoldStore({ client, bucket: target.bucket }),
  };
}

export function createStore(config: CallvaultConfig, log: Log): ArchiveStore {
  return createStorage(config, log).store;
}

/** Local kill switch: the file `{stateDir}/KILL` stops every retention delete while it exists. */
export function localKillSwitch(config: CallvaultConfig): KillSwitch {
  return fileKillSwitch(join(config.local.stateDir, 'KILL'), existsSync);
}

/**
 * The local host's deadline per job (`local.jobDeadlineSeconds`): a fresh plan for each job, whose
 * checkpoint fires that long after the job starts. Only with `storage.s3`: the archive folder has no
 * multipart upload to leave open, so its downloads always run to their end.
 */
export function localContinuation(config: CallvaultConfig): (() => ContinuationPlan) | undefined {
  const seconds = config.local.jobDeadlineSeconds;
  if (seconds === undefined || !config.storage.s3) return undefined;
  return () => continuationPlan(seconds * 1000, config.lifecycle.abortIncompleteMultipartUploadsAfterDays);
}

export interface LocalPipeline extends LocalStorage {
  sources: SourceRegistry;
  queue: LocalJobQueue;
  /** What the worker and retention record outcomes through: the catalogue, publishing each outcome's event when `events` is on. */
  outcomes: CatalogueWriter;
}

/**
 * Storage, sources and the in-process queue whose jobs run the archive use case: what `npm start` and a
 * local backfill share. The queue keeps its pending jobs and dead letters under `stateDir`, so whichever
 * command runs next picks up what another left.
 */
export async function createLocalPipeline(
  config: CallvaultConfig,
  options: {
    log: Log;
    clock?: Clock;
    credentials?: CredentialsLoader;
    retryPolicy?: Partial<RetryPolicy>;
    onOutcome?: (outcome: JobOutcome) => void;
    /** The providers the sources may name; default the shipped ones. */
    descriptors?: ProviderDescriptors;
    /** The HTTP event target's fetch (tests); the global one by default. */
    fetch?: typeof fetch;
  },
): Promise<LocalPipeline> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const stateDir = config.local.stateDir;
  await mkdir(stateDir, { recursive: true });
  const storage = createStorage(config, log);
  const { store, goneAtSource, expiredBeforeFetch } = storage;
  const outcomes = withOutcomeEvents(
    storage.catalogue,
    localOutcomeEvents(config, { clock, log, fetch: options.fetch }),
  );
  const sources = buildSourceRegistry(config, options.credentials ?? inlineCredentials, {
    clock,
    log,
    descriptors: options.descriptors,
  });
  const continuation = localContinuation(config);
  const queue: LocalJobQueue = new LocalJobQueue({
    concurrency: config.worker.concurrency,
    maxReceiveCount: config.worker.maxReceiveCount,
    deadLetterDir: join(stateDir, 'dead-letter'),
    stateFile: join(stateDir, 'pending-jobs.json'),
    log,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, ...options.retryPolicy },
    handleJob: async (job: ArchiveJob, signal: AbortSignal) => {
      try {
        const outcome = await handleArchiveJob(
          job,
          {
            sources,
            store,
            queue,
            goneAtSource,
            expiredBeforeFetch,
            catalogue: outcomes,
            clock,
            log,
            continuation: continuation?.(),
          },
          signal,
        );
        options.onOutcome?.(outcome);
      } catch (error) {
        // A job waiting on an administrator leaves no dead letter: status reads this record instead.
        await noteAdminError(job, error, { ledger: storage.ledger, clock, log });
        throw error;
      }
    },
  });
  return { ...storage, sources, queue, outcomes };
}
