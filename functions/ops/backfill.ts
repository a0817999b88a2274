/**
 * Backfill: the sweep over an explicit historic range, one UTC day at a time, oldest first. Each day is
 * listed at the source, what the archive already holds is skipped before anything is enqueued (the
 * sweep's own check), and the rest goes to the target: the local pipeline, which archives it before the
 * day counts as done, or the deployed provider queue, where being enqueued is done. Rate limits are
 * waited out; a cursor file makes the run resumable.
 */
import { InvalidInputError } from '../core/errors';
import { findArchivedCopy } from '../core/find-copy';
import type { ArchiveJob } from '../core/jobs';
import { type RecordingJob, recordingFromJob } from '../core/jobs';
import { recordingStem } from '../core/keys';
import type { ScopeFailure } from '../core/listing-scopes';
import type {
  ArchiveStore,
  JobQueue,
  ListingScope,
  Log,
  RecordingSource,
  RunLedger,
  RunRecord,
  SourceStats,
} from '../core/ports';
import type { SourceRecording, TimeWindow } from '../core/recording';
import { sweepSource } from '../core/sweep-source';
import {
  type BackfillCounters,
  type BackfillCursor,
  cursorPath,
  emptyCounters,
  readCursor,
  writeCursor,
} from './backfill-cursor';
import type { BackfillProgress } from './backfill-progress';
import { withRateLimitWaits } from './rate-limit-wait';
import { dayKey, daysBetween, dayWindow } from './utc-days';

/** Where the jobs of a backfill go. */
export interface BackfillTarget {
  mode: 'local' | 'aws';
  store: ArchiveStore;
  queue: JobQueue;
  /**
   * Local mode: resolves once every enqueued job has settled (archived or dead-lettered); rejects when
   * the signal aborts. Absent on AWS, where a job accepted by SQS is the end of the backfill's part.
   */
  drain?(signal: AbortSignal): Promise<void>;
  /** Where the run is recorded for `npm run status`. */
  ledger?: RunLedger;
}

export interface BackfillOptions {
  source: RecordingSource;
  target: BackfillTarget;
  /** First and last UTC day of the range, both included. */
  from: Date;
  to: Date;
  stateDir: string;
  /** Ignore an existing cursor and start at `from`. */
  restart?: boolean;
  maxWaitSeconds: number;
  progress: BackfillProgress;
  log: Log;
  signal: AbortSignal;
  now?: () => Date;
}

export interface BackfillResult {
  status: 'complete' | 'incomplete' | 'interrupted';
  cursorPath: string;
  /** First day walked by this run (undefined when the cursor said everything was done). */
  resumedFrom?: string;
  completedThrough?: string;
  incompleteDays: string[];
  /** This run only. */
  run: BackfillCounters;
  /** Every completed day, this run and earlier ones. */
  total: BackfillCounters;
}

