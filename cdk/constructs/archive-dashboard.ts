import { Duration, Stack } from 'aws-cdk-lib';
import {
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { ProviderName } from '../../functions/core/recording';
import {
  BUDGET_ARRIVALS_PER_DAY_METRIC,
  BUDGET_BACKLOG_GROWING_METRIC,
  BUDGET_CAPACITY_PER_DAY_METRIC,
  DOWNLOADS_CONTINUED_METRIC,
  DOWNLOADS_RESTARTED_METRIC,
  PROVIDER_DIMENSION,
  RECORDINGS_ARCHIVED_METRIC,
  RECORDINGS_GONE_AT_SOURCE_METRIC,
  SWEEP_SCOPES_NOT_COVERED_METRIC,
  webhookCountMetricName,
} from '../../functions/observability/names';
import { descriptorOf } from '../../functions/providers';
import {
  CREDENTIALS_NOT_SET_METRIC,
  EXPIRED_BEFORE_FETCH_METRIC,
  METRICS_NAMESPACE,
  METRICS_SERVICE_DIMENSION,
  SUBSCRIPTIONS_NOT_ACTIVE_METRIC,
  WEBHOOK_NOT_UNDERSTOOD_METRIC,
} from './monitoring';
import type { ProviderQueue } from './provider-queue';

/**
 * The counts a provider's webhook adapter reports (`WebhookOutcome.counts`), published by the webhook
 * function as `webhookCountMetricName(provider, count, descriptor.metrics.webhookCounts)`.
 */
export function webhookCountsOf(provider: ProviderName): readonly string[] {
  const { metrics } = descriptorOf(provider);
  return metrics.webhookCountKeys ?? Object.keys(metrics.webhookCounts ?? {});
}

/** Metrics counted from the functions' logs by monitoring.ts (the descriptor's log-based alarms). */
function logCountedOf(provider: ProviderName): readonly string[] {
  return (descriptorOf(provider).alarms ?? [])
    .filter((alarm) => 'logs' in alarm.from)
    .map((alarm) => alarm.metricName);
}

/** The retention function's metrics (functions/retention.ts). */
export const RETENTION_METRICS = {
  deleted: 'RecordingsDeletedAtSource',
  skipped: 'RetentionSkipped',
  dueButNotArchived: 'DueButNotArchived',
  dueButNotArchivedTotal: 'DueButNotArchivedTotal',
} as const;

/** The subscriptions function's metrics (functions/subscriptions.ts). */
export const SUBSCRIPTION_METRICS = {
  active: 'SubscriptionsActive',
  created: 'SubscriptionsCreated',
  failures: 'SubscriptionFailures',
  notActive: SUBSCRIPTIONS_NOT_ACTIVE_METRIC,
} as const;

export interface ArchiveDashboardProps {
  readonly queues: ReadonlyMap<ProviderName, ProviderQueue>;
  /** The enabled sources: per-source metrics carry their id in a `source` dimension. */
  readonly sources: readonly { readonly provider: ProviderName; readonly id: string }[];
  /** Sources whose webhook subscriptions the subscriptions function keeps (empty: no such function). */
  readonly subscriptionSourceIds: readonly string[];
  /** Sources retention deletes from (empty: no retention function). */
  readonly retentionSourceIds: readonly string[];
  /** The catalogue's Athena workgroup, which publishes its query metrics to CloudWatch. */
  readonly athenaWorkgroup: string;
  /** Rate-limited sources, whose budget forecast the sweep publishes. @default none */
  readonly budgetSourceIds?: readonly string[];
}

const HOUR = Duration.hours(1);
const FIVE_MINUTES = Duration.minutes(5);
const WIDTH = 24;
const THIRD = 8;

/**
 * One CloudWatch dashboard for the stack: a row per provider (archived per hour, gone at the source or
 * expired before the fetch, queue depth and the oldest job's age, dead letters, its platform's refusals
 * and 429s, subscription state per source, what its webhook counted), then retention, the sweep, the
 * webhook and Athena's bytes scanned. Only metrics the functions publish (Powertools EMF, `service`
 * dimension) or monitoring.ts counts from their logs; a graph with no data means nothing happened.
 */
export class ArchiveDashboard extends Construct {
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: ArchiveDashboardProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `callvault-${stack.stackName}`,
      defaultInterval: Duration.days(1),
    });
    for (const [provider, providerQueue] of props.queues) {
      const sourceIds = props.sources.filter((source) => source.provider === provider).map((s) => s.id);
      this.dashboard.addWidgets(...providerRow(provider, providerQueue, sourceIds, props));
    }
    this.dashboard.addWidgets(...commonRow(props));
  }
}

