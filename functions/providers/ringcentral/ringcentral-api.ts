/**
 * RingCentral transport: every request carries the shared session's Bearer token in the Authorization
 * header (never in a query string), Heavy-group requests wait for the source's gate, a 429 closes that
 * gate for everyone, and a 401 drops the token and retries once after a new login.
 */
import { RateLimitedError } from '../../core/errors';
import type { Log } from '../../core/ports';
import { type HttpTextResponse, retryAfterSeconds } from '../http';
import {
  AuthorisedClient,
  type AuthorisedRequest,
  describeAndDrop,
  type OpenAnswer,
} from '../shared/authorised-client';
import type { HeavyGate } from './rate-gate';
import type { RingCentralAuth } from './ringcentral-auth';

export type { OpenAnswer } from '../shared/authorised-client';

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

export class RingCentralApi {
  /** API calls go to the configured server host only (paging links included). */
  readonly apiHosts: readonly string[];
  private readonly client: AuthorisedClient<RingCentralRequest>;

  constructor(private readonly options: RingCentralApiOptions) {
    this.apiHosts = [new URL(options.serverUrl).host];
    const { gate, sourceId } = options;
    this.client = new AuthorisedClient<RingCentralRequest>({
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
  }

  /** `{serverUrl}/restapi/v1.0{path}` with a query. */
  url(path: string, query?: Record<string, string | undefined>): string {
    const url = new URL(`/restapi/v1.0${path}`, this.options.serverUrl);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url.href;
  }

  /** A request whose (small) answer is read whole; any status is returned except 429, which throws. */
  send(request: RingCentralRequest): Promise<HttpTextResponse> {
    return this.client.send(request);
  }

  /** A 2xx JSON answer, or the typed error for its status. */
  json(request: RingCentralRequest): Promise<unknown> {
    return this.client.json(request);
  }

  /** A request whose body is streamed (recording content); any status is returned except 429. */
  open(request: RingCentralRequest): Promise<OpenAnswer> {
    return this.client.open(request);
  }

  /** Reads a little of an error body for the message, then drops the connection. */
  describeError(answer: OpenAnswer): Promise<string | undefined> {
    return describeAndDrop(answer);
  }
}
