/**
 * Metric names and the log texts metric filters count, shared by the functions (which publish and log
 * them) and the CDK app (whose alarms read them: cdk/constructs/monitoring.ts). A provider's own names
 * live in its descriptor (`metrics`); this module names no provider.
 */

/** Namespace of callvault's CloudWatch metrics. */
export const METRICS_NAMESPACE = 'Callvault';
/** Powertools' `serviceName`: every metric the functions publish carries it as the `service` dimension. */
export const METRICS_SERVICE = 'callvault';
export const METRICS_SERVICE_DIMENSION = { service: METRICS_SERVICE } as const;

/** Counted from the functions' logs by a metric filter (`errorCode` CREDENTIALS_NOT_SET). */
export const CREDENTIALS_NOT_SET_METRIC = 'CredentialsNotSet';
/**
 * Published by the sweep function after every run (per source with a `source` dimension too): parts of
 * sources (users, extensions) the sweep could not list. 0 once every part is covered again.
 */
export const SWEEP_SCOPES_NOT_COVERED_METRIC = 'SweepScopesNotCovered';
/** Published by the subscriptions function: subscriptions not Active. */
export const SUBSCRIPTIONS_NOT_ACTIVE_METRIC = 'SubscriptionsNotActive';
/** Published by the subscriptions function: subscription checks that failed. */
export const SUBSCRIPTION_FAILURES_METRIC = 'SubscriptionFailures';
/** Published by the worker: recordings whose download grant expired before they were fetched. */
export const EXPIRED_BEFORE_FETCH_METRIC = 'ExpiredBeforeFetch';
/** Published by retention: recordings due for deletion without a verified copy (per source, and in total). */
export const DUE_BUT_NOT_ARCHIVED_METRIC = 'DueButNotArchived';
export const DUE_BUT_NOT_ARCHIVED_TOTAL_METRIC = 'DueButNotArchivedTotal';

/** Counted from the webhook's log: authenticated events no adapter could interpret (any provider). */
export const WEBHOOK_NOT_UNDERSTOOD_METRIC = 'WebhookEventsNotUnderstood';
/** What functions/core/receive-webhook.ts logs (level error, with this `errorCode`) per such delivery. */
export { WEBHOOK_NOT_UNDERSTOOD_CODE, WEBHOOK_NOT_UNDERSTOOD_MESSAGE } from '../core/receive-webhook';

/**
 * Metric name of a webhook outcome's count: the provider's own name for it (its descriptor's
 * `metrics.webhookCounts`), else `{Provider}{Count}`.
 */
export function webhookCountMetricName(
  provider: string,
  count: string,
  named: Readonly<Record<string, string>> = {},
): string {
  const name = named[count];
  if (name) return name;
  const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
  return `${pascal(provider)}${pascal(count)}`;
}

/**
 * Published by the archive workers per job outcome, with a `provider` dimension beside `service`: each
 * recording newly copied into the archive, and each the source no longer had (its record is under
 * `audit/gone-at-source/`). The stack's dashboard graphs them per provider and hour.
 */
export const RECORDINGS_ARCHIVED_METRIC = 'RecordingsArchived';
export const RECORDINGS_GONE_AT_SOURCE_METRIC = 'RecordingsGoneAtSource';
/**
 * Published by the archive workers like the two above: a download that outlived its invocation and was
 * re-queued to continue (core/continuation.ts), and one that started over from byte zero because the
 * source or the open upload could not continue it (logged as "restarted: source refused range").
 */
export const DOWNLOADS_CONTINUED_METRIC = 'DownloadsContinued';
export const DOWNLOADS_RESTARTED_METRIC = 'DownloadsRestarted';
export const PROVIDER_DIMENSION = 'provider';

/**
 * Published by the sweep function after every run, per rate-limited source (`source` dimension): 1 when
 * the recordings arriving outnumber what the platform's budget can archive a day (core/budget-forecast.ts),
 * else 0; and the two figures it compares. The `{source}BudgetBacklogGrows` alarm fires after 24 hours
 * of 1.
 */
export const BUDGET_BACKLOG_GROWING_METRIC = 'BudgetBacklogGrowing';
export const BUDGET_CAPACITY_PER_DAY_METRIC = 'BudgetCapacityPerDay';
export const BUDGET_ARRIVALS_PER_DAY_METRIC = 'BudgetArrivalsPerDay';
