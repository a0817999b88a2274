/**
 * Faults at S3, injected by a loopback proxy in front of moto: 503s on UploadPart and connection resets
 * on CompleteMultipartUpload, both before S3 sees the request and after S3 carried it out (the client
 * never learns the outcome). The code under test talks to the proxy; the checks read moto directly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { motoAvailable } from '../support/moto';
import { BUCKET, type PipelineHarness, startPipelineHarness } from '../support/pipeline-harness';
import {
  isCompleteMultipartUpload,
  isPutObjectTagging,
  isUploadPart,
  type S3FaultProxy,
  startS3FaultProxy,
} from '../support/s3-fault-proxy';
import { assertInvariants } from './invariants';

const MiB = 1024 * 1024;
const recordingsPath = `/${BUCKET}/recordings/`;

describe.skipIf(!motoAvailable())('S3 faults', () => {
  let harness: PipelineHarness;
  let proxy: S3FaultProxy;

  beforeAll(async () => {
    harness = await startPipelineHarness();
    proxy = await startS3FaultProxy(harness.moto.endpoint);
  });

  afterEach(() => proxy.clear());

  afterAll(async () => {
    await proxy?.close();
    await harness?.stop();
  });

  it('absorbs a single 503 SlowDown on UploadPart within the invocation (SDK retry)', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recording = pipeline.freshRecording(11 * MiB + 7);
    const fault = proxy.inject({
      method: 'PUT',
      match: (url) => isUploadPart(url) && url.searchParams.get('partNumber') === '2',
      action: { kind: 'status', status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(1);
    expect(report.failures).toBe(0);
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('aborts the upload when UploadPart keeps answering 503, and archives the recording on the retry', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recordings = [pipeline.freshRecording(11 * MiB + 7), pipeline.freshRecording(6 * MiB)];
    // Part 2 of the first upload fails on every one of the SDK's three attempts: the job itself fails.
    let doomedUpload: string | null | undefined;
    const fault = proxy.inject({
      method: 'PUT',
      match: (url) => {
        if (!isUploadPart(url) || url.searchParams.get('partNumber') !== '2') return false;
        doomedUpload ??= url.searchParams.get('uploadId');
        return url.searchParams.get('uploadId') === doomedUpload;
      },
      times: 3,
      action: { kind: 'status', status: 503, code: 'ServiceUnavailable' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(3);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings });
  });

  it('aborts the upload when CompleteMultipartUpload never reaches S3 (connection reset), then archives on the retry', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recording = pipeline.freshRecording(11 * MiB + 7);
    const fault = proxy.inject({
      method: 'POST',
      match: isCompleteMultipartUpload,
      times: 3,
      action: { kind: 'reset-before' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(3);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('absorbs a reset after S3 completed the upload (the SDK retries Complete, which S3 repeats idempotently)', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recording = pipeline.freshRecording(11 * MiB + 7);
    const fault = proxy.inject({
      method: 'POST',
      match: isCompleteMultipartUpload,
      action: { kind: 'reset-after' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(1);
    expect(report.failures).toBe(0);
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('finishes a stored recording whose SHA-256 tag could not be written: the retry hashes the copy again, tags it and writes the sidecar', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recording = pipeline.freshRecording(11 * MiB + 7);
    // Every attempt of the first job's tagging fails; the object is complete by then and stays.
    const fault = proxy.inject({
      method: 'PUT',
      match: (url) => isPutObjectTagging(url) && url.pathname.startsWith(recordingsPath),
      times: 3,
      action: { kind: 'status', status: 500, code: 'InternalError' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(3);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    // Exactly one version: the retry completed the copy instead of uploading it again.
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('keeps exactly one object, with its sidecar, when S3 completed the final upload but every answer was lost', async () => {
    const pipeline = await harness.pipeline({ s3Endpoint: proxy.endpoint });
    const recording = pipeline.freshRecording(11 * MiB + 7);
    // The recording object exists, its sidecar does not, and the worker believes the upload failed.
    const fault = proxy.inject({
      method: 'POST',
      match: (url) => isCompleteMultipartUpload(url) && url.pathname.startsWith(recordingsPath),
      times: 3,
      action: { kind: 'reset-after' },
    });

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(fault.hits).toBe(3);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings: [recording] });
  });
});
