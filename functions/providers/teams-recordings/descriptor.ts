import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../core/retry-policy';
import { defineProvider, type LogMatch, type ProviderAlarm } from '../descriptor';
import {
  type TeamsRecordingsSourceConfig,
  teamsRecordingsCredentialsSchema,
  teamsRecordingsSourceSchema,
} from './teams-recordings-config';
import { teamsRecordingsLifecycleHook } from './teams-recordings-lifecycle-follow-up';
import { MSTEAMS_WEBHOOK_COUNTS } from './teams-recordings-webhook';

declare module '../../core/recording' {
  interface ProviderNames {
    msteams: true;
  }
}

/**
 * Receives a job spends while Graph answers 404 for content Teams still processes (up to `contentWaitHours`):
 * not-ready retries double up to an hour; at the last receive the worker dead-letters the job itself.
 */
export function receivesWhileNotReady(
  contentWaitHours: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number {
  const waitSeconds = contentWaitHours * 3600;
  let elapsed = 0;
  let receives = 1;
  while (elapsed < waitSeconds) {
    elapsed += Math.min(policy.notReadyBaseSeconds * 2 ** (receives - 1), policy.notReadyMaxSeconds);
    receives += 1;
  }
  return receives;
}

// The log texts the stack's metric filters count (cdk/constructs/monitoring.ts): teams-recordings-graph.ts
// logs the access-policy, credentials and metered-API ones (error); the webhook one line per lifecycle event.
export const TEAMS_ACCESS_POLICY_MISSING_MESSAGE = 'teams application access policy missing';
export const TEAMS_CREDENTIALS_REFUSED_MESSAGE = 'entra refused the app credentials of a Teams source';
export const TEAMS_LIFECYCLE_MESSAGE = 'teams subscription lifecycle event';
/** The lifecycle event by which Graph says it dropped notifications. */
export const TEAMS_MISSED_EVENT = 'missed';
export const TEAMS_METERED_API_MESSAGE = 'teams metered api refused: link billing to the app';

/** An alarm on a metric counted from log lines: one match in `periodMinutes` raises it. */
function logAlarm(
  metricName: string,
  logs: 'credential-readers' | 'webhook',
  match: LogMatch,
  periodMinutes: number,
  description: string,
  filterId = metricName,
): ProviderAlarm {
  return {
    id: metricName,
    metricName,
    from: { logs, filterId, match },
    periodMinutes,
    threshold: 1,
    description,
  };
}

const messageIs = (equals: string): LogMatch => ({ field: '$.message', equals });

/**
 * Teams' own failure modes, each description saying what to do. A credentials refusal is logged once per
 * cooldown (shared by every container): the 15-minute period spans it, so the alarm stays raised.
 */
const MSTEAMS_ALARMS: readonly ProviderAlarm[] = [
  logAlarm(
    'TeamsAccessPolicyMissing',
    'credential-readers',
    messageIs(TEAMS_ACCESS_POLICY_MISSING_MESSAGE),
    15,
    "Graph answered 403 to a Teams source: no application access policy lets the app read the user's recordings, so none are archived for that user. Grant one (Grant-CsApplicationAccessPolicy) to the users the source covers; the log line names the source and user.",
  ),
  logAlarm(
    'TeamsMeteredApiBilling',
    'credential-readers',
    messageIs(TEAMS_METERED_API_MESSAGE),
    60,
    "TEAMS_METERED_API_BILLING: Graph refused a Teams source's meeting-recording content as a metered API without billing (402, or the evaluation quota spent). Link an Azure subscription to the app (README: Microsoft Teams recordings: tenant set-up); the jobs wait and retry meanwhile.",
    'TeamsMeteredApi',
  ),
  logAlarm(
    'TeamsCredentialsRefused',
    'credential-readers',
    messageIs(TEAMS_CREDENTIALS_REFUSED_MESSAGE),
    15,
    "Entra refused a Teams source's app credentials: nothing can be listed or downloaded. Fix clientId or clientSecret in the source's secret (an expired client secret is the usual cause); tokens are requested again after the cooldown.",
  ),
  logAlarm(
    'TeamsMissedNotifications',
    'webhook',
    { all: [messageIs(TEAMS_LIFECYCLE_MESSAGE), { field: '$.event', equals: TEAMS_MISSED_EVENT }] },
    60,
    'Graph reported missed notifications for a Teams subscription: it dropped webhook deliveries. The sweep archives what they announced; if this repeats, check the webhook errors and latency.',
  ),
];

export const teamsRecordingsProvider = defineProvider({
  name: 'msteams',
  title: 'Microsoft Teams call and meeting recordings (Graph change notifications)',
  aliases: ['teams-recordings'],
  configSchema: teamsRecordingsSourceSchema,
  credentials: {
    schema: teamsRecordingsCredentialsSchema,
    // The Entra app registration's client credentials.
    operatorFields: ['clientId', 'clientSecret'],
    webhookSecretRole: "webhookSecret is the Graph subscriptions' clientState",
  },
  capabilities: {
    list: true,
    // Graph offers no delete for Teams recordings: retention never targets these sources.
    delete: false,
    grantCarryingJobs: false,
    // One Entra app token for all containers; a refusal of the app credentials stops every holder.
    sharedState: true,
    // Graph validates both subscription URLs over https before it creates anything.
    subscriptionsAt: (source: TeamsRecordingsSourceConfig) => source.graphUrl,
    // Graph subscriptions live at most 3 days; a check every 12 hours leaves five more runs to renew one
    // whose first renewal failed.
    subscriptionsCheckWithinSeconds: 12 * 3600,
  },
  webhook: { auth: 'client-state' },
  worker: {
    // One multi-GB recording per invocation: a second in the batch would start with the deadline half spent.
    batchSize: 1,
    // The longest content wait of its sources, plus `worker.maxReceiveCount` for transient faults on the way.
    maxReceiveCount: (configured, sources) =>
      receivesWhileNotReady(Math.max(0, ...sources.map((source) => source.contentWaitHours))) + configured,
    // Sized from BENCHMARKS.md (2 shared cores: archive path 22.0-35.4 MiB/s, Teams path 60.1 MiB/s) and S3:
    // - a 4 GiB recording streams in 116-186 s; Lambda's 900 s need only 4.6 MiB/s (5x-8x margin, part of
    //   it spent on TLS, absent on the bench's loopback);
    // - 64 MiB parts: 4 GiB is 64 of S3's 10,000 parts (64 round trips, not 512 at 8 MiB); buffers about
    //   64 x (2 in flight + 1) = 192 MiB;
    // - 1,769 MiB is one full Lambda vCPU: hashing (SHA-256) and two TLS streams are CPU-bound.
    ownWorker: {
      id: 'TeamsWorker',
      description: 'callvault Teams worker: streams multi-GB Teams recordings from Graph into S3',
      timeoutSeconds: 900,
      memoryMiB: 1769,
      partSizeMiB: 64,
    },
    // A metered-API refusal (402) keeps jobs waiting until an admin links billing (core/admin-errors.ts).
    recordsAdminErrors: true,
    // A recording may answer 404 for this long while Teams processes it; its job keeps coming back.
    jobLifetime: (source: TeamsRecordingsSourceConfig) => ({
      seconds: source.contentWaitHours * 3600,
      key: 'contentWaitHours',
    }),
  },
  metrics: { webhookCountKeys: MSTEAMS_WEBHOOK_COUNTS },
  alarms: MSTEAMS_ALARMS,
  lifecycleFollowUp: teamsRecordingsLifecycleHook,
  loadAdapter: async () => {
    const { TeamsRecordingsSource } = await import('./teams-recordings-source');
    return (config, credentials, { clock, log, sharedState }) =>
      new TeamsRecordingsSource({ config, credentials, clock, log, tokenStore: sharedState.tokens });
  },
});
