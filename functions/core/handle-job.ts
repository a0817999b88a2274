import { type ArchiveOutcome, archiveRecording } from './archive-recording';
import { type CatalogueWriter, catalogueRecordFromExpired, catalogueRecordFromGone } from './catalogue';
import type { ContinuationPlan } from './continuation';
import { ExpiredBeforeFetchError, GoneAtSourceError, PermanentError } from './errors';
import { findArchivedCopy } from './find-copy';
import { type ArchiveJob, describeJob, type FetchNowJob, recordingFromJob, recordingJob } from './jobs';
import { goneAtSourceKey, recordingKey, recordingStem } from './keys';
import type {
  ArchiveStore,
  Clock,
  ExpiredBeforeFetchLog,
  ExpiredBeforeFetchRecord,
  GoneAtSourceLog,
  GoneAtSourceRecord,
  GrantedDownload,
  JobQueue,
  Log,
} from './ports';
import type { SourceRecording } from './recording';
import { archiveResumably } from './resumable-archive';
import type { SourceRegistry } from './source-registry';

export interface JobDependencies {
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  /** Where recordings found gone at the source are recorded (beside the archive, for status). */
  goneAtSource: GoneAtSourceLog;
  /** Where granted recordings lost to an expired token are recorded (beside the archive, for status). */
  expiredBeforeFetch: ExpiredBeforeFetchLog;
  clock: Clock;
  log: Log;
  /** The catalogue: a record per archived, gone or expired recording (absent: none is kept). */
  catalogue?: CatalogueWriter;
  /**
   * Where invocations end (Lambda): when a download must stop and continue in another invocation.
   * Absent (the local host), a download runs to its end.
   */
  continuation?: ContinuationPlan;
}

export type JobOutcome =
  | ArchiveOutcome
  | { status: 'continued'; key: string; offset: number; continuation: number; restarted?: string }
  | { status: 'hint-resolved'; found: number; enqueued: number }
  | { status: 'gone-at-source'; key: string; recordKey: string };

/**
 * The archive worker's one use case. A recording job archives that recording; a hint job asks the
 * source which recordings exist for the event and fans them out as recording jobs, so each download
 * gets its own retries and its own place in the dead-letter queue.
 */
export async function handleArchiveJob(
  job: ArchiveJob,
  deps: JobDependencies,
  signal?: AbortSignal,
): Promise<JobOutcome> {
  if (job.type === 'recording') {
    const recording = recordingFromJob(job);
    const source = await deps.sources.get(recording.provider, recording.sourceId);
    const retentionClass = deps.sources.retentionClassOf(recording.provider, recording.sourceId);
    const archiveDeps = {
      source,
      store: deps.store,
      clock: deps.clock,
      log: deps.log,
      retentionClass,
      catalogue: deps.catalogue,
    };
    const uploads = deps.store.resumable;
    try {
      if (!deps.continuation || !uploads) return await archiveRecording(recording, archiveDeps, signal);
      const outcome = await archiveResumably(recording, job, archiveDeps, deps.continuation, uploads, signal);
      if (outcome.status !== 'continued') return outcome;
      // Delay 0: the next invocation picks it up at once. Should this fail, this job fails and comes back
      // with its own checkpoint, which the parts sent since still continue.
      await deps.queue.enqueue([outcome.next]);
      const { next, ...continued } = outcome;
      return { ...continued, continuation: next.continuation?.count ?? 0 };
    } catch (error) {
      if (error instanceof GoneAtSourceError) return recordGoneAtSource(recording, error, deps);
      throw error;
    }
  }
  if (job.type === 'fetch-now') return archiveGrantedRecording(job, deps, signal);
  const source = await deps.sources.get(job.provider, job.sourceId);
  const recordings = await source.resolveHint(job, signal);
  const missing = [];
  for (const recording of recordings) {
    const copy = await findArchivedCopy(deps.store, recordingStem(recording));
    if (!copy?.hasSidecar) missing.push(recordingJob(recording));
  }
  if (missing.length > 0) await deps.queue.enqueue(missing);
  deps.log.info('webhook hint resolved', {
    job: describeJob(job),
    found: recordings.length,
    enqueued: missing.length,
  });
  return { status: 'hint-resolved', found: recordings.length, enqueued: missing.length };
}

