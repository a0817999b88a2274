/**
 * Calls held by the RingCentral sandbox and how they are shown: Detailed call-log records shaped like
 * seeds 001 (RingOut, with RingOutClientToCaller / RingOutClientToSubscriber legs, one leg when busy)
 * and 002 (an inbound call through a queue, Accept and FindMe legs), telephony-session event bodies
 * (account-telephony-sessions event filter), and deterministic MP3 or WAV bytes for each recording.
 */
import { createHash } from 'node:crypto';
import { syntheticAudioChunks } from './synthetic-audio';

export type SandboxCallKind = 'ringout' | 'ringout-busy' | 'inbound' | 'outbound' | 'internal';
export type SandboxAudioFormat = 'mp3' | 'wav';

export interface SandboxExtension {
  id: number;
  extensionNumber: string;
  name: string;
  /** `User`, or `Department` for a call queue. */
  type: 'User' | 'Department';
  /** The extension's direct number. */
  phoneNumber: string;
}

/** The sandbox account's directory: two users and a call queue (seed 002's "Sales Queue"). */
export const DEFAULT_EXTENSIONS: readonly SandboxExtension[] = [
  { id: 727097016, extensionNumber: '101', name: 'John Snow', type: 'User', phoneNumber: '+16505550101' },
  { id: 727097017, extensionNumber: '102', name: 'Arya Stark', type: 'User', phoneNumber: '+16505550102' },
  {
    id: 22222222,
    extensionNumber: '200',
    name: 'Sales Queue',
    type: 'Department',
    phoneNumber: '+12679304030',
  },
];

export interface SandboxCallInput {
  kind?: SandboxCallKind;
  /** Call start; default such that a finished call ended now (a live one starts now). */
  startedAt?: Date;
  /** Default 60. */
  durationSeconds?: number;
  /** The account's extension on the call (by id); default the first user. */
  extensionId?: number;
  /** The other extension of an internal call; default the second user. */
  otherExtensionId?: number;
  externalNumber?: string;
  externalName?: string;
  /** Default true; unrecorded calls have no `recording` in the call log. */
  recorded?: boolean;
  /** Default the sandbox's account format. */
  format?: SandboxAudioFormat;
  /** Content bytes; default 2000 per second of duration (16 kbit/s). */
  size?: number;
  /** Overall and leg results; defaults depend on the kind. */
  result?: string;
  /** `result` of the RingOutClientToSubscriber leg (RingOut), of the user's leg otherwise. */
  calleeResult?: string;
  callerResult?: string;
  /** Emit the recording id as a JSON number (the API has done both). */
  numericRecordingId?: boolean;
  /** Live calls have no hang-up yet and are absent from the call log. */
  live?: boolean;
  /** The record says the recording was too short to be kept (and carries none). */
  shortRecording?: boolean;
  /** Where `shortRecording` sits: on the call record (default) or on the leg that recorded. */
  shortRecordingOn?: 'call' | 'leg';
}

export interface SandboxRecordingFile {
  id: string;
  seed: string;
  size: number;
  format: SandboxAudioFormat;
  type: 'Automatic' | 'OnDemand';
  numericId: boolean;
}

export interface SandboxCall {
  kind: SandboxCallKind;
  recordId: string;
  sessionId: string;
  telephonySessionId: string;
  startedAt: Date;
  durationSeconds: number;
  /** Undefined while the call is live. */
  hungUpAt?: Date;
  extension: SandboxExtension;
  otherExtension?: SandboxExtension;
  /** The call queue an inbound call went through. */
  queue?: SandboxExtension;
  externalNumber: string;
  externalName?: string;
  result: string;
  callerResult?: string;
  calleeResult?: string;
  recording?: SandboxRecordingFile;
  /** The file was deleted (through the API or by the platform's own retention). */
  recordingDeleted: boolean;
  shortRecording: boolean;
  shortRecordingOn: 'call' | 'leg';
  /** Events delivered for this session so far; the next event's `sequence`. */
  sequence: number;
}

function digits(text: string, length: number): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return BigInt(`0x${hex.slice(0, 15)}`)
    .toString()
    .padStart(length, '0')
    .slice(0, length);
}

