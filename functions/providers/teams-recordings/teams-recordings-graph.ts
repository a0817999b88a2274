/**
 * Microsoft Graph transport for the Teams source. The app-only token (client-credentials grant against
 * `{loginUrl}/{tenantId}/oauth2/v2.0/token`, scope `{graphUrl}/.default`) is shared by every worker
 * through the `TokenStore` (../shared/oauth-token.ts): a refused secret is one remembered failure, not a
 * token-request storm. A 401 is retried once with a fresh token. A short 429/503 Retry-After is waited out
 * here; a longer or repeated one becomes RateLimitedError / TransientError carrying Graph's figure, so a
 * queued job waits that long. A 403 naming the application access policy is ApplicationAccessPolicyError.
 * A sweep's reads go through `GraphBatcher` (below), in `$batch` requests.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { abortableSleep } from '../../core/abortable-sleep';
import { RateLimitedError, TransientError } from '../../core/errors';
import {
  errorForStatus,
  type HttpTextResponse,
  parseJsonBody,
  readBodyText,
  retryAfterSeconds,
  summariseErrorBody,
} from '../http';
import {
  AuthorisedClient,
  type AuthorisedRequest,
  describeAndDrop,
  type OpenAnswer,
} from '../shared/authorised-client';
import { jsonObject, tryJson } from '../shared/json';
import {
  credentialsFingerprint,
  requestOAuthToken,
  SharedOAuthToken,
  type SharedOAuthTokenOptions,
} from '../shared/oauth-token';
import { nextLink, type Page } from '../shared/paging';
import {
  TEAMS_ACCESS_POLICY_MISSING_MESSAGE,
  TEAMS_CREDENTIALS_REFUSED_MESSAGE,
  TEAMS_METERED_API_MESSAGE,
} from './descriptor';
import {
  AppCredentialsRefusedError,
  ApplicationAccessPolicyError,
  isAccessPolicyRefusal,
  isMeteredApiRefusal,
  TEAMS_METERED_API_BILLING,
  TeamsMeteredApiError,
} from './teams-recordings-errors';

export interface TeamsRecordingsGraphOptions extends SharedOAuthTokenOptions {
  sourceId: string;
  loginUrl: string;
  graphUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Longest Retry-After waited out in process; longer ones are handed to the queue. */
  maxInlineWaitMs: number;
  /** Throttled answers waited out in process per request before giving up. */
  maxThrottledAttempts: number;
}

/** What the error mapping reads of an answer, open or read whole. */
type GraphAnswer = Pick<OpenAnswer, 'status' | 'headers' | 'where'>;

/** Graph's error body: `{"error": {"code", "message"}}`. */
export function graphErrorDetail(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof body.error?.code === 'string' ? body.error.code : undefined;
    const message = typeof body.error?.message === 'string' ? body.error.message : undefined;
    if (code || message) return [code, message].filter(Boolean).join(': ').slice(0, 300);
  } catch {
    // Not Graph's JSON error shape.
  }
  return summariseErrorBody(text);
}

/** One page of a Graph collection: `value`, and `@odata.nextLink` when there is more. */
export function graphPage(answer: HttpTextResponse, what: string): Page<unknown> {
  const body = jsonObject(parseJsonBody(answer));
  if (!Array.isArray(body?.value)) throw new TransientError(`${what} has no value array`);
  return { items: body.value, next: nextLink(body['@odata.nextLink']) };
}

export class TeamsRecordingsGraph {
  readonly stats = { throttled: 0, unavailable: 0, retriedAfter401: 0 };
  /** The Graph host, where every API call (not content) goes. */
  readonly apiHosts: string[];
  readonly origin: string;
  private readonly client: AuthorisedClient;

