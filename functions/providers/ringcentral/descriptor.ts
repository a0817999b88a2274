import type { ErrorCode } from '../../core/errors';
import { defineProvider, type LogMatch, type ProviderAlarm, WORKER_BATCH_SIZE } from '../descriptor';
import { CALL_LOG_PAGE_SIZE, pacedIntervalMs } from './heavy-budget';
import {
  type RingCentralSourceConfig,
  ringCentralCredentialsSchema,
  ringCentralSourceSchema,
} from './ringcentral-config';
import { PERMISSION_MISSING_CODE } from './ringcentral-permissions';

declare module '../../core/recording' {
  interface ProviderNames {
    ringcentral: true;
  }
}

/**
 * Heavy-group requests one busy RingCentral worker spends a minute: each job is one call-log lookup or
 * one content download (both Heavy), and a short recording streams in seconds, so a worker that never
 * waits would spend several a minute. Five is the planning figure: the shared rate gate is what enforces
 * the budget, and workers beyond `budget / 5` would only hold their messages while they wait at it.
 */
export const RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE = 5;

// Metric names and the log texts the stack's metric filters count (cdk/constructs/monitoring.ts).
/** Counted from the functions' logs: RingCentral refusing the JWT login, or jobs failing on that refusal. */
export const RINGCENTRAL_LOGIN_REFUSED_METRIC = 'RingCentralLoginRefused';
/** What ringcentral-auth.ts logs (level error) when a JWT login is refused. */
export const RINGCENTRAL_LOGIN_REFUSED_MESSAGE = 'ringcentral refused the JWT login';
/** Counted from the functions' logs: a RingCentral app lacking a permission the source uses (token `scope`). */
export const RINGCENTRAL_PERMISSION_MISSING_METRIC = 'RingCentralPermissionMissing';
/** Heavy requests one archived recording spends at least: its content download. */
export const RINGCENTRAL_HEAVY_REQUESTS_PER_RECORDING = 1;
/** Heavy requests a webhook hint spends finding its call in the call log (one query, one page). */
const RINGCENTRAL_HINT_LOOKUP_REQUESTS = 1;
/** Counted from the worker's log: RingCentral jobs put back on the queue because of a 429. */
export const RINGCENTRAL_RATE_LIMITED_METRIC = 'RingCentralRateLimited';
/**
 * `$.job` of RingCentral jobs (hints and recordings; never fetch-now), as core/jobs.ts describeJob writes
 * it. CloudWatch documents trailing wildcards in JSON filters, so each job type gets its own prefix.
 */
export const RINGCENTRAL_JOB_PATTERNS = ['hint ringcentral/*', 'recording ringcentral/*'] as const;

/** The RingCentral job of a retry log line (core/jobs.ts describeJob), as the worker logs it in `$.job`. */
const ringCentralJob: LogMatch = {
  any: RINGCENTRAL_JOB_PATTERNS.map((pattern) => ({ field: '$.job', equals: pattern })),
};

/**
 * RingCentral's own failure modes:
 * - login refused: the refusal itself (logged once per 15-minute cooldown, shared by every container)
 *   or a RingCentral job failing as unauthenticated meanwhile; the 15-minute period spans the cooldown,
 *   so the alarm stays raised while the credentials are wrong instead of flapping back to OK;
 * - 429s: RingCentral jobs retried because the platform answered 429. The shared rate gate should keep
 *   them rare; 10 within 15 minutes means something else spends the same budget (another app, a wrong
 *   `rateLimits.heavyPerMinute`).
 */
