/**
 * Large Teams tenants (`users: "all"`): the sweep lists users with bounded concurrency, combining Graph
 * reads in `$batch` requests; a 429 inside a batch waits its own Retry-After while the other reads go on;
 * a refused user stays that user's failure. Against the Teams sandbox's generated tenant, with the
 * sandbox's clock pinned so the tenant's recordings are the same in any zone and at any date.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsArchiveStore } from '../../../../functions/adapters/fs-archive-store';
import type { ArchiveJob } from '../../../../functions/core/jobs';
import { silentLog } from '../../../../functions/core/ports';
import { sweepSource } from '../../../../functions/core/sweep-source';
import type { TeamsRecordingsSourceOptions } from '../../../../functions/providers/teams-recordings/teams-recordings-source';
import { capturingQueue, startHarness, type TeamsHarness } from './teams-recordings-fixture';

const NOW = new Date('2024-03-13T06:00:00Z');
const clock = { now: () => NOW };
/** The sweep's default lookback (48 h). */
const WINDOW = { from: new Date(NOW.getTime() - 48 * 3_600_000), to: NOW };

function recordingIds(jobs: readonly ArchiveJob[]): string[] {
  return jobs.flatMap((job) => (job.type === 'recording' ? [job.recording.recordingId] : []));
}

