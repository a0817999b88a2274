/**
 * The AWS composition root. Everything a Lambda function needs, built once per container: AWS clients (created here and nowhere
 * else), adapters, the source registry and the logger.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { S3CatalogueStorage } from '../adapters/catalogue-storage';
import { DynamoDbSharedState } from '../adapters/dynamodb-shared-state';
import { S3ExpiredBeforeFetchLog, S3GoneAtSourceLog } from '../adapters/gone-at-source-logs';
import { SsmKillSwitch } from '../adapters/kill-switch';
import { powertoolsLog } from '../adapters/logger';
import { S3RunLedger } from '../adapters/run-ledgers';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import { S3AuditLog } from '../adapters/s3-audit-log';
import { S3HoldStore } from '../adapters/s3-legal-hold';
import { S3RunLeases } from '../adapters/s3-run-leases';
import { secretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqsJobQueue } from '../adapters/sqs-job-queue';
import { type RuntimeEnvironment, readRuntimeEnvironment } from '../config';
import type { CatalogueWriter } from '../core/catalogue';
import type { SubscriptionRecords } from '../core/ensure-subscriptions-for-source';
import type { PendingJobsSettings } from '../core/pending-jobs';
import { type Clock, type KillSwitch, type Log, systemClock } from '../core/ports';
import type { SourceRegistry } from '../core/source-registry';
import { awsOutcomeEvents, withOutcomeEvents } from './outcome-events';
import { buildSourceRegistry } from './sources';

export interface AwsRuntime {
  env: RuntimeEnvironment;
  logger: Log;
  clock: Clock;
  s3: S3Client;
  sqs: SQSClient;
  store: S3ArchiveStore;
  queue: SqsJobQueue;
  sources: SourceRegistry;
  audit: S3AuditLog;
  ledger: S3RunLedger;
  /** One retention run and one subscriptions run at a time, whatever Lambda's concurrency. */
  runLeases: S3RunLeases;
  /** Recordings found gone at the source, beside the archive. */
  goneAtSource: S3GoneAtSourceLog;
  /** Granted recordings lost to an expired token, beside the archive (`audit/expired-before-fetch/`). */
  expiredBeforeFetch: S3ExpiredBeforeFetchLog;
  /** The catalogue under `catalog/`, beside the recordings. */
  catalogue: S3CatalogueStorage;
  /** What the worker and retention record outcomes through: the catalogue, publishing each outcome's event when `events` is on. */
  outcomes: CatalogueWriter;
  /** callvault's own hold records under `holds/` (`npm run hold`), which retention honours. */
  holds: S3HoldStore;
  /** Engaged while the SSM parameter exists or cannot be read; never engaged where none is configured. */
  killSwitch: KillSwitch;
  /** What the subscriptions function created; only where the stack has the shared-state table. */
  subscriptionRecords?: SubscriptionRecords;
  /**
   * Markers for recordings a sweep already queued, in the shared-state table; absent where the stack has
   * none (its sources neither wait for processing nor share a budget, so a sweep rarely finds one pending).
   */
  pending?: PendingJobsSettings;
}

let runtime: AwsRuntime | undefined;

export function awsRuntime(): AwsRuntime {
  runtime ??= createAwsRuntime(readRuntimeEnvironment());
  return runtime;
}

export function createAwsRuntime(
  env: RuntimeEnvironment,
  clients: {
    s3?: S3Client;
    sqs?: SQSClient;
    secrets?: SecretsManagerClient;
    ssm?: SSMClient;
    dynamodb?: DynamoDBClient;
    eventBridge?: EventBridgeClient;
  } = {},
  options: { clock?: Clock } = {},
): AwsRuntime {
  const clock = options.clock ?? systemClock;
  const s3 = clients.s3 ?? new S3Client({});
  const sqs = clients.sqs ?? new SQSClient({});
  const secrets = clients.secrets ?? new SecretsManagerClient({});
  const logger = powertoolsLog();
  const { worker } = env.config;
  const killSwitchParameter = env.killSwitchParameter;
  const ssm = killSwitchParameter ? (clients.ssm ?? new SSMClient({})) : undefined;
  const sharedState = env.sharedStateTable
    ? new DynamoDbSharedState({
        client: clients.dynamodb ?? new DynamoDBClient({}),
        tableName: env.sharedStateTable,
      })
    : undefined;
  const catalogue = new S3CatalogueStorage({ client: s3, bucket: env.bucket });
  const events = awsOutcomeEvents(env.config, {
    bucket: env.bucket,
    s3,
    eventBridge: clients.eventBridge,
    clock,
    log: logger,
  });
  return {
    env,
    logger,
    clock,
    s3,
    sqs,
    store: new S3ArchiveStore({
      client: s3,
      bucket: env.bucket,
      partSizeBytes: worker.partSizeMiB * 1024 * 1024,
      partsInFlight: worker.partsInFlight,
      log: logger,
      objectLock: env.config.lifecycle.objectLock,
    }),
    queue: new SqsJobQueue({ client: sqs, queueUrls: env.queueUrls, log: logger }),
    audit: new S3AuditLog({ client: s3, bucket: env.bucket }),
    ledger: new S3RunLedger({ client: s3, bucket: env.bucket }),
    runLeases: new S3RunLeases({ client: s3, bucket: env.bucket }),
    goneAtSource: new S3GoneAtSourceLog({ client: s3, bucket: env.bucket }),
    expiredBeforeFetch: new S3ExpiredBeforeFetchLog({ client: s3, bucket: env.bucket }),
    catalogue,
    outcomes: withOutcomeEvents(catalogue, events),
    holds: new S3HoldStore({ client: s3, bucket: env.bucket }),
    killSwitch:
      ssm && killSwitchParameter
        ? new SsmKillSwitch({ client: ssm, parameterName: killSwitchParameter, log: logger })
        : { engaged: async () => false },
    subscriptionRecords: sharedState,
    pending: sharedState
      ? { leases: sharedState, holdMs: env.config.sweep.pendingMarkerHours * 3_600_000 }
      : undefined,
    sources: buildSourceRegistry(env.config, secretsManagerCredentials(secrets, env.sourceSecrets), {
      clock,
      log: logger,
      sharedState: sharedState && { tokens: sharedState, gates: sharedState },
    }),
  };
}
