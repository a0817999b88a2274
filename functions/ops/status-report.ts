/**
 * `npm run status`: per source and UTC day, what the source holds against what the archive holds, what
 * retention deleted at the source, what was gone at the source before it could be archived, how much
 * work waits in the queues, and when sweep, retention and backfill last ran. Read-only.
 *
 * A webhook-only source (the Graph calling bot) cannot be asked what it holds. Its days show what was
 * received instead, counted from durable records rather than a counter the webhook would have to keep:
 * received = archived + expired before fetch (records under `audit/expired-before-fetch/`) + copies still
 * being written. A notification still queued, or dead-lettered for another reason, shows in the queues.
 */

import { recentAdminError } from '../core/admin-errors';
import { type BudgetForecast, type BudgetForecastInput, forecastBudget } from '../core/budget-forecast';
import { completeStems } from '../core/find-copy';
import {
  expiredBeforeFetchPrefix,
  extensionOfCopyKey,
  goneAtSourcePrefix,
  isSidecarKey,
  recordingKeyOfGoneRecord,
  recordingStem,
  sidecarKey,
  sourcePrefix,
  stemOfCopyKey,
} from '../core/keys';
import { listRecordingsByScope, type ScopeFailure, scopeFailuresOf } from '../core/listing-scopes';
import { extensionContradictsType } from '../core/media-format';
import type {
  AuditEntry,
  RecordingSource,
  RunLedger,
  RunRecord,
  SourceProblem,
  SourceStats,
} from '../core/ports';
import type { ProviderName, SourceRecording } from '../core/recording';
import type { ArchiveListing } from './archive-listing';
import type { QueueDepth } from './queue-depths';
import { datePath, dayKey, dayWindow, lastDays } from './utc-days';

export interface DayStatus {
  day: string;
  /** What the source reports for the day; undefined when it could not be asked (see `sourceError`). */
  atSource?: SourceStats;
  sourceError?: string;
  /** Recordings with their sidecar, and their bytes. */
  archived: SourceStats;
  /** Recording objects without a sidecar yet (an archive in progress, or one to repair). */
  withoutSidecar: number;
  /** At source minus archived, never below 0; undefined when the source count is unknown. */
  missing?: number;
  /** `deleted` + `already-gone` lines in that day's retention audit trail. */
  deletedAtSource: number;
  /**
   * Recordings of calls that day which the source listed and then no longer held when the worker came
   * to copy them (records under `audit/gone-at-source/`), unless an archived copy exists after all.
   */
  goneAtSource: number;
  /**
   * Archived copies whose extension disagrees with the content type their sidecar recorded (`.mp3`
   * holding `audio/wav`): named from a configured format by versions before copies were named from
   * their content. They verify, and retention deletes their source, like any other copy.
   */
  misnamed?: number;
  /** Webhook-only sources: granted recordings lost because the token expired before the fetch. */
  expiredBeforeFetch?: number;
  /** Webhook-only sources: archived + expired before fetch + without sidecar (see the module comment). */
  received?: number;
  /**
   * Sources counted by listing (no stats at the platform) whose recordings name a user (Teams: the user
   * whose calls and meetings were listed): listed against archived, per user.
   */
  byUser?: { user: string; listed: number; archived: number }[];
  /** Parts (users, extensions) the day's listing could not count: `atSource` leaves them out. */
  notListed?: { label: string; reason: string }[];
}

export interface SourceStatus {
  provider: ProviderName;
  sourceId: string;
  /** The platform offers no listing: there is no "at source" to compare with, only what was received. */
  webhookOnly: boolean;
  days: DayStatus[];
  /** Days whose `missing` is above 0. */
  daysWithMissing: string[];
  lastRuns: { sweep?: RunRecord; retention?: RunRecord; backfill?: RunRecord; subscriptions?: RunRecord };
  /**
   * Users or extensions the last sweep could not list, with why and since when (they are retried from
   * then on every sweep); empty when every part is covered.
   */
  notCovered?: ScopeFailure[];
  /**
   * The last error only an administrator can lift that keeps this source's jobs waiting (e.g.
   * TEAMS_METERED_API_BILLING), while it was seen within the last day (core/admin-errors.ts).
   */
  adminError?: RunRecord;
  error?: string;
  /** Set-up faults the source reports (a permission its app lacks), each naming its fix. */
  setupProblems?: SourceProblem[];
  /**
   * Rate-limited sources: what the configured budget archives a day against the last 24 hours'
   * arrivals and the recordings missing over the days shown (core/budget-forecast.ts).
   */
  budget?: BudgetForecast;
  budgetError?: string;
}

