/**
 * Teams `callRecording` resources: the URLs that list, describe and fetch them, the resource paths
 * notifications name, and the mapping to callvault's provider-neutral recording. The recording id is kept
 * whole (Teams ids run to about 270 characters); the archive key shortens it collision-free
 * (`sanitiseSegment` in core/keys.ts) and the sidecar keeps it as Graph gave it.
 */
import { InvalidInputError } from '../../core/errors';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import type { MsTeamsRecordingKind } from './msteams-config';

export const MSTEAMS_FILE_EXTENSION = 'mp4';
export const MSTEAMS_CONTENT_TYPE = 'video/mp4';

/** What a notification's resource names; the user is absent in the tenant-wide form. */
export interface RecordingReference {
  kind: MsTeamsRecordingKind;
  userId?: string;
  /** The ad hoc call's id or the online meeting's id. */
  containerId: string;
  recordingId: string;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Graph's DateTimeOffset as callvault writes it: ISO 8601, UTC. */
export function graphDateTime(date: Date): string {
  return date.toISOString();
}

/** An OData string literal: single quotes doubled. */
function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const segment = (value: string) => encodeURIComponent(value);

/**
 * `GET /users/{id}/adhocCalls/getAllRecordings(userId=…,startDateTime=…,endDateTime=…)` and
 * `GET /users/{id}/onlineMeetings/getAllRecordings(meetingOrganizerUserId=…,startDateTime=…,endDateTime=…)`:
 * the function parameters as the Graph reference names them. The organizer parameter is required.
 */
export function listRecordingsUrl(
  graphUrl: string,
  kind: MsTeamsRecordingKind,
  userId: string,
  window: TimeWindow,
): string {
  const organizer = kind === 'adhocCalls' ? 'userId' : 'meetingOrganizerUserId';
  const parameters = [
    `${organizer}=${odataString(userId)}`,
    `startDateTime=${graphDateTime(window.from)}`,
    `endDateTime=${graphDateTime(window.to)}`,
  ].join(',');
  return new URL(
    `/v1.0/users/${segment(userId)}/${kind}/getAllRecordings(${encodeURI(parameters).replace(/#/g, '%23')})`,
    graphUrl,
  ).href;
}

/** The recording's metadata: by user where known, else the tenant-wide path the notification named. */
export function recordingUrl(graphUrl: string, reference: RecordingReference): string {
  const { kind, userId, containerId, recordingId } = reference;
  const path = userId
    ? `/v1.0/users/${segment(userId)}/${kind}/${segment(containerId)}/recordings/${segment(recordingId)}`
    : `/v1.0/communications/${kind}/${segment(containerId)}/recordings/${segment(recordingId)}`;
  return new URL(path, graphUrl).href;
}

/** `…/recordings/{id}/content`: video/mp4, typically a redirect to the SharePoint/OneDrive host. */
export function contentUrl(graphUrl: string, reference: RecordingReference & { userId: string }): string {
  return `${recordingUrl(graphUrl, reference)}/content`;
}

/** Keys in a resource path: `name('value')` (OData, quotes doubled) or `name/value`. */
const PATH_FORMS = [
  /^(?:users\('(?<user>(?:[^']|'')+)'\)\/|communications\/)(?<kind>adhocCalls|onlineMeetings)\('(?<container>(?:[^']|'')+)'\)\/recordings\('(?<recording>(?:[^']|'')+)'\)$/i,
  /^(?:users\/(?<user>[^/]+)\/|communications\/)(?<kind>adhocCalls|onlineMeetings)\/(?<container>[^/]+)\/recordings\/(?<recording>[^/]+)$/i,
];

function canonicalKind(kind: string): MsTeamsRecordingKind {
  return kind.toLowerCase() === 'adhoccalls' ? 'adhocCalls' : 'onlineMeetings';
}

