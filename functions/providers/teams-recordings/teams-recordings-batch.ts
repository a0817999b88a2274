/**
 * Graph reads of a Teams sweep, combined with JSON batching: page requests made at about the same time
 * (one per user and kind the sweep lists at once) are sent together in `POST /v1.0/$batch`, at most 20
 * per batch (Graph's documented limit, "Combine multiple HTTP requests using JSON batching"), and at most
 * `concurrency` Graph requests are in flight. Graph evaluates every request of a batch against its
 * throttling limits on its own: a throttled one answers 429 (or 503) inside the batch with its own
 * Retry-After while the others are served, so only that one waits (Graph's "Throttling guidance") and is
 * sent again in a later batch. A lone request is sent as a plain GET (a batch of one saves nothing).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RateLimitedError, TransientError } from '../../core/errors';
import type { Clock, Log } from '../../core/ports';
import { retryAfterSeconds } from '../http';
import { type GraphTextAnswer, graphErrorDetail, type TeamsRecordingsGraph } from './teams-recordings-graph';

/** Requests per `$batch`, Graph's limit. */
export const GRAPH_BATCH_LIMIT = 20;
/** Graph requests a sweep keeps in flight by default (each a batch of up to 20 reads). */
export const DEFAULT_LISTING_CONCURRENCY = 8;

export interface GraphBatcherOptions {
  graph: TeamsRecordingsGraph;
  graphUrl: string;
  apiHosts: readonly string[];
  /** Graph requests (batches or lone GETs) in flight at most. */
  concurrency: number;
  /** Reads per batch, 1 to 20; 1 sends each read as a plain GET. */
  batchSize: number;
  /** Throttled answers waited out per read before its listing fails (as for a plain GET). */
  maxThrottledAttempts: number;
  /** Longest Retry-After waited out in process; a longer one fails the read with RateLimitedError. */
  maxInlineWaitMs: number;
  clock: Clock;
  log: Log;
  sourceId: string;
}

