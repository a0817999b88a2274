/**
 * Records of recordings found gone at the source, one small JSON object per recording at
 * `goneAtSourceKey(objectKey)`: in the bucket on AWS (any worker, any container), under the archive folder
 * locally. The first record of a recording stands; a redelivered job finds it and leaves it.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { goneAtSourceKey } from '../core/keys';
import type { GoneAtSourceLog, GoneAtSourceRecord } from '../core/ports';

function serialise(entry: GoneAtSourceRecord): string {
  return `${JSON.stringify(entry, null, 2)}\n`;
}

export class S3GoneAtSourceLog implements GoneAtSourceLog {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async record(entry: GoneAtSourceRecord): Promise<void> {
    try {
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: goneAtSourceKey(entry.objectKey),
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
}

function isPreconditionFailed(error: unknown): boolean {
  const shape = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return shape?.name === 'PreconditionFailed' || shape?.$metadata?.httpStatusCode === 412;
}

/** Local mode: the same keys under the archive folder. */
export class FsGoneAtSourceLog implements GoneAtSourceLog {
  constructor(private readonly options: { root: string }) {}

  async record(entry: GoneAtSourceRecord): Promise<void> {
    const path = join(this.options.root, ...goneAtSourceKey(entry.objectKey).split('/'));
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
}
