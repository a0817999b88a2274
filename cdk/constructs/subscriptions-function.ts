import { Duration, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers';
import { Construct, type IConstruct } from 'constructs';
import { type CallvaultConfig, ENV } from '../../functions/config';
import type { ProviderName } from '../../functions/core/recording';
import { descriptorOf } from '../../functions/providers';
import { NodeFunction } from './node-function';
import type { ProviderQueue } from './provider-queue';
import type { RecordingBucket } from './recording-bucket';
import { RateSchedule } from './schedules';
import type { SharedStateTable } from './shared-state-table';
import type { SourceSecrets } from './source-secrets';

/** Every 6 hours: renewal is due days ahead, and a blacklisted subscription is replaced within hours. */
export const DEFAULT_SUBSCRIPTIONS_INTERVAL_SECONDS = 6 * 3600;

/** Sources whose webhook subscriptions the subscriptions function keeps (their descriptor names a platform). */
export function managesSubscriptions(source: CallvaultConfig['sources'][number]): boolean {
  return descriptorOf(source.provider).capabilities.subscriptionsAt(source) !== undefined;
}

/**
 * The longest interval between subscription checks that every provider's subscriptions survive (Graph's
 * expire after 3 days); undefined when none asks for one.
 */
export function subscriptionsCheckWithinSeconds(providers: readonly ProviderName[]): number | undefined {
  const limits = providers.flatMap((provider) => {
    const limit = descriptorOf(provider).capabilities.subscriptionsCheckWithinSeconds;
    return limit === undefined ? [] : [limit];
  });
  return limits.length > 0 ? Math.min(...limits) : undefined;
}

export interface SubscriptionsFunctionProps {
  /** The environment every function gets (runtime config, secrets map…). */
  readonly environment: Record<string, string>;
  /** Read: the sources' credentials, webhook secrets included. */
  readonly secrets: SourceSecrets;
  /** Read/write: where the function records the subscriptions it created (and shares sessions). */
  readonly sharedState: SharedStateTable;
  /** Write: each run's record (`state/runs/subscriptions/{sourceId}.json`), read by `npm run status`. */
  readonly recordings: RecordingBucket;
  /**
   * The queues of the sources it may sweep: a Teams lifecycle event (`missed`, `subscriptionRemoved`…), or
   * an authenticated webhook event the adapter could not interpret, is followed by a sweep of that source
   * (or of the users it named), which inspects the archive, enqueues what it lacks on the source's queue,
   * and records a sweep run.
   * @default - no follow-up sweeps
   */
  readonly followUpSweepQueues?: readonly ProviderQueue[];
  /** The webhook API's base URL; subscriptions point at `{base}/webhooks/{provider}/{sourceId}`. */
  readonly webhookBaseUrl: string;
  readonly logRetention: RetentionDays;
  /** The trigger runs after these exist (the webhook API must answer the platforms' handshakes). */
  readonly executeAfter: readonly IConstruct[];
  /**
   * Reserve one concurrent execution (a cap; runs never overlap anyway, see the handler's lease).
   * @default false - new accounts cannot reserve any
   */
  readonly reserveConcurrency?: boolean;
  /** @default DEFAULT_SUBSCRIPTIONS_INTERVAL_SECONDS */
  readonly intervalSeconds?: number;
  /**
   * The longest interval the sources' subscriptions survive (`subscriptionsCheckWithinSeconds`): the
   * schedule runs at least this often, whatever `intervalSeconds` says.
   * @default - no limit
   */
  readonly maxIntervalSeconds?: number;
}

/**
 * The `subscriptions` function: creates, renews and repairs the sources' webhook subscriptions. A CDK
 * trigger runs it after the stack's resources are deployed (again whenever the function or its
 * configuration changes), and a schedule keeps running it. It never fails a deploy for a source: the
 * first deploy runs before any secret is set, and the sweep archives meanwhile.
 */
export class SubscriptionsFunction extends Construct {
  public readonly handler: NodeFunction;
  public readonly trigger: Trigger;
  public readonly schedule: RateSchedule;

  constructor(scope: Construct, id: string, props: SubscriptionsFunctionProps) {
    super(scope, id);
    this.handler = new NodeFunction(this, 'Function', {
      entry: 'functions/subscriptions.ts',
      description: 'callvault subscriptions: creates, renews and repairs webhook subscriptions',
      serviceName: 'callvault-subscriptions',
      timeout: Duration.minutes(1),
      memorySize: 256,
      logRetention: props.logRetention,
      environment: {
        ...props.environment,
        [ENV.sharedStateTable]: props.sharedState.table.tableName,
        [ENV.webhookBaseUrl]: props.webhookBaseUrl,
      },
      // One check at a time (two could both create a missing subscription) is the handler's lease in the
      // bucket (state/leases/subscriptions.json); the reserve is opt-in, see ArchiveStack.
      reservedConcurrentExecutions: props.reserveConcurrency ? 1 : undefined,
    });
    // A lifecycle follow-up that finds another run holding the lease throws, and Lambda delivers it again
    // (after about 1 and 2 minutes). Scheduled and deploy runs never throw for a source.
    this.handler.configureAsyncInvoke({ retryAttempts: 2 });
    Validations.of(this.handler).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked asynchronously by the deploy trigger, an empty Scheduler tick and Teams lifecycle follow-ups; a failed check logs SUBSCRIPTION_FAILED and publishes SubscriptionFailures, the next tick repeats it, and a follow-up is retried twice by Lambda.',
      },
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'The failed event is an empty Scheduler tick; the SubscriptionFailures metric already alarms, and a destination would only duplicate it.',
      },
    );
    props.secrets.grantRead(this.handler);
    props.sharedState.grantReadWrite(this.handler);
    props.recordings.grantRecordRuns(this.handler, 'subscriptions');
    props.recordings.grantRunLease(this.handler, 'subscriptions');
    if (props.followUpSweepQueues?.length) {
      // The same rights as the sweep function's, for the queues of the sources it may sweep.
      props.recordings.grantInspect(this.handler);
      props.recordings.grantRecordRuns(this.handler, 'sweep');
      props.recordings.grantReadRuns(this.handler, 'sweep');
      for (const queue of props.followUpSweepQueues) queue.grantSendJobs(this.handler);
    }
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          "Added by SharedStateTable.grantReadWrite (Key.grantEncryptDecrypt) on the table's own key only: DynamoDB asks for data keys to encrypt the items it writes.",
      },
      {
        id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        reason:
          "Added by SharedStateTable.grantReadWrite (Key.grantEncryptDecrypt) on the table's own key only; the key encrypts nothing but that table.",
      },
    );

    this.trigger = new Trigger(this, 'AfterDeploy', {
      handler: this.handler,
      executeAfter: [...props.executeAfter],
      executeOnHandlerChange: true,
      // Queued, not awaited: a run that is throttled (another holds a reserve) or slow must not fail, or
      // roll back, the deploy. Lambda delivers the event; the handler's lease orders it after other runs.
      invocationType: InvocationType.EVENT,
    });
    const requested = props.intervalSeconds ?? DEFAULT_SUBSCRIPTIONS_INTERVAL_SECONDS;
    this.schedule = new RateSchedule(this, 'Schedule', {
      target: this.handler,
      intervalSeconds: Math.min(requested, props.maxIntervalSeconds ?? Number.POSITIVE_INFINITY),
      description: 'callvault subscriptions: create, renew and repair webhook subscriptions',
    });
  }
}
