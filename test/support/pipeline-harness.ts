/**
 * The whole pipeline on the production adapters, for scenario tests: a Telphin sandbox as the platform,
 * moto for S3, SQS and Secrets Manager, and the Lambda handlers (webhook, worker, sweep, retention)
 * wired the way `createAwsRuntime` wires them. The harness plays the Lambda service: it receives SQS
 * messages, invokes the worker with them and deletes what the batch response did not report as failed.
 *
 * One moto per test file (`startPipelineHarness`), one fresh pipeline per test (`harness.pipeline()`):
 * moto is reset, and the bucket (versioned, as deployed), queues, secret and sandbox are new.
 */
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSBatchResponse,
  SQSRecord,
} from 'aws-lambda';
import { logger } from '../../functions/adapters/logger';
import { secretsManagerCredentials } from '../../functions/adapters/secrets-credentials';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { type AwsRuntime, createAwsRuntime } from '../../functions/composition/aws-runtime';
import {
  enabledSources,
  parseConfig,
  type RetentionSettings,
  type RuntimeEnvironment,
} from '../../functions/config';
import { type ArchiveJob, recordingJob, serialiseJob } from '../../functions/core/jobs';
import { recordingKey } from '../../functions/core/keys';
import type { Clock } from '../../functions/core/ports';
import type { SourceRecording, TimeWindow } from '../../functions/core/recording';
import type { RetryPolicy } from '../../functions/core/retry-policy';
import { SourceRegistry } from '../../functions/core/source-registry';
import { telphinCredentialsSchema } from '../../functions/providers/telphin/telphin-config';
import { parseTelphinRecord } from '../../functions/providers/telphin/telphin-records';
import { TelphinSource, type TelphinTuning } from '../../functions/providers/telphin/telphin-source';
import { createRetentionHandler } from '../../functions/retention';
import { createSweepHandler } from '../../functions/sweep';
import { createWebhookHandler } from '../../functions/webhook';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
  type TelphinSandboxOptions,
} from '../../sandbox/providers/telphin-sandbox';
import { serialiseTelphinRecord } from '../../sandbox/providers/telphin-sandbox-records';
import { type MotoServer, startMoto, TEST_CREDENTIALS, TEST_REGION } from './moto';
import { createQueue, deleteSucceeded, queueDepth, receiveRecords, type TestQueue } from './sqs-records';

export const SOURCE_ID = 'hq';
export const WEBHOOK_SECRET = 'faults-webhook-secret-0123456789abcdef';
export const BUCKET = 'callvault-faults';

/** Every delay of the worker's retry policy at SQS's one-second floor, so scenarios retry at once. */
export const FAST_RETRIES: Partial<RetryPolicy> = {
  transientBaseSeconds: 1,
  transientMaxSeconds: 1,
  notReadyBaseSeconds: 1,
  notReadyMaxSeconds: 1,
  rateLimitDefaultSeconds: 1,
};

export interface PipelineOptions {
  /** Where the code under test sends S3 requests (an S3 fault proxy); moto itself by default. */
  s3Endpoint?: string;
  /** The job queue's redrive maxReceiveCount, also the worker's. Default 6. */
  maxReceiveCount?: number;
  /**
   * TelphinSource tuning (e.g. a short download idle timeout). The registry `createAwsRuntime` builds
   * offers no such setting, so with tuning the runtime's sources are TelphinSource instances built here
   * directly, from the same config and the same Secrets Manager credentials.
   */
  telphinTuning?: Partial<TelphinTuning>;
  /** Global retention settings; retention is off when absent. */
  retention?: Partial<RetentionSettings>;
  download?: 'storage_url' | 'direct';
  sandbox?: TelphinSandboxOptions;
  retryPolicy?: Partial<RetryPolicy>;
  /** Part size of multipart uploads, MiB (5 is S3's minimum). Default 5. */
  partSizeMiB?: number;
  /** The retention kill switch's SSM parameter name (read on moto's SSM); none by default. */
  killSwitchParameter?: string;
  /** The runtime's clock; the system clock by default. */
  clock?: Clock;
}

export interface DrainReport {
  /** Records handed to the worker, counting redeliveries. */
  deliveries: number;
  /** Records the worker reported as failed (to be retried). */
  failures: number;
  responses: SQSBatchResponse[];
}

export interface DeadLetter {
  body: string;
  attributes: Record<string, string | undefined>;
}

type WorkerHandler = ReturnType<typeof createArchiveWorkerHandler>;

export interface PipelineHarness {
  readonly moto: MotoServer;
  pipeline(options?: PipelineOptions): Promise<Pipeline>;
  stop(): Promise<void>;
}

export async function startPipelineHarness(): Promise<PipelineHarness> {
  // The pipeline logs every retry; scenario tests provoke hundreds. FAULTS_VERBOSE=1 shows them.
  if (!process.env.FAULTS_VERBOSE) logger.setLogLevel('SILENT');
  const moto = await startMoto();
  let current: Pipeline | undefined;
  return {
    moto,
    async pipeline(options = {}) {
      await current?.close();
      current = await Pipeline.create(moto, options);
      return current;
    },
    async stop() {
      await current?.close();
      await moto.stop();
    },
  };
}

