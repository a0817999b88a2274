import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, type ILogGroup, type JsonPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { ErrorCode } from '../../functions/core/errors';
import {
  BUDGET_BACKLOG_GROWING_METRIC,
  CREDENTIALS_NOT_SET_METRIC,
  DUE_BUT_NOT_ARCHIVED_TOTAL_METRIC,
  EXPIRED_BEFORE_FETCH_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE_DIMENSION,
  SUBSCRIPTIONS_NOT_ACTIVE_METRIC,
  SWEEP_SCOPES_NOT_COVERED_METRIC,
  WEBHOOK_NOT_UNDERSTOOD_CODE,
  WEBHOOK_NOT_UNDERSTOOD_METRIC,
} from '../../functions/observability/names';
import type { LogMatch, ProviderAlarm } from '../../functions/providers/descriptor';
import type { ProviderQueue } from './provider-queue';

// The names live in functions/observability/names.ts (a provider's own in its descriptor), shared with
// the functions that publish and log them; re-exported here for the stack's readers.
export {
  BUDGET_BACKLOG_GROWING_METRIC,
  CREDENTIALS_NOT_SET_METRIC,
  EXPIRED_BEFORE_FETCH_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE_DIMENSION,
  SUBSCRIPTIONS_NOT_ACTIVE_METRIC,
  SWEEP_SCOPES_NOT_COVERED_METRIC,
  WEBHOOK_NOT_UNDERSTOOD_CODE,
  WEBHOOK_NOT_UNDERSTOOD_METRIC,
};

const CREDENTIALS_NOT_SET_CODE: ErrorCode = 'CREDENTIALS_NOT_SET';
/** A descriptor's log match as a CloudWatch Logs JSON filter pattern. */
function filterPatternOf(match: LogMatch): JsonPattern {
  if ('field' in match) return FilterPattern.stringValue(match.field, '=', match.equals);
  if ('all' in match) return FilterPattern.all(...match.all.map(filterPatternOf));
  return FilterPattern.any(...match.any.map(filterPatternOf));
}

/** Metrics that log metric filters create: they carry no dimension. */
function dimensionFreeMetric(metricName: string, statistic: string, period: Duration): Metric {
  return new Metric({ namespace: METRICS_NAMESPACE, metricName, statistic, period });
}

/**
 * Metrics the functions publish through Powertools: its `serviceName` adds the `service` dimension, and an
 * alarm without it would never see a datapoint.
 */
function serviceMetric(metricName: string, statistic: string, period: Duration): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    statistic,
    period,
    dimensionsMap: METRICS_SERVICE_DIMENSION,
  });
}

export interface MonitoringProps {
  /**
   * Address subscribed to the alarm topic; it must confirm the subscription.
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * A job older than this in a provider queue means the worker is not keeping up or is failing.
   * @default Duration.hours(1)
   */
  readonly maxJobAge?: Duration;
}

/**
 * Alarms for what breaks the promises "nothing is lost" and "nothing is deleted early": dead letters, a
 * stalled queue, failing or throttled functions, recordings due for deletion that have no verified copy.
 * Every alarm notifies one KMS-encrypted, TLS-only SNS topic.
 */
export class Monitoring extends Construct {
  public readonly topic: Topic;
  public readonly key: Key;
  public readonly alarms: Alarm[] = [];
  private readonly maxJobAge: Duration;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.maxJobAge = props.maxJobAge ?? Duration.hours(1);
    const stack = Stack.of(this);
    // Every alarm of this account and region, the one kind of publisher the key and the topic admit.
    const alarmSource = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: {
        'aws:SourceArn': stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
    };

