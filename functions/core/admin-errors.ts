/**
 * Errors only an administrator can lift that keep jobs waiting rather than dead-lettered (a metered API
 * refused until billing is linked). A job that keeps retrying leaves no dead letter to look at, so the
 * worker keeps the last such error per source in the run ledger (kind `admin`), and `npm run status`
 * shows it while it is recent.
 */
import type { ArchiveJob } from './jobs';
import { jobTarget } from './jobs';
import type { Clock, Log, RunLedger, RunRecord } from './ports';

/** How long status keeps showing an admin error after it was last seen. */
export const ADMIN_ERROR_SHOWN_MS = 24 * 3_600_000;

/** The admin error's name (`TEAMS_METERED_API_BILLING`) when the error carries one. */
export function adminErrorOf(error: unknown): string | undefined {
  const name = (error as { adminError?: unknown } | null)?.adminError;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** Records the error against the job's source when it names an admin error; never throws. */
export async function noteAdminError(
  job: ArchiveJob,
  error: unknown,
  deps: { ledger: RunLedger; clock: Clock; log: Log },
): Promise<void> {
  const adminError = adminErrorOf(error);
  if (!adminError) return;
  const { provider, sourceId } = jobTarget(job);
  const at = deps.clock.now().toISOString();
  try {
    await deps.ledger.record({
      kind: 'admin',
      sourceId,
      startedAt: at,
      endedAt: at,
      outcome: 'failed',
      summary: {
        adminError,
        provider,
        code: (error as { code?: unknown }).code,
        reason: String((error as Error).message).slice(0, 600),
      },
    });
  } catch (failure) {
    deps.log.warn('could not record an admin error in the run ledger', { sourceId, error: String(failure) });
  }
}

/** The admin error status shows for a source: the last one, if seen within ADMIN_ERROR_SHOWN_MS. */
export function recentAdminError(record: RunRecord | undefined, now: Date): RunRecord | undefined {
  if (!record) return undefined;
  const seen = Date.parse(record.endedAt);
  return Number.isNaN(seen) || now.getTime() - seen > ADMIN_ERROR_SHOWN_MS ? undefined : record;
}
