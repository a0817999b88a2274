/**
 * Legal hold by query: the recordings a find question matches are put on hold (or released), every
 * matching recording and its sidecar, with an audit record of who, what, when and the question asked.
 *
 * Which protection applies depends on the store: on a bucket with S3 Object Lock, an Object Lock legal
 * hold on the recording and its sidecar (nobody can delete those versions until it is released); on a
 * bucket without it, and in a local folder, callvault's own hold record (`holds/{objectKey}.json`), which
 * retention honours. Either way the store also moves a held object out of its lifecycle class (see
 * `HELD_RETENTION_CLASS`), so the bucket's own expiry cannot remove it either.
 */

import { newRunId } from './apply-retention-to-source';
import type { FindRow } from './catalogue-query';
import type { Clock } from './ports';

/** Where callvault's own hold records live, one per held recording, in the bucket and in the local folder. */
export const HOLD_RECORD_PREFIX = 'holds/';
/** One JSON-lines file per hold or release: `audit/holds/{yyyy}/{mm}/{dd}/{actionId}.jsonl`. */
export const HOLD_AUDIT_PREFIX = 'audit/holds/';
/**
 * The `retention-class` tag value of a held object. Lifecycle rules select recordings by that tag, and no
 * rule names this value, so a held object never transitions or expires; release puts its class back.
 */
export const HELD_RETENTION_CLASS = 'callvault-legal-hold';
/** The class a held object had, kept in a tag of its own so release can put it back. */
export const HELD_FROM_CLASS_TAG = 'held-from-class';
/** Retention refuses any copy tagged so (functions/core/verify-archived-copy.ts). */
export const LEGAL_HOLD_TAG = 'legal-hold';

export type HoldProtection = 'object-lock-legal-hold' | 'callvault-hold-record';

export const PROTECTION_TEXT: Readonly<Record<HoldProtection, string>> = {
  'object-lock-legal-hold':
    'S3 Object Lock legal hold on each recording and its sidecar (the bucket has Object Lock), plus a hold record; held objects leave their lifecycle class until released',
  'callvault-hold-record':
    "callvault's own hold record (holds/…), honoured by retention; the bucket has no Object Lock, so S3 itself would not refuse a delete. Held objects leave their lifecycle class until released",
};

/** One archived recording a hold applies to: the copy and its sidecar. */
export interface HoldTarget {
  objectKey: string;
  sidecarKey: string;
  provider: string;
  sourceId: string;
  recordingId: string;
  startedAt: string | null;
}

/** What `holds/{objectKey}.json` says: who put the hold on, when, why, and by which question. */
export interface HoldRecord {
  v: 1;
  objectKey: string;
  sidecarKey: string;
  provider: string;
  sourceId: string;
  recordingId: string;
  heldAt: string;
  heldBy: string;
  reason: string | null;
  actionId: string;
  query: Record<string, unknown>;
  protection: HoldProtection;
}

export interface HoldState {
  /** A copy exists at the key. */
  exists: boolean;
  held: boolean;
  /** The hold record, where there is one. */
  record?: HoldRecord;
  /** S3 Object Lock legal hold on the recording (undefined where the store has no Object Lock). */
  objectLockLegalHold?: boolean;
  /** S3 Object Lock retention of the recording, where there is one. */
  retention?: { mode: string; retainUntil: string };
}

/** Where holds are kept and applied: S3 (Object Lock or hold records) or the local folder. */
export interface HoldStore {
  /** The protection a hold gets in this store. */
  protection(): Promise<HoldProtection>;
  state(objectKey: string): Promise<HoldState>;
  /** Puts the hold on the recording and its sidecar; the record is written last (it says the hold is on). */
  hold(target: HoldTarget, record: HoldRecord): Promise<void>;
  /** Takes the hold off the recording and its sidecar and removes the record. */
  release(target: HoldTarget): Promise<void>;
}

/** What retention asks before it deletes at the source. */
export interface HoldRegistry {
  /** True when a hold record names this copy. Throws when it cannot tell (retention then skips nothing silently). */
  isHeld(objectKey: string): Promise<boolean>;
}

