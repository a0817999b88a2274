/**
 * Read-only access to the archive's keys for `npm run status`: keys with their sizes under a prefix, and
 * small text objects (audit trails). The same keys in a bucket and under the local archive folder.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { GetObjectCommand, NoSuchKey, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';

export interface ListedObject {
  key: string;
  size: number;
}

export interface ArchiveListing {
  /** Every object under a prefix that ends in `/`. */
  list(prefix: string): AsyncIterable<ListedObject>;
  readText(key: string): Promise<string | undefined>;
}

export class FsArchiveListing implements ArchiveListing {
  constructor(private readonly root: string) {}

  async *list(prefix: string): AsyncIterable<ListedObject> {
    // Only the prefix's own folder is walked, not the whole archive.
    const folder = join(this.root, ...prefix.split('/').filter(Boolean));
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      yield { key: relative(this.root, path).split(sep).join('/'), size: (await stat(path)).size };
    }
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.root, ...key.split('/')), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
}

export class S3ArchiveListing implements ArchiveListing {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async *list(prefix: string): AsyncIterable<ListedObject> {
    for await (const page of paginateListObjectsV2(
      { client: this.options.client },
      { Bucket: this.options.bucket, Prefix: prefix },
    )) {
      for (const object of page.Contents ?? [])
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0 };
    }
  }

  async readText(key: string): Promise<string | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key }),
      );
      return await object.Body?.transformToString();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }
}
