/**
 * State that every worker of one source must share, whichever container or process it runs in: the
 * provider session (logins are scarce, so one token serves all) and the rate gate (one budget for all).
 * In-process stores serve one container and the local host; a DynamoDB store with the same contract
 * shares them across Lambda containers. Nothing here may assume one machine.
 */

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
