import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../functions/adapters/fs-archive-store';
import { FsLeaseStore } from '../../../functions/adapters/fs-lease-store';
import type { ArchiveJob, RecordingJob } from '../../../functions/core/jobs';
import type { PendingJobsSettings, PendingLeaseStore } from '../../../functions/core/pending-jobs';
import { type JobQueue, type RecordingSource, silentLog } from '../../../functions/core/ports';
import type { SourceRecording, TimeWindow } from '../../../functions/core/recording';
import { InProcessTokenStore } from '../../../functions/core/shared-state';
import { lookbackWindow, sweepSource } from '../../../functions/core/sweep-source';

const HOUR = 3_600_000;
const SWEEP_EVERY_MS = 5 * 60_000;
// A fixed instant: the sweep's window and the markers' expiry are computed from it, never from today.
const START = new Date('2026-02-28T21:00:00Z');

/** One Teams recording still processing: listed by every sweep, never archived during the test. */
function waitingSource(): RecordingSource {
  const recording: SourceRecording = {
    provider: 'msteams',
    sourceId: 'tenant',
    recordingId: 'rec-1',
    startedAt: new Date(START.getTime() - HOUR),
    direction: 'internal',
    fileExtension: 'mp4',
    raw: {},
  };
  return {
    provider: 'msteams',
    sourceId: 'tenant',
    async *listRecordings(window: TimeWindow) {
      if (recording.startedAt >= window.from && recording.startedAt < window.to) yield recording;
    },
    resolveHint: async () => [],
    openDownload: async () => {
      throw new Error('not used by a sweep');
    },
    deleteRecording: async () => 'already-gone',
    handleWebhook: async () => {
      throw new Error('not used by a sweep');
    },
  };
}

class CountingQueue implements JobQueue {
  readonly jobs: ArchiveJob[] = [];
  failNext = false;
  async enqueue(batch: ArchiveJob[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('queue unavailable');
    }
    this.jobs.push(...batch);
  }
}

let dir: string;
let store: FsArchiveStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'callvault-pending-'));
  store = new FsArchiveStore({ root: join(dir, 'archive'), log: silentLog });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Sweeps every five minutes for `hours`; returns how many jobs were queued for the recording. */
async function sweepFor(hours: number, queue: CountingQueue, pending?: PendingJobsSettings): Promise<number> {
  const source = waitingSource();
  for (let at = START.getTime(); at < START.getTime() + hours * HOUR; at += SWEEP_EVERY_MS) {
    const now = new Date(at);
    await sweepSource(source, lookbackWindow(now, 48), { store, queue, log: silentLog, pending }, undefined, {
      now,
    });
  }
  return queue.jobs.filter((job) => (job as RecordingJob).recording?.recordingId === 'rec-1').length;
}

