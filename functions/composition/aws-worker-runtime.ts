/**
 * The archive worker's runtime: the shared part (aws-sources.ts) plus the bucket: the archive store, the
 * catalogue (publishing outcome events when `events` is on), the gone-at-source logs and the run ledger.
 * It leaves out what only retention and the subscriptions function use (SSM kill switch, holds, audit log,
 * run leases), so the worker's bundle does not carry their clients (see aws-sources.ts).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { S3CatalogueStorage } from '../adapters/catalogue-storage';
import { S3ExpiredBeforeFetchLog, S3GoneAtSourceLog } from '../adapters/gone-at-source-logs';
import { S3RunLedger } from '../adapters/run-ledgers';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import { type RuntimeEnvironment, readRuntimeEnvironment } from '../config';
import type { CatalogueWriter } from '../core/catalogue';
import type { Clock } from '../core/ports';
import { type AwsSourcesClients, type AwsSourcesRuntime, createAwsSourcesRuntime } from './aws-sources';
import { awsOutcomeEvents, withOutcomeEvents } from './outcome-events';

export interface WorkerRuntime extends AwsSourcesRuntime {
  s3: S3Client;
  store: S3ArchiveStore;
  ledger: S3RunLedger;
  /** Recordings found gone at the source, beside the archive. */
  goneAtSource: S3GoneAtSourceLog;
  /** Granted recordings lost to an expired token, beside the archive (`audit/expired-before-fetch/`). */
  expiredBeforeFetch: S3ExpiredBeforeFetchLog;
  /** The catalogue under `catalog/`, beside the recordings. */
  catalogue: S3CatalogueStorage;
  /** What the worker and retention record outcomes through: the catalogue, publishing each outcome's event when `events` is on. */
  outcomes: CatalogueWriter;
}

export interface WorkerClients extends AwsSourcesClients {
  s3?: S3Client;
  eventBridge?: EventBridgeClient;
}

let worker: WorkerRuntime | undefined;

/** The worker's runtime, built once per container. */
export function workerRuntime(): WorkerRuntime {
  worker ??= createWorkerRuntime(readRuntimeEnvironment());
  return worker;
}

export function createWorkerRuntime(
  env: RuntimeEnvironment,
  clients: WorkerClients = {},
  options: { clock?: Clock } = {},
): WorkerRuntime {
  const base = createAwsSourcesRuntime(env, clients, options);
  const { clock, logger } = base;
  const s3 = clients.s3 ?? new S3Client({});
  const { worker: sizing } = env.config;
  const catalogue = new S3CatalogueStorage({ client: s3, bucket: env.bucket });
  const events = awsOutcomeEvents(env.config, {
    bucket: env.bucket,
    s3,
    eventBridge: clients.eventBridge,
    clock,
    log: logger,
  });
  return {
    ...base,
    s3,
    store: new S3ArchiveStore({
      client: s3,
      bucket: env.bucket,
      partSizeBytes: sizing.partSizeMiB * 1024 * 1024,
      partsInFlight: sizing.partsInFlight,
      log: logger,
      objectLock: env.config.lifecycle.objectLock,
    }),
    ledger: new S3RunLedger({ client: s3, bucket: env.bucket }),
    goneAtSource: new S3GoneAtSourceLog({ client: s3, bucket: env.bucket }),
    expiredBeforeFetch: new S3ExpiredBeforeFetchLog({ client: s3, bucket: env.bucket }),
    catalogue,
    outcomes: withOutcomeEvents(catalogue, events),
  };
}