export function buildSandboxCall(
  input: SandboxCallInput,
  context: {
    serial: string;
    now: Date;
    extensions: readonly SandboxExtension[];
    defaultFormat: SandboxAudioFormat;
  },
): SandboxCall {
  const kind = input.kind ?? 'ringout';
  const users = context.extensions.filter((extension) => extension.type === 'User');
  const byId = (id: number | undefined) =>
    id === undefined ? undefined : context.extensions.find((extension) => extension.id === id);
  const extension = byId(input.extensionId) ?? users[0];
  if (!extension) throw new Error('the sandbox directory has no user');
  const otherExtension =
    kind === 'internal' ? (byId(input.otherExtensionId) ?? users[1] ?? extension) : undefined;
  const durationSeconds = input.durationSeconds ?? 60;
  // A finished call ends now by default; a live one starts now.
  const startedAt =
    input.startedAt ?? new Date(context.now.getTime() - (input.live ? 0 : durationSeconds * 1000));
  const serial = context.serial;
  const recorded = (input.recorded ?? true) && !input.shortRecording;
  const defaultResult = kind === 'ringout-busy' ? 'Busy' : kind === 'inbound' ? 'Accepted' : 'Call connected';
  return {
    kind,
    recordId: `Y${digits(`record:${serial}`, 14)}`,
    sessionId: digits(`session:${serial}`, 12),
    telephonySessionId: `s-${digits(`tsid:${serial}`, 18)}`,
    startedAt,
    durationSeconds,
    hungUpAt: input.live ? undefined : new Date(startedAt.getTime() + durationSeconds * 1000),
    extension,
    otherExtension,
    queue:
      kind === 'inbound'
        ? context.extensions.find((candidate) => candidate.type === 'Department')
        : undefined,
    externalNumber: input.externalNumber ?? `+1212555${digits(`ext:${serial}`, 4)}`,
    externalName:
      input.externalName ??
      (kind === 'ringout' || kind === 'ringout-busy' ? 'Daenerys Targaryen' : undefined),
    result: input.result ?? defaultResult,
    callerResult: input.callerResult,
    calleeResult: input.calleeResult,
    recording: recorded
      ? {
          id: digits(`recording:${serial}`, 11).replace(/^0/, '9'),
          seed: `ringcentral:${serial}`,
          size: Math.max(64, input.size ?? durationSeconds * 2000),
          format: input.format ?? context.defaultFormat,
          type: 'Automatic',
          numericId: input.numericRecordingId ?? false,
        }
      : undefined,
    recordingDeleted: false,
    shortRecording: input.shortRecording ?? false,
    shortRecordingOn: input.shortRecordingOn ?? 'call',
    sequence: 0,
  };
}

// ---------------------------------------------------------------- call log

export interface SandboxOrigins {
  /** API origin, e.g. `http://127.0.0.1:41234`. */
  api: string;
  /** Media origin, e.g. `http://localhost:41235`. */
  media: string;
  accountId: string;
}

type Json = Record<string, unknown>;

function extensionRef(extension: SandboxExtension, origins: SandboxOrigins): Json {
  return {
    uri: `${origins.api}/restapi/v1.0/account/${origins.accountId}/extension/${extension.id}`,
    id: extension.id,
  };
}

function iso(date: Date): string {
  return date.toISOString();
}

function recordingRef(call: SandboxCall, origins: SandboxOrigins): Json | undefined {
  const file = call.recording;
  if (!file || call.recordingDeleted) return undefined;
  return {
    uri: `${origins.api}/restapi/v1.0/account/${origins.accountId}/recording/${file.id}`,
    id: file.numericId ? Number(file.id) : file.id,
    type: file.type,
    contentUri: `${origins.media}/restapi/v1.0/account/${origins.accountId}/recording/${file.id}/content`,
  };
}

const BILLING = { costIncluded: 0.0, costPurchased: 0.0 };

