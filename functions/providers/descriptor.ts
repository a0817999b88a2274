/** All callvault knows of a provider; it imports config and constants only (README, "Adding a provider"). */
import type * as z from 'zod';
import type { EnsureSubscriptionsForAllSourcesDependencies } from '../core/ensure-subscriptions-for-all-sources';
import type { Clock, Log, RecordingSource, WebhookOutcome } from '../core/ports';
import type { RateGateStore, TokenStore } from '../core/shared-state';
import type { SweepAllDependencies } from '../core/sweep-all-sources';

/** A platform's request budget as one source spends it; each listing page is one request of it too. */
export interface SourceRateBudget {
  readonly requestsPerMinute: number;
  readonly requestsPerRecording: number;
  readonly listing?: { readonly recordsPerRequest: number; readonly scopes: number };
}

export interface ProviderDependencies {
  clock: Clock;
  log: Log;
  /** Index in the config's `sources`, so warnings can name `sources[i].field`. */
  configIndex?: number;
  /** Shared by every worker of a source: in process locally, DynamoDB on AWS. */
  sharedState: { tokens: TokenStore; gates: RateGateStore };
  /** Retention deletes at this source (configured, not a dry run). */
  deletesAtSource?: boolean;
}

/** The fields every source schema has (`sourceIdSchema`, `retentionClassSchema` in config-fields). */
export interface SourceConfigBase {
  provider: string;
  id: string;
  enabled: boolean;
  retentionClass: string;
  retention?: object | false;
}

export interface LifecycleFollowUpDependencies
  extends Omit<EnsureSubscriptionsForAllSourcesDependencies, 'only' | 'ledger'>,
    Omit<SweepAllDependencies, 'only'> {
  /** `{base}/webhooks/{provider}/{sourceId}`; undefined (local, no `publicUrl`): only the sweep runs. */
  webhookBaseUrl: string | undefined;
  lookbackHours: number;
}

/** Subscription lifecycle events (Graph's `missed`…): the webhook answers, webhook-follow-up acts. */
export interface LifecycleFollowUpHook {
  /** The lifecycle events an accepted delivery carried, as JSON. */
  lifecycleOf(sourceId: string, outcome: WebhookOutcome): unknown[] | undefined;
  /** Reads them back from an invocation event; throws on anything else. */
  parse(sourceId: string, lifecycle: unknown): unknown[] | undefined;
  /** Subscriptions first, then a sweep where asked. */
  run(
    followUp: { sourceId: string; lifecycle: unknown[] },
    deps: LifecycleFollowUpDependencies,
    signal?: AbortSignal,
  ): Promise<{ swept: boolean }>;
}

export interface ProviderDescriptor<
  Config extends SourceConfigBase = SourceConfigBase,
  Credentials = unknown,
