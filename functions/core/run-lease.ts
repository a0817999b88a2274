/**
 * One run at a time for the scheduled jobs that must not overlap (retention, subscriptions): a lease with
 * an expiry, so a holder that dies frees it after `ttlMs`. Lambda's reserved concurrency cannot be
 * relied on for this (new accounts cannot reserve any, see README "Deploy to AWS"), so the run itself
 * takes the lease before doing anything.
 */
import { abortableSleep } from './abortable-sleep';
import type { Clock, RunKind } from './ports';

export interface RunLeases {
  /**
   * Takes the lease of `kind` for `ttlMs` unless another holder has an unexpired one; true when `holder`
   * has it now. Two concurrent callers never both get true.
   */
  acquire(kind: RunKind, holder: string, ttlMs: number, nowMs: number): Promise<boolean>;
  /** Gives the lease back; a no-op unless `holder` has it. */
  release(kind: RunKind, holder: string): Promise<void>;
}

/** `state/leases/{kind}.json`: beside the run records, one object per kind of run. */
export function runLeaseKey(kind: RunKind): string {
  return `state/leases/${kind}.json`;
}

export interface RunExclusivelyOptions {
  holder: string;
  /** How long the lease lasts if this run dies: at least the run's own deadline. */
  ttlMs: number;
  clock: Clock;
  /** How long to wait for another holder to finish before giving up. Default 0: try once. */
  waitMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

export type ExclusiveRun<T> = { ran: true; result: T } | { ran: false };

/** Runs `run` while holding the lease of `kind`; `{ ran: false }` when another run held it throughout. */
export async function runExclusively<T>(
  leases: RunLeases,
  kind: RunKind,
  options: RunExclusivelyOptions,
  run: () => Promise<T>,
): Promise<ExclusiveRun<T>> {
  const { clock, holder, ttlMs } = options;
  const giveUpAt = clock.now().getTime() + (options.waitMs ?? 0);
  while (!(await leases.acquire(kind, holder, ttlMs, clock.now().getTime()))) {
    if (clock.now().getTime() >= giveUpAt || options.signal?.aborted) return { ran: false };
    await abortableSleep(options.pollMs ?? 1_000, options.signal, `waiting for the ${kind} lease`).catch(
      () => undefined,
    );
  }
  try {
    return { ran: true, result: await run() };
  } finally {
    await leases.release(kind, holder);
  }
}
