import { type CatalogueWriter, catalogueRecordFromDeletion } from './catalogue';
import { RateLimitedError } from './errors';
import { recordingJob } from './jobs';
import type { HoldRegistry } from './legal-hold';
import type {
  ArchiveStore,
  AuditEntry,
  AuditLog,
  Clock,
  JobQueue,
  KillSwitch,
  Log,
  RecordingSource,
} from './ports';
import type { SourceRecording } from './recording';
import { verifyArchivedCopy } from './verify-archived-copy';

/** What one source's retention runs by; the config module validates and fills in the defaults. */
export interface RetentionSettings {
  deleteFromSourceAfterDays: number;
  dryRun: boolean;
  gracePeriodHours: number;
  maxDeletesPerRun: number;
  intervalSeconds: number;
  deepVerifySampleRate: number;
  killSwitch: boolean;
  scanBackDays: number;
}

export interface RetentionDependencies {
  store: ArchiveStore;
  queue: JobQueue;
  audit: AuditLog;
  killSwitch: KillSwitch;
  clock: Clock;
  log: Log;
  /** Decides which copies are deep-verified (sampled at `deepVerifySampleRate`). */
  random?: () => number;
  /** The catalogue: a deleted-at-source record per delete, naming the run that vouched. */
  catalogue?: CatalogueWriter;
  /** callvault's own hold records (`npm run hold`): a held copy is never deleted at the source. */
  holds?: HoldRegistry;
}

export interface RetentionReport {
  runId: string;
  sourceId: string;
  dryRun: boolean;
  /** Listed at the source and older than the cutoff. */
  due: number;
  deleted: number;
  alreadyGone: number;
  wouldDelete: number;
  /** Due but without a verified copy, for any reason (each is audited with its reason). */
  skipped: number;
  /** Due but not archived at all: enqueued for archiving. A metric with an alarm. */
  dueButNotArchived: number;
  failed: number;
  deepVerified: number;
  /** Why the run ended before the listing did, if it did. */
  stoppedBy?: 'kill-switch' | 'cap' | 'rate-limited' | 'deadline';
}

/**
 * One retention run for one source: list what is older than the cutoff, verify each archived copy,
 * and delete at the source one recording at a time, never by range. Every decision is audited; the
 * intent to delete is recorded before the delete is attempted, so the trail has no gaps even if the run
 * dies between the two. Dry run (the default) decides and audits everything but deletes nothing.
 */
