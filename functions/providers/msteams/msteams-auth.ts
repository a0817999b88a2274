/**
 * App-only Graph tokens for one Teams source: the client-credentials grant against
 * `{loginUrl}/{tenantId}/oauth2/v2.0/token` with scope `{graphUrl}/.default`, one token shared by every
 * worker through the `TokenStore`. Only the holder of the store's lease asks Entra for a new token; the
 * others wait for its result. A refused secret is remembered for a while, so a bad credential is one
 * clear failure rather than a token-request storm from every worker.
 */
import { createHash, randomUUID } from 'node:crypto';
import { RateLimitedError, TransientError } from '../../core/errors';
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
import { AppCredentialsRefusedError } from './msteams-errors';

export interface MsTeamsAuthOptions {
  loginUrl: string;
  graphUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The store key; one per source. */
  key: string;
  store: TokenStore;
  clock: Clock;
  log: Log;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long a refused secret blocks further token requests with the same credentials. Default 15 min. */
  refusalCooldownMs?: number;
  /** How long the renewal lease lasts if its holder dies. Default 30 s. */
  leaseTtlMs?: number;
  /** How long a holder waits for another one's renewal before giving up (TransientError). Default 30 s. */
  leaseWaitMs?: number;
  pollMs?: number;
}

/** Renew this long before expiry: five minutes, or a tenth of short lifetimes. */
function renewalMarginMs(lifetimeSeconds: number): number {
  return Math.min(300, lifetimeSeconds * 0.1) * 1000;
}

export class MsTeamsAuth {
  private readonly credentials: string;
  private readonly holder = randomUUID();
  readonly tokenUrl: string;
  private cached: TokenRecord | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly options: MsTeamsAuthOptions) {
    // A rotated secret or another app starts afresh; the fingerprint never reveals the secret.
    this.credentials = createHash('sha256')
      .update(
        `${options.loginUrl}\n${options.tenantId}\n${options.graphUrl}\n${options.clientId}\n${options.clientSecret}`,
      )
      .digest('hex')
      .slice(0, 32);
    this.tokenUrl = new URL(
      `/${encodeURIComponent(options.tenantId)}/oauth2/v2.0/token`,
      options.loginUrl,
    ).href;
  }

  private now(): number {
    return this.options.clock.now().getTime();
  }

  private usable(record: TokenRecord | undefined): record is UsableToken {
    return usableToken(record, this.now());
  }

  /** The current access token; obtains one (or waits for whoever obtains it) when it is due. */
  async accessToken(signal?: AbortSignal): Promise<string> {
    if (this.usable(this.cached)) return this.cached.accessToken;
    this.pending ??= this.obtain(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Graph answered 401 with `token`: drop it so that the next caller gets a new one. */
  async rejectAccessToken(token: string): Promise<void> {
    if (this.cached?.accessToken === token) this.cached = undefined;
    const record = await readOwnToken(this.options.store, this.options.key, this.credentials);
    if (record?.accessToken !== token) return;
    await this.options.store.put(
      this.options.key,
      { credentials: this.credentials },
      { ifAccessToken: token },
    );
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
        what: 'the Graph token',
        throwIfBlocked: (record) => this.throwIfBlocked(record),
        renew: (current, renewSignal) => this.requestToken(current, renewSignal),
      },
      signal,
    );
    this.cached = token;
    return token.accessToken;
  }

  private throwIfBlocked(record: TokenRecord | undefined): void {
    const now = this.now();
    if (record?.loginRefusedUntilMs && record.loginRefusedUntilMs > now) {
      throw new AppCredentialsRefusedError(
        `Entra refused the app credentials of source ${this.options.key} (${record.loginRefusal ?? 'no reason given'}); ` +
          `no new token request before ${new Date(record.loginRefusedUntilMs).toISOString()}: fix the client id or secret`,
      );
    }
    if (record?.authThrottledUntilMs && record.authThrottledUntilMs > now) {
      const seconds = Math.ceil((record.authThrottledUntilMs - now) / 1000);
      throw new RateLimitedError(`Entra token endpoint throttled source ${this.options.key}`, seconds);
    }
  }

  private async requestToken(record: TokenRecord | undefined, signal?: AbortSignal): Promise<TokenRecord> {
    const { log, key, clientId, clientSecret, graphUrl } = this.options;
    const scope = `${graphUrl.replace(/\/+$/, '')}/.default`;
    const response = await sendHttpRequest(this.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        client_id: clientId,
        client_secret: clientSecret,
        scope,
        grant_type: 'client_credentials',
      }).toString(),
      allowedHosts: [new URL(this.tokenUrl).host],
      maxRedirects: 0,
      signal,
      idleTimeoutMs: this.options.idleTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
    });
    if (response.status === 429) {
      const seconds = retryAfterSeconds(response.headers, this.options.clock.now()) ?? 60;
      await this.options.store.put(key, {
        ...(record ?? { credentials: this.credentials }),
        authThrottledUntilMs: this.now() + seconds * 1000,
      });
      throw new RateLimitedError(`Entra token endpoint throttled source ${key}`, seconds);
    }
    if (response.status === 400 || response.status === 401 || response.status === 403) {
      const detail = describeRefusal(response);
      const cooldownMs = this.options.refusalCooldownMs ?? 15 * 60_000;
      await this.options.store.put(key, {
        credentials: this.credentials,
        loginRefusedUntilMs: this.now() + cooldownMs,
        loginRefusal: `HTTP ${response.status}: ${detail}`,
      });
      log.error('entra refused the app credentials of a Teams source', {
        source: key,
        status: response.status,
        reason: detail,
      });
      throw new AppCredentialsRefusedError(
        `Entra refused the app credentials of source ${key} (HTTP ${response.status}: ${detail}); fix the client id or secret`,
      );
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
    const expiresIn = Number(body?.expires_in);
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      !Number.isFinite(expiresIn) ||
      expiresIn <= 0
    ) {
      throw new TransientError('Entra token answer lacks access_token or expires_in');
    }
    log.info('graph app token obtained', { source: key, expiresIn });
    return {
      credentials: this.credentials,
      accessToken,
      accessUsableUntilMs: this.now() + expiresIn * 1000 - renewalMarginMs(expiresIn),
    };
  }
}

/** `error` and `error_description` of an OAuth refusal, short; Entra's description starts with its AADSTS code. */
function describeRefusal(response: HttpTextResponse): string {
  try {
    const body = JSON.parse(response.text) as Record<string, unknown>;
    const parts = [body.error, body.error_description]
      .filter((part): part is string => typeof part === 'string' && part !== '')
      .map((part) => part.split(/\r?\n/)[0] ?? part);
    if (parts.length > 0) return parts.join(': ').slice(0, 240);
  } catch {
    // Not JSON: fall through.
  }
  return summariseErrorBody(response.text) ?? 'no reason given';
}
