/**
 * The one-machine host behind `npm start`: the same use cases as the Lambda functions, wired to a local
 * HTTP server, the in-process queue, and either a local folder or an S3 bucket.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { FsArchiveStore } from '../adapters/fs-archive-store';
import { LocalJobQueue } from '../adapters/local-job-queue';
import { S3ArchiveStore } from '../adapters/s3-archive-store';
import type { CallvaultConfig } from '../config';
import { handleArchiveJob, type JobOutcome } from '../core/handle-job';
import type { ArchiveJob } from '../core/jobs';
import { type ArchiveStore, type Clock, type Log, systemClock } from '../core/ports';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../core/retry-policy';
import { lookbackWindow, type SweepResult, sweepSource } from '../core/sweep';
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
}

export interface LocalHost {
  webhookUrl: string;
  store: ArchiveStore;
  queue: LocalJobQueue;
  /** Archived recordings and bytes since start. */
  progress(): { archived: number; bytes: number };
  sweepNow(): Promise<SweepResult[]>;
  /** Resolves once no job is pending, delayed or running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function createStore(config: CallvaultConfig, log: Log): ArchiveStore {
  const target = config.storage.s3;
  const partSizeBytes = config.worker.partSizeMiB * 1024 * 1024;
  if (!target) return new FsArchiveStore({ root: config.local.archiveDir, log });
  const client = new S3Client({
    region: target.region,
    endpoint: target.endpoint,
    forcePathStyle: target.forcePathStyle,
  });
  return new S3ArchiveStore({ client, bucket: target.bucket, partSizeBytes, partsInFlight: config.worker.partsInFlight, log });
}

export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const stateDir = config.local.stateDir;
  await mkdir(stateDir, { recursive: true });
  const store = createStore(config, log);
  const sources = buildSourceRegistry(config, options.credentials ?? inlineCredentials, { clock, log });
  const totals = { archived: 0, bytes: 0 };

  const report = (outcome: JobOutcome) => {
    if (outcome.status !== 'archived') return;
    totals.archived += 1;
    totals.bytes += outcome.size;
    log.info(`archived #${totals.archived}`, { key: outcome.key, size: formatBytes(outcome.size), total: formatBytes(totals.bytes) });
  };
  const queue: LocalJobQueue = new LocalJobQueue({
    concurrency: config.worker.concurrency,
    maxReceiveCount: config.worker.maxReceiveCount,
    deadLetterDir: join(stateDir, 'dead-letter'),
    stateFile: join(stateDir, 'pending-jobs.json'),
    log,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, ...options.retryPolicy },
    handleJob: async (job: ArchiveJob, signal: AbortSignal) => {
      report(await handleArchiveJob(job, { sources, store, queue, clock, log }, signal));
    },
  });
  queue.start();

  const server = await startWebhookServer({
    host: config.local.host,
    port: config.local.port,
    deps: { sources, queue, log },
    log,
    health: () => ({ queue: queue.stats(), ...totals }),
  });
  log.info('webhooks listening', { url: `${server.url}/webhooks/{provider}/{sourceId}` });

  const sweepNow = async (): Promise<SweepResult[]> => {
    const window = lookbackWindow(clock.now(), config.sweep.lookbackHours);
    const results: SweepResult[] = [];
    for (const { provider, id } of sources.list()) {
      try {
        results.push(await sweepSource(await sources.get(provider, id), window, { store, queue, log }));
      } catch (error) {
        log.error('sweep of a source failed; the next run retries', { source: id, error: String(error) });
      }
    }
    return results;
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

  return {
    webhookUrl: server.url,
    store,
    queue,
    progress: () => ({ ...totals }),
    sweepNow,
    async idle() {
      await sweeping;
      await queue.idle();
    },
    async stop() {
      clearInterval(sweepTimer);
      await server.close();
      await sweeping.catch(() => {});
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
