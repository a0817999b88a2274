/**
 * Teams `callRecording` resources: their URLs, the paths notifications name, and the neutral recording.
 * Ids (~270 characters) are kept whole; the archive key shortens them (`sanitiseSegment`, core/keys.ts).
 */
import { InvalidInputError } from '../../core/errors';
import type { SourceRecording, TimeWindow } from '../../core/recording';
import { jsonObject } from '../shared/json';
import type { TeamsRecordingsRecordingKind } from './teams-recordings-config';

/** What a notification's resource names; the user is absent in the tenant-wide form. */
export interface RecordingReference {
  kind: TeamsRecordingsRecordingKind;
  userId?: string;
  /** The ad hoc call's id or the online meeting's id. */
  containerId: string;
  recordingId: string;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
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
  kind: TeamsRecordingsRecordingKind,
  userId: string,
  window: TimeWindow,
): string {
  const organizer = kind === 'adhocCalls' ? 'userId' : 'meetingOrganizerUserId';
  const parameters = [
    `${organizer}=${odataString(userId)}`,
    // Graph's DateTimeOffset as callvault writes it: ISO 8601, UTC.
    `startDateTime=${window.from.toISOString()}`,
    `endDateTime=${window.to.toISOString()}`,
  ].join(',');
  return new URL(
    `/v1.0/users/${segment(userId)}/${kind}/getAllRecordings(${encodeURI(parameters).replace(/#/g, '%23')})`,
    graphUrl,
  ).href;
}

/** The recording's metadata through its user: the only path the `callRecording: get` reference lists. */
export function recordingUrl(graphUrl: string, reference: RecordingReference & { userId: string }): string {
  const { kind, userId, containerId, recordingId } = reference;
  const path = `/v1.0/users/${segment(userId)}/${kind}/${segment(containerId)}/recordings/${segment(recordingId)}`;
  return new URL(path, graphUrl).href;
}

/** One segment of a resource path: `name`, or `name(key)` with the key unquoted. */
type PathSegment = { name: string; key?: string };

/** Why a path is not one we read; the words go into the log line next to the resource. */
export type ResourceReading =
  /** A callRecording: the hint it becomes. */
  | { type: 'recording'; reference: RecordingReference }
  /** A Teams resource we do not archive (a callTranscript of another subscription): acknowledged, ignored. */
  | { type: 'not-a-recording'; what: string; userId?: string }
  /** Anything else: the webhook sweeps instead (the user's when the path names one, else the source). */
  | { type: 'unrecognised'; userId?: string };

const MAX_SEGMENTS = 16;

/** Undoes percent-encoding where there is any; Teams ids are base64 and never hold a literal `%`. */
function decoded(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Splits a path on `/` outside keys: a quoted key (`'…'`, quotes doubled) may hold `/` or `)`, an unquoted
 * one runs to the `)` (base64 keeps `/` and `=`, as in Microsoft's `recordings(MyM…=)`). Else undefined.
 */
function segmentsOf(path: string): PathSegment[] | undefined {
  const segments: PathSegment[] = [];
  const pattern = /([^/(]*)(?:\((?:'((?:[^']|'')*)'|([^')][^)]*))\))?(?:\/|$)/y;
  while (pattern.lastIndex < path.length) {
    const match = segments.length < MAX_SEGMENTS ? pattern.exec(path) : null;
    if (!match) return undefined;
    const [, name = '', quoted, unquoted] = match;
    const raw = quoted?.replace(/''/g, "'") ?? unquoted;
    const key = raw === undefined ? undefined : decoded(raw);
    if (key === '') return undefined;
    if (name !== '' || key !== undefined)
      segments.push({ name: decoded(name), ...(key !== undefined ? { key } : {}) });
  }
  return segments;
}

const KINDS: Record<string, TeamsRecordingsRecordingKind> = {
  adhoccalls: 'adhocCalls',
  onlinemeetings: 'onlineMeetings',
};

