/**
 * State that every worker of one source must share, whichever container or process it runs in: the
 * provider session (logins are scarce, so one token serves all) and the rate gate (one budget for all).
 * In-process stores serve one container and the local host; a DynamoDB store with the same contract
 * shares them across Lambda containers. Nothing here may assume one machine.
 */

import { abortableSleep } from './abortable-sleep';
import { TransientError } from './errors';

// ---------------------------------------------------------------- provider sessions

export interface TokenRecord {
  /** Fingerprint of the credentials that obtained this session; a record for others is ignored. */
  credentials: string;
  accessToken?: string;
  /** Epoch ms from which the access token is renewed instead of used (shortly before it expires). */
  accessUsableUntilMs?: number;
  refreshToken?: string;
  refreshUsableUntilMs?: number;
  /** The provider refused these credentials: no login is attempted before this instant. */
  loginRefusedUntilMs?: number;
  /** The provider's own short message for the refusal (never a secret). */
  loginRefusal?: string;
  /** The provider's auth endpoint answered 429: no token request before this instant. */
  authThrottledUntilMs?: number;
  /** What the provider granted with this token (OAuth `scope`, as it sent it); absent when it said nothing. */
  scope?: string;
}

export interface TokenStore {
  get(key: string): Promise<TokenRecord | undefined>;
  /**
   * Writes the record. With `ifAccessToken`, only if the stored record still holds that access token
   * (so a holder dropping a refused token never overwrites a newer one); returns whether it wrote.
   */
  put(key: string, record: TokenRecord, condition?: { ifAccessToken: string }): Promise<boolean>;
  /**
   * Takes the renewal lease for `ttlMs` unless another holder has an unexpired one. True when `holder`
   * has it now. A holder that dies keeps others waiting at most `ttlMs`.
   */
  tryLease(key: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean>;
  /** Gives the lease back early; a no-op unless `holder` has it. */
  releaseLease(key: string, holder: string): Promise<void>;
}

export type UsableToken = TokenRecord & { accessToken: string };

export interface SharedTokenOptions {
  store: TokenStore;
  key: string;
  /** This adapter instance: the lease is taken and given back under this name. */
  holder: string;
  /** Fingerprint of the credentials in use; a record obtained with others is ignored. */
  credentials: string;
  now: () => number;
  /** How long the renewal lease lasts if its holder dies. Default 30 s. */
  leaseTtlMs?: number;
  /** How long a holder waits for another one's renewal before giving up (TransientError). Default 30 s. */
  leaseWaitMs?: number;
  /** Polling interval while waiting for another holder. Default 200 ms. */
  pollMs?: number;
  /** What is being obtained, for messages ("the RingCentral session"). */
  what: string;
  /** Throws when a refusal or throttle that any holder recorded forbids asking the provider now. */
  throwIfBlocked(record: TokenRecord | undefined): void;
  /** Asks the provider for a new token (login or refresh), given the record as it stands. */
  renew(current: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenRecord>;
}

export function usableToken(record: TokenRecord | undefined, nowMs: number): record is UsableToken {
  return !!record?.accessToken && (record.accessUsableUntilMs ?? 0) > nowMs;
}

/** The source's record, if it was obtained with these credentials. */
export async function readOwnToken(
  store: TokenStore,
  key: string,
  credentials: string,
): Promise<TokenRecord | undefined> {
  const record = await store.get(key);
  return record?.credentials === credentials ? record : undefined;
}

/**
 * A usable token for the source, shared by every holder: the stored one while it lasts; otherwise only
 * the holder of the lease asks the provider, and the others wait for its result. Logins are scarce on
 * every platform that needs this, so a container never renews on its own.
 */
export async function obtainSharedToken(
  options: SharedTokenOptions,
  signal?: AbortSignal,
): Promise<UsableToken> {
  const { store, key, holder, credentials, now } = options;
  const waitUntil = now() + (options.leaseWaitMs ?? 30_000);
  for (;;) {
    const record = await readOwnToken(store, key, credentials);
    if (usableToken(record, now())) return record;
    options.throwIfBlocked(record);
    if (await store.tryLease(key, holder, options.leaseTtlMs ?? 30_000, now())) {
      try {
        // Someone may have renewed between our read and the lease.
        const current = await readOwnToken(store, key, credentials);
        if (usableToken(current, now())) return current;
        options.throwIfBlocked(current);
        const renewed = await options.renew(current, signal);
        await store.put(key, renewed);
        if (!renewed.accessToken)
          throw new TransientError(`${options.what}: the provider answered without a token`);
        return renewed as UsableToken;
      } finally {
        await store.releaseLease(key, holder);
      }
    }
    if (now() >= waitUntil) {
      throw new TransientError(`another worker is obtaining ${options.what} and has not finished`);
    }
    await abortableSleep(options.pollMs ?? 200, signal, `waiting for ${options.what}`);
  }
}

/** One container's store. Its operations are atomic because nothing in them awaits. */
export class InProcessTokenStore implements TokenStore {
  private readonly records = new Map<string, TokenRecord>();
  private readonly leases = new Map<string, { holder: string; expiresAtMs: number }>();

