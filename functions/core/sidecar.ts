import * as z from 'zod';
import { CHECKSUM_ALGORITHMS, CHECKSUM_TYPES, type ObjectChecksum } from './checksums';
import type { CallParty, SourceRecording } from './recording';

/**
 * Version of the sidecar document; bump when a field changes meaning. 2 added `checksum`, `parties`,
 * `callResult` and parties' `personId`; sidecars of version 1 (copies archived before it, SHA-256 in
 * the object's metadata) are still read and verified, so copies archived earlier keep vouching.
 */
export const SIDECAR_SCHEMA_VERSION = 2;

const partySchema = z
  .object({
    number: z.string().optional(),
    name: z.string().optional(),
    extensionId: z.string().optional(),
    personId: z.string().optional(),
  })
  .strict();

const sidecarFields = z.object({
  provider: z.string(),
  sourceId: z.string(),
  recordingId: z.string(),
  callId: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  durationSeconds: z.number().nullable(),
  direction: z.enum(['inbound', 'outbound', 'internal', 'unknown']),
  from: partySchema.nullable(),
  to: partySchema.nullable(),
  extension: z.object({ id: z.string(), name: z.string().optional() }).nullable(),
  callerStatus: z.string().nullable(),
  calleeStatus: z.string().nullable(),
  /** Bytes stored, equal to the size the source reported when it reported one. */
  size: z.number().int().nonnegative(),
  sourceReportedSize: z.number().int().nonnegative().nullable(),
  /** Hex SHA-256 of the stored bytes, computed while streaming. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  contentType: z.string(),
  objectKey: z.string(),
  archivedAt: z.string(),
  raw: z.unknown(),
});

export const objectChecksumSchema = z
  .object({
    algorithm: z.enum(CHECKSUM_ALGORITHMS),
    type: z.enum(CHECKSUM_TYPES),
    value: z.string().min(1),
  })
  .strict();

/**
 * The JSON document stored beside every recording (`{key}.json`). Normalised fields first, then the
 * provider's own record verbatim under `raw`, so nothing the platform told us is thrown away.
 */
export const sidecarSchema = z.discriminatedUnion('schemaVersion', [
  sidecarFields.extend({ schemaVersion: z.literal(1) }),
  sidecarFields.extend({
    schemaVersion: z.literal(2),
    /**
     * The whole-object checksum the store verified when the recording was written (S3: CRC32 of a
     * multipart upload, SHA-256 of a single put); null where the store keeps none (a local folder).
     */
    checksum: objectChecksumSchema.nullable(),
    /** The call's overall result (RingCentral `result`); null where the platform has none. */
    callResult: z.string().nullable().optional(),
    /** Every distinct party of the call (all legs); from/to where the platform reports nothing more. */
    parties: z.array(partySchema).optional(),
  }),
]);
export type Sidecar = z.infer<typeof sidecarSchema>;
export type CurrentSidecar = Extract<Sidecar, { schemaVersion: typeof SIDECAR_SCHEMA_VERSION }>;

/** The checksum a sidecar recorded, if its version has the field and the store kept one. */
export function sidecarChecksum(sidecar: Sidecar): ObjectChecksum | undefined {
  return sidecar.schemaVersion === 2 ? (sidecar.checksum ?? undefined) : undefined;
}

export interface StoredCopyFacts {
  objectKey: string;
  size: number;
  sha256: string;
  checksum?: ObjectChecksum;
  contentType: string;
  archivedAt: Date;
}

export function buildSidecar(recording: SourceRecording, stored: StoredCopyFacts): CurrentSidecar {
  return {
    schemaVersion: SIDECAR_SCHEMA_VERSION,
    provider: recording.provider,
    sourceId: recording.sourceId,
    recordingId: recording.recordingId,
    callId: recording.callId ?? null,
    startedAt: recording.startedAt.toISOString(),
    endedAt: recording.endedAt?.toISOString() ?? null,
    durationSeconds: recording.durationSeconds ?? null,
    direction: recording.direction,
    from: recording.from ?? null,
    to: recording.to ?? null,
    extension: recording.extension ?? null,
    callerStatus: recording.callerStatus ?? null,
    calleeStatus: recording.calleeStatus ?? null,
    callResult: recording.callResult ?? null,
    parties: recording.parties ?? partiesFromEnds(recording),
    size: stored.size,
    sourceReportedSize: recording.size ?? null,
    sha256: stored.sha256,
    checksum: stored.checksum ?? null,
    contentType: stored.contentType,
    objectKey: stored.objectKey,
    archivedAt: stored.archivedAt.toISOString(),
    raw: recording.raw,
  };
}

/** from and to, without duplicates, for platforms that report no more parties than that. */
function partiesFromEnds(recording: SourceRecording): CallParty[] {
  const parties: CallParty[] = [];
  for (const party of [recording.from, recording.to]) {
    if (!party || Object.keys(party).length === 0) continue;
    const seen = parties.some(
      (other) =>
        (party.extensionId !== undefined && other.extensionId === party.extensionId) ||
        (party.extensionId === undefined && party.number !== undefined && other.number === party.number),
    );
    if (!seen) parties.push(party);
  }
  return parties;
}

export function serialiseSidecar(sidecar: Sidecar): string {
  return `${JSON.stringify(sidecar, null, 2)}\n`;
}

export function parseSidecar(text: string): Sidecar {
  return sidecarSchema.parse(JSON.parse(text));
}
