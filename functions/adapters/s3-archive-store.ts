/**
 * The archive in an S3 bucket (AWS or any S3-compatible server). Recordings stream in with bounded
 * memory and complete only conditionally (`If-None-Match: *`), so an existing object is never
 * overwritten; any failure leaves neither an object nor an open multipart upload behind.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  AlreadyArchivedError,
  CallvaultError,
  DeadlineError,
  PermanentError,
  TransientError,
} from '../core/errors';
import { sidecarKey } from '../core/keys';
import type { ArchivedCopy, ArchiveStore, Log, PutRecordingInput, StoredRecording } from '../core/ports';
import { silentLog } from '../core/ports';
import { parseSidecar, type Sidecar, serialiseSidecar } from '../core/sidecar';
import { pumpParts } from './multipart-upload';

/** Where multipart uploads land before their final copy. A lifecycle rule should expire this prefix. */
export const STAGING_PREFIX = 'staging/';
export const METADATA_SHA256 = 'sha256';
export const METADATA_SOURCE_SIZE = 'source-size';

/** S3's limits for a part: 5 MiB (except the last) to 5 GiB. */
const MIN_PART_BYTES = 5 * 1024 ** 2;
const MAX_PART_BYTES = 5 * 1024 ** 3;
/** Server-side copy ranges: large enough for 5 TiB in 10,000 parts, small enough to copy in parallel. */
const COPY_PART_BYTES = 512 * 1024 ** 2;
const COPY_PARTS_IN_FLIGHT = 4;

export interface S3ArchiveStoreOptions {
  /** Created once per container and injected. */
  client: S3Client;
  bucket: string;
  /** Multipart part size (5 MiB .. 5 GiB). Memory per upload is about partSizeBytes × (partsInFlight + 1). */
  partSizeBytes: number;
  partsInFlight: number;
  log?: Log;
  /**
   * S3 Object Lock for each recording and sidecar, set as it is written. Per object rather than a bucket
   * default, so staging copies, audit rewrites and run records are never locked for years.
   */
  objectLock?: ObjectLockSettings;
  /** For the retain-until date; tests pin it. */
  now?: () => Date;
}

export interface ObjectLockSettings {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  days?: number;
  years?: number;
}

/** What one putRecording started, so a failure can undo exactly that. */
interface UploadState {
  stagingKey?: string;
  stagingUploadId?: string;
  /**
   * Set once CompleteMultipartUpload of the staging upload has been sent: from then on the staged
   * object may exist even if we never heard back (a connection reset after S3 carried it out).
   */
  stagingMayExist: boolean;
  finalUploadId?: string;
}

