/**
 * Issue 16 item 7, pending markers: jobs a sweep enqueues per recording over a 6-hour "not ready" period,
 * with markers off (`pendingMarkerHours` 0) and on (the configured default), in simulated time.
 *
 * The platforms are the sandboxes, on the same simulated clock: a Teams tenant whose recordings are still
 * processing (content 404), and a RingCentral account whose recordings wait in the queue behind the Heavy
 * budget (no worker drains the queue during the period, as no budget slot reaches them). The sweep is the
 * real one (`sweepAllSources`, as the sweep function and the local host call it), every
 * `sweep.intervalSeconds` of simulated time, over the configured lookback. Two compositions:
 * - local: FsArchiveStore, the folder lease store under the state folder (`{stateDir}/pending-markers`),
 *   the local job queue (never started, so every job it accepts stays pending);
 * - aws: `createAwsRuntime` on moto: S3, SQS per provider, the DynamoDB shared-state table for the markers,
 *   credentials from Secrets Manager. Jobs are counted from the queues themselves afterwards.
 * Jobs per recording are counted where the sweep hands them to the queue (a delegating wrapper), and on
 * AWS checked against the messages SQS holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { SHARED_STATE_TABLE } from '../functions/adapters/dynamodb-shared-state';
import { FsArchiveStore } from '../functions/adapters/fs-archive-store';
import { FsLeaseStore } from '../functions/adapters/fs-lease-store';
import { LocalJobQueue } from '../functions/adapters/local-job-queue';
import { FsRunLedger } from '../functions/adapters/run-ledgers';
import { createAwsRuntime } from '../functions/composition/aws-runtime';
import { buildSourceRegistry, inlineCredentials } from '../functions/composition/sources';
import { type CallvaultConfig, parseConfig } from '../functions/config';
import type { ArchiveJob } from '../functions/core/jobs';
import { type Clock, type JobQueue, silentLog } from '../functions/core/ports';
import { InProcessRateGateStore, InProcessTokenStore } from '../functions/core/shared-state';
import { sweepAllSources } from '../functions/core/sweep-all-sources';
import { startRingCentralSandbox } from '../sandbox/providers/ringcentral-sandbox';
import { startTeamsSandbox } from '../sandbox/providers/teams-recordings-sandbox';
import { startMoto, TEST_CREDENTIALS, TEST_REGION } from '../test/support/moto';
import { onCleanup } from './lib/processes';

const HOUR = 3_600_000;

export interface DedupeBenchOptions {
  /** Length of the not-ready period, hours of simulated time. */
  hours: number;
  teamsRecordings: number;
  ringCentralRecordings: number;
}

export interface DedupeRun {
  composition: 'local' | 'aws';
  markers: 'off' | 'on';
  pendingMarkerHours: number;
  sweeps: number;
  recordings: number;
  /** Jobs handed to the queue for each recording over the period: min, max, mean. */
  jobsPerRecording: { min: number; max: number; mean: number };
  byProvider: Record<string, { recordings: number; jobsPerRecording: number }>;
  totalJobs: number;
  /** Sum of `alreadyQueued` over every sweep: recordings the markers kept from being queued again. */
  alreadyQueued: number;
  /** Failed source sweeps (must be 0 for the figures to count). */
  failedSweeps: number;
  /** aws: messages the SQS queues held afterwards (must equal totalJobs); local: jobs the local queue accepted. */
  heldByQueue: number;
  wallSeconds: number;
}

export interface DedupeBenchSummary {
  hours: number;
  intervalSeconds: number;
  lookbackHours: number;
  pendingMarkerHours: number;
  runs: DedupeRun[];
}

