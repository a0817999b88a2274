import { createHash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { crc32Base64, type ObjectChecksum } from '../../functions/core/checksums';
import {
  AlreadyArchivedError,
  DeadlineError,
  PermanentError,
  TransientError,
} from '../../functions/core/errors';
import { recordingKey, sidecarKey } from '../../functions/core/keys';
import type { SourceRecording } from '../../functions/core/recording';
import { buildSidecar, type Sidecar } from '../../functions/core/sidecar';
import { verifyArchivedCopy } from '../../functions/core/verify-archived-copy';
import { RecordingVerifier } from '../../functions/core/verify-stream';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import { syntheticMp3, syntheticMp3Stream } from '../support/synthetic-media';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const BUCKET = 'callvault-store-test';
const KEY = 'recordings/telphin/main/2024/05/17/rec-1.mp3';
const TAGS = { provider: 'telphin', source: 'main', 'retention-class': 'standard' };

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The whole-object CRC32 of `bytes`, as S3 reports a FULL_OBJECT multipart checksum. */
function fullCrc32(bytes: Buffer): ObjectChecksum {
  return { algorithm: 'CRC32', type: 'FULL_OBJECT', value: crc32Base64(crc32(bytes)) };
}

function fullSha256(bytes: Buffer): ObjectChecksum {
  return {
    algorithm: 'SHA256',
    type: 'FULL_OBJECT',
    value: createHash('sha256').update(bytes).digest('base64'),
  };
}

/** A verifier fed from `source`, as the archive use case wires it. */
function verified(source: Readable | Buffer, sourceSize?: number): RecordingVerifier {
  const verifier = new RecordingVerifier({ sourceSize });
  const readable = Buffer.isBuffer(source) ? Readable.from([source]) : source;
  pipeline(readable, verifier, () => {});
  return verifier;
}

/** An S3 client with hooks around every command, for observing and injecting faults (S3 itself stays real). */
interface Probe {
  client: S3Client;
  /** Called when a command starts; may throw to fail it before it is sent, or wait to slow it down. */
  onStart?: (command: string, input: Record<string, unknown>) => void | Promise<void>;
  /** Called when a command has finished, successfully or not. */
  onFinish?: (command: string, input: Record<string, unknown>) => void;
  /** Called just before the HTTP request leaves; may replace the body. */
  onRequest?: (command: string, request: { body?: unknown }) => void;
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
  started: string[];
}

function probeClient(endpoint: string): Probe {
  const client = new S3Client({
    endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
  });
  const probe: Probe = { client, inFlight: new Map(), maxInFlight: new Map(), started: [] };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '?';
      probe.started.push(name);
      const now = (probe.inFlight.get(name) ?? 0) + 1;
      probe.inFlight.set(name, now);
      probe.maxInFlight.set(name, Math.max(now, probe.maxInFlight.get(name) ?? 0));
      try {
        await probe.onStart?.(name, args.input as Record<string, unknown>);
        return await next(args);
      } finally {
        probe.inFlight.set(name, (probe.inFlight.get(name) ?? 1) - 1);
        probe.onFinish?.(name, args.input as Record<string, unknown>);
      }
    },
    { step: 'initialize', name: 'testProbe' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      probe.onRequest?.(context.commandName ?? '?', args.request as { body?: unknown });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'testCorrupter', priority: 'low' },
  );
  return probe;
}

function injectedS3Error(name: string, status: number): Error {
  return Object.assign(new Error(`injected ${name}`), {
    name,
    $fault: 'server',
    $metadata: { httpStatusCode: status },
  });
}

