/**
 * RingCentral transport: every request carries the shared session's Bearer token in the Authorization
 * header (never in a query string), Heavy-group requests wait for the source's gate, a 429 closes that
 * gate for everyone, and a 401 drops the token and retries once after a new login.
 */
import { RateLimitedError } from '../../core/errors';
import { retryAfterSeconds } from '../http';
import {
  AuthorisedClient,
  type AuthorisedClientOptions,
  type AuthorisedRequest,
} from '../shared/authorised-client';
import type { HeavyGate } from './rate-gate';

/** Heavy: call log, recording content, recording delete. Other: the directory (Medium) and the like. */
export type RateGroup = 'heavy' | 'other';

export interface RingCentralRequest extends AuthorisedRequest {
  group: RateGroup;
}

type ClientOptions = AuthorisedClientOptions<RingCentralRequest>;

/**
 * The authorised client with RingCentral's rate hooks: `send` (answer read whole, any status but 429),
 * `json` (2xx JSON or the typed error) and `open` (content streamed) come from AuthorisedClient.
 */
export class RingCentralApi extends AuthorisedClient<RingCentralRequest> {
  /** API calls go to the configured server host only (paging links included). */
  readonly apiHosts: readonly string[];
  private readonly serverUrl: string;

  constructor(
    options: Pick<ClientOptions, 'token' | 'log' | 'idleTimeoutMs' | 'connectTimeoutMs'> & {
      serverUrl: string;
      gate: HeavyGate;
      sourceId: string;
    },
  ) {
    const { gate, sourceId } = options;
    super({
      ...options,
      retryMessage: 'ringcentral answered 401; logging in again once',
      // Requests to one host count against one rate group (the media host may report its own).
      beforeSend: async (request) => {
        if (request.group === 'heavy') await gate.waitForSlot(request.signal, new URL(request.url).host);
      },
      throttle: async (answer, request) => {
        const heavy = request.group === 'heavy';
        const wait = heavy
          ? await gate.observe(answer, new URL(request.url).host)
          : answer.status === 429
            ? (retryAfterSeconds(answer.headers) ?? 60)
            : undefined;
        if (wait === undefined) return false;
        answer.body.destroy();
        const group = heavy ? ' (Heavy group)' : '';
        throw new RateLimitedError(`RingCentral throttled source ${sourceId}${group}`, wait);
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
