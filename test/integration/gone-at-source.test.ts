/**
 * A recording deleted at the source after it was listed, run the way `npm start` runs it: the sweep
 * lists, someone deletes two recordings at Telphin, then the in-process queue works. Those two jobs end
 * as gone at the source (recorded, counted by status, neither retried nor dead-lettered), while a
 * recording whose file 404s but which is still listed keeps the not-ready path and is archived.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsGoneAtSourceLog } from '../../functions/adapters/gone-at-source-logs';
import { createLocalPipeline, type LocalPipeline } from '../../functions/composition/local-pipeline';
import { parseConfig } from '../../functions/config';
import { catalogueKey } from '../../functions/core/catalogue';
import { recordingJob } from '../../functions/core/jobs';
import { goneAtSourceKey, recordingKey, sidecarKey } from '../../functions/core/keys';
import type { Clock, GoneAtSourceRecord, Log } from '../../functions/core/ports';
import type { SourceRecording } from '../../functions/core/recording';
import { sweepAllSources } from '../../functions/core/sweep-all-sources';
import { localStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { formatStatus } from '../../functions/ops/status-table';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
} from '../../sandbox/providers/telphin-sandbox';

/** Pinned: the sweep's window, the call days and the status days do not depend on today's date. */
const NOW = new Date('2024-03-15T12:00:00Z');
const clock: Clock = { now: () => NOW };
const SOURCE_ID = 'office';

interface LogLine {
  level: string;
  message: string;
  attributes?: Record<string, unknown>;
}

function collectingLog(): Log & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, attributes?: Record<string, unknown>) =>
    void lines.push({ level, message, attributes });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const sourceRecordingOf = (recording: SandboxRecording): SourceRecording => ({
  provider: 'telphin',
  sourceId: SOURCE_ID,
  recordingId: recording.recordUuid,
  startedAt: new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000),
  direction: 'inbound',
  fileExtension: 'mp3',
  raw: {},
});