export async function runBackfill(options: BackfillOptions): Promise<BackfillResult> {
  const { source, target, progress, signal } = options;
  const now = options.now ?? (() => new Date());
  const fromText = dayKey(options.from);
  const toText = dayKey(options.to);
  const path = cursorPath(options.stateDir, source.sourceId, fromText, toText);
  const startedAt = now();

  const saved = options.restart ? undefined : await readCursor(path);
  if (saved && saved.mode !== target.mode) {
    throw new InvalidInputError(
      `the cursor ${path} was written by a ${saved.mode === 'aws' ? '--aws' : 'local'} backfill; run in the same mode, or pass --restart`,
    );
  }
  const days = daysBetween(options.from, options.to);
  const resumeIndex = saved?.completedThrough
    ? days.findIndex((day) => dayKey(day) > (saved.completedThrough ?? ''))
    : 0;
  const remaining = resumeIndex < 0 ? [] : days.slice(resumeIndex);
  const cursor: BackfillCursor = {
    v: 1,
    sourceId: source.sourceId,
    from: fromText,
    to: toText,
    mode: target.mode,
    completedThrough: saved?.completedThrough,
    incompleteDays: [],
    counters: { ...(saved?.counters ?? emptyCounters()) },
    updatedAt: startedAt.toISOString(),
  };
  const run = emptyCounters();
  const result = (status: BackfillResult['status']): BackfillResult => ({
    status,
    cursorPath: path,
    resumedFrom: remaining[0] && dayKey(remaining[0]),
    completedThrough: cursor.completedThrough,
    incompleteDays: [...cursor.incompleteDays],
    run,
    total: cursor.counters,
  });
  const waits = {
    maxWaitSeconds: options.maxWaitSeconds,
    signal,
    onWait: (seconds: number) => progress.waiting(seconds, 'the source is rate limited'),
  };

  if (saved?.completedThrough) progress.note(`resuming after ${saved.completedThrough} (cursor ${path})`);
  if (remaining.length === 0) {
    progress.note(
      `every day of ${fromText}..${toText} is already done (cursor ${path}); pass --restart to walk it again`,
    );
    return result('complete');
  }

  // Totals for the whole range make the bar's done/total and ETA meaningful; progress carries over.
  const totals = source.stats
    ? await optionalStats(
        () =>
          withRateLimitWaits(
            () => statsOf(source, { from: days[0] ?? options.from, to: dayWindow(options.to).to }, signal),
            waits,
          ),
        options.log,
      )
    : undefined;
  progress.start({
    total: totals,
    done: { count: saved?.counters.listed ?? 0, bytes: saved?.counters.bytes ?? 0 },
  });

  let contiguous = true;
  const notCovered = new Map<string, ScopeFailure>();
  try {
    for (const day of remaining) {
      if (signal.aborted) break;
      const key = dayKey(day);
      const outcome = await backfillDay(day, options, waits);
      run.listed += outcome.listed.length;
      run.alreadyArchived += outcome.alreadyArchived;
      run.handled += outcome.handled;
      run.bytes += outcome.bytes;
      for (const failure of outcome.notCovered) notCovered.set(failure.scope, failure);
      if (outcome.notCovered.length > 0) {
        // The day is walked again on the next run; the parts that were covered are archived and skipped then.
        contiguous = false;
        cursor.incompleteDays.push(key);
        progress.note(
          `${key}: not covered: ${outcome.notCovered.map((failure) => `${failure.label} (${failure.code})`).join(', ')}; the others were walked, and this day is walked again on the next run`,
        );
      } else if (outcome.missing.length === 0 && contiguous) {
        cursor.completedThrough = key;
        cursor.counters.listed += outcome.listed.length;
        cursor.counters.alreadyArchived += outcome.alreadyArchived;
        cursor.counters.handled += outcome.handled;
        cursor.counters.bytes += outcome.bytes;
      } else if (outcome.missing.length > 0) {
        contiguous = false;
        cursor.incompleteDays.push(key);
        progress.note(
          `${key}: ${outcome.missing.length} of ${outcome.listed.length} recordings were not archived (see the dead-letter folder); this day is walked again on the next run`,
        );
      }
      cursor.updatedAt = now().toISOString();
      await writeCursor(path, cursor);
      progress.dayDone(key, {
        listed: outcome.listed.length,
        alreadyArchived: outcome.alreadyArchived,
        handled: outcome.handled,
      });
    }
  } catch (error) {
    if (!signal.aborted) {
      await recordRun('failed', { error: String(error) });
      throw error;
    }
  } finally {
    progress.finish();
  }
  cursor.updatedAt = now().toISOString();
  await writeCursor(path, cursor);

  const status: BackfillResult['status'] = signal.aborted
    ? 'interrupted'
    : cursor.incompleteDays.length > 0
      ? 'incomplete'
      : 'complete';
  for (const failure of notCovered.values()) {
    progress.note(`not covered: ${failure.label}: ${failure.reason}`);
  }
  const outcome =
    status === 'complete' ? 'ok' : status === 'incomplete' && notCovered.size > 0 ? 'partial' : 'failed';
  await recordRun(outcome, {
    status,
    from: fromText,
    to: toText,
    ...run,
    completedThrough: cursor.completedThrough,
    incompleteDays: cursor.incompleteDays,
    notCovered: [...notCovered.values()],
  });
  return result(status);

  async function recordRun(outcome: RunRecord['outcome'], summary: Record<string, unknown>): Promise<void> {
    if (!target.ledger) return;
    try {
      await target.ledger.record({
        kind: 'backfill',
        sourceId: source.sourceId,
        startedAt: startedAt.toISOString(),
        endedAt: now().toISOString(),
        outcome,
        summary: { mode: target.mode, ...summary },
      });
    } catch (error) {
      // The run's own outcome matters more than its ledger entry.
      options.log.warn('could not record the backfill in the run ledger', { error: String(error) });
    }
  }
}

