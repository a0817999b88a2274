import { createHash } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { abortableSleep } from './abortable-sleep';
import { type CatalogueWriter, catalogueRecordFromSidecar } from './catalogue';
import { checksumAccumulator, describeChecksum, sameChecksum } from './checksums';
import {
  AlreadyArchivedError,
  asCallvaultError,
  DeadlineError,
  PermanentError,
  TransientError,
} from './errors';
import { findArchivedCopy } from './find-copy';
import { copyKey, recordingStem } from './keys';
import { decideStoredFormat, type StoredFormat } from './media-format';
import { SIGNATURE_BYTES } from './media-signature';
import type { ArchivedCopy, ArchiveStore, Clock, Log, RecordingSource, StoredRecording } from './ports';
import type { SourceRecording } from './recording';
import { buildSidecar, type Sidecar } from './sidecar';
import { peekHead } from './stream-head';
import { RecordingVerifier } from './verify-stream';

export interface ArchiveDependencies {
  /** Only its download is needed, so a one-off opener (a granted download) can stand in for a source. */
  source: Pick<RecordingSource, 'openDownload'>;
  store: ArchiveStore;
  clock: Clock;
  log: Log;
  /** Retention class tag, for lifecycle rules that act per tag. */
  retentionClass?: string;
  /** Where the catalogue record goes once the sidecar is written (absent: no catalogue). */
  catalogue?: CatalogueWriter;
}

export type ArchiveOutcome =
  | { status: 'archived'; key: string; size: number; sha256: string; restarted?: string }
  | { status: 'already-archived' | 'sidecar-written'; key: string; size: number };

/**
 * Copies one recording into the archive: skip if a copy exists under the recording's stem, whatever its
 * extension (before any byte is downloaded), otherwise open the download, name the copy from what it
 * serves (first bytes, then Content-Type: `decideStoredFormat`), stream it through the verifier into
 * the store with a conditional write, then write the sidecar. The recording object is written before
 * its sidecar, so a crash in between leaves a copy whose sidecar the next attempt completes; retention
 * treats a copy without sidecar as unverified.
 */
