/**
 * The part of the AWS composition root every Lambda function shares: the logger, the clock, the SQS job
 * queues, and the source registry (credentials from Secrets Manager, sessions and rate gates in the
 * shared-state table where the stack has one). It is also the webhook's whole runtime.
 *
 * Each function's runtime (this one, aws-worker-runtime.ts, aws-runtime.ts) imports only the SDK clients
 * it builds: esbuild bundles every client a module imports, and each one adds to the bundle Lambda parses
 * and runs on a cold start (BENCHMARKS.md "Lambda cost factors").
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbSharedState } from '../adapters/dynamodb-shared-state';
import { powertoolsLog } from '../adapters/logger';
import { secretsManagerCredentials } from '../adapters/secrets-credentials';
import { SqsJobQueue } from '../adapters/sqs-job-queue';
import { type RuntimeEnvironment, readRuntimeEnvironment } from '../config';
import { type Clock, type Log, systemClock } from '../core/ports';
import type { SourceRegistry } from '../core/source-registry';
import { buildSourceRegistry } from './sources';

export interface AwsSourcesRuntime {
  env: RuntimeEnvironment;
  logger: Log;
  clock: Clock;
  sqs: SQSClient;
  queue: SqsJobQueue;
  sources: SourceRegistry;
  /** The shared-state table's adapter; absent where the stack has none. */
  sharedState?: DynamoDbSharedState;
}

/** The clients a runtime builds when a test (or the bench) does not pass its own. */
export interface AwsSourcesClients {
  sqs?: SQSClient;
  secrets?: SecretsManagerClient;
  dynamodb?: DynamoDBClient;
}

/** What the webhook function uses: it authenticates, parses and enqueues, and touches no bucket. */
export type WebhookRuntime = AwsSourcesRuntime;

let webhook: WebhookRuntime | undefined;

/** The webhook's runtime, built once per container. */
export function webhookRuntime(): WebhookRuntime {
  webhook ??= createAwsSourcesRuntime(readRuntimeEnvironment());
  return webhook;
}

export function createAwsSourcesRuntime(
  env: RuntimeEnvironment,
  clients: AwsSourcesClients = {},
  options: { clock?: Clock } = {},
): AwsSourcesRuntime {
  const clock = options.clock ?? systemClock;
  const sqs = clients.sqs ?? new SQSClient({});
  const secrets = clients.secrets ?? new SecretsManagerClient({});
  const logger = powertoolsLog();
  const sharedState = env.sharedStateTable
    ? new DynamoDbSharedState({
        client: clients.dynamodb ?? new DynamoDBClient({}),
        tableName: env.sharedStateTable,
      })
    : undefined;
  return {
    env,
    logger,
    clock,
    sqs,
    queue: new SqsJobQueue({ client: sqs, queueUrls: env.queueUrls, log: logger }),
    sources: buildSourceRegistry(env.config, secretsManagerCredentials(secrets, env.sourceSecrets), {
      clock,
      log: logger,
      sharedState: sharedState && { tokens: sharedState, gates: sharedState },
    }),
    sharedState,
  };
}
