import { completeStems } from './find-copy';
import { describeJob, type RecordingJob, recordingJob } from './jobs';
import { recordingStem } from './keys';
import { listRecordingsByScope, type ScopeFailure, scopeFailure } from './listing-scopes';
import { PendingJobMarkers, type PendingJobsSettings } from './pending-jobs';
import type { ArchiveStore, JobQueue, ListingScope, Log, RecordingSource } from './ports';
import type { TimeWindow } from './recording';

export interface SweepDependencies {
  store: ArchiveStore;
  queue: JobQueue;
  log: Log;
  /** Markers that keep a recording already queued from being queued again; absent: every sweep queues it. */
  pending?: PendingJobsSettings;
}

export interface SweepResult {
  sourceId: string;
  listed: number;
  archived: number;
  enqueued: number;
  /** Not archived yet, but queued by an earlier sweep whose marker still holds: not queued again. */
  alreadyQueued: number;
  /** Parts listed on their own (users, extensions); 0 for a source listed whole. */
  scopes: number;
  /** Parts whose listing failed this time; the others were swept. */
  notCovered: ScopeFailure[];
}

export interface SweepOptions {
  /** Only the parts of these users or extensions (a notification the webhook could not place). */
  subjects?: readonly string[];
  /**
   * Parts that failed in earlier sweeps: each is listed from its `since` (not only over the lookback), so
   * what it missed while refused is swept once it is served again; a repeated failure keeps that `since`.
   */
  earlier?: readonly ScopeFailure[];
  /** When failures are stamped; default the window's end. */
  now?: Date;
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
  options: SweepOptions = {},
): Promise<SweepResult> {
  const archived = new ArchivedKeys(deps.store);
  const result: SweepResult = {
    sourceId: source.sourceId,
    listed: 0,
    archived: 0,
    enqueued: 0,
    alreadyQueued: 0,
    scopes: 0,
    notCovered: [],
  };
  const earlier = new Map((options.earlier ?? []).map((failure) => [failure.scope, failure]));
  const now = options.now ?? window.to;
  // One recording can be listed by two parts (a call two users in scope took part in): enqueue it once.
  const seen = new Set<string>();
  const markers = deps.pending ? new PendingJobMarkers(deps.pending, deps.log) : undefined;
  let batch: RecordingJob[] = [];
  let batchStems: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await deps.queue.enqueue(batch);
    } catch (error) {
      await markers?.release(batchStems);
      throw error;
    }
    result.enqueued += batch.length;
    batch = [];
    batchStems = [];
  };
  const listing = listRecordingsByScope(
    source,
    window,
    {
      subjects: options.subjects,
      windowFor: (scope: ListingScope) => widened(window, earlier.get(scope.id)),
      onScopes: (scopes) => {
        result.scopes = scopes.length;
      },
      onFailure: ({ scope, error, window: scopeWindow }) => {
        const failure = scopeFailure(scope, error, scopeWindow, now, earlier.get(scope.id));
        result.notCovered.push(failure);
        deps.log.error(SCOPE_NOT_COVERED_MESSAGE, {
          source: source.sourceId,
          provider: source.provider,
          scope: scope.id,
          label: scope.label,
          code: error.code,
          since: failure.since,
          error: error.message,
        });
      },
    },
    signal,
  );
  for await (const recording of listing) {
    const key = recordingStem(recording);
    if (seen.has(key)) continue;
    seen.add(key);
    result.listed += 1;
    if (await archived.isComplete(key)) {
      result.archived += 1;
      continue;
    }
    if (markers && !(await markers.claim(key, now.getTime()))) {
      result.alreadyQueued += 1;
      continue;
    }
    const job = recordingJob(recording);
    deps.log.debug('sweep found a recording to archive', { job: describeJob(job) });
    batch.push(job);
    batchStems.push(key);
    if (batch.length >= ENQUEUE_BATCH) await flush();
  }
  await flush();
  deps.log.info('sweep finished', {
    sourceId: result.sourceId,
    listed: result.listed,
    archived: result.archived,
    enqueued: result.enqueued,
    alreadyQueued: result.alreadyQueued,
    scopes: result.scopes,
    notCovered: result.notCovered.length,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
  });
  return result;
}

/**
 * What a sweep logs (level error) per part it could not list; `scope`, `label` and `code` say which and
 * why. The sweep function also publishes the count (metric `SweepScopesNotCovered`).
 */
export const SCOPE_NOT_COVERED_MESSAGE = 'sweep could not list part of a source; the others were swept';

/** The common window, reaching back to where a part that failed before was last listed cleanly. */
function widened(window: TimeWindow, earlier: ScopeFailure | undefined): TimeWindow {
  const since = earlier ? Date.parse(earlier.since) : Number.NaN;
  if (Number.isNaN(since) || since >= window.from.getTime()) return window;
  return { from: new Date(since), to: window.to };
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
