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
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import {
  BUDGET_BACKLOG_GROWING_METRIC,
  SWEEP_SCOPES_NOT_COVERED_METRIC,
} from '../../functions/adapters/metrics';
import type { ErrorCode } from '../../functions/core/errors';
import { PERMISSION_MISSING_CODE } from '../../functions/providers/ringcentral/ringcentral-permissions';
import type { ProviderQueue } from './provider-queue';

/** Where the functions publish their EMF metrics (`METRICS_NAMESPACE` and the default dimension in functions/). */
export const METRICS_NAMESPACE = 'Callvault';
export const METRICS_SERVICE_DIMENSION = { service: 'callvault' } as const;
/** Counted from the functions' logs by a metric filter, not published by the functions. */
export const CREDENTIALS_NOT_SET_METRIC = 'CredentialsNotSet';
const CREDENTIALS_NOT_SET_CODE: ErrorCode = 'CREDENTIALS_NOT_SET';

/** Counted from the functions' logs: RingCentral refusing the JWT login, or jobs failing on that refusal. */
export const RINGCENTRAL_LOGIN_REFUSED_METRIC = 'RingCentralLoginRefused';
/** What functions/providers/ringcentral/ringcentral-auth.ts logs (level error) when a JWT login is refused. */
export const RINGCENTRAL_LOGIN_REFUSED_MESSAGE = 'ringcentral refused the JWT login';
/** Counted from the functions' logs: a RingCentral app lacking a permission the source uses (token `scope`). */
export const RINGCENTRAL_PERMISSION_MISSING_METRIC = 'RingCentralPermissionMissing';
/** The `errorCode` the RingCentral adapter logs (level error) at each login lacking one: its own constant. */
export const RINGCENTRAL_PERMISSION_MISSING_CODE = PERMISSION_MISSING_CODE;
/** Counted from the worker's log: RingCentral jobs put back on the queue because of a 429. */
export const RINGCENTRAL_RATE_LIMITED_METRIC = 'RingCentralRateLimited';
/**
 * The worker logs `job failed; retrying later` with the error's `code` and the job as
 * `{type} {provider}/{sourceId}...` (functions/adapters/sqs-batch-processor.ts, core/jobs.ts describeJob).
 */
const RATE_LIMITED_CODE: ErrorCode = 'RATE_LIMITED';
const UNAUTHENTICATED_CODE: ErrorCode = 'UNAUTHENTICATED';
/**
 * `$.job` of RingCentral jobs (hints and recordings; never fetch-now). CloudWatch documents trailing
 * wildcards in JSON filters, so each job type gets its own prefix rather than one leading wildcard.
 */
export const RINGCENTRAL_JOB_PATTERNS = ['hint ringcentral/*', 'recording ringcentral/*'] as const;
const ringCentralJob = () =>
  FilterPattern.any(
    ...RINGCENTRAL_JOB_PATTERNS.map((pattern) => FilterPattern.stringValue('$.job', '=', pattern)),
  );
/** Published by the subscriptions function (Powertools, `service` dimension): subscriptions not Active. */
export const SUBSCRIPTIONS_NOT_ACTIVE_METRIC = 'SubscriptionsNotActive';
/** Counted from the functions' logs: Graph refusing a Teams source's reads for want of an access policy. */
export const TEAMS_ACCESS_POLICY_MISSING_METRIC = 'TeamsAccessPolicyMissing';
/** What functions/providers/msteams/msteams-graph.ts logs (level error) on that refusal. */
export const TEAMS_ACCESS_POLICY_MISSING_MESSAGE = 'teams application access policy missing';
/** Counted from the functions' logs: Entra refusing a Teams source's app credentials. */
export const TEAMS_CREDENTIALS_REFUSED_METRIC = 'TeamsCredentialsRefused';
/** What functions/providers/msteams/msteams-auth.ts logs (level error) when Entra refuses the credentials. */
export const TEAMS_CREDENTIALS_REFUSED_MESSAGE = 'entra refused the app credentials of a Teams source';
/** Counted from the webhook's log: Graph telling us it dropped notifications of a Teams subscription. */
export const TEAMS_MISSED_NOTIFICATIONS_METRIC = 'TeamsMissedNotifications';
/**
 * What functions/providers/msteams/msteams-webhook.ts logs (level warn) per lifecycle notification, with
 * the lifecycle event name in `event`; `missed` means Graph dropped notifications.
 */
export const TEAMS_LIFECYCLE_MESSAGE = 'teams subscription lifecycle event';
export const TEAMS_MISSED_EVENT = 'missed';
/** Counted from the webhook's log: authenticated events no adapter could interpret (any provider). */
export const WEBHOOK_NOT_UNDERSTOOD_METRIC = 'WebhookEventsNotUnderstood';
/**
 * What functions/core/receive-webhook.ts logs (level error) per delivery holding such events, with
 * `errorCode` WEBHOOK_NOT_UNDERSTOOD; the adapter's line before it carries the event's text.
 */
