import { EXPIRED_BEFORE_FETCH_METRIC } from '../../observability/names';
import { defineProvider, type ProviderAlarm } from '../descriptor';
import { msgraphSourceSchema } from './graph-calling-bot-config';

declare module '../../core/recording' {
  interface ProviderNames {
    msgraph: true;
  }
}

/**
 * How long a job may wait before its grant is at risk. Microsoft documents no lifetime for the
 * `recordingAccessToken`: the platform "discards [the recording] shortly after the call ends" and the bot
 * "must download the recording promptly after the recording operation finishes" (Graph API reference,
 * `call: record`); the README's Graph bot section says the token expires minutes after the call. One
 * minute is the least "minutes" can mean, so it is the budget the worker is sized for and alarmed on.
 */
export const GRAPH_FETCH_WITHIN_SECONDS = 60;

/** The burst the Graph worker is sized for: 200 calls ending within one minute, one recording each. */
export const GRAPH_BURST_RECORDINGS = 200;

/**
 * Planning time of one job in Lambda. The bench fetches and verifies a 2-minute WAV (3.84 MB) in 66 ms
 * median, 102 ms at worst, on loopback (BENCHMARKS.md, Microsoft Graph calling bot); Lambda adds a cold
 * start (importing the worker bundle: about 170 ms, BENCHMARKS.md cold start) and TLS to the recording
 * host and S3. Five seconds is about 50 times the bench's worst job.
 */
export const GRAPH_JOB_SECONDS = 5;

/**
 * Workers that fetch the whole burst within the budget even when all 200 notifications arrive at once:
 * each worker does 60 / 5 = 12 jobs in the budget, so ceil(200 x 5 / 60) = 17 workers (17 x 12 = 204).
 * Lambda's SQS event source starts 5 and adds up to 300 more a minute (AWS Lambda developer guide,
 * "Configuring scaling behavior for SQS event source mappings"), so 17 are reached within the budget.
 */
export const GRAPH_BURST_WORKERS = Math.ceil(
  (GRAPH_BURST_RECORDINGS * GRAPH_JOB_SECONDS) / GRAPH_FETCH_WITHIN_SECONDS,
);

/** Graph batches notifications, but never near this; the webhook refuses larger bodies unread (413). */
export const MAX_NOTIFICATION_BODY_BYTES = 1024 * 1024;

/** The webhook's counts, their metrics named for what an operator watches (failed operations alarm). */
export const MSGRAPH_WEBHOOK_METRICS = {
  recordingsEnqueued: 'GraphRecordingsEnqueued',
  failedOperations: 'GraphFailedRecordOperations',
  completedWithoutRecording: 'GraphCompletedWithoutRecording',
  refusedLocations: 'GraphRefusedRecordingLocations',
  malformedOperations: 'GraphMalformedRecordOperations',
  ignoredNotifications: 'GraphIgnoredNotifications',
  duplicateNotifications: 'GraphDuplicateNotifications',
} as const;

/** The Graph calling bot's losses: tokens that expired before the fetch, and record operations that failed. */
const MSGRAPH_ALARMS: readonly ProviderAlarm[] = [
  {
    id: 'GraphExpiredBeforeFetch',
    metricName: EXPIRED_BEFORE_FETCH_METRIC,
    description:
      "Graph recordings were lost: their download token expired before the worker fetched them, and Graph keeps no copy. Check the msgraph queue's age and the worker's throttles and errors.",
  },
  {
    id: 'GraphFailedRecordOperations',
    metricName: MSGRAPH_WEBHOOK_METRICS.failedOperations,
    description:
      'The Graph calling bot reported failed record operations: those calls produced no recording to archive. See the webhook log for the result info.',
  },
].map((alarm) => ({
  ...alarm,
  from: { published: true },
  periodMinutes: 5,
  threshold: 0,
  strictlyAbove: true,
}));

/** The Graph calling bot: a recording exists only as the grant in one notification. */
export const graphCallingBotProvider = defineProvider({
  name: 'msgraph',
  title: 'Microsoft Graph calling bot (policy-based recording, one grant per notification)',
  aliases: ['graph-calling-bot'],
  configSchema: msgraphSourceSchema,
  // No secret: the notifications carry their own grant and are checked against Microsoft's public keys.
  capabilities: {
    list: false,
    delete: false,
    grantCarryingJobs: true,
    sharedState: false,
    subscriptionsAt: () => undefined,
  },
  // Graph batches call notifications; the adapter answers 413 only above 1 MiB.
  webhook: { maxBodyBytes: MAX_NOTIFICATION_BODY_BYTES, auth: 'signed-token' },
  worker: {
    // One job per invocation, at once: its download token expires minutes after the call.
    batchSize: 1,
    // A burst fetched before its tokens expire; a config asking for more workers keeps its figure.
    maxConcurrency: (configured) => Math.max(configured, GRAPH_BURST_WORKERS),
    fetchWithinSeconds: GRAPH_FETCH_WITHIN_SECONDS,
    ownWorker: {
      id: 'GraphWorker',
      description:
        'callvault Graph bot worker: fetches each recording at once, before its download token expires',
    },
  },
  metrics: { webhookCounts: MSGRAPH_WEBHOOK_METRICS },
  alarms: MSGRAPH_ALARMS,
  loadAdapter: async () => {
    const { GraphCallingBotSource } = await import('./graph-calling-bot-source');
    return (config, _credentials, { clock, log }) => new GraphCallingBotSource({ config, clock, log });
  },
});
