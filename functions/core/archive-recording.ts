import { pipeline } from 'node:stream';
import { AlreadyArchivedError, asCallvaultError, DeadlineError, TransientError } from './errors';
import { recordingKey } from './keys';
import type { ArchivedCopy, ArchiveStore, Clock, Log, RecordingSource } from './ports';
import type { SourceRecording } from './recording';
import { buildSidecar } from './sidecar';
import { RecordingVerifier } from './verify-stream';

export interface ArchiveDependencies {
  /** Only its download is needed, so a one-off opener (a granted download) can stand in for a source. */
  source: Pick<RecordingSource, 'openDownload'>;
  store: ArchiveStore;
  clock: Clock;
  log: Log;
  /** Retention class tag, for lifecycle rules that act per tag. */
  retentionClass?: string;
}

export type ArchiveOutcome =
  | { status: 'archived'; key: string; size: number; sha256: string }
  | { status: 'already-archived' | 'sidecar-written'; key: string; size: number };

/**
 * Copies one recording into the archive: skip if a complete copy exists (before any byte is
 * downloaded), otherwise stream it through the verifier into the store, then write the sidecar.
 * The recording object is written before its sidecar, so a crash in between leaves a copy whose
 * sidecar the next attempt completes; retention treats a copy without sidecar as unverified.
 */
export async function archiveRecording(
  recording: SourceRecording,
  deps: ArchiveDependencies,
  signal?: AbortSignal,
): Promise<ArchiveOutcome> {
  const key = recordingKey(recording);
  const existing = await deps.store.inspect(key);
  if (existing) return completeExistingCopy(recording, existing, deps);

  signal?.throwIfAborted();
  const download = await deps.source.openDownload(recording, signal);
  let verifier: RecordingVerifier;
  try {
    verifier = new RecordingVerifier({ contentLength: download.contentLength, sourceSize: recording.size });
  } catch (error) {
    download.body.destroy();
    throw error;
  }
  const stopDownload = () =>
    download.body.destroy(new DeadlineError('invocation deadline reached mid-download'));
  signal?.addEventListener('abort', stopDownload, { once: true });
  // pipeline() propagates a broken download into the verifier, and so into the store, which aborts.
  pipeline(download.body, verifier, () => {});

  const contentType =
    download.contentType?.split(';')[0]?.trim() || recording.contentType || 'application/octet-stream';
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
    await deps.store.putSidecar(
      key,
      buildSidecar(recording, {
        objectKey: key,
        size: stored.size,
        sha256: stored.sha256,
        contentType,
        archivedAt: deps.clock.now(),
      }),
      tags,
    );
    deps.log.debug('recording archived', { key, bytes: stored.size, sha256: stored.sha256 });
    return { status: 'archived', key, size: stored.size, sha256: stored.sha256 };
  } catch (error) {
    if (error instanceof AlreadyArchivedError) {
      // Another worker won the race; its copy stands and we make sure it is complete.
      const winner = await deps.store.inspect(key);
      if (winner) return completeExistingCopy(recording, winner, deps);
    }
    if (signal?.aborted) throw new DeadlineError('invocation deadline reached mid-upload', { cause: error });
    throw asCallvaultError(error);
  } finally {
    signal?.removeEventListener('abort', stopDownload);
    download.body.destroy();
  }
}

/** Tags on the recording and its sidecar: lifecycle rules act per `retention-class`. */
function objectTags(recording: SourceRecording, deps: ArchiveDependencies): Record<string, string> {
  return {
    provider: recording.provider,
    source: recording.sourceId,
    'retention-class': deps.retentionClass ?? 'standard',
  };
}

async function completeExistingCopy(
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
  if (existing.hasSidecar) return { status: 'already-archived', key: existing.key, size: existing.size };
  if (!existing.sha256) {
    throw new TransientError(`object ${existing.key} has no sha256 metadata; cannot write its sidecar`);
  }
  await deps.store.putSidecar(
    existing.key,
    buildSidecar(recording, {
      objectKey: existing.key,
      size: existing.size,
      sha256: existing.sha256,
      contentType: existing.contentType ?? recording.contentType ?? 'application/octet-stream',
      archivedAt: existing.lastModified,
    }),
    Object.keys(existing.tags).length > 0 ? existing.tags : objectTags(recording, deps),
  );
  deps.log.info('sidecar written for an existing copy', { key: existing.key });
  return { status: 'sidecar-written', key: existing.key, size: existing.size };
}
