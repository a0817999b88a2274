/** The parity check used after refactors of cdk/: what it reports as a difference, and what it forgives. */
import { describe, expect, it } from 'vitest';
import { compareTemplates, formatDifferences } from '../../scripts/template-parity';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

const template = (
  overrides: { bucketId?: string; retention?: number; codeHash?: string; version?: string } = {},
) => ({
  Resources: {
    [overrides.bucketId ?? 'RecordingsBucketA1B2C3D4']: {
      Type: 'AWS::S3::Bucket',
      Properties: { VersioningConfiguration: { Status: 'Enabled' } },
      DeletionPolicy: 'Retain',
      Metadata: { 'aws:cdk:path': 'Callvault/Recordings/Bucket/Resource' },
    },
    JobsQueue: {
      Type: 'AWS::SQS::Queue',
      Properties: { MessageRetentionPeriod: overrides.retention ?? 1209600 },
    },
    WorkerFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Code: { S3Key: `${overrides.codeHash ?? HASH_A}.zip` } },
    },
    [`WorkerCurrentVersion0A1B2C3D${overrides.version ?? '0'.repeat(32)}`]: {
      Type: 'AWS::Lambda::Version',
      Properties: { FunctionName: { Ref: 'WorkerFunction' } },
    },
    CDKMetadata: { Type: 'AWS::CDK::Metadata', Properties: { Analytics: 'v2:deflate64:x' } },
  },
  Outputs: { BucketName: { Value: { Ref: overrides.bucketId ?? 'RecordingsBucketA1B2C3D4' } } },
});

describe('compareTemplates', () => {
  it('finds no difference between equal templates, whatever the construct paths in Metadata', () => {
    const after = template();
    after.Resources.RecordingsBucketA1B2C3D4!.Metadata = {
      'aws:cdk:path': 'Callvault/Moved/Bucket/Resource',
    };
    expect(compareTemplates(template(), after)).toEqual([]);
    expect(formatDifferences([])).toBe('0 differences in resources and outputs\n');
  });

  it('reports a changed logical id of a stateful resource as removed and added, listed first', () => {
    const differences = compareTemplates(template(), template({ bucketId: 'MovedBucket99' }));
    expect(differences.slice(0, 2)).toEqual([
      { kind: 'resource-added', id: 'MovedBucket99', type: 'AWS::S3::Bucket' },
      { kind: 'resource-removed', id: 'RecordingsBucketA1B2C3D4', type: 'AWS::S3::Bucket' },
    ]);
    expect(differences.map((difference) => difference.kind)).toContain('output-changed');
    expect(formatDifferences(differences)).toContain('[stateful]');
  });

  it('reports a changed property with its path and both values', () => {
    expect(compareTemplates(template(), template({ retention: 345600 }))).toEqual([
      {
        kind: 'resource-changed',
        id: 'JobsQueue',
        type: 'AWS::SQS::Queue',
        changes: [{ path: 'Properties.MessageRetentionPeriod', before: 1209600, after: 345600 }],
      },
    ]);
  });

  it('forgives new code (asset hashes, the version it publishes) only when asked to', () => {
    const before = template();
    const after = template({ codeHash: HASH_B, version: 'f'.repeat(32) });
    expect(
      compareTemplates(before, after)
        .map((difference) => difference.kind)
        .sort(),
    ).toEqual(['resource-added', 'resource-changed', 'resource-removed']);
    expect(compareTemplates(before, after, { ignoreAssets: true })).toEqual([]);
    // A property change still shows with assets ignored.
    expect(compareTemplates(before, template({ retention: 60 }), { ignoreAssets: true })).toHaveLength(1);
  });
});
