/**
 * Faults in delivery: SQS delivers at least once and in no particular order, Lambda containers die
 * without warning, and invocations run out of time. Each scenario ends with the invariants.
 */
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { motoAvailable } from '../support/moto';
import {
  BUCKET,
  type PipelineHarness,
  startPipelineHarness,
  WEBHOOK_SECRET,
  waitFor,
} from '../support/pipeline-harness';
import { type S3FaultProxy, startS3FaultProxy } from '../support/s3-fault-proxy';
import { receiveAtLeast } from '../support/sqs-records';
import { spawnWorkerProcess } from '../support/worker-process';
import { assertInvariants } from './invariants';

const MiB = 1024 * 1024;

describe.skipIf(!motoAvailable())('queue faults', () => {
  let harness: PipelineHarness;
  /**
   * Racing writers go through this proxy: moto checks `If-None-Match` and completes a multipart upload
   * in two steps, so two racing conditional completions both succeed there, where S3 refuses one
   * (412). The proxy runs conditional writes to one key one at a time, which is what S3 guarantees.
   */
  let atomicS3: S3FaultProxy;

  beforeAll(async () => {
    harness = await startPipelineHarness();
    atomicS3 = await startS3FaultProxy(harness.moto.endpoint, { serialiseConditionalWrites: true });
  });

  afterAll(async () => {
    await atomicS3?.close();
    await harness?.stop();
  });

  it('archives once when the same job is delivered twice at the same time to two containers', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: atomicS3.endpoint });
    const recordings = [pipeline.freshRecording(11 * MiB + 5), pipeline.freshRecording(400_000)];
    const jobs = recordings.map((recording) => pipeline.recordingJobFor(recording));
    await pipeline.send([...jobs, ...jobs]);
    const records = await receiveAtLeast(pipeline.moto.sqs, pipeline.queue, 4);
    expect(records).toHaveLength(4);
    const first = pipeline.workerFor(pipeline.newRuntime());
    const second = pipeline.workerFor(pipeline.newRuntime());

    // Each container gets one copy of each job; both run their batch at once.
    const responses = await Promise.all([
      pipeline.deliver(
        records.filter((_, index) => index % 2 === 0),
        { worker: first },
      ),
      pipeline.deliver(
        records.filter((_, index) => index % 2 === 1),
        { worker: second },
      ),
    ]);
    await pipeline.drain();

    expect(responses.flatMap((response) => response.batchItemFailures)).toEqual([]);
    // Both containers got past the existence check for the large one (it takes a while to stream) and
    // both asked S3 to complete it: the conditional completion is what kept the second copy out.
    const large = `POST /${BUCKET}/${pipeline.keyOf(recordings[0]!)}?uploadId=`;
    expect(atomicS3.log.filter((line) => line.startsWith(large))).toHaveLength(2);
    await assertInvariants(pipeline, { recordings });
  });

  it('archives once when a duplicated webhook hint is resolved by two containers at once', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: atomicS3.endpoint });
    const recording = pipeline.freshRecording(6 * MiB + 1);
    const body = telphinHangupWebhookBody(recording);
    await pipeline.post(`token=${WEBHOOK_SECRET}`, body);
    await pipeline.post(`token=${WEBHOOK_SECRET}`, body);
    const hints = await receiveAtLeast(pipeline.moto.sqs, pipeline.queue, 2);
    const [first, second] = [
      pipeline.workerFor(pipeline.newRuntime()),
      pipeline.workerFor(pipeline.newRuntime()),
    ];

    await Promise.all([
      pipeline.deliver(hints.slice(0, 1), { worker: first }),
      pipeline.deliver(hints.slice(1), { worker: second }),
    ]);
    // Both hints may have fanned out a recording job; deliver those at once to two containers too.
    const jobs = await receiveAtLeast(pipeline.moto.sqs, pipeline.queue, 2, 3000);
    await Promise.all(
      jobs.map((job, index) => pipeline.deliver([job], { worker: index % 2 ? second : first })),
    );
    await pipeline.drain();

    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('archives each recording once whatever the order: jobs reversed, hints after their recordings', async () => {
    const pipeline = await harness.pipeline();
    const recordings = [
      pipeline.freshRecording(200_000),
      pipeline.freshRecording(210_000),
      pipeline.freshRecording(5 * MiB + 2),
    ];

    await pipeline.send(recordings.map((recording) => pipeline.recordingJobFor(recording)).reverse());
    await pipeline.drain({ batchSize: 1 });
    for (const recording of recordings)
      await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    await pipeline.drain();

    // The late hints found the copies and fanned out nothing: one download per recording.
    expect(pipeline.sandbox.counters.storageDownloads).toBe(recordings.length);
    await assertInvariants(pipeline, { recordings });
  });

  it('retries a hint that arrives before the platform lists its recording, and archives it once listed', async () => {
    const pipeline = await harness.pipeline();
    const recording = pipeline.sandbox.addRecording({
      startedAt: new Date(Date.now() - 3 * 60_000),
      durationSeconds: 60,
      size: 250_000,
      listedAt: new Date(Date.now() + 2500),
    });

    await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    const report = await pipeline.drain({ timeoutMs: 30_000 });

    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('dead-letters at once, with the reason, only what no retry can fix, and archives the rest', async () => {
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(220_000);
    const orphan = pipeline.freshRecording(230_000);
    const good = pipeline.recordingJobFor(recording);
    const forUnknownSource = pipeline.recordingJobFor(orphan);
    if (forUnknownSource.type === 'recording') forUnknownSource.recording.sourceId = 'decommissioned';
    await pipeline.send([good, forUnknownSource]);
    await pipeline.moto.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.queue.url, MessageBody: '{"v":1,"type":"recording"}' }),
    );

    const report = await pipeline.drain();

    // Neither permanent failure was retried: three messages, three deliveries.
    expect(report.deliveries).toBe(3);
    const { deadLetters } = await assertInvariants(pipeline, {
      recordings: [recording],
      expectedDeadLetters: [orphan.recordUuid, '(malformed job)'],
    });
    expect(deadLetters.map((letter) => letter.attributes['failure-code']).sort()).toEqual([
      'INVALID_INPUT',
      'PERMANENT',
    ]);
  });

  it('recovers from a worker killed mid-upload: the job comes back, is archived once, and only the dead upload remains for the lifecycle rule', async () => {
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(12 * MiB + 3);
    // Slow enough that the kill lands while parts are being uploaded, fast enough to get there soon.
    pipeline.sandbox.injectFault(
      { kind: 'slow-body', bytesPerSecond: 3 * MiB },
      { recordUuid: recording.recordUuid },
    );
    await pipeline.send([pipeline.recordingJobFor(recording)]);
    const records = await pipeline.receive({
      maxMessages: 1,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 2,
    });
    expect(records).toHaveLength(1);

    const child = spawnWorkerProcess({ env: pipeline.env, motoEndpoint: pipeline.moto.endpoint, records });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let killed = false;
    try {
      const s3 = pipeline.moto.s3;
      const upload = await waitFor(
        'a part of the upload to land in S3',
        async () => {
          if (child.exitCode !== null)
            throw new Error(`the worker process exited (${child.exitCode}) before uploading a part`);
          for (const candidate of (await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET })))
            .Uploads ?? []) {
            const parts = await s3.send(
              new ListPartsCommand({ Bucket: BUCKET, Key: candidate.Key, UploadId: candidate.UploadId }),
            );
            if ((parts.Parts ?? []).length > 0) return candidate;
          }
          return undefined;
        },
        20_000,
      );
      killed = child.kill('SIGKILL');
      expect(await exited).toBeNull();

      // The message becomes visible again and a fresh container takes it.
      const report = await pipeline.drain({
        worker: pipeline.workerFor(pipeline.newRuntime()),
        timeoutMs: 30_000,
      });

      expect(killed).toBe(true);
      expect(report.deliveries).toBeGreaterThanOrEqual(1);
      // moto runs no lifecycle rules. What the rule would abort (after a day) is the dead worker's upload,
      // at the recording's own key, beside the copy the retry completed; nothing else is open.
      expect(upload.Key).toBe(pipeline.keyOf(recording));
      const { orphanUploads } = await assertInvariants(pipeline, {
        recordings: [recording],
        allowOrphanUploadsAt: [pipeline.keyOf(recording)],
      });
      expect(orphanUploads.map((orphan) => orphan.UploadId)).toEqual([upload.UploadId]);
    } finally {
      if (child.exitCode === null && !killed) child.kill('SIGKILL');
    }
  });

  it('hands the job back before the invocation deadline mid-upload, leaves no upload open, and archives it later', async () => {
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(15 * MiB);
    // At 3 MiB/s the download takes 5 s; the deadline signal fires after 2 s (22 s left − 20 s margin),
    // when the first part is already on its way to S3.
    pipeline.sandbox.injectFault(
      { kind: 'slow-body', bytesPerSecond: 3 * MiB },
      { recordUuid: recording.recordUuid },
    );
    await pipeline.send([pipeline.recordingJobFor(recording)]);
    const records = await pipeline.receive({ maxMessages: 1, waitTimeSeconds: 1 });

    const started = Date.now();
    const response = await pipeline.deliver(records, { remainingMs: 22_000 });
    const elapsed = Date.now() - started;
    const openUploads =
      (await pipeline.moto.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];
    await pipeline.drain();

    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual([
      records[0]?.messageId,
    ]);
    expect(elapsed).toBeLessThan(4000);
    expect(openUploads).toEqual([]);
    await assertInvariants(pipeline, { recordings: [recording] });
  });
});
