/**
 * Where a RingCentral session lives between requests, containers and invocations. Logins are scarce
 * (the Auth group allows about 5 a minute, and a user keeps about 5 parallel sessions before the oldest
 * is cut), so every holder of one source shares one token: they read it here, and only the holder of
 * the lease renews it. The in-process store serves one container (and the local host); a DynamoDB
 * store with the same contract shares it across Lambda containers.
 */

export interface TokenRecord {
  /** Fingerprint of the credentials that obtained this session; a record for others is ignored. */
  credentials: string;
  accessToken?: string;
  /** Epoch ms from which the access token is renewed instead of used (shortly before it expires). */
  accessUsableUntilMs?: number;
  refreshToken?: string;
  refreshUsableUntilMs?: number;
  /** RingCentral refused these credentials: no login is attempted before this instant. */
  loginRefusedUntilMs?: number;
  /** RingCentral's own short message for the refusal (never a secret). */
  loginRefusal?: string;
  /** The Auth group answered 429: no token request before this instant. */
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

/** The store every RingCentral source of this process shares unless it is given another. */
export const processTokenStore = new InProcessTokenStore();