/** The call as a Detailed (or Simple) call-log record. */
export function callLogRecord(call: SandboxCall, origins: SandboxOrigins, view: 'Simple' | 'Detailed'): Json {
  const start = iso(call.startedAt);
  const user = call.extension;
  const recording = recordingRef(call, origins);
  const userParty = { phoneNumber: user.phoneNumber, name: user.name };
  const external = {
    phoneNumber: call.externalNumber,
    ...(call.externalName ? { name: call.externalName } : {}),
  };
  const base = (fields: Json): Json => ({
    uri: `${origins.api}/restapi/v1.0/account/${origins.accountId}/call-log/${call.recordId}?view=${view}`,
    id: call.recordId,
    sessionId: call.sessionId,
    telephonySessionId: call.telephonySessionId,
    startTime: start,
    duration: call.durationSeconds,
    durationMs: call.durationSeconds * 1000,
    type: 'Voice',
    ...fields,
    ...(recording ? { recording } : {}),
    ...(call.shortRecording && call.shortRecordingOn === 'call' ? { shortRecording: true } : {}),
    lastModifiedTime: iso(call.hungUpAt ?? call.startedAt),
  });
  const leg = (fields: Json): Json => ({
    startTime: start,
    duration: call.durationSeconds,
    durationMs: call.durationSeconds * 1000,
    type: 'Voice',
    transport: 'PSTN',
    billing: BILLING,
    ...fields,
  });

  let record: Json;
  let legs: Json[];
  switch (call.kind) {
    case 'ringout':
    case 'ringout-busy': {
      record = base({
        direction: 'Outbound',
        action: 'RingOut PC',
        result: call.result,
        to: external,
        from: userParty,
        extension: extensionRef(user, origins),
        transport: 'PSTN',
        billing: BILLING,
      });
      const toCaller = leg({
        direction: 'Outbound',
        action: 'RingOut PC',
        result: call.callerResult ?? call.result,
        to: external,
        from: userParty,
        extension: extensionRef(user, origins),
        legType: 'RingOutClientToCaller',
        master: true,
        ...(recording ? { recording } : {}),
      });
      // The leg to the subscriber shows the call from the subscriber's side: to and from reversed.
      const toSubscriber = leg({
        direction: 'Outbound',
        action: 'RingOut PC',
        result: call.calleeResult ?? call.result,
        to: userParty,
        from: external,
        extension: extensionRef(user, origins),
        legType: 'RingOutClientToSubscriber',
      });
      // A busy RingOut calls one party only.
      legs = call.kind === 'ringout-busy' ? [toCaller] : [toSubscriber, toCaller];
      break;
    }
    case 'inbound': {
      const queue = call.queue;
      record = base({
        direction: 'Inbound',
        action: 'Phone Call',
        result: call.result,
        to: { phoneNumber: user.phoneNumber },
        from: { phoneNumber: call.externalNumber, location: 'Philadelphia, PA' },
        transport: 'PSTN',
        billing: BILLING,
      });
      legs = [
        leg({
          direction: 'Inbound',
          action: 'Phone Call',
          result: call.result,
          to: { phoneNumber: user.phoneNumber },
          from: { phoneNumber: call.externalNumber, location: 'Philadelphia, PA' },
          legType: 'Accept',
          master: true,
        }),
        ...(queue
          ? [
              leg({
                direction: 'Inbound',
                action: 'Phone Call',
                result: call.result,
                to: { phoneNumber: queue.phoneNumber, name: queue.name },
                from: { phoneNumber: call.externalNumber, location: 'Philadelphia, PA' },
                extension: extensionRef(queue, origins),
                legType: 'Accept',
              }),
            ]
          : []),
        leg({
          direction: 'Outbound',
          action: 'FindMe',
          result: call.calleeResult ?? 'Accepted',
          to: { phoneNumber: user.phoneNumber, location: 'Redwood City, CA' },
          from: { phoneNumber: queue?.phoneNumber ?? user.phoneNumber, name: 'Tiger RingForce' },
          extension: extensionRef(user, origins),
          legType: 'FindMe',
          ...(recording ? { recording } : {}),
        }),
      ];
      break;
    }
    case 'outbound': {
      record = base({
        direction: 'Outbound',
        action: 'VoIP Call',
        result: call.result,
        to: external,
        from: { ...userParty, extensionId: String(user.id) },
        extension: extensionRef(user, origins),
        transport: 'VoIP',
        billing: BILLING,
      });
      legs = [
        leg({
          direction: 'Outbound',
          action: 'VoIP Call',
          result: call.result,
          to: external,
          from: { ...userParty, extensionId: String(user.id) },
          extension: extensionRef(user, origins),
          legType: 'SipToPstnMetered',
          master: true,
          ...(recording ? { recording } : {}),
        }),
      ];
      break;
    }
    case 'internal': {
      const other = call.otherExtension ?? user;
      const from = { extensionNumber: user.extensionNumber, extensionId: String(user.id), name: user.name };
      const to = { extensionNumber: other.extensionNumber, extensionId: String(other.id), name: other.name };
      record = base({
        direction: 'Outbound',
        action: 'VoIP Call',
        result: call.result,
        to,
        from,
        extension: extensionRef(user, origins),
        transport: 'VoIP',
        billing: BILLING,
      });
      legs = [
        leg({
          direction: 'Outbound',
          action: 'VoIP Call',
          result: call.result,
          to,
          from,
          extension: extensionRef(user, origins),
          legType: 'ExtensionToExtension',
          master: true,
          ...(recording ? { recording } : {}),
        }),
        leg({
          direction: 'Inbound',
          action: 'VoIP Call',
          result: call.calleeResult ?? 'Accepted',
          to,
          from,
          extension: extensionRef(other, origins),
          legType: 'ExtensionToExtension',
          ...(recording ? { recording } : {}),
        }),
      ];
      break;
    }
  }
  // A too-short recording marked on a leg: the one that recorded (the master leg, first by kind).
  if (call.shortRecording && call.shortRecordingOn === 'leg') {
    const index = Math.max(
      0,
      legs.findIndex((candidate) => candidate.master === true),
    );
    legs = legs.map((candidate, at) => (at === index ? { ...candidate, shortRecording: true } : candidate));
  }
  return view === 'Detailed' ? { ...record, legs } : record;
}

