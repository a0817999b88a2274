import { z } from 'zod';
import type { CallParty, SourceRecording } from './recording';

/**
 * Version of the sidecar document; bump when a field changes meaning. Version 2 added `parties`,
 * `callResult` and parties' `personId`; version-1 documents (written before) still parse, so copies
 * archived earlier keep vouching for retention.
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

/**
 * The JSON document stored beside every recording (`{key}.json`). Normalised fields first, then the
 * provider's own record verbatim under `raw`, so nothing the platform told us is thrown away.
 */
export const sidecarSchema = z.object({
  schemaVersion: z.union([z.literal(1), z.literal(SIDECAR_SCHEMA_VERSION)]),
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
  /** The call's overall result (RingCentral `result`); null where the platform has none. Since v2. */
  callResult: z.string().nullable().optional(),
  /** Every distinct party of the call (all legs); from/to where the platform reports nothing more. Since v2. */
  parties: z.array(partySchema).optional(),
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
export type Sidecar = z.infer<typeof sidecarSchema>;

export interface StoredCopyFacts {
  objectKey: string;
  size: number;
  sha256: string;
  contentType: string;
  archivedAt: Date;
}

export function buildSidecar(recording: SourceRecording, stored: StoredCopyFacts): Sidecar {
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
