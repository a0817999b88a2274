/**
 * RingCentral sessions for one source: JWT grant login, refresh, and one token shared by every holder
 * through the `TokenStore`. The access token is reused until shortly before it expires; then the
 * refresh token renews it; a new login happens only when the refresh is refused or an API call answered
 * 401. Only the holder of the store's lease renews, the others wait for its result, and a refused JWT
 * is remembered so that no holder tries again for a while: a bad credential is one clear failure, not
 * a login storm against the small Auth group.
 */
import { createHash, randomUUID } from 'node:crypto';
import { CallvaultError, RateLimitedError, TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import {
  obtainSharedToken,
  readOwnToken,
  type TokenRecord,
  type TokenStore,
  type UsableToken,
  usableToken,
} from '../../core/shared-state';
import {
  errorForStatus,
  type HttpTextResponse,
  parseJsonBody,
  retryAfterSeconds,
  sendHttpRequest,
  summariseErrorBody,
} from '../http';

export const JWT_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * RingCentral refused the source's credentials (client id/secret or JWT). Not retryable: only a human
 * fixing the app or the secret helps, and every retry would spend the scarce Auth budget.
 */
export class CredentialsRefusedError extends CallvaultError {
  readonly code = 'UNAUTHENTICATED' as const;
  readonly retryable = false;
}

export interface RingCentralAuthOptions {
  serverUrl: string;
  clientId: string;
  clientSecret: string;
  jwt: string;
  /** The store key; one per source. */
  key: string;
  store: TokenStore;
  clock: Clock;
  log: Log;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long a refused login blocks further attempts with the same credentials. Default 15 min. */
  refusalCooldownMs?: number;
  /** How long the renewal lease lasts if its holder dies. Default 30 s. */
  leaseTtlMs?: number;
  /** How long a holder waits for another one's renewal before giving up (TransientError). Default 30 s. */
  leaseWaitMs?: number;
  /** Polling interval while waiting for another holder. Default 200 ms. */
  pollMs?: number;
  /** Sees the `scope` of every token this holder obtains (the app's permissions; undefined if absent). */
  onScope?: (scope: string | undefined) => void;
}

/** Fingerprint of the credentials a session belongs to; a rotated JWT or app starts afresh. */
function fingerprint(options: RingCentralAuthOptions): string {
  return createHash('sha256')
    .update(`${options.serverUrl}\n${options.clientId}\n${options.jwt}`)
    .digest('hex')
    .slice(0, 32);
}

/** Renew this long before expiry: 60 s, or a tenth of short lifetimes. */
function renewalMarginMs(lifetimeSeconds: number): number {
  return Math.min(60, lifetimeSeconds * 0.1) * 1000;
}

interface TokenAnswer {
  accessToken: string;
  expiresIn: number;
  refreshToken?: string;
  refreshExpiresIn?: number;
  /** The app's permissions, space-separated. */
  scope?: string;
}

/** Why a token request did not yield a token. */
class TokenRefused extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export class RingCentralAuth {
  private readonly credentials: string;
  private readonly holder = randomUUID();
  private readonly tokenUrl: string;
  private cached: TokenRecord | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly options: RingCentralAuthOptions) {
    this.credentials = fingerprint(options);
    this.tokenUrl = new URL('/restapi/oauth/token', options.serverUrl).href;
  }

  private now(): number {
    return this.options.clock.now().getTime();
  }

  private usable(record: TokenRecord | undefined): record is UsableToken {
    return usableToken(record, this.now());
  }

  /** The current access token; renews it (or waits for whoever renews it) when it is due. */
  async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.usable(this.cached)) return this.cached.accessToken;
    // Callers in this process share one attempt; other processes are coordinated by the store.
    this.pending ??= this.obtain(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * The permissions (`scope`) of the current session as its token answer reported them, after making
   * sure there is one; undefined when the answer carried no scope.
   */
  async grantedScope(signal?: AbortSignal): Promise<string | undefined> {
    const token = await this.accessToken(signal);
    return this.cached?.accessToken === token ? this.cached.scope : undefined;
  }

  /**
   * An API call answered 401 with `token`: drop it so that the next caller logs in again (not a
   * refresh: the session itself may be gone). A newer token someone stored meanwhile is kept.
   */
  async rejectAccessToken(token: string): Promise<void> {
    if (this.cached?.accessToken === token) this.cached = undefined;
    const record = await readOwnToken(this.options.store, this.options.key, this.credentials);
    if (record?.accessToken !== token) return;
    const {
      accessToken: _a,
      accessUsableUntilMs: _u,
      refreshToken: _r,
      refreshUsableUntilMs: _ru,
      ...rest
    } = record;
    await this.options.store.put(this.options.key, rest, { ifAccessToken: token });
    this.options.log.info('ringcentral access token refused by the API; the next request logs in again', {
      source: this.options.key,
    });
  }

  private async obtain(signal?: AbortSignal): Promise<string> {
    const token = await obtainSharedToken(
      {
        store: this.options.store,
        key: this.options.key,
        holder: this.holder,
        credentials: this.credentials,
        now: () => this.now(),
        leaseTtlMs: this.options.leaseTtlMs,
        leaseWaitMs: this.options.leaseWaitMs,
        pollMs: this.options.pollMs,
        what: 'the RingCentral session',
        throwIfBlocked: (record) => this.throwIfBlocked(record),
        renew: (current, renewSignal) => this.renew(current, renewSignal),
      },
      signal,
    );
    this.cached = token;
    return token.accessToken;
  }

  /** Refusals and Auth-group throttling recorded by any holder stop this one before it sends anything. */
  private throwIfBlocked(record: TokenRecord | undefined): void {
    const now = this.now();
    if (record?.loginRefusedUntilMs && record.loginRefusedUntilMs > now) {
      throw new CredentialsRefusedError(
        `RingCentral refused the credentials of source ${this.options.key} (${record.loginRefusal ?? 'no reason given'}); ` +
          `no new login before ${new Date(record.loginRefusedUntilMs).toISOString()}: fix the app's client id/secret or the JWT`,
      );
    }
    if (record?.authThrottledUntilMs && record.authThrottledUntilMs > now) {
      const seconds = Math.ceil((record.authThrottledUntilMs - now) / 1000);
      throw new RateLimitedError(`RingCentral Auth group throttled for source ${this.options.key}`, seconds);
    }
  }

  /** Refresh when the refresh token is still good; log in when it is not or when it is refused. */
  private async renew(record: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenRecord> {
    const { log, key } = this.options;
    if (record?.refreshToken && (record.refreshUsableUntilMs ?? 0) > this.now()) {
      try {
        const answer = await this.requestToken(
          { grant_type: 'refresh_token', refresh_token: record.refreshToken },
          record,
          signal,
        );
        log.debug('ringcentral session refreshed', { source: key });
        this.options.onScope?.(answer.scope);
        return this.recordOf(answer);
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        log.info('ringcentral refresh token refused; logging in again', {
          source: key,
          reason: error.detail,
        });
      }
    }
    try {
      const answer = await this.requestToken(
        { grant_type: JWT_GRANT_TYPE, assertion: this.options.jwt },
        record,
        signal,
      );
      // `event` is what the login-count metric filter matches (logins per source and hour).
      log.info('ringcentral login (JWT grant)', { source: key, event: 'RINGCENTRAL_LOGIN' });
      this.options.onScope?.(answer.scope);
      return this.recordOf(answer);
    } catch (error) {
      if (!(error instanceof TokenRefused)) throw error;
      const cooldownMs = this.options.refusalCooldownMs ?? 15 * 60_000;
      const refusal: TokenRecord = {
        credentials: this.credentials,
        loginRefusedUntilMs: this.now() + cooldownMs,
        loginRefusal: `HTTP ${error.status}: ${error.detail}`,
      };
      await this.options.store.put(key, refusal);
      log.error('ringcentral refused the JWT login', {
        source: key,
        errorCode: 'RINGCENTRAL_LOGIN_REFUSED',
        status: error.status,
        reason: error.detail,
      });
      throw new CredentialsRefusedError(
        `RingCentral refused the JWT login of source ${key} (HTTP ${error.status}: ${error.detail}); ` +
          "fix the app's client id/secret or the JWT",
      );
    }
  }

  private recordOf(answer: TokenAnswer): TokenRecord {
    const now = this.now();
    return {
      credentials: this.credentials,
      accessToken: answer.accessToken,
      accessUsableUntilMs: now + answer.expiresIn * 1000 - renewalMarginMs(answer.expiresIn),
      refreshToken: answer.refreshToken,
      refreshUsableUntilMs:
        answer.refreshToken && answer.refreshExpiresIn
          ? now + answer.refreshExpiresIn * 1000 - renewalMarginMs(answer.refreshExpiresIn)
          : undefined,
      scope: answer.scope,
    };
  }

  /**
   * One POST to the token endpoint with the app's Basic credentials. 400/401/403 become TokenRefused; a
   * 429 records the Auth group's wait for every holder and throws RateLimitedError.
   */
  private async requestToken(
    form: Record<string, string>,
    record: TokenRecord | undefined,
    signal?: AbortSignal,
  ): Promise<TokenAnswer> {
    const basic = Buffer.from(`${this.options.clientId}:${this.options.clientSecret}`).toString('base64');
    const response = await sendHttpRequest(this.tokenUrl, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(form).toString(),
      allowedHosts: [new URL(this.tokenUrl).host],
      signal,
      idleTimeoutMs: this.options.idleTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
    });
    if (response.status === 429) {
      const seconds = retryAfterSeconds(response.headers, this.options.clock.now()) ?? 60;
      await this.options.store.put(this.options.key, {
        ...(record ?? { credentials: this.credentials }),
        authThrottledUntilMs: this.now() + seconds * 1000,
      });
      throw new RateLimitedError(`RingCentral Auth group throttled source ${this.options.key}`, seconds);
    }
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      throw new TokenRefused(response.status, describeRefusal(response));
    }
    if (response.status < 200 || response.status >= 300) {
      throw errorForStatus(
        response.status,
        response.headers,
        response.where,
        summariseErrorBody(response.text),
      );
    }
    const body = parseJsonBody(response) as Record<string, unknown> | null;
    const accessToken = body?.access_token;
    const expiresIn = body?.expires_in;
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      typeof expiresIn !== 'number' ||
      expiresIn <= 0
    ) {
      throw new TransientError('RingCentral token answer lacks access_token or expires_in');
    }
    const refreshToken = typeof body?.refresh_token === 'string' ? body.refresh_token : undefined;
    const refreshExpiresIn =
      typeof body?.refresh_token_expires_in === 'number' ? body.refresh_token_expires_in : undefined;
    const scope = typeof body?.scope === 'string' ? body.scope : undefined;
    return { accessToken, expiresIn, refreshToken, refreshExpiresIn, scope };
  }
}

/** `error_description` or `error` of an OAuth refusal, short and free of what we sent. */
function describeRefusal(response: HttpTextResponse): string {
  try {
    const body = JSON.parse(response.text) as Record<string, unknown>;
    const parts = [body.error, body.error_description].filter(
      (part): part is string => typeof part === 'string' && part !== '',
    );
    if (parts.length > 0) return parts.join(': ').slice(0, 200);
  } catch {
    // Not JSON: fall through.
  }
  return summariseErrorBody(response.text) ?? 'no reason given';
}
