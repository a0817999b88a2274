/**
 * Telphin record → SourceRecording. Times (`"2021-01-01 00:00:05.98"`, UTC) are read from `start_time_gmt`
 * and the like, or without `_gmt` as seed 000's field table names them.
 */
import { PermanentError } from '../../core/errors';
import type { CallDirection, CallParty, SourceRecording } from '../../core/recording';
import { jsonObject } from '../shared/json';

const CONTENT_TYPES: Record<string, string> = {
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
};

/** Parses a Telphin timestamp (`YYYY-MM-DD HH:MM:SS[.ff]`, UTC unless it names an offset). */
function parseTelphinTime(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$/.exec(
    value.trim(),
  );
  if (!match) return undefined;
  const fraction = match[3] ? match[3].slice(0, 4).padEnd(4, '0') : '';
  const zone = match[4] ?? 'Z';
  const date = new Date(`${match[1]}T${match[2]}${fraction}${zone}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function timeField(record: Record<string, unknown>, name: 'init_time' | 'start_time' | 'hangup_time') {
  return parseTelphinTime(record[`${name}_gmt`]) ?? parseTelphinTime(record[name]);
}

/** Strings and numbers as a non-empty string; ids arrive as JSON numbers. */
function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function nonNegativeInteger(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

function party(fields: CallParty): CallParty | undefined {
  const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
  return entries.length > 0 ? (Object.fromEntries(entries) as CallParty) : undefined;
}

const DIRECTIONS = new Map<unknown, CallDirection>([
  ['in', 'inbound'],
  ['out', 'outbound'],
]);

/** `…-UTC_out_0541_ypgt.mp3` → `mp3`; mp3 when absent or odd. */
function fileExtensionOf(fileName: unknown): string {
  const match = typeof fileName === 'string' ? /\.([A-Za-z0-9]{1,8})$/.exec(fileName) : null;
  return match?.[1]?.toLowerCase() ?? 'mp3';
}

/** The id part after `{extension_id}-` in a record_uuid (what some events call the recording id). */
export function recordUuidSuffix(recordUuid: string): string {
  const dash = recordUuid.indexOf('-');
  return dash >= 0 ? recordUuid.slice(dash + 1) : recordUuid;
}

/**
 * Normalises one record; PermanentError (the listing skips it) without a `record_uuid`, a start or init
 * time, or a valid `record_file_size` (documented as never null).
 */
export function parseTelphinRecord(record: unknown, sourceId: string): SourceRecording {
  const raw = jsonObject(record);
  if (!raw) throw new PermanentError('Telphin record is not an object');
  const recordingId = text(raw.record_uuid);
  if (!recordingId) throw new PermanentError('Telphin record has no record_uuid');
  const startedAt = timeField(raw, 'start_time') ?? timeField(raw, 'init_time');
  if (!startedAt) {
    throw new PermanentError(`Telphin record ${recordingId} has no parseable start_time_gmt/init_time_gmt`);
  }
  const size = nonNegativeInteger(raw.record_file_size);
  if (size === undefined) {
    throw new PermanentError(`Telphin record ${recordingId} has no valid record_file_size`);
  }

  const direction = DIRECTIONS.get(raw.flow) ?? 'unknown';
  const extensionId = text(raw.extension_id);
  const extensionName = text(raw.extension_name);
  const caller = party({ number: text(raw.from_username), name: text(raw.from_screen_name) });
  // Outbound: the dialled number; inbound: the public number (DID) the caller dialled.
  const calleeNumber =
    direction === 'inbound'
      ? (text(raw.did_number) ?? text(raw.dest_number) ?? text(raw.to_username))
      : (text(raw.dest_number) ?? text(raw.to_username));
  const callee = party({ number: calleeNumber });
  const ownParty = (p: CallParty | undefined) => party({ ...p, extensionId });

  const fileExtension = fileExtensionOf(raw.file_name);
  const duration = typeof raw.duration === 'number' && raw.duration >= 0 ? raw.duration : undefined;
  return {
    provider: 'telphin',
    sourceId,
    recordingId,
    callId: text(raw.call_uuid),
    startedAt,
    endedAt: timeField(raw, 'hangup_time'),
    durationSeconds: duration,
    direction,
    from: direction === 'outbound' ? ownParty(caller) : caller,
    to: direction === 'inbound' ? ownParty(callee) : callee,
    extension: extensionId
      ? { id: extensionId, ...(extensionName ? { name: extensionName } : {}) }
      : undefined,
    calleeStatus: text(raw.result),
    size,
    contentType: CONTENT_TYPES[fileExtension] ?? 'application/octet-stream',
    fileExtension,
    raw: record,
  };
}

/** The client a record belongs to, for per-record URLs: its owner, else the configured one. */
export function recordClientId(recording: SourceRecording, scopeClient: string | undefined): string {
  return text(jsonObject(recording.raw)?.client_owner_id) ?? scopeClient ?? '@me';
}