/**
 * Ends the job of a recording the source no longer holds: nothing to copy, nothing to retry. The record
 * is written before the job is acknowledged; if writing it fails, the job fails and comes back, and the
 * adapter checks with the source again.
 */
async function recordGoneAtSource(
  recording: SourceRecording,
  error: GoneAtSourceError,
  deps: JobDependencies,
): Promise<JobOutcome> {
  const key = recordingKey(recording);
  const recordKey = goneAtSourceKey(key);
  const entry: GoneAtSourceRecord = {
    v: 1,
    provider: recording.provider,
    sourceId: recording.sourceId,
    recordingId: recording.recordingId,
    startedAt: recording.startedAt.toISOString(),
    objectKey: key,
    detectedAt: deps.clock.now().toISOString(),
    reason: error.message,
    listed: recordingJob(recording).recording,
  };
  await deps.goneAtSource.record(entry);
  await deps.catalogue?.record(catalogueRecordFromGone(entry));
  deps.log.warn('recording gone at the source before it was archived', {
    provider: recording.provider,
    sourceId: recording.sourceId,
    recordingId: recording.recordingId,
    startedAt: recording.startedAt.toISOString(),
    record: recordKey,
    reason: error.message,
  });
  return { status: 'gone-at-source', key, recordKey };
}

/**
 * A `fetch-now` job: the grant is opened at once (its token expires in minutes); as for every download,
 * the first bytes decide the copy's extension. A redelivered notification is caught before any byte is
 * fetched by a copy under the recording's stem, and otherwise by the store's conditional write.
 */
async function archiveGrantedRecording(
  job: FetchNowJob,
  deps: JobDependencies,
  signal?: AbortSignal,
): Promise<ArchiveOutcome> {
  const expected = recordingFromJob(job);
  const source = await deps.sources.get(expected.provider, expected.sourceId);
  if (!source.openGrantedDownload) {
    throw new PermanentError(
      `${expected.provider} sources cannot open granted downloads (${describeJob(job)})`,
    );
  }
  const retentionClass = deps.sources.retentionClassOf(expected.provider, expected.sourceId);
  let download: GrantedDownload | undefined;
  if (!(await findArchivedCopy(deps.store, recordingStem(expected)))) {
    try {
      download = await source.openGrantedDownload(expected, job.grant, signal);
    } catch (error) {
      if (error instanceof ExpiredBeforeFetchError) await recordExpiredBeforeFetch(job, error, deps);
      throw error;
    }
  }
  const opened = download;
  try {
    return await archiveRecording(
      expected,
      {
        source: {
          openDownload: async () => {
            if (!opened) throw new PermanentError(`no granted download is open for ${describeJob(job)}`);
            return opened;
          },
        },
        store: deps.store,
        clock: deps.clock,
        log: deps.log,
        retentionClass,
        catalogue: deps.catalogue,
      },
      signal,
    );
  } finally {
    // Unread when the bytes' key already held a copy; destroying an ended stream is harmless.
    download?.body.destroy();
  }
}

/**
 * Records a granted recording the platform no longer serves, then lets the error dead-letter the job
 * (EXPIRED_BEFORE_FETCH): the recording is lost, and both the record and the dead letter say so. If the
 * record cannot be written the job fails with that error instead and comes back, to try again.
 */
async function recordExpiredBeforeFetch(
  job: FetchNowJob,
  error: ExpiredBeforeFetchError,
  deps: JobDependencies,
): Promise<void> {
  const expected = recordingFromJob(job);
  const objectKey = recordingKey(expected);
  const entry: ExpiredBeforeFetchRecord = {
    v: 1,
    provider: expected.provider,
    sourceId: expected.sourceId,
    recordingId: expected.recordingId,
    startedAt: expected.startedAt.toISOString(),
    objectKey,
    receivedAt: job.grant.receivedAt,
    detectedAt: deps.clock.now().toISOString(),
    reason: error.message,
    notified: job.recording,
  };
  await deps.expiredBeforeFetch.record(entry);
  await deps.catalogue?.record(catalogueRecordFromExpired(entry));
  deps.log.error('granted recording expired before it was fetched; it is lost', {
    provider: expected.provider,
    sourceId: expected.sourceId,
    recordingId: expected.recordingId,
    receivedAt: job.grant.receivedAt,
    reason: error.message,
  });
}
