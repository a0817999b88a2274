/**
 * The one typed configuration. The CDK app reads it at synth time, the local runner at start-up, and
 * Lambda functions receive the runtime part through environment variables named in `ENV`. Nothing else
 * reads `process.env`. A bad configuration fails with a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  hostPatternSchema,
  kmsKeyArnSchema,
  type RetentionSettings,
  retentionClassSchema,
  retentionSettingsSchema,
  sourceIdSchema,
} from './config-fields';
import type { RetentionTarget } from './core/run-retention-for-sources';
import { hostAllowed, isLoopbackHost } from './providers/host-patterns';
import { msgraphSourceSchema } from './providers/msgraph/msgraph-config';
import { msTeamsSourceSchema } from './providers/msteams/msteams-config';
import { ringCentralSourceSchema } from './providers/ringcentral/ringcentral-config';

/** Environment variables shared by `cdk/` (which sets them) and `functions/` (which reads them). */
export const ENV = {
  /** Path of the JSON config file for `npm start`, the CDK app and the scripts. */
  configPath: 'CALLVAULT_CONFIG',
  /** The runtime configuration, as JSON, inside Lambda. */
  runtimeConfig: 'CALLVAULT_RUNTIME_CONFIG',
  bucket: 'CALLVAULT_BUCKET',
  /** JSON object: provider name → SQS queue URL. */
  queueUrls: 'CALLVAULT_QUEUE_URLS',
  /** JSON object: provider name → dead-letter queue URL. */
  deadLetterQueueUrls: 'CALLVAULT_DEAD_LETTER_QUEUE_URLS',
  /** JSON object: source id → Secrets Manager secret ARN or name holding its credentials. */
  sourceSecrets: 'CALLVAULT_SOURCE_SECRETS',
  /** SSM parameter whose existence stops every retention delete (retention function only). */
  killSwitchParameter: 'CALLVAULT_KILL_SWITCH_PARAMETER',
  /** DynamoDB table of provider sessions, rate gates and subscription records (when the stack has one). */
  sharedStateTable: 'CALLVAULT_SHARED_STATE_TABLE',
  /** The webhook API's base URL (subscriptions function): subscriptions point at `{base}/webhooks/…`. */
  webhookBaseUrl: 'CALLVAULT_WEBHOOK_BASE_URL',
  /**
   * The subscriptions function's name (webhook function): Teams lifecycle events are handed to it with
   * an asynchronous invoke, so the webhook answers within Graph's 3 seconds.
   */
  subscriptionsFunction: 'CALLVAULT_SUBSCRIPTIONS_FUNCTION',
  /**
   * JSON object: provider name → its queue's redrive `maxReceiveCount` (workers). The Teams queue allows
   * far more receives than `worker.maxReceiveCount` (a recording may be processing for 48 h); the worker
   * must give up at the queue's own count, not before.
   */
  maxReceiveCounts: 'CALLVAULT_MAX_RECEIVE_COUNTS',
} as const;

export const DEFAULT_CONFIG_PATH = './callvault.config.json';

export { type RetentionSettings, retentionSettingsSchema };

/** Telphin's own domain: by default, storage links on any of its hosts are downloaded. */
export const TELPHIN_DOMAIN_PATTERN = '*.telphin.ru';

/**
 * The download hosts of a Telphin source that lists none: the host of its `apiUrl` (its token is sent
 * there already, and the direct download comes from there) and Telphin's own domain. Partner and
 * white-label installations have their own API hosts, which is why a fixed list cannot be the default.
 */
export function defaultTelphinDownloadHosts(apiUrl: string): string[] {
  return [new URL(apiUrl).host.toLowerCase(), TELPHIN_DOMAIN_PATTERN];
}

const telphinScopeSchema = z
  .object({
    /** The client id, or `@me` for the client the credentials belong to. */
    client: z.string().min(1).optional(),
    extensionGroups: z.array(z.string().regex(/^\d+$/, 'extension group ids are numeric')).min(1).optional(),
    extensions: z.array(z.string().regex(/^\d+$/, 'extension ids are numeric')).min(1).optional(),
  })
  .strict()
  .refine((scope) => [scope.client, scope.extensionGroups, scope.extensions].filter(Boolean).length === 1, {
    message: 'set exactly one of client, extensionGroups or extensions',
  });

