/**
 * The catalogue: one small, flat record per recording outcome (archived, gone at the source, expired
 * before the fetch, deleted at the source), kept under its own prefix so a query engine reads ids, times
 * and parties without touching audio or the sidecars' `raw`:
 *
 *   catalog/recordings/provider={provider}/source={sourceId}/date={yyyy-mm-dd}/{recordingId}[.{status}].json
 *
 * Hive-style partition folders (the UTC day of the call start, as in the recording's key) let Athena's
 * partition projection and DuckDB's hive partitioning skip every day outside a query's range. A closed day
 * is later compacted into one `compacted.json.gz` beside the per-recording records (see
 * `catalogue-compaction.ts`); both are newline-delimited JSON with the same columns.
 */
import * as z from 'zod';
import { expiredBeforeFetchKey, goneAtSourceKey, sanitiseSegment, sidecarKey } from './keys';
import type { AuditEntry, ExpiredBeforeFetchRecord, GoneAtSourceRecord } from './ports';
import type { CallParty } from './recording';
import type { Sidecar } from './sidecar';

export const CATALOGUE_PREFIX = 'catalog/recordings/';
/** Bump when a column changes meaning; readers see it in every row. */
export const CATALOGUE_RECORD_VERSION = 1;

export const CATALOGUE_STATUSES = [
  'archived',
  'gone-at-source',
  'expired-before-fetch',
  'deleted-at-source',
] as const;
export type CatalogueStatus = (typeof CATALOGUE_STATUSES)[number];

/** Logical column types; each engine's DDL is derived from this one list. */
export type ColumnType = 'string' | 'bigint' | 'double' | 'array<string>';

/**
 * The columns of every catalogue record, in order, with their types. The partition columns (`provider`,
 * `source`, `date`) come from the folder names and are not repeated inside the record.
 */
export const CATALOGUE_COLUMNS = [
  ['v', 'bigint'],
  ['status', 'string'],
  /** `{status}:{objectKey}`: identical for the per-recording record and its copy in a compacted day. */
  ['record_id', 'string'],
  ['source_id', 'string'],
  ['recording_id', 'string'],
  ['call_id', 'string'],
  ['started_at', 'string'],
  ['ended_at', 'string'],
  ['duration_seconds', 'double'],
  ['direction', 'string'],
  ['from_number', 'string'],
  ['from_name', 'string'],
  ['from_extension_id', 'string'],
  ['from_person_id', 'string'],
  ['to_number', 'string'],
  ['to_name', 'string'],
  ['to_extension_id', 'string'],
  ['to_person_id', 'string'],
  ['extension_id', 'string'],
  ['extension_name', 'string'],
  /** Every party's number (normalised), name, extension id and person id; from and to included. */
  ['party_numbers', 'array<string>'],
  ['party_names', 'array<string>'],
  ['party_extension_ids', 'array<string>'],
  ['party_person_ids', 'array<string>'],
  ['caller_status', 'string'],
  ['callee_status', 'string'],
  ['call_result', 'string'],
  ['size', 'bigint'],
  ['source_reported_size', 'bigint'],
  ['sha256', 'string'],
  ['content_type', 'string'],
  ['object_key', 'string'],
  ['sidecar_key', 'string'],
  ['archived_at', 'string'],
  /** When this outcome happened: archived, found gone, found expired, deleted. */
  ['event_at', 'string'],
  /** Why (gone/expired: the platform's answer; deleted: the retention decision). */
  ['reason', 'string'],
  /** The evidence record behind an outcome (a gone/expired record, a retention audit file). */
  ['evidence_key', 'string'],
  /** The retention run that vouched for a delete at the source. */
  ['retention_run_id', 'string'],
] as const satisfies readonly (readonly [string, ColumnType])[];

export const PARTITION_COLUMNS = ['provider', 'source', 'date'] as const;

export type CatalogueColumn = (typeof CATALOGUE_COLUMNS)[number][0];

type ValueOf<T extends ColumnType> = T extends 'string'
  ? string | null
  : T extends 'array<string>'
    ? string[]
    : number | null;

export type CatalogueRecord = {
  [C in (typeof CATALOGUE_COLUMNS)[number] as C[0]]: ValueOf<C[1]>;
} & {
  /** Partition values; written into the key, not into the record. */
  provider: string;
  date: string;
  status: CatalogueStatus;
  record_id: string;
  source_id: string;
  recording_id: string;
  object_key: string;
  started_at: string;
  party_numbers: string[];
};

const recordSchema = z.object({
  v: z.number().int(),
  status: z.enum(CATALOGUE_STATUSES),
  record_id: z.string(),
  source_id: z.string(),
  recording_id: z.string(),
  object_key: z.string(),
  started_at: z.string(),
});

/**
 * Numbers as one form, so a query finds a party however the platform wrote it: separators dropped, `00`
 * read as `+`, `tel:`/`sip:` and a SIP domain removed. A number with `+` and 8–15 digits is E.164. Bare
 * digits (extensions, national numbers) stay digits: without the caller's country they cannot be made
 * E.164 safely. Anything else (a SIP user name) is kept as reported.
 */
