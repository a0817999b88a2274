/**
 * `POST /webhooks/msteams/{sourceId}`: Graph change and lifecycle notifications (both URLs point here).
 * Graph's `validationToken` handshake is echoed; each notification's `clientState` must be the webhookSecret
 * and its `tenantId` ours (others are dropped, none valid is a 403). A `created` recording becomes a hint
 * job (the worker GETs the metadata); an unreadable resource is returned in `notUnderstood` so the host
 * sweeps instead; lifecycle events are returned in `lifecycle` for the caller.
 */
import * as z from 'zod';
import { InvalidInputError } from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import type { Clock, Log, WebhookOutcome, WebhookRequest, WebhookResponse } from '../../core/ports';
import { jsonObject, tryJson } from '../shared/json';
import {
  hintJob,
  jsonReply,
  requireWebhookSecret,
  secretMatches,
  zeroCounts,
} from '../shared/webhook-checks';
import {
  type RecordingReference,
  type ResourceReading,
  readTeamsResource,
  sweepableUserId,
} from './teams-recordings-resources';

/** What the wiring must do for each lifecycle notification (teams-recordings-lifecycle-follow-up.ts). */
export const MSTEAMS_LIFECYCLE_ACTIONS = {
  subscriptionRemoved: 'recreate-subscription-and-sweep',
  reauthorizationRequired: 'reauthorize-subscription',
  missed: 'sweep-now',
} as const;
type LifecycleEventName = keyof typeof MSTEAMS_LIFECYCLE_ACTIONS;

export interface TeamsRecordingsLifecycleEvent {
  event: LifecycleEventName;
  subscriptionId: string;
  action: (typeof MSTEAMS_LIFECYCLE_ACTIONS)[LifecycleEventName];
}

/** Names of the counts in `WebhookOutcome.counts`, for the handler's metrics. */
export const MSTEAMS_WEBHOOK_COUNTS = [
  'recordingsHinted',
  'duplicateNotifications',
  'wrongClientState',
  'wrongTenant',
  'unrecognisedResources',
  'nonRecordingResources',
  'ignoredNotifications',
  'lifecycleSubscriptionRemoved',
  'lifecycleReauthorizationRequired',
  'lifecycleMissed',
] as const;

/** handleWebhook's outcome, with the lifecycle events the wiring acts on. */
export interface TeamsRecordingsWebhookOutcome extends WebhookOutcome {
  counts: Readonly<Record<(typeof MSTEAMS_WEBHOOK_COUNTS)[number], number>>;
  lifecycle: TeamsRecordingsLifecycleEvent[];
}

export interface TeamsRecordingsWebhookContext {
  sourceId: string;
  webhookSecret: string | undefined;
  /** The configured tenant; a notification naming another one is dropped. */
  tenantId?: string;
  clock: Clock;
  log: Log;
}

/** Graph's tokens are opaque but short; anything else is not echoed. */
const VALIDATION_TOKEN = /^[\x20-\x7e]{1,1024}$/;
const MAX_RESOURCE_LENGTH = 2048;
/** How much of an unreadable resource goes into the log line. */
const LOGGED_RESOURCE_CHARS = 600;

const notificationSchema = z.looseObject({
  subscriptionId: z.string().max(200).optional(),
  clientState: z.string().nullish(),
  changeType: z.string().optional(),
  resource: z.string().optional(),
  resourceData: z.unknown().optional(),
  lifecycleEvent: z.string().optional(),
  tenantId: z.string().optional(),
});
type Notification = z.infer<typeof notificationSchema>;

const collectionSchema = z.looseObject({ value: z.array(z.unknown()) });

function isLifecycleEvent(value: string): value is LifecycleEventName {
  return Object.hasOwn(MSTEAMS_LIFECYCLE_ACTIONS, value);
}

function odataIdOf(notification: Notification): string | undefined {
  const id = jsonObject(notification.resourceData)?.['@odata.id'];
  return typeof id === 'string' ? id : undefined;
}

/**
 * What a notification's `resource` or `resourceData['@odata.id']` names: a recording wins, then a known
 * non-recording, then an unreadable one naming a user (that user is swept).
 */
function readingOfNotification(notification: Notification): ResourceReading {
  const readings = [notification.resource, odataIdOf(notification)]
    .filter((candidate): candidate is string => !!candidate && candidate.length <= MAX_RESOURCE_LENGTH)
    .map((candidate) => readTeamsResource(candidate));
  return (
    readings.find((reading) => reading.type === 'recording') ??
    readings.find((reading) => reading.type === 'not-a-recording') ??
    readings.find((reading) => reading.type === 'unrecognised' && reading.userId) ?? { type: 'unrecognised' }
  );
}

/** The hint job for one recording notification: a pure function of it, so redeliveries make the same job. */
export function hintJobFor(reference: RecordingReference, sourceId: string, receivedAt: Date): HintJob {
  const hint: Record<string, string> = {
    kind: reference.kind,
    recordingId: reference.recordingId,
    [reference.kind === 'adhocCalls' ? 'callId' : 'meetingId']: reference.containerId,
  };
  if (reference.userId) hint.userId = reference.userId;
  return hintJob('msteams', sourceId, receivedAt, hint);
}

