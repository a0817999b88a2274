/**
 * Downloads that outlive an invocation (core/continuation.ts), on moto (S3 and SQS) and a loopback HTTP
 * server that honours Range. "Invocations" end when the server has sent a given number of bytes in one
 * response (a deadline measured in bytes rather than seconds, so the test is fast and deterministic);
 * each continuation goes through the SQS queue as the worker re-queues it.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DeleteMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalJobQueue } from '../../functions/adapters/local-job-queue';
import { resumableSha256 } from '../../functions/adapters/resumable-sha256';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { outcomeMetrics } from '../../functions/archive-worker';
import { localContinuation } from '../../functions/composition/local-pipeline';
import { parseConfig } from '../../functions/config';
import { crc32Base64 } from '../../functions/core/checksums';
import type { ContinuationPlan } from '../../functions/core/continuation';
import { handleArchiveJob, type JobOutcome } from '../../functions/core/handle-job';
import { parseJob, recordingJob } from '../../functions/core/jobs';
import { type Log, type RecordingSource, silentLog, systemClock } from '../../functions/core/ports';
import type { ProviderName, SourceRecording } from '../../functions/core/recording';
import { RESTARTED_MESSAGE } from '../../functions/core/resumable-archive';
import {
  DOWNLOADS_CONTINUED_METRIC,
  DOWNLOADS_RESTARTED_METRIC,
  RECORDINGS_ARCHIVED_METRIC,
} from '../../functions/observability/names';
import { openHttpDownload } from '../../functions/providers/http';
import { fixedSourceRegistry } from '../support/fixed-source-registry';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';
import { createQueue, type TestQueue } from '../support/sqs-records';
import { syntheticMp3Stream } from '../support/synthetic-media';

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const BUCKET = 'callvault-continuation-test';

/** What the loopback server serves, and how it may misbehave. */
interface Served {
  size: number;
  seed: number;
  etag: string;
  /** Answer a Range request with 200 and the whole file. */
  ignoreRange?: boolean;
  /** Serve no `Accept-Ranges: bytes`. */
  noAcceptRanges?: boolean;
  /** Bytes one response may send before the "invocation" must checkpoint. */
  bytesPerInvocation: number;
  /** A throttled link: each response sends at most this many bytes a second. */
  bytesPerSecond?: number;
  onCut?: () => void;
}

function rangeServer(served: Served): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = match && !served.ignoreRange ? Number(match[1]) : 0;
    const headers: Record<string, string> = {
      'content-type': 'audio/mpeg',
      etag: served.etag,
      'last-modified': 'Sat, 05 Dec 2026 08:00:00 GMT',
      'content-length': String(served.size - start),
    };
    if (!served.noAcceptRanges) headers['accept-ranges'] = 'bytes';
    if (start > 0) headers['content-range'] = `bytes ${start}-${served.size - 1}/${served.size}`;
    response.writeHead(start > 0 ? 206 : 200, headers);
    let sent = 0;
    let cut = false;
    const stream = syntheticMp3Stream(served.size, served.seed, 256 * 1024);
    let skipped = 0;
    stream.on('data', (chunk: Buffer) => {
      let piece = chunk;
      if (skipped < start) {
        const skip = Math.min(start - skipped, piece.length);
        skipped += skip;
        piece = piece.subarray(skip);
        if (piece.length === 0) return;
      }
      sent += piece.length;
      if (!cut && sent >= served.bytesPerInvocation) {
        cut = true;
        served.onCut?.();
      }
      response.write(piece);
      // Paced (a throttled link), and never ahead of the socket.
      const resume = () => {
        if (response.destroyed) return;
        if (response.writableNeedDrain) response.once('drain', () => stream.resume());
        else stream.resume();
      };
      stream.pause();
      if (served.bytesPerSecond) setTimeout(resume, (piece.length / served.bytesPerSecond) * 1000);
      else resume();
    });
    stream.on('end', () => response.end());
    response.on('close', () => stream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** SHA-256 and CRC32 of a synthetic body, streamed. */
async function digestsOf(size: number, seed: number): Promise<{ sha256: string; crc32: string }> {
  const hash = createHash('sha256');
  let crc = 0;
  for await (const chunk of syntheticMp3Stream(size, seed, MiB)) {
    hash.update(chunk as Buffer);
    crc = crc32(chunk as Buffer, crc);
  }
  return { sha256: hash.digest('hex'), crc32: crc32Base64(crc) };
}

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

  function sourceFor(url: string): RecordingSource {
    return {
      provider: 'telphin' as ProviderName,
      sourceId: 'ranged',
      listRecordings: async function* () {},
      resolveHint: async () => [],
      openDownload: (_recording, signal, request) =>
        openHttpDownload(url, { allowedHosts: ['127.0.0.1'], signal, fromByte: request?.fromByte }),
      deleteRecording: async () => 'already-gone',
      handleWebhook: async () => {
        throw new Error('no webhooks');
      },
    };
  }

  function recording(id: string, size: number | undefined): SourceRecording {
    return {
      provider: 'telphin' as ProviderName,
      sourceId: 'ranged',
      recordingId: id,
      startedAt: new Date('2026-12-01T10:00:00Z'),
      direction: 'inbound',
      size,
      contentType: 'audio/mpeg',
      fileExtension: 'mp3',
      raw: {},
    };
  }

  /** Plays Lambda: receive, run the job with a checkpoint that the server's byte count fires, delete. */
  async function drain(
    served: Served,
    url: string,
    options: { deliverTwice?: number; afterFirst?: () => void | Promise<void> } = {},
  ) {
    const outcomes: JobOutcome[] = [];
    const warnings: string[] = [];
    const log: Log = { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
    const registry = fixedSourceRegistry([{ provider: 'telphin' as ProviderName, id: 'ranged' }], () =>
      sourceFor(url),
    );
    for (let round = 0; round < 40; round++) {
      const received = await moto.sqs.send(
        new (await import('@aws-sdk/client-sqs')).ReceiveMessageCommand({
          QueueUrl: queue.url,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 1,
        }),
      );
      const message = received.Messages?.[0];
      if (!message) break;
      const job = parseJob(message.Body ?? '');
      const deliveries =
        options.deliverTwice !== undefined && outcomes.length === options.deliverTwice ? 2 : 1;
      for (let delivery = 0; delivery < deliveries; delivery++) {
        const checkpoint = new AbortController();
        served.onCut = () => checkpoint.abort();
        const plan: ContinuationPlan = {
          checkpoint: checkpoint.signal,
          hashes: resumableSha256,
          resumableAboveBytes: 0,
          maxUploadAgeMs: 86_400_000,
        };
        outcomes.push(
          await handleArchiveJob(job, {
            sources: registry,
            store,
            queue: jobs,
            goneAtSource: { record: async () => {} },
            expiredBeforeFetch: { record: async () => {} },
            clock: systemClock,
            log,
            continuation: plan,
          }),
        );
      }
      await moto.sqs.send(
        new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: message.ReceiptHandle }),
      );
      if (round === 0) await options.afterFirst?.();
    }
    return Object.assign(outcomes, { warnings });
  }

  async function storedDigests(key: string): Promise<{ sha256: string; crc32?: string; size?: number }> {
    const head = await moto.s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: 'ENABLED' }),
    );
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const hash = createHash('sha256');
    for await (const chunk of object.Body as AsyncIterable<Buffer>) hash.update(chunk);
    return { sha256: hash.digest('hex'), crc32: head.ChecksumCRC32, size: head.ContentLength };
  }

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
      sourceFor(url),
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
