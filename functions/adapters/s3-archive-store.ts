/**
 * The archive in an S3 bucket (AWS or any S3-compatible server). Recordings stream in with bounded
 * memory, each in one write to its final key, completed only conditionally (`If-None-Match: *`), so an
 * existing object is never overwritten; any failure before completion leaves neither an object nor an
 * open multipart upload behind.
 *
 * S3 verifies a whole-object checksum of every recording as it is written: SHA-256 for a single put,
 * and for a multipart upload a FULL_OBJECT CRC32 of the stream, checked at completion against the parts
 * (each sent with its own CRC32). The SHA-256 goes into the object's `sha256` tag (and, for a single put,
 * its metadata); the sidecar records both, and retention compares them with what S3 reports.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  paginateListObjectsV2,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { type ChecksumAlgorithm, crc32Base64, fullObjectCrc32, type ObjectChecksum } from '../core/checksums';
import type { UploadedPart } from '../core/continuation';
import {
  AlreadyArchivedError,
  CallvaultError,
  DeadlineError,
  PermanentError,
  TransientError,
} from '../core/errors';
import { sidecarKey } from '../core/keys';
import type {
  ArchivedCopy,
  ArchiveStore,
  Log,
  PutRecordingInput,
  ResumableUploadInput,
  ResumableUploadResult,
  ResumableUploads,
  StoredRecording,
  UploadResumePoint,
} from '../core/ports';
import { silentLog } from '../core/ports';
import { parseSidecar, type Sidecar, serialiseSidecar } from '../core/sidecar';
import { pumpParts } from './multipart-upload';

export const METADATA_SHA256 = 'sha256';
export const METADATA_SOURCE_SIZE = 'source-size';
/** The tag that carries a recording's SHA-256 (hex). */
export const TAG_SHA256 = 'sha256';

/** S3's limits for a part: 5 MiB (except the last) to 5 GiB. */
const MIN_PART_BYTES = 5 * 1024 ** 2;
const MAX_PART_BYTES = 5 * 1024 ** 3;

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
   * default, so audit rewrites and run records are never locked for years.
   */
  objectLock?: ObjectLockSettings;
  /** For the retain-until date; tests pin it. */
  now?: () => Date;
  /**
   * Bodies up to this size whose length is known up front go in one PutObject instead of a multipart
   * upload (one request instead of four or more, but no overlap of download and upload). Default one part:
   * on the bench (BENCHMARKS.md) a 10 MiB single put lost to two overlapped parts.
   */
  singlePutMaxBytes?: number;
}

export interface ObjectLockSettings {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  days?: number;
  years?: number;
}

/** What one putRecording started, so a failure can undo exactly that. */
interface UploadState {
  uploadId?: string;
  /** Parts are sent in order; the next one expected, to refuse any other order loudly. */
  nextPart: number;
}

