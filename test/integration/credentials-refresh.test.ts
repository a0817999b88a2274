/**
 * Source credentials in a warm Lambda container, on moto's Secrets Manager and the Telphin sandbox: the
 * stack's placeholders fail loudly and distinctly, values an operator puts in later (the README's first
 * step, a rotation, a new webhook secret) reach the warm runtime without a restart, unchanged values keep
 * the adapter and its token, and forged webhooks cannot turn into a flood of secret reads.
 *
 * The runtime's clock runs `offsetMs` ahead of the system clock, so a test can let minutes pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_PLACEHOLDER } from '../../functions/adapters/secrets-credentials';
import { CredentialsNotSetError } from '../../functions/core/errors';
import type { Clock } from '../../functions/core/ports';
import { CREDENTIALS_MAX_AGE_MS, CREDENTIALS_MIN_REREAD_MS } from '../../functions/core/source-registry';
import { telphinHangupWebhookBody } from '../../sandbox/providers/telphin-sandbox';
import { motoAvailable } from '../support/moto';
import {
  type Pipeline,
  type PipelineHarness,
  SOURCE_ID,
  startPipelineHarness,
  WEBHOOK_SECRET,
} from '../support/pipeline-harness';

const NEW_WEBHOOK_SECRET = 'rotated-webhook-secret-9876543210fedcba';

/** The system clock plus an offset the test moves forward. */
function aheadClock(): Clock & { pass(ms: number): void } {
  let offsetMs = 0;
  return {
    now: () => new Date(Date.now() + offsetMs),
    pass(ms: number) {
      offsetMs += ms;
    },
  };
}

