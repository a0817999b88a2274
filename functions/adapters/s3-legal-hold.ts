/**
 * Holds in the archive bucket. Where the bucket has S3 Object Lock, a hold is an Object Lock legal hold
 * on the recording and on its sidecar (PutObjectLegalHold; S3 then refuses to delete those versions,
 * lifecycle included, until it is released). Everywhere, the hold is also callvault's own record at
 * `holds/{objectKey}.json` (who, when, why, which question), and both objects are retagged out of their
 * lifecycle class: the bucket's expiry rules select recordings by their `retention-class` tag, and no rule
 * names `HELD_RETENTION_CLASS` (README "Storage lifecycle"). Release restores the class.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-legal-holds
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectTaggingCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  HOLD_AUDIT_PREFIX,
  type HoldAuditEntry,
  type HoldAuditLog,
  type HoldProtection,
  type HoldRecord,
  type HoldRegistry,
  type HoldState,
  type HoldStore,
  type HoldTarget,
  heldTags,
  holdAuditKey,
  holdRecordKey,
  releasedTags,
} from '../core/legal-hold';

interface S3Options {
  client: S3Client;
  bucket: string;
}

const notFound = (error: unknown) => {
  const shape = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return shape.name === 'NoSuchKey' || shape.name === 'NotFound' || shape.$metadata?.httpStatusCode === 404;
};

export class S3HoldStore implements HoldStore, HoldRegistry {
  private lockEnabled: Promise<boolean> | undefined;

  constructor(private readonly options: S3Options) {}

  /** Whether the bucket has Object Lock; a bucket without any lock configuration answers an error. */
  objectLockEnabled(): Promise<boolean> {
    this.lockEnabled ??= this.options.client
      .send(new GetObjectLockConfigurationCommand({ Bucket: this.options.bucket }))
      .then(
        (answer) => answer.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled',
        (error) => {
          if ((error as { name?: string }).name === 'ObjectLockConfigurationNotFoundError') return false;
          throw error;
        },
      );
    return this.lockEnabled;
  }

  async protection(): Promise<HoldProtection> {
    return (await this.objectLockEnabled()) ? 'object-lock-legal-hold' : 'callvault-hold-record';
  }

  private async record(objectKey: string): Promise<HoldRecord | undefined> {
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: holdRecordKey(objectKey) }),
      );
      return JSON.parse((await object.Body?.transformToString('utf8')) ?? '') as HoldRecord;
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  async isHeld(objectKey: string): Promise<boolean> {
    return (await this.record(objectKey)) !== undefined;
  }

  async state(objectKey: string): Promise<HoldState> {
    let head: HeadObjectCommandOutput;
    try {
      head = await this.options.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: objectKey }),
      );
    } catch (error) {
      if (notFound(error)) return { exists: false, held: false };
      throw error;
    }
    const record = await this.record(objectKey);
    const lock = await this.objectLockEnabled();
    const legalHold = lock ? head.ObjectLockLegalHoldStatus === 'ON' : undefined;
    return {
      exists: true,
      held: record !== undefined || legalHold === true,
      ...(record ? { record } : {}),
      ...(legalHold !== undefined ? { objectLockLegalHold: legalHold } : {}),
      ...(head.ObjectLockMode && head.ObjectLockRetainUntilDate
        ? {
            retention: {
              mode: head.ObjectLockMode,
              retainUntil: head.ObjectLockRetainUntilDate.toISOString(),
            },
          }
        : {}),
    };
  }

  async hold(target: HoldTarget, record: HoldRecord): Promise<void> {
    const lock = await this.objectLockEnabled();
    for (const key of [target.objectKey, target.sidecarKey]) {
      if (lock) await this.legalHold(key, 'ON');
      await this.retag(key, heldTags);
    }
    // Last: the record says the hold is complete.
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: holdRecordKey(target.objectKey),
        Body: `${JSON.stringify(record, null, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
  }

  async release(target: HoldTarget): Promise<void> {
    const lock = await this.objectLockEnabled();
    for (const key of [target.objectKey, target.sidecarKey]) {
      await this.retag(key, releasedTags);
      if (lock) await this.legalHold(key, 'OFF');
    }
    await this.options.client.send(
      new DeleteObjectCommand({ Bucket: this.options.bucket, Key: holdRecordKey(target.objectKey) }),
    );
  }

  private async legalHold(key: string, status: 'ON' | 'OFF'): Promise<void> {
    await this.options.client.send(
      new PutObjectLegalHoldCommand({ Bucket: this.options.bucket, Key: key, LegalHold: { Status: status } }),
    );
  }

  /** PutObjectTagging replaces the whole set: read, change, write back (the `sha256` tag included). */
  private async retag(
    key: string,
    change: (tags: Readonly<Record<string, string>>) => Record<string, string>,
  ): Promise<void> {
    const tagging = await this.options.client.send(
      new GetObjectTaggingCommand({ Bucket: this.options.bucket, Key: key }),
    );
    const tags: Record<string, string> = {};
    for (const tag of tagging.TagSet ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
    const next = change(tags);
    await this.options.client.send(
      new PutObjectTaggingCommand({
        Bucket: this.options.bucket,
        Key: key,
        Tagging: { TagSet: Object.entries(next).map(([Key, Value]) => ({ Key, Value })) },
      }),
    );
  }
}

export class S3HoldAuditLog implements HoldAuditLog {
  constructor(private readonly options: S3Options) {}

  async write(actionId: string, at: Date, entries: readonly HoldAuditEntry[]): Promise<string> {
    const key = holdAuditKey(actionId, at);
    await this.options.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: key,
        Body: entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''),
        ContentType: 'application/x-ndjson',
      }),
    );
    return key;
  }

  async *entries(): AsyncIterable<HoldAuditEntry> {
    const pages = paginateListObjectsV2(
      { client: this.options.client },
      { Bucket: this.options.bucket, Prefix: HOLD_AUDIT_PREFIX },
    );
    const keys: string[] = [];
    for await (const page of pages)
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    for (const key of keys.sort()) {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: key }),
      );
      const text = (await object.Body?.transformToString('utf8')) ?? '';
      for (const line of text.split('\n')) if (line.trim()) yield JSON.parse(line) as HoldAuditEntry;
    }
  }
}