/** A clock the bench moves: the sweeps, the adapters and the sandboxes all read it. */
class SimulatedClock implements Clock {
  constructor(private ms: number) {}
  now(): Date {
    return new Date(this.ms);
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

/** Hands every job on to the real queue and counts, per recording, the jobs it was given. */
class CountedQueue implements JobQueue {
  readonly perRecording = new Map<string, number>();
  constructor(private readonly inner: JobQueue) {}
  async enqueue(jobs: ArchiveJob[]): Promise<void> {
    await this.inner.enqueue(jobs);
    for (const job of jobs) {
      if (job.type !== 'recording') continue;
      const { provider, sourceId, recordingId } = job.recording;
      const id = `${provider}/${sourceId}/${recordingId}`;
      this.perRecording.set(id, (this.perRecording.get(id) ?? 0) + 1);
    }
  }
}

export async function measureDedupe(
  options: DedupeBenchOptions,
  log: (line: string) => void,
): Promise<DedupeBenchSummary> {
  const defaults = parseConfig({ sources: [] }).sweep;
  const intervalMs = defaults.intervalSeconds * 1000;
  // Every simulated period lies in the past, one after another, so the sandboxes never see a future
  // instant and each run starts where no earlier run's markers or gate slots reach.
  const periods = 4;
  const start = Math.floor((Date.now() - (periods * options.hours + 2) * HOUR) / 60_000) * 60_000;
  const clock = new SimulatedClock(start);
  const teams = await startTeamsSandbox({ host: '127.0.0.1', contentHost: 'localhost', clock });
  const ringCentral = await startRingCentralSandbox({ clock });
  const moto = await startMoto();
  const root = await mkdtemp(join(tmpdir(), 'callvault-bench-dedupe-'));
  const remove = onCleanup('dedupe bench', async () => {
    await teams.close();
    await ringCentral.close();
    await moto.stop();
    await rm(root, { recursive: true, force: true });
  });
  try {
    // Recordings made in the hour before the first period: inside every sweep's lookback throughout.
    const user = teams.addUser({ userPrincipalName: 'waiting@contoso.example' });
    for (let i = 0; i < options.teamsRecordings; i++) {
      teams.addRecording({
        organizerId: user.id,
        createdAt: new Date(start - HOUR + i * 60_000),
        durationSeconds: 1800,
        ready: false,
      });
    }
    ringCentral.generateCalls({
      count: options.ringCentralRecordings,
      from: new Date(start - 2 * HOUR),
      to: new Date(start - HOUR),
    });
    const sourceSpecs = [
      {
        provider: 'msteams',
        id: 'bench-teams',
        tenantId: teams.tenantId,
        clientId: teams.clientId,
        clientSecret: teams.clientSecret,
        webhookSecret: 'bench-teams-client-state-0123456789',
        loginUrl: teams.url,
        graphUrl: teams.url,
        users: [user.userPrincipalName],
        allowedDownloadHosts: [new URL(teams.contentUrl).host],
        mediaPersistenceApproved: true,
      },
      {
        provider: 'ringcentral',
        id: 'bench-rc',
        serverUrl: ringCentral.url,
        mediaUrl: ringCentral.mediaUrl,
        clientId: ringCentral.clientId,
        clientSecret: ringCentral.clientSecret,
        jwt: ringCentral.jwt,
        webhookSecret: 'bench-ringcentral-verification-token',
      },
    ];
    const configFor = (pendingMarkerHours: number, dir: string) =>
      parseConfig({
        sources: sourceSpecs,
        local: { port: 0, archiveDir: join(dir, 'archive'), stateDir: join(dir, 'state') },
        sweep: { pendingMarkerHours: pendingMarkerHours > 0 ? pendingMarkerHours : 0 },
      });

    const runs: DedupeRun[] = [];
    let period = 0;
    for (const composition of ['local', 'aws'] as const) {
      for (const markers of ['off', 'on'] as const) {
        const pendingMarkerHours = markers === 'on' ? defaults.pendingMarkerHours : 0;
        const periodStart = start + period * options.hours * HOUR;
        period += 1;
        clock.set(periodStart);
        const dir = join(root, `${composition}-${markers}`);
        const config = configFor(pendingMarkerHours, dir);
        const started = performance.now();
        const run =
          composition === 'local'
            ? await runLocal(config, clock, periodStart, options.hours, intervalMs)
            : await runAws(config, clock, periodStart, options.hours, intervalMs, moto, ringCentral, teams);
        const wallSeconds = Math.round((performance.now() - started) / 100) / 10;
        const counts = [...run.queue.perRecording.values()];
        const byProvider: DedupeRun['byProvider'] = {};
        for (const provider of ['msteams', 'ringcentral']) {
          const entries = [...run.queue.perRecording.entries()].filter(([stem]) =>
            stem.startsWith(`${provider}/`),
          );
          const jobs = entries.reduce((sum, [, count]) => sum + count, 0);
          byProvider[provider] = {
            recordings: entries.length,
            jobsPerRecording: entries.length ? Math.round((jobs / entries.length) * 100) / 100 : 0,
          };
        }
        const totalJobs = counts.reduce((sum, count) => sum + count, 0);
        const result: DedupeRun = {
          composition,
          markers,
          pendingMarkerHours,
          sweeps: run.sweeps,
          recordings: counts.length,
          jobsPerRecording: {
            min: Math.min(...counts),
            max: Math.max(...counts),
            mean: Math.round((totalJobs / Math.max(1, counts.length)) * 100) / 100,
          },
          byProvider,
          totalJobs,
          alreadyQueued: run.alreadyQueued,
          failedSweeps: run.failedSweeps,
          heldByQueue: run.heldByQueue,
          wallSeconds,
        };
        runs.push(result);
        log(
          `dedupe: ${composition}, markers ${markers}: ${result.sweeps} sweeps, ${result.recordings} recordings, ${result.jobsPerRecording.min}–${result.jobsPerRecording.max} jobs per recording (${totalJobs} in all, ${result.heldByQueue} held by the queue), ${result.alreadyQueued} skipped as already queued, ${result.failedSweeps} failed sweeps, ${wallSeconds} s`,
        );
      }
    }
    return {
      hours: options.hours,
      intervalSeconds: defaults.intervalSeconds,
      lookbackHours: defaults.lookbackHours,
      pendingMarkerHours: defaults.pendingMarkerHours,
      runs,
    };
  } finally {
    await remove();
  }
}

interface PeriodOutcome {
  queue: CountedQueue;
  sweeps: number;
  alreadyQueued: number;
  failedSweeps: number;
  heldByQueue: number;
}

/** Sweeps every interval from `periodStart` for `hours`, as the schedule would. */
async function sweepPeriod(
  deps: Omit<Parameters<typeof sweepAllSources>[1], 'queue' | 'clock'>,
  queue: CountedQueue,
  clock: SimulatedClock,
  lookbackHours: number,
  periodStart: number,
  hours: number,
  intervalMs: number,
): Promise<Omit<PeriodOutcome, 'heldByQueue'>> {
  let sweeps = 0;
  let alreadyQueued = 0;
  let failedSweeps = 0;
  for (let at = periodStart; at < periodStart + hours * HOUR; at += intervalMs) {
    clock.set(at);
    const outcome = await sweepAllSources(lookbackHours, { ...deps, queue, clock });
    sweeps += 1;
    failedSweeps += outcome.failed.length;
    alreadyQueued += outcome.results.reduce((sum, result) => sum + result.alreadyQueued, 0);
  }
  return { queue, sweeps, alreadyQueued, failedSweeps };
}

async function runLocal(
  config: CallvaultConfig,
  clock: SimulatedClock,
  periodStart: number,
  hours: number,
  intervalMs: number,
): Promise<PeriodOutcome> {
  const local = new LocalJobQueue({
    concurrency: 1,
    maxReceiveCount: config.worker.maxReceiveCount,
    deadLetterDir: join(config.local.stateDir, 'dead-letters'),
    // Never started: the period is one in which no job reaches the front (a budget, a recording processing).
    handleJob: async () => {
      throw new Error('no job runs during the not-ready period');
    },
  });
  const queue = new CountedQueue(local);
  const outcome = await sweepPeriod(
    {
      // A fresh in-process session and gate per run, as a new local process would have.
      sources: buildSourceRegistry(config, inlineCredentials, {
        clock,
        log: silentLog,
        sharedState: { tokens: new InProcessTokenStore(), gates: new InProcessRateGateStore() },
      }),
      store: new FsArchiveStore({ root: config.local.archiveDir, log: silentLog }),
      ledger: new FsRunLedger({ root: join(config.local.stateDir, 'runs') }),
      log: silentLog,
      // As the local host composes it (functions/local/local-host.ts).
      pending: {
        leases: new FsLeaseStore({ dir: join(config.local.stateDir, 'pending-markers') }),
        holdMs: config.sweep.pendingMarkerHours * HOUR,
      },
    },
    queue,
    clock,
    config.sweep.lookbackHours,
    periodStart,
    hours,
    intervalMs,
  );
  return { ...outcome, heldByQueue: local.stats().pending };
}

async function runAws(
  config: CallvaultConfig,
  clock: SimulatedClock,
  periodStart: number,
  hours: number,
  intervalMs: number,
  moto: Awaited<ReturnType<typeof startMoto>>,
  ringCentral: Awaited<ReturnType<typeof startRingCentralSandbox>>,
  teams: Awaited<ReturnType<typeof startTeamsSandbox>>,
): Promise<PeriodOutcome> {
  await moto.reset();
  const bucket = 'callvault-bench-dedupe';
  const table = 'callvault-bench-shared-state';
  const clients = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
  const dynamodb = new DynamoDBClient(clients);
  const secrets = new SecretsManagerClient(clients);
  try {
    await moto.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    const queueUrls: Record<string, string> = {};
    for (const provider of ['msteams', 'ringcentral']) {
      const created = await moto.sqs.send(new CreateQueueCommand({ QueueName: `callvault-${provider}` }));
      queueUrls[provider] = created.QueueUrl ?? '';
    }
    const secretArn = async (name: string, value: Record<string, string>) =>
      (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify(value) })))
        .ARN ?? '';
    const sourceSecrets = {
      'bench-teams': await secretArn('callvault/bench/teams', {
        clientId: teams.clientId,
        clientSecret: teams.clientSecret,
        webhookSecret: 'bench-teams-client-state-0123456789',
      }),
      'bench-rc': await secretArn('callvault/bench/rc', {
        clientId: ringCentral.clientId,
        clientSecret: ringCentral.clientSecret,
        jwt: ringCentral.jwt,
        webhookSecret: 'bench-ringcentral-verification-token',
      }),
    };
    const runtime = createAwsRuntime(
      {
        config,
        bucket,
        queueUrls,
        deadLetterQueueUrls: {},
        sourceSecrets,
        sharedStateTable: table,
      },
      { s3: moto.s3, sqs: moto.sqs, secrets, dynamodb },
      { clock },
    );
    const queue = new CountedQueue(runtime.queue);
    // As the sweep function composes it (functions/sweep.ts).
    const outcome = await sweepPeriod(
      {
        sources: runtime.sources,
        store: runtime.store,
        ledger: runtime.ledger,
        log: silentLog,
        pending: runtime.pending,
      },
      queue,
      clock,
      config.sweep.lookbackHours,
      periodStart,
      hours,
      intervalMs,
    );
    if (config.sweep.pendingMarkerHours > 0 && !runtime.pending) {
      throw new Error('dedupe bench: the AWS runtime has no pending markers although the table is set');
    }
    let held = 0;
    for (const url of Object.values(queueUrls)) held += await drainCount(moto, url);
    return { ...outcome, heldByQueue: held };
  } finally {
    dynamodb.destroy();
    secrets.destroy();
  }
}

/** Receives and deletes every message of a queue; returns how many there were. */
async function drainCount(moto: Awaited<ReturnType<typeof startMoto>>, url: string): Promise<number> {
  let count = 0;
  for (let empty = 0; empty < 2; ) {
    const { Messages = [] } = await moto.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (Messages.length === 0) {
      empty += 1;
      continue;
    }
    empty = 0;
    count += Messages.length;
    await moto.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: Messages.map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? '',
        })),
      }),
    );
  }
  return count;
}
