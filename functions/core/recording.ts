/** The provider-neutral description of one recording at its source. */
import * as z from 'zod';

/**
 * The providers' names. Each provider's descriptor adds its own (`declare module`, see
 * functions/providers/descriptor.ts), so core names no vendor; at run time the list is
 * `PROVIDER_NAMES` in functions/providers.
 */
// biome-ignore lint/suspicious/noEmptyInterface: extended by declaration merging
export interface ProviderNames {}
export type ProviderName = Extract<keyof ProviderNames, string>;

/** What a provider name looks like (a path segment of S3 keys, queue and webhook routes). */
export const providerNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9]{1,31}$/, 'expected a provider name') as unknown as z.ZodType<ProviderName>;

export type CallDirection = 'inbound' | 'outbound' | 'internal' | 'unknown';

export interface CallParty {
  /** E.164 or whatever the platform reports (extension numbers, SIP user names). */
  number?: string;
  name?: string;
  /** Platform user/extension id; for RingCentral this doubles as the Team Messaging person id. */
  extensionId?: string;
  /** Team Messaging (Glip) person id: equals extensionId for company users; external numbers have none. */
  personId?: string;
}

export interface SourceRecording {
  provider: ProviderName;
  /** The configured source (one account, client or tenant) the recording belongs to. */
  sourceId: string;
  /** The platform's own id for the recording; part of the S3 key, so it must be stable. */
  recordingId: string;
  callId?: string;
  /** Call start, UTC. Decides the date folders of the key. */
  startedAt: Date;
  endedAt?: Date;
  durationSeconds?: number;
  direction: CallDirection;
  from?: CallParty;
  to?: CallParty;
  extension?: { id: string; name?: string };
  callerStatus?: string;
  calleeStatus?: string;
  /** The call's overall result as the platform reports it (RingCentral `result`, e.g. `Call connected`). */
  callResult?: string;
  /** Every distinct party the call involved (all legs), where the platform reports more than from/to. */
  parties?: CallParty[];
  /** Size in bytes as the source reports it; the archived copy must match it exactly. */
  size?: number;
  contentType?: string;
  /** File extension without the dot, e.g. `mp3`. */
  fileExtension: string;
  /** The provider's record, verbatim, kept in the sidecar. */
  raw: unknown;
}

export interface TimeWindow {
  from: Date;
  to: Date;
}
