/**
 * What the deployment config must get right that only synth can check: mistakes that would otherwise
 * surface as a failed deploy, a replaced bucket or recordings no rule governs. Each refusal is a
 * ConfigError naming the config key, as `cdk/app.ts` prints it without a stack trace.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type CallvaultConfig, ConfigError } from '../functions/config';
import { HELD_RETENTION_CLASS } from '../functions/core/legal-hold';
import { descriptorOf } from '../functions/providers';
import { QUEUE_RETENTION, SQS_MAX_RECEIVE_COUNT } from './constructs/provider-queue';
import { DEFAULT_RETENTION_CLASS } from './constructs/recording-bucket';
import { queueMaxReceiveCount } from './worker-sizing';

/** Every check of the config as a whole, before anything is built. */
export function assertDeployable(config: CallvaultConfig): void {
  assertRetentionClassesGoverned(config);
  assertObjectLockDeclared(config);
  assertQueueLimits(config);
}

/**
 * What SQS cannot do, refused at synth rather than at deploy or, worse, in silence:
 * - a redrive `maxReceiveCount` above 1,000 (CloudFormation would fail the deploy): the configured
 *   `worker.maxReceiveCount` plus what a provider adds for jobs that keep coming back by design (Teams:
 *   the receives of `contentWaitHours`);
 * - a job meant to keep coming back for longer than the queue keeps a message (14 days, SQS's maximum,
 *   counted from when the job was sent, however often it was received): SQS would delete it before the
 *   worker gave up, with no dead letter and no reason.
 */
export function assertQueueLimits(config: CallvaultConfig): void {
  const problems: string[] = [];
  const enabled = config.sources.filter((source) => source.enabled);
  const lifetimes = config.sources.flatMap((source, index) => {
    const lifetime = source.enabled ? descriptorOf(source.provider).worker.jobLifetime?.(source) : undefined;
    return lifetime ? [{ provider: source.provider, index, ...lifetime }] : [];
  });
  for (const provider of new Set(enabled.map((source) => source.provider))) {
    const receives = queueMaxReceiveCount(provider, config, enabled);
    if (receives <= SQS_MAX_RECEIVE_COUNT) continue;
    const waits = lifetimes
      .filter((lifetime) => lifetime.provider === provider)
      .map((lifetime) => `sources[${lifetime.index}].${lifetime.key}`);
    problems.push(
      `  - worker.maxReceiveCount: the ${provider} queue would need a maxReceiveCount of ${receives} (worker.maxReceiveCount ${config.worker.maxReceiveCount}${waits.length > 0 ? ` plus the receives of ${waits.join(', ')}` : ''}), above SQS's maximum of ${SQS_MAX_RECEIVE_COUNT}; lower ${['worker.maxReceiveCount', ...waits].join(' or ')}`,
    );
  }
  const retentionSeconds = QUEUE_RETENTION.toSeconds();
  for (const lifetime of lifetimes) {
    if (lifetime.seconds <= retentionSeconds) continue;
    problems.push(
      `  - sources[${lifetime.index}].${lifetime.key}: its jobs would keep coming back for ${lifetime.seconds / 3600} hours, beyond the ${QUEUE_RETENTION.toDays()}-day retention of the queue (${retentionSeconds / 3600} hours, SQS's maximum): SQS would delete them before the worker gives up, without a dead letter`,
    );
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration for deployment:\n${problems.join('\n')}`);
}

/**
 * Lifecycle rules select recordings by their `retention-class` tag (see `recordingLifecycleRules`; even
 * without classes, so a recording on legal hold can leave its class): a source tagging an unlisted class
 * would match no rule, a class named `standard` would collide with the top-level policy, and one named like
 * the legal-hold class would never expire. All are configuration mistakes; say so at synth.
 */
export function assertRetentionClassesGoverned(config: CallvaultConfig): void {
  const classes = config.lifecycle.retentionClasses;
  const listed = Object.keys(classes);
  const problems: string[] = [];
  if (HELD_RETENTION_CLASS in classes) {
    problems.push(
      `  - lifecycle.retentionClasses.${HELD_RETENTION_CLASS}: "${HELD_RETENTION_CLASS}" is the class of recordings on legal hold, which never transition or expire; choose another name`,
    );
  }
  if (DEFAULT_RETENTION_CLASS in classes) {
    problems.push(
      `  - lifecycle.retentionClasses.${DEFAULT_RETENTION_CLASS}: "${DEFAULT_RETENTION_CLASS}" is the default class, governed by lifecycle.transitions and lifecycle.expireAfterDays; set those instead`,
    );
  }
  config.sources.forEach((source, index) => {
    if (source.retentionClass !== DEFAULT_RETENTION_CLASS && !(source.retentionClass in classes)) {
      problems.push(
        `  - sources[${index}].retentionClass: "${source.retentionClass}" is not in lifecycle.retentionClasses (${listed.join(', ') || 'none'}) nor "${DEFAULT_RETENTION_CLASS}"; its recordings would never transition or expire`,
      );
    }
  });
  const lock = config.lifecycle.objectLock;
  const lockDays = lock ? (lock.days ?? (lock.years ?? 0) * 365) : 0;
  for (const [name, policy] of Object.entries(classes)) {
    if (policy.expireAfterDays !== undefined && policy.expireAfterDays < lockDays) {
      problems.push(
        `  - lifecycle.retentionClasses.${name}.expireAfterDays: expires recordings after ${policy.expireAfterDays} days, before the Object Lock retention of ${lockDays} days ends`,
      );
    }
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration for deployment:\n${problems.join('\n')}`);
}

