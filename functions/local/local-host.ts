/**
 * The one-machine host behind `npm start`: the same use cases as the Lambda functions, wired to a local
 * HTTP server, the in-process queue, and either a local folder or an S3 bucket.
 */

import { join } from 'node:path';
import { FsLeaseStore } from '../adapters/fs-lease-store';
import { FsSubscriptionRecords } from '../adapters/fs-subscription-records';
import type { LocalJobQueue } from '../adapters/local-job-queue';
import { createLocalPipeline, localKillSwitch } from '../composition/local-pipeline';
import {
  mergeFollowUps,
  runWebhookFollowUp,
  type WebhookFollowUp,
  webhookFollowUpOf,
} from '../composition/webhook-follow-up';
import { type CallvaultConfig, type CredentialsLoader, retentionTargets } from '../config';
import { applyRetentionToAllSources } from '../core/apply-retention-to-all-sources';
import type { RetentionReport } from '../core/apply-retention-to-source';
import {
  type EnsureSubscriptionsForAllSourcesResult,
  ensureSubscriptionsForAllSources,
} from '../core/ensure-subscriptions-for-all-sources';
import type { JobOutcome } from '../core/handle-job';
import type { ArchiveStore, Clock, Log, WebhookOutcome } from '../core/ports';
import { systemClock } from '../core/ports';
import type { RetryPolicy } from '../core/retry-policy';
import { reportSetupProblems } from '../core/source-setup';
import { sweepAllSources } from '../core/sweep-all-sources';
import { scheduledLookbackHours } from '../core/sweep-cadence';
import type { SweepResult } from '../core/sweep-source';
import { formatBytes } from '../ops/format-bytes';
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
  /**
   * Where platforms reach the webhook server; default `config.local.publicUrl`. `'server'` is the
   * server's own address, for sandboxes on this machine (the demo). Set: subscriptions are managed.
   */
  publicUrl?: string | 'server';
}

export interface LocalHost {
  webhookUrl: string;
  store: ArchiveStore;
  queue: LocalJobQueue;
  /** Archived recordings and bytes since start. */
  progress(): { archived: number; bytes: number };
  /** One sweep over `lookbackHours` (default the whole `sweep.lookbackHours`). */
  sweepNow(lookbackHours?: number): Promise<SweepResult[]>;
  /** One subscriptions check over every source that has them; undefined without a public URL. */
  subscriptionsNow(): Promise<EnsureSubscriptionsForAllSourcesResult | undefined>;
  /** One retention run over every source that has retention configured. */
  retentionNow(): Promise<RetentionReport[]>;
  /** Resolves once no job is pending, delayed or running. */
  idle(): Promise<void>;
  stop(): Promise<void>;
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
  const { store, audit, ledger, sources, queue, outcomes, holds } = await createLocalPipeline(config, {
    log,
    clock,
    credentials: options.credentials,
    retryPolicy: options.retryPolicy,
    onOutcome: report,
  });
  queue.start();

  // Set below, once subscriptions and sweeps are wired: lifecycle events ask for both.
  let followUp: (provider: string, sourceId: string, outcome: WebhookOutcome) => void = () => {};
  const server =
    options.serveWebhooks === false
      ? undefined
      : await startWebhookServer({
          host: config.local.host,
          port: config.local.port,
          deps: { sources, queue, log, afterAccepted: (...args) => followUp(...args) },
          log,
          health: () => ({ queue: queue.stats(), ...totals }),
        });
  if (server) log.info('webhooks listening', { url: `${server.url}/webhooks/{provider}/{sourceId}` });

  const publicUrl =
    (options.publicUrl === 'server' ? server?.url : options.publicUrl) ?? config.local.publicUrl;
  const subscriptionRecords = new FsSubscriptionRecords({ stateDir: config.local.stateDir });
  const subscriptionsNow = async (): Promise<EnsureSubscriptionsForAllSourcesResult | undefined> => {
    if (!publicUrl || !server) return undefined;
    return ensureSubscriptionsForAllSources(publicUrl, {
      sources,
      records: subscriptionRecords,
      clock,
      log,
      ledger,
    });
  };
  if (publicUrl && server) log.info('managing webhook subscriptions', { publicUrl });

