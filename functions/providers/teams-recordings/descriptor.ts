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
 * Receives a Teams recording job spends while Graph still answers 404 for its content (Teams processes a
 * recording for up to `contentWaitHours`): not-ready retries double from `notReadyBaseSeconds` to an hour,
 * and the receive at which the wait is over is the one where the worker dead-letters the job itself.
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

// The log texts the stack's metric filters count (cdk/constructs/monitoring.ts).
/** What teams-recordings-graph.ts logs (level error) when Graph refuses reads for want of an access policy. */
export const TEAMS_ACCESS_POLICY_MISSING_MESSAGE = 'teams application access policy missing';
/** What teams-recordings-graph.ts logs (level error) when Entra refuses the credentials. */
export const TEAMS_CREDENTIALS_REFUSED_MESSAGE = 'entra refused the app credentials of a Teams source';
/** What teams-recordings-webhook.ts logs (level warn) per lifecycle notification; `event` `missed`: Graph dropped some. */
export const TEAMS_LIFECYCLE_MESSAGE = 'teams subscription lifecycle event';
export const TEAMS_MISSED_EVENT = 'missed';
/** What teams-recordings-graph.ts logs (level error, `errorCode: TEAMS_METERED_API_BILLING`) on a 402 refusal. */
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
 * Teams' own failure modes:
 * - the application access policy missing: Graph refuses every read of the users' recordings until an
 *   admin grants one (New-CsApplicationAccessPolicy, Grant-CsApplicationAccessPolicy);
 * - metered meeting-recording content refused for want of billing (402): jobs wait until it is linked;
 * - Entra refusing the app credentials (logged once per cooldown, shared by every container); the
 *   15-minute period spans the cooldown so the alarm stays raised while they are wrong;
 * - missed notifications: Graph's `missed` lifecycle event says it dropped notifications; the sweep
 *   recovers them, but a repeated loss means the webhook is too slow or failing.
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
    // Sized from the bench (BENCHMARKS.md on 2 shared cores, moto: the streaming section's archive path at
    // 1 GiB, 35.4 MiB/s for the whole job and 22.0 MiB/s at its slowest size, 100 MiB; the msteams section's
    // Teams path, 2 GiB through the adapter and the sandbox, 60.1 MiB/s) and S3's limits:
    // - a 4 GiB recording is 4,096 MiB; at 35.4 MiB/s it streams in about 116 s, at 22.0 MiB/s in 186 s.
    //   Lambda's maximum of 900 s needs only 4.6 MiB/s, so a 4 GiB stream fits one invocation with about 5x
    //   to 8x margin (TLS on both legs in Lambda, absent on the bench's loopback, spends part of it);
    // - 64 MiB parts: 4 GiB is 64 parts of S3's 10,000 (objects up to 625 GiB fit), and 64 round trips
    //   instead of 512 at the default 8 MiB. The buffers are about partSizeMiB x (partsInFlight + 1) =
    //   64 x 3 = 192 MiB at the default 2 in flight, above the idle ~80 MiB the bench measures;
    // - 1,769 MiB of memory is where Lambda gives one full vCPU: hashing (the verifier's SHA-256) and two
    //   TLS streams are CPU-bound, and the bench's figures are for one busy core.
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
