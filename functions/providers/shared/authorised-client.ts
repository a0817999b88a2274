/** Bearer-token requests (in the header, RFC 6750 §2.1), one retry after a 401 (revoked or expired early). */
import type { DownloadStream, Log } from '../../core/ports';
import {
  downloadOrThrow,
  type HttpTextResponse,
  jsonOf,
  MEDIA_ACCEPT,
  type OpenResponse,
  openHttpResponse,
  readWhole,
  statusError,
  type summariseErrorBody,
} from '../http';

export { describeAndDrop, downloadOf, jsonOf } from '../http';

/** Where the token comes from, and where a token an API refused is reported. */
export interface BearerTokenSource {
  accessToken(signal?: AbortSignal): Promise<string>;
  rejectAccessToken(token: string): Promise<void> | void;
}

export interface AuthorisedRequest {
  method: string;
  url: string;
  /** Hosts this URL (and any redirect) may point at. */
  allowedHosts: readonly string[];
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  signal?: AbortSignal;
}

/** An answer whose body has not been read yet; `where` is host + path of the final URL, for messages. */
export type OpenAnswer = OpenResponse & { where: string };

export interface AuthorisedClientOptions<R extends AuthorisedRequest> {
  token: BearerTokenSource;
  log: Log;
  /** Logged (with the source and where) before the one retry after a 401. */
  retryMessage: string;
  sourceId?: string;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Before each attempt, once the token is at hand (a rate gate's slot, say). */
  beforeSend?(request: R): Promise<void>;
  /** Judges every answer: true sends again (having waited), a throw gives up; `retries` counts the trues. */
  throttle?(answer: OpenAnswer, request: R, retries: number): Promise<boolean>;
  /** Counts the retries after a 401. */
  onRetryAfter401?(): void;
}

/** A DELETE's answer: 2xx, or 404 (gone already), is done; any other status throws its typed error. */
export function expectDeleted(response: HttpTextResponse, detail?: typeof summariseErrorBody): void {
  if ((response.status >= 200 && response.status < 300) || response.status === 404) return;
  throw statusError(response, detail);
}

export class AuthorisedClient<R extends AuthorisedRequest = AuthorisedRequest> {
  constructor(private readonly options: AuthorisedClientOptions<R>) {}

  /** Sends and hands back the open answer; any status but a throttled one (see `throttle`) is returned. */
  async open(request: R): Promise<OpenAnswer> {
    const { token: source, log, sourceId, idleTimeoutMs, connectTimeoutMs } = this.options;
    const { method, allowedHosts, signal } = request;
    const body = request.json === undefined ? undefined : JSON.stringify(request.json);
    const sendOptions = { method, body, allowedHosts, signal, idleTimeoutMs, connectTimeoutMs };
    let retried401 = false;
    for (let retries = 0; ; ) {
      const token = await source.accessToken(signal);
      await this.options.beforeSend?.(request);
      const headers: Record<string, string> = {
        accept: 'application/json',
        ...request.headers,
        authorization: `Bearer ${token}`,
      };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        // Node frames a DELETE body only with an explicit length (no chunked encoding for DELETE).
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const response = await openHttpResponse(request.url, { ...sendOptions, headers });
      const answer: OpenAnswer = { ...response, where: `${response.url.host}${response.url.pathname}` };
      if (await this.options.throttle?.(answer, request, retries)) {
        retries += 1;
        continue;
      }
      if (answer.status !== 401 || retried401) return answer;
      answer.body.destroy();
      retried401 = true;
      this.options.onRetryAfter401?.();
      log.info(this.options.retryMessage, { source: sourceId, where: answer.where });
      await source.rejectAccessToken(token);
    }
  }

  /** A request whose (small) answer is read whole, whatever its status. */
  async send(request: R): Promise<HttpTextResponse> {
    return readWhole(await this.open(request));
  }

  /** A request whose 2xx answer is JSON; the typed error for any other status. */
  async json(request: R): Promise<unknown> {
    return jsonOf(await this.send(request));
  }

  /** A download: a 2xx stream, or the typed error for its status (after reading a little of the body). */
  async download(request: R): Promise<DownloadStream> {
    const headers = { accept: MEDIA_ACCEPT, ...request.headers };
    return downloadOrThrow(await this.open({ ...request, headers }));
  }
}
