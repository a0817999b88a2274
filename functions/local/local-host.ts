/**
 * The one-machine host behind `npm start`: the same use cases as the Lambda functions, wired to a local
 * HTTP server, the in-process queue, and either a local folder or an S3 bucket.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { FsArchiveStore } from '../adapters/fs-archive-store';
import { FsAuditLog } from '../adapters/fs-audit-log';
import { FsGoneAtSourceLog, S3GoneAtSourceLog } from '../adapters/gone-at-source-logs';
import { fileKillSwitch } from '../adapters/kill-switch';
import { LocalJobQueue } from '../adapters/local-job-queue';
import { FsRunLedger, S3RunLedger } from '../adapters/run-ledgers';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import { S3AuditLog } from '../adapters/s3-audit-log';
import { type CallvaultConfig, retentionFor } from '../config';
import { handleArchiveJob, type JobOutcome } from '../core/handle-job';
import type { ArchiveJob } from '../core/jobs';
import type {
  ArchiveStore,
  AuditLog,
  Clock,
  GoneAtSourceLog,
  KillSwitch,
  Log,
  RunLedger,
} from '../core/ports';
import { systemClock } from '../core/ports';
import type { RetentionReport } from '../core/retention';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry-policy';
import { runRetentionForSources } from '../core/run-retention-for-sources';
import type { SourceRegistry } from '../core/source-registry';
import type { SweepResult } from '../core/sweep';
import { sweepAllSources } from '../core/sweep-sources';
import { buildSourceRegistry, type CredentialsLoader, inlineCredentials } from '../providers';
import { startWebhookServer } from './webhook-server';

export interface LocalHostOptions {
  config: CallvaultConfig;
  log: Log;
  credentials?: CredentialsLoader;
  clock?: Clock;
  /** Run the sweep at start-up and on its interval (default: config.sweep.enabled). */
  scheduleSweep?: boolean;
  /** Overrides of the retry delays (the demo shortens them). */
  retryPolicy?: Partial<RetryPolicy>;
  /** Run retention on its interval (default: when any source has retention configured). */
  scheduleRetention?: boolean;
  /** Listen for webhooks (default true); one-off commands turn it off. */
  serveWebhooks?: boolean;
}

export interface LocalHost {
  webhookUrl: string;
  store: ArchiveStore;
  queue: LocalJobQueue;
  /** Archived recordings and bytes since start. */
  progress(): { archived: number; bytes: number };
  sweepNow(): Promise<SweepResult[]>;
  /** One retention run over every source that has retention configured. */
  retentionNow(): Promise<RetentionReport[]>;
  /** Resolves once no job is pending, delayed or running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalStorage {
  store: ArchiveStore;
  audit: AuditLog;
  ledger: RunLedger;
  goneAtSource: GoneAtSourceLog;
}

/** The archive folder by default; the configured bucket when `storage.s3` is set. Audit and ledger live beside it. */
export function createStorage(config: CallvaultConfig, log: Log): LocalStorage {
  const target = config.storage.s3;
  const partSizeBytes = config.worker.partSizeMiB * 1024 * 1024;
  if (!target) {
    const root = config.local.archiveDir;
    return {
      store: new FsArchiveStore({ root, log }),
      audit: new FsAuditLog({ root }),
      ledger: new FsRunLedger({ root }),
      goneAtSource: new FsGoneAtSourceLog({ root }),
    };
  }
  const client = new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    forcePathStyle: target.forcePathStyle,
  });
  return {
    store: new S3ArchiveStore({
      client,
      bucket: target.bucket,
      partSizeBytes,
      partsInFlight: config.worker.partsInFlight,
      log,
    }),
    audit: new S3AuditLog({ client, bucket: target.bucket }),
    ledger: new S3RunLedger({ client, bucket: target.bucket }),
    goneAtSource: new S3GoneAtSourceLog({ client, bucket: target.bucket }),
  };
}

export function createStore(config: CallvaultConfig, log: Log): ArchiveStore {
  return createStorage(config, log).store;
}

/** Local kill switch: the file `{stateDir}/KILL` stops every retention delete while it exists. */
export function localKillSwitch(config: CallvaultConfig): KillSwitch {
  return fileKillSwitch(join(config.local.stateDir, 'KILL'), existsSync);
}

export interface LocalPipeline extends LocalStorage {
  sources: SourceRegistry;
  queue: LocalJobQueue;
}

