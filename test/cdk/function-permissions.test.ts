/**
 * Each function's role allows what its code really calls. moto does not enforce IAM, so the integration
 * tests cannot see a missing grant; this test derives the permissions from the code instead: it runs the
 * Lambda handlers through the production composition root on moto (Teams: the subscriptions function, its
 * lifecycle follow-up, the webhook, the Teams worker and the sweep, against the Teams sandbox), records
 * every AWS call each one makes, turns each call into the IAM action(s) and resource it needs (S3 object
 * keys with their prefixes, queues and their KMS keys, table, secrets, Lambda invokes), and checks them
 * against the synthesized role policy of that function.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, loadDeploymentConfig } from '../../cdk/app';
import type { ArchiveStack } from '../../cdk/archive-stack';
import { SHARED_STATE_TABLE } from '../../functions/adapters/dynamodb-shared-state';
import { logger } from '../../functions/adapters/logger';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { type AwsRuntime, createAwsRuntime } from '../../functions/composition/aws-runtime';
import { parseConfig, type RuntimeEnvironment } from '../../functions/config';
import { MSTEAMS_SUBSCRIPTION_RESOURCES } from '../../functions/providers/teams-recordings/teams-recordings-subscriptions';
import { createSubscriptionsHandler } from '../../functions/subscriptions';
import { createSweepHandler } from '../../functions/sweep';
import { createWebhookHandler } from '../../functions/webhook';
import { startTeamsSandbox, type TeamsSandbox } from '../../sandbox/providers/teams-recordings-sandbox';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  createQueue,
  deleteSucceeded,
  queueDepth,
  receiveRecords,
  type TestQueue,
} from '../support/sqs-records';
import { allowStatements, cdkJsonContext, policyOfRole } from './support';

const ALL_PROVIDERS_EXAMPLE = fileURLToPath(
  new URL('../../examples/callvault.config.aws-all-providers.json', import.meta.url),
);
const BUCKET = 'callvault-permissions';
const TABLE = 'callvault-permissions-state';
const SUBSCRIPTIONS_FUNCTION = 'callvault-subscriptions';
const HOUR_MS = 3_600_000;

type FunctionName = 'Subscriptions' | 'Webhook' | 'TeamsWorker' | 'Sweep';

/** One AWS call a handler made, as the SDK middleware saw it. */
interface Call {
  fn: FunctionName;
  command: string;
  input: Record<string, unknown>;
}

