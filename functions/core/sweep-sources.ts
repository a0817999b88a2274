import type { ArchiveStore, Clock, JobQueue, Log, RunLedger } from './ports';
import type { SourceRegistry } from './source-registry';
import { lookbackWindow, type SweepResult, sweepSource } from './sweep';

export interface SweepAllDependencies {
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  ledger: RunLedger;
  clock: Clock;
  log: Log;
}

/**
 * Sweeps every enabled source over the last `lookbackHours`, concurrently (each source has its own
 * quota), recording each run in the ledger. One source failing (its API down, its secret unreadable)
 * does not stop the others; the failed ones are named in the result.
 */
export async function sweepAllSources(
  lookbackHours: number,
  deps: SweepAllDependencies,
  signal?: AbortSignal,
): Promise<{ results: SweepResult[]; failed: string[] }> {
  const window = lookbackWindow(deps.clock.now(), lookbackHours);
  const results: SweepResult[] = [];
  const failed: string[] = [];
  await Promise.all(
    deps.sources.list().map(async ({ provider, id }) => {
      const startedAt = deps.clock.now().toISOString();
      const record = (outcome: 'ok' | 'failed', summary: Record<string, unknown>) =>
        deps.ledger.record({
          kind: 'sweep',
          sourceId: id,
          startedAt,
          endedAt: deps.clock.now().toISOString(),
          outcome,
          summary,
        });
      try {
        const result = await sweepSource(await deps.sources.get(provider, id), window, deps, signal);
        results.push(result);
        await record('ok', { ...result });
      } catch (error) {
        failed.push(`${provider}/${id}`);
        deps.log.error('sweep of a source failed; the next run retries', {
          source: id,
          error: String(error),
        });
        await record('failed', { error: String(error) }).catch(() => {});
      }
    }),
  );
  return { results, failed };
}
