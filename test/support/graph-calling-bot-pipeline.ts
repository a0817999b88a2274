/**
 * The Graph calling-bot path on the production adapters: the Graph sandbox as the platform, moto for S3
 * and SQS, and the Lambda entries (webhook, worker) wired by `createAwsRuntime`. The test plays API
 * Gateway and Lambda's SQS event source. Every line the Powertools logger writes is captured, so a test
 * can prove the recording's access token appears in none of them; metrics are captured the same way.
 */

import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { type Message, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, SQSBatchResponse } from 'aws-lambda';
import { logger } from '../../functions/adapters/logger';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { type AwsRuntime, createAwsRuntime } from '../../functions/composition/aws-runtime';
import { parseConfig, type RuntimeEnvironment } from '../../functions/config';
import { METRICS_NAMESPACE } from '../../functions/observability/names';
import { createWebhookHandler } from '../../functions/webhook';
import {
  type GraphSandbox,
  graphBotSourceFields,
  startGraphSandbox,
} from '../../sandbox/providers/graph-calling-bot-sandbox';
import { type MotoServer, TEST_CREDENTIALS, TEST_REGION } from './moto';
import { createQueue, deleteSucceeded, queueDepth, receiveRecords, type TestQueue } from './sqs-records';

export const BOT_SOURCE_ID = 'teams-bot';
export const BOT_BUCKET = 'callvault-msgraph';

export interface GraphDeadLetter {
  body: string;
  attributes: Record<string, string | undefined>;
}

export class GraphPipeline {
  readonly metricsSeen: { name: string; value: number }[] = [];
  readonly logLines: string[] = [];
  private readonly clients: { destroy(): void }[] = [];
  private restoreStdout: (() => void) | undefined;

  private constructor(
    readonly moto: MotoServer,
    readonly sandbox: GraphSandbox,
    readonly queue: TestQueue,
    readonly deadLetters: TestQueue,
    readonly runtime: AwsRuntime,
    readonly webhook: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
    readonly worker: ReturnType<typeof createArchiveWorkerHandler>,
  ) {}

  static async create(moto: MotoServer, options: { maxReceiveCount?: number } = {}): Promise<GraphPipeline> {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BOT_BUCKET }));
    await moto.s3.send(
      new PutBucketVersioningCommand({ Bucket: BOT_BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const maxReceiveCount = options.maxReceiveCount ?? 4;
    const deadLetters = await createQueue(moto.sqs, 'callvault-msgraph-dlq');
    // Batch size 1 and no batching window on AWS: the worker is handed one record per invocation here too.
    const queue = await createQueue(moto.sqs, 'callvault-msgraph', {
      deadLetter: deadLetters,
      maxReceiveCount,
      visibilityTimeoutSeconds: 30,
    });
    const sandbox = await startGraphSandbox({ host: '127.0.0.1' });
    const config = parseConfig({
      sources: [graphBotSourceFields(sandbox, BOT_SOURCE_ID)],
      worker: { partSizeMiB: 5, partsInFlight: 2, maxReceiveCount },
    });
    const env: RuntimeEnvironment = {
      config,
      bucket: BOT_BUCKET,
      queueUrls: { msgraph: queue.url },
      deadLetterQueueUrls: { msgraph: deadLetters.url },
      sourceSecrets: {},
    };
    const s3 = new S3Client({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      forcePathStyle: true,
    });
    const sqs = new SQSClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const runtime = createAwsRuntime(env, { s3, sqs });
    const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'callvault' });
    const pipeline = new GraphPipeline(
      moto,
      sandbox,
      queue,
      deadLetters,
      runtime,
      createWebhookHandler(() => runtime, metrics),
      createArchiveWorkerHandler(() => runtime, {}, metrics),
    );
    metrics.addMetric = ((name: string, _unit: unknown, value: number) => {
      pipeline.metricsSeen.push({ name, value });
    }) as Metrics['addMetric'];
    pipeline.clients.push(s3, sqs);
    pipeline.captureLogs();
    return pipeline;
  }

  /** Every line written to stdout/stderr from now on (the Powertools logger's JSON lines among them). */
  private captureLogs(): void {
    logger.setLogLevel('DEBUG');
    const streams = [process.stdout, process.stderr];
    const originals = streams.map((stream) => stream.write.bind(stream));
    for (const stream of streams) {
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        this.logLines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        const callback = rest.find((value) => typeof value === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }) as typeof stream.write;
    }
    this.restoreStdout = () => {
      streams.forEach((stream, index) => {
        stream.write = originals[index] as typeof stream.write;
      });
      logger.setLogLevel('SILENT');
    };
  }

  async close(): Promise<void> {
    this.restoreStdout?.();
    await this.sandbox.close();
    for (const client of this.clients) client.destroy();
  }

  apiEvent(body: string | Buffer, headers: Record<string, string> = {}): APIGatewayProxyEventV2 {
    return {
      version: '2.0',
      routeKey: 'POST /webhooks/msgraph/{sourceId}',
      rawPath: `/webhooks/msgraph/${BOT_SOURCE_ID}`,
      rawQueryString: '',
      headers: { 'content-type': 'application/json', ...headers },
      pathParameters: { sourceId: BOT_SOURCE_ID },
      requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    };
  }

  /** Posts a notification body with `Authorization: Bearer {token}` (no header when token is undefined). */
  post(body: string | Buffer, token?: string): Promise<APIGatewayProxyStructuredResultV2> {
    return this.webhook(this.apiEvent(body, token === undefined ? {} : { authorization: `Bearer ${token}` }));
  }

  /** Runs the worker, one record per invocation (batch size 1), until the queue holds nothing. */
  async drain(timeoutMs = 60_000): Promise<SQSBatchResponse[]> {
    const responses: SQSBatchResponse[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const records = await receiveRecords(this.moto.sqs, this.queue, { maxMessages: 1, waitTimeSeconds: 1 });
      if (records.length === 0) {
        if ((await this.depth()) === 0) return responses;
        continue;
      }
      const response = await this.worker({ Records: records }, { getRemainingTimeInMillis: () => 120_000 });
      await deleteSucceeded(this.moto.sqs, this.queue, records, response);
      responses.push(response);
    }
    throw new Error(`the msgraph queue still held ${await this.depth()} messages after ${timeoutMs} ms`);
  }

  depth(target: TestQueue = this.queue): Promise<number> {
    return queueDepth(this.moto.sqs, target);
  }

  /** Message bodies and string attributes on the dead-letter queue (left in place). */
  async peekDeadLetters(): Promise<GraphDeadLetter[]> {
    const { Messages } = await this.moto.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.deadLetters.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    return (Messages ?? []).map((message: Message) => ({
      body: message.Body ?? '',
      attributes: Object.fromEntries(
        Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue]),
      ),
    }));
  }

  metric(name: string): number {
    return this.metricsSeen.filter((seen) => seen.name === name).reduce((sum, seen) => sum + seen.value, 0);
  }
}
