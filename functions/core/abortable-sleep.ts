import { TransientError } from './errors';

/** Waits `ms`; an abort (the invocation's deadline) ends the wait with a TransientError saying `what`. */
export function abortableSleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new TransientError(`aborted while ${what}`);
    if (signal?.aborted) return reject(aborted());
    if (ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
