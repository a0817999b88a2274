/**
 * Records of recordings found gone at the source (`goneAtSourceKey(objectKey)`) and of granted recordings
 * that expired before the fetch (`expiredBeforeFetchKey(objectKey)`), one small JSON object per
 * recording: in the bucket on AWS (any worker, any container), under the archive folder locally. The
 * first record of a recording stands; a redelivered job finds it and leaves it.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { expiredBeforeFetchKey, goneAtSourceKey } from '../core/keys';
import type {
  ExpiredBeforeFetchLog,
  ExpiredBeforeFetchRecord,
  GoneAtSourceLog,
  GoneAtSourceRecord,
} from '../core/ports';

function serialise(entry: object): string {
  return `${JSON.stringify(entry, null, 2)}\n`;
}

export class S3GoneAtSourceLog implements GoneAtSourceLog {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async record(entry: GoneAtSourceRecord): Promise<void> {
    await putOnce(this.options, goneAtSourceKey(entry.objectKey), entry);
  }
}

export class S3ExpiredBeforeFetchLog implements ExpiredBeforeFetchLog {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async record(entry: ExpiredBeforeFetchRecord): Promise<void> {
    await putOnce(this.options, expiredBeforeFetchKey(entry.objectKey), entry);
  }
}

async function putOnce(
  options: { client: S3Client; bucket: string },
  key: string,
  entry: object,
): Promise<void> {
  try {
    await options.client.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key,
        Body: serialise(entry),
        ContentType: 'application/json',
        // The bucket is versioned: a second write would only leave a version behind.
        IfNoneMatch: '*',
      }),
    );
  } catch (error) {
    if (isPreconditionFailed(error)) return;
    throw error;
  }
}

function isPreconditionFailed(error: unknown): boolean {
  const shape = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return shape?.name === 'PreconditionFailed' || shape?.$metadata?.httpStatusCode === 412;
}

/** Local mode: the same keys under the archive folder. */
export class FsGoneAtSourceLog implements GoneAtSourceLog {
  constructor(private readonly options: { root: string }) {}

  async record(entry: GoneAtSourceRecord): Promise<void> {
    await writeOnce(this.options.root, goneAtSourceKey(entry.objectKey), entry);
  }
}

export class FsExpiredBeforeFetchLog implements ExpiredBeforeFetchLog {
  constructor(private readonly options: { root: string }) {}

  async record(entry: ExpiredBeforeFetchRecord): Promise<void> {
    await writeOnce(this.options.root, expiredBeforeFetchKey(entry.objectKey), entry);
  }
}

async function writeOnce(root: string, key: string, entry: object): Promise<void> {
  const path = join(root, ...key.split('/'));
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(temporary, serialise(entry), { flag: 'wx' });
    // A hard link appears whole or not at all, and refuses to replace a record already there.
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}