export class S3ArchiveStore implements ArchiveStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly partSizeBytes: number;
  private readonly partsInFlight: number;
  private readonly log: Log;

  constructor(options: S3ArchiveStoreOptions) {
    if (options.partSizeBytes < MIN_PART_BYTES || options.partSizeBytes > MAX_PART_BYTES) {
      throw new RangeError(`partSizeBytes must be between 5 MiB and 5 GiB, got ${options.partSizeBytes}`);
    }
    if (!Number.isInteger(options.partsInFlight) || options.partsInFlight < 1) {
      throw new RangeError(`partsInFlight must be a positive integer, got ${options.partsInFlight}`);
    }
    this.client = options.client;
    this.bucket = options.bucket;
    this.partSizeBytes = options.partSizeBytes;
    this.partsInFlight = options.partsInFlight;
    this.log = options.log ?? silentLog;
    this.objectLock = options.objectLock;
    this.now = options.now ?? (() => new Date());
  }

  private readonly objectLock: ObjectLockSettings | undefined;
  private readonly now: () => Date;

  /** Object Lock fields for a recording or sidecar write; none where Object Lock is off. */
  private lockFields(): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
    if (!this.objectLock) return {};
    const until = this.now();
    if (this.objectLock.years) until.setUTCFullYear(until.getUTCFullYear() + this.objectLock.years);
    else until.setUTCDate(until.getUTCDate() + (this.objectLock.days ?? 0));
    return { ObjectLockMode: this.objectLock.mode, ObjectLockRetainUntilDate: until };
  }

  async putRecording(input: PutRecordingInput): Promise<StoredRecording> {
    const { key, body, signal } = input;
    if (signal?.aborted) {
      body.destroy();
      throw new DeadlineError(`deadline reached before uploading ${key}`);
    }
    // One controller cancels every request of this upload: on the caller's deadline or our own failure.
    const cancel = new AbortController();
    const onDeadline = () => {
      cancel.abort();
      body.destroy(new DeadlineError(`deadline reached while uploading ${key}`));
    };
    signal?.addEventListener('abort', onDeadline, { once: true });
    const state: UploadState = { stagingMayExist: false };
    try {
      const pumped = await pumpParts(
        body,
        { partSizeBytes: this.partSizeBytes, partsInFlight: this.partsInFlight, cancel },
        {
          begin: async () => {
            state.stagingKey = `${STAGING_PREFIX}${randomUUID()}`;
            const created = await this.client.send(
              new CreateMultipartUploadCommand({
                Bucket: this.bucket,
                Key: state.stagingKey,
                ContentType: input.contentType,
                ChecksumAlgorithm: 'SHA256',
              }),
              { abortSignal: cancel.signal },
            );
            state.stagingUploadId = required(created.UploadId, 'CreateMultipartUpload returned no UploadId');
          },
          uploadPart: async (partNumber, bytes): Promise<CompletedPart> => {
            // Our own per-part SHA-256 lets S3 verify every part as it arrives (native, and no
            // aws-chunked trailer: the body is a Buffer of known length).
            const checksum = sha256Base64(bytes);
            const uploaded = await this.client.send(
              new UploadPartCommand({
                Bucket: this.bucket,
                Key: state.stagingKey,
                UploadId: state.stagingUploadId,
                PartNumber: partNumber,
                Body: bytes,
                ContentLength: bytes.length,
                ChecksumSHA256: checksum,
              }),
              { abortSignal: cancel.signal },
            );
            return { PartNumber: partNumber, ETag: uploaded.ETag, ChecksumSHA256: checksum };
          },
        },
      );
      // The verifier ended cleanly, so its summary covers exactly the bytes we hold or uploaded.
      const summary = body.summary();
      const uploadedBytes = pumped.kind === 'single' ? pumped.bytes.length : pumped.size;
      if (uploadedBytes !== summary.size) {
        throw new TransientError(`uploaded ${uploadedBytes} bytes but the verifier saw ${summary.size}`);
      }
      const finalFields = {
        Bucket: this.bucket,
        Key: key,
        ContentType: input.contentType,
        Metadata: objectMetadata(summary.sha256, input.sourceSize),
        Tagging: encodeTags(input.tags),
        ...this.lockFields(),
      };
      if (pumped.kind === 'single') {
        await this.conditionally(key, () =>
          this.client.send(
            new PutObjectCommand({
              ...finalFields,
              Body: pumped.bytes,
              ContentLength: pumped.bytes.length,
              // The algorithm header too: Object Lock writes require it beside the value.
              ChecksumAlgorithm: 'SHA256',
              ChecksumSHA256: Buffer.from(summary.sha256, 'hex').toString('base64'),
              IfNoneMatch: '*',
            }),
            { abortSignal: cancel.signal },
          ),
        );
        return summary;
      }

      const stagingKey = required(state.stagingKey, 'no staging key');
      state.stagingMayExist = true;
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: stagingKey,
          UploadId: state.stagingUploadId,
          MultipartUpload: { Parts: pumped.parts },
        }),
        { abortSignal: cancel.signal },
      );
      state.stagingUploadId = undefined;
      // Metadata is fixed when a multipart upload is created, but the SHA-256 is known only now:
      // a server-side copy (no bytes through this process) writes the final object with it.
      await this.copyToFinal(stagingKey, summary.size, finalFields, state, cancel.signal);
      await this.deleteStaging(stagingKey);
      state.stagingMayExist = false;
      this.log.debug('recording uploaded', { key, bytes: summary.size, parts: pumped.parts.length });
      return summary;
    } catch (error) {
      cancel.abort();
      await this.undo(state, key);
      if (signal?.aborted)
        throw new DeadlineError(`deadline reached while uploading ${key}`, { cause: error });
      throw classifyS3Error(error, `upload of ${key}`);
    } finally {
      signal?.removeEventListener('abort', onDeadline);
    }
  }

  async inspect(key: string): Promise<ArchivedCopy | undefined> {
    const head = await this.head(key);
    if (!head) return undefined;
    const [sidecar, tagging] = await Promise.all([
      this.head(sidecarKey(key)),
      this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key })),
    ]);
    const tags: Record<string, string> = {};
    for (const tag of tagging.TagSet ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
    const sourceSize = head.Metadata?.[METADATA_SOURCE_SIZE];
    return {
      key,
      size: head.ContentLength ?? 0,
      sha256: head.Metadata?.[METADATA_SHA256],
      sourceSize: sourceSize !== undefined && /^\d+$/.test(sourceSize) ? Number(sourceSize) : undefined,
      contentType: head.ContentType,
      lastModified: head.LastModified ?? new Date(0),
      hasSidecar: sidecar !== undefined,
      tags,
      // Present only where Object Lock is on and the caller may read legal holds.
      legalHold: head.ObjectLockLegalHoldStatus === 'ON',
    };
  }

  async putSidecar(
    recordingObjectKey: string,
    sidecar: Sidecar,
    tags?: Record<string, string>,
  ): Promise<void> {
    const text = serialiseSidecar(sidecar);
    await this.client
      .send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: sidecarKey(recordingObjectKey),
          Body: text,
          ContentType: 'application/json',
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: createHash('sha256').update(text).digest('base64'),
          Tagging: tags ? encodeTags(tags) : undefined,
          ...this.lockFields(),
        }),
      )
      .catch((error: unknown) => {
        throw classifyS3Error(error, `sidecar write for ${recordingObjectKey}`);
      });
  }

  async readSidecar(recordingObjectKey: string): Promise<Sidecar | undefined> {
    const key = sidecarKey(recordingObjectKey);
    let text: string;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      text = await required(object.Body, `GetObject ${key} returned no body`).transformToString('utf8');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw classifyS3Error(error, `sidecar read of ${key}`);
    }
    try {
      return parseSidecar(text);
    } catch (error) {
      throw new PermanentError(`${key} is not a valid callvault sidecar`, { cause: error });
    }
  }

  async openRecording(key: string): Promise<Readable> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = object.Body;
      if (!(body instanceof Readable))
        throw new TransientError(`GetObject ${key} did not return a Node stream`);
      return body;
    } catch (error) {
      if (isNotFound(error)) throw new PermanentError(`no recording at ${key}`, { cause: error });
      throw classifyS3Error(error, `read of ${key}`);
    }
  }

  async *listKeys(prefix: string): AsyncIterable<string> {
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) yield object.Key;
    }
  }

  // ------------------------------------------------------------------ internals

  /** CreateMultipartUpload at the final key, UploadPartCopy in ranges, then a conditional Complete. */
  private async copyToFinal(
    stagingKey: string,
    size: number,
    fields: {
      Bucket: string;
      Key: string;
      ContentType: string;
      Metadata: Record<string, string>;
      Tagging: string;
      ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';
      ObjectLockRetainUntilDate?: Date;
    },
    state: UploadState,
    signal: AbortSignal,
  ): Promise<void> {
    const created = await this.client.send(new CreateMultipartUploadCommand(fields), { abortSignal: signal });
    const uploadId = required(created.UploadId, 'CreateMultipartUpload returned no UploadId');
    state.finalUploadId = uploadId;
    const copySource = `${this.bucket}/${stagingKey}`;
    const ranges: { partNumber: number; first: number; last: number }[] = [];
    for (let first = 0, partNumber = 1; first < size; first += COPY_PART_BYTES, partNumber++) {
      ranges.push({ partNumber, first, last: Math.min(first + COPY_PART_BYTES, size) - 1 });
    }
    const parts: CompletedPart[] = [];
    // Server-side copies hold no bytes here, so a few run in parallel regardless of partsInFlight.
    for (let i = 0; i < ranges.length; i += COPY_PARTS_IN_FLIGHT) {
      const batch = ranges.slice(i, i + COPY_PARTS_IN_FLIGHT);
      const copied = await Promise.all(
        batch.map(async ({ partNumber, first, last }) => {
          const result = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: fields.Key,
              UploadId: uploadId,
              PartNumber: partNumber,
              CopySource: copySource,
              CopySourceRange: `bytes=${first}-${last}`,
            }),
            { abortSignal: signal },
          );
          return { PartNumber: partNumber, ETag: result.CopyPartResult?.ETag };
        }),
      );
      parts.push(...copied);
    }
    await this.conditionally(fields.Key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: fields.Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: '*',
        }),
        { abortSignal: signal },
      ),
    );
    state.finalUploadId = undefined;
  }

  /** Runs a conditional write; a failed precondition means another writer completed the key first. */
  private async conditionally<T>(key: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isPreconditionFailed(error)) {
        throw new AlreadyArchivedError(`an object already exists at ${key}`, { cause: error });
      }
      throw error;
    }
  }

  /** Undoes whatever a failed upload started. Failures are logged: the lifecycle rule is the backstop. */
  private async undo(state: UploadState, key: string): Promise<void> {
    const aborts: Promise<unknown>[] = [];
    if (state.stagingUploadId && state.stagingKey) {
      aborts.push(this.abortUpload(state.stagingKey, state.stagingUploadId));
    }
    if (state.finalUploadId) aborts.push(this.abortUpload(key, state.finalUploadId));
    if (state.stagingMayExist && state.stagingKey) aborts.push(this.deleteStaging(state.stagingKey));
    await Promise.all(aborts);
  }

  private async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      if (isNotFound(error)) return;
      this.log.warn('could not abort a multipart upload; the bucket lifecycle rule will', {
        key,
        uploadId,
        error: describe(error),
      });
    }
  }

  private async deleteStaging(stagingKey: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: stagingKey }));
    } catch (error) {
      // The recording itself is safe at this point; only a copy in staging/ is left for the lifecycle rule.
      this.log.warn('could not delete a staging object', { key: stagingKey, error: describe(error) });
    }
  }

  private async head(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw classifyS3Error(error, `HeadObject ${key}`);
    }
  }
}

