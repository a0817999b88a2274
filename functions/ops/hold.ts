/**
 * `npm run hold`: the find question's archived recordings put on legal hold or released, after the
 * operator saw the counts and which protection applies and confirmed (or passed --yes).
 */
import type { FindFilters, FindRow } from '../core/catalogue-query';
import {
  applyHold,
  type HoldAuditLog,
  type HoldReport,
  type HoldStore,
  holdTargetsFromRows,
  PROTECTION_TEXT,
} from '../core/legal-hold';
import type { Clock } from '../core/ports';
import { UsageError } from './command-line';

export interface HoldCommand {
  rows: readonly FindRow[];
  filters: FindFilters;
  release: boolean;
  dryRun: boolean;
  yes: boolean;
  actor: string;
  reason?: string;
  where: string;
  store: HoldStore;
  audit: HoldAuditLog;
  clock: Clock;
  /** Asks the operator; undefined when stdin is not a terminal (then only --yes goes on). */
  confirm?: (question: string) => Promise<boolean>;
  print: (line: string) => void;
}

/** Runs the command; the exit code: 0 done (or nothing to do), 1 a recording failed or the operator declined. */
export async function runHoldCommand(command: HoldCommand): Promise<{ code: number; report?: HoldReport }> {
  const { targets, withoutCopy } = holdTargetsFromRows(command.rows);
  const verb = command.release ? 'release' : 'hold';
  const protection = await command.store.protection();
  command.print(
    `${command.rows.length} catalogue row${command.rows.length === 1 ? '' : 's'} from the ${command.where}: ${targets.length} archived recording${targets.length === 1 ? '' : 's'} (each with its sidecar) to ${verb}${withoutCopy.length > 0 ? `, ${withoutCopy.length} without a copy (gone or expired at the source; nothing to ${verb})` : ''}`,
  );
  command.print(`protection: ${protection}: ${PROTECTION_TEXT[protection]}`);
  if (targets.length === 0) {
    command.print(`nothing to ${verb}`);
    return { code: 0 };
  }
  if (!command.dryRun && !command.yes) {
    if (!command.confirm)
      throw new UsageError(
        `stdin is not a terminal, so nobody can confirm: pass --yes to ${verb} without asking`,
      );
    const confirmed = await command.confirm(
      `${verb} ${targets.length} recording${targets.length === 1 ? '' : 's'}? Type yes to go on: `,
    );
    if (!confirmed) {
      command.print(`not confirmed; nothing ${command.release ? 'released' : 'held'}`);
      return { code: 1 };
    }
  }
  const report = await applyHold(
    {
      targets,
      release: command.release,
      dryRun: command.dryRun,
      actor: command.actor,
      reason: command.reason,
      query: { ...command.filters },
    },
    { store: command.store, audit: command.audit, clock: command.clock },
  );
  for (const result of report.results)
    if (result.outcome === 'failed' || result.outcome === 'no-copy')
      command.print(
        `  ${result.outcome}  ${result.target.objectKey}${result.detail ? `: ${result.detail}` : ''}`,
      );
  const counts = Object.entries(report.counts)
    .map(([outcome, count]) => `${count} ${outcome}`)
    .join(', ');
  command.print(
    `${command.dryRun ? 'dry run: ' : ''}${counts}${report.auditKey ? `; audit ${report.auditKey} (by ${command.actor})` : ''}`,
  );
  return { code: (report.counts.failed ?? 0) > 0 ? 1 : 0, report };
}