export async function archiveRecording(
  recording: SourceRecording,
  deps: ArchiveDependencies,
  signal?: AbortSignal,
): Promise<ArchiveOutcome> {
  const stem = recordingStem(recording);
  const existing = await findArchivedCopy(deps.store, stem);
  if (existing) return completeExistingCopy(recording, existing, deps);

  signal?.throwIfAborted();
  const download = await deps.source.openDownload(recording, signal);
  const stopDownload = () =>
    download.body.destroy(new DeadlineError('invocation deadline reached mid-download'));
  signal?.addEventListener('abort', stopDownload, { once: true });
  let verifier: RecordingVerifier;
  let body: Readable;
  let format: StoredFormat;
  try {
    verifier = new RecordingVerifier({ contentLength: download.contentLength, sourceSize: recording.size });
    // The head is free: it is the start of the download the copy needs anyway.
    const peeked = await peekHead(download.body, SIGNATURE_BYTES);
    body = peeked.body;
    format = decideStoredFormat({
      head: peeked.head,
      served: download.contentType,
      listed: recording.contentType,
      hint: recording.fileExtension,
    });
  } catch (error) {
    signal?.removeEventListener('abort', stopDownload);
    download.body.destroy();
    if (signal?.aborted)
      throw new DeadlineError('invocation deadline reached mid-download', { cause: error });
    throw asCallvaultError(error);
  }
  if (format.disagreement) {
    deps.log.warn('the served content type disagrees with the bytes; the bytes name the copy', {
      provider: recording.provider,
      sourceId: recording.sourceId,
      recordingId: recording.recordingId,
      detail: format.disagreement,
      extension: format.extension,
    });
  }
  const key = copyKey(stem, format.extension);
  const { contentType } = format;
  // pipeline() propagates a broken download into the verifier, and so into the store, which aborts.
  pipeline(body, verifier, () => {});

  const tags = objectTags(recording, deps);
  try {
    const stored = await deps.store.putRecording({
      key,
      body: verifier,
      contentType,
      sourceSize: recording.size,
      tags,
      signal,
    });
    return await recordStoredCopy(recording, { key, contentType, tags, stored }, deps);
  } catch (error) {
    if (error instanceof AlreadyArchivedError) {
      // Another worker won the race; its copy stands and we make sure it is complete.
      const winner = await settledCopy(deps.store, stem, signal);
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

/** Writes the sidecar and the catalogue record of a copy just stored. */
export async function recordStoredCopy(
  recording: SourceRecording,
  copy: { key: string; contentType: string; tags: Record<string, string>; stored: StoredRecording },
  deps: ArchiveDependencies,
): Promise<ArchiveOutcome & { status: 'archived' }> {
  const { key, stored } = copy;
  const sidecar = buildSidecar(recording, {
    objectKey: key,
    size: stored.size,
    sha256: stored.sha256,
    checksum: stored.checksum,
    contentType: copy.contentType,
    archivedAt: deps.clock.now(),
  });
  await deps.store.putSidecar(key, sidecar, copy.tags);
  await catalogue(sidecar, deps);
  deps.log.debug('recording archived', { key, bytes: stored.size, sha256: stored.sha256 });
  return { status: 'archived', key, size: stored.size, sha256: stored.sha256 };
}

/** How long a race's loser waits for the winner's copy to carry what vouches for it (about 3 s in all). */
const WINNER_SETTLE_DELAYS_MS = [25, 50, 100, 200, 400, 800, 1_600];

/**
 * The copy a concurrent writer just put in place, once it carries a sidecar, a SHA-256 or a checksum. A
 * store may show the object a moment before its metadata (the folder store links the file, then
 * publishes its metadata), and a copy with neither must not be judged unvouched while its writer is
 * still finishing: the loser waits, then retries later rather than failing for good.
 */
export async function settledCopy(
  store: ArchiveStore,
  stem: string,
  signal: AbortSignal | undefined,
): Promise<ArchivedCopy | undefined> {
  for (const delayMs of [0, ...WINNER_SETTLE_DELAYS_MS]) {
    await abortableSleep(delayMs, signal, 'waiting for a concurrent copy to settle');
    const copy = await findArchivedCopy(store, stem);
    if (!copy || copy.hasSidecar || copy.sha256 || copy.checksum) return copy;
  }
  throw new TransientError(`another writer's copy under ${stem} is not complete yet; retrying later`);
}

/**
 * The catalogue record, written after the sidecar in the same job: if it fails, the job fails and its
 * retry finds the copy complete and writes the record then (the write is conditional, so never twice).
 */
async function catalogue(sidecar: Sidecar | undefined, deps: ArchiveDependencies): Promise<void> {
  if (!deps.catalogue || !sidecar) return;
  await deps.catalogue.record(catalogueRecordFromSidecar(sidecar));
}

/** Tags on the recording and its sidecar: lifecycle rules act per `retention-class`. */
export function objectTags(recording: SourceRecording, deps: ArchiveDependencies): Record<string, string> {
  return {
    provider: recording.provider,
    source: recording.sourceId,
    'retention-class': deps.retentionClass ?? 'standard',
  };
}

export async function completeExistingCopy(
  recording: SourceRecording,
  existing: ArchivedCopy,
  deps: ArchiveDependencies,
): Promise<ArchiveOutcome> {
  if (recording.size !== undefined && existing.size !== recording.size) {
    // Never overwrite; retention refuses to delete on this mismatch, and the log says why.
    deps.log.warn('archived copy size differs from the size the source reports now', {
      key: existing.key,
      archivedBytes: existing.size,
      sourceBytes: recording.size,
    });
  }
  if (existing.hasSidecar) {
    // A job that ended between the sidecar and the catalogue record comes back here; a no-op otherwise.
    if (deps.catalogue) await catalogue(await deps.store.readSidecar(existing.key), deps);
    return { status: 'already-archived', key: existing.key, size: existing.size };
  }
  // The object's own metadata is fixed at write; otherwise (a multipart copy whose writer stopped
  // before tagging it, or whose tag may have changed since) the stored bytes are hashed again.
  const sha256 = existing.sha256 ?? (await rehashStoredCopy(existing, deps));
  if (!existing.sha256 && existing.taggedSha256 !== sha256)
    await deps.store.recordSha256(existing.key, sha256);
  const sidecar = buildSidecar(recording, {
    objectKey: existing.key,
    size: existing.size,
    sha256,
    checksum: existing.checksum,
    contentType: existing.contentType ?? recording.contentType ?? 'application/octet-stream',
    archivedAt: existing.lastModified,
  });
  try {
    await deps.store.putSidecar(
      existing.key,
      sidecar,
      Object.keys(existing.tags).length > 0 ? existing.tags : objectTags(recording, deps),
    );
  } catch (error) {
    // Another worker completed the same copy meanwhile; its sidecar stands.
    if (error instanceof AlreadyArchivedError)
      return { status: 'already-archived', key: existing.key, size: existing.size };
    throw error;
  }
  await catalogue(sidecar, deps);
  deps.log.info('sidecar written for an existing copy', { key: existing.key });
  return { status: 'sidecar-written', key: existing.key, size: existing.size };
}

/**
 * The SHA-256 of a stored copy that carries none in its metadata, read back from the store. The bytes
 * must match the whole-object checksum the store verified when they were written (so they are the bytes
 * the writer's verifier passed), and the size the copy reports; a copy without such a checksum is not
 * vouched for by anything, and is left alone.
 */
async function rehashStoredCopy(existing: ArchivedCopy, deps: ArchiveDependencies): Promise<string> {
  const stored = existing.checksum;
  const recomputed = stored && checksumAccumulator(stored);
  if (!stored || !recomputed) {
    throw new PermanentError(
      `the copy at ${existing.key} has no SHA-256 metadata and no checksum callvault can recompute (${describeChecksum(stored)}); cannot write its sidecar`,
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await deps.store.openRecording(existing.key)) {
    hash.update(chunk as Buffer);
    recomputed.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const actual = recomputed.digest();
  if (bytes !== existing.size || !sameChecksum(actual, stored)) {
    // A read that went wrong, or a copy that changed: try again later rather than vouch for it.
    throw new TransientError(
      `re-reading ${existing.key} gave ${bytes} B with ${describeChecksum(actual)}; the store reports ${existing.size} B with ${describeChecksum(stored)}`,
    );
  }
  const sha256 = hash.digest('hex');
  if (existing.taggedSha256 && existing.taggedSha256 !== sha256) {
    deps.log.warn('the sha256 tag of an archived copy disagrees with its bytes; tagging it again', {
      key: existing.key,
      tagged: existing.taggedSha256,
      actual: sha256,
    });
  }
  deps.log.info('hashed an existing copy again to complete it', { key: existing.key, bytes });
  return sha256;
}