export class S3ArchiveStore implements ArchiveStore, ResumableUploads {
  private readonly client: S3Client;
  private readonly bucket: string;
  readonly partSizeBytes: number;
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
    this.singlePutMaxBytes = options.singlePutMaxBytes ?? options.partSizeBytes;
  }

  private readonly objectLock: ObjectLockSettings | undefined;
  private readonly now: () => Date;
  private readonly singlePutMaxBytes: number;

  /** Object Lock fields for a recording or sidecar write; none where Object Lock is off. */
  private lockFields(): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
    if (!this.objectLock) return {};
    const until = this.now();
    if (this.objectLock.years) until.setUTCFullYear(until.getUTCFullYear() + this.objectLock.years);
    else until.setUTCDate(until.getUTCDate() + (this.objectLock.days ?? 0));
    return { ObjectLockMode: this.objectLock.mode, ObjectLockRetainUntilDate: until };
  }

  /** Uploads here can stop at a part boundary and be continued by another invocation. */
  get resumable(): ResumableUploads {
    return this;
  }

  async putRecording(input: PutRecordingInput): Promise<StoredRecording> {
    const result = await this.upload(input);
    if (result.kind !== 'stored') throw new PermanentError(`upload of ${input.key} stopped unasked`);
    return result.stored;
  }

  putResumable(input: ResumableUploadInput): Promise<ResumableUploadResult> {
    return this.upload(input, input);
  }

  async listUploadedParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined> {
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumberMarker: marker,
          }),
        );
        for (const part of page.Parts ?? []) {
          parts.push([part.PartNumber ?? 0, bareEtag(part.ETag), part.ChecksumCRC32 ?? '', part.Size ?? 0]);
        }
        if (!page.IsTruncated) break;
        marker = page.NextPartNumberMarker;
      }
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw classifyS3Error(error, `listing the parts of an upload to ${key}`);
    }
    return parts.sort((a, b) => a[0] - b[0]);
  }

  async abandonUpload(key: string, uploadId: string): Promise<void> {
    await this.abortUpload(key, uploadId);
  }

  private async upload(
    input: PutRecordingInput,
    continuation?: { checkpoint: AbortSignal; resume?: UploadResumePoint },
  ): Promise<ResumableUploadResult> {
    const { key, body, signal } = input;
    const resume = continuation?.resume;
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
    const state: UploadState = {
      uploadId: resume?.uploadId,
      nextPart: (resume?.parts.length ?? 0) + 1,
    };
    const partBytes = new Map<number, number>();
    const fields = {
      Bucket: this.bucket,
      Key: key,
      ContentType: input.contentType,
      ...this.lockFields(),
    };
    try {
      const pumped = await pumpParts(
        body,
        {
          partSizeBytes: this.partSizeBytes,
          partsInFlight: this.partsInFlight,
          cancel,
          // The whole file's length; a continued upload (firstPartNumber > 1) exists already and ignores it.
          expectedBytes: body.expectedBytes,
          singlePutMaxBytes: this.singlePutMaxBytes,
          firstPartNumber: state.nextPart,
          stop: continuation?.checkpoint,
        },
        {
          begin: async () => {
            // Straight to the final key. Metadata and tags are fixed here, before the SHA-256 is known;
            // it is tagged once the upload is complete.
            const created = await this.client.send(
              new CreateMultipartUploadCommand({
                ...fields,
                Metadata: objectMetadata(undefined, input.sourceSize),
                Tagging: encodeTags(input.tags),
                ChecksumAlgorithm: 'CRC32',
                ChecksumType: 'FULL_OBJECT',
              }),
              // Not cancelled with the rest: S3 may create an upload whose answer we dropped, and only an
              // upload whose id we hold can be aborted. It is short, and begins with the download.
            );
            state.uploadId = required(created.UploadId, 'CreateMultipartUpload returned no UploadId');
          },
          uploadPart: async (partNumber, bytes): Promise<CompletedPart> => {
            if (partNumber !== state.nextPart)
              throw new PermanentError(`part ${partNumber} arrived where part ${state.nextPart} was due`);
            state.nextPart += 1;
            // The part's own CRC32, so S3 verifies every part as it arrives (native, and no aws-chunked
            // trailer: the body is a Buffer of known length). Object Lock uploads require it too.
            const checksum = crc32Base64(crc32(bytes));
            const uploaded = await this.client.send(
              withChecksummedBody(
                new UploadPartCommand({
                  Bucket: this.bucket,
                  Key: key,
                  UploadId: state.uploadId,
                  PartNumber: partNumber,
                  Body: bytes,
                  ContentLength: bytes.length,
                  ChecksumAlgorithm: 'CRC32',
                  ChecksumCRC32: checksum,
                }),
              ),
              { abortSignal: cancel.signal },
            );
            partBytes.set(partNumber, bytes.length);
            return { PartNumber: partNumber, ETag: uploaded.ETag, ChecksumCRC32: checksum };
          },
        },
      );
      if (pumped.kind === 'stopped') {
        const uploadId = required(state.uploadId, 'a stopped upload has no UploadId');
        const checkpoint = await this.checkpointOf(key, uploadId, resume, pumped.parts, partBytes);
        // Left open on purpose: the next invocation continues it (or the lifecycle rule aborts it).
        state.uploadId = undefined;
        return { kind: 'checkpoint', ...checkpoint };
      }
      // The verifier ended cleanly, so its summary covers exactly the bytes we hold or uploaded.
      const summary = body.summary();
      const uploadedBytes =
        pumped.kind === 'single' ? pumped.bytes.length : (resume?.offset ?? 0) + pumped.size;
      if (uploadedBytes !== summary.size) {
        throw new TransientError(`uploaded ${uploadedBytes} bytes but the verifier saw ${summary.size}`);
      }
      if (pumped.kind === 'single') {
        const checksum: ObjectChecksum = {
          algorithm: 'SHA256',
          type: 'FULL_OBJECT',
          value: Buffer.from(summary.sha256, 'hex').toString('base64'),
        };
        await this.conditionally(key, () =>
          this.client.send(
            withChecksummedBody(
              new PutObjectCommand({
                ...fields,
                Metadata: objectMetadata(summary.sha256, input.sourceSize),
                Tagging: encodeTags({ ...input.tags, [TAG_SHA256]: summary.sha256 }),
                Body: pumped.bytes,
                ContentLength: pumped.bytes.length,
                // The algorithm header too: Object Lock writes require it beside the value.
                ChecksumAlgorithm: 'SHA256',
                ChecksumSHA256: checksum.value,
                IfNoneMatch: '*',
              }),
            ),
            { abortSignal: cancel.signal },
          ),
        );
        return { kind: 'stored', stored: { size: summary.size, sha256: summary.sha256, checksum } };
      }
      const earlierParts: CompletedPart[] = (resume?.parts ?? []).map(([PartNumber, etag, crc]) => ({
        PartNumber,
        ETag: `"${etag}"`,
        ChecksumCRC32: crc || undefined,
      }));

      // S3 combines the parts' CRC32s into the whole object's and refuses to complete if it differs
      // from the one computed on the stream, or if the size does.
      const checksum = fullObjectCrc32(summary.crc32);
      await this.conditionally(key, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: state.uploadId,
            MultipartUpload: { Parts: [...earlierParts, ...pumped.parts] },
            ChecksumCRC32: checksum.value,
            ChecksumType: 'FULL_OBJECT',
            MpuObjectSize: summary.size,
            IfNoneMatch: '*',
          }),
          { abortSignal: cancel.signal },
        ),
      );
      state.uploadId = undefined;
      // From here the recording is stored. Should tagging fail, the next attempt finds the copy without
      // its tag and sidecar and finishes it (see archiveRecording).
      await this.recordSha256(key, summary.sha256, input.tags);
      this.log.debug('recording uploaded', { key, bytes: summary.size, parts: pumped.parts.length });
      return { kind: 'stored', stored: { size: summary.size, sha256: summary.sha256, checksum } };
    } catch (error) {
      cancel.abort();
      if (state.uploadId) await this.abortUpload(key, state.uploadId);
      if (signal?.aborted)
        throw new DeadlineError(`deadline reached while uploading ${key}`, { cause: error });
      throw classifyS3Error(error, `upload of ${key}`);
    } finally {
      signal?.removeEventListener('abort', onDeadline);
    }
  }

  async inspect(key: string): Promise<ArchivedCopy | undefined> {
    const head = await this.head(key, { checksum: true });
    if (!head) return undefined;
    const [sidecar, tags] = await Promise.all([this.head(sidecarKey(key)), this.tagsOf(key)]);
    const { [TAG_SHA256]: taggedSha256, ...otherTags } = tags;
    const sourceSize = head.Metadata?.[METADATA_SOURCE_SIZE];
    return {
      key,
      size: head.ContentLength ?? 0,
      sha256: head.Metadata?.[METADATA_SHA256],
      taggedSha256,
      checksum: checksumOf(head),
      sourceSize: sourceSize !== undefined && /^\d+$/.test(sourceSize) ? Number(sourceSize) : undefined,
      contentType: head.ContentType,
      lastModified: head.LastModified ?? new Date(0),
      hasSidecar: sidecar !== undefined,
      tags: otherTags,
      // Present only where Object Lock is on and the caller may read legal holds.
      legalHold: head.ObjectLockLegalHoldStatus === 'ON',
    };
  }

  /**
   * Adds the `sha256` tag to the copy's tags. PutObjectTagging replaces the whole set, so the others are
   * read first unless the caller just wrote them.
   */
  async recordSha256(key: string, sha256: string, knownTags?: Record<string, string>): Promise<void> {
    try {
      const { [TAG_SHA256]: _previous, ...others } = knownTags ?? (await this.tagsOf(key));
      const TagSet = Object.entries({ ...others, [TAG_SHA256]: sha256 }).map(([Key, Value]) => ({
        Key,
        Value,
      }));
      await this.client.send(
        new PutObjectTaggingCommand({ Bucket: this.bucket, Key: key, Tagging: { TagSet } }),
      );
    } catch (error) {
      throw classifyS3Error(error, `tagging ${key} with its SHA-256`);
    }
  }

  /** Written once: a sidecar that exists already is never replaced (AlreadyArchivedError). */
  async putSidecar(
    recordingObjectKey: string,
    sidecar: Sidecar,
    tags?: Record<string, string>,
  ): Promise<void> {
    const text = serialiseSidecar(sidecar);
    const key = sidecarKey(recordingObjectKey);
    await this.conditionally(key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: text,
          ContentType: 'application/json',
          ChecksumAlgorithm: 'SHA256',
          ChecksumSHA256: createHash('sha256').update(text).digest('base64'),
          Tagging: tags ? encodeTags(tags) : undefined,
          IfNoneMatch: '*',
          ...this.lockFields(),
        }),
      ),
    ).catch((error: unknown) => {
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

  /**
   * Where a stopped upload stands, in the store's own words (ListParts), once they agree with what this
   * invocation sent: the same numbers, ETags, checksums and sizes. Any doubt throws, and the upload is
   * aborted by the caller's failure path.
   */
  private async checkpointOf(
    key: string,
    uploadId: string,
    resume: UploadResumePoint | undefined,
    sent: CompletedPart[],
    partBytes: Map<number, number>,
  ): Promise<{ uploadId: string; offset: number; parts: UploadedPart[] }> {
    const expected: UploadedPart[] = [
      ...(resume?.parts ?? []),
      ...sent.map((part): UploadedPart => {
        const number = part.PartNumber ?? 0;
        return [number, bareEtag(part.ETag), part.ChecksumCRC32 ?? '', partBytes.get(number) ?? -1];
      }),
    ];
    const listed = await this.listUploadedParts(key, uploadId);
    if (!listed) throw new TransientError(`the upload to ${key} vanished before its checkpoint`);
    const agrees =
      listed.length === expected.length &&
      listed.every((part, index) => {
        const mine = expected[index] as UploadedPart;
        // A store that reports no part checksum (moto) is judged on the rest.
        return (
          part[0] === mine[0] &&
          part[1] === mine[1] &&
          part[3] === mine[3] &&
          (part[2] === '' || part[2] === mine[2])
        );
      });
    if (!agrees) throw new TransientError(`the parts of the upload to ${key} differ from those sent`);
    const offset = listed.reduce((sum, part) => sum + part[3], 0);
    // In the store's words, so the next invocation's ListParts gives the same digest (S3 reports each
    // part's CRC32, which completion names; a store that reports none needs none).
    return { uploadId, offset, parts: listed };
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

  private async head(
    key: string,
    options: { checksum?: boolean } = {},
  ): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(options.checksum ? { ChecksumMode: 'ENABLED' as const } : {}),
        }),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw classifyS3Error(error, `HeadObject ${key}`);
    }
  }

  private async tagsOf(key: string): Promise<Record<string, string>> {
    const tagging = await this.client.send(new GetObjectTaggingCommand({ Bucket: this.bucket, Key: key }));
    const tags: Record<string, string> = {};
    for (const tag of tagging.TagSet ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
    return tags;
  }
}

