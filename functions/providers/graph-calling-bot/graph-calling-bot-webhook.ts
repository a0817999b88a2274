/**
 * `POST /webhooks/msgraph/{sourceId}`: the body is authenticated (graph-calling-bot-token.ts) before it is
 * read, then each notification is sorted; recordings become `fetch-now` jobs, the rest is counted.
 */
import { type FetchNowJob, fetchNowJob } from '../../core/jobs';
import type { Clock, Log, WebhookOutcome, WebhookRequest } from '../../core/ports';
import type { SourceRecording } from '../../core/recording';
import { readAuthenticated } from '../../core/webhook-not-understood';
import { jsonReply, zeroCounts } from '../shared/webhook-checks';
import { MAX_NOTIFICATION_BODY_BYTES, MSGRAPH_WEBHOOK_METRICS } from './descriptor';
import {
  parseCommsNotifications,
  type SortedNotification,
  sortNotification,
} from './graph-calling-bot-notifications';
import type { NotificationTokenVerifier } from './graph-calling-bot-token';

/** Names of the counts in `WebhookOutcome.counts`, for the handler's metrics. */
export const MSGRAPH_WEBHOOK_COUNTS = Object.keys(
  MSGRAPH_WEBHOOK_METRICS,
) as (keyof typeof MSGRAPH_WEBHOOK_METRICS)[];

/**
 * The extension announced before a byte is seen: Microsoft documents the download only as octet-stream
 * (`call: recordResponse`, "Retrieving the recording file"), so the first bytes decide what is stored.
 */
const EXPECTED_RECORDING_EXTENSION = 'wav';

export interface GraphCallingBotWebhookContext {
  sourceId: string;
  allowedDownloadHosts: readonly string[];
  verifier: NotificationTokenVerifier;
  clock: Clock;
  log: Log;
}

/** The recording a completed operation describes; `raw` is what the sidecar keeps (no token). */
function recordingFromNotification(
  sorted: Extract<SortedNotification, { kind: 'recording' }>,
  sourceId: string,
  receivedAt: Date,
): SourceRecording {
  return {
    provider: 'msgraph',
    sourceId,
    recordingId: sorted.operationId,
    callId: sorted.callId,
    // Graph says nothing of when the call started; the key is dated by the notification's arrival.
    startedAt: receivedAt,
    direction: 'unknown',
    fileExtension: EXPECTED_RECORDING_EXTENSION,
    raw: {
      operationId: sorted.operationId,
      callId: sorted.callId ?? null,
      clientContext: sorted.clientContext ?? null,
      status: sorted.status,
      resultInfo: sorted.resultInfo ?? null,
      completionReason: sorted.completionReason ?? null,
      notificationReceivedAt: receivedAt.toISOString(),
      notification: sorted.notification,
    },
  };
}

export async function handleGraphCallingBotWebhook(
  request: WebhookRequest,
  context: GraphCallingBotWebhookContext,
): Promise<WebhookOutcome> {
  const { log, sourceId } = context;
  const bytes = Buffer.byteLength(request.body);
  if (bytes > MAX_NOTIFICATION_BODY_BYTES) {
    log.warn('msgraph notification refused: body too large', { sourceId, bytes });
    return { response: jsonReply(413, { message: 'notification body too large' }), jobs: [] };
  }
  // Throws NotificationTokenRefusedError (401/403) before a byte of the body is interpreted.
  const token = await context.verifier.verify(request.headers.authorization);
  const receivedAt = context.clock.now();
  // The bot has no sweep: an authentic body it cannot read is logged loudly and alarmed (core).
  const notifications = readAuthenticated(() => parseCommsNotifications(request.body));

  const counts = zeroCounts(MSGRAPH_WEBHOOK_COUNTS);
  const jobs: FetchNowJob[] = [];
  const seen = new Set<string>();
  let acceptable = 0;
  for (const raw of notifications) {
    const sorted = sortNotification(raw, context.allowedDownloadHosts);
    if (sorted.kind !== 'refused') acceptable += 1;
    if (sorted.kind === 'recording' && seen.has(sorted.operationId)) {
      counts.duplicateNotifications += 1;
    } else if (sorted.kind === 'recording') {
      seen.add(sorted.operationId);
      const { recordingLocation: url, recordingAccessToken: bearerToken } = sorted;
      const grant = { url, bearerToken, receivedAt: receivedAt.toISOString() };
      jobs.push(fetchNowJob(recordingFromNotification(sorted, sourceId, receivedAt), grant));
      counts.recordingsEnqueued += 1;
    } else if (sorted.kind === 'failed') {
      counts[sorted.outcome === 'failed' ? 'failedOperations' : 'completedWithoutRecording'] += 1;
      const { outcome, operationId, callId, status, resultInfo: info, completionReason } = sorted;
      const result = { resultCode: info?.code, resultSubcode: info?.subcode, resultMessage: info?.message };
      const fields = { sourceId, outcome, operationId, callId, status, ...result, completionReason };
      log.warn('msgraph recording operation ended without a recording', fields);
    } else if (sorted.kind === 'refused') {
      counts[sorted.why === 'location-not-allowed' ? 'refusedLocations' : 'malformedOperations'] += 1;
      const { why, operationId, callId, detail } = sorted;
      const fields = { sourceId, why, operationId, callId, detail };
      log.warn('msgraph recording notification refused; nothing will be fetched', fields);
    } else {
      counts.ignoredNotifications += 1;
      log.debug('msgraph notification ignored', { sourceId, what: sorted.what });
    }
  }
  // Nothing acceptable: refused with 400, so a sender probing the SSRF guard learns nothing from a 202.
  if (acceptable > 0) {
    const { issuer, keyId } = token;
    log.info('msgraph notifications accepted', { sourceId, issuer, keyId, ...counts });
  }
  return {
    response:
      acceptable > 0
        ? jsonReply(202, { accepted: true, jobs: jobs.length, ...counts })
        : jsonReply(400, { message: 'no acceptable notification in the delivery' }),
    jobs,
    counts,
    // Malformed record operations are authentic events not understood: with no sweep, each may be a lost
    // recording.
    ...(counts.malformedOperations > 0 && { notUnderstood: { events: counts.malformedOperations } }),
  };
}
