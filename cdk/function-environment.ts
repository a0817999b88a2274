/**
 * The environment every callvault function gets (the shipped config, the bucket, the queues, the secrets,
 * the shared-state table), its variants per function, and Lambda's 4 KB limit checked at synth.
 */
import { type Stack, Token } from 'aws-cdk-lib';
import { ConfigError, ENV, type ShippedRuntimeConfig } from '../functions/config';
import type { ProviderName } from '../functions/core/recording';
import type { ProviderQueue } from './constructs/provider-queue';
import type { RecordingBucket } from './constructs/recording-bucket';
import type { SharedStateTable } from './constructs/shared-state-table';
import type { SourceSecrets } from './constructs/source-secrets';
import { withoutRestorableDefaults } from './shipped-config';
import type { WorkerPlan } from './worker-sizing';

/** Lambda refuses environments over 4 KB; say so at synth time, naming the cause, instead of at deploy. */
const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;
/** Room for what is not known before deploy (ARNs, URLs, the bucket name) and the few fixed variables. */
const DEPLOY_TIME_VALUE_BYTES = 128;
const FIXED_VARIABLES_BYTES = 128;

export interface FunctionEnvironmentsProps {
  /** What Lambda parses back (`runtimeConfigForDeployment`): inline secrets already refused. */
  readonly runtimeConfig: ShippedRuntimeConfig;
  readonly recordings: RecordingBucket;
  readonly queues: ReadonlyMap<ProviderName, ProviderQueue>;
  readonly secrets: SourceSecrets;
  readonly sharedState?: SharedStateTable;
  /** Per provider, its queue's redrive count: the workers give up at the same one. */
  readonly maxReceiveCounts: Partial<Record<ProviderName, number>>;
}

export class FunctionEnvironments {
  /** What the webhook and sweep get, and what every other function's environment starts from. */
  public readonly common: Readonly<Record<string, string>>;
  private readonly props: FunctionEnvironmentsProps;
  /** References resolved only at deploy (secrets, queue and DLQ URLs, bucket, table). */
  private readonly deployTimeValues: number;
  private readonly workerCommon: Readonly<Record<string, string>>;

  constructor(scope: Stack, props: FunctionEnvironmentsProps) {
    this.props = props;
    const { queues, secrets, sharedState } = props;
    this.common = {
      [ENV.runtimeConfig]: JSON.stringify(withoutRestorableDefaults(props.runtimeConfig)),
      [ENV.bucket]: props.recordings.bucket.bucketName,
      [ENV.queueUrls]: scope.toJsonString(mapValues(queues, (q) => q.queue.queueUrl)),
      [ENV.deadLetterQueueUrls]: scope.toJsonString(mapValues(queues, (q) => q.deadLetterQueue.queueUrl)),
      [ENV.sourceSecrets]: scope.toJsonString(secrets.references),
      ...(sharedState ? { [ENV.sharedStateTable]: sharedState.table.tableName } : {}),
    };
    this.deployTimeValues = secrets.secrets.size + 2 * queues.size + 1 + (sharedState ? 1 : 0);
    // The workers give up at each queue's own redrive count, never before SQS would (the Teams queue's is
    // days of not-ready receives, far above worker.maxReceiveCount).
    this.workerCommon = this.extend({ [ENV.maxReceiveCounts]: JSON.stringify(props.maxReceiveCounts) });
  }

  /**
   * The common environment plus `extra`, refused at synth if Lambda would refuse it at deploy.
   * @param extraDeployTimeValues how many of the added values are references resolved at deploy
   */
  extend(extra: Record<string, string>, extraDeployTimeValues = 0): Record<string, string> {
    const environment = { ...this.common, ...extra };
    assertEnvironmentFits(environment, this.deployTimeValues + extraDeployTimeValues);
    return environment;
  }

  /** A worker's: the receive budgets, its own part size, and no secret or table if its jobs carry grants. */
  worker(plan: WorkerPlan): Record<string, string> {
    if (plan.grantCarryingJobs) {
      // No secret references: a job of another provider reaching it would fail loudly, not quietly.
      return Object.fromEntries(
        Object.entries({ ...this.workerCommon, [ENV.sourceSecrets]: '{}' }).filter(
          ([name]) => name !== ENV.sharedStateTable,
        ),
      );
    }
    if (plan.partSizeMiB === undefined || plan.partSizeMiB === this.props.runtimeConfig.worker.partSizeMiB) {
      return { ...this.workerCommon };
    }
    // The part size reaches the worker through its runtime config.
    const runtimeConfig = {
      ...this.props.runtimeConfig,
      worker: { ...this.props.runtimeConfig.worker, partSizeMiB: plan.partSizeMiB },
    };
    const environment = {
      ...this.workerCommon,
      [ENV.runtimeConfig]: JSON.stringify(withoutRestorableDefaults(runtimeConfig)),
    };
    assertEnvironmentFits(environment, this.deployTimeValues);
    return environment;
  }
}

function assertEnvironmentFits(environment: Record<string, string>, deployTimeValues: number): void {
  const literal = Object.entries(environment)
    .map(([name, value]) => name.length + (Token.isUnresolved(value) ? 0 : Buffer.byteLength(value)))
    .reduce((sum, bytes) => sum + bytes, 0);
  const estimate = literal + deployTimeValues * DEPLOY_TIME_VALUE_BYTES + FIXED_VARIABLES_BYTES;
  if (estimate > LAMBDA_ENVIRONMENT_LIMIT_BYTES) {
    throw new ConfigError(
      `invalid configuration for deployment:\n  - sources: the configuration shipped to Lambda (about ${estimate} bytes with ${ENV.runtimeConfig}) exceeds Lambda's 4 KB environment limit; split the sources over several stacks`,
    );
  }
}

function mapValues<K extends string, V>(
  map: ReadonlyMap<K, V>,
  f: (value: V) => string,
): Record<string, string> {
  return Object.fromEntries([...map].map(([key, value]) => [key, f(value)]));
}
