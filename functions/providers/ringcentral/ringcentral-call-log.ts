/**
 * Detailed call-log record → SourceRecording(s) (seeds 001 and 002). One record can carry several
 * recordings (on the record and on its legs), and the same recording repeats across legs: each distinct
 * recording id becomes one SourceRecording with the call's metadata. Ids arrive as JSON numbers or
 * strings and are kept as strings.
 *
 * - callerStatus / calleeStatus: `result` of the RingOut leg to the caller / to the subscriber (a busy
 *   RingOut may have only one of them); other calls have neither.
 * - callResult: the record's overall `result`, always kept.
 * - parties: every distinct party across the record and its legs, with the Team Messaging person id,
 *   which equals the extension id for company users; external numbers have none.
 */
import { PermanentError } from '../../core/errors';
import type { CallDirection, CallParty, SourceRecording } from '../../core/recording';
import { type Json, jsonObject } from '../shared/json';

export type RecordingFormat = 'mp3' | 'wav';

/** One extension of the account's directory (`GET /account/~/extension`). */
export interface DirectoryEntry {
  id: string;
  extensionNumber?: string;
  name?: string;
  /** `User`, `Department` (call queue), `IvrMenu`, …; only users have a Team Messaging person id. */
  type?: string;
}

export interface ExtensionDirectory {
  byId(id: string): DirectoryEntry | undefined;
  byNumber(extensionNumber: string): DirectoryEntry | undefined;
}

export const EMPTY_DIRECTORY: ExtensionDirectory = { byId: () => undefined, byNumber: () => undefined };

export interface CallLogContext {
  sourceId: string;
  recordingFormat: RecordingFormat;
  directory: ExtensionDirectory;
}

export interface CallLogRecordingInfo {
  id: string;
  contentUri?: string;
  type?: string;
}

/** RingOut legs; Web and Device RingOut name their legs alike. */
const CALLER_LEG = /^RingOut(Client|Web|Device|OneLeg)ToCaller$/;
const CALLEE_LEG = /^RingOut(Client|Web|Device)ToSubscriber$/;

/** A string or finite number as a non-empty string. */
export function idText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** The record's legs (Detailed view); an empty list for the Simple view. */
export function legsOf(record: Json): Json[] {
  return Array.isArray(record.legs) ? record.legs.map(jsonObject).filter((leg): leg is Json => !!leg) : [];
}

/** The record and its legs: every place a recording, an extension or a party can appear. */
function segments(record: Json): Json[] {
  return [record, ...legsOf(record)];
}

/** Distinct recordings of a record, in order of appearance (record first, then legs). */
export function recordingsOfRecord(record: Json): CallLogRecordingInfo[] {
  const found = new Map<string, CallLogRecordingInfo>();
  for (const segment of segments(record)) {
    const recording = jsonObject(segment.recording);
    const id = idText(recording?.id);
    if (!recording || !id || found.has(id)) continue;
    found.set(id, {
      id,
      contentUri: typeof recording.contentUri === 'string' ? recording.contentUri : undefined,
      type: typeof recording.type === 'string' ? recording.type : undefined,
    });
  }
  return [...found.values()];
}

/**
 * The record says a recording was too short to be kept: `shortRecording` on the record or on one of its
 * legs (the Detailed view's legs carry the field too, per the call-log schema).
 */
export function hasShortRecording(record: Json): boolean {
  return segments(record).some((segment) => segment.shortRecording === true);
}

/** The telephony session id (new records) or the legacy session id: what identifies the call. */
export function callIdOf(record: Json): string | undefined {
  return idText(record.telephonySessionId) ?? idText(record.sessionId);
}

export function ringOutStatuses(record: Json): { callerStatus?: string; calleeStatus?: string } {
  let callerStatus: string | undefined;
  let calleeStatus: string | undefined;
  for (const leg of legsOf(record)) {
    const legType = typeof leg.legType === 'string' ? leg.legType : '';
    const result = idText(leg.result);
    if (CALLER_LEG.test(legType)) callerStatus ??= result;
    else if (CALLEE_LEG.test(legType)) calleeStatus ??= result;
  }
  return { callerStatus, calleeStatus };
}

function partyOf(value: unknown): CallParty | undefined {
  const party = jsonObject(value);
  if (!party) return undefined;
  const fields: CallParty = {
    number: idText(party.phoneNumber) ?? idText(party.extensionNumber),
    name: idText(party.name),
    extensionId: idText(party.extensionId),
  };
  const entries = Object.entries(fields).filter(([, field]) => field !== undefined);
  return entries.length > 0 ? (Object.fromEntries(entries) as CallParty) : undefined;
}

/** Two mentions are one party: same extension id, or same number where the extension ids do not differ. */
function sameParty(a: CallParty, b: CallParty): boolean {
  if (a.extensionId && b.extensionId) return a.extensionId === b.extensionId;
  return a.number !== undefined && a.number === b.number;
}

function merge(into: CallParty, from: CallParty): void {
  into.number ??= from.number;
  into.name ??= from.name;
  into.extensionId ??= from.extensionId;
}

/**
 * Every distinct party of the call. Leg `extension` ids no party carries are attached to the one party
 * bearing the directory name of that extension, else listed as a party of their own.
 */