  constructor(private readonly options: TeamsRecordingsGraphOptions) {
    const { key, log, loginUrl, tenantId, graphUrl, clientId, clientSecret } = options;
    this.apiHosts = [new URL(graphUrl).host];
    this.origin = new URL(graphUrl).origin;
    const tokenUrl = new URL(`/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`, loginUrl).href;
    const scope = `${graphUrl.replace(/\/+$/, '')}/.default`;
    // Renewal margin five minutes (or a tenth of short lifetimes).
    const token = new SharedOAuthToken(options, {
      credentials: credentialsFingerprint(loginUrl, tenantId, graphUrl, clientId, clientSecret),
      what: 'the Graph token',
      renewalCapSeconds: 300,
      droppedMessage: 'graph access token refused by the API; the next request gets a new one',
      throttledName: 'Entra token endpoint',
      grant: async (_record, signal) => {
        const answer = await requestOAuthToken({
          url: tokenUrl,
          form: { client_id: clientId, client_secret: clientSecret, scope, grant_type: 'client_credentials' },
          maxRedirects: 0,
          signal,
          idleTimeoutMs: options.idleTimeoutMs,
          connectTimeoutMs: options.connectTimeoutMs,
          provider: 'Entra',
          now: options.clock.now(),
        });
        log.info('graph app token obtained', { source: key, expiresIn: answer.expiresIn });
        // App-only tokens carry no refresh token; the scope is the fixed `.default`.
        return { accessToken: answer.accessToken, expiresIn: answer.expiresIn };
      },
      refusedError: (detail, until) =>
        new AppCredentialsRefusedError(
          `Entra refused the app credentials of source ${key} (${detail}); ` +
            `${until ? `no new token request before ${until.toISOString()}: ` : ''}fix the client id or secret`,
        ),
      onRefused: ({ status, detail }) =>
        log.error(TEAMS_CREDENTIALS_REFUSED_MESSAGE, { source: key, status, reason: detail }),
    });
    this.client = new AuthorisedClient({
      token,
      log: options.log,
      retryMessage: 'graph answered 401; getting a new token once',
      sourceId: options.sourceId,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      throttle: (answer, request, retries) => this.throttle(answer, request.signal, retries),
      onRetryAfter401: () => {
        this.stats.retriedAfter401 += 1;
      },
    });
  }

  /** A small answer read whole; 2xx and 404 are returned, anything else throws its typed error. */
  async get(url: string, context: { signal?: AbortSignal; userId?: string } = {}): Promise<HttpTextResponse> {
    const answer = await this.send('GET', url, undefined, context.signal);
    if ((answer.status >= 200 && answer.status < 300) || answer.status === 404) return answer;
    throw this.errorOf(answer, context.userId);
  }

  /** A JSON request to the Graph host whose answer is read whole; any status but 401/429/503 is returned. */
  async send(method: string, url: string, json: unknown, signal?: AbortSignal): Promise<HttpTextResponse> {
    const answer = await this.open({ method, url, allowedHosts: this.apiHosts, json, signal });
    const text = await readBodyText(answer.body, answer.where);
    return { status: answer.status, headers: answer.headers, text, where: answer.where };
  }

  /** An open answer (content); 401 retried once, short 429/503 waited out, any other status returned. */
  open(request: AuthorisedRequest): Promise<OpenAnswer> {
    return this.client.open(request);
  }

  /** Waits out a short 429/503 (true), or throws what the queue should see; false for other answers. */
  private async throttle(
    answer: OpenAnswer,
    signal: AbortSignal | undefined,
    retries: number,
  ): Promise<boolean> {
    if (answer.status !== 429 && answer.status !== 503) return false;
    const detail = await this.describe(answer);
    const verdict = this.throttled(answer, detail, retries + 1, 'graph asked us to wait; waiting');
    if (typeof verdict === 'number') {
      await abortableSleep(verdict, signal, 'waiting out Graph throttling');
      return true;
    }
    // The evaluation quota of a metered API spent: waiting a minute will not bring it back.
    if (isMeteredApiRefusal(answer.status, detail)) throw this.errorFor(answer, detail);
    throw verdict;
  }

  /** A 429/503 (its request's `attempt`th): the wait to take, logged as `waiting`, or the queue's error. */
  throttled(
    answer: GraphAnswer,
    detail: string | undefined,
    attempt: number,
    waiting: string,
  ): number | Error {
    const { status, headers, where } = answer;
    const { log, sourceId, clock } = this.options;
    if (status === 429) this.stats.throttled += 1;
    else this.stats.unavailable += 1;
    const seconds = retryAfterSeconds(headers, clock.now());
    const waitMs = (seconds ?? 2 ** attempt) * 1000;
    if (attempt < this.options.maxThrottledAttempts && waitMs <= this.options.maxInlineWaitMs) {
      log.warn(waiting, { source: sourceId, status, retryAfterSeconds: seconds });
      return waitMs;
    }
    const text = `HTTP ${status} from ${where}${detail ? `: ${detail}` : ''}`;
    if (status === 429)
      return new RateLimitedError(`Graph throttled source ${sourceId} (${text})`, seconds ?? 60);
    return new TransientError(`Graph unavailable for source ${sourceId} (${text})`);
  }