function unquote(value: string | undefined, slashForm: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (!slashForm) return value.replace(/''/g, "'");
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * What a notification's `resource` (or `resourceData['@odata.id']`) names, in every form the
 * documentation shows: `communications/onlineMeetings('{id}')/recordings('{id}')`,
 * `users('{id}')/adhocCalls('{id}')/recordings('{id}')`, and the same with slashes. Undefined for
 * anything else.
 */
export function parseRecordingResource(resource: string): RecordingReference | undefined {
  const path = resource
    .trim()
    .replace(/^https?:\/\/[^/]+/i, '')
    .replace(/^\/+/, '')
    .replace(/^(v1\.0|beta)\//i, '');
  for (const [index, form] of PATH_FORMS.entries()) {
    const groups = form.exec(path)?.groups;
    if (!groups?.kind || !groups.container || !groups.recording) continue;
    const slashForm = index === 1;
    const containerId = unquote(groups.container, slashForm);
    const recordingId = unquote(groups.recording, slashForm);
    if (!containerId || !recordingId) return undefined;
    return {
      kind: canonicalKind(groups.kind),
      userId: unquote(groups.user, slashForm),
      containerId,
      recordingId,
    };
  }
  return undefined;
}

export interface TeamsOrganizer {
  id?: string;
  displayName?: string;
  tenantId?: string;
  userIdentityType?: string;
}

/** `meetingOrganizer.user` of a callRecording (an identitySet). */
export function organizerOf(raw: unknown): TeamsOrganizer | undefined {
  const user = object(object(object(raw)?.meetingOrganizer)?.user);
  if (!user) return undefined;
  const organizer: TeamsOrganizer = {};
  const id = text(user.id);
  const displayName = text(user.displayName);
  const tenantId = text(user.tenantId);
  const type = text(user.userIdentityType);
  if (id) organizer.id = id;
  if (displayName) organizer.displayName = displayName;
  if (tenantId) organizer.tenantId = tenantId;
  if (type) organizer.userIdentityType = type;
  return organizer;
}

function parseDate(value: unknown, what: string): Date | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new InvalidInputError(`callRecording ${what} is not a date-time`);
  return date;
}

/** What the sidecar keeps under `raw`: the normalised Teams facts, then Graph's record verbatim. */
export interface TeamsRecordingRaw {
  kind: 'adhoc-call' | 'meeting';
  recordingId: string;
  userId: string;
  callId: string | null;
  meetingId: string | null;
  organizer: TeamsOrganizer | null;
  contentCorrelationId: string | null;
  createdDateTime: string;
  endDateTime: string | null;
  metadata: unknown;
}

/**
 * A `callRecording` as callvault's recording. `userId` is the user in scope whose listing (or whose
 * notification) produced it: the content is fetched through that user. Dated by `createdDateTime` (UTC).
 * Throws InvalidInputError when the record lacks its id or creation time.
 */
export function recordingFromCallRecording(
  raw: unknown,
  context: { sourceId: string; kind: MsTeamsRecordingKind; userId: string; containerId?: string },
): SourceRecording {
  const record = object(raw);
  const recordingId = text(record?.id);
  if (!record || !recordingId) throw new InvalidInputError('callRecording has no id');
  const createdAt = parseDate(record.createdDateTime, 'createdDateTime');
  if (!createdAt)
    throw new InvalidInputError(`callRecording ${recordingId.slice(0, 40)}… has no createdDateTime`);
  const endedAt = parseDate(record.endDateTime, 'endDateTime');
  const callId = text(record.callId) ?? (context.kind === 'adhocCalls' ? context.containerId : undefined);
  const meetingId =
    text(record.meetingId) ?? (context.kind === 'onlineMeetings' ? context.containerId : undefined);
  const organizer = organizerOf(record);
  const details: TeamsRecordingRaw = {
    kind: context.kind === 'adhocCalls' ? 'adhoc-call' : 'meeting',
    recordingId,
    userId: context.userId,
    callId: callId ?? null,
    meetingId: meetingId ?? null,
    organizer: organizer ?? null,
    contentCorrelationId: text(record.contentCorrelationId) ?? null,
    createdDateTime: createdAt.toISOString(),
    endDateTime: endedAt?.toISOString() ?? null,
    metadata: record,
  };
  const organizerParty = organizer
    ? {
        ...(organizer.displayName ? { name: organizer.displayName } : {}),
        ...(organizer.id ? { personId: organizer.id } : {}),
      }
    : undefined;
  return {
    provider: 'msteams',
    sourceId: context.sourceId,
    recordingId,
    callId: context.kind === 'adhocCalls' ? callId : meetingId,
    startedAt: createdAt,
    endedAt,
    durationSeconds:
      endedAt && endedAt >= createdAt
        ? Math.round((endedAt.getTime() - createdAt.getTime()) / 1000)
        : undefined,
    direction: 'unknown',
    from: organizerParty && Object.keys(organizerParty).length > 0 ? organizerParty : undefined,
    extension: { id: context.userId },
    contentType: MSTEAMS_CONTENT_TYPE,
    fileExtension: MSTEAMS_FILE_EXTENSION,
    raw: details,
  };
}

/** The Teams facts of a recording this adapter produced; throws when the record is not one. */
export function teamsFactsOf(recording: SourceRecording): TeamsRecordingRaw {
  const raw = object(recording.raw);
  const kind = raw?.kind;
  const userId = text(raw?.userId);
  if ((kind !== 'adhoc-call' && kind !== 'meeting') || !userId) {
    throw new InvalidInputError(
      `recording ${recording.recordingId.slice(0, 40)}… was not listed by the Teams adapter`,
    );
  }
  return raw as unknown as TeamsRecordingRaw;
}

/** The reference of a recording this adapter produced (to fetch its metadata or content). */
export function referenceOf(recording: SourceRecording): RecordingReference & { userId: string } {
  const facts = teamsFactsOf(recording);
  const kind: MsTeamsRecordingKind = facts.kind === 'adhoc-call' ? 'adhocCalls' : 'onlineMeetings';
  const containerId = kind === 'adhocCalls' ? facts.callId : facts.meetingId;
  if (!containerId) {
    throw new InvalidInputError(
      `recording ${recording.recordingId.slice(0, 40)}… has no ${kind === 'adhocCalls' ? 'callId' : 'meetingId'}`,
    );
  }
  return { kind, userId: facts.userId, containerId, recordingId: facts.recordingId };
}
