/**
 * What callvault knows about one provider, in one place: config, core, composition, the CDK app,
 * monitoring and the scripts read this and never name a provider. A descriptor module imports its
 * provider's config schema and constants only, so the CDK app can read it cheaply; the adapter (HTTP
 * code) is loaded on first use through `loadAdapter`. README, "Adding a provider".
 */
import type * as z from 'zod';
import type { EnsureSubscriptionsForAllSourcesDependencies } from '../core/ensure-subscriptions-for-all-sources';
import type { Clock, Log, RecordingSource, WebhookOutcome } from '../core/ports';
import type { RateGateStore, TokenStore } from '../core/shared-state';
import type { SweepAllDependencies } from '../core/sweep-all-sources';

/**
 * A platform's request budget as one source spends it: what its pacing lets through a minute, what each
 * recording costs, and how the sweep's listing pages (each page one request of the same budget).
 */
export interface SourceRateBudget {
  readonly requestsPerMinute: number;
  readonly requestsPerRecording: number;
  readonly listing?: { readonly recordsPerRequest: number; readonly scopes: number };
}

export interface ProviderDependencies {
  clock: Clock;
  log: Log;
  /** The source's position in the config's `sources`, so warnings can name `sources[i].field`. */
  configIndex?: number;
  /** Sessions and rate gates every worker of a source shares: in process locally, DynamoDB on AWS. */
  sharedState: { tokens: TokenStore; gates: RateGateStore };
  /** Retention deletes recordings at this source (its settings exist and are not a dry run). */
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

/** Builds a source's adapter from its config and validated credentials. */
export type AdapterFactory<Config, Credentials> = (
  config: Config,
  credentials: Credentials,
  deps: ProviderDependencies,
) => RecordingSource;

export interface LifecycleFollowUpDependencies
  extends Omit<EnsureSubscriptionsForAllSourcesDependencies, 'only' | 'ledger'>,
    Omit<SweepAllDependencies, 'only'> {
  /**
   * Where subscriptions point (`{base}/webhooks/{provider}/{sourceId}`); without one (local mode with no
   * `publicUrl`) callvault manages no subscriptions, so only the sweep runs.
   */
  webhookBaseUrl: string | undefined;
  lookbackHours: number;
}

/**
 * Subscription lifecycle events a platform delivers to the webhook (Graph's `missed`,
 * `subscriptionRemoved`…): the webhook only answers; the work runs after it (composition/webhook-follow-up).
 */
export interface LifecycleFollowUpHook {
  /** The lifecycle events an accepted delivery carried, if any; they travel as JSON. */
  lifecycleOf(sourceId: string, outcome: WebhookOutcome): unknown[] | undefined;
  /** Reads them back from an invocation event, re-deriving each action; throws on anything else. */
  parse(sourceId: string, lifecycle: unknown): unknown[] | undefined;
  /** Acts on one source's events: subscriptions first, then a sweep of the source where asked. */
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
  /**
   * The `provider` of its sources, queues, S3 keys and webhook paths. It is stored in every archived key
   * and in every subscription's webhook URL, so it never changes once shipped; `title` and `aliases` are
   * how a newcomer tells providers apart.
   */
  readonly name: Config['provider'];
  /** What the platform is, in words (README, status, errors). */
  readonly title: string;
  /** Other names a config file may give `provider`; read as `name` (README, "Sources"). */
  readonly aliases?: readonly string[];
  /** The source entry of the config file (`sources[]`), discriminated by `provider`. */
  readonly configSchema: z.ZodType<Config>;
  /**
   * The secret values the adapter needs (missing or malformed fields are named in the error), and the
   * fields of a created secret only the operator can fill in. Absent: the provider reads no secret.
   */
  readonly credentials?: {
    readonly schema: z.ZodType<Credentials>;
    readonly operatorFields: readonly string[];
    /** What the generated `webhookSecret` is for, in the secret's description. */
    readonly webhookSecretRole: string;
  };
  readonly capabilities: {
    /** The platform can list recordings (sweep, backfill, status); false: webhook-only. */
    readonly list: boolean;
    /** The platform keeps recordings that retention may delete once archived. */
    readonly delete: boolean;
    /** Jobs carry their own short-lived download grant (`fetch-now`); the worker reads no secret. */
    readonly grantCarryingJobs: boolean;
    /** Sessions or rate gates shared across Lambda containers (the shared-state table). */
    readonly sharedState: boolean;
    /** The platform URL of a source whose webhook subscriptions callvault keeps; undefined: none. */
    subscriptionsAt(source: Config): string | undefined;
    /**
     * The longest time between two subscription checks its subscriptions survive (Graph's expire after 3
     * days); the subscriptions schedule runs at least this often. Absent: any interval will do.
     */
    readonly subscriptionsCheckWithinSeconds?: number;
  };
  readonly webhook: {
    /** The largest body read for this provider; default `MAX_WEBHOOK_BODY_BYTES` (core/receive-webhook). */
    readonly maxBodyBytes?: number;
    /** How deliveries prove they are ours, for the stack's output and the README. */
    readonly auth: 'url-token' | 'verification-token-header' | 'client-state' | 'signed-token';
  };
  readonly worker: {
    /** Jobs per invocation: 1 where one job must not wait behind another (grants, multi-GB streams). */
    readonly batchSize: number;
    /** The SQS event source's maximum concurrency; default `worker.maxConcurrency`. */
    maxConcurrency?(configured: number, sources: readonly Config[]): number;
    /** The queue's redrive count; default `worker.maxReceiveCount` (a receive budget for slow platforms). */
    maxReceiveCount?(configured: number, sources: readonly Config[]): number;
    /**
     * A worker function of its own (its own concurrency and throttles). Its timeout is the one given; a
     * config asking for more memory or bigger parts than given keeps its figure.
     */
    readonly ownWorker?: {
      /** Construct id of the function (`{id}Errors` and `{id}Throttles` alarms); it is part of the stack. */
      readonly id: string;
      /** What the function is for; becomes its description. */
      readonly description: string;
      readonly timeoutSeconds?: number;
      readonly memoryMiB?: number;
      readonly partSizeMiB?: number;
    };
    /** Its worker records admin errors (a refusal only an admin can fix) for `npm run status`. */
    readonly recordsAdminErrors?: boolean;
    /**
     * How long one job of this source may keep coming back by design (a recording still processing), and
     * the source's config key that sets it: the queue must keep the message that long, checked at synth.
     */
    jobLifetime?(source: Config): { readonly seconds: number; readonly key: string };
    /**
     * A request budget the platform enforces that limits how fast recordings can be archived (the budget
     * forecast in `npm run status`): what the source's pacing lets through, what each recording spends
     * (with `usage`: does retention delete at the source?), and how the sweep's listing pages.
     */
    rateBudget?(source: Config, usage: { readonly deletesAtSource: boolean }): SourceRateBudget;
    /**
     * Jobs carry a grant that expires: the oldest job may wait at most this long in the queue, which the
     * worker's concurrency is sized for and an alarm watches.
     */
    readonly fetchWithinSeconds?: number;
  };
  readonly metrics: {
    /** Metric names of webhook outcome counts where the default `{Provider}{Count}` does not say enough. */
    readonly webhookCounts?: Readonly<Record<string, string>>;
    /** Every count its webhook adapter reports, where not all are named in `webhookCounts` (the dashboard). */
    readonly webhookCountKeys?: readonly string[];
  };
  /** Alarms on the provider's own failure modes, built by the stack's monitoring (cdk/constructs). */
  readonly alarms?: readonly ProviderAlarm[];
  /** Work its webhook deliveries may ask for beyond their jobs. */
  readonly lifecycleFollowUp?: LifecycleFollowUpHook;
  /** The adapter, loaded on first use: its HTTP code is never bundled into a descriptor reader. */
  loadAdapter(): Promise<AdapterFactory<Config, Credentials>>;
}

/**
 * Records per worker invocation where a job may wait behind another. Each record is a whole recording
 * streamed to S3 (minutes for long calls), so a big batch only delays the last records towards the
 * deadline and makes a crash redeliver more; a small batch keeps per-message deadlines honest while still
 * amortising a cold start.
 */
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

/** One alarm on a provider's metric; every alarm notifies the stack's alarm topic. */
export interface ProviderAlarm {
  /** Construct id of the alarm; part of the deployed stack. */
  readonly id: string;
  readonly metricName: string;
  /**
   * Where the metric comes from: published by the functions (Powertools, with the `service` dimension), or
   * counted from log lines by a metric filter (`{filterId}Filter`, prefixed by the function's name where
   * it reads several log groups): every function that reads credentials, the worker consuming the
   * provider's queue, or the webhook.
   */
  readonly from:
    | { readonly published: true }
    | {
        readonly logs: 'credential-readers' | 'worker' | 'webhook';
        readonly filterId: string;
        readonly match: LogMatch;
      };
  readonly periodMinutes: number;
  /** Sum over the period at or above this raises the alarm. */
  readonly threshold: number;
  /** Strictly above the threshold instead (`> 0`: the first one). */
  readonly strictlyAbove?: boolean;
  readonly description: string;
}
