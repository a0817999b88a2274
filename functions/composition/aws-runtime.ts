/**
 * The AWS composition root of the functions that run rarely (sweep, retention, subscriptions): the worker's
 * runtime (aws-worker-runtime.ts, itself the shared part in aws-sources.ts plus the bucket) and what only
 * these functions use: the SSM kill switch, holds, the audit log, run leases, subscription records and
 * pending-job markers. AWS clients are created in these three files and nowhere else; the worker and the
 * webhook import only their own file, so their bundles carry only the clients they build.
 */
import { SSMClient } from '@aws-sdk/client-ssm';
import { SsmKillSwitch } from '../adapters/kill-switch';
import { S3AuditLog } from '../adapters/s3-audit-log';
import { S3HoldStore } from '../adapters/s3-legal-hold';
import { S3RunLeases } from '../adapters/s3-run-leases';
import { type RuntimeEnvironment, readRuntimeEnvironment } from '../config';
import type { SubscriptionRecords } from '../core/ensure-subscriptions-for-source';
import type { PendingJobsSettings } from '../core/pending-jobs';
import type { Clock, KillSwitch } from '../core/ports';
import { createWorkerRuntime, type WorkerClients, type WorkerRuntime } from './aws-worker-runtime';

export interface AwsRuntime extends WorkerRuntime {
  audit: S3AuditLog;
  /** One retention run and one subscriptions run at a time, whatever Lambda's concurrency. */
  runLeases: S3RunLeases;
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
  clients: WorkerClients & { ssm?: SSMClient } = {},
  options: { clock?: Clock } = {},
): AwsRuntime {
  const worker = createWorkerRuntime(env, clients, options);
  const { s3, logger, sharedState } = worker;
  const killSwitchParameter = env.killSwitchParameter;
  const ssm = killSwitchParameter ? (clients.ssm ?? new SSMClient({})) : undefined;
  return {
    ...worker,
    audit: new S3AuditLog({ client: s3, bucket: env.bucket }),
    runLeases: new S3RunLeases({ client: s3, bucket: env.bucket }),
    holds: new S3HoldStore({ client: s3, bucket: env.bucket }),
    killSwitch:
      ssm && killSwitchParameter
        ? new SsmKillSwitch({ client: ssm, parameterName: killSwitchParameter, log: logger })
        : { engaged: async () => false },
    subscriptionRecords: sharedState,
    pending: sharedState
      ? { leases: sharedState, holdMs: env.config.sweep.pendingMarkerHours * 3_600_000 }
      : undefined,
  };
}
