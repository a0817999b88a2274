/** The environment variables `cdk/` sets and `functions/` reads, and the local config path. */
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

/** The config path for local tools: `CALLVAULT_CONFIG`, else `./callvault.config.json`. */
export function configPathFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  return env[ENV.configPath] ?? DEFAULT_CONFIG_PATH;
}
