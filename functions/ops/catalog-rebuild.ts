/**
 * `npm run catalog -- --rebuild`: the catalogue of an archive that predates it, built from what the
 * archive already holds: every sidecar (archived), the gone-at-source and expired-before-fetch records,
 * and the retention audit trail (deleted at the source, with the run that vouched). Idempotent (every
 * record is written conditionally, so a rerun writes nothing twice), resumable (a cursor under the state
 * folder names the days done), rate-limited (records per second), with progress per day.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import {
  type CatalogueRecord,
  catalogueRecordFromDeletion,
  catalogueRecordFromExpired,
  catalogueRecordFromGone,
  catalogueRecordFromSidecar,
  utcDay,
} from '../core/catalogue';
import { type CatalogueStorage, catalogueLines } from '../core/catalogue-compaction';
import {
  EXPIRED_BEFORE_FETCH_PREFIX,
  expiredBeforeFetchPrefix,
  GONE_AT_SOURCE_PREFIX,
  goneAtSourcePrefix,
  isSidecarKey,
  sourcePrefix,
} from '../core/keys';
import type { AuditEntry, ExpiredBeforeFetchRecord, GoneAtSourceRecord } from '../core/ports';
import type { ProviderName } from '../core/recording';
import { parseSidecar } from '../core/sidecar';

export const RETENTION_AUDIT_PREFIX = 'audit/retention/';

export interface RebuildSource {
  provider: ProviderName;
  id: string;
}

export interface RebuildOptions {
  storage: CatalogueStorage;
  sources: readonly RebuildSource[];
  /** Inclusive UTC days of the call start; absent: every day the archive holds. */
  from?: string;
  to?: string;
  /** Where the cursor is kept; a rerun with the same sources and range resumes after the days done. */
  cursorPath: string;
  /** Records written (or found written) per second, at most. */
  ratePerSecond: number;
  onProgress?: (progress: RebuildProgress) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface RebuildProgress {
  sourceId: string;
  day: string;
  records: number;
  written: number;
  daysDone: number;
  daysTotal: number;
}

export interface RebuildReport {
  days: number;
  daysSkipped: number;
  records: number;
  written: number;
  existing: number;
  /** Objects that could not be read as what their key says (each named in `problems`). */
  unreadable: number;
  problems: string[];
}

const cursorSchema = z.object({
  v: z.literal(1),
  doneDays: z.record(z.string(), z.array(z.string())),
});

type Item = { day: string; load: () => Promise<CatalogueRecord[]>; key: string };

/** `recordings/{p}/{s}/yyyy/mm/dd/…` or `audit/…/{p}/{s}/yyyy/mm/dd/…` → `yyyy-mm-dd`. */
function dayOfKey(key: string, prefix: string): string | undefined {
  const match = /^(\d{4})\/(\d{2})\/(\d{2})\//.exec(key.slice(prefix.length));
  return match ? `${match[1]}-${match[2]}-${match[3]}` : undefined;
}

