/**
 * Where one streaming trial spent its time, from the worker's per-request timeline: the phases of a
 * multipart upload (create, parts, the wait for the last part, complete, and whatever follows it) or of a
 * single put, so that archive and lib-storage can be compared phase by phase.
 */
import type { TimelineEntry, WorkerReport } from './stream-child';

export interface TimelinePhases {
  /** The first request sent (ms since the trial started): the download's headers and first part come before. */
  firstRequestMs: number;
  /** CreateMultipartUpload, start to answer. */
  createMs?: number;
  parts: number;
  firstPartStartMs?: number;
  lastPartEndMs?: number;
  /** Median and slowest single UploadPart. */
  partMedianMs?: number;
  partMaxMs?: number;
  /** Most UploadParts open at once. */
  partsInFlightMax: number;
  /** When the source delivered its last byte. */
  downloadEndMs?: number;
  /** From the download's end to the request that finalises (uploading what was left). */
  drainMs?: number;
  /** CompleteMultipartUpload (or the single PutObject), start to answer. */
  completeMs?: number;
  /** Requests after the completion (tagging, HEAD), each start to answer, and their sum. */
  after: { command: string; ms: number }[];
  afterMs: number;
  totalMs: number;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

function medianOf(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Most entries open at one instant (an entry is open from its start to its end). */
function maxOverlap(entries: readonly TimelineEntry[]): number {
  const edges = entries.flatMap((entry) => [
    { at: entry.startMs, step: 1 },
    { at: entry.endMs, step: -1 },
  ]);
  // Ends before starts at the same instant: a slot freed and refilled is not two at once.
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let open = 0;
  let most = 0;
  for (const edge of edges) {
    open += edge.step;
    most = Math.max(most, open);
  }
  return most;
}

export function timelinePhases(
  report: Pick<WorkerReport, 'timeline' | 'downloadEndMs' | 'seconds'>,
): TimelinePhases {
  const timeline = report.timeline ?? [];
  const parts = timeline.filter((entry) => entry.command === 'UploadPart');
  const create = timeline.find((entry) => entry.command === 'CreateMultipartUpload');
  const finaliser =
    timeline.find((entry) => entry.command === 'CompleteMultipartUpload') ??
    timeline.find((entry) => entry.command === 'PutObject');
  const after = finaliser ? timeline.filter((entry) => entry.startMs >= finaliser.endMs) : [];
  const durations = parts.map((entry) => entry.endMs - entry.startMs);
  const lastPartEnd = parts.length ? Math.max(...parts.map((entry) => entry.endMs)) : undefined;
  return {
    firstRequestMs: round1(timeline[0]?.startMs ?? 0),
    ...(create ? { createMs: round1(create.endMs - create.startMs) } : {}),
    parts: parts.length,
    ...(parts.length
      ? {
          firstPartStartMs: round1(Math.min(...parts.map((entry) => entry.startMs))),
          lastPartEndMs: round1(lastPartEnd as number),
          partMedianMs: round1(medianOf(durations) as number),
          partMaxMs: round1(Math.max(...durations)),
        }
      : {}),
    partsInFlightMax: maxOverlap(parts),
    ...(report.downloadEndMs !== undefined ? { downloadEndMs: report.downloadEndMs } : {}),
    ...(report.downloadEndMs !== undefined && finaliser
      ? { drainMs: round1(finaliser.startMs - report.downloadEndMs) }
      : {}),
    ...(finaliser ? { completeMs: round1(finaliser.endMs - finaliser.startMs) } : {}),
    after: after.map((entry) => ({ command: entry.command, ms: round1(entry.endMs - entry.startMs) })),
    afterMs: round1(after.reduce((sum, entry) => sum + (entry.endMs - entry.startMs), 0)),
    totalMs: round1(report.seconds * 1000),
  };
}

/** The timeline as text, one request a line (parts folded into runs when there are many). */
export function formatTimeline(
  report: Pick<WorkerReport, 'timeline' | 'downloadEndMs'>,
  maxLines = 40,
): string {
  const lines: string[] = [];
  const timeline = report.timeline ?? [];
  const fold = timeline.length > maxLines;
  for (const [index, entry] of timeline.entries()) {
    if (fold && entry.command === 'UploadPart' && index > 3 && index < timeline.length - 6) continue;
    const what = entry.part !== undefined ? `${entry.command} #${entry.part}` : entry.command;
    lines.push(
      `${entry.startMs.toFixed(1).padStart(9)} → ${entry.endMs.toFixed(1).padStart(9)} ms  ${(entry.endMs - entry.startMs).toFixed(1).padStart(8)} ms  ${what}${entry.bytes !== undefined ? ` (${entry.bytes} B)` : ''}${entry.failed ? ' FAILED' : ''}`,
    );
    if (fold && entry.command === 'UploadPart' && index === 3) lines.push('      …');
  }
  if (report.downloadEndMs !== undefined)
    lines.push(`download delivered its last byte at ${report.downloadEndMs.toFixed(1)} ms`);
  return lines.join('\n');
}
