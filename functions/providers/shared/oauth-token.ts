/**
 * OAuth tokens (RFC 6749) shared through the `TokenStore`, renewed by the lease holder only. Refusals and
 * throttling are remembered for every holder: a bad credential is one failure, not a token-request storm.
 */
import { createHash, randomUUID } from 'node:crypto';
import { RateLimitedError, TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import {
  obtainSharedToken,
  readOwnToken,
  type SharedTokenOptions,
  type TokenRecord,
  usableToken,
} from '../../core/shared-state';
import {
  type HttpOptions,
  type HttpTextResponse,
  jsonOf,
  retryAfterSeconds,
  sendHttpRequest,
  summariseErrorBody,
} from '../http';
import { jsonObject, tryJson } from './json';

/** A token endpoint's answer (RFC 6749 §5.1). */
export interface TokenGrant {
  accessToken: string;
  expiresIn: number;
  refreshToken?: string;
  refreshExpiresIn?: number;
  /** What was granted, space-separated, as the provider sent it. */
  scope?: string;
}

/** The token endpoint refused the request (400/401/403): its status and short reason. */
export class TokenRequestRefused extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** The token endpoint answered 429: wait `retryAfterSeconds` before asking again. */
export class TokenEndpointThrottled extends RateLimitedError {}

export interface TokenRequest
  extends Pick<HttpOptions, 'headers' | 'maxRedirects' | 'signal' | 'idleTimeoutMs' | 'connectTimeoutMs'> {
  url: string;
  form: Record<string, string>;
  /** Names the provider in messages ("RingCentral"). */
  provider: string;
  /** Lifetime assumed when the answer names none; without it such an answer is refused as malformed. */
  defaultExpiresIn?: number;
  /** Longest refusal reason kept. Default 240. */
  maxDetail?: number;
  /** The clock's now, for a Retry-After given as a date. */
  now?: Date;
}

/** One POST to a token endpoint, on its own host only; refusals and a 429 throw the errors above. */
export async function requestOAuthToken(request: TokenRequest): Promise<TokenGrant> {
  const response = await sendHttpRequest(request.url, {
    ...request,
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      ...request.headers,
    },
    body: new URLSearchParams(request.form).toString(),
    allowedHosts: [new URL(request.url).host],
  });
  const { status } = response;
  if (status === 429) {
    const seconds = retryAfterSeconds(response.headers, request.now) ?? 60;
    throw new TokenEndpointThrottled(`${request.provider} token endpoint throttled`, seconds);
  }
  if (status === 400 || status === 401 || status === 403) {
    // The body may echo what we sent; only its short OAuth reason is kept.
    throw new TokenRequestRefused(status, describeOAuthRefusal(response, request.maxDetail ?? 240));
  }
  const body = jsonOf(response) as Record<string, unknown> | null;
  const accessToken = body?.access_token;
  const stated = Number(body?.expires_in);
  const expiresIn = Number.isFinite(stated) && stated > 0 ? stated : request.defaultExpiresIn;
  if (typeof accessToken !== 'string' || accessToken === '' || expiresIn === undefined) {
    throw new TransientError(`${request.provider} token answer lacks access_token or expires_in`);
  }
  const refreshToken = typeof body?.refresh_token === 'string' ? body.refresh_token : undefined;
  const refreshExpires = body?.refresh_token_expires_in;
  const refreshExpiresIn = typeof refreshExpires === 'number' ? refreshExpires : undefined;
  const scope = typeof body?.scope === 'string' ? body.scope : undefined;
  return { accessToken, expiresIn, refreshToken, refreshExpiresIn, scope };
}

/** `error` and `error_description` of an OAuth refusal (first lines), short and free of what we sent. */
function describeOAuthRefusal(response: HttpTextResponse, maxLength: number): string {
  const body = jsonObject(tryJson(response.text)) ?? {};
  const parts = [body.error, body.error_description]
    .filter((part): part is string => typeof part === 'string' && part !== '')
    .map((part) => part.split(/\r?\n/)[0] ?? part);
  if (parts.length > 0) return parts.join(': ').slice(0, maxLength);
  return summariseErrorBody(response.text) ?? 'no reason given';
}

/** Fingerprint of the credentials a token belongs to; a rotated secret starts afresh, and it reveals none. */
export function credentialsFingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/** `key` is the source's; the lease figures are `obtainSharedToken`'s. */
export interface SharedOAuthTokenOptions
  extends Pick<SharedTokenOptions, 'store' | 'key' | 'leaseTtlMs' | 'leaseWaitMs' | 'pollMs'>,
    Pick<HttpOptions, 'idleTimeoutMs' | 'connectTimeoutMs'> {
  clock: Clock;
  log: Log;
  /** How long a refusal blocks further token requests with the same credentials. Default 15 min. */
  refusalCooldownMs?: number;
}