// ---------------------------------------------------------------- events

/**
 * One account-telephony-sessions notification (envelope and body) for the call. `statusCode` is the
 * party's state (`Disconnected` once hung up); recordings appear with `active`.
 */
export function telephonySessionEvent(
  call: SandboxCall,
  options: {
    statusCode: string;
    recordingActive: boolean;
    sequence: number;
    eventTime: Date;
    subscriptionId: string;
    accountId: string;
    eventFilter: string;
  },
): Json {
  const user = call.extension;
  const recordings =
    call.recording && !call.shortRecording
      ? [{ id: call.recording.id, active: options.recordingActive }]
      : undefined;
  const inbound = call.kind === 'inbound';
  return {
    uuid: digits(`event:${call.telephonySessionId}:${options.sequence}`, 18),
    event: options.eventFilter,
    timestamp: options.eventTime.toISOString(),
    subscriptionId: options.subscriptionId,
    ownerId: String(user.id),
    body: {
      sequence: options.sequence,
      sessionId: call.sessionId,
      telephonySessionId: call.telephonySessionId,
      serverId: '10.62.25.111.TAM',
      eventTime: options.eventTime.toISOString(),
      accountId: options.accountId,
      origin: { type: call.kind.startsWith('ringout') ? 'RingOut' : 'Call' },
      parties: [
        {
          accountId: options.accountId,
          extensionId: String(user.id),
          id: `p-${call.sessionId}-1`,
          direction: inbound ? 'Inbound' : 'Outbound',
          to: inbound
            ? { phoneNumber: user.phoneNumber, name: user.name, extensionId: String(user.id) }
            : { phoneNumber: call.externalNumber, ...(call.externalName ? { name: call.externalName } : {}) },
          from: inbound
            ? { phoneNumber: call.externalNumber }
            : { phoneNumber: user.phoneNumber, name: user.name, extensionId: String(user.id) },
          status: {
            code: options.statusCode,
            ...(options.statusCode === 'Disconnected' ? { reason: 'CallFinished' } : {}),
          },
          ...(recordings ? { recordings } : {}),
          missedCall: false,
          standAlone: false,
          muted: false,
        },
      ],
    },
  };
}

// ---------------------------------------------------------------- audio

/** Canonical RIFF/WAVE header: PCM, mono, 8 kHz, 16 bit, for `size` bytes in all. */
function wavHeader(size: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(size - 8, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(size - 44, 40);
  return header;
}

/** The recording's bytes: synthetic MP3, or a WAVE header followed by synthetic sample bytes. */
export function* recordingChunks(file: SandboxRecordingFile): Generator<Buffer> {
  if (file.format === 'mp3') {
    yield* syntheticAudioChunks(file.seed, file.size);
    return;
  }
  yield wavHeader(file.size);
  yield* syntheticAudioChunks(file.seed, file.size - 44);
}

export function recordingSha256(file: SandboxRecordingFile): string {
  const hash = createHash('sha256');
  for (const chunk of recordingChunks(file)) hash.update(chunk);
  return hash.digest('hex');
}

export function contentTypeOf(format: SandboxAudioFormat): string {
  return format === 'mp3' ? 'audio/mpeg' : 'audio/wav';
}
