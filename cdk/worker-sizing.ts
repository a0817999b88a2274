/**
 * How many workers consume each provider's queue, how big they are, and how many receives a job may
 * spend: every sizing decision of the archive workers, from the config and the sources alone (no
 * construct), so it can be read and tested on its own.
 */
import { Duration } from 'aws-cdk-lib';
import type { CallvaultConfig } from '../functions/config';
import type { ProviderName } from '../functions/core/recording';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../functions/core/retry-policy';
import type { RingCentralSourceConfig } from '../functions/providers/ringcentral/ringcentral-config';

type SourceConfig = CallvaultConfig['sources'][number];

/**
 * Records per worker invocation. Each record is a whole recording streamed to S3 (minutes for long calls),
 * so a big batch only delays the last records towards the deadline and makes a crash redeliver more; a
 * small batch keeps per-message deadlines honest while still amortising a cold start.
 */
export const WORKER_BATCH_SIZE = 2;

/** The least `maxConcurrency` an SQS event source accepts. */
const SQS_MIN_MAX_CONCURRENCY = 2;

/**
 * Heavy-group requests one busy RingCentral worker spends a minute: each job is one call-log lookup or
 * one content download (both Heavy), and a short recording streams in seconds, so a worker that never
 * waits would spend several a minute. Five is the planning figure: the shared rate gate is what enforces
 * the budget, and workers beyond `budget / 5` would only hold their messages while they wait at it.
 */
export const RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE = 5;

/** How the worker consumes one provider's queue. */
export interface WorkerEventSourceSettings {
  readonly batchSize: number;
  readonly maxConcurrency: number;
}

/**
 * Per provider, because their budgets and deadlines differ:
 * - RingCentral: concurrency follows the Heavy budget of its sources (summed: they share the queue),
 *   `floor(heavyPerMinute / 5)`, at least SQS's minimum of 2 and at most `worker.maxConcurrency`. The
 *   default 10 a minute gives 2 workers; more only wait at the rate gate or draw 429s.
 * - Graph bot: one job per invocation and no batching window, so a job starts at once and never waits
 *   behind another recording in the same batch: its download token expires minutes after the call. It
 *   has a worker function of its own, so the other queues' backlogs cannot hold its jobs back.
 * - Telphin: the configured concurrency and the common batch.
 */
export function workerEventSourceSettings(
  provider: ProviderName,
  config: CallvaultConfig,
  sources: readonly SourceConfig[],
): WorkerEventSourceSettings {
  const configured = config.worker.maxConcurrency;
  switch (provider) {
    case 'ringcentral': {
      const heavyPerMinute = sources
        .filter(
          (source): source is Extract<typeof source, { provider: 'ringcentral' }> =>
            source.provider === 'ringcentral',
        )
        .reduce((sum, source: RingCentralSourceConfig) => sum + source.rateLimits.heavyPerMinute, 0);
      const fromBudget = Math.floor(heavyPerMinute / RINGCENTRAL_HEAVY_REQUESTS_PER_WORKER_MINUTE);
      return {
        batchSize: WORKER_BATCH_SIZE,
        maxConcurrency: Math.min(configured, Math.max(SQS_MIN_MAX_CONCURRENCY, fromBudget)),
      };
    }
    case 'msgraph':
    // One multi-GB recording per invocation: a second in the batch would start with the deadline half spent.
    case 'msteams':
      return { batchSize: 1, maxConcurrency: configured };
    case 'telphin':
      return { batchSize: WORKER_BATCH_SIZE, maxConcurrency: configured };
  }
}

/**
 * Teams worker sizing, from the bench (BENCHMARKS.md on 2 shared cores, moto: the streaming section's
 * archive path at 1 GiB, 35.4 MiB/s for the whole job and 22.0 MiB/s at its slowest size, 100 MiB; the
 * msteams section's Teams path, 2 GiB through the adapter and the sandbox, 60.1 MiB/s) and S3's limits:
 * - a 4 GiB recording is 4,096 MiB; at 35.4 MiB/s it streams in about 116 s, at 22.0 MiB/s in 186 s.
 *   Lambda's maximum of 900 s needs only 4.6 MiB/s, so a 4 GiB stream fits one invocation with about 5×
 *   to 8× margin (TLS on both legs in Lambda, absent on the bench's loopback, spends part of it);
 * - 64 MiB parts: 4 GiB is 64 parts of S3's 10,000 (objects up to 625 GiB fit), and 64 round trips
 *   instead of 512 at the default 8 MiB. The buffers are about partSizeMiB × (partsInFlight + 1) =
 *   64 × 3 = 192 MiB at the default 2 in flight, above the idle ~80 MiB the bench measures;
 * - 1,769 MiB of memory is where Lambda gives one full vCPU: hashing (the verifier's SHA-256) and two TLS
 *   streams are CPU-bound, and the bench's figures are for one busy core.
 * A config asking for more (part size or memory) keeps its figure.
 */
export const TEAMS_WORKER_TIMEOUT = Duration.seconds(900);
export const TEAMS_WORKER_MEMORY_MIB = 1769;
export const TEAMS_PART_SIZE_MIB = 64;

/**
 * Receives a Teams recording job spends while Graph still answers 404 for its content (Teams processes a
 * recording for up to `contentWaitHours`): not-ready retries double from `notReadyBaseSeconds` to an hour,
 * and the receive at which the wait is over is the one where the worker dead-letters the job itself, with
 * the reason. 48 hours: 6 receives in the first hour (delays 1, 2, 4… 32 minutes), then one an hour, and
 * the give-up: 54.
 */
