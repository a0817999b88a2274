/**
 * Recordings held by the Telphin sandbox, and how they are served: the record JSON mirrors the list
 * API's fields (TGO `testdata/get_records_200.json`), with the `_gmt` time names by default or seed
 * 000's spellings without the suffix.
 */
import { createHash } from 'node:crypto';
import { syntheticAudioSha256 } from './synthetic-audio';

export type TelphinFieldSpelling = 'gmt' | 'plain';

export interface SandboxRecordingInput {
  /** When the call was answered (start_time); init is a few seconds earlier. */
  startedAt: Date;
  /** Default 60. */
  durationSeconds?: number;
  /** Default 468944. */
  extensionId?: number;
  extensionName?: string;
  /** The extension group that owns the record; null when none (the default). */
  extensionGroupId?: number | null;
  /** Default the sandbox's client id. */
  clientOwnerId?: number;
  /** Default 'out'. */
  flow?: 'in' | 'out';
  /** Bytes of the recording; default 2000 bytes per second of duration (16 kbit/s). */
  size?: number;
  /** Decides the bytes; default derived from the record_uuid. */
  seed?: string;
  recordUuid?: string;
  callUuid?: string;
  fromNumber?: string;
  toNumber?: string;
  /** The record is only listed (and downloadable) from this instant on: "not listed yet". */
  listedAt?: Date;
}

export interface SandboxRecording {
  recordUuid: string;
  callUuid: string;
  extensionId: number;
  extensionName: string;
  extensionGroupId: number | null;
  clientOwnerId: number;
  flow: 'in' | 'out';
  initAt: Date;
  startedAt: Date;
  hangupAt: Date;
  durationSeconds: number;
  size: number;
  seed: string;
  fileName: string;
  fromNumber: string;
  toNumber: string;
  listedAt?: Date;
  /** Opaque, permanent storage path segment (what storage_url points at). */
  storageKey: string;
}

function hex32(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32).toUpperCase();
}

/** Telphin's time format: `YYYY-MM-DD HH:MM:SS[.ff]`, UTC. */
function telphinTime(date: Date, withFraction = false): string {
  const iso = date.toISOString();
  const base = iso.slice(0, 19).replace('T', ' ');
  return withFraction ? `${base}.${iso.slice(20, 22)}` : base;
}

function fileStamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

/** Builds a complete recording from the few facts a test cares about; `serial` keeps ids unique and stable. */
export function buildSandboxRecording(
  input: SandboxRecordingInput,
  defaults: { clientId: number; serial: string },
): SandboxRecording {
  const extensionId = input.extensionId ?? 468944;
  const extensionNumber = String(extensionId).slice(-4).padStart(4, '0');
  const recordUuid = input.recordUuid ?? `${extensionId}-${hex32(`record:${defaults.serial}`)}`;
  const durationSeconds = input.durationSeconds ?? 60;
  const flow = input.flow ?? 'out';
  // Ringing time before answer: 2..14 s, stable per record, with centiseconds like the real API.
  const ringMs = 2000 + (Number.parseInt(hex32(`ring:${recordUuid}`).slice(0, 6), 16) % 12_000);
  const suffix = hex32(`file:${recordUuid}`).slice(0, 4).toLowerCase();
  const extensionName = input.extensionName ?? `01874*${extensionNumber}@sipproxy.telphin.ru`;
  const own = `01874*${extensionNumber}`;
  const external = `+7${String(Number.parseInt(hex32(`num:${recordUuid}`).slice(0, 8), 16))
    .padStart(10, '0')
    .slice(0, 10)}`;
  return {
    recordUuid,
    callUuid: input.callUuid ?? hex32(`call:${recordUuid}`),
    extensionId,
    extensionName,
    extensionGroupId: input.extensionGroupId ?? null,
    clientOwnerId: input.clientOwnerId ?? defaults.clientId,
    flow,
    initAt: new Date(input.startedAt.getTime() - ringMs),
    startedAt: input.startedAt,
    hangupAt: new Date(input.startedAt.getTime() + durationSeconds * 1000),
    durationSeconds,
    size: input.size ?? Math.max(1024, durationSeconds * 2000),
    seed: input.seed ?? recordUuid,
    fileName: `${fileStamp(input.startedAt)}-UTC_${flow}_${extensionNumber}_${suffix}.mp3`,
    fromNumber: input.fromNumber ?? (flow === 'out' ? own : external),
    toNumber: input.toNumber ?? (flow === 'out' ? external : own),
    listedAt: input.listedAt,
    storageKey: createHash('sha256').update(`storage:${recordUuid}:${defaults.serial}`).digest('base64url'),
  };
}

