/**
 * `npm run export` from a local archive: recordings archived from the Telphin sandbox (some then held,
 * the others deleted at the source by retention) are produced into a folder with their sidecars, an index,
 * a manifest whose hashes are re-read from the copies, their hold state and their audit trail. An export
 * interrupted midway resumes without copying again what it verified, and a copy that does not match its
 * sidecar is reported and fails the export.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsCatalogueStorage } from '../../functions/adapters/catalogue-storage';
import { DuckDbCatalogue } from '../../functions/adapters/duckdb-catalogue';
import { FsArchiveStore } from '../../functions/adapters/fs-archive-store';
import { FsAuditLog } from '../../functions/adapters/fs-audit-log';
import { FsHoldAuditLog, FsHoldStore } from '../../functions/adapters/fs-legal-hold';
import { retentionSettingsSchema } from '../../functions/config';
import { applyRetentionToSource } from '../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../functions/core/archive-recording';
import { recordingKey } from '../../functions/core/keys';
import { applyHold, holdTargetsFromRows } from '../../functions/core/legal-hold';
import { silentLog, systemClock } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { type ExportTarget, type ManifestFile, runExport, type TrailEvent } from '../../functions/ops/export';
import { FolderExportTarget } from '../../functions/ops/export-targets';
import { telphinSourceSchema } from '../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox, type TelphinSandbox } from '../../sandbox/providers/telphin-sandbox';

const REPO = resolve(import.meta.dirname, '../..');
const DAY = 86_400_000;

function exportCommand(
  args: string[],
  config: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['scripts/export.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, CALLVAULT_CONFIG: config },
    });
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

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('npm run export from a local archive', () => {
  let dir: string;
  let archiveDir: string;
  let config: string;
  let sandbox: TelphinSandbox;
  let recordings: SourceRecording[];
  const sources = () => ({
    store: new FsArchiveStore({ root: archiveDir }),
    holds: new FsHoldStore({ root: archiveDir }),
    holdAudit: new FsHoldAuditLog({ root: archiveDir }),
    readObject: (key: string) => new FsCatalogueStorage({ root: archiveDir }).read(key),
  });
  const rows = async () => {
    const engine = await DuckDbCatalogue.open(archiveDir);
    try {
      return await engine.find({ sourceId: 'hq' });
    } finally {
      engine.close();
    }
  };
  const ofExtension = (id: string) => recordings.filter((recording) => recording.extension?.id === id);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-export-'));
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
    const source = new TelphinSource({
      config: telphinSourceSchema.parse(sourceConfig),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    const store = new FsArchiveStore({ root: archiveDir });
    const catalogue = new FsCatalogueStorage({ root: archiveDir });
    sandbox.generateRecordings({
      count: 4,
      from: new Date(Date.now() - 60 * DAY),
      to: new Date(Date.now() - 59 * DAY),
      size: 300_000,
      extensions: [{ id: 111 }, { id: 222 }],
    });
    recordings = [];
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 90 * DAY),
      to: new Date(),
    }))
      recordings.push(recording);
    for (const recording of recordings) {
      await archiveRecording(recording, { source, store, catalogue, clock: systemClock, log: silentLog });
      // A folder copy's age is its mtime, which the kernel stamps; under libfaketime (the pinned-clock
      // runs) a pinned instant before today would make it look written in the future. Stamp it with the
      // clock this test shares, as a real machine would.
      const writtenAt = new Date();
      await utimes(join(archiveDir, ...recordingKey(recording).split('/')), writtenAt, writtenAt);
    }
    // Extension 111's calls are held; retention deletes 222's at the source.
    const held = (await rows()).filter((row) =>
      ofExtension('111').some((r) => recordingKey(r) === row.object_key),
    );
    await applyHold(
      {
        targets: holdTargetsFromRows(held).targets,
        release: false,
        dryRun: false,
        actor: 'counsel',
        reason: 'case 12',
        query: { person: '111' },
      },
      { store: sources().holds, audit: sources().holdAudit, clock: systemClock },
    );
    await applyRetentionToSource(
      source,
      retentionSettingsSchema.parse({ deleteFromSourceAfterDays: 30, dryRun: false, gracePeriodHours: 0 }),
      {
        store,
        catalogue,
        queue: { enqueue: async () => {} },
        audit: new FsAuditLog({ root: archiveDir }),
        killSwitch: { engaged: async () => false },
        clock: systemClock,
        log: silentLog,
        holds: sources().holds,
      },
      {
        runId: `${new Date()
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z')}-beef`,
      },
    );
    expect(sandbox.deletedIds().sort()).toEqual(
      ofExtension('222')
        .map((r) => r.recordingId)
        .sort(),
    );
  }, 90_000);

  afterAll(async () => {
    await sandbox?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes recordings, sidecars, an index, a verified manifest, hold state and each audit trail', async () => {
    const out = join(dir, 'production-1');
    const result = await exportCommand(['--source', 'hq', '--to', out], config);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('4 recordings, 8 files');
    expect(result.stderr).toMatch(/export: 4\/4 .* verified/);

    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      files: ManifestFile[];
      query: unknown;
    };
    expect(manifest.query).toEqual({ sourceId: 'hq', provider: 'telphin' });
    expect(manifest.files).toHaveLength(8);
    for (const file of manifest.files) {
      const bytes = await readFile(join(out, ...file.path.split('/')));
      expect(file.verified).toBe(true);
      expect(sha256(bytes)).toBe(file.sha256);
      expect(bytes.length).toBe(file.size);
      // The copy is byte for byte the archive's.
      expect(bytes.equals(await readFile(join(archiveDir, ...file.objectKey.split('/'))))).toBe(true);
      if (file.kind === 'recording') expect(file.expectedSha256).toBe(file.sha256);
    }
    const sums = await readFile(join(out, 'SHA256SUMS'), 'utf8');
    expect(sums.trim().split('\n')).toHaveLength(8);
    expect(sums).toContain(`${manifest.files[0]?.sha256}  ${manifest.files[0]?.path}`);

    const index = (await readFile(join(out, 'index.csv'), 'utf8')).trim().split('\n');
    expect(index[0]).toContain('recording_id,provider,source,started_at');
    expect(index).toHaveLength(5);
    for (const recording of ofExtension('111')) {
      const line = index.find((candidate) => candidate.startsWith(recording.recordingId));
      expect(line).toMatch(/held since .* by counsel/);
      expect(line).toContain('no Object Lock');
    }
    for (const recording of ofExtension('222')) {
      const line = index.find((candidate) => candidate.startsWith(recording.recordingId));
      expect(line).toContain('archived deleted-at-source');
      expect(line).toContain('not held');
    }

    const trail = (await readFile(join(out, 'audit-trail.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as TrailEvent);
    const eventsOf = (recording: SourceRecording) =>
      trail.filter((event) => event.objectKey === recordingKey(recording)).map((event) => event.event);
    for (const recording of ofExtension('111'))
      expect(eventsOf(recording)).toEqual(['archived', 'verified-on-write', 'held', 'verified-at-export']);
    for (const recording of ofExtension('222'))
      expect(eventsOf(recording)).toEqual([
        'archived',
        'verified-on-write',
        'verified-by-retention',
        'deleted-at-source',
        'verified-at-export',
      ]);
    const held = trail.find((event) => event.event === 'held');
    expect(held?.by).toBe('counsel');
  }, 90_000);

  it('resumes an interrupted export without copying again what it verified', async () => {
    const out = join(dir, 'production-2');
    const folder = new FolderExportTarget(out);
    let writes = 0;
    const failing: ExportTarget = {
      description: folder.description,
      sizeOf: (path) => folder.sizeOf(path),
      read: (path) => folder.read(path),
      readText: (path) => folder.readText(path),
      writeText: (path, text) => folder.writeText(path, text),
      async write(path, body, size) {
        writes += 1;
        if (writes === 4) throw new Error('disk unplugged');
        return folder.write(path, body, size);
      },
    };
    const request = {
      rows: await rows(),
      filters: { sourceId: 'hq' },
      actor: 'clerk',
      where: 'test',
      now: () => new Date(),
      progress: () => {},
    };
    await expect(runExport(request, sources(), failing)).rejects.toThrow('disk unplugged');
    const lines: string[] = [];
    const resumed = await runExport({ ...request, progress: (line) => lines.push(line) }, sources(), folder);
    expect(lines[0]).toContain('resuming: 3 files already verified');
    expect(resumed).toMatchObject({ recordings: 4, files: 8, skipped: 3, copied: 5, problems: [] });
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      files: ManifestFile[];
    };
    expect(manifest.files.every((file) => file.verified)).toBe(true);
    const again = await runExport(request, sources(), folder);
    expect(again).toMatchObject({ skipped: 8, copied: 0 });
  }, 60_000);

  it('detects a tampered copy: the export says which and fails', async () => {
    const victim = recordingKey(ofExtension('111')[0] as SourceRecording);
    const path = join(archiveDir, ...victim.split('/'));
    const original = await readFile(path);
    const tampered = Buffer.from(original);
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0xff;
    await writeFile(path, tampered);
    try {
      const out = join(dir, 'production-3');
      const result = await exportCommand(['--source', 'hq', '--to', out], config);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('1 NOT VERIFIED');
      expect(result.stdout).toContain(
        `${victim}: sha256 ${sha256(tampered)} differs from the sidecar's ${sha256(original)}`,
      );
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
        files: ManifestFile[];
      };
      expect(manifest.files.filter((file) => !file.verified).map((file) => file.path)).toEqual([victim]);
    } finally {
      await writeFile(path, original);
    }
  }, 60_000);

  it('bad input: one line naming the flag, exit code 2', async () => {
    const bad = await exportCommand(['--from', '2026-02-30', '--to', join(dir, 'x')], config);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--from');
    const noDestination = await exportCommand(['--from', '2026-02-01', '--to', '2026-02-03'], config);
    expect(noDestination.code).toBe(2);
    expect(noDestination.stderr).toContain('--to DIR');
    const reversed = await exportCommand(
      ['--from', '2026-02-05', '--to', '2026-02-03', '--to', join(dir, 'x')],
      config,
    );
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('reversed');
  }, 60_000);
});