/** One permission a call needs: an IAM action on a resource, written as `resourceText` flattens ARNs. */
interface Need {
  action: string;
  resource: string;
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

/** The stack's resources as policy statements name them, found from the names the test gave moto. */
interface Names {
  bucketArn: string;
  /** Queue URL (moto) → queue ARN and its KMS key ARN (template). */
  queues: Map<string, { queue: string; key: string }>;
  table: { table: string; key: string };
  /** Secret ARN (moto) → the secret as policies name it (template). */
  secrets: Map<string, string>;
  /** Function name (environment) → function ARN (template). */
  functions: Map<string, string>;
}

/**
 * What IAM asks for each SDK command the adapters send (Service Authorization Reference: Amazon S3,
 * Amazon SQS, DynamoDB, Secrets Manager, Lambda). SSE-KMS queues also need the queue key's
 * GenerateDataKey and Decrypt to send; the table's key is used through DynamoDB (kms:ViaService).
 */
function needsOf(call: Call, names: Names): Need[] {
  const input = call.input;
  const object = () => {
    if (input.Bucket !== BUCKET) throw new Error(`unknown bucket ${String(input.Bucket)}`);
    return `${names.bucketArn}/${String(input.Key)}`;
  };
  const queue = () => {
    const found = names.queues.get(String(input.QueueUrl));
    if (!found) throw new Error(`unknown queue ${String(input.QueueUrl)}`);
    return found;
  };
  const writeExtras = (): Need[] => [
    ...(input.Tagging ? [{ action: 's3:PutObjectTagging', resource: object() }] : []),
    ...(input.ObjectLockRetainUntilDate ? [{ action: 's3:PutObjectRetention', resource: object() }] : []),
  ];
  const table = (action: string): Need[] => [
    { action, resource: names.table.table },
    ...(action === 'dynamodb:GetItem' ? ['kms:Decrypt'] : ['kms:Decrypt', 'kms:GenerateDataKey']).map(
      (kms) => ({ action: kms, resource: names.table.key }),
    ),
  ];
  switch (call.command) {
    case 'PutObjectCommand':
    case 'CreateMultipartUploadCommand':
      return [{ action: 's3:PutObject', resource: object() }, ...writeExtras()];
    case 'UploadPartCommand':
    case 'CompleteMultipartUploadCommand':
      return [{ action: 's3:PutObject', resource: object() }];
    case 'AbortMultipartUploadCommand':
      return [{ action: 's3:AbortMultipartUpload', resource: object() }];
    case 'ListPartsCommand':
      return [{ action: 's3:ListMultipartUploadParts', resource: object() }];
    case 'GetObjectCommand':
    case 'HeadObjectCommand':
      return [{ action: 's3:GetObject', resource: object() }];
    case 'GetObjectTaggingCommand':
      return [{ action: 's3:GetObjectTagging', resource: object() }];
    case 'PutObjectTaggingCommand':
      return [{ action: 's3:PutObjectTagging', resource: object() }];
    case 'GetObjectLegalHoldCommand':
      return [{ action: 's3:GetObjectLegalHold', resource: object() }];
    case 'ListObjectsV2Command':
      return [{ action: 's3:ListBucket', resource: names.bucketArn }];
    case 'SendMessageCommand':
    case 'SendMessageBatchCommand': {
      const { queue: arn, key } = queue();
      return [
        { action: 'sqs:SendMessage', resource: arn },
        { action: 'kms:GenerateDataKey', resource: key },
        { action: 'kms:Decrypt', resource: key },
      ];
    }
    case 'ChangeMessageVisibilityCommand':
      return [{ action: 'sqs:ChangeMessageVisibility', resource: queue().queue }];
    case 'GetItemCommand':
      return table('dynamodb:GetItem');
    case 'PutItemCommand':
      return table('dynamodb:PutItem');
    case 'UpdateItemCommand':
      return table('dynamodb:UpdateItem');
    case 'DeleteItemCommand':
      return table('dynamodb:DeleteItem');
    case 'GetSecretValueCommand': {
      const secret = names.secrets.get(String(input.SecretId));
      if (!secret) throw new Error(`unknown secret ${String(input.SecretId)}`);
      return [{ action: 'secretsmanager:GetSecretValue', resource: secret }];
    }
    case 'InvokeCommand': {
      const fn = names.functions.get(String(input.FunctionName));
      if (!fn) throw new Error(`unknown function ${String(input.FunctionName)}`);
      return [{ action: 'lambda:InvokeFunction', resource: fn }];
    }
    default:
      throw new Error(`no IAM mapping for ${call.command}: add one`);
  }
}

/** IAM's wildcards: `*` any run of characters, `?` one. */
function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

/** Whether some Allow statement of the role's policy grants the action on the resource. */
function allowed(policy: Json, need: Need): boolean {
  return allowStatements(policy).some(
    (statement) =>
      statement.actions.some((action) => globMatches(action, need.action)) &&
      statement.resources.some((resource) => globMatches(resource, need.resource)),
  );
}

/** Records every command a client sends, for the function whose container it belongs to. */
function traced<C extends S3Client | SQSClient | SecretsManagerClient | DynamoDBClient>(
  client: C,
  fn: FunctionName,
  calls: Call[],
): C {
  (client.middlewareStack as S3Client['middlewareStack']).add(
    (next, context) => async (args) => {
      calls.push({ fn, command: context.commandName ?? '?', input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'iamTrace' },
  );
  return client;
}

describe.skipIf(!motoAvailable())('what each function calls, against what its role allows', () => {
  let moto: MotoServer;
  let sandbox: TeamsSandbox;
  let server: http.Server;
  let stack: ArchiveStack;
  let template: Template;
  const calls: Call[] = [];
  const clients: { destroy(): void }[] = [];

  beforeAll(async () => {
    if (!process.env.FAULTS_VERBOSE) logger.setLogLevel('SILENT');
    const config = loadDeploymentConfig(ALL_PROVIDERS_EXAMPLE).config;
    ({ stack } = buildApp(config, {
      appProps: cdkJsonContext({ 'aws:cdk:bundling-stacks': [] }),
      nag: false,
    }));
    template = Template.fromStack(stack);
    moto = await startMoto();
    sandbox = await startTeamsSandbox();
  }, 180_000);
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await sandbox?.close();
    for (const client of clients.splice(0)) client.destroy();
    await moto?.stop();
  });

  it('Teams: subscriptions (scheduled and lifecycle follow-up), webhook, Teams worker and sweep', async () => {
    // Prepare: the resources the stack would create, on moto.
    const teamsSource = 'teams-recordings';
    const alice = sandbox.addUser({ userPrincipalName: 'alice@contoso.example' });
    const options = { endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
    const admin = {
      secrets: new SecretsManagerClient(options),
      dynamodb: new DynamoDBClient(options),
    };
    clients.push(admin.secrets, admin.dynamodb);
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const deadLetters = await createQueue(moto.sqs, 'callvault-msteams-dlq');
    const queue: TestQueue = await createQueue(moto.sqs, 'callvault-msteams', {
      deadLetter: deadLetters,
      maxReceiveCount: 5,
    });
    const secret = await admin.secrets.send(
      new CreateSecretCommand({
        Name: `callvault/${teamsSource}`,
        SecretString: JSON.stringify({
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: 'permissions-client-state-0123456789',
        }),
      }),
    );
    await admin.dynamodb.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: SHARED_STATE_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );

    const container = (fn: FunctionName): AwsRuntime => {
      const s3 = traced(new S3Client({ ...options, forcePathStyle: true }), fn, calls);
      const sqs = traced(new SQSClient(options), fn, calls);
      const secrets = traced(new SecretsManagerClient(options), fn, calls);
      const dynamodb = traced(new DynamoDBClient(options), fn, calls);
      clients.push(s3, sqs, secrets, dynamodb);
      return createAwsRuntime(env, { s3, sqs, secrets, dynamodb });
    };
    const invoked: string[] = [];
    let webhookRuntime: AwsRuntime | undefined;
    const webhook = createWebhookHandler(
      () => {
        webhookRuntime ??= container('Webhook');
        return webhookRuntime;
      },
      undefined,
      // The Lambda invoke, recorded as the adapter (functions/adapters/lambda-invoke.ts) would send it.
      () => async (functionName, payload) => {
        calls.push({ fn: 'Webhook', command: 'InvokeCommand', input: { FunctionName: functionName } });
        invoked.push(JSON.stringify(payload));
      },
    );
    server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        const url = new URL(request.url ?? '/', 'http://localhost');
        const result = await webhook({
          version: '2.0',
          routeKey: 'POST /webhooks/msteams/{sourceId}',
          rawPath: url.pathname,
          rawQueryString: url.search.slice(1),
          queryStringParameters: Object.fromEntries(url.searchParams),
          headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])),
          pathParameters: { sourceId: url.pathname.split('/')[3] ?? '' },
          requestContext: { http: { method: request.method ?? 'POST' } },
          body: Buffer.concat(chunks).toString('base64'),
          isBase64Encoded: true,
        } as unknown as APIGatewayProxyEventV2);
        response
          .writeHead(result.statusCode ?? 200, result.headers as Record<string, string>)
          .end(result.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const env: RuntimeEnvironment = {
      config: parseConfig({
        sources: [
          {
            provider: 'msteams',
            id: teamsSource,
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
      sourceSecrets: { [teamsSource]: secret.ARN ?? '' },
      sharedStateTable: TABLE,
      webhookBaseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      subscriptionsFunction: SUBSCRIPTIONS_FUNCTION,
    };
    const subscriptions = createSubscriptionsHandler(() => container('Subscriptions'));
    const workerRuntime = container('TeamsWorker');
    const worker = createArchiveWorkerHandler(() => workerRuntime, {
      retryPolicy: { notReadyBaseSeconds: 1, transientBaseSeconds: 1 },
    });
    const drain = async () => {
      const deadline = Date.now() + 60_000;
      while ((await queueDepth(moto.sqs, queue)) > 0) {
        if (Date.now() > deadline) throw new Error('the queue did not drain');
        const records = await receiveRecords(moto.sqs, queue, { waitTimeSeconds: 1 });
        if (records.length === 0) continue;
        const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 60_000 });
        await deleteSucceeded(moto.sqs, queue, records, response);
      }
    };
    const lambda = { getRemainingTimeInMillis: () => 60_000 };

    // Act: what a deployed Teams source goes through.
    const scheduled = await subscriptions({}, lambda);
    const announced = sandbox.addRecording({
      kind: 'onlineMeetings',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - HOUR_MS),
      size: 300_000,
    });
    await sandbox.notifyRecording(announced.id);
    await drain();
    const calls_ = sandbox
      .subscriptions()
      .find((subscription) => subscription.resource === MSTEAMS_SUBSCRIPTION_RESOURCES.adhocCalls);
    if (!calls_) throw new Error('no ad hoc calls subscription');
    sandbox.addRecording({
      kind: 'adhocCalls',
      organizerId: alice.id,
      createdAt: new Date(Date.now() - 30 * 60_000),
      size: 200_000,
    });
    await sandbox.sendLifecycleEvent(calls_.id, 'missed');
    const followUp = await subscriptions(JSON.parse(invoked[0] ?? '{}'), lambda);
    await drain();
    await createSweepHandler(() => container('Sweep'))({}, lambda);

    // Assess: the scenario did what it should, so the trace is the real one.
    expect(scheduled.failed).toEqual([]);
    expect(followUp).toMatchObject({ lifecycle: { swept: true } });
    const byFunction = (fn: FunctionName) => calls.filter((call) => call.fn === fn).map((c) => c.command);
    expect(byFunction('Subscriptions')).toEqual(
      expect.arrayContaining(['PutObjectCommand', 'SendMessageBatchCommand', 'PutItemCommand']),
    );
    expect(byFunction('Webhook')).toEqual(expect.arrayContaining(['InvokeCommand']));
    expect(byFunction('TeamsWorker')).toEqual(expect.arrayContaining(['PutObjectCommand']));
    expect(byFunction('Sweep')).toEqual(expect.arrayContaining(['PutObjectCommand']));

    // Assess: every call's permissions are in its function's role.
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const teamsQueue = stack.queues.get('msteams');
    const teamsSecret = stack.secrets.secrets.get(teamsSource);
    const teamsWorker = stack.workerOf('msteams');
    if (!teamsQueue || !teamsSecret || !stack.sharedState || !stack.subscriptions || !teamsWorker)
      throw new Error('expected the Teams resources in the stack');
    const names: Names = {
      bucketArn: `<${id(stack.recordings.bucket)}.Arn>`,
      queues: new Map([
        [queue.url, { queue: `<${id(teamsQueue.queue)}.Arn>`, key: `<${id(teamsQueue.key)}.Arn>` }],
        [
          deadLetters.url,
          { queue: `<${id(teamsQueue.deadLetterQueue)}.Arn>`, key: `<${id(teamsQueue.key)}.Arn>` },
        ],
      ]),
      table: { table: `<${id(stack.sharedState.table)}.Arn>`, key: `<${id(stack.sharedState.key)}.Arn>` },
      secrets: new Map([[secret.ARN ?? '', `<${id(teamsSecret)}>`]]),
      functions: new Map([[SUBSCRIPTIONS_FUNCTION, `<${id(stack.subscriptions.handler)}.Arn>`]]),
    };
    const roles: Record<FunctionName, string> = {
      Subscriptions: id(stack.subscriptions.handler.role as never),
      Webhook: id(stack.webhook.role as never),
      TeamsWorker: id(teamsWorker.role as never),
      Sweep: id(stack.sweep.role as never),
    };
    const missing = new Set<string>();
    for (const call of calls) {
      const policy = policyOfRole(template, roles[call.fn]);
      for (const need of needsOf(call, names)) {
        if (!allowed(policy, need)) missing.add(`${call.fn}: ${need.action} on ${need.resource}`);
      }
    }
    expect([...missing].sort()).toEqual([]);
  }, 240_000);
});