export async function applyRetentionToSource(
  source: RecordingSource,
  settings: RetentionSettings,
  deps: RetentionDependencies,
  options: { runId: string; signal?: AbortSignal },
): Promise<RetentionReport> {
  const runStartedAt = deps.clock.now();
  const cutoff = new Date(runStartedAt.getTime() - settings.deleteFromSourceAfterDays * 86_400_000);
  const window = { from: new Date(cutoff.getTime() - settings.scanBackDays * 86_400_000), to: cutoff };
  const random = deps.random ?? Math.random;
  const report: RetentionReport = {
    runId: options.runId,
    sourceId: source.sourceId,
    dryRun: settings.dryRun,
    due: 0,
    deleted: 0,
    alreadyGone: 0,
    wouldDelete: 0,
    skipped: 0,
    dueButNotArchived: 0,
    failed: 0,
    deepVerified: 0,
  };
  const trail = deps.audit.open(options.runId, runStartedAt);
  type Decision = Omit<
    AuditEntry,
    'runId' | 'at' | 'provider' | 'sourceId' | 'recordingId' | 'startedAt' | 'dryRun'
  >;
  const audit = (recording: SourceRecording, entry: Decision, durable = false) =>
    trail.record(
      {
        runId: options.runId,
        at: deps.clock.now().toISOString(),
        provider: recording.provider,
        sourceId: recording.sourceId,
        recordingId: recording.recordingId,
        startedAt: recording.startedAt.toISOString(),
        dryRun: settings.dryRun,
        ...entry,
      },
      { durable },
    );

  try {
    await processDueRecordings();
  } finally {
    await trail.close();
  }
  deps.log.info('retention run finished', { ...report });
  return report;

  /**
   * After the audit entry, which stays the evidence: a catalogue record that cannot be written is logged
   * as an error and `npm run catalog -- --rebuild` writes it from the audit trail; the run goes on.
   */
  async function catalogueDeletion(
    recording: SourceRecording,
    decision: 'deleted' | 'already-gone',
    vouch: Pick<AuditEntry, 'objectKey' | 'size' | 'sha256' | 'sourceSize'>,
  ): Promise<void> {
    if (!deps.catalogue) return;
    const entry: AuditEntry = {
      runId: options.runId,
      at: deps.clock.now().toISOString(),
      provider: recording.provider,
      sourceId: recording.sourceId,
      recordingId: recording.recordingId,
      startedAt: recording.startedAt.toISOString(),
      dryRun: settings.dryRun,
      decision,
      ...vouch,
    };
    try {
      await deps.catalogue.record(catalogueRecordFromDeletion(entry, auditKey(options.runId, runStartedAt)));
    } catch (error) {
      deps.log.error('catalogue record of a delete at the source not written; rebuild the catalogue', {
        recordingId: recording.recordingId,
        error: (error as Error).message,
      });
    }
  }

  /** A hold record that cannot be read counts as a hold: fail safe, as the kill switch does. */
  async function heldByRecord(objectKey: string): Promise<boolean> {
    try {
      return (await deps.holds?.isHeld(objectKey)) ?? false;
    } catch (error) {
      deps.log.warn('hold record unreadable; the copy is treated as held', {
        objectKey,
        error: (error as Error).message,
      });
      return true;
    }
  }

  async function processDueRecordings(): Promise<void> {
    for await (const recording of source.listRecordings(window, options.signal)) {
      if (recording.startedAt.getTime() >= cutoff.getTime()) continue;
      if (options.signal?.aborted) {
        report.stoppedBy = 'deadline';
        break;
      }
      report.due += 1;
      const verification = await verifyArchivedCopy(recording, deps.store, {
        now: deps.clock.now(),
        gracePeriodHours: settings.gracePeriodHours,
        deep: settings.deepVerifySampleRate > 0 && random() < settings.deepVerifySampleRate,
        reportedSize: source.reportedSize
          ? () => source.reportedSize?.(recording, options.signal) ?? Promise.resolve(undefined)
          : undefined,
      });
      if (!verification.verified) {
        report.skipped += 1;
        if (verification.problem === 'not-archived' || verification.problem === 'no-sidecar') {
          // Due but not safely archived: archive it now; it becomes deletable on a later run.
          report.dueButNotArchived += 1;
          await deps.queue.enqueue([recordingJob(recording)]);
        }
        await audit(recording, {
          decision: 'skipped',
          reason: verification.problem,
          detail: verification.detail,
          objectKey: verification.copy?.key,
          sourceSize: recording.size,
        });
        deps.log.warn('retention skipped a recording', {
          recordingId: recording.recordingId,
          reason: verification.problem,
          detail: verification.detail,
        });
        continue;
      }
      if (deps.holds && (await heldByRecord(verification.copy.key))) {
        report.skipped += 1;
        await audit(recording, {
          decision: 'skipped',
          reason: 'legal-hold',
          detail: 'a hold record names the copy (npm run hold)',
          objectKey: verification.copy.key,
          sourceSize: recording.size,
        });
        continue;
      }
      if (verification.deepVerified) report.deepVerified += 1;
      const vouch = {
        objectKey: verification.copy.key,
        size: verification.copy.size,
        sha256: verification.copy.sha256,
        sourceSize: verification.sourceSize,
      };

      if (report.deleted + report.wouldDelete >= settings.maxDeletesPerRun) {
        report.stoppedBy = 'cap';
        await audit(recording, {
          decision: 'stopped',
          reason: 'cap',
          detail: `maxDeletesPerRun ${settings.maxDeletesPerRun} reached`,
          ...vouch,
        });
        break;
      }
      if (settings.killSwitch || (await deps.killSwitch.engaged())) {
        report.stoppedBy = 'kill-switch';
        await audit(recording, { decision: 'stopped', reason: 'kill-switch', ...vouch });
        deps.log.warn('retention stopped by the kill switch', { runId: options.runId });
        break;
      }
      if (settings.dryRun) {
        report.wouldDelete += 1;
        await audit(recording, { decision: 'would-delete', ...vouch });
        continue;
      }

      // The intent is durable before the delete; the outcome follows it.
      await audit(recording, { decision: 'deleting', ...vouch }, true);
      try {
        const outcome = await source.deleteRecording(recording, options.signal);
        if (outcome === 'deleted') report.deleted += 1;
        else report.alreadyGone += 1;
        await audit(recording, { decision: outcome, ...vouch });
        await catalogueDeletion(recording, outcome, vouch);
        deps.log.info(`retention ${outcome}`, {
          recordingId: recording.recordingId,
          objectKey: vouch.objectKey,
        });
      } catch (error) {
        report.failed += 1;
        const rateLimited = error instanceof RateLimitedError;
        await audit(recording, {
          decision: 'failed',
          reason: rateLimited ? 'rate-limited' : 'delete-failed',
          detail: (error as Error).message,
          ...vouch,
        });
        if (rateLimited) {
          // The quota is shared with every other client of the account: stop and let the next run go on.
          report.stoppedBy = 'rate-limited';
          break;
        }
      }
    }
  }
}

/** A sortable, unique run id: `20261121T010203Z-3f9a`. */
export function newRunId(now: Date, random: () => number = Math.random): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.floor(random() * 0xffff)
    .toString(16)
    .padStart(4, '0')}`;
}

/** `audit/retention/{yyyy}/{mm}/{dd}/{runId}.jsonl`, by the run's start (UTC). */
export function auditKey(runId: string, runStartedAt: Date): string {
  const iso = runStartedAt.toISOString();
  return `audit/retention/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${runId}.jsonl`;
}
