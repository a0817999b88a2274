/**
 * Run leases as objects in the bucket (`state/leases/{kind}.json`), taken with S3 conditional writes:
 * `If-None-Match: *` creates the lease, `If-Match: {etag}` takes over an expired one or gives it back, so
 * of two runs racing for it one gets 412 and stands down (S3 User Guide, "Conditional writes"). The
 * bucket exists in every stack, unlike the shared-state table, and nothing is ever deleted: a given-back
 * lease is rewritten as expired.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RunKind } from '../core/ports';
import { type RunLeases, runLeaseKey } from '../core/run-lease';

interface LeaseBody {
  holder?: string;
  expiresAtMs: number;
}

export class S3RunLeases implements RunLeases {
  constructor(private readonly options: { client: S3Client; bucket: string }) {}

  async acquire(kind: RunKind, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    const current = await this.read(kind);
    if (current?.lease && current.lease.holder !== holder && current.lease.expiresAtMs > nowMs) return false;
    return this.write(kind, { holder, expiresAtMs: nowMs + ttlMs }, current?.etag);
  }

  async release(kind: RunKind, holder: string): Promise<void> {
    const current = await this.read(kind);
    if (current?.lease?.holder !== holder) return;
    await this.write(kind, { expiresAtMs: 0 }, current.etag);
  }

  private async read(kind: RunKind): Promise<{ etag: string; lease?: LeaseBody } | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: runLeaseKey(kind) }),
      );
      const text = (await object.Body?.transformToString()) ?? '';
      let lease: LeaseBody | undefined;
      try {
        const parsed = JSON.parse(text) as LeaseBody;
        lease = typeof parsed?.expiresAtMs === 'number' ? parsed : undefined;
      } catch {
        // Unreadable: treated as expired, and overwritten under If-Match like any expired lease.
      }
      return { etag: object.ETag ?? '', lease };
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  /** Writes the lease only if it is still what was read (or still absent); false when another run won. */
  private async write(kind: RunKind, lease: LeaseBody, etag: string | undefined): Promise<boolean> {
    try {
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: runLeaseKey(kind),
          Body: JSON.stringify({ ...lease, expiresAt: new Date(lease.expiresAtMs).toISOString() }),
          ContentType: 'application/json',
          ...(etag ? { IfMatch: etag } : { IfNoneMatch: '*' }),
        }),
      );
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 412: another run wrote first; 409 (ConditionalRequestConflict): a concurrent conditional write.
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }
}