export function receivesWhileNotReady(
  contentWaitHours: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number {
  const waitSeconds = contentWaitHours * 3600;
  let elapsed = 0;
  let receives = 1;
  while (elapsed < waitSeconds) {
    elapsed += Math.min(policy.notReadyBaseSeconds * 2 ** (receives - 1), policy.notReadyMaxSeconds);
    receives += 1;
  }
  return receives;
}

/**
 * The msteams queue's `maxReceiveCount`: the receives a recording may spend waiting for Teams to finish
 * processing it (the longest `contentWaitHours` of the Teams sources), plus the configured
 * `worker.maxReceiveCount` for transient faults (Graph 5xx, throttling, a timed-out stream) on the way.
 * Without that margin a few of them during the wait would have SQS dead-letter a recording that is only
 * still processing, with no reason attached; the worker's own give-up comes first and says why.
 */
export function teamsMaxReceiveCount(config: CallvaultConfig, sources: readonly SourceConfig[]): number {
  const longestWait = Math.max(
    0,
    ...sources.flatMap((source) => (source.provider === 'msteams' ? [source.contentWaitHours] : [])),
  );
  return receivesWhileNotReady(longestWait) + config.worker.maxReceiveCount;
}

/** The redrive `maxReceiveCount` of one provider's queue; its workers give up at the same count. */
export function queueMaxReceiveCount(
  provider: ProviderName,
  config: CallvaultConfig,
  sources: readonly SourceConfig[],
): number {
  return provider === 'msteams' ? teamsMaxReceiveCount(config, sources) : config.worker.maxReceiveCount;
}

/** One archive worker function and the provider queues it consumes. */
export interface WorkerPlan {
  /** Construct id of the function; also names its alarms (`{id}Errors`, `{id}Throttles`). */
  readonly id: 'ArchiveWorker' | 'GraphWorker' | 'TeamsWorker';
  readonly description: string;
  readonly serviceName: string;
  readonly providers: readonly ProviderName[];
  readonly timeout: Duration;
  readonly memoryMiB: number;
  /** Multipart part size shipped in its runtime config; absent: the config's `worker.partSizeMiB`. */
  readonly partSizeMiB?: number;
  /**
   * Its jobs carry their own download grant: it reads no secret and no shared state, and a job of another
   * provider reaching it would fail loudly, not quietly.
   */
  readonly grantCarryingJobs: boolean;
  /** It records admin errors (a metered-API refusal) for `npm run status` (core/admin-errors.ts). */
  readonly recordsAdminErrors: boolean;
}

/**
 * The workers the stack builds for these providers: one shared archive worker for the providers whose
 * jobs may wait behind each other (Telphin, RingCentral; always built, even with no queue to consume),
 * and one of their own for the Graph bot (its download token expires minutes after the call, so a
 * backlog elsewhere must never delay it) and for Teams (multi-GB streams, sized by TEAMS_WORKER_*).
 */
export function workerPlans(config: CallvaultConfig, providers: readonly ProviderName[]): WorkerPlan[] {
  const timeout = Duration.seconds(config.worker.timeoutSeconds);
  const plans: WorkerPlan[] = [
    {
      id: 'ArchiveWorker',
      description: 'callvault archive worker: streams recordings from the source into S3',
      serviceName: 'callvault-archive-worker',
      providers: providers.filter((provider) => !OWN_WORKER_PROVIDERS.has(provider)),
      timeout,
      memoryMiB: config.worker.memoryMiB,
      grantCarryingJobs: false,
      recordsAdminErrors: false,
    },
  ];
  if (providers.includes('msgraph')) {
    plans.push({
      id: 'GraphWorker',
      description:
        'callvault Graph bot worker: fetches each recording at once, before its download token expires',
      serviceName: 'callvault-graph-worker',
      providers: ['msgraph'],
      timeout,
      memoryMiB: config.worker.memoryMiB,
      grantCarryingJobs: true,
      recordsAdminErrors: false,
    });
  }
  if (providers.includes('msteams')) {
    plans.push({
      id: 'TeamsWorker',
      description: 'callvault Teams worker: streams multi-GB Teams recordings from Graph into S3',
      serviceName: 'callvault-teams-worker',
      providers: ['msteams'],
      timeout: TEAMS_WORKER_TIMEOUT,
      memoryMiB: Math.max(config.worker.memoryMiB, TEAMS_WORKER_MEMORY_MIB),
      partSizeMiB: Math.max(config.worker.partSizeMiB, TEAMS_PART_SIZE_MIB),
      grantCarryingJobs: false,
      recordsAdminErrors: true,
    });
  }
  return plans;
}

/** Providers whose jobs a worker function of their own consumes, not the shared archive worker. */
const OWN_WORKER_PROVIDERS: ReadonlySet<ProviderName> = new Set(['msgraph', 'msteams']);

/** The timeout of the worker consuming a provider's queue (its visibility timeout follows it). */
export function consumerTimeout(plans: readonly WorkerPlan[], provider: ProviderName): Duration {
  const plan = plans.find((candidate) => candidate.providers.includes(provider));
  if (!plan) throw new Error(`no worker consumes the ${provider} queue`);
  return plan.timeout;
}
