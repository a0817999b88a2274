/**
 * archiveRecording for a worker whose invocations end (Lambda): the same copy, but a download that
 * cannot finish before the deadline stops at a part boundary and hands back the job that continues it
 * (core/continuation.ts). A continuation first checks the open upload against the store's parts, then
 * asks the source for the rest with a Range request; where the source or the upload cannot continue
 * the saved bytes exactly, the upload is aborted and the copy starts over from byte zero, and says so.
 */
import { pipeline, type Readable } from 'node:stream';
import {
  type ArchiveDependencies,
  type ArchiveOutcome,
  completeExistingCopy,
  objectTags,
  recordStoredCopy,
  settledCopy,
} from './archive-recording';
import {
  type ContinuationPlan,
  continuationJob,
  identityOf,
  partsDigest,
  partsDisagreement,
  rangeRefusal,
  type SourceIdentity,
  type UploadCheckpoint,
  type UploadedPart,
} from './continuation';
import {
  AlreadyArchivedError,
  asCallvaultError,
  DeadlineError,
  isCallvaultError,
  TransientError,
} from './errors';
import { findArchivedCopy } from './find-copy';
import type { RecordingJob } from './jobs';
import { copyKey, recordingStem } from './keys';
import { decideStoredFormat } from './media-format';
import { SIGNATURE_BYTES } from './media-signature';
import type { DownloadStream, ResumableUploadResult, ResumableUploads, UploadResumePoint } from './ports';
import type { SourceRecording } from './recording';
import { peekHead } from './stream-head';
import { RecordingVerifier } from './verify-stream';

/** The log line (and `event`) of every restart, which the worker also counts as a metric. */
export const RESTARTED_MESSAGE = 'restarted: source refused range';
export const RESTARTED_EVENT = 'DOWNLOAD_RESTARTED';

/** The download outlived the invocation: `next` continues it (core/continuation.ts). */
export interface ContinuedArchive {
  status: 'continued';
  key: string;
  offset: number;
  next: RecordingJob;
  restarted?: string;
}

export async function archiveResumably(
  recording: SourceRecording,
  job: RecordingJob,
  deps: ArchiveDependencies,
  plan: ContinuationPlan,
  uploads: ResumableUploads,
  signal?: AbortSignal,
): Promise<ArchiveOutcome | ContinuedArchive> {
  const stem = recordingStem(recording);
  const saved = job.continuation?.upload;
  const existing = await findArchivedCopy(deps.store, stem);
  if (existing) {
    // A redelivered continuation of a chain that has finished: the copy stands, the upload is done.
    if (saved) await uploads.abandonUpload(saved.key, saved.uploadId);
    return completeExistingCopy(recording, existing, deps);
  }
  signal?.throwIfAborted();
  let restarted: string | undefined;
  if (saved) {
    const resumed = await openContinuation(recording, saved, deps, plan, uploads, signal);
    if ('download' in resumed) {
      const hash = await plan.hashes.create(saved.sha256State);
      const verifier = new RecordingVerifier({
        sourceSize: saved.source.size,
        resumable: {
          hash,
          partSizeBytes: uploads.partSizeBytes,
          from: { offset: saved.offset, crc32: saved.crc32 },
        },
      });
      return upload(recording, job, deps, plan, uploads, signal, {
        download: resumed.download,
        body: resumed.download.body,
        verifier,
        key: saved.key,
        contentType: saved.contentType,
        identity: saved.source,
        createdAt: saved.createdAt,
        resume: resumed.resume,
      });
    }
    restarted = resumed.restart;
    await uploads.abandonUpload(saved.key, saved.uploadId);
    deps.log.warn(RESTARTED_MESSAGE, {
      event: RESTARTED_EVENT,
      provider: recording.provider,
      sourceId: recording.sourceId,
      recordingId: recording.recordingId,
      reason: restarted,
      continuation: job.continuation?.count,
    });
  }

  const download = await deps.source.openDownload(recording, signal);
  let body: Readable;
  let key: string;
  let contentType: string;
  try {
    const peeked = await peekHead(download.body, SIGNATURE_BYTES);
    body = peeked.body;
    const format = decideStoredFormat({
      head: peeked.head,
      served: download.contentType,
      listed: recording.contentType,
      hint: recording.fileExtension,
    });
    key = copyKey(stem, format.extension);
    contentType = format.contentType;
  } catch (error) {
    download.body.destroy();
    if (signal?.aborted)
      throw new DeadlineError('invocation deadline reached mid-download', { cause: error });
    throw asCallvaultError(error);
  }
  const expected = download.contentLength ?? recording.size;
  const resumable =
    job.continuation !== undefined || expected === undefined || expected > plan.resumableAboveBytes;
  const identity = identityOf(download, recording.size);
  const verifier = new RecordingVerifier({
    contentLength: download.contentLength,
    sourceSize: recording.size,
    ...(resumable
      ? { resumable: { hash: await plan.hashes.create(), partSizeBytes: uploads.partSizeBytes } }
      : {}),
  });
  try {
    return await upload(recording, job, deps, plan, uploads, signal, {
      download,
      body,
      verifier,
      key,
      contentType,
      identity,
      createdAt: deps.clock.now().toISOString(),
      restarted,
      unsavable: !resumable,
    });
  } catch (error) {
    // A fast-hashed attempt ran out of time: start once more, hashing so that it can be continued.
    if (!resumable && error instanceof DeadlineError && plan.checkpoint.aborted) {
      deps.log.info('download outlived the invocation; restarting it so that it can be continued', {
        key,
        recordingId: recording.recordingId,
      });
      return { status: 'continued', key, offset: 0, next: continuationJob(job, undefined), restarted };
    }
    throw error;
  }
}

