import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import { FsAuditLog } from '../../../../functions/adapters/fs-audit-log';
import { retentionSettingsSchema } from '../../../../functions/config';
import { applyRetentionToSource, auditKey } from '../../../../functions/core/apply-retention-to-source';
import { archiveRecording } from '../../../../functions/core/archive-recording';
import { RateLimitedError } from '../../../../functions/core/errors';
import type { ArchiveJob } from '../../../../functions/core/jobs';
import { recordingKey } from '../../../../functions/core/keys';
import { type RecordingSource, systemClock } from '../../../../functions/core/ports';
import {
  collect,
  JAN_2024,
  JAN_WINDOW,
  manualClock,
  type RingCentralHarness,
  startHarness,
} from './ringcentral-fixture';

const DAY_MS = 86_400_000;

describe('RingCentralSource.deleteRecording', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('deletes the one recording file by id and leaves the call-log row', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: JAN_2024 });
    const kept = harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [recording] = (await collect(harness.source.listRecordings(JAN_WINDOW))).filter(
      (item) => item.recordingId === call.recording?.id,
    );

    // Act
    const outcome = await harness.source.deleteRecording(recording!);
    const again = await harness.source.deleteRecording(recording!);

    // Assess
    expect(outcome).toBe('deleted');
    expect(again).toBe('already-gone');
    expect(harness.sandbox.deletedRecordingIds()).toEqual([call.recording?.id]);
    expect(harness.sandbox.calls().map((item) => item.telephonySessionId)).toContain(call.telephonySessionId);
    expect(harness.sandbox.counters.callLogDeletes).toBe(0);
    const deletes = harness.sandbox.requestLog.filter((entry) => entry.route === 'delete');
    expect(deletes.map((entry) => [entry.method, entry.path, entry.status])).toEqual([
      ['DELETE', '/restapi/v1.0/account/~/call-recordings', 204],
      ['DELETE', '/restapi/v1.0/account/~/call-recordings', 404],
    ]);
    const listed = await collect(harness.source.listRecordings(JAN_WINDOW));
    expect(listed.map((item) => item.recordingId)).toEqual([kept.recording?.id]);
  });

  it('logs in again after a 401 and surfaces a 429 as RateLimitedError', async () => {
    // Prepare
    harness = await startHarness();
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    harness.sandbox.addCall({ startedAt: JAN_2024 });
    const [first, second] = await collect(harness.source.listRecordings(JAN_WINDOW));
    harness.sandbox.injectFault({ kind: 'unauthorized' }, { routes: 'delete' });

    // Act
    const afterRelogin = await harness.source.deleteRecording(first!);
    harness.sandbox.injectFault({ kind: 'rate-limit', retryAfterSeconds: 1 }, { routes: 'delete' });
    const throttled = await harness.source.deleteRecording(second!).catch((error: unknown) => error);

    // Assess
    expect(afterRelogin).toBe('deleted');
    expect(harness.sandbox.counters.logins).toBe(2);
    expect(throttled).toBeInstanceOf(RateLimitedError);
    expect(harness.sandbox.deletedRecordingIds()).toEqual([first?.recordingId]);
  });
});

