/**
 * RingCentral webhook deliveries (`POST /webhooks/ringcentral/{sourceId}`).
 * - Handshake: `Validation-Token` with an empty body is echoed in the same header (200, JSON content type,
 *   empty body), else RingCentral refuses the subscription (SUB-525); it comes before any subscription
 *   exists, so nothing else is checked.
 * - Any other request is a delivery carrying the webhookSecret (verificationToken), compared in constant
 *   time: 401 missing, 403 wrong. The API schema and the older "Receiving webhooks" page name the header
 *   `Verification-Token`, its December 2023 edit `Validation-Token`: both are accepted (the newer form
 *   counted as `handshakeWithBody`), so a delivery is never swallowed as a handshake.
 * - A telephony-session event with a `Disconnected` party is one hint job, a pure function of the event
 *   (a redelivery makes the same job). `active: false` on a live call may be a pause, and content comes
 *   after hang-up anyway, so it makes no job (each would cost Heavy call-log requests).
 */
import { InvalidInputError } from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import type { WebhookOutcome, WebhookRequest } from '../../core/ports';
import { readAuthenticated } from '../../core/webhook-not-understood';
import { type Json, jsonObject } from '../shared/json';
import {
  hintJob,
  jsonObjectBody,
  jsonReply,
  plausibleEventTime,
  requireWebhookSecret,
  secretMatches,
  WebhookAuthError,
} from '../shared/webhook-checks';
import { idText } from './ringcentral-call-log';

/** Validation tokens RingCentral sends are short printable strings; anything else is not echoed. */
const VALIDATION_TOKEN = /^[\x21-\x7e]{1,512}$/;
/** Recording ids a hint carries at most; more recordings of one call are found in the call log anyway. */
const MAX_HINTED_RECORDINGS = 20;
/** Where a delivery may carry the secret (see the module comment): the schema's header, then the page's. */
const DELIVERY_TOKEN_HEADERS = ['verification-token', 'validation-token'] as const;

/** A request carrying `Validation-Token` with a body: a delivery in the newer documented form. */
export function isHandshakeWithBody(request: WebhookRequest): boolean {
  return request.headers['validation-token'] !== undefined && request.body.trim() !== '';
}

function parseEventTime(value: unknown, fallback: unknown): Date {
  for (const candidate of [value, fallback]) {
    if (typeof candidate !== 'string') continue;
    const ms = Date.parse(candidate);
    if (Number.isNaN(ms)) throw new InvalidInputError('RingCentral event time is not an ISO 8601 date-time');
    return plausibleEventTime(ms, 'RingCentral event time is out of range');
  }
  throw new InvalidInputError('RingCentral event has no eventTime or timestamp');
}

/** An optional array field of the event; InvalidInputError when it is something else. */
function listOf(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw new InvalidInputError(`RingCentral telephony-session event ${what} is not an array`);
  return value;
}

/** The event's hint job once a party is `Disconnected` (else none); InvalidInputError if malformed. */
function telephonySessionJobs(envelope: Json, sourceId: string): HintJob[] {
  const body = jsonObject(envelope.body);
  if (!body) throw new InvalidInputError('RingCentral event has no body object');
  const telephonySessionId = idText(body.telephonySessionId);
  const sessionId = idText(body.sessionId);
  if (!telephonySessionId && !sessionId) {
    throw new InvalidInputError(
      'RingCentral telephony-session event has neither telephonySessionId nor sessionId',
    );
  }
  const parties = listOf(body.parties, 'parties').map(jsonObject);
  if (parties.some((party) => !party)) {
    throw new InvalidInputError('RingCentral telephony-session event has a party that is not an object');
  }
  const recordingIds = new Set<string>();
  let disconnected = false;
  for (const party of parties as Json[]) {
    if (jsonObject(party.status)?.code === 'Disconnected') disconnected = true;
    for (const recording of listOf(party.recordings, 'recordings')) {
      const id = idText(jsonObject(recording)?.id);
      if (id) recordingIds.add(id);
    }
  }
  const eventTime = parseEventTime(body.eventTime, envelope.timestamp);
  if (!disconnected) return [];
  const hint: Record<string, string> = { eventType: 'telephony-session', status: 'Disconnected' };
  if (telephonySessionId) hint.telephonySessionId = telephonySessionId.slice(0, 200);
  if (sessionId) hint.sessionId = sessionId.slice(0, 200);
  const sequence = idText(body.sequence);
  if (sequence) hint.sequence = sequence.slice(0, 40);
  const ids = [...recordingIds].slice(0, MAX_HINTED_RECORDINGS).map((id) => id.slice(0, 100));
  if (ids.length > 0) hint.recordingIds = ids.join(',');
  return [hintJob('ringcentral', sourceId, eventTime, hint)];
}

function isTelephonySessionEvent(envelope: Json): boolean {
  const event = typeof envelope.event === 'string' ? envelope.event : '';
  if (/\/telephony\/sessions(\?|$)/.test(event)) return true;
  // Deliveries without the `event` filter name are judged by their body.
  return event === '' && !!jsonObject(envelope.body)?.telephonySessionId;
}

export function handleRingCentralWebhook(
  request: WebhookRequest,
  context: { sourceId: string; webhookSecret: string | undefined },
): WebhookOutcome {
  const validationToken = request.headers['validation-token'];
  // Only an empty body is the handshake: a delivery may carry this header too (see the module comment).
  if (validationToken !== undefined && request.body.trim() === '') {
    if (!VALIDATION_TOKEN.test(validationToken)) {
      throw new InvalidInputError('Validation-Token must be 1-512 printable characters');
    }
    // Headers and body stay far below the 1 KB RingCentral accepts for the handshake reply.
    const headers = { 'Validation-Token': validationToken };
    return { response: { status: 200, contentType: 'application/json', body: '', headers }, jobs: [] };
  }
  const secret = requireWebhookSecret(context.webhookSecret, 'verificationToken');
  const tokens = DELIVERY_TOKEN_HEADERS.flatMap((name) => request.headers[name] || []);
  if (tokens.length === 0) {
    throw new WebhookAuthError('missing Verification-Token (or Validation-Token) header', 401);
  }
  if (!tokens.some((token) => secretMatches(token, secret))) {
    throw new WebhookAuthError('wrong Verification-Token', 403);
  }
  // Authentic but unreadable: answered 400 and swept for (core/webhook-not-understood.ts).
  return readAuthenticated(() => {
    const envelope = jsonObjectBody(request.body, 'RingCentral webhook body');
    // Subscription renewal reminders and other event types are acknowledged and ignored.
    const jobs = isTelephonySessionEvent(envelope) ? telephonySessionJobs(envelope, context.sourceId) : [];
    return {
      response: jsonReply(200, { accepted: true, jobs: jobs.length }),
      jobs,
      // Zeros too, so the metric has data points whichever form RingCentral sends.
      counts: { handshakeWithBody: isHandshakeWithBody(request) ? 1 : 0 },
    };
  });
}