export function normaliseNumber(raw: string | undefined | null): string | null {
  if (raw === undefined || raw === null) return null;
  const trimmed = raw.trim();
  if (trimmed === '') return null;
  const user = trimmed.replace(/^(tel|sips?):/i, '').split(/[@;]/)[0] ?? '';
  const compact = user.replace(/[\s().\-/]/g, '');
  if (/^\+\d{8,15}$/.test(compact)) return compact;
  if (/^00\d{8,15}$/.test(compact)) return `+${compact.slice(2)}`;
  if (/^\+?\d+$/.test(compact)) return compact;
  return trimmed;
}

/** `yyyy-mm-dd` of an ISO instant, in UTC, as the recording's key dates it. */
export function utcDay(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a time: ${JSON.stringify(iso)}`);
  return date.toISOString().slice(0, 10);
}

export function cataloguePartitionPrefix(provider: string, sourceId: string, day: string): string {
  return `${CATALOGUE_PREFIX}provider=${provider}/source=${sanitiseSegment(sourceId)}/date=${day}/`;
}

/** Where a record lives: `{partition}/{recordingId}.json`, or `{recordingId}.{status}.json` for outcomes. */
export function catalogueKey(
  record: Pick<CatalogueRecord, 'provider' | 'source_id' | 'date' | 'recording_id' | 'status'>,
): string {
  const name = sanitiseSegment(record.recording_id);
  const suffix = record.status === 'archived' ? '' : `.${record.status}`;
  return `${cataloguePartitionPrefix(record.provider, record.source_id, record.date)}${name}${suffix}.json`;
}

/** One line of newline-delimited JSON: the columns only (the partition values live in the key). */
export function serialiseCatalogueRecord(record: CatalogueRecord): string {
  const row: Record<string, unknown> = {};
  for (const [name] of CATALOGUE_COLUMNS) row[name] = record[name];
  return `${JSON.stringify(row)}\n`;
}

/** A record read back from a key and its line; throws on a line that is not a catalogue record. */
export function parseCatalogueLine(line: string): { record_id: string } & Record<string, unknown> {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  recordSchema.parse(parsed);
  return parsed as { record_id: string } & Record<string, unknown>;
}

/** Partition values from a catalogue key, or undefined for a key outside the catalogue's layout. */
export function partitionOfKey(key: string): { provider: string; source: string; date: string } | undefined {
  const match = /^catalog\/recordings\/provider=([^/]+)\/source=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\//.exec(
    key,
  );
  return match ? { provider: match[1] ?? '', source: match[2] ?? '', date: match[3] ?? '' } : undefined;
}

const emptyRecord = (): Omit<
  CatalogueRecord,
  'status' | 'record_id' | 'provider' | 'date' | 'source_id' | 'recording_id' | 'object_key' | 'started_at'
> => ({
  v: CATALOGUE_RECORD_VERSION,
  call_id: null,
  ended_at: null,
  duration_seconds: null,
  direction: null,
  from_number: null,
  from_name: null,
  from_extension_id: null,
  from_person_id: null,
  to_number: null,
  to_name: null,
  to_extension_id: null,
  to_person_id: null,
  extension_id: null,
  extension_name: null,
  party_numbers: [],
  party_names: [],
  party_extension_ids: [],
  party_person_ids: [],
  caller_status: null,
  callee_status: null,
  call_result: null,
  size: null,
  source_reported_size: null,
  sha256: null,
  content_type: null,
  sidecar_key: null,
  archived_at: null,
  event_at: null,
  reason: null,
  evidence_key: null,
  retention_run_id: null,
});

interface CallFacts {
  callId?: string | null;
  endedAt?: string | null;
  durationSeconds?: number | null;
  direction?: string | null;
  from?: CallParty | null;
  to?: CallParty | null;
  extension?: { id: string; name?: string } | null;
  parties?: CallParty[];
  callerStatus?: string | null;
  calleeStatus?: string | null;
  callResult?: string | null;
}

/** The call's columns, shared by every status: parties flattened, numbers normalised. */
function callColumns(facts: CallFacts) {
  const parties = [...(facts.parties ?? []), facts.from, facts.to].filter(
    (party): party is CallParty => party !== undefined && party !== null,
  );
  const distinct = (values: (string | null | undefined)[]) => [
    ...new Set(values.filter((value): value is string => typeof value === 'string' && value !== '')),
  ];
  return {
    call_id: facts.callId ?? null,
    ended_at: facts.endedAt ?? null,
    duration_seconds: facts.durationSeconds ?? null,
    direction: facts.direction ?? null,
    from_number: normaliseNumber(facts.from?.number),
    from_name: facts.from?.name ?? null,
    from_extension_id: facts.from?.extensionId ?? null,
    from_person_id: facts.from?.personId ?? null,
    to_number: normaliseNumber(facts.to?.number),
    to_name: facts.to?.name ?? null,
    to_extension_id: facts.to?.extensionId ?? null,
    to_person_id: facts.to?.personId ?? null,
    extension_id: facts.extension?.id ?? null,
    extension_name: facts.extension?.name ?? null,
    party_numbers: distinct(parties.map((party) => normaliseNumber(party.number))),
    party_names: distinct(parties.map((party) => party.name)),
    party_extension_ids: distinct([...parties.map((party) => party.extensionId), facts.extension?.id]),
    party_person_ids: distinct(parties.map((party) => party.personId)),
    caller_status: facts.callerStatus ?? null,
    callee_status: facts.calleeStatus ?? null,
    call_result: facts.callResult ?? null,
  };
}

/** The record of an archived recording, from its sidecar (everything but `raw`). */
export function catalogueRecordFromSidecar(sidecar: Sidecar): CatalogueRecord {
  const v2 = sidecar.schemaVersion === 2 ? sidecar : undefined;
  return {
    ...emptyRecord(),
    ...callColumns({ ...sidecar, parties: v2?.parties, callResult: v2?.callResult }),
    status: 'archived',
    record_id: `archived:${sidecar.objectKey}`,
    provider: sidecar.provider,
    source_id: sidecar.sourceId,
    date: utcDay(sidecar.startedAt),
    recording_id: sidecar.recordingId,
    started_at: sidecar.startedAt,
    size: sidecar.size,
    source_reported_size: sidecar.sourceReportedSize,
    sha256: sidecar.sha256,
    content_type: sidecar.contentType,
    object_key: sidecar.objectKey,
    sidecar_key: sidecarKey(sidecar.objectKey),
    archived_at: sidecar.archivedAt,
    event_at: sidecar.archivedAt,
  };
}

type ListedRecording = GoneAtSourceRecord['listed'];

function listedCall(listed: ListedRecording | undefined): CallFacts {
  if (!listed) return {};
  return {
    callId: listed.callId,
    endedAt: listed.endedAt,
    durationSeconds: listed.durationSeconds,
    direction: listed.direction,
    from: listed.from,
    to: listed.to,
    extension: listed.extension,
    parties: listed.parties,
    callerStatus: listed.callerStatus,
    calleeStatus: listed.calleeStatus,
    callResult: listed.callResult,
  };
}

/** A recording the source had listed and no longer held when the worker came to copy it. */
export function catalogueRecordFromGone(entry: GoneAtSourceRecord): CatalogueRecord {
  return {
    ...emptyRecord(),
    ...callColumns(listedCall(entry.listed)),
    status: 'gone-at-source',
    record_id: `gone-at-source:${entry.objectKey}`,
    provider: entry.provider,
    source_id: entry.sourceId,
    date: utcDay(entry.startedAt),
    recording_id: entry.recordingId,
    started_at: entry.startedAt,
    source_reported_size: entry.listed?.size ?? null,
    content_type: entry.listed?.contentType ?? null,
    object_key: entry.objectKey,
    event_at: entry.detectedAt,
    reason: entry.reason,
    evidence_key: goneAtSourceKey(entry.objectKey),
  };
}

/** A granted recording the platform no longer served when the worker came to fetch it: lost. */
export function catalogueRecordFromExpired(entry: ExpiredBeforeFetchRecord): CatalogueRecord {
  return {
    ...emptyRecord(),
    ...callColumns(listedCall(entry.notified)),
    status: 'expired-before-fetch',
    record_id: `expired-before-fetch:${entry.objectKey}`,
    provider: entry.provider,
    source_id: entry.sourceId,
    date: utcDay(entry.startedAt),
    recording_id: entry.recordingId,
    started_at: entry.startedAt,
    source_reported_size: entry.notified?.size ?? null,
    content_type: entry.notified?.contentType ?? null,
    object_key: entry.objectKey,
    event_at: entry.detectedAt,
    reason: entry.reason,
    evidence_key: expiredBeforeFetchKey(entry.objectKey),
  };
}

/**
 * A recording retention deleted at the source (or found already gone there), with the run and the
 * archived copy that vouched for it. Only `deleted` and `already-gone` decisions make one.
 */
export function catalogueRecordFromDeletion(entry: AuditEntry, auditFileKey: string): CatalogueRecord {
  if (entry.decision !== 'deleted' && entry.decision !== 'already-gone')
    throw new RangeError(`retention decision ${entry.decision} deleted nothing at the source`);
  if (!entry.objectKey)
    throw new RangeError(`retention entry for ${entry.recordingId} names no archived copy`);
  return {
    ...emptyRecord(),
    status: 'deleted-at-source',
    record_id: `deleted-at-source:${entry.objectKey}`,
    provider: entry.provider,
    source_id: entry.sourceId,
    date: utcDay(entry.startedAt),
    recording_id: entry.recordingId,
    started_at: entry.startedAt,
    size: entry.size ?? null,
    source_reported_size: entry.sourceSize ?? null,
    sha256: entry.sha256 ?? null,
    object_key: entry.objectKey,
    sidecar_key: sidecarKey(entry.objectKey),
    event_at: entry.at,
    reason: entry.decision,
    evidence_key: auditFileKey,
    retention_run_id: entry.runId,
  };
}

/** Where catalogue records go: written once each; a second write of the same record keeps the first. */
export interface CatalogueWriter {
  record(entry: CatalogueRecord): Promise<'written' | 'exists'>;
}
