/**
 * Turning Object Lock on must never replace the archive bucket. CloudFormation replaces an
 * `AWS::S3::Bucket` whose `ObjectLockEnabled` changes (aws-cdk issue 29168, cloudformation-coverage-
 * roadmap issue 1929), so synth refuses Object Lock unless the config says how the bucket gets it, and a
 * bucket locked by the operator (`put-object-lock-configuration`) keeps its template as first deployed.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app';
import { type CallvaultConfig, ENV, parseConfig } from '../../functions/config';
import { allowStatements, cdkJsonContext, policyOfRole } from './support';

const noBundling = { nag: false, appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }) };
const LOCK = { mode: 'COMPLIANCE', years: 7 } as const;

function configWith(lifecycle: Record<string, unknown>): CallvaultConfig {
  return parseConfig({
    sources: [{ provider: 'telphin', id: 'hq' }],
    lifecycle: { expireAfterDays: 2555, ...lifecycle },
    aws: { stackName: 'CallvaultLock', account: '123456789012', region: 'eu-west-1' },
  });
}

function synth(config: CallvaultConfig) {
  const { stack } = buildApp(config, noBundling);
  const resources = Template.fromStack(stack).toJSON().Resources;
  const id = (construct: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);
  return {
    bucket: resources[id(stack.recordings.bucket)],
    worker: resources[id(stack.worker)],
    workerActions: allowStatements(
      policyOfRole(Template.fromStack(stack), id(stack.worker.role as never)),
    ).flatMap((statement) => statement.actions),
  };
}

describe('Object Lock and the existing bucket', () => {
  it('refuses objectLock at synth unless lifecycle.objectLockBucket says how the bucket gets it', () => {
    expect(() => synth(configWith({ objectLock: LOCK }))).toThrow(
      /lifecycle\.objectLockBucket: .*"new".*"existing".*put-object-lock-configuration.*replace the bucket/,
    );
  }, 120_000);

  it('refuses objectLockBucket without objectLock (removing the lock from a locked bucket would replace it)', () => {
    expect(() => synth(configWith({ objectLockBucket: 'existing' }))).toThrow(
      /lifecycle\.objectLockBucket: only meaningful with lifecycle\.objectLock/,
    );
  }, 120_000);

  it('"existing": the bucket resource is exactly as deployed without the lock, and the worker still locks each recording', () => {
    const before = synth(configWith({}));
    const after = synth(configWith({ objectLock: LOCK, objectLockBucket: 'existing' }));
    // Nothing for CloudFormation to update on the bucket, so nothing to replace.
    expect(after.bucket).toEqual(before.bucket);
    expect(after.bucket.Properties.ObjectLockEnabled).toBeUndefined();
    expect(after.worker.Properties.Environment.Variables[ENV.runtimeConfig]).toContain('"objectLock"');
    expect(after.workerActions).toContain('s3:PutObjectRetention');
    expect(before.workerActions).not.toContain('s3:PutObjectRetention');
  }, 120_000);

  it('"new": the stack creates the bucket with Object Lock and no default retention', () => {
    const { bucket } = synth(configWith({ objectLock: LOCK, objectLockBucket: 'new' }));
    expect(bucket.Properties.ObjectLockEnabled).toBe(true);
    expect(bucket.Properties.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled' });
  }, 120_000);
});