/** One line of a hold's audit file. The first line is the action; one line per recording follows. */
export type HoldAuditEntry =
  | {
      v: 1;
      type: 'action';
      actionId: string;
      at: string;
      action: 'hold' | 'release';
      actor: string;
      reason: string | null;
      query: Record<string, unknown>;
      protection: HoldProtection;
      recordings: number;
      /** `started` is written before anything changes; `finished` replaces it with the outcomes. */
      phase: 'started' | 'finished';
    }
  | {
      v: 1;
      type: 'recording';
      actionId: string;
      at: string;
      action: 'hold' | 'release';
      actor: string;
      objectKey: string;
      sidecarKey: string;
      provider: string;
      sourceId: string;
      recordingId: string;
      outcome: HoldOutcome;
      protection: HoldProtection;
      detail?: string;
    };

export interface HoldAuditLog {
  /** Writes (or replaces) one action's file, whole. */
  write(actionId: string, at: Date, entries: readonly HoldAuditEntry[]): Promise<string>;
  /** Every entry of every action, oldest file first. */
  entries(): AsyncIterable<HoldAuditEntry>;
}

export type HoldOutcome =
  | 'held'
  | 'already-held'
  | 'released'
  | 'not-held'
  | 'would-hold'
  | 'would-release'
  | 'no-copy'
  | 'failed'
  | 'pending';

export interface HoldResult {
  target: HoldTarget;
  outcome: HoldOutcome;
  detail?: string;
}

export interface HoldRequest {
  targets: readonly HoldTarget[];
  release: boolean;
  dryRun: boolean;
  /** Who asks: the operator's user name locally, the STS caller identity on AWS where it can be read. */
  actor: string;
  reason?: string;
  /** The question that chose the recordings, as the operator gave it (filters), for the audit. */
  query: Record<string, unknown>;
}

export interface HoldReport {
  actionId: string;
  action: 'hold' | 'release';
  dryRun: boolean;
  protection: HoldProtection;
  results: HoldResult[];
  counts: Partial<Record<HoldOutcome, number>>;
  /** The audit file's key; absent for a dry run, which changes and records nothing. */
  auditKey?: string;
}

export interface HoldPorts {
  store: HoldStore;
  audit: HoldAuditLog;
  clock: Clock;
  random?: () => number;
}

/** `holds/{objectKey}.json`: the same key in the bucket and under the local archive folder. */
export function holdRecordKey(objectKey: string): string {
  return `${HOLD_RECORD_PREFIX}${objectKey}.json`;
}

export function holdAuditKey(actionId: string, at: Date): string {
  const iso = at.toISOString();
  return `${HOLD_AUDIT_PREFIX}${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${actionId}.jsonl`;
}

/**
 * The recordings a find answer names, one per archived copy: a recording archived and later deleted at
 * the source appears twice in an answer and is one copy. Gone and expired recordings have no copy.
 */
export function holdTargetsFromRows(rows: readonly FindRow[]): {
  targets: HoldTarget[];
  withoutCopy: FindRow[];
} {
  const byKey = new Map<string, HoldTarget>();
  const withoutCopy = new Map<string, FindRow>();
  for (const row of rows) {
    if (!row.object_key) continue;
    if (row.status === 'archived' || row.status === 'deleted-at-source') {
      withoutCopy.delete(row.object_key);
      if (byKey.has(row.object_key)) continue;
      byKey.set(row.object_key, {
        objectKey: row.object_key,
        sidecarKey: row.sidecar_key ?? `${row.object_key}.json`,
        provider: row.provider ?? '',
        sourceId: row.source ?? '',
        recordingId: row.recording_id ?? '',
        startedAt: row.started_at,
      });
    } else if (!byKey.has(row.object_key)) {
      withoutCopy.set(row.object_key, row);
    }
  }
  return { targets: [...byKey.values()], withoutCopy: [...withoutCopy.values()] };
}

/**
 * Holds or releases every target. The audit file is written before the first change (the intent, who and
 * the question) and replaced with every outcome at the end, so a run that dies midway still leaves its
 * intent on record. A dry run reads each recording's state and changes and records nothing.
 */
