import { Duration, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { RetentionKillSwitch } from './kill-switch';
import type { Monitoring } from './monitoring';
import { NodeFunction } from './node-function';
import type { ProviderQueue } from './provider-queue';
import type { RecordingBucket } from './recording-bucket';
import type { SharedStateTable } from './shared-state-table';
import type { SourceSecrets } from './source-secrets';

/** One retention run may take Lambda's maximum: deletes are one at a time, each audited before and after. */
export const RETENTION_TIMEOUT = Duration.minutes(15);

export interface RetentionFunctionProps {
  /** The common environment with the kill switch's parameter name. */
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  readonly recordings: RecordingBucket;
  readonly secrets: SourceSecrets;
  readonly sharedState?: SharedStateTable;
  /** Checked before each delete. */
  readonly killSwitch: RetentionKillSwitch;
  /** Due recordings without a verified copy are enqueued for archiving instead of being deleted. */
  readonly queues: Iterable<ProviderQueue>;
  /** Reserve its one concurrent execution (opt-in: `aws.reserveConcurrency`). */
  readonly reserveConcurrency: boolean;
  /** Its errors, and recordings due for deletion without a verified copy. */
  readonly monitoring: Monitoring;
}

/**
 * Retention (functions/retention.ts): deletes recordings at the source once their copy in S3 is verified,
 * never while the kill switch is engaged.
 */
export class RetentionFunction extends NodeFunction {
  constructor(scope: Construct, id: string, props: RetentionFunctionProps) {
    super(scope, id, {
      entry: 'functions/retention.ts',
      description: 'callvault retention: deletes old recordings at the source once their S3 copy is verified',
      serviceName: 'callvault-retention',
      timeout: RETENTION_TIMEOUT,
      memorySize: 512,
      logRetention: props.logRetention,
      environment: props.environment,
      // One run at a time is the handler's lease (state/leases/retention.json): two overlapping runs
      // would both delete the same due recordings at the source. A reserve of 1 would also do it, but
      // fails the deploy on accounts whose concurrency quota is below 101; it is opt-in.
      reservedConcurrentExecutions: props.reserveConcurrency ? 1 : undefined,
    });
    // A failed run is not retried by Lambda: the handler fails the whole run when one source fails, and a
    // retry would run every healthy source again, spending its maxDeletesPerRun a second and third time.
    // The error alarms; the next scheduled run re-examines the same recordings.
    this.configureAsyncInvoke({ retryAttempts: 0 });
    Validations.of(this).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'A scheduled retention run carries no payload worth keeping: a failed run alarms (RetentionErrors), its audit trail records how far it got, and the next run re-examines the same recordings.',
      },
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'The failed event is an empty Scheduler tick; the RetentionErrors alarm already notifies the alarm topic, and a destination would only duplicate that notification.',
      },
    );
    props.recordings.grantRetention(this);
    props.recordings.grantRunLease(this, 'retention');
    props.secrets.grantRead(this);
    props.sharedState?.grantReadWrite(this);
    props.killSwitch.grantCheck(this);
    for (const providerQueue of props.queues) providerQueue.grantSendJobs(this);
    props.monitoring.watchRetention(this);
  }
}
