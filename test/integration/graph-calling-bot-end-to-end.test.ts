/**
 * The Graph calling bot end to end on the production adapters: a signed `recordOperation` notification
 * (API Gateway event) → webhook handler → SQS (moto) → worker handler → S3 (moto), with the recording's
 * access token absent from every log line, sidecar and dead-letter attribute; an expired grant ends in
 * the dead-letter queue with failure-code EXPIRED_BEFORE_FETCH and a record for status.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXPIRED_BEFORE_FETCH_METRIC } from '../../functions/archive-worker';
import {
  callStateNotification,
  commsNotificationsBody,
  recordOperationNotification,
} from '../../sandbox/providers/graph-calling-bot-sandbox';
import { BOT_BUCKET, BOT_SOURCE_ID, GraphPipeline } from '../support/graph-calling-bot-pipeline';
import { type MotoServer, motoAvailable, startMoto } from '../support/moto';

describe.skipIf(!motoAvailable())('msgraph end to end on the production adapters', () => {
  let moto: MotoServer;
  let pipeline: GraphPipeline;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    pipeline = await GraphPipeline.create(moto);
  });
  afterEach(async () => {
    await pipeline?.close();
  });

  async function keysUnder(prefix: string): Promise<string[]> {
    const listing = await moto.s3.send(new ListObjectsV2Command({ Bucket: BOT_BUCKET, Prefix: prefix }));
    return (listing.Contents ?? []).map((object) => object.Key ?? '').sort();
  }

  async function text(key: string): Promise<string> {
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BOT_BUCKET, Key: key }));
    return object.Body!.transformToString();
  }

  it('archives a signed notification’s recording, and the token is in no log line, sidecar or metric', async () => {
    // Prepare
    const { sandbox } = pipeline;
    const recording = sandbox.addRecording({ size: 900_000 });

    // Act
    const response = await pipeline.post(
      sandbox.completedNotification(recording),
      await sandbox.signNotificationToken(),
    );
    await pipeline.drain();

    // Assess
    expect(response.statusCode).toBe(202);
    const keys = await keysUnder(`recordings/msgraph/${BOT_SOURCE_ID}/`);
    expect(keys).toHaveLength(2);
    const [key, sidecarKey] = keys as [string, string];
    expect(key).toMatch(new RegExp(`/${recording.operationId}\\.wav$`));
    expect(sidecarKey).toBe(`${key}.json`);
    const object = await moto.s3.send(new GetObjectCommand({ Bucket: BOT_BUCKET, Key: key }));
    const sha256 = createHash('sha256')
      .update(await object.Body!.transformToByteArray())
      .digest('hex');
    expect(sha256).toBe(recording.sha256);
    const sidecar = await text(sidecarKey);
    expect(JSON.parse(sidecar)).toMatchObject({
      provider: 'msgraph',
      recordingId: recording.operationId,
      sha256,
    });
    expect(sidecar).not.toContain(recording.recordingAccessToken);
    expect(pipeline.logLines.length).toBeGreaterThan(0);
    expect(pipeline.logLines.join('')).toContain('webhook accepted');
    expect(pipeline.logLines.join('')).not.toContain(recording.recordingAccessToken);
    expect(pipeline.metric('GraphRecordingsEnqueued')).toBe(1);
    expect(pipeline.metric('GraphFailedRecordOperations')).toBe(0);
    expect(await pipeline.depth(pipeline.deadLetters)).toBe(0);
  });

  it.each([
    ['the token has expired', 'expired'],
    ['the platform discarded the file', 'discarded'],
  ] as const)(
    'dead-letters at once with EXPIRED_BEFORE_FETCH when %s, the token in no attribute or log',
    async (_name, how) => {
      // Prepare
      const { sandbox } = pipeline;
      const recording = sandbox.addRecording();
      const response = await pipeline.post(
        sandbox.completedNotification(recording),
        await sandbox.signNotificationToken(),
      );
      if (how === 'expired') sandbox.injectFault({ kind: 'expired-token' }, { routes: ['recording'] });
      else sandbox.discard(recording.operationId);

      // Act
      const responses = await pipeline.drain();

      // Assess
      expect(response.statusCode).toBe(202);
      expect(responses).toHaveLength(1);
      expect(responses[0]?.batchItemFailures).toEqual([]);
      const letters = await pipeline.peekDeadLetters();
      expect(letters).toHaveLength(1);
      const [letter] = letters;
      expect(letter?.attributes['failure-code']).toBe('EXPIRED_BEFORE_FETCH');
      expect(letter?.attributes.attempts).toBe('1');
      for (const value of Object.values(letter?.attributes ?? {})) {
        expect(value ?? '').not.toContain(recording.recordingAccessToken);
      }
      expect(await keysUnder('recordings/')).toEqual([]);
      const records = await keysUnder(`audit/expired-before-fetch/msgraph/${BOT_SOURCE_ID}/`);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatch(new RegExp(`/${recording.operationId}\\.wav\\.json$`));
      expect(await text(records[0] ?? '')).not.toContain(recording.recordingAccessToken);
      expect(pipeline.metric(EXPIRED_BEFORE_FETCH_METRIC)).toBe(1);
      expect(pipeline.logLines.join('')).toContain('EXPIRED_BEFORE_FETCH');
      expect(pipeline.logLines.join('')).not.toContain(recording.recordingAccessToken);
    },
  );

  it('refuses a forged notification with 403 and enqueues nothing', async () => {
    const { sandbox } = pipeline;
    const recording = sandbox.addRecording();

    const response = await pipeline.post(
      sandbox.completedNotification(recording),
      await sandbox.signNotificationToken({ fault: 'tampered' }),
    );

    expect(response.statusCode).toBe(403);
    expect(await pipeline.depth()).toBe(0);
    expect(sandbox.counters.recordingRequests).toBe(0);
  });

  it('accepts a batch above the generic 256 KiB limit and refuses one above 1 MiB with 413', async () => {
    // Prepare: one recording among many call-state notifications, the way Graph batches them.
    const { sandbox } = pipeline;
    const recording = sandbox.addRecording();
    const completed = JSON.parse(sandbox.completedNotification(recording)).value as unknown[];
    const filler = (count: number) =>
      Array.from({ length: count }, (_, index) => callStateNotification(`call-${index}`, 'established'));
    const medium = commsNotificationsBody([...completed, ...filler(1_500)]);
    const large = commsNotificationsBody([...completed, ...filler(6_000)]);
    const token = await sandbox.signNotificationToken();

    // Act
    const tooLarge = await pipeline.post(large, token);
    const accepted = await pipeline.post(medium, token);

    // Assess
    expect(Buffer.byteLength(medium)).toBeGreaterThan(256 * 1024);
    expect(Buffer.byteLength(medium)).toBeLessThan(1024 * 1024);
    expect(Buffer.byteLength(large)).toBeGreaterThan(1024 * 1024);
    expect(tooLarge.statusCode).toBe(413);
    expect(accepted.statusCode).toBe(202);
    expect(await pipeline.depth()).toBe(1);
  });

  it('answers 400 to a delivery whose only recording is on a host not allowed, logs it as refused and counts it', async () => {
    // Prepare
    const { sandbox } = pipeline;
    const body = commsNotificationsBody([
      recordOperationNotification({
        callId: 'c0ffee00-0000-4000-8000-00000000000a',
        operationId: 'c0ffee00-0000-4000-8000-00000000000b',
        status: 'completed',
        recordingLocation: 'https://evil.example.net/recording',
        recordingAccessToken: 'grant-for-elsewhere',
      }),
    ]);

    // Act
    const response = await pipeline.post(body, await sandbox.signNotificationToken());

    // Assess
    expect(response.statusCode).toBe(400);
    expect(await pipeline.depth()).toBe(0);
    expect(pipeline.metric('GraphRefusedRecordingLocations')).toBe(1);
    const logs = pipeline.logLines.join('');
    expect(logs).toContain('webhook refused by the source');
    expect(logs).not.toContain('webhook accepted');
    expect(logs).not.toContain('grant-for-elsewhere');
  });
});