/** The record as the list API returns it. */
export function serialiseTelphinRecord(
  recording: SandboxRecording,
  spelling: TelphinFieldSpelling,
): Record<string, unknown> {
  const times = {
    init_time: telphinTime(recording.initAt, true),
    start_time: telphinTime(recording.startedAt),
    hangup_time: telphinTime(recording.hangupAt),
  };
  const suffix = spelling === 'gmt' ? '_gmt' : '';
  const inbound = recording.flow === 'in';
  return {
    flow: recording.flow,
    [`init_time${suffix}`]: times.init_time,
    [`start_time${suffix}`]: times.start_time,
    [`hangup_time${suffix}`]: times.hangup_time,
    duration: recording.durationSeconds,
    extension_id: recording.extensionId,
    extension_name: recording.extensionName,
    extension_type: 'phone',
    extension_group_owner_id: recording.extensionGroupId,
    client_owner_id: recording.clientOwnerId,
    result: 'answered',
    from_username: recording.fromNumber,
    from_domain: 'sipproxy.telphin.ru',
    from_screen_name: recording.fromNumber,
    to_username: recording.toNumber,
    to_domain: 'sipproxy.telphin.ru',
    dest_number: inbound ? null : recording.toNumber,
    dest_domain: 'sipproxy.telphin.ru',
    did_number: inbound ? recording.toNumber.replace(/^01874\*/, '+7495000') : null,
    did_domain: inbound ? 'sipproxy.telphin.ru' : null,
    hangup_cause: 'NORMAL_CLEARING',
    hangup_disposition: 'caller_bye',
    call_uuid: recording.callUuid,
    record_uuid: recording.recordUuid,
    record_file_size: recording.size,
    file_name: recording.fileName,
    record_transfer: false,
  };
}

/** Expected SHA-256 (hex) of a sandbox recording's bytes. */
export function expectedRecordingSha256(recording: Pick<SandboxRecording, 'seed' | 'size'>): string {
  return syntheticAudioSha256(recording.seed, recording.size);
}

/**
 * A Telphin `hangup` event for a recording, form-urlencoded as Telphin posts it (field names as in the
 * event docs, EventTime in microseconds). `overrides` replaces or adds fields.
 */
export function telphinHangupWebhookBody(
  recording: SandboxRecording,
  overrides: Record<string, string> = {},
): string {
  const inbound = recording.flow === 'in';
  const fields: Record<string, string> = {
    EventType: 'hangup',
    CallID: recording.callUuid,
    SubCallID: `${recording.extensionId}-${recording.callUuid.slice(0, 16)}`,
    CallAPIID: `${recording.callUuid.slice(0, 8)}-api`,
    CallerIDNum: recording.fromNumber,
    CalledNumber: recording.toNumber,
    CallFlow: recording.flow,
    CallStatus: 'ANSWER',
    EventTime: String(BigInt(recording.hangupAt.getTime()) * 1000n),
    Duration: String(recording.durationSeconds),
    BridgedDuration: String(recording.durationSeconds),
    Bridged: 'yes',
    Transfered: 'no',
    RecID: recording.recordUuid,
    [inbound ? 'CalledExtensionID' : 'CallerExtensionID']: String(recording.extensionId),
    [inbound ? 'CalledExtension' : 'CallerExtension']: recording.extensionName,
    ...overrides,
  };
  return new URLSearchParams(fields).toString();
}