describe('pending markers: a recording a sweep queued is not queued again while it waits', () => {
  it('without markers, every sweep queues it again: 72 jobs over six hours of "not ready"', async () => {
    expect(await sweepFor(6, new CountingQueue())).toBe(72);
  });

  it('with a 6-hour marker, one job over six hours, and one more once the marker has expired', async () => {
    const leases = new InProcessTokenStore();
    expect(await sweepFor(6, new CountingQueue(), { leases, holdMs: 6 * HOUR })).toBe(1);
    // Twelve hours: the marker taken at the start expired after six, so a lost job is queued again.
    expect(
      await sweepFor(12, new CountingQueue(), { leases: new InProcessTokenStore(), holdMs: 6 * HOUR }),
    ).toBe(2);
  });

  it('markers in a local state folder hold across processes (a new store object on the same folder)', async () => {
    const folder = join(dir, 'state', 'pending-markers');
    const queue = new CountingQueue();
    const source = waitingSource();
    for (let sweep = 0; sweep < 3; sweep += 1) {
      const now = new Date(START.getTime() + sweep * SWEEP_EVERY_MS);
      const pending = { leases: new FsLeaseStore({ dir: folder }), holdMs: 6 * HOUR };
      await sweepSource(
        source,
        lookbackWindow(now, 48),
        { store, queue, log: silentLog, pending },
        undefined,
        {
          now,
        },
      );
    }
    expect(queue.jobs).toHaveLength(1);
    expect(await readdir(folder)).toHaveLength(1);
  });

  it('counts what it left out in the sweep result', async () => {
    const pending = { leases: new InProcessTokenStore(), holdMs: HOUR };
    const deps = { store, queue: new CountingQueue(), log: silentLog, pending };
    const window = lookbackWindow(START, 48);
    const first = await sweepSource(waitingSource(), window, deps, undefined, { now: START });
    const second = await sweepSource(waitingSource(), window, deps, undefined, { now: START });
    expect(first).toMatchObject({ listed: 1, enqueued: 1, alreadyQueued: 0 });
    expect(second).toMatchObject({ listed: 1, enqueued: 0, alreadyQueued: 1 });
  });

  it('gives the marker back when the job could not be queued, so the next sweep queues it at once', async () => {
    const queue = new CountingQueue();
    const deps = {
      store,
      queue,
      log: silentLog,
      pending: { leases: new InProcessTokenStore(), holdMs: 6 * HOUR },
    };
    const window = lookbackWindow(START, 48);
    queue.failNext = true;
    await expect(sweepSource(waitingSource(), window, deps, undefined, { now: START })).rejects.toThrow(
      'queue unavailable',
    );
    await sweepSource(waitingSource(), window, deps, undefined, { now: START });
    expect(queue.jobs).toHaveLength(1);
  });

  it('queues anyway when the marker store cannot answer (a duplicate is harmless, a skip is not)', async () => {
    const broken: PendingLeaseStore = {
      tryLease: async () => {
        throw new Error('table unavailable');
      },
      releaseLease: async () => {},
    };
    expect(await sweepFor(0.25, new CountingQueue(), { leases: broken, holdMs: 6 * HOUR })).toBe(3);
  });

  it('holdMs 0 turns markers off', async () => {
    expect(await sweepFor(0.25, new CountingQueue(), { leases: new InProcessTokenStore(), holdMs: 0 })).toBe(
      3,
    );
  });
});

describe('FsLeaseStore', () => {
  it('takes, refuses, lets the holder renew, expires and releases', async () => {
    const leases = new FsLeaseStore({ dir: join(dir, 'leases') });
    const t = START.getTime();
    expect(await leases.tryLease('recordings/a/b', 'one', 1_000, t)).toBe(true);
    expect(await leases.tryLease('recordings/a/b', 'two', 1_000, t + 999)).toBe(false);
    expect(await leases.tryLease('recordings/a/b', 'one', 1_000, t + 500)).toBe(true);
    expect(await leases.tryLease('recordings/a/b', 'two', 1_000, t + 1_500)).toBe(true);
    await leases.releaseLease('recordings/a/b', 'one');
    expect(await leases.tryLease('recordings/a/b', 'three', 1_000, t + 1_600)).toBe(false);
    await leases.releaseLease('recordings/a/b', 'two');
    expect(await leases.tryLease('recordings/a/b', 'three', 1_000, t + 1_600)).toBe(true);
  });

  it('reads a lease file cut short by a crash as expired', async () => {
    const folder = join(dir, 'leases');
    const leases = new FsLeaseStore({ dir: folder });
    expect(await leases.tryLease('k', 'one', 60_000, START.getTime())).toBe(true);
    const [file] = await readdir(folder);
    await writeFile(join(folder, file as string), '{"holder":"on');
    expect(await leases.tryLease('k', 'two', 60_000, START.getTime())).toBe(true);
  });

  it('lets exactly one of many concurrent takers have a free lease', async () => {
    const leases = new FsLeaseStore({ dir: join(dir, 'leases') });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => leases.tryLease('k', `holder-${i}`, 60_000, START.getTime())),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
