/**
 * Runs a source call, waiting out the provider's rate limits instead of failing: a backfill over months
 * will meet an hourly quota, and the right answer is to wait for the reset, not to give up or hammer.
 */
import { RateLimitedError } from '../core/errors';

export interface RateLimitWaitOptions {
  /** A single wait longer than this gives up with RateLimitWaitTooLongError. */
  maxWaitSeconds: number;
  /** Used when the provider gave no Retry-After. */
  defaultWaitSeconds?: number;
  /** Told before each wait (the CLI prints it). */
  onWait?: (seconds: number, error: RateLimitedError) => void;
  signal?: AbortSignal;
  /** Injected by tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class RateLimitWaitTooLongError extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    readonly maxWaitSeconds: number,
    options: { cause: unknown },
  ) {
    super(
      `the source is rate limited for ${formatDuration(retryAfterSeconds)}, longer than --max-wait ${formatDuration(maxWaitSeconds)}; ` +
        'rerun later (the backfill resumes where it stopped) or raise --max-wait',
      options,
    );
    this.name = 'RateLimitWaitTooLongError';
  }
}

/** A few seconds past the provider's figure, so the first request after the wait lands in the new quota. */
const WAIT_MARGIN_SECONDS = 1;

export async function withRateLimitWaits<T>(
  call: () => Promise<T>,
  options: RateLimitWaitOptions,
): Promise<T> {
  const sleep = options.sleep ?? abortableSleep;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof RateLimitedError) || options.signal?.aborted) throw error;
      const seconds = (error.retryAfterSeconds ?? options.defaultWaitSeconds ?? 60) + WAIT_MARGIN_SECONDS;
      if (seconds > options.maxWaitSeconds) {
        throw new RateLimitWaitTooLongError(seconds, options.maxWaitSeconds, { cause: error });
      }
      options.onWait?.(seconds, error);
      await sleep(seconds * 1000, options.signal);
    }
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
