/**
 * Recordings that outlive one invocation. When a download cannot finish before the invocation's
 * deadline, the worker stops at a part boundary, leaves the multipart upload open and re-queues the job
 * with a checkpoint: the upload, the byte offset, the parts done, and the running checksums (SHA-256
 * state and CRC32). The next invocation checks the upload against the store's own record of its parts
 * (S3 `ListParts`) and asks the source for the rest with `Range: bytes={offset}-`. The finished object is
 * the same bytes, with the same SHA-256 and whole-object CRC32, as one uninterrupted run.
 *
 * Plain logic only: what a checkpoint holds, how a resumed answer is judged, and how the next job is
 * built. The hash with savable state is a port (`ResumableHashFactory`), supplied by an adapter.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { RecordingJob } from './jobs';
import type { DownloadStream } from './ports';

/** What identifies the source's bytes, so a continuation never splices two different files. */
export const sourceIdentitySchema = z.object({
  /** The whole file's size: Content-Length of the first answer (or the total of its Content-Range). */
  size: z.number().int().nonnegative(),
  etag: z.string().optional(),
  lastModified: z.string().optional(),
});
export type SourceIdentity = z.infer<typeof sourceIdentitySchema>;

/** One uploaded part as the store reports it: `[partNumber, ETag, CRC32 (base64), bytes]`. */
export const uploadedPartSchema = z.tuple([
  z.number().int().min(1).max(10_000),
  z.string(),
  z.string(),
  z.number().int().nonnegative(),
]);
export type UploadedPart = z.infer<typeof uploadedPartSchema>;

/** An open multipart upload and how far it got. */
export const uploadCheckpointSchema = z.object({
  key: z.string().min(1),
  uploadId: z.string().min(1),
  contentType: z.string().min(1),
  /** Bytes uploaded in whole parts: where the next Range request starts. */
  offset: z.number().int().positive(),
  partCount: z.number().int().min(1).max(10_000),
  /** SHA-256 over every part's `[number, ETag, CRC32, bytes]`: ListParts must give the same. */
  partsDigest: z.string().regex(/^[0-9a-f]{64}$/),
  /** The parts themselves when the message has room for them (they are also in ListParts). */
  parts: z.array(uploadedPartSchema).optional(),
  /** The SHA-256 state after `offset` bytes (hash-wasm's `save()`, base64). */
  sha256State: z.string().min(1),
  /** The running CRC32 (zlib's, unsigned) after `offset` bytes. */
  crc32: z.number().int().nonnegative().max(0xffff_ffff),
  source: sourceIdentitySchema,
  /** When the upload was created: the bucket's lifecycle rule aborts it some days later. */
  createdAt: z.iso.datetime({ offset: true }),
});
export type UploadCheckpoint = z.infer<typeof uploadCheckpointSchema>;

/**
 * What a re-queued recording job carries. Without `upload` it asks for a fresh start with a savable
 * hash (an attempt that hashed with the faster, unsavable one ran out of time).
 */
export const continuationSchema = z.object({
  /** Continuations so far in this chain (1 on the first re-queued job). */
  count: z.number().int().min(1),
  upload: uploadCheckpointSchema.optional(),
});
export type Continuation = z.infer<typeof continuationSchema>;

/** A SHA-256 whose state can be saved into a message and loaded in another process. */
export interface ResumableHash {
  update(chunk: Uint8Array): void;
  /** The state after everything updated so far, base64. */
  save(): string;
  digestHex(): string;
}

/** Creates resumable hashes: from the start, or from a saved state. */
export interface ResumableHashFactory {
  create(savedState?: string): Promise<ResumableHash>;
}

/** How the worker continues a job: when to stop, and what it may rely on. */
export interface ContinuationPlan {
  /** Fires when the attempt must stop at the next part boundary and re-queue itself. */
  checkpoint: AbortSignal;
  hashes: ResumableHashFactory;
  /**
   * A first attempt hashes resumably (slower than OpenSSL) only for a download larger than this or of
   * unknown size; a smaller one that still runs out of time restarts once with a resumable hash.
   */
  resumableAboveBytes: number;
  /**
   * The age at which the bucket's lifecycle rule may abort an open upload, minus a margin: an upload
   * older than this is not continued (it could vanish mid-chain) but restarted.
   */
  maxUploadAgeMs: number;
}