export const WEBHOOK_NOT_UNDERSTOOD_CODE = 'WEBHOOK_NOT_UNDERSTOOD';
/** Counted from the functions' logs: Graph refusing metered Teams content (402) for want of billing. */
export const TEAMS_METERED_API_METRIC = 'TeamsMeteredApiBilling';
/** What functions/providers/msteams/msteams-graph.ts logs (level error) on that refusal. */
export const TEAMS_METERED_API_MESSAGE = 'teams metered api refused: link billing to the app';
export { SWEEP_SCOPES_NOT_COVERED_METRIC };
/** Published by the worker (Powertools, `service` dimension): Graph recordings whose token expired first. */
export const EXPIRED_BEFORE_FETCH_METRIC = 'ExpiredBeforeFetch';
/** Published by the webhook (Powertools, `service` dimension): Graph record operations that ended `failed`. */
export const GRAPH_FAILED_RECORD_OPERATIONS_METRIC = 'GraphFailedRecordOperations';

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
   * application access policy or deleted, a RingCentral extension refused. The other parts are swept; these
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
   * RingCentral's own failure modes, for stacks with a RingCentral source:
   * - login refused: the refusal itself (logged once per 15-minute cooldown, shared by every container)
   *   or a RingCentral job failing as unauthenticated meanwhile; the 15-minute period spans the cooldown,
   *   so the alarm stays raised while the credentials are wrong instead of flapping back to OK;
   * - 429s: RingCentral jobs retried because the platform answered 429. The shared rate gate should keep
   *   them rare; 10 within 15 minutes means something else spends the same budget (another app, a wrong
   *   `rateLimits.heavyPerMinute`).
   */
  watchRingCentral(options: {
    /** Every function that may log in to RingCentral. */
    logGroups: Readonly<Record<string, ILogGroup>>;
    /** The archive worker, which logs each retried job with its error code. */
    workerLogGroup: ILogGroup;
  }): void {
    for (const [name, logGroup] of Object.entries(options.logGroups)) {
      new MetricFilter(this, `${name}RingCentralLoginRefusedFilter`, {
        logGroup,
        filterPattern: FilterPattern.any(
          FilterPattern.stringValue('$.message', '=', RINGCENTRAL_LOGIN_REFUSED_MESSAGE),
          FilterPattern.all(FilterPattern.stringValue('$.code', '=', UNAUTHENTICATED_CODE), ringCentralJob()),
        ),
        metricNamespace: METRICS_NAMESPACE,
        metricName: RINGCENTRAL_LOGIN_REFUSED_METRIC,
        metricValue: '1',
      });
    }
    for (const [name, logGroup] of Object.entries(options.logGroups)) {
      new MetricFilter(this, `${name}RingCentralPermissionMissingFilter`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.errorCode', '=', RINGCENTRAL_PERMISSION_MISSING_CODE),
        metricNamespace: METRICS_NAMESPACE,
        metricName: RINGCENTRAL_PERMISSION_MISSING_METRIC,
        metricValue: '1',
      });
    }
    this.alarm('RingCentralPermissionMissing', {
      metric: dimensionFreeMetric(RINGCENTRAL_PERMISSION_MISSING_METRIC, 'Sum', Duration.hours(1)),
      threshold: 1,
      description:
        "A RingCentral app lacks a permission its source uses (the login's scope names it; npm run status lists it): add it to the app in the RingCentral developer console (README, RingCentral). What needs it (webhook subscription, deletes) fails meanwhile; the sweep goes on where it can.",
    });
    this.alarm('RingCentralLoginRefused', {
      metric: dimensionFreeMetric(RINGCENTRAL_LOGIN_REFUSED_METRIC, 'Sum', Duration.minutes(15)),
      threshold: 1,
      description:
        "RingCentral refused a source's JWT login (or jobs fail on that refusal): nothing can be listed or downloaded. Fix clientId, clientSecret or jwt in the source's secret; logins resume after the 15-minute cooldown.",
    });

    new MetricFilter(this, 'RingCentralRateLimitedFilter', {
      logGroup: options.workerLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.code', '=', RATE_LIMITED_CODE),
        ringCentralJob(),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: RINGCENTRAL_RATE_LIMITED_METRIC,
      metricValue: '1',
    });
    this.alarm('RingCentralRateLimited', {
      metric: dimensionFreeMetric(RINGCENTRAL_RATE_LIMITED_METRIC, 'Sum', Duration.minutes(15)),
      threshold: 10,
      description:
        'RingCentral answered 429 to archive jobs 10 times or more within 15 minutes despite the rate gate: another app or user spends the same budget, or rateLimits.heavyPerMinute is set above the account plan.',
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
        'A webhook subscription is not Active (RingCentral: blacklisted, suspended or missing; Teams: expired, removed or missing): new recordings arrive only through the sweep until it is renewed. See the subscriptions function log (`subscription created` / `subscription deleted`).',
    });
  }

  /**
   * Teams' own failure modes, for stacks with a Teams source:
   * - the application access policy missing: Graph refuses every read of the users' recordings until an
   *   admin grants one (New-CsApplicationAccessPolicy, Grant-CsApplicationAccessPolicy);
   * - metered meeting-recording content refused for want of billing (402): jobs wait until it is linked;
   * - Entra refusing the app credentials (logged once per cooldown, shared by every container); the
   *   15-minute period spans the cooldown so the alarm stays raised while they are wrong;
   * - missed notifications: Graph's `missed` lifecycle event says it dropped notifications; the sweep
   *   recovers them, but a repeated loss means the webhook is too slow or failing.
   */
  watchTeams(options: {
    /** Every function that may call Graph or Entra for a Teams source. */
    logGroups: Readonly<Record<string, ILogGroup>>;
    /** The webhook, which logs each lifecycle notification. */
    webhookLogGroup: ILogGroup;
  }): void {
    for (const [name, logGroup] of Object.entries(options.logGroups)) {
      new MetricFilter(this, `${name}TeamsAccessPolicyMissingFilter`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.message', '=', TEAMS_ACCESS_POLICY_MISSING_MESSAGE),
        metricNamespace: METRICS_NAMESPACE,
        metricName: TEAMS_ACCESS_POLICY_MISSING_METRIC,
        metricValue: '1',
      });
      new MetricFilter(this, `${name}TeamsMeteredApiFilter`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.message', '=', TEAMS_METERED_API_MESSAGE),
        metricNamespace: METRICS_NAMESPACE,
        metricName: TEAMS_METERED_API_METRIC,
        metricValue: '1',
      });
      new MetricFilter(this, `${name}TeamsCredentialsRefusedFilter`, {
        logGroup,
        filterPattern: FilterPattern.stringValue('$.message', '=', TEAMS_CREDENTIALS_REFUSED_MESSAGE),
        metricNamespace: METRICS_NAMESPACE,
        metricName: TEAMS_CREDENTIALS_REFUSED_METRIC,
        metricValue: '1',
      });
    }
    this.alarm('TeamsAccessPolicyMissing', {
      metric: dimensionFreeMetric(TEAMS_ACCESS_POLICY_MISSING_METRIC, 'Sum', Duration.minutes(15)),
      threshold: 1,
      description:
        "Graph answered 403 to a Teams source: no application access policy lets the app read the user's recordings, so none are archived for that user. Grant one (Grant-CsApplicationAccessPolicy) to the users the source covers; the log line names the source and user.",
    });
    this.alarm('TeamsMeteredApiBilling', {
      metric: dimensionFreeMetric(TEAMS_METERED_API_METRIC, 'Sum', Duration.hours(1)),
      threshold: 1,
      description:
        "TEAMS_METERED_API_BILLING: Graph refused a Teams source's meeting-recording content as a metered API without billing (402, or the evaluation quota spent). Link an Azure subscription to the app (README: Microsoft Teams recordings: tenant set-up); the jobs wait and retry meanwhile.",
    });
    this.alarm('TeamsCredentialsRefused', {
      metric: dimensionFreeMetric(TEAMS_CREDENTIALS_REFUSED_METRIC, 'Sum', Duration.minutes(15)),
      threshold: 1,
      description:
        "Entra refused a Teams source's app credentials: nothing can be listed or downloaded. Fix clientId or clientSecret in the source's secret (an expired client secret is the usual cause); tokens are requested again after the cooldown.",
    });
    new MetricFilter(this, 'TeamsMissedNotificationsFilter', {
      logGroup: options.webhookLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.message', '=', TEAMS_LIFECYCLE_MESSAGE),
        FilterPattern.stringValue('$.event', '=', TEAMS_MISSED_EVENT),
      ),
      metricNamespace: METRICS_NAMESPACE,
      metricName: TEAMS_MISSED_NOTIFICATIONS_METRIC,
      metricValue: '1',
    });
    this.alarm('TeamsMissedNotifications', {
      metric: dimensionFreeMetric(TEAMS_MISSED_NOTIFICATIONS_METRIC, 'Sum', Duration.hours(1)),
      threshold: 1,
      description:
        'Graph reported missed notifications for a Teams subscription: it dropped webhook deliveries. The sweep archives what they announced; if this repeats, check the webhook errors and latency.',
    });
  }

  /**
   * Authenticated webhook events the adapters could not interpret (a Teams resource path in a spelling
   * callvault does not read, a RingCentral or Telphin event it cannot parse). Each is logged with its
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

  /** The Graph calling bot's losses: tokens that expired before the fetch, and record operations that failed. */
  watchGraphBot(): void {
    this.alarm('GraphExpiredBeforeFetch', {
      metric: serviceMetric(EXPIRED_BEFORE_FETCH_METRIC, 'Sum', Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      description:
        "Graph recordings were lost: their download token expired before the worker fetched them, and Graph keeps no copy. Check the msgraph queue's age and the worker's throttles and errors.",
    });
    this.alarm('GraphFailedRecordOperations', {
      metric: serviceMetric(GRAPH_FAILED_RECORD_OPERATIONS_METRIC, 'Sum', Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      description:
        'The Graph calling bot reported failed record operations: those calls produced no recording to archive. See the webhook log for the result info.',
    });
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
        metricName: 'DueButNotArchivedTotal',
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
