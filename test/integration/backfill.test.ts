/**
 * `npm run backfill` against the Telphin sandbox (in this process) and a temporary archive folder: the
 * CLI runs as a child process, is killed halfway, and resumed; plus --dry-run and rate-limit waits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildSourceRegistry, inlineCredentials } from '../../functions/composition/sources';
import { parseConfig } from '../../functions/config';
import { parseJob, type RecordingJob } from '../../functions/core/jobs';
import { recordingKey } from '../../functions/core/keys';
import { silentLog } from '../../functions/core/ports';
import { runBackfill } from '../../functions/ops/backfill';
import { readCursor } from '../../functions/ops/backfill-cursor';
import type { BackfillProgress } from '../../functions/ops/backfill-progress';
import { createAwsBackfillTarget, createLocalBackfillTarget } from '../../functions/ops/backfill-targets';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
} from '../../sandbox/providers/telphin-sandbox';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import { createQueue, receiveAtLeast } from '../support/sqs-records';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const SOURCE_ID = 'hq';

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], configPath: string): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(TSX, ['scripts/backfill.ts', ...args], {
    cwd: REPO,
    env: { ...process.env, CALLVAULT_CONFIG: configPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<Finished>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

/** Recording keys (not sidecars, not our own folders) under the archive folder. */
async function archivedRecordingKeys(root: string): Promise<string[]> {
  const base = join(root, 'recordings');
  if (!existsSync(base)) return [];
  const entries = await readdir(base, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.json'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** Telphin reports call times in whole seconds. */
const keyOf = (recording: SandboxRecording) =>
  recordingKey({
    provider: 'telphin',
    sourceId: SOURCE_ID,
    recordingId: recording.recordUuid,
    startedAt: new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000),
    fileExtension: 'mp3',
  });

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/**
 * Polls until `condition` holds while `child` runs. No deadline of its own: on a loaded machine the CLI
 * takes as long as it takes (the test's timeout is the backstop); a child that exits first fails at once.
 */
async function whileRunning(
  child: ChildProcess,
  done: Promise<Finished>,
  condition: () => Promise<boolean>,
): Promise<void> {
  while (!(await condition())) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const finished = await done;
      throw new Error(
        `the CLI exited (code ${finished.code}) before the condition held:\n${finished.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const silentProgress = (): BackfillProgress & { waits: number[] } => {
  const waits: number[] = [];
  return {
    waits,
    start() {},
    skipped() {},
    handled() {},
    waiting: (seconds) => waits.push(seconds),
    dayDone() {},
    note() {},
    finish() {},
    handledSoFar: () => ({ count: 0, bytes: 0 }),
  };
};

describe('npm run backfill (local mode, Telphin sandbox)', () => {
  let sandbox: TelphinSandbox;
  let dir: string;
  let configPath: string;
  let archiveDir: string;
  let stateDir: string;
  const running: ChildProcess[] = [];

  const configObject = () => ({
    sources: [
      {
        provider: 'telphin',
        id: SOURCE_ID,
        apiUrl: sandbox.url,
        clientId: sandbox.clientId,
        clientSecret: sandbox.clientSecret,
        allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
      },
    ],
    local: { archiveDir, stateDir },
    worker: { concurrency: 2 },
  });

  beforeAll(async () => {
    sandbox = await startTelphinSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-backfill-'));
    archiveDir = join(dir, 'archive');
    stateDir = join(dir, 'state');
    configPath = join(dir, 'callvault.config.json');
    await writeFile(configPath, JSON.stringify(configObject()));
  });
  afterEach(async () => {
    // A CLI left running by a failed test must not keep writing into the next test's folders.
    for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    sandbox.clearFaults();
    await rm(dir, { recursive: true, force: true });
  });

  it('killed halfway, resumes: every recording archived once, intact, and only the missing ones downloaded again', async () => {
    // Prepare: 30 recordings over five days, downloads slowed so the run can be stopped in the middle.
    const recordings = sandbox.generateRecordings({
      count: 30,
      from: new Date('2024-03-01T02:00:00Z'),
      to: new Date('2024-03-05T22:00:00Z'),
      size: 256 * 1024,
    });
    const slow = sandbox.injectFault(
      { kind: 'slow-body', bytesPerSecond: 1024 * 1024 },
      { times: Number.POSITIVE_INFINITY },
    );
    const args = ['--source', SOURCE_ID, '--from', '2024-03-01', '--to', '2024-03-05'];

    // Act 1: start, and once a third of the recordings are in the archive, hold every download that
    // starts from then on (the platform goes silent) and SIGTERM: the run is stopped halfway however
    // slow or fast the machine is.
    const first = runCli(args, configPath);
    running.push(first.child);
    await whileRunning(
      first.child,
      first.done,
      async () => (await archivedRecordingKeys(archiveDir)).length >= 10,
    );
    slow.cancel();
    const silent = sandbox.injectFault({ kind: 'stall', afterBytes: 0 }, { times: Number.POSITIVE_INFINITY });
    first.child.kill('SIGTERM');
    const killed = await first.done;
    silent.cancel();
    const afterKill = await archivedRecordingKeys(archiveDir);
    const cursorPath = join(stateDir, 'backfill', `${SOURCE_ID}-2024-03-01-2024-03-05.json`);
    const cursorAfterKill = await readCursor(cursorPath);

    // Assess 1: stopped with a non-zero code, told how to resume, left a cursor short of the end.
    expect(killed.code, killed.stderr).toBe(143);
    expect(killed.stderr).toContain('resume with:');
    expect(killed.stderr).toContain('npm run backfill -- --source hq --from 2024-03-01 --to 2024-03-05');
    expect(afterKill.length).toBeGreaterThanOrEqual(10);
    expect(afterKill.length).toBeLessThan(30);
    expect(cursorAfterKill?.completedThrough).toBeDefined();
    expect((cursorAfterKill?.completedThrough ?? '9999') < '2024-03-05').toBe(true);

    // Act 2: rerun the same command at full speed.
    const downloadsBefore = sandbox.counters.storageDownloads;
    const second = await runCli(args, configPath).done;

    // Assess 2: complete, each recording once with the right bytes, only the missing ones fetched.
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming after ${cursorAfterKill?.completedThrough}`);
    const keys = await archivedRecordingKeys(archiveDir);
    expect(keys).toEqual(recordings.map(keyOf).sort());
    for (const recording of recordings) {
      const path = join(archiveDir, keyOf(recording));
      expect(await sha256Of(path)).toBe(sandbox.expectedSha256(recording.recordUuid));
      expect(existsSync(`${path}.json`)).toBe(true);
    }
    expect(sandbox.counters.storageDownloads - downloadsBefore).toBe(30 - afterKill.length);
    const cursor = await readCursor(cursorPath);
    expect(cursor?.completedThrough).toBe('2024-03-05');
    expect(cursor?.incompleteDays).toEqual([]);
    expect(cursor?.counters.listed).toBe(30);
    // Nothing left for the queue: the saved state was drained.
    expect(existsSync(join(stateDir, 'pending-jobs.json'))).toBe(false);

    // Act 3: a third run has nothing to do and downloads nothing.
    const downloads = sandbox.counters.storageDownloads;
    const third = await runCli(args, configPath).done;
    expect(third.code).toBe(0);
    expect(third.stderr).toContain('already done');
    expect(sandbox.counters.storageDownloads).toBe(downloads);
  }, 180_000);

  it('--dry-run prints the count and size the source reports, downloads nothing and writes no cursor', async () => {
    const recordings = sandbox.generateRecordings({
      count: 12,
      from: new Date('2024-04-10T03:00:00Z'),
      to: new Date('2024-05-03T20:00:00Z'),
      size: 300_000,
    });
    const bytes = recordings.reduce((sum, recording) => sum + recording.size, 0);
    const downloads = sandbox.counters.storageDownloads + sandbox.counters.fileDownloads;

    const result = await runCli(
      ['--source', SOURCE_ID, '--from', '2024-04-10', '--to', '2024-05-03', '--dry-run'],
      configPath,
    ).done;

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`(12 recordings, ${bytes} bytes)`);
    expect(result.stdout).toMatch(/2024-04 +\d+ recordings/);
    expect(result.stdout).toMatch(/2024-05 +\d+ recordings/);
    expect(result.stdout).toContain('ESTIMATES');
    expect(result.stdout).toMatch(/S3 Standard: \$\d/);
    expect(sandbox.counters.storageDownloads + sandbox.counters.fileDownloads).toBe(downloads);
    expect(existsSync(join(stateDir, 'backfill'))).toBe(false);
    expect(await archivedRecordingKeys(archiveDir)).toEqual([]);
  }, 60_000);

  it('waits out an hourly-quota 429 and carries on', async () => {
    const recordings = sandbox.generateRecordings({
      count: 6,
      from: new Date('2024-06-01T02:00:00Z'),
      to: new Date('2024-06-02T22:00:00Z'),
      size: 50_000,
    });
    const quota = sandbox.injectFault(
      { kind: 'hourly-quota', resetSeconds: 1 },
      { routes: ['list'], times: 1 },
    );
    const config = parseConfig(configObject());
    const target = await createLocalBackfillTarget(config, { log: silentLog });
    const progress = silentProgress();
    const started = Date.now();
    try {
      const result = await runBackfill({
        source: await target.sources.get('telphin', SOURCE_ID),
        target,
        from: new Date('2024-06-01T00:00:00Z'),
        to: new Date('2024-06-02T00:00:00Z'),
        stateDir,
        maxWaitSeconds: 60,
        progress,
        log: silentLog,
        signal: new AbortController().signal,
      });

      expect(quota.hits).toBe(1);
      expect(progress.waits).toEqual([2]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
      expect(result.status).toBe('complete');
      expect(result.run.handled).toBe(6);
      expect(await archivedRecordingKeys(archiveDir)).toEqual(recordings.map(keyOf).sort());
    } finally {
      await target.close();
    }
  }, 60_000);

  it('gives up with a clear message when the quota resets later than --max-wait', async () => {
    sandbox.generateRecordings({
      count: 2,
      from: new Date('2024-07-01T02:00:00Z'),
      to: new Date('2024-07-01T22:00:00Z'),
      size: 50_000,
    });
    sandbox.injectFault(
      { kind: 'hourly-quota', resetSeconds: 1800 },
      { routes: ['list', 'stats'], times: 5 },
    );

    const result = await runCli(
      ['--source', SOURCE_ID, '--from', '2024-07-01', '--to', '2024-07-01', '--max-wait', '10s'],
      configPath,
    ).done;

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('rate limited for 30m01s, longer than --max-wait 10s');
  }, 60_000);

  it('names the problem for an unknown source and bad dates', async () => {
    const unknown = await runCli(
      ['--source', 'nope', '--from', '2024-03-01', '--to', '2024-03-02'],
      configPath,
    ).done;
    const badDate = await runCli(
      ['--source', SOURCE_ID, '--from', '2024-02-30', '--to', '2024-03-02'],
      configPath,
    ).done;
    const reversed = await runCli(
      ['--source', SOURCE_ID, '--from', '2024-03-05', '--to', '2024-03-02'],
      configPath,
    ).done;

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown source id "nope"; configured sources: hq');
    expect(badDate.code).toBe(1);
    expect(badDate.stderr).toContain('--from "2024-02-30" is not a valid date');
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('--to 2024-03-02 is before --from 2024-03-05');
  }, 60_000);
});