/** Child collections of a call or meeting that are not recordings: known, and not archived. */
const OTHER_CHILDREN = new Set(['transcripts', 'attendancereports']);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What a notification's `resource` (or `resourceData['@odata.id']`) names, read segment by segment so
 * that every spelling Graph has shown reads alike: keys as `name('id')` (quotes doubled), `name(id)` or
 * `name/id`; collection names in any case; an optional scheme and host, leading `/` and `v1.0/` or
 * `beta/`; `users('id')/…`, `users/id/…` or `communications/…` in front; and the kind doubled as in
 * `users/{id}/adhoccalls/adhocCalls/{callId}/recordings('…')` (Microsoft's "Get change notifications for
 * Teams recordings and transcripts" shows each of these).
 */
export function readTeamsResource(resource: string): ResourceReading {
  const path = resource
    .trim()
    .replace(/^https?:\/\/[^/]+/i, '')
    .replace(/^\/+/, '')
    .replace(/^(v1\.0|beta)\//i, '');
  const segments = segmentsOf(path);
  if (!segments || segments.length === 0) return { type: 'unrecognised' };
  let at = 0;
  const next = () => segments[at++];
  // A key as `name('id')`, or as the next segment (`name/id`).
  const keyOf = (segment: PathSegment) =>
    segment.key ?? (segments[at]?.key === undefined ? next()?.name : undefined);
  const head = next() as PathSegment;
  const headName = head.name.toLowerCase();
  const userId = headName === 'users' ? keyOf(head) : undefined;
  if (headName === 'users' ? !userId : headName !== 'communications') return { type: 'unrecognised' };
  const user = userId ? { userId } : {};
  const unrecognised = (): ResourceReading => ({ type: 'unrecognised', ...user });
  const kindSegment = next();
  const kind = kindSegment ? KINDS[kindSegment.name.toLowerCase()] : undefined;
  if (!kindSegment || !kind) return unrecognised();
  let containerId = kindSegment.key;
  if (containerId === undefined) {
    const candidate = next();
    // The collection named twice (`adhoccalls/adhocCalls/{callId}` or `…/adhocCalls('{callId}')`).
    if (candidate && KINDS[candidate.name.toLowerCase()] === kind) containerId = keyOf(candidate);
    else if (candidate?.key === undefined) containerId = candidate?.name;
  }
  if (!containerId) return unrecognised();
  const child = next();
  const childName = child?.name.toLowerCase();
  if (!child || !childName) return unrecognised();
  if (childName !== 'recordings') {
    return OTHER_CHILDREN.has(childName)
      ? { type: 'not-a-recording', what: childName, ...user }
      : unrecognised();
  }
  const recordingId = keyOf(child);
  if (!recordingId || at !== segments.length) return unrecognised();
  return { type: 'recording', reference: { kind, containerId, recordingId, ...user } };
}

/** The recording a resource names; undefined for anything else (see `readTeamsResource`). */
export function parseRecordingResource(resource: string): RecordingReference | undefined {
  const reading = readTeamsResource(resource);
  return reading.type === 'recording' ? reading.reference : undefined;
}

/** A user id worth sweeping by: Entra object ids only (a placeholder or a name would match no user). */
export function sweepableUserId(userId: string | undefined): string | undefined {
  return userId && GUID.test(userId) ? userId.toLowerCase() : undefined;
}

const ORGANIZER_FIELDS = ['id', 'displayName', 'tenantId', 'userIdentityType'] as const;
type TeamsOrganizer = Partial<Record<(typeof ORGANIZER_FIELDS)[number], string>>;

/** `meetingOrganizer.user` of a callRecording (an identitySet). */
export function organizerOf(raw: unknown): TeamsOrganizer | undefined {
  const user = jsonObject(jsonObject(jsonObject(raw)?.meetingOrganizer)?.user);
  if (!user) return undefined;
  const fields = ORGANIZER_FIELDS.map((field) => [field, text(user[field])]);
  return Object.fromEntries(fields.filter(([, value]) => value)) as TeamsOrganizer;
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

/** A `callRecording` as callvault's recording, dated by `createdDateTime`; fetched through `userId`. */
export function recordingFromCallRecording(
  raw: unknown,
  context: { sourceId: string; kind: TeamsRecordingsRecordingKind; userId: string; containerId?: string },
): SourceRecording {
  const record = jsonObject(raw);
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
  const { displayName: name, id: personId } = organizer ?? {};
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
    from: name || personId ? { ...(name ? { name } : {}), ...(personId ? { personId } : {}) } : undefined,
    extension: { id: context.userId },
    contentType: 'video/mp4',
    fileExtension: 'mp4',
    raw: details,
  };
}

/** The reference of a recording this adapter produced (to fetch its metadata or content); throws if not one. */
export function referenceOf(recording: SourceRecording): RecordingReference & { userId: string } {
  const facts = jsonObject(recording.raw) as Partial<TeamsRecordingRaw> | undefined;
  const what = `recording ${recording.recordingId.slice(0, 40)}…`;
  const userId = text(facts?.userId);
  if ((facts?.kind !== 'adhoc-call' && facts?.kind !== 'meeting') || !userId) {
    throw new InvalidInputError(`${what} was not listed by the Teams adapter`);
  }
  const kind = facts.kind === 'adhoc-call' ? 'adhocCalls' : 'onlineMeetings';
  const containerId = kind === 'adhocCalls' ? facts.callId : facts.meetingId;
  if (!containerId) {
    throw new InvalidInputError(`${what} has no ${kind === 'adhocCalls' ? 'callId' : 'meetingId'}`);
  }
  return { kind, userId, containerId, recordingId: facts.recordingId as string };
}
