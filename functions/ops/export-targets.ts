/**
 * Where `npm run export` writes: a folder, or an S3 prefix (`s3://bucket/prefix`). Files are streamed in
 * and read back for verification; a file is written to a temporary name and renamed, so a half-written
 * copy is never mistaken for a finished one.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ExportTarget } from './export';

export class FolderExportTarget implements ExportTarget {
  readonly description: string;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = this.root;
  }

  private pathOf(path: string): string {
    const full = resolve(this.root, ...path.split('/'));
    const inside = relative(this.root, full);
    if (inside === '' || inside.startsWith('..') || inside.split(sep).includes('..'))
      throw new RangeError(`path outside the export folder: ${JSON.stringify(path)}`);
    return full;
  }

  async sizeOf(path: string): Promise<number | undefined> {
    return stat(this.pathOf(path)).then(
      (info) => (info.isFile() ? info.size : undefined),
      () => undefined,
    );
  }

  /** The size is not needed: a file takes whatever length the stream has. */
  async write(path: string, body: Readable, _size?: number): Promise<void> {
    const full = this.pathOf(path);
    await mkdir(dirname(full), { recursive: true });
    const temporary = `${full}.${randomUUID()}.partial`;
    try {
      await pipeline(body, createWriteStream(temporary, { flush: true }));
      await rename(temporary, full);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async read(path: string): Promise<Readable> {
    return createReadStream(this.pathOf(path));
  }

  async readText(path: string): Promise<string | undefined> {
    return readFile(this.pathOf(path), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
  }

  async writeText(path: string, text: string): Promise<void> {
    const full = this.pathOf(path);
    await mkdir(dirname(full), { recursive: true });
    const temporary = `${full}.${randomUUID()}.partial`;
    await writeFile(temporary, text, { flush: true });
    await rename(temporary, full);
  }
}

/** `s3://bucket/prefix` → its parts; undefined for anything else. */
export function parseS3Url(text: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(text);
  if (!match) return undefined;
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  return { bucket: match[1] ?? '', prefix: prefix ? `${prefix}/` : '' };
}

const notFound = (error: unknown) => {
  const shape = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return shape.name === 'NoSuchKey' || shape.name === 'NotFound' || shape.$metadata?.httpStatusCode === 404;
};

export class S3ExportTarget implements ExportTarget {
  readonly description: string;

  constructor(private readonly options: { client: S3Client; bucket: string; prefix: string }) {
    this.description = `s3://${options.bucket}/${options.prefix}`;
  }

  private key(path: string): string {
    return `${this.options.prefix}${path}`;
  }

  async sizeOf(path: string): Promise<number | undefined> {
    try {
      const head = await this.options.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(path) }),
      );
      return head.ContentLength;
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * A streamed PutObject needs the length up front: recordings pass theirs (from the sidecar) and are
   * never held in memory; a file of unknown length (a sidecar, a few kilobytes) is gathered first.
   */
  async write(path: string, body: Readable, size?: number): Promise<void> {
    let payload: Readable | Buffer = body;
    if (size === undefined) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      payload = Buffer.concat(chunks);
    }
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.key(path),
        Body: payload,
        ...(size !== undefined ? { ContentLength: size } : {}),
      }),
    );
  }

  async read(path: string): Promise<Readable> {
    const object = await this.options.client.send(
      new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(path) }),
    );
    if (!(object.Body instanceof Readable))
      throw new Error(`GetObject ${this.key(path)} did not return a stream`);
    return object.Body;
  }

  async readText(path: string): Promise<string | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(path) }),
      );
      return (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async writeText(path: string, text: string): Promise<void> {
    await this.options.client.send(
      new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(path), Body: text }),
    );
  }
}