  /** The typed error for an answer read whole (see `errorFor`). */
  errorOf(answer: HttpTextResponse, userId?: string): Error {
    return this.errorFor(answer, graphErrorDetail(answer.text), userId);
  }

  /** The typed error for a non-2xx answer; a missing access policy or billing is the admin's to fix. */
  errorFor(answer: GraphAnswer, detail?: string, userId?: string): Error {
    const { status, headers, where } = answer;
    const { log, sourceId, clientId } = this.options;
    if (isMeteredApiRefusal(status, detail)) {
      log.error(TEAMS_METERED_API_MESSAGE, {
        source: sourceId,
        errorCode: TEAMS_METERED_API_BILLING,
        status,
        where,
        detail,
      });
      return new TeamsMeteredApiError(sourceId, clientId, status, detail ?? `HTTP ${status}`);
    }
    if (isAccessPolicyRefusal(status, detail)) {
      log.error(TEAMS_ACCESS_POLICY_MISSING_MESSAGE, { source: sourceId, userId, detail });
      return new ApplicationAccessPolicyError(sourceId, clientId, userId, detail);
    }
    return errorForStatus(status, headers, where, detail);
  }

  /** Reads a little of an error body for the message, then drops the connection. */
  describe(answer: OpenAnswer): Promise<string | undefined> {
    return describeAndDrop(answer, graphErrorDetail, 8192);
  }
}

/** Requests per `$batch`, Graph's limit ("Combine multiple HTTP requests using JSON batching"). */
export const GRAPH_BATCH_LIMIT = 20;
/** Graph requests a sweep keeps in flight by default (each a batch of up to 20 reads). */
export const DEFAULT_LISTING_CONCURRENCY = 8;

interface PendingRead {
  url: string;
  context: { signal?: AbortSignal; userId?: string };
  throttled: number;
  settled?: boolean;
  resolve(answer: HttpTextResponse): void;
  reject(error: unknown): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/**
 * A sweep's Graph reads, batched: reads asked for at about the same time go together in `POST $batch`,
 * with at most `concurrency` requests in flight; a lone read is a plain GET. Graph throttles each request
 * of a batch on its own ("Throttling guidance"): a 429/503 inside one waits its own Retry-After and goes
 * into a later batch while the others are served.
 */
export class GraphBatcher {
  private readonly concurrency: number;
  private readonly batchSize: number;
  private queue: PendingRead[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  /** `batchSize` reads per batch, 1 to 20 (1 sends each read as a plain GET). */
  constructor(
    private readonly graph: TeamsRecordingsGraph,
    concurrency: number,
    batchSize: number,
  ) {
    this.concurrency = Math.max(1, Math.floor(concurrency));
    this.batchSize = Math.min(GRAPH_BATCH_LIMIT, Math.max(1, Math.floor(batchSize)));
  }

  /** A small Graph read (a page), like `TeamsRecordingsGraph.get`: 2xx and 404 are returned, the rest throws. */
  get(url: string, context: { signal?: AbortSignal; userId?: string } = {}): Promise<HttpTextResponse> {
    const { signal } = context;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const once =
        <T>(done: (value: T) => void) =>
        (value: T) => {
          if (read.settled) return;
          read.settled = true;
          signal?.removeEventListener('abort', onAbort);
          done(value);
        };
      const read: PendingRead = { url, context, throttled: 0, resolve: once(resolve), reject: once(reject) };
      const onAbort = () => {
        this.queue = this.queue.filter((queued) => queued !== read);
        read.reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.schedule(read);
    });
  }