> {
  /** In every archived key and subscription's webhook URL, so it never changes once shipped. */
  readonly name: Config['provider'];
  readonly title: string;
  /** Other names a config file may give `provider`; read as `name` (README, "Sources"). */
  readonly aliases?: readonly string[];
  readonly configSchema: z.ZodType<Config>;
  /** The secret's values, and the fields only the operator can fill in. Absent: no secret is read. */
  readonly credentials?: {
    readonly schema: z.ZodType<Credentials>;
    readonly operatorFields: readonly string[];
    /** What the generated `webhookSecret` is for (the secret's description). */
    readonly webhookSecretRole: string;
  };
  readonly capabilities: {
    /** False: webhook-only (no sweep, backfill or status listing). */
    readonly list: boolean;
    /** Retention may delete archived recordings at the platform. */
    readonly delete: boolean;
    /** Jobs carry their own short-lived download grant (`fetch-now`); the worker reads no secret. */
    readonly grantCarryingJobs: boolean;
    /** Needs the shared-state table (sessions or rate gates across containers). */
    readonly sharedState: boolean;
    /** The platform URL whose webhook subscriptions callvault keeps; undefined: none. */
    subscriptionsAt(source: Config): string | undefined;
    /** Subscription checks run at least this often (Graph's expire after 3 days); absent: any interval. */
    readonly subscriptionsCheckWithinSeconds?: number;
  };
  readonly webhook: {
    /** The largest body read for this provider; default `MAX_WEBHOOK_BODY_BYTES` (core/receive-webhook). */
    readonly maxBodyBytes?: number;
    readonly auth: 'url-token' | 'verification-token-header' | 'client-state' | 'signed-token';
  };
  readonly worker: {
    /** 1 where one job must not wait behind another (grants, multi-GB streams). */
    readonly batchSize: number;
    /** The SQS event source's maximum concurrency; default `worker.maxConcurrency`. */
    maxConcurrency?(configured: number, sources: readonly Config[]): number;
    /** The queue's redrive count; default `worker.maxReceiveCount`. */
    maxReceiveCount?(configured: number, sources: readonly Config[]): number;
    /** A worker function of its own; a config asking for more memory or bigger parts keeps its figure. */
    readonly ownWorker?: {
      /** Construct id (and of its `{id}Errors`, `{id}Throttles` alarms): part of the stack. */
      readonly id: string;
      readonly description: string;
      readonly timeoutSeconds?: number;
      readonly memoryMiB?: number;
      readonly partSizeMiB?: number;
    };
    /** Its worker records admin errors (a refusal only an admin can fix) for `npm run status`. */
    readonly recordsAdminErrors?: boolean;
    /** How long a job may come back by design, and its config key: the queue must keep it that long. */
    jobLifetime?(source: Config): { readonly seconds: number; readonly key: string };
    /** The platform's request budget, for the forecast in `npm run status`. */
    rateBudget?(source: Config, usage: { readonly deletesAtSource: boolean }): SourceRateBudget;
    /** Jobs carry an expiring grant: the longest queue wait, sized for and alarmed on. */
    readonly fetchWithinSeconds?: number;
  };
  readonly metrics: {
    /** Webhook count metric names where the default `{Provider}{Count}` does not say enough. */
    readonly webhookCounts?: Readonly<Record<string, string>>;
    /** Every webhook count, where `webhookCounts` does not name all (the dashboard). */
    readonly webhookCountKeys?: readonly string[];
  };
  /** Alarms on the provider's own failure modes (cdk/constructs/monitoring). */
  readonly alarms?: readonly ProviderAlarm[];
  readonly lifecycleFollowUp?: LifecycleFollowUpHook;
  /** Loaded on first use: its HTTP code is never bundled into a descriptor reader. */
  loadAdapter(): Promise<
    (config: Config, credentials: Credentials, deps: ProviderDependencies) => RecordingSource
  >;
}

/** Records per run where jobs may wait: each streams a whole recording, so big batches near the deadline. */
export const WORKER_BATCH_SIZE = 2;

/** Keeps each descriptor's own config type while listing them together. */
export function defineProvider<Config extends SourceConfigBase, Credentials>(
  descriptor: ProviderDescriptor<Config, Credentials>,
): ProviderDescriptor<Config, Credentials> {
  return descriptor;
}

/** A log-line match: a CloudWatch Logs JSON filter pattern, as plain data (no CDK in functions/). */
export type LogMatch =
  | { readonly field: string; readonly equals: string }
  | { readonly all: readonly LogMatch[] }
  | { readonly any: readonly LogMatch[] };

/** One alarm on a provider's metric; it notifies the stack's alarm topic. */
export interface ProviderAlarm {
  /** Construct id: part of the deployed stack. */
  readonly id: string;
  readonly metricName: string;
  /** Published by the functions (Powertools, `service` dimension), or counted by a `{filterId}Filter`. */
  readonly from:
    | { readonly published: true }
    | {
        readonly logs: 'credential-readers' | 'worker' | 'webhook';
        readonly filterId: string;
        readonly match: LogMatch;
      };
  readonly periodMinutes: number;
  /** Sum over the period at or above this raises the alarm (`strictlyAbove`: above it). */
  readonly threshold: number;
  readonly strictlyAbove?: boolean;
  readonly description: string;
}