export interface StatusReport {
  generatedAt: string;
  mode: 'local' | 'aws';
  /** Where the archive was read (a folder or `s3://bucket`). */
  archive: string;
  days: string[];
  sources: SourceStatus[];
  queues: QueueDepth[];
  queueError?: string;
}

export interface StatusSource {
  provider: ProviderName;
  sourceId: string;
  /** Opens the adapter (credentials may be needed); a failure is reported per source, not fatal. */
  open(): Promise<RecordingSource>;
  /** The platform's request budget, for sources whose pace it sets (composition/rate-budgets.ts). */
  budget?: Omit<BudgetForecastInput, 'arrivedLast24h' | 'backlog' | 'now'>;
}

export interface StatusDependencies {
  mode: 'local' | 'aws';
  archiveLabel: string;
  sources: readonly StatusSource[];
  archive: ArchiveListing;
  ledger: RunLedger;
  queues: () => Promise<QueueDepth[]>;
  now: Date;
  days: number;
}

export async function collectStatus(deps: StatusDependencies): Promise<StatusReport> {
  const days = lastDays(deps.now, deps.days);
  const audit = new AuditDays(deps.archive);
  const sources: SourceStatus[] = [];
  for (const source of deps.sources) sources.push(await sourceStatus(source, days, audit, deps));
  let queues: QueueDepth[] = [];
  let queueError: string | undefined;
  try {
    queues = await deps.queues();
  } catch (error) {
    queueError = errorText(error);
  }
  return {
    generatedAt: deps.now.toISOString(),
    mode: deps.mode,
    archive: deps.archiveLabel,
    days: days.map(dayKey),
    sources,
    queues,
    queueError,
  };
}

async function sourceStatus(
  source: StatusSource,
  days: Date[],
  audit: AuditDays,
  deps: StatusDependencies,
): Promise<SourceStatus> {
  let adapter: RecordingSource | undefined;
  let error: string | undefined;
  try {
    adapter = await source.open();
  } catch (thrown) {
    error = `cannot open the source: ${errorText(thrown)}`;
  }
  const webhookOnly = adapter?.capabilities?.list === false;
  let setupProblems: SourceProblem[] | undefined;
  if (adapter?.setupProblems) {
    try {
      setupProblems = await adapter.setupProblems();
    } catch (thrown) {
      setupProblems = [{ code: 'SETUP_CHECK_FAILED', message: `set-up not checked: ${errorText(thrown)}` }];
    }
  }
  const result: DayStatus[] = [];
  for (const day of days) {
    const status: DayStatus = {
      day: dayKey(day),
      archived: { count: 0, bytes: 0 },
      withoutSidecar: 0,
      deletedAtSource: await audit.deletions(day, source.provider, source.sourceId),
      goneAtSource: 0,
    };
    let listed: SourceRecording[] | undefined;
    if (adapter && !webhookOnly) {
      try {
        const counted = await countAtSource(adapter, day);
        status.atSource = counted.stats;
        listed = counted.listed;
        if (counted.notListed.length > 0) status.notListed = counted.notListed;
      } catch (thrown) {
        status.sourceError = errorText(thrown);
      }
    }
    const archived = await archivedOn(deps.archive, source, day);
    if (listed) status.byUser = listedByUser(listed, archived.stems);
    status.archived = archived.complete;
    status.withoutSidecar = archived.withoutSidecar;
    status.goneAtSource = await goneOn(deps.archive, source, day, archived.stems);
    status.misnamed = await misnamedAmong(deps.archive, archived.copies);
    if (status.atSource) status.missing = Math.max(0, status.atSource.count - status.archived.count);
    if (webhookOnly) {
      status.expiredBeforeFetch = await countUnder(
        deps.archive,
        `${expiredBeforeFetchPrefix(source.provider, source.sourceId)}${datePath(day)}/`,
      );
      status.received = status.archived.count + status.expiredBeforeFetch + status.withoutSidecar;
    }
    result.push(status);
  }
  const [sweep, retention, backfill, subscriptions, admin] = await Promise.all(
    (['sweep', 'retention', 'backfill', 'subscriptions', 'admin'] as const).map((kind) =>
      deps.ledger.last(kind, source.sourceId).catch(() => undefined),
    ),
  );
  let budget: BudgetForecast | undefined;
  let budgetError: string | undefined;
  if (source.budget && adapter && !webhookOnly) {
    try {
      const window = { from: new Date(deps.now.getTime() - 86_400_000), to: deps.now };
      const arrived = adapter.stats
        ? (await adapter.stats(window)).count
        : await countListed(adapter, window);
      budget = forecastBudget({
        ...source.budget,
        arrivedLast24h: arrived,
        backlog: result.reduce((sum, day) => sum + (day.missing ?? 0), 0),
        now: deps.now,
      });
    } catch (thrown) {
      budgetError = errorText(thrown);
    }
  }
  return {
    provider: source.provider,
    sourceId: source.sourceId,
    webhookOnly,
    ...(budget ? { budget } : {}),
    ...(budgetError ? { budgetError } : {}),
    days: result,
    daysWithMissing: result.filter((day) => (day.missing ?? 0) > 0).map((day) => day.day),
    lastRuns: { sweep, retention, backfill, subscriptions },
    notCovered: scopeFailuresOf(sweep?.summary),
    adminError: recentAdminError(admin, deps.now),
    error,
    ...(setupProblems && setupProblems.length > 0 ? { setupProblems } : {}),
  };
}