function objectMetadata(sha256: string, sourceSize: number | undefined): Record<string, string> {
  const metadata: Record<string, string> = { [METADATA_SHA256]: sha256 };
  if (sourceSize !== undefined) metadata[METADATA_SOURCE_SIZE] = String(sourceSize);
  return metadata;
}

/** The `x-amz-tagging` form: URL query parameters. */
export function encodeTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
}

function sha256Base64(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('base64');
}

function required<T>(value: T | undefined, message: string): T {
  if (value === undefined) throw new TransientError(message);
  return value;
}

interface S3ErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function statusOf(error: unknown): number | undefined {
  return (error as S3ErrorShape | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as S3ErrorShape | undefined)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchUpload' || statusOf(error) === 404;
}

function isPreconditionFailed(error: unknown): boolean {
  return (error as S3ErrorShape | undefined)?.name === 'PreconditionFailed' || statusOf(error) === 412;
}

const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  // A concurrent conditional write is still in progress: the next attempt finds its outcome.
  'ConditionalRequestConflict',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * Throttling, 5xx, conflicts and network faults become TransientError; our own typed errors pass
 * through; anything else (access denied, missing bucket) is rethrown as the SDK raised it.
 */
export function classifyS3Error(error: unknown, action: string): unknown {
  if (error instanceof CallvaultError) return error;
  const shape = error as S3ErrorShape | undefined;
  const status = statusOf(error);
  const transient =
    (status !== undefined && (status >= 500 || status === 429 || status === 409)) ||
    TRANSIENT_NAMES.has(shape?.name ?? '') ||
    NETWORK_CODES.has(shape?.code ?? '') ||
    Boolean(shape?.$retryable);
  if (!transient) return error;
  return new TransientError(`${action} failed: ${describe(error)}`, { cause: error });
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
