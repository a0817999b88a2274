import {
  applyRetentionToSource,
  newRunId,
  type RetentionReport,
  type RetentionSettings,
} from './apply-retention-to-source';
import type { CatalogueWriter } from './catalogue';
import type { HoldRegistry } from './legal-hold';
import type { ArchiveStore, AuditLog, Clock, JobQueue, KillSwitch, Log, RunLedger } from './ports';
import type { ProviderName } from './recording';
import type { SourceRegistry } from './source-registry';

/** A source whose recordings retention deletes, with its settings (sources without retention are absent). */
export interface RetentionTarget {
  provider: ProviderName;
  sourceId: string;
  settings: RetentionSettings;
}

export interface RetentionRunDependencies {
  targets: ReadonlyArray<RetentionTarget>;
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  audit: AuditLog;
  killSwitch: KillSwitch;
  ledger: RunLedger;
  clock: Clock;
  log: Log;
  random?: () => number;
  /** The catalogue, for a deleted-at-source record per delete. */
  catalogue?: CatalogueWriter;
  /** callvault's own hold records: a held copy is never deleted at the source. */
  holds?: HoldRegistry;
}

/**
 * Runs retention for every enabled source that has it, one after another (deletes share the
 * provider's quota), recording each run in the ledger. One failing source does not stop the others.
 */
export async function applyRetentionToAllSources(
  deps: RetentionRunDependencies,
  signal?: AbortSignal,
): Promise<{ reports: RetentionReport[]; failed: string[] }> {
  const reports: RetentionReport[] = [];
  const failed: string[] = [];
  for (const { provider, sourceId, settings } of deps.targets) {
    const startedAt = deps.clock.now();
    const runId = newRunId(startedAt, deps.random);
    const record = (outcome: 'ok' | 'failed', summary: Record<string, unknown>) =>
      deps.ledger.record({
        kind: 'retention',
        sourceId,
        runId,
        startedAt: startedAt.toISOString(),
        endedAt: deps.clock.now().toISOString(),
        outcome,
        summary,
      });
    try {
      const adapter = await deps.sources.get(provider, sourceId);
      if (adapter.capabilities?.delete === false) {
        // retentionTargets leaves these out; a target list built otherwise must still delete nothing.
        deps.log.info('retention skips a source that keeps nothing to delete', { provider, sourceId });
        continue;
      }
      const report = await applyRetentionToSource(adapter, settings, deps, { runId, signal });
      reports.push(report);
      await record('ok', { ...report });
    } catch (error) {
      failed.push(sourceId);
      deps.log.error('retention run failed', { sourceId, runId, error: String(error) });
      await record('failed', { error: String(error) }).catch(() => {});
    }
  }
  return { reports, failed };
}
