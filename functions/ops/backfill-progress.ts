/**
 * Backfill progress for people and for CI logs: on a TTY one bar redrawn in place (done/total
 * recordings, bytes, rate, ETA); elsewhere a plain line per day and at most one line every few seconds.
 */
import type { SourceStats } from '../core/ports';
import { formatBytes } from './format-bytes';
import { formatDuration } from './rate-limit-wait';

export interface BackfillProgress {
  /** `total` from the source's stats for the range when it offers them; `done` carried over from the cursor. */
  start(info: { total?: SourceStats; done: SourceStats }): void;
  /** Recordings found already archived (nothing downloaded). */
  skipped(count: number, bytes: number): void;
  /** One recording archived (local) or enqueued (AWS). */
  handled(bytes: number): void;
  waiting(seconds: number, reason: string): void;
  dayDone(day: string, summary: { listed: number; alreadyArchived: number; handled: number }): void;
  /** A line that must not be lost under the bar (log lines, warnings). */
  note(text: string): void;
  finish(): void;
  /** Recordings handled by this run so far (archived or enqueued), partial days included. */
  handledSoFar(): { count: number; bytes: number };
}

export interface ProgressOptions {
  /** Redraw a bar in place (a TTY) or print plain lines. */
  tty: boolean;
  write: (text: string) => void;
  /** Verb for handled recordings: `archived` or `enqueued`. */
  verb: string;
  now?: () => number;
  /** Plain mode: at most one progress line per this many ms (day lines are always printed). */
  plainIntervalMs?: number;
}

const BAR_WIDTH = 24;

export function createBackfillProgress(options: ProgressOptions): BackfillProgress {
  const now = options.now ?? Date.now;
  const plainIntervalMs = options.plainIntervalMs ?? 5_000;
  let total: SourceStats | undefined;
  const done = { count: 0, bytes: 0 };
  /** Handled by this run: what rate and ETA are measured on (skips are nearly free). */
  const handled = { count: 0, bytes: 0 };
  let startedAt = now();
  let barShown = false;
  let lastPlain = 0;
  let waitingUntil: number | undefined;
  let started = false;

  const line = (): string => {
    const elapsed = Math.max(0.001, (now() - startedAt) / 1000);
    const rate = handled.bytes / elapsed;
    const countRate = handled.count / elapsed;
    const parts: string[] = [];
    if (total && total.count > 0) {
      const share = Math.min(1, done.count / total.count);
      const filled = Math.round(share * BAR_WIDTH);
      if (options.tty) parts.push(`[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`);
      parts.push(`${done.count}/${total.count} recordings (${Math.floor(share * 100)}%)`);
      parts.push(`${formatBytes(done.bytes)}/${formatBytes(total.bytes)}`);
    } else {
      parts.push(`${done.count} recordings`, formatBytes(done.bytes));
    }
    parts.push(`${handled.count} ${options.verb}`, `${formatBytes(rate)}/s`);
    const eta = estimateSeconds();
    if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
    if (waitingUntil !== undefined && waitingUntil > now())
      parts.push(`waiting ${formatDuration((waitingUntil - now()) / 1000)} (rate limit)`);
    return parts.join('  ');

    function estimateSeconds(): number | undefined {
      if (!total) return undefined;
      // Bytes drive download time; with nothing downloaded yet, fall back to recordings per second.
      if (handled.bytes > 0 && total.bytes > 0) return Math.max(0, total.bytes - done.bytes) / rate;
      if (countRate > 0) return Math.max(0, total.count - done.count) / countRate;
      return undefined;
    }
  };

  const clearBar = () => {
    if (options.tty && barShown) options.write('\r\x1b[2K');
    barShown = false;
  };
  const draw = (force = false) => {
    if (options.tty) {
      options.write(`\r\x1b[2K${line()}`);
      barShown = true;
      return;
    }
    if (force || now() - lastPlain >= plainIntervalMs) {
      lastPlain = now();
      options.write(`progress: ${line()}\n`);
    }
  };
  const print = (text: string) => {
    clearBar();
    options.write(`${text}\n`);
  };

  return {
    start(info) {
      total = info.total;
      done.count = info.done.count;
      done.bytes = info.done.bytes;
      startedAt = now();
      started = true;
      if (total)
        print(`the source reports ${total.count} recordings, ${formatBytes(total.bytes)} in the range`);
      draw(true);
    },
    skipped(count, bytes) {
      done.count += count;
      done.bytes += bytes;
      if (count > 0) draw();
    },
    handled(bytes) {
      done.count += 1;
      done.bytes += bytes;
      handled.count += 1;
      handled.bytes += bytes;
      draw();
    },
    waiting(seconds, reason) {
      waitingUntil = now() + seconds * 1000;
      print(`${reason}: waiting ${formatDuration(seconds)} before continuing`);
      draw(true);
    },
    dayDone(day, summary) {
      print(
        `${day}: ${summary.listed} listed, ${summary.alreadyArchived} already archived, ${summary.handled} ${options.verb}`,
      );
      draw(true);
    },
    note(text) {
      print(text);
      if (started) draw(true);
    },
    handledSoFar: () => ({ ...handled }),
    finish() {
      if (options.tty && barShown) {
        options.write('\n');
        barShown = false;
      }
    },
  };
}
