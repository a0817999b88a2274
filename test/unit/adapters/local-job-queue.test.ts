import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type LocalDeadLetter,
  LocalJobQueue,
  type LocalJobQueueOptions,
} from '../../../functions/adapters/local-job-queue';
import {
  ExpiredBeforeFetchError,
  GoneAtSourceError,
  InvalidInputError,
  PermanentError,
  TransientError,
} from '../../../functions/core/errors';
import {
  type ArchiveJob,
  describeJob,
  type FetchNowJob,
  fetchNowJob,
  type HintJob,
  REDACTED,
  recordingJob,
} from '../../../functions/core/jobs';
import type { RetryPolicy } from '../../../functions/core/retry-policy';

function job(index: number, provider: 'telphin' | 'ringcentral' = 'telphin'): ArchiveJob {
  return recordingJob({
    provider,
    sourceId: 'main',
    recordingId: `rec-${index}`,
    startedAt: new Date(Date.UTC(2025, 1, 3, 4, 5, index)),
    direction: 'inbound',
    fileExtension: 'wav',
    raw: {},
  });
}

function hint(callId: string): HintJob {
  return {
    v: 1,
    type: 'hint',
    provider: 'telphin',
    sourceId: 'main',
    eventTime: '2025-02-03T04:05:06Z',
    hint: { callId },
  };
}

const GRANT_TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.grant-token-for-tests.signature';

function granted(index: number): FetchNowJob {
  return fetchNowJob(
    {
      provider: 'msgraph',
      sourceId: 'bot',
      recordingId: `op-${index}`,
      startedAt: new Date(Date.UTC(2025, 1, 3, 4, 5, index)),
      direction: 'unknown',
      fileExtension: 'wav',
      raw: {},
    },
    {
      url: `https://media.example.com/${index}`,
      bearerToken: GRANT_TOKEN,
      receivedAt: '2025-02-03T04:05:00Z',
    },
  );
}

/** With random() = 1: transient waits 10 s, then 20 s, ... which delayScale 0.01 turns into 100 ms, 200 ms. */
const POLICY: RetryPolicy = {
  notReadyBaseSeconds: 10,
  notReadyMaxSeconds: 40,
  transientBaseSeconds: 10,
  transientMaxSeconds: 40,
  rateLimitDefaultSeconds: 10,
};