function serviceMetric(
  metricName: string,
  options: {
    statistic?: string;
    period?: Duration;
    dimensions?: Record<string, string>;
    label?: string;
  } = {},
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    statistic: options.statistic ?? 'Sum',
    period: options.period ?? HOUR,
    dimensionsMap: { ...METRICS_SERVICE_DIMENSION, ...options.dimensions },
    label: options.label,
  });
}

/** Log-filter metrics carry no dimension (monitoring.ts). */
function logCountedMetric(metricName: string): Metric {
  return new Metric({ namespace: METRICS_NAMESPACE, metricName, statistic: 'Sum', period: HOUR });
}

function graph(title: string, left: IMetric[], options: { right?: IMetric[]; width?: number } = {}) {
  return new GraphWidget({
    title,
    left,
    right: options.right,
    width: options.width ?? THIRD,
    height: 6,
    leftYAxis: { min: 0 },
    ...(options.right ? { rightYAxis: { min: 0 } } : {}),
  });
}

function providerRow(
  provider: ProviderName,
  providerQueue: ProviderQueue,
  sourceIds: readonly string[],
  props: ArchiveDashboardProps,
): IWidget[] {
  const perProvider = { [PROVIDER_DIMENSION]: provider };
  const outcomes: IMetric[] = [
    serviceMetric(RECORDINGS_ARCHIVED_METRIC, { dimensions: perProvider, label: 'archived' }),
    serviceMetric(RECORDINGS_GONE_AT_SOURCE_METRIC, { dimensions: perProvider, label: 'gone at source' }),
    // Downloads that outlived an invocation: continued over Range, or started over (README, "Storage lifecycle").
    serviceMetric(DOWNLOADS_CONTINUED_METRIC, { dimensions: perProvider, label: 'continued' }),
    serviceMetric(DOWNLOADS_RESTARTED_METRIC, { dimensions: perProvider, label: 'restarted from zero' }),
  ];
  // Only recordings whose jobs carry a grant expire before a fetch (a download grant minutes long).
  if (descriptorOf(provider).capabilities.grantCarryingJobs) {
    outcomes.push(serviceMetric(EXPIRED_BEFORE_FETCH_METRIC, { label: 'expired before fetch' }));
  }
  const widgets: IWidget[] = [
    new TextWidget({ markdown: `## ${provider}: ${sourceIds.join(', ')}`, width: WIDTH, height: 1 }),
    graph(`${provider}: recordings per hour`, outcomes),
    graph(
      `${provider}: queue`,
      [
        providerQueue.queue.metricApproximateNumberOfMessagesVisible({
          period: FIVE_MINUTES,
          statistic: 'Maximum',
          label: 'jobs waiting',
        }),
        providerQueue.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: FIVE_MINUTES,
          statistic: 'Maximum',
          label: 'dead letters',
        }),
      ],
      {
        right: [
          providerQueue.queue.metricApproximateAgeOfOldestMessage({
            period: FIVE_MINUTES,
            statistic: 'Maximum',
            label: 'oldest job (s)',
          }),
        ],
      },
    ),
  ];
  const perSource: IMetric[] = [];
  for (const sourceId of sourceIds) {
    const dimensions = { source: sourceId };
    if (props.subscriptionSourceIds.includes(sourceId)) {
      perSource.push(
        serviceMetric(SUBSCRIPTION_METRICS.active, {
          statistic: 'Minimum',
          dimensions,
          label: `${sourceId}: subscriptions active`,
        }),
      );
    }
    perSource.push(
      serviceMetric(SWEEP_SCOPES_NOT_COVERED_METRIC, {
        statistic: 'Maximum',
        dimensions,
        label: `${sourceId}: parts the sweep could not list`,
      }),
    );
    if (props.retentionSourceIds.includes(sourceId)) {
      perSource.push(
        serviceMetric(RETENTION_METRICS.dueButNotArchived, {
          statistic: 'Maximum',
          period: Duration.days(1),
          dimensions,
          label: `${sourceId}: due but not archived`,
        }),
      );
    }
  }
  widgets.push(graph(`${provider}: subscriptions and sweep, per source`, perSource));
  const budgeted = sourceIds.filter((sourceId) => props.budgetSourceIds?.includes(sourceId));
  if (budgeted.length > 0) {
    widgets.push(
      graph(
        `${provider}: request budget, recordings a day (right: 1 = backlog grows)`,
        budgeted.flatMap((sourceId) => [
          serviceMetric(BUDGET_CAPACITY_PER_DAY_METRIC, {
            statistic: 'Minimum',
            dimensions: { source: sourceId },
            label: `${sourceId}: budget archives`,
          }),
          serviceMetric(BUDGET_ARRIVALS_PER_DAY_METRIC, {
            statistic: 'Maximum',
            dimensions: { source: sourceId },
            label: `${sourceId}: arriving`,
          }),
        ]),
        {
          right: budgeted.map((sourceId) =>
            serviceMetric(BUDGET_BACKLOG_GROWING_METRIC, {
              statistic: 'Maximum',
              dimensions: { source: sourceId },
              label: `${sourceId}: backlog grows`,
            }),
          ),
        },
      ),
    );
  }
  const platform = [
    ...logCountedOf(provider).map(logCountedMetric),
    ...webhookCountsOf(provider).map((count) =>
      serviceMetric(webhookCountMetricName(provider, count, descriptorOf(provider).metrics.webhookCounts)),
    ),
  ];
  if (platform.length > 0) {
    widgets.push(
      graph(`${provider}: platform answers (429s, refusals) and webhook counts`, platform, { width: WIDTH }),
    );
  }
  return widgets;
}

