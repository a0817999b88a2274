/**
 * The legal-hold use case over a real folder: targets from a find answer (one per archived copy), holds
 * and releases with their outcomes, the audit written before anything changes, and a dry run that changes
 * and records nothing.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsHoldAuditLog, FsHoldStore } from '../../functions/adapters/fs-legal-hold';
import { FIND_COLUMNS, type FindRow } from '../../functions/core/catalogue-query';
import {
  applyHold,
  type HoldAuditEntry,
  type HoldStore,
  holdAuditKey,
  holdRecordKey,
  holdTargetsFromRows,
} from '../../functions/core/legal-hold';

const row = (status: string, objectKey: string): FindRow => ({
  ...(Object.fromEntries(FIND_COLUMNS.map((column) => [column, null])) as FindRow),
  status,
  provider: 'telphin',
  source: 'hq',
  recording_id: objectKey.split('/').at(-1)?.split('.')[0] ?? null,
  object_key: objectKey,
  sidecar_key: `${objectKey}.json`,
  started_at: '2026-03-03T10:00:00.000Z',
});

const clock = { now: () => new Date('2026-03-20T09:00:00Z') };
const KEY_A = 'recordings/telphin/hq/2026/03/03/a.mp3';
const KEY_B = 'recordings/telphin/hq/2026/03/03/b.mp3';
const KEY_GONE = 'recordings/telphin/hq/2026/03/03/gone.mp3';

describe('legal hold', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-hold-unit-'));
    for (const key of [KEY_A, KEY_B]) {
      await mkdir(join(root, 'recordings/telphin/hq/2026/03/03'), { recursive: true });
      await writeFile(join(root, key), 'audio');
    }
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('takes one target per archived copy; gone and expired recordings have none', () => {
    const { targets, withoutCopy } = holdTargetsFromRows([
      row('archived', KEY_A),
      row('deleted-at-source', KEY_A),
      row('deleted-at-source', KEY_B),
      row('gone-at-source', KEY_GONE),
    ]);
    expect(targets.map((target) => target.objectKey)).toEqual([KEY_A, KEY_B]);
    expect(targets[0]?.sidecarKey).toBe(`${KEY_A}.json`);
    expect(withoutCopy.map((hit) => hit.object_key)).toEqual([KEY_GONE]);
  });

  it('holds, says what was already held, releases, and audits each action with who and the question', async () => {
    const store = new FsHoldStore({ root });
    const audit = new FsHoldAuditLog({ root });
    const { targets } = holdTargetsFromRows([row('archived', KEY_A), row('archived', KEY_B)]);
    const dry = await applyHold(
      { targets, release: false, dryRun: true, actor: 'ann', query: { person: '62' } },
      { store, audit, clock },
    );
    expect(dry.counts).toEqual({ 'would-hold': 2 });
    expect(dry.auditKey).toBeUndefined();
    expect(existsSync(join(root, 'holds'))).toBe(false);
    expect(existsSync(join(root, 'audit'))).toBe(false);

    const first = await applyHold(
      { targets: targets.slice(0, 1), release: false, dryRun: false, actor: 'ann', query: { person: '62' } },
      { store, audit, clock, random: () => 0.1 },
    );
    expect(first.counts).toEqual({ held: 1 });
    const second = await applyHold(
      { targets, release: false, dryRun: false, actor: 'ann', reason: 'case 9', query: { person: '62' } },
      { store, audit, clock, random: () => 0.2 },
    );
    expect(second.counts).toEqual({ 'already-held': 1, held: 1 });
    expect(await store.isHeld(KEY_B)).toBe(true);
    expect(JSON.parse(await readFile(join(root, holdRecordKey(KEY_B)), 'utf8'))).toMatchObject({
      heldBy: 'ann',
      reason: 'case 9',
      actionId: second.actionId,
      protection: 'callvault-hold-record',
    });
    const released = await applyHold(
      { targets, release: true, dryRun: false, actor: 'bob', query: { person: '62' } },
      { store, audit, clock, random: () => 0.3 },
    );
    expect(released.counts).toEqual({ released: 2 });
    expect(await store.isHeld(KEY_A)).toBe(false);

    const entries: HoldAuditEntry[] = [];
    for await (const entry of audit.entries()) entries.push(entry);
    const actions = entries.filter((entry) => entry.type === 'action');
    expect(actions.map((entry) => [entry.action, entry.actor, entry.phase])).toEqual([
      ['hold', 'ann', 'finished'],
      ['hold', 'ann', 'finished'],
      ['release', 'bob', 'finished'],
    ]);
    expect(actions[1]).toMatchObject({
      reason: 'case 9',
      query: { person: '62' },
      at: '2026-03-20T09:00:00.000Z',
    });
    expect(
      entries
        .filter((entry) => entry.type === 'recording' && entry.objectKey === KEY_A)
        .map((entry) => entry.type === 'recording' && entry.outcome),
    ).toEqual(['held', 'already-held', 'released']);
  });

  it('records the intent before the first change, and a failure per recording without stopping the others', async () => {
    const store = new FsHoldStore({ root });
    const audit = new FsHoldAuditLog({ root });
    const { targets } = holdTargetsFromRows([
      row('archived', KEY_A),
      row('archived', KEY_B),
      row('archived', 'recordings/telphin/hq/2026/03/03/missing.mp3'),
    ]);
    let intentSeen: string | undefined;
    const failing: HoldStore = {
      protection: () => store.protection(),
      state: (key) => store.state(key),
      async hold(target, record) {
        intentSeen ??= await readFile(join(root, holdAuditKey(record.actionId, clock.now())), 'utf8');
        if (target.objectKey === KEY_A) throw new Error('disk full');
        return store.hold(target, record);
      },
      release: (target) => store.release(target),
    };
    const report = await applyHold(
      { targets, release: false, dryRun: false, actor: 'ann', query: {} },
      { store: failing, audit, clock },
    );
    expect(report.results.map((result) => result.outcome)).toEqual(['failed', 'held', 'no-copy']);
    expect(intentSeen).toContain('"phase":"started"');
    expect(intentSeen).toContain('"outcome":"pending"');
    const final = await readFile(join(root, report.auditKey ?? ''), 'utf8');
    expect(final).toContain('"phase":"finished"');
    expect(final).toContain('disk full');
  });
});
