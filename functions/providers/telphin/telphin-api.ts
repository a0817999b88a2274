/**
 * Telphin REST ver1.0 transport: OAuth2 client-credentials token (the shared token of
 * ../shared/oauth-token.ts, held in this process only: one instance serves one source) and authenticated
 * requests, renewed once after a 401. Secrets stay in this object; no message or log line carries them.
 */
import { UnauthenticatedError } from '../../core/errors';
import type { Clock, DownloadStream, Log } from '../../core/ports';
import { InProcessTokenStore } from '../../core/shared-state';
import { rangeHeaders } from '../http';
import { AuthorisedClient } from '../shared/authorised-client';
import { credentialsFingerprint, requestOAuthToken, SharedOAuthToken } from '../shared/oauth-token';

export interface TelphinApiOptions {
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  clock: Clock;
  log: Log;
  /** Names the token in messages. */
  sourceId: string;
  /** Stall and connect limits for API calls and direct downloads. */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
}

export class TelphinApi {
  private readonly base: URL;
  /** The apiUrl's path, without a trailing slash. */
  private readonly prefix: string;
  /** API calls go to the configured API host only. */
  private readonly apiHosts: readonly string[];
  private readonly client: AuthorisedClient;

  constructor(options: TelphinApiOptions) {
    const { clientId, clientSecret, clock, log, sourceId } = options;
    const timeouts = { idleTimeoutMs: options.idleTimeoutMs, connectTimeoutMs: options.connectTimeoutMs };
    this.base = new URL(options.apiUrl.replace(/\/+$/, ''));
    this.prefix = this.base.pathname.replace(/\/$/, '');
    this.apiHosts = [this.base.host];
    const tokenUrl = new URL(`${this.prefix}/oauth/token`, this.base).href;
    // A refusal is not remembered (cooldown 0): each request tries the credentials again, as before.
    const token = new SharedOAuthToken(
      { key: `telphin/${sourceId}`, store: new InProcessTokenStore(), clock, log, refusalCooldownMs: 0 },
      {
        credentials: credentialsFingerprint(options.apiUrl, clientId, clientSecret),
        what: 'the Telphin token',
        // Renew a little early so a token never expires between our check and the server's.
        renewalCapSeconds: 60,
        droppedMessage: 'telphin token refused by the API; the next request gets a new one',
        throttledName: 'Telphin token endpoint',
        grant: async (_record, signal) => {
          const answer = await requestOAuthToken({
            url: tokenUrl,
            form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
            signal,
            ...timeouts,
            provider: 'Telphin',
            defaultExpiresIn: 3600,
            now: clock.now(),
          });
          log.debug('telphin token issued', { expiresIn: answer.expiresIn });
          return { accessToken: answer.accessToken, expiresIn: answer.expiresIn };
        },
        refusedError: (detail) =>
          new UnauthenticatedError(`Telphin refused the client credentials (${detail})`),
      },
    );
    const retryMessage = 'telphin token refused; requesting a new one';
    this.client = new AuthorisedClient({ token, log, retryMessage, ...timeouts });
  }

  /** The request for an API path (`/client/@me/record/`), with an optional query: to the API host only. */
  private request(method: string, path: string, query: Record<string, string> = {}, signal?: AbortSignal) {
    const url = new URL(`${this.prefix}/api/ver1.0${path}`, this.base);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return { method, url: url.href, allowedHosts: this.apiHosts, signal };
  }

  /**
   * An authenticated API call; returns the response whatever its status so callers can interpret
   * 404 and 429 bodies. A 401 drops the token and retries once with a fresh one.
   */
  send(method: string, path: string, query?: Record<string, string>, signal?: AbortSignal, json?: unknown) {
    return this.client.send({ ...this.request(method, path, query, signal), json });
  }

  /** Streams a file from the API host with the Bearer token (the direct download route). */
  openFile(path: string, signal?: AbortSignal, fromByte?: number): Promise<DownloadStream> {
    return this.client.download({
      ...this.request('GET', path, {}, signal),
      headers: rangeHeaders(fromByte),
    });
  }
}
