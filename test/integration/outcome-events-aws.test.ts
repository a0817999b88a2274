/**
 * Outcome events on AWS, on moto: the deployed worker handler archives recordings (Telphin sandbox, moto
 * S3 and SQS) and publishes one event each to an EventBridge bus on moto, whose rule hands them to an SQS
 * queue, as a consumer's rule would. A loopback proxy in front of moto's EventBridge fails one PutEvents
 * call outright and one entry with ThrottlingException: both are retried, none is lost or doubled. A bus
 * that does not exist leaves the events undelivered under `events/undelivered/` in the bucket, the
 * recordings archived, and the redrive delivers them once the bus exists.
 */
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArchiveWorkerHandler } from '../../functions/archive-worker';
import { createAwsRuntime } from '../../functions/composition/aws-runtime';
import type { RuntimeEnvironment } from '../../functions/config';
import { outcomeEventsConfigSchema, stackEventBusName } from '../../functions/config/outcome-events';
import { silentLog } from '../../functions/core/ports';
import { redriveOutcomeEvents } from '../../functions/events-redrive';
import { motoAvailable, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  BUCKET,
  FAST_RETRIES,
  type Pipeline,
  type PipelineHarness,
  startPipelineHarness,
} from '../support/pipeline-harness';
import { createQueue, receiveAtLeast, type TestQueue } from '../support/sqs-records';

interface EventBridgeFaultProxy {
  endpoint: string;
  putEventsCalls: number;
  /** PutEvents calls (1-based) to answer 500 without forwarding. */
  failCalls: Set<number>;
  /** PutEvents calls (1-based) whose first entry is answered ThrottlingException (the others forwarded). */
  throttleFirstEntryOf: Set<number>;
  close(): Promise<void>;
}

/** Forwards to moto; fails chosen PutEvents calls as a whole or per entry, as EventBridge can. */
async function startEventBridgeFaultProxy(target: string): Promise<EventBridgeFaultProxy> {
  const proxy: EventBridgeFaultProxy = {
    endpoint: '',
    putEventsCalls: 0,
    failCalls: new Set(),
    throttleFirstEntryOf: new Set(),
    close: async () => {},
  };
  const forward = async (request: IncomingMessage, body: Buffer) => {
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(
        ([name]) => !['host', 'content-length', 'connection'].includes(name),
      ),
    ) as Record<string, string>;
    const answer = await fetch(`${target}${request.url}`, { method: request.method, headers, body });
    return {
      status: answer.status,
      text: await answer.text(),
      type: answer.headers.get('content-type') ?? '',
    };
  };
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (request.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
      const answer = await forward(request, body);
      return response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.text);
    }
    proxy.putEventsCalls += 1;
    const call = proxy.putEventsCalls;
    if (proxy.failCalls.has(call)) {
      return response
        .writeHead(500, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ __type: 'InternalException', message: 'injected' }));
    }
    if (!proxy.throttleFirstEntryOf.has(call)) {
      const answer = await forward(request, body);
      return response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.text);
    }
    // The first entry is refused; the others go to moto, and the answer lists them in request order.
    const request_ = JSON.parse(body.toString('utf8'));
    const [, ...rest] = request_.Entries as unknown[];
    let forwarded: { Entries: unknown[] } = { Entries: [] };
    if (rest.length > 0) {
      const answer = await forward(request, Buffer.from(JSON.stringify({ ...request_, Entries: rest })));
      forwarded = JSON.parse(answer.text);
    }
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(
      JSON.stringify({
        FailedEntryCount: 1,
        Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'Rate exceeded' }, ...forwarded.Entries],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => new Promise((resolve) => server.close(() => resolve()));
  return proxy;
}

const available = motoAvailable();