export const telphinSourceSchema = z
  .object({
    provider: z.literal('telphin'),
    id: sourceIdSchema,
    enabled: z.boolean().default(true),
    apiUrl: z.url().default('https://apiproxy.telphin.ru'),
    /** Inline credentials are for local mode; on AWS they live in Secrets Manager. */
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    /** Shared secret expected in the webhook URL's `token` parameter. */
    webhookSecret: z.string().min(16, 'use at least 16 characters').optional(),
    /** AWS: name of an existing secret holding {clientId, clientSecret, webhookSecret}. Default: the stack creates one. */
    credentialsSecretName: z.string().min(1).optional(),
    /** AWS: the customer-managed KMS key that secret is encrypted with; the functions get kms:Decrypt on it. */
    credentialsKmsKeyArn: kmsKeyArnSchema.optional(),
    scope: telphinScopeSchema.default({ client: '@me' }),
    /**
     * Hosts recordings may be downloaded from; anything else is never fetched (no SSRF). Must allow the
     * `apiUrl` host. Default: the `apiUrl` host and `*.telphin.ru` (see defaultTelphinDownloadHosts).
     */
    allowedDownloadHosts: z.array(hostPatternSchema).min(1).optional(),
    /**
     * `storage_url` is what Telphin recommends; `direct` fetches the file from the API host. A storage
     * link on a host that is not allowed is not fetched: that recording is downloaded directly instead.
     */
    download: z.enum(['storage_url', 'direct']).default('storage_url'),
    /**
     * Keep one `hangup` event hook per extension in scope pointing at our webhook URL (with the token).
     * Off by default: hooks of an existing integration are never touched, but an operator may prefer
     * to register them by hand.
     */
    manageWebhooks: z.boolean().default(false),
    /** Tag `retention-class` of this source's objects; lifecycle rules can act per class. */
    retentionClass: retentionClassSchema,
    retention: z.union([retentionSettingsSchema.partial(), z.literal(false)]).optional(),
  })
  .strict()
  .superRefine((source, ctx) => {
    // Hosts that could never work fail here, naming the field, rather than dead-lettering every job.
    const api = new URL(source.apiUrl);
    if (api.username || api.password) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiUrl'],
        message: 'must not carry credentials; set clientId/clientSecret (or the secret) instead',
      });
    }
    if (api.protocol !== 'https:' && !(api.protocol === 'http:' && isLoopbackHost(api.hostname))) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiUrl'],
        message: `must use https (plain http only on loopback, for sandboxes), got ${api.protocol}`,
      });
    }
    if (source.manageWebhooks && !source.scope.extensions) {
      // Hooks are per extension; listing a client's or group's extensions is not implemented yet.
      ctx.addIssue({
        code: 'custom',
        path: ['manageWebhooks'],
        message: 'needs scope.extensions (the extensions whose hangup hooks callvault keeps)',
      });
    }
    if (source.allowedDownloadHosts && !hostAllowed(api, source.allowedDownloadHosts)) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedDownloadHosts'],
        message: `does not allow the apiUrl host ${api.host}, where the token goes and direct downloads (also the fallback for refused storage links) come from; add "${api.host}", or leave the field out to use the defaults`,
      });
    }
  })
  .transform((source) => ({
    ...source,
    allowedDownloadHosts: source.allowedDownloadHosts ?? defaultTelphinDownloadHosts(source.apiUrl),
  }));
export type TelphinSourceConfig = z.infer<typeof telphinSourceSchema>;

export const sourceSchema = z.discriminatedUnion('provider', [
  telphinSourceSchema,
  ringCentralSourceSchema,
  msgraphSourceSchema,
  msTeamsSourceSchema,
]);
export type SourceConfig = z.infer<typeof sourceSchema>;

