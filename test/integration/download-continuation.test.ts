import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalJobQueue } from '../../functions/adapters/local-job-queue';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { outcomeMetrics } from '../../functions/archive-worker';
import { localContinuation } from '../../functions/composition/local-pipeline';
import { parseConfig } from '../../functions/config';
import { handleArchiveJob, type JobOutcome } from '../../functions/core/handle-job';
import { recordingJob } from '../../functions/core/jobs';
import { silentLog, systemClock } from '../../functions/core/ports';
import type { ProviderName } from '../../functions/core/recording';
import { RESTARTED_MESSAGE } from '../../functions/core/resumable-archive';
import {
  DOWNLOADS_CONTINUED_METRIC,
  DOWNLOADS_RESTARTED_METRIC,
  RECORDINGS_ARCHIVED_METRIC,
} from '../../functions/observability/names';
import { fixedSourceRegistry } from '../support/fixed-source-registry';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import {
  digestsOf,
  storedDigests as digestsStoredUnder,
  drainContinuations,
  rangedRecording,
  rangedSource,
  rangeServer,
  type Served,
} from '../support/range-server';
import { createQueue, type TestQueue } from '../support/sqs-records';

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const BUCKET = 'callvault-continuation-test';

describe.skipIf(!motoAvailable())('downloads that outlive an invocation continue over Range', () => {
  let moto: MotoServer;
  let queue: TestQueue;
  let store: S3ArchiveStore;
  let jobs: SqsJobQueue;

  beforeAll(async () => {
    moto = await startMoto();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    queue = await createQueue(moto.sqs, 'continuations');
    store = new S3ArchiveStore({ client: moto.s3, bucket: BUCKET, partSizeBytes: PART, partsInFlight: 2 });
    jobs = new SqsJobQueue({ client: moto.sqs, queueUrls: { telphin: queue.url } });
  }, 60_000);

  afterAll(async () => {
    await moto?.stop();
  });

  const recording = rangedRecording;
  const drain = (served: Served, url: string, options?: Parameters<typeof drainContinuations>[3]) =>
    drainContinuations({ sqs: moto.sqs, queueUrl: queue.url, store, jobs }, served, url, options);
  const storedDigests = (key: string) => digestsStoredUnder(moto.s3, BUCKET, key);

  async function openUploads(): Promise<number> {
    const listed = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    return listed.Uploads?.length ?? 0;
  }

  it('a 600 MiB recording over a loopback link, cut every ~150 MiB, is byte-identical after ≥ 3 continuations', async () => {
    const size = 600 * MiB;
    const served: Served = { size, seed: 7, etag: '"v1"', bytesPerInvocation: 150 * MiB };
    const server = await rangeServer(served);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
    try {
      await jobs.enqueue([recordingJob(recording('big', size))]);
      const outcomes = await drain(served, url);
      const continued = outcomes.filter((outcome) => outcome.status === 'continued');
      expect(continued.length).toBeGreaterThanOrEqual(3);
      // What the worker counts: each continuation, one archived copy, and no restart.
      expect(outcomes.flatMap(outcomeMetrics).sort()).toEqual(
        [...continued.map(() => DOWNLOADS_CONTINUED_METRIC), RECORDINGS_ARCHIVED_METRIC].sort(),
      );
      expect(outcomes.warnings).toEqual([]);
      const last = outcomes.at(-1);
      expect(last?.status).toBe('archived');
      const expected = await digestsOf(size, 7);
      const stored = await storedDigests((last as { key: string }).key);
      expect(stored).toEqual({ sha256: expected.sha256, crc32: expected.crc32, size });
      expect(last && 'sha256' in last ? last.sha256 : undefined).toBe(expected.sha256);
      expect(await openUploads()).toBe(0);
    } finally {
      server.close();
    }
  }, 120_000);

  it.each([
    [
      'etag-changed',
      (s: Served) => {
        s.etag = '"v2"';
      },
    ],
    [
      'range-ignored',
      (s: Served) => {
        s.ignoreRange = true;
      },
    ],
    [
      // The same ETag: only the Content-Range total tells. The listing names no size, as for a source
      // whose recording is still growing, so the fresh start takes the new one from Content-Length.
      'size-changed',
      (s: Served) => {
        s.size += 3 * MiB + 5;
      },
    ],
  ] as const)(
    'a source whose Range answer cannot continue the bytes (%s) restarts from zero',
    async (id, change) => {
      const served: Served = { size: 40 * MiB, seed: 11, etag: '"v1"', bytesPerInvocation: 20 * MiB };
      const server = await rangeServer(served);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
      try {
        const listedSize = id === 'size-changed' ? undefined : served.size;
        await jobs.enqueue([recordingJob(recording(id, listedSize))]);
        const outcomes = await drain(served, url, {
          afterFirst: () => {
            change(served);
            served.bytesPerInvocation = 2 * served.size;
          },
        });
        expect(outcomes[0]?.status).toBe('continued');
        expect(outcomes.some((outcome) => 'restarted' in outcome && outcome.restarted)).toBe(true);
        // Said once, and counted once, for the one restart.
        expect(outcomes.warnings).toEqual([RESTARTED_MESSAGE]);
        expect(
          outcomes.flatMap(outcomeMetrics).filter((name) => name === DOWNLOADS_RESTARTED_METRIC),
        ).toHaveLength(1);
        const last = outcomes.at(-1);
        expect(last?.status).toBe('archived');
        const size = served.size;
        const expected = await digestsOf(size, 11);
        expect(await storedDigests((last as { key: string }).key)).toEqual({
          sha256: expected.sha256,
          crc32: expected.crc32,
          size,
        });
        expect(await openUploads()).toBe(0);
      } finally {
        server.close();
      }
    },
    60_000,
  );

  /** The one open upload's key and id (the first invocation's checkpoint). */
  async function openUpload(): Promise<{ Key: string; UploadId: string }> {
    const listed = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    const [upload] = listed.Uploads ?? [];
    if (!upload?.Key || !upload.UploadId) throw new Error('no open upload after the first invocation');
    return { Key: upload.Key, UploadId: upload.UploadId };
  }

  it.each([
    [
      // As the lifecycle rule would, had the chain outlived it.
      'upload-aborted',
      /no longer exists/,
      async () => {
        await moto.s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, ...(await openUpload()) }));
      },
    ],
    [
      // Another writer replaced part 1 with other bytes: ListParts no longer matches the checkpoint.
      'part-replaced',
      /differ from the checkpoint/,
      async () => {
        const body = Buffer.alloc(PART, 1);
        await moto.s3.send(
          new UploadPartCommand({ Bucket: BUCKET, ...(await openUpload()), PartNumber: 1, Body: body }),
        );
      },
    ],
  ] as const)(
    'an open upload that no longer matches its checkpoint (%s) restarts from zero',
    async (id, reason, tamper) => {
      const served: Served = { size: 40 * MiB, seed: 19, etag: '"v1"', bytesPerInvocation: 20 * MiB };
      const server = await rangeServer(served);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
      try {
        await jobs.enqueue([recordingJob(recording(id, served.size))]);
        const outcomes = await drain(served, url, {
          afterFirst: async () => {
            await tamper();
            served.bytesPerInvocation = 2 * served.size;
          },
        });
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['continued', 'archived']);
        expect(outcomes[1] && 'restarted' in outcomes[1] ? outcomes[1].restarted : undefined).toMatch(reason);
        expect(outcomes.warnings).toEqual([RESTARTED_MESSAGE]);
        const expected = await digestsOf(served.size, 19);
        expect(await storedDigests((outcomes[1] as { key: string }).key)).toEqual({
          sha256: expected.sha256,
          crc32: expected.crc32,
          size: served.size,
        });
        expect(await openUploads()).toBe(0);
      } finally {
        server.close();
      }
    },
    60_000,
  );

  it('a source without Accept-Ranges cannot be continued: the upload is aborted and the job starts over, said once', async () => {
    const served: Served = {
      size: 40 * MiB,
      seed: 23,
      etag: '"v1"',
      bytesPerInvocation: 20 * MiB,
      noAcceptRanges: true,
    };
    const server = await rangeServer(served);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
    try {
      await jobs.enqueue([recordingJob(recording('no-ranges', served.size))]);
      const outcomes = await drain(served, url, {
        afterFirst: async () => {
          // Nothing is left open for a continuation that could not ask for the rest.
          expect(await openUploads()).toBe(0);
          served.bytesPerInvocation = 2 * served.size;
        },
      });
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['continued', 'archived']);
      expect(outcomes[0]).toMatchObject({ offset: 0, restarted: expect.stringMatching(/Accept-Ranges/) });
      expect(outcomes.warnings).toEqual([RESTARTED_MESSAGE]);
      const expected = await digestsOf(served.size, 23);
      expect(await storedDigests((outcomes[1] as { key: string }).key)).toEqual({
        sha256: expected.sha256,
        crc32: expected.crc32,
        size: served.size,
      });
    } finally {
      server.close();
    }
  }, 60_000);

  it('a continuation delivered twice makes one object', async () => {
    const size = 40 * MiB;
    const served: Served = { size, seed: 13, etag: '"v1"', bytesPerInvocation: 20 * MiB };
    const server = await rangeServer(served);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
    try {
      await jobs.enqueue([recordingJob(recording('twice', size))]);
      const outcomes = await drain(served, url, {
        deliverTwice: 1,
        afterFirst: () => {
          served.bytesPerInvocation = 2 * size;
        },
      });
      expect(outcomes.map((outcome) => outcome.status)).toEqual([
        'continued',
        'archived',
        'already-archived',
      ]);
      const expected = await digestsOf(size, 13);
      expect(await storedDigests((outcomes[1] as { key: string }).key)).toEqual({
        sha256: expected.sha256,
        crc32: expected.crc32,
        size,
      });
      expect(await openUploads()).toBe(0);
    } finally {
      server.close();
    }
  }, 60_000);
  it('npm start with local.jobDeadlineSeconds: a throttled download continues through the local queue by the clock', async () => {
    const size = 24 * MiB;
    // About 10 MiB/s: each 1-second "invocation" gets one 8 MiB part done, so the chain needs several.
    const served: Served = {
      size,
      seed: 17,
      etag: '"v1"',
      bytesPerInvocation: Number.POSITIVE_INFINITY,
      bytesPerSecond: 10 * MiB,
    };
    const server = await rangeServer(served);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rec.mp3`;
    const config = parseConfig({
      local: { jobDeadlineSeconds: 1 },
      storage: { s3: { bucket: BUCKET, endpoint: moto.endpoint, forcePathStyle: true } },
    });
    const plan = localContinuation(config);
    expect(plan).toBeDefined();
    expect(localContinuation(parseConfig({ local: { jobDeadlineSeconds: 1 } }))).toBeUndefined();
    const registry = fixedSourceRegistry([{ provider: 'telphin' as ProviderName, id: 'ranged' }], () =>
      rangedSource(url),
    );
    const dir = await mkdtemp(join(tmpdir(), 'callvault-local-continuation-'));
    const outcomes: JobOutcome[] = [];
    const queue: LocalJobQueue = new LocalJobQueue({
      concurrency: 1,
      maxReceiveCount: 1,
      deadLetterDir: join(dir, 'dead-letter'),
      handleJob: async (job, signal) => {
        outcomes.push(
          await handleArchiveJob(
            job,
            {
              sources: registry,
              store,
              queue,
              goneAtSource: { record: async () => {} },
              expiredBeforeFetch: { record: async () => {} },
              clock: systemClock,
              log: silentLog,
              continuation: plan?.(),
            },
            signal,
          ),
        );
      },
    });
    try {
      await queue.enqueue([recordingJob(recording('local', size))]);
      queue.start();
      await queue.idle();
      expect(queue.stats()).toMatchObject({ deadLettered: 0 });
      expect(outcomes.filter((outcome) => outcome.status === 'continued').length).toBeGreaterThanOrEqual(2);
      const last = outcomes.at(-1);
      expect(last?.status).toBe('archived');
      const expected = await digestsOf(size, 17);
      expect(await storedDigests((last as { key: string }).key)).toEqual({
        sha256: expected.sha256,
        crc32: expected.crc32,
        size,
      });
      expect(await openUploads()).toBe(0);
    } finally {
      await queue.stop();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