interface DayOutcome {
  listed: SourceRecording[];
  alreadyArchived: number;
  /** Archived (local) or enqueued (AWS) by this run. */
  handled: number;
  bytes: number;
  /** Enqueued but not archived when the day's jobs had settled (local only). */
  missing: string[];
  /** Parts of the source (users, extensions) the day's listing could not cover; the others were walked. */
  notCovered: ScopeFailure[];
}

async function backfillDay(
  day: Date,
  options: BackfillOptions,
  waits: Parameters<typeof withRateLimitWaits>[1],
): Promise<DayOutcome> {
  const { source, target, progress, signal, log } = options;
  const window = dayWindow(day);
  const listed = new Map<string, SourceRecording>();
  const enqueued = new Map<string, RecordingJob>();
  // Records what the listing yields, so the day's totals and skipped bytes are known.
  const listing: RecordingSource = Object.create(source, {
    listRecordings: {
      value: async function* (w: TimeWindow, s?: AbortSignal, scope?: ListingScope) {
        for await (const recording of source.listRecordings(w, s, scope)) {
          listed.set(recording.recordingId, recording);
          yield recording;
        }
      },
    },
  });
  // A listing retried after a rate limit must not enqueue what it already enqueued.
  const queue: JobQueue = {
    async enqueue(jobs: readonly ArchiveJob[]) {
      const fresh = jobs.filter(
        (job): job is RecordingJob => job.type === 'recording' && !enqueued.has(job.recording.recordingId),
      );
      if (fresh.length === 0) return;
      await target.queue.enqueue(fresh);
      for (const job of fresh) enqueued.set(job.recording.recordingId, job);
      if (target.mode === 'aws') for (const job of fresh) progress.handled(job.recording.size ?? 0);
    },
  };
  const { notCovered } = await withRateLimitWaits(
    () => sweepSource(listing, window, { store: target.store, queue, log }, signal),
    waits,
  );

  let alreadyArchivedBytes = 0;
  for (const [id, recording] of listed) if (!enqueued.has(id)) alreadyArchivedBytes += recording.size ?? 0;
  const alreadyArchived = listed.size - enqueued.size;
  progress.skipped(alreadyArchived, alreadyArchivedBytes);
  const bytes = [...listed.values()].reduce((sum, recording) => sum + (recording.size ?? 0), 0);
  if (!target.drain) {
    return {
      listed: [...listed.values()],
      alreadyArchived,
      handled: enqueued.size,
      bytes,
      missing: [],
      notCovered,
    };
  }

  await target.drain(signal);
  // The archive is the judge of "done": every enqueued recording must now be there with its sidecar.
  const missing: string[] = [];
  for (const job of enqueued.values()) {
    const copy = await findArchivedCopy(target.store, recordingStem(recordingFromJob(job)));
    if (!copy?.hasSidecar) missing.push(job.recording.recordingId);
  }
  return {
    listed: [...listed.values()],
    alreadyArchived,
    handled: enqueued.size - missing.length,
    bytes,
    missing,
    notCovered,
  };
}

async function statsOf(
  source: RecordingSource,
  window: TimeWindow,
  signal: AbortSignal,
): Promise<SourceStats> {
  if (!source.stats) throw new Error('the source offers no stats');
  return source.stats(window, signal);
}

/** Totals are a nicety for the progress bar; without them the backfill still runs. */
async function optionalStats(read: () => Promise<SourceStats>, log: Log): Promise<SourceStats | undefined> {
  try {
    return await read();
  } catch (error) {
    log.warn('could not read the source stats for the range; progress shows no total', {
      error: String(error),
    });
    return undefined;
  }
}
