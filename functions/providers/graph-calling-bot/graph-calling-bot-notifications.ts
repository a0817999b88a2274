/**
 * Calling-bot `commsNotifications` documents (seed 003, providers.md (c)); each notification is sorted:
 * - `recording`: a completed `recordOperation` with location and token on an allowed host: fetched at once;
 * - `failed`: failed, or completed without a recording: logged with its `resultInfo`;
 * - `refused`: a location failing the SSRF guard, or an operation too malformed to name: never fetched;
 * - `ignored`: everything else (call state changes, other or running operations).
 * Only the envelope is strict; other fields are kept as they came.
 */
import * as z from 'zod';
import { InvalidInputError } from '../../core/errors';
import { assertPinnedUrl } from '../shared/download-hosts';
import { jsonObject, tryJson } from '../shared/json';

const RECORD_OPERATION_TYPE = '#microsoft.graph.recordoperation';
const NOTIFICATIONS_TYPE = '#microsoft.graph.commsnotifications';
/** Longer operation ids are not Graph's (they are GUIDs); the key segment stays bounded either way. */
const MAX_OPERATION_ID_LENGTH = 256;

const envelopeSchema = z.looseObject({
  '@odata.type': z.string().optional(),
  value: z.array(z.unknown()),
});

const notificationSchema = z.looseObject({
  '@odata.type': z.string().optional(),
  changeType: z.string().optional(),
  resourceUrl: z.string().optional(),
  /** An older spelling of `resourceUrl`. */
  resource: z.string().optional(),
  resourceData: z.unknown().optional(),
});

const resultInfoSchema = z.looseObject({
  code: z.union([z.number(), z.string()]).nullish(),
  subcode: z.union([z.number(), z.string()]).nullish(),
  message: z.string().nullish(),
});

const operationIdSchema = z.string().trim().min(1).max(MAX_OPERATION_ID_LENGTH);

const recordOperationSchema = z.looseObject({
  '@odata.type': z.string(),
  /** Absent in an older variant: the id is then the last segment of the operation's path. */
  id: operationIdSchema.optional(),
  '@odata.id': z.string().optional(),
  status: z.string(),
  clientContext: z.string().nullish(),
  resultInfo: resultInfoSchema.nullish(),
  completionReason: z.string().nullish(),
  recordingLocation: z.string().nullish(),
  recordingAccessToken: z.string().nullish(),
});

/** What every sorted notification about a record operation knows. */
interface OperationFacts {
  operationId: string;
  /** From `resourceUrl` or `resource` (`/communications/calls/{callId}/operations/{id}`), as given. */
  callId?: string;
  clientContext?: string;
  resultInfo?: ReturnType<typeof resultInfoOf>;
  completionReason?: string;
  status: string;
}

export type SortedNotification =
  | (OperationFacts & {
      kind: 'recording';
      recordingLocation: string;
      recordingAccessToken: string;
      /** The notification as received, minus the access token: what the sidecar keeps. */
      notification: Record<string, unknown>;
    })
  | (OperationFacts & { kind: 'failed'; outcome: 'failed' | 'completed-without-recording' })
  | {
      kind: 'refused';
      why: 'location-not-allowed' | 'malformed-operation';
      operationId?: string;
      callId?: string;
      detail: string;
    }
  | { kind: 'ignored'; what: string };

/** The notifications of one delivery, in order. Throws InvalidInputError when it is not a commsNotifications document. */
export function parseCommsNotifications(body: string): unknown[] {
  const value = tryJson(body); // valid JSON never parses to undefined
  if (value === undefined) throw new InvalidInputError('msgraph notification body is not JSON');
  const parsed = envelopeSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidInputError(
      'msgraph notification body is not a commsNotifications document (no "value" array)',
    );
  }
  const type = parsed.data['@odata.type'];
  if (type !== undefined && type.toLowerCase() !== NOTIFICATIONS_TYPE) {
    throw new InvalidInputError(`msgraph notification body has @odata.type ${type.slice(0, 80)}`);
  }
  if (parsed.data.value.length === 0)
    throw new InvalidInputError('msgraph notification body holds no notifications');
  return parsed.data.value;
}

