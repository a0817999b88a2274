import { Duration, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Monitoring } from './monitoring';
import { NodeFunction } from './node-function';
import type { ProviderQueue } from './provider-queue';
import type { RecordingBucket } from './recording-bucket';
import type { SharedStateTable } from './shared-state-table';
import type { SourceSecrets } from './source-secrets';

export interface SweepFunctionProps {
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  /** The config's `sweep.intervalSeconds`: one sweep per interval, so its timeout follows it. */
  readonly intervalSeconds: number;
  /** It inspects the archive and records its runs (and reads them back: the parts to list again). */
  readonly recordings: RecordingBucket;
  readonly secrets: SourceSecrets;
  readonly sharedState?: SharedStateTable;
  /** It enqueues, on each source's queue, the recordings the archive lacks. */
  readonly queues: Iterable<ProviderQueue>;
  /** Its errors, and the parts of sources it could not list. */
  readonly monitoring: Monitoring;
}

/** The sweep (functions/sweep.ts): lists recent recordings at each source and enqueues what the archive lacks. */
export class SweepFunction extends NodeFunction {
  constructor(scope: Construct, id: string, props: SweepFunctionProps) {
    super(scope, id, {
      entry: 'functions/sweep.ts',
      description: 'callvault sweep: enqueues recent recordings that the archive lacks',
      serviceName: 'callvault-sweep',
      timeout: sweepTimeout(props.intervalSeconds),
      memorySize: 512,
      logRetention: props.logRetention,
      environment: props.environment,
    });
    Validations.of(this).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'A scheduled sweep carries no payload worth keeping: a failed run alarms (SweepErrors) and the next run covers the same look-back window.',
    });
    props.recordings.grantInspect(this);
    props.recordings.grantRecordRuns(this, 'sweep');
    props.recordings.grantReadRuns(this, 'sweep');
    props.secrets.grantRead(this);
    props.sharedState?.grantReadWrite(this);
    for (const providerQueue of props.queues) providerQueue.grantSendJobs(this);
    props.monitoring.watchSweep(this);
  }
}

/** One sweep per interval: the timeout follows the interval, within Lambda's 1..15 minutes. */
function sweepTimeout(intervalSeconds: number): Duration {
  return Duration.seconds(Math.min(900, Math.max(60, intervalSeconds)));
}