interface UploadPlan {
  download: DownloadStream;
  /** The download's bytes as they reach the verifier (a fresh start's head re-joined). */
  body: Readable;
  verifier: RecordingVerifier;
  key: string;
  contentType: string;
  identity: SourceIdentity | { refused: string };
  createdAt: string;
  resume?: UploadResumePoint;
  restarted?: string;
  /** Hashed with OpenSSL: cannot be checkpointed, only cut by the deadline. */
  unsavable?: boolean;
}

async function upload(
  recording: SourceRecording,
  job: RecordingJob,
  deps: ArchiveDependencies,
  plan: ContinuationPlan,
  uploads: ResumableUploads,
  signal: AbortSignal | undefined,
  what: UploadPlan,
): Promise<ArchiveOutcome | ContinuedArchive> {
  const { download, body, verifier, key, contentType } = what;
  const stopDownload = () =>
    download.body.destroy(new DeadlineError('invocation deadline reached mid-download'));
  signal?.addEventListener('abort', stopDownload, { once: true });
  pipeline(body, verifier, () => {});
  const tags = objectTags(recording, deps);
  try {
    const input = { key, body: verifier, contentType, sourceSize: recording.size, tags, signal };
    const result: ResumableUploadResult = what.unsavable
      ? { kind: 'stored', stored: await deps.store.putRecording(input) }
      : await uploads.putResumable({ ...input, checkpoint: plan.checkpoint, resume: what.resume });
    if (result.kind === 'stored') {
      const archived = await recordStoredCopy(
        recording,
        { key, contentType, tags, stored: result.stored },
        deps,
      );
      return what.restarted ? { ...archived, restarted: what.restarted } : archived;
    }
    const { uploadId, offset, parts } = result;
    if ('refused' in what.identity) {
      // Nothing to continue with: a continuation would have to trust bytes it cannot ask for again.
      await uploads.abandonUpload(key, uploadId);
      const reason = what.identity.refused;
      deps.log.warn(RESTARTED_MESSAGE, {
        event: RESTARTED_EVENT,
        provider: recording.provider,
        sourceId: recording.sourceId,
        recordingId: recording.recordingId,
        reason,
      });
      return {
        status: 'continued',
        key,
        offset: 0,
        next: continuationJob(job, undefined),
        restarted: reason,
      };
    }
    const snapshot = verifier.snapshotAt(offset);
    if (!snapshot) {
      await uploads.abandonUpload(key, uploadId);
      throw new TransientError(`no checksum state at byte ${offset} of ${key}; the upload was aborted`);
    }
    const checkpoint: UploadCheckpoint = {
      key,
      uploadId,
      contentType,
      offset,
      partCount: parts.length,
      partsDigest: partsDigest(parts),
      sha256State: snapshot.sha256State,
      crc32: snapshot.crc32,
      source: what.identity,
      createdAt: what.createdAt,
    };
    const next = continuationJob(job, checkpoint, parts);
    deps.log.info('download outlived the invocation; continuing in the next', {
      key,
      offset,
      parts: parts.length,
      continuation: next.continuation?.count,
    });
    return { status: 'continued', key, offset, next, restarted: what.restarted };
  } catch (error) {
    if (error instanceof AlreadyArchivedError) {
      // A concurrent delivery of the same chain completed the copy first; it stands.
      const winner = await settledCopy(deps.store, recordingStem(recording), signal);
      if (winner) return completeExistingCopy(recording, winner, deps);
    }
    if (signal?.aborted) throw new DeadlineError('invocation deadline reached mid-upload', { cause: error });
    throw asCallvaultError(error);
  } finally {
    signal?.removeEventListener('abort', stopDownload);
    body.destroy();
    download.body.destroy();
  }
}

/**
 * Checks the saved upload against the store and asks the source for the rest. Either the ranged
 * download and the parts to continue, or why the copy must start over. A retryable fault (the network,
 * the source's rate limit) is thrown instead: the same message comes back and continues then.
 */
async function openContinuation(
  recording: SourceRecording,
  saved: UploadCheckpoint,
  deps: ArchiveDependencies,
  plan: ContinuationPlan,
  uploads: ResumableUploads,
  signal: AbortSignal | undefined,
): Promise<{ download: DownloadStream; resume: UploadResumePoint } | { restart: string }> {
  const age = deps.clock.now().getTime() - Date.parse(saved.createdAt);
  if (age > plan.maxUploadAgeMs)
    return {
      restart: `the upload is ${Math.round(age / 60_000)} minutes old, near the lifecycle rule's limit`,
    };
  const listed = await uploads.listUploadedParts(saved.key, saved.uploadId);
  if (!listed) return { restart: 'the upload no longer exists' };
  // More parts than saved: a later continuation of this chain got further (or died before re-queuing);
  // the saved ones still are the start of the file, and the rest is sent again over them.
  const parts: UploadedPart[] = listed.slice(0, saved.partCount);
  const disagreement = partsDisagreement(saved, parts);
  if (disagreement) return { restart: disagreement };
  let download: DownloadStream;
  try {
    download = await deps.source.openDownload(recording, signal, { fromByte: saved.offset });
  } catch (error) {
    if (signal?.aborted || (isCallvaultError(error) && error.retryable)) throw error;
    return { restart: `the source refused the range request: ${asCallvaultError(error).message}` };
  }
  const refusal = rangeRefusal(saved.source, saved.offset, download);
  if (refusal) {
    download.body.destroy();
    return { restart: refusal };
  }
  return { download, resume: { uploadId: saved.uploadId, parts, offset: saved.offset } };
}
