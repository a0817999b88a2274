/**
 * Telphin's time windows: lists and stats take `start_datetime`/`end_datetime` as `YYYY-MM-DD HH:MM:SS`
 * (UTC) and refuse an end past the month after the start's month, so windows are split at UTC months.
 */
import type { TimeWindow } from '../../core/recording';

/** Formats an instant the way Telphin's query parameters want it (UTC, whole seconds). */
export function formatTelphinDateTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Splits `[from, to)` at UTC month boundaries, widened to whole seconds (the API's resolution): callers
 * filter by exact time and dedupe by id, since chunks may share their boundary second.
 */
export function splitTelphinWindow(window: TimeWindow): TimeWindow[] {
  const from = new Date(Math.floor(window.from.getTime() / 1000) * 1000);
  const to = new Date(Math.ceil(window.to.getTime() / 1000) * 1000);
  if (!(to.getTime() > from.getTime())) return [];
  const chunks: TimeWindow[] = [];
  let cursor = from;
  while (cursor < to) {
    const boundary = new Date(Date.UTC(cursor.getUTCFullYear(), cursor.getUTCMonth() + 1, 1));
    const end = boundary < to ? boundary : to;
    chunks.push({ from: cursor, to: end });
    cursor = end;
  }
  return chunks;
}

/** The query parameters for one chunk. */
export function windowQuery(chunk: TimeWindow): Record<string, string> {
  return {
    start_datetime: formatTelphinDateTime(chunk.from),
    end_datetime: formatTelphinDateTime(chunk.to),
  };
}

/** True when `end` is past the month after `start`'s month: the API's rule, for the sandbox and tests. */
export function violatesTelphinMonthRule(start: Date, end: Date): boolean {
  return end.getTime() > Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 2, 1) - 1000;
}

/** Parses `YYYY-MM-DD HH:MM:SS` (Telphin's query format) as UTC; undefined when malformed. */
export function parseTelphinQueryDateTime(text: string | null | undefined): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text ?? '');
  if (!match) return undefined;
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Reject roll-overs such as 2024-02-31.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59)
    return undefined;
  return date;
}
