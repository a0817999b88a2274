/** The human-readable form of a StatusReport: one table per source, then queues. */
import { describeForecast } from '../core/budget-forecast';
import type { RunRecord } from '../core/ports';
import { formatBytes } from './format-bytes';
import type { StatusReport } from './status-report';

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const render = (row: string[]) =>
    row
      // Labels (first and last column) read left to right; numbers line up on the right.
      .map((cell, column) =>
        column === 0 || column === row.length - 1
          ? cell.padEnd(widths[column] ?? 0)
          : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render)];
}

function describeRun(run: RunRecord | undefined): string {
  if (!run) return 'never';
  const facts = Object.entries(run.summary)
    .filter(([, value]) => typeof value === 'number' || typeof value === 'string')
    .slice(0, 5)
    .map(([key, value]) => `${key} ${String(value)}`)
    .join(', ');
  return `${run.endedAt} ${run.outcome}${facts ? ` (${facts})` : ''}`;
}

/** A source with no listing: what was received, archived and lost to an expired token, per day. */
function webhookOnlySource(source: StatusReport['sources'][number]): string[] {
  const lines = [
    `${source.provider}/${source.sourceId} (webhook-only source: no listing at the platform; UTC days)`,
  ];
  if (source.error) lines.push(`  ! ${source.error}`);
  const rows = source.days.map((day) => [
    day.day,
    String(day.received ?? 0),
    String(day.archived.count),
    formatBytes(day.archived.bytes),
    (day.expiredBeforeFetch ?? 0) > 0 ? `${day.expiredBeforeFetch} !` : '0',
    day.withoutSidecar > 0 ? `${day.withoutSidecar} without sidecar` : '',
  ]);
  lines.push(
    ...table(['day', 'received', 'archived', 'bytes', 'expired-before-fetch', 'note'], rows).map(
      (line) => `  ${line}`,
    ),
  );
  const lost = source.days.filter((day) => (day.expiredBeforeFetch ?? 0) > 0);
  if (lost.length > 0) {
    lines.push(
      `  ! ${lost.reduce((sum, day) => sum + (day.expiredBeforeFetch ?? 0), 0)} recordings on ${lost.map((day) => day.day).join(', ')} expired before they could be fetched and are lost (records under audit/expired-before-fetch/, dead letters with failure-code EXPIRED_BEFORE_FETCH)`,
    );
  }
  lines.push(
    ...misnamedLine(source),
    '  received counts archived, expired and in-progress copies; notifications still queued or dead-lettered for another reason show under queues',
    '  sweep, backfill and retention skip this source: the platform lists nothing and keeps nothing to delete',
    '',
  );
  return lines;
}

/** Copies named from a configured format that their content contradicts (README, "Storage layout"). */
function misnamedLine(source: StatusReport['sources'][number]): string[] {
  const days = source.days.filter((day) => (day.misnamed ?? 0) > 0);
  if (days.length === 0) return [];
  const count = days.reduce((sum, day) => sum + (day.misnamed ?? 0), 0);
  return [
    `  ${count} copies on ${days.map((day) => day.day).join(', ')} have an extension that disagrees with their content (named by an older version; they verify and retention uses them as they are)`,
  ];
}