describe.skipIf(!motoAvailable())('npm run backfill --aws (moto)', () => {
  const BUCKET = 'callvault-backfill';
  let moto: MotoServer;
  let sandbox: TelphinSandbox;
  let dir: string;

  beforeAll(async () => {
    moto = await startMoto();
    sandbox = await startTelphinSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
    await moto?.stop();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-backfill-aws-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('enqueues only what the bucket lacks, one job per recording, and the cursor reaches the end', async () => {
    const recordings = sandbox.generateRecordings({
      count: 8,
      from: new Date('2024-09-01T02:00:00Z'),
      to: new Date('2024-09-02T22:00:00Z'),
      size: 40_000,
    });
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // Two already archived (object and sidecar); one object without its sidecar counts as not archived.
    for (const recording of recordings.slice(0, 3)) {
      await moto.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: keyOf(recording), Body: Buffer.alloc(10) }),
      );
    }
    for (const recording of recordings.slice(0, 2)) {
      await moto.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `${keyOf(recording)}.json`, Body: '{}' }),
      );
    }
    const queue = await createQueue(moto.sqs, 'callvault-telphin');
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
      local: { stateDir: join(dir, 'state') },
    });
    const target = createAwsBackfillTarget({
      config,
      provider: 'telphin',
      bucket: BUCKET,
      queueUrl: queue.url,
      s3: moto.s3,
      sqs: moto.sqs,
      log: silentLog,
    });
    const source = await buildSourceRegistry(config, inlineCredentials, {
      clock: { now: () => new Date() },
      log: silentLog,
    }).get('telphin', SOURCE_ID);

    const result = await runBackfill({
      source,
      target,
      from: new Date('2024-09-01T00:00:00Z'),
      to: new Date('2024-09-02T00:00:00Z'),
      stateDir: join(dir, 'state'),
      maxWaitSeconds: 60,
      progress: silentProgress(),
      log: silentLog,
      signal: new AbortController().signal,
    });
    // Asking for one more than expected proves no duplicate or extra job was sent.
    const received = await receiveAtLeast(moto.sqs, queue, 7, 3000);

    expect(result.status).toBe('complete');
    expect(result.run).toMatchObject({ listed: 8, alreadyArchived: 2, handled: 6 });
    expect(
      received.map((record) => (parseJob(record.body) as RecordingJob).recording.recordingId).sort(),
    ).toEqual(
      recordings
        .slice(2)
        .map((recording) => recording.recordUuid)
        .sort(),
    );
    expect(
      (await readCursor(join(dir, 'state', 'backfill', `${SOURCE_ID}-2024-09-01-2024-09-02.json`)))
        ?.completedThrough,
    ).toBe('2024-09-02');
    expect(sandbox.counters.storageDownloads + sandbox.counters.fileDownloads).toBe(0);
  });
});