describe('RingCentralSource.reportedSize', () => {
  let harness: RingCentralHarness | undefined;
  afterEach(async () => harness?.sandbox.close());

  it('reads the size from a HEAD of the content URL', async () => {
    // Prepare
    harness = await startHarness();
    const call = harness.sandbox.addCall({ startedAt: JAN_2024, size: 123_457 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    const size = await harness.source.reportedSize(recording!);

    // Assess
    expect(size).toBe(123_457);
    expect(harness.sandbox.recordingSize(call.recording!.id)).toBe(123_457);
    expect(harness.sandbox.counters.contentHeads).toBe(1);
    expect(harness.sandbox.counters.contentRequests).toBe(0);
  });

  it('falls back to a one-byte range when the media host refuses HEAD, and says gone after a delete', async () => {
    // Prepare
    harness = await startHarness({ sandbox: { contentHeadAllowed: false } });
    harness.sandbox.addCall({ startedAt: JAN_2024, size: 98_765 });
    const [recording] = await collect(harness.source.listRecordings(JAN_WINDOW));

    // Act
    const size = await harness.source.reportedSize(recording!);
    harness.sandbox.expireRecording(recording!.recordingId);
    const gone = await harness.source.reportedSize(recording!);

    // Assess
    expect(size).toBe(98_765);
    expect(gone).toBe('gone');
    const ranged = harness.sandbox.requestLog.filter(
      (entry) => entry.route === 'content' && entry.method === 'GET',
    );
    expect(ranged.map((entry) => entry.status)).toEqual([206, 404]);
  });
});

describe('RingCentral retention: what vouches for a copy', () => {
  let harness: RingCentralHarness | undefined;
  let root: string | undefined;
  afterEach(async () => {
    await harness?.sandbox.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('deletes at the source only with the size the media host reports, against a verified copy with a v2 sidecar', async () => {
    // Prepare: two recordings archived 40 days after the calls, one never archived.
    harness = await startHarness();
    root = await mkdtemp(join(tmpdir(), 'callvault-rc-'));
    const store = new FsArchiveStore({ root: join(root, 'archive') });
    const audit = new FsAuditLog({ root: join(root, 'archive') });
    const startedAt = new Date(Date.now() - 40 * DAY_MS);
    const calls = [
      harness.sandbox.addCall({ kind: 'ringout', startedAt, size: 50_000 }),
      harness.sandbox.addCall({
        kind: 'inbound',
        startedAt: new Date(startedAt.getTime() + 60_000),
        size: 60_000,
      }),
      harness.sandbox.addCall({ kind: 'outbound', startedAt: new Date(startedAt.getTime() + 120_000) }),
    ];
    const window = {
      from: new Date(startedAt.getTime() - DAY_MS),
      to: new Date(startedAt.getTime() + DAY_MS),
    };
    const listed = await collect(harness.source.listRecordings(window));
    const toArchive = listed.filter((recording) => recording.recordingId !== calls[2]?.recording?.id);
    for (const recording of toArchive) {
      await archiveRecording(recording, {
        source: harness.source,
        store,
        clock: systemClock,
        log: harness.log,
      });
    }
    const settings = retentionSettingsSchema.parse({
      dryRun: false,
      gracePeriodHours: 0,
      deleteFromSourceAfterDays: 30,
    });
    const enqueued: ArchiveJob[] = [];
    // Frozen after archiving, so the copies are not younger than "now" and the audit path is known. A
    // copy's age is read from the file's mtime, which the kernel stamps; under libfaketime (the pinned
    // clock runs) the kernel's clock is not the process's, so "now" is taken no earlier than the stamps.
    const stamps = await Promise.all(
      toArchive.map(async (recording) => (await store.inspect(recordingKey(recording)))?.lastModified),
    );
    const clock = manualClock(
      new Date(Math.max(Date.now(), ...stamps.map((stamp) => stamp?.getTime() ?? 0))),
    );
    const deps = {
      store,
      queue: { enqueue: async (jobs: readonly ArchiveJob[]) => void enqueued.push(...jobs) },
      audit,
      killSwitch: { engaged: async () => false },
      clock,
      log: harness.log,
    };

    // A view without the size port (what any source whose listing gives no size looks like).
    const adapter = harness.source;
    const withoutPort: RecordingSource = {
      provider: adapter.provider,
      sourceId: adapter.sourceId,
      listRecordings: (listWindow, signal) => adapter.listRecordings(listWindow, signal),
      resolveHint: (job, signal) => adapter.resolveHint(job, signal),
      openDownload: (recording, signal) => adapter.openDownload(recording, signal),
      deleteRecording: (recording, signal) => adapter.deleteRecording(recording, signal),
      handleWebhook: (request) => adapter.handleWebhook(request),
    };

    // Act: without the port; with it while the media host fails; with it.
    const withoutSizes = await applyRetentionToSource(withoutPort, settings, deps, { runId: 'run-1' });
    const probeFault = harness.sandbox.injectFault(
      { kind: 'server-error', status: 503 },
      { routes: 'content', times: Number.POSITIVE_INFINITY },
    );
    const probeFailing = await applyRetentionToSource(adapter, settings, deps, { runId: 'run-0' });
    probeFault.cancel();
    const withSizes = await applyRetentionToSource(adapter, settings, deps, { runId: 'run-2' });

    // Assess
    expect(withoutSizes).toMatchObject({ due: 3, deleted: 0, skipped: 3, dueButNotArchived: 1 });
    expect(probeFailing).toMatchObject({ due: 3, deleted: 0, skipped: 3, failed: 0 });
    const failingTrail = await readFile(join(root, 'archive', auditKey('run-0', clock.now())), 'utf8');
    expect(failingTrail).not.toContain('"deleting"');
    expect(failingTrail).toContain('"source-size-unknown"');
    expect(withSizes).toMatchObject({ due: 3, deleted: 2, skipped: 1, dueButNotArchived: 1 });
    expect(harness.sandbox.deletedRecordingIds().sort()).toEqual(
      toArchive.map((recording) => recording.recordingId).sort(),
    );
    expect(enqueued.map((job) => job.type === 'recording' && job.recording.recordingId)).toEqual([
      calls[2]?.recording?.id,
      calls[2]?.recording?.id,
      calls[2]?.recording?.id,
    ]);
    const trail = await readFile(join(root, 'archive', auditKey('run-2', clock.now())), 'utf8');
    const entries = trail
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const deleted = entries.filter((entry) => entry.decision === 'deleted');
    // Each id on its own: its intent is audited right before its outcome.
    for (const entry of deleted) {
      const at = entries.indexOf(entry);
      expect(entries[at - 1]).toMatchObject({ decision: 'deleting', recordingId: entry.recordingId });
    }
    expect(harness.sandbox.counters.callLogDeletes).toBe(0);
    expect(deleted.map((entry) => [entry.size, entry.sourceSize])).toEqual(
      expect.arrayContaining([
        [50_000, 50_000],
        [60_000, 60_000],
      ]),
    );
    const sidecar = await store.readSidecar(recordingKey(toArchive[0]!));
    if (sidecar?.schemaVersion !== 2)
      throw new Error(`expected a version-2 sidecar, got ${sidecar?.schemaVersion}`);
    expect(sidecar.parties?.length).toBeGreaterThan(0);
    expect(sidecar.callResult).toBeTypeOf('string');
  });
});