export function formatStatus(report: StatusReport): string {
  const lines: string[] = [
    `callvault status, ${report.mode} mode, archive ${report.archive}, generated ${report.generatedAt}`,
    '',
  ];
  for (const source of report.sources) {
    if (source.webhookOnly) {
      lines.push(...webhookOnlySource(source));
      continue;
    }
    lines.push(`${source.provider}/${source.sourceId} (UTC days)`);
    if (source.error) lines.push(`  ! ${source.error}`);
    for (const problem of source.setupProblems ?? []) lines.push(`  ! ${problem.message}`);
    if (source.budget) {
      const line = `${describeForecast(source.budget)} (missing over the ${source.days.length} days shown)`;
      lines.push(`  ${source.budget.verdict === 'grows' ? '! ' : ''}${line}`);
    }
    if (source.budgetError) lines.push(`  ! budget forecast: ${source.budgetError}`);
    const rows = source.days.map((day) => [
      day.day,
      day.atSource ? String(day.atSource.count) : '?',
      day.atSource ? formatBytes(day.atSource.bytes) : '?',
      String(day.archived.count),
      formatBytes(day.archived.bytes),
      day.missing === undefined ? '?' : day.missing > 0 ? `${day.missing} !` : '0',
      String(day.deletedAtSource),
      String(day.goneAtSource),
      day.withoutSidecar > 0
        ? `${day.withoutSidecar} without sidecar`
        : day.sourceError
          ? `source: ${day.sourceError.slice(0, 60)}`
          : '',
    ]);
    lines.push(
      ...table(
        [
          'day',
          'at source',
          'bytes',
          'archived',
          'bytes',
          'missing',
          'deleted at source',
          'gone at source',
          'note',
        ],
        rows,
      ).map((line) => `  ${line}`),
    );
    const perUser = source.days.filter((day) => day.byUser && day.byUser.length > 0);
    if (perUser.length > 0) {
      lines.push('  per user (listed / archived):');
      for (const day of perUser) {
        const users = (day.byUser ?? []).map(
          (row) => `${row.user} ${row.listed}/${row.archived}${row.archived < row.listed ? ' !' : ''}`,
        );
        lines.push(`    ${day.day}  ${users.join(', ')}`);
      }
    }
    lines.push(
      source.daysWithMissing.length > 0
        ? `  ! missing recordings on ${source.daysWithMissing.join(', ')} (the sweep or a backfill fetches them; the current day may still be in progress)`
        : '  nothing missing',
    );
    const gone = source.days.filter((day) => day.goneAtSource > 0);
    if (gone.length > 0) {
      lines.push(
        `  ${gone.reduce((sum, day) => sum + day.goneAtSource, 0)} recordings on ${gone.map((day) => day.day).join(', ')} were deleted at the source before they could be archived (records under audit/gone-at-source/)`,
      );
    }
    lines.push(...misnamedLine(source));
    lines.push(...describeNotCovered(source));
    lines.push(`  last sweep:     ${describeRun(source.lastRuns.sweep)}`);
    lines.push(`  last retention: ${describeRun(source.lastRuns.retention)}`);
    lines.push(`  last backfill:  ${describeRun(source.lastRuns.backfill)}`);
    if (source.lastRuns.subscriptions)
      lines.push(`  subscriptions:  ${describeSubscriptions(source.lastRuns.subscriptions)}`);
    lines.push('');
  }
  lines.push('queues');
  if (report.queueError) lines.push(`  ! could not read the queues: ${report.queueError}`);
  const rows = report.queues.map((queue) => [
    queue.provider,
    String(queue.pending),
    String(queue.inFlight),
    String(queue.delayed),
    queue.deadLetters > 0 ? `${queue.deadLetters} !` : '0',
    queue.origin,
  ]);
  lines.push(
    ...table(['provider', 'pending', 'in flight', 'delayed', 'dead letters', 'from'], rows).map(
      (line) => `  ${line}`,
    ),
  );
  return lines.join('\n');
}

/** The subscriptions a source's last check left active, with the soonest expiry (platforms renew before it). */
export function describeSubscriptions(run: RunRecord): string {
  const checked = `checked ${run.endedAt}`;
  if (run.outcome === 'failed')
    return `! last check failed (${String(run.summary.error ?? 'no reason')}), ${checked}`;
  const active = Array.isArray(run.summary.active) ? (run.summary.active as { expiresAt?: string }[]) : [];
  if (active.length === 0) return `! none active, ${checked}`;
  const expiries = active
    .map((subscription) => subscription.expiresAt)
    .filter((at): at is string => !!at)
    .sort();
  const expiry = expiries[0] ? `, next expiry ${expiries[0]}` : ', no expiry';
  const failed = Array.isArray(run.summary.failed)
    ? (run.summary.failed as { filter?: string; reason?: string }[])
    : [];
  const parts =
    failed.length > 0
      ? `; ! not put right: ${failed.map((part) => `${String(part.filter)} (${String(part.reason)})`).join('; ')}`
      : '';
  return `${active.length} active${expiry}, ${checked}${parts}`;
}

/**
 * Users or extensions the last sweep could not list: who, since when, and why. The reason is the error's
 * own message, which for a refusal an administrator must lift names the fix and the README section.
 */
function describeNotCovered(source: StatusReport['sources'][number]): string[] {
  const lines: string[] = [];
  const admin = source.adminError;
  if (admin) {
    lines.push(
      `  ! ${String(admin.summary.adminError)} (last seen ${admin.endedAt}; jobs wait and retry until it is fixed): ${String(admin.summary.reason ?? '')}`,
    );
  }
  const notCovered = source.notCovered ?? [];
  if (notCovered.length > 0) {
    lines.push(
      `  ! not covered by the last sweep (${notCovered.length}; each sweep retries them from the time shown; README "Backfill and status"):`,
    );
    for (const failure of notCovered) {
      lines.push(
        `    ${failure.label}: since ${failure.since}, ${failure.attempts} sweep${failure.attempts === 1 ? '' : 's'}: ${failure.reason}`,
      );
    }
  }
  const days = source.days.filter((day) => (day.notListed?.length ?? 0) > 0);
  if (days.length > 0) {
    const labels = [...new Set(days.flatMap((day) => (day.notListed ?? []).map((part) => part.label)))];
    lines.push(`  ! at source leaves out what could not be listed now: ${labels.join(', ')}`);
  }
  return lines;
}
