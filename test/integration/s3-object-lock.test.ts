/**
 * Object Lock is set per object as recordings and sidecars are written, never as a bucket default, so
 * audit rewrites and run records are not locked for the retention period. S3 refuses an upload with a
 * retention period that carries no checksum (Content-MD5 or a flexible checksum), so every request that
 * writes a locked object's bytes must carry one.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { CreateBucketCommand, HeadObjectCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
import { crc32Base64 } from '../../functions/core/checksums';
import { buildSidecar } from '../../functions/core/sidecar';
import { RecordingVerifier } from '../../functions/core/verify-stream';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';

const BUCKET = 'callvault-locked';
const NOW = new Date('2026-11-21T00:00:00Z');

function mp3(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  bytes.write('ID3', 0, 'latin1');
  return bytes;
}

describe.skipIf(!motoAvailable())('S3 Object Lock per object', () => {
  let moto: MotoServer;
  let store: S3ArchiveStore;

  beforeAll(async () => {
    moto = await startMoto();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }));
    await moto.s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    store = new S3ArchiveStore({
      client: moto.s3,
      bucket: BUCKET,
      partSizeBytes: 5 * 1024 * 1024,
      partsInFlight: 2,
      objectLock: { mode: 'COMPLIANCE', years: 7 },
      now: () => new Date(NOW),
    });
  });

  afterAll(async () => {
    await moto?.stop();
  });

  async function put(key: string, bytes: Buffer) {
    const body = new RecordingVerifier({ sourceSize: bytes.length });
    Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]).pipe(body);
    return store.putRecording({
      key,
      body,
      contentType: 'audio/mpeg',
      sourceSize: bytes.length,
      tags: { provider: 'telphin' },
    });
  }

  it('locks a single-put recording and its sidecar until the retention date, in the configured mode', async () => {
    const size = 200_000;
    const key = `recordings/telphin/hq/2026/11/20/${size}.mp3`;
    const bytes = mp3(size);

    const stored = await put(key, bytes);
    await store.putSidecar(
      key,
      buildSidecar(
        {
          provider: 'telphin',
          sourceId: 'hq',
          recordingId: String(size),
          startedAt: NOW,
          direction: 'inbound',
          fileExtension: 'mp3',
          raw: {},
        },
        { objectKey: key, size, sha256: stored.sha256, contentType: 'audio/mpeg', archivedAt: NOW },
      ),
      { provider: 'telphin' },
    );

    expect(stored.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    // HeadObject reports the lock (moto answers GetObjectRetention with the object's body).
    for (const locked of [key, `${key}.json`]) {
      const head = await moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: locked }));
      expect(head.ObjectLockMode).toBe('COMPLIANCE');
      expect(head.ObjectLockRetainUntilDate?.toISOString().slice(0, 10)).toBe('2033-11-21');
    }
  });

  /** Every request the store sends while `act` runs: command, input, and the HTTP headers and body. */
  async function capture(act: () => Promise<unknown>) {
    const sent: {
      command: string;
      input: Record<string, unknown>;
      headers: Record<string, string>;
      body: unknown;
    }[] = [];
    moto.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers: Record<string, string>; body: unknown };
        sent.push({
          command: context.commandName ?? '?',
          input: args.input as Record<string, unknown>,
          headers: Object.fromEntries(
            Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
          ),
          body: request.body,
        });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureLockedWrites', priority: 'low' },
    );
    try {
      await act();
    } finally {
      moto.s3.middlewareStack.remove('captureLockedWrites');
    }
    return sent;
  }

  const digests: Record<string, (body: Buffer) => string> = {
    crc32: (body) => crc32Base64(crc32(body)),
    sha256: (body) => createHash('sha256').update(body).digest('base64'),
  };

  it('sends a checksum of the exact bytes with every request that writes a locked recording or sidecar', async () => {
    // moto accepts locked uploads without one (AWS does not), so this checks the requests themselves:
    // a server-side copy (UploadPartCopy, CopyObject) carries no checksum of its own and fails the rule.
    const key = 'recordings/telphin/hq/2026/11/20/checksummed.mp3';
    const sent = await capture(async () => {
      const stored = await put(key, mp3(12 * 1024 * 1024 + 3));
      await put(`${key}.small`, mp3(100_000));
      await store.putSidecar(
        key,
        buildSidecar(
          {
            provider: 'telphin',
            sourceId: 'hq',
            recordingId: 'checksummed',
            startedAt: NOW,
            direction: 'inbound',
            fileExtension: 'mp3',
            raw: {},
          },
          { objectKey: key, ...stored, contentType: 'audio/mpeg', archivedAt: NOW },
        ),
      );
    });

    const writes = sent.filter((request) => /Put|Upload|Copy|Multipart/.test(request.command));
    expect(writes.map((request) => request.command)).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
      'PutObjectTaggingCommand',
      'PutObjectCommand',
      'PutObjectCommand',
    ]);
    for (const { command, headers, body } of writes) {
      if (command === 'PutObjectCommand' || command === 'UploadPartCommand') {
        // A body under a retention period: the algorithm header and the digest of exactly these bytes.
        const algorithm = headers['x-amz-sdk-checksum-algorithm']?.toLowerCase() ?? '';
        expect(Object.keys(digests), `${command} checksum algorithm`).toContain(algorithm);
        const bytes = Buffer.isBuffer(body) ? body : Buffer.from(String(body));
        expect(headers[`x-amz-checksum-${algorithm}`], `${command} checksum`).toBe(
          digests[algorithm]?.(bytes),
        );
      } else if (command === 'CreateMultipartUploadCommand') {
        expect(headers).toMatchObject({
          'x-amz-object-lock-mode': 'COMPLIANCE',
          'x-amz-checksum-algorithm': 'CRC32',
          'x-amz-checksum-type': 'FULL_OBJECT',
        });
      } else if (command === 'CompleteMultipartUploadCommand') {
        expect(headers['x-amz-checksum-crc32'], 'whole-object checksum at completion').toMatch(
          /^[A-Za-z0-9+/]{6}==$/,
        );
      } else if (command === 'PutObjectTaggingCommand') {
        // Tags are not locked, and S3 requires a checksum on this request anyway (the SDK adds it).
        expect(
          Object.keys(headers).some((name) => name.startsWith('x-amz-checksum-') || name === 'content-md5'),
        ).toBe(true);
      } else {
        throw new Error(`${command} wrote a locked object without a checksum rule`);
      }
    }
  });

  it('asks S3 to lock a multipart recording when it creates the upload at its final key', async () => {
    // moto ignores Object Lock headers on CreateMultipartUpload (AWS applies them), so this checks the
    // request callvault sends rather than moto's answer.
    const key = 'recordings/telphin/hq/2026/11/20/large.mp3';
    const sent = await capture(() => put(key, mp3(12 * 1024 * 1024 + 3)));

    const created = sent.filter((request) => request.command === 'CreateMultipartUploadCommand');
    expect(created).toHaveLength(1);
    const input = created[0]?.input as {
      Key?: string;
      ObjectLockMode?: string;
      ObjectLockRetainUntilDate?: Date;
    };
    expect(input).toMatchObject({ Key: key, ObjectLockMode: 'COMPLIANCE' });
    expect(input.ObjectLockRetainUntilDate?.toISOString().slice(0, 10)).toBe('2033-11-21');
  });
});