/** S3 storage classes a lifecycle rule can move recordings to, in S3's waterfall order. */
export const STORAGE_CLASSES = [
  'STANDARD_IA',
  'INTELLIGENT_TIERING',
  'ONEZONE_IA',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type StorageClassName = (typeof STORAGE_CLASSES)[number];

/** Days an object must stay in a class before it may move on or expire without an early-deletion fee. */
export const MINIMUM_STORAGE_DAYS: Record<StorageClassName, number> = {
  STANDARD_IA: 30,
  INTELLIGENT_TIERING: 0,
  ONEZONE_IA: 30,
  GLACIER_IR: 90,
  GLACIER: 90,
  DEEP_ARCHIVE: 180,
};

const transitionSchema = z
  .object({ storageClass: z.enum(STORAGE_CLASSES), afterDays: z.number().int().min(0) })
  .strict();

const storagePolicySchema = z
  .object({
    /** Storage-class transitions, counted from the day a recording was archived. */
    transitions: z.array(transitionSchema).default([]),
    /** Delete archived recordings after the legal retention period; never when absent. */
    expireAfterDays: z.number().int().min(1).optional(),
  })
  .strict();
export type StoragePolicy = z.infer<typeof storagePolicySchema>;

export const lifecycleSchema = z
  .object({
    abortIncompleteMultipartUploadsAfterDays: z.number().int().min(1).default(1),
    /** Applies to recordings tagged `retention-class=standard` (the default class) and any class not listed. */
    transitions: z.array(transitionSchema).default([]),
    expireAfterDays: z.number().int().min(1).optional(),
    /** Policies per `retention-class` tag value (set per source with `retentionClass`). */
    retentionClasses: z.record(z.string().regex(/^[a-z0-9-]{1,32}$/), storagePolicySchema).default({}),
    /** Old versions (left by overwrites of sidecars or audit files) are removed after this many days. */
    noncurrentVersionExpirationDays: z.number().int().min(1).default(30),
    /**
     * How the bucket got Object Lock, required with `objectLock` (read at synth only; see README
     * "Storage lifecycle"): `new` when the stack creates the bucket with it (a first deploy), `existing`
     * once the operator has run `put-object-lock-configuration` on a bucket this stack deployed without
     * it. CloudFormation replaces a bucket whose `ObjectLockEnabled` changes, so `existing` leaves that
     * property as it was deployed.
     */
    objectLockBucket: z.enum(['new', 'existing']).optional(),
    /** S3 Object Lock for regulated users; requires versioning (always on). */
    objectLock: z
      .object({
        mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
        days: z.number().int().min(1).optional(),
        years: z.number().int().min(1).optional(),
      })
      .strict()
      .refine((lock) => (lock.days === undefined) !== (lock.years === undefined), {
        message: 'set exactly one of days or years',
      })
      .optional(),
  })
  .strict()
  .superRefine((lifecycle, ctx) => {
    // Paths are relative to this block: zod prefixes `lifecycle` when it is parsed inside the config.
    checkStoragePolicy(lifecycle, [], ctx);
    for (const [name, policy] of Object.entries(lifecycle.retentionClasses)) {
      checkStoragePolicy(policy, ['retentionClasses', name], ctx);
    }
    const lockDays =
      lifecycle.objectLock && (lifecycle.objectLock.days ?? (lifecycle.objectLock.years ?? 0) * 365);
    if (lockDays && lifecycle.expireAfterDays !== undefined && lifecycle.expireAfterDays < lockDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['expireAfterDays'],
        message: `expires recordings after ${lifecycle.expireAfterDays} days, before the Object Lock retention of ${lockDays} days ends`,
      });
    }
  });
export type LifecycleConfig = z.infer<typeof lifecycleSchema>;

/** S3's lifecycle rules: IA classes need 30 days first, classes only move down, minimum durations are kept. */
function checkStoragePolicy(policy: StoragePolicy, path: (string | number)[], ctx: z.RefinementCtx): void {
  let previous: { storageClass: StorageClassName; afterDays: number } | undefined;
  const seen = new Set<string>();
  policy.transitions.forEach((transition, index) => {
    const at = [...path, 'transitions', index];
    if (seen.has(transition.storageClass)) {
      ctx.addIssue({ code: 'custom', path: at, message: `${transition.storageClass} appears twice` });
    }
    seen.add(transition.storageClass);
    if (
      (transition.storageClass === 'STANDARD_IA' || transition.storageClass === 'ONEZONE_IA') &&
      transition.afterDays < 30
    ) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'afterDays'],
        message: `S3 moves objects to ${transition.storageClass} after 30 days at the earliest`,
      });
    }
    if (previous) {
      if (STORAGE_CLASSES.indexOf(transition.storageClass) < STORAGE_CLASSES.indexOf(previous.storageClass)) {
        ctx.addIssue({
          code: 'custom',
          path: at,
          message: `S3 cannot move objects from ${previous.storageClass} back up to ${transition.storageClass}`,
        });
      }
      const minimum = previous.afterDays + MINIMUM_STORAGE_DAYS[previous.storageClass];
      if (transition.afterDays < minimum) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'afterDays'],
          message: `must be at least ${minimum}: objects stay ${MINIMUM_STORAGE_DAYS[previous.storageClass]} days in ${previous.storageClass} (its minimum storage duration)`,
        });
      }
    }
    previous = transition;
  });
  if (previous && policy.expireAfterDays !== undefined) {
    const minimum = previous.afterDays + MINIMUM_STORAGE_DAYS[previous.storageClass];
    if (policy.expireAfterDays < minimum) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'expireAfterDays'],
        message: `must be at least ${minimum}: recordings stay ${MINIMUM_STORAGE_DAYS[previous.storageClass]} days in ${previous.storageClass} before they may expire`,
      });
    }
  }
}

