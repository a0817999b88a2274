/** The Lambda side: what the CDK app ships in environment variables, and reading it back. */
import * as z from 'zod';
import { ENV } from './environment';
import { ConfigError } from './errors';
import type { LifecycleConfig } from './lifecycle';
import { parseConfig } from './loading';
import type { CallvaultConfig } from './schema';

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