/** What a provider's token differs in: its names, its grant, and what its refusal says. */
export interface OAuthProviderHooks extends Pick<SharedTokenOptions, 'credentials' | 'what'> {
  /** Renew this long before expiry at most (a tenth of short lifetimes). */
  renewalCapSeconds: number;
  /** Logged when an API refused a token and it is dropped. */
  droppedMessage: string;
  /** Names the endpoint in throttle messages ("RingCentral Auth group"). */
  throttledName: string;
  /** The non-retryable error for refused credentials; `until` is set while the refusal is remembered. */
  refusedError(detail: string, until?: Date): Error;
  /** A new token given the stored record; throws TokenRequestRefused when the credentials are refused. */
  grant(record: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenGrant>;
  /** Called with the refusal before it is remembered and thrown (to log it). */
  onRefused?(refusal: TokenRequestRefused): void;
}

export class SharedOAuthToken {
  private readonly holder = randomUUID();
  private cached: TokenRecord | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly options: SharedOAuthTokenOptions,
    private readonly hooks: OAuthProviderHooks,
  ) {}

  private now(): number {
    return this.options.clock.now().getTime();
  }

  /** The current access token; renews it (or waits for whoever renews it) when it is due. */
  async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.cached && usableToken(this.cached, this.now())) return this.cached.accessToken;
    // Callers in this process share one attempt; other processes are coordinated by the store.
    this.pending ??= this.obtain(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** The `scope` the current token was granted with, after making sure there is one. */
  async grantedScope(signal?: AbortSignal): Promise<string | undefined> {
    const token = await this.accessToken(signal);
    return this.cached?.accessToken === token ? this.cached.scope : undefined;
  }

  /** A 401 for `token`: drop it and its refresh token (the session may be gone), never a newer token. */
  async rejectAccessToken(token: string): Promise<void> {
    if (this.cached?.accessToken === token) this.cached = undefined;
    const { store, key, log } = this.options;
    const record = await readOwnToken(store, key, this.hooks.credentials);
    if (record?.accessToken !== token) return;
    const { accessToken, accessUsableUntilMs, refreshToken, refreshUsableUntilMs, ...rest } = record;
    await store.put(key, rest, { ifAccessToken: token });
    log.info(this.hooks.droppedMessage, { source: key });
  }

  private async obtain(signal?: AbortSignal): Promise<string> {
    const token = await obtainSharedToken(
      {
        ...this.options,
        holder: this.holder,
        credentials: this.hooks.credentials,
        now: () => this.now(),
        what: this.hooks.what,
        throwIfBlocked: (record) => this.throwIfBlocked(record),
        renew: (current, renewSignal) => this.renew(current, renewSignal),
      },
      signal,
    );
    this.cached = token;
    return token.accessToken;
  }

  /** Refusals and throttling recorded by any holder stop this one before it sends anything. */
  private throwIfBlocked(record: TokenRecord | undefined): void {
    const now = this.now();
    const { loginRefusedUntilMs: refusedUntil, authThrottledUntilMs: throttledUntil } = record ?? {};
    if (refusedUntil && refusedUntil > now) {
      throw this.hooks.refusedError(record?.loginRefusal ?? 'no reason given', new Date(refusedUntil));
    }
    if (throttledUntil && throttledUntil > now) {
      const seconds = Math.ceil((throttledUntil - now) / 1000);
      throw new RateLimitedError(
        `${this.hooks.throttledName} throttled for source ${this.options.key}`,
        seconds,
      );
    }
  }

  private async renew(record: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenRecord> {
    const { store, key } = this.options;
    const credentials = this.hooks.credentials;
    let grant: TokenGrant;
    try {
      grant = await this.hooks.grant(record, signal);
    } catch (error) {
      if (error instanceof TokenEndpointThrottled) {
        // Every holder waits the endpoint's figure out before asking again.
        const seconds = error.retryAfterSeconds ?? 60;
        const authThrottledUntilMs = this.now() + seconds * 1000;
        await store.put(key, { ...(record ?? { credentials }), authThrottledUntilMs });
        throw new RateLimitedError(`${this.hooks.throttledName} throttled source ${key}`, seconds);
      }
      if (!(error instanceof TokenRequestRefused)) throw error;
      const loginRefusal = `HTTP ${error.status}: ${error.detail}`;
      const loginRefusedUntilMs = this.now() + (this.options.refusalCooldownMs ?? 15 * 60_000);
      await store.put(key, { credentials, loginRefusedUntilMs, loginRefusal });
      this.hooks.onRefused?.(error);
      throw this.hooks.refusedError(loginRefusal);
    }
    const now = this.now();
    // Renewed `renewalCapSeconds` before expiry, or a tenth of a short lifetime.
    const usableUntil = (seconds: number) =>
      now + seconds * 1000 - Math.min(this.hooks.renewalCapSeconds, seconds * 0.1) * 1000;
    const { refreshToken, refreshExpiresIn } = grant;
    return {
      credentials,
      accessToken: grant.accessToken,
      accessUsableUntilMs: usableUntil(grant.expiresIn),
      refreshToken,
      refreshUsableUntilMs: refreshToken && refreshExpiresIn ? usableUntil(refreshExpiresIn) : undefined,
      scope: grant.scope,
    };
  }
}
