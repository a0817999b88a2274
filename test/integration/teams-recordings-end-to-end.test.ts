/**
 * Teams recordings end to end on the production adapters (moto): the subscriptions function creates one
 * subscription per recording kind against the sandbox (Graph's validation handshake answered by the
 * webhook function behind a local HTTP endpoint), a `created` notification → webhook function → SQS →
 * worker function → S3, a large recording cut mid-stream is archived intact on retry with no multipart
 * upload left open, and a `subscriptionRemoved` lifecycle event is handed by the webhook function to the
 * subscriptions function (asynchronously), which recreates the subscription and sweeps the gap.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SHARED_STATE_TABLE } from '../../functions/adapters/dynamodb-shared-state';
import { logger } from '../../functions/adapters/logger';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { type AwsRuntime, createAwsRuntime } from '../../functions/composition/aws-runtime';
import { parseConfig, type RuntimeEnvironment } from '../../functions/config';
import { MSTEAMS_SUBSCRIPTION_RESOURCES } from '../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { createSubscriptionsHandler } from '../../functions/subscriptions';
import { createWebhookHandler } from '../../functions/webhook';
import {
  startTeamsSandbox,
  type TeamsSandbox,
  type TeamsSandboxUser,
} from '../../sandbox/providers/teams-recordings-sandbox';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  createQueue,
  deleteSucceeded,
  queueDepth,
  receiveRecords,
  type TestQueue,
} from '../support/sqs-records';

const BUCKET = 'callvault-teams-e2e';
const TABLE = 'callvault-shared-state';
const SOURCE_ID = 'teams';
const WEBHOOK_SECRET = 'teams-e2e-client-state-0123456789';
const SUBSCRIPTIONS_FUNCTION = 'callvault-subscriptions';
const HOUR_MS = 3_600_000;

describe.skipIf(!motoAvailable())('Teams recordings end to end on the production adapters', () => {
  let moto: MotoServer;
  let sandbox: TeamsSandbox;
  let alice: TeamsSandboxUser;
  let queue: TestQueue;
  let env: RuntimeEnvironment;
  let server: http.Server;
  /** What the webhook function handed to Lambda's asynchronous invoke, as Lambda would queue it. */
  let invoked: { functionName: string; payload: string }[];
  const clients: { destroy(): void }[] = [];

  beforeAll(async () => {
    if (!process.env.FAULTS_VERBOSE) logger.setLogLevel('SILENT');
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  /** A fresh "Lambda container": its own runtime with its own clients, the same table. */
  function container(): AwsRuntime {
    const options = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const s3 = new S3Client({ ...options, forcePathStyle: true });
    const sqs = new SQSClient(options);
    const secrets = new SecretsManagerClient(options);
    const dynamodb = new DynamoDBClient(options);
    clients.push(s3, sqs, secrets, dynamodb);
    return createAwsRuntime(env, { s3, sqs, secrets, dynamodb });
  }

  beforeEach(async () => {
    await moto.reset();
    invoked = [];
    sandbox = await startTeamsSandbox();
    alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example' });
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const deadLetters = await createQueue(moto.sqs, 'callvault-msteams-dlq');
    queue = await createQueue(moto.sqs, 'callvault-msteams', { deadLetter: deadLetters, maxReceiveCount: 5 });
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

    // The webhook function behind a local HTTP endpoint, as API Gateway puts it on the internet.
    let webhookRuntime: AwsRuntime | undefined;
    const webhook = createWebhookHandler(
      () => {
        webhookRuntime ??= container();
        return webhookRuntime;
      },
      undefined,
      () => async (functionName, payload) => {
        invoked.push({ functionName, payload: JSON.stringify(payload) });
      },
    );
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        const url = new URL(request.url ?? '/', 'http://localhost');
        const event = {
          version: '2.0',
          routeKey: 'POST /webhooks/msteams/{sourceId}',
          rawPath: url.pathname,
          rawQueryString: url.search.slice(1),
          queryStringParameters: Object.fromEntries(url.searchParams),
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
            provider: 'msteams',
            id: SOURCE_ID,
            tenantId: sandbox.tenantId,
            loginUrl: sandbox.url,
            graphUrl: sandbox.url,
            users: [alice.id],
            allowedDownloadHosts: [new URL(sandbox.contentUrl).host],
            mediaPersistenceApproved: true,
          },
        ],
        sweep: { lookbackHours: 24 },
      }),
      bucket: BUCKET,
      queueUrls: { msteams: queue.url },
      deadLetterQueueUrls: { msteams: deadLetters.url },
      sourceSecrets: { [SOURCE_ID]: secret.ARN ?? '' },
      sharedStateTable: TABLE,
      webhookBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      subscriptionsFunction: SUBSCRIPTIONS_FUNCTION,
    };
  });

  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await sandbox?.close();
    for (const client of clients.splice(0)) client.destroy();
  });

  /** Plays the Lambda service for the worker: receive, invoke, delete what succeeded, until empty. */
  async function drain(worker: ReturnType<typeof createArchiveWorkerHandler>): Promise<void> {
    const deadline = Date.now() + 60_000;
    while ((await queueDepth(moto.sqs, queue)) > 0) {
      if (Date.now() > deadline) throw new Error('the queue did not drain');
      const records = await receiveRecords(moto.sqs, queue, { waitTimeSeconds: 1 });
      if (records.length === 0) continue;
      const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });
      await deleteSucceeded(moto.sqs, queue, records, response);
    }
  }

  /** SHA-256 of every archived MP4 in the bucket. */
  async function archivedSha256s(): Promise<string[]> {
    const listed = await moto.s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const found: string[] = [];
    for (const { Key } of listed.Contents ?? []) {
      if (!Key?.endsWith('.mp4')) continue;
      const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
      found.push(
        createHash('sha256')
          .update(await object.Body!.transformToByteArray())
          .digest('hex'),
      );
    }
    return found.sort();
  }

  it('subscribes, archives by notification, survives a cut download, and recreates after subscriptionRemoved', async () => {
    // Prepare
    const subscriptions = createSubscriptionsHandler(container);
    const workerRuntime = container();
    const worker = createArchiveWorkerHandler(() => workerRuntime, {
      retryPolicy: { notReadyBaseSeconds: 1, transientBaseSeconds: 1 },
    });

    // Act 1: the deploy trigger runs the subscriptions function; a large meeting recording is announced
    // and its first download is cut halfway.
    const first = await subscriptions({}, { getRemainingTimeInMillis: () => 60_000 });
    const large = sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - HOUR_MS),
      // Three 8 MiB parts; the cut comes after the first part is uploaded.
      size: 20 * 1024 * 1024,
    });
    const cut = sandbox.injectFault(
      { kind: 'reset-mid-body', afterBytes: 12 * 1024 * 1024 },
      { routes: 'download' },
    );
    const deliveries = await sandbox.notifyRecording(large.id);
    await drain(worker);

    // Assess 1
    expect(first.failed).toEqual([]);
    expect(first.reports[0]?.created).toHaveLength(2);
    expect(
      sandbox
        .subscriptions()
        .map((s) => s.resource)
        .sort(),
    ).toEqual(Object.values(MSTEAMS_SUBSCRIPTION_RESOURCES).sort());
    expect(deliveries.map((delivery) => delivery.status)).toEqual([202]);
    expect(cut.hits).toBe(1);
    expect(await archivedSha256s()).toEqual([sandbox.expectedSha256(large.id)]);
    const open = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(open.Uploads ?? []).toEqual([]);
    expect(invoked).toEqual([]);

    // Act 2: Graph removes the ad hoc calls subscription; a call recorded meanwhile is never announced.
    const calls = sandbox
      .subscriptions()
      .find((subscription) => subscription.resource === MSTEAMS_SUBSCRIPTION_RESOURCES.adhocCalls);
    if (!calls) throw new Error('no ad hoc calls subscription');
    const unannounced = sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 30 * 60_000),
      size: 300_000,
    });
    const removed = await sandbox.sendLifecycleEvent(calls.id, 'subscriptionRemoved');
    // Lambda delivers the queued event to the subscriptions function.
    const [handedOn] = invoked;
    const lifecycleRun = await subscriptions(JSON.parse(handedOn?.payload ?? '{}'), {
      getRemainingTimeInMillis: () => 60_000,
    });
    await drain(worker);

    // Assess 2: answered at once, handed on, recreated through a new handshake, the gap archived.
    expect(removed.status).toBe(202);
    expect(invoked).toHaveLength(1);
    expect(handedOn?.functionName).toBe(SUBSCRIPTIONS_FUNCTION);
    expect(lifecycleRun).toMatchObject({ lifecycle: { ensured: true, swept: true } });
    const after = sandbox.subscriptions();
    expect(after).toHaveLength(2);
    expect(after.map((s) => s.id)).not.toContain(calls.id);
    expect(await archivedSha256s()).toEqual(
      [sandbox.expectedSha256(large.id), sandbox.expectedSha256(unannounced.id)].sort(),
    );

    // Act 3: a notification whose resource callvault cannot read, about a new meeting recording.
    const unread = sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 10 * 60_000),
      size: 250_000,
    });
    const unreadDeliveries = await sandbox.notifyRecording(unread.id, { spelling: 'unreadable-user' });
    const sweepHandOff = invoked[1];
    const sweepRun = await subscriptions(JSON.parse(sweepHandOff?.payload ?? '{}'), {
      getRemainingTimeInMillis: () => 60_000,
    });
    await drain(worker);

    // Assess 3: answered at once, a sweep of that user handed to the subscriptions function, archived.
    expect(unreadDeliveries.map((delivery) => delivery.status)).toEqual([202]);
    expect(invoked).toHaveLength(2);
    expect(JSON.parse(sweepHandOff?.payload ?? '{}')).toEqual({
      provider: 'msteams',
      sourceId: SOURCE_ID,
      sweep: { subjects: [alice.id] },
    });
    expect(sweepRun).toMatchObject({ swept: true });
    expect(await archivedSha256s()).toEqual(
      [large.id, unannounced.id, unread.id].map((id) => sandbox.expectedSha256(id)).sort(),
    );
  }, 120_000);

  it('refuses a lifecycle hand-off that is not one, and a notification with a wrong clientState', async () => {
    const subscriptions = createSubscriptionsHandler(container);
    await expect(
      subscriptions({ sourceId: SOURCE_ID, lifecycle: [{ event: 'deleteEverything', subscriptionId: 'x' }] }),
    ).rejects.toThrow();

    const response = await fetch(`${env.webhookBaseUrl}/webhooks/msteams/${SOURCE_ID}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        value: [
          {
            subscriptionId: 'b2d8b7a4-0000-4000-8000-000000000001',
            changeType: 'created',
            clientState: 'not-our-client-state-000000',
            tenantId: sandbox.tenantId,
            resource: "communications/adhocCalls('a')/recordings('b')",
            resourceData: { id: 'b' },
          },
          {
            subscriptionId: 'b2d8b7a4-0000-4000-8000-000000000001',
            lifecycleEvent: 'missed',
            clientState: 'not-our-client-state-000000',
            tenantId: sandbox.tenantId,
          },
        ],
      }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(await queueDepth(moto.sqs, queue)).toBe(0);
    expect(invoked).toEqual([]);
  });
});
