/**
 * A loopback recording host that honours Range and can be told to misbehave, and a worker loop that
 * plays Lambda over an SQS queue on moto: each "invocation" ends when the host has sent a given number of
 * bytes in one response (a deadline in bytes, so runs are fast and deterministic), and checkpoints.
 * Shared by test/integration/download-continuation.test.ts and the continuation bench.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { resumableSha256 } from '../../functions/adapters/resumable-sha256';
import type { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import type { SqsJobQueue } from '../../functions/adapters/sqs-job-queue';
import { crc32Base64 } from '../../functions/core/checksums';
import type { ContinuationPlan } from '../../functions/core/continuation';
import { handleArchiveJob, type JobOutcome } from '../../functions/core/handle-job';
import { parseJob } from '../../functions/core/jobs';
import { type Log, type RecordingSource, systemClock } from '../../functions/core/ports';
import type { ProviderName, SourceRecording } from '../../functions/core/recording';
import { openHttpDownload } from '../../functions/providers/http';
import { fixedSourceRegistry } from './fixed-source-registry';
import { syntheticMp3Stream } from './synthetic-media';

const MiB = 1024 * 1024;

/** What the loopback server serves, and how it may misbehave. */
export interface Served {
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

export function rangeServer(served: Served): Promise<http.Server> {
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
export async function digestsOf(size: number, seed: number): Promise<{ sha256: string; crc32: string }> {
  const hash = createHash('sha256');
  let crc = 0;
  for await (const chunk of syntheticMp3Stream(size, seed, MiB)) {
    hash.update(chunk as Buffer);
    crc = crc32(chunk as Buffer, crc);
  }
  return { sha256: hash.digest('hex'), crc32: crc32Base64(crc) };
}

/** A source whose every recording is the one file the range server serves. */
export function rangedSource(url: string): RecordingSource {
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

export function rangedRecording(id: string, size: number | undefined): SourceRecording {
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

export interface ContinuationWorld {
  sqs: SQSClient;
  queueUrl: string;
  store: S3ArchiveStore;
  jobs: SqsJobQueue;
}

/** Plays Lambda: receive, run the job with a checkpoint that the server's byte count fires, delete. */
export async function drainContinuations(
  world: ContinuationWorld,
  served: Served,
  url: string,
  options: { deliverTwice?: number; afterFirst?: () => void | Promise<void> } = {},
): Promise<JobOutcome[] & { warnings: string[] }> {
  const outcomes: JobOutcome[] = [];
  const warnings: string[] = [];
  const log: Log = { debug() {}, info() {}, warn: (message) => warnings.push(message), error() {} };
  const registry = fixedSourceRegistry([{ provider: 'telphin' as ProviderName, id: 'ranged' }], () =>
    rangedSource(url),
  );
  for (let round = 0; round < 40; round++) {
    const received = await world.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: world.queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
    );
    const message = received.Messages?.[0];
    if (!message) break;
    const job = parseJob(message.Body ?? '');
    const deliveries = options.deliverTwice !== undefined && outcomes.length === options.deliverTwice ? 2 : 1;
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
          store: world.store,
          queue: world.jobs,
          goneAtSource: { record: async () => {} },
          expiredBeforeFetch: { record: async () => {} },
          clock: systemClock,
          log,
          continuation: plan,
        }),
      );
    }
    await world.sqs.send(
      new DeleteMessageCommand({ QueueUrl: world.queueUrl, ReceiptHandle: message.ReceiptHandle }),
    );
    if (round === 0) await options.afterFirst?.();
  }
  return Object.assign(outcomes, { warnings });
}

/** What S3 holds under a key: the bytes' SHA-256 (read back), S3's full-object CRC32 and the size. */
export async function storedDigests(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; crc32?: string; size?: number }> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as AsyncIterable<Buffer>) hash.update(chunk);
  return { sha256: hash.digest('hex'), crc32: head.ChecksumCRC32, size: head.ContentLength };
}