export async function rebuildCatalogue(options: RebuildOptions): Promise<RebuildReport> {
  const { storage } = options;
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const inRange = (day: string) =>
    (options.from === undefined || day >= options.from) && (options.to === undefined || day <= options.to);
  const report: RebuildReport = {
    days: 0,
    daysSkipped: 0,
    records: 0,
    written: 0,
    existing: 0,
    unreadable: 0,
    problems: [],
  };
  const cursor = await readCursor(options.cursorPath);
  const readJson = async <T>(key: string): Promise<T | undefined> => {
    const body = await storage.read(key);
    return body ? (JSON.parse(body.toString('utf8')) as T) : undefined;
  };

  // Deletes at the source: the retention trail is filed by run day, so it is read once for all sources.
  const deletions = new Map<string, Item[]>();
  for await (const key of storage.listKeys(RETENTION_AUDIT_PREFIX)) {
    if (!key.endsWith('.jsonl')) continue;
    const body = await storage.read(key);
    for (const line of body ? catalogueLines(key, body) : []) {
      let entry: AuditEntry;
      try {
        entry = JSON.parse(line) as AuditEntry;
      } catch {
        report.unreadable += 1;
        report.problems.push(`${key}: a line is not JSON`);
        continue;
      }
      if ((entry.decision !== 'deleted' && entry.decision !== 'already-gone') || !entry.objectKey) continue;
      const day = utcDay(entry.startedAt);
      if (!inRange(day)) continue;
      const bySource = `${entry.provider}/${entry.sourceId}`;
      const list = deletions.get(bySource) ?? [];
      list.push({ day, key, load: async () => [catalogueRecordFromDeletion(entry, key)] });
      deletions.set(bySource, list);
    }
  }

  let written = 0;
  const startedAt = now();
  for (const source of options.sources) {
    const items: Item[] = [...(deletions.get(`${source.provider}/${source.id}`) ?? [])];
    const recordings = sourcePrefix(source.provider, source.id);
    for await (const key of storage.listKeys(recordings)) {
      const day = dayOfKey(key, recordings);
      if (!day || !isSidecarKey(key) || !inRange(day)) continue;
      items.push({
        day,
        key,
        load: async () => {
          const body = await storage.read(key);
          return body ? [catalogueRecordFromSidecar(parseSidecar(body.toString('utf8')))] : [];
        },
      });
    }
    const gone = goneAtSourcePrefix(source.provider, source.id);
    for await (const key of storage.listKeys(gone)) {
      const day = dayOfKey(key, gone);
      if (!day || !inRange(day)) continue;
      items.push({
        day,
        key,
        load: async () => {
          const entry = await readJson<GoneAtSourceRecord>(key);
          return entry ? [catalogueRecordFromGone(entry)] : [];
        },
      });
    }
    const expired = expiredBeforeFetchPrefix(source.provider, source.id);
    for await (const key of storage.listKeys(expired)) {
      const day = dayOfKey(key, expired);
      if (!day || !inRange(day)) continue;
      items.push({
        day,
        key,
        load: async () => {
          const entry = await readJson<ExpiredBeforeFetchRecord>(key);
          return entry ? [catalogueRecordFromExpired(entry)] : [];
        },
      });
    }

    const byDay = new Map<string, Item[]>();
    for (const item of items) byDay.set(item.day, [...(byDay.get(item.day) ?? []), item]);
    const days = [...byDay.keys()].sort();
    const done = new Set(cursor.doneDays[source.id] ?? []);
    let daysDone = 0;
    for (const day of days) {
      daysDone += 1;
      if (done.has(day)) {
        report.daysSkipped += 1;
        continue;
      }
      let dayRecords = 0;
      let dayWritten = 0;
      let dayComplete = true;
      for (const item of byDay.get(day) ?? []) {
        let records: CatalogueRecord[];
        try {
          records = await item.load();
        } catch (error) {
          report.unreadable += 1;
          report.problems.push(`${item.key}: ${(error as Error).message.split('\n')[0]}`);
          dayComplete = false;
          continue;
        }
        for (const record of records) {
          const outcome = await storage.record(record);
          written += 1;
          dayRecords += 1;
          report.records += 1;
          if (outcome === 'written') {
            report.written += 1;
            dayWritten += 1;
          } else report.existing += 1;
          // Pace: never ahead of ratePerSecond since the rebuild began.
          const due = startedAt + (written / options.ratePerSecond) * 1000;
          const wait = due - now();
          if (wait > 0) await sleep(wait);
        }
      }
      report.days += 1;
      if (dayComplete) {
        done.add(day);
        cursor.doneDays[source.id] = [...done].sort();
        await writeCursor(options.cursorPath, cursor);
      }
      options.onProgress?.({
        sourceId: source.id,
        day,
        records: dayRecords,
        written: dayWritten,
        daysDone,
        daysTotal: days.length,
      });
    }
  }
  return report;
}

/** Prefixes the rebuild reads, for the README and the IAM of whoever runs it. */
export const REBUILD_READS = [
  'recordings/',
  GONE_AT_SOURCE_PREFIX,
  EXPIRED_BEFORE_FETCH_PREFIX,
  RETENTION_AUDIT_PREFIX,
] as const;

async function readCursor(path: string): Promise<z.infer<typeof cursorSchema>> {
  try {
    return cursorSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, doneDays: {} };
    throw new Error(`the rebuild cursor ${path} is unreadable; delete it to start over`, { cause: error });
  }
}

async function writeCursor(path: string, cursor: z.infer<typeof cursorSchema>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(cursor));
  await rename(`${path}.tmp`, path);
}

export function rebuildCursorPath(
  stateDir: string,
  scope: { source?: string; from?: string; to?: string },
): string {
  return join(
    stateDir,
    'catalog',
    `rebuild-${scope.source ?? 'all'}-${scope.from ?? 'start'}-${scope.to ?? 'end'}.json`,
  );
}
