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
  /** Only this source (a missed-notifications event sweeps one source at once); default every source. */
  only?: { provider: string; sourceId: string };
}

/** Webhook-only sources already explained in this process: the reason is said once, not every hour. */
const explained = new Set<string>();

/**
 * Sweeps every enabled source over the last `lookbackHours`, concurrently (each source has its own
 * quota), recording each run in the ledger. One source failing (its API down, its secret unreadable)
 * does not stop the others; the failed ones are named in the result.
 */
export async function sweepAllSources(
  lookbackHours: number,
  deps: SweepAllDependencies,
  signal?: AbortSignal,
): Promise<{ results: SweepResult[]; failed: string[]; skipped: string[] }> {
  const window = lookbackWindow(deps.clock.now(), lookbackHours);
  const results: SweepResult[] = [];
  const failed: string[] = [];
  const skipped: string[] = [];
  await Promise.all(
    deps.sources
      .list()
      .filter(
        ({ provider, id }) => !deps.only || (deps.only.provider === provider && deps.only.sourceId === id),
      )
      .map(async ({ provider, id }) => {
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
          const source = await deps.sources.get(provider, id);
          if (source.capabilities?.list === false) {
            skipped.push(`${provider}/${id}`);
            explainOnce(provider, id, deps.log);
            return;
          }
          const result = await sweepSource(source, window, deps, signal);
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
  return { results, failed, skipped };
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
