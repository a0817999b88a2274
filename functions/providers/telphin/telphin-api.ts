/**
 * Telphin REST ver1.0 transport: OAuth2 client-credentials token (cached, shared by concurrent callers,
 * renewed once after a 401) and authenticated requests. Secrets stay in this object; no message or log
 * line carries them.
 */
import { type CallvaultError, UnauthenticatedError } from '../../core/errors';
import type { Clock, DownloadStream, Log } from '../../core/ports';
import {
  errorForStatus,
  type HttpTextResponse,
  parseJsonBody,
  rangeHeaders,
  summariseErrorBody,
} from '../http';
import { AuthorisedClient } from '../shared/authorised-client';
import {
  renewalMarginMs,
  requestOAuthToken,
  type TokenGrant,
  TokenRequestRefused,
} from '../shared/oauth-token';

export const API_PREFIX = '/api/ver1.0';

export interface TelphinApiOptions {
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  clock: Clock;
  log: Log;
  /** Stall and connect limits for API calls and direct downloads. */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
}

interface CachedToken {
  value: string;
  /** When we stop using it: shortly before the server's `expires_in`. */
  renewAt: number;
}

export class TelphinApi {
  private readonly base: URL;
  /** API calls go to the configured API host only. */
  readonly apiHosts: readonly string[];
  private token: CachedToken | undefined;
  private pendingToken: Promise<CachedToken> | undefined;
  private readonly client: AuthorisedClient;

  constructor(private readonly options: TelphinApiOptions) {
    this.base = new URL(options.apiUrl.replace(/\/+$/, ''));
    this.apiHosts = [this.base.host];
    this.client = new AuthorisedClient({
      token: {
        accessToken: (signal) => this.accessToken(signal),
        rejectAccessToken: (token) => this.dropToken(token),
      },
      log: options.log,
      retryMessage: 'telphin token refused; requesting a new one',
      ...this.timeouts,
    });
  }

  /** Absolute URL for an API path (`/client/@me/record/`), with an optional query. */
  url(path: string, query?: Record<string, string>): string {
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${API_PREFIX}${path}`, this.base);
    for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
    return url.href;
  }

  private get timeouts() {
    return { idleTimeoutMs: this.options.idleTimeoutMs, connectTimeoutMs: this.options.connectTimeoutMs };
  }

  /** The current access token, fetching one if needed; concurrent callers share one token request. */
  async accessToken(signal?: AbortSignal): Promise<string> {
    const now = this.options.clock.now().getTime();
    if (this.token && now < this.token.renewAt) return this.token.value;
    this.pendingToken ??= this.fetchToken(signal).finally(() => {
      this.pendingToken = undefined;
    });
    this.token = await this.pendingToken;
    return this.token.value;
  }

  /** Forgets a token the API refused, unless a newer one has replaced it meanwhile. */
  private dropToken(value: string): void {
    if (this.token?.value === value) this.token = undefined;
  }

  private async fetchToken(signal?: AbortSignal): Promise<CachedToken> {
    const { clientId, clientSecret, clock } = this.options;
    let answer: TokenGrant;
    try {
      answer = await requestOAuthToken({
        url: new URL(`${this.base.pathname.replace(/\/$/, '')}/oauth/token`, this.base).href,
        form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
        signal,
        ...this.timeouts,
        provider: 'Telphin',
        defaultExpiresIn: 3600,
        now: clock.now(),
      });
    } catch (error) {
      if (!(error instanceof TokenRequestRefused)) throw error;
      throw new UnauthenticatedError(
        `Telphin refused the client credentials (HTTP ${error.status}: ${error.detail})`,
      );
    }
    const { accessToken: value, expiresIn } = answer;
    this.options.log.debug('telphin token issued', { expiresIn });
    // Renew a little early so a token never expires between our check and the server's.
    return { value, renewAt: clock.now().getTime() + expiresIn * 1000 - renewalMarginMs(expiresIn, 60) };
  }

  /**
   * An authenticated API call; returns the response whatever its status so callers can interpret
   * 404 and 429 bodies. A 401 drops the token and retries once with a fresh one.
   */
  send(
    method: string,
    path: string,
    query?: Record<string, string>,
    signal?: AbortSignal,
    json?: unknown,
  ): Promise<HttpTextResponse> {
    return this.client.send({
      method,
      url: this.url(path, query),
      allowedHosts: this.apiHosts,
      json,
      signal,
    });
  }

  /** An authenticated GET that must answer 2xx JSON. */
  async getJson(path: string, query?: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
    const response = await this.send('GET', path, query, signal);
    if (response.status >= 200 && response.status < 300) return parseJsonBody(response);
    throw telphinStatusError(response);
  }

  /** Streams a file from the API host with the Bearer token (the direct download route). */
  openFile(path: string, signal?: AbortSignal, fromByte?: number): Promise<DownloadStream> {
    return this.client.download({
      method: 'GET',
      url: this.url(path),
      allowedHosts: this.apiHosts,
      headers: rangeHeaders(fromByte),
      signal,
    });
  }
}

/** Typed error for a Telphin API status (mapping in http.ts), with the API's own message when it sent one. */
export function telphinStatusError(response: HttpTextResponse): CallvaultError {
  return errorForStatus(response.status, response.headers, response.where, summariseErrorBody(response.text));
}
