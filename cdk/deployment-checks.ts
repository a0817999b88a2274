/**
 * What the deployment config must get right that only synth can check: mistakes that would otherwise
 * surface as a failed deploy, a replaced bucket or recordings no rule governs. Each refusal is a
 * ConfigError naming the config key, as `cdk/app.ts` prints it without a stack trace.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type CallvaultConfig, ConfigError } from '../functions/config';
import { DEFAULT_RETENTION_CLASS } from './constructs/recording-bucket';

/** Every check of the config as a whole, before anything is built. */
export function assertDeployable(config: CallvaultConfig): void {
  assertRetentionClassesGoverned(config);
  assertObjectLockDeclared(config);
}

/**
 * With `lifecycle.retentionClasses`, lifecycle rules select recordings by their `retention-class` tag (see
 * `recordingLifecycleRules`): a source tagging an unlisted class would match no rule, and a class named
 * `standard` would collide with the top-level policy. Both are configuration mistakes; say so at synth.
 */
export function assertRetentionClassesGoverned(config: CallvaultConfig): void {
  const classes = config.lifecycle.retentionClasses;
  const listed = Object.keys(classes);
  if (listed.length === 0) return;
  const problems: string[] = [];
  if (DEFAULT_RETENTION_CLASS in classes) {
    problems.push(
      `  - lifecycle.retentionClasses.${DEFAULT_RETENTION_CLASS}: "${DEFAULT_RETENTION_CLASS}" is the default class, governed by lifecycle.transitions and lifecycle.expireAfterDays; set those instead`,
    );
  }
  config.sources.forEach((source, index) => {
    if (source.retentionClass !== DEFAULT_RETENTION_CLASS && !(source.retentionClass in classes)) {
      problems.push(
        `  - sources[${index}].retentionClass: "${source.retentionClass}" is not in lifecycle.retentionClasses (${listed.join(', ')}) nor "${DEFAULT_RETENTION_CLASS}"; its recordings would never transition or expire`,
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