  async get(key: string): Promise<TokenRecord | undefined> {
    const record = this.records.get(key);
    return record ? { ...record } : undefined;
  }

  async put(key: string, record: TokenRecord, condition?: { ifAccessToken: string }): Promise<boolean> {
    if (condition && this.records.get(key)?.accessToken !== condition.ifAccessToken) return false;
    this.records.set(key, { ...record });
    return true;
  }

  async tryLease(key: string, holder: string, ttlMs: number, nowMs: number): Promise<boolean> {
    const lease = this.leases.get(key);
    if (lease && lease.holder !== holder && lease.expiresAtMs > nowMs) return false;
    this.leases.set(key, { holder, expiresAtMs: nowMs + ttlMs });
    return true;
  }

  async releaseLease(key: string, holder: string): Promise<void> {
    if (this.leases.get(key)?.holder === holder) this.leases.delete(key);
  }
}

// ---------------------------------------------------------------- rate gates

export type GateReservation =
  /** The caller owns the slot at `atMs` and may send then, once the gate is still open. */
  | { granted: true; atMs: number }
  /** The next slot opens at `atMs`, later than the caller is willing to wait; nothing was taken. */
  | { granted: false; atMs: number };

export interface RateGateStore {
  /**
   * Atomically takes the next slot: the latest of now, the slot after the last one taken, and the end
   * of any closure. Taken only if it opens within `maxWaitMs`; the following slot is `intervalMs`
   * later (or the interval learnt from the server, once set).
   */
  reserve(
    key: string,
    request: { nowMs: number; intervalMs: number; maxWaitMs: number },
  ): Promise<GateReservation>;
  /** Closes the gate until `untilMs` for every holder. A later closure stands; an earlier one is extended. */
  close(key: string, untilMs: number): Promise<void>;
  /** Epoch ms until which the gate is closed (0 when it never was). */
  closedUntil(key: string): Promise<number>;
  /**
   * Adopts the pacing the server reported (window / limit), from the last slot taken on: a slot
   * scheduled with the old pacing moves later when the new one is slower.
   */
  learnInterval(key: string, intervalMs: number): Promise<void>;
}

export interface GateState {
  nextSlotAtMs: number;
  lastSlotAtMs?: number;
  closedUntilMs: number;
  learntIntervalMs?: number;
}

/** The reservation rule, shared by every store so they cannot drift apart. */
export function reserveSlot(
  state: GateState,
  request: { nowMs: number; intervalMs: number; maxWaitMs: number },
): { reservation: GateReservation; next: GateState } {
  const atMs = Math.max(request.nowMs, state.nextSlotAtMs, state.closedUntilMs);
  if (atMs - request.nowMs > request.maxWaitMs) return { reservation: { granted: false, atMs }, next: state };
  return {
    reservation: { granted: true, atMs },
    next: {
      ...state,
      lastSlotAtMs: atMs,
      nextSlotAtMs: atMs + (state.learntIntervalMs ?? request.intervalMs),
    },
  };
}

/** The rule for a learnt interval, shared likewise. */
export function learnGateInterval(state: GateState, intervalMs: number): GateState {
  return {
    ...state,
    learntIntervalMs: intervalMs,
    nextSlotAtMs:
      state.lastSlotAtMs === undefined
        ? state.nextSlotAtMs
        : Math.max(state.nextSlotAtMs, state.lastSlotAtMs + intervalMs),
  };
}

/** One container's schedule. Operations are atomic because nothing in them awaits. */
export class InProcessRateGateStore implements RateGateStore {
  private readonly states = new Map<string, GateState>();

  private state(key: string): GateState {
    return this.states.get(key) ?? { nextSlotAtMs: 0, closedUntilMs: 0 };
  }

  async reserve(
    key: string,
    request: { nowMs: number; intervalMs: number; maxWaitMs: number },
  ): Promise<GateReservation> {
    const { reservation, next } = reserveSlot(this.state(key), request);
    this.states.set(key, next);
    return reservation;
  }

  async close(key: string, untilMs: number): Promise<void> {
    const state = this.state(key);
    this.states.set(key, { ...state, closedUntilMs: Math.max(state.closedUntilMs, untilMs) });
  }

  async closedUntil(key: string): Promise<number> {
    return this.state(key).closedUntilMs;
  }

  async learnInterval(key: string, intervalMs: number): Promise<void> {
    this.states.set(key, learnGateInterval(this.state(key), intervalMs));
  }
}