const RINGCENTRAL_ALARMS: readonly ProviderAlarm[] = [
  {
    id: 'RingCentralPermissionMissing',
    metricName: RINGCENTRAL_PERMISSION_MISSING_METRIC,
    from: {
      logs: 'credential-readers',
      filterId: 'RingCentralPermissionMissing',
      match: { field: '$.errorCode', equals: PERMISSION_MISSING_CODE },
    },
    periodMinutes: 60,
    threshold: 1,
    description:
      "A RingCentral app lacks a permission its source uses (the login's scope names it; npm run status lists it): add it to the app in the RingCentral developer console (README, RingCentral). What needs it (webhook subscription, deletes) fails meanwhile; the sweep goes on where it can.",
  },
  {
    id: 'RingCentralLoginRefused',
    metricName: RINGCENTRAL_LOGIN_REFUSED_METRIC,
    from: {
      logs: 'credential-readers',
      filterId: 'RingCentralLoginRefused',
      match: {
        any: [
          { field: '$.message', equals: RINGCENTRAL_LOGIN_REFUSED_MESSAGE },
          { all: [{ field: '$.code', equals: 'UNAUTHENTICATED' satisfies ErrorCode }, ringCentralJob] },
        ],
      },
    },
    periodMinutes: 15,
    threshold: 1,
    description:
      "RingCentral refused a source's JWT login (or jobs fail on that refusal): nothing can be listed or downloaded. Fix clientId, clientSecret or jwt in the source's secret; logins resume after the 15-minute cooldown.",
  },
  {
    id: 'RingCentralRateLimited',
    metricName: RINGCENTRAL_RATE_LIMITED_METRIC,
    from: {
      logs: 'worker',
      filterId: 'RingCentralRateLimited',
      match: { all: [{ field: '$.code', equals: 'RATE_LIMITED' satisfies ErrorCode }, ringCentralJob] },
    },
    periodMinutes: 15,
    threshold: 10,
    description:
      'RingCentral answered 429 to archive jobs 10 times or more within 15 minutes despite the rate gate: another app or user spends the same budget, or rateLimits.heavyPerMinute is set above the account plan.',
  },
];

export const ringCentralProvider = defineProvider({
  name: 'ringcentral',
  title: 'RingCentral call recordings',
  configSchema: ringCentralSourceSchema,
  credentials: {
    schema: ringCentralCredentialsSchema,
    // The JWT credential of the user the app acts as (JWT grant).
    operatorFields: ['clientId', 'clientSecret', 'jwt'],
    webhookSecretRole: "webhookSecret is the subscription's verificationToken",
  },
  capabilities: {
    list: true,
    delete: true,
    grantCarryingJobs: false,
    // One JWT session per app and user, and the Heavy budget, shared by every container.
    sharedState: true,
    subscriptionsAt: (source: RingCentralSourceConfig) => source.serverUrl,
  },
  webhook: { auth: 'verification-token-header' },
  worker: {
    // The Heavy group's budget at the rate gate's pace. Each recording spends its content download and
    // its webhook hint's call-log lookup, and its delete where retention deletes at the source; the
    // sweep's call-log pages come off the top (core/budget-forecast.ts). The lookup is counted even
    // though the webhook secret usually sits in Secrets Manager, out of the config's sight: a source
    // without webhooks then archives a little more than forecast, never less.
    rateBudget: (source, usage) => ({
      requestsPerMinute: 60_000 / pacedIntervalMs(source.rateLimits.heavyPerMinute),
      requestsPerRecording:
        RINGCENTRAL_HEAVY_REQUESTS_PER_RECORDING +
        RINGCENTRAL_HINT_LOOKUP_REQUESTS +
        (usage.deletesAtSource ? 1 : 0),
      listing: { recordsPerRequest: CALL_LOG_PAGE_SIZE, scopes: source.scope.extensions?.length ?? 1 },
    }),
    batchSize: WORKER_BATCH_SIZE,
    // The Heavy budget of its sources (summed: they share the queue) over 5, at least SQS's minimum of 2.
    maxConcurrency: (configured, sources) => {
      const heavyPerMinute = sources.reduce((sum, source) => sum + source.rateLimits.heavyPerMinute, 0);
      const fromBudget = Math.floor(heavyPerMinute / RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE);
      return Math.min(configured, Math.max(2, fromBudget));
    },
  },
  metrics: {
    // Deliveries carrying Validation-Token with a body (README, Known limits).
    webhookCounts: { handshakeWithBody: 'RingCentralHandshakeWithBody' },
  },
  alarms: RINGCENTRAL_ALARMS,
  loadAdapter: async () => {
    const { RingCentralSource } = await import('./ringcentral-source');
    return (config, credentials, { clock, log, sharedState, deletesAtSource }) =>
      new RingCentralSource({
        config,
        credentials,
        clock,
        log,
        tokenStore: sharedState.tokens,
        rateGateStore: sharedState.gates,
        deletesAtSource,
      });
  },
});
