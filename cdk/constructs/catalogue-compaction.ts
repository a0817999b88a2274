import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnBucket, IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV } from '../../functions/config';
import { CATALOGUE_PREFIX } from '../../functions/core/catalogue';
import { runLeaseKey } from '../../functions/core/run-lease';
import { NodeFunction } from './node-function';
import { RateSchedule } from './schedules';

export const CATALOGUE_COMPACTION_INTERVAL_SECONDS = 86_400;

export interface CatalogueCompactionProps {
  /** The archive bucket, whose `catalog/recordings/` is compacted. */
  readonly bucket: IBucket;
  readonly logRetention: RetentionDays;
}

/**
 * Daily compaction of the catalogue's closed days (README "Finding recordings" → Compaction): the function
 * may list, read, write and delete under `catalog/recordings/` and take its own run lease, nothing else.
 * A run is idempotent (a day's records are removed only after its compacted file is read back), so a
 * failed or cut-short run is simply taken up by the next; a failure alarms (`CatalogueCompactionErrors`).
 */
export class CatalogueCompaction extends Construct {
  public readonly handler: NodeFunction;
  public readonly schedule: RateSchedule;

  constructor(scope: Construct, id: string, props: CatalogueCompactionProps) {
    super(scope, id);
    this.handler = new NodeFunction(this, 'Function', {
      entry: 'functions/catalogue-compaction.ts',
      description: 'callvault catalogue compaction: merges each closed day of the catalogue into one file',
      serviceName: 'callvault-catalogue-compaction',
      timeout: Duration.minutes(15),
      memorySize: 512,
      logRetention: props.logRetention,
      environment: { [ENV.bucket]: props.bucket.bucketName },
    });
    // Retried by Lambda (twice) after a failure, never alongside: runs are idempotent and one at a time.
    Validations.of(this.handler).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'A scheduled compaction carries no payload worth keeping: a failed run alarms (CatalogueCompactionErrors) and the next run compacts the same days again.',
      },
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'The failed event is an empty Scheduler tick; the CatalogueCompactionErrors alarm already notifies the alarm topic.',
      },
    );
    const catalogueObjects = props.bucket.arnForObjects(`${CATALOGUE_PREFIX}*`);
    const principal = this.handler.role;
    principal?.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [catalogueObjects],
      }),
    );
    principal?.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${CATALOGUE_PREFIX}*`] } },
      }),
    );
    principal?.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [props.bucket.arnForObjects(runLeaseKey('catalogue-compaction'))],
      }),
    );
    const bucketId = Stack.of(this).getLogicalId(props.bucket.node.defaultChild as CfnBucket);
    if (principal)
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${CATALOGUE_PREFIX}*]`,
        reason: `Catalogue records have deterministic keys under ${CATALOGUE_PREFIX}; compaction reads, replaces and removes them there and nowhere else in the archive bucket.`,
      });
    this.schedule = new RateSchedule(this, 'Schedule', {
      target: this.handler,
      intervalSeconds: CATALOGUE_COMPACTION_INTERVAL_SECONDS,
      description: 'callvault catalogue compaction: merge closed days of the catalogue',
    });
  }
}