const workerSchema = z
  .object({
    /** Multipart part size. Memory per upload is about partSizeMiB × (partsInFlight + 1). */
    partSizeMiB: z.number().int().min(5).max(512).default(8),
    partsInFlight: z.number().int().min(1).max(16).default(2),
    /** Local mode: jobs processed at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** AWS: the SQS event source's maximum concurrency per provider queue (2..1000). */
    maxConcurrency: z.number().int().min(2).max(1000).default(5),
    /** Receives before a job moves to the dead-letter queue. */
    maxReceiveCount: z.number().int().min(1).max(1000).default(10),
    timeoutSeconds: z.number().int().min(30).max(900).default(900),
    memoryMiB: z.number().int().min(256).max(10_240).default(512),
  })
  .strict();

const s3TargetSchema = z
  .object({
    bucket: z.string().min(3),
    region: z.string().default('us-east-1'),
    /** An S3-compatible endpoint (moto, a VPC endpoint); AWS's own when absent. */
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
  })
  .strict();

export const configSchema = z
  .object({
    sources: z.array(sourceSchema).default([]),
    local: z
      .object({
        port: z.number().int().min(0).max(65_535).default(8787),
        host: z.string().default('127.0.0.1'),
        /** Local archive root; mirrors the bucket's keys. */
        archiveDir: z.string().default('./archive'),
        /** Dead letters, cursors and other local state. */
        stateDir: z.string().default('./.callvault'),
        /**
         * The URL at which platforms reach this machine's webhook server (a tunnel or reverse proxy in
         * front of host:port). When set, local mode creates and repairs the webhook subscriptions.
         */
        publicUrl: z
          .url()
          .refine((text) => ['http:', 'https:'].includes(new URL(text).protocol), 'use an http(s) URL')
          .optional(),
      })
      .strict()
      .default({ port: 8787, host: '127.0.0.1', archiveDir: './archive', stateDir: './.callvault' }),
    /** Local mode: store in this bucket instead of archiveDir. */
    storage: z.object({ s3: s3TargetSchema.optional() }).strict().default({}),
    sweep: z
      .object({
        enabled: z.boolean().default(true),
        lookbackHours: z
          .number()
          .min(1)
          .max(24 * 62)
          .default(48),
        intervalSeconds: z.number().int().min(60).default(300),
        /**
         * A recording a sweep queued is not queued again by later sweeps for this long (README "Sweeps and
         * duplicate jobs"); then the marker expires, so a lost job is queued again. 0: every sweep queues.
         */
        pendingMarkerHours: z
          .number()
          .min(0)
          .max(24 * 14)
          .default(6),
      })
      .strict()
      .default({ enabled: true, lookbackHours: 48, intervalSeconds: 300, pendingMarkerHours: 6 }),
    worker: workerSchema.default(workerSchema.parse({})),
    retention: retentionSettingsSchema.optional(),
    lifecycle: lifecycleSchema.default(lifecycleSchema.parse({})),
    aws: z
      .object({
        stackName: z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/)
          .default('Callvault'),
        account: z
          .string()
          .regex(/^\d{12}$/)
          .optional(),
        region: z.string().optional(),
        /** Name of the archive bucket; generated when absent. */
        bucketName: z.string().optional(),
        /** Where alarms go; an SNS topic is created either way. */
        alarmEmail: z.email().optional(),
        logRetentionDays: z.number().int().min(1).default(90),
        /**
         * Reserve one concurrent execution for the retention and subscriptions functions. Off by default:
         * Lambda keeps 100 units unreserved, so an account whose concurrency quota is still the
         * new-account 10 or 50 cannot reserve any and the deploy would roll back. Runs never overlap
         * either way (a lease in the bucket, `state/leases/`); the reserve only caps them.
         */
        reserveConcurrency: z.boolean().default(false),
      })
      .strict()
      .default({ stackName: 'Callvault', logRetentionDays: 90, reserveConcurrency: false }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.sources.forEach((source, index) => {
      if (seen.has(source.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', index, 'id'],
          message: `duplicate source id "${source.id}"`,
        });
      }
      seen.add(source.id);
    });
    const publicUrl = config.local.publicUrl ? new URL(config.local.publicUrl) : undefined;
    if (publicUrl && publicUrl.protocol !== 'https:') {
      // Real platforms deliver only to https; plain http is for sandboxes on this machine.
      config.sources.forEach((source, index) => {
        const platform = subscribingPlatformUrl(source);
        if (source.enabled && platform && !isLoopbackHost(new URL(platform).hostname)) {
          ctx.addIssue({
            code: 'custom',
            path: ['local', 'publicUrl'],
            message: `must use https: sources[${index}] ("${source.id}") at ${new URL(platform).host} delivers webhooks only to https`,
          });
        }
      });
    }
  });

