import { Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption, RedrivePermission } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { ProviderName } from '../../functions/core/recording';

/** How long SQS keeps a job: its maximum, so an outage of the provider does not drop jobs. */
export const QUEUE_RETENTION = Duration.days(14);

/** SQS's largest redrive `maxReceiveCount`. */
export const SQS_MAX_RECEIVE_COUNT = 1000;

export interface ProviderQueueProps {
  readonly provider: ProviderName;
  /** Timeout of the consuming function; the visibility timeout is at least six times this. */
  readonly consumerTimeout: Duration;
  /** Receives before a job moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /**
   * How long a job may wait in the queue.
   * @default QUEUE_RETENTION
   */
  readonly retentionPeriod?: Duration;
}

/**
 * The job queue of one provider and its dead-letter queue, both encrypted with the provider's own
 * customer-managed key (messages may carry a short-lived download token, see design.md), TLS-only, and
 * redriven after `maxReceiveCount` receives. One queue per provider keeps one platform's outage or rate
 * limit from stalling the others.
 */
export class ProviderQueue extends Construct {
  public readonly provider: ProviderName;
  public readonly key: Key;
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: ProviderQueueProps) {
    super(scope, id);
    this.provider = props.provider;

    this.key = new Key(this, 'Key', {
      description: `callvault ${props.provider} job queues`,
      enableKeyRotation: true,
      // The queues go with the stack, so would the key; KMS's 30-day pending-deletion window is the safety net.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const jobQueueName = Names.uniqueResourceName(this, { maxLength: 75, separator: '-' });
    const jobQueueArn = Stack.of(this).formatArn({ service: 'sqs', resource: jobQueueName });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: QUEUE_RETENTION,
      // Only this provider's job queue may use it as dead-letter queue. The job queue refers to the DLQ, so
      // the DLQ names the job queue by its (fixed) ARN rather than by reference, which would be a cycle.
      redriveAllowPolicy: {
        redrivePermission: RedrivePermission.BY_QUEUE,
        sourceQueues: [Queue.fromQueueArn(this, 'JobQueueRef', jobQueueArn)],
      },
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason:
        'This is the dead-letter queue: the end of the line, alarmed on and redriven back to the job queue by an operator.',
    });

    // SQS redelivers a message whose visibility expired while a batch is still running; six times the
    // function timeout is AWS's guidance for Lambda event sources, and never less than 15 minutes.
    const visibilityTimeout = Duration.seconds(Math.max(props.consumerTimeout.toSeconds() * 6, 900));
    this.queue = new Queue(this, 'Queue', {
      queueName: jobQueueName,
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? QUEUE_RETENTION,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }

  /** Sending jobs: SendMessage plus the two KMS operations SSE-KMS needs to encrypt them. */
  grantSendJobs(grantee: IGrantable): void {
    this.grantSend(grantee, this.queue);
  }

  /** Dead-lettering a permanent failure with its reason, done by the worker itself. */
  grantSendDeadLetters(grantee: IGrantable): void {
    this.grantSend(grantee, this.deadLetterQueue);
  }

  private grantSend(grantee: IGrantable, queue: Queue): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.key.keyArn] }),
    );
  }
}