/** The lowest download rate planned for when a first attempt decides whether to hash resumably. */
export const PLANNED_FLOOR_BYTES_PER_SECOND = 2 * 1024 * 1024;
/** Lead before the lifecycle rule's age at which an upload is restarted rather than continued. */
export const UPLOAD_AGE_MARGIN_MS = 6 * 3_600_000;

/** Bytes a download can be expected to fetch in `milliseconds` at the planned floor rate. */
export function resumableThreshold(milliseconds: number): number {
  return Math.max(0, Math.floor((milliseconds / 1000) * PLANNED_FLOOR_BYTES_PER_SECOND));
}

export function maxUploadAgeMs(abortIncompleteMultipartUploadsAfterDays: number): number {
  return Math.max(0, abortIncompleteMultipartUploadsAfterDays * 86_400_000 - UPLOAD_AGE_MARGIN_MS);
}

export function partsDigest(parts: readonly UploadedPart[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${JSON.stringify(part)}\n`);
  return hash.digest('hex');
}

/** What the first answer says about the file, or why it cannot be continued with Range at all. */
export function identityOf(
  download: DownloadStream,
  expectedSize: number | undefined,
): SourceIdentity | { refused: string } {
  if (download.acceptRanges !== true)
    return { refused: 'the source does not advertise Accept-Ranges: bytes' };
  const size = download.contentLength ?? expectedSize;
  if (size === undefined) return { refused: 'the source announced no size' };
  return { size, etag: download.etag, lastModified: download.lastModified };
}

/**
 * Why a resumed answer cannot continue the saved bytes, or undefined when it can: it must be a 206 for
 * exactly `offset`..end of a file with the same size, ETag and Last-Modified.
 */
export function rangeRefusal(
  saved: SourceIdentity,
  offset: number,
  answer: DownloadStream,
): string | undefined {
  const range = answer.contentRange;
  if (!range) return 'the source answered the Range request with the whole file (200)';
  if (range.total !== undefined && range.total !== saved.size)
    return `the file's size changed from ${saved.size} to ${range.total} bytes`;
  if (saved.etag !== undefined && answer.etag !== saved.etag) return "the file's ETag changed";
  if (saved.lastModified !== undefined && answer.lastModified !== saved.lastModified)
    return "the file's Last-Modified changed";
  if (range.start !== offset || range.end !== saved.size - 1)
    return `the source answered bytes ${range.start}-${range.end}, not ${offset}-${saved.size - 1}`;
  return undefined;
}

/**
 * Why the store's first parts do not continue the checkpoint, or undefined when they do: the same
 * parts (number, ETag, checksum, size), numbered 1..n, holding exactly `offset` bytes.
 */
export function partsDisagreement(
  checkpoint: UploadCheckpoint,
  listed: readonly UploadedPart[],
): string | undefined {
  if (listed.length !== checkpoint.partCount)
    return `the upload holds ${listed.length} parts, the checkpoint ${checkpoint.partCount}`;
  if (listed.some((part, index) => part[0] !== index + 1)) return "the upload's part numbers are not 1..n";
  const bytes = listed.reduce((sum, part) => sum + part[3], 0);
  if (bytes !== checkpoint.offset)
    return `the upload's parts hold ${bytes} bytes, the checkpoint ${checkpoint.offset}`;
  if (partsDigest(listed) !== checkpoint.partsDigest)
    return "the upload's parts differ from the checkpoint's (ETag or checksum)";
  return undefined;
}

/**
 * 256 KiB is SQS's classic message limit; the job stays well below it, with room for its attributes.
 * Past this, the parts stay in the store's own record (ListParts) and the message keeps their digest.
 */
export const CONTINUATION_MESSAGE_BUDGET_BYTES = 200 * 1024;

/** The job that continues `job` from `upload` (or restarts it resumably, without one). */
export function continuationJob(
  job: RecordingJob,
  upload: UploadCheckpoint | undefined,
  parts: readonly UploadedPart[] = [],
): RecordingJob {
  const count = (job.continuation?.count ?? 0) + 1;
  if (!upload) return { ...job, continuation: { count } };
  const withParts: RecordingJob = {
    ...job,
    continuation: { count, upload: { ...upload, parts: [...parts] } },
  };
  if (Buffer.byteLength(JSON.stringify(withParts), 'utf8') <= CONTINUATION_MESSAGE_BUDGET_BYTES)
    return withParts;
  return { ...job, continuation: { count, upload } };
}
