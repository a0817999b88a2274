import { type ArchiveOutcome, archiveRecording } from './archive-recording';
import { PermanentError } from './errors';
import { type ArchiveJob, describeJob, type FetchNowJob, recordingFromJob, recordingJob } from './jobs';
import { recordingKey } from './keys';
import type { ArchiveStore, Clock, GrantedDownload, JobQueue, Log } from './ports';
import type { SourceRegistry } from './source-registry';

export interface JobDependencies {
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  clock: Clock;
  log: Log;
}

export type JobOutcome = ArchiveOutcome | { status: 'hint-resolved'; found: number; enqueued: number };

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
    return archiveRecording(
      recording,
      { source, store: deps.store, clock: deps.clock, log: deps.log, retentionClass },
      signal,
    );
  }
  if (job.type === 'fetch-now') return archiveGrantedRecording(job, deps, signal);
  const source = await deps.sources.get(job.provider, job.sourceId);
  const recordings = await source.resolveHint(job, signal);
  const missing = [];
  for (const recording of recordings) {
    const copy = await deps.store.inspect(recordingKey(recording));
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
 * A `fetch-now` job: the grant is opened at once (its token expires in minutes) and the first bytes
 * decide the extension, so the key is known only after the download has started. A redelivered
 * notification is caught before any byte is fetched by the copy at the expected key, and otherwise by
 * the store's conditional write at the key the bytes decided.
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
  let recording = expected;
  if (!(await deps.store.inspect(recordingKey(expected)))) {
    download = await source.openGrantedDownload(expected, job.grant, signal);
    recording = { ...expected, fileExtension: download.fileExtension };
  }
  const opened = download;
  try {
    return await archiveRecording(
      recording,
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
      },
      signal,
    );
  } finally {
    // Unread when the bytes' key already held a copy; destroying an ended stream is harmless.
    download?.body.destroy();
  }
}