/**
 * CloudFormation replaces an `AWS::S3::Bucket` whose `ObjectLockEnabled` changes (aws-cdk issue 29168,
 * cloudformation-coverage-roadmap issue 1929): a stack deployed without Object Lock that turns it on in
 * the template gets a new, empty bucket (generated name) or a failed update (fixed name), and the
 * recordings stay behind in the old one. Synth cannot see what was deployed, so the config must say how
 * the bucket got its lock.
 */
export function assertObjectLockDeclared(config: CallvaultConfig): void {
  const { objectLock, objectLockBucket } = config.lifecycle;
  if (objectLock && objectLockBucket === undefined) {
    throw new ConfigError(
      'invalid configuration for deployment:\n  - lifecycle.objectLockBucket: say how the bucket gets Object Lock. "new": this deploy creates the bucket with it (a first deploy only). "existing": the stack is already deployed without it, and you have enabled it on its bucket with `aws s3api put-object-lock-configuration --bucket {BucketName} --object-lock-configuration ObjectLockEnabled=Enabled`. Turning it on through the template would make CloudFormation replace the bucket (README "Storage lifecycle")',
    );
  }
  if (!objectLock && objectLockBucket !== undefined) {
    throw new ConfigError(
      'invalid configuration for deployment:\n  - lifecycle.objectLockBucket: only meaningful with lifecycle.objectLock. A bucket that has Object Lock keeps it: removing objectLock from the config would make CloudFormation replace a bucket created with it',
    );
  }
}

/** CloudWatch accepts only certain retention periods; the config's days are rounded up to the next one. */
export function logRetentionDays(days: number): RetentionDays {
  const allowed = Object.values(RetentionDays)
    .filter((value): value is RetentionDays => typeof value === 'number' && value !== RetentionDays.INFINITE)
    .sort((a, b) => a - b);
  const retention = allowed.find((value) => value >= days);
  if (retention === undefined) {
    throw new ConfigError(
      `invalid configuration for deployment:\n  - aws.logRetentionDays: CloudWatch Logs keeps logs for at most ${RetentionDays.TEN_YEARS} days`,
    );
  }
  return retention;
}
