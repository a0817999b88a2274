/**
 * Compaction of closed days. A query engine pays per object (Athena a GET, DuckDB a file open), so a day
 * of a source whose records have stopped arriving is merged into one gzip'd newline-delimited JSON file,
 * `compacted.json.gz`, in the same partition folder and with the same columns. The per-recording records
 * are deleted only after the compacted file was read back and holds every one of them. Records that
 * arrive later (a backfill, a rebuild) are merged in by the next run; queries read both kinds and return
 * distinct rows, so a record in both places is never counted twice.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { CATALOGUE_PREFIX, type CatalogueWriter, parseCatalogueLine, partitionOfKey } from './catalogue';
import type { Log } from './ports';

export const COMPACTED_NAME = 'compacted.json.gz';

/** Days this recent may still gain records from the sweep (it looks 48 h back): never compacted. */
export const OPEN_DAYS = 2;

/** The first day still open at `now` (`yyyy-mm-dd`, UTC): every day before it is closed. */
export function firstOpenDay(now: Date): string {
  return new Date(now.getTime() - OPEN_DAYS * 86_400_000).toISOString().slice(0, 10);
}

/** The catalogue's objects, beside the archive: the bucket on AWS, the archive folder locally. */
export interface CatalogueStorage extends CatalogueWriter {
  /** Every key under a prefix, in key order. */
  listKeys(prefix: string): AsyncIterable<string>;
  /** An object's bytes, or undefined when there is none. */
  read(key: string): Promise<Buffer | undefined>;
  /** Writes or replaces a whole object at once (the compacted file of a day). */
  replace(key: string, body: Buffer, contentType: string): Promise<void>;
  remove(keys: readonly string[]): Promise<void>;
}

export interface CompactionReport {
  partitions: number;
  compacted: number;
  /** Closed days left for the next run because `signal` was aborted (a deadline). */
  left: number;
  recordsMerged: number;
  recordsRemoved: number;
}

export function isCompactedKey(key: string): boolean {
  return key.endsWith(`/${COMPACTED_NAME}`);
}

/** Lines of one catalogue object (gzip'd or not), each a record. */
export function catalogueLines(key: string, body: Buffer): string[] {
  const text = (key.endsWith('.gz') ? gunzipSync(body) : body).toString('utf8');
  return text.split('\n').filter((line) => line.trim() !== '');
}

/**
 * Compacts one partition (`…/provider=…/source=…/date=…/`). Idempotent: a partition without
 * per-recording records is left as it is; run again after a failure, it merges the same records again.
 */
export async function compactPartition(
  storage: CatalogueStorage,
  partitionPrefix: string,
  log: Log,
): Promise<{ merged: number; removed: number }> {
  const recordKeys: string[] = [];
  let compactedKey: string | undefined;
  for await (const key of storage.listKeys(partitionPrefix)) {
    if (key.slice(partitionPrefix.length).includes('/')) continue;
    if (isCompactedKey(key)) compactedKey = key;
    else if (key.endsWith('.json')) recordKeys.push(key);
  }
  if (recordKeys.length === 0) return { merged: 0, removed: 0 };
  const target = `${partitionPrefix}${COMPACTED_NAME}`;
  const lines = new Map<string, string>();
  if (compactedKey) {
    const body = await storage.read(compactedKey);
    for (const line of body ? catalogueLines(compactedKey, body) : [])
      lines.set(parseCatalogueLine(line).record_id, line);
  }
  const expected = new Set<string>();
  for (const key of recordKeys) {
    const body = await storage.read(key);
    if (!body) continue;
    for (const line of catalogueLines(key, body)) {
      const id = parseCatalogueLine(line).record_id;
      expected.add(id);
      // Records are written once and never change: the first copy stands.
      if (!lines.has(id)) lines.set(id, line);
    }
  }
  const sorted = [...lines.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const body = gzipSync(`${sorted.map(([, line]) => line).join('\n')}\n`);
  await storage.replace(target, body, 'application/json');

  // Verify what the store now holds before anything is removed.
  const stored = await storage.read(target);
  const held = new Set(
    stored ? catalogueLines(target, stored).map((line) => parseCatalogueLine(line).record_id) : [],
  );
  const missing = [...expected].filter((id) => !held.has(id));
  if (held.size !== lines.size || missing.length > 0) {
    throw new Error(
      `compacted ${target} holds ${held.size} records, expected ${lines.size}${missing.length > 0 ? ` (missing ${missing[0]})` : ''}; per-recording records kept`,
    );
  }
  await storage.remove(recordKeys);
  log.info('catalogue day compacted', {
    partition: partitionPrefix,
    records: lines.size,
    removed: recordKeys.length,
  });
  return { merged: lines.size, removed: recordKeys.length };
}

/**
 * Compacts every partition whose day is before `beforeDay` (`yyyy-mm-dd`, exclusive) and that still has
 * per-recording records. The caller picks the day: the sweep looks 48 h back, so days older than that
 * are closed.
 */
export async function compactClosedDays(
  storage: CatalogueStorage,
  options: {
    beforeDay: string;
    prefix?: string;
    log: Log;
    onPartition?: (prefix: string) => void;
    /** Checked between days: a day is compacted whole or not started. */
    signal?: AbortSignal;
  },
): Promise<CompactionReport> {
  const report: CompactionReport = {
    partitions: 0,
    compacted: 0,
    left: 0,
    recordsMerged: 0,
    recordsRemoved: 0,
  };
  const pending = new Set<string>();
  const seen = new Set<string>();
  for await (const key of storage.listKeys(options.prefix ?? CATALOGUE_PREFIX)) {
    const partition = partitionOfKey(key);
    if (!partition) continue;
    const prefix = `${CATALOGUE_PREFIX}provider=${partition.provider}/source=${partition.source}/date=${partition.date}/`;
    seen.add(prefix);
    if (partition.date < options.beforeDay && !isCompactedKey(key)) pending.add(prefix);
  }
  report.partitions = seen.size;
  const days = [...pending].sort();
  for (const [index, prefix] of days.entries()) {
    if (options.signal?.aborted) {
      report.left = days.length - index;
      break;
    }
    options.onPartition?.(prefix);
    const { merged, removed } = await compactPartition(storage, prefix, options.log);
    if (removed > 0) report.compacted += 1;
    report.recordsMerged += merged;
    report.recordsRemoved += removed;
  }
  return report;
}
