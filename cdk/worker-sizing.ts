/**
 * How many workers consume each provider's queue, how big they are, and how many receives a job may
 * spend: every sizing decision of the archive workers, from the config and the providers' descriptors
 * (`worker` in functions/providers/descriptor.ts), with no construct, so it can be read and tested alone.
 */
import { Duration } from 'aws-cdk-lib';
import type { CallvaultConfig } from '../functions/config';
import type { ProviderName } from '../functions/core/recording';
import { descriptorOf } from '../functions/providers';

type SourceConfig = CallvaultConfig['sources'][number];

/** How the worker consumes one provider's queue. */
export interface WorkerEventSourceSettings {
  readonly batchSize: number;
  readonly maxConcurrency: number;
}

function sourcesOf(provider: ProviderName, sources: readonly SourceConfig[]): SourceConfig[] {
  return sources.filter((source) => source.provider === provider);
}

/**
 * The provider's batch, and its concurrency: what its descriptor derives from the configured
 * `worker.maxConcurrency` and its sources (summed budgets, where they share the queue), or the configured
 * figure as it is.
 */
export function workerEventSourceSettings(
  provider: ProviderName,
  config: CallvaultConfig,
  sources: readonly SourceConfig[],
): WorkerEventSourceSettings {
  const { worker } = descriptorOf(provider);
  const configured = config.worker.maxConcurrency;
  return {
    batchSize: worker.batchSize,
    maxConcurrency: worker.maxConcurrency?.(configured, sourcesOf(provider, sources)) ?? configured,
  };
}

/**
 * The redrive `maxReceiveCount` of one provider's queue; its workers give up at the same count. The
 * configured `worker.maxReceiveCount`, unless the provider needs a receive budget of its own (Teams: the
 * receives of a recording still processing, plus that margin for transient faults on the way).
 */
export function queueMaxReceiveCount(
  provider: ProviderName,
  config: CallvaultConfig,
  sources: readonly SourceConfig[],
): number {
  const configured = config.worker.maxReceiveCount;
  return (
    descriptorOf(provider).worker.maxReceiveCount?.(configured, sourcesOf(provider, sources)) ?? configured
  );
}

/** One archive worker function and the provider queues it consumes. */
export interface WorkerPlan {
  /** Construct id of the function; also names its alarms (`{id}Errors`, `{id}Throttles`). */
  readonly id: string;
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
  /** It records admin errors (a refusal only an admin can fix) for `npm run status` (core/admin-errors.ts). */
  readonly recordsAdminErrors: boolean;
}

/** The shared worker's construct id. */
export const ARCHIVE_WORKER_ID = 'ArchiveWorker';

/**
 * The workers the stack builds for these providers: one shared archive worker for the providers whose
 * jobs may wait behind each other (always built, even with no queue to consume), and one of their own for
 * each provider whose descriptor asks for it (a grant that expires minutes after the call, multi-GB
 * streams): a backlog elsewhere never delays them, and their concurrency and throttles are their own.
 */
export function workerPlans(config: CallvaultConfig, providers: readonly ProviderName[]): WorkerPlan[] {
  const timeout = Duration.seconds(config.worker.timeoutSeconds);
  const plan = (
    id: string,
    description: string,
    consumed: readonly ProviderName[],
    sizing: { timeoutSeconds?: number; memoryMiB?: number; partSizeMiB?: number } = {},
  ): WorkerPlan => {
    const worker = consumed.map((provider) => descriptorOf(provider));
    return {
      id,
      description,
      serviceName: `callvault-${kebab(id)}`,
      providers: consumed,
      timeout: sizing.timeoutSeconds === undefined ? timeout : Duration.seconds(sizing.timeoutSeconds),
      memoryMiB: Math.max(config.worker.memoryMiB, sizing.memoryMiB ?? 0),
      partSizeMiB:
        sizing.partSizeMiB === undefined
          ? undefined
          : Math.max(config.worker.partSizeMiB, sizing.partSizeMiB),
      grantCarryingJobs:
        worker.length > 0 && worker.every((descriptor) => descriptor.capabilities.grantCarryingJobs),
      recordsAdminErrors: worker.some((descriptor) => descriptor.worker.recordsAdminErrors === true),
    };
  };
  const ownWorker = (provider: ProviderName) => descriptorOf(provider).worker.ownWorker;
  return [
    plan(
      ARCHIVE_WORKER_ID,
      'callvault archive worker: streams recordings from the source into S3',
      providers.filter((provider) => ownWorker(provider) === undefined),
    ),
    ...providers.flatMap((provider) => {
      const own = ownWorker(provider);
      return own ? [plan(own.id, own.description, [provider], own)] : [];
    }),
  ];
}

/** The timeout of the worker consuming a provider's queue (its visibility timeout follows it). */
export function consumerTimeout(plans: readonly WorkerPlan[], provider: ProviderName): Duration {
  const plan = plans.find((candidate) => candidate.providers.includes(provider));
  if (!plan) throw new Error(`no worker consumes the ${provider} queue`);
  return plan.timeout;
}

/** `GraphWorker` → `graph-worker`. */
function kebab(id: string): string {
  return id.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
