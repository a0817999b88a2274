import { describe, expect, it } from 'vitest';
import {
  AlreadyArchivedError,
  GoneAtSourceError,
  InvalidInputError,
  NotReadyError,
  PermanentError,
  RateLimitedError,
  TransientError,
  UnauthenticatedError,
} from '../../../functions/core/errors';
import { decideRetry, MAX_RETRY_DELAY_SECONDS } from '../../../functions/core/retry-policy';

const noJitter = () => 1;

describe('decideRetry', () => {
  it('dead-letters permanent and invalid-input failures at once, with the reason', () => {
    expect(decideRetry(new PermanentError('recording gone'), 1)).toEqual({
      action: 'dead-letter',
      reason: 'PERMANENT: recording gone',
    });
    expect(decideRetry(new InvalidInputError('bad job'), 1).action).toBe('dead-letter');
  });

  it('settles a job that is already archived or gone at the source, on any attempt', () => {
    expect(decideRetry(new GoneAtSourceError('no longer listed'), 1)).toEqual({
      action: 'settled',
      reason: 'GONE_AT_SOURCE: no longer listed',
    });
    expect(decideRetry(new GoneAtSourceError('no longer listed'), 99).action).toBe('settled');
    expect(decideRetry(new AlreadyArchivedError('raced'), 1).action).toBe('settled');
  });

  it('waits longer each time a recording is not ready, up to an hour', () => {
    const delays = [1, 2, 3, 10].map((attempt) => decideRetry(new NotReadyError('live'), attempt));
    expect(delays.map((d) => (d.action === 'retry' ? d.delaySeconds : -1))).toEqual([60, 120, 240, 3600]);
  });

  it("honours the provider's Retry-After", () => {
    const decision = decideRetry(new RateLimitedError('quota', 1800), 1, undefined, () => 0);
    expect(decision).toMatchObject({ action: 'retry', delaySeconds: 1800 });
  });

  it('caps delays at the SQS maximum', () => {
    const decision = decideRetry(new RateLimitedError('quota', 10 * 86400), 1, undefined, () => 0);
    expect(decision).toMatchObject({ delaySeconds: MAX_RETRY_DELAY_SECONDS });
  });

  it('backs off transient faults exponentially with jitter', () => {
    const first = decideRetry(new TransientError('reset'), 1, undefined, noJitter);
    const fifth = decideRetry(new TransientError('reset'), 5, undefined, noJitter);
    const jittered = decideRetry(new TransientError('reset'), 5, undefined, () => 0.5);
    expect(first).toMatchObject({ delaySeconds: 10 });
    expect(fifth).toMatchObject({ delaySeconds: 160 });
    expect(jittered).toMatchObject({ delaySeconds: 80 });
  });

  it('retries refused credentials so a rotated secret heals without a redrive', () => {
    expect(decideRetry(new UnauthenticatedError('401'), 1).action).toBe('retry');
  });

  it('retries sooner when the source says a recording is usually ready in seconds, but never later than the policy', () => {
    const soon = (seconds: number) =>
      new NotReadyError('content not served yet', { retrySoonerSeconds: seconds });
    expect([1, 2, 3].map((attempt) => decideRetry(soon(8), attempt))).toEqual([
      expect.objectContaining({ action: 'retry', delaySeconds: 8 }),
      expect.objectContaining({ action: 'retry', delaySeconds: 16 }),
      expect.objectContaining({ action: 'retry', delaySeconds: 32 }),
    ]);
    // A hint longer than the policy's base does not slow the retry down.
    expect(decideRetry(soon(600), 1)).toMatchObject({ delaySeconds: 60 });
    expect(decideRetry(new NotReadyError('no hint'), 1)).toMatchObject({ delaySeconds: 60 });
  });
});
