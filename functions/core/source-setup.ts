/**
 * Start-up check of every source's set-up (`RecordingSource.setupProblems`): each problem is logged at
 * error level with its `errorCode`, what a metric filter and its alarm match. One source's failure to
 * answer is a warning and does not stop the others; the work itself reports the same faults later.
 */
import type { Log, SourceProblem } from './ports';
import type { SourceRegistry } from './source-registry';

export interface SourceSetupReport {
  provider: string;
  sourceId: string;
  problems: SourceProblem[];
}

export async function reportSetupProblems(
  sources: SourceRegistry,
  log: Log,
  signal?: AbortSignal,
): Promise<SourceSetupReport[]> {
  const reports: SourceSetupReport[] = [];
  for (const { provider, id: sourceId } of sources.list()) {
    if (signal?.aborted) break;
    try {
      const source = await sources.get(provider, sourceId);
      if (!source.setupProblems) continue;
      const problems = await source.setupProblems(signal);
      for (const problem of problems) {
        log.error(problem.message, { provider, sourceId, errorCode: problem.code });
      }
      reports.push({ provider, sourceId, problems });
    } catch (error) {
      log.warn('could not check the set-up of a source; its work reports the same faults', {
        provider,
        sourceId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return reports;
}