export async function applyHold(request: HoldRequest, ports: HoldPorts): Promise<HoldReport> {
  const startedAt = ports.clock.now();
  const actionId = newRunId(startedAt, ports.random);
  const action = request.release ? 'release' : 'hold';
  const protection = await ports.store.protection();
  const results: HoldResult[] = [];
  const actionEntry = (phase: 'started' | 'finished'): HoldAuditEntry => ({
    v: 1,
    type: 'action',
    actionId,
    at: startedAt.toISOString(),
    action,
    actor: request.actor,
    reason: request.reason ?? null,
    query: request.query,
    protection,
    recordings: request.targets.length,
    phase,
  });
  const recordingEntries = (): HoldAuditEntry[] =>
    results.map((result) => ({
      v: 1,
      type: 'recording',
      actionId,
      at: ports.clock.now().toISOString(),
      action,
      actor: request.actor,
      objectKey: result.target.objectKey,
      sidecarKey: result.target.sidecarKey,
      provider: result.target.provider,
      sourceId: result.target.sourceId,
      recordingId: result.target.recordingId,
      outcome: result.outcome,
      protection,
      ...(result.detail ? { detail: result.detail } : {}),
    }));

  let auditKey: string | undefined;
  if (!request.dryRun) {
    auditKey = await ports.audit.write(actionId, startedAt, [
      actionEntry('started'),
      ...request.targets.map(
        (target): HoldAuditEntry => ({
          v: 1,
          type: 'recording',
          actionId,
          at: startedAt.toISOString(),
          action,
          actor: request.actor,
          objectKey: target.objectKey,
          sidecarKey: target.sidecarKey,
          provider: target.provider,
          sourceId: target.sourceId,
          recordingId: target.recordingId,
          outcome: 'pending',
          protection,
        }),
      ),
    ]);
  }
  try {
    for (const target of request.targets) results.push(await applyOne(target));
  } finally {
    if (!request.dryRun)
      await ports.audit.write(actionId, startedAt, [actionEntry('finished'), ...recordingEntries()]);
  }
  const counts: Partial<Record<HoldOutcome, number>> = {};
  for (const result of results) counts[result.outcome] = (counts[result.outcome] ?? 0) + 1;
  return { actionId, action, dryRun: request.dryRun, protection, results, counts, auditKey };

  async function applyOne(target: HoldTarget): Promise<HoldResult> {
    try {
      const state = await ports.store.state(target.objectKey);
      if (!state.exists) return { target, outcome: 'no-copy', detail: `no copy at ${target.objectKey}` };
      if (!request.release) {
        if (state.held) return { target, outcome: 'already-held' };
        if (request.dryRun) return { target, outcome: 'would-hold' };
        await ports.store.hold(target, {
          v: 1,
          objectKey: target.objectKey,
          sidecarKey: target.sidecarKey,
          provider: target.provider,
          sourceId: target.sourceId,
          recordingId: target.recordingId,
          heldAt: ports.clock.now().toISOString(),
          heldBy: request.actor,
          reason: request.reason ?? null,
          actionId,
          query: request.query,
          protection,
        });
        return { target, outcome: 'held' };
      }
      if (!state.held) return { target, outcome: 'not-held' };
      if (request.dryRun) return { target, outcome: 'would-release' };
      await ports.store.release(target);
      return { target, outcome: 'released' };
    } catch (error) {
      return { target, outcome: 'failed', detail: (error as Error).message };
    }
  }
}

/** The tags of a held object: out of its lifecycle class, its class kept for release, the hold tag on. */
export function heldTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  if (tags['retention-class'] === HELD_RETENTION_CLASS) return { ...tags, [LEGAL_HOLD_TAG]: 'true' };
  return {
    ...tags,
    'retention-class': HELD_RETENTION_CLASS,
    [HELD_FROM_CLASS_TAG]: tags['retention-class'] ?? 'standard',
    [LEGAL_HOLD_TAG]: 'true',
  };
}

/** The tags of a released object: its class back, the hold tags gone. */
export function releasedTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const { [HELD_FROM_CLASS_TAG]: from, [LEGAL_HOLD_TAG]: _hold, ...rest } = tags;
  const released: Record<string, string> = { ...rest };
  if (released['retention-class'] === HELD_RETENTION_CLASS) released['retention-class'] = from ?? 'standard';
  return released;
}
