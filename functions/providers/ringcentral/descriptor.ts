import type { ErrorCode } from '../../core/errors';
import { defineProvider, type LogMatch, type ProviderAlarm, WORKER_BATCH_SIZE } from '../descriptor';
import {
  type RingCentralSourceConfig,
  ringCentralCredentialsSchema,
  ringCentralSourceSchema,
} from './ringcentral-config';

declare module '../../core/recording' {
  interface ProviderNames {
    ringcentral: true;
  }
}

// RingCentral's Heavy group as callvault spends it: the call log, recording content and delete all count
// against it (API reference, "Rate Limits"). Kept here, free of I/O, for the config and the CDK app.

/** Slots a little wider than window / limit: at the edge of a fixed window, jitter would add one too many. */
const PACING_MARGIN = 1.05;

/** The spacing the rate gate keeps between Heavy slots for a budget of `limit` a window (a minute). */
export function pacedIntervalMs(limit: number, windowMs = 60_000): number {
  return Math.ceil((windowMs / limit) * PACING_MARGIN);
}

/** RingCentral's largest call-log page (`perPage`), which the adapter asks for: one Heavy request each. */
export const CALL_LOG_PAGE_SIZE = 1000;

/**
 * Heavy requests one busy worker spends a minute (a job is one lookup or download, seconds each): a
 * planning figure, since the gate enforces the budget and workers beyond `budget / 5` would only wait.
 */
export const RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE = 5;

/** The `errorCode` of the line the adapter logs for each permission its app lacks (token `scope`). */
export const PERMISSION_MISSING_CODE = 'RINGCENTRAL_PERMISSION_MISSING';
/** What ringcentral-auth.ts logs (level error) when a JWT login is refused; a metric filter counts it. */
export const RINGCENTRAL_LOGIN_REFUSED_MESSAGE = 'ringcentral refused the JWT login';
/** Counted from the worker's log: RingCentral jobs put back on the queue because of a 429. */
export const RINGCENTRAL_RATE_LIMITED_METRIC = 'RingCentralRateLimited';
/** `$.job` of RingCentral jobs (core/jobs.ts describeJob); CloudWatch JSON filters allow trailing `*`. */
export const RINGCENTRAL_JOB_PATTERNS = ['hint ringcentral/*', 'recording ringcentral/*'] as const;

const ringCentralJob: LogMatch = {
  any: RINGCENTRAL_JOB_PATTERNS.map((pattern) => ({ field: '$.job', equals: pattern })),
};

/** An alarm on a metric counted from log lines; the metric and its filter bear the alarm's id. */
function logAlarm(
  id: string,
  logs: 'credential-readers' | 'worker',
  match: LogMatch,
  periodMinutes: number,
  threshold: number,
  description: string,
): ProviderAlarm {
  return { id, metricName: id, from: { logs, filterId: id, match }, periodMinutes, threshold, description };
}

/**
 * A permission the app lacks; a refused login (logged once per 15-minute cooldown: the 15-minute period
 * keeps the alarm from flapping); 429s, rare behind the gate unless another app or a too-high
 * `rateLimits.heavyPerMinute` spends the budget.
 */
const RINGCENTRAL_ALARMS: readonly ProviderAlarm[] = [
  logAlarm(
    'RingCentralPermissionMissing',
    'credential-readers',
    { field: '$.errorCode', equals: PERMISSION_MISSING_CODE },
    60,
    1,
    "A RingCentral app lacks a permission its source uses (the login's scope names it; npm run status lists it): add it to the app in the RingCentral developer console (README, RingCentral). What needs it (webhook subscription, deletes) fails meanwhile; the sweep goes on where it can.",
  ),
  logAlarm(
    'RingCentralLoginRefused',
    'credential-readers',
    {
      any: [
        { field: '$.message', equals: RINGCENTRAL_LOGIN_REFUSED_MESSAGE },
        { all: [{ field: '$.code', equals: 'UNAUTHENTICATED' satisfies ErrorCode }, ringCentralJob] },
      ],
    },
    15,
    1,
    "RingCentral refused a source's JWT login (or jobs fail on that refusal): nothing can be listed or downloaded. Fix clientId, clientSecret or jwt in the source's secret; logins resume after the 15-minute cooldown.",
  ),
  logAlarm(
    RINGCENTRAL_RATE_LIMITED_METRIC,
    'worker',
    { all: [{ field: '$.code', equals: 'RATE_LIMITED' satisfies ErrorCode }, ringCentralJob] },
    15,
    10,
    'RingCentral answered 429 to archive jobs 10 times or more within 15 minutes despite the rate gate: another app or user spends the same budget, or rateLimits.heavyPerMinute is set above the account plan.',
  ),
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
    // The Heavy budget at the gate's pace: per recording its download, its hint's call-log lookup (counted
    // even without webhooks: the secret is out of the config's sight) and any delete; the sweep's pages
    // come off the top (core/budget-forecast.ts).
    rateBudget: (source, usage) => ({
      requestsPerMinute: 60_000 / pacedIntervalMs(source.rateLimits.heavyPerMinute),
      requestsPerRecording: 2 + (usage.deletesAtSource ? 1 : 0),
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