/** The platform URL of a source whose subscriptions callvault manages, if it manages any. */
function subscribingPlatformUrl(source: z.infer<typeof sourceSchema>): string | undefined {
  if (source.provider === 'ringcentral') return source.serverUrl;
  if (source.provider === 'telphin' && source.manageWebhooks) return source.apiUrl;
  // Graph validates both subscription URLs over https before it creates anything.
  if (source.provider === 'msteams') return source.graphUrl;
  return undefined;
}

export type CallvaultConfig = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses and validates a configuration object; errors list every offending field by path. */
export function parseConfig(value: unknown, origin = 'configuration'): CallvaultConfig {
  const parsed = configSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  - ${formatPath(issue.path)}: ${issue.message}`);
  throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`))
    .join('');
}

export function loadConfigFile(path: string): CallvaultConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(value, `config file ${path}`);
}

/** The config path for local tools: `CALLVAULT_CONFIG`, else `./callvault.config.json`. */
export function configPathFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  return env[ENV.configPath] ?? DEFAULT_CONFIG_PATH;
}

/** Retention settings for one source: global defaults, then the source's overrides; undefined = off. */
export function retentionFor(config: CallvaultConfig, source: SourceConfig): RetentionSettings | undefined {
  if (source.retention === false) return undefined;
  if (!config.retention && !source.retention) return undefined;
  return retentionSettingsSchema.parse({ ...config.retention, ...source.retention });
}

/**
 * Sources whose adapter needs credentials from a secret: every provider but the Graph calling bot, whose
 * notifications carry their own short-lived grant and are checked against Microsoft's public keys.
 */
export type CredentialedSourceConfig = Exclude<SourceConfig, { provider: 'msgraph' }>;

export function needsCredentials(source: SourceConfig): source is CredentialedSourceConfig {
  return source.provider !== 'msgraph';
}

export function enabledSources(config: CallvaultConfig): SourceConfig[] {
  return config.sources.filter((source) => source.enabled);
}

/**
 * Providers whose platform offers no listing and keeps nothing to delete (the Graph calling bot: a
 * recording exists only as the grant in one notification). Their adapters say the same through
 * `capabilities` (test/unit/core/config.test.ts holds the two together); this answers without building one.
 */
const WEBHOOK_ONLY_PROVIDERS: ReadonlySet<SourceConfig['provider']> = new Set(['msgraph']);

export function isWebhookOnly(source: Pick<SourceConfig, 'provider'>): boolean {
  return WEBHOOK_ONLY_PROVIDERS.has(source.provider);
}

/**
 * Platforms that offer no delete for their recordings (Graph: neither the bot's nor Teams' recordings):
 * retention never targets them. Matches each adapter's `capabilities.delete`.
 */
const NO_DELETE_PROVIDERS: ReadonlySet<SourceConfig['provider']> = new Set(['msgraph', 'msteams']);

export function deletesAtSource(source: Pick<SourceConfig, 'provider'>): boolean {
  return !NO_DELETE_PROVIDERS.has(source.provider);
}

/**
 * Every enabled source that has retention, with its effective settings. Sources whose platform offers no
 * delete are never targets.
 */
export function retentionTargets(config: CallvaultConfig): RetentionTarget[] {
  return enabledSources(config).flatMap((source) => {
    if (!deletesAtSource(source)) return [];
    const settings = retentionFor(config, source);
    return settings ? [{ provider: source.provider, sourceId: source.id, settings }] : [];
  });
}

/**
 * Reads one source's secret values: the config file's inline fields in local mode, its Secrets Manager
 * secret on AWS. The values are not validated here: each provider's registry entry names the fields it
 * needs. `origin` says where they came from, for error messages (never the values themselves).
 */