export function partiesOf(record: Json, directory: ExtensionDirectory): CallParty[] {
  const parties: CallParty[] = [];
  const add = (party: CallParty | undefined) => {
    if (!party) return;
    const existing = parties.find((candidate) => sameParty(candidate, party));
    if (existing) merge(existing, party);
    else parties.push({ ...party });
  };
  for (const segment of segments(record)) {
    add(partyOf(segment.from));
    add(partyOf(segment.to));
  }
  for (const segment of segments(record)) {
    const id = idText(jsonObject(segment.extension)?.id);
    if (!id || parties.some((party) => party.extensionId === id)) continue;
    const entry = directory.byId(id);
    const named = entry?.name
      ? parties.filter((party) => !party.extensionId && party.name === entry.name)
      : [];
    const only = named.length === 1 ? named[0] : undefined;
    if (only) only.extensionId = id;
    else add({ extensionId: id, name: entry?.name, number: entry?.extensionNumber });
  }
  for (const party of parties) {
    if (!party.extensionId) continue;
    const entry = directory.byId(party.extensionId);
    party.name ??= entry?.name;
    // Team Messaging person id = extension id for company users; queues, IVRs and the like have none.
    if (!entry?.type || entry.type === 'User') party.personId = party.extensionId;
  }
  return parties.map(
    (party) =>
      Object.fromEntries(Object.entries(party).filter(([, field]) => field !== undefined)) as CallParty,
  );
}

/** Extension ids and numbers on the call, for the `extensions` scope. */
export function extensionKeysOf(record: Json, directory: ExtensionDirectory): Set<string> {
  const keys = new Set<string>();
  const addId = (id: string | undefined) => {
    if (!id) return;
    keys.add(id);
    const number = directory.byId(id)?.extensionNumber;
    if (number) keys.add(number);
  };
  const addNumber = (number: string | undefined) => {
    if (!number) return;
    keys.add(number);
    addId(directory.byNumber(number)?.id);
  };
  for (const segment of segments(record)) {
    addId(idText(jsonObject(segment.extension)?.id));
    for (const side of [jsonObject(segment.from), jsonObject(segment.to)]) {
      addId(idText(side?.extensionId));
      addNumber(idText(side?.extensionNumber));
    }
  }
  return keys;
}

function directionOf(record: Json): CallDirection {
  const from = jsonObject(record.from);
  const to = jsonObject(record.to);
  if (from?.extensionNumber !== undefined && to?.extensionNumber !== undefined) return 'internal';
  if (record.direction === 'Inbound') return 'inbound';
  if (record.direction === 'Outbound') return 'outbound';
  return 'unknown';
}

function withDirectoryName(
  party: CallParty | undefined,
  directory: ExtensionDirectory,
): CallParty | undefined {
  if (!party?.extensionId || party.name) return party;
  const name = directory.byId(party.extensionId)?.name;
  return name ? { ...party, name } : party;
}

/**
 * The recordings of one call-log record. Throws PermanentError when the record lacks a start time;
 * the listing skips such a record with a warning.
 */
export function parseCallLogRecord(raw: unknown, context: CallLogContext): SourceRecording[] {
  const record = jsonObject(raw);
  if (!record) throw new PermanentError('RingCentral call-log record is not an object');
  const recordings = recordingsOfRecord(record);
  if (recordings.length === 0) return [];
  const startMs = typeof record.startTime === 'string' ? Date.parse(record.startTime) : Number.NaN;
  if (Number.isNaN(startMs)) {
    throw new PermanentError(
      `RingCentral call-log record ${idText(record.id) ?? '?'} has no valid startTime`,
    );
  }
  const duration =
    typeof record.duration === 'number' && Number.isFinite(record.duration) && record.duration >= 0
      ? record.duration
      : undefined;
  const extensionId = idText(jsonObject(record.extension)?.id);
  const extensionName = extensionId ? context.directory.byId(extensionId)?.name : undefined;
  const { callerStatus, calleeStatus } = ringOutStatuses(record);
  const parties = partiesOf(record, context.directory);
  const shared = {
    provider: 'ringcentral' as const,
    sourceId: context.sourceId,
    callId: callIdOf(record),
    startedAt: new Date(startMs),
    endedAt: duration !== undefined ? new Date(startMs + duration * 1000) : undefined,
    durationSeconds: duration,
    direction: directionOf(record),
    from: withDirectoryName(partyOf(record.from), context.directory),
    to: withDirectoryName(partyOf(record.to), context.directory),
    extension: extensionId
      ? { id: extensionId, ...(extensionName ? { name: extensionName } : {}) }
      : undefined,
    callerStatus,
    calleeStatus,
    callResult: idText(record.result),
    parties,
    // The call log names no format: the extension is the configured hint, the download decides.
    fileExtension: context.recordingFormat,
    raw: record,
  };
  return recordings.map((recording) => ({ ...shared, recordingId: recording.id }));
}

/** The recording's `contentUri` from the record kept in `raw`. */
export function contentUriOf(raw: unknown, recordingId: string): string | undefined {
  const record = jsonObject(raw);
  if (!record) return undefined;
  return recordingsOfRecord(record).find((recording) => recording.id === recordingId)?.contentUri;
}
