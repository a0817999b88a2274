import { describeJob, type RecordingJob, recordingJob } from './jobs';
import { recordingKey, sidecarKey } from './keys';
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
    if (await archived.isComplete(recordingKey(recording))) {
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

/** Answers "is this key archived with its sidecar?", one folder listing per day where the store can list. */
class ArchivedKeys {
  private readonly folders = new Map<string, Promise<Set<string>>>();

  constructor(private readonly store: ArchiveStore) {}

  async isComplete(key: string): Promise<boolean> {
    const { listKeys } = this.store;
    if (!listKeys) return (await this.store.inspect(key))?.hasSidecar === true;
    const folder = key.slice(0, key.lastIndexOf('/') + 1);
    let keys = this.folders.get(folder);
    if (!keys) {
      keys = collect(listKeys.call(this.store, folder));
      this.folders.set(folder, keys);
    }
    const present = await keys;
    return present.has(key) && present.has(sidecarKey(key));
  }
}

async function collect(keys: AsyncIterable<string>): Promise<Set<string>> {
  const set = new Set<string>();
  for await (const key of keys) set.add(key);
  return set;
}
