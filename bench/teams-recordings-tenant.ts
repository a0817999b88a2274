/**
 * Teams tenants of 100 → 1,000 → 10,000 users (`users: "all"`), 5 recordings a day per user (50,000 a day
 * at 10,000): one full sweep (sweepSource over the default 48 h lookback, empty folder archive, a sink
 * that counts the jobs) against the Teams sandbox's generated tenant, each listing read taking
 * `LIST_LATENCY_MS` of Graph's time and a few reads throttled inside their batch (Retry-After 1 s).
 * Reports Graph HTTP requests, the reads they carried, and the time per sweep, with the source's
 * defaults (8 requests in flight, `$batch` of 20); at 100 users also one after another with plain GETs
 * (the listing before batching). The sandbox runs in this process, so its work counts in the time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsArchiveStore } from '../functions/adapters/fs-archive-store';
import { parseConfig } from '../functions/config';
import { silentLog } from '../functions/core/ports';
import { InProcessTokenStore } from '../functions/core/shared-state';
import { sweepSource } from '../functions/core/sweep-source';
import { teamsRecordingsSourceSchema } from '../functions/providers/teams-recordings/teams-recordings-config';
import { TeamsRecordingsSource } from '../functions/providers/teams-recordings/teams-recordings-source';
import { startTeamsSandbox } from '../sandbox/providers/teams-recordings-sandbox';

export const LIST_LATENCY_MS = 150;
const RECORDINGS_PER_USER_PER_DAY = 5;
const LOOKBACK_HOURS = 48;

export interface TenantSweepRow {
  users: number;
  recordingsPerDay: number;
  mode: 'batched' | 'one after another';
  listed: number;
  expected: number;
  graphRequests: number;
  batchRequests: number;
  reads: number;
  throttledReads: number;
  maxInFlight: number;
  seconds: number;
  peakRssMiB: number;
}

export interface TenantBenchSummary {
  listLatencyMs: number;
  lookbackHours: number;
  intervalSeconds: number;
  rows: TenantSweepRow[];
}

async function sweepOnce(users: number, batched: boolean): Promise<TenantSweepRow> {
  const now = new Date();
  const clock = { now: () => now };
  const sandbox = await startTeamsSandbox({
    clock,
    pageSize: 100,
    usersPageSize: 999,
    listLatencyMs: LIST_LATENCY_MS,
  });
  const root = await mkdtemp(join(tmpdir(), 'callvault-bench-tenant-'));
  try {
    const recordingsPerDay = users * RECORDINGS_PER_USER_PER_DAY;
    sandbox.generateTenant({ users, recordingsPerDay });
    const window = { from: new Date(now.getTime() - LOOKBACK_HOURS * 3_600_000), to: now };
    let expected = 0;
    for (const _ of sandbox.generatedRecordings(window)) expected += 1;
    const config = teamsRecordingsSourceSchema.parse({
      provider: 'msteams',
      id: 'bench-tenant',
      tenantId: sandbox.tenantId,
      loginUrl: sandbox.url,
      graphUrl: sandbox.url,
      users: 'all',
      mediaPersistenceApproved: true,
      ...(batched ? {} : { listingConcurrency: 1, listingBatchSize: 1 }),
    });
    const source = new TeamsRecordingsSource({
      config,
      credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
      tokenStore: new InProcessTokenStore(),
      clock,
    });
    // A few reads throttled inside their batch, as Graph does under load.
    sandbox.injectFault(
      { kind: 'throttle', retryAfterSeconds: 1 },
      { routes: 'list', times: Math.ceil(users / 500) },
    );
    let jobs = 0;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const started = performance.now();
    const result = await sweepSource(source, window, {
      store: new FsArchiveStore({ root: join(root, 'archive') }),
      queue: {
        async enqueue(batch) {
          jobs += batch.length;
        },
      },
      log: silentLog,
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (jobs !== result.enqueued) throw new Error('sink and sweep disagree');
    return {
      users,
      recordingsPerDay,
      mode: batched ? 'batched' : 'one after another',
      listed: result.listed,
      expected,
      graphRequests: sandbox.counters.graphRequests,
      batchRequests: sandbox.counters.batchRequests,
      reads: sandbox.counters.listRequests + sandbox.counters.userRequests,
      throttledReads: sandbox.counters.throttled,
      maxInFlight: sandbox.counters.maxInFlight,
      seconds: Math.round(seconds * 10) / 10,
      peakRssMiB: Math.round(peakRss / 1024 ** 2),
    };
  } finally {
    await sandbox.close();
    await rm(root, { recursive: true, force: true });
  }
}

export async function measureTeamsRecordingsTenant(
  sizes: readonly number[],
  log: (line: string) => void,
): Promise<TenantBenchSummary> {
  const intervalSeconds = parseConfig({ sources: [] }).sweep.intervalSeconds;
  const rows: TenantSweepRow[] = [];
  const before = await sweepOnce(sizes[0] ?? 100, false);
  log(
    `msteams-tenant: ${before.users} users one after another: ${before.graphRequests} requests, ${before.seconds} s`,
  );
  rows.push(before);
  for (const users of sizes) {
    const row = await sweepOnce(users, true);
    log(
      `msteams-tenant: ${users} users batched: ${row.listed}/${row.expected} listed, ${row.graphRequests} Graph requests (${row.reads} reads), ${row.seconds} s`,
    );
    rows.push(row);
  }
  return { listLatencyMs: LIST_LATENCY_MS, lookbackHours: LOOKBACK_HOURS, intervalSeconds, rows };
}