/** `{callId}` of `/communications/calls/{callId}/…` (or the older `/app/calls/{callId}/…`). */
export function callIdFromResourceUrl(resourceUrl: string | undefined): string | undefined {
  const match = /\/(?:communications|app)\/calls\/([^/?#]+)/i.exec(resourceUrl ?? '');
  return match?.[1] ? safeDecode(match[1]) : undefined;
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * `{id}` of a path ending in `/operations/{id}`. Graph spells a GUID there in upper case without dashes
 * where `resourceData.id` has the usual form (the notification example of `call: recordResponse`), so
 * such an id is given the usual form back: both variants of one notification name the same key.
 */
export function operationIdFromPath(path: string | undefined): string | undefined {
  const match = /\/operations\/([^/?#]+)\/?(?:[?#].*)?$/i.exec(path ?? '');
  const id = match?.[1] ? safeDecode(match[1])?.trim() : undefined;
  if (!id || !operationIdSchema.safeParse(id).success) return undefined;
  const guid = /^([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/i.exec(id);
  return guid ? guid.slice(1).join('-').toLowerCase() : id;
}

/** Removes the access token wherever it sits, so what is kept can be stored and shown. */
function withoutAccessToken(value: unknown, token: string): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutAccessToken(item, token));
  if (value && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(value)) {
      if (/accesstoken/i.test(name)) continue;
      copy[name] = withoutAccessToken(field, token);
    }
    return copy;
  }
  if (typeof value === 'string' && token.length > 0 && value.includes(token)) {
    return value.split(token).join('[redacted]');
  }
  return value;
}

function resultInfoOf(value: z.infer<typeof resultInfoSchema> | null | undefined) {
  if (!value) return undefined;
  const { code, subcode, message } = value;
  return {
    ...(code != null && { code }),
    ...(subcode != null && { subcode }),
    ...(message ? { message: message.slice(0, 500) } : {}),
  };
}

/** Sorts one notification (see the module comment); never throws. */
export function sortNotification(raw: unknown, allowedDownloadHosts: readonly string[]): SortedNotification {
  const notification = notificationSchema.safeParse(raw);
  if (!notification.success) return { kind: 'ignored', what: 'not a notification object' };
  const { resourceData } = notification.data;
  const resourceUrl = notification.data.resourceUrl ?? notification.data.resource;
  const type = jsonObject(resourceData)?.['@odata.type'];
  if (typeof type !== 'string' || type.toLowerCase() !== RECORD_OPERATION_TYPE) {
    const what = Array.isArray(resourceData) ? 'a collection' : String(type ?? 'no resource type');
    return { kind: 'ignored', what: what.slice(0, 80) };
  }
  const callId = callIdFromResourceUrl(resourceUrl);
  const refused = (
    why: 'location-not-allowed' | 'malformed-operation',
    detail: string,
    operationId?: string,
  ) => ({ kind: 'refused', why, operationId, callId, detail }) as const;
  const operation = recordOperationSchema.safeParse(resourceData);
  if (!operation.success) {
    const issues = operation.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    return refused('malformed-operation', issues.join('; ').slice(0, 300));
  }
  const data = operation.data;
  // No id (an older variant): the operation's path names it. The bot has no sweep, so a notification
  // refused for want of an id would be a lost recording.
  const operationId =
    data.id ??
    operationIdFromPath(notification.data.resourceUrl) ??
    operationIdFromPath(notification.data.resource) ??
    operationIdFromPath(data['@odata.id']);
  if (!operationId) {
    const detail = 'no operation id: resourceData.id is absent and no path ends in /operations/{id}';
    return refused('malformed-operation', detail);
  }
  const facts: OperationFacts = {
    operationId,
    callId,
    clientContext: data.clientContext ?? undefined,
    resultInfo: resultInfoOf(data.resultInfo),
    completionReason: data.completionReason ?? undefined,
    status: data.status,
  };
  const status = data.status.toLowerCase();
  if (status === 'failed') return { ...facts, kind: 'failed', outcome: 'failed' };
  if (status !== 'completed') return { kind: 'ignored', what: `recordOperation ${data.status.slice(0, 40)}` };
  if (!data.recordingLocation || !data.recordingAccessToken) {
    return { ...facts, kind: 'failed', outcome: 'completed-without-recording' };
  }
  try {
    // The SSRF guard: https on an allowed host and port; plain http only on loopback.
    assertPinnedUrl(data.recordingLocation, allowedDownloadHosts);
  } catch (error) {
    return refused('location-not-allowed', (error as Error).message, operationId);
  }
  return {
    ...facts,
    kind: 'recording',
    recordingLocation: data.recordingLocation,
    recordingAccessToken: data.recordingAccessToken,
    notification: withoutAccessToken(notification.data, data.recordingAccessToken) as Record<string, unknown>,
  };
}