async function countListed(source: RecordingSource, window: { from: Date; to: Date }): Promise<number> {
  let count = 0;
  // A part that cannot be listed is left out: the same undercount the day rows name.
  for await (const _ of listRecordingsByScope(source, window, { onFailure: () => undefined })) count += 1;
  return count;
}

/**
 * The platform's totals where it has them; otherwise its listing, kept for the per-user breakdown. A part
 * of the source that cannot be listed (a user outside Teams' access policy) is named, and the others are
 * counted.
 */
async function countAtSource(
  source: RecordingSource,
  day: Date,
): Promise<{ stats: SourceStats; listed?: SourceRecording[]; notListed: DayStatus['notListed'] & {} }> {
  const window = dayWindow(day);
  if (source.stats) return { stats: await source.stats(window), notListed: [] };
  const stats: SourceStats = { count: 0, bytes: 0 };
  const listed: SourceRecording[] = [];
  const notListed: { label: string; reason: string }[] = [];
  const listing = listRecordingsByScope(source, window, {
    onFailure: ({ scope, error }) => notListed.push({ label: scope.label, reason: error.message }),
  });
  for await (const recording of listing) {
    stats.count += 1;
    stats.bytes += recording.size ?? 0;
    listed.push(recording);
  }
  return { stats, listed, notListed };
}

/** Listed and archived (with its sidecar) per user, for listings whose recordings name one. */
function listedByUser(
  listed: readonly SourceRecording[],
  archivedStems: ReadonlySet<string>,
): DayStatus['byUser'] {
  const users = new Map<string, { user: string; listed: number; archived: number }>();
  for (const recording of listed) {
    const user = recording.extension?.name ?? recording.extension?.id;
    if (!user) return undefined;
    const row = users.get(user) ?? { user, listed: 0, archived: 0 };
    row.listed += 1;
    if (archivedStems.has(recordingStem(recording))) row.archived += 1;
    users.set(user, row);
  }
  return [...users.values()].sort((a, b) => a.user.localeCompare(b.user));
}