function commonRow(props: ArchiveDashboardProps): IWidget[] {
  const widgets: IWidget[] = [new TextWidget({ markdown: '## All sources', width: WIDTH, height: 1 })];
  if (props.retentionSourceIds.length > 0) {
    widgets.push(
      graph('retention: deletes at the source per day', [
        serviceMetric(RETENTION_METRICS.deleted, { period: Duration.days(1), label: 'deleted at source' }),
        serviceMetric(RETENTION_METRICS.skipped, { period: Duration.days(1), label: 'skipped' }),
        serviceMetric(RETENTION_METRICS.dueButNotArchivedTotal, {
          period: Duration.days(1),
          label: 'due but not archived',
        }),
      ]),
    );
  }
  if (props.subscriptionSourceIds.length > 0) {
    widgets.push(
      graph('subscriptions', [
        serviceMetric(SUBSCRIPTION_METRICS.notActive, { statistic: 'Maximum', label: 'not active' }),
        serviceMetric(SUBSCRIPTION_METRICS.created, { label: 'created' }),
        serviceMetric(SUBSCRIPTION_METRICS.failures, { label: 'failures' }),
      ]),
    );
  }
  widgets.push(
    graph('sweep, webhook and credentials', [
      serviceMetric(SWEEP_SCOPES_NOT_COVERED_METRIC, { statistic: 'Maximum', label: 'parts not listed' }),
      logCountedMetric(WEBHOOK_NOT_UNDERSTOOD_METRIC),
      logCountedMetric(CREDENTIALS_NOT_SET_METRIC),
    ]),
    graph('Athena: bytes scanned per hour (catalogue workgroup)', [
      athenaBytesScanned(props.athenaWorkgroup),
    ]),
  );
  return widgets;
}

/**
 * Athena publishes `ProcessedBytes` per workgroup with the query's state and type as further dimensions
 * (https://docs.aws.amazon.com/athena/latest/ug/query-metrics-viewing.html); a search sums them all, so
 * failed and cancelled queries, which are billed for what they scanned, count too.
 */
function athenaBytesScanned(workgroup: string): MathExpression {
  return new MathExpression({
    expression: `SUM(SEARCH('{AWS/Athena,QueryState,QueryType,WorkGroup} MetricName="ProcessedBytes" WorkGroup="${workgroup}"', 'Sum', 3600))`,
    usingMetrics: {},
    label: 'bytes scanned',
    period: HOUR,
  });
}