describe.skipIf(!motoAvailable())('source credentials in a warm runtime', () => {
  let harness: PipelineHarness;

  beforeAll(async () => {
    harness = await startPipelineHarness();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function archived(pipeline: Pipeline, key: string): Promise<boolean> {
    return (await pipeline.runtime.store.inspect(key))?.hasSidecar === true;
  }

  const realValues = (pipeline: Pipeline, webhookSecret = WEBHOOK_SECRET) => ({
    clientId: pipeline.sandbox.clientId,
    clientSecret: pipeline.sandbox.clientSecret,
    webhookSecret,
  });

  it('refuses placeholders as "credentials not set yet" without asking the platform, then takes the real values without a restart', async () => {
    // Prepare: the secret as the stack creates it, before the operator's first step.
    const clock = aheadClock();
    const pipeline = await harness.pipeline({ clock, maxReceiveCount: 2 });
    await pipeline.putSecret({
      clientId: CREDENTIAL_PLACEHOLDER,
      clientSecret: CREDENTIAL_PLACEHOLDER,
      webhookSecret: WEBHOOK_SECRET,
    });
    const recording = pipeline.freshRecording();

    // Act: the job is tried up to maxReceiveCount, the sources looked up directly once more.
    await pipeline.send([pipeline.recordingJobFor(recording)]);
    await pipeline.drain();
    const lookup = pipeline.runtime.sources.get('telphin', SOURCE_ID);

    // Assess: a distinct error naming the secret, in the dead letter too; the platform never saw a request.
    await expect(lookup).rejects.toBeInstanceOf(CredentialsNotSetError);
    await expect(lookup).rejects.toThrow(
      `credentials not set yet: put the real values in secret ${pipeline.env.sourceSecrets[SOURCE_ID]}`,
    );
    const [letter, ...others] = await pipeline.drainDeadLetters();
    expect(others).toEqual([]);
    expect(letter?.attributes['failure-code']).toBe('CREDENTIALS_NOT_SET');
    expect(letter?.attributes['failure-reason']).toMatch(/^CREDENTIALS_NOT_SET: credentials not set yet/);
    expect(pipeline.sandbox.counters.requests).toBe(0);
    // A failed read is not repeated for every job: one read, then none until the re-read interval is over.
    expect(pipeline.secretReads).toBe(1);

    // Act: the operator puts the real values in; the same warm runtime gets the job again.
    await pipeline.putSecret(realValues(pipeline));
    clock.pass(CREDENTIALS_MIN_REREAD_MS);
    await pipeline.send([pipeline.recordingJobFor(recording)]);
    const report = await pipeline.drain();

    // Assess
    expect(report.failures).toBe(0);
    expect(await archived(pipeline, pipeline.keyOf(recording))).toBe(true);
    expect(pipeline.secretReads).toBe(2);
  });

  it('re-reads refused credentials at once and retries the job with the new ones, in the same delivery', async () => {
    // Prepare: the warm adapter holds a client secret the platform no longer accepts.
    const clock = aheadClock();
    const pipeline = await harness.pipeline({ clock });
    await pipeline.putSecret({ ...realValues(pipeline), clientSecret: 'revoked-client-secret' });
    const first = pipeline.freshRecording();
    await pipeline.send([pipeline.recordingJobFor(first)]);
    const refused = await pipeline.deliver(await pipeline.receive({ waitTimeSeconds: 1 }));
    expect(refused.batchItemFailures).toHaveLength(1);
    expect(pipeline.sandbox.counters.tokenRequests).toBe(1);
    expect(await archived(pipeline, pipeline.keyOf(first))).toBe(false);

    // Act: the operator rotates the secret; half a minute later the job comes back to the warm runtime.
    await pipeline.putSecret(realValues(pipeline));
    clock.pass(CREDENTIALS_MIN_REREAD_MS);
    const report = await pipeline.drain();

    // Assess: no failed delivery left, and exactly one more secret read.
    expect(report.failures).toBe(0);
    expect(await archived(pipeline, pipeline.keyOf(first))).toBe(true);
    expect(pipeline.secretReads).toBe(2);
  });

  it('re-reads working credentials every few minutes, keeping the adapter and its token while they are unchanged', async () => {
    // Prepare
    const clock = aheadClock();
    const pipeline = await harness.pipeline({ clock });
    const [a, b, c] = [pipeline.freshRecording(), pipeline.freshRecording(), pipeline.freshRecording()];
    await pipeline.send([pipeline.recordingJobFor(a)]);
    await pipeline.drain();
    const tokens = pipeline.sandbox.counters.tokenRequests;

    // Act: unchanged secret, read again after its maximum age.
    clock.pass(CREDENTIALS_MAX_AGE_MS);
    await pipeline.send([pipeline.recordingJobFor(b)]);
    await pipeline.drain();

    // Assess: read again, but the same adapter: no new token.
    expect(pipeline.secretReads).toBe(2);
    expect(pipeline.sandbox.counters.tokenRequests).toBe(tokens);
    expect(await archived(pipeline, pipeline.keyOf(b))).toBe(true);

    // Act: a changed secret (same API credentials, new webhook secret) is picked up at the next maximum age.
    await pipeline.putSecret(realValues(pipeline, NEW_WEBHOOK_SECRET));
    clock.pass(CREDENTIALS_MAX_AGE_MS);
    await pipeline.send([pipeline.recordingJobFor(c)]);
    await pipeline.drain();
    const accepted = await pipeline.post(`token=${NEW_WEBHOOK_SECRET}`, telphinHangupWebhookBody(c));

    // Assess: a new adapter, so a new token; the webhook with the new secret is accepted without a re-read.
    expect(pipeline.secretReads).toBe(3);
    expect(pipeline.sandbox.counters.tokenRequests).toBe(tokens + 1);
    expect(accepted.statusCode).toBe(200);
  });

  it('accepts a rotated webhook secret within half a minute and refuses the old one; forged webhooks cost one read per half minute', async () => {
    // Prepare: a warm webhook container.
    const clock = aheadClock();
    const pipeline = await harness.pipeline({ clock });
    const recording = pipeline.freshRecording();
    const body = telphinHangupWebhookBody(recording);
    expect((await pipeline.post(`token=${WEBHOOK_SECRET}`, body)).statusCode).toBe(200);
    expect(pipeline.secretReads).toBe(1);

    // Act: forged tokens right after the container read the secret.
    const forged = async (count: number) => {
      const statuses = new Set<number | undefined>();
      for (let i = 0; i < count; i++) {
        statuses.add((await pipeline.post(`token=forged-${i}-0123456789abcdef`, body)).statusCode);
      }
      return [...statuses];
    };
    expect(await forged(50)).toEqual([403]);

    // Assess: the secret was read just now, so none of them reads it again.
    expect(pipeline.secretReads).toBe(1);

    // Act: more forgeries, spread over two re-read intervals.
    clock.pass(CREDENTIALS_MIN_REREAD_MS);
    expect(await forged(50)).toEqual([403]);
    clock.pass(CREDENTIALS_MIN_REREAD_MS);
    expect(await forged(50)).toEqual([403]);

    // Assess: one read per interval, whatever the number of requests.
    expect(pipeline.secretReads).toBe(3);

    // Act: the operator rotates the webhook secret (and re-subscribes with the new URL).
    await pipeline.putSecret(realValues(pipeline, NEW_WEBHOOK_SECRET));
    const tooSoon = await pipeline.post(`token=${NEW_WEBHOOK_SECRET}`, body);
    clock.pass(CREDENTIALS_MIN_REREAD_MS);
    const afterInterval = await pipeline.post(`token=${NEW_WEBHOOK_SECRET}`, body);
    const old = await pipeline.post(`token=${WEBHOOK_SECRET}`, body);

    // Assess: within one re-read interval the warm container takes the new secret, and only it.
    expect(tooSoon.statusCode).toBe(403);
    expect(afterInterval.statusCode).toBe(200);
    expect(old.statusCode).toBe(403);
    expect(pipeline.secretReads).toBe(4);
  });
});