export type CredentialsLoader = (
  source: SourceConfig,
) => Promise<{ values: Readonly<Record<string, unknown>>; origin: string }>;

// ---------------------------------------------------------------- Lambda runtime

/** What a Lambda function needs to know, set by the CDK app as environment variables. */
export interface RuntimeEnvironment {
  config: CallvaultConfig;
  bucket: string;
  queueUrls: Partial<Record<string, string>>;
  deadLetterQueueUrls: Partial<Record<string, string>>;
  sourceSecrets: Partial<Record<string, string>>;
  /** Set for the retention function only. */
  killSwitchParameter?: string;
  /** Set where the stack has the shared-state table (providers with scarce logins or shared budgets). */
  sharedStateTable?: string;
  /** Set for the subscriptions function: the webhook API's base URL. */
  webhookBaseUrl?: string;
  /** Set for the webhook function: where Teams lifecycle events are handed on. */
  subscriptionsFunction?: string;
  /** Per provider, the receives its queue allows before SQS dead-letters a job; absent: `worker.maxReceiveCount`. */
  maxReceiveCounts?: Partial<Record<string, number>>;
}

const stringMapSchema = z.record(z.string(), z.string());

function requireVariable(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

function jsonVariable<T>(env: NodeJS.ProcessEnv, name: string, schema: z.ZodType<T>): T {
  const text = requireVariable(env, name);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ConfigError(`environment variable ${name} is not valid JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(`environment variable ${name}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export function readRuntimeEnvironment(env: NodeJS.ProcessEnv = process.env): RuntimeEnvironment {
  return {
    config: parseConfig(
      jsonVariable(env, ENV.runtimeConfig, z.unknown()),
      `environment variable ${ENV.runtimeConfig}`,
    ),
    bucket: requireVariable(env, ENV.bucket),
    queueUrls: jsonVariable(env, ENV.queueUrls, stringMapSchema),
    deadLetterQueueUrls: jsonVariable(env, ENV.deadLetterQueueUrls, stringMapSchema),
    sourceSecrets: jsonVariable(env, ENV.sourceSecrets, stringMapSchema),
    killSwitchParameter: env[ENV.killSwitchParameter] || undefined,
    sharedStateTable: env[ENV.sharedStateTable] || undefined,
    webhookBaseUrl: env[ENV.webhookBaseUrl] || undefined,
    subscriptionsFunction: env[ENV.subscriptionsFunction] || undefined,
    maxReceiveCounts: env[ENV.maxReceiveCounts]
      ? jsonVariable(env, ENV.maxReceiveCounts, z.record(z.string(), z.number().int().min(1).max(1000)))
      : {},
  };
}

/**
 * What is shipped to Lambda: the configuration without `local` and `storage` (local mode only) and
 * `lifecycle` (applied by the CDK app to the bucket, never read at run time). Lambda re-parses it, so the
 * stripped blocks come back as defaults there; leaving them out keeps the 4 KB environment for sources.
 */
export type ShippedRuntimeConfig = Omit<CallvaultConfig, 'local' | 'storage' | 'lifecycle'> & {
  lifecycle?: Pick<LifecycleConfig, 'objectLock'>;
};

/**
 * The part of the configuration that is shipped to Lambda. Inline secrets are refused: on AWS they
 * come from Secrets Manager and must never end up in a CloudFormation template.
 */
export function runtimeConfigForDeployment(config: CallvaultConfig): ShippedRuntimeConfig {
  const problems: string[] = [];
  config.sources.forEach((source, index) => {
    for (const field of ['clientId', 'clientSecret', 'jwt', 'webhookSecret'] as const) {
      if (field in source && (source as Record<string, unknown>)[field] !== undefined) {
        problems.push(
          `  - sources[${index}].${field}: inline credentials are for local mode; on AWS put them in the source's Secrets Manager secret`,
        );
      }
    }
  });
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration for deployment:\n${problems.join('\n')}`);
  const { local: _local, storage: _storage, ...runtime } = config;
  // Parsed once more (it must stay valid on its own), then stripped of the defaults parsing put back.
  const { local: _l, storage: _s, lifecycle, ...shipped } = parseConfig(runtime);
  // Object Lock is the one lifecycle setting the worker needs: it locks each recording as it writes it.
  return lifecycle.objectLock ? { ...shipped, lifecycle: { objectLock: lifecycle.objectLock } } : shipped;
}
