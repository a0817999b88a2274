/**
 * The catalogue's objects (`catalog/recordings/…`): in the bucket on AWS, under the archive folder locally,
 * at the same keys. A record is written once, conditionally (`If-None-Match: *` on S3, a hard link
 * locally), so a redelivered job or a rebuild never rewrites one; compaction replaces a day's one
 * compacted file whole (a PUT on S3, a rename locally).
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type CatalogueRecord, catalogueKey, serialiseCatalogueRecord } from '../core/catalogue';
import type { CatalogueStorage } from '../core/catalogue-compaction';

export class S3CatalogueStorage implements CatalogueStorage {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async record(entry: CatalogueRecord): Promise<'written' | 'exists'> {
    try {
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: catalogueKey(entry),
          Body: serialiseCatalogueRecord(entry),
          ContentType: 'application/json',
          // The bucket is versioned: a second write would only leave a version behind.
          IfNoneMatch: '*',
        }),
      );
      return 'written';
    } catch (error) {
      if (isPreconditionFailed(error)) return 'exists';
      throw error;
    }
  }

  async *listKeys(prefix: string): AsyncIterable<string> {
    const pages = paginateListObjectsV2(
      { client: this.options.client },
      { Bucket: this.options.bucket, Prefix: prefix },
    );
    for await (const page of pages)
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key }),
      );
      return object.Body ? Buffer.from(await object.Body.transformToByteArray()) : Buffer.alloc(0);
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async replace(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        ...(key.endsWith('.gz') ? { ContentEncoding: 'gzip' } : {}),
      }),
    );
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      const answer = await this.options.client.send(
        new DeleteObjectsCommand({
          Bucket: this.options.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = answer.Errors ?? [];
      if (failed.length > 0)
        throw new Error(
          `could not delete ${failed.length} catalogue records (first ${failed[0]?.Key}: ${failed[0]?.Code})`,
        );
    }
  }
}

function isPreconditionFailed(error: unknown): boolean {
  const shape = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return shape?.name === 'PreconditionFailed' || shape?.$metadata?.httpStatusCode === 412;
}

/** Temporary files live outside the partition folders, so no query engine ever globs one. */
const TEMP_DIR = 'catalog/.tmp';

/** Local mode: the same keys under the archive folder. */
export class FsCatalogueStorage implements CatalogueStorage {
  constructor(private readonly options: { root: string }) {}

  private pathOf(key: string): string {
    if (key.split('/').some((segment) => segment === '..' || segment === '') || key.startsWith('/'))
      throw new RangeError(`${JSON.stringify(key)} is not a catalogue key`);
    return join(this.options.root, ...key.split('/'));
  }

  private async temporary(): Promise<string> {
    const dir = join(this.options.root, ...TEMP_DIR.split('/'));
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomUUID().slice(0, 12)}.tmp`);
  }

  async record(entry: CatalogueRecord): Promise<'written' | 'exists'> {
    const path = this.pathOf(catalogueKey(entry));
    const temporary = await this.temporary();
    try {
      await writeFile(temporary, serialiseCatalogueRecord(entry), { flag: 'wx' });
      await mkdir(dirname(path), { recursive: true });
      // A hard link appears whole or not at all, and refuses to replace a record already there.
      await link(temporary, path);
      return 'written';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async *listKeys(prefix: string): AsyncIterable<string> {
    // Walk from the deepest folder the prefix names, not the whole archive.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const start = join(this.options.root, ...folder.split('/').filter(Boolean));
    const entries = await readdir(start, { recursive: true, withFileTypes: true }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    const keys: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const key = relative(this.options.root, join(entry.parentPath, entry.name)).split(sep).join('/');
      if (key.startsWith(prefix) && !key.startsWith(`${TEMP_DIR}/`)) keys.push(key);
    }
    yield* keys.sort();
  }

  async read(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async replace(key: string, body: Buffer): Promise<void> {
    const path = this.pathOf(key);
    const temporary = await this.temporary();
    try {
      await writeFile(temporary, body, { flag: 'wx', flush: true });
      await mkdir(dirname(path), { recursive: true });
      await rename(temporary, path);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const key of keys) await rm(this.pathOf(key), { force: true });
  }
}
