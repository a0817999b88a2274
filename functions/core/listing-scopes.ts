/**
 * Failure isolation for listings. A source that lists its recordings part by part (a Teams user and
 * recording kind, a RingCentral extension) says so through `RecordingSource.listingScopes`; a refusal or
 * fault of one part (Teams' access-policy 403 for one user, a user deleted meanwhile, one extension the
 * app may not read) is recorded against that part and the others are listed all the same. What stops the
 * whole source is what no other part could escape: refused credentials, credentials not set, a rate
 * limit (the budget is the source's), the deadline, or the same fault part after part.
 */
import { asCallvaultError, type CallvaultError } from './errors';
import type { ListingScope, RecordingSource } from './ports';
import type { SourceRecording, TimeWindow } from './recording';

/** One part of a source whose listing failed: what status shows and what the next sweep retries. */
export interface ScopeFailure {
  /** `ListingScope.id`. */
  scope: string;
  /** The user or extension (`ListingScope.subject`). */
  subject: string;
  label: string;
  /** The error's code (`PERMANENT`, `TRANSIENT`, …). */
  code: string;
  /** The error's message: what went wrong and, for a refusal an administrator must lift, the fix. */
  reason: string;
  /**
   * The start of the oldest window this part has failed to list since it last listed cleanly: the next
   * sweep lists it from here, not just over its lookback.
   */
  since: string;
  /** When it last failed. */
  failedAt: string;
  /** Sweeps in a row that failed on it. */
  attempts: number;
}

/** Codes that no other part of the same source would escape: they stop the source's listing. */
const SOURCE_WIDE: ReadonlySet<CallvaultError['code']> = new Set([
  'UNAUTHENTICATED',
  'CREDENTIALS_NOT_SET',
  'RATE_LIMITED',
  'DEADLINE',
]);

/** Transient faults in a row, part after part, that mean the platform is down rather than one part. */
const TRANSIENT_IN_A_ROW = 3;

const REASON_CHARS = 600;

export interface ScopedListingOptions {
  /** Only the parts of these users or extensions (`subject` or `id`, any case); default every part. */
  subjects?: readonly string[];
  /** The window of one part, when it differs from the common one (a part that failed before). */
  windowFor?(scope: ListingScope): TimeWindow;
  /** Told once per part that failed, before the listing goes on with the next. */
  onFailure(failure: { scope: ListingScope; error: CallvaultError; window: TimeWindow }): void;
  /** Told the parts this listing covers, once they are known. */
  onScopes?(scopes: readonly ListingScope[]): void;
}

/**
 * The recordings of a window, part by part where the source lists by part. A failing part is reported
 * through `onFailure` and skipped; a source-wide failure is thrown. Sources without parts are listed whole
 * (their failures are the source's).
 */
export async function* listRecordingsByScope(
  source: RecordingSource,
  window: TimeWindow,
  options: ScopedListingOptions,
  signal?: AbortSignal,
): AsyncIterable<SourceRecording> {
  if (!source.listingScopes) {
    options.onScopes?.([]);
    yield* source.listRecordings(window, signal);
    return;
  }
  const all = await source.listingScopes(signal);
  const wanted = options.subjects?.map((subject) => subject.toLowerCase());
  const chosen = wanted
    ? all.filter(
        (scope) => wanted.includes(scope.subject.toLowerCase()) || wanted.includes(scope.id.toLowerCase()),
      )
    : all;
  // No parts (a source configured as one whole), or none of the subjects asked for: the whole source,
  // never nothing.
  const scopes = chosen.length > 0 ? chosen : all;
  if (scopes.length === 0) {
    options.onScopes?.([]);
    yield* source.listRecordings(window, signal);
    return;
  }
  options.onScopes?.(scopes);
  const concurrency = Math.max(1, Math.floor(source.listingConcurrency ?? 1));
  if (concurrency > 1 && scopes.length > 1) {
    yield* listConcurrently(source, scopes, window, options, concurrency, signal);
    return;
  }
  let transientInARow = 0;
  for (const scope of scopes) {
    const scopeWindow = options.windowFor?.(scope) ?? window;
    try {
      for await (const recording of source.listRecordings(scopeWindow, signal, scope)) yield recording;
      transientInARow = 0;
    } catch (thrown) {
      const error = asCallvaultError(thrown);
      if (signal?.aborted || SOURCE_WIDE.has(error.code)) throw thrown;
      transientInARow = error.code === 'TRANSIENT' ? transientInARow + 1 : 0;
      options.onFailure({ scope, error, window: scopeWindow });
      if (transientInARow >= TRANSIENT_IN_A_ROW) {
        throw new Error(
          `${TRANSIENT_IN_A_ROW} parts in a row failed with transient faults (last: ${error.message}); the source looks down`,
          { cause: thrown },
        );
      }
    }
  }
}

