/**
 * `npm run hold` as an operator runs it against a local archive: recordings archived from the Telphin
 * sandbox into a folder (with their catalogue records), held by a find question, refused by retention
 * while held and deleted at the source once released; bad input stops with one line and exit code 2,
 * and nothing is held without a confirmation.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsCatalogueStorage } from '../../functions/adapters/catalogue-storage';
import { FsArchiveStore } from '../../functions/adapters/fs-archive-store';
import { FsAuditLog } from '../../functions/adapters/fs-audit-log';
import { FsHoldStore } from '../../functions/adapters/fs-legal-hold';
import { retentionSettingsSchema } from '../../functions/config';
import { applyRetentionToSource, auditKey } from '../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../functions/core/archive-recording';
import { recordingKey } from '../../functions/core/keys';
import { type HoldAuditEntry, holdRecordKey } from '../../functions/core/legal-hold';
import { type AuditEntry, silentLog, systemClock } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../sandbox/providers/telphin-sandbox';

const REPO = resolve(import.meta.dirname, '../..');
const DAY = 86_400_000;

function hold(args: string[], config: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['scripts/hold.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, CALLVAULT_CONFIG: config },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

describe('npm run hold on a local archive', () => {
  let dir: string;
  let archiveDir: string;
  let config: string;
  let sandbox: TelphinSandbox;
  let source: TelphinSource;
  let store: FsArchiveStore;
  let recordings: SourceRecording[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-hold-'));
    archiveDir = join(dir, 'archive');
    sandbox = await startTelphinSandbox();
    const sourceConfig = {
      provider: 'telphin',
      id: 'hq',
      apiUrl: sandbox.url,
      allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
    };
    config = join(dir, 'callvault.config.json');
    await writeFile(
      config,
      JSON.stringify({
        sources: [{ ...sourceConfig, clientId: sandbox.clientId, clientSecret: sandbox.clientSecret }],
        local: { archiveDir, stateDir: join(dir, 'state') },
      }),
    );
    source = new TelphinSource({
      config: telphinSourceSchema.parse(sourceConfig),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    store = new FsArchiveStore({ root: archiveDir });
    sandbox.generateRecordings({
      count: 4,
      from: new Date(Date.now() - 60 * DAY),
      to: new Date(Date.now() - 59 * DAY),
      size: 20_000,
      extensions: [{ id: 111 }, { id: 222 }],
    });
    recordings = [];
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 90 * DAY),
      to: new Date(),
    }))
      recordings.push(recording);
    const catalogue = new FsCatalogueStorage({ root: archiveDir });
    for (const recording of recordings) {
      await archiveRecording(recording, { source, store, catalogue, clock: systemClock, log: silentLog });
      // A folder copy's age is its mtime, which the kernel stamps; under libfaketime (the pinned-clock
      // runs) a pinned instant before today would make it look written in the future. Stamp it with the
      // clock this test shares, as a real machine would.
      const writtenAt = new Date();
      await utimes(join(archiveDir, ...recordingKey(recording).split('/')), writtenAt, writtenAt);
    }
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ofExtension = (id: string) => recordings.filter((recording) => recording.extension?.id === id);
  const heldKeys = async () => {
    const holds = new FsHoldStore({ root: archiveDir });
    const held: string[] = [];
    for (const recording of recordings)
      if (await holds.isHeld(recordingKey(recording))) held.push(recordingKey(recording));
    return held.sort();
  };

  it('refuses bad filters with one line naming the flag, exit code 2, and holds nothing', async () => {
    for (const [args, flag] of [
      [['--from', '2026-02-30', '--yes'], '--from'],
      [['--number', 'call me', '--yes'], '--number'],
      [['--source', 'nowhere', '--yes'], '--source'],
      [['--from', '2026-03-17', '--to', '2026-03-03', '--yes'], '--from'],
    ] as const) {
      const result = await hold([...args], config);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(flag);
    }
    expect(existsSync(join(archiveDir, 'holds'))).toBe(false);
  }, 60_000);

  it('counts and names the protection in a dry run, and refuses to go on unconfirmed without a terminal', async () => {
    expect(ofExtension('111')).toHaveLength(2);
    const dry = await hold(['--person', '111', '--dry-run'], config);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('2 archived recordings (each with its sidecar) to hold');
    expect(dry.stdout).toContain('protection: callvault-hold-record');
    expect(dry.stdout).toContain('dry run: 2 would-hold');
    const unconfirmed = await hold(['--person', '111'], config);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');
    expect(await heldKeys()).toEqual([]);
  }, 60_000);

  it('holds by query, retention refuses the held copies, release lets retention delete them', async () => {
    const held = await hold(['--person', '111', '--yes', '--reason', 'subpoena 7'], config);
    expect(held.code, held.stderr).toBe(0);
    expect(held.stdout).toContain('2 held');
    const expected = ofExtension('111').map(recordingKey).sort();
    expect(await heldKeys()).toEqual(expected);
    const record = JSON.parse(
      await readFile(join(archiveDir, ...holdRecordKey(expected[0] ?? '').split('/')), 'utf8'),
    );
    expect(record).toMatchObject({
      heldBy: userInfo().username,
      reason: 'subpoena 7',
      query: { person: '111' },
    });
    const auditFiles = (await readdir(join(archiveDir, 'audit', 'holds'), { recursive: true })).filter(
      (name) => name.endsWith('.jsonl'),
    );
    expect(auditFiles).toHaveLength(1);
    const lines = (await readFile(join(archiveDir, 'audit', 'holds', auditFiles[0] ?? ''), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as HoldAuditEntry);
    expect(lines[0]).toMatchObject({
      type: 'action',
      action: 'hold',
      actor: userInfo().username,
      phase: 'finished',
    });
    expect(
      lines
        .slice(1)
        .map((line) => line.type === 'recording' && line.objectKey)
        .sort(),
    ).toEqual(expected);

    const again = await hold(['--person', '111', '--yes'], config);
    expect(again.stdout).toContain('2 already-held');

    const retention = async () => {
      const runId = `local-${Math.random().toString(16).slice(2, 8)}`;
      let startedAt = new Date();
      const audit = new FsAuditLog({ root: archiveDir });
      await applyRetentionToSource(
        source,
        retentionSettingsSchema.parse({ deleteFromSourceAfterDays: 30, dryRun: false, gracePeriodHours: 0 }),
        {
          store,
          queue: { enqueue: async () => {} },
          audit: {
            open: (id, at) => {
              startedAt = at;
              return audit.open(id, at);
            },
          },
          killSwitch: { engaged: async () => false },
          clock: systemClock,
          log: silentLog,
          holds: new FsHoldStore({ root: archiveDir }),
        },
        { runId },
      );
      return (await readFile(join(archiveDir, ...auditKey(runId, startedAt).split('/')), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as AuditEntry);
    };
    const first = await retention();
    for (const recording of ofExtension('111')) {
      expect(
        first.filter((entry) => entry.recordingId === recording.recordingId).map((entry) => entry.reason),
      ).toEqual(['legal-hold']);
      expect(sandbox.deletedIds()).not.toContain(recording.recordingId);
    }
    for (const recording of ofExtension('222')) expect(sandbox.deletedIds()).toContain(recording.recordingId);

    const released = await hold(['--person', '111', '--release', '--yes'], config);
    expect(released.code, released.stderr).toBe(0);
    expect(released.stdout).toContain('2 released');
    expect(await heldKeys()).toEqual([]);
    await retention();
    for (const recording of ofExtension('111')) expect(sandbox.deletedIds()).toContain(recording.recordingId);
  }, 120_000);
});