describe.skipIf(!motoAvailable())('S3ArchiveStore against moto', () => {
  let moto: MotoServer;
  let probe: Probe;

  const store = (options: { partsInFlight?: number; client?: S3Client } = {}) =>
    new S3ArchiveStore({
      client: options.client ?? probe.client,
      bucket: BUCKET,
      partSizeBytes: PART,
      partsInFlight: options.partsInFlight ?? 2,
    });

  async function objectBytes(key: string): Promise<Buffer> {
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(
      await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  }

  async function bucketKeys(): Promise<string[]> {
    const listing = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    return (listing.Contents ?? []).map((object) => object.Key ?? '');
  }

  async function openUploads(): Promise<string[]> {
    const listing = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    return (listing.Uploads ?? []).map((upload) => upload.Key ?? '');
  }

  async function expectNothingLeft(): Promise<void> {
    expect(await openUploads()).toEqual([]);
    expect(await bucketKeys()).toEqual([]);
  }

  beforeAll(async () => {
    moto = await startMoto();
  });

  afterAll(async () => {
    probe?.client.destroy();
    await moto?.stop();
  });

  beforeEach(async () => {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    probe?.client.destroy();
    probe = probeClient(moto.endpoint);
  });

  describe('storing', () => {
    it('stores a body shorter than one part with a single conditional PutObject', async () => {
      // Prepare
      const bytes = syntheticMp3(300_000, 11);

      // Act
      const stored = await store().putRecording({
        key: KEY,
        body: verified(bytes, bytes.length),
        contentType: 'audio/mpeg',
        sourceSize: bytes.length,
        tags: TAGS,
      });

      // Assess: one request; S3 verified the SHA-256, which is also in the metadata and the tag.
      expect(stored).toEqual({ size: bytes.length, sha256: sha256(bytes), checksum: fullSha256(bytes) });
      expect(sha256(await objectBytes(KEY))).toBe(sha256(bytes));
      expect(probe.started).toEqual(['PutObjectCommand']);
      const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }));
      expect(head.Metadata).toEqual({ sha256: sha256(bytes), 'source-size': String(bytes.length) });
      expect(head.ContentType).toBe('audio/mpeg');
      expect(await store().inspect(KEY)).toMatchObject({
        sha256: sha256(bytes),
        taggedSha256: sha256(bytes),
        checksum: fullSha256(bytes),
        tags: TAGS,
      });
    });

    it('stores a body of exactly one part as a single put', async () => {
      const bytes = syntheticMp3(PART, 12);

      await store().putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS });

      expect(probe.started).not.toContain('CreateMultipartUploadCommand');
      expect(sha256(await objectBytes(KEY))).toBe(sha256(bytes));
    });

    it("stores a 23 MiB body in one multipart upload to its key, which S3 reports with the stream's FULL_OBJECT CRC32", async () => {
      // Prepare
      const size = 23 * MiB + 12_345;
      const expected = syntheticMp3(size, 13);

      // Act
      const stored = await store().putRecording({
        key: KEY,
        body: verified(syntheticMp3Stream(size, 13), size),
        contentType: 'audio/mpeg',
        sourceSize: size,
        tags: TAGS,
      });

      // Assess: exact bytes; the checksum moto computed from the bytes it stored is the one computed on the
      // stream; the SHA-256 is in the tag (metadata is fixed before it is known), and nothing else was written.
      expect(stored).toEqual({ size, sha256: sha256(expected), checksum: fullCrc32(expected) });
      expect((await objectBytes(KEY)).equals(expected)).toBe(true);
      const copy = await store().inspect(KEY);
      expect(copy).toMatchObject({
        key: KEY,
        size,
        taggedSha256: sha256(expected),
        checksum: fullCrc32(expected),
        sourceSize: size,
        contentType: 'audio/mpeg',
        hasSidecar: false,
        tags: TAGS,
      });
      expect(copy?.sha256).toBeUndefined();
      const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: KEY }));
      expect(head.Metadata).toEqual({ 'source-size': String(size) });
      expect(probe.started).toEqual([
        'CreateMultipartUploadCommand',
        ...Array(5).fill('UploadPartCommand'),
        'CompleteMultipartUploadCommand',
        'PutObjectTaggingCommand',
        // inspect
        'HeadObjectCommand',
        'HeadObjectCommand',
        'GetObjectTaggingCommand',
      ]);
      expect(await bucketKeys()).toEqual([KEY]);
      expect(await openUploads()).toEqual([]);
    });

    it('keeps at most partsInFlight parts uploading and stops reading while they do', async () => {
      // Prepare: slow parts so that the reader would run ahead if nothing held it back.
      const size = 40 * MiB;
      let bytesRead = 0;
      let partsDone = 0;
      const source = syntheticMp3Stream(size, 14);
      source.on('data', (chunk: Buffer) => {
        bytesRead += chunk.length;
      });
      source.pause();
      const aheadAtPartStart: number[] = [];
      probe.onStart = async (name) => {
        if (name !== 'UploadPartCommand') return;
        aheadAtPartStart.push(bytesRead - partsDone * PART);
        await new Promise((resolve) => setTimeout(resolve, 150));
        partsDone += 1;
      };

      // Act
      await store({ partsInFlight: 3 }).putRecording({
        key: KEY,
        body: verified(source, size),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      // Assess: three uploads overlapped, never four; unsent bytes held stayed within the part buffers
      // plus stream buffering (one chunk in the verifier, one in the source).
      expect(probe.maxInFlight.get('UploadPartCommand')).toBe(3);
      expect(Math.max(...aheadAtPartStart)).toBeLessThanOrEqual((3 + 1) * PART + 2 * 64 * 1024);
      expect(sha256(await objectBytes(KEY))).toBe(sha256(syntheticMp3(size, 14)));
    });
  });

  describe('fewer requests and round trips', () => {
    it('sends a body of known size up to singlePutMaxBytes as one conditional PutObject with its SHA-256', async () => {
      // Prepare: 8 MiB, more than one 5 MiB part but within the single-put limit; the size is known up front.
      const bytes = syntheticMp3(8 * MiB, 81);
      const singlePutStore = new S3ArchiveStore({
        client: probe.client,
        bucket: BUCKET,
        partSizeBytes: PART,
        partsInFlight: 2,
        singlePutMaxBytes: 10 * MiB,
      });

      // Act
      const stored = await singlePutStore.putRecording({
        key: KEY,
        body: verified(bytes, bytes.length),
        contentType: 'audio/mpeg',
        sourceSize: bytes.length,
        tags: TAGS,
      });

      // Assess: one request, the SHA-256 checksum (S3 verifies it), in the metadata and in the tag.
      expect(probe.started).toEqual(['PutObjectCommand']);
      expect(stored).toEqual({ size: bytes.length, sha256: sha256(bytes), checksum: fullSha256(bytes) });
      expect((await objectBytes(KEY)).equals(bytes)).toBe(true);
      expect(await store().inspect(KEY)).toMatchObject({
        sha256: sha256(bytes),
        taggedSha256: sha256(bytes),
        checksum: fullSha256(bytes),
        tags: TAGS,
      });
    });

    it('creates the upload of a longer body of known size while its first part is still downloading', async () => {
      // Prepare
      const size = 12 * MiB + 777;
      let bytesRead = 0;
      const source = syntheticMp3Stream(size, 82);
      source.on('data', (chunk: Buffer) => {
        bytesRead += chunk.length;
      });
      source.pause();
      let readAtCreate: number | undefined;
      probe.onStart = (name) => {
        if (name === 'CreateMultipartUploadCommand') readAtCreate = bytesRead;
      };

      // Act
      const stored = await store().putRecording({
        key: KEY,
        body: verified(source, size),
        contentType: 'audio/mpeg',
        sourceSize: size,
        tags: TAGS,
      });

      // Assess: created before one part's bytes were in; the object is whole, checked and tagged as before.
      const requests = [...probe.started];
      expect(readAtCreate).toBeLessThan(PART);
      expect(stored.checksum).toEqual(fullCrc32(syntheticMp3(size, 82)));
      expect((await objectBytes(KEY)).equals(syntheticMp3(size, 82))).toBe(true);
      expect((await store().inspect(KEY))?.taggedSha256).toBe(sha256(syntheticMp3(size, 82)));
      expect(requests).toEqual([
        'CreateMultipartUploadCommand',
        ...Array(3).fill('UploadPartCommand'),
        'CompleteMultipartUploadCommand',
        'PutObjectTaggingCommand',
      ]);
    });

    it('aborts an upload created early when the body breaks before its first part', async () => {
      await expect(
        store().putRecording({
          key: KEY,
          body: verified(syntheticMp3Stream(1 * MiB, 83), 12 * MiB),
          contentType: 'audio/mpeg',
          sourceSize: 12 * MiB,
          tags: TAGS,
        }),
      ).rejects.toThrow(/ended after/);

      expect(probe.started).toEqual(['CreateMultipartUploadCommand', 'AbortMultipartUploadCommand']);
      await expectNothingLeft();
    });

    it('sends parts and single puts on pooled connections (no Expect: 100-continue) and, on loopback, with an unsigned payload beside their checksum', async () => {
      const seen: Record<string, string | undefined>[] = [];
      const others: Record<string, string | undefined>[] = [];
      probe.onRequest = (name, request) => {
        const raw = (request as { headers: Record<string, string> }).headers;
        const headers = Object.fromEntries(
          Object.entries(raw).map(([header, value]) => [header.toLowerCase(), value]),
        );
        if (name === 'UploadPartCommand' || name === 'PutObjectCommand') seen.push(headers);
        else others.push(headers);
      };

      await store().putRecording({
        key: KEY,
        body: verified(syntheticMp3(11 * MiB, 84)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });
      await store().putRecording({
        key: `${KEY}.2`,
        body: verified(syntheticMp3(3 * MiB, 85)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      expect(seen).toHaveLength(4);
      for (const headers of seen) {
        expect(headers.expect).toBeUndefined();
        expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
        expect(headers['x-amz-checksum-crc32'] ?? headers['x-amz-checksum-sha256']).toBeDefined();
      }
      // The other requests are signed as the SDK signs them.
      expect(others.length).toBeGreaterThan(0);
      for (const headers of others) expect(headers['x-amz-content-sha256']).not.toBe('UNSIGNED-PAYLOAD');
    });
  });

  describe('refusing broken bodies', () => {
    it.each([
      [
        'ends short of the reported size',
        () => verified(syntheticMp3Stream(12 * MiB, 21), 13 * MiB),
        /ended after/,
      ],
      ['runs past the reported size', () => verified(syntheticMp3Stream(13 * MiB, 22), 12 * MiB), /ran past/],
      [
        'is an HTML error page',
        () =>
          verified(Readable.from([Buffer.from('<html><body>Server error</body></html>'.repeat(400_000))])),
        /not audio or video/,
      ],
      ['ends short within one part', () => verified(syntheticMp3Stream(1 * MiB, 23), 2 * MiB), /ended after/],
    ])('leaves nothing when the body %s', async (_case, body, message) => {
      await expect(
        store().putRecording({ key: KEY, body: body(), contentType: 'audio/mpeg', tags: TAGS }),
      ).rejects.toThrow(message);

      await expectNothingLeft();
    });
  });

  describe('failing and aborting', () => {
    it('aborts the upload when S3 fails the second part, and reports it as transient', async () => {
      let parts = 0;
      probe.onStart = (name) => {
        if (name === 'UploadPartCommand' && ++parts === 2) throw injectedS3Error('InternalError', 500);
      };

      const attempt = store().putRecording({
        key: KEY,
        body: verified(syntheticMp3Stream(23 * MiB, 31), 23 * MiB),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      await expect(attempt).rejects.toBeInstanceOf(TransientError);
      expect(probe.started).toContain('AbortMultipartUploadCommand');
      await expectNothingLeft();
    });

    it('aborts the upload and leaves nothing when the completion fails', async () => {
      probe.onStart = (name) => {
        if (name === 'CompleteMultipartUploadCommand') throw injectedS3Error('SlowDown', 503);
      };

      await expect(
        store().putRecording({
          key: KEY,
          body: verified(syntheticMp3Stream(11 * MiB, 32), 11 * MiB),
          contentType: 'audio/mpeg',
          tags: TAGS,
        }),
      ).rejects.toBeInstanceOf(TransientError);

      expect(probe.started).toContain('AbortMultipartUploadCommand');
      await expectNothingLeft();
    });

    it('keeps the stored recording, untagged, when tagging fails after completion (the next attempt finishes it)', async () => {
      probe.onStart = (name) => {
        if (name === 'PutObjectTaggingCommand') throw injectedS3Error('InternalError', 500);
      };
      const bytes = syntheticMp3(11 * MiB, 35);

      await expect(
        store().putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS }),
      ).rejects.toBeInstanceOf(TransientError);

      const copy = await store().inspect(KEY);
      expect(copy).toMatchObject({ size: bytes.length, checksum: fullCrc32(bytes), tags: TAGS });
      expect(copy?.taggedSha256).toBeUndefined();
      expect(await openUploads()).toEqual([]);
    });

    it("sends each part with the CRC32 of its exact bytes, the stream's CRC32 at completion, and a SHA-256 with a single put", async () => {
      // moto verifies none of these on receipt (it computes its own CRC32 after completion, checked
      // above), so this asserts what AWS S3 checks: every header is the digest of the bytes sent.
      const sent: string[] = [];
      const parts: Buffer[] = [];
      let completion: Record<string, string> = {};
      probe.onRequest = (name, request) => {
        const { headers: raw, body } = request as { headers: Record<string, string>; body: unknown };
        const headers = Object.fromEntries(
          Object.entries(raw).map(([header, value]) => [header.toLowerCase(), value]),
        );
        if (name === 'UploadPartCommand') {
          expect(Buffer.isBuffer(body)).toBe(true);
          parts.push(Buffer.from(body as Buffer));
          expect(headers['x-amz-checksum-crc32']).toBe(crc32Base64(crc32(body as Buffer)));
          expect(headers['x-amz-sdk-checksum-algorithm']).toBe('CRC32');
        } else if (name === 'PutObjectCommand') {
          expect(Buffer.isBuffer(body)).toBe(true);
          expect(headers['x-amz-checksum-sha256']).toBe(
            createHash('sha256')
              .update(body as Buffer)
              .digest('base64'),
          );
          expect(headers['x-amz-sdk-checksum-algorithm']).toBe('SHA256');
        } else if (name === 'CompleteMultipartUploadCommand') {
          completion = headers;
        } else if (name === 'CreateMultipartUploadCommand') {
          expect(headers).toMatchObject({
            'x-amz-checksum-algorithm': 'CRC32',
            'x-amz-checksum-type': 'FULL_OBJECT',
          });
        }
        sent.push(name);
      };
      const multipart = syntheticMp3(11 * MiB, 33);

      await store().putRecording({
        key: KEY,
        body: verified(multipart),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });
      await store().putRecording({
        key: `${KEY}.2`,
        body: verified(syntheticMp3(1000, 34)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      expect(sent).toEqual([
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
        'PutObjectTaggingCommand',
        'PutObjectCommand',
      ]);
      // The parts, in order, are the body; the completion carries the body's CRC32 and size.
      expect(Buffer.concat(parts).equals(multipart)).toBe(true);
      expect(completion).toMatchObject({
        'x-amz-checksum-crc32': fullCrc32(multipart).value,
        'x-amz-checksum-type': 'FULL_OBJECT',
        'x-amz-mp-object-size': String(multipart.length),
        'if-none-match': '*',
      });
    });

    it('a part corrupted on the way (moto stores it, S3 would refuse it) leaves a copy whose checksum retention refuses', async () => {
      // Prepare: flip one byte of the second part after its CRC32 was computed.
      const size = 11 * MiB;
      const bytes = syntheticMp3(size, 36);
      let parts = 0;
      probe.onRequest = (name, request) => {
        if (name !== 'UploadPartCommand' || ++parts !== 2) return;
        const body = Buffer.from((request as { body: Buffer }).body);
        body[1000] = (body[1000] ?? 0) ^ 0xff;
        (request as { body: Buffer }).body = body;
      };
      const recording: SourceRecording = {
        provider: 'telphin',
        sourceId: 'main',
        recordingId: 'rec-1',
        startedAt: new Date('2024-05-17T10:00:00Z'),
        direction: 'inbound',
        fileExtension: 'mp3',
        size,
        raw: {},
      };
      expect(recordingKey(recording)).toBe(KEY);

      // Act
      const stored = await store().putRecording({
        key: KEY,
        body: verified(bytes),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });
      await store().putSidecar(
        KEY,
        buildSidecar(recording, {
          objectKey: KEY,
          ...stored,
          contentType: 'audio/mpeg',
          archivedAt: new Date(),
        }),
      );
      const verification = await verifyArchivedCopy(recording, store(), {
        now: new Date(),
        gracePeriodHours: 0,
        deep: false,
      });

      // Assess: what moto computed from the bytes it got is not what the stream had.
      expect(stored.checksum).toEqual(fullCrc32(bytes));
      expect((await store().inspect(KEY))?.checksum).not.toEqual(stored.checksum);
      expect(verification).toMatchObject({ verified: false, problem: 'checksum-mismatch' });
    });

    it('stops at the deadline mid-stream with a DeadlineError and leaves nothing', async () => {
      // Prepare: a download that delivers 12 MiB and then hangs, as a stalled server would.
      const head = syntheticMp3(12 * MiB, 41);
      let sent = false;
      const stalled = new Readable({
        read() {
          if (!sent) this.push(head);
          sent = true;
        },
      });
      const deadline = new AbortController();
      let parts = 0;
      probe.onStart = (name) => {
        if (name === 'UploadPartCommand' && ++parts === 2) setTimeout(() => deadline.abort(), 50);
      };

      // Act
      const attempt = store().putRecording({
        key: KEY,
        body: verified(stalled, 30 * MiB),
        contentType: 'audio/mpeg',
        tags: TAGS,
        signal: deadline.signal,
      });

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(DeadlineError);
      await expectNothingLeft();
    });

    it('refuses to start after the deadline', async () => {
      await expect(
        store().putRecording({
          key: KEY,
          body: verified(syntheticMp3(1000, 42)),
          contentType: 'audio/mpeg',
          tags: TAGS,
          signal: AbortSignal.abort(),
        }),
      ).rejects.toBeInstanceOf(DeadlineError);
      await expectNothingLeft();
    });
  });

  describe('never overwriting', () => {
    it.each([
      ['single put', 200_000],
      ['multipart', 12 * MiB],
    ])('refuses a second %s to the same key and keeps the first object', async (_route, size) => {
      // Prepare
      const first = syntheticMp3(size, 51);
      await store().putRecording({ key: KEY, body: verified(first), contentType: 'audio/mpeg', tags: TAGS });

      // Act
      const second = store().putRecording({
        key: KEY,
        body: verified(syntheticMp3(size, 52)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      // Assess
      await expect(second).rejects.toBeInstanceOf(AlreadyArchivedError);
      expect((await objectBytes(KEY)).equals(first)).toBe(true);
      expect((await store().inspect(KEY))?.taggedSha256).toBe(sha256(first));
      expect(await bucketKeys()).toEqual([KEY]);
      expect(await openUploads()).toEqual([]);
    });

    it.each([
      ['single put', 200_000],
      ['multipart', 12 * MiB],
    ])('lets exactly one of two concurrent %ss win', async (_route, size) => {
      const bodies = [syntheticMp3(size, 61), syntheticMp3(size, 62)];
      // Everything runs concurrently up to the conditional completion. moto checks If-None-Match and
      // then writes without a lock (AWS does both atomically), so the two completions take turns here.
      let turn = Promise.resolve();
      const releases = new Map<object, () => void>();
      probe.onStart = async (_name, input) => {
        if (input.IfNoneMatch !== '*') return;
        const previous = turn;
        turn = new Promise((resolve) => releases.set(input, resolve));
        await previous;
      };
      probe.onFinish = (_name, input) => releases.get(input)?.();

      const results = await Promise.allSettled(
        bodies.map((bytes) =>
          store().putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS }),
        ),
      );

      const winners = results.filter((result) => result.status === 'fulfilled');
      const losers = results.filter((result) => result.status === 'rejected');
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      expect((losers[0] as PromiseRejectedResult).reason).toBeInstanceOf(AlreadyArchivedError);
      const winner = (winners[0] as PromiseFulfilledResult<{ sha256: string }>).value;
      expect(sha256(await objectBytes(KEY))).toBe(winner.sha256);
      expect((await store().inspect(KEY))?.taggedSha256).toBe(winner.sha256);
      expect(await bucketKeys()).toEqual([KEY]);
      expect(await openUploads()).toEqual([]);
    });
  });

  describe('inspecting, sidecars and reading back', () => {
    const sidecar: Sidecar = {
      schemaVersion: 1,
      provider: 'telphin',
      sourceId: 'main',
      recordingId: 'rec-1',
      callId: 'call-1',
      startedAt: '2024-05-17T10:00:00.000Z',
      endedAt: '2024-05-17T10:05:00.000Z',
      durationSeconds: 300,
      direction: 'inbound',
      from: { number: '+4930123' },
      to: { number: '+4930456', extensionId: '201' },
      extension: { id: '201', name: 'Sales' },
      callerStatus: 'answered',
      calleeStatus: 'answered',
      size: 1000,
      sourceReportedSize: 1000,
      sha256: 'a'.repeat(64),
      contentType: 'audio/mpeg',
      objectKey: KEY,
      archivedAt: '2024-05-17T10:06:00.000Z',
      raw: { record_uuid: 'rec-1', nested: [1, 2, 3] },
    };

    it('reports nothing for a missing key and no sidecar for a missing sidecar', async () => {
      expect(await store().inspect(KEY)).toBeUndefined();
      expect(await store().readSidecar(KEY)).toBeUndefined();
      await expect(store().openRecording(KEY)).rejects.toBeInstanceOf(PermanentError);
    });

    it('round-trips a sidecar and reflects it in inspect', async () => {
      const bytes = syntheticMp3(1000, 71);
      await store().putRecording({ key: KEY, body: verified(bytes), contentType: 'audio/mpeg', tags: TAGS });
      expect((await store().inspect(KEY))?.hasSidecar).toBe(false);

      await store().putSidecar(KEY, sidecar);

      expect(await store().readSidecar(KEY)).toEqual(sidecar);
      const copy = await store().inspect(KEY);
      expect(copy?.hasSidecar).toBe(true);
      expect(copy?.lastModified).toBeInstanceOf(Date);
      const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: sidecarKey(KEY) }));
      expect(head.ContentType).toBe('application/json');
    });

    it('writes a sidecar once: a second write is refused and the first one stands', async () => {
      await store().putSidecar(KEY, sidecar, TAGS);

      await expect(store().putSidecar(KEY, { ...sidecar, sha256: 'b'.repeat(64) })).rejects.toBeInstanceOf(
        AlreadyArchivedError,
      );

      expect(await store().readSidecar(KEY)).toEqual(sidecar);
      const tagging = await moto.s3.send(
        new GetObjectTaggingCommand({ Bucket: BUCKET, Key: sidecarKey(KEY) }),
      );
      expect(Object.fromEntries((tagging.TagSet ?? []).map((tag) => [tag.Key, tag.Value]))).toEqual(TAGS);
    });

    it('refuses a sidecar that is not valid', async () => {
      await moto.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: sidecarKey(KEY), Body: '{"schemaVersion": 1}' }),
      );
      await expect(store().readSidecar(KEY)).rejects.toBeInstanceOf(PermanentError);
      await moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: sidecarKey(KEY), Body: 'not json' }));
      await expect(store().readSidecar(KEY)).rejects.toBeInstanceOf(PermanentError);
    });

    it('streams a stored recording back', async () => {
      const size = 7 * MiB;
      await store().putRecording({
        key: KEY,
        body: verified(syntheticMp3Stream(size, 72)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });

      const hash = createHash('sha256');
      for await (const chunk of await store().openRecording(KEY)) hash.update(chunk as Buffer);

      expect(hash.digest('hex')).toBe(sha256(syntheticMp3(size, 72)));
    });

    it('lists keys under a prefix', async () => {
      await store().putRecording({
        key: KEY,
        body: verified(syntheticMp3(1000, 73)),
        contentType: 'audio/mpeg',
        tags: TAGS,
      });
      await store().putSidecar(KEY, sidecar);

      const keys: string[] = [];
      for await (const key of store().listKeys('recordings/telphin/main/2024/05/17/')) keys.push(key);

      expect(keys).toEqual([KEY, sidecarKey(KEY)]);
    });
  });
});