type ScopeOutcome = { scope: ListingScope; window: TimeWindow } & (
  | { recordings: SourceRecording[] }
  | { thrown: unknown }
);

/**
 * Up to `concurrency` parts listed at once, each part's recordings handed on once the part is complete
 * (a part that fails half-way hands on nothing; its `since` brings it back whole). The same failure rules
 * as one after another, counted in the order parts finish; the parts still running are stopped when the
 * listing ends early (a source-wide failure, the caller leaving, the deadline).
 */
async function* listConcurrently(
  source: RecordingSource,
  scopes: readonly ListingScope[],
  window: TimeWindow,
  options: ScopedListingOptions,
  concurrency: number,
  signal?: AbortSignal,
): AsyncIterable<SourceRecording> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const finished: ScopeOutcome[] = [];
  let wake: (() => void) | undefined;
  let next = 0;
  let running = 0;
  const start = () => {
    // Finished parts waiting to be handed on count against the bound too: a slow consumer holds listing.
    while (running + finished.length < concurrency && next < scopes.length) {
      const scope = scopes[next++] as ListingScope;
      const scopeWindow = options.windowFor?.(scope) ?? window;
      running += 1;
      void (async () => {
        const recordings: SourceRecording[] = [];
        try {
          for await (const recording of source.listRecordings(scopeWindow, stop.signal, scope)) {
            recordings.push(recording);
          }
          finished.push({ scope, window: scopeWindow, recordings });
        } catch (thrown) {
          finished.push({ scope, window: scopeWindow, thrown });
        } finally {
          running -= 1;
          wake?.();
        }
      })();
    }
  };
  try {
    let transientInARow = 0;
    start();
    while (running > 0 || finished.length > 0 || next < scopes.length) {
      const outcome = finished.shift();
      if (!outcome) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        start();
        continue;
      }
      start();
      if ('recordings' in outcome) {
        yield* outcome.recordings;
        transientInARow = 0;
        continue;
      }
      const error = asCallvaultError(outcome.thrown);
      if (signal?.aborted || SOURCE_WIDE.has(error.code)) throw outcome.thrown;
      transientInARow = error.code === 'TRANSIENT' ? transientInARow + 1 : 0;
      options.onFailure({ scope: outcome.scope, error, window: outcome.window });
      if (transientInARow >= TRANSIENT_IN_A_ROW) {
        throw new Error(
          `${TRANSIENT_IN_A_ROW} parts in a row failed with transient faults (last: ${error.message}); the source looks down`,
          { cause: outcome.thrown },
        );
      }
    }
  } finally {
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The failure as the run ledger keeps it, carrying `since` and the count over from an earlier failure. */
export function scopeFailure(
  scope: ListingScope,
  error: CallvaultError,
  window: TimeWindow,
  at: Date,
  earlier: ScopeFailure | undefined,
): ScopeFailure {
  const since =
    earlier && Date.parse(earlier.since) < window.from.getTime() ? earlier.since : window.from.toISOString();
  return {
    scope: scope.id,
    subject: scope.subject,
    label: scope.label,
    code: error.code,
    reason: error.message.slice(0, REASON_CHARS),
    since,
    failedAt: at.toISOString(),
    attempts: (earlier?.attempts ?? 0) + 1,
  };
}

/** The failures a ledger summary holds (`notCovered`), ignoring anything malformed. */
export function scopeFailuresOf(summary: Record<string, unknown> | undefined): ScopeFailure[] {
  const list = summary?.notCovered;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (entry): entry is ScopeFailure =>
      !!entry &&
      typeof entry === 'object' &&
      typeof (entry as ScopeFailure).scope === 'string' &&
      typeof (entry as ScopeFailure).since === 'string' &&
      !Number.isNaN(Date.parse((entry as ScopeFailure).since)),
  );
}