export function handleTeamsRecordingsWebhook(
  request: WebhookRequest,
  context: TeamsRecordingsWebhookContext,
): TeamsRecordingsWebhookOutcome {
  const counts = zeroCounts(MSTEAMS_WEBHOOK_COUNTS);
  const reply = (response: WebhookResponse) => ({ response, jobs: [], counts, lifecycle: [] });
  const validationToken = request.query.validationToken;
  if (validationToken !== undefined) {
    if (!VALIDATION_TOKEN.test(validationToken)) {
      throw new InvalidInputError('validationToken must be 1-1024 printable ASCII characters');
    }
    // Plain text, exactly as decoded: Graph refuses an encoded or wrapped token.
    return reply({ status: 200, contentType: 'text/plain; charset=utf-8', body: validationToken });
  }
  const { sourceId, webhookSecret, log } = context;
  const secret = requireWebhookSecret(webhookSecret, "the subscriptions' clientState");
  const value = tryJson(request.body); // valid JSON never parses to undefined
  if (value === undefined) throw new InvalidInputError('Teams notification body is not JSON');
  const collection = collectionSchema.safeParse(value);
  if (!collection.success || collection.data.value.length === 0) {
    throw new InvalidInputError(
      'Teams notification body is not a changeNotificationCollection (no "value" array)',
    );
  }

  const receivedAt = context.clock.now();
  const jobs: HintJob[] = [];
  const lifecycle: TeamsRecordingsLifecycleEvent[] = [];
  const seen = new Set<string>();
  const unreadSubjects = new Set<string>();
  let unreadWithoutUser = false;
  let valid = 0;
  for (const raw of collection.data.value) {
    const parsed = notificationSchema.safeParse(raw);
    if (!parsed.success || !secretMatches(parsed.data.clientState, secret)) {
      counts.wrongClientState += 1;
      continue;
    }
    const notification = parsed.data;
    const { tenantId } = notification;
    if (context.tenantId && tenantId && tenantId.toLowerCase() !== context.tenantId.toLowerCase()) {
      counts.wrongTenant += 1;
      continue;
    }
    valid += 1;
    const { lifecycleEvent: event, subscriptionId } = notification;
    if (event !== undefined) {
      if (!isLifecycleEvent(event) || !subscriptionId) {
        counts.ignoredNotifications += 1;
        continue;
      }
      if (event === 'subscriptionRemoved') counts.lifecycleSubscriptionRemoved += 1;
      else if (event === 'reauthorizationRequired') counts.lifecycleReauthorizationRequired += 1;
      else counts.lifecycleMissed += 1;
      const action = MSTEAMS_LIFECYCLE_ACTIONS[event];
      if (!lifecycle.some((known) => known.event === event && known.subscriptionId === subscriptionId)) {
        lifecycle.push({ event, subscriptionId, action });
      }
      log.warn('teams subscription lifecycle event', { sourceId, event, subscriptionId, action });
      continue;
    }
    if (notification.changeType?.toLowerCase() !== 'created') {
      counts.ignoredNotifications += 1;
      continue;
    }
    const reading = readingOfNotification(notification);
    if (reading.type === 'not-a-recording') {
      counts.nonRecordingResources += 1;
      log.debug('teams notification about a resource that is not a recording; ignored', {
        sourceId,
        what: reading.what,
      });
      continue;
    }
    if (reading.type === 'unrecognised') {
      counts.unrecognisedResources += 1;
      const subject = sweepableUserId(reading.userId);
      if (subject) unreadSubjects.add(subject);
      else unreadWithoutUser = true;
      log.warn('teams notification names a resource callvault cannot read; sweeping instead', {
        sourceId,
        subscriptionId,
        resource: (notification.resource ?? '(none)').slice(0, LOGGED_RESOURCE_CHARS),
        odataId: odataIdOf(notification)?.slice(0, LOGGED_RESOURCE_CHARS),
        sweep: subject ? 'user' : 'source',
        ...(subject ? { userId: subject } : {}),
      });
      continue;
    }
    const { reference } = reading;
    const identity = `${reference.kind}|${reference.containerId}|${reference.recordingId}`;
    if (seen.has(identity)) {
      counts.duplicateNotifications += 1;
      continue;
    }
    seen.add(identity);
    jobs.push(hintJobFor(reference, sourceId, receivedAt));
    counts.recordingsHinted += 1;
  }
  const dropped = counts.wrongClientState;
  if (dropped > 0) log.warn('teams notifications dropped: wrong clientState', { sourceId, dropped });
  // Answered rather than thrown, so the dropped notifications still reach the metrics.
  if (valid === 0) {
    return reply(
      jsonReply(403, { message: 'no notification in the delivery carries the expected clientState' }),
    );
  }
  const events = counts.unrecognisedResources;
  const subjects = unreadWithoutUser ? {} : { subjects: [...unreadSubjects] };
  return {
    response: jsonReply(202, { accepted: true, jobs: jobs.length }),
    jobs,
    counts,
    lifecycle,
    ...(events > 0 ? { notUnderstood: { events, ...subjects } } : {}),
  };
}
