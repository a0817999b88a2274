/**
 * Detailed call-log record → SourceRecording(s) (seeds 001 and 002): each distinct recording id on the
 * record or its legs (numbers or strings) is one SourceRecording with the call's metadata. callerStatus /
 * calleeStatus are the `result`s of the RingOut legs to the caller / the subscriber (a busy RingOut may
 * have one); company users' parties get a Team Messaging person id equal to their extension id.
 */
import { PermanentError, TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import type { CallDirection, CallParty, SourceRecording } from '../../core/recording';
import { type Json, jsonObject } from '../shared/json';

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
function legsOf(record: Json): Json[] {
  return Array.isArray(record.legs) ? record.legs.map(jsonObject).filter((leg): leg is Json => !!leg) : [];
}

/** The record and its legs: every place a recording, an extension or a party can appear. */
function segments(record: Json): Json[] {
  return [record, ...legsOf(record)];
}

/** Distinct recordings of a record, in order of appearance (record first, then legs). */
export function recordingsOfRecord(record: Json): { id: string; contentUri?: string }[] {
  const found = new Map<string, { id: string; contentUri?: string }>();
  for (const segment of segments(record)) {
    const recording = jsonObject(segment.recording);
    const id = idText(recording?.id);
    if (!recording || !id || found.has(id)) continue;
    found.set(id, {
      id,
      contentUri: typeof recording.contentUri === 'string' ? recording.contentUri : undefined,
    });
  }
  return [...found.values()];
}

/** A recording was too short to keep: `shortRecording` on the record or a leg (per the call-log schema). */
export function hasShortRecording(record: Json): boolean {
  return segments(record).some((segment) => segment.shortRecording === true);
}

/** The party without its undefined fields. */
function defined(party: CallParty): CallParty {
  return Object.fromEntries(Object.entries(party).filter(([, field]) => field !== undefined)) as CallParty;
}

function partyOf(value: unknown): CallParty | undefined {
  const party = jsonObject(value);
  if (!party) return undefined;
  const fields = defined({
    number: idText(party.phoneNumber) ?? idText(party.extensionNumber),
    name: idText(party.name),
    extensionId: idText(party.extensionId),
  });
  return Object.keys(fields).length > 0 ? fields : undefined;
}

/** Two mentions are one party: same extension id, or same number where the extension ids do not differ. */
function sameParty(a: CallParty, b: CallParty): boolean {
  if (a.extensionId && b.extensionId) return a.extensionId === b.extensionId;
  return a.number !== undefined && a.number === b.number;
}

/** Distinct parties; a leg's `extension` id no party carries joins the one party so named, else its own. */
function partiesOf(record: Json, directory: ExtensionDirectory): CallParty[] {
  const parties: CallParty[] = [];
  const add = (party: CallParty | undefined) => {
    if (!party) return;
    const existing = parties.find((candidate) => sameParty(candidate, party));
    if (!existing) parties.push({ ...party });
    else {
      existing.number ??= party.number;
      existing.name ??= party.name;
      existing.extensionId ??= party.extensionId;
    }
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
  return parties.map(defined);
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

/** The first `result` of a leg of this type. */
function legResult(record: Json, legType: RegExp): string | undefined {
  return legsOf(record)
    .filter((leg) => typeof leg.legType === 'string' && legType.test(leg.legType))
    .map((leg) => idText(leg.result))
    .find((result) => result !== undefined);
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

/** The recordings of one call-log record; PermanentError (the listing skips it) without a start time. */
export function parseCallLogRecord(
  raw: unknown,
  context: { sourceId: string; recordingFormat: 'mp3' | 'wav'; directory: ExtensionDirectory },
): SourceRecording[] {
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
  const parties = partiesOf(record, context.directory);
  const shared = {
    provider: 'ringcentral' as const,
    sourceId: context.sourceId,
    // The telephony session id (new records) or the legacy session id: what identifies the call.
    callId: idText(record.telephonySessionId) ?? idText(record.sessionId),
    startedAt: new Date(startMs),
    endedAt: duration !== undefined ? new Date(startMs + duration * 1000) : undefined,
    durationSeconds: duration,
    direction: directionOf(record),
    from: withDirectoryName(partyOf(record.from), context.directory),
    to: withDirectoryName(partyOf(record.to), context.directory),
    extension: extensionId
      ? { id: extensionId, ...(extensionName ? { name: extensionName } : {}) }
      : undefined,
    callerStatus: legResult(record, CALLER_LEG),
    calleeStatus: legResult(record, CALLEE_LEG),
    callResult: idText(record.result),
    parties,
    // The call log names no format: the extension is the configured hint, the download decides.
    fileExtension: context.recordingFormat,
    raw: record,
  };
  return recordings.map((recording) => ({ ...shared, recordingId: recording.id }));
}

// ---------------------------------------------------------------- the extension directory

/** One `records[]` item of the extension list. */
export function parseDirectoryEntry(raw: unknown): DirectoryEntry | undefined {
  const record = jsonObject(raw);
  const id = idText(record?.id);
  if (!record || !id) return undefined;
  const contact = jsonObject(record.contact) ?? {};
  const contactName = [idText(contact.firstName), idText(contact.lastName)].filter(Boolean).join(' ');
  return {
    id,
    extensionNumber: idText(record.extensionNumber),
    name: idText(record.name) ?? (contactName || undefined),
    type: idText(record.type),
  };
}

/** A loaded directory is reused a day; after a failed load (names only), the next attempt waits an hour. */
const DIRECTORY_TTL_MS = 24 * 3_600_000;
const DIRECTORY_RETRY_MS = 3_600_000;

/**
 * The account's extension directory (`GET /account/~/extension`, Medium group), loaded at most daily: it
 * names extensions, tells users from queues and IVRs, and maps the scope's short numbers to ids.
 */
export class DirectoryCache {
  private loaded: { at: number; directory: ExtensionDirectory } | undefined;
  private failedAt: number | undefined;
  private pending: Promise<ExtensionDirectory> | undefined;

  constructor(
    private readonly options: {
      load: () => Promise<DirectoryEntry[]>;
      /** The `extensions` scope needs it: a failed load throws, lest a sweep archive nothing quietly. */
      required: boolean;
      clock: Clock;
      log: Log;
      sourceId: string;
    },
  ) {}

  private now(): number {
    return this.options.clock.now().getTime();
  }

  async get(): Promise<ExtensionDirectory> {
    const { required } = this.options;
    if (this.loaded && this.now() - this.loaded.at < DIRECTORY_TTL_MS) return this.loaded.directory;
    if (!required && this.failedAt !== undefined && this.now() - this.failedAt < DIRECTORY_RETRY_MS) {
      return this.loaded?.directory ?? EMPTY_DIRECTORY;
    }
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    try {
      return await this.pending;
    } catch (error) {
      this.failedAt = this.now();
      const { sourceId, log } = this.options;
      const reason = (error as Error).message;
      if (required) {
        throw new TransientError(
          `the RingCentral extension directory of source ${sourceId} could not be loaded, and the extensions scope needs it: ${reason}`,
          { cause: error },
        );
      }
      log.warn('ringcentral extension directory unavailable; sidecars go without extension names', {
        sourceId,
        reason,
      });
      return this.loaded?.directory ?? EMPTY_DIRECTORY;
    }
  }

  private async load(): Promise<ExtensionDirectory> {
    const entries = await this.options.load();
    const ids = new Map(entries.map((entry) => [entry.id, entry]));
    const numbers = new Map<string, DirectoryEntry>();
    for (const entry of entries) if (entry.extensionNumber) numbers.set(entry.extensionNumber, entry);
    const directory: ExtensionDirectory = {
      byId: (id) => ids.get(id),
      byNumber: (number) => numbers.get(number),
    };
    this.loaded = { at: this.now(), directory };
    this.failedAt = undefined;
    const { log, sourceId } = this.options;
    log.info('ringcentral extension directory loaded', { sourceId, extensions: ids.size });
    return directory;
  }
}