describe('Teams tenants of many users (users: "all")', () => {
  let harness: TeamsHarness | undefined;
  let root: string | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  async function tenant(options: {
    users: number;
    recordingsPerDay: number;
    config?: Record<string, unknown>;
    listLatencyMs?: number;
    tuning?: TeamsRecordingsSourceOptions['tuning'];
  }) {
    harness = await startHarness({
      sandbox: { clock, pageSize: 10, usersPageSize: 999, listLatencyMs: options.listLatencyMs ?? 5 },
      config: { users: 'all', ...options.config },
      clock,
      tuning: options.tuning,
    });
    harness.sandbox.generateTenant({ users: options.users, recordingsPerDay: options.recordingsPerDay });
    root = await mkdtemp(join(tmpdir(), 'callvault-teams-tenant-'));
    const store = new FsArchiveStore({ root: join(root, 'archive') });
    const queue = capturingQueue();
    const sweep = () => sweepSource(harness!.source, WINDOW, { store, queue, log: silentLog });
    return { harness, queue, sweep };
  }

  it('sweeps a 1,000-user tenant in $batch requests of 20, never more Graph requests in flight than configured, and finds every recording', async () => {
    // Prepare: 1,000 generated users (plus alice and bob) with 5,000 recordings a day.
    const {
      harness: h,
      queue,
      sweep,
    } = await tenant({
      users: 1000,
      recordingsPerDay: 5000,
      config: { listingConcurrency: 4 },
    });
    const expected = [...h.sandbox.generatedRecordings(WINDOW)].map((recording) => recording.id);
    h.sandbox.resetPeaks();

    // Act
    const result = await sweep();

    // Assess: every recording of the window, once.
    expect(expected.length).toBeGreaterThan(9000);
    expect(recordingIds(queue.jobs).sort()).toEqual([...expected].sort());
    expect(result.notCovered).toEqual([]);
    expect(result.scopes).toBe(1002 * 2);
    // Bounded: at most 4 Graph requests at once (the sandbox counts them), and really concurrent.
    const { counters } = h.sandbox;
    expect(counters.maxInFlight).toBeLessThanOrEqual(4);
    expect(counters.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(counters.maxListsInFlight).toBeLessThanOrEqual(4 * 20);
    // Batched: 2,004 listings (one page each at this size) in about 2,004 / 20 batches.
    expect(counters.listRequests).toBeGreaterThanOrEqual(2004);
    expect(counters.batchedRequests).toBeGreaterThan(0.95 * counters.listRequests);
    expect(counters.batchRequests).toBeLessThan(counters.listRequests / 15);
    expect(counters.graphRequests).toBeLessThan(200);
  }, 20_000);

  it('keeps plain GETs bounded too when batching is off (listingBatchSize 1)', async () => {
    // Prepare
    const {
      harness: h,
      queue,
      sweep,
    } = await tenant({
      users: 60,
      recordingsPerDay: 300,
      listLatencyMs: 15,
      config: { listingConcurrency: 3, listingBatchSize: 1 },
    });
    const expected = [...h.sandbox.generatedRecordings(WINDOW)].map((recording) => recording.id);
    h.sandbox.resetPeaks();

    // Act
    await sweep();

    // Assess
    expect(recordingIds(queue.jobs).sort()).toEqual([...expected].sort());
    expect(h.sandbox.counters.batchRequests).toBe(0);
    expect(h.sandbox.counters.maxInFlight).toBe(3);
    expect(h.sandbox.counters.maxListsInFlight).toBe(3);
  });

  it('waits out a 429 inside a batch for its own Retry-After while the other reads of the batch go on', async () => {
    // Prepare: the first listing read Graph answers is throttled for 1 s, inside its batch.
    const { harness: h, queue, sweep } = await tenant({ users: 100, recordingsPerDay: 400 });
    const expected = [...h.sandbox.generatedRecordings(WINDOW)].map((recording) => recording.id);
    const throttle = h.sandbox.injectFault(
      { kind: 'throttle', retryAfterSeconds: 1 },
      { routes: 'list', times: 1 },
    );

    // Act
    const result = await sweep();

    // Assess: every recording found, nothing failed.
    expect(throttle.hits).toBe(1);
    expect(result.notCovered).toEqual([]);
    expect(recordingIds(queue.jobs).sort()).toEqual([...expected].sort());
    const log = h.sandbox.requestLog;
    const refused = log.find((entry) => entry.route === 'list' && entry.status === 429);
    expect(refused?.inBatch).toBe(true);
    const again = log.filter(
      (entry) => entry.route === 'list' && entry.path === refused?.path && entry.status === 200,
    );
    expect(again).toHaveLength(1);
    const refusedAt = refused?.atMs ?? 0;
    const againAt = again[0]?.atMs ?? 0;
    // Sent again only after the Retry-After …
    expect(againAt - refusedAt).toBeGreaterThanOrEqual(1000);
    // … and meanwhile the other reads went on: most of the tenant was listed before it.
    const listedMeanwhile = log.filter(
      (entry) => entry.route === 'list' && entry.status === 200 && (entry.atMs ?? 0) < againAt,
    );
    expect(listedMeanwhile.length).toBeGreaterThan(150);
    expect(h.source.graph.stats.throttled).toBe(1);
  });

  it('keeps a refused user (403 inside a batch) that user’s failure, skips a user without Teams (404), and sweeps everyone else', async () => {
    // Prepare
    const { harness: h, queue, sweep } = await tenant({ users: 100, recordingsPerDay: 400 });
    const refused = h.sandbox.generatedUserId(7);
    const withoutTeams = h.sandbox.generatedUserId(9);
    h.sandbox.setPolicyGranted(refused, false);
    h.sandbox.setNoTeamsAccount(withoutTeams, true);
    const expected = [...h.sandbox.generatedRecordings(WINDOW)]
      .filter((recording) => recording.organizerId !== refused && recording.organizerId !== withoutTeams)
      .map((recording) => recording.id);

    // Act
    const result = await sweep();

    // Assess
    expect(recordingIds(queue.jobs).sort()).toEqual([...expected].sort());
    expect(result.notCovered.map((failure) => failure.scope).sort()).toEqual(
      [`${refused}/adhocCalls`, `${refused}/onlineMeetings`].sort(),
    );
    expect(result.notCovered.every((failure) => failure.code === 'PERMANENT')).toBe(true);
    expect(result.notCovered[0]?.reason).toMatch(/application access policy/);
    const refusals = h.sandbox.requestLog.filter((entry) => entry.status === 403);
    expect(refusals.length).toBe(2);
    expect(refusals.every((entry) => entry.inBatch)).toBe(true);
  });

  it('stops the sweep as rate-limited when a read inside a batch is asked to wait longer than it waits in process', async () => {
    // Prepare: Graph asks one read to come back in 2 minutes; the source waits at most 30 s in process.
    const { harness: h, sweep } = await tenant({ users: 40, recordingsPerDay: 100 });
    h.sandbox.injectFault({ kind: 'throttle', retryAfterSeconds: 120 }, { routes: 'list', times: 1 });

    // Act
    const sweeping = sweep();

    // Assess: the rate limit is the source's (as for a plain GET), handed to the caller with its wait.
    await expect(sweeping).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 120 });
  });
});