  // Shared by every process using this state folder (a backfill beside `npm start`).
  const pending = {
    leases: new FsLeaseStore({ dir: join(config.local.stateDir, 'pending-markers') }),
    holdMs: config.sweep.pendingMarkerHours * 3_600_000,
  };
  const sweepNow = async (lookbackHours = config.sweep.lookbackHours): Promise<SweepResult[]> =>
    (
      await sweepAllSources(lookbackHours, {
        sources,
        store,
        queue,
        ledger,
        clock,
        log,
        pending,
      })
    ).results;

  // Teams lifecycle events, and sweeps for events a webhook could not interpret: acted on in process
  // once the answer went out (fire and forget, logged).
  const followUps = new Set<Promise<unknown>>();
  // One after another: both subscriptions removed at once would otherwise race to recreate the same one.
  let lastFollowUp: Promise<unknown> = Promise.resolve();
  // Follow-ups not started yet, per source: a burst of deliveries becomes one sweep, not one each.
  const waiting = new Map<string, WebhookFollowUp>();
  followUp = (provider, sourceId, outcome) => {
    const wanted = webhookFollowUpOf(provider, sourceId, outcome);
    if (!wanted) return;
    const key = `${provider}/${sourceId}`;
    const queued = waiting.get(key);
    if (queued) {
      waiting.set(key, mergeFollowUps(queued, wanted));
      return;
    }
    waiting.set(key, wanted);
    const running: Promise<unknown> = lastFollowUp
      .then(() => {
        const next = waiting.get(key) ?? wanted;
        waiting.delete(key);
        return runWebhookFollowUp(next, {
          webhookBaseUrl: server ? publicUrl : undefined,
          lookbackHours: config.sweep.lookbackHours,
          sources,
          records: subscriptionRecords,
          store,
          queue,
          ledger,
          clock,
          log,
          pending,
        });
      })
      .catch((error: unknown) =>
        log.error('webhook follow-up failed; the next sweep and check cover it', {
          provider,
          sourceId,
          error: String(error),
        }),
      )
      .finally(() => followUps.delete(running));
    lastFollowUp = running;
    followUps.add(running);
  };

  const retentionNow = async (): Promise<RetentionReport[]> => {
    const { reports } = await applyRetentionToAllSources({
      targets: retentionTargets(config),
      sources,
      store,
      queue,
      audit,
      catalogue: outcomes,
      holds,
      killSwitch: localKillSwitch(config),
      ledger,
      clock,
      log,
    });
    return reports;
  };

  let sweepTimer: NodeJS.Timeout | undefined;
  // Set-up faults (a permission an app lacks) are logged loudly first, each with its errorCode.
  const setupChecked = reportSetupProblems(sources, log).catch((error: unknown) =>
    log.warn('set-up check failed', { error: String(error) }),
  );
  let sweeping: Promise<unknown> = setupChecked;
  // Subscriptions are checked at start-up and with every sweep, before it: webhooks flow again first.
  const checkSubscriptions = () =>
    subscriptionsNow().catch((error: unknown) =>
      log.error('subscriptions check failed', { error: String(error) }),
    );
  if (options.scheduleSweep ?? config.sweep.enabled) {
    let first = true;
    const runScheduled = () => {
      const lookbackHours = scheduledLookbackHours(clock.now(), config.sweep, first);
      first = false;
      sweeping = setupChecked.then(checkSubscriptions).then(() => sweepNow(lookbackHours));
    };
    runScheduled();
    sweepTimer = setInterval(runScheduled, config.sweep.intervalSeconds * 1000);
  } else if (publicUrl && server) {
    sweeping = setupChecked.then(checkSubscriptions);
  }

  // Retention runs after the start-up sweep settled, then on its own interval (daily by default).
  let retentionTimer: NodeJS.Timeout | undefined;
  let retaining: Promise<unknown> = Promise.resolve();
  const retentionSettings = retentionTargets(config).map((target) => target.settings);
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
    subscriptionsNow,
    retentionNow,
    async idle() {
      await sweeping;
      await Promise.all(followUps);
      await queue.idle();
    },
    async stop() {
      clearInterval(sweepTimer);
      clearInterval(retentionTimer);
      await server?.close();
      await sweeping.catch(() => {});
      await Promise.all(followUps);
      await retaining;
      await queue.stop();
    },
  };
}
