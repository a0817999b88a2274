import { type ArchiveOutcome, archiveRecording } from './archive-recording';
import { type ArchiveJob, describeJob, recordingFromJob, recordingJob } from './jobs';
import { recordingKey } from './keys';
import type { ArchiveStore, Clock, JobQueue, Log } from './ports';
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
