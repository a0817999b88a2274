/**
 * End to end on the production adapters: API Gateway event → webhook handler → SQS (moto) → the worker
 * handler fed the messages actually received → S3 (moto), with credentials from Secrets Manager (moto)
 * and the Telphin sandbox as the platform. The wiring is the shared pipeline harness.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSidecar } from '../../functions/core/sidecar';
import { createSweepHandler } from '../../functions/sweep';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { motoAvailable } from '../support/moto';
import {
  BUCKET,
  type Pipeline,
  type PipelineHarness,
  SOURCE_ID,
  sourceRecordingOf,
  startPipelineHarness,
  WEBHOOK_SECRET,
} from '../support/pipeline-harness';

const MAX_RECEIVES = 4;

describe.skipIf(!motoAvailable())('end to end on the production adapters', () => {
  let harness: PipelineHarness;
  let pipeline: Pipeline;

  beforeAll(async () => {
    harness = await startPipelineHarness();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  beforeEach(async () => {
    pipeline = await harness.pipeline({ maxReceiveCount: MAX_RECEIVES });
  });

  const post = (query: string, body: string) => pipeline.post(query, body);

  async function storedSha256(key: string): Promise<string> {
    const object = await pipeline.moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return createHash('sha256')
      .update(await object.Body!.transformToByteArray())
      .digest('hex');
  }

  async function versionsOf(key: string): Promise<number> {
    const listing = await pipeline.moto.s3.send(
      new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }),
    );
    return (listing.Versions ?? []).filter((version) => version.Key === key).length;
  }

  it('archives a recording announced by webhook: bytes equal, sidecar right', async () => {
    const recording = pipeline.freshRecording();

    const response = await post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    await pipeline.drain();

    expect(response.statusCode).toBe(200);
    const key = pipeline.keyOf(recording);
    expect(await storedSha256(key)).toBe(pipeline.sandbox.expectedSha256(recording.recordUuid));
    const sidecar = parseSidecar(
      await (
        await pipeline.moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${key}.json` }))
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
      sha256: pipeline.sandbox.expectedSha256(recording.recordUuid),
      contentType: 'audio/mpeg',
      objectKey: key,
      // Telphin reports call times in whole seconds.
      startedAt: sourceRecordingOf(recording).startedAt.toISOString(),
    });
    expect(sidecar.raw).toMatchObject({ record_uuid: recording.recordUuid });
  });

  it('keeps one object when the same webhook arrives three times', async () => {
    const recording = pipeline.freshRecording(6 * 1024 * 1024 + 17);
    const body = telphinHangupWebhookBody(recording);

    const statuses = await Promise.all(
      [1, 2, 3].map(async () => (await post(`token=${WEBHOOK_SECRET}`, body)).statusCode),
    );
    await pipeline.drain();

    expect(statuses).toEqual([200, 200, 200]);
    expect(await versionsOf(pipeline.keyOf(recording))).toBe(1);
    expect(await versionsOf(`${pipeline.keyOf(recording)}.json`)).toBe(1);
    expect(await storedSha256(pipeline.keyOf(recording))).toBe(
      pipeline.sandbox.expectedSha256(recording.recordUuid),
    );
  });

  it('retries a download interrupted halfway and archives it intact, leaving no multipart upload behind', async () => {
    const recording = pipeline.freshRecording(12 * 1024 * 1024 + 5);
    const fault = pipeline.sandbox.injectFault(
      { kind: 'reset-mid-body' },
      { recordUuid: recording.recordUuid, routes: ['storage', 'file'] },
    );

    await post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    const { responses } = await pipeline.drain();

    expect(fault.hits).toBe(1);
    expect(responses.some((response) => response.batchItemFailures.length > 0)).toBe(true);
    expect(await storedSha256(pipeline.keyOf(recording))).toBe(
      pipeline.sandbox.expectedSha256(recording.recordUuid),
    );
    const uploads = await pipeline.moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
    expect(uploads.Uploads ?? []).toHaveLength(0);
    expect(await pipeline.depth(pipeline.deadLetters)).toBe(0);
  });

  it.each([
    ['a wrong token', 'token=not-the-secret-at-all', 403],
    ['no token', '', 401],
  ])('refuses %s and enqueues nothing', async (_name, query, status) => {
    const recording = pipeline.freshRecording();

    const response = await post(query, telphinHangupWebhookBody(recording));

    expect(response.statusCode).toBe(status);
    expect(await pipeline.depth()).toBe(0);
  });

  it('refuses a malformed body with 400 and enqueues nothing', async () => {
    const response = await post(`token=${WEBHOOK_SECRET}`, 'EventType=hangup&EventTime=yesterday');

    expect(response.statusCode).toBe(400);
    expect(JSON.parse(String(response.body)).message).toMatch(/EventTime/);
    expect(await pipeline.depth()).toBe(0);
  });

  it('archives everything through the sweep alone when no webhook ever arrives', async () => {
    const recordings = pipeline.sandbox.generateRecordings({
      count: 6,
      from: new Date(Date.now() - 30 * 3_600_000),
      to: new Date(Date.now() - 3_600_000),
    });
    const sweep = createSweepHandler(() => pipeline.runtime);

    const result = await sweep({}, { getRemainingTimeInMillis: () => 60_000 });
    await pipeline.drain();
    const again = await sweep({}, { getRemainingTimeInMillis: () => 60_000 });

    expect(result.results[0]?.enqueued).toBeGreaterThanOrEqual(recordings.length);
    for (const recording of recordings) {
      expect(await storedSha256(pipeline.keyOf(recording))).toBe(
        pipeline.sandbox.expectedSha256(recording.recordUuid),
      );
    }
    expect(again.results[0]?.enqueued).toBe(0);
  });
});
