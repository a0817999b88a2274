/**
 * Recordings deleted at the source after they were listed (by a user in the web UI, another app, the
 * platform's own retention), on the deployed path: sweep or webhook → SQS → worker → S3 on moto. Their
 * jobs must end as gone-at-source (recorded in the bucket, counted by status, neither retried nor
 * dead-lettered), while every other recording is archived exactly once and no upload is left open.
 */
import { HeadObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsManagerCredentials } from '../../functions/adapters/secrets-credentials';
import { goneAtSourceKey } from '../../functions/core/keys';
import { awsStatusDependencies } from '../../functions/ops/status-dependencies';
import { collectStatus } from '../../functions/ops/status-report';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { motoAvailable, TEST_CREDENTIALS, TEST_REGION } from '../support/moto';
import {
  BUCKET,
  type Pipeline,
  type PipelineHarness,
  startPipelineHarness,
  WEBHOOK_SECRET,
} from '../support/pipeline-harness';
import { assertInvariants } from './invariants';

const MiB = 1024 * 1024;

describe.skipIf(!motoAvailable())('recordings gone at the source', () => {
  let harness: PipelineHarness;

  beforeAll(async () => {
    harness = await startPipelineHarness();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  /** `npm run status` against the deployment the pipeline plays: gone-at-source summed over the days shown. */
  async function goneCountedByStatus(pipeline: Pipeline): Promise<number> {
    const secrets = new SecretsManagerClient({
      endpoint: pipeline.moto.endpoint,
      region: TEST_REGION,
      credentials: TEST_CREDENTIALS,
    });
    try {
      const report = await collectStatus(
        awsStatusDependencies({
          config: pipeline.env.config,
          days: 2,
          bucket: BUCKET,
          queueUrls: pipeline.env.queueUrls,
          deadLetterQueueUrls: pipeline.env.deadLetterQueueUrls,
          s3: pipeline.runtime.s3,
          sqs: pipeline.runtime.sqs,
          credentials: secretsManagerCredentials(secrets, pipeline.env.sourceSecrets),
        }),
      );
      return (report.sources[0]?.days ?? []).reduce((sum, day) => sum + day.goneAtSource, 0);
    } finally {
      secrets.destroy();
    }
  }

  it('ends the jobs of recordings deleted between the sweep and the download, without a retry', async () => {
    // Prepare: the sweep lists four recordings (single-put and multipart sizes); two are then deleted.
    const pipeline = await harness.pipeline();
    const recordings = [
      pipeline.freshRecording(200_000),
      pipeline.freshRecording(6 * MiB + 7),
      pipeline.freshRecording(300_000),
      pipeline.freshRecording(7 * MiB + 1),
    ];
    await pipeline.sweep();
    const gone = [recordings[1]!, recordings[2]!];
    for (const recording of gone) pipeline.sandbox.removeRecording(recording.recordUuid);

    // Act
    const report = await pipeline.drain();

    // Assess: one delivery per job, none reported failed, so none retried.
    expect(report).toMatchObject({ deliveries: 4, failures: 0 });
    await assertInvariants(pipeline, {
      recordings,
      goneAtSource: gone.map((recording) => recording.recordUuid),
    });
    expect(await goneCountedByStatus(pipeline)).toBe(2);

    // A redelivered job of a gone recording settles again and leaves the first record as the only version.
    await pipeline.send([pipeline.recordingJobFor(gone[0]!)]);
    expect(await pipeline.drain()).toMatchObject({ deliveries: 1, failures: 0 });
    const recordKey = goneAtSourceKey(pipeline.keyOf(gone[0]!));
    const versions = await pipeline.moto.s3.send(
      new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: recordKey }),
    );
    expect(versions.Versions?.map((version) => version.Key)).toEqual([recordKey]);
  });

  it('ends the job of a hinted recording deleted before its own job ran', async () => {
    // Prepare: the hangup hint is resolved (the recording is listed and gets its job), then it is deleted.
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(250_000);
    const neighbour = pipeline.freshRecording(260_000);
    for (const each of [recording, neighbour])
      await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(each));
    const hints = await pipeline.receive({ maxMessages: 10, waitTimeSeconds: 1 });
    expect(hints).toHaveLength(2);
    await pipeline.deliver(hints);
    pipeline.sandbox.removeRecording(recording.recordUuid);

    // Act
    const report = await pipeline.drain();

    // Assess
    expect(report).toMatchObject({ deliveries: 2, failures: 0 });
    await assertInvariants(pipeline, {
      recordings: [recording, neighbour],
      goneAtSource: [recording.recordUuid],
    });
  });

  it('leaves no multipart upload open when a recording is deleted while its retry waits', async () => {
    // Prepare: the first attempt uploads a part, then the download resets; the recording is deleted
    // before the retry comes.
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(11 * MiB + 3);
    const kept = pipeline.freshRecording(400_000);
    const reset = pipeline.sandbox.injectFault(
      { kind: 'reset-mid-body', afterBytes: 6 * MiB },
      { recordUuid: recording.recordUuid, routes: ['storage', 'file'] },
    );
    await pipeline.send([pipeline.recordingJobFor(recording)]);
    const first = await pipeline.receive({ maxMessages: 1, waitTimeSeconds: 1 });
    const firstResponse = await pipeline.deliver(first);
    expect(firstResponse.batchItemFailures).toHaveLength(1);
    pipeline.sandbox.removeRecording(recording.recordUuid);
    await pipeline.send([pipeline.recordingJobFor(kept)]);

    // Act
    const report = await pipeline.drain();

    // Assess
    expect(reset.hits).toBe(1);
    expect(report.failures).toBe(0);
    await assertInvariants(pipeline, { recordings: [recording, kept], goneAtSource: [recording.recordUuid] });
  });

  it('keeps the not-ready path for a recording still listed whose file 404s for a while', async () => {
    // Prepare: both routes answer 404 for the first two attempts; the recording stays listed.
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(300_000);
    const missing = pipeline.sandbox.injectFault(
      { kind: 'not-found' },
      { recordUuid: recording.recordUuid, routes: ['storage-url', 'file'], times: 4 },
    );
    await pipeline.sweep();

    // Act
    const report = await pipeline.drain();

    // Assess: retried twice as not ready, then archived; nothing recorded as gone.
    expect(missing.hits).toBe(4);
    expect(report.failures).toBe(2);
    await assertInvariants(pipeline, { recordings: [recording] });
    await expect(
      pipeline.moto.s3.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: goneAtSourceKey(pipeline.keyOf(recording)) }),
      ),
    ).rejects.toMatchObject({ name: 'NotFound' });
    expect(await goneCountedByStatus(pipeline)).toBe(0);
  });
});