export class Pipeline {
  private readonly clients: { destroy(): void }[] = [];
  /** GetSecretValue requests made by every runtime of this pipeline so far. */
  secretReads = 0;
  /** The runtime of "the" Lambda container; `newRuntime()` builds others. */
  readonly runtime: AwsRuntime;
  readonly webhook: ReturnType<typeof createWebhookHandler>;
  readonly worker: WorkerHandler;

  private constructor(
    readonly moto: MotoServer,
    readonly sandbox: TelphinSandbox,
    readonly queue: TestQueue,
    readonly deadLetters: TestQueue,
    readonly env: RuntimeEnvironment,
    readonly options: PipelineOptions,
  ) {
    const runtime = this.newRuntime();
    this.runtime = runtime;
    this.webhook = createWebhookHandler(() => runtime);
    this.worker = this.workerFor(runtime);
  }

  static async create(moto: MotoServer, options: PipelineOptions): Promise<Pipeline> {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // Deployed buckets are versioned; versions are how an overwrite would show.
    await moto.s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const maxReceiveCount = options.maxReceiveCount ?? 6;
    const deadLetters = await createQueue(moto.sqs, 'callvault-telphin-dlq');
    const queue = await createQueue(moto.sqs, 'callvault-telphin', {
      deadLetter: deadLetters,
      maxReceiveCount,
      visibilityTimeoutSeconds: 30,
    });
    const sandbox = await startTelphinSandbox(options.sandbox);
    const secrets = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: `callvault/faults/${SOURCE_ID}`,
        SecretString: JSON.stringify({
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: WEBHOOK_SECRET,
        }),
      }),
    );
    secrets.destroy();
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
          download: options.download ?? 'storage_url',
        },
      ],
      worker: { partSizeMiB: options.partSizeMiB ?? 5, partsInFlight: 2, maxReceiveCount },
      ...(options.retention ? { retention: options.retention } : {}),
    });
    const env: RuntimeEnvironment = {
      config,
      bucket: BUCKET,
      queueUrls: { telphin: queue.url },
      deadLetterQueueUrls: { telphin: deadLetters.url },
      sourceSecrets: { [SOURCE_ID]: secret.ARN ?? '' },
      killSwitchParameter: options.killSwitchParameter,
    };
    const pipeline = new Pipeline(moto, sandbox, queue, deadLetters, env, options);
    return pipeline;
  }

  /** A runtime with its own AWS clients, as a fresh Lambda container builds it. */
  newRuntime(): AwsRuntime {
    const s3 = new S3Client({
      endpoint: this.options.s3Endpoint ?? this.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      forcePathStyle: true,
    });
    const sqs = new SQSClient({
      endpoint: this.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const secrets = new SecretsManagerClient({
      endpoint: this.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    secrets.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'GetSecretValueCommand') this.secretReads++;
        return next(args);
      },
      { step: 'initialize', name: 'countSecretReads' },
    );
    const ssm = new SSMClient({
      endpoint: this.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    this.clients.push(s3, sqs, secrets, ssm);
    const runtime = createAwsRuntime(this.env, { s3, sqs, secrets, ssm }, { clock: this.options.clock });
    const tuning = this.options.telphinTuning;
    if (!tuning) return runtime;
    const loadCredentials = secretsManagerCredentials(secrets, this.env.sourceSecrets);
    const configured = enabledSources(this.env.config);
    const configOf = (sourceId: string) => {
      const source = configured.find((candidate) => candidate.id === sourceId);
      if (!source) throw new Error(`unknown source ${sourceId}`);
      return source;
    };
    const sources = new SourceRegistry({
      sources: configured.map(({ provider, id, retentionClass }) => ({ provider, id, retentionClass })),
      loadCredentials: ({ id }) => loadCredentials(configOf(id)),
      createSource: ({ id }, { values }) => {
        const config = configOf(id);
        if (config.provider !== 'telphin')
          throw new Error(`the harness tunes Telphin sources only, not ${id}`);
        return new TelphinSource({
          config,
          credentials: telphinCredentialsSchema.parse(values),
          clock: runtime.clock,
          log: runtime.logger,
          tuning,
        });
      },
      clock: runtime.clock,
      log: runtime.logger,
    });
    return { ...runtime, sources };
  }

  /** Replaces the source secret's value, as an operator's `put-secret-value` does. */
  async putSecret(values: Record<string, string>): Promise<void> {
    const secrets = new SecretsManagerClient({
      endpoint: this.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    try {
      await secrets.send(
        new PutSecretValueCommand({
          SecretId: this.env.sourceSecrets[SOURCE_ID],
          SecretString: JSON.stringify(values),
        }),
      );
    } finally {
      secrets.destroy();
    }
  }

  /** The archive worker handler over `runtime`, with tiny retry delays. */
  workerFor(runtime: AwsRuntime): WorkerHandler {
    return createArchiveWorkerHandler(() => runtime, {
      retryPolicy: { ...FAST_RETRIES, ...this.options.retryPolicy },
    });
  }

  async close(): Promise<void> {
    await this.sandbox.close();
    for (const client of this.clients) client.destroy();
  }

  // ------------------------------------------------------------ entry points

  apiEvent(
    query: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
    sourceId = SOURCE_ID,
  ): APIGatewayProxyEventV2 {
    return {
      version: '2.0',
      routeKey: 'POST /webhooks/telphin/{sourceId}',
      rawPath: `/webhooks/telphin/${sourceId}`,
      rawQueryString: query,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      pathParameters: { sourceId },
      requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    };
  }

  post(
    query: string,
    body: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    return this.webhook(this.apiEvent(query, body, headers));
  }

  sweep(): Promise<unknown> {
    return createSweepHandler(() => this.runtime)({}, { getRemainingTimeInMillis: () => 120_000 });
  }

  /** One run of the deployed retention entry; it throws when any source's run failed. */
  retention() {
    return createRetentionHandler(() => this.runtime)({}, { getRemainingTimeInMillis: () => 120_000 });
  }

  /** What the source API lists for a window, as the adapter parses it. */
  async listed(window: TimeWindow): Promise<SourceRecording[]> {
    const source = await this.runtime.sources.get('telphin', SOURCE_ID);
    const recordings: SourceRecording[] = [];
    for await (const recording of source.listRecordings(window)) recordings.push(recording);
    return recordings;
  }

  /** Sends jobs as raw SQS messages in this order (one batch at a time, so the order is kept). */
  async send(jobs: readonly ArchiveJob[]): Promise<void> {
    for (const job of jobs) {
      await this.moto.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queue.url,
          Entries: [{ Id: '0', MessageBody: serialiseJob(job) }],
        }),
      );
    }
  }

  recordingJobFor(recording: SandboxRecording): ArchiveJob {
    return recordingJob(sourceRecordingOf(recording));
  }

  // ------------------------------------------------------------ playing the Lambda service

  receive(
    options: { maxMessages?: number; waitTimeSeconds?: number; visibilityTimeoutSeconds?: number } = {},
  ): Promise<SQSRecord[]> {
    return receiveRecords(this.moto.sqs, this.queue, options);
  }

  /** Invokes `worker` on `records` and deletes what it did not report as failed, as Lambda does. */
  async deliver(
    records: SQSRecord[],
    options: { worker?: WorkerHandler; remainingMs?: number } = {},
  ): Promise<SQSBatchResponse> {
    const worker = options.worker ?? this.worker;
    const remainingMs = options.remainingMs ?? 120_000;
    const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => remainingMs });
    await deleteSucceeded(this.moto.sqs, this.queue, records, response);
    return response;
  }

  /**
   * Runs the worker on whatever the queue delivers until the queue holds nothing at all (visible,
   * in flight or delayed). Fails after `timeoutMs` rather than hanging.
   */
  async drain(
    options: { worker?: WorkerHandler; timeoutMs?: number; batchSize?: number } = {},
  ): Promise<DrainReport> {
    const report: DrainReport = { deliveries: 0, failures: 0, responses: [] };
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      const records = await this.receive({ maxMessages: options.batchSize ?? 2, waitTimeSeconds: 1 });
      if (records.length === 0) {
        if ((await this.depth(this.queue)) === 0) return report;
        continue;
      }
      const response = await this.deliver(records, { worker: options.worker });
      report.deliveries += records.length;
      report.failures += response.batchItemFailures.length;
      report.responses.push(response);
    }
    throw new Error(
      `the job queue still held ${await this.depth(this.queue)} messages after ${options.timeoutMs ?? 60_000} ms`,
    );
  }

  /** Messages on a queue: visible, in flight and delayed. */
  depth(target: TestQueue = this.queue): Promise<number> {
    return queueDepth(this.moto.sqs, target);
  }

  /** Receives and deletes everything on the dead-letter queue. */
  async drainDeadLetters(): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    for (;;) {
      const { Messages } = await this.moto.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.deadLetters.url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
        }),
      );
      if (!Messages?.length) return letters;
      for (const message of Messages) {
        letters.push({ body: message.Body ?? '', attributes: stringAttributes(message) });
        await this.moto.sqs.send(
          new DeleteMessageCommand({ QueueUrl: this.deadLetters.url, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
  }

  // ------------------------------------------------------------ recordings

  /** A recording of a call that ended a few minutes ago (inside the sweep's lookback). */
  freshRecording(size = 300_000): SandboxRecording {
    return this.sandbox.addRecording({
      startedAt: new Date(Date.now() - 5 * 60_000),
      durationSeconds: 120,
      flow: 'in',
      size,
    });
  }

  keyOf(recording: SandboxRecording): string {
    return recordingKey(sourceRecordingOf(recording));
  }
}

/** The SourceRecording the adapter makes of a sandbox recording's list entry. */
export function sourceRecordingOf(recording: SandboxRecording): SourceRecording {
  return parseTelphinRecord(serialiseTelphinRecord(recording, 'gmt'), SOURCE_ID);
}

function stringAttributes(message: Message): Record<string, string | undefined> {
  const attributes: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
    attributes[name] = value.StringValue;
  return attributes;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
