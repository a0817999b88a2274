import { completeStems } from './find-copy';
import { describeJob, type RecordingJob, recordingJob } from './jobs';
import { recordingStem } from './keys';
import type { ArchiveStore, JobQueue, Log, RecordingSource } from './ports';
import type { TimeWindow } from './recording';

export interface SweepDependencies {
  store: ArchiveStore;
  queue: JobQueue;
  log: Log;
}

export interface SweepResult {
  sourceId: string;
  listed: number;
  archived: number;
  enqueued: number;
}

const ENQUEUE_BATCH = 50;

/**
 * Lists a window at the source and enqueues every recording without a complete archived copy
 * (object and sidecar). Webhooks get lost; this is what makes "nothing is lost" true, and with
 * webhooks off it archives everything on its own.
 */
export async function sweepSource(
  source: RecordingSource,
  window: TimeWindow,
  deps: SweepDependencies,
  signal?: AbortSignal,
): Promise<SweepResult> {
  const archived = new ArchivedKeys(deps.store);
  const result: SweepResult = { sourceId: source.sourceId, listed: 0, archived: 0, enqueued: 0 };
  let batch: RecordingJob[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await deps.queue.enqueue(batch);
    result.enqueued += batch.length;
    batch = [];
  };
  for await (const recording of source.listRecordings(window, signal)) {
    result.listed += 1;
    if (await archived.isComplete(recordingStem(recording))) {
      result.archived += 1;
      continue;
    }
    const job = recordingJob(recording);
    deps.log.debug('sweep found a recording to archive', { job: describeJob(job) });
    batch.push(job);
    if (batch.length >= ENQUEUE_BATCH) await flush();
  }
  await flush();
  deps.log.info('sweep finished', {
    ...result,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
  });
  return result;
}

/** The window a sweep covers: the last `lookbackHours` up to now. */
export function lookbackWindow(now: Date, lookbackHours: number): TimeWindow {
  return { from: new Date(now.getTime() - lookbackHours * 3_600_000), to: now };
}

/**
 * Answers "is this recording archived with its sidecar, under any extension?" with one folder listing
 * per day.
 */
class ArchivedKeys {
  private readonly folders = new Map<string, Promise<Set<string>>>();

  constructor(private readonly store: ArchiveStore) {}

  async isComplete(stem: string): Promise<boolean> {
    const folder = stem.slice(0, stem.lastIndexOf('/') + 1);
    let stems = this.folders.get(folder);
    if (!stems) {
      stems = collectStems(this.store.listKeys(folder));
      this.folders.set(folder, stems);
    }
    return (await stems).has(stem);
  }
}

async function collectStems(keys: AsyncIterable<string>): Promise<Set<string>> {
  const listed: string[] = [];
  for await (const key of keys) listed.push(key);
  return completeStems(listed);
}
