import type { CallvaultError } from './errors';

/** SQS refuses visibility timeouts above 12 hours; the local queue uses the same ceiling. */
export const MAX_RETRY_DELAY_SECONDS = 12 * 60 * 60;

export type RetryDecision =
  | { action: 'retry'; delaySeconds: number; reason: string }
  | { action: 'dead-letter'; reason: string }
  /** The job is over without a copy to make: another worker made it, or the source no longer has it. */
  | { action: 'settled'; reason: string };

/** Errors that end a job as done: retrying cannot change them and a human need not act on them. */
const SETTLING_CODES: ReadonlySet<CallvaultError['code']> = new Set(['ALREADY_ARCHIVED', 'GONE_AT_SOURCE']);

export interface RetryPolicy {
  /** First delay for a recording that is not ready yet; doubles per attempt. */
  notReadyBaseSeconds: number;
  notReadyMaxSeconds: number;
  /** Backoff for transient faults: full jitter over base × 2^(attempt-1), capped. */
  transientBaseSeconds: number;
  transientMaxSeconds: number;
  /** Used when a 429 came without Retry-After. */
  rateLimitDefaultSeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  notReadyBaseSeconds: 60,
  notReadyMaxSeconds: 60 * 60,
  transientBaseSeconds: 10,
  transientMaxSeconds: 15 * 60,
  rateLimitDefaultSeconds: 60,
};

/**
 * What to do with a job that failed on its `attempt`-th delivery (1-based). Outcomes that are not
 * failures (already archived, gone at the source) settle the job; permanent failures go to the
 * dead-letter queue at once with their reason; everything else is retried with a delay that suits the
 * failure, and the queue's maxReceiveCount moves a job that never succeeds to the dead-letter queue.
 */
export function decideRetry(
  error: CallvaultError,
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): RetryDecision {
  const reason = `${error.code}: ${error.message}`;
  if (SETTLING_CODES.has(error.code)) return { action: 'settled', reason };
  if (!error.retryable) return { action: 'dead-letter', reason };
  const exponent = Math.max(0, Math.min(attempt - 1, 20));
  let delay: number;
  switch (error.code) {
    case 'NOT_READY':
    // The operator has yet to put the credentials in, or to link billing for a metered API: waiting
    // longer keeps the job alive for hours, so the fix needs no redrive.
    case 'CREDENTIALS_NOT_SET':
    case 'BILLING_REQUIRED': {
      const sooner =
        'retrySoonerSeconds' in error ? (error.retrySoonerSeconds as number | undefined) : undefined;
      const base = Math.min(sooner ?? policy.notReadyBaseSeconds, policy.notReadyBaseSeconds);
      delay = Math.min(base * 2 ** exponent, policy.notReadyMaxSeconds);
      break;
    }
    case 'RATE_LIMITED': {
      const retryAfter =
        'retryAfterSeconds' in error ? (error.retryAfterSeconds as number | undefined) : undefined;
      // A little jitter after the provider's own figure keeps a herd of workers from retrying together.
      delay = (retryAfter ?? policy.rateLimitDefaultSeconds) + random() * 5;
      break;
    }
    case 'DEADLINE':
      // Nothing is wrong with the job: give it back almost at once to a fresh invocation.
      delay = 1;
      break;
    default:
      delay = random() * Math.min(policy.transientBaseSeconds * 2 ** exponent, policy.transientMaxSeconds);
      delay = Math.max(1, delay);
  }
  return { action: 'retry', delaySeconds: Math.min(Math.ceil(delay), MAX_RETRY_DELAY_SECONDS), reason };
}
