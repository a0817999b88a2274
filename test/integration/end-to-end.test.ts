/**
 * End to end on the production adapters: API Gateway event → webhook handler → SQS (moto) → the worker
 * handler fed the messages actually received → S3 (moto), with credentials from Secrets Manager (moto)
 * and the Telphin sandbox as the platform.
 */

import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsRuntime, createAwsRuntime } from '../../functions/adapters/aws-runtime';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { parseConfig } from '../../functions/config';
import { recordingKey } from '../../functions/core/keys';
import { parseSidecar } from '../../functions/core/sidecar';
import {
  type SandboxRecording,
  startTelphinSandbox,
  type TelphinSandbox,
  telphinHangupWebhookBody,
} from '../../functions/sandbox/telphin-sandbox';
import { createSweepHandler } from '../../functions/sweep';
import { createWebhookHandler } from '../../functions/webhook';
import { type MotoServer, motoAvailable, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import { createQueue, deleteSucceeded, receiveRecords, type TestQueue } from '../support/sqs-records';

const SOURCE_ID = 'hq';
const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789abcdef';
const BUCKET = 'callvault-e2e';
const MAX_RECEIVES = 4;

describe.skipIf(!motoAvailable())('end to end on the production adapters', () => {
  let moto: MotoServer;
  let sandbox: TelphinSandbox;
  let queue: TestQueue;
  let deadLetters: TestQueue;
  let runtime: AwsRuntime;
  let webhook: ReturnType<typeof createWebhookHandler>;
  let worker: ReturnType<typeof createArchiveWorkerHandler>;

  beforeAll(async () => {
    moto = await startMoto();
    sandbox = await startTelphinSandbox();
  });

  afterAll(async () => {
    await sandbox?.close();
    await moto?.stop();
  });

  beforeEach(async () => {
    await moto.reset();
    await moto.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    deadLetters = await createQueue(moto.sqs, 'callvault-telphin-dlq');
    queue = await createQueue(moto.sqs, 'callvault-telphin', {
      deadLetter: deadLetters,
      maxReceiveCount: MAX_RECEIVES,
    });
    const secrets = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const secret = await secrets.send(
      new CreateSecretCommand({
        Name: `callvault/test/${SOURCE_ID}`,
        SecretString: JSON.stringify({
          clientId: sandbox.clientId,
          clientSecret: sandbox.clientSecret,
          webhookSecret: WEBHOOK_SECRET,
        }),
      }),
    );
    const config = parseConfig({
      sources: [
        {
          provider: 'telphin',
          id: SOURCE_ID,
          apiUrl: sandbox.url,
          allowedDownloadHosts: [new URL(sandbox.url).hostname, new URL(sandbox.storageOrigin).hostname],
        },
      ],
      worker: { partSizeMiB: 5, partsInFlight: 2, maxReceiveCount: MAX_RECEIVES },
    });
    runtime = createAwsRuntime(
      {
        config,
        bucket: BUCKET,
        queueUrls: { telphin: queue.url },
        deadLetterQueueUrls: { telphin: deadLetters.url },
        sourceSecrets: { [SOURCE_ID]: secret.ARN ?? '' },
      },
      { s3: moto.s3, sqs: moto.sqs, secrets },
    );
    webhook = createWebhookHandler(() => runtime);
    worker = createArchiveWorkerHandler(() => runtime, {
      retryPolicy: {
        transientBaseSeconds: 1,
        transientMaxSeconds: 1,
        notReadyBaseSeconds: 1,
        notReadyMaxSeconds: 1,
      },
    });
  });

  function apiEvent(query: string, body: string, sourceId = SOURCE_ID): APIGatewayProxyEventV2 {
    return {
      version: '2.0',
      routeKey: 'POST /webhooks/telphin/{sourceId}',
      rawPath: `/webhooks/telphin/${sourceId}`,
      rawQueryString: query,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      pathParameters: { sourceId },
      requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
    };
  }

  async function post(query: string, body: string): Promise<APIGatewayProxyStructuredResultV2> {
    return webhook(apiEvent(query, body));
  }

  /** Runs the worker on whatever the queue delivers, as the Lambda service would, until it stays empty. */
  async function drain(options: { emptyPolls?: number } = {}): Promise<SQSBatchResponse[]> {
    const responses: SQSBatchResponse[] = [];
    let empty = 0;
    while (empty < (options.emptyPolls ?? 3)) {
      const records = await receiveRecords(moto.sqs, queue, { maxMessages: 2, waitTimeSeconds: 1 });
      if (records.length === 0) {
        empty += 1;
        continue;
      }
      empty = 0;
      const response = await worker({ Records: records }, { getRemainingTimeInMillis: () => 120_000 });
      await deleteSucceeded(moto.sqs, queue, records, response);
      responses.push(response);
    }
    return responses;
  }

  async function queueDepth(target: TestQueue): Promise<number> {
    const { Attributes } = await moto.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: target.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  /** Telphin reports call times in whole seconds. */
  const listedStart = (recording: SandboxRecording) =>
    new Date(Math.floor(recording.startedAt.getTime() / 1000) * 1000);

  const keyOf = (recording: SandboxRecording) =>
    recordingKey({
      provider: 'telphin',
      sourceId: SOURCE_ID,
      recordingId: recording.recordUuid,
      startedAt: listedStart(recording),
      fileExtension: 'mp3',
    });

  async function storedSha256(key: string): Promise<string> {
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return createHash('sha256')
      .update(await object.Body!.transformToByteArray())
      .digest('hex');
  }

  async function versionsOf(key: string): Promise<number> {
    const listing = await moto.s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }));
    return (listing.Versions ?? []).filter((version) => version.Key === key).length;
  }

  const freshRecording = (size = 300_000) =>
    sandbox.addRecording({
      startedAt: new Date(Date.now() - 5 * 60_000),
      durationSeconds: 120,
      flow: 'in',
      size,
    });

  it('archives a recording announced by webhook: bytes equal, sidecar right', async () => {
    const recording = freshRecording();

    const response = await post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    await drain();

    expect(response.statusCode).toBe(200);
    const key = keyOf(recording);
    expect(await storedSha256(key)).toBe(sandbox.expectedSha256(recording.recordUuid));
    const sidecar = parseSidecar(
      await (
        await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${key}.json` }))
      ).Body!.transformToString(),
    );
    expect(sidecar).toMatchObject({
      provider: 'telphin',
      sourceId: SOURCE_ID,
      recordingId: recording.recordUuid,
      callId: recording.callUuid,
      direction: 'inbound',
      size: recording.size,
      sourceReportedSize: recording.size,
      sha256: sandbox.expectedSha256(recording.recordUuid),
      contentType: 'audio/mpeg',
      objectKey: key,
      startedAt: listedStart(recording).toISOString(),
    });
    expect(sidecar.raw).toMatchObject({ record_uuid: recording.recordUuid });
  });

  it('keeps one object when the same webhook arrives three times', async () => {
    const recording = freshRecording(6 * 1024 * 1024 + 17);
    const body = telphinHangupWebhookBody(recording);

    const statuses = await Promise.all(
      [1, 2, 3].map(async () => (await post(`token=${WEBHOOK_SECRET}`, body)).statusCode),
    );
    await drain();

    expect(statuses).toEqual([200, 200, 200]);
    expect(await versionsOf(keyOf(recording))).toBe(1);
    expect(await versionsOf(`${keyOf(recording)}.json`)).toBe(1);
    expect(await storedSha256(keyOf(recording))).toBe(sandbox.expectedSha256(recording.recordUuid));
  });

  it('retries a download interrupted halfway and archives it intact, leaving no multipart upload behind', async () => {
    const recording = freshRecording(12 * 1024 * 1024 + 5);
    const fault = sandbox.injectFault(
      { kind: 'reset-mid-body' },
      { recordUuid: recording.recordUuid, routes: ['storage', 'file'] },
    );

    await post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    const responses = await drain();

    expect(fault.hits).toBe(1);
    expect(responses.some((response) => response.batchItemFailures.length > 0)).toBe(true);
    expect(await storedSha256(keyOf(recording))).toBe(sandbox.expectedSha256(recording.recordUuid));
    const uploads = await moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(uploads.Uploads ?? []).toHaveLength(0);
    expect(await queueDepth(deadLetters)).toBe(0);
  });

  it.each([
    ['a wrong token', `token=not-the-secret-at-all`, 403],
    ['no token', '', 401],
  ])('refuses %s and enqueues nothing', async (_name, query, status) => {
    const recording = freshRecording();

    const response = await post(query, telphinHangupWebhookBody(recording));

    expect(response.statusCode).toBe(status);
    expect(await queueDepth(queue)).toBe(0);
  });

  it('refuses a malformed body with 400 and enqueues nothing', async () => {
    const response = await post(`token=${WEBHOOK_SECRET}`, 'EventType=hangup&EventTime=yesterday');

    expect(response.statusCode).toBe(400);
    expect(JSON.parse(String(response.body)).message).toMatch(/EventTime/);
    expect(await queueDepth(queue)).toBe(0);
  });

  it('archives everything through the sweep alone when no webhook ever arrives', async () => {
    const recordings = sandbox.generateRecordings({
      count: 6,
      from: new Date(Date.now() - 30 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    const sweep = createSweepHandler(() => runtime);

    const result = await sweep({}, { getRemainingTimeInMillis: () => 60_000 });
    await drain();
    const again = await sweep({}, { getRemainingTimeInMillis: () => 60_000 });

    expect(result.results[0]?.enqueued).toBeGreaterThanOrEqual(recordings.length);
    for (const recording of recordings) {
      expect(await storedSha256(keyOf(recording))).toBe(sandbox.expectedSha256(recording.recordUuid));
    }
    expect(again.results[0]?.enqueued).toBe(0);
  });
});
