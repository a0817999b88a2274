/**
 * Undelivered outcome events, one JSON object per publisher and event id, kept until a redrive delivers
 * them: `{prefix}{publisher}/{eventId}.json` under the recordings bucket on AWS, files in a folder
 * locally. Recording the same event again (a redrive that failed too) replaces it with the latest attempt.
 *
 * Why the bucket and not the shared-state table: every stack has the bucket (the table exists only with
 * sources that share sessions), a prefix lists cheaply for a redrive, and nothing expires it: the table's
 * items expire by TTL, and an undelivered event must wait however long the consumer is down.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import * as z from 'zod';
import type { UndeliveredEvent, UndeliveredEvents } from '../core/outcome-events';

const undeliveredSchema = z.object({
  v: z.literal(1),
  publisher: z.string().regex(/^[a-z0-9-]+$/),
  event: z.object({ eventId: z.string().regex(/^cv1-[0-9a-f]{64}$/) }).passthrough(),
  attempts: z.number().int().min(1),
  failedAt: z.string(),
  reason: z.string(),
});

function parse(text: string, where: string): UndeliveredEvent {
  const parsed = undeliveredSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${where} is not an undelivered event: ${parsed.error.message}`);
  return parsed.data as unknown as UndeliveredEvent;
}

function relativeKey(entry: Pick<UndeliveredEvent, 'publisher' | 'event'>): string {
  // Both parts are validated shapes (a publisher name, `cv1-` + hex): safe as path segments.
  return `${entry.publisher}/${entry.event.eventId}.json`;
}

export class FsUndeliveredEvents implements UndeliveredEvents {
  constructor(private readonly options: { dir: string }) {}

  async record(entry: UndeliveredEvent): Promise<void> {
    const path = join(this.options.dir, relativeKey(entry));
    await mkdir(join(this.options.dir, entry.publisher), { recursive: true });
    // Written aside and renamed: a reader never sees half a record.
    const partial = `${path}.${randomUUID()}.partial`;
    await writeFile(partial, `${JSON.stringify(entry)}\n`);
    await rename(partial, path);
  }

  async *list(): AsyncIterable<UndeliveredEvent> {
    let publishers: string[];
    try {
      publishers = await readdir(this.options.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const publisher of publishers.sort()) {
      const names = await readdir(join(this.options.dir, publisher)).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (!name.endsWith('.json')) continue;
        const path = join(this.options.dir, publisher, name);
        yield parse(await readFile(path, 'utf8'), path);
      }
    }
  }

  async remove(entry: Pick<UndeliveredEvent, 'publisher' | 'event'>): Promise<void> {
    await rm(join(this.options.dir, relativeKey(entry)), { force: true });
  }
}

export class S3UndeliveredEvents implements UndeliveredEvents {
  constructor(private readonly options: { client: S3Client; bucket: string; prefix: string }) {}

  private key(entry: Pick<UndeliveredEvent, 'publisher' | 'event'>): string {
    return `${this.options.prefix}${relativeKey(entry)}`;
  }

  async record(entry: UndeliveredEvent): Promise<void> {
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.key(entry),
        Body: `${JSON.stringify(entry)}\n`,
        ContentType: 'application/json',
      }),
    );
  }

  async *list(): AsyncIterable<UndeliveredEvent> {
    const { client, bucket, prefix } = this.options;
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key?.endsWith('.json')) continue;
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        yield parse((await answer.Body?.transformToString()) ?? '', object.Key);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(entry: Pick<UndeliveredEvent, 'publisher' | 'event'>): Promise<void> {
    await this.options.client.send(
      new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(entry) }),
    );
  }
}
