/** Namespace of callvault's CloudWatch metrics (the CDK alarms read it: cdk/constructs/monitoring.ts). */
export const METRICS_NAMESPACE = 'Callvault';

/**
 * Metric names for a webhook outcome's counts. Graph's are named for what an operator watches (failed
 * recording operations, refused locations); any other provider's count becomes `{Provider}{Count}`.
 */
const NAMED_WEBHOOK_COUNTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  msgraph: {
    recordingsEnqueued: 'GraphRecordingsEnqueued',
    failedOperations: 'GraphFailedRecordOperations',
    completedWithoutRecording: 'GraphCompletedWithoutRecording',
    refusedLocations: 'GraphRefusedRecordingLocations',
    malformedOperations: 'GraphMalformedRecordOperations',
    ignoredNotifications: 'GraphIgnoredNotifications',
    duplicateNotifications: 'GraphDuplicateNotifications',
  },
  ringcentral: {
    // Deliveries carrying Validation-Token with a body (README, Known limits).
    handshakeWithBody: 'RingCentralHandshakeWithBody',
  },
};

export function webhookCountMetricName(provider: string, count: string): string {
  const named = NAMED_WEBHOOK_COUNTS[provider]?.[count];
  if (named) return named;
  const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
  return `${pascal(provider)}${pascal(count)}`;
}

/**
 * Published by the sweep function after every run (Powertools, `service` dimension; per source with a
 * `source` dimension too): parts of sources (users, extensions) the sweep could not list. 0 once every
 * part is covered again; the `SweepScopesNotCovered` alarm watches it.
 */
export const SWEEP_SCOPES_NOT_COVERED_METRIC = 'SweepScopesNotCovered';

/**
 * Published by the archive workers per job outcome, with a `provider` dimension beside `service`: each
 * recording newly copied into the archive, and each the source no longer had (its record is under
 * `audit/gone-at-source/`). The stack's dashboard graphs them per provider and hour.
 */
export const RECORDINGS_ARCHIVED_METRIC = 'RecordingsArchived';
export const RECORDINGS_GONE_AT_SOURCE_METRIC = 'RecordingsGoneAtSource';
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