    this.key = new Key(this, 'Key', {
      description: 'callvault alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic; the AWS-managed SNS key does not let it.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: alarmSource,
      }),
    );

    this.topic = new Topic(this, 'Topic', {
      displayName: 'callvault alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    // enforceSSL gives the topic a policy of its own, holding only the TLS deny. It replaces SNS's default
    // policy, which is what let the account's CloudWatch alarms publish; without this statement no alarm
    // would ever notify anyone.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: alarmSource,
      }),
    );
    if (props.alarmEmail) {
      this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
      Validations.of(this.topic).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'The only subscription is an e-mail address; a dead-letter queue of undelivered alarm e-mails would be read by nobody, and the alarms stay visible in CloudWatch.',
      });
    }
  }

  /** Dead letters and a stalled queue for one provider. */
  watchQueue(providerQueue: ProviderQueue): void {
    const { provider } = providerQueue;
    this.alarm(`${provider}DeadLetters`, {
      metric: providerQueue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      description: `${provider}: jobs reached the dead-letter queue. Inspect the reason, fix, then redrive.`,
    });
    this.alarm(`${provider}QueueStalled`, {
      metric: providerQueue.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: this.maxJobAge.toSeconds(),
      evaluationPeriods: 2,
      description: `${provider}: the oldest job has waited more than ${this.maxJobAge.toHumanString()}.`,
    });
  }

  /**
   * Jobs whose grant expires: the oldest may wait at most `seconds` (its provider's `fetchWithinSeconds`).
   * SQS publishes the age once a minute, so one minute's maximum at or above it raises the alarm while
   * the jobs behind it can still be fetched, well before the hour of the stalled-queue alarm.
   */
  watchJobAge(providerQueue: ProviderQueue, seconds: number): void {
    const { provider } = providerQueue;
    this.alarm(`${provider}JobsNearExpiry`, {
      metric: providerQueue.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: seconds,
      description: `${provider}: the oldest job has waited ${seconds} s or more, and its download grant expires minutes after the call: recordings may be lost (ExpiredBeforeFetch). Check the worker's throttles and errors and the account's concurrency, or raise worker.maxConcurrency.`,
    });
  }

  /** Errors (and optionally throttles) of one function. */
  watchFunction(name: string, fn: IFunction, options: { throttles?: boolean } = {}): void {
    this.alarm(`${name}Errors`, {
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      description: `${name}: invocations failed (crash, timeout or unhandled error). See its log group.`,
    });
    if (options.throttles) {
      this.alarm(`${name}Throttles`, {
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        description: `${name}: invocations were throttled; the account's concurrency is exhausted.`,
      });
    }
  }

  /**
   * The sweep function's errors, and parts of sources it could not list: a Teams user outside the
   * application access policy or deleted, an extension the platform refused. The other parts are swept; these
   * are retried, from where they were last covered, on every sweep until they list again. Published once
   * per sweep (0 when all is covered), so the alarm keeps the last sweep's verdict between runs.
   */
  watchSweep(fn: IFunction): void {
    this.watchFunction('Sweep', fn);
    this.alarm('SweepScopesNotCovered', {
      metric: serviceMetric(SWEEP_SCOPES_NOT_COVERED_METRIC, 'Maximum', Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: TreatMissingData.IGNORE,
      description:
        'The sweep could not list some users or extensions of a source (per source: dimension source); the others were swept. `npm run status` names them with the reason and the fix (Teams: grant the application access policy to the user, or remove a deleted user from "users"). Each sweep retries them from where they were last covered.',
    });
  }

  /**
   * A source whose secret still holds the stack's placeholders: every function that reads it logs
   * `credentials not set yet` with `errorCode: CREDENTIALS_NOT_SET` (functions/core/source-registry.ts),
   * which a metric filter per log group counts. Without it the first sign would be a sweep error or, hours
   * later, dead letters.
   */
  watchCredentials(logGroups: Readonly<Record<string, ILogGroup>>): void {
    for (const [name, logGroup] of Object.entries(logGroups)) {
      new MetricFilter(this, `${name}CredentialsNotSetFilter`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.errorCode', '=', CREDENTIALS_NOT_SET_CODE),
        metricNamespace: METRICS_NAMESPACE,
        metricName: CREDENTIALS_NOT_SET_METRIC,
        metricValue: '1',
      });
    }
    this.alarm('CredentialsNotSet', {
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: CREDENTIALS_NOT_SET_METRIC,
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      description:
        "A source's credentials secret still holds the placeholders (REPLACE_ME): nothing can be listed or downloaded. Put the platform's credentials in with `aws secretsmanager put-secret-value` (the log line names the secret).",
    });
  }

  /**
   * Rate-limited sources (RingCentral's Heavy budget) whose recordings arrive faster than the budget can
   * archive them: the sweep says so after every run (core/budget-forecast.ts); 24 hours of it, every hour,
   * and the backlog has grown for a day. `npm run status` shows the forecast.
   */
  watchBudgets(sourceIds: readonly string[]): void {
    for (const sourceId of sourceIds) {
      this.alarm(`${sourceId}BudgetBacklogGrows`, {
        metric: new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: BUDGET_BACKLOG_GROWING_METRIC,
          dimensionsMap: { ...METRICS_SERVICE_DIMENSION, source: sourceId },
          statistic: 'Minimum',
          period: Duration.hours(1),
        }),
        threshold: 1,
        evaluationPeriods: 24,
        description: `${sourceId}: more recordings arrived than the platform's request budget can archive in a day, for 24 hours: the backlog grows and will not clear. Raise the budget (the platform plan and rateLimits in the config) or accept the delay; npm run status shows the forecast.`,
      });
    }
  }

  /** Subscriptions not Active, as reported by the subscriptions function (any source whose subscriptions it keeps). */
  watchSubscriptions(): void {
    this.alarm('SubscriptionsNotActive', {
      metric: serviceMetric(SUBSCRIPTIONS_NOT_ACTIVE_METRIC, 'Maximum', Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Published once per subscriptions run, not every period: the alarm keeps the last run's verdict
      // until the next run reports, instead of returning to OK in the gap.
      treatMissingData: TreatMissingData.IGNORE,
      description:
        'A webhook subscription is not Active (blacklisted, suspended, expired, removed or missing at the platform): new recordings arrive only through the sweep until it is renewed. See the subscriptions function log (`subscription created` / `subscription deleted`).',
    });
  }

  /**
   * Authenticated webhook events the adapters could not interpret (a Teams resource path in a spelling
   * callvault does not read, another platform's event it cannot parse). Each is logged with its
   * text and swept for at once, so nothing is lost where the source can be listed; the Graph calling bot
   * cannot be, so there such an event may be a lost recording. Either way the reader needs a look.
   */
  watchWebhookEvents(webhookLogGroup: ILogGroup): void {
    new MetricFilter(this, 'WebhookNotUnderstoodFilter', {
      logGroup: webhookLogGroup,
      filterPattern: FilterPattern.stringValue('$.errorCode', '=', WEBHOOK_NOT_UNDERSTOOD_CODE),
      metricNamespace: METRICS_NAMESPACE,
      metricName: WEBHOOK_NOT_UNDERSTOOD_METRIC,
      // The line's `events` field: how many events of the delivery were not understood.
      metricValue: '$.events',
    });
    this.alarm('WebhookEventsNotUnderstood', {
      metric: dimensionFreeMetric(WEBHOOK_NOT_UNDERSTOOD_METRIC, 'Sum', Duration.hours(1)),
      threshold: 1,
      description:
        "A webhook delivery passed authentication but held events callvault could not interpret. Where the source can be listed a sweep ran at once (the webhook log's `recovery` field says which); for the Graph calling bot there is none. The adapter's warning before the line carries the event's text: report it so the reader can learn the new form.",
    });
  }

  /**
   * A provider's own failure modes, as its descriptor defines them (`alarms`): the metric filters that
   * count its log lines where the metric is not published, and the alarms.
   */
  watchProvider(
    alarms: readonly ProviderAlarm[],
    logs: {
      /** Every function that reads credentials (and may log in), by name. */
      credentialReaders: Readonly<Record<string, ILogGroup>>;
      /** The worker consuming the provider's queue. */
      worker: ILogGroup;
      webhook: ILogGroup;
    },
  ): void {
    for (const definition of alarms) {
      const period = Duration.minutes(definition.periodMinutes);
      const { from } = definition;
      if ('logs' in from) {
        const logGroups: Record<string, ILogGroup> =
          from.logs === 'credential-readers'
            ? Object.fromEntries(
                Object.entries(logs.credentialReaders).map(([name, group]) => [
                  `${name}${from.filterId}`,
                  group,
                ]),
              )
            : { [from.filterId]: logs[from.logs] };
        for (const [id, logGroup] of Object.entries(logGroups)) {
          new MetricFilter(this, `${id}Filter`, {
            logGroup,
            filterPattern: filterPatternOf(from.match),
            metricNamespace: METRICS_NAMESPACE,
            metricName: definition.metricName,
            metricValue: '1',
          });
        }
      }
      this.alarm(definition.id, {
        metric:
          'logs' in from
            ? dimensionFreeMetric(definition.metricName, 'Sum', period)
            : serviceMetric(definition.metricName, 'Sum', period),
        threshold: definition.threshold,
        comparisonOperator: definition.strictlyAbove ? ComparisonOperator.GREATER_THAN_THRESHOLD : undefined,
        description: definition.description,
      });
    }
  }

  /**
   * The retention function's errors, and recordings old enough to be deleted at the source that have no
   * verified copy in S3: retention skips them (nothing is deleted early), but each one is a recording the
   * sweep and worker failed to archive, and the source will not keep it forever.
   */
  watchRetention(fn: IFunction): void {
    this.watchFunction('Retention', fn);
    this.alarm('DueButNotArchived', {
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: DUE_BUT_NOT_ARCHIVED_TOTAL_METRIC,
        dimensionsMap: METRICS_SERVICE_DIMENSION,
        statistic: 'Sum',
        // Retention runs daily by default; a shorter period would flap between runs.
        period: Duration.days(1),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      description:
        'Retention found recordings due for deletion at the source without a verified copy in S3 (per source: metric DueButNotArchived, dimension source). They were not deleted; archive them (backfill) before the platform drops them.',
    });
  }

  private alarm(
    id: string,
    options: {
      metric: IMetric;
      threshold: number;
      description: string;
      evaluationPeriods?: number;
      comparisonOperator?: ComparisonOperator;
      treatMissingData?: TreatMissingData;
    },
  ): Alarm {
    const alarm = new Alarm(this, id, {
      metric: options.metric,
      threshold: options.threshold,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
      alarmDescription: options.description,
    });
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }
}
