/**
 * Telphin event hooks. They carry no signature, so the subscription URL holds a secret
 * (`/webhooks/telphin/{sourceId}?token=…`) compared in constant time. The body is a hint only: the
 * worker asks the API which recordings exist, so a forged event can at most cause a lookup.
 */
import { InvalidInputError } from '../../core/errors';
import type { HintJob } from '../../core/jobs';
import type { WebhookOutcome, WebhookRequest } from '../../core/ports';
import { readAuthenticated } from '../../core/webhook-not-understood';
import {
  hintJob,
  jsonObjectBody,
  jsonReply,
  plausibleEventTime,
  requireWebhookSecret,
  secretMatches,
  WebhookAuthError,
} from '../shared/webhook-checks';

/** Event fields copied into the hint (all strings), keyed by their lower-cased Telphin name. */
const HINT_FIELDS = new Map(
  `eventType callId subCallId callApiId recId callerExtensionId calledExtensionId callerExtension
   calledExtension callerIdNum calledDid calledNumber callFlow callStatus duration bridgedDuration
   bridged transfered`
    .split(/\s+/)
    .map((name): [string, string] => [name.toLowerCase(), name]),
);

/** Event fields with lower-cased names; form-urlencoded (documented), JSON (tolerated), or the query of a GET. */
function parseTelphinEventFields(request: WebhookRequest): Map<string, string> {
  const fields = new Map<string, string>();
  const put = (name: string, value: unknown) => {
    if (value === undefined || value === null) return;
    const key = name.toLowerCase();
    if (key === 'token' || fields.has(key)) return;
    fields.set(key, typeof value === 'string' ? value : String(value));
  };
  const body = request.body.trim();
  const contentType = request.headers['content-type']?.toLowerCase() ?? '';
  if (contentType.includes('json') || body.startsWith('{') || body.startsWith('[')) {
    for (const [name, field] of Object.entries(jsonObjectBody(body, 'Telphin webhook body'))) {
      if (typeof field !== 'object') put(name, field);
    }
  } else if (body) {
    for (const [name, field] of new URLSearchParams(body)) put(name, field);
  }
  // Subscriptions may use method GET, which sends the fields in the query string.
  for (const [name, field] of Object.entries(request.query)) put(name, field);
  return fields;
}

/** EventTime is microseconds since the epoch. */
function parseEventTime(value: string | undefined): Date {
  const trimmed = value?.trim();
  if (!trimmed) throw new InvalidInputError('Telphin webhook has no EventTime');
  if (!/^\d{1,19}$/.test(trimmed)) {
    throw new InvalidInputError('Telphin webhook EventTime is not an integer count of microseconds');
  }
  // Microseconds read as milliseconds (or seconds) land outside the plausible years.
  return plausibleEventTime(
    Number(BigInt(trimmed) / 1000n),
    'Telphin webhook EventTime is out of range (expected microseconds since 1970)',
  );
}

/** A `hangup` event becomes a hint job; other events are acknowledged (no recording before hang-up). */
export function handleTelphinWebhook(
  request: WebhookRequest,
  context: { sourceId: string; webhookSecret: string | undefined },
): WebhookOutcome {
  const secret = requireWebhookSecret(context.webhookSecret);
  const token = request.query.token;
  if (!token) throw new WebhookAuthError('missing token parameter', 401);
  if (!secretMatches(token, secret)) throw new WebhookAuthError('wrong token', 403);
  // Authentic but unreadable: answered 400 and swept for (core/webhook-not-understood.ts).
  return readAuthenticated(() => {
    const fields = parseTelphinEventFields(request);
    const eventType = fields.get('eventtype')?.trim().toLowerCase();
    if (!eventType) throw new InvalidInputError('Telphin webhook has no EventType');
    const eventTime = parseEventTime(fields.get('eventtime'));
    const jobs: HintJob[] = [];
    if (eventType === 'hangup') {
      const hint: Record<string, string> = {};
      for (const [name, value] of fields) {
        const key = HINT_FIELDS.get(name);
        if (key && value.trim() !== '') hint[key] = value.trim().slice(0, 200);
      }
      hint.eventType = eventType;
      jobs.push(hintJob('telphin', context.sourceId, eventTime, hint));
    }
    return { response: jsonReply(200, { accepted: true, jobs: jobs.length }), jobs };
  });
}
