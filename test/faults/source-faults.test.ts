/**
 * Faults at the platform (the Telphin sandbox): broken, short, stalled and fake bodies, throttling,
 * server errors and expiring tokens. Each scenario runs the real pipeline (webhook or sweep → SQS →
 * worker → S3 on moto) until the queue is empty, then checks the invariants.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { motoAvailable } from '../support/moto';
import { type PipelineHarness, startPipelineHarness, WEBHOOK_SECRET } from '../support/pipeline-harness';
import { assertInvariants } from './invariants';

const MiB = 1024 * 1024;

describe.skipIf(!motoAvailable())('source faults', () => {
  let harness: PipelineHarness;

  beforeAll(async () => {
    harness = await startPipelineHarness();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('archives every recording intact when downloads reset at random points of the body', async () => {
    const pipeline = await harness.pipeline();
    // Single-put and multipart sizes; the offsets are drawn by fast-check from a fixed seed.
    const sizes = [200_000, 5 * MiB + 3, 11 * MiB + 1];
    const recordings = sizes.map((size) => pipeline.freshRecording(size));
    const offsets = fc.sample(fc.tuple(...sizes.map((size) => fc.integer({ min: 0, max: size - 1 }))), {
      seed: 20_240_517,
      numRuns: 1,
    })[0]!;
    const faults = recordings.map((recording, index) =>
      pipeline.sandbox.injectFault(
        { kind: 'reset-mid-body', afterBytes: offsets[index] },
        { recordUuid: recording.recordUuid, routes: ['storage', 'file'] },
      ),
    );

    await pipeline.sweep();
    const report = await pipeline.drain();

    expect(faults.map((fault) => fault.hits)).toEqual([1, 1, 1]);
    expect(report.failures).toBeGreaterThanOrEqual(recordings.length);
    await assertInvariants(pipeline, { recordings });
  });

  it('gives up on a stalled download after the idle timeout and archives it on the retry', async () => {
    // The registry's adapters take no tuning from the config, so the idle timeout is shortened on a
    // TelphinSource the harness builds itself (same config, same Secrets Manager credentials).
    const pipeline = await harness.pipeline({ telphinTuning: { idleTimeoutMs: 400 } });
    const recordings = [pipeline.freshRecording(700_000), pipeline.freshRecording(6 * MiB)];
    const stalls = recordings.map((recording, index) =>
      pipeline.sandbox.injectFault(
        { kind: 'stall', afterBytes: index === 0 ? 100_000 : 5 * MiB + 100 },
        { recordUuid: recording.recordUuid },
      ),
    );

    await pipeline.sweep();
    const started = Date.now();
    const report = await pipeline.drain({ timeoutMs: 30_000 });

    expect(stalls.map((stall) => stall.hits)).toEqual([1, 1]);
    expect(report.failures).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(20_000);
    await assertInvariants(pipeline, { recordings });
  });

  it('refuses a body shorter than its Content-Length and archives the full recording later', async () => {
    const pipeline = await harness.pipeline();
    const recordings = [pipeline.freshRecording(300_000), pipeline.freshRecording(7 * MiB)];
    const faults = recordings.map((recording) =>
      pipeline.sandbox.injectFault({ kind: 'short-body' }, { recordUuid: recording.recordUuid }),
    );

    await pipeline.sweep();
    await pipeline.drain();

    expect(faults.map((fault) => fault.hits)).toEqual([1, 1]);
    await assertInvariants(pipeline, { recordings });
  });

  it('never archives an HTML error page served with status 200', async () => {
    const pipeline = await harness.pipeline();
    const recording = pipeline.freshRecording(400_000);
    // Three attempts in a row get the page instead of the audio.
    const page = pipeline.sandbox.injectFault(
      { kind: 'html-page' },
      { recordUuid: recording.recordUuid, times: 3 },
    );

    await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    const report = await pipeline.drain();

    expect(page.hits).toBe(3);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings: [recording] });
  });

  it('rides out a storm of 429s, waiting as long as the platform says, without dead-lettering', async () => {
    const pipeline = await harness.pipeline({ maxReceiveCount: 8 });
    const recordings = [
      pipeline.freshRecording(250_000),
      pipeline.freshRecording(260_000),
      pipeline.freshRecording(270_000),
    ];
    // Hint resolution (list) and downloads (storage_url) hit the hourly quota; it resets in 1 s.
    const storm = pipeline.sandbox.injectFault(
      { kind: 'hourly-quota', resetSeconds: 1 },
      { routes: ['list', 'storage-url', 'file'], times: 8 },
    );
    // decideRetry adds up to 5 s of jitter after Retry-After; pin it to keep the scenario short.
    vi.spyOn(Math, 'random').mockReturnValue(0);

    for (const recording of recordings) {
      expect(
        (await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording))).statusCode,
      ).toBe(200);
    }
    const report = await pipeline.drain({ timeoutMs: 60_000 });

    expect(storm.hits).toBe(8);
    expect(report.failures).toBeGreaterThanOrEqual(1);
    await assertInvariants(pipeline, { recordings });
  });

  it('retries through bursts of 5xx on the API, the storage URL and downloads', async () => {
    const pipeline = await harness.pipeline();
    const recordings = [pipeline.freshRecording(300_000), pipeline.freshRecording(6 * MiB + 9)];
    const burst = pipeline.sandbox.injectFault(
      { kind: 'server-error', status: 503 },
      { routes: ['list', 'storage-url', 'storage', 'file'], times: 6 },
    );
    const gateway = pipeline.sandbox.injectFault(
      { kind: 'server-error', status: 502 },
      { routes: ['storage', 'file'], times: 2 },
    );

    for (const recording of recordings)
      await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));
    await pipeline.drain();

    expect(burst.hits).toBe(6);
    expect(gateway.hits).toBe(2);
    await assertInvariants(pipeline, { recordings });
  });

  it('renews expired and revoked tokens mid-run without losing or dead-lettering a job', async () => {
    const pipeline = await harness.pipeline({ download: 'direct', sandbox: { tokenTtlSeconds: 1 } });
    const recordings = Array.from({ length: 4 }, (_, index) =>
      pipeline.freshRecording(150_000 + index * 1000),
    );
    for (const recording of recordings)
      await pipeline.post(`token=${WEBHOOK_SECRET}`, telphinHangupWebhookBody(recording));

    // One job per invocation; every token is revoked between invocations, and each lives 1 s anyway.
    const deadline = Date.now() + 45_000;
    while ((await pipeline.depth()) > 0 && Date.now() < deadline) {
      const records = await pipeline.receive({ maxMessages: 1, waitTimeSeconds: 1 });
      if (records.length === 0) continue;
      pipeline.sandbox.revokeTokens();
      await pipeline.deliver(records);
    }

    expect(pipeline.sandbox.counters.unauthorizedRequests).toBeGreaterThanOrEqual(recordings.length);
    expect(pipeline.sandbox.counters.tokenRequests).toBeGreaterThan(recordings.length);
    await assertInvariants(pipeline, { recordings });
  });
});