  /**
   * Queues the read and sends on the next turn of the event loop, not at once: the reads an answer lets
   * the listing make (next pages, the next users) are asked for in that turn, so they fill one batch.
   */
  private schedule(read?: PendingRead): void {
    if (read) this.queue.push(read);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      while (this.inFlight < this.concurrency && this.queue.length > 0) {
        this.inFlight += 1;
        void this.send(this.takeChunk()).finally(() => {
          this.inFlight -= 1;
          this.schedule();
        });
      }
    });
  }

  /** Up to batchSize batchable reads; a read Graph's `$batch` cannot carry goes alone. */
  private takeChunk(): PendingRead[] {
    const first = this.queue.shift() as PendingRead;
    if (this.relativeUrl(first.url) === undefined) return [first];
    const chunk = [first];
    const rest: PendingRead[] = [];
    for (const read of this.queue) {
      if (chunk.length < this.batchSize && this.relativeUrl(read.url) !== undefined) chunk.push(read);
      else rest.push(read);
    }
    this.queue = rest;
    return chunk;
  }

  /**
   * The URL as a batch item names it: relative to the version (`/users/…`). Undefined for a URL off the
   * Graph origin or outside `/v1.0/` (a next link elsewhere): that one is sent alone, and the host check
   * of the plain GET refuses it as it would without batching.
   */
  private relativeUrl(url: string): string | undefined {
    if (!URL.canParse(url)) return undefined;
    const parsed = new URL(url);
    if (parsed.origin !== this.graph.origin || !parsed.pathname.startsWith('/v1.0/')) return undefined;
    return `${parsed.pathname.slice('/v1.0'.length)}${parsed.search}`;
  }

  private async send(chunk: PendingRead[]): Promise<void> {
    const live = chunk.filter((read) => !read.settled);
    if (live.length > 1) return this.sendBatch(live);
    const [read] = live;
    if (!read) return;
    try {
      read.resolve(await this.graph.get(read.url, read.context));
    } catch (error) {
      read.reject(error);
    }
  }

  private async sendBatch(reads: PendingRead[]): Promise<void> {
    const requests = reads.map((read, index) => ({
      id: String(index + 1),
      method: 'GET',
      url: this.relativeUrl(read.url) as string,
    }));
    // The reads of one sweep share its signal; with several, none is passed and each read is dropped alone.
    const signals = new Set(reads.map((read) => read.context.signal));
    const signal = signals.size === 1 ? reads[0]?.context.signal : undefined;
    let answer: HttpTextResponse;
    try {
      answer = await this.graph.send('POST', `${this.graph.origin}/v1.0/$batch`, { requests }, signal);
      if (answer.status < 200 || answer.status >= 300) throw this.graph.errorOf(answer);
    } catch (error) {
      for (const read of reads) read.reject(error);
      return;
    }
    const responses = jsonObject(tryJson(answer.text))?.responses;
    const items = (Array.isArray(responses) ? responses : []).map(jsonObject);
    // Graph may answer the requests of a batch in any order: matched by id.
    reads.forEach((read, index) => {
      const response = items.findLast((item) => item?.id === String(index + 1));
      const url = requests[index]?.url;
      const status = response?.status;
      if (typeof status !== 'number') {
        read.reject(new TransientError(`Graph $batch answered no response for ${url}`));
        return;
      }
      const headers: IncomingHttpHeaders = {};
      for (const [name, value] of Object.entries(jsonObject(response?.headers) ?? {})) {
        if (typeof value === 'string') headers[name.toLowerCase()] = value;
      }
      const body = response?.body;
      const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
      const item = { status, headers, text, where: `${answer.where} ${url ?? ''}` };
      if ((status >= 200 && status < 300) || status === 404) read.resolve(item);
      else if (status === 429 || status === 503) this.retryLater(read, item);
      else read.reject(this.graph.errorOf(item, read.context.userId));
    });
  }

  /** A read throttled inside a batch waits its own Retry-After, then goes into a later batch. */
  private retryLater(read: PendingRead, answer: HttpTextResponse): void {
    read.throttled += 1;
    const waiting = 'graph asked one request of a batch to wait; the others go on';
    const waitMs = this.graph.throttled(answer, graphErrorDetail(answer.text), read.throttled, waiting);
    if (typeof waitMs !== 'number') {
      read.reject(waitMs);
      return;
    }
    const { signal } = read.context;
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', cancel);
      if (!read.settled) this.schedule(read);
    }, waitMs);
    const cancel = () => clearTimeout(timer);
    signal?.addEventListener('abort', cancel, { once: true });
  }
}
