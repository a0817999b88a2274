/**
 * A Teams sweep's Graph reads, batched: reads asked for at about the same time are sent together in
 * `POST /v1.0/$batch`, at most 20 each (Graph's limit, "Combine multiple HTTP requests using JSON
 * batching"), with at most `concurrency` requests in flight; a lone read is a plain GET. Graph throttles
 * each request of a batch on its own ("Throttling guidance"): a 429/503 inside it waits its own
 * Retry-After and goes into a later batch while the others are served.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TransientError } from '../../core/errors';
import type { HttpTextResponse } from '../http';
import { type Json, jsonObject } from '../shared/json';
import { graphErrorDetail, type TeamsRecordingsGraph } from './teams-recordings-graph';

/** Requests per `$batch`, Graph's limit. */
export const GRAPH_BATCH_LIMIT = 20;
/** Graph requests a sweep keeps in flight by default (each a batch of up to 20 reads). */
export const DEFAULT_LISTING_CONCURRENCY = 8;

interface PendingRead {
  url: string;
  userId?: string;
  signal?: AbortSignal;
  throttled: number;
  settled: boolean;
  resolve(answer: HttpTextResponse): void;
  reject(error: unknown): void;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

export class GraphBatcher {
  private readonly concurrency: number;
  private readonly batchSize: number;
  private queue: PendingRead[] = [];
  private inFlight = 0;
  private flushScheduled = false;

  /**
   * At most `concurrency` Graph requests (batches or lone GETs) in flight; `batchSize` reads per batch,
   * 1 to 20 (1 sends each read as a plain GET). Throttled reads wait as the graph's own requests do.
   */
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
    return new Promise((resolve, reject) => {
      const { signal } = context;
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const settle = (done: () => void) => {
        if (read.settled) return;
        read.settled = true;
        signal?.removeEventListener('abort', onAbort);
        done();
      };
      const read: PendingRead = {
        url,
        userId: context.userId,
        signal,
        throttled: 0,
        settled: false,
        resolve: (answer) => settle(() => resolve(answer)),
        reject: (error) => settle(() => reject(error)),
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
      read.resolve(await this.graph.get(read.url, { signal: read.signal, userId: read.userId }));
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
    const signals = new Set(reads.map((read) => read.signal));
    const signal = signals.size === 1 ? reads[0]?.signal : undefined;
    let answer: HttpTextResponse;
    try {
      answer = await this.graph.send('POST', `${this.graph.origin}/v1.0/$batch`, { requests }, signal);
      if (answer.status < 200 || answer.status >= 300) throw this.graph.errorOf(answer);
    } catch (error) {
      for (const read of reads) read.reject(error);
      return;
    }
    let responses: unknown;
    try {
      responses = jsonObject(JSON.parse(answer.text))?.responses;
    } catch {
      responses = undefined;
    }
    const byId = new Map<string, Json>();
    for (const entry of Array.isArray(responses) ? responses : []) {
      const response = jsonObject(entry);
      if (typeof response?.id === 'string') byId.set(response.id, response);
    }
    // Graph may answer the requests of a batch in any order: matched by id.
    reads.forEach((read, index) => {
      const response = byId.get(String(index + 1));
      const url = requests[index]?.url;
      if (typeof response?.status !== 'number') {
        read.reject(new TransientError(`Graph $batch answered no response for ${url}`));
        return;
      }
      this.settleRead(read, response, `${answer.where} ${url ?? ''}`);
    });
  }

  private settleRead(read: PendingRead, response: Json, where: string): void {
    const status = response.status as number;
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(jsonObject(response.headers) ?? {})) {
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
    const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body ?? null);
    const answer = { status, headers, text, where };
    if ((status >= 200 && status < 300) || status === 404) read.resolve(answer);
    else if (status === 429 || status === 503) this.retryLater(read, answer);
    else read.reject(this.graph.errorOf(answer, read.userId));
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
    const timer = setTimeout(() => {
      read.signal?.removeEventListener('abort', cancel);
      if (!read.settled) this.enqueue(read);
    }, waitMs);
    const cancel = () => clearTimeout(timer);
    read.signal?.addEventListener('abort', cancel, { once: true });
  }
}