/**
 * Storage, sources and the in-process queue whose jobs run the archive use case: what `npm start` and a
 * local backfill share. The queue keeps its pending jobs and dead letters under `stateDir`, so whichever
 * command runs next picks up what another left.
 */
export async function createLocalPipeline(
  config: CallvaultConfig,
  options: {
    log: Log;
    clock?: Clock;
    credentials?: CredentialsLoader;
    retryPolicy?: Partial<RetryPolicy>;
    onOutcome?: (outcome: JobOutcome) => void;
  },
): Promise<LocalPipeline> {
  const { log } = options;
  const clock = options.clock ?? systemClock;
  const stateDir = config.local.stateDir;
  await mkdir(stateDir, { recursive: true });
  const storage = createStorage(config, log);
  const { store, goneAtSource } = storage;
  const sources = buildSourceRegistry(config, options.credentials ?? inlineCredentials, { clock, log });
  const queue: LocalJobQueue = new LocalJobQueue({
    concurrency: config.worker.concurrency,
    maxReceiveCount: config.worker.maxReceiveCount,
    deadLetterDir: join(stateDir, 'dead-letter'),
    stateFile: join(stateDir, 'pending-jobs.json'),
    log,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, ...options.retryPolicy },
    handleJob: async (job: ArchiveJob, signal: AbortSignal) => {
      const outcome = await handleArchiveJob(
        job,
        { sources, store, queue, goneAtSource, clock, log },
        signal,
      );
      options.onOutcome?.(outcome);
    },
  });
  return { ...storage, sources, queue };
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const totals = { archived: 0, bytes: 0 };
  const report = (outcome: JobOutcome) => {
    if (outcome.status !== 'archived') return;
    totals.archived += 1;
    totals.bytes += outcome.size;
    log.info(`archived #${totals.archived}`, {
      key: outcome.key,
      size: formatBytes(outcome.size),
      total: formatBytes(totals.bytes),
    });
  };
  const { store, audit, ledger, sources, queue } = await createLocalPipeline(config, {
    log,
    clock,
    credentials: options.credentials,
    retryPolicy: options.retryPolicy,
    onOutcome: report,
  });
  queue.start();

  const server =
    options.serveWebhooks === false
      ? undefined
      : await startWebhookServer({
          host: config.local.host,
          port: config.local.port,
          deps: { sources, queue, log },
          log,
          health: () => ({ queue: queue.stats(), ...totals }),
        });
  if (server) log.info('webhooks listening', { url: `${server.url}/webhooks/{provider}/{sourceId}` });

  const sweepNow = async (): Promise<SweepResult[]> =>
    (await sweepAllSources(config.sweep.lookbackHours, { sources, store, queue, ledger, clock, log }))
      .results;

  const retentionNow = async (): Promise<RetentionReport[]> => {
    const { reports } = await runRetentionForSources({
      config,
      sources,
      store,
      queue,
      audit,
      killSwitch: localKillSwitch(config),
      ledger,
      clock,
      log,
    });
    return reports;
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> = Promise.resolve();
  if (options.scheduleSweep ?? config.sweep.enabled) {
    const runScheduled = () => {
      sweeping = sweepNow();
    };
    runScheduled();
    sweepTimer = setInterval(runScheduled, config.sweep.intervalSeconds * 1000);
  }

  // Retention runs after the start-up sweep settled, then on its own interval (daily by default).
  let retentionTimer: NodeJS.Timeout | undefined;
  let retaining: Promise<unknown> = Promise.resolve();
  const retentionSettings = config.sources
    .map((source) => retentionFor(config, source))
    .filter((settings) => settings !== undefined);
  if ((options.scheduleRetention ?? retentionSettings.length > 0) && retentionSettings.length > 0) {
    const intervalSeconds = Math.min(...retentionSettings.map((settings) => settings.intervalSeconds));
    const runScheduled = () => {
      retaining = retentionNow().catch((error: unknown) =>
        log.error('retention run failed', { error: String(error) }),
      );
    };
    void sweeping.finally(runScheduled);
    retentionTimer = setInterval(runScheduled, intervalSeconds * 1000);
  }

  return {
    webhookUrl: server?.url ?? '',
    store,
    queue,
    progress: () => ({ ...totals }),
    sweepNow,
    retentionNow,
    async idle() {
      await sweeping;
      await queue.idle();
    },
    async stop() {
      clearInterval(sweepTimer);
      clearInterval(retentionTimer);
      await server?.close();
      await sweeping.catch(() => {});
      await retaining;
      await queue.stop();
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
