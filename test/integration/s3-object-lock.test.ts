/**
 * Object Lock is set per object as recordings and sidecars are written, never as a bucket default, so
 * temporary staging copies are not locked for the retention period.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ArchiveStore } from '../../functions/adapters/s3-archive-store';
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

  it('asks S3 to lock the final object of a multipart recording when it creates it', async () => {
    // moto ignores Object Lock headers on CreateMultipartUpload (AWS applies them), so this checks the
    // request callvault sends rather than moto's answer.
    const created: { Key?: string; ObjectLockMode?: string; ObjectLockRetainUntilDate?: Date }[] = [];
    moto.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'CreateMultipartUploadCommand')
          created.push(args.input as (typeof created)[number]);
        return next(args);
      },
      { step: 'initialize', name: 'captureCreateMultipartUpload' },
    );
    const key = 'recordings/telphin/hq/2026/11/20/large.mp3';
    try {
      await put(key, mp3(12 * 1024 * 1024 + 3));
    } finally {
      moto.s3.middlewareStack.remove('captureCreateMultipartUpload');
    }

    const final = created.find((input) => input.Key === key);
    const staging = created.find((input) => input.Key?.startsWith('staging/'));
    expect(final).toMatchObject({ ObjectLockMode: 'COMPLIANCE' });
    expect(final?.ObjectLockRetainUntilDate?.toISOString().slice(0, 10)).toBe('2033-11-21');
    expect(staging?.ObjectLockMode).toBeUndefined();
  });

  it('leaves staging copies unlocked, so the lifecycle rule can remove them', async () => {
    const listing = await moto.s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'staging/' }));
    const versions = listing.Versions ?? [];
    expect(versions.length).toBeGreaterThan(0);
    for (const version of versions) {
      const head = await moto.s3.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: version.Key, VersionId: version.VersionId }),
      );
      expect(head.ContentLength).toBeGreaterThan(0);
      expect(head.ObjectLockMode).toBeUndefined();
    }
  });
});