interface PendingRead {
  url: string;
  userId?: string;
  signal?: AbortSignal;
  throttled: number;
  settled: boolean;
  resolve(answer: GraphTextAnswer): void;
  reject(error: unknown): void;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

export class GraphBatcher {
  /** What the batcher sent: `$batch` requests, the reads inside them, lone GETs, reads sent again. */
  readonly stats = { batches: 0, batchedReads: 0, singleReads: 0, throttledReads: 0 };
  private readonly options: GraphBatcherOptions;
  private readonly origin: string;
  private queue: PendingRead[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  constructor(options: GraphBatcherOptions) {
    this.options = {
      ...options,
      concurrency: Math.max(1, Math.floor(options.concurrency)),
      batchSize: Math.min(GRAPH_BATCH_LIMIT, Math.max(1, Math.floor(options.batchSize))),
    };
    this.origin = new URL(options.graphUrl).origin;
  }

  /** A small Graph read (a page), like `TeamsRecordingsGraph.get`: 2xx and 404 are returned, the rest throws. */
  get(url: string, context: { signal?: AbortSignal; userId?: string } = {}): Promise<GraphTextAnswer> {
    return new Promise((resolve, reject) => {
      const { signal } = context;
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const read: PendingRead = {
        url,
        userId: context.userId,
        signal,
        throttled: 0,
        settled: false,
        resolve: (answer) => {
          if (read.settled) return;
          read.settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
        },
        reject: (error) => {
          if (read.settled) return;
          read.settled = true;
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        this.queue = this.queue.filter((queued) => queued !== read);
        read.reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(read);
    });
  }

  private enqueue(read: PendingRead): void {
    this.queue.push(read);
    this.schedule();
  }

  /**
   * Sends on the next turn of the event loop, not at once: the reads that an answer lets the listing make
   * (next pages, the next users) are asked for in the same turn, so they fill one batch instead of many.
   */
  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.queue.length > 0) {
      const chunk = this.takeChunk();
      this.inFlight += 1;
      void this.send(chunk).finally(() => {
        this.inFlight -= 1;
        this.schedule();
      });
    }
  }

  /** Up to batchSize batchable reads; a read Graph's `$batch` cannot carry goes alone. */
  private takeChunk(): PendingRead[] {
    const first = this.queue.shift() as PendingRead;
    if (this.relativeUrl(first.url) === undefined) return [first];
    const chunk = [first];
    const rest: PendingRead[] = [];
    for (const read of this.queue) {
      if (chunk.length < this.options.batchSize && this.relativeUrl(read.url) !== undefined) chunk.push(read);
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
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    if (parsed.origin !== this.origin || !parsed.pathname.startsWith('/v1.0/')) return undefined;
    return `${parsed.pathname.slice('/v1.0'.length)}${parsed.search}`;
  }

  private async send(chunk: PendingRead[]): Promise<void> {
    const live = chunk.filter((read) => !read.settled);
    if (live.length === 0) return;
    if (live.length === 1) {
      const [read] = live as [PendingRead];
      this.stats.singleReads += 1;
      try {
        read.resolve(
          await this.options.graph.get(read.url, this.options.apiHosts, {
            signal: read.signal,
            userId: read.userId,
          }),
        );
      } catch (error) {
        read.reject(error);
      }
      return;
    }
    await this.sendBatch(live);
  }

  private async sendBatch(reads: PendingRead[]): Promise<void> {
    const { graph, apiHosts } = this.options;
    this.stats.batches += 1;
    this.stats.batchedReads += reads.length;
    const requests = reads.map((read, index) => ({
      id: String(index + 1),
      method: 'GET',
      url: this.relativeUrl(read.url) as string,
    }));
    // The reads of one sweep share its signal; with several, none is passed and each read is dropped alone.
    const signals = new Set(reads.map((read) => read.signal));
    const signal = signals.size === 1 ? reads[0]?.signal : undefined;
    const batchUrl = `${this.origin}/v1.0/$batch`;
    let answer: GraphTextAnswer;
    try {
      answer = await graph.send('POST', batchUrl, apiHosts, { requests }, signal);
    } catch (error) {
      for (const read of reads) read.reject(error);
      return;
    }
    if (answer.status < 200 || answer.status >= 300) {
      const error = graph.errorFor(
        answer.status,
        answer.headers,
        answer.where,
        graphErrorDetail(answer.text),
      );
      for (const read of reads) read.reject(error);
      return;
    }
    let responses: unknown[] | undefined;
    try {
      const body = object(JSON.parse(answer.text));
      responses = Array.isArray(body?.responses) ? body.responses : undefined;
    } catch {
      responses = undefined;
    }
    const byId = new Map<string, Json>();
    for (const entry of responses ?? []) {
      const response = object(entry);
      if (typeof response?.id === 'string') byId.set(response.id, response);
    }
    // Graph may answer the requests of a batch in any order: matched by id.
    reads.forEach((read, index) => {
      const response = byId.get(String(index + 1));
      if (!response || typeof response.status !== 'number') {
        read.reject(new TransientError(`Graph $batch answered no response for ${requests[index]?.url}`));
        return;
      }
      this.settleRead(read, response, `${answer.where} ${requests[index]?.url ?? ''}`);
    });
  }

  private settleRead(read: PendingRead, response: Json, where: string): void {
    const status = response.status as number;
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(object(response.headers) ?? {})) {
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
    const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? null);
    if ((status >= 200 && status < 300) || status === 404) {
      read.resolve({ status, headers, text, where });
      return;
    }
    if (status === 429 || status === 503) {
      this.retryLater(read, status, headers, where, text);
      return;
    }
    read.reject(this.options.graph.errorFor(status, headers, where, graphErrorDetail(text), read.userId));
  }

  /** A read throttled inside a batch waits its own Retry-After, then goes into a later batch. */
  private retryLater(
    read: PendingRead,
    status: number,
    headers: IncomingHttpHeaders,
    where: string,
    text: string,
  ): void {
    const { graph, log, sourceId, clock } = this.options;
    if (status === 429) graph.stats.throttled += 1;
    else graph.stats.unavailable += 1;
    this.stats.throttledReads += 1;
    read.throttled += 1;
    const seconds = retryAfterSeconds(headers, clock.now());
    const waitMs = (seconds ?? 2 ** read.throttled) * 1000;
    if (read.throttled >= this.options.maxThrottledAttempts || waitMs > this.options.maxInlineWaitMs) {
      const detail = graphErrorDetail(text);
      const message = `HTTP ${status} from ${where}${detail ? `: ${detail}` : ''}`;
      read.reject(
        status === 429
          ? new RateLimitedError(`Graph throttled source ${sourceId} (${message})`, seconds ?? 60)
          : new TransientError(`Graph unavailable for source ${sourceId} (${message})`),
      );
      return;
    }
    log.warn('graph asked one request of a batch to wait; the others go on', {
      source: sourceId,
      status,
      retryAfterSeconds: seconds,
    });
    const timer = setTimeout(() => {
      read.signal?.removeEventListener('abort', cancel);
      if (!read.settled) this.enqueue(read);
    }, waitMs);
    const cancel = () => clearTimeout(timer);
    read.signal?.addEventListener('abort', cancel, { once: true });
  }
}
