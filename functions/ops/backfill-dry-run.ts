/**
 * `npm run backfill -- --dry-run`: what the range holds at the source (its stats, month by month) and an
 * estimate of what archiving and keeping it costs. Reads only; writes no cursor.
 */
import type { CallvaultConfig } from '../config';
import { InvalidInputError } from '../core/errors';
import type { RecordingSource, SourceStats } from '../core/ports';
import { formatBytes } from './format-bytes';
import { type RateLimitWaitOptions, withRateLimitWaits } from './rate-limit-wait';
import { estimateStorage, formatUsd, PRICES_AS_OF, type StorageEstimate } from './storage-cost';
import { dayKey, dayWindow, utcMonths } from './utc-days';

export interface DryRunReport {
  sourceId: string;
  from: string;
  to: string;
  months: { month: string; count: number; bytes: number }[];
  total: SourceStats;
  estimate: StorageEstimate;
}

export async function backfillDryRun(options: {
  source: RecordingSource;
  config: CallvaultConfig;
  retentionClass: string;
  from: Date;
  to: Date;
  waits: RateLimitWaitOptions;
}): Promise<DryRunReport> {
  const { source } = options;
  const range = { from: options.from, to: dayWindow(options.to).to };
  const stats = source.stats?.bind(source);
  if (!stats)
    throw new InvalidInputError(
      `source "${source.sourceId}" (${source.provider}) offers no stats; a dry run cannot count its recordings`,
    );
  const months: DryRunReport['months'] = [];
  const total: SourceStats = { count: 0, bytes: 0 };
  for (const { label, window } of utcMonths(range)) {
    const month = await withRateLimitWaits(() => stats(window, options.waits.signal), options.waits);
    months.push({ month: label, count: month.count, bytes: month.bytes });
    total.count += month.count;
    total.bytes += month.bytes;
  }
  return {
    sourceId: source.sourceId,
    from: dayKey(options.from),
    to: dayKey(options.to),
    months,
    total,
    estimate: estimateStorage(total, options.config, options.retentionClass),
  };
}

export function formatDryRun(report: DryRunReport): string {
  const { estimate } = report;
  const lines = [
    `dry run: nothing is downloaded, enqueued or written`,
    `source ${report.sourceId}, ${report.from} .. ${report.to} (UTC, both days included)`,
    ...report.months.map(
      (month) =>
        `  ${month.month}  ${String(month.count).padStart(8)} recordings  ${formatBytes(month.bytes).padStart(10)}`,
    ),
    `  total    ${String(report.total.count).padStart(8)} recordings  ${formatBytes(report.total.bytes).padStart(10)}  (${report.total.count} recordings, ${report.total.bytes} bytes)`,
    '',
    `ESTIMATES from ${PRICES_AS_OF}; not a quote:`,
    `  S3 PUT-class requests to archive: ~${Math.round(estimate.putRequests)} (${formatUsd(estimate.putCostUsd)} once)`,
    `  storage in S3 Standard: ${formatUsd(estimate.standardUsdPerMonth)} per month`,
  ];
  if (estimate.transitions.length === 0) {
    lines.push(
      '  lifecycle: no storage-class transitions configured for this source; recordings stay in Standard',
    );
  }
  for (const transition of estimate.transitions) {
    lines.push(
      `  after ${transition.afterDays} days in ${transition.storageClass}: ${formatUsd(transition.usdPerMonth)} per month (+ ${formatUsd(transition.transitionCostUsd)} once for the transition requests)`,
    );
  }
  if (estimate.expireAfterDays !== undefined)
    lines.push(`  lifecycle expires recordings ${estimate.expireAfterDays} days after archiving`);
  lines.push('  (the archive counts from the day a recording is archived, not from the call)');
  return lines.join('\n');
}
