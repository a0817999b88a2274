import { type ScopeFailure, scopeFailuresOf } from './listing-scopes';
import type { PendingJobsSettings } from './pending-jobs';
import type { ArchiveStore, Clock, JobQueue, Log, RunLedger } from './ports';
import type { SourceRegistry } from './source-registry';
import { lookbackWindow, type SweepResult, sweepSource } from './sweep-source';

export interface SweepAllDependencies {
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  ledger: RunLedger;
  clock: Clock;
  log: Log;
  /** Markers for recordings already queued (see PendingJobMarkers); absent: every sweep queues them. */
  pending?: PendingJobsSettings;
  /**
   * Only this source (a missed-notifications event sweeps one source at once); default every source.
   * With `subjects`, only the parts of these users or extensions (a notification naming a user that
   * could not be placed otherwise); the other parts' earlier failures stay in the ledger as they were.
   */
  only?: { provider: string; sourceId: string; subjects?: readonly string[] };
}

export interface SweepAllResult {
  results: SweepResult[];
  /** Sources whose sweep failed as a whole (`provider/sourceId`). */
  failed: string[];
  skipped: string[];
  /** Sources swept except for some parts (`provider/sourceId`): see each result's `notCovered`. */
  partial: string[];
  /** Parts not covered, over every source swept. */
  scopesNotCovered: number;
}

/** Webhook-only sources already explained in this process: the reason is said once, not every hour. */
const explained = new Set<string>();

/**
 * Sweeps every enabled source over the last `lookbackHours`, concurrently (each source has its own
 * quota), recording each run in the ledger. One source failing (its API down, its secret unreadable)
 * does not stop the others; the failed ones are named in the result. Within a source, a part (user,
 * extension) that cannot be listed does not stop the other parts: the run is `partial`, the ledger keeps
 * the part with the instant it was last covered up to, and the next sweep lists that part from there.
 */
export async function sweepAllSources(
  lookbackHours: number,
  deps: SweepAllDependencies,
  signal?: AbortSignal,
): Promise<SweepAllResult> {
  const now = deps.clock.now();
  const window = lookbackWindow(now, lookbackHours);
  const results: SweepResult[] = [];
  const failed: string[] = [];
  const skipped: string[] = [];
  const partial: string[] = [];
  let scopesNotCovered = 0;
  await Promise.all(
    deps.sources
      .list()
      .filter(
        ({ provider, id }) => !deps.only || (deps.only.provider === provider && deps.only.sourceId === id),
      )
      .map(async ({ provider, id }) => {
        const startedAt = deps.clock.now().toISOString();
        const subjects = deps.only?.sourceId === id ? deps.only.subjects : undefined;
        // Parts that failed before: retried from where they were last covered, and kept if not retried now.
        let earlier: ScopeFailure[] = [];
        try {
          earlier = scopeFailuresOf((await deps.ledger.last('sweep', id))?.summary);
        } catch (error) {
          deps.log.warn('could not read the last sweep of a source; parts that failed then are not widened', {
            source: id,
            error: String(error),
          });
        }
        const record = (outcome: 'ok' | 'partial' | 'failed', summary: Record<string, unknown>) =>
          deps.ledger.record({
            kind: 'sweep',
            sourceId: id,
            startedAt,
            endedAt: deps.clock.now().toISOString(),
            outcome,
            summary,
          });
        try {
          const source = await deps.sources.get(provider, id);
          if (source.capabilities?.list === false) {
            skipped.push(`${provider}/${id}`);
            explainOnce(provider, id, deps.log);
            return;
          }
          const result = await sweepSource(source, window, deps, signal, { subjects, earlier, now });
          results.push(result);
          const notCovered = stillNotCovered(earlier, result, subjects);
          scopesNotCovered += notCovered.length;
          if (notCovered.length > 0) partial.push(`${provider}/${id}`);
          await record(notCovered.length > 0 ? 'partial' : 'ok', { ...result, notCovered });
        } catch (error) {
          failed.push(`${provider}/${id}`);
          deps.log.error('sweep of a source failed; the next run retries', {
            source: id,
            error: String(error),
          });
          // The parts that failed before are still owed their wider window.
          await record('failed', { error: String(error), notCovered: earlier }).catch(() => {});
        }
      }),
  );
  return { results, failed, skipped, partial, scopesNotCovered };
}

/**
 * The failures the ledger keeps after a run: this run's, plus earlier ones of parts this run did not try
 * (a sweep of some users only). A part that listed cleanly is dropped; a part no longer in the source's
 * scope (a user removed from the configuration) is dropped with a full sweep.
 */
function stillNotCovered(
  earlier: readonly ScopeFailure[],
  result: SweepResult,
  subjects: readonly string[] | undefined,
): ScopeFailure[] {
  if (!subjects) return result.notCovered;
  const wanted = subjects.map((subject) => subject.toLowerCase());
  const untried = earlier.filter(
    (failure) =>
      !wanted.includes(failure.subject.toLowerCase()) && !wanted.includes(failure.scope.toLowerCase()),
  );
  const merged = new Map(untried.map((failure) => [failure.scope, failure]));
  for (const failure of result.notCovered) merged.set(failure.scope, failure);
  return [...merged.values()];
}

function explainOnce(provider: string, sourceId: string, log: Log): void {
  if (explained.has(`${provider}/${sourceId}`)) return;
  explained.add(`${provider}/${sourceId}`);
  log.info('sweep skips a webhook-only source: the platform offers no listing of its recordings', {
    provider,
    source: sourceId,
    consequence: 'a notification that never reached callvault is a lost recording',
  });
}
