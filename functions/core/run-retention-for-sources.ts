import type { CallvaultConfig } from '../config';
import { retentionFor } from '../config';
import { enabledSources } from '../providers';
import type { ArchiveStore, AuditLog, Clock, JobQueue, KillSwitch, Log, RunLedger } from './ports';
import { newRunId, type RetentionReport, runRetention } from './retention';
import type { SourceRegistry } from './source-registry';

export interface RetentionRunDependencies {
  config: CallvaultConfig;
  sources: SourceRegistry;
  store: ArchiveStore;
  queue: JobQueue;
  audit: AuditLog;
  killSwitch: KillSwitch;
  ledger: RunLedger;
  clock: Clock;
  log: Log;
  random?: () => number;
}

/**
 * Runs retention for every enabled source that has it, one after another (deletes share the
 * provider's quota), recording each run in the ledger. One failing source does not stop the others.
 */
export async function runRetentionForSources(
  deps: RetentionRunDependencies,
  signal?: AbortSignal,
): Promise<{ reports: RetentionReport[]; failed: string[] }> {
  const reports: RetentionReport[] = [];
  const failed: string[] = [];
  for (const source of enabledSources(deps.config)) {
    const settings = retentionFor(deps.config, source);
    if (!settings) continue;
    const startedAt = deps.clock.now();
    const runId = newRunId(startedAt, deps.random);
    const record = (outcome: 'ok' | 'failed', summary: Record<string, unknown>) =>
      deps.ledger.record({
        kind: 'retention',
        sourceId: source.id,
        runId,
        startedAt: startedAt.toISOString(),
        endedAt: deps.clock.now().toISOString(),
        outcome,
        summary,
      });
    try {
      const adapter = await deps.sources.get(source.provider, source.id);
      const report = await runRetention(adapter, settings, deps, { runId, signal });
      reports.push(report);
      await record('ok', { ...report });
    } catch (error) {
      failed.push(source.id);
      deps.log.error('retention run failed', { sourceId: source.id, runId, error: String(error) });
      await record('failed', { error: String(error) }).catch(() => {});
    }
  }
  return { reports, failed };
}