/**
 * A part or single put carries its own checksum of its body (CRC32, SHA-256), which S3 verifies, so two
 * SDK defaults only add cost to it, paid on every part:
 * - `Expect: 100-continue` (bodies over 2 MB): the SDK's Node handler sends such a request on a fresh
 *   connection outside the keep-alive pool (@smithy/node-http-handler), so each part paid a new TCP (and
 *   TLS) connection and a round trip before its first byte.
 * - the SigV4 payload hash, a second SHA-256 of every byte. Over TLS, or on loopback where no byte leaves
 *   the machine, the body is sent as `UNSIGNED-PAYLOAD` instead
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html), as the AWS SDKs for
 *   Java and Go do over HTTPS; over plain HTTP to another host the payload stays signed.
 */
function withChecksummedBody<C extends UploadPartCommand | PutObjectCommand>(command: C): C {
  // Both commands' stacks take the same build middleware; one of their types names it.
  (command.middlewareStack as PutObjectCommand['middlewareStack']).add(
    (next) => async (args) => {
      const request = args.request as {
        protocol?: string;
        hostname?: string;
        headers?: Record<string, string>;
      };
      if (request.headers) {
        delete request.headers.Expect;
        delete request.headers.expect;
        if (request.protocol === 'https:' || LOOPBACK_HOSTS.has(request.hostname ?? ''))
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    // Last in the build step: after the SDK added `Expect`, before the request is signed.
    { step: 'build', priority: 'low', name: 'callvaultChecksummedBody' },
  );
  return command;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** An ETag without its quotes, as ListParts and UploadPart may differ on them. */
function bareEtag(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function objectMetadata(sha256: string | undefined, sourceSize: number | undefined): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (sha256 !== undefined) metadata[METADATA_SHA256] = sha256;
  if (sourceSize !== undefined) metadata[METADATA_SOURCE_SIZE] = String(sourceSize);
  return metadata;
}

const HEAD_CHECKSUMS: readonly [ChecksumAlgorithm, keyof HeadObjectCommandOutput][] = [
  ['CRC32', 'ChecksumCRC32'],
  ['CRC32C', 'ChecksumCRC32C'],
  ['CRC64NVME', 'ChecksumCRC64NVME'],
  ['SHA1', 'ChecksumSHA1'],
  ['SHA256', 'ChecksumSHA256'],
];

/** The object's checksum as HeadObject (with ChecksumMode) reports it; S3 keeps one per object. */
function checksumOf(head: HeadObjectCommandOutput): ObjectChecksum | undefined {
  for (const [algorithm, field] of HEAD_CHECKSUMS) {
    const value = head[field];
    if (typeof value !== 'string' || value === '') continue;
    const type = head.ChecksumType ?? (/-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT');
    return { algorithm, type: type === 'COMPOSITE' ? 'COMPOSITE' : 'FULL_OBJECT', value };
  }
  return undefined;
}

/** The `x-amz-tagging` form: URL query parameters. */
export function encodeTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
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