/** A job as it reads back from a JSON file (undefined fields dropped). */
const asStored = (value: ArchiveJob): unknown => JSON.parse(JSON.stringify(value));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('LocalJobQueue', () => {
  let dir: string;
  let deadLetterDir: string;
  const queues: LocalJobQueue[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callvault-local-queue-'));
    deadLetterDir = join(dir, 'dead-letters');
  });
  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function makeQueue(
    options: Partial<LocalJobQueueOptions> & Pick<LocalJobQueueOptions, 'handleJob'>,
  ): LocalJobQueue {
    const queue = new LocalJobQueue({
      concurrency: 2,
      maxReceiveCount: 5,
      deadLetterDir,
      retryPolicy: POLICY,
      delayScale: 0.01,
      random: () => 1,
      ...options,
    });
    queues.push(queue);
    return queue;
  }

  async function deadLetters(): Promise<LocalDeadLetter[]> {
    const names = await readdir(deadLetterDir).catch(() => [] as string[]);
    return Promise.all(
      names.map(
        async (name) => JSON.parse(await readFile(join(deadLetterDir, name), 'utf8')) as LocalDeadLetter,
      ),
    );
  }

  it('runs at most `concurrency` jobs at once and all of them eventually', async () => {
    // Prepare
    let running = 0;
    let peak = 0;
    const done: string[] = [];
    const queue = makeQueue({
      concurrency: 3,
      handleJob: async (received) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(20);
        running--;
        done.push(describeJob(received));
      },
    });
    await queue.enqueue(Array.from({ length: 10 }, (_, i) => job(i)));

    // Act
    queue.start();
    await queue.idle();

    // Assess
    expect(peak).toBe(3);
    expect(done).toHaveLength(10);
    expect(queue.stats()).toEqual({
      pending: 0,
      inFlight: 0,
      delayed: 0,
      succeeded: 10,
      retried: 0,
      deadLettered: 0,
    });
  });

  it('retries a transient failure after the delays decideRetry chooses', async () => {
    // Prepare
    const startedAt: number[] = [];
    const queue = makeQueue({
      handleJob: async () => {
        startedAt.push(performance.now());
        if (startedAt.length < 3) throw new TransientError('socket hang up');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([job(1)]);
    await waitFor(() => queue.stats().delayed === 1);
    const whileWaiting = queue.stats();
    await queue.idle();

    // Assess: 10 s then 20 s, scaled by 0.01.
    expect(whileWaiting).toMatchObject({ pending: 0, inFlight: 0, delayed: 1, retried: 1 });
    expect(startedAt).toHaveLength(3);
    const [first = 0, second = 0, third = 0] = startedAt;
    expect(second - first).toBeGreaterThanOrEqual(95);
    expect(second - first).toBeLessThan(190);
    expect(third - second).toBeGreaterThanOrEqual(195);
    expect(third - second).toBeLessThan(380);
    expect(queue.stats()).toMatchObject({ succeeded: 1, retried: 2, deadLettered: 0 });
  });

  it('writes a dead letter after maxReceiveCount attempts of a job that keeps failing', async () => {
    // Prepare
    let calls = 0;
    const queue = makeQueue({
      maxReceiveCount: 3,
      retryPolicy: { ...POLICY, transientBaseSeconds: 1, transientMaxSeconds: 1 },
      handleJob: async () => {
        calls++;
        throw new TransientError('503 from provider');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([job(9, 'ringcentral')]);
    await queue.idle();

    // Assess
    expect(calls).toBe(3);
    expect(queue.stats()).toMatchObject({ retried: 2, deadLettered: 1, succeeded: 0 });
    const names = await readdir(deadLetterDir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-ringcentral-[0-9a-f]{8}\.json$/);
    const [letter] = await deadLetters();
    expect(letter).toMatchObject({
      job: asStored(job(9, 'ringcentral')),
      code: 'TRANSIENT',
      reason: 'TRANSIENT: 503 from provider',
      attempts: 3,
    });
  });

  it('dead-letters a permanent failure at once', async () => {
    // Prepare
    let calls = 0;
    const queue = makeQueue({
      handleJob: async () => {
        calls++;
        throw new PermanentError('recording no longer exists');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([job(2)]);
    await queue.idle();

    // Assess
    expect(calls).toBe(1);
    const letters = await deadLetters();
    expect(letters).toEqual([
      expect.objectContaining({
        job: asStored(job(2)),
        code: 'PERMANENT',
        reason: 'PERMANENT: recording no longer exists',
        attempts: 1,
      }),
    ]);
    expect((await readdir(deadLetterDir)).some((name) => name.endsWith('.tmp'))).toBe(false);
  });

  it('ends a job gone at the source as done: one attempt, no retry, no dead letter', async () => {
    // Prepare
    let calls = 0;
    const queue = makeQueue({
      handleJob: async () => {
        calls++;
        throw new GoneAtSourceError('the source no longer lists it');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([job(3)]);
    await queue.idle();

    // Assess
    expect(calls).toBe(1);
    expect(await deadLetters()).toEqual([]);
    expect(queue.stats()).toMatchObject({ succeeded: 1, retried: 0, deadLettered: 0 });
  });

  it('treats a synchronous throw like any other failure', async () => {
    // Prepare
    const queue = makeQueue({
      handleJob: () => {
        throw new InvalidInputError('bad hint');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([hint('c-1')]);
    await queue.idle();

    // Assess
    expect(await deadLetters()).toEqual([expect.objectContaining({ code: 'INVALID_INPUT', attempts: 1 })]);
  });

  it('skips a recording job already pending or in flight, but not a different one or a hint', async () => {
    // Prepare
    const seen: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const queue = makeQueue({
      concurrency: 1,
      handleJob: async (received) => {
        seen.push(describeJob(received));
        await gate;
      },
    });

    // Act
    await queue.enqueue([job(1), job(1), job(2), hint('a'), hint('a')]); // pending duplicates
    queue.start();
    await waitFor(() => queue.stats().inFlight === 1);
    await queue.enqueue([job(1)]); // duplicate of the one in flight
    const beforeRelease = queue.stats();
    release();
    await queue.idle();

    // Assess
    expect(beforeRelease).toMatchObject({ inFlight: 1, pending: 3 });
    expect(seen).toEqual([
      describeJob(job(1)),
      describeJob(job(2)),
      describeJob(hint('a')),
      describeJob(hint('a')),
    ]);
  });

  it('takes the continuation a job in flight queues of itself, and still skips a fresh duplicate of it', async () => {
    // Prepare: the first delivery stops at a checkpoint and queues its continuation (core/continuation.ts).
    const seen: (number | undefined)[] = [];
    const queue: LocalJobQueue = makeQueue({
      concurrency: 1,
      handleJob: async (received) => {
        if (received.type !== 'recording') return;
        seen.push(received.continuation?.count);
        if (received.continuation === undefined) {
          await queue.enqueue([{ ...received, continuation: { count: 1 } }]);
          await queue.enqueue([job(1)]); // a sweep's fresh job for the same recording
        }
      },
    });

    // Act
    await queue.enqueue([job(1)]);
    queue.start();
    await queue.idle();

    // Assess
    expect(seen).toEqual([undefined, 1]);
  });

  it('stop() aborts in-flight jobs, saves pending and delayed ones, and a new queue resumes them', async () => {
    // Prepare: two jobs block until aborted, one fails once and waits as a delayed retry, three wait.
    const stateFile = join(dir, 'state', 'queue.json');
    const aborted: string[] = [];
    const first = makeQueue({
      concurrency: 2,
      stateFile,
      // The hint's 10 s retry becomes 500 ms: long enough to still be delayed when the second queue loads.
      delayScale: 0.05,
      handleJob: (received, signal) =>
        new Promise<void>((_, reject) => {
          if (received.type === 'hint') {
            reject(new TransientError('not yet'));
            return;
          }
          signal.addEventListener('abort', () => {
            aborted.push(describeJob(received));
            reject(signal.reason);
          });
        }),
    });
    await first.enqueue([hint('delayed'), job(1), job(2), job(3), job(4), job(5)]);
    first.start();
    await waitFor(() => first.stats().inFlight === 2 && first.stats().delayed === 1);

    // Act
    // Settle both promises into values now, so neither is an unhandled rejection while we go on.
    const idle = first.idle().then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await first.stop();
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    const enqueueAfterStop = await first.enqueue([job(6)]).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    const done: string[] = [];
    const second = makeQueue({
      concurrency: 2,
      stateFile,
      handleJob: async (received) => {
        done.push(describeJob(received));
      },
    });
    const loaded = second.stats();
    second.start();
    await second.idle();

    // Assess
    expect(aborted.sort()).toEqual([describeJob(job(1)), describeJob(job(2))]);
    expect(String(await idle)).toMatch(/stopped with 6 jobs left/);
    expect(enqueueAfterStop).toBeInstanceOf(TransientError);
    expect(saved.jobs).toHaveLength(6);
    expect(saved.jobs.filter((entry: { notBefore?: number }) => entry.notBefore !== undefined)).toHaveLength(
      1,
    );
    expect(loaded).toMatchObject({ pending: 5, delayed: 1, inFlight: 0 });
    expect(done.sort()).toEqual(
      [hint('delayed'), ...[1, 2, 3, 4, 5].map((i) => job(i))].map(describeJob).sort(),
    );
  });

  it('removes the state file when stopping with nothing left, so old jobs are not resurrected', async () => {
    // Prepare
    const stateFile = join(dir, 'queue.json');
    await writeFile(
      stateFile,
      JSON.stringify({ v: 1, savedAt: new Date().toISOString(), jobs: [{ job: job(1), attempts: 2 }] }),
    );
    const queue = makeQueue({ stateFile, handleJob: async () => {} });

    // Act
    queue.start();
    await queue.idle();
    await queue.stop();

    // Assess
    expect(queue.stats()).toMatchObject({ succeeded: 1 });
    await expect(readFile(stateFile, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps the attempt count across a restart, so maxReceiveCount still holds', async () => {
    // Prepare: saved after two failed attempts.
    const stateFile = join(dir, 'queue.json');
    await writeFile(
      stateFile,
      JSON.stringify({ v: 1, savedAt: new Date().toISOString(), jobs: [{ job: job(1), attempts: 2 }] }),
    );
    const queue = makeQueue({
      stateFile,
      maxReceiveCount: 3,
      handleJob: async () => {
        throw new TransientError('still down');
      },
    });

    // Act
    queue.start();
    await queue.idle();

    // Assess
    expect(await deadLetters()).toEqual([expect.objectContaining({ attempts: 3, code: 'TRANSIENT' })]);
  });

  it('refuses a corrupt state file rather than silently starting empty', async () => {
    // Prepare
    const stateFile = join(dir, 'queue.json');
    await writeFile(stateFile, '{"v":1,"jobs":[{"job":{"nope":true}}]}');

    // Act
    const create = () => makeQueue({ stateFile, handleJob: async () => {} });

    // Assess
    expect(create).toThrow(InvalidInputError);
  });

  it('retries a granted (fetch-now) job within seconds, not the default minutes', async () => {
    // Prepare: POLICY waits 10 s first; FETCH_NOW_RETRY_POLICY 2 s (×0.01 → 20 ms).
    const startedAt: number[] = [];
    const queue = makeQueue({
      handleJob: async () => {
        startedAt.push(performance.now());
        if (startedAt.length < 2) throw new TransientError('socket hang up');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([granted(1)]);
    await queue.idle();

    // Assess
    const [first = 0, second = 0] = startedAt;
    expect(second - first).toBeGreaterThanOrEqual(15);
    expect(second - first).toBeLessThan(95);
  });

  it('dead-letters EXPIRED_BEFORE_FETCH at once, and the dead-letter file holds no token', async () => {
    // Prepare
    let attempts = 0;
    const queue = makeQueue({
      handleJob: async () => {
        attempts++;
        throw new ExpiredBeforeFetchError('expired-before-fetch: media.example.com answered 401');
      },
    });
    queue.start();

    // Act
    await queue.enqueue([granted(1)]);
    await queue.idle();

    // Assess
    expect(attempts).toBe(1);
    const letters = await deadLetters();
    expect(letters).toEqual([expect.objectContaining({ code: 'EXPIRED_BEFORE_FETCH', attempts: 1 })]);
    expect(letters[0]?.job).toMatchObject({ grant: { bearerToken: REDACTED } });
    const raw = await readdir(deadLetterDir).then((names) =>
      Promise.all(names.map((name) => readFile(join(deadLetterDir, name), 'utf8'))),
    );
    expect(raw.join('')).not.toContain(GRANT_TOKEN);
  });

  it('saves granted jobs without their token; a restart ends them as the platform would', async () => {
    // Prepare
    const stateFile = join(dir, 'queue.json');
    const first = makeQueue({ stateFile, handleJob: async () => {} });
    await first.enqueue([granted(1), job(2)]);

    // Act
    await first.stop();
    const text = await readFile(stateFile, 'utf8');
    const seen: ArchiveJob[] = [];
    const second = makeQueue({ stateFile, handleJob: async (received) => void seen.push(received) });
    second.start();
    await second.idle();

    // Assess
    expect(text).not.toContain(GRANT_TOKEN);
    expect(seen).toContainEqual(
      expect.objectContaining({
        type: 'fetch-now',
        grant: expect.objectContaining({ bearerToken: REDACTED }),
      }),
    );
    expect(seen).toContainEqual(asStored(job(2)));
  });
});