describe.skipIf(!available)('outcome events on AWS (moto)', () => {
  let harness: PipelineHarness;
  let proxy: EventBridgeFaultProxy;
  let eventBridge: EventBridgeClient;
  const busName = stackEventBusName('Callvault');

  beforeAll(async () => {
    harness = await startPipelineHarness();
    proxy = await startEventBridgeFaultProxy(harness.moto.endpoint);
    eventBridge = new EventBridgeClient({
      endpoint: proxy.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    });
  }, 60_000);

  afterAll(async () => {
    eventBridge?.destroy();
    await proxy?.close();
    await harness?.stop();
  });

  /** The consumer: a rule on the bus for source `callvault`, delivering to an SQS queue. */
  async function subscribe(): Promise<TestQueue> {
    await eventBridge.send(new CreateEventBusCommand({ Name: busName }));
    const consumer = await createQueue(harness.moto.sqs, 'transcription-pipeline');
    await eventBridge.send(
      new PutRuleCommand({
        Name: 'recordings-for-transcription',
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: ['callvault'], 'detail-type': ['Recording Archived'] }),
      }),
    );
    await eventBridge.send(
      new PutTargetsCommand({
        Rule: 'recordings-for-transcription',
        EventBusName: busName,
        Targets: [{ Id: 'queue', Arn: consumer.arn }],
      }),
    );
    return consumer;
  }

  function eventsWorker(pipeline: Pipeline) {
    const env: RuntimeEnvironment = {
      ...pipeline.env,
      config: {
        ...pipeline.env.config,
        events: outcomeEventsConfigSchema.parse({
          enabled: true,
          retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
        }),
      },
    };
    const secrets = new SecretsManagerClient({
      endpoint: harness.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    const runtime = createAwsRuntime(env, {
      s3: harness.moto.s3,
      sqs: harness.moto.sqs,
      secrets,
      eventBridge,
    });
    return { env, worker: createArchiveWorkerHandler(() => runtime, { retryPolicy: FAST_RETRIES }) };
  }

  async function undeliveredKeys(): Promise<string[]> {
    const listed = await harness.moto.s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'events/undelivered/' }),
    );
    return (listed.Contents ?? []).map((object) => object.Key ?? '');
  }

  it('publishes one event per archived recording to the bus, through a failed call and a throttled entry', async () => {
    const pipeline = await harness.pipeline();
    const consumer = await subscribe();
    const recordings = pipeline.sandbox.generateRecordings({
      count: 4,
      from: new Date(Date.now() - 10 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    await pipeline.sweep();
    proxy.putEventsCalls = 0;
    proxy.failCalls = new Set([1]);
    proxy.throttleFirstEntryOf = new Set([3]);
    const { worker } = eventsWorker(pipeline);
    const report = await pipeline.drain({ worker });
    expect(report.failures).toBe(0);

    const delivered = (await receiveAtLeast(harness.moto.sqs, consumer, 4)).map((record) =>
      JSON.parse(record.body),
    );
    expect(delivered).toHaveLength(4);
    expect(proxy.putEventsCalls).toBe(6);
    const ids = delivered.map((event) => event.detail.eventId);
    expect(new Set(ids).size).toBe(4);
    expect(delivered.map((event) => event.detail.recordingId).sort()).toEqual(
      recordings.map((recording) => recording.recordUuid).sort(),
    );
    for (const event of delivered) {
      expect(event).toMatchObject({ source: 'callvault', 'detail-type': 'Recording Archived' });
      expect(event.detail).toMatchObject({ schemaVersion: 1, bucket: BUCKET, outcome: 'archived' });
      expect(event.detail.sha256).toBe(pipeline.sandbox.expectedSha256(event.detail.recordingId));
      expect(event.resources).toEqual([`arn:aws:s3:::${BUCKET}/${event.detail.objectKey}`]);
      expect(JSON.stringify(event)).not.toContain(pipeline.sandbox.clientSecret);
    }
    expect(await undeliveredKeys()).toEqual([]);
  });

  it('records events for a bus that does not exist, keeps the recordings, and redrives them once it does', async () => {
    const pipeline = await harness.pipeline();
    pipeline.sandbox.generateRecordings({
      count: 3,
      from: new Date(Date.now() - 10 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    await pipeline.sweep();
    proxy.putEventsCalls = 0;
    proxy.failCalls = new Set();
    proxy.throttleFirstEntryOf = new Set();
    const { env, worker } = eventsWorker(pipeline);
    const report = await pipeline.drain({ worker });
    expect(report.failures).toBe(0);
    expect(await pipeline.drainDeadLetters()).toEqual([]);
    // ResourceNotFoundException is not worth a retry: one call per event, then recorded.
    expect(proxy.putEventsCalls).toBe(3);
    const keys = await undeliveredKeys();
    expect(keys).toHaveLength(3);
    expect(keys.every((key) => /^events\/undelivered\/eventbridge\/cv1-[0-9a-f]{64}\.json$/.test(key))).toBe(
      true,
    );
    const consumer = await subscribe();
    const redrive = await redriveOutcomeEvents(env.config, {
      log: silentLog,
      aws: { bucket: BUCKET, s3: harness.moto.s3, eventBridge },
    });
    expect(redrive).toEqual({ found: 3, redelivered: 3, stillUndelivered: 0, skipped: 0 });
    const delivered = (await receiveAtLeast(harness.moto.sqs, consumer, 3)).map((record) =>
      JSON.parse(record.body),
    );
    expect(delivered).toHaveLength(3);
    for (const event of delivered) {
      await harness.moto.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: event.detail.objectKey }));
    }
    expect(await undeliveredKeys()).toEqual([]);
  });
});
