/**
 * RingCentral transport: every request carries the shared session's Bearer token in the Authorization
 * header (never in a query string), Heavy-group requests wait for the source's gate, a 429 closes that
 * gate for everyone, and a 401 drops the token and retries once after a new login.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PassThrough } from 'node:stream';
import { RateLimitedError } from '../../core/errors';
import type { Log } from '../../core/ports';
import {
  errorForStatus,
  type HttpTextResponse,
  openHttpResponse,
  parseJsonBody,
  readBodyText,
  retryAfterSeconds,
  sendHttpRequest,
  summariseErrorBody,
} from '../http';
import type { HeavyGate } from './rate-gate';
import type { RingCentralAuth } from './ringcentral-auth';

/** Heavy: call log, recording content, recording delete. Other: the directory (Medium) and the like. */
export type RateGroup = 'heavy' | 'other';

export interface RingCentralRequest {
  method: string;
  url: string;
  group: RateGroup;
  /** Hosts this URL (and any redirect) may point at. */
  allowedHosts: readonly string[];
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  signal?: AbortSignal;
}

/** An answer whose body has not been read yet (downloads). */
export interface OpenAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: PassThrough;
  where: string;
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

export class RingCentralApi {
  /** API calls go to the configured server host only (paging links included). */
  readonly apiHosts: readonly string[];

  constructor(private readonly options: RingCentralApiOptions) {
    this.apiHosts = [new URL(options.serverUrl).host];
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
  async send(request: RingCentralRequest): Promise<HttpTextResponse> {
    return this.authorised(request, async (headers) => {
      const response = await sendHttpRequest(request.url, this.httpOptions(request, headers));
      return { answer: response, status: response.status, headers: response.headers, discard: () => {} };
    });
  }

  /** A 2xx JSON answer, or the typed error for its status. */
  async json(request: RingCentralRequest): Promise<unknown> {
    const response = await this.send(request);
    if (response.status >= 200 && response.status < 300) return parseJsonBody(response);
    throw errorForStatus(
      response.status,
      response.headers,
      response.where,
      summariseErrorBody(response.text),
    );
  }

  /** A request whose body is streamed (recording content); any status is returned except 429. */
  async open(request: RingCentralRequest): Promise<OpenAnswer> {
    return this.authorised(request, async (headers) => {
      const response = await openHttpResponse(request.url, this.httpOptions(request, headers));
      const answer: OpenAnswer = {
        status: response.status,
        headers: response.headers,
        body: response.body,
        where: `${response.url.host}${response.url.pathname}`,
      };
      return {
        answer,
        status: answer.status,
        headers: answer.headers,
        discard: () => response.body.destroy(),
      };
    });
  }

  /** Reads a little of an error body for the message, then drops the connection. */
  async describeError(answer: OpenAnswer): Promise<string | undefined> {
    try {
      return summariseErrorBody(await readBodyText(answer.body, answer.where, 4096));
    } catch {
      answer.body.destroy();
      return undefined;
    }
  }

  private httpOptions(request: RingCentralRequest, headers: Record<string, string>) {
    return {
      method: request.method,
      headers,
      body: request.json === undefined ? undefined : JSON.stringify(request.json),
      allowedHosts: request.allowedHosts,
      signal: request.signal,
      idleTimeoutMs: this.options.idleTimeoutMs,
      connectTimeoutMs: this.options.connectTimeoutMs,
    };
  }

  private async authorised<T>(
    request: RingCentralRequest,
    send: (headers: Record<string, string>) => Promise<{
      answer: T;
      status: number;
      headers: IncomingHttpHeaders;
      discard: () => void;
    }>,
  ): Promise<T> {
    const { auth, gate, log, sourceId } = this.options;
    // Requests to one host count against one rate group (the media host may report its own).
    const kind = new URL(request.url).host;
    for (let attempt = 1; ; attempt++) {
      const token = await auth.accessToken(request.signal);
      if (request.group === 'heavy') await gate.waitForSlot(request.signal, kind);
      const headers: Record<string, string> = {
        accept: 'application/json',
        ...request.headers,
        authorization: `Bearer ${token}`,
      };
      if (request.json !== undefined) {
        headers['content-type'] = 'application/json';
        // Node frames a DELETE body only with an explicit length (no chunked encoding for DELETE).
        headers['content-length'] = String(Buffer.byteLength(JSON.stringify(request.json)));
      }
      const { answer, status, headers: answerHeaders, discard } = await send(headers);
      if (request.group === 'heavy') {
        const wait = await gate.observe({ status, headers: answerHeaders }, kind);
        if (wait !== undefined) {
          discard();
          throw new RateLimitedError(`RingCentral throttled source ${sourceId} (Heavy group)`, wait);
        }
      } else if (status === 429) {
        discard();
        throw new RateLimitedError(
          `RingCentral throttled source ${sourceId}`,
          retryAfterSeconds(answerHeaders) ?? 60,
        );
      }
      if (status !== 401 || attempt > 1) return answer;
      discard();
      log.info('ringcentral answered 401; logging in again once', { source: sourceId });
      await auth.rejectAccessToken(token);
    }
  }
}