/** Counts recordings (not sidecars) of one day; one counts as archived only with its sidecar. */
async function archivedOn(
  archive: ArchiveListing,
  source: StatusSource,
  day: Date,
): Promise<{
  complete: SourceStats;
  withoutSidecar: number;
  /** Stems with a copy and its sidecar, whatever the copy's extension. */
  stems: ReadonlySet<string>;
  /** Keys of the copies that have their sidecar. */
  copies: readonly string[];
}> {
  const prefix = `${sourcePrefix(source.provider, source.sourceId)}${datePath(day)}/`;
  const sizes = new Map<string, number>();
  for await (const object of archive.list(prefix)) sizes.set(object.key, object.size);
  const complete: SourceStats = { count: 0, bytes: 0 };
  let withoutSidecar = 0;
  const copies: string[] = [];
  for (const [key, size] of sizes) {
    if (isSidecarKey(key)) continue;
    if (sizes.has(sidecarKey(key))) {
      copies.push(key);
      complete.count += 1;
      complete.bytes += size;
    } else {
      withoutSidecar += 1;
    }
  }
  return { complete, withoutSidecar, stems: completeStems(sizes.keys()), copies };
}

const SIDECAR_READS_IN_FLIGHT = 8;

/**
 * Copies whose extension disagrees with their content, judged by the content type in each sidecar: one
 * read per archived copy of the day (a GET on S3), a few at a time. A sidecar that cannot be read or
 * records a generic type judges nothing.
 */
async function misnamedAmong(archive: ArchiveListing, copies: readonly string[]): Promise<number> {
  let misnamed = 0;
  let next = 0;
  const worker = async () => {
    while (next < copies.length) {
      const key = copies[next++] as string;
      const extension = extensionOfCopyKey(key);
      if (!extension) continue;
      const text = await archive.readText(sidecarKey(key)).catch(() => undefined);
      let contentType: unknown;
      try {
        contentType =
          text === undefined ? undefined : (JSON.parse(text) as { contentType?: unknown }).contentType;
      } catch {
        contentType = undefined;
      }
      if (typeof contentType === 'string' && extensionContradictsType(extension, contentType)) misnamed += 1;
    }
  };
  await Promise.all(Array.from({ length: SIDECAR_READS_IN_FLIGHT }, worker));
  return misnamed;
}

/**
 * Gone-at-source records of one day. A recording that came back (a listing that had briefly left it out)
 * and was archived later has a copy with its sidecar; its old record no longer counts.
 */
async function goneOn(
  archive: ArchiveListing,
  source: StatusSource,
  day: Date,
  archivedStems: ReadonlySet<string>,
): Promise<number> {
  let gone = 0;
  for await (const object of archive.list(
    `${goneAtSourcePrefix(source.provider, source.sourceId)}${datePath(day)}/`,
  )) {
    // The record names the key the listing suggested; the copy may carry another extension.
    const key = recordingKeyOfGoneRecord(object.key);
    const stem = key === undefined ? undefined : stemOfCopyKey(key);
    if (key && !(stem !== undefined && archivedStems.has(stem))) gone += 1;
  }
  return gone;
}

async function countUnder(archive: ArchiveListing, prefix: string): Promise<number> {
  let count = 0;
  for await (const _object of archive.list(prefix)) count += 1;
  return count;
}

/** Retention's audit trail by day (`audit/retention/{yyyy}/{mm}/{dd}/*.jsonl`), read once per day. */
class AuditDays {
  private readonly days = new Map<string, Promise<AuditEntry[]>>();

  constructor(private readonly archive: ArchiveListing) {}

  async deletions(day: Date, provider: ProviderName, sourceId: string): Promise<number> {
    const entries = await this.entries(day);
    return entries.filter(
      (entry) =>
        entry.provider === provider &&
        entry.sourceId === sourceId &&
        (entry.decision === 'deleted' || entry.decision === 'already-gone'),
    ).length;
  }

  private entries(day: Date): Promise<AuditEntry[]> {
    const key = dayKey(day);
    let entries = this.days.get(key);
    if (!entries) {
      entries = this.read(`audit/retention/${datePath(day)}/`);
      this.days.set(key, entries);
    }
    return entries;
  }

  private async read(prefix: string): Promise<AuditEntry[]> {
    const entries: AuditEntry[] = [];
    for await (const object of this.archive.list(prefix)) {
      if (!object.key.endsWith('.jsonl')) continue;
      const text = (await this.archive.readText(object.key)) ?? '';
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          entries.push(JSON.parse(line) as AuditEntry);
        } catch {
          // A torn last line (a run killed mid-append) is not an entry.
        }
      }
    }
    return entries;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
