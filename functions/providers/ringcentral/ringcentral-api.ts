/**
 * RingCentral transport: every request carries the shared session's Bearer token in the Authorization
 * header (never in a query string), Heavy-group requests wait for the source's gate, a 429 closes that
 * gate for everyone, and a 401 drops the token and retries once after a new login.
 */
import { RateLimitedError } from '../../core/errors';
import type { Log } from '../../core/ports';
import { retryAfterSeconds } from '../http';
import { AuthorisedClient, type AuthorisedRequest } from '../shared/authorised-client';
import type { HeavyGate } from './rate-gate';
import type { RingCentralAuth } from './ringcentral-auth';

/** Heavy: call log, recording content, recording delete. Other: the directory (Medium) and the like. */
export type RateGroup = 'heavy' | 'other';

export interface RingCentralRequest extends AuthorisedRequest {
  group: RateGroup;
}

export interface RingCentralApiOptions {
  serverUrl: string;
  auth: RingCentralAuth;
  gate: HeavyGate;
  log: Log;
  sourceId: string;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Requests to one host count against one rate group (the media host may report its own). */
function gateKind(request: RingCentralRequest): string {
  return new URL(request.url).host;
}

/**
 * The authorised client with RingCentral's rate hooks: `send` (answer read whole, any status but 429),
 * `json` (2xx JSON or the typed error) and `open` (content streamed) come from AuthorisedClient.
 */
export class RingCentralApi extends AuthorisedClient<RingCentralRequest> {
  /** API calls go to the configured server host only (paging links included). */
  readonly apiHosts: readonly string[];
  private readonly serverUrl: string;

  constructor(options: RingCentralApiOptions) {
    const { gate, sourceId } = options;
    super({
      token: options.auth,
      log: options.log,
      retryMessage: 'ringcentral answered 401; logging in again once',
      sourceId,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      beforeSend: async (request) => {
        if (request.group === 'heavy') await gate.waitForSlot(request.signal, gateKind(request));
      },
      throttle: async (answer, request) => {
        if (request.group === 'heavy') {
          const wait = await gate.observe(answer, gateKind(request));
          if (wait === undefined) return false;
          answer.body.destroy();
          throw new RateLimitedError(`RingCentral throttled source ${sourceId} (Heavy group)`, wait);
        }
        if (answer.status !== 429) return false;
        answer.body.destroy();
        const seconds = retryAfterSeconds(answer.headers) ?? 60;
        throw new RateLimitedError(`RingCentral throttled source ${sourceId}`, seconds);
      },
    });
    this.serverUrl = options.serverUrl;
    this.apiHosts = [new URL(options.serverUrl).host];
  }

  /** `{serverUrl}/restapi/v1.0{path}` with a query. */
  url(path: string, query?: Record<string, string | undefined>): string {
    const url = new URL(`/restapi/v1.0${path}`, this.serverUrl);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url.href;
  }
}