describe('recordings deleted at the source after they were listed (local mode)', () => {
  let dir: string;
  let sandbox: TelphinSandbox;
  let pipeline: LocalPipeline | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-gone-'));
    sandbox = await startTelphinSandbox({ clock, storageHost: '127.0.0.1' });
  });

  afterEach(async () => {
    await pipeline?.queue.stop();
    pipeline = undefined;
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends their jobs as gone-at-source, records and counts them, and archives everything else', async () => {
    // Prepare: recordings on the day before and the morning of NOW, all listed by one sweep.
    const yesterday = sandbox.generateRecordings({
      count: 5,
      from: new Date('2024-03-14T08:00:00Z'),
      to: new Date('2024-03-14T20:00:00Z'),
    });
    const today = sandbox.generateRecordings({
      count: 3,
      from: new Date('2024-03-15T08:00:00Z'),
      to: new Date('2024-03-15T11:00:00Z'),
    });
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
      worker: { concurrency: 2, maxReceiveCount: 5 },
    });
    const log = collectingLog();
    pipeline = await createLocalPipeline(config, {
      log,
      clock,
      retryPolicy: { notReadyBaseSeconds: 0, transientBaseSeconds: 0 },
    });
    const sweep = await sweepAllSources(48, { ...pipeline, clock, log });
    expect(sweep.results[0]).toMatchObject({ listed: 8, enqueued: 8 });
    // Deleted at Telphin between the listing and the download.
    const gone = [yesterday[1], today[2]] as SandboxRecording[];
    for (const recording of gone) sandbox.removeRecording(recording.recordUuid);
    // Still listed, but its file answers 404 twice (storage link and direct download, one attempt).
    const late = yesterday[3] as SandboxRecording;
    const notFound = sandbox.injectFault(
      { kind: 'not-found' },
      { recordUuid: late.recordUuid, routes: ['storage-url', 'file'], times: 2 },
    );

    // Act
    pipeline.queue.start();
    await pipeline.queue.idle();

    // Assess: the queue settled every job, retried only the still-listed one, dead-lettered nothing.
    expect(pipeline.queue.stats()).toMatchObject({ succeeded: 8, retried: 1, deadLettered: 0 });
    expect(notFound.hits).toBe(2);
    expect(await readdir(join(dir, 'state', 'dead-letter')).catch(() => [])).toEqual([]);
    const archive = join(dir, 'archive');
    const kept = [...yesterday, ...today].filter((recording) => !gone.includes(recording));
    for (const recording of kept) {
      const key = recordingKey(sourceRecordingOf(recording));
      expect((await stat(join(archive, key))).size, key).toBe(recording.size);
      await stat(join(archive, sidecarKey(key)));
    }
    for (const recording of gone) {
      const key = recordingKey(sourceRecordingOf(recording));
      await expect(stat(join(archive, key))).rejects.toMatchObject({ code: 'ENOENT' });
      const record = JSON.parse(
        await readFile(join(archive, goneAtSourceKey(key)), 'utf8'),
      ) as GoneAtSourceRecord;
      expect(record).toMatchObject({
        provider: 'telphin',
        sourceId: SOURCE_ID,
        recordingId: recording.recordUuid,
        objectKey: key,
        detectedAt: NOW.toISOString(),
        listed: { recordingId: recording.recordUuid, raw: { record_uuid: recording.recordUuid } },
      });
      expect(record.reason).toMatch(/404.*no longer lists/);
      // The catalogue has it too, beside where its archived record would be.
      const catalogued = JSON.parse(
        await readFile(
          join(
            archive,
            catalogueKey({
              provider: 'telphin',
              source_id: SOURCE_ID,
              date: recording.startedAt.toISOString().slice(0, 10),
              recording_id: recording.recordUuid,
              status: 'gone-at-source',
            }),
          ),
          'utf8',
        ),
      );
      expect(catalogued).toMatchObject({
        status: 'gone-at-source',
        object_key: key,
        evidence_key: goneAtSourceKey(key),
      });
    }
    const warnings = log.lines.filter((line) => line.message.includes('gone at the source'));
    expect(warnings.map((line) => line.attributes?.recordingId).sort()).toEqual(
      gone.map((recording) => recording.recordUuid).sort(),
    );

    // A redelivered job finds the recording gone again and keeps the first record as it was.
    const goneKey = goneAtSourceKey(recordingKey(sourceRecordingOf(gone[0] as SandboxRecording)));
    const before = await readFile(join(archive, goneKey), 'utf8');
    await pipeline.queue.enqueue([recordingJob(sourceRecordingOf(gone[0] as SandboxRecording))]);
    await pipeline.queue.idle();
    expect(await readFile(join(archive, goneKey), 'utf8')).toBe(before);
    expect(pipeline.queue.stats()).toMatchObject({ succeeded: 9, deadLettered: 0 });

    // Status counts them per day; the source no longer holds them, so nothing shows as missing.
    const report = await collectStatus(
      localStatusDependencies({ config, days: 2, now: NOW, checkRunningHost: false }),
    );
    expect(report.sources[0]?.days).toEqual([
      expect.objectContaining({
        day: '2024-03-14',
        atSource: expect.objectContaining({ count: 4 }),
        archived: expect.objectContaining({ count: 4 }),
        missing: 0,
        goneAtSource: 1,
      }),
      expect.objectContaining({
        day: '2024-03-15',
        atSource: expect.objectContaining({ count: 2 }),
        archived: expect.objectContaining({ count: 2 }),
        missing: 0,
        goneAtSource: 1,
      }),
    ]);
    const text = formatStatus(report);
    expect(text).toContain('gone at source');
    expect(text).toMatch(/2024-03-14 +4 +[\d.]+ KiB +4 +[\d.]+ KiB +0 +0 +1/);
    expect(text).toContain('2 recordings on 2024-03-14, 2024-03-15 were deleted at the source');
  });

  it('does not count a gone record whose recording was archived after all', async () => {
    // Prepare: a recording the archive holds, with a record from a time the listing had left it out.
    const [recording] = sandbox.generateRecordings({
      count: 1,
      from: new Date('2024-03-15T09:00:00Z'),
      to: new Date('2024-03-15T10:00:00Z'),
    });
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
        },
      ],
      local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
    });
    pipeline = await createLocalPipeline(config, { log: collectingLog(), clock });
    const listed = sourceRecordingOf(recording as SandboxRecording);
    await new FsGoneAtSourceLog({ root: join(dir, 'archive') }).record({
      v: 1,
      provider: 'telphin',
      sourceId: SOURCE_ID,
      recordingId: listed.recordingId,
      startedAt: listed.startedAt.toISOString(),
      objectKey: recordingKey(listed),
      detectedAt: NOW.toISOString(),
      reason: 'Telphin answered 404 and no longer listed it',
      listed: recordingJob(listed).recording,
    });
    const status = () =>
      collectStatus(localStatusDependencies({ config, days: 1, now: NOW, checkRunningHost: false }));
    expect((await status()).sources[0]?.days[0]?.goneAtSource).toBe(1);

    // Act: the sweep finds it listed again and archives it.
    await sweepAllSources(24, { ...pipeline, clock, log: collectingLog() });
    pipeline.queue.start();
    await pipeline.queue.idle();

    // Assess
    expect((await status()).sources[0]?.days[0]).toMatchObject({
      archived: { count: 1 },
      goneAtSource: 0,
    });
  });
});
