/**
 * RingCentral end to end on the production adapters (moto): the subscriptions function creates the
 * subscription against the sandbox (its handshake answered by the webhook function behind a local HTTP
 * endpoint), a hang-up is delivered → webhook function → SQS → worker function → S3, the sweep function
 * archives the history, and every "container" (its own runtime and AWS clients) shares one RingCentral
 * session through the DynamoDB table: one login for all of them.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SHARED_STATE_TABLE } from '../../functions/adapters/dynamodb-shared-state';
import { logger } from '../../functions/adapters/logger';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { type AwsRuntime, createAwsRuntime } from '../../functions/composition/aws-runtime';
import { parseConfig, type RuntimeEnvironment } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import type { Clock } from '../../functions/core/ports';
import { createSubscriptionsHandler } from '../../functions/subscriptions';
import { createSweepHandler } from '../../functions/sweep';
import { createWebhookHandler } from '../../functions/webhook';
import {
  type RingCentralSandbox,
  type SandboxCall,
  startRingCentralSandbox,
} from '../../sandbox/providers/ringcentral-sandbox';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  createQueue,
  deleteSucceeded,
  queueDepth,
  receiveRecords,
  type TestQueue,
} from '../support/sqs-records';

const BUCKET = 'callvault-rc-e2e';
const TABLE = 'callvault-shared-state';
const SOURCE_ID = 'rc';
const WEBHOOK_SECRET = 'rc-e2e-verification-token-0123456789';

describe.skipIf(!motoAvailable())('RingCentral end to end on the production adapters', () => {
  let moto: MotoServer;
  let sandbox: RingCentralSandbox;
  /** How far ahead of the machine's clock the platform and the pinned containers run (0: not at all). */
  let aheadMs = 0;
  const aheadClock: Clock = { now: () => new Date(Date.now() + aheadMs) };
  let queue: TestQueue;
  let env: RuntimeEnvironment;
  let server: http.Server;
  const clients: { destroy(): void }[] = [];

  beforeAll(async () => {
    if (!process.env.FAULTS_VERBOSE) logger.setLogLevel('SILENT');
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** A fresh "Lambda container": its own runtime with its own clients, the same table. */
  function container(clock?: Clock): AwsRuntime {
    const options = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const s3 = new S3Client({ ...options, forcePathStyle: true });
    const sqs = new SQSClient(options);
    const secrets = new SecretsManagerClient(options);
    const dynamodb = new DynamoDBClient(options);
    clients.push(s3, sqs, secrets, dynamodb);
    return createAwsRuntime(env, { s3, sqs, secrets, dynamodb }, { clock });
  }

  beforeEach(async () => {
    await moto.reset();
    aheadMs = 0;
    sandbox = await startRingCentralSandbox({
      rateLimits: { heavy: { limit: 600, windowSeconds: 60 } },
      clock: aheadClock,
    });
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const deadLetters = await createQueue(moto.sqs, 'callvault-ringcentral-dlq');
    queue = await createQueue(moto.sqs, 'callvault-ringcentral', {
      deadLetter: deadLetters,
      maxReceiveCount: 5,
    });
    const options = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const secrets = new SecretsManagerClient(options);
    const dynamodb = new DynamoDBClient(options);
    clients.push(secrets, dynamodb);
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: `callvault/${SOURCE_ID}`,
        SecretString: JSON.stringify({
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          jwt: sandbox.jwt,
          webhookSecret: WEBHOOK_SECRET,
        }),
      }),
    );
    await dynamodb.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    await dynamodb.send(
      new UpdateTimeToLiveCommand({
        TableName: TABLE,
        TimeToLiveSpecification: { AttributeName: SHARED_STATE_TABLE.timeToLive, Enabled: true },
      }),
    );

    // The webhook function behind a local HTTP endpoint, as API Gateway puts it on the internet.
    let webhookRuntime: AwsRuntime | undefined;
    const webhook = createWebhookHandler(() => {
      webhookRuntime ??= container();
      return webhookRuntime;
    });
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        const url = new URL(request.url ?? '/', 'http://localhost');
        const event = {
          version: '2.0',
          routeKey: 'POST /webhooks/ringcentral/{sourceId}',
          rawPath: url.pathname,
          rawQueryString: url.search.slice(1),
          headers: Object.fromEntries(
            Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
          ),
          pathParameters: { sourceId: url.pathname.split('/')[3] ?? '' },
          requestContext: { http: { method: request.method ?? 'POST' } },
          body: Buffer.concat(chunks).toString('base64'),
          isBase64Encoded: true,
        } as unknown as APIGatewayProxyEventV2;
        const result = await webhook(event);
        response
          .writeHead(result.statusCode ?? 200, result.headers as Record<string, string>)
          .end(result.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

    env = {
      config: parseConfig({
        sources: [
          {
            provider: 'ringcentral',
            id: SOURCE_ID,
            serverUrl: sandbox.url,
            mediaUrl: sandbox.mediaUrl,
            rateLimits: { heavyPerMinute: 600 },
          },
        ],
      }),
      bucket: BUCKET,
      queueUrls: { ringcentral: queue.url },
      deadLetterQueueUrls: { ringcentral: deadLetters.url },
      sourceSecrets: { [SOURCE_ID]: secret.ARN ?? '' },
      sharedStateTable: TABLE,
      webhookBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    };
  });

  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await sandbox?.close();
    for (const client of clients.splice(0)) client.destroy();
  });

  /** Plays the Lambda service for the worker: receive, invoke, delete what succeeded, until empty. */
  async function drain(worker: ReturnType<typeof createArchiveWorkerHandler>): Promise<void> {
    const deadline = Date.now() + 30_000;
    while ((await queueDepth(moto.sqs, queue)) > 0) {
      if (Date.now() > deadline) throw new Error('the queue did not drain');
      const records = await receiveRecords(moto.sqs, queue, { waitTimeSeconds: 1 });
      if (records.length === 0) continue;
      const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });
      await deleteSucceeded(moto.sqs, queue, records, response);
    }
  }

  const keyOf = (call: SandboxCall) =>
    recordingKey({
      provider: 'ringcentral',
      sourceId: SOURCE_ID,
      recordingId: call.recording?.id ?? '',
      startedAt: call.startedAt,
      fileExtension: call.recording?.format ?? 'mp3',
    });

  async function storedSha256(key: string): Promise<string> {
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return createHash('sha256')
      .update(await object.Body!.transformToByteArray())
      .digest('hex');
  }

  it('subscribes, archives by webhook and by sweep, with one login shared by every container', async () => {
    // Prepare: history in the call log; three containers (subscriptions, worker, sweep).
    const history = sandbox.generateCalls({
      count: 3,
      from: new Date(Date.now() - 20 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    const subscriptions = createSubscriptionsHandler(container);
    const workerRuntime = container();
    const worker = createArchiveWorkerHandler(() => workerRuntime, {
      retryPolicy: { notReadyBaseSeconds: 1, transientBaseSeconds: 1 },
    });
    const sweepRuntime = container();
    const sweep = createSweepHandler(() => sweepRuntime);

    // Act: the deploy trigger runs the subscriptions function; a call ends; the sweep runs.
    const first = await subscriptions({}, { getRemainingTimeInMillis: () => 60_000 });
    const live = sandbox.startCall({ kind: 'inbound', durationSeconds: 40 });
    const deliveries = await sandbox.hangUp(live.telephonySessionId);
    await drain(worker);
    const webhookArchived = await storedSha256(keyOf(live));
    // The sweep's metrics (Powertools EMF lines on stdout), for the budget forecast.
    const emitted: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      emitted.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
    try {
      await sweep({}, { getRemainingTimeInMillis: () => 60_000 });
    } finally {
      process.stdout.write = write;
    }
    await drain(worker);
    const second = await subscriptions({}, { getRemainingTimeInMillis: () => 60_000 });

    // Assess
    expect(first.failed).toEqual([]);
    expect(first.reports[0]?.created).toHaveLength(1);
    expect(second.reports[0]).toMatchObject({ kept: first.reports[0]?.created, created: [] });
    expect(sandbox.subscriptions()).toMatchObject([
      {
        status: 'Active',
        deliveryMode: { address: `${env.webhookBaseUrl}/webhooks/ringcentral/${SOURCE_ID}` },
      },
    ]);
    expect(deliveries.map((delivery) => delivery.status)).toEqual([200]);
    expect(webhookArchived).toBe(sandbox.expectedSha256(live.recording?.id ?? ''));
    for (const call of history) {
      expect(await storedSha256(keyOf(call))).toBe(sandbox.expectedSha256(call.recording?.id ?? ''));
    }
    // The Heavy budget of 600 a minute, paced at one slot per 105 ms (822,857 a day) less the sweep's 288
    // pages a day, at 2 a recording (hint lookup, download; no deletes): 411,284 a day. A backlog of 3
    // does not grow.
    const budget = emitted
      .flatMap((line) => line.split('\n'))
      .filter((line) => line.includes('"BudgetBacklogGrowing"') || line.includes('"BudgetCapacityPerDay"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(budget).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: SOURCE_ID, BudgetBacklogGrowing: 0 }),
        expect.objectContaining({ source: SOURCE_ID, BudgetCapacityPerDay: 411_284 }),
      ]),
    );
    // Subscriptions (twice, two containers), webhook, worker and sweep: one session for all of them.
    expect(sandbox.counters.logins).toBe(1);
    expect(sandbox.counters.sessionsEvicted).toBe(0);
  }, 90_000);

  it('with sweep.recentLookbackHours, lists the recent hours on most runs and the whole lookback after midnight UTC', async () => {
    // Prepare: the platform and the containers run ahead to the next midnight UTC at least an hour away:
    // a call 20 h before it, one an hour before it.
    const DAY = 86_400_000;
    const midnight = Math.ceil((Date.now() + 3_600_000) / DAY) * DAY;
    const [older] = sandbox.generateCalls({
      count: 1,
      from: new Date(midnight - 20 * 3_600_000),
      to: new Date(midnight - 20 * 3_600_000 + 1),
    });
    const [recent] = sandbox.generateCalls({
      count: 1,
      from: new Date(midnight - 3_600_000),
      to: new Date(midnight - 3_600_000 + 1),
    });
    env = { ...env, config: { ...env.config, sweep: { ...env.config.sweep, recentLookbackHours: 6 } } };
    const workerRuntime = container(aheadClock);
    const worker = createArchiveWorkerHandler(() => workerRuntime);
    const sweepAt = (instant: number) => {
      aheadMs = instant - Date.now();
      const runtime = container(aheadClock);
      return createSweepHandler(() => runtime)({}, { getRemainingTimeInMillis: () => 60_000 });
    };
    const stored = (call: SandboxCall | undefined) =>
      storedSha256(keyOf(call!)).then(
        () => true,
        () => false,
      );

    // Act and assess: at 23:50 the sweep lists 6 hours; at 00:02 the first of the day lists 48.
    const lateEvening = await sweepAt(midnight - 10 * 60_000);
    await drain(worker);
    expect(lateEvening.results[0]).toMatchObject({ listed: 1, enqueued: 1 });
    expect([await stored(recent), await stored(older)]).toEqual([true, false]);

    const firstOfTheDay = await sweepAt(midnight + 2 * 60_000);
    await drain(worker);
    expect(firstOfTheDay.results[0]).toMatchObject({ listed: 2, enqueued: 1 });
    expect([await stored(recent), await stored(older)]).toEqual([true, true]);
  }, 90_000);

  it('replaces a blacklisted subscription on the next run', async () => {
    const subscriptions = createSubscriptionsHandler(container);
    const first = await subscriptions({});
    const firstId = first.reports[0]?.created[0] ?? '';
    sandbox.setSubscriptionStatus(firstId, 'Blacklisted');

    const second = await subscriptions({});

    expect(second.reports[0]).toMatchObject({ created: [expect.any(String)], deleted: [firstId] });
    expect(sandbox.subscriptions().map((listed) => listed.status)).toEqual(['Active']);
    expect(sandbox.counters.handshakes).toBe(2);
  });
});
