/**
 * A delete at the source lands in the catalogue with the retention run that vouched for it, beside the
 * archived record: one question shows the call's whole life. Telphin sandbox, local folder, pinned clock.
 */
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsCatalogueStorage } from '../../../functions/adapters/catalogue-storage';
import { DuckDbCatalogue } from '../../../functions/adapters/duckdb-catalogue';
import { FsArchiveStore } from '../../../functions/adapters/fs-archive-store';
import { FsAuditLog } from '../../../functions/adapters/fs-audit-log';
import { applyRetentionToSource, auditKey } from '../../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../../functions/core/archive-recording';
import { silentLog, systemClock } from '../../../functions/core/ports';
import type { SourceRecording } from '../../../functions/core/recording';
import { telphinSourceSchema } from '../../../functions/providers/telphin/telphin-config';
import { TelphinSource } from '../../../functions/providers/telphin/telphin-source';
import { startTelphinSandbox } from '../../../sandbox/providers/telphin-sandbox';

describe('retention and the catalogue', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup) await step();
  });

  it('records each delete at the source with its run, found by the same question as the archived copy', async () => {
    const root = await mkdtemp(join(tmpdir(), 'callvault-retention-catalogue-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    const sandbox = await startTelphinSandbox();
    cleanup.push(() => sandbox.close());
    sandbox.generateRecordings({
      count: 2,
      // Archived now (the copy's own time), deleted 60 days after the call: no calendar boundary matters.
      from: new Date(Date.now() - 61 * 86_400_000),
      to: new Date(Date.now() - 61 * 86_400_000 + 60_000),
      size: 20_000,
    });
    const source = new TelphinSource({
      config: telphinSourceSchema.parse({
        provider: 'telphin',
        id: 'hq',
        apiUrl: sandbox.url,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      }),
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    });
    const store = new FsArchiveStore({ root });
    const catalogue = new FsCatalogueStorage({ root });
    const clock = systemClock;
    const listed: SourceRecording[] = [];
    for await (const recording of source.listRecordings({
      from: new Date(Date.now() - 62 * 86_400_000),
      to: new Date(Date.now() - 59 * 86_400_000),
    }))
      listed.push(recording);
    for (const recording of listed) {
      const outcome = await archiveRecording(recording, { source, store, catalogue, clock, log: silentLog });
      // A folder copy's age is its mtime, which the kernel stamps; under libfaketime (the pinned-clock
      // runs) a pinned instant before today would make it look written in the future. Stamp it with the
      // clock this test shares, as a real machine would.
      const writtenAt = new Date();
      await utimes(join(root, outcome.key), writtenAt, writtenAt);
    }

    const report = await applyRetentionToSource(
      source,
      {
        deleteFromSourceAfterDays: 30,
        dryRun: false,
        gracePeriodHours: 0,
        maxDeletesPerRun: 10,
        intervalSeconds: 3600,
        deepVerifySampleRate: 0,
        killSwitch: false,
        scanBackDays: 120,
      },
      {
        store,
        queue: { enqueue: async () => {} },
        audit: new FsAuditLog({ root }),
        killSwitch: { engaged: async () => false },
        clock,
        log: silentLog,
        catalogue,
      },
      { runId: 'run-1' },
    );
    expect(listed).toHaveLength(2);
    expect(report).toMatchObject({ deleted: 2, skipped: 0 });
    const day = (listed[0] as SourceRecording).startedAt.toISOString().slice(0, 10);

    const engine = await DuckDbCatalogue.open(root);
    try {
      const deleted = await engine.find({ status: 'deleted-at-source' });
      expect(deleted.map((row) => row.recording_id).sort()).toEqual(listed.map((r) => r.recordingId).sort());
      for (const row of deleted) expect(row.retention_run_id).toBe('run-1');
      const life = await engine.find({ from: day, to: day });
      expect(
        life.filter((row) => row.recording_id === listed[0]?.recordingId).map((row) => row.status),
      ).toEqual(['archived', 'deleted-at-source']);
      const record = JSON.parse(
        (
          await catalogue.read(
            `catalog/recordings/provider=telphin/source=hq/date=${day}/${listed[0]?.recordingId}.deleted-at-source.json`,
          )
        )?.toString() ?? '{}',
      );
      expect(record.evidence_key).toMatch(
        new RegExp(`^${auditKey('run-1', new Date()).slice(0, 'audit/retention/'.length)}.*run-1\\.jsonl$`),
      );
    } finally {
      engine.close();
    }
  }, 120_000);
});
